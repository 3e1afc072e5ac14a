package cli

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestServeDemoConsole: `serve --demo` mounts the console on the admin
// listener with token generation enabled, an admin signs in with a demo
// token, and the playground gives exactly what `warden policy eval
// --explain` prints for the same question (the bundle line aside: the demo
// serves a signed build of the same sources).
func TestServeDemoConsole(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var stdout, stderr serveBuffer
	errc := make(chan error, 1)
	go func() {
		errc <- runServeCmd(ctx, &stdout, &stderr, "--demo", "--data-dir", t.TempDir(),
			"--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0", "--shutdown-timeout", "10s")
	}()
	defer func() {
		cancel()
		if err := <-errc; err != nil {
			t.Errorf("serve --demo: %v", err)
		}
	}()
	var banner string
	for start := time.Now(); !strings.Contains(banner, "Stop with Ctrl-C"); banner = stdout.String() {
		if time.Since(start) > 30*time.Second {
			t.Fatalf("no banner after 30s\nstderr:\n%s", stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	m := regexp.MustCompile(`console      (http://\S+/console/)`).FindStringSubmatch(banner)
	ada := regexp.MustCompile(`(?m)^  export ADA=(\S+)$`).FindStringSubmatch(banner)
	eve := regexp.MustCompile(`(?m)^  export EVE=(\S+)$`).FindStringSubmatch(banner)
	if m == nil || ada == nil || eve == nil {
		t.Fatalf("banner lacks the console address or tokens:\n%s", banner)
	}
	base := strings.TrimSuffix(m[1], "/console/")
	jar, _ := cookiejar.New(nil)
	client := &http.Client{Jar: jar, Timeout: 10 * time.Second}
	post := func(path, csrf string, body any) (int, map[string]any) {
		t.Helper()
		b, _ := json.Marshal(body)
		req, _ := http.NewRequestWithContext(t.Context(), "POST", base+path, strings.NewReader(string(b)))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-CSRF-Token", csrf)
		res, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		raw, _ := io.ReadAll(res.Body)
		var v map[string]any
		if err := json.Unmarshal(raw, &v); err != nil {
			t.Fatalf("%s: %s", path, raw)
		}
		return res.StatusCode, v
	}

	code, sess := post("/console/api/session", "", map[string]string{"token": ada[1]})
	if code != 200 || sess["can_audit"] != true || sess["can_generate"] != true {
		t.Fatalf("sign in as ADA: %d %v", code, sess)
	}
	csrf, _ := sess["csrf"].(string)
	code, gen := post("/console/api/token/generate", csrf, map[string]any{"preset": "eve", "ttl_seconds": 300})
	if code != 200 || gen["sub"] != "eve" {
		t.Errorf("generate: %d %v", code, gen)
	}

	q := map[string]any{"token": eve[1], "action": "trace:read", "resource": `Trace::"t-1"`, "attributes": map[string]any{"tenant": "acme"}}
	code, ans := post("/console/api/policy/eval", csrf, q)
	if code != 200 {
		t.Fatalf("eval: %d %v", code, ans)
	}
	got, _ := ans["explain"].(string)
	exit, want, _ := runWarden(t, nil, "policy", "eval", "--dir", "../../examples/policy", "--token", eve[1],
		"--action", "trace:read", "--resource", `Trace::"t-1"`, "--attr", "tenant=acme", "--explain")
	if exit != 0 {
		t.Fatalf("policy eval exit %d", exit)
	}
	dropBundle := regexp.MustCompile(`(?m)^  bundle: .*\n`)
	if g, w := dropBundle.ReplaceAllString(got, ""), dropBundle.ReplaceAllString(want, ""); g != w || !strings.Contains(g, "evaluator-read-traces") {
		t.Errorf("console explanation:\n%s\npolicy eval --explain:\n%s", got, want)
	}
	if strings.Contains(stderr.String(), ada[1]) || strings.Contains(stderr.String(), eve[1]) {
		t.Error("a token appears in the server log")
	}
}
