package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2/clientcredentials"

	"github.com/wardenhq/warden/internal/audit"
	"github.com/wardenhq/warden/internal/authn"
	"github.com/wardenhq/warden/internal/bundle"
	"github.com/wardenhq/warden/internal/echo"
	"github.com/wardenhq/warden/internal/gateway"
	"github.com/wardenhq/warden/internal/issuer"
	"github.com/wardenhq/warden/internal/jwk"
	"github.com/wardenhq/warden/internal/mcp"
	"github.com/wardenhq/warden/internal/policy"
	"github.com/wardenhq/warden/internal/store"
	"github.com/wardenhq/warden/internal/testutil"
)

// serveBuffer is a buffer safe for a command writing while the test reads.
type serveBuffer = testutil.SyncBuffer

func runServeCmd(ctx context.Context, stdout, stderr io.Writer, args ...string) error {
	cmd := newServeCmd(IO{Stdout: stdout, Stderr: stderr}.withDefaults())
	cmd.SetArgs(args)
	cmd.SetOut(stdout)
	cmd.SetErr(stderr)
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	return cmd.ExecuteContext(ctx)
}

func serveExitCode(err error) int {
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	if err != nil {
		return exitUsage
	}
	return exitOK
}

func TestServeFlags(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "warden.yaml")
	if err := os.WriteFile(bad, []byte("listen:\n  admin: 0.0.0.0:9090\nstore: sqlite:x.db\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantStderr string
	}{
		{"nothing", nil, exitUsage, ""},
		{"both", []string{"--demo", "--config", bad}, exitUsage, ""},
		{"data dir without demo", []string{"--config", bad, "--data-dir", dir}, exitUsage, ""},
		{"bad shutdown timeout", []string{"--demo", "--shutdown-timeout", "0s"}, exitUsage, ""},
		{"args", []string{"--demo", "extra"}, exitUsage, ""},
		{"invalid config names file and line", []string{"--config", bad}, exitUsage, "warden.yaml:2:10: listen.admin:"},
		{"missing config", []string{"--config", filepath.Join(dir, "nope.yaml")}, exitUsage, ""},
		{"public admin flag", []string{"--demo", "--data-dir", dir, "--admin-listen", "0.0.0.0:0", "--listen", "127.0.0.1:0"}, exitUsage, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var stderr serveBuffer
			err := runServeCmd(t.Context(), io.Discard, &stderr, tc.args...)
			if got := serveExitCode(err); got != tc.wantCode {
				t.Fatalf("exit code %d (%v), want %d", got, err, tc.wantCode)
			}
			if !strings.Contains(stderr.String(), tc.wantStderr) {
				t.Errorf("stderr %q lacks %q", stderr.String(), tc.wantStderr)
			}
		})
	}
}

func TestServeDemoFiles(t *testing.T) {
	files, err := embeddedPolicy()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"schema.cedarschema", "entities.json", "policies/models.cedar", "tests/models.yaml"} {
		if _, ok := files[want]; !ok {
			t.Errorf("embedded policy lacks %s", want)
		}
	}
	// The echo server lists exactly the example catalogue's models.
	var ents []struct {
		UID struct{ Type, ID string } `json:"uid"`
	}
	if err := json.Unmarshal(files["entities.json"], &ents); err != nil {
		t.Fatal(err)
	}
	var models []string
	for _, e := range ents {
		if e.UID.Type == "Model" {
			models = append(models, e.UID.ID)
		}
	}
	slices.Sort(models)
	got := echo.DefaultModels()
	slices.Sort(got)
	if !slices.Equal(got, models) {
		t.Errorf("echo models %q, catalogue %q", got, models)
	}
}

func TestServeReadiness(t *testing.T) {
	eng, err := policy.New(policy.Config{})
	if err != nil {
		t.Fatal(err)
	}
	ld, err := bundle.NewLoader(bundle.LoaderConfig{Path: filepath.Join(t.TempDir(), "none.tar.gz"), InsecureAllowUnsigned: true},
		func(context.Context, *bundle.Bundle) error { return nil }, eng.Fail)
	if err != nil {
		t.Fatal(err)
	}
	s := &server{engine: eng, loader: ld}
	if got := s.readiness(); !strings.Contains(got, "verifier") {
		t.Errorf("without verifier: %q", got)
	}
	rec := newServeRecorder()
	s.readyz(rec, nil)
	if rec.status != http.StatusServiceUnavailable || !strings.Contains(rec.body.String(), `"ready":false`) {
		t.Errorf("readyz = %d %s", rec.status, rec.body.String())
	}
	k, err := jwk.Generate("EdDSA", "")
	if err != nil {
		t.Fatal(err)
	}
	pub, err := k.Public()
	if err != nil {
		t.Fatal(err)
	}
	if s.verifier, err = authn.New(t.Context(), authn.Config{Issuers: []authn.IssuerConfig{{
		Issuer: "https://issuer.test/", Audiences: []string{"warden"}, Algorithms: []string{"EdDSA"}, Keys: []*jwk.Key{pub},
	}}}); err != nil {
		t.Fatal(err)
	}
	defer s.verifier.Close()
	if got := s.readiness(); !strings.Contains(got, "no policy bundle loaded yet") {
		t.Errorf("without a bundle: %q", got)
	}
	eng.Fail(errors.New("signature does not verify"))
	if got := s.readiness(); !strings.Contains(got, "signature does not verify") {
		t.Errorf("after a failed load: %q, want the failure", got)
	}
}

type serveRecorder struct {
	h      http.Header
	status int
	body   bytes.Buffer
}

func newServeRecorder() *serveRecorder               { return &serveRecorder{h: http.Header{}} }
func (r *serveRecorder) Header() http.Header         { return r.h }
func (r *serveRecorder) Write(p []byte) (int, error) { return r.body.Write(p) }
func (r *serveRecorder) WriteHeader(s int)           { r.status = s }

// metricLine is one sample line of the Prometheus text format.
var metricLine = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*"(?:,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*")*\})? (\S+)$`)

func TestServeMetricsFormat(t *testing.T) {
	var buf bytes.Buffer
	writeMetrics(&buf, metricsSnapshot{
		gateway: gateway.Stats{
			Requests: []gateway.RequestCount{
				{Route: "chat_completions", Decision: "deny", Count: 2},
				{Route: "chat_completions", Decision: "allow", Count: 5},
				{Route: `we"ird\route`, Decision: "none", Count: 1},
			},
			DecisionLatency: gateway.Histogram{Bounds: []float64{0.0001, 0.001}, Counts: []uint64{3, 7, 7}, Sum: 0.002, Count: 7},
			GuardHits:       map[string]uint64{"email": 4, "api_key": 1},
			UpstreamErrors:  1,
		},
		engine:  policy.Status{Loaded: true, Revision: "r1", Digest: "sha256:ab", Failures: 2, LoadedAt: time.Unix(1700000000, 0)},
		loader:  bundle.Status{Attempts: 3, Failures: 1},
		audit:   audit.Stats{QueueDepth: 3, QueueCapacity: 8192, Committed: 9},
		auditOK: true,
		mcp:     &mcp.Stats{Servers: []mcp.ServerStats{{Server: "search", Allowed: 6, Denied: 2}}},
		authn: authn.Stats{Issuers: []authn.IssuerStats{
			{Issuer: "https://idp.example", Remote: true, Generation: 2, LastRefresh: time.Unix(1700000000, 0), RefreshFailures: 4, Stale: true},
			{Issuer: "static", Generation: 1},
		}},
	})
	out := buf.String()
	typed := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		if rest, ok := strings.CutPrefix(line, "# TYPE "); ok {
			typed[strings.Fields(rest)[0]] = true
			continue
		}
		if strings.HasPrefix(line, "# HELP ") {
			continue
		}
		m := metricLine.FindStringSubmatch(line)
		if m == nil {
			t.Errorf("not a valid sample line: %q", line)
			continue
		}
		name := m[1]
		base := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(name, "_bucket"), "_sum"), "_count")
		if !typed[name] && !typed[base] {
			t.Errorf("sample %q before its TYPE line", name)
		}
	}
	for _, want := range []string{
		`warden_requests_total{route="chat_completions",decision="allow"} 5`,
		`warden_requests_total{route="we\"ird\\route",decision="none"} 1`,
		`warden_decision_duration_seconds_bucket{le="0.001"} 7`,
		`warden_decision_duration_seconds_bucket{le="+Inf"} 7`,
		`warden_decision_duration_seconds_count 7`,
		`warden_guard_hits_total{detector="email"} 4`,
		`warden_mcp_messages_total{server="search",decision="allow"} 6`,
		`warden_mcp_messages_total{server="search",decision="deny"} 2`,
		`warden_policy_bundle_loaded 1`,
		`warden_policy_bundle_info{revision="r1",digest="sha256:ab"} 1`,
		`warden_policy_load_failures_total 2`,
		`warden_policy_bundle_loaded_timestamp_seconds 1.7e+09`,
		`warden_audit_queue_depth 3`,
		`warden_bundle_source_failures 1`,
		`warden_jwks_refresh_failures_total{issuer="https://idp.example"} 4`,
		`warden_jwks_refresh_failures_total{issuer="static"} 0`,
		`warden_jwks_keys_stale{issuer="https://idp.example"} 1`,
		`warden_jwks_keys_stale{issuer="static"} 0`,
		`warden_jwks_keys_last_refresh_timestamp_seconds{issuer="https://idp.example"} 1.7e+09`,
	} {
		if !strings.Contains(out, want+"\n") {
			t.Errorf("metrics lack %q", want)
		}
	}
}

// TestServeDemo runs `serve --demo` in-process on port-0 listeners, waits
// for readiness, makes allowed, denied and redacted calls with the printed
// tokens, then cancels and checks that the audit log was flushed.
func TestServeDemo(t *testing.T) {
	dataDir := t.TempDir()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var stdout, stderr serveBuffer
	errc := make(chan error, 1)
	go func() {
		errc <- runServeCmd(ctx, &stdout, &stderr, "--demo", "--data-dir", dataDir,
			"--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0", "--shutdown-timeout", "10s")
	}()

	deadline := time.After(30 * time.Second)
	for !strings.Contains(stdout.String(), "Stop with Ctrl-C") {
		select {
		case err := <-errc:
			t.Fatalf("serve --demo ended early: %v\nstderr:\n%s", err, stderr.String())
		case <-deadline:
			t.Fatalf("no banner after 30s\nstdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	banner := stdout.String()
	t.Logf("banner:\n%s", banner)
	data := regexp.MustCompile(`data plane   (http://\S+)`).FindStringSubmatch(banner)
	admin := regexp.MustCompile(`admin        (http://\S+)`).FindStringSubmatch(banner)
	if data == nil || admin == nil {
		t.Fatalf("banner lacks addresses:\n%s", banner)
	}
	tokens := map[string]string{}
	for _, m := range regexp.MustCompile(`(?m)^  export (\w+)=(\S+)$`).FindAllStringSubmatch(banner, -1) {
		tokens[m[1]] = m[2]
	}
	for _, p := range demoPersonas() {
		if tokens[p.Env] == "" {
			t.Fatalf("banner lacks a token for %s:\n%s", p.Env, banner)
		}
	}
	client := &http.Client{Timeout: 10 * time.Second}
	do := func(method, url, tok, body string, hdr ...string) (int, string) {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), method, url, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, string(b)
	}

	if code, body := do("GET", admin[1]+"/healthz", "", ""); code != 200 || strings.TrimSpace(body) != "ok" {
		t.Errorf("/healthz = %d %q", code, body)
	}
	if code, body := do("GET", admin[1]+"/readyz", "", ""); code != 200 || !strings.Contains(body, `"ready":true`) {
		t.Fatalf("/readyz = %d %s", code, body)
	}

	chat := func(model string, stream bool) string {
		b, _ := json.Marshal(map[string]any{"model": model, "stream": stream,
			"messages": []any{map[string]any{"role": "user", "content": "Hello, Warden"}}})
		return string(b)
	}
	code, body := do("POST", data[1]+"/v1/chat/completions", tokens["EVE"], chat("gpt-4o", false))
	if code != 200 || !strings.Contains(body, "Echo: Hello, Warden") {
		t.Fatalf("eve gpt-4o = %d %s", code, body)
	}
	if !strings.Contains(body, "[REDACTED:") || strings.Contains(body, echo.SampleEmail) || strings.Contains(body, echo.SampleSecret) {
		t.Errorf("eve (no pii:read) sees unredacted data: %s", body)
	}
	code, body = do("POST", data[1]+"/v1/chat/completions", tokens["EVE"], chat("claude-sonnet", true))
	if code != 200 || !strings.Contains(body, "data: [DONE]") || !strings.Contains(body, "[REDACTED:email]") || strings.Contains(body, "example.com") {
		t.Errorf("eve streamed = %d %s", code, body)
	}
	if code, body = do("POST", data[1]+"/v1/chat/completions", tokens["OSCAR"], chat("gpt-4o", false)); code != http.StatusForbidden {
		t.Errorf("oscar gpt-4o = %d %s, want 403", code, body)
	}
	if code, body = do("POST", data[1]+"/v1/chat/completions", "", chat("gpt-4o", false)); code != http.StatusUnauthorized {
		t.Errorf("no token = %d %s, want 401", code, body)
	}
	code, body = do("GET", data[1]+"/v1/models", tokens["SAM"], "")
	var list struct{ Data []struct{ ID string } }
	if err := json.Unmarshal([]byte(body), &list); code != 200 || err != nil {
		t.Fatalf("sam /v1/models = %d %s", code, body)
	}
	if len(list.Data) != 1 || list.Data[0].ID != "gpt-4o-mini" {
		t.Errorf("sam /v1/models = %s, want only gpt-4o-mini", body)
	}
	code, body = do("GET", data[1]+"/api/traces/t-1", tokens["EVE"], "", "X-Tenant", "acme")
	if code != 200 || !strings.Contains(body, "[REDACTED:email]") || strings.Contains(body, echo.SampleEmail) {
		t.Errorf("eve trace = %d %s, want 200 with the email redacted", code, body)
	}
	code, body = do("GET", data[1]+"/api/traces/t-1", tokens["PRIYA"], "", "X-Tenant", "acme")
	if code != 200 || !strings.Contains(body, echo.SampleEmail) || strings.Contains(body, echo.SampleSecret) {
		t.Errorf("priya (pii:read) trace = %d %s, want the email shown and the secret redacted", code, body)
	}
	if code, body = do("GET", data[1]+"/api/traces/t-1", tokens["PRIYA"], "", "X-Tenant", "globex"); code != http.StatusForbidden {
		t.Errorf("priya trace of another tenant = %d %s, want 403", code, body)
	}
	if code, body = do("GET", data[1]+"/api/traces/t-1", tokens["OSCAR"], "", "X-Tenant", "acme"); code != http.StatusForbidden {
		t.Errorf("oscar trace = %d %s, want 403", code, body)
	}
	if code, body = do("POST", data[1]+"/api/indexes/docs/rebuild", tokens["OSCAR"], "", "X-Tenant", "acme"); code != http.StatusAccepted {
		t.Errorf("oscar rebuild = %d %s, want 202", code, body)
	}
	if code, body = do("GET", data[1]+"/api/nothing", tokens["ADA"], ""); code != http.StatusNotFound {
		t.Errorf("unrouted = %d %s, want 404", code, body)
	}

	// The token issuer: a real OAuth client library obtains a token for
	// the demo agent and calls a route through the gateway with it.
	var secret string
	if m := regexp.MustCompile(`(?m)^  CLIENT_SECRET=(\S+)$`).FindStringSubmatch(banner); m != nil {
		secret = m[1]
	}
	if !strings.HasPrefix(secret, issuer.SecretPrefix) {
		t.Fatalf("banner lacks the demo client's secret:\n%s", banner)
	}
	cc := clientcredentials.Config{ClientID: demoClient, ClientSecret: secret, TokenURL: data[1] + issuer.TokenPath, Scopes: []string{"trace:read"}}
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, data[1]+"/api/traces/t-1", nil)
	req.Header.Set("X-Tenant", "acme")
	resp, err := cc.Client(t.Context()).Do(req)
	if err != nil {
		t.Fatalf("oauth2 client: %v", err)
	}
	agentBody, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(agentBody), "[REDACTED:email]") {
		t.Fatalf("agent trace = %d %s, want 200 redacted", resp.StatusCode, agentBody)
	}
	// Token exchange: the agent acting for eve.
	xf := url.Values{"grant_type": {issuer.GrantTokenExchange}, "subject_token": {tokens["EVE"]}, "subject_token_type": {issuer.TokenTypeAccessToken}}
	xreq, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, data[1]+issuer.TokenPath, strings.NewReader(xf.Encode()))
	xreq.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	xreq.SetBasicAuth(demoClient, secret)
	xresp, err := client.Do(xreq)
	if err != nil {
		t.Fatal(err)
	}
	var exch struct {
		AccessToken string `json:"access_token"`
	}
	err = json.NewDecoder(xresp.Body).Decode(&exch)
	xresp.Body.Close()
	if xresp.StatusCode != 200 || err != nil || exch.AccessToken == "" {
		t.Fatalf("token exchange = %d %v", xresp.StatusCode, err)
	}
	if code, body = do("GET", data[1]+"/api/traces/t-1", exch.AccessToken, "", "X-Tenant", "acme"); code != 200 {
		t.Errorf("delegated trace = %d %s, want 200", code, body)
	}
	if code, body = do("GET", data[1]+"/.well-known/openid-configuration", "", ""); code != 200 || !strings.Contains(body, `"issuer":"`+data[1]+`"`) {
		t.Errorf("discovery = %d %s", code, body)
	}

	checkDemoMCP(t, banner, tokens)

	code, body = do("GET", admin[1]+"/metrics", "", "")
	if code != 200 || !strings.Contains(body, "warden_policy_bundle_loaded 1\n") || !strings.Contains(body, "# TYPE warden_requests_total counter") ||
		!strings.Contains(body, "warden_jwks_refresh_failures_total{issuer=") || !strings.Contains(body, "warden_jwks_keys_stale{issuer=") ||
		!strings.Contains(body, `warden_issuer_tokens_total{grant="client_credentials"} 1`) || !strings.Contains(body, `warden_issuer_tokens_total{grant="token-exchange"} 1`) ||
		!strings.Contains(body, "warden_issuer_published_keys 2\n") {
		t.Errorf("/metrics = %d\n%s", code, body)
	}

	cancel()
	select {
	case err := <-errc:
		if err != nil {
			t.Fatalf("serve returned %v\nstderr:\n%s", err, stderr.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("serve did not stop within 20s of cancel")
	}
	logs := stderr.String()
	t.Logf("logs:\n%s", logs)
	if !strings.Contains(logs, `"msg":"audit log flushed"`) || !strings.Contains(logs, `"msg":"stopped"`) {
		t.Errorf("shutdown logs missing:\n%s", logs)
	}
	if upstream, err := os.ReadFile(filepath.Join(dataDir, demoMCPTokenFile)); err != nil || strings.Contains(logs, strings.TrimSpace(string(upstream))) {
		t.Fatalf("the MCP upstream credential is unreadable (%v) or reached the logs", err)
	}
	for _, tok := range tokens {
		if strings.Contains(logs, tok) || strings.Contains(logs, secret) || strings.Contains(logs, tok[strings.LastIndexByte(tok, '.')+1:]) {
			t.Fatalf("a token reached the logs")
		}
	}
	sc := bufio.NewScanner(strings.NewReader(logs))
	for sc.Scan() {
		if !json.Valid(sc.Bytes()) {
			t.Errorf("log line is not JSON: %q", sc.Text())
		}
	}

	// Every answered request has its record, decisions both ways.
	st, err := store.Open(t.Context(), "sqlite://"+filepath.Join(dataDir, demoStoreFile), store.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	entries, err := audit.Query(t.Context(), st, audit.Filter{Node: demoNode, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	decisions := map[string]int{}
	for _, e := range entries {
		decisions[e.Record.Decision]++
	}
	if decisions[audit.Allow] < 4 || decisions[audit.Deny] < 2 {
		t.Errorf("audit decisions = %v, want >= 4 allow and >= 2 deny", decisions)
	}
	var delegated, exchanged bool
	for _, e := range entries {
		r := e.Record
		both := r.Subject == "eve" && slices.Equal(r.Actors, []string{demoClient}) && r.Decision == audit.Allow
		delegated = delegated || (both && r.Route == "trace-read")
		exchanged = exchanged || (both && r.Action == issuer.ActionExchange)
	}
	if !delegated || !exchanged {
		t.Errorf("no audit record shows both eve and %s (exchange %v, call %v)", demoClient, exchanged, delegated)
	}
	checkDemoMCPAudit(t, entries)
	if rep, err := audit.Verify(t.Context(), st, demoNode); err != nil || !rep.OK() {
		t.Errorf("audit chain does not verify: %v %+v", err, rep)
	}
}

// TestServeConfigReadiness runs `serve --config` with a bundle that does not
// exist yet: the server starts, is live but not ready (and denies), and
// becomes ready once a signed bundle appears at the configured path.
func TestServeConfigReadiness(t *testing.T) {
	dir := t.TempDir()
	tokenKey, err := jwk.Generate("EdDSA", "")
	if err != nil {
		t.Fatal(err)
	}
	bundleKey, err := jwk.Generate("EdDSA", "")
	if err != nil {
		t.Fatal(err)
	}
	if err := writePublicJWKS(filepath.Join(dir, "tokens.jwks.json"), tokenKey); err != nil {
		t.Fatal(err)
	}
	if err := writePublicJWKS(filepath.Join(dir, "bundle.jwks.json"), bundleKey); err != nil {
		t.Fatal(err)
	}
	upstream := httptest.NewServer(echo.Handler(echo.Config{}))
	defer upstream.Close()
	cfg := fmt.Sprintf(`issuers:
  - issuer: https://issuer.test/
    audiences: [warden]
    algorithms: [EdDSA]
    keys_file: tokens.jwks.json
policy:
  bundle: bundle.tar.gz
  keys: [bundle.jwks.json]
  poll_interval: 1s
store: %q
audit:
  node: test-node
upstreams:
  - name: echo
    url: %s
models:
  upstream: echo
`, "sqlite://"+filepath.Join(dir, "w.db"), upstream.URL)
	cfgPath := filepath.Join(dir, "warden.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var stderr serveBuffer
	errc := make(chan error, 1)
	go func() {
		errc <- runServeCmd(ctx, io.Discard, &stderr, "--config", cfgPath, "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0")
	}()
	serving := regexp.MustCompile(`"msg":"serving","data":"([^"]+)","admin":"([^"]+)"`)
	var addrs []string
	for deadline := time.Now().Add(20 * time.Second); addrs == nil; {
		if m := serving.FindStringSubmatch(stderr.String()); m != nil {
			addrs = m[1:]
			break
		}
		select {
		case err := <-errc:
			t.Fatalf("serve ended early: %v\n%s", err, stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("server did not start:\n%s", stderr.String())
		}
	}
	get := func(url string) (int, string) {
		t.Helper()
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	admin := "http://" + addrs[1]
	if code, _ := get(admin + "/healthz"); code != 200 {
		t.Errorf("/healthz = %d while not ready", code)
	}
	code, body := get(admin + "/readyz")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, `"ready":false`) || !strings.Contains(body, "no policy bundle") {
		t.Fatalf("/readyz without a bundle = %d %s", code, body)
	}
	if _, body := get(admin + "/metrics"); !strings.Contains(body, "warden_policy_bundle_loaded 0\n") {
		t.Errorf("metrics do not say the bundle is missing:\n%s", body)
	}

	files, err := embeddedPolicy()
	if err != nil {
		t.Fatal(err)
	}
	archive, _, err := bundle.Build(files, bundle.BuildOptions{Revision: "r-test", Created: time.Now(), Key: bundleKey})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "bundle.tar.gz"), archive, 0o600); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(15 * time.Second); ; {
		code, body = get(admin + "/readyz")
		if code == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not ready 15s after the bundle appeared: %s", body)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !strings.Contains(body, `"revision":"r-test"`) {
		t.Errorf("/readyz = %s, want the revision", body)
	}
	cancel()
	select {
	case err := <-errc:
		if err != nil {
			t.Fatalf("serve returned %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("serve did not stop")
	}
}
