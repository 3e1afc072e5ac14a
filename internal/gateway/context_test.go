package gateway_test

import (
	"fmt"
	"slices"
	"testing"
)

// contextPolicy forbids model:invoke only when every context fact the
// gateway sets for a model route is there with the expected value and type
// (stream a Bool, max_tokens a Long, ip an ipaddr, env a String).
const contextPolicy = `
@id("test-context-facts")
@reason("all context facts seen")
forbid (principal, action == Action::"model:invoke", resource is Model)
when {
  context has stream && context.stream &&
  context has max_tokens && context.max_tokens == 777 &&
  context has ip && context.ip.isLoopback() && context.ip.isIpv4() &&
  context has env && context.env == "testing"
};
`

func TestPolicyContextFacts(t *testing.T) {
	withEnv := newFixture(t, fixtureOpts{env: "testing", extraPolicy: contextPolicy})
	noEnv := newFixture(t, fixtureOpts{extraPolicy: contextPolicy})
	reference := newFixture(t, fixtureOpts{})
	body := func(stream bool, maxTokens int) string {
		return fmt.Sprintf(`{"model":"gpt-4o","stream":%t,"max_tokens":%d,"messages":[{"role":"user","content":"hi"}]}`, stream, maxTokens)
	}
	tests := []struct {
		name       string
		f          *fixture
		body       string
		wantStatus int
		wantPolicy string // a determining policy of the decision, "" for none checked
	}{
		{"all facts match", withEnv, body(true, 777), 403, "test-context-facts"},
		{"stream false", withEnv, body(false, 777), 200, ""},
		{"other max_tokens", withEnv, body(true, 778), 200, ""},
		{"no max_tokens", withEnv, `{"model":"gpt-4o","stream":true,"messages":[]}`, 200, ""},
		{"env not configured: absent", noEnv, body(true, 777), 200, ""},
		// The reference bundle's own rule on context.max_tokens.
		{"reference token budget", reference, body(false, 20000), 403, "model-token-budget"},
		{"reference within budget", reference, body(true, 16384), 200, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := tc.f.do(t, "POST", "/v1/chat/completions", tc.f.token(t, rita), tc.body, nil)
			if res.status != tc.wantStatus {
				t.Fatalf("status %d, want %d: %s", res.status, tc.wantStatus, res.body)
			}
			if tc.wantPolicy != "" {
				rec := tc.f.recordFor(t, res.header.Get("X-Request-Id"))
				if !slices.Contains(rec.Policies, tc.wantPolicy) {
					t.Errorf("determining policies %v, want %s", rec.Policies, tc.wantPolicy)
				}
			}
		})
	}
}
