package cli

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wardenhq/warden/internal/audit"
	"github.com/wardenhq/warden/internal/bundle"
	"github.com/wardenhq/warden/internal/echo"
	"github.com/wardenhq/warden/internal/issuer"
	"github.com/wardenhq/warden/internal/jwk"
	"github.com/wardenhq/warden/internal/store"
	"github.com/wardenhq/warden/internal/store/storetest"
)

// nodeFiles are the files every test node's configuration names: a signed
// reference bundle and its key, an IdP key set, a key-encryption key, and an
// echo upstream.
type nodeFiles struct {
	dir      string
	upstream string
}

func newNodeFiles(t *testing.T) *nodeFiles {
	t.Helper()
	nf := &nodeFiles{dir: t.TempDir()}
	bundleKey, err := jwk.Generate("EdDSA", "")
	if err != nil {
		t.Fatal(err)
	}
	idpKey, err := jwk.Generate("EdDSA", "")
	if err != nil {
		t.Fatal(err)
	}
	for name, k := range map[string]*jwk.Key{"bundle.jwks.json": bundleKey, "idp.jwks.json": idpKey} {
		if err := writePublicJWKS(filepath.Join(nf.dir, name), k); err != nil {
			t.Fatal(err)
		}
	}
	files, err := embeddedPolicy()
	if err != nil {
		t.Fatal(err)
	}
	archive, _, err := bundle.Build(files, bundle.BuildOptions{Revision: "test", Created: time.Now(), Key: bundleKey})
	if err != nil {
		t.Fatal(err)
	}
	nf.write(t, "bundle.tar.gz", archive)
	kek := make([]byte, issuer.KEKBytes)
	rand.Read(kek)
	nf.write(t, "kek", []byte(base64.StdEncoding.EncodeToString(kek)))
	up := httptest.NewServer(echo.Handler(echo.Config{}))
	t.Cleanup(up.Close)
	nf.upstream = up.URL
	return nf
}

func (nf *nodeFiles) write(t *testing.T, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(nf.dir, name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// config writes node's configuration over storeURL and returns its path.
func (nf *nodeFiles) config(t *testing.T, node, storeURL string, resync time.Duration) string {
	t.Helper()
	return nf.write(t, node+".yaml", fmt.Appendf(nil, `issuers:
  - issuer: https://idp.example
    audiences: [warden]
    algorithms: [EdDSA]
    keys_file: idp.jwks.json
policy:
  bundle: bundle.tar.gz
  keys: [bundle.jwks.json]
store: %q
audit:
  node: %s
token_issuer:
  url: https://warden.cluster.test
  audiences: [warden]
  key_encryption_key: {file: kek}
  resync_interval: %s
upstreams:
  - name: echo
    url: %s
routes:
  - name: trace-read
    kind: tool
    methods: [GET]
    path: /api/traces/{id}
    action: trace:read
    resource:
      type: Trace
      id: "{id}"
      attributes:
        tenant: header:X-Tenant
    upstream: echo
`, storeURL, node, resync, nf.upstream))
}

// node is one running `warden serve`.
type node struct {
	t      *testing.T
	name   string
	url    string
	stderr *serveBuffer
	errc   chan error
	client *http.Client
}

// startNode runs `warden serve --config cfgPath` until ctx ends and waits
// until it is ready (bundle loaded).
func startNode(t *testing.T, ctx context.Context, name, cfgPath string) *node {
	t.Helper()
	n := &node{t: t, name: name, stderr: &serveBuffer{}, errc: make(chan error, 1), client: &http.Client{Timeout: 10 * time.Second}}
	go func() {
		n.errc <- runServeCmd(ctx, io.Discard, n.stderr, "--config", cfgPath, "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0", "--shutdown-timeout", "10s")
	}()
	serving := regexp.MustCompile(`"msg":"serving","data":"([^"]+)","admin":"([^"]+)"`)
	deadline := time.Now().Add(30 * time.Second)
	for {
		if m := serving.FindStringSubmatch(n.stderr.String()); m != nil {
			n.url = "http://" + m[1]
			n.waitReady("http://" + m[2] + "/readyz")
			return n
		}
		select {
		case err := <-n.errc:
			t.Fatalf("node %s ended: %v\n%s", name, err, n.stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("node %s did not start:\n%s", name, n.stderr.String())
		}
	}
}

func (n *node) waitReady(readyz string) {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := n.client.Get(readyz); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	n.t.Fatalf("node %s not ready after 30s", n.name)
}

// stop waits for the node to end after its context was canceled.
func (n *node) stop() {
	select {
	case err := <-n.errc:
		if err != nil {
			n.t.Fatalf("node %s: %v\n%s", n.name, err, n.stderr.String())
		}
	case <-time.After(20 * time.Second):
		n.t.Fatalf("node %s did not stop", n.name)
	}
}

// post sends an OAuth form as client id with secret.
func (n *node) post(path, id, secret string, f url.Values) (int, map[string]any) {
	n.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, n.url+path, strings.NewReader(f.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(id, secret)
	resp, err := n.client.Do(req)
	if err != nil {
		n.t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, m
}

// call reads a trace through the gateway with tok and returns the status.
func (n *node) call(tok string) int {
	req, _ := http.NewRequest(http.MethodGet, n.url+"/api/traces/t-1", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("X-Tenant", "acme")
	resp, err := n.client.Do(req)
	if err != nil {
		n.t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// deniedWithin polls until n refuses tok (401) and returns how long that
// took, or -1 after limit.
func (n *node) deniedWithin(tok string, start time.Time, limit time.Duration) time.Duration {
	for n.call(tok) != http.StatusUnauthorized {
		if time.Since(start) > limit {
			return -1
		}
		time.Sleep(10 * time.Millisecond)
	}
	return time.Since(start)
}

// TestCluster runs three real `warden serve` nodes on loopback ports over
// one PostgreSQL database: a token issued by node 1 works on nodes 2 and 3
// (verified and cached there), a revocation on node 1 denies it on nodes 2
// and 3 within 1s (LISTEN/NOTIFY: the resync interval is 1m, so the periodic
// resync cannot be what delivers it), a refresh family revoked by reuse on
// node 3 denies its access tokens everywhere, and the audit chains of all
// three nodes verify afterwards.
func TestCluster(t *testing.T) {
	b := storetest.NewPostgres(t) // skips without WARDEN_TEST_POSTGRES_URL
	nf := newNodeFiles(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	names := []string{"n1", "n2", "n3"}
	var nodes []*node
	for _, name := range names {
		nodes = append(nodes, startNode(t, ctx, name, nf.config(t, name, b.URL, time.Minute)))
	}

	// A client in the shared store, a token from node 1.
	st, err := store.Open(t.Context(), b.URL, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	secret, hash, _ := issuer.NewSecret(issuer.SecretPrefix)
	if err := st.Issuer().AddClient(t.Context(), store.Client{ID: "eval-runner", SecretHash: hash, Scopes: []string{"trace:read"},
		GrantTypes: []string{issuer.GrantClientCredentials, issuer.GrantRefreshToken}, Created: time.Now()}); err != nil {
		t.Fatal(err)
	}
	code, m := nodes[0].post(issuer.TokenPath, "eval-runner", secret, url.Values{"grant_type": {"client_credentials"}})
	if code != 200 {
		t.Fatalf("token from node 1: %d %v", code, m)
	}
	tok := m["access_token"].(string)
	for _, n := range nodes {
		if c := n.call(tok); c != 200 {
			t.Fatalf("node %s: %d before revocation, want 200\n%s", n.name, c, n.stderr.String())
		}
	}

	// Revoke on node 1; nodes 2 and 3 deny within 1s.
	if code, m := nodes[0].post(issuer.RevokePath, "eval-runner", secret, url.Values{"token": {tok}}); code != 200 {
		t.Fatalf("revoke on node 1: %d %v", code, m)
	}
	start := time.Now()
	var wg sync.WaitGroup
	took := make([]time.Duration, len(nodes))
	for i, n := range nodes {
		wg.Go(func() { took[i] = n.deniedWithin(tok, start, 5*time.Second) })
	}
	wg.Wait()
	for i, d := range took {
		if d < 0 || d > time.Second {
			t.Errorf("node %s denied the revoked token after %v, want within 1s", nodes[i].name, d)
		}
	}
	t.Logf("revocation reached the nodes after %v", took)

	// A refresh token rotated on node 2 and then reused on node 3 revokes
	// the family: its access tokens are denied on every node.
	rt := m["refresh_token"].(string)
	code, m2 := nodes[1].post(issuer.TokenPath, "eval-runner", secret, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}})
	if code != 200 {
		t.Fatalf("refresh on node 2: %d %v", code, m2)
	}
	tok = m2["access_token"].(string)
	for _, n := range nodes {
		if c := n.call(tok); c != 200 {
			t.Fatalf("node %s: %d for the refreshed token, want 200", n.name, c)
		}
	}
	if code, m3 := nodes[2].post(issuer.TokenPath, "eval-runner", secret, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}); code != 400 || m3["error"] != "invalid_grant" {
		t.Fatalf("reuse on node 3: %d %v, want invalid_grant", code, m3)
	}
	start = time.Now()
	for _, n := range nodes {
		if d := n.deniedWithin(tok, start, time.Second); d < 0 {
			t.Fatalf("node %s still accepts an access token of a revoked family after 1s", n.name)
		}
	}
	t.Logf("family revocation reached every node after %v", time.Since(start))

	cancel()
	for _, n := range nodes {
		n.stop()
	}
	reports, err := audit.VerifyAll(t.Context(), st)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, r := range reports {
		if !r.OK() {
			t.Errorf("chain of %s does not verify: %+v", r.Node, r)
		}
		if r.Records == 0 {
			t.Errorf("node %s has no records", r.Node)
		}
		seen[r.Node] = true
	}
	for _, n := range names {
		if !seen[n] {
			t.Errorf("no audit chain for node %s (have %v)", n, seen)
		}
	}
}

// runWardenLive runs the warden command in-process with the real clock and
// returns its exit code and output.
func runWardenLive(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := Run(t.Context(), args, IO{Stdout: &stdout, Stderr: &stderr}.withDefaults())
	return code, stdout.String(), stderr.String()
}

// TestIssuerCommands drives the issuer's CLI against a running SQLite
// node: a client added by `warden clients add` obtains tokens,
// `warden token revoke` denies an access token and a refresh family on the
// node (SQLite has no notifications: the node's resync delivers them), and
// after `warden keys rotate` the node signs with the pre-published key while
// tokens of the old key stay valid.
func TestIssuerCommands(t *testing.T) {
	nf := newNodeFiles(t)
	cfg := nf.config(t, "solo", "sqlite://"+filepath.Join(nf.dir, "warden.db"), time.Second)
	code, out, errOut := runWardenLive(t, "clients", "add", "eval-runner", "--config", cfg, "--scope", "trace:read", "--grant", "client_credentials", "--grant", "refresh_token")
	if code != 0 {
		t.Fatalf("clients add: %d %s", code, errOut)
	}
	m := regexp.MustCompile(`(?m)^client_secret: +(\S+)$`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no secret in %q", out)
	}
	secret := m[1]

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	n := startNode(t, ctx, "solo", cfg)
	token := func() (string, string) {
		t.Helper()
		code, m := n.post(issuer.TokenPath, "eval-runner", secret, url.Values{"grant_type": {"client_credentials"}})
		if code != 200 {
			t.Fatalf("token: %d %v", code, m)
		}
		return m["access_token"].(string), m["refresh_token"].(string)
	}

	at, _ := token()
	at2, rt2 := token()
	for _, tok := range []string{at, at2} {
		if c := n.call(tok); c != 200 {
			t.Fatalf("call: %d", c)
		}
	}
	if code, out, errOut := runWardenLive(t, "token", "revoke", "--config", cfg, at); code != 0 || !strings.Contains(out, "revoked jti") {
		t.Fatalf("token revoke: %d %s %s", code, out, errOut)
	}
	if code, out, errOut := runWardenLive(t, "token", "revoke", "--config", cfg, rt2); code != 0 || !strings.Contains(out, "revoked refresh family") {
		t.Fatalf("token revoke (refresh): %d %s %s", code, out, errOut)
	}
	start := time.Now()
	for _, tok := range []string{at, at2} {
		if d := n.deniedWithin(tok, start, 5*time.Second); d < 0 {
			t.Fatal("the node still accepts a token revoked by the CLI after 5s")
		}
	}
	t.Logf("CLI revocations reached the node after %v", time.Since(start))
	if code, m := n.post(issuer.TokenPath, "eval-runner", secret, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt2}}); code != 400 || m["error"] != "invalid_grant" {
		t.Fatalf("refresh of a revoked family: %d %v", code, m)
	}

	old, _ := token()
	code, out, errOut = runWardenLive(t, "keys", "rotate", "--config", cfg)
	if code != 0 {
		t.Fatalf("keys rotate: %d %s", code, errOut)
	}
	signing := regexp.MustCompile(`(?m)^signing: +(\S+)$`).FindStringSubmatch(out)
	if signing == nil {
		t.Fatalf("keys rotate output %q", out)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		fresh, _ := token()
		if kidOf(t, fresh) == signing[1] {
			if c := n.call(fresh); c != 200 {
				t.Fatalf("token of the new key: %d", c)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the node does not sign with %s 5s after the rotation", signing[1])
		}
		time.Sleep(50 * time.Millisecond)
	}
	if c := n.call(old); c != 200 {
		t.Fatalf("token of the retired key after rotation: %d, want 200", c)
	}
	cancel()
	n.stop()
}

// kidOf returns the kid header of a JWS (for tests: nothing is verified).
func kidOf(t *testing.T, tok string) string {
	t.Helper()
	h, _, _ := strings.Cut(tok, ".")
	raw, err := base64.RawURLEncoding.DecodeString(h)
	if err != nil {
		t.Fatal(err)
	}
	var hdr struct {
		Kid string `json:"kid"`
	}
	if err := json.Unmarshal(raw, &hdr); err != nil {
		t.Fatal(err)
	}
	return hdr.Kid
}
