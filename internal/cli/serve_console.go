package cli

import (
	"fmt"

	"github.com/wardenhq/warden/internal/authn"
	"github.com/wardenhq/warden/internal/console"
)

// buildConsole builds the web console the admin listener serves under
// /console/. Token generation is enabled only for --demo, whose signing key
// is ephemeral and trusted by this process alone.
func (s *server) buildConsole(stdio IO, demo *demoEnv) error {
	mappings := make(map[string]authn.ClaimMapping, len(s.cfg.Authn.Issuers))
	for _, ic := range s.cfg.Authn.Issuers {
		mappings[ic.Issuer] = ic.Claims
	}
	cc := console.Config{
		Verifier:      s.verifier,
		Engine:        s.engine,
		Loader:        s.loader,
		Store:         s.store,
		Audit:         s.audit,
		Node:          s.node,
		ClaimMappings: mappings,
		Clock:         stdio.Now,
		Logger:        s.logger.With("component", "console"),
	}
	if demo != nil {
		cc.InsecureDevMint = demo.mintConfig()
	}
	c, err := console.New(cc)
	if err != nil {
		return fmt.Errorf("console: %w", err)
	}
	s.console = c
	return nil
}

// mintConfig offers the demo's reference roles as presets for generated
// tokens, signed with the demo's ephemeral key.
func (d *demoEnv) mintConfig() *console.MintConfig {
	m := &console.MintConfig{Signer: d.signer, Issuer: demoIssuer, Audience: []string{demoAudience}}
	for _, p := range demoPersonas() {
		m.Presets = append(m.Presets, console.Preset{Name: p.Sub, Subject: p.Sub, Roles: p.Roles, Team: p.Team, Scopes: p.Scopes})
	}
	return m
}
