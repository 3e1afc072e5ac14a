// Package wardentest runs a real Warden (`warden serve`, in-process, with
// SQLite and its token issuer) on a loopback port for tests outside
// internal/cli: the enforce package's and the example service's. It is
// imported only from tests.
package wardentest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wardenhq/warden/internal/bundle"
	"github.com/wardenhq/warden/internal/cli"
	"github.com/wardenhq/warden/internal/issuer"
	"github.com/wardenhq/warden/internal/jwk"
	"github.com/wardenhq/warden/internal/testutil"
)

// Issuer is the token issuer URL ("iss") of the Warden a test runs.
const Issuer = "https://warden.test"

// Audience is the audience of the tokens it issues.
const Audience = "service"

// Client is an OAuth client registered with the Warden.
type Client struct {
	ID, Secret string
}

// Warden is one running `warden serve`.
type Warden struct {
	// URL is the data plane's base URL (http://127.0.0.1:port).
	URL string
	// Dir holds its configuration, keys, bundle and database.
	Dir string
	// BundleKey signs the Warden's own bundle; tests sign theirs with it
	// too (SignBundle) or with another key to see it refused.
	BundleKey *jwk.Key

	t      testing.TB
	cfg    string
	cancel context.CancelFunc
	done   chan int
	stderr *testutil.SyncBuffer
	client *http.Client
	once   sync.Once
}

// Start writes a configuration whose policy bundle is built from
// policyDir, registers clients (id → allowed scopes) and runs Warden until
// the test ends or Stop. It returns once Warden is ready.
func Start(t testing.TB, policyDir string, clients map[string][]string) (*Warden, map[string]Client) {
	t.Helper()
	w := &Warden{t: t, Dir: t.TempDir(), stderr: &testutil.SyncBuffer{}, done: make(chan int, 1), client: &http.Client{Timeout: 10 * time.Second}}
	var err error
	if w.BundleKey, err = jwk.Generate("EdDSA", "bundle-1"); err != nil {
		t.Fatal(err)
	}
	idp, err := jwk.Generate("EdDSA", "idp-1")
	if err != nil {
		t.Fatal(err)
	}
	w.write("bundle.jwks.json", PublicJWKS(t, w.BundleKey))
	w.write("idp.jwks.json", PublicJWKS(t, idp))
	w.write("bundle.tar.gz", w.SignBundle(policyDir, "warden-1", w.BundleKey))
	kek := make([]byte, issuer.KEKBytes)
	rand.Read(kek)
	w.write("kek", []byte(base64.StdEncoding.EncodeToString(kek)))
	w.cfg = w.write("warden.yaml", fmt.Appendf(nil, `issuers:
  - issuer: https://idp.example
    audiences: [warden]
    algorithms: [EdDSA]
    keys_file: idp.jwks.json
policy:
  bundle: bundle.tar.gz
  keys: [bundle.jwks.json]
store: %q
audit:
  node: warden-1
token_issuer:
  url: %s
  audiences: [%s]
  key_encryption_key: {file: kek}
  resync_interval: 1s
upstreams:
  - name: unused
    url: http://127.0.0.1:9
routes:
  - name: unused
    kind: tool
    methods: [GET]
    path: /unused/{id}
    action: trace:read
    resource: {type: Trace, id: "{id}"}
    upstream: unused
`, "sqlite://"+filepath.Join(w.Dir, "warden.db"), Issuer, Audience))

	creds := make(map[string]Client, len(clients))
	secretRE := regexp.MustCompile(`(?m)^client_secret: +(\S+)$`)
	for id, scopes := range clients {
		args := []string{"clients", "add", id, "--config", w.cfg}
		for _, s := range scopes {
			args = append(args, "--scope", s)
		}
		var out, errOut bytes.Buffer
		if code := cli.Run(t.Context(), args, cli.IO{Stdout: &out, Stderr: &errOut}); code != 0 {
			t.Fatalf("warden clients add %s: exit %d: %s", id, code, errOut.String())
		}
		m := secretRE.FindStringSubmatch(out.String())
		if m == nil {
			t.Fatalf("warden clients add %s: no secret in %q", id, out.String())
		}
		creds[id] = Client{ID: id, Secret: m[1]}
	}
	w.start()
	t.Cleanup(w.Stop)
	return w, creds
}

func (w *Warden) write(name string, data []byte) string {
	w.t.Helper()
	p := filepath.Join(w.Dir, name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		w.t.Fatal(err)
	}
	return p
}

// start runs serve and waits until /readyz answers 200.
func (w *Warden) start() {
	w.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	w.cancel = cancel
	go func() {
		w.done <- cli.Run(ctx, []string{"serve", "--config", w.cfg, "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0", "--shutdown-timeout", "5s"},
			cli.IO{Stdout: io.Discard, Stderr: w.stderr})
	}()
	serving := regexp.MustCompile(`"msg":"serving","data":"([^"]+)","admin":"([^"]+)"`)
	deadline := time.Now().Add(30 * time.Second)
	for {
		if m := serving.FindStringSubmatch(w.stderr.String()); m != nil {
			w.URL = "http://" + m[1]
			w.waitReady("http://" + m[2] + "/readyz")
			return
		}
		select {
		case code := <-w.done:
			w.t.Fatalf("warden serve ended with %d:\n%s", code, w.stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			w.t.Fatalf("warden serve did not start:\n%s", w.stderr.String())
		}
	}
}

func (w *Warden) waitReady(readyz string) {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := w.client.Get(readyz); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	w.t.Fatalf("warden not ready after 30s:\n%s", w.stderr.String())
}

// Stop shuts Warden down and waits until it has stopped; its port then
// refuses connections. It is safe to call more than once.
func (w *Warden) Stop() {
	w.once.Do(func() {
		w.cancel()
		select {
		case code := <-w.done:
			if code != 0 {
				w.t.Errorf("warden serve ended with %d:\n%s", code, w.stderr.String())
			}
		case <-time.After(20 * time.Second):
			w.t.Errorf("warden serve did not stop")
		}
	})
}

// Logs returns what Warden has logged so far.
func (w *Warden) Logs() string { return w.stderr.String() }

// JWKSURL is the issuer's key set.
func (w *Warden) JWKSURL() string { return w.URL + issuer.JWKSPath }

// Token gets an access token for c with the client_credentials grant.
func (w *Warden) Token(c Client, scopes ...string) string {
	w.t.Helper()
	f := url.Values{"grant_type": {"client_credentials"}}
	if len(scopes) > 0 {
		f.Set("scope", strings.Join(scopes, " "))
	}
	code, m := w.post(issuer.TokenPath, c, f)
	tok, _ := m["access_token"].(string)
	if code != http.StatusOK || tok == "" {
		w.t.Fatalf("token for %s: %d %v", c.ID, code, m)
	}
	return tok
}

// Revoke revokes tok (RFC 7009) as c, the client it was issued to.
func (w *Warden) Revoke(c Client, tok string) {
	w.t.Helper()
	if code, m := w.post(issuer.RevokePath, c, url.Values{"token": {tok}}); code != http.StatusOK {
		w.t.Fatalf("revoke: %d %v", code, m)
	}
}

func (w *Warden) post(path string, c Client, f url.Values) (int, map[string]any) {
	w.t.Helper()
	req, err := http.NewRequest(http.MethodPost, w.URL+path, strings.NewReader(f.Encode()))
	if err != nil {
		w.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(c.ID), url.QueryEscape(c.Secret))
	resp, err := w.client.Do(req)
	if err != nil {
		w.t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&m)
	return resp.StatusCode, m
}

// SignBundle builds the bundle of policyDir with revision, signed by key.
func (w *Warden) SignBundle(policyDir, revision string, key *jwk.Key) []byte {
	w.t.Helper()
	return SignBundle(w.t, policyDir, revision, key)
}

// SignBundle builds the bundle of policyDir with revision, signed by key.
func SignBundle(t testing.TB, policyDir, revision string, key *jwk.Key) []byte {
	t.Helper()
	files, err := bundle.ReadDir(policyDir)
	if err != nil {
		t.Fatal(err)
	}
	data, _, err := bundle.Build(files, bundle.BuildOptions{Revision: revision, Created: time.Now(), Key: key})
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// PublicJWKS is the JWK Set of k's public key.
func PublicJWKS(t testing.TB, k *jwk.Key) []byte {
	t.Helper()
	pub, err := k.Public()
	if err != nil {
		t.Fatal(err)
	}
	b, err := (&jwk.Set{Keys: []*jwk.Key{pub}}).MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	return b
}
