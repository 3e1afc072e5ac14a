package console_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/wardenhq/warden/internal/audit"
	"github.com/wardenhq/warden/internal/authn"
	"github.com/wardenhq/warden/internal/policy"
	"github.com/wardenhq/warden/internal/testutil"
)

// chromiumPath is Debian's chromium; .ci/run installs it.
const chromiumPath = "/usr/bin/chromium"

// failureDir keeps screenshots of failed browser tests (ignored by git).
const failureDir = "testdata/failures"

// browser is one headless Chromium with a fresh profile.
type browser struct {
	t   *testing.T
	ctx context.Context

	mu       sync.Mutex
	requests []string // "METHOD URL" of every request the page made
}

// sent returns the requests made so far.
func (b *browser) sent() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.requests)
}

// newBrowser starts headless Chromium, or skips the test when it is not
// installed, except under CI (CI=true), where a missing browser fails.
func newBrowser(t *testing.T) *browser {
	t.Helper()
	path := chromiumPath
	if _, err := os.Stat(path); err != nil {
		if p, lerr := exec.LookPath("chromium"); lerr == nil {
			path = p
		} else if os.Getenv("CI") == "true" {
			t.Fatalf("chromium is not installed (%v): CI requires the browser tests; apt-get install chromium", err)
		} else {
			t.Skipf("chromium is not installed (%v); the browser tests need it", err)
		}
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("no-default-browser-check", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.Flag("mute-audio", true),
		chromedp.WindowSize(1280, 800),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	b := &browser{t: t, ctx: ctx}
	// The first Run starts the browser; it must not carry a timeout.
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 800)); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	// Script errors and CSP violations end up in the page's log: any of
	// them fails the test (refused API calls, logged as network errors, do
	// not).
	var pageErrors []string
	err := chromedp.Listen(ctx, func(ev any) {
		var msg string
		switch ev := ev.(type) {
		case *network.EventRequestWillBeSent:
			b.mu.Lock()
			b.requests = append(b.requests, ev.Request.Method+" "+ev.Request.URL+ev.Request.URLFragment)
			b.mu.Unlock()
		case *cdplog.EventEntryAdded:
			if ev.Entry.Level == cdplog.EntryLevelError && ev.Entry.Source != cdplog.EntrySourceNetwork {
				msg = string(ev.Entry.Source) + ": " + ev.Entry.Text
			}
		case *runtime.EventExceptionThrown:
			msg = "exception: " + ev.ExceptionDetails.Text
			if ev.ExceptionDetails.Exception != nil {
				msg += " " + ev.ExceptionDetails.Exception.Description
			}
		}
		if msg != "" {
			b.mu.Lock()
			pageErrors = append(pageErrors, msg)
			b.mu.Unlock()
		}
	})
	if err != nil {
		t.Fatalf("listen to the page: %v", err)
	}
	if err := chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		if _, err := cdp.Call(ctx, tg, cdplog.Enable, cdp.Empty{}); err != nil {
			return err
		}
		_, err := cdp.Call(ctx, tg, network.Enable, network.EnableParams{})
		return err
	})); err != nil {
		t.Fatalf("enable the page log and network events: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			b.screenshot(filepath.Join(failureDir, sanitize(t.Name())+".png"))
		}
		b.mu.Lock()
		defer b.mu.Unlock()
		for _, m := range pageErrors {
			t.Errorf("page error: %s", m)
		}
	})
	return b
}

func sanitize(s string) string {
	return strings.NewReplacer("/", "_", " ", "_").Replace(s)
}

// screenshot saves a full-page PNG to path (best effort).
func (b *browser) screenshot(path string) {
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Logf("screenshot: %v", err)
		return
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err == nil {
		if err := os.WriteFile(path, png, 0o644); err == nil {
			abs, _ := filepath.Abs(path)
			b.t.Logf("screenshot saved: %s", abs)
		}
	}
}

// do runs actions with a timeout.
func (b *browser) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 15*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
}

// text returns the visible text of the element with this id.
func (b *browser) text(id string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 15*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID(id)))
	if err != nil {
		b.t.Fatalf("text of #%s: %v", id, err)
	}
	return s
}

// eval evaluates a JavaScript expression.
func eval[T any](b *browser, expr string) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 15*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		b.t.Fatalf("eval %s: %v", expr, err)
	}
	return v
}

// waitFor polls a JavaScript condition until it is true. Evaluation errors
// while a page is being replaced count as "not yet".
func (b *browser) waitFor(what, cond string) {
	b.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	var lastErr error
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](cond))
		cancel()
		if err == nil && ok {
			return
		}
		lastErr = err
		time.Sleep(50 * time.Millisecond)
	}
	b.t.Fatalf("waiting for %s (%s): timed out (last error: %v)", what, cond, lastErr)
}

// location is the page's URL; neither it nor the URL of any request the
// page made may hold a token.
func (b *browser) location(e *env) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 15*time.Second)
	defer cancel()
	loc, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		b.t.Fatal(err)
	}
	reqs := b.sent()
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, tok := range e.tokens {
		if leaks(loc, tok) {
			b.t.Errorf("the page URL holds a token: %s", loc)
		}
		for _, r := range reqs {
			if leaks(r, tok) {
				b.t.Errorf("a request URL holds a token: %s", r)
			}
		}
	}
	return loc
}

// signIn signs in through the form and waits for the token tools.
func (b *browser) signIn(e *env, tok string) {
	b.t.Helper()
	b.do("open the sign-in page",
		chromedp.Navigate(e.srv.URL+"/console/"),
		chromedp.WaitVisible(chromedp.ID("signin-token")),
		chromedp.SetValue(chromedp.ID("signin-token"), tok),
		chromedp.Click(chromedp.CSS("#signin-form button[type=submit]")),
	)
}

// TestBrowserConsole drives the console in headless Chromium: sign in,
// decode a token, verify a tampered one, run a playground decision, filter
// and tail the audit log; and no token reaches the log or a URL.
func TestBrowserConsole(t *testing.T) {
	e := newEnv(t, envOptions{})
	b := newBrowser(t)
	ada := e.mint("ada", "admin")

	// Seed the audit log with decisions to filter.
	now := time.Now().UTC()
	for i, r := range []struct{ sub, action, decision, route string }{
		{"eve", "trace:read", audit.Allow, "trace-read"},
		{"eve", "prompt:write", audit.Deny, "prompt-write"},
		{"oscar", "trace:read", audit.Deny, "trace-read"},
		{"eve", "model:invoke", audit.Deny, "chat"},
	} {
		e.appendRecord(audit.Record{
			Time: now.Add(time.Duration(i-10) * time.Second), RequestID: fmt.Sprintf("req-%d", i), Phase: audit.PhaseDecision,
			Issuer: testIssuer, Subject: r.sub, Method: "GET", Path: "/api/x", Route: r.route, Action: r.action,
			ResourceType: "Trace", ResourceID: "t-1", Decision: r.decision, BundleRevision: "test-rev",
		})
	}

	t.Run("sign in", func(t *testing.T) {
		b.t = t
		b.signIn(e, ada)
		b.waitFor("the token tools", `location.pathname === "/console/tokens" && document.getElementById("who").textContent.includes("ada")`)
		if got := b.text("who"); !strings.Contains(got, "signed in as ada") {
			t.Errorf("who = %q", got)
		}
		b.waitFor("the audit link", `!document.getElementById("nav-audit").classList.contains("hidden")`)
		if !slices.ContainsFunc(b.sent(), func(r string) bool { return strings.HasPrefix(r, "POST "+e.srv.URL+"/console/api/session") }) {
			t.Errorf("the sign-in request was not seen (the request-URL check would be vacuous): %v", b.sent())
		}
		b.location(e)
	})

	t.Run("decode", func(t *testing.T) {
		b.t = t
		// A hostile token: alg none, a jku and an embedded jwk, expired.
		hostile := testutil.UnsignedJWT(
			[]byte(`{"alg":"none","jku":"https://evil.example/keys","jwk":{"kty":"oct"},"crit":["x"]}`),
			[]byte(fmt.Sprintf(`{"iss":"%s","sub":"mallory","exp":%d}`, testIssuer, now.Add(-2*time.Hour).Unix())), nil)
		e.remember(hostile)
		before := len(b.sent())
		b.do("paste a token",
			chromedp.SetValue(chromedp.ID("token"), hostile),
			chromedp.Click(chromedp.ID("decode-btn")),
			chromedp.WaitVisible(chromedp.ID("decode-out")),
		)
		warn := b.text("decode-warnings")
		for _, want := range []string{`alg "none"`, `header "jku"`, `header "jwk"`, `header "crit"`, "expired 2 hours ago", `no "aud"`} {
			if !strings.Contains(warn, want) {
				t.Errorf("warnings lack %q:\n%s", want, warn)
			}
		}
		// A good token: its times relative to now, and no warnings.
		b.do("paste the admin token",
			chromedp.SetValue(chromedp.ID("token"), ada),
			chromedp.Click(chromedp.ID("decode-btn")),
		)
		b.waitFor("the summary", `document.getElementById("decode-summary").textContent.includes("in 59 minutes") || document.getElementById("decode-summary").textContent.includes("in 1 hour")`)
		if sum := b.text("decode-summary"); !strings.Contains(sum, "ada") || !strings.Contains(sum, "admin") {
			t.Errorf("summary = %q", sum)
		}
		if !eval[bool](b, `!document.getElementById("decode-nowarn").classList.contains("hidden")`) {
			t.Errorf("a clean token shows warnings: %q", b.text("decode-warnings"))
		}
		// Decoding happens in the page: it sent nothing anywhere.
		if after := b.sent(); len(after) != before {
			t.Errorf("decoding made requests: %v", after[before:])
		}
		b.location(e)
	})

	t.Run("verify a tampered token", func(t *testing.T) {
		b.t = t
		// Change the subject without re-signing.
		parts := strings.Split(ada, ".")
		p, err := authn.Parse(ada, 0)
		if err != nil {
			t.Fatal(err)
		}
		body := strings.Replace(string(p.RawClaims), `"sub":"ada"`, `"sub":"root"`, 1)
		tampered := parts[0] + "." + testutil.B64([]byte(body)) + "." + parts[2]
		e.remember(tampered)
		b.do("verify",
			chromedp.SetValue(chromedp.ID("token"), tampered),
			chromedp.Click(chromedp.ID("verify-btn")),
			chromedp.WaitVisible(chromedp.ID("verify-out")),
		)
		if got := b.text("verify-verdict"); got != "INVALID" {
			t.Errorf("verdict = %q, want INVALID", got)
		}
		if got := b.text("verify-detail"); !strings.Contains(got, "bad_signature") {
			t.Errorf("detail = %q, want the bad_signature reason", got)
		}
		// The untouched token verifies.
		b.do("verify the original",
			chromedp.SetValue(chromedp.ID("token"), ada),
			chromedp.Click(chromedp.ID("verify-btn")),
		)
		b.waitFor("valid", `document.getElementById("verify-verdict").textContent === "VALID"`)

		// Against a pasted JWKS, expecting another audience.
		b.do("verify with pasted keys",
			chromedp.Click(chromedp.CSS(`input[name=source][value=keys]`)),
			chromedp.WaitVisible(chromedp.ID("verify-keytext")),
			chromedp.SetValue(chromedp.ID("verify-keytext"), e.jwks()),
			chromedp.SetValue(chromedp.ID("verify-iss"), testIssuer),
			chromedp.SetValue(chromedp.ID("verify-aud"), "billing"),
			chromedp.Click(chromedp.ID("verify-btn")),
		)
		b.waitFor("the audience failure", `document.getElementById("verify-detail").textContent.includes("audience")`)
		if got := b.text("verify-verdict"); got != "INVALID" {
			t.Errorf("verdict with another audience = %q", got)
		}
		b.do("the right audience",
			chromedp.SetValue(chromedp.ID("verify-aud"), testAudience),
			chromedp.Click(chromedp.ID("verify-btn")),
		)
		b.waitFor("valid with pasted keys", `document.getElementById("verify-verdict").textContent === "VALID"`)
		b.do("back to the issuers", chromedp.Click(chromedp.CSS(`input[name=source][value=issuers]`)))
		b.location(e)
	})

	t.Run("generate", func(t *testing.T) {
		b.t = t
		b.waitFor("the generator", `!document.getElementById("generate").classList.contains("hidden")`)
		b.do("generate a token",
			chromedp.SetValue(chromedp.ID("gen-preset"), "eve"),
			chromedp.SetValue(chromedp.ID("gen-ttl"), "90"),
			chromedp.Click(chromedp.ID("gen-btn")),
			chromedp.WaitVisible(chromedp.ID("gen-error")),
		)
		if got := b.text("gen-error"); !strings.Contains(got, "1 to 60") {
			t.Errorf("a 90-minute TTL: error %q", got)
		}
		b.do("generate a token",
			chromedp.SetValue(chromedp.ID("gen-ttl"), "10"),
			chromedp.Click(chromedp.ID("gen-btn")),
			chromedp.WaitVisible(chromedp.ID("gen-out")),
		)
		tok := eval[string](b, `document.getElementById("gen-token").value`)
		e.remember(tok)
		p, err := authn.Parse(tok, 0)
		if err != nil {
			t.Fatalf("generated token: %v", err)
		}
		if p.Claims["sub"] != "eve" || p.Claims["tenant"] != "acme" {
			t.Errorf("generated claims = %v", p.Claims)
		}
		exp, _ := p.Claims["exp"].(float64)
		iat, _ := p.Claims["iat"].(float64)
		if exp-iat != 600 {
			t.Errorf("generated TTL = %vs, want 600", exp-iat)
		}
	})

	t.Run("playground", func(t *testing.T) {
		b.t = t
		b.do("open the playground",
			chromedp.Click(chromedp.CSS(`header nav a[href="/console/playground"]`)),
			chromedp.WaitVisible(chromedp.ID("eval-form")),
		)
		b.waitFor("the bundle status", `document.getElementById("bundle-status").textContent.includes("test-rev")`)
		claims := `{"iss":"https://issuer.test/","sub":"eve","roles":["evaluator"],"tenant":"acme"}`
		b.do("ask",
			chromedp.SetValue(chromedp.ID("eval-claims"), claims),
			chromedp.SetValue(chromedp.ID("eval-action"), "trace:read"),
			chromedp.SetValue(chromedp.ID("eval-resource"), `Trace::"t-1"`),
			chromedp.SetValue(chromedp.ID("eval-attrs"), `{"tenant":"acme"}`),
			chromedp.SetValue(chromedp.ID("eval-context"), `{}`),
			chromedp.Click(chromedp.ID("eval-btn")),
			chromedp.WaitVisible(chromedp.ID("eval-out")),
		)
		if got := b.text("eval-verdict"); got != "ALLOW" {
			t.Errorf("verdict = %q", got)
		}
		if got := b.text("eval-reasons"); !strings.Contains(got, "evaluator-read-traces") {
			t.Errorf("reasons = %q", got)
		}
		// The explanation is the engine's, as policy eval --explain prints it.
		p, err := authn.ClaimMapping{}.Principal(map[string]any{"iss": testIssuer, "sub": "eve", "roles": []any{"evaluator"}, "tenant": "acme"})
		if err != nil {
			t.Fatal(err)
		}
		d := e.engine.Decide(context.Background(), policy.Request{Principal: p, Action: "trace:read",
			Resource: policy.Resource{Type: "Trace", ID: "t-1", Attributes: map[string]any{"tenant": "acme"}}})
		got := eval[string](b, `document.getElementById("eval-explain").textContent`)
		if got != d.Explain() {
			t.Errorf("explanation:\n%s\nwant:\n%s", got, d.Explain())
		}
		// A deny names the forbid that decided it.
		b.do("ask again",
			chromedp.SetValue(chromedp.ID("eval-action"), "prompt:write"),
			chromedp.SetValue(chromedp.ID("eval-resource"), `Prompt::"p-1"`),
			chromedp.Click(chromedp.ID("eval-btn")),
		)
		b.waitFor("deny", `document.getElementById("eval-verdict").textContent === "DENY"`)
		if got := b.text("eval-reasons"); !strings.Contains(got, "forbidden by evaluator-no-prompt-changes") {
			t.Errorf("deny reasons = %q", got)
		}
		b.do("ask about an action no policy permits",
			chromedp.SetValue(chromedp.ID("eval-action"), "index:rebuild"),
			chromedp.SetValue(chromedp.ID("eval-resource"), `Index::"docs"`),
			chromedp.Click(chromedp.ID("eval-btn")),
		)
		b.waitFor("default deny", `document.getElementById("eval-explain").textContent.includes("default deny")`)
	})

	t.Run("audit", func(t *testing.T) {
		b.t = t
		b.do("open the audit log",
			chromedp.Click(chromedp.CSS(`header nav a[href="/console/audit"]`)),
			chromedp.WaitVisible(chromedp.ID("filter-form")),
		)
		b.waitFor("the chain status", `document.getElementById("chain-status").textContent.includes("intact")`)
		b.waitFor("the records", `document.querySelectorAll("#records-body tr").length >= 5`)
		b.do("filter",
			chromedp.SetValue(chromedp.ID("f-subject"), "eve"),
			chromedp.SetValue(chromedp.ID("f-decision"), "deny"),
			chromedp.Click(chromedp.ID("f-apply")),
		)
		b.waitFor("the filtered list", `document.querySelectorAll("#records-body tr").length === 2`)
		rows := b.text("records-body")
		if !strings.Contains(rows, "prompt:write") || !strings.Contains(rows, "model:invoke") || strings.Contains(rows, "oscar") {
			t.Errorf("filtered rows:\n%s", rows)
		}
		b.do("open a record",
			chromedp.Click(chromedp.CSS("#records-body tr:first-child button")),
			chromedp.WaitVisible(chromedp.ID("record")),
		)
		if got := b.text("record-detail"); !strings.Contains(got, "prompt:write") || !strings.Contains(got, "req-1") {
			t.Errorf("record detail = %q", got)
		}
		// The live tail shows a new matching decision without a reload.
		e.appendRecord(audit.Record{RequestID: "req-live", Phase: audit.PhaseDecision, Issuer: testIssuer, Subject: "eve",
			Method: "POST", Path: "/v1/chat/completions", Route: "chat", Action: "model:invoke",
			ResourceType: "Model", ResourceID: "gpt-4o", Decision: audit.Deny, BundleRevision: "test-rev"})
		e.appendRecord(audit.Record{RequestID: "req-live-2", Phase: audit.PhaseDecision, Issuer: testIssuer, Subject: "oscar",
			Method: "POST", Path: "/v1/chat/completions", Route: "chat", Action: "model:invoke",
			ResourceType: "Model", ResourceID: "gpt-4o", Decision: audit.Deny, BundleRevision: "test-rev"})
		b.waitFor("the tailed record", `document.getElementById("records-body").textContent.includes("gpt-4o")`)
		time.Sleep(2500 * time.Millisecond) // one more tail round: the other subject must not appear
		if n := eval[int](b, `document.querySelectorAll("#records-body tr").length`); n != 3 {
			t.Errorf("after the tail: %d rows, want 3:\n%s", n, b.text("records-body"))
		}
		b.location(e)
	})

	t.Run("sign out", func(t *testing.T) {
		b.t = t
		b.do("sign out", chromedp.Click(chromedp.ID("signout")))
		b.waitFor("the sign-in page", `location.pathname === "/console/" && !!document.getElementById("signin-token")`)
		b.do("reopen the tools", chromedp.Navigate(e.srv.URL+"/console/tokens"))
		b.waitFor("the sign-in page again", `location.pathname === "/console/"`)
	})

	b.t = t
	e.checkNoTokenInLogs()
}

// TestBrowserRefused: with the reference bundle only admins use the
// console; a token without a role, an engineer's and an evaluator's are
// refused at sign-in with the policy's answer, and no session is made.
func TestBrowserRefused(t *testing.T) {
	e := newEnv(t, envOptions{})
	b := newBrowser(t)
	for _, tok := range []string{e.mint("nobody"), e.mint("erin", "engineer"), e.mint("eve", "evaluator")} {
		b.signIn(e, tok)
		b.waitFor("the refusal", `!document.getElementById("signin-error").classList.contains("hidden")`)
		if got := b.text("signin-error"); !strings.Contains(got, "console:view") {
			t.Errorf("refusal = %q", got)
		}
		if loc := b.location(e); !strings.HasSuffix(loc, "/console/") {
			t.Errorf("location after refusal = %s", loc)
		}
		b.do("try the tools", chromedp.Navigate(e.srv.URL+"/console/tokens"))
		b.waitFor("back at sign-in", `location.pathname === "/console/" && !!document.getElementById("signin-token")`)
	}
	e.checkNoTokenInLogs()
}

// TestBrowserAuditRefused: a principal the policy allows console:view but
// not audit:read (here an engineer, through a test policy) signs in, sees no
// audit link, and is refused the audit page.
func TestBrowserAuditRefused(t *testing.T) {
	e := newEnv(t, envOptions{engineersConsole: true})
	b := newBrowser(t)
	b.signIn(e, e.mint("erin", "engineer"))
	b.waitFor("the token tools", `location.pathname === "/console/tokens" && document.getElementById("who").textContent.includes("erin")`)
	if eval[bool](b, `!document.getElementById("nav-audit").classList.contains("hidden")`) {
		t.Error("an engineer sees the audit link")
	}
	b.do("open the audit page", chromedp.Navigate(e.srv.URL+"/console/audit"), chromedp.WaitVisible(chromedp.ID("error-message")))
	if got := b.text("error-message"); !strings.Contains(got, "audit:read") {
		t.Errorf("audit page for an engineer: %q", got)
	}
	b.location(e)
	e.checkNoTokenInLogs()
}

// TestBrowserScreenshots saves every page at 1280×800 and at 390 px wide
// into $WARDEN_CONSOLE_SCREENSHOTS, for review; it skips without it.
func TestBrowserScreenshots(t *testing.T) {
	dir := os.Getenv("WARDEN_CONSOLE_SCREENSHOTS")
	if dir == "" {
		t.Skip("set WARDEN_CONSOLE_SCREENSHOTS=DIR to save screenshots of every page")
	}
	e := newEnv(t, envOptions{engineersConsole: true})
	b := newBrowser(t)
	for i, sub := range []string{"eve", "oscar", "eve"} {
		e.appendRecord(audit.Record{RequestID: fmt.Sprintf("req-%d", i), Phase: audit.PhaseDecision, Issuer: testIssuer,
			Subject: sub, Method: "POST", Path: "/v1/chat/completions", Route: "chat", Action: "model:invoke",
			ResourceType: "Model", ResourceID: "gpt-4o", Decision: []string{audit.Allow, audit.Deny}[i%2],
			Policies: []string{"model-teams"}, Reasons: []string{"teams use their models"}, BundleRevision: "test-rev"})
	}
	for _, size := range []struct {
		name string
		w, h int64
	}{{"wide", 1280, 800}, {"narrow", 390, 844}} {
		b.do("viewport", chromedp.EmulateViewport(size.w, size.h, chromedp.EmulateScale(1)))
		b.do("sign-in page", chromedp.Navigate(e.srv.URL+"/console/"), chromedp.WaitVisible(chromedp.ID("signin-token")))
		b.signIn(e, e.mint("eve", "evaluator"))
		b.waitFor("the refusal", `!document.getElementById("signin-error").classList.contains("hidden")`)
		b.screenshot(filepath.Join(dir, "signin-"+size.name+".png"))
		b.signIn(e, e.mint("ada", "admin"))
		b.waitFor("tokens", `location.pathname === "/console/tokens"`)
		b.waitFor("generator", `!document.getElementById("generate").classList.contains("hidden")`)
		b.do("decode", chromedp.SetValue(chromedp.ID("token"), e.mint("eve", "evaluator")), chromedp.Click(chromedp.ID("decode-btn")),
			chromedp.Click(chromedp.ID("verify-btn")), chromedp.WaitVisible(chromedp.ID("verify-out")))
		b.screenshot(filepath.Join(dir, "tokens-"+size.name+".png"))
		hostile := testutil.UnsignedJWT([]byte(`{"alg":"none","jku":"https://evil.example/k","x5c":["MII"]}`),
			[]byte(`{"sub":"mallory","exp":1700000000}`), nil)
		b.do("decode a hostile token", chromedp.SetValue(chromedp.ID("token"), hostile), chromedp.Click(chromedp.ID("decode-btn")),
			chromedp.Click(chromedp.ID("verify-btn")))
		b.waitFor("invalid", `document.getElementById("verify-verdict").textContent === "INVALID"`)
		b.screenshot(filepath.Join(dir, "tokens-hostile-"+size.name+".png"))
		b.do("playground", chromedp.Navigate(e.srv.URL+"/console/playground"), chromedp.WaitVisible(chromedp.ID("eval-form")))
		b.waitFor("status", `document.getElementById("bundle-status").textContent.includes("test-rev")`)
		b.do("evaluate", chromedp.Click(chromedp.ID("eval-btn")), chromedp.WaitVisible(chromedp.ID("eval-out")))
		b.screenshot(filepath.Join(dir, "playground-"+size.name+".png"))
		b.do("audit", chromedp.Navigate(e.srv.URL+"/console/audit"), chromedp.WaitVisible(chromedp.ID("filter-form")))
		b.waitFor("records", `document.querySelectorAll("#records-body tr").length >= 3`)
		b.do("open", chromedp.Click(chromedp.CSS("#records-body tr:first-child button")), chromedp.WaitVisible(chromedp.ID("record")))
		b.screenshot(filepath.Join(dir, "audit-"+size.name+".png"))
		b.do("sign out", chromedp.Click(chromedp.ID("signout")))
		b.waitFor("signed out", `location.pathname === "/console/"`)
	}
	b.signIn(e, e.mint("erin", "engineer"))
	b.waitFor("tokens", `location.pathname === "/console/tokens"`)
	b.do("audit refused", chromedp.Navigate(e.srv.URL+"/console/audit"), chromedp.WaitVisible(chromedp.ID("error-message")))
	b.screenshot(filepath.Join(dir, "forbidden-narrow.png"))
}

// tabTo presses Tab until the focused element matches the CSS selector, at
// most limit times, and fails if it never does.
func (b *browser) tabTo(selector string, limit int) {
	b.t.Helper()
	cond := fmt.Sprintf(`document.activeElement !== null && document.activeElement.matches(%q)`, selector)
	for range limit {
		b.do("press Tab", chromedp.KeyEvent("\t"))
		if eval[bool](b, cond) {
			return
		}
	}
	b.t.Fatalf("%d Tabs never focused %s (focus is on %s)", limit, selector,
		eval[string](b, `document.activeElement ? document.activeElement.outerHTML.slice(0, 120) : "nothing"`))
}

// TestBrowserKeyboard: the console works without a mouse. The first Tab
// reaches the skip link; sign-in, the navigation, opening and closing an
// audit record are all done with Tab and Enter, and focus follows.
func TestBrowserKeyboard(t *testing.T) {
	e := newEnv(t, envOptions{})
	b := newBrowser(t)
	e.appendRecord(audit.Record{RequestID: "kb-1", Phase: audit.PhaseDecision, Subject: "eve", Action: "trace:read",
		Route: "trace-read", Decision: audit.Allow, ResourceType: "Trace", ResourceID: "t-1"})

	b.do("open the sign-in page", chromedp.Navigate(e.srv.URL+"/console/"), chromedp.WaitVisible(chromedp.ID("signin-token")))
	b.do("first Tab", chromedp.KeyEvent("\t"))
	if !eval[bool](b, `document.activeElement.matches("a.skip")`) {
		t.Error("the first Tab does not reach the skip link")
	}
	b.tabTo("#signin-token", 3)
	b.do("type the token", chromedp.KeyEvent(e.mint("ada", "admin")))
	b.tabTo(`#signin-form button[type=submit]`, 2)
	b.do("press Enter", chromedp.KeyEvent("\r"))
	b.waitFor("the token tools", `location.pathname === "/console/tokens" && document.getElementById("who").textContent.includes("ada")`)
	b.waitFor("the audit link", `!document.getElementById("nav-audit").classList.contains("hidden")`)

	b.tabTo(`header nav a[href="/console/audit"]`, 6)
	b.do("follow the link", chromedp.KeyEvent("\r"))
	b.waitFor("the audit page", `location.pathname === "/console/audit" && document.querySelectorAll("#records-body button").length > 0`)
	b.tabTo(`#records-body button`, 50) // each datetime field takes a Tab per part
	b.do("open the record", chromedp.KeyEvent("\r"))
	b.waitFor("the record, focused", `!document.getElementById("record").classList.contains("hidden") && document.activeElement.id === "record"`)
	if got := b.text("record-detail"); !strings.Contains(got, "kb-1") {
		t.Errorf("record detail = %q", got)
	}
	b.tabTo("#record-close", 3)
	b.do("close", chromedp.KeyEvent("\r"))
	b.waitFor("focus back on the row", `document.getElementById("record").classList.contains("hidden") && document.activeElement.matches("#records-body button")`)
	b.location(e)
	e.checkNoTokenInLogs()
}

// TestBrowserTampered: the audit page says the chain is broken, and where.
func TestBrowserTampered(t *testing.T) {
	e := newEnv(t, envOptions{})
	b := newBrowser(t)
	for i := range 3 {
		e.appendRecord(audit.Record{RequestID: fmt.Sprintf("r%d", i), Subject: "eve", Action: "trace:read", Decision: audit.Allow})
	}
	e.backend.DropAppendOnly(t)
	e.backend.Exec(t, "UPDATE audit_records SET decision = 'deny' WHERE seq = 2")
	b.signIn(e, e.mint("ada", "admin"))
	b.waitFor("the token tools", `location.pathname === "/console/tokens"`)
	b.do("open the audit log", chromedp.Navigate(e.srv.URL+"/console/audit"))
	b.waitFor("the verdict", `document.getElementById("chain-status").textContent.includes("BROKEN")`)
	if got := b.text("chain-list"); !strings.Contains(got, "edited at seq 2") {
		t.Errorf("chain list = %q", got)
	}
	b.waitFor("the refusal to list", `!document.getElementById("records-error").classList.contains("hidden")`)
	if got := b.text("records-error"); !strings.Contains(got, "integrity") {
		t.Errorf("records error = %q", got)
	}
}
