package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/wardenhq/warden/internal/authn"
	"github.com/wardenhq/warden/internal/issuer"
	"github.com/wardenhq/warden/internal/store"
)

type tokenRevokeFlags struct {
	config string
	jti    string
	ttl    time.Duration
}

func newTokenRevokeCmd(stdio IO) *cobra.Command {
	var f tokenRevokeFlags
	cmd := &cobra.Command{
		Use:   "revoke --config FILE (TOKEN | - | --jti ID)",
		Short: "Revoke a token Warden issued, on every node",
		Long: `Revoke records a revocation in the store of the configuration:

  an access token   (a JWT Warden issued) is checked against Warden's own
                    published keys and its jti is revoked until it expires;
  a refresh token   (wrt_...) revokes its whole family and every access token
                    issued from it;
  --jti ID          revokes a jti you know from the audit log, for --ttl
                    (default: token_issuer.access_token_ttl plus 5m).

Every node denies the token, cached verifications included: at once with
PostgreSQL (LISTEN/NOTIFY), within token_issuer.resync_interval otherwise.
The token is read from the argument or, with "-" or no argument, from stdin.`,
		Example: `  warden token revoke --config warden.yaml "$TOKEN"
  warden token revoke --config warden.yaml --jti 3q2-7wEjSgKfX1y0Yb0bCw`,
		Args: usageArgs(cobra.MaximumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runTokenRevoke(cmd.Context(), stdio, args, f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.config, "config", "", "the configuration file (its store and token_issuer are used; required)")
	fl.StringVar(&f.jti, "jti", "", "revoke this jti instead of a token")
	fl.DurationVar(&f.ttl, "ttl", 0, "with --jti: how long the revocation is kept (default access_token_ttl + 5m)")
	return cmd
}

func runTokenRevoke(ctx context.Context, stdio IO, args []string, f tokenRevokeFlags) error {
	if f.jti != "" && len(args) > 0 {
		return usageErrorf("token revoke: give a token or --jti, not both")
	}
	if f.ttl != 0 && f.jti == "" {
		return usageErrorf("token revoke: --ttl applies to --jti only")
	}
	cfg, st, err := openIssuerStore(ctx, stdio, f.config)
	if err != nil {
		return err
	}
	defer st.Close()
	ti := cfg.TokenIssuer
	now := stdio.Now()
	if f.jti != "" {
		ttl := f.ttl
		if ttl == 0 {
			ttl = ti.AccessTokenTTL + authn.MaxLeeway
		}
		if err := st.Issuer().Revoke(ctx, store.Revocation{ID: f.jti, Kind: store.RevokeJTI, Expiry: now.Add(ttl), Created: now}); err != nil {
			return invalidErrorf("token revoke: %w", err)
		}
		fmt.Fprintf(stdio.Stdout, "revoked jti %s until %s\n", f.jti, now.Add(ttl).UTC().Format(time.RFC3339))
		return nil
	}
	tok, err := readToken(stdio, args, authn.DefaultMaxTokenBytes)
	if err != nil {
		return err
	}
	if strings.HasPrefix(tok, issuer.RefreshPrefix) {
		_, fam, err := st.Issuer().Refresh(ctx, issuer.HashSecret(tok))
		if errors.Is(err, store.ErrNotFound) {
			return invalidErrorf("token revoke: not a refresh token of this store")
		}
		if err != nil {
			return invalidErrorf("token revoke: %w", err)
		}
		until, err := issuer.RevokeFamily(ctx, st.Issuer(), fam, now, ti.AccessTokenTTL)
		if err != nil {
			return invalidErrorf("token revoke: %w", err)
		}
		fmt.Fprintf(stdio.Stdout, "revoked refresh family of client %s (subject %s) until %s\n", fam.ClientID, fam.Subject, until.UTC().Format(time.RFC3339))
		return nil
	}
	ring, err := openKeyRing(ctx, stdio, cfg, st)
	if err != nil {
		return err
	}
	url := ti.URL
	if url == "" {
		url = "http://" + cfg.Listen.Data
	}
	ic := issuer.Config{Issuer: url, Audiences: ti.Audiences, Keys: ring, ResyncInterval: ti.ResyncInterval}
	own := ic.OwnIssuerConfig(nil)
	own.InsecureSkipAudience = true // any audience: it is Warden's own token either way
	v, err := authn.New(ctx, authn.Config{Issuers: []authn.IssuerConfig{own}, Clock: stdio.Now, CacheSize: -1})
	if err != nil {
		return invalidErrorf("token revoke: %w", err)
	}
	defer v.Close()
	p, err := v.Verify(ctx, tok)
	if err != nil {
		return invalidErrorf("token revoke: not an active token of this issuer (nothing to revoke): %w", err)
	}
	if err := issuer.RevokeToken(ctx, st.Issuer(), p, now); err != nil {
		return invalidErrorf("token revoke: %w", err)
	}
	fmt.Fprintf(stdio.Stdout, "revoked jti %s (client %s, subject %s) until %s\n", p.TokenID, p.ClientID, p.Subject, p.Expiry.Add(authn.MaxLeeway).UTC().Format(time.RFC3339))
	return nil
}
