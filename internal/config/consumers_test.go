package config

import (
	"context"
	"strings"
	"testing"

	"github.com/wardenhq/warden/internal/authn"
	"github.com/wardenhq/warden/internal/bundle"
	"github.com/wardenhq/warden/internal/guard"
)

// TestConsumersAcceptConfig hands the mapped values to the packages that use
// them: what config accepts, they accept too.
func TestConsumersAcceptConfig(t *testing.T) {
	_, issuerJWKS := publicJWKS(t, "EdDSA", "k1")
	_, bundleJWKS := publicJWKS(t, "EdDSA", "b1")
	src := strings.Replace(minimal, "    jwks_url: https://idp.example.com/jwks.json\n", "    keys_file: /keys/issuer.json\n", 1)
	src = strings.Replace(src, "algorithms: [ES256]", "algorithms: [EdDSA]", 1)
	src = strings.Replace(src, "  insecure_allow_unsigned: true\n", "  keys: [/keys/bundle.json]\n", 1)
	src += "guards:\n  actions: {secret: block, email: off}\n  hold_back: 1KiB\n"
	fsys := files{"/keys/issuer.json": issuerJWKS, "/keys/bundle.json": bundleJWKS}
	cfg, err := Parse("w.yaml", []byte(src), nil, fsys.read)
	if err != nil {
		t.Fatal(err)
	}
	v, err := authn.New(context.Background(), cfg.Authn)
	if err != nil {
		t.Fatalf("authn.New: %v", err)
	}
	v.Close()
	if _, err := bundle.NewLoader(cfg.Policy, func(context.Context, *bundle.Bundle) error { return nil }, nil); err != nil {
		t.Errorf("bundle.NewLoader: %v", err)
	}
	g, err := guard.New(cfg.Guard)
	if err != nil {
		t.Fatalf("guard.New: %v", err)
	}
	if g.HoldBack() != 1024 {
		t.Errorf("HoldBack = %d, want 1024", g.HoldBack())
	}
}
