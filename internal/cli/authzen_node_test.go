package cli

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestAuthZENNodeClient runs examples/authzen/client.mjs, a Node client
// using only the built-in fetch, against a real `warden serve --demo` on
// 127.0.0.1: discovery, a single and a batch evaluation, a question about
// an explicit subject with a pdp:query token from the demo's OAuth client,
// and bad input (missing subject, wrong types, 10,000 items, unknown
// semantics, no token, not JSON) refused with JSON errors. Without node it
// skips, unless CI=true.
func TestAuthZENNodeClient(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("node is not installed (CI=true: .ci/run installs it)")
		}
		t.Skip("node is not installed")
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var stdout, stderr serveBuffer
	errc := make(chan error, 1)
	go func() {
		errc <- runServeCmd(ctx, &stdout, &stderr, "--demo", "--data-dir", t.TempDir(),
			"--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0", "--shutdown-timeout", "10s")
	}()
	deadline := time.After(60 * time.Second)
	for !strings.Contains(stdout.String(), "Stop with Ctrl-C") {
		select {
		case err := <-errc:
			t.Fatalf("serve --demo ended early: %v\nstderr:\n%s", err, stderr.String())
		case <-deadline:
			t.Fatalf("no banner after 60s\nstderr:\n%s", stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	banner := stdout.String()
	base := regexp.MustCompile(`data plane   (http://\S+)`).FindStringSubmatch(banner)
	eve := regexp.MustCompile(`(?m)^  export EVE=(\S+)$`).FindStringSubmatch(banner)
	secret := regexp.MustCompile(`(?m)^  CLIENT_SECRET=(\S+)$`).FindStringSubmatch(banner)
	if base == nil || eve == nil || secret == nil {
		t.Fatalf("banner lacks the data address, EVE or CLIENT_SECRET:\n%s", banner)
	}

	// The demo client may hold pdp:query: its client_credentials token is
	// the service (PEP) token.
	req, _ := http.NewRequestWithContext(ctx, "POST", base[1]+"/oauth2/token",
		strings.NewReader(url.Values{"grant_type": {"client_credentials"}, "scope": {"pdp:query"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(demoClient, secret[1])
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var tr struct {
		AccessToken string `json:"access_token"`
	}
	err = json.NewDecoder(resp.Body).Decode(&tr)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 || tr.AccessToken == "" {
		t.Fatalf("client_credentials with pdp:query: %d %v", resp.StatusCode, err)
	}

	cctx, ccancel := context.WithTimeout(ctx, 60*time.Second)
	defer ccancel()
	cmd := exec.CommandContext(cctx, node, "../../examples/authzen/client.mjs")
	cmd.Env = append(os.Environ(), "WARDEN_URL="+base[1], "WARDEN_TOKEN="+eve[1], "WARDEN_PEP_TOKEN="+tr.AccessToken)
	out, err := cmd.CombinedOutput()
	t.Logf("node client:\n%s", out)
	if err != nil {
		t.Fatalf("node client failed: %v", err)
	}
	for _, check := range []string{"metadata", "single", "batch", "explicit subject", "missing subject", "no token", "wrong types", "10000 items", "unknown semantics", "not JSON"} {
		if !strings.Contains(string(out), `{"check":"`+check+`","ok":true`) {
			t.Errorf("check %q did not pass", check)
		}
	}
}

// TestServeAuthZENConfig checks the authzen section of a real `warden
// serve`: on by default, with the token issuer's URL as the PDP identifier;
// off with authzen.enabled: false (the metadata path is then an ordinary
// data-plane path: 401 without a token).
func TestServeAuthZENConfig(t *testing.T) {
	nf := newNodeFiles(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	get := func(n *node) (int, string) {
		resp, err := n.client.Get(n.url + "/.well-known/authzen-configuration")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b strings.Builder
		_, _ = io.Copy(&b, resp.Body)
		return resp.StatusCode, b.String()
	}
	on := startNode(t, ctx, "on", nf.config(t, "on", "sqlite://"+filepath.Join(nf.dir, "on.db"), time.Minute))
	if code, body := get(on); code != 200 || !strings.Contains(body, `"policy_decision_point":"https://warden.cluster.test"`) {
		t.Errorf("default: %d %s", code, body)
	}
	cfg := nf.config(t, "off", "sqlite://"+filepath.Join(nf.dir, "off.db"), time.Minute)
	src, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	nf.write(t, "off.yaml", append(src, "authzen:\n  enabled: false\n"...))
	off := startNode(t, ctx, "off", cfg)
	if code, body := get(off); code != 401 {
		t.Errorf("authzen.enabled false: %d %s, want 401 (no such endpoint, so bearer auth first)", code, body)
	}
	// A decision-only node: no upstreams, no routes, an authzen section.
	full := string(src)
	pdpSrc := full[:strings.Index(full, "upstreams:\n")] + "authzen:\n  url: https://pdp.cluster.test\n"
	pdp := startNode(t, ctx, "pdp", nf.write(t, "pdp.yaml", []byte(strings.NewReplacer("node: off", "node: pdp", "off.db", "pdp.db").Replace(pdpSrc))))
	if code, body := get(pdp); code != 200 || !strings.Contains(body, `"policy_decision_point":"https://pdp.cluster.test"`) {
		t.Errorf("decision-only node: %d %s", code, body)
	}
}
