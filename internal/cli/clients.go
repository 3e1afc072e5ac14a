package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/wardenhq/warden/internal/authn"
	"github.com/wardenhq/warden/internal/config"
	"github.com/wardenhq/warden/internal/issuer"
	"github.com/wardenhq/warden/internal/jwk"
	"github.com/wardenhq/warden/internal/store"
)

// newClientsCmd is the "clients" command group: the token issuer's OAuth
// clients.
func newClientsCmd(stdio IO) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "clients",
		Short: "Register, list and remove the token issuer's OAuth clients",
		Long: `Manage the OAuth clients of Warden's token issuer (docs/issuer.md) in the
store named by the configuration. Running servers see changes at once: every
token request reads the client from the store.`,
		Example: `  warden clients add support-bot --config warden.yaml --scope trace:read --grant client_credentials --grant token-exchange
  warden clients list --config warden.yaml
  warden clients remove support-bot --config warden.yaml`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newClientsAddCmd(stdio), newClientsListCmd(stdio), newClientsRemoveCmd(stdio))
	return cmd
}

// grantNames maps the short names the CLI accepts to grant types.
var grantNames = map[string]string{
	"client_credentials":      issuer.GrantClientCredentials,
	"refresh_token":           issuer.GrantRefreshToken,
	"token-exchange":          issuer.GrantTokenExchange,
	issuer.GrantTokenExchange: issuer.GrantTokenExchange,
}

type clientsAddFlags struct {
	config    string
	jwks      string
	name      string
	scopes    []string
	audiences []string
	grants    []string
}

func newClientsAddCmd(stdio IO) *cobra.Command {
	var f clientsAddFlags
	cmd := &cobra.Command{
		Use:   "add CLIENT_ID --config FILE [--scope S]... [--grant G]... [--audience A]...",
		Short: "Register a client and print its secret, once",
		Long: `Add registers an OAuth client and prints its new secret on stdout. The
secret is shown this once: the store keeps only its SHA-256 hash. Lose it and
you remove and add the client again.

--scope lists the scopes the client may be granted (a request may only narrow
them); --grant the grant types it may use: client_credentials (the default),
refresh_token (its tokens come with a rotating refresh token) and
token-exchange (it may act for users whose tokens it exchanges);
--audience the audiences it may request (default: token_issuer.audiences).

With --jwks FILE the client has no secret: it authenticates with
private_key_jwt (RFC 7523), a JWT signed by one of those keys with iss and sub
its client ID, aud the issuer URL or the endpoint, a jti used once and an exp at
most 5 minutes ahead. Private keys in FILE are refused.

SECURITY CONSIDERATIONS
  The secret is a bearer credential: whoever holds it obtains tokens as the
  client. Store it in a secret manager, never in a repository.`,
		Example: `  warden clients add eval-runner --config warden.yaml --scope trace:read --scope model:invoke
  warden clients add support-bot --config warden.yaml --scope tool:call --grant token-exchange --grant refresh_token`,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runClientsAdd(cmd.Context(), stdio, args[0], f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.config, "config", "", "the configuration file (its store and token_issuer are used; required)")
	fl.StringVar(&f.name, "name", "", "a description of the client")
	fl.StringVar(&f.jwks, "jwks", "", "the client's public keys (JWK Set, JWK or PEM file): it authenticates with private_key_jwt assertions instead of a secret")
	fl.StringArrayVar(&f.scopes, "scope", nil, "a scope the client may be granted (repeatable)")
	fl.StringArrayVar(&f.audiences, "audience", nil, "an audience the client may request (repeatable; default token_issuer.audiences)")
	fl.StringArrayVar(&f.grants, "grant", nil, "a grant type: client_credentials, refresh_token, token-exchange (repeatable; default client_credentials)")
	return cmd
}

// openIssuerStore loads the configuration, which must have token_issuer,
// and opens its store read-write.
func openIssuerStore(ctx context.Context, stdio IO, path string) (*config.Config, store.Store, error) {
	if path == "" {
		return nil, nil, usageErrorf("--config FILE is required")
	}
	cfg, err := loadConfig(stdio, path)
	if err != nil {
		return nil, nil, err
	}
	if cfg.TokenIssuer == nil {
		return nil, nil, usageErrorf("%s has no token_issuer section (see docs/configuration.md)", path)
	}
	st, err := store.Open(ctx, cfg.Store, store.Options{Clock: stdio.Now})
	if err != nil {
		return nil, nil, usageErrorf("open store %s: %w", store.Describe(cfg.Store), err)
	}
	return cfg, st, nil
}

func runClientsAdd(ctx context.Context, stdio IO, id string, f clientsAddFlags) error {
	if id == "" || len(id) > 128 || strings.ContainsAny(id, ": \t\r\n") {
		return usageErrorf("clients add: %q is not a client ID (1 to 128 characters, no colon or white space)", id)
	}
	c := store.Client{ID: id, Name: f.name, Created: stdio.Now()}
	if len(f.grants) == 0 {
		f.grants = []string{"client_credentials"}
	}
	for _, g := range f.grants {
		gt, ok := grantNames[g]
		if !ok {
			return usageErrorf("clients add: unknown --grant %q (want client_credentials, refresh_token or token-exchange)", g)
		}
		c.GrantTypes = append(c.GrantTypes, gt)
	}
	for _, s := range f.scopes {
		if s == "" || strings.ContainsAny(s, " \"\\") || strings.IndexFunc(s, func(r rune) bool { return r < 0x21 || r > 0x7e }) >= 0 {
			return usageErrorf("clients add: --scope %q is not a scope token", s)
		}
		c.Scopes = append(c.Scopes, s)
	}
	for _, a := range f.audiences {
		if a == "" || strings.ContainsAny(a, " \t") {
			return usageErrorf("clients add: --audience %q must be non-empty without spaces", a)
		}
		c.Audiences = append(c.Audiences, a)
	}
	_, st, err := openIssuerStore(ctx, stdio, f.config)
	if err != nil {
		return err
	}
	defer st.Close()
	var secret string
	if f.jwks != "" {
		if c.JWKS, err = clientKeys(f.jwks); err != nil {
			return err
		}
	} else {
		if secret, c.SecretHash, err = issuer.NewSecret(issuer.SecretPrefix); err != nil {
			return invalidErrorf("clients add: %w", err)
		}
	}
	if err := st.Issuer().AddClient(ctx, c); err != nil {
		if errors.Is(err, store.ErrExists) {
			return invalidErrorf("clients add: client %q already exists (remove it first to issue a new secret)", id)
		}
		return invalidErrorf("clients add: %w", err)
	}
	if secret == "" {
		fmt.Fprintf(stdio.Stdout, "client_id:     %s\nauth:          private_key_jwt\n", id)
		return nil
	}
	fmt.Fprintf(stdio.Stdout, "client_id:     %s\nclient_secret: %s\n", id, secret)
	fmt.Fprintln(stdio.Stderr, "The secret is shown only now; Warden keeps only its hash.")
	return nil
}

// clientKeys reads a client's public keys and returns them as a JWK Set.
func clientKeys(path string) ([]byte, error) {
	keys, err := jwk.LoadFile(path)
	if err != nil {
		return nil, usageErrorf("clients add: --jwks: %w", err)
	}
	for _, k := range keys {
		if k.IsPrivate() {
			return nil, usageErrorf("clients add: --jwks %s holds a private key or secret: give the client's public keys only", path)
		}
	}
	b, err := (&jwk.Set{Keys: keys}).MarshalJSON()
	if err != nil {
		return nil, invalidErrorf("clients add: %w", err)
	}
	return b, nil
}

func newClientsListCmd(stdio IO) *cobra.Command {
	var cfgPath string
	cmd := &cobra.Command{
		Use:     "list --config FILE",
		Short:   "List the registered clients (never their secrets)",
		Example: `  warden clients list --config warden.yaml`,
		Args:    usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, st, err := openIssuerStore(cmd.Context(), stdio, cfgPath)
			if err != nil {
				return err
			}
			defer st.Close()
			cs, err := st.Issuer().Clients(cmd.Context())
			if err != nil {
				return invalidErrorf("clients list: %w", err)
			}
			tw := tabwriter.NewWriter(stdio.Stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "CLIENT_ID\tAUTH\tGRANTS\tSCOPES\tAUDIENCES\tCREATED\tNAME")
			for _, c := range cs {
				grants := make([]string, len(c.GrantTypes))
				for i, g := range c.GrantTypes {
					grants[i] = strings.TrimPrefix(g, "urn:ietf:params:oauth:grant-type:")
				}
				auth := "secret"
				if len(c.JWKS) > 0 {
					auth = "private_key_jwt"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", c.ID, auth, dash(strings.Join(grants, ",")), dash(strings.Join(c.Scopes, " ")),
					dash(strings.Join(c.Audiences, " ")), c.Created.UTC().Format("2006-01-02T15:04:05Z"), c.Name)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVar(&cfgPath, "config", "", "the configuration file (required)")
	return cmd
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func newClientsRemoveCmd(stdio IO) *cobra.Command {
	var cfgPath string
	cmd := &cobra.Command{
		Use:   "remove CLIENT_ID --config FILE",
		Short: "Remove a client and revoke its refresh tokens",
		Long: `Remove deletes the client, so it can no longer obtain tokens, and revokes
its refresh-token families together with the access tokens issued from them.
Access tokens it obtained by client_credentials stay valid until they expire
(at most token_issuer.access_token_ttl); revoke one with "warden token revoke".`,
		Example: `  warden clients remove support-bot --config warden.yaml`,
		Args:    usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, st, err := openIssuerStore(cmd.Context(), stdio, cfgPath)
			if err != nil {
				return err
			}
			defer st.Close()
			grace := cfg.TokenIssuer.AccessTokenTTL + authn.MaxLeeway
			if err := st.Issuer().RemoveClient(cmd.Context(), args[0], stdio.Now(), grace); err != nil {
				if errors.Is(err, store.ErrNotFound) {
					return invalidErrorf("clients remove: no client %q", args[0])
				}
				return invalidErrorf("clients remove: %w", err)
			}
			fmt.Fprintf(stdio.Stdout, "removed %s\n", args[0])
			return nil
		},
	}
	cmd.Flags().StringVar(&cfgPath, "config", "", "the configuration file (required)")
	return cmd
}
