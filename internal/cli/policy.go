package cli

import "github.com/spf13/cobra"

// newPolicyCmd is the "policy" command group: test, build, verify, eval.
func newPolicyCmd(stdio IO) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "policy",
		Short: "Test, build, sign, verify and evaluate Cedar policy bundles",
		Long: `Policies are Cedar files in a bundle directory (policies/*.cedar,
schema.cedarschema, entities.json, tests/*.yaml). Test them like code, build
them into a signed bundle, verify a bundle before trusting it, and ask a
bundle for a decision with an explanation.`,
		Example: `  warden policy test examples/policy
  warden policy build examples/policy --signing-key ./keys/private.jwk -o bundle.tar.gz
  warden policy verify bundle.tar.gz --jwks ./keys/jwks.json
  warden policy eval --dir examples/policy --claims claims.json --action trace:read --resource 'Trace::"t-1"' --explain`,
		Args: usageArgs(cobra.NoArgs),
		// Runnable, so that "warden policy bogus" is an unknown command (exit 2).
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(
		newPolicyTestCmd(stdio),
		newPolicyBuildCmd(stdio),
		newPolicyVerifyCmd(stdio),
		newPolicyEvalCmd(stdio),
	)
	return cmd
}
