package config

import (
	"os"
	"strings"
	"testing"
)

// docBlock returns the fenced block that follows marker in doc.
func docBlock(t *testing.T, doc, marker string) string {
	t.Helper()
	_, rest, ok := strings.Cut(doc, marker)
	if !ok {
		t.Fatalf("docs/configuration.md has no %q", marker)
	}
	_, rest, ok = strings.Cut(rest, "```")
	if !ok {
		t.Fatalf("no code block after %q", marker)
	}
	_, rest, _ = strings.Cut(rest, "\n") // the info string
	block, _, ok := strings.Cut(rest, "```")
	if !ok {
		t.Fatalf("unterminated code block after %q", marker)
	}
	return block
}

// TestDocsErrorExample reproduces the error example of docs/configuration.md:
// the documented file gives exactly the documented messages.
func TestDocsErrorExample(t *testing.T) {
	data, err := os.ReadFile("../../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(data)
	src := docBlock(t, doc, "<!-- error-example-config -->")
	want := docBlock(t, doc, "<!-- error-example-output -->")
	bad, err := os.ReadFile("testdata/bad.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if src != string(bad) {
		t.Errorf("the documented config differs from testdata/bad.yaml")
	}
	_, err = Parse("warden.yaml", []byte(src), nil, files{}.read)
	if err == nil {
		t.Fatal("the documented bad config loads")
	}
	if got := err.Error() + "\n"; got != want {
		t.Errorf("documented errors:\n%s\nactual errors:\n%s", want, got)
	}
}

// TestDocsFullExample checks that the full example in the docs is
// examples/warden.yaml (which TestExampleConfigMapping loads).
func TestDocsFullExample(t *testing.T) {
	data, err := os.ReadFile("../../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	example, err := os.ReadFile(examplePath)
	if err != nil {
		t.Fatal(err)
	}
	if got := docBlock(t, string(data), "## Full example"); got != string(example) {
		t.Errorf("the full example in docs/configuration.md differs from examples/warden.yaml")
	}
}

// TestDocsCoverEveryKey checks that docs/configuration.md names every key the
// parser accepts.
func TestDocsCoverEveryKey(t *testing.T) {
	data, err := os.ReadFile("../../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(data)
	for _, key := range documentedKeys {
		if !strings.Contains(doc, "`"+key+"`") {
			t.Errorf("docs/configuration.md does not document `%s`", key)
		}
	}
}

// documentedKeys are the full paths of every key of the schema.
var documentedKeys = []string{
	"listen.data", "listen.admin", "listen.insecure_admin_public",
	"limits.max_header_bytes", "limits.max_body_bytes", "limits.max_token_bytes", "limits.read_header_timeout",
	"limits.read_timeout", "limits.write_timeout", "limits.idle_timeout", "limits.upstream_timeout",
	"issuers[].issuer", "issuers[].audiences", "issuers[].algorithms", "issuers[].leeway", "issuers[].required_claims",
	"issuers[].type", "issuers[].insecure_skip_type", "issuers[].jwks_url", "issuers[].jwks_file", "issuers[].keys_file",
	"issuers[].min_refresh", "issuers[].max_refresh", "issuers[].max_stale", "issuers[].unknown_kid_cooldown",
	"issuers[].claims.roles", "issuers[].claims.scopes", "issuers[].claims.groups", "issuers[].claims.team",
	"issuers[].claims.tenant", "issuers[].claims.env", "issuers[].claims.client_id", "issuers[].claims.attributes",
	"policy.bundle", "policy.keys", "policy.algorithms", "policy.poll_interval", "policy.insecure_allow_unsigned",
	"store",
	"audit.node", "audit.durability", "audit.batch_size", "audit.flush_interval", "audit.queue_size", "audit.fail_open",
	"guards.actions", "guards.hold_back",
	"trusted_proxies",
	"upstreams[].name", "upstreams[].url", "upstreams[].headers", "upstreams[].timeout",
	"routes[].name", "routes[].kind", "routes[].methods", "routes[].path", "routes[].action",
	"routes[].resource.type", "routes[].resource.id", "routes[].resource.attributes", "routes[].upstream",
	"models.upstream",
	"token_issuer.url", "token_issuer.audiences", "token_issuer.key_encryption_key", "token_issuer.algorithm",
	"token_issuer.access_token_ttl", "token_issuer.refresh_token_ttl", "token_issuer.refresh_idle_ttl",
	"token_issuer.resync_interval",
	"mcp.public_url", "mcp.authorization_servers", "mcp.servers[].name", "mcp.servers[].url", "mcp.servers[].resource",
	"mcp.servers[].headers", "mcp.servers[].scopes", "mcp.servers[].audit_arguments", "mcp.servers[].timeout",
	"mcp.servers[].upstream_token.audience", "mcp.servers[].upstream_token.ttl",
}
