package config

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/wardenhq/warden/internal/audit"
	"github.com/wardenhq/warden/internal/authn"
	"github.com/wardenhq/warden/internal/bundle"
	"github.com/wardenhq/warden/internal/gateway"
	"github.com/wardenhq/warden/internal/guard"
	"github.com/wardenhq/warden/internal/jwk"
	"github.com/wardenhq/warden/internal/mcp"
)

const (
	openAIKey   = "sk-test-0123456789abcdef"
	tracesKey   = "traces-secret-value"
	examplePath = "../../examples/warden.yaml"
)

// exampleInputs are the environment and files examples/warden.yaml needs.
func exampleInputs(t *testing.T) (envMap, files) {
	t.Helper()
	_, issuerJWKS := publicJWKS(t, "EdDSA", "warden-1")
	_, bundleJWKS := publicJWKS(t, "EdDSA", "bundle-1")
	return envMap{"OPENAI_API_KEY": openAIKey, "WARDEN_KEY_ENCRYPTION_KEY": testKEK}, files{
		"/etc/warden/keys/jwks.json":                issuerJWKS,
		"/etc/warden/keys/bundle-signing.jwks.json": bundleJWKS,
		"/run/secrets/traces-api-key":               []byte(tracesKey + "\n"),
		"/run/secrets/search-mcp-token":             []byte("mcp-upstream-token\n"),
	}
}

func loadExample(t *testing.T) *Config {
	t.Helper()
	data, err := os.ReadFile(examplePath)
	if err != nil {
		t.Fatal(err)
	}
	env, fsys := exampleInputs(t)
	cfg, err := Parse("warden.yaml", data, env.get, fsys.read)
	if err != nil {
		t.Fatalf("examples/warden.yaml:\n%v", err)
	}
	return cfg
}

func TestExampleConfigMapping(t *testing.T) {
	cfg := loadExample(t)

	if diff := cmp.Diff(Listen{Data: "0.0.0.0:8080", Admin: "127.0.0.1:9090"}, cfg.Listen); diff != "" {
		t.Errorf("Listen (-want +got):\n%s", diff)
	}
	wantLimits := Limits{
		MaxHeaderBytes:    DefaultMaxHeaderBytes,
		MaxBodyBytes:      2 << 20,
		MaxTokenBytes:     8 << 10,
		ReadHeaderTimeout: DefaultReadHeaderTimeout,
		ReadTimeout:       DefaultReadTimeout,
		WriteTimeout:      DefaultWriteTimeout,
		IdleTimeout:       DefaultIdleTimeout,
		UpstreamTimeout:   2 * time.Minute,
	}
	if diff := cmp.Diff(wantLimits, cfg.Limits); diff != "" {
		t.Errorf("Limits (-want +got):\n%s", diff)
	}
	wantIssuer := &TokenIssuer{
		URL: "https://warden.example.com", Audiences: []string{"warden"}, KEK: []byte("0123456789abcdef0123456789abcdef"),
		Algorithm: "ES256", AccessTokenTTL: 10 * time.Minute, RefreshTokenTTL: 720 * time.Hour, RefreshIdleTTL: 12 * time.Hour,
		ResyncInterval: 10 * time.Second,
	}
	if diff := cmp.Diff(wantIssuer, cfg.TokenIssuer); diff != "" {
		t.Errorf("TokenIssuer (-want +got):\n%s", diff)
	}
	if want := (AuthZEN{URL: "https://warden.example.com"}); cfg.AuthZEN != want {
		t.Errorf("AuthZEN = %+v, want %+v", cfg.AuthZEN, want)
	}
	wantMCP := &MCP{Servers: []mcp.ServerConfig{{
		Name: "search", URL: "http://127.0.0.1:7100/mcp", Headers: map[string]string{"Authorization": "Bearer mcp-upstream-token"},
		Scopes: []string{"mcp"}, Timeout: time.Minute,
	}}}
	if diff := cmp.Diff(wantMCP, cfg.MCP); diff != "" {
		t.Errorf("MCP (-want +got):\n%s", diff)
	}

	wantAuthn := authn.Config{
		MaxTokenBytes: 8 << 10,
		Issuers: []authn.IssuerConfig{{
			Issuer:         "https://login.example.com/",
			Audiences:      []string{"warden"},
			Algorithms:     []string{"RS256", "ES256"},
			Leeway:         DefaultLeeway,
			RequiredClaims: []string{"jti"},
			Type:           "at+jwt",
			JWKSURL:        "https://login.example.com/.well-known/jwks.json",
			Claims: authn.ClaimMapping{
				Roles:      "groups",
				Tenant:     "org_id",
				Attributes: map[string]string{"department": "dept"},
			},
		}, {
			Issuer:     "https://warden.internal/",
			Audiences:  []string{"warden"},
			Algorithms: []string{"EdDSA"},
			Leeway:     10 * time.Second,
			Type:       "at+jwt",
		}},
	}
	ignoreKeys := cmpopts.IgnoreFields(authn.IssuerConfig{}, "Keys")
	if diff := cmp.Diff(wantAuthn, cfg.Authn, ignoreKeys); diff != "" {
		t.Errorf("Authn (-want +got):\n%s", diff)
	}
	if ks := cfg.Authn.Issuers[1].Keys; len(ks) != 1 || ks[0].KeyID != "warden-1" || ks[0].IsPrivate() {
		t.Errorf("issuer 1 keys = %v, want the public key warden-1", ks)
	}

	wantPolicy := bundle.LoaderConfig{Path: "/etc/warden/bundle.tar.gz"}
	if diff := cmp.Diff(wantPolicy, cfg.Policy, cmpopts.IgnoreFields(bundle.LoaderConfig{}, "Keys")); diff != "" {
		t.Errorf("Policy (-want +got):\n%s", diff)
	}
	if ks := cfg.Policy.Keys; len(ks) != 1 || ks[0].KeyID != "bundle-1" {
		t.Errorf("policy keys = %v, want bundle-1", ks)
	}

	wantGuard := guard.Config{
		Actions:  map[string]guard.Action{"pii": guard.Redact, "secret": guard.Block, "ip": guard.Off},
		HoldBack: 256,
	}
	if diff := cmp.Diff(wantGuard, cfg.Guard, cmpopts.IgnoreUnexported(guard.Config{})); diff != "" {
		t.Errorf("Guard (-want +got):\n%s", diff)
	}
	if _, err := guard.New(cfg.Guard); err != nil {
		t.Errorf("guard.New(cfg.Guard): %v", err)
	}

	if cfg.Store != "sqlite:///var/lib/warden/warden.db" {
		t.Errorf("Store = %q", cfg.Store)
	}
	if diff := cmp.Diff(audit.Config{Durability: audit.DurabilityBatch}, cfg.Audit, cmpopts.IgnoreFields(audit.Config{}, "Clock", "Logger", "OnCommit")); diff != "" {
		t.Errorf("Audit (-want +got):\n%s", diff)
	}
	if cfg.AuditFailOpen {
		t.Error("AuditFailOpen = true")
	}
	if diff := cmp.Diff([]netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}, cfg.TrustedProxies, cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); diff != "" {
		t.Errorf("TrustedProxies (-want +got):\n%s", diff)
	}

	wantUp := []gateway.UpstreamSpec{{
		Name:    "openai",
		URL:     "https://api.openai.com",
		Headers: map[string]string{"Authorization": "Bearer " + openAIKey},
		Timeout: 2 * time.Minute,
	}, {
		Name:    "traces",
		URL:     "http://127.0.0.1:7000",
		Headers: map[string]string{"X-Api-Key": tracesKey},
		Timeout: 30 * time.Second,
	}}
	if diff := cmp.Diff(wantUp, cfg.Upstreams); diff != "" {
		t.Errorf("Upstreams (-want +got):\n%s", diff)
	}

	wantRoutes := []gateway.RouteSpec{{
		Name: "trace-replay", Kind: gateway.KindTool, Methods: []string{"POST"},
		Path: "/api/agents/{agent}/traces/{id}/replay", Action: "trace:replay",
		Resource: gateway.ResourceSpec{Type: "Trace", ID: "{id}", Attributes: map[string]string{"agent": "{agent}", "tenant": "header:X-Tenant"}},
		Upstream: "traces",
	}, {
		Name: "trace-read", Kind: gateway.KindTool, Methods: []string{"GET"},
		Path: "/api/traces/{id}", Action: "trace:read",
		Resource: gateway.ResourceSpec{Type: "Trace", ID: "{id}"}, Upstream: "traces",
	}}
	for _, m := range []struct{ name, method, path string }{
		{"chat_completions", "POST", "/v1/chat/completions"},
		{"completions", "POST", "/v1/completions"},
		{"embeddings", "POST", "/v1/embeddings"},
		{"responses", "POST", "/v1/responses"},
		{"models", "GET", "/v1/models"},
	} {
		wantRoutes = append(wantRoutes, gateway.RouteSpec{Name: m.name, Kind: gateway.KindModel, Methods: []string{m.method}, Path: m.path, Upstream: "openai"})
	}
	if diff := cmp.Diff(wantRoutes, cfg.Routes); diff != "" {
		t.Errorf("Routes (-want +got):\n%s", diff)
	}
}

func TestDefaults(t *testing.T) {
	cfg, err := Parse("warden.yaml", []byte(minimal), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Listen != (Listen{Data: DefaultDataAddr, Admin: DefaultAdminAddr}) {
		t.Errorf("Listen = %+v", cfg.Listen)
	}
	is := cfg.Authn.Issuers[0]
	if is.Leeway != DefaultLeeway || is.Type != "at+jwt" || is.InsecureSkipAudience || is.InsecureSkipIssuer {
		t.Errorf("issuer defaults: leeway %s, type %q", is.Leeway, is.Type)
	}
	if cfg.Limits.MaxBodyBytes != 1<<20 || cfg.Limits.MaxTokenBytes != 8<<10 || cfg.Authn.MaxTokenBytes != 8<<10 {
		t.Errorf("limits: %+v", cfg.Limits)
	}
	if cfg.Audit.Durability != audit.DurabilityBatch || cfg.AuditFailOpen || cfg.Audit.Node != "" {
		t.Errorf("audit: %+v fail_open=%t", cfg.Audit, cfg.AuditFailOpen)
	}
	if len(cfg.TrustedProxies) != 0 {
		t.Errorf("TrustedProxies = %v, want none", cfg.TrustedProxies)
	}
	if cfg.Policy.Path != "bundle.tar.gz" || !cfg.Policy.InsecureAllowUnsigned {
		t.Errorf("policy: %+v", cfg.Policy)
	}
	if cfg.Upstreams[0].Timeout != DefaultUpstreamTimeout {
		t.Errorf("upstream timeout = %s", cfg.Upstreams[0].Timeout)
	}
	if len(cfg.Routes) != 5 {
		t.Errorf("got %d routes, want the 5 model routes", len(cfg.Routes))
	}
}

func TestAuditFlushIntervalDefault(t *testing.T) {
	for _, tc := range []struct {
		name, audit string
		want        time.Duration
	}{
		{"batch: no wait", "audit: {durability: batch}\n", 0},
		{"async: the async default", "audit: {durability: async}\n", DefaultAsyncFlushInterval},
		{"async: an explicit 0s stays", "audit: {durability: async, flush_interval: 0s}\n", 0},
		{"batch: an explicit interval", "audit: {durability: batch, flush_interval: 2ms}\n", 2 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := Parse("warden.yaml", []byte(minimal+tc.audit), nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			if got := cfg.Audit.FlushInterval; got != tc.want {
				t.Errorf("FlushInterval = %s, want %s", got, tc.want)
			}
		})
	}
}

func TestRelativePaths(t *testing.T) {
	_, jwks := publicJWKS(t, "ES256", "k1")
	src := strings.Replace(minimal, "    jwks_url: https://idp.example.com/jwks.json\n", "    keys_file: keys/jwks.json\n", 1)
	fsys := files{filepath.Join("/etc/warden", "keys/jwks.json"): jwks}
	cfg, err := Parse("/etc/warden/warden.yaml", []byte(src), nil, fsys.read)
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Policy.Path; got != "/etc/warden/bundle.tar.gz" {
		t.Errorf("Policy.Path = %q, want it relative to the config file", got)
	}
	if len(cfg.Authn.Issuers[0].Keys) != 1 {
		t.Errorf("keys not loaded")
	}
}

func TestTypeSkip(t *testing.T) {
	src := strings.Replace(minimal, "    algorithms: [ES256]\n", "    algorithms: [ES256]\n    insecure_skip_type: true\n", 1)
	cfg, err := Parse("warden.yaml", []byte(src), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Authn.Issuers[0].Type; got != "" {
		t.Errorf("Type = %q, want unchecked", got)
	}
}

// TestErrors checks that each mistake is reported with its file, line,
// column and key path. Each case appends to or replaces part of minimal.
func TestErrors(t *testing.T) {
	ins := func(after, text string) string { return strings.Replace(minimal, after, after+text, 1) }
	rep := func(old, new string) string { return strings.Replace(minimal, old, new, 1) }
	tests := []struct {
		name string
		src  string
		env  envMap
		fsys files
		want string
	}{
		{"unknown key", minimal + "listen:\n  dta: 0.0.0.0:8080\n",
			nil, nil, `warden.yaml:17:3: listen.dta: unknown key (want one of data, admin, insecure_admin_public)`},
		{"unknown top-level key", minimal + "upstream: x\n",
			nil, nil, `warden.yaml:16:1: upstream: unknown key (want one of listen, limits, issuers, policy, store, audit, guards, trusted_proxies, upstreams, routes, models, token_issuer, authzen, mcp)`},
		{"authzen url not https", minimal + "authzen:\n  url: http://pdp.example\n",
			nil, nil, `warden.yaml:17:8: authzen.url: "http://pdp.example": the PDP URL must be https (http only for a loopback host)`},
		{"authzen unknown key", minimal + "authzen:\n  enable: false\n",
			nil, nil, `warden.yaml:17:3: authzen.enable: unknown key (want one of enabled, url)`},
		{"duplicate key", minimal + "store: sqlite:other.db\n",
			nil, nil, `warden.yaml:16:1: duplicate key "store" (first at line 9)`},
		{"wrong type", minimal + "limits:\n  max_body_bytes: [1]\n",
			nil, nil, `warden.yaml:17:19: limits.max_body_bytes: want a size (bytes as an integer, or a string such as "64KiB" or "1MiB"), got a list`},
		{"string wanted", rep("store: sqlite:warden.db", "store: 42"),
			nil, nil, `warden.yaml:9:8: store: want a string, got an integer (quote it: "42")`},
		{"bool wanted", rep("insecure_allow_unsigned: true", "insecure_allow_unsigned: yes please"),
			nil, nil, `warden.yaml:8:28: policy.insecure_allow_unsigned: want true or false, got a string`},
		{"bad duration", minimal + "limits:\n  read_timeout: 30\n",
			nil, nil, `warden.yaml:17:17: limits.read_timeout: want a duration such as "30s" or "5m", got an integer`},
		{"bad duration string", minimal + "limits:\n  idle_timeout: 30 seconds\n",
			nil, nil, `warden.yaml:17:17: limits.idle_timeout: "30 seconds" is not a duration (want a number with a unit: ms, s, m, h, e.g. "30s")`},
		{"bad size", minimal + "limits:\n  max_body_bytes: 1 megabyte\n",
			nil, nil, `warden.yaml:17:19: limits.max_body_bytes: "1 megabyte" is not a size (want an integer with an optional unit B, KiB, MiB, GiB, KB, MB or GB, e.g. "1MiB")`},
		{"leeway too long", ins("    algorithms: [ES256]\n", "    leeway: 10m\n"),
			nil, nil, `warden.yaml:5:13: issuers[0].leeway: duration 10m0s is too long (at most 5m0s)`},
		{"algorithm none", rep("algorithms: [ES256]", "algorithms: [none]"),
			nil, nil, `warden.yaml:4:18: issuers[0].algorithms[0]: "none" is not an algorithm (want one of ES256, ES384, ES512, EdDSA, RS256, RS384, RS512, PS256, PS384, PS512, HS256, HS384, HS512)`},
		{"no algorithms", rep("    algorithms: [ES256]\n", ""),
			nil, nil, `warden.yaml:2:5: issuers[0].algorithms: required: list the algorithms this issuer signs with (one or more of ES256, ES384, ES512, EdDSA, RS256, RS384, RS512, PS256, PS384, PS512, HS256, HS384, HS512)`},
		{"two key sources", ins("    jwks_url: https://idp.example.com/jwks.json\n", "    jwks_file: /etc/jwks.json\n"),
			nil, nil, `warden.yaml:6:16: issuers[0].jwks_file: more than one key source (jwks_url, jwks_file); set exactly one of jwks_url, jwks_file or keys_file`},
		{"no key source", rep("    jwks_url: https://idp.example.com/jwks.json\n", ""),
			nil, nil, `warden.yaml:2:5: issuers[0]: no key source: set one of jwks_url, jwks_file or keys_file`},
		{"plain http jwks", rep("jwks_url: https://idp.example.com/jwks.json", "jwks_url: http://idp.example.com/jwks.json"),
			nil, nil, `warden.yaml:5:15: issuers[0].jwks_url: http://idp.example.com/jwks.json: plain http is only allowed to a loopback host; use https`},
		{"missing key file", rep("jwks_url: https://idp.example.com/jwks.json", "keys_file: /nope.json"),
			nil, files{}, `warden.yaml:5:16: issuers[0].keys_file: cannot read key file: open /nope.json: file does not exist`},
		{"missing upstream reference", rep("  upstream: echo", "  upstream: openai"),
			nil, nil, `warden.yaml:14:13: models.upstream: no upstream named "openai" (want one of echo)`},
		{"route to missing upstream", minimal + toolRoute("/t/{id}", `"{id}"`, "nope"),
			nil, nil, `warden.yaml:25:15: routes[0].upstream: no upstream named "nope" (want one of echo)`},
		{"unknown path parameter", minimal + toolRoute("/t/{id}", `"{tid}"`, "echo"),
			nil, nil, `warden.yaml:24:11: routes[0].resource.id: path parameter {tid} is not in the route's path (want one of {id})`},
		{"parameter inside a segment", minimal + toolRoute("/t/x{id}", `"{id}"`, "echo"),
			nil, nil, `warden.yaml:20:11: routes[0].path: "/t/x{id}": a parameter is a whole segment ("{id}")`},
		{"duplicate route", minimal + toolRoute("/v1/models", "x", "echo"),
			nil, nil, `warden.yaml:14:3: models: expands to GET /v1/models, which route "r" already serves`},
		{"tool route without action", minimal + "routes:\n  - {name: r, kind: tool, methods: [GET], path: /t, resource: {type: T, id: x}, upstream: echo}\n",
			nil, nil, `warden.yaml:17:6: routes[0].action: required on a tool route, e.g. "trace:replay"`},
		{"route kind", minimal + "routes:\n  - {name: r, kind: mcp, path: /t, upstream: echo}\n",
			nil, nil, `warden.yaml:17:21: routes[0].kind: "mcp" is not a route kind (want model or tool)`},
		{"admin not loopback", minimal + "listen:\n  admin: 0.0.0.0:9090\n",
			nil, nil, `warden.yaml:17:10: listen.admin: "0.0.0.0:9090" is not a loopback address (want 127.0.0.1:PORT, [::1]:PORT or localhost:PORT; set insecure_admin_public: true to expose metrics and admin APIs)`},
		{"admin all interfaces", minimal + "listen:\n  admin: :9090\n",
			nil, nil, `warden.yaml:17:10: listen.admin: ":9090" is not a loopback address`},
		{"bad CIDR", minimal + "trusted_proxies: [10.0.0.0/33]\n",
			nil, nil, `warden.yaml:16:19: trusted_proxies[0]: "10.0.0.0/33" is not a CIDR (want e.g. "10.0.0.0/8" or "fd00::/8")`},
		{"CIDR host bits", minimal + "trusted_proxies: [10.1.2.3/8]\n",
			nil, nil, `warden.yaml:16:19: trusted_proxies[0]: "10.1.2.3/8" has host bits set (did you mean 10.0.0.0/8?)`},
		{"trust everyone", minimal + "trusted_proxies: [0.0.0.0/0]\n",
			nil, nil, `warden.yaml:16:19: trusted_proxies[0]: "0.0.0.0/0" trusts every address; list your proxies' networks`},
		{"unknown detector", minimal + "guards:\n  actions:\n    emial: redact\n",
			nil, nil, `warden.yaml:18:5: guards.actions.emial: unknown detector or class "emial" (want one of email, phone, card, iban, ssn, ip, aws_key, private_key, jwt, bearer, api_key, or a class: pii, secret)`},
		{"unknown guard action", minimal + "guards:\n  actions:\n    email: mask\n",
			nil, nil, `warden.yaml:18:12: guards.actions.email: "mask" is not an action (want redact, block, off or default)`},
		{"missing env var", ins("    url: http://127.0.0.1:9999\n", "    headers:\n      Authorization: {env: ECHO_KEY, prefix: \"Bearer \"}\n"),
			envMap{}, nil, `warden.yaml:14:28: upstreams[0].headers.Authorization.env: environment variable ECHO_KEY is not set or empty`},
		{"plain string secret", ins("    url: http://127.0.0.1:9999\n", "    headers:\n      Authorization: Bearer abc\n"),
			nil, nil, `warden.yaml:14:22: upstreams[0].headers.Authorization: want {env: NAME}, {file: PATH} or {value: LITERAL} (a plain string is ambiguous: secrets must say where they come from)`},
		{"two secret sources", ins("    url: http://127.0.0.1:9999\n", "    headers:\n      X-Key: {env: A, value: b}\n"),
			envMap{"A": "a"}, nil, `warden.yaml:14:15: upstreams[0].headers.X-Key: want exactly one of env, file or value (got 2)`},
		{"secret with newline", ins("    url: http://127.0.0.1:9999\n", "    headers:\n      X-Key: {file: /s}\n"),
			nil, files{"/s": []byte("a\nb\n")}, `warden.yaml:14:21: upstreams[0].headers.X-Key: the resolved value (from file:/s) holds control characters; it cannot be a header value`},
		{"forbidden header", ins("    url: http://127.0.0.1:9999\n", "    headers:\n      host: {value: x}\n"),
			nil, nil, `warden.yaml:14:7: upstreams[0].headers.host: Host cannot be set on upstream requests`},
		{"upstream url credentials", rep("url: http://127.0.0.1:9999", "url: https://u:p@api.example.com"),
			nil, nil, `warden.yaml:12:10: upstreams[0].url: URL must not hold credentials; use headers with {env: NAME} or {file: PATH}`},
		{"duplicate upstream", ins("    url: http://127.0.0.1:9999\n", "  - name: echo\n    url: http://127.0.0.1:9998\n"),
			nil, nil, `warden.yaml:13:11: upstreams[1].name: upstream "echo" defined twice (first at line 11)`},
		{"store scheme", rep("store: sqlite:warden.db", "store: mysql://u:secret@db/w"),
			nil, nil, `warden.yaml:9:8: store: want a sqlite:PATH, sqlite:///ABS/PATH or postgres:// URL`},
		{"unsigned without consent", rep("  insecure_allow_unsigned: true\n", ""),
			nil, nil, `warden.yaml:7:3: policy.keys: required: the public key files that verify bundle signatures (or insecure_allow_unsigned: true)`},
		{"audit durability", minimal + "audit:\n  durability: sometimes\n",
			nil, nil, `warden.yaml:17:15: audit.durability: "sometimes" is not a durability (want batch or async)`},
		{"anchor", minimal + "audit: &a\n  node: n1\n",
			nil, nil, `warden.yaml:16:8: audit: anchors, aliases and tags are not supported; write the value out`},
		{"syntax", minimal + "routes: [\n",
			nil, nil, `warden.yaml:16:9: YAML syntax:`},
		{"two documents", minimal + "---\nstore: x\n",
			nil, nil, `warden.yaml:17:6: more than one YAML document; want exactly one`},
		{"empty issuers", "issuers: []\n" + minimal[strings.Index(minimal, "policy:"):],
			nil, nil, `warden.yaml:1:10: issuers: no trusted issuers (want at least one)`},
		{"upstream timeout beyond write timeout", minimal + "limits:\n  upstream_timeout: 20m\n",
			nil, nil, `warden.yaml:17:21: limits.upstream_timeout: 20m0s exceeds limits.write_timeout 10m0s: responses would be cut off`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env, fsys := tc.env, tc.fsys
			if fsys == nil {
				fsys = files{}
			}
			_, err := Parse("warden.yaml", []byte(tc.src), env.get, fsys.read)
			var list *ErrorList
			if !errors.As(err, &list) {
				t.Fatalf("err = %v (%T), want an *ErrorList", err, err)
			}
			for _, e := range list.Errors {
				if strings.HasPrefix(e.Error(), tc.want) {
					return
				}
			}
			t.Errorf("errors:\n%v\nwant one starting with:\n%s", err, tc.want)
		})
	}
}

// toolRoute is a routes section with one GET tool route, starting at line 16
// when appended to minimal.
func toolRoute(path, id, upstream string) string {
	return `routes:
  - name: r
    kind: tool
    methods: [GET]
    path: ` + path + `
    action: trace:read
    resource:
      type: Trace
      id: ` + id + `
    upstream: ` + upstream + `
`
}

func TestAuthZENDisabled(t *testing.T) {
	cfg, err := Parse("warden.yaml", []byte(minimal+"authzen:\n  enabled: false\n"), nil, files{}.read)
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.AuthZEN.Disabled {
		t.Error("authzen.enabled: false did not disable the API")
	}
	if cfg, err = Parse("warden.yaml", []byte(minimal), nil, files{}.read); err != nil || cfg.AuthZEN.Disabled {
		t.Errorf("without an authzen section the API must be on: %+v %v", cfg.AuthZEN, err)
	}
}

func TestErrorsAreCollected(t *testing.T) {
	src := `listen:
  admin: 0.0.0.0:1
  bogus: 1
limits:
  read_timeout: soon
issuers:
  - issuer: https://idp/
    audiences: [w]
    algorithms: [none]
    jwks_url: https://idp/jwks
store: sqlite:x.db
`
	_, err := Parse("w.yaml", []byte(src), nil, nil)
	var list *ErrorList
	if !errors.As(err, &list) {
		t.Fatalf("err = %v", err)
	}
	var got []string
	for _, e := range list.Errors {
		got = append(got, fmt.Sprintf("%d:%d %s", e.Line, e.Column, e.Path))
	}
	want := []string{
		"1:1 policy", // missing sections are reported at the start of the mapping
		"1:1 routes",
		"2:10 listen.admin",
		"3:3 listen.bogus",
		"5:17 limits.read_timeout",
		"9:18 issuers[0].algorithms[0]",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("errors (-want +got):\n%s\n%v", diff, err)
	}
}

func TestOneErrorPerMistake(t *testing.T) {
	src := strings.Replace(minimal, "  insecure_allow_unsigned: true\n", "  keys: /etc/jwks.json\n  algorithms: ES256\n", 1)
	_, err := Parse("w.yaml", []byte(src), nil, nil)
	var list *ErrorList
	if !errors.As(err, &list) {
		t.Fatalf("err = %v", err)
	}
	want := []string{
		`w.yaml:8:9: policy.keys: want a list, got a string`,
		`w.yaml:9:15: policy.algorithms: want a list, got a string`,
	}
	var got []string
	for _, e := range list.Errors {
		got = append(got, e.Error())
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("errors (-want +got):\n%s", diff)
	}
}

func TestErrorCap(t *testing.T) {
	var b strings.Builder
	b.WriteString(minimal + "listen:\n")
	for i := range 30 {
		fmt.Fprintf(&b, "  bad%d: 1\n", i)
	}
	_, err := Parse("w.yaml", []byte(b.String()), nil, nil)
	var list *ErrorList
	if !errors.As(err, &list) {
		t.Fatalf("err = %v", err)
	}
	if len(list.Errors) != MaxErrors || list.Omitted != 30-MaxErrors {
		t.Errorf("got %d errors, %d omitted; want %d and %d", len(list.Errors), list.Omitted, MaxErrors, 30-MaxErrors)
	}
	if !strings.HasSuffix(err.Error(), "(and 10 more)") {
		t.Errorf("message does not say how many were left out:\n%v", err)
	}
}

func TestErrorUnwrap(t *testing.T) {
	src := strings.Replace(minimal, "    url: http://127.0.0.1:9999\n", "    url: http://127.0.0.1:9999\n    headers:\n      X-Key: {env: NOPE}\n      X-Other: {file: /missing}\n", 1)
	_, err := Parse("w.yaml", []byte(src), nil, files{}.read)
	if !errors.Is(err, ErrEnvNotSet) {
		t.Errorf("errors.Is(err, ErrEnvNotSet) = false: %v", err)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("errors.Is(err, fs.ErrNotExist) = false: %v", err)
	}
}

func TestFileSizeCap(t *testing.T) {
	big := append([]byte(minimal), bytes.Repeat([]byte("# padding\n"), MaxFileBytes/10+1)...)
	_, err := Parse("w.yaml", big, nil, nil)
	if err == nil || !strings.Contains(err.Error(), "more than the") {
		t.Errorf("err = %v, want a size error", err)
	}
	dir := t.TempDir()
	p := filepath.Join(dir, "warden.yaml")
	if err := os.WriteFile(p, big, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(p); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("Load: err = %v, want a size error", err)
	}
}

func TestSecretFileCap(t *testing.T) {
	src := strings.Replace(minimal, "    url: http://127.0.0.1:9999\n", "    url: http://127.0.0.1:9999\n    headers:\n      X-Key: {file: /big}\n", 1)
	_, err := Parse("w.yaml", []byte(src), nil, files{"/big": bytes.Repeat([]byte("a"), MaxSecretBytes+1)}.read)
	if err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("err = %v, want a size error", err)
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	_, jwks := publicJWKS(t, "ES256", "k1")
	if err := os.WriteFile(filepath.Join(dir, "jwks.json"), jwks, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "secret"), []byte("s3cret\r\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	src := strings.Replace(minimal, "    jwks_url: https://idp.example.com/jwks.json\n", "    keys_file: jwks.json\n", 1)
	src = strings.Replace(src, "    url: http://127.0.0.1:9999\n", "    url: http://127.0.0.1:9999\n    headers:\n      X-Key: {file: secret}\n", 1)
	p := filepath.Join(dir, "warden.yaml")
	if err := os.WriteFile(p, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Upstreams[0].Headers["X-Key"]; got != "s3cret" {
		t.Errorf("X-Key = %q, want the file's content without the line end", got)
	}
	if _, err := Load(filepath.Join(dir, "nope.yaml")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Load(missing) = %v, want fs.ErrNotExist", err)
	}
}

func TestPrivateKeysRefused(t *testing.T) {
	k, err := jwk.Generate("ES256", "priv")
	if err != nil {
		t.Fatal(err)
	}
	data, err := k.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	src := strings.Replace(minimal, "jwks_url: https://idp.example.com/jwks.json", "keys_file: /k.jwk", 1)
	_, err = Parse("w.yaml", []byte(src), nil, files{"/k.jwk": data}.read)
	if err == nil || !strings.Contains(err.Error(), "holds a private key") {
		t.Errorf("err = %v, want a private-key error", err)
	}
}

func TestRedaction(t *testing.T) {
	cfg := loadExample(t)
	cfg.Store = "postgres://app:dbpassword@db:5432/warden"
	var logs bytes.Buffer
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("config", "cfg", cfg)
	outputs := map[string]string{
		"String": cfg.String(),
		"%v":     fmt.Sprintf("%v", cfg),
		"%+v":    fmt.Sprintf("%+v", cfg),
		"%#v":    fmt.Sprintf("%#v", cfg),
		"%s":     fmt.Sprintf("%s", cfg),
		"value":  fmt.Sprintf("%+v", *cfg),
		"slog":   logs.String(),
	}
	for name, out := range outputs {
		for _, secret := range []string{openAIKey, tracesKey, "dbpassword"} {
			if strings.Contains(out, secret) {
				t.Errorf("%s output contains a secret:\n%s", name, out)
			}
		}
		if !strings.Contains(out, "env:OPENAI_API_KEY") {
			t.Errorf("%s output does not say where the secret came from:\n%s", name, out)
		}
	}
}

func TestSecretNotInErrors(t *testing.T) {
	const secret = "sk-bad\x01value"
	src := strings.Replace(minimal, "    url: http://127.0.0.1:9999\n", "    url: http://127.0.0.1:9999\n    headers:\n      X-Key: {env: K}\n", 1)
	_, err := Parse("w.yaml", []byte(src), envMap{"K": secret}.get, nil)
	if err == nil {
		t.Fatal("a control character in a secret was accepted")
	}
	if strings.Contains(err.Error(), "sk-bad") {
		t.Errorf("error reveals the secret: %v", err)
	}
}

func TestParseSize(t *testing.T) {
	tests := map[string]int64{"0": 0, "512B": 512, "64KiB": 64 << 10, "1MiB": 1 << 20, "2 GiB": 2 << 30, "10MB": 10e6, "1KB": 1000}
	for in, want := range tests {
		got, err := parseSize(in)
		if err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "MiB", "-1", "1.5MiB", "1 TiB", "99999999999999999999", "9223372036854775807KiB"} {
		if _, err := parseSize(in); err == nil {
			t.Errorf("parseSize(%q) succeeded", in)
		}
	}
}

// TestDecisionOnlyNode: an authzen section that does not disable the API is
// a node of its own (no routes needed); the API's being on by default, or a
// disabled one, does not make a configuration without routes valid.
func TestDecisionOnlyNode(t *testing.T) {
	noRoutes := strings.Replace(minimal, "models:\n  upstream: echo\n", "", 1)
	if noRoutes == minimal {
		t.Fatal("minimal has no models section to remove")
	}
	for _, tc := range []struct {
		name, extra string
		ok          bool
	}{
		{"authzen section", "authzen:\n  url: https://pdp.example.com\n", true},
		{"authzen enabled", "authzen:\n  enabled: true\n", true},
		{"authzen disabled", "authzen:\n  enabled: false\n", false},
		{"nothing", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("warden.yaml", []byte(noRoutes+tc.extra), nil, nil)
			if tc.ok && err != nil {
				t.Errorf("err = %v, want a decision-only node", err)
			}
			if !tc.ok && (err == nil || !strings.Contains(err.Error(), "no routes: set routes, models, mcp or authzen")) {
				t.Errorf("err = %v, want the no-routes error", err)
			}
		})
	}
}
