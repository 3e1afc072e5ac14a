package cli

import (
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

// TestCluster runs three real `warden serve` nodes on loopback ports over
// one PostgreSQL database: a token issued by node 1 works on nodes 2 and 3
// (verified and cached there), a revocation on node 1 denies it on nodes 2
// and 3 within 1s (LISTEN/NOTIFY: the resync interval is 1m, so the periodic
// resync cannot be what delivers it), and the audit chains of all three nodes
// verify afterwards.
func TestCluster(t *testing.T) {
	b := storetest.NewPostgres(t) // skips without WARDEN_TEST_POSTGRES_URL
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	bundleKey, err := jwk.Generate("EdDSA", "")
	if err != nil {
		t.Fatal(err)
	}
	if err := writePublicJWKS(filepath.Join(dir, "bundle.jwks.json"), bundleKey); err != nil {
		t.Fatal(err)
	}
	idpKey, _ := jwk.Generate("EdDSA", "")
	if err := writePublicJWKS(filepath.Join(dir, "idp.jwks.json"), idpKey); err != nil {
		t.Fatal(err)
	}
	files, err := embeddedPolicy()
	if err != nil {
		t.Fatal(err)
	}
	archive, _, err := bundle.Build(files, bundle.BuildOptions{Revision: "cluster", Created: time.Now(), Key: bundleKey})
	if err != nil {
		t.Fatal(err)
	}
	write("bundle.tar.gz", archive)
	kek := make([]byte, issuer.KEKBytes)
	rand.Read(kek)
	write("kek", []byte(base64.StdEncoding.EncodeToString(kek)))
	upstream := httptest.NewServer(echo.Handler(echo.Config{}))
	defer upstream.Close()

	nodes := []string{"n1", "n2", "n3"}
	type node struct {
		name   string
		url    string
		stderr *serveBuffer
		errc   chan error
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var running []*node
	for _, name := range nodes {
		cfg := fmt.Sprintf(`issuers:
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
  resync_interval: 1m
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
`, b.URL, name, upstream.URL)
		path := write(name+".yaml", []byte(cfg))
		n := &node{name: name, stderr: &serveBuffer{}, errc: make(chan error, 1)}
		go func() {
			n.errc <- runServeCmd(ctx, io.Discard, n.stderr, "--config", path, "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0", "--shutdown-timeout", "10s")
		}()
		running = append(running, n)
	}
	addr := regexp.MustCompile(`"msg":"serving","data":"([^"]+)"`)
	for _, n := range running {
		deadline := time.Now().Add(30 * time.Second)
		for {
			if m := addr.FindStringSubmatch(n.stderr.String()); m != nil {
				n.url = "http://" + m[1]
				break
			}
			select {
			case err := <-n.errc:
				t.Fatalf("node %s ended: %v\n%s", n.name, err, n.stderr.String())
			case <-time.After(20 * time.Millisecond):
			}
			if time.Now().After(deadline) {
				t.Fatalf("node %s did not start:\n%s", n.name, n.stderr.String())
			}
		}
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
	client := &http.Client{Timeout: 10 * time.Second}
	post := func(base, path string, f url.Values) (int, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, base+path, strings.NewReader(f.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth("eval-runner", secret)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		json.NewDecoder(resp.Body).Decode(&m)
		return resp.StatusCode, m
	}
	// Every node must be ready (bundle loaded) before the calls count.
	for _, n := range running {
		waitReady(t, client, n.stderr)
	}
	code, m := post(running[0].url, issuer.TokenPath, url.Values{"grant_type": {"client_credentials"}})
	if code != 200 {
		t.Fatalf("token from node 1: %d %v", code, m)
	}
	tok := m["access_token"].(string)
	call := func(n *node) int {
		req, _ := http.NewRequest(http.MethodGet, n.url+"/api/traces/t-1", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("X-Tenant", "acme")
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, n := range running {
		if c := call(n); c != 200 {
			t.Fatalf("node %s: %d before revocation, want 200\n%s", n.name, c, n.stderr.String())
		}
	}

	// Revoke on node 1; nodes 2 and 3 deny within 1s.
	if code, m := post(running[0].url, issuer.RevokePath, url.Values{"token": {tok}}); code != 200 {
		t.Fatalf("revoke on node 1: %d %v", code, m)
	}
	start := time.Now()
	var wg sync.WaitGroup
	took := make([]time.Duration, len(running))
	for i, n := range running {
		wg.Go(func() {
			for call(n) != http.StatusUnauthorized {
				if time.Since(start) > 5*time.Second {
					took[i] = -1
					return
				}
				time.Sleep(10 * time.Millisecond)
			}
			took[i] = time.Since(start)
		})
	}
	wg.Wait()
	for i, d := range took {
		if d < 0 || d > time.Second {
			t.Errorf("node %s denied the revoked token after %v, want within 1s", running[i].name, d)
		}
	}
	t.Logf("revocation reached the nodes after %v", took)

	// A refresh token rotated on node 2 and then reused on node 3 revokes
	// the family: its access tokens are denied on every node.
	rt := m["refresh_token"].(string)
	code, m2 := post(running[1].url, issuer.TokenPath, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}})
	if code != 200 {
		t.Fatalf("refresh on node 2: %d %v", code, m2)
	}
	tok = m2["access_token"].(string)
	for _, n := range running {
		if c := call(n); c != 200 {
			t.Fatalf("node %s: %d for the refreshed token, want 200", n.name, c)
		}
	}
	if code, m3 := post(running[2].url, issuer.TokenPath, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}); code != 400 || m3["error"] != "invalid_grant" {
		t.Fatalf("reuse on node 3: %d %v, want invalid_grant", code, m3)
	}
	start = time.Now()
	for _, n := range running {
		for call(n) != http.StatusUnauthorized {
			if time.Since(start) > time.Second {
				t.Fatalf("node %s still accepts an access token of a revoked family after 1s", n.name)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	t.Logf("family revocation reached every node after %v", time.Since(start))

	cancel()
	for _, n := range running {
		select {
		case err := <-n.errc:
			if err != nil {
				t.Fatalf("node %s: %v\n%s", n.name, err, n.stderr.String())
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("node %s did not stop", n.name)
		}
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
	for _, n := range nodes {
		if !seen[n] {
			t.Errorf("no audit chain for node %s (have %v)", n, seen)
		}
	}
}

// waitReady waits until the node's admin listener reports ready.
func waitReady(t *testing.T, client *http.Client, stderr *serveBuffer) {
	t.Helper()
	m := regexp.MustCompile(`"admin":"([^"]+)"`).FindStringSubmatch(stderr.String())
	if m == nil {
		t.Fatalf("no admin address in\n%s", stderr.String())
	}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := client.Get("http://" + m[1] + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("node not ready after 30s")
}
