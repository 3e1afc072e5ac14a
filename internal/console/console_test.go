package console_test

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/wardenhq/warden/internal/audit"
	"github.com/wardenhq/warden/internal/console"
	"github.com/wardenhq/warden/internal/jwk"
	"github.com/wardenhq/warden/internal/testutil"
	"github.com/wardenhq/warden/internal/token"
)

// signIn posts tok and returns the response; on success c keeps the cookie
// and the CSRF token.
func (c *client) signIn(tok string) (*http.Response, string) {
	c.t.Helper()
	res, body := c.do("POST", "/console/api/session", fmt.Sprintf(`{"token":%q}`, tok))
	if res.StatusCode == http.StatusOK {
		var v struct{ CSRF string }
		if err := json.Unmarshal([]byte(body), &v); err != nil || v.CSRF == "" {
			c.t.Fatalf("sign-in answer %s: %v", body, err)
		}
		c.csrf = v.CSRF
	}
	return res, body
}

func errorCode(t *testing.T, body string) string {
	t.Helper()
	var v struct {
		Error struct {
			Code      string `json:"code"`
			Message   string `json:"message"`
			RequestID string `json:"request_id"`
		} `json:"error"`
	}
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		t.Fatalf("not a JSON error: %s", body)
	}
	if v.Error.RequestID == "" || v.Error.Message == "" {
		t.Errorf("error without a message or request id: %s", body)
	}
	return v.Error.Code
}

func TestSecurityHeaders(t *testing.T) {
	e := newEnv(t, envOptions{})
	c := e.client()
	for _, path := range []string{"/console/", "/console/static/console.css", "/console/api/session", "/console/nope", "/console/tokens"} {
		res, _ := c.do("GET", path, "")
		h := res.Header
		checks := map[string]string{
			"X-Content-Type-Options": "nosniff",
			"Referrer-Policy":        "same-origin",
			"X-Frame-Options":        "DENY",
		}
		for k, want := range checks {
			if got := h.Get(k); got != want {
				t.Errorf("%s: %s = %q, want %q", path, k, got, want)
			}
		}
		csp := h.Get("Content-Security-Policy")
		for _, want := range []string{"script-src 'self'", "frame-ancestors 'none'", "default-src 'none'"} {
			if !strings.Contains(csp, want) {
				t.Errorf("%s: CSP %q lacks %q", path, csp, want)
			}
		}
		if strings.Contains(csp, "unsafe-inline") {
			t.Errorf("%s: CSP allows inline code: %q", path, csp)
		}
		if h.Get("X-Request-Id") == "" {
			t.Errorf("%s: no X-Request-Id", path)
		}
	}
}

// TestStaticHasNoInlineCode: the CSP forbids inline scripts and styles, so
// the pages must not have any (they would silently not run).
func TestStaticHasNoInlineCode(t *testing.T) {
	e := newEnv(t, envOptions{})
	c := e.client()
	_, body := c.do("GET", "/console/", "")
	for _, bad := range []string{"<script>", "style=", " onclick=", " onload=", "javascript:"} {
		if strings.Contains(body, bad) {
			t.Errorf("the sign-in page has %q", bad)
		}
	}
	if !strings.Contains(body, `method="post"`) {
		t.Error("the sign-in form is not POST: without scripts the browser would put the token in the URL")
	}
}

func TestSignIn(t *testing.T) {
	e := newEnv(t, envOptions{})
	expired := e.mintClaims(token.Claims{Subject: "ada", Roles: []string{"admin"}, TTL: time.Second})
	other, err := jwk.Generate("EdDSA", "console-test-key") // same kid, another key
	if err != nil {
		t.Fatal(err)
	}
	otherSigner, err := token.NewSigner(token.SignerConfig{Key: other})
	if err != nil {
		t.Fatal(err)
	}
	forged, err := otherSigner.Mint(t.Context(), token.Claims{Issuer: testIssuer, Subject: "ada", Audience: []string{testAudience}, Roles: []string{"admin"}, TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	e.remember(forged)
	wrongAud := e.mintClaims(token.Claims{Subject: "ada", Roles: []string{"admin"}, Audience: []string{"other"}})
	time.Sleep(1100 * time.Millisecond) // let the short token expire

	tests := []struct {
		name     string
		body     string
		hdr      []string
		status   int
		code     string
		contains string
	}{
		{name: "admin", body: fmt.Sprintf(`{"token":%q}`, e.mint("ada", "admin")), status: 200, contains: `"can_audit":true`},
		{name: "bearer prefix", body: fmt.Sprintf(`{"token":%q}`, "Bearer "+e.mint("ada", "admin")), status: 200, contains: `"subject":"ada"`},
		{name: "engineer", body: fmt.Sprintf(`{"token":%q}`, e.mint("erin", "engineer")), status: 403, code: "forbidden", contains: "console:view"},
		{name: "evaluator", body: fmt.Sprintf(`{"token":%q}`, e.mint("eve", "evaluator")), status: 403, code: "forbidden"},
		{name: "no role", body: fmt.Sprintf(`{"token":%q}`, e.mint("nobody")), status: 403, code: "forbidden"},
		{name: "agent with the admin role", body: fmt.Sprintf(`{"token":%q}`, e.mintClaims(token.Claims{Subject: "ops-bot", ClientID: "ops-bot", Roles: []string{"admin"}})), status: 403, code: "forbidden"},
		{name: "expired", body: fmt.Sprintf(`{"token":%q}`, expired), status: 401, code: console.CodeInvalidToken, contains: "expired"},
		{name: "forged", body: fmt.Sprintf(`{"token":%q}`, forged), status: 401, code: console.CodeInvalidToken, contains: "bad_signature"},
		{name: "wrong audience", body: fmt.Sprintf(`{"token":%q}`, wrongAud), status: 401, code: console.CodeInvalidToken, contains: "audience"},
		{name: "garbage", body: `{"token":"abc"}`, status: 401, code: console.CodeInvalidToken, contains: "malformed"},
		{name: "empty", body: `{"token":""}`, status: 400, code: "invalid_request"},
		{name: "unknown field", body: `{"token":"x","admin":true}`, status: 400, code: "invalid_request"},
		{name: "not JSON", body: `token=x`, status: 400, code: "invalid_request"},
		{name: "too large", body: `{"token":"` + strings.Repeat("a", 70<<10) + `"}`, status: 413, code: "request_too_large"},
		{name: "cross-site", body: fmt.Sprintf(`{"token":%q}`, e.mint("ada", "admin")), hdr: []string{"Sec-Fetch-Site", "cross-site"}, status: 403, code: console.CodeCSRF},
		{name: "foreign origin", body: fmt.Sprintf(`{"token":%q}`, e.mint("ada", "admin")), hdr: []string{"Origin", "http://evil.example"}, status: 403, code: console.CodeCSRF},
		{name: "form post", body: "x", hdr: []string{"Content-Type", "application/x-www-form-urlencoded"}, status: 415, code: "invalid_request"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := e.client()
			res, body := c.do("POST", "/console/api/session", tc.body, tc.hdr...)
			if res.StatusCode != tc.status {
				t.Fatalf("status = %d, want %d: %s", res.StatusCode, tc.status, body)
			}
			if tc.code != "" {
				if got := errorCode(t, body); got != tc.code {
					t.Errorf("code = %q, want %q", got, tc.code)
				}
			}
			if !strings.Contains(body, tc.contains) {
				t.Errorf("body %s lacks %q", body, tc.contains)
			}
			cookies := res.Header.Values("Set-Cookie")
			if tc.status != 200 {
				if len(cookies) > 0 {
					t.Errorf("a refused sign-in sets a cookie: %v", cookies)
				}
				return
			}
			if len(cookies) != 1 {
				t.Fatalf("Set-Cookie = %v", cookies)
			}
			ck := cookies[0]
			for _, want := range []string{"HttpOnly", "SameSite=Strict", "Path=/console/", "Max-Age="} {
				if !strings.Contains(ck, want) {
					t.Errorf("cookie %q lacks %s", ck, want)
				}
			}
			if strings.Contains(ck, "eyJ") {
				t.Errorf("the cookie holds the token")
			}
		})
	}
	// Sign-in decisions are audited, allowed and denied.
	entries, err := audit.Query(t.Context(), e.store, audit.Filter{Route: console.AuditRoute})
	if err != nil {
		t.Fatal(err)
	}
	var allow, deny int
	for _, en := range entries {
		if r := en.Record; r.ClientIP != "127.0.0.1" || r.Action != console.ActionView || r.Subject == "" || r.BundleRevision != "test-rev" {
			t.Errorf("audited sign-in: %+v", r)
		}
		switch en.Record.Decision {
		case audit.Allow:
			allow++
		case audit.Deny:
			deny++
		}
	}
	if allow != 2 || deny != 4 {
		t.Errorf("audited sign-ins: %d allowed, %d denied; want 2 and 4", allow, deny)
	}
	e.checkNoTokenInLogs()
}

// TestAccess: pages and APIs need a session, the audit ones audit:read, and
// every POST a same-origin request with the session's CSRF token.
func TestAccess(t *testing.T) {
	e := newEnv(t, envOptions{engineersConsole: true})
	anon := e.client()
	admin := e.client()
	if res, body := admin.signIn(e.mint("ada", "admin")); res.StatusCode != 200 {
		t.Fatal(body)
	}
	eng := e.client()
	if res, body := eng.signIn(e.mint("erin", "engineer")); res.StatusCode != 200 {
		t.Fatal(body)
	}
	verify := fmt.Sprintf(`{"token":%q}`, e.mint("eve", "evaluator"))
	tests := []struct {
		name   string
		c      *client
		method string
		path   string
		body   string
		hdr    []string
		status int
		code   string
	}{
		{"anonymous page", anon, "GET", "/console/tokens", "", nil, 303, ""},
		{"anonymous api", anon, "GET", "/console/api/policy/status", "", nil, 401, console.CodeNoSession},
		{"anonymous verify", anon, "POST", "/console/api/token/verify", verify, nil, 401, console.CodeNoSession},
		{"index signed in", admin, "GET", "/console/", "", nil, 303, ""},
		{"admin tokens", admin, "GET", "/console/tokens", "", nil, 200, ""},
		{"admin audit page", admin, "GET", "/console/audit", "", nil, 200, ""},
		{"admin audit api", admin, "GET", "/console/api/audit/records", "", nil, 200, ""},
		{"admin chain", admin, "GET", "/console/api/audit/verify", "", nil, 200, ""},
		{"engineer playground", eng, "GET", "/console/playground", "", nil, 200, ""},
		{"engineer audit page", eng, "GET", "/console/audit", "", nil, 403, ""},
		{"engineer audit api", eng, "GET", "/console/api/audit/records", "", nil, 403, "forbidden"},
		{"engineer chain", eng, "GET", "/console/api/audit/verify", "", nil, 403, "forbidden"},
		{"verify", admin, "POST", "/console/api/token/verify", verify, nil, 200, ""},
		{"no csrf", admin, "POST", "/console/api/token/verify", verify, []string{"X-CSRF-Token", ""}, 403, console.CodeCSRF},
		{"wrong csrf", admin, "POST", "/console/api/token/verify", verify, []string{"X-CSRF-Token", "nope"}, 403, console.CodeCSRF},
		{"other session's csrf", admin, "POST", "/console/api/token/verify", verify, []string{"X-CSRF-Token", eng.csrf}, 403, console.CodeCSRF},
		{"cross-site", admin, "POST", "/console/api/token/verify", verify, []string{"Sec-Fetch-Site", "same-site"}, 403, console.CodeCSRF},
		{"foreign origin", admin, "POST", "/console/api/token/verify", verify, []string{"Origin", "http://127.0.0.1:1"}, 403, console.CodeCSRF},
		{"same origin", admin, "POST", "/console/api/token/verify", verify, []string{"Origin", e.srv.URL, "Sec-Fetch-Site", "same-origin"}, 200, ""},
		{"GET a POST api", admin, "GET", "/console/api/token/verify", "", nil, 404, "not_found"},
		{"source file", admin, "GET", "/console/static/console.go", "", nil, 404, ""},
		{"escaped traversal", admin, "GET", "/console/static/..%2fconsole.go", "", nil, 404, ""},
		{"asset", anon, "GET", "/console/static/common.js", "", nil, 200, ""},
		{"asset type", admin, "GET", "/console/static/tokens.html", "", nil, 404, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, body := tc.c.do(tc.method, tc.path, tc.body, tc.hdr...)
			if res.StatusCode != tc.status {
				t.Fatalf("status = %d, want %d: %s", res.StatusCode, tc.status, body)
			}
			if tc.code != "" {
				if got := errorCode(t, body); got != tc.code {
					t.Errorf("code = %q, want %q", got, tc.code)
				}
			}
			if tc.status == 303 && res.Header.Get("Location") == "" {
				t.Error("redirect without Location")
			}
		})
	}

	// Sign-out ends the session for good.
	if res, body := admin.do("POST", "/console/api/logout", "{}"); res.StatusCode != 200 {
		t.Fatalf("logout: %d %s", res.StatusCode, body)
	}
	if res, _ := admin.do("GET", "/console/api/session", ""); res.StatusCode != 401 {
		t.Errorf("after logout: %d", res.StatusCode)
	}
}

// TestSessionExpiresWithToken: a session ends when its token would.
func TestSessionExpiresWithToken(t *testing.T) {
	clk := &testutil.Clock{}
	start := time.Now()
	clk.Set(start)
	e := newEnv(t, envOptions{clock: clk})
	c := e.client()
	tok := e.mintClaims(token.Claims{Subject: "ada", Roles: []string{"admin"}, TTL: 10 * time.Minute})
	if res, body := c.signIn(tok); res.StatusCode != 200 {
		t.Fatal(body)
	}
	clk.Set(start.Add(9 * time.Minute))
	if res, _ := c.do("GET", "/console/api/session", ""); res.StatusCode != 200 {
		t.Errorf("at 9 min: %d", res.StatusCode)
	}
	clk.Set(start.Add(10*time.Minute + time.Second))
	if res, _ := c.do("GET", "/console/api/session", ""); res.StatusCode != 401 {
		t.Errorf("after expiry: %d", res.StatusCode)
	}
}

// TestSessionEndsWhenTokenRevoked: a session lives no longer than its
// token's revocation: once the jti is on the verifier's denylist, the next
// call is refused and the session is gone.
func TestSessionEndsWhenTokenRevoked(t *testing.T) {
	deny := &denylist{}
	e := newEnv(t, envOptions{denylist: deny})
	c := e.client()
	tok := e.mint("ada", "admin")
	if res, body := c.signIn(tok); res.StatusCode != 200 {
		t.Fatal(body)
	}
	var claims struct {
		JTI string `json:"jti"`
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[1])
	if err != nil || json.Unmarshal(payload, &claims) != nil || claims.JTI == "" {
		t.Fatalf("no jti in the minted token: %v", err)
	}
	if res, _ := c.do("GET", "/console/api/session", ""); res.StatusCode != 200 {
		t.Fatalf("before revocation: %d", res.StatusCode)
	}
	deny.revoke(claims.JTI)
	if res, body := c.do("GET", "/console/api/session", ""); res.StatusCode != 401 {
		t.Fatalf("after revocation: %d %s", res.StatusCode, body)
	}
	deny.mu.Lock()
	deny.ids = nil // un-revoking does not bring the session back
	deny.mu.Unlock()
	if res, _ := c.do("GET", "/console/api/session", ""); res.StatusCode != 401 {
		t.Errorf("session still alive after revocation: %d", res.StatusCode)
	}
}

func TestGenerate(t *testing.T) {
	e := newEnv(t, envOptions{})
	c := e.client()
	if res, body := c.signIn(e.mint("ada", "admin")); res.StatusCode != 200 {
		t.Fatal(body)
	}
	tests := []struct {
		name   string
		body   string
		status int
		sub    string
	}{
		{"preset", `{"preset":"eve","ttl_seconds":600}`, 200, "eve"},
		{"subject and scopes", `{"preset":"ada","subject":"ada2","scopes":["audit:read"],"tenant":"acme","env":"staging","ttl_seconds":3600}`, 200, "ada2"},
		{"ttl over an hour", `{"preset":"eve","ttl_seconds":3601}`, 400, ""},
		{"no ttl", `{"preset":"eve"}`, 400, ""},
		{"unknown preset", `{"preset":"root","ttl_seconds":60}`, 400, ""},
		{"bad scope", `{"preset":"eve","scopes":["a b"],"ttl_seconds":60}`, 400, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, body := c.do("POST", "/console/api/token/generate", tc.body)
			if res.StatusCode != tc.status {
				t.Fatalf("status = %d, want %d: %s", res.StatusCode, tc.status, body)
			}
			if tc.status != 200 {
				return
			}
			var g struct{ Token string }
			if err := json.Unmarshal([]byte(body), &g); err != nil {
				t.Fatal(err)
			}
			e.remember(g.Token)
			// The generated token verifies against the server's issuers.
			_, vb := c.do("POST", "/console/api/token/verify", fmt.Sprintf(`{"token":%q,"source":"issuers"}`, g.Token))
			if !strings.Contains(vb, `"valid":true`) || !strings.Contains(vb, `"subject":"`+tc.sub+`"`) {
				t.Errorf("verify the generated token: %s", vb)
			}
		})
	}

	off := newEnv(t, envOptions{noMint: true})
	oc := off.client()
	if res, body := oc.signIn(off.mint("ada", "admin")); res.StatusCode != 200 {
		t.Fatal(body)
	}
	res, body := oc.do("POST", "/console/api/token/generate", `{"preset":"eve","ttl_seconds":60}`)
	if res.StatusCode != 404 || errorCode(t, body) != console.CodeMintDisabled {
		t.Errorf("without a development key: %d %s", res.StatusCode, body)
	}
	e.checkNoTokenInLogs()
}

func TestVerifyPastedKeys(t *testing.T) {
	e := newEnv(t, envOptions{})
	c := e.client()
	if res, body := c.signIn(e.mint("ada", "admin")); res.StatusCode != 200 {
		t.Fatal(body)
	}
	set := e.jwks()
	tok := e.mint("eve", "evaluator")
	req := func(keys, iss, aud, alg string) string {
		m := map[string]any{"token": tok, "source": "keys", "keys": keys, "iss": iss, "aud": []string{aud}}
		if alg != "" {
			m["alg"] = []string{alg}
		}
		b, _ := json.Marshal(m)
		return string(b)
	}
	tests := []struct {
		name   string
		body   string
		status int
		want   string
	}{
		{"jwks", req(set, testIssuer, testAudience, ""), 200, `"valid":true`},
		{"wrong audience", req(set, testIssuer, "other", ""), 200, `"reason":"audience"`},
		{"wrong issuer", req(set, "https://other/", testAudience, ""), 200, `"reason":"issuer"`},
		{"algorithm not allowed", req(set, testIssuer, testAudience, "ES256"), 400, `invalid_request`},
		{"no issuer", req(set, "", testAudience, ""), 400, "issuer"},
		{"not a key", req("hello", testIssuer, testAudience, ""), 400, "JWK"},
		{"unknown source", `{"token":"x","source":"url"}`, 400, "source"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, body := c.do("POST", "/console/api/token/verify", tc.body)
			if res.StatusCode != tc.status || !strings.Contains(body, tc.want) {
				t.Errorf("status %d body %s; want %d with %q", res.StatusCode, body, tc.status, tc.want)
			}
		})
	}
}

func TestPlayground(t *testing.T) {
	e := newEnv(t, envOptions{})
	c := e.client()
	if res, body := c.signIn(e.mint("ada", "admin")); res.StatusCode != 200 {
		t.Fatal(body)
	}
	evalTok := e.mint("eve", "evaluator")
	tests := []struct {
		name    string
		body    string
		status  int
		allowed bool
		want    string
	}{
		{"claims allow", `{"claims":{"sub":"eve","roles":["evaluator"],"tenant":"acme"},"action":"trace:read","resource":"Trace::\"t-1\"","attributes":{"tenant":"acme"}}`, 200, true, "permitted by evaluator-read-traces"},
		{"token deny", fmt.Sprintf(`{"token":%q,"action":"prompt:write","resource":"Prompt::\"p-1\"","attributes":{"tenant":"acme"}}`, evalTok), 200, false, "forbidden by evaluator-no-prompt-changes"},
		{"context", `{"claims":{"sub":"ada","roles":["admin"]},"action":"secret:read","resource":"Secret::\"k\"","context":{"auth_age":60}}`, 200, true, "admin-read-secrets"},
		{"both", fmt.Sprintf(`{"token":%q,"claims":{},"action":"a","resource":"T::\"x\""}`, evalTok), 400, false, "exactly one"},
		{"no action", `{"claims":{"sub":"x"},"resource":"T::\"x\""}`, 400, false, "action"},
		{"bad resource", `{"claims":{"sub":"x"},"action":"a","resource":"gpt-4o"}`, 400, false, "Cedar entity"},
		{"claims not an object", `{"claims":[1],"action":"a","resource":"T::\"x\""}`, 400, false, "JSON object"},
		{"bad token", `{"token":"a.b","action":"a","resource":"T::\"x\""}`, 400, false, "does not decode"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, body := c.do("POST", "/console/api/policy/eval", tc.body)
			if res.StatusCode != tc.status {
				t.Fatalf("status = %d, want %d: %s", res.StatusCode, tc.status, body)
			}
			if !strings.Contains(body, tc.want) {
				t.Errorf("body lacks %q: %s", tc.want, body)
			}
			if tc.status != 200 {
				return
			}
			var r struct {
				Decision struct {
					Allowed  bool
					Revision string
				}
				Explain string
				Status  struct{ Engine struct{ Loaded bool } }
			}
			if err := json.Unmarshal([]byte(body), &r); err != nil {
				t.Fatal(err)
			}
			if r.Decision.Allowed != tc.allowed || r.Decision.Revision != "test-rev" || !r.Status.Engine.Loaded {
				t.Errorf("decision %+v, status %+v", r.Decision, r.Status)
			}
			if !strings.HasPrefix(r.Explain, map[bool]string{true: "ALLOW\n", false: "DENY\n"}[tc.allowed]) {
				t.Errorf("explain = %q", r.Explain)
			}
		})
	}
	_, body := c.do("GET", "/console/api/policy/status", "")
	if !strings.Contains(body, `"revision":"test-rev"`) || !strings.Contains(body, `"loaded":true`) || strings.Contains(body, "last_error") {
		t.Errorf("status = %s", body)
	}
	// A refused bundle shows as the last load error; the last good one
	// keeps serving.
	e.engine.Fail(errors.New("bundle signature does not verify"))
	_, body = c.do("GET", "/console/api/policy/status", "")
	if !strings.Contains(body, `"last_error":"bundle signature does not verify"`) || !strings.Contains(body, `"failures":1`) || !strings.Contains(body, `"loaded":true`) {
		t.Errorf("status after a failed load = %s", body)
	}
}

func TestAuditAPI(t *testing.T) {
	e := newEnv(t, envOptions{})
	c := e.client()
	base := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	for i := range 7 {
		dec := audit.Allow
		if i%2 == 1 {
			dec = audit.Deny
		}
		e.appendRecord(audit.Record{Time: base.Add(time.Duration(i) * time.Minute), RequestID: fmt.Sprintf("r%d", i),
			Subject: []string{"eve", "oscar"}[i%2], Action: "trace:read", Route: "trace-read", Decision: dec,
			ResourceType: "Trace", ResourceID: "t"})
	}
	if res, body := c.signIn(e.mint("ada", "admin")); res.StatusCode != 200 {
		t.Fatal(body)
	}
	type page struct {
		Records []struct {
			Seq     uint64
			Subject string
			Cursor  string
		}
		Next string
	}
	get := func(q string) (int, page, string) {
		res, body := c.do("GET", "/console/api/audit/records?"+q, "")
		var p page
		_ = json.Unmarshal([]byte(body), &p)
		return res.StatusCode, p, body
	}
	tests := []struct {
		name   string
		query  string
		status int
		seqs   []uint64
	}{
		{"all of the seeded hour", "since=2026-12-01T12:00:00Z&until=2026-12-01T13:00:00Z", 200, []uint64{1, 2, 3, 4, 5, 6, 7}},
		{"subject", "subject=oscar", 200, []uint64{2, 4, 6}},
		{"decision", "decision=allow&route=trace-read", 200, []uint64{1, 3, 5, 7}},
		{"window", "since=2026-12-01T12:02:00Z&until=2026-12-01T12:04:00Z", 200, []uint64{3, 4}},
		{"console sign-in", "route=console&action=console:view", 200, []uint64{8}},
		{"bad decision", "decision=maybe", 400, nil},
		{"bad time", "since=yesterday", 400, nil},
		{"inverted window", "since=2026-12-01T13:00:00Z&until=2026-12-01T12:00:00Z", 400, nil},
		{"unknown parameter", "sql=1", 400, nil},
		{"repeated parameter", "subject=a&subject=b", 400, nil},
		{"bad cursor", "after=x", 400, nil},
		{"bad limit", "limit=0", 400, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, p, body := get(tc.query)
			if status != tc.status {
				t.Fatalf("status = %d, want %d: %s", status, tc.status, body)
			}
			var got []uint64
			for _, r := range p.Records {
				got = append(got, r.Seq)
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.seqs) && tc.status == 200 {
				t.Errorf("seqs = %v, want %v", got, tc.seqs)
			}
		})
	}
	// Pages continue from the cursor.
	_, p1, _ := get("limit=3&route=trace-read")
	if len(p1.Records) != 3 || p1.Next == "" {
		t.Fatalf("first page: %+v", p1)
	}
	_, p2, _ := get("limit=3&route=trace-read&after=" + p1.Next)
	if len(p2.Records) != 3 || p2.Records[0].Seq != 4 {
		t.Errorf("second page: %+v", p2)
	}
	_, p3, _ := get("limit=3&route=trace-read&after=" + p2.Next)
	if len(p3.Records) != 1 || p3.Next != "" {
		t.Errorf("last page: %+v", p3)
	}

	_, body := c.do("GET", "/console/api/audit/verify", "")
	if !strings.Contains(body, `"ok":true`) || !strings.Contains(body, `"node":"`+testNode+`"`) {
		t.Errorf("verify = %s", body)
	}
}

// TestAuditTampered: an edited record stops the list (409 tampered) rather
// than being shown, and the chain verification names the damage.
func TestAuditTampered(t *testing.T) {
	e := newEnv(t, envOptions{})
	for i := range 3 {
		e.appendRecord(audit.Record{RequestID: fmt.Sprintf("r%d", i), Subject: "eve", Action: "trace:read", Decision: audit.Allow})
	}
	c := e.client()
	if res, body := c.signIn(e.mint("ada", "admin")); res.StatusCode != 200 {
		t.Fatal(body)
	}
	if _, body := c.do("GET", "/console/api/audit/verify", ""); !strings.Contains(body, `"ok":true`) {
		t.Fatalf("before tampering: %s", body)
	}
	e.backend.DropAppendOnly(t)
	e.backend.Exec(t, "UPDATE audit_records SET subject = 'mallory' WHERE seq = 2")

	res, body := c.do("GET", "/console/api/audit/records", "")
	if res.StatusCode != http.StatusConflict || errorCode(t, body) != console.CodeTampered || strings.Contains(body, "mallory") {
		t.Errorf("records after tampering: %d %s", res.StatusCode, body)
	}
	_, body = c.do("GET", "/console/api/audit/verify", "")
	var v struct {
		OK     bool
		Chains []struct {
			OK     bool
			Fault  string
			BadSeq uint64 `json:"bad_seq"`
		}
	}
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		t.Fatal(err)
	}
	if v.OK || len(v.Chains) != 1 || v.Chains[0].OK || v.Chains[0].Fault != string(audit.FaultEdited) || v.Chains[0].BadSeq != 2 {
		t.Errorf("verify after tampering: %s", body)
	}
}
