package nginx_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wardenhq/warden/internal/testutil"
)

// Placeholders of the nginx server block in docs/forward-auth.md, replaced by
// the addresses the test picks.
const (
	docListen   = "127.0.0.1:8000" // where nginx listens
	docWarden   = "127.0.0.1:8080" // Warden's data plane
	docUpstream = "127.0.0.1:9000" // the tool behind nginx
	docMarker   = "<!-- test/nginx:"
)

// wardenBin is the warden binary TestMain builds ("" when nginx is missing,
// in which case every test skips or fails before using it).
var wardenBin string

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	if _, err := findNginx(); err != nil {
		return m.Run() // the tests report the missing nginx themselves
	}
	dir, err := os.MkdirTemp("", "warden-nginx-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	bin, err := testutil.BuildWarden(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	wardenBin = bin
	return m.Run()
}

func findNginx() (string, error) {
	if p, err := exec.LookPath("nginx"); err == nil {
		return p, nil
	}
	const sbin = "/usr/sbin/nginx"
	if fi, err := os.Stat(sbin); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
		return sbin, nil
	}
	return "", errors.New("nginx not found in PATH nor at /usr/sbin/nginx")
}

func inCI() bool {
	v := strings.ToLower(strings.TrimSpace(os.Getenv("CI")))
	return v != "" && v != "false" && v != "0"
}

// requireNginx returns the nginx binary. Without one the test fails in CI
// and skips elsewhere.
func requireNginx(t *testing.T) string {
	t.Helper()
	p, err := findNginx()
	if err != nil {
		msg := fmt.Sprintf("%v: the forward-auth test needs nginx with auth_request; .ci/run installs it (apt-get install -y nginx-light)", err)
		if inCI() {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	if wardenBin == "" {
		t.Fatal("the warden binary was not built")
	}
	return p
}

// startWarden runs the built binary with --demo (testutil.StartDemo) and
// checks that the banner has the tokens the tests use.
func startWarden(t *testing.T) *testutil.Demo {
	t.Helper()
	w := testutil.StartDemo(t, wardenBin)
	for _, name := range []string{"EVE", "OSCAR", "PRIYA"} {
		if w.Tokens[name] == "" {
			t.Fatalf("the demo banner lacks a token for %s", name)
		}
	}
	return w
}

// seen is one request the upstream received.
type seen struct {
	Method, URI string
	Header      http.Header
	Body        string
}

// recorder is the tool behind nginx: it records every request and answers
// 200 "upstream ok".
type recorder struct {
	mu   sync.Mutex
	reqs []seen
}

func (rec *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	rec.mu.Lock()
	rec.reqs = append(rec.reqs, seen{Method: r.Method, URI: r.RequestURI, Header: r.Header.Clone(), Body: string(body)})
	rec.mu.Unlock()
	w.Header().Set("Content-Type", "text/plain")
	io.WriteString(w, "upstream ok\n")
}

func (rec *recorder) snapshot() []seen {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return append([]seen(nil), rec.reqs...)
}

// docServerBlock returns the nginx server block of docs/forward-auth.md: the
// first ```nginx fence after the test marker.
func docServerBlock(t *testing.T) string {
	t.Helper()
	root, err := testutil.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile(filepath.Join(root, "docs", "forward-auth.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(doc), docMarker)
	if !ok {
		t.Fatalf("docs/forward-auth.md lacks the marker %q", docMarker)
	}
	_, rest, ok = strings.Cut(rest, "\n```nginx\n")
	if !ok {
		t.Fatal("docs/forward-auth.md has no ```nginx block after the marker")
	}
	block, _, ok := strings.Cut(rest, "\n```")
	if !ok {
		t.Fatal("docs/forward-auth.md: unterminated ```nginx block")
	}
	for _, ph := range []string{docListen, docWarden, docUpstream} {
		if !strings.Contains(block, ph) {
			t.Fatalf("the documented nginx block lacks the placeholder address %s", ph)
		}
	}
	return block
}

// freePort returns a loopback address that was free a moment ago.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// startNginx writes the configuration (the documented server block with the
// test's addresses, every path under a temp dir) and runs nginx in the
// foreground, single-process, until cleanup. It returns nginx's address.
func startNginx(t *testing.T, nginxBin, wardenData, upstream string) string {
	t.Helper()
	block := docServerBlock(t)
	var lastErr string
	for attempt := 0; attempt < 3; attempt++ {
		dir := t.TempDir()
		listen := freePort(t)
		server := strings.NewReplacer(docListen, listen, docWarden, wardenData, docUpstream, upstream).Replace(block)
		conf := fmt.Sprintf(`daemon off;
master_process off;
worker_processes 1;
pid "%[1]s/nginx.pid";
error_log "%[1]s/error.log" info;
events {
    worker_connections 64;
}
http {
    access_log off;
    client_body_temp_path "%[1]s/client_body";
    proxy_temp_path "%[1]s/proxy";
    fastcgi_temp_path "%[1]s/fastcgi";
    uwsgi_temp_path "%[1]s/uwsgi";
    scgi_temp_path "%[1]s/scgi";
%[2]s
}
`, dir, server)
		confPath := filepath.Join(dir, "nginx.conf")
		if err := os.WriteFile(confPath, []byte(conf), 0o600); err != nil {
			t.Fatal(err)
		}
		var out testutil.SyncBuffer
		cmd := exec.Command(nginxBin, "-p", dir+"/", "-e", filepath.Join(dir, "error.log"), "-c", confPath)
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatalf("start nginx: %v", err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		if waitListening(listen, done, 10*time.Second) {
			t.Cleanup(func() {
				_ = cmd.Process.Kill()
				<-done
				if t.Failed() {
					if b, err := os.ReadFile(filepath.Join(dir, "error.log")); err == nil {
						t.Logf("nginx error.log:\n%s", b)
					}
				}
			})
			return listen
		}
		_ = cmd.Process.Kill()
		<-done
		elog, _ := os.ReadFile(filepath.Join(dir, "error.log"))
		lastErr = out.String() + string(elog)
		if !strings.Contains(lastErr, "Address already in use") {
			break // not a port race: retrying will not help
		}
	}
	t.Fatalf("nginx did not start:\n%s", lastErr)
	return ""
}

// waitListening reports whether addr accepts connections before the process
// ends or timeout passes.
func waitListening(addr string, done chan error, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return true
		}
		select {
		case err := <-done:
			done <- err // put it back for the caller's wait
			return false
		case <-time.After(20 * time.Millisecond):
		}
	}
	return false
}

// TestNginxForwardAuth puts a real nginx, configured with the server block
// of docs/forward-auth.md, in front of a recording upstream and asks the real
// `warden serve --demo` at /authz: allowed requests reach the upstream with
// Warden's identity headers and without the caller's token; denied,
// unauthenticated and unrouted ones are refused by nginx and never reach it.
func TestNginxForwardAuth(t *testing.T) {
	nginxBin := requireNginx(t)
	w := startWarden(t)
	rec := &recorder{}
	up := httptest.NewServer(rec)
	t.Cleanup(up.Close)
	proxy := "http://" + startNginx(t, nginxBin, w.Data, strings.TrimPrefix(up.URL, "http://"))

	type identity struct{ subject, roles, tenant string }
	tests := []struct {
		name    string
		method  string
		path    string
		auth    string // Authorization header; "$NAME" is the demo token of NAME
		headers map[string]string
		body    string

		wantStatus    int
		wantIdentity  *identity // nil: the upstream must see nothing
		wantChallenge string    // exact WWW-Authenticate on 401
	}{
		{
			name: "evaluator reads a trace of her tenant", method: "GET", path: "/api/traces/t-eve?view=full",
			auth: "Bearer $EVE",
			// The client's own identity headers must be overwritten by Warden's.
			headers:    map[string]string{"X-Tenant": "acme", "X-Warden-Subject": "ada", "X-Warden-Roles": "admin"},
			wantStatus: http.StatusOK, wantIdentity: &identity{"eve", "evaluator", "acme"},
		},
		{
			name: "evaluator with pii:read reads a trace", method: "GET", path: "/api/traces/t-priya",
			auth: "Bearer $PRIYA", headers: map[string]string{"X-Tenant": "acme"},
			wantStatus: http.StatusOK, wantIdentity: &identity{"priya", "evaluator", "acme"},
		},
		{
			name: "operator rebuilds an index, the body passes through", method: "POST", path: "/api/indexes/docs/rebuild",
			auth: "Bearer $OSCAR", headers: map[string]string{"X-Tenant": "acme", "Content-Type": "application/json"},
			body:       `{"full":true,"note":"rebuild through nginx"}`,
			wantStatus: http.StatusOK, wantIdentity: &identity{"oscar", "operator", "acme"},
		},
		{
			name: "client-sent forwarding headers do not confuse the auth call", method: "GET", path: "/api/traces/t-fwd",
			auth: "Bearer $PRIYA",
			headers: map[string]string{"X-Tenant": "acme", "X-Forwarded-Proto": "gopher", "X-Forwarded-Host": "bad host",
				"X-Forwarded-Method": "DELETE", "X-Forwarded-Uri": "/api/secrets/s-1"},
			wantStatus: http.StatusOK, wantIdentity: &identity{"priya", "evaluator", "acme"},
		},
		{
			name: "operator may not read traces", method: "GET", path: "/api/traces/t-oscar",
			auth: "Bearer $OSCAR", headers: map[string]string{"X-Tenant": "acme"},
			wantStatus: http.StatusForbidden,
		},
		{
			name: "another tenant's trace", method: "GET", path: "/api/traces/t-globex",
			auth: "Bearer $EVE", headers: map[string]string{"X-Tenant": "globex"},
			wantStatus: http.StatusForbidden,
		},
		{
			name: "no token", method: "GET", path: "/api/traces/t-anon",
			headers:    map[string]string{"X-Tenant": "acme"},
			wantStatus: http.StatusUnauthorized, wantChallenge: `Bearer realm="warden"`,
		},
		{
			name: "a token that does not verify", method: "GET", path: "/api/traces/t-forged",
			auth: "Bearer eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJldmUifQ.c2ln", headers: map[string]string{"X-Tenant": "acme"},
			wantStatus: http.StatusUnauthorized, wantChallenge: `Bearer realm="warden", error="invalid_token"`,
		},
		{
			name: "not a bearer token", method: "GET", path: "/api/traces/t-basic",
			auth: "Basic ZXZlOnNlY3JldA==", headers: map[string]string{"X-Tenant": "acme"},
			wantStatus: http.StatusUnauthorized, wantChallenge: `Bearer realm="warden", error="invalid_request"`,
		},
		{
			name: "unknown path", method: "GET", path: "/api/secrets/s-1",
			auth: "Bearer $EVE", headers: map[string]string{"X-Tenant": "acme"},
			wantStatus: http.StatusForbidden,
		},
		{
			name: "method the route does not take", method: "DELETE", path: "/api/traces/t-delete",
			auth: "Bearer $EVE", headers: map[string]string{"X-Tenant": "acme"},
			wantStatus: http.StatusForbidden,
		},
		{
			name: "model routes cannot be forward-authorized", method: "POST", path: "/v1/chat/completions",
			auth: "Bearer $EVE", headers: map[string]string{"Content-Type": "application/json"},
			body:       `{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}`,
			wantStatus: http.StatusForbidden,
		},
		{
			name: "dot segments are judged as sent, not as nginx normalises them", method: "GET", path: "/api/indexes/../traces/t-dots",
			auth: "Bearer $EVE", headers: map[string]string{"X-Tenant": "acme"},
			wantStatus: http.StatusForbidden,
		},
		{
			name: "encoded slash", method: "GET", path: "/api/traces/t-1%2F..%2Fx",
			auth: "Bearer $EVE", headers: map[string]string{"X-Tenant": "acme"},
			wantStatus: http.StatusForbidden,
		},
	}

	client := &http.Client{Timeout: 10 * time.Second}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := len(rec.snapshot())
			req, err := http.NewRequestWithContext(t.Context(), tc.method, proxy+tc.path, strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			token := ""
			if tc.auth != "" {
				auth := tc.auth
				if name, ok := strings.CutPrefix(auth, "Bearer $"); ok {
					token = w.Tokens[name]
					auth = "Bearer " + token
				}
				req.Header.Set("Authorization", auth)
			}
			for k, v := range tc.headers {
				req.Header.Set(k, v)
			}
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tc.wantStatus {
				t.Fatalf("status %d, want %d; body:\n%s", resp.StatusCode, tc.wantStatus, body)
			}
			if tc.wantChallenge != "" {
				got := resp.Header.Values("WWW-Authenticate")
				if len(got) != 1 || !strings.HasPrefix(got[0], tc.wantChallenge) {
					t.Errorf("WWW-Authenticate %q, want one starting with %q", got, tc.wantChallenge)
				}
			}

			after := rec.snapshot()[before:]
			if tc.wantIdentity == nil {
				if len(after) != 0 {
					t.Fatalf("a refused request reached the upstream: %s %s", after[0].Method, after[0].URI)
				}
				return
			}
			if string(body) != "upstream ok\n" {
				t.Errorf("body %q, want the upstream's", body)
			}
			if len(after) != 1 {
				t.Fatalf("the upstream saw %d requests, want 1", len(after))
			}
			got := after[0]
			if got.Method != tc.method || got.URI != tc.path {
				t.Errorf("upstream saw %s %s, want %s %s", got.Method, got.URI, tc.method, tc.path)
			}
			if got.Body != tc.body {
				t.Errorf("upstream body %q, want %q", got.Body, tc.body)
			}
			for h, want := range map[string]string{
				"X-Warden-Subject": tc.wantIdentity.subject,
				"X-Warden-Roles":   tc.wantIdentity.roles,
				"X-Warden-Tenant":  tc.wantIdentity.tenant,
				"X-Tenant":         tc.headers["X-Tenant"],
			} {
				if v := got.Header.Values(h); len(v) != 1 || v[0] != want {
					t.Errorf("upstream %s = %q, want exactly %q", h, v, want)
				}
			}
			if v := got.Header.Values("X-Warden-Decision-Id"); len(v) != 1 || v[0] == "" {
				t.Errorf("upstream X-Warden-Decision-Id = %q, want one non-empty value", v)
			}
			if v := got.Header.Values("Authorization"); len(v) != 0 {
				t.Errorf("the upstream received an Authorization header (%d values)", len(v))
			}
			for name, vs := range got.Header {
				for _, v := range vs {
					if token != "" && strings.Contains(v, token) {
						t.Errorf("the caller's token reached the upstream in %s", name)
					}
				}
			}
		})
	}

	t.Run("authz without original-request headers is 400", func(t *testing.T) {
		req, err := http.NewRequestWithContext(t.Context(), "GET", "http://"+w.Data+"/authz", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+w.Tokens["EVE"])
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("status %d, want 400", resp.StatusCode)
		}
	})

	t.Run("decisions are counted under /authz in metrics", func(t *testing.T) {
		want := map[string]bool{
			`warden_requests_total{route="/authz:trace-read",decision="allow"} 3`:    false,
			`warden_requests_total{route="/authz:index-rebuild",decision="allow"} 1`: false,
		}
		resp, err := client.Get("http://" + w.Admin + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if _, ok := want[sc.Text()]; ok {
				want[sc.Text()] = true
			}
		}
		if err := sc.Err(); err != nil {
			t.Fatal(err)
		}
		for line, ok := range want {
			if !ok {
				t.Errorf("/metrics lacks %q", line)
			}
		}
	})
}

// TestDocNginxBlock checks, without nginx, that docs/forward-auth.md still
// holds the server block the forward-auth test runs.
func TestDocNginxBlock(t *testing.T) {
	block := docServerBlock(t)
	for _, want := range []string{
		"auth_request /_warden_authz;",
		"proxy_set_header X-Original-URI $request_uri;",
		"proxy_set_header X-Original-Method $request_method;",
		"proxy_pass_request_body off;",
		"proxy_set_header X-Forwarded-Proto $scheme;",
		`proxy_set_header Authorization "";`,
		"internal;",
	} {
		if !strings.Contains(block, want) {
			t.Errorf("the documented nginx block lacks %q", want)
		}
	}
}
