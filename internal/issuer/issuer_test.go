package issuer_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/wardenhq/warden/internal/authn"
	"github.com/wardenhq/warden/internal/issuer"
	"github.com/wardenhq/warden/internal/jwk"
	"github.com/wardenhq/warden/internal/store"
	"github.com/wardenhq/warden/internal/store/storetest"
	"github.com/wardenhq/warden/internal/token"
)

var (
	agentScopes = []string{"model:invoke", "trace:read", "models:premium"}
	ccGrants    = []string{issuer.GrantClientCredentials}
	allGrants   = []string{issuer.GrantClientCredentials, issuer.GrantRefreshToken, issuer.GrantTokenExchange}
)

// TestRealClients: golang.org/x/oauth2/clientcredentials obtains a token the
// gateway's verifier accepts, and go-oidc verifies it starting from the
// discovery document.
func TestRealClients(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, b *storetest.Backend) {
		e := newEnv(t, b)
		secret := e.addClient("agent-1", agentScopes, ccGrants...)
		cc := clientcredentials.Config{ClientID: "agent-1", ClientSecret: secret, TokenURL: e.url + issuer.TokenPath, Scopes: []string{"model:invoke"}}
		tok, err := cc.Token(t.Context())
		if err != nil {
			t.Fatalf("clientcredentials: %v", err)
		}
		if tok.TokenType != "Bearer" || tok.Expiry.IsZero() || tok.RefreshToken != "" {
			t.Fatalf("token %+v", tok)
		}
		if d := time.Until(tok.Expiry); d < 9*time.Minute || d > 10*time.Minute+time.Second {
			t.Errorf("default lifetime %v, want 10m", d)
		}
		p, err := e.verifier.Verify(t.Context(), tok.AccessToken)
		if err != nil {
			t.Fatalf("the gateway's verifier refuses the token: %v", err)
		}
		if p.Subject != "agent-1" || p.ClientID != "agent-1" || !slices.Equal(p.Scopes, []string{"model:invoke"}) || p.TokenID == "" {
			t.Errorf("principal %+v", p)
		}

		provider, err := oidc.NewProvider(t.Context(), e.url)
		if err != nil {
			t.Fatalf("go-oidc discovery: %v", err)
		}
		idt, err := provider.Verifier(&oidc.Config{ClientID: audience}).Verify(t.Context(), tok.AccessToken)
		if err != nil {
			t.Fatalf("go-oidc verify: %v", err)
		}
		if idt.Subject != "agent-1" || idt.Issuer != e.url {
			t.Errorf("go-oidc token %+v", idt)
		}
		var claims struct {
			ClientID string `json:"client_id"`
			Scope    string `json:"scope"`
			JTI      string `json:"jti"`
		}
		if err := idt.Claims(&claims); err != nil || claims.ClientID != "agent-1" || claims.Scope != "model:invoke" || claims.JTI == "" {
			t.Errorf("claims %+v, %v", claims, err)
		}
		// The wrong secret is refused by the client library too.
		cc.ClientSecret = secret + "x"
		if _, err := cc.Token(t.Context()); err == nil || !strings.Contains(err.Error(), "invalid_client") {
			t.Fatalf("wrong secret: %v", err)
		}
	})
}

// TestTokenErrors: RFC 6749 error codes and statuses.
func TestTokenErrors(t *testing.T) {
	e := newEnv(t, storetest.NewSQLite(t))
	secret := e.addClient("agent-1", agentScopes, ccGrants...)
	other := e.addClient("agent-2", nil, issuer.GrantRefreshToken)
	cc := form("grant_type", issuer.GrantClientCredentials)
	tests := []struct {
		name       string
		id, secret string
		form       string
		wantStatus int
		wantErr    string
		basicChall bool
	}{
		{"wrong secret, Basic", "agent-1", "nope", cc.Encode(), 401, "invalid_client", true},
		{"unknown client, Basic", "ghost", secret, cc.Encode(), 401, "invalid_client", true},
		{"wrong secret, post", "", "", "grant_type=client_credentials&client_id=agent-1&client_secret=nope", 401, "invalid_client", false},
		{"no credentials", "", "", cc.Encode(), 401, "invalid_client", false},
		{"two methods", "agent-1", secret, "grant_type=client_credentials&client_secret=" + secret, 400, "invalid_request", false},
		{"no grant type", "agent-1", secret, "", 400, "invalid_request", false},
		{"unknown grant type", "agent-1", secret, "grant_type=password", 400, "unsupported_grant_type", false},
		{"grant not allowed", "agent-2", other, cc.Encode(), 400, "unauthorized_client", false},
		{"scope widened", "agent-1", secret, "grant_type=client_credentials&scope=admin", 400, "invalid_scope", false},
		{"malformed scope", "agent-1", secret, "grant_type=client_credentials&scope=a++b", 400, "invalid_scope", false},
		{"audience not allowed", "agent-1", secret, "grant_type=client_credentials&audience=elsewhere", 400, "invalid_target", false},
		{"repeated parameter", "agent-1", secret, "grant_type=client_credentials&scope=a&scope=b", 400, "invalid_request", false},
		{"refresh without token", "agent-2", other, "grant_type=refresh_token", 400, "invalid_request", false},
		{"unknown refresh token", "agent-2", other, "grant_type=refresh_token&refresh_token=wrt_nope", 400, "invalid_grant", false},
		{"exchange not allowed", "agent-1", secret, "grant_type=" + issuer.GrantTokenExchange + "&subject_token=x&subject_token_type=" + issuer.TokenTypeJWT, 400, "unauthorized_client", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, e.url+issuer.TokenPath, strings.NewReader(tc.form))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			if tc.id != "" {
				req.SetBasicAuth(tc.id, tc.secret)
			}
			code, h, m := e.do(req)
			wantError(t, code, m, tc.wantStatus, tc.wantErr)
			if got := h.Get("WWW-Authenticate") != ""; got != tc.basicChall {
				t.Errorf("WWW-Authenticate %q, want a challenge: %v", h.Get("WWW-Authenticate"), tc.basicChall)
			}
			if h.Get("Cache-Control") != "no-store" {
				t.Errorf("Cache-Control %q", h.Get("Cache-Control"))
			}
			if strings.Contains(fmt.Sprint(m), secret) {
				t.Errorf("the answer shows the secret")
			}
		})
	}
	t.Run("transport", func(t *testing.T) {
		for _, tc := range []struct {
			name, method, ctype, body string
			want                      int
		}{
			{"GET", http.MethodGet, "", "", 405},
			{"JSON body", http.MethodPost, "application/json", "{}", 400},
			{"too large", http.MethodPost, "application/x-www-form-urlencoded", "scope=" + strings.Repeat("a", issuer.DefaultMaxFormBytes), 413},
			{"bad encoding", http.MethodPost, "application/x-www-form-urlencoded", "a=%zz", 400},
		} {
			req, _ := http.NewRequest(tc.method, e.url+issuer.TokenPath, strings.NewReader(tc.body))
			if tc.ctype != "" {
				req.Header.Set("Content-Type", tc.ctype)
			}
			req.SetBasicAuth("agent-1", secret)
			code, _, m := e.do(req)
			if code != tc.want || m["error"] != "invalid_request" {
				t.Errorf("%s: %d %v, want %d invalid_request", tc.name, code, m, tc.want)
			}
		}
	})
	t.Run("post authentication works", func(t *testing.T) {
		e.tokenOK("", "", form("grant_type", "client_credentials", "client_id", "agent-1", "client_secret", secret, "scope", "trace:read"))
	})
	st := e.iss.Stats()
	if st.Issued["client_credentials"] != 1 || st.Refused["invalid_client"] != 4 || st.Refused["invalid_scope"] != 2 || st.PublishedKeys != 2 {
		t.Errorf("Stats = %+v", st)
	}
}

// TestRefresh: rotation on every use, scope only narrows, reuse revokes the
// family (and its access tokens), the client binding, idle and absolute
// lifetimes, and 20 concurrent uses of one token.
func TestRefresh(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, b *storetest.Backend) {
		e := newEnv(t, b)
		secret := e.addClient("agent-1", agentScopes, issuer.GrantClientCredentials, issuer.GrantRefreshToken)
		otherSecret := e.addClient("agent-2", agentScopes, issuer.GrantClientCredentials, issuer.GrantRefreshToken)
		first := e.tokenOK("agent-1", secret, form("grant_type", "client_credentials", "scope", "model:invoke trace:read"))
		rt1, _ := first["refresh_token"].(string)
		if !strings.HasPrefix(rt1, issuer.RefreshPrefix) || len(rt1) < len(issuer.RefreshPrefix)+22 {
			t.Fatalf("refresh token %q: want the prefix and at least 128 bits", rt1)
		}

		t.Run("another client's token is refused", func(t *testing.T) {
			code, _, m := e.post(issuer.TokenPath, "agent-2", otherSecret, form("grant_type", "refresh_token", "refresh_token", rt1))
			wantError(t, code, m, 400, "invalid_grant")
		})
		t.Run("scope may only narrow", func(t *testing.T) {
			code, _, m := e.post(issuer.TokenPath, "agent-1", secret, form("grant_type", "refresh_token", "refresh_token", rt1, "scope", "models:premium"))
			wantError(t, code, m, 400, "invalid_scope")
		})
		// Neither refusal consumed the token.
		second := e.tokenOK("agent-1", secret, form("grant_type", "refresh_token", "refresh_token", rt1, "scope", "trace:read"))
		rt2 := second["refresh_token"].(string)
		if rt2 == rt1 || second["scope"] != "trace:read" {
			t.Fatalf("rotation: %v", second)
		}
		at2 := second["access_token"].(string)
		if _, err := e.verifier.Verify(t.Context(), at2); err != nil {
			t.Fatal(err)
		}
		// The rotated refresh token keeps the original scope (RFC 6749 §6).
		third := e.tokenOK("agent-1", secret, form("grant_type", "refresh_token", "refresh_token", rt2))
		if third["scope"] != "model:invoke trace:read" {
			t.Fatalf("scope after rotation %v", third["scope"])
		}
		rt3 := third["refresh_token"].(string)

		t.Run("reuse revokes the family", func(t *testing.T) {
			// Even with a scope that would be refused: reuse is judged first.
			code, _, m := e.post(issuer.TokenPath, "agent-1", secret, form("grant_type", "refresh_token", "refresh_token", rt1, "scope", "admin"))
			wantError(t, code, m, 400, "invalid_grant")
			code, _, m = e.post(issuer.TokenPath, "agent-1", secret, form("grant_type", "refresh_token", "refresh_token", rt3))
			wantError(t, code, m, 400, "invalid_grant")
			var ve *authn.VerifyError
			if _, err := e.verifier.Verify(t.Context(), at2); !errors.As(err, &ve) || ve.Reason != authn.ReasonRevoked {
				t.Fatalf("access token of a revoked family: %v", err)
			}
			if m := e.introspect("agent-1", secret, third["access_token"].(string)); m["active"] != false {
				t.Fatalf("introspection of a revoked family's token: %v", m)
			}
		})

		t.Run("20 concurrent uses", func(t *testing.T) {
			rt := e.tokenOK("agent-1", secret, form("grant_type", "client_credentials"))["refresh_token"].(string)
			var wg sync.WaitGroup
			codes := make([]int, 20)
			bodies := make([]map[string]any, 20)
			for i := range codes {
				wg.Go(func() {
					codes[i], _, bodies[i] = e.post(issuer.TokenPath, "agent-1", secret, form("grant_type", "refresh_token", "refresh_token", rt))
				})
			}
			wg.Wait()
			var winner string
			for i, c := range codes {
				switch {
				case c == 200 && winner == "":
					winner = bodies[i]["refresh_token"].(string)
				case c == 200:
					t.Fatalf("two concurrent uses succeeded")
				case bodies[i]["error"] != "invalid_grant":
					t.Fatalf("a loser got %d %v", c, bodies[i])
				}
			}
			if winner == "" {
				t.Fatal("no concurrent use succeeded")
			}
			code, _, m := e.post(issuer.TokenPath, "agent-1", secret, form("grant_type", "refresh_token", "refresh_token", winner))
			wantError(t, code, m, 400, "invalid_grant") // the family is revoked
		})

		t.Run("idle and absolute lifetimes", func(t *testing.T) {
			rt := e.tokenOK("agent-1", secret, form("grant_type", "client_credentials"))["refresh_token"].(string)
			e.clock.Advance(issuer.DefaultRefreshIdleTTL + time.Second)
			code, _, m := e.post(issuer.TokenPath, "agent-1", secret, form("grant_type", "refresh_token", "refresh_token", rt))
			wantError(t, code, m, 400, "invalid_grant")
			rt = e.tokenOK("agent-1", secret, form("grant_type", "client_credentials"))["refresh_token"].(string)
			// Used every 20h, it still dies at the family's absolute end.
			for elapsed := time.Duration(0); ; elapsed += 20 * time.Hour {
				e.clock.Advance(20 * time.Hour)
				code, _, m := e.post(issuer.TokenPath, "agent-1", secret, form("grant_type", "refresh_token", "refresh_token", rt))
				if code != 200 {
					wantError(t, code, m, 400, "invalid_grant")
					if elapsed+20*time.Hour < issuer.DefaultRefreshTokenTTL {
						t.Fatalf("refused after %v, before the absolute lifetime", elapsed)
					}
					break
				}
				if elapsed > issuer.DefaultRefreshTokenTTL {
					t.Fatalf("still refreshing after %v", elapsed)
				}
				rt = m["refresh_token"].(string)
				if exp := m["expires_in"].(float64); exp > issuer.DefaultAccessTokenTTL.Seconds() {
					t.Fatalf("expires_in %v", exp)
				}
			}
		})
	})
}

// TestTokenExchange: an agent acting for a user, end to end.
func TestTokenExchange(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, b *storetest.Backend) {
		e := newEnv(t, b)
		secret := e.addClient("support-bot", agentScopes, allGrants...)
		user := e.userToken("alice", 5*time.Minute, []string{"evaluator"}, []string{"trace:read", "model:invoke", "pii:read"})
		actor := e.tokenOK("support-bot", secret, form("grant_type", "client_credentials", "scope", "model:invoke"))["access_token"].(string)
		exch := func(kv ...string) (int, map[string]any) {
			f := form(append([]string{"grant_type", issuer.GrantTokenExchange, "subject_token", user, "subject_token_type", issuer.TokenTypeAccessToken}, kv...)...)
			code, _, m := e.post(issuer.TokenPath, "support-bot", secret, f)
			return code, m
		}
		code, m := exch("actor_token", actor, "actor_token_type", issuer.TokenTypeAccessToken, "scope", "trace:read")
		if code != 200 {
			t.Fatalf("exchange: %d %v", code, m)
		}
		if m["issued_token_type"] != issuer.TokenTypeAccessToken || m["scope"] != "trace:read" {
			t.Fatalf("exchange answer %v", m)
		}
		if exp := m["expires_in"].(float64); exp > 5*60 {
			t.Fatalf("the exchanged token outlives the subject token: expires_in %v", exp)
		}
		p, err := e.verifier.Verify(t.Context(), m["access_token"].(string))
		if err != nil {
			t.Fatal(err)
		}
		if p.Subject != "alice" || p.ClientID != "support-bot" || len(p.Actor) != 1 || p.Actor[0].Subject != "support-bot" ||
			!slices.Equal(p.Roles, []string{"evaluator"}) || p.Tenant != "acme" || !p.Delegated() {
			t.Fatalf("delegated principal %+v", p)
		}
		recs := e.auditRecords(issuer.ActionExchange)
		if len(recs) == 0 {
			t.Fatal("no audit record of the exchange")
		}
		r := recs[len(recs)-1]
		if r.Subject != "alice" || !slices.Equal(r.Actors, []string{"support-bot"}) || r.ClientID != "support-bot" || r.Decision != "allow" ||
			r.JTI != p.TokenID || !slices.Contains(r.Policies, "user-token-exchange") {
			t.Fatalf("audit record %+v", r)
		}

		for _, tc := range []struct {
			name    string
			kv      []string
			want    string
			wantMsg string
		}{
			{"scope widened beyond the user", []string{"scope", "models:premium"}, "invalid_scope", ""},
			{"scope the client may not hold", []string{"scope", "pii:read"}, "invalid_scope", ""},
			{"audience not allowed", []string{"audience", "billing"}, "invalid_target", ""},
			{"actor token of another client", []string{"actor_token", e.tokenOK("agent-x", e.addClient("agent-x", nil, ccGrants...), form("grant_type", "client_credentials"))["access_token"].(string), "actor_token_type", issuer.TokenTypeJWT}, "invalid_grant", ""},
			{"actor token without type", []string{"actor_token", actor}, "invalid_request", ""},
			{"requested refresh type", []string{"requested_token_type", "urn:ietf:params:oauth:token-type:refresh_token"}, "invalid_request", ""},
		} {
			t.Run(tc.name, func(t *testing.T) {
				code, m := exch(tc.kv...)
				wantError(t, code, m, 400, tc.want)
			})
		}
		t.Run("subject token must verify", func(t *testing.T) {
			for name, subj := range map[string]string{
				"garbage": "not-a-token",
				"expired": e.userToken("bob", time.Second, nil, nil),
				"wrong issuer": func() string {
					tok, _ := e.idp.Mint(t.Context(), tokenClaims("https://evil.example", "bob"))
					return tok
				}(),
			} {
				if name == "expired" {
					e.clock.Advance(2 * time.Minute)
				}
				f := form("grant_type", issuer.GrantTokenExchange, "subject_token", subj, "subject_token_type", issuer.TokenTypeJWT)
				code, _, m := e.post(issuer.TokenPath, "support-bot", secret, f)
				wantError(t, code, m, 400, "invalid_grant")
			}
		})
		t.Run("policy narrows the scopes per scope", func(t *testing.T) {
			// triage-bot is a staging agent: the reference bundle's
			// no-pii-scope-for-staging-agents refuses it pii:read.
			tsecret := e.addClient("triage-bot", []string{"trace:read", "pii:read"}, allGrants...)
			u := e.userToken("uma", 5*time.Minute, []string{"evaluator"}, []string{"trace:read", "pii:read"})
			ex := func(kv ...string) (int, map[string]any) {
				f := form(append([]string{"grant_type", issuer.GrantTokenExchange, "subject_token", u, "subject_token_type", issuer.TokenTypeJWT}, kv...)...)
				code, _, m := e.post(issuer.TokenPath, "triage-bot", tsecret, f)
				return code, m
			}
			code, m := ex("scope", "trace:read pii:read")
			wantError(t, code, m, 400, "invalid_scope")
			if desc, _ := m["error_description"].(string); !strings.Contains(desc, `"pii:read"`) || !strings.Contains(desc, "never delegated the pii:read scope") {
				t.Errorf("error_description %q does not name the scope and the policy's reason", desc)
			}
			recs := e.auditRecords(issuer.ActionExchange)
			if r := recs[len(recs)-1]; r.Decision != "deny" || !slices.Contains(r.Policies, "no-pii-scope-for-staging-agents") {
				t.Errorf("audit record of the refused scope: %+v", r)
			}
			code, m = ex()
			if code != 200 || m["scope"] != "trace:read" {
				t.Fatalf("defaulted scopes: %d %v, want 200 with scope trace:read only", code, m)
			}
			code, m = ex("scope", "trace:read")
			if code != 200 || m["scope"] != "trace:read" {
				t.Fatalf("scope trace:read: %d %v", code, m)
			}
		})
		t.Run("policy denies an agent subject", func(t *testing.T) {
			// An agent's own token is not a user delegating: no permit.
			f := form("grant_type", issuer.GrantTokenExchange, "subject_token", actor, "subject_token_type", issuer.TokenTypeJWT)
			code, _, m := e.post(issuer.TokenPath, "support-bot", secret, f)
			wantError(t, code, m, 400, "invalid_grant")
		})
		t.Run("refresh never outlives the subject", func(t *testing.T) {
			u := e.userToken("carol", time.Minute, []string{"evaluator"}, []string{"trace:read"})
			f := form("grant_type", issuer.GrantTokenExchange, "subject_token", u, "subject_token_type", issuer.TokenTypeJWT)
			m := e.tokenOK("support-bot", secret, f)
			rt := m["refresh_token"].(string)
			e.clock.Advance(61 * time.Second)
			code, _, m := e.post(issuer.TokenPath, "support-bot", secret, form("grant_type", "refresh_token", "refresh_token", rt))
			wantError(t, code, m, 400, "invalid_grant")
		})
	})
}

// TestIntrospectAndRevoke: inactive answers say nothing else; revoking
// another client's token changes nothing; revocation reaches the verifier.
func TestIntrospectAndRevoke(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, b *storetest.Backend) {
		e := newEnv(t, b)
		s1 := e.addClient("agent-1", agentScopes, issuer.GrantClientCredentials, issuer.GrantRefreshToken)
		s2 := e.addClient("agent-2", agentScopes, issuer.GrantClientCredentials, issuer.GrantRefreshToken)
		m1 := e.tokenOK("agent-1", s1, form("grant_type", "client_credentials"))
		at, rt := m1["access_token"].(string), m1["refresh_token"].(string)

		if m := e.introspect("agent-2", s2, at); m["active"] != true || m["client_id"] != "agent-1" || m["sub"] != "agent-1" || m["jti"] == "" {
			t.Fatalf("introspection of an active token: %v", m)
		}
		// A token for another audience the client may request is Warden's
		// too: introspection answers for it.
		if err := e.st.Issuer().AddClient(t.Context(), store.Client{ID: "billing-agent", SecretHash: issuer.HashSecret("wcs_b"), Audiences: []string{"billing"},
			GrantTypes: ccGrants, Created: e.clock.Now()}); err != nil {
			t.Fatal(err)
		}
		billing := e.tokenOK("billing-agent", "wcs_b", form("grant_type", "client_credentials"))["access_token"].(string)
		if m := e.introspect("agent-2", s2, billing); m["active"] != true || fmt.Sprint(m["aud"]) != "[billing]" {
			t.Fatalf("introspection of a token for another audience: %v", m)
		}
		if _, err := e.verifier.Verify(t.Context(), billing); err == nil {
			t.Fatal("the gateway accepted a token for another audience")
		}
		if m := e.introspect("agent-1", s1, rt); m["active"] != true || m["token_type"] != "refresh_token" {
			t.Fatalf("introspection of an active refresh token by its client: %v", m)
		}
		code, _, m := e.post(issuer.IntrospectPath, "", "", form("token", at))
		wantError(t, code, m, 401, "invalid_client")

		shortLived := e.tokenOK("agent-2", s2, form("grant_type", "client_credentials"))["access_token"].(string)
		foreign := e.userToken("alice", time.Hour, nil, nil)
		revoked := e.tokenOK("agent-2", s2, form("grant_type", "client_credentials"))["access_token"].(string)
		if code, _, _ := e.post(issuer.RevokePath, "agent-2", s2, form("token", revoked)); code != 200 {
			t.Fatalf("revoke: %d", code)
		}
		inactiveCases := map[string]string{
			"unknown":                  "wrt_unknown",
			"malformed":                "a.b.c",
			"garbage":                  "%%%",
			"foreign":                  foreign,
			"revoked":                  revoked,
			"another client's refresh": rt, // asked by agent-2
			"tampered":                 tamperSignature(at),
		}
		for name, tok := range inactiveCases {
			if m := e.introspect("agent-2", s2, tok); len(m) != 1 || m["active"] != false {
				t.Errorf("%s: introspection %v, want only active:false", name, m)
			}
		}

		// Revoking another client's tokens has no effect.
		for _, tok := range []string{at, rt} {
			if code, _, _ := e.post(issuer.RevokePath, "agent-2", s2, form("token", tok)); code != 200 {
				t.Fatalf("revoke of another client's token: %d, want 200", code)
			}
		}
		if _, err := e.verifier.Verify(t.Context(), at); err != nil {
			t.Fatalf("another client revoked agent-1's token: %v", err)
		}
		e.tokenOK("agent-1", s1, form("grant_type", "refresh_token", "refresh_token", rt))

		// Revoking one's own access token denies it at once, cache included.
		if _, err := e.verifier.Verify(t.Context(), at); err != nil {
			t.Fatal(err)
		}
		if code, _, _ := e.post(issuer.RevokePath, "agent-1", s1, form("token", at)); code != 200 {
			t.Fatal("revoke failed")
		}
		var ve *authn.VerifyError
		if _, err := e.verifier.Verify(t.Context(), at); !errors.As(err, &ve) || ve.Reason != authn.ReasonRevoked {
			t.Fatalf("revoked token: %v", err)
		}
		// Expired.
		e.clock.Advance(issuer.DefaultAccessTokenTTL + time.Minute)
		if m := e.introspect("agent-2", s2, shortLived); len(m) != 1 || m["active"] != false {
			t.Errorf("expired: %v", m)
		}
	})
}

// TestKeyRotation: the next key is published before it signs; tokens of
// the old key stay valid until they expire and are refused after.
func TestKeyRotation(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, b *storetest.Backend) {
		e := newEnv(t, b)
		secret := e.addClient("agent-1", agentScopes, ccGrants...)
		before := e.keys.KeyIDs()
		if len(before) != 2 {
			t.Fatalf("published %v, want current and next", before)
		}
		oldKID := e.keys.Signer().KeyID()
		next := ""
		for _, k := range before {
			if k != oldKID {
				next = k
			}
		}
		old := e.tokenOK("agent-1", secret, form("grant_type", "client_credentials"))["access_token"].(string)
		if err := e.keys.Rotate(t.Context(), e.clock.Now().Add(issuer.DefaultAccessTokenTTL+time.Minute)); err != nil {
			t.Fatal(err)
		}
		if e.keys.Signer().KeyID() != next {
			t.Fatalf("after rotation signing with %s, want the pre-published %s", e.keys.Signer().KeyID(), next)
		}
		if ids := e.keys.KeyIDs(); len(ids) != 3 || !slices.Contains(ids, oldKID) {
			t.Fatalf("published after rotation: %v", ids)
		}
		code, h, m := e.do(mustGet(t, e.url+issuer.JWKSPath))
		if code != 200 || len(m["keys"].([]any)) != 3 || !strings.Contains(h.Get("Content-Type"), "jwk-set") {
			t.Fatalf("JWKS: %d %v", code, m)
		}
		fresh := e.tokenOK("agent-1", secret, form("grant_type", "client_credentials"))["access_token"].(string)
		for _, tok := range []string{old, fresh} {
			if _, err := e.verifier.Verify(t.Context(), tok); err != nil {
				t.Fatalf("after rotation: %v", err)
			}
		}
		provider, err := oidc.NewProvider(t.Context(), e.url)
		if err != nil {
			t.Fatal(err)
		}
		ov := provider.Verifier(&oidc.Config{ClientID: audience, Now: e.clock.Now})
		if _, err := ov.Verify(t.Context(), old); err != nil {
			t.Fatalf("go-oidc, old key: %v", err)
		}
		e.clock.Advance(issuer.DefaultAccessTokenTTL + 2*time.Minute)
		var ve *authn.VerifyError
		if _, err := e.verifier.Verify(t.Context(), old); !errors.As(err, &ve) || ve.Reason != authn.ReasonExpired {
			t.Fatalf("old key's token after expiry: %v", err)
		}
		if err := e.keys.Reload(t.Context()); err != nil {
			t.Fatal(err)
		}
		if slices.Contains(e.keys.KeyIDs(), oldKID) {
			t.Fatalf("the retired key is still published after its tokens expired")
		}
	})
}

// TestKeysEncryptedAtRest: the store holds no private key in the clear, and
// another key-encryption key cannot open them.
func TestKeysEncryptedAtRest(t *testing.T) {
	b := storetest.NewSQLite(t)
	e := newEnv(t, b)
	keys, err := e.st.Issuer().SigningKeys(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if strings.Contains(string(k.Private), `"d"`) || !strings.HasPrefix(string(k.Private), "w1") {
			t.Fatalf("key %s is not sealed", k.KID)
		}
	}
	_, err = issuer.NewKeyRing(t.Context(), issuer.KeyRingConfig{Store: e.st.Issuer(), KEK: []byte("another-key-encryption-key-32byt"), MaxTTL: time.Hour})
	if err == nil || !strings.Contains(err.Error(), "decryption failed") {
		t.Fatalf("NewKeyRing with another KEK: %v", err)
	}
	for _, bad := range []string{"", "short", strings.Repeat("A", 40)} {
		if _, err := issuer.ParseKEK(bad); !errors.Is(err, issuer.ErrNoKEK) {
			t.Errorf("ParseKEK(%q) = %v", bad, err)
		}
	}
	if k, err := issuer.ParseKEK("MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=\n"); err != nil || string(k) != string(testKEK) {
		t.Errorf("ParseKEK of a valid key: %v", err)
	}
}

// TestDiscovery: both metadata documents name the endpoints.
func TestDiscovery(t *testing.T) {
	e := newEnv(t, storetest.NewSQLite(t))
	for _, path := range []string{issuer.OpenIDConfigPath, issuer.OAuthMetadataPath} {
		code, _, m := e.do(mustGet(t, e.url+path))
		if code != 200 || m["issuer"] != e.url || m["token_endpoint"] != e.url+issuer.TokenPath || m["jwks_uri"] != e.url+issuer.JWKSPath ||
			m["introspection_endpoint"] != e.url+issuer.IntrospectPath || m["revocation_endpoint"] != e.url+issuer.RevokePath {
			t.Fatalf("%s: %d %v", path, code, m)
		}
		if !slices.Contains(toStrings(m["grant_types_supported"]), issuer.GrantTokenExchange) {
			t.Errorf("%s: grant types %v", path, m["grant_types_supported"])
		}
	}
}

// TestRevocationResync: a revocation written by another process (the CLI,
// another node) reaches this node through Run.
func TestRevocationResync(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, b *storetest.Backend) {
		e := newEnv(t, b)
		secret := e.addClient("agent-1", agentScopes, ccGrants...)
		at := e.tokenOK("agent-1", secret, form("grant_type", "client_credentials"))["access_token"].(string)
		p, err := e.verifier.Verify(t.Context(), at)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() { defer close(done); e.iss.Run(ctx) }()
		defer func() { cancel(); <-done }()
		other := b.Open(t) // a second handle: as another process would
		if err := issuer.RevokeToken(t.Context(), other.Issuer(), p, e.clock.Now()); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(time.Second)
		for !e.revs.Revoked(p.TokenID) {
			if time.Now().After(deadline) {
				t.Fatal("the revocation did not arrive within 1s")
			}
			time.Sleep(10 * time.Millisecond)
		}
		if _, err := e.verifier.Verify(t.Context(), at); err == nil {
			t.Fatal("revoked token still verifies")
		}
	})
}

func mustGet(t testing.TB, url string) *http.Request {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

func toStrings(v any) []string {
	var out []string
	for _, x := range v.([]any) {
		out = append(out, x.(string))
	}
	return out
}

// TestAuditFailClosed: refused requests are recorded, and no token is handed
// out when the audit log cannot take its record.
func TestAuditFailClosed(t *testing.T) {
	e := newEnv(t, storetest.NewSQLite(t))
	secret := e.addClient("agent-1", agentScopes, ccGrants...)
	code, _, m := e.post(issuer.TokenPath, "agent-1", "wrong", form("grant_type", "client_credentials"))
	wantError(t, code, m, 401, "invalid_client")
	recs := e.auditRecords(issuer.ActionIssue)
	if len(recs) != 1 || recs[0].Decision != "deny" || recs[0].RequestID == "" || recs[0].ErrorCode != "invalid_client" || recs[0].ClientID != "agent-1" || recs[0].ClientIP != "127.0.0.1" {
		t.Fatalf("audit of a refused request: %+v", recs)
	}
	if err := e.audit.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	code, _, m = e.post(issuer.TokenPath, "agent-1", secret, form("grant_type", "client_credentials"))
	wantError(t, code, m, 503, "temporarily_unavailable")
	if _, ok := m["access_token"]; ok {
		t.Fatal("a token was handed out without its audit record")
	}
}

// TestPrivateKeyJWT: a client registered with public keys authenticates
// with a signed assertion (RFC 7523), once per jti.
func TestPrivateKeyJWT(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, b *storetest.Backend) {
		e := newEnv(t, b)
		key, err := jwk.Generate("ES256", "agent-key-1")
		if err != nil {
			t.Fatal(err)
		}
		pub, _ := key.Public()
		set, _ := (&jwk.Set{Keys: []*jwk.Key{pub}}).MarshalJSON()
		if err := e.st.Issuer().AddClient(t.Context(), store.Client{ID: "keyed", JWKS: set, Scopes: agentScopes, GrantTypes: ccGrants, Created: e.clock.Now()}); err != nil {
			t.Fatal(err)
		}
		signer, err := token.NewSigner(token.SignerConfig{Key: key, Clock: e.clock.Now})
		if err != nil {
			t.Fatal(err)
		}
		assertion := func(iss, sub, aud string, ttl time.Duration) string {
			tok, err := signer.Mint(t.Context(), token.Claims{Issuer: iss, Subject: sub, Audience: []string{aud}, TTL: ttl})
			if err != nil {
				t.Fatal(err)
			}
			return tok
		}
		req := func(a string, extra ...string) (int, http.Header, map[string]any) {
			return e.post(issuer.TokenPath, "", "", form(append([]string{"grant_type", "client_credentials",
				"client_assertion_type", issuer.AssertionType, "client_assertion", a}, extra...)...))
		}
		good := assertion("keyed", "keyed", e.url+issuer.TokenPath, time.Minute)
		code, _, m := req(good)
		if code != 200 {
			t.Fatalf("private_key_jwt: %d %v", code, m)
		}
		if p, err := e.verifier.Verify(t.Context(), m["access_token"].(string)); err != nil || p.ClientID != "keyed" {
			t.Fatalf("token of a keyed client: %+v, %v", p, err)
		}
		code, _, m = req(good)
		wantError(t, code, m, 401, "invalid_client") // replay

		other, _ := jwk.Generate("ES256", "agent-key-1")
		otherSigner, _ := token.NewSigner(token.SignerConfig{Key: other, Clock: e.clock.Now})
		forged, _ := otherSigner.Mint(t.Context(), token.Claims{Issuer: "keyed", Subject: "keyed", Audience: []string{e.url}, TTL: time.Minute})
		secret := e.addClient("secretive", agentScopes, ccGrants...)
		for name, tc := range map[string]struct {
			a     string
			extra []string
			want  int
			code  string
		}{
			"another key":            {forged, nil, 401, "invalid_client"},
			"wrong audience":         {assertion("keyed", "keyed", "https://elsewhere", time.Minute), nil, 401, "invalid_client"},
			"iss is not the client":  {assertion("someone", "keyed", e.url, time.Minute), nil, 401, "invalid_client"},
			"lives too long":         {assertion("keyed", "keyed", e.url, time.Hour), nil, 401, "invalid_client"},
			"client without keys":    {assertion("secretive", "secretive", e.url, time.Minute), nil, 401, "invalid_client"},
			"garbage":                {"x.y.z", nil, 401, "invalid_client"},
			"client_id mismatch":     {assertion("keyed", "keyed", e.url, time.Minute), []string{"client_id", "secretive"}, 400, "invalid_request"},
			"assertion and a secret": {assertion("keyed", "keyed", e.url, time.Minute), []string{"client_secret", secret}, 400, "invalid_request"},
		} {
			t.Run(name, func(t *testing.T) {
				code, _, m := req(tc.a, tc.extra...)
				wantError(t, code, m, tc.want, tc.code)
			})
		}
		code, _, m = e.post(issuer.TokenPath, "", "", form("grant_type", "client_credentials", "client_assertion_type", "urn:bogus", "client_assertion", good))
		wantError(t, code, m, 400, "invalid_request")
		// A keyed client has no secret to guess.
		code, _, m = e.post(issuer.TokenPath, "keyed", "", form("grant_type", "client_credentials"))
		wantError(t, code, m, 401, "invalid_client")
	})
}

// TestResourceAudiences: Config.Resources (the MCP servers' resource URIs)
// may be asked for by a client without its own audience list, by
// "resource" (RFC 8707) or "audience", and are never granted unasked; a
// client with its own list gets only that.
func TestResourceAudiences(t *testing.T) {
	const mcpRes = "https://warden.test/mcp/demo"
	e := newEnv(t, storetest.NewSQLite(t), func(c *issuer.Config) { c.Resources = []string{mcpRes} })
	secret := e.addClient("agent-1", agentScopes, ccGrants...)
	if err := e.st.Issuer().AddClient(t.Context(), store.Client{ID: "billing-agent", SecretHash: issuer.HashSecret("wcs_b"), Audiences: []string{"billing"},
		GrantTypes: []string{issuer.GrantClientCredentials}, Created: e.clock.Now()}); err != nil {
		t.Fatal(err)
	}
	cc := issuer.GrantClientCredentials
	for _, tc := range []struct {
		name, id, secret string
		form             url.Values
		wantAud          string // "" means refused with invalid_target
	}{
		{"none asked: the default audiences only", "agent-1", secret, form("grant_type", cc), "[" + audience + "]"},
		{"resource", "agent-1", secret, form("grant_type", cc, "resource", mcpRes), "[" + mcpRes + "]"},
		{"audience", "agent-1", secret, form("grant_type", cc, "audience", mcpRes), "[" + mcpRes + "]"},
		{"resource and default", "agent-1", secret, form("grant_type", cc, "resource", mcpRes, "audience", audience), "[" + audience + " " + mcpRes + "]"},
		{"another resource", "agent-1", secret, form("grant_type", cc, "resource", "https://warden.test/mcp/other"), ""},
		{"a resource's prefix", "agent-1", secret, form("grant_type", cc, "resource", "https://warden.test/mcp"), ""},
		{"client with its own list", "billing-agent", "wcs_b", form("grant_type", cc, "resource", mcpRes), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, m := e.post(issuer.TokenPath, tc.id, tc.secret, tc.form)
			if tc.wantAud == "" {
				wantError(t, code, m, http.StatusBadRequest, "invalid_target")
				return
			}
			if code != http.StatusOK {
				t.Fatalf("token: %d %v", code, m)
			}
			tok, _ := m["access_token"].(string)
			if got := e.introspect(tc.id, tc.secret, tok); got["active"] != true || fmt.Sprint(got["aud"]) != tc.wantAud {
				t.Errorf("introspection %v, want active with aud %s", got, tc.wantAud)
			}
		})
	}
}

// tamperSignature changes one character inside the token's signature (never
// the last, whose low bits may be padding), so the result always differs
// from tok in the signed bytes.
func tamperSignature(tok string) string {
	b := []byte(tok)
	i := strings.LastIndexByte(tok, '.') + 4
	if b[i] == 'A' {
		b[i] = 'B'
	} else {
		b[i] = 'A'
	}
	return string(b)
}
