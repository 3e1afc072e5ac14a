package mcp_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/wardenhq/warden/internal/authn"
	"github.com/wardenhq/warden/internal/jwk"
)

// TestUpstreamToken: with an upstream token configured, every upstream
// request carries a fresh short-lived token of Warden's issuer for the
// upstream's audience only, with the caller (and its own actor) in act; the
// caller's token never goes upstream.
func TestUpstreamToken(t *testing.T) {
	key, err := jwk.Generate("ES256", "mint-1")
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, fixtureOpts{mintKey: key})
	agent := map[string]any{"sub": "erin", "roles": []string{"engineer"}, "tenant": "acme", "act": map[string]any{"sub": "support-bot"}}
	cs, b := f.connect(t, agent, "2026-07-28", nil)
	if _, err := cs.ListTools(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	pub, err := key.Public()
	if err != nil {
		t.Fatal(err)
	}
	v, err := authn.New(context.Background(), authn.Config{Issuers: []authn.IssuerConfig{{
		Issuer: publicURL, Audiences: []string{"https://upstream.test"}, Algorithms: []string{"ES256"}, Keys: []*jwk.Key{pub},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	reqs := f.up.seen()
	if len(reqs) == 0 {
		t.Fatal("the upstream received nothing")
	}
	for _, r := range reqs {
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || tok == b.token {
			t.Fatalf("upstream Authorization %q: want a minted token, never the caller's", r.Header.Get("Authorization"))
		}
		p, err := v.Verify(context.Background(), tok)
		if err != nil {
			t.Fatalf("minted token does not verify: %v", err)
		}
		if p.Subject != publicURL || len(p.Audience) != 1 || p.Audience[0] != "https://upstream.test" {
			t.Errorf("minted token sub %q aud %v", p.Subject, p.Audience)
		}
		if len(p.Actor) != 2 || p.Actor[0].Subject != "erin" || p.Actor[1].Subject != "support-bot" {
			t.Errorf("minted token act = %+v, want erin then support-bot", p.Actor)
		}
		if life := p.Expiry.Sub(p.IssuedAt); life > time.Minute {
			t.Errorf("minted token lives %s", life)
		}
	}
}
