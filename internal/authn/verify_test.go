package authn

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/wardenhq/warden/internal/jwk"
	"github.com/wardenhq/warden/internal/testutil"
)

func TestVerifyEveryAlgorithm(t *testing.T) {
	ks := testKeys(t)
	v := newTestVerifier(t, Config{Issuers: []IssuerConfig{ks.issuerConfig(t)}, CacheSize: -1})
	for _, alg := range allAlgs {
		t.Run(alg, func(t *testing.T) {
			tok := ks.mint(t, alg, validClaims())
			p, err := v.Verify(context.Background(), tok)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			want := &Principal{
				Issuer:    testIssuer,
				Subject:   "alice",
				ClientID:  "cli",
				TokenID:   "jti-1",
				Audience:  []string{testAudience},
				Roles:     []string{"evaluator"},
				Scopes:    []string{"model:invoke", "trace:read"},
				Groups:    []string{},
				IssuedAt:  testNow.Add(-time.Minute),
				NotBefore: testNow.Add(-time.Minute),
				Expiry:    testNow.Add(10 * time.Minute),
				Claims:    p.Claims,
			}
			if diff := cmp.Diff(want, p); diff != "" {
				t.Errorf("Principal (-want +got):\n%s", diff)
			}
			// Without a kid the single key that fits the algorithm is used
			// (the test issuer has one key per type, and one RSA key for RS*/PS*).
			name := keyForAlg[alg]
			noKid := testutil.MintJWT(t, map[string]any{"alg": alg, "typ": "at+jwt"}, validClaims(), alg, ks.priv[name].SigningKey())
			if alg != "ES256" { // the attack env adds a second P-256 key; here there is one
				if _, err := v.Verify(context.Background(), noKid); err != nil {
					t.Errorf("without kid: %v", err)
				}
			}
		})
	}
}

func TestVerifyAccepts(t *testing.T) {
	ks := testKeys(t)
	leeway := 30 * time.Second
	v := newTestVerifier(t, Config{Issuers: []IssuerConfig{ks.issuerConfig(t)}, CacheSize: -1})
	unchecked := ks.issuerConfig(t)
	unchecked.Type = ""
	vNoType := newTestVerifier(t, Config{Issuers: []IssuerConfig{unchecked}, CacheSize: -1})
	mint := func(c map[string]any) string { return ks.mint(t, "ES256", c) }
	withTyp := func(typ any) string {
		h := header("ES256", "ec256")
		if typ == nil {
			delete(h, "typ")
		} else {
			h["typ"] = typ
		}
		return testutil.MintJWT(t, h, validClaims(), "ES256", ks.priv["ec256"].SigningKey())
	}
	for _, tc := range []struct {
		name  string
		v     *Verifier
		token string
	}{
		{"exp 1s inside the leeway", v, mint(withClaims(map[string]any{"exp": testNow.Add(-leeway + time.Second).Unix()}))},
		{"exp 1ms inside the leeway", v, mint(withClaims(map[string]any{"exp": float64(testNow.Add(-leeway+time.Millisecond).UnixMilli()) / 1000}))},
		{"nbf 1s inside the leeway", v, mint(withClaims(map[string]any{"nbf": testNow.Add(leeway - time.Second).Unix()}))},
		{"nbf exactly at the leeway", v, mint(withClaims(map[string]any{"nbf": testNow.Add(leeway).Unix()}))},
		{"iat exactly at the leeway", v, mint(withClaims(map[string]any{"iat": testNow.Add(leeway).Unix()}))},
		{"nbf and iat absent", v, mint(withClaims(map[string]any{"nbf": nil, "iat": nil}))},
		{"fractional exp", v, mint(withClaims(map[string]any{"exp": float64(testNow.Add(time.Minute).Unix()) + 0.25}))},
		{"exp in exponent form", v, mint(withClaims(map[string]any{"exp": 1.7999e9}))},
		{"exp at year 9999", v, mint(withClaims(map[string]any{"exp": maxNumericDate}))},
		{"aud array containing ours", v, mint(withClaims(map[string]any{"aud": []string{"api", testAudience}}))},
		{"typ application/at+jwt", v, withTyp("application/at+jwt")},
		{"typ AT+JWT", v, withTyp("AT+JWT")},
		{"typ Application/At+Jwt", v, withTyp("Application/At+Jwt")},
		{"typ unchecked: JWT", vNoType, withTyp("JWT")},
		{"typ unchecked: absent", vNoType, withTyp(nil)},
		{"unknown claims and headers", v, testutil.MintJWT(t, map[string]any{"alg": "ES256", "kid": "ec256", "typ": "at+jwt", "x5t#S256": "abc", "Crit": "not crit"}, withClaims(map[string]any{"EXP": "x", "nested": map[string]any{"a": []any{1, "b", nil, true}}}), "ES256", ks.priv["ec256"].SigningKey())},
		{"escaped and unicode claims", v, testutil.RawJWT(t, []byte(`{"alg":"ES256","kid":"ec\u0032\u0035\u0036","typ":"at+jwt"}`), rawPayload(t, `"name":"J\u00f6rg \ud83d\ude00 \"q\" \\ \/","emoji":"😀"`), "ES256", ks.priv["ec256"].SigningKey())},
		{"white space around JSON", v, testutil.RawJWT(t, []byte(" {\"alg\" : \"ES256\",\n\"kid\":\"ec256\",\t\"typ\":\"at+jwt\"}\r\n"), []byte("\n"+string(rawPayload(t, ""))+" "), "ES256", ks.priv["ec256"].SigningKey())},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := tc.v.Verify(context.Background(), tc.token); err != nil {
				t.Fatalf("Verify: %v", err)
			}
		})
	}
}

func TestTimeBoundaries(t *testing.T) {
	ks := testKeys(t)
	clock := testutil.NewClock(testNow)
	cfg := ks.issuerConfig(t)
	cfg.Leeway = 10 * time.Second
	v := newTestVerifier(t, Config{Issuers: []IssuerConfig{cfg}, Clock: clock.Now, CacheSize: -1})
	exp := testNow.Add(time.Hour)
	nbf := testNow.Add(30 * time.Minute)
	tok := ks.mint(t, "ES256", withClaims(map[string]any{"exp": exp.Unix(), "nbf": nbf.Unix(), "iat": nil}))
	for _, tc := range []struct {
		at   time.Time
		want Reason // "" accepts
	}{
		{nbf.Add(-11 * time.Second), ReasonNotYetValid},
		{nbf.Add(-10*time.Second - time.Nanosecond), ReasonNotYetValid},
		{nbf.Add(-10 * time.Second), ""},
		{nbf.Add(-9 * time.Second), ""},
		{exp, ""},
		{exp.Add(9 * time.Second), ""},
		{exp.Add(10*time.Second - time.Nanosecond), ""},
		{exp.Add(10 * time.Second), ReasonExpired},
		{exp.Add(11 * time.Second), ReasonExpired},
	} {
		clock.Set(tc.at)
		_, err := v.Verify(context.Background(), tok)
		if got := reasonOf(err); got != tc.want {
			t.Errorf("at exp%+v/nbf%+v: reason %q (%v), want %q", tc.at.Sub(exp), tc.at.Sub(nbf), got, err, tc.want)
		}
	}
}

func reasonOf(err error) Reason {
	var ve *VerifyError
	if errors.As(err, &ve) {
		return ve.Reason
	}
	if err != nil {
		return "?"
	}
	return ""
}

func TestClaimMapping(t *testing.T) {
	claims := map[string]any{
		"iss":       "https://login.example.org",
		"sub":       "u-42",
		"aud":       []any{"warden", "api"},
		"azp":       "agent-7",
		"groups":    []any{"admins", "ml"},
		"scp":       []any{"a", "b"},
		"org_id":    "acme",
		"stage":     "prod",
		"squad":     "platform",
		"email":     "u42@example.org",
		"exp":       float64(testNow.Unix()) + 0.5,
		"auth_time": float64(testNow.Unix() - 60),
		"act": map[string]any{
			"sub": "agent-7", "client_id": "agent-7",
			"act": map[string]any{"sub": "orchestrator", "iss": "https://other.example"},
		},
	}
	m := ClaimMapping{Roles: "groups", Groups: "-", Tenant: "org_id", Env: "stage", Team: "squad", Attributes: map[string]string{"mail": "email", "missing": "nope"}}
	got, err := m.Principal(claims)
	if err != nil {
		t.Fatal(err)
	}
	want := &Principal{
		Issuer:     "https://login.example.org",
		Subject:    "u-42",
		ClientID:   "agent-7",
		Audience:   []string{"warden", "api"},
		Roles:      []string{"admins", "ml"},
		Scopes:     []string{"a", "b"},
		Groups:     []string{},
		Team:       "platform",
		Tenant:     "acme",
		Env:        "prod",
		Attributes: map[string]any{"mail": "u42@example.org"},
		Actor:      []Actor{{Subject: "agent-7", ClientID: "agent-7"}, {Subject: "orchestrator", Issuer: "https://other.example"}},
		Expiry:     time.Unix(testNow.Unix(), 5e8).UTC(),
		AuthTime:   testNow.Add(-time.Minute),
		Claims:     claims,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Principal (-want +got):\n%s", diff)
	}
	if !got.Delegated() || !got.HasRole("ml") || got.HasRole("x") || !got.HasScope("b") {
		t.Errorf("helpers disagree with the fields: %+v", got)
	}

	for _, tc := range []struct {
		name   string
		m      ClaimMapping
		claims map[string]any
		check  func(*Principal) bool
	}{
		{"scope string wins over scp", ClaimMapping{}, map[string]any{"scope": " a  b ", "scp": []any{"c"}}, func(p *Principal) bool { return cmp.Equal(p.Scopes, []string{"a", "b"}) }},
		{"scp string is split", ClaimMapping{Scopes: "scp"}, map[string]any{"scp": "x y"}, func(p *Principal) bool { return cmp.Equal(p.Scopes, []string{"x", "y"}) }},
		{"roles string is one role", ClaimMapping{}, map[string]any{"roles": "a b"}, func(p *Principal) bool { return cmp.Equal(p.Roles, []string{"a b"}) }},
		{"client_id wins over azp", ClaimMapping{}, map[string]any{"client_id": "c", "azp": "z"}, func(p *Principal) bool { return p.ClientID == "c" }},
		{"custom client claim only", ClaimMapping{ClientID: "cid"}, map[string]any{"azp": "z"}, func(p *Principal) bool { return p.ClientID == "" }},
		{"everything absent", ClaimMapping{}, map[string]any{}, func(p *Principal) bool {
			return p.Roles != nil && p.Scopes != nil && p.Groups != nil && p.Audience != nil && p.Actor == nil && !p.Delegated()
		}},
		{"json numbers", ClaimMapping{}, map[string]any{"exp": int64(100), "iat": 50}, func(p *Principal) bool { return p.Expiry.Unix() == 100 && p.IssuedAt.Unix() == 50 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := tc.m.Principal(tc.claims)
			if err != nil {
				t.Fatal(err)
			}
			if !tc.check(p) {
				t.Errorf("unexpected principal %+v", p)
			}
		})
	}

	for _, bad := range []map[string]any{
		{"groups": []any{1}}, {"org_id": 7}, {"stage": false}, {"squad": []any{}},
		{"act": map[string]any{"act": nil}}, {"act": nil}, {"act": []any{}}, {"act": deepAct(maxActorDepth + 1)},
		{"exp": math.Inf(1)}, {"exp": math.NaN()}, {"aud": map[string]any{}},
	} {
		_, err := m.Principal(bad)
		if !errors.Is(err, ErrInvalidClaim) || !errors.Is(err, ErrMalformed) {
			t.Errorf("Principal(%v) = %v, want an invalid_claim error", bad, err)
		}
	}
	if _, err := m.Principal(map[string]any{"act": deepAct(maxActorDepth)}); err != nil {
		t.Errorf("act chain of %d: %v", maxActorDepth, err)
	}
}

func TestVerifierOptions(t *testing.T) {
	ks := testKeys(t)
	ctx := context.Background()

	t.Run("required claims", func(t *testing.T) {
		cfg := ks.issuerConfig(t)
		cfg.RequiredClaims = []string{"jti", "sub"}
		v := newTestVerifier(t, Config{Issuers: []IssuerConfig{cfg}})
		if _, err := v.Verify(ctx, ks.mint(t, "EdDSA", validClaims())); err != nil {
			t.Fatal(err)
		}
		for _, c := range []map[string]any{{"jti": nil}, {"sub": nullClaim{}}} {
			_, err := v.Verify(ctx, ks.mint(t, "EdDSA", withClaims(c)))
			if !errors.Is(err, ErrMissingClaim) {
				t.Errorf("%v: %v, want missing_claim", c, err)
			}
		}
	})

	t.Run("insecure skip issuer and audience", func(t *testing.T) {
		cfg := ks.issuerConfig(t)
		cfg.Issuer, cfg.Audiences = "", nil
		cfg.InsecureSkipIssuer, cfg.InsecureSkipAudience = true, true
		v := newTestVerifier(t, Config{Issuers: []IssuerConfig{cfg}})
		for _, c := range []map[string]any{{"iss": "https://anyone"}, {"iss": nil, "aud": nil}, {"aud": "other"}} {
			p, err := v.Verify(ctx, ks.mint(t, "ES384", withClaims(c)))
			if err != nil {
				t.Errorf("%v: %v", c, err)
				continue
			}
			if iss, _ := c["iss"].(string); iss != "" && p.Issuer != iss {
				t.Errorf("Issuer %q, want the token's %q", p.Issuer, iss)
			}
		}
		// The signature, times and claim types are still checked.
		if _, err := v.Verify(ctx, ks.mint(t, "ES384", withClaims(map[string]any{"aud": 3}))); !errors.Is(err, ErrInvalidClaim) {
			t.Errorf("aud number: %v", err)
		}
		if _, err := v.Verify(ctx, ks.mint(t, "ES384", withClaims(map[string]any{"exp": testNow.Add(-time.Hour).Unix()}))); !errors.Is(err, ErrExpired) {
			t.Errorf("expired: %v", err)
		}
	})

	t.Run("several issuers, several audiences", func(t *testing.T) {
		a := ks.issuerConfig(t)
		a.Audiences = []string{"x", testAudience}
		b := IssuerConfig{Issuer: otherIssuer, Audiences: []string{"other"}, Algorithms: []string{"RS256"}, Keys: ks.public(t, "rsa2")}
		v := newTestVerifier(t, Config{Issuers: []IssuerConfig{a, b}})
		if _, err := v.Verify(ctx, ks.mint(t, "ES256", validClaims())); err != nil {
			t.Error(err)
		}
		tok := testutil.MintJWT(t, header("RS256", "rsa2"), withClaims(map[string]any{"iss": otherIssuer, "aud": "other"}), "RS256", ks.priv["rsa2"].SigningKey())
		if p, err := v.Verify(ctx, tok); err != nil || p.Issuer != otherIssuer {
			t.Errorf("other issuer: %v", err)
		}
		// The audience list is per issuer.
		tok = testutil.MintJWT(t, header("RS256", "rsa2"), withClaims(map[string]any{"iss": otherIssuer}), "RS256", ks.priv["rsa2"].SigningKey())
		if _, err := v.Verify(ctx, tok); !errors.Is(err, ErrAudience) {
			t.Errorf("other issuer, our audience: %v", err)
		}
	})

	t.Run("denylist on a miss", func(t *testing.T) {
		v := newTestVerifier(t, Config{Issuers: []IssuerConfig{ks.issuerConfig(t)}, Denylist: denySet{"jti-1": true}})
		_, err := v.Verify(ctx, ks.mint(t, "HS256", validClaims()))
		if !errors.Is(err, ErrRevoked) {
			t.Fatalf("err %v, want revoked", err)
		}
		if strings.Contains(err.Error(), ks.mint(t, "HS256", validClaims())) {
			t.Error("error contains the token")
		}
	})
}

func TestNewRejectsBadConfig(t *testing.T) {
	ks := testKeys(t)
	good := ks.issuerConfig(t)
	dir := t.TempDir()
	for _, tc := range []struct {
		name   string
		mutate func(*Config)
		want   string
	}{
		{"no issuers", func(c *Config) { c.Issuers = nil }, "no issuers"},
		{"negative max bytes", func(c *Config) { c.MaxTokenBytes = -1 }, "negative"},
		{"empty issuer", func(c *Config) { c.Issuers[0].Issuer = "" }, "Issuer is empty"},
		{"no audiences", func(c *Config) { c.Issuers[0].Audiences = nil }, "no Audiences"},
		{"empty audience", func(c *Config) { c.Issuers[0].Audiences = []string{""} }, "empty audience"},
		{"no algorithms", func(c *Config) { c.Issuers[0].Algorithms = nil }, "no algorithms"},
		{"alg none", func(c *Config) { c.Issuers[0].Algorithms = []string{"ES256", "none"} }, "none"},
		{"alg lower case", func(c *Config) { c.Issuers[0].Algorithms = []string{"es256"} }, "es256"},
		{"alg twice", func(c *Config) { c.Issuers[0].Algorithms = []string{"ES256", "ES256"} }, "twice"},
		{"negative leeway", func(c *Config) { c.Issuers[0].Leeway = -time.Second }, "Leeway"},
		{"huge leeway", func(c *Config) { c.Issuers[0].Leeway = time.Hour }, "Leeway"},
		{"no key source", func(c *Config) { c.Issuers[0].Keys = nil }, "exactly one key source"},
		{"two key sources", func(c *Config) { c.Issuers[0].JWKSURL = "https://idp.example.com/jwks" }, "exactly one key source"},
		{"nil key", func(c *Config) { c.Issuers[0].Keys = []*jwk.Key{nil} }, "nil"},
		{"keys fit no algorithm", func(c *Config) { c.Issuers[0].Algorithms = []string{"ES256"}; c.Issuers[0].Keys = ks.public(t, "rsa") }, "no key fits"},
		{"http JWKS URL", func(c *Config) { c.Issuers[0].Keys = nil; c.Issuers[0].JWKSURL = "http://idp.example.com/jwks" }, "https"},
		{"file JWKS URL", func(c *Config) { c.Issuers[0].Keys = nil; c.Issuers[0].JWKSURL = "file:///etc/passwd" }, "https"},
		{"relative JWKS URL", func(c *Config) { c.Issuers[0].Keys = nil; c.Issuers[0].JWKSURL = "/jwks" }, "no host"},
		{"missing JWKS file", func(c *Config) { c.Issuers[0].Keys = nil; c.Issuers[0].JWKSFile = dir + "/nope.json" }, "nope.json"},
		{"min above max refresh", func(c *Config) { c.Issuers[0].MinRefresh = 2 * time.Hour }, "MinRefresh"},
		{"negative cooldown", func(c *Config) { c.Issuers[0].UnknownKidCooldown = -1 }, "negative"},
		{"duplicate issuer", func(c *Config) { c.Issuers = append(c.Issuers, c.Issuers[0]) }, "twice"},
		{"skip issuer with two issuers", func(c *Config) {
			c.Issuers = append(c.Issuers, c.Issuers[0])
			c.Issuers[1].Issuer = "x"
			c.Issuers[0].InsecureSkipIssuer = true
		}, "single issuer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := Config{Issuers: []IssuerConfig{good}}
			cfg.Issuers[0].Keys = append([]*jwk.Key(nil), good.Keys...)
			tc.mutate(&cfg)
			v, err := New(context.Background(), cfg)
			if err == nil {
				v.Close()
				t.Fatal("New accepted the configuration")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not mention %q", err, tc.want)
			}
		})
	}
}

func TestVerifyErrorIs(t *testing.T) {
	err := error(&VerifyError{Reason: ReasonExpired, Err: errors.New("token expired 1s ago")})
	if !errors.Is(err, ErrExpired) || errors.Is(err, ErrMalformed) || errors.Is(err, ErrNotYetValid) {
		t.Error("errors.Is disagrees with the reason")
	}
	err = &VerifyError{Reason: ReasonInvalidClaim, Err: errors.New("x")}
	if !errors.Is(err, ErrInvalidClaim) || !errors.Is(err, ErrMalformed) {
		t.Error("invalid_claim should match ErrInvalidClaim and ErrMalformed")
	}
	if got := (&VerifyError{Reason: ReasonRevoked}).Error(); got != "token revoked" {
		t.Errorf("Error() without Err = %q", got)
	}
	for _, r := range []Reason{ReasonMalformed, ReasonTooLarge, ReasonForbiddenHeader, ReasonAlgorithm, ReasonUnknownKey,
		ReasonKeysUnavailable, ReasonBadSignature, ReasonExpired, ReasonNotYetValid, ReasonIssuer, ReasonAudience,
		ReasonType, ReasonMissingClaim, ReasonInvalidClaim, ReasonRevoked} {
		if r.sentinel() == nil {
			t.Errorf("reason %q has no sentinel", r)
		}
	}
	if q := quote(strings.Repeat("é", 100) + "\n"); strings.Contains(q, "\n") || len(q) > 120 {
		t.Errorf("quote = %q", q)
	}
}

func TestParse(t *testing.T) {
	ks := testKeys(t)
	// Parse decodes what Verify refuses: expired, unsigned and dangerous tokens.
	expired := ks.mint(t, "ES256", withClaims(map[string]any{"exp": 1}))
	unsigned := testutil.UnsignedJWT([]byte(`{"alg":"none","jku":"https://evil/jwks","crit":["x"]}`), []byte(`{"sub":"x"}`), nil)
	for _, tok := range []string{expired, unsigned} {
		p, err := Parse(tok, 0)
		if err != nil {
			t.Fatalf("Parse: %v", err)
		}
		h, c, s := segments(tok)
		if testutil.B64(p.RawHeader) != h || testutil.B64(p.RawClaims) != c || testutil.B64(p.Signature) != s || p.SigningInput != h+"."+c {
			t.Errorf("raw parts do not round-trip")
		}
	}
	p, _ := Parse(unsigned, 0)
	if p.Header["alg"] != "none" || p.Claims["sub"] != "x" || len(p.Signature) != 0 {
		t.Errorf("Parse = %+v", p)
	}
	if _, err := Parse(expired, 100); !errors.Is(err, ErrTooLarge) {
		t.Errorf("maxBytes 100: %v", err)
	}
	if _, err := Parse("a.b", 0); !errors.Is(err, ErrMalformed) {
		t.Errorf("2 segments: %v", err)
	}
}

func TestJSONParser(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want map[string]any // nil: error
		err  string
	}{
		{in: `{}`, want: map[string]any{}},
		{in: ` {"a" : [1, -2.5e3, true, false, null, "x", {}, []]} `, want: map[string]any{"a": []any{1.0, -2500.0, true, false, nil, "x", map[string]any{}, []any{}}}},
		{in: `{"a":"\u00e9\ud83d\ude00\n\"\\\/\b\f\r\t"}`, want: map[string]any{"a": "é😀\n\"\\/\b\f\r\t"}},
		{in: `{"a":1e-400}`, want: map[string]any{"a": 0.0}},
		{in: `{"a":-0}`, want: map[string]any{"a": math.Copysign(0, -1)}},
		{in: `{"a":1,"b":{"a":2}}`, want: map[string]any{"a": 1.0, "b": map[string]any{"a": 2.0}}},
		{in: `{"a":1,"a":1}`, err: "duplicate"},
		{in: `{"a":1,"\u0061":1}`, err: "duplicate"},
		{in: `{"b":{"a":1,"a":1}}`, err: "duplicate"},
		{in: "{\"a\":\"\xff\"}", err: "UTF-8"},
		{in: `{"a":"\ud800"}`, err: "surrogate"},
		{in: `{"a":"\ud800\u0041"}`, err: "surrogate"},
		{in: `{"a":1}x`, err: "after the JSON object"},
		{in: `[1]`, err: "not a JSON object"},
		{in: `{"a":1e999}`, err: "out of range"},
		{in: `{"a":-}`, err: "invalid character"},
		{in: `{"a":01}`, err: "invalid character"},
		{in: ``, err: "empty"},
		{in: `{`, err: "end of JSON"},
		{in: `{"a`, err: "unterminated"},
		{in: `{"a":"\`, err: "unterminated"},
		{in: `{"a":"\u00"}`, err: `\u`},
		{in: `{"a":` + strings.Repeat(`[`, maxJSONDepth) + strings.Repeat(`]`, maxJSONDepth) + `}`, err: "deeper"},
		{in: `{"a":` + strings.Repeat(`[`, maxJSONDepth-1) + strings.Repeat(`]`, maxJSONDepth-1) + `}`, want: nil},
	} {
		got, err := parseJSONObject(tc.in)
		switch {
		case tc.err != "":
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("parse(%q): err %v, want %q", tc.in, err, tc.err)
			}
		case err != nil:
			t.Errorf("parse(%q): %v", tc.in, err)
		case tc.want != nil:
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("parse(%q) (-want +got):\n%s", tc.in, diff)
			}
		}
	}
}

func TestBase64(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string // "" with err
		err  bool
	}{
		{in: "", want: ""},
		{in: "QQ", want: "A"},
		{in: "QUI", want: "AB"},
		{in: "QUJD", want: "ABC"},
		{in: "-_-_", want: "\xfb\xff\xbf"},
		{in: "QR", err: true},   // trailing bits
		{in: "QUJ", err: true},  // trailing bits
		{in: "Q", err: true},    // 4n+1
		{in: "QQ==", err: true}, // padding
		{in: "+/+/", err: true},
		{in: "QU\nJD", err: true},
		{in: "QUJD\r", err: true},
	} {
		buf := make([]byte, b64DecodedLen(len(tc.in)))
		n, err := b64Decode(buf, tc.in)
		if tc.err {
			if err == nil {
				t.Errorf("b64Decode(%q) accepted", tc.in)
			}
			continue
		}
		if err != nil || string(buf[:n]) != tc.want {
			t.Errorf("b64Decode(%q) = %q, %v; want %q", tc.in, buf[:n], err, tc.want)
		}
	}
}
