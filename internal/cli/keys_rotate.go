package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/wardenhq/warden/internal/authn"
	"github.com/wardenhq/warden/internal/config"
	"github.com/wardenhq/warden/internal/issuer"
	"github.com/wardenhq/warden/internal/store"
)

func newKeysRotateCmd(stdio IO) *cobra.Command {
	var cfgPath string
	cmd := &cobra.Command{
		Use:   "rotate --config FILE",
		Short: "Rotate the token issuer's signing key",
		Long: `Rotate makes the token issuer's next key current, retires the current key
and publishes a new next key, in one transaction in the store.

A key is in the JWKS (/.well-known/jwks.json) one whole rotation before it
signs anything, so verifiers that cache the JWKS already know it. The retired
key stays published until every token it signed (or may still sign on a node
that has not reloaded yet) has expired: access_token_ttl plus two
resync_intervals plus the largest leeway verifiers allow (5m). Running nodes
pick the change up within resync_interval.

The new private key is encrypted with token_issuer.key_encryption_key before
it is stored.`,
		Example: `  warden keys rotate --config /etc/warden/warden.yaml`,
		Args:    usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, st, err := openIssuerStore(cmd.Context(), stdio, cfgPath)
			if err != nil {
				return err
			}
			defer st.Close()
			ring, err := openKeyRing(cmd.Context(), stdio, cfg, st)
			if err != nil {
				return err
			}
			old := ring.Signer().KeyID()
			ti := cfg.TokenIssuer
			until := stdio.Now().Add(ti.AccessTokenTTL + 2*ti.ResyncInterval + authn.MaxLeeway)
			if err := ring.Rotate(cmd.Context(), until); err != nil {
				return invalidErrorf("keys rotate: %w", err)
			}
			fmt.Fprintf(stdio.Stdout, "signing:   %s\nretired:   %s (published until %s)\npublished: %v\n",
				ring.Signer().KeyID(), old, until.UTC().Format(time.RFC3339), ring.KeyIDs())
			return nil
		},
	}
	cmd.Flags().StringVar(&cfgPath, "config", "", "the configuration file (its store and token_issuer are used; required)")
	return cmd
}

// openKeyRing opens the token issuer's keys (creating the first ones if the
// store has none, as warden serve would).
func openKeyRing(ctx context.Context, stdio IO, cfg *config.Config, st store.Store) (*issuer.KeyRing, error) {
	ti := cfg.TokenIssuer
	ring, err := issuer.NewKeyRing(ctx, issuer.KeyRingConfig{Store: st.Issuer(), KEK: ti.KEK, Algorithm: ti.Algorithm, MaxTTL: ti.AccessTokenTTL, Clock: stdio.Now})
	if err != nil {
		return nil, invalidErrorf("token issuer keys: %w", err)
	}
	return ring, nil
}
