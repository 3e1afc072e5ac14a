package cli

import "github.com/spf13/cobra"

// newPolicyCmd is the "policy" command group: test, build, verify, eval.
func newPolicyCmd(stdio IO) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "policy",
		Short: "Test, build, sign, verify and evaluate Cedar policy bundles",
	}
	return cmd
}
