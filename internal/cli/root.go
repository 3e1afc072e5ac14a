// Package cli implements the warden command line: one file per command group
// (keys, token, policy, ...), all built on cobra and run in-process by Run so
// that tests drive the real commands.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime/debug"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// Exit codes shared by every command.
const (
	exitOK      = 0 // success; for verify commands: valid
	exitInvalid = 1 // the input was read and judged invalid (bad token, failing test, bad bundle)
	exitUsage   = 2 // usage error or unreadable input
)

// version is stamped by the linker (-ldflags "-X github.com/wardenhq/warden/internal/cli.version=v1.2.3");
// without it the module version from the build info is used.
var version = ""

// IO is the process environment a command runs in. Tests build their own.
type IO struct {
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	// Getenv reads an environment variable.
	Getenv func(string) string
	// Now is the clock; commands never call time.Now directly.
	Now func() time.Time
	// HTTPClient is used for every outbound request (JWKS, OIDC discovery,
	// bundles). It must have a timeout.
	HTTPClient *http.Client
}

// Std returns the IO of the running process.
func Std() IO {
	return IO{
		Stdin:      os.Stdin,
		Stdout:     os.Stdout,
		Stderr:     os.Stderr,
		Getenv:     os.Getenv,
		Now:        time.Now,
		HTTPClient: &http.Client{Timeout: 10 * time.Second},
	}
}

func (s IO) withDefaults() IO {
	std := Std()
	if s.Stdin == nil {
		s.Stdin = strings.NewReader("")
	}
	if s.Stdout == nil {
		s.Stdout = io.Discard
	}
	if s.Stderr == nil {
		s.Stderr = io.Discard
	}
	if s.Getenv == nil {
		s.Getenv = std.Getenv
	}
	if s.Now == nil {
		s.Now = std.Now
	}
	if s.HTTPClient == nil {
		s.HTTPClient = std.HTTPClient
	}
	return s
}

// exitError carries the process exit code of a failed command. Its message is
// printed on one line to stderr.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// usageErrorf reports a usage error or unreadable input (exit 2).
func usageErrorf(format string, a ...any) error {
	return &exitError{code: exitUsage, err: fmt.Errorf(format, a...)}
}

// invalidErrorf reports input that was read and judged invalid (exit 1).
func invalidErrorf(format string, a ...any) error {
	return &exitError{code: exitInvalid, err: fmt.Errorf(format, a...)}
}

// silentExit ends the command with code without printing anything more: the
// command already wrote its own report.
func silentExit(code int) error {
	return &exitError{code: code, err: errSilent}
}

var errSilent = errors.New("")

// usageArgs wraps a cobra argument validator so that its failures exit 2.
func usageArgs(v cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := v(cmd, args); err != nil {
			return &exitError{code: exitUsage, err: err}
		}
		return nil
	}
}

// Run runs the warden command line with args (without the program name) and
// returns the process exit code.
func Run(ctx context.Context, args []string, stdio IO) int {
	stdio = stdio.withDefaults()
	root := newRootCmd(stdio)
	root.SetArgs(args)
	root.SetIn(stdio.Stdin)
	root.SetOut(stdio.Stdout)
	root.SetErr(stdio.Stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	code := exitUsage // cobra's own errors: unknown command, bad flag
	var ee *exitError
	if errors.As(err, &ee) {
		code = ee.code
		if errors.Is(ee.err, errSilent) {
			return code
		}
	}
	fmt.Fprintf(stdio.Stderr, "warden: %s\n", oneLine(err.Error()))
	return code
}

// oneLine folds a multi-line message so that errors stay on one line.
func oneLine(s string) string {
	s = strings.TrimSpace(s)
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", " ")), " ")
}

func newRootCmd(stdio IO) *cobra.Command {
	root := &cobra.Command{
		Use:   "warden",
		Short: "Warden: an AI governance gateway bound to authentication",
		Long: `Warden verifies the JWT on every call to a model endpoint or an internal AI
tool, judges the call against a signed Cedar policy bundle, redacts what the
caller may not see, and records every decision in a tamper-evident log.

The developer tools generate keys, mint short-lived test tokens, decode a token
(without trusting it) and verify one (trusting only what checks out), as
separate jobs.`,
		Example: `  # Generate a signing key and mint a 15-minute token for an evaluator
  warden keys generate --out ./keys
  warden token mint --key ./keys/private.jwk --iss https://issuer.example --aud warden --sub alice --role evaluator

  # Look inside a token (does NOT verify it), then verify it
  warden token decode "$TOKEN"
  warden token verify --jwks ./keys/jwks.json --iss https://issuer.example --aud warden "$TOKEN"`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       buildVersion(),
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error {
		return &exitError{code: exitUsage, err: err}
	})
	root.SetVersionTemplate("warden {{.Version}}\n")
	root.AddCommand(
		newVersionCmd(stdio),
		newServeCmd(stdio),
		newKeysCmd(stdio),
		newTokenCmd(stdio),
		newPolicyCmd(stdio),
		newAuditCmd(stdio),
		newClientsCmd(stdio),
	)
	return root
}

func buildVersion() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

func newVersionCmd(stdio IO) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the warden version",
		Args:  usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			goVersion := "unknown"
			if bi, ok := debug.ReadBuildInfo(); ok {
				goVersion = bi.GoVersion
			}
			fmt.Fprintf(stdio.Stdout, "warden %s (%s)\n", buildVersion(), goVersion)
			return nil
		},
	}
}
