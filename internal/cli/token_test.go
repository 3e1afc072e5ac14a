package cli

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// t0 is the instant test tokens are minted at.
var t0 = time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)

// tokenEnv is a key directory and a token minted from it at t0 (ttl 15m).
type tokenEnv struct {
	dir   string // holds keys/private.jwk, keys/jwks.json
	priv  string
	jwks  string
	token string
}

func newTokenEnv(t *testing.T, alg string, mintArgs ...string) tokenEnv {
	t.Helper()
	dir := t.TempDir()
	keys := filepath.Join(dir, "keys")
	args := []string{"keys", "generate", "--alg", alg, "--kid", "k1", "--out", keys}
	if strings.HasPrefix(alg, "RS") || strings.HasPrefix(alg, "PS") {
		args = append(args, "--rsa-bits", "2048")
	}
	if r := runCLI(t, "", time.Time{}, nil, args...); r.code != 0 {
		t.Fatalf("keys generate: %d %s", r.code, r.stderr)
	}
	env := tokenEnv{dir: dir, priv: filepath.Join(keys, "private.jwk"), jwks: filepath.Join(keys, "jwks.json")}
	args = append([]string{"token", "mint", "--key", env.priv, "--iss", "https://issuer.example", "--aud", "warden", "--sub", "alice", "--role", "evaluator"}, mintArgs...)
	r := runCLI(t, "", t0, nil, args...)
	if r.code != 0 {
		t.Fatalf("token mint: %d %s", r.code, r.stderr)
	}
	env.token = strings.TrimSpace(r.stdout)
	return env
}

func TestTokenMintOutput(t *testing.T) {
	env := newTokenEnv(t, "ES256", "--scope", "a b", "--scope", "c", "--act", "bot", "--claim", "n=12345678901234567890")
	if strings.Count(env.token, ".") != 2 || strings.ContainsAny(env.token, " \n=") {
		t.Fatalf("stdout is not exactly one compact token: %q", env.token)
	}
	r := runCLI(t, "", t0, nil, "token", "decode", "--json", env.token)
	if r.code != 0 {
		t.Fatalf("decode: %d %s", r.code, r.stderr)
	}
	var out struct {
		Header map[string]any
		Claims map[string]json.RawMessage
	}
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"iss": `"https://issuer.example"`, "sub": `"alice"`, "aud": `"warden"`, "roles": `["evaluator"]`,
		"scope": `"a b c"`, "act": `{"sub":"bot"}`, "iat": fmt.Sprint(t0.Unix()), "nbf": fmt.Sprint(t0.Unix()),
		"exp": fmt.Sprint(t0.Add(15 * time.Minute).Unix()),
	}
	for k, v := range want {
		var compact bytes.Buffer
		if err := json.Compact(&compact, out.Claims[k]); err != nil {
			t.Fatalf("claim %s: %v", k, err)
		}
		if compact.String() != v {
			t.Errorf("claim %s = %s, want %s", k, compact.String(), v)
		}
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.Split(env.token, ".")[1])
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(payload), `"n":12345678901234567890`) {
		t.Errorf("--claim number not kept exactly: %s", payload)
	}
	if out.Header["typ"] != "at+jwt" || out.Header["alg"] != "ES256" || out.Header["kid"] != "k1" {
		t.Errorf("header = %v", out.Header)
	}
}

func TestTokenVerifyExitCodes(t *testing.T) {
	env := newTokenEnv(t, "EdDSA")
	other := newTokenEnv(t, "EdDSA") // same kid "k1", different key
	exp := t0.Add(15 * time.Minute)
	base := []string{"token", "verify", "--jwks", env.jwks, "--iss", "https://issuer.example", "--aud", "warden"}
	with := func(extra ...string) []string { return append(append([]string{}, base...), extra...) }

	tests := []struct {
		name     string
		args     []string
		stdin    string
		now      time.Time
		wantCode int
		wantOut  string // regexp on stdout
		wantErr  string // regexp on stderr
	}{
		{name: "valid", args: with(env.token), now: t0.Add(time.Minute), wantCode: 0, wantOut: `\Avalid\n\{\n  "aud": "warden",`},
		{name: "valid from stdin with Bearer", args: with("-"), stdin: "Bearer " + env.token + "\n", now: t0, wantCode: 0, wantOut: `"sub": "alice"`},
		{name: "valid json", args: with("--json", env.token), now: t0, wantCode: 0, wantOut: `"valid": true`},
		{name: "valid within leeway after exp", args: with(env.token), now: exp.Add(29 * time.Second), wantCode: 0},
		{name: "expired at exp plus leeway", args: with(env.token), now: exp.Add(30 * time.Second), wantCode: 1, wantErr: `^warden: invalid token: expired: `},
		{name: "expired with zero leeway", args: with("--leeway", "0s", env.token), now: exp, wantCode: 1, wantErr: `invalid token: expired: `},
		{name: "valid one second before exp, zero leeway", args: with("--leeway", "0s", env.token), now: exp.Add(-time.Second), wantCode: 0},
		{name: "not yet valid beyond leeway", args: with(env.token), now: t0.Add(-31 * time.Second), wantCode: 1, wantErr: `invalid token: not_yet_valid: `},
		{name: "valid at nbf minus leeway", args: with(env.token), now: t0.Add(-30 * time.Second), wantCode: 0},
		{name: "expired json", args: with("--json", env.token), now: exp.Add(time.Hour), wantCode: 1, wantOut: `"reason": "expired"`},
		{name: "wrong audience", args: []string{"token", "verify", "--jwks", env.jwks, "--iss", "https://issuer.example", "--aud", "billing", env.token}, now: t0, wantCode: 1, wantErr: `invalid token: audience: `},
		{name: "wrong issuer", args: []string{"token", "verify", "--jwks", env.jwks, "--iss", "https://issuer.example/", "--aud", "warden", env.token}, now: t0, wantCode: 1, wantErr: `invalid token: issuer: `},
		{name: "wrong typ", args: with("--typ", "JWT", env.token), now: t0, wantCode: 1, wantErr: `invalid token: type: `},
		{name: "bad signature", args: []string{"token", "verify", "--jwks", other.jwks, "--iss", "https://issuer.example", "--aud", "warden", env.token}, now: t0, wantCode: 1, wantErr: `invalid token: bad_signature: `},
		{name: "malformed", args: with("abc.def"), now: t0, wantCode: 1, wantErr: `invalid token: malformed: `},
		{name: "too large", args: with("--max-bytes", "64", env.token), now: t0, wantCode: 1, wantErr: `invalid token: too_large: `},
		{name: "no token", args: with("-"), stdin: " \n", now: t0, wantCode: 2, wantErr: `no token given`},
		{name: "missing iss", args: []string{"token", "verify", "--jwks", env.jwks, "--aud", "warden", env.token}, wantCode: 2, wantErr: `--iss is required`},
		{name: "missing aud", args: []string{"token", "verify", "--jwks", env.jwks, "--iss", "x", env.token}, wantCode: 2, wantErr: `--aud is required`},
		{name: "iss and skip iss", args: with("--insecure-skip-iss", env.token), wantCode: 2, wantErr: `contradict`},
		{name: "aud and skip aud", args: with("--insecure-skip-aud", env.token), wantCode: 2, wantErr: `contradict`},
		{name: "no key source", args: []string{"token", "verify", "--iss", "x", "--aud", "y", env.token}, wantCode: 2, wantErr: `exactly one of`},
		{name: "unreadable key file", args: []string{"token", "verify", "--key", filepath.Join(env.dir, "nope"), "--iss", "x", "--aud", "y", env.token}, wantCode: 2, wantErr: `--key: `},
		{name: "key file not a key", args: []string{"token", "verify", "--jwks", filepath.Join(env.dir, "keys"), "--iss", "x", "--aud", "y", env.token}, wantCode: 2, wantErr: `--jwks: `},
		{name: "alg none", args: with("--alg", "none", env.token), wantCode: 2, wantErr: `unsupported --alg "none"`},
		{name: "alg lower case", args: with("--alg", "eddsa", env.token), wantCode: 2, wantErr: `unsupported --alg "eddsa"`},
		{name: "negative leeway", args: with("--leeway", "-1s", env.token), wantCode: 2, wantErr: `must not be negative`},
		{name: "unknown flag", args: with("--frobnicate", env.token), wantCode: 2, wantErr: `unknown flag`},
		{name: "two tokens", args: with(env.token, env.token), wantCode: 2, wantErr: `accepts at most 1 arg`},
		{name: "unreachable JWKS URL", args: []string{"token", "verify", "--jwks", "http://127.0.0.1:1/jwks.json", "--iss", "x", "--aud", "y", env.token}, wantCode: 2, wantErr: `--jwks: fetch http://127.0.0.1:1/jwks.json: `},
		{name: "http JWKS URL off loopback", args: []string{"token", "verify", "--jwks", "http://example.com/jwks.json", "--iss", "x", "--aud", "y", env.token}, wantCode: 2, wantErr: `plain http is only allowed to a loopback host`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			now := tc.now
			if now.IsZero() {
				now = t0
			}
			r := runCLI(t, tc.stdin, now, nil, tc.args...)
			if r.code != tc.wantCode {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", r.code, tc.wantCode, r.stdout, r.stderr)
			}
			if tc.wantOut != "" && !regexp.MustCompile(tc.wantOut).MatchString(r.stdout) {
				t.Errorf("stdout does not match %q:\n%s", tc.wantOut, r.stdout)
			}
			if tc.wantErr != "" && !regexp.MustCompile(tc.wantErr).MatchString(r.stderr) {
				t.Errorf("stderr does not match %q:\n%s", tc.wantErr, r.stderr)
			}
			if r.code != 0 && strings.Count(strings.TrimSpace(r.stderr), "\n") > 0 {
				t.Errorf("error is not one line:\n%s", r.stderr)
			}
			if r.code == 1 && !strings.Contains(tc.name, "json") && r.stdout != "" {
				t.Errorf("invalid token printed on stdout: %s", r.stdout)
			}
		})
	}
}

// oidcServer serves a discovery document and a JWKS on 127.0.0.1. doc may
// rewrite the document; it counts requests per path.
type oidcServer struct {
	*httptest.Server
	hits map[string]*atomic.Int32
}

func newOIDCServer(t *testing.T, jwksPath string, doc func(base string) map[string]any) *oidcServer {
	t.Helper()
	jwks, err := os.ReadFile(jwksPath)
	if err != nil {
		t.Fatal(err)
	}
	s := &oidcServer{hits: map[string]*atomic.Int32{}}
	for _, p := range []string{"/.well-known/openid-configuration", "/jwks.json", "/attacker-jwks"} {
		s.hits[p] = new(atomic.Int32)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		s.hits[r.URL.Path].Add(1)
		d := map[string]any{"issuer": s.URL, "jwks_uri": s.URL + "/jwks.json"}
		if doc != nil {
			d = doc(s.URL)
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(d)
	})
	mux.HandleFunc("/jwks.json", func(w http.ResponseWriter, r *http.Request) {
		s.hits[r.URL.Path].Add(1)
		w.Header().Set("Content-Type", "application/jwk-set+json")
		w.Write(jwks)
	})
	mux.HandleFunc("/attacker-jwks", func(w http.ResponseWriter, r *http.Request) {
		s.hits[r.URL.Path].Add(1)
		w.Write(jwks)
	})
	mux.HandleFunc("/big", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"keys":[` + strings.Repeat(" ", 300<<10) + `]}`))
	})
	mux.HandleFunc("/redirect-http", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://example.com/jwks.json", http.StatusFound)
	})
	mux.HandleFunc("/fail", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "boom", http.StatusInternalServerError)
	})
	s.Server = httptest.NewServer(mux)
	t.Cleanup(s.Close)
	return s
}

func TestTokenVerifyOIDC(t *testing.T) {
	keysEnv := newTokenEnv(t, "ES256")
	good := newOIDCServer(t, keysEnv.jwks, nil)
	// A token for this issuer.
	mint := func(iss string) string {
		r := runCLI(t, "", t0, nil, "token", "mint", "--key", keysEnv.priv, "--iss", iss, "--aud", "api://warden", "--sub", "alice")
		if r.code != 0 {
			t.Fatal(r.stderr)
		}
		return strings.TrimSpace(r.stdout)
	}
	tok := mint(good.URL)

	mismatch := newOIDCServer(t, keysEnv.jwks, func(base string) map[string]any {
		return map[string]any{"issuer": base + "/", "jwks_uri": base + "/jwks.json"}
	})
	insecureJWKS := newOIDCServer(t, keysEnv.jwks, func(base string) map[string]any {
		return map[string]any{"issuer": base, "jwks_uri": "http://example.com/jwks.json"}
	})
	noJWKS := newOIDCServer(t, keysEnv.jwks, func(base string) map[string]any { return map[string]any{"issuer": base} })
	deadJWKS := newOIDCServer(t, keysEnv.jwks, func(base string) map[string]any {
		return map[string]any{"issuer": base, "jwks_uri": "http://127.0.0.1:1/jwks.json"}
	})

	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantOut  string
		wantErr  string
	}{
		{name: "discovery", args: []string{"--issuer", good.URL, "--aud", "api://warden", tok}, wantCode: 0, wantOut: `\Avalid\n`},
		{name: "discovery with matching --iss", args: []string{"--issuer", good.URL, "--iss", good.URL, "--aud", "api://warden", tok}, wantCode: 0},
		{name: "discovery with other --iss", args: []string{"--issuer", good.URL, "--iss", "https://x", "--aud", "api://warden", tok}, wantCode: 2, wantErr: `differs from --issuer`},
		{name: "discovery, wrong aud", args: []string{"--issuer", good.URL, "--aud", "other", tok}, wantCode: 1, wantErr: `invalid token: audience`},
		{name: "issuer mismatch in document", args: []string{"--issuer", mismatch.URL, "--aud", "api://warden", tok}, wantCode: 2, wantErr: `discovery document names issuer .* not .* \(they must be identical\)`},
		{name: "jwks_uri over plain http", args: []string{"--issuer", insecureJWKS.URL, "--aud", "api://warden", tok}, wantCode: 2, wantErr: `jwks_uri .*plain http is only allowed to a loopback host`},
		{name: "no jwks_uri", args: []string{"--issuer", noJWKS.URL, "--aud", "api://warden", tok}, wantCode: 2, wantErr: `no jwks_uri`},
		{name: "jwks_uri unreachable", args: []string{"--issuer", deadJWKS.URL, "--aud", "api://warden", tok}, wantCode: 2, wantErr: `jwks_uri: fetch http://127.0.0.1:1/jwks.json`},
		{name: "issuer unreachable", args: []string{"--issuer", "http://127.0.0.1:1", "--aud", "api://warden", tok}, wantCode: 2, wantErr: `--issuer: fetch `},
		{name: "issuer over plain http", args: []string{"--issuer", "http://login.example.com", "--aud", "api://warden", tok}, wantCode: 2, wantErr: `plain http is only allowed to a loopback host`},
		{name: "issuer with query", args: []string{"--issuer", good.URL + "?x=1", "--aud", "api://warden", tok}, wantCode: 2, wantErr: `no query`},
		{name: "jwks URL", args: []string{"--jwks", good.URL + "/jwks.json", "--iss", good.URL, "--aud", "api://warden", tok}, wantCode: 0},
		{name: "jwks URL 500", args: []string{"--jwks", good.URL + "/fail", "--iss", good.URL, "--aud", "api://warden", tok}, wantCode: 2, wantErr: `HTTP 500`},
		{name: "jwks URL too big", args: []string{"--jwks", good.URL + "/big", "--iss", good.URL, "--aud", "api://warden", tok}, wantCode: 2, wantErr: `response exceeds`},
		{name: "jwks URL redirects to http", args: []string{"--jwks", good.URL + "/redirect-http", "--iss", good.URL, "--aud", "api://warden", tok}, wantCode: 2, wantErr: `plain http is only allowed to a loopback host`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := runCLI(t, "", t0, nil, append([]string{"token", "verify"}, tc.args...)...)
			if r.code != tc.wantCode {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", r.code, tc.wantCode, r.stdout, r.stderr)
			}
			if tc.wantOut != "" && !regexp.MustCompile(tc.wantOut).MatchString(r.stdout) {
				t.Errorf("stdout does not match %q:\n%s", tc.wantOut, r.stdout)
			}
			if tc.wantErr != "" && !regexp.MustCompile(tc.wantErr).MatchString(r.stderr) {
				t.Errorf("stderr does not match %q:\n%s", tc.wantErr, r.stderr)
			}
		})
	}
	if n := good.hits["/.well-known/openid-configuration"].Load(); n == 0 {
		t.Errorf("discovery document never fetched")
	}
}

// TestTokenVerifyNeverFetchesTokenURLs: a token naming a jku is rejected
// without any request to that URL.
func TestTokenVerifyNeverFetchesTokenURLs(t *testing.T) {
	env := newTokenEnv(t, "ES256")
	srv := newOIDCServer(t, env.jwks, nil)
	parts := strings.Split(env.token, ".")
	enc := base64.RawURLEncoding
	for _, h := range []string{
		`{"alg":"ES256","kid":"k1","typ":"at+jwt","jku":"` + srv.URL + `/attacker-jwks"}`,
		`{"alg":"ES256","kid":"k1","typ":"at+jwt","x5u":"` + srv.URL + `/attacker-jwks"}`,
	} {
		tok := enc.EncodeToString([]byte(h)) + "." + parts[1] + "." + parts[2]
		r := runCLI(t, "", t0, nil, "token", "verify", "--jwks", env.jwks, "--iss", "https://issuer.example", "--aud", "warden", tok)
		if r.code != 1 || !strings.Contains(r.stderr, "invalid token: forbidden_header") {
			t.Errorf("token with %s: exit %d, %q; want 1, forbidden_header", h, r.code, r.stderr)
		}
		r = runCLI(t, "", t0, nil, "token", "decode", tok)
		if r.code != 0 || !strings.Contains(r.stdout, "names a URL to fetch keys from") {
			t.Errorf("decode of token with %s: exit %d, no URL warning:\n%s", h, r.code, r.stdout)
		}
	}
	if n := srv.hits["/attacker-jwks"].Load(); n != 0 {
		t.Errorf("the URL a token named was fetched %d times", n)
	}
}

func TestTokenDecodeSummary(t *testing.T) {
	env := newTokenEnv(t, "HS256", "--ttl", "15m", "--act", "bot", "--client-id", "cli")
	tests := []struct {
		name      string
		now       time.Time
		wantLines []string
	}{
		{name: "fresh", now: t0.Add(time.Minute), wantLines: []string{
			"  expires     2026-11-24T10:15:00Z (expires in 14m)",
			"  issued      2026-11-24T10:00:00Z (1m ago)",
			"  actor       bot (acting for alice)",
			"  client_id   cli",
			`  ! alg "HS256" is symmetric (HMAC)`,
		}},
		{name: "expired", now: t0.Add(18*time.Minute + 5*time.Second), wantLines: []string{
			"  expires     2026-11-24T10:15:00Z (EXPIRED 3m5s ago)",
			"  ! expired 3m5s ago",
		}},
		{name: "not yet valid", now: t0.Add(-2 * time.Hour), wantLines: []string{
			"  not before  2026-11-24T10:00:00Z (NOT YET VALID, valid in 2h)",
			"  ! not valid yet: nbf is in 2h",
			"  ! issued in the future: iat is in 2h",
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := runCLI(t, "", tc.now, nil, "token", "decode", env.token)
			if r.code != 0 {
				t.Fatalf("exit %d: %s", r.code, r.stderr)
			}
			if !strings.HasPrefix(r.stdout, notVerifiedWarning+"\n") || !strings.Contains(r.stderr, notVerifiedWarning) {
				t.Errorf("the not-verified warning is missing from stdout or stderr")
			}
			for _, want := range tc.wantLines {
				if !strings.Contains(r.stdout, want+"\n") && !strings.Contains(r.stdout, want) {
					t.Errorf("output lacks %q:\n%s", want, r.stdout)
				}
			}
		})
	}
}

func TestTokenDecodeJSONAndWarnings(t *testing.T) {
	enc := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	tok := func(header, claims string) string { return enc(header) + "." + enc(claims) + "." + enc("sig") }
	exp := fmt.Sprint(t0.Add(time.Hour).Unix())
	claims := `{"iss":"i","sub":"s","aud":["a","b"],"exp":` + exp + `,"scp":["x","y"],"azp":"c"}`
	tests := []struct {
		name  string
		token string
		want  []string // substrings of warnings, in order
	}{
		{"clean", tok(`{"alg":"ES256","typ":"at+jwt","kid":"k"}`, claims), nil},
		{"alg NoNe", tok(`{"alg":"NoNe"}`, claims), []string{`alg "NoNe": the token is UNSIGNED`}},
		{"no alg", tok(`{"typ":"JWT"}`, claims), []string{`no "alg" header`}},
		{"alg number", tok(`{"alg":1}`, claims), []string{`"alg" header is a number`}},
		{"unknown alg", tok(`{"alg":"ES256K"}`, claims), []string{`alg "ES256K" is not an algorithm Warden accepts`}},
		{"HS512", tok(`{"alg":"HS512"}`, claims), []string{`alg "HS512" is symmetric`}},
		{"embedded keys", tok(`{"alg":"RS256","jwk":{},"x5c":["x"]}`, claims), []string{`header "jwk" embeds a key`, `header "x5c" embeds a key`}},
		{"urls", tok(`{"alg":"RS256","jku":"u","x5u":"u"}`, claims), []string{`header "jku" names a URL`, `header "x5u" names a URL`}},
		{"crit b64 zip enc cty", tok(`{"alg":"RS256","crit":["b64"],"b64":false,"zip":"DEF","enc":"A128GCM","cty":"JWT"}`, claims),
			[]string{`header "crit"`, `header "b64"`, `header "zip"`, `header "enc"`, `header "cty"`}},
		{"kid not string", tok(`{"alg":"ES256","kid":7}`, claims), []string{`"kid" header is a number`}},
		{"no exp, no aud", tok(`{"alg":"ES256"}`, `{"iss":"i"}`), []string{`no "aud"`, `no "exp": the token never expires`}},
		{"exp string", tok(`{"alg":"ES256"}`, `{"aud":"a","exp":"soon"}`), []string{`"exp" is a string, not a number`}},
		{"exp null", tok(`{"alg":"ES256"}`, `{"aud":"a","exp":null}`), []string{`"exp" is a null, not a number`}},
		{"unsigned", enc(`{"alg":"ES256"}`) + "." + enc(claims) + ".", []string{"the signature segment is empty"}},
		{"long-lived", tok(`{"alg":"ES256"}`, `{"aud":"a","iat":`+fmt.Sprint(t0.Unix())+`,"exp":`+fmt.Sprint(t0.Add(48*time.Hour).Unix())+`}`), []string{"long-lived: valid for 2d after issue"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := runCLI(t, "", t0, nil, "token", "decode", "--json", tc.token)
			if r.code != 0 {
				t.Fatalf("exit %d: %s", r.code, r.stderr)
			}
			var out struct {
				Header   map[string]any `json:"header"`
				Claims   map[string]any `json:"claims"`
				Summary  decodeSummary  `json:"summary"`
				Warnings []string       `json:"warnings"`
				Verified *bool          `json:"verified"`
			}
			dec := json.NewDecoder(strings.NewReader(r.stdout))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&out); err != nil {
				t.Fatalf("--json output: %v\n%s", err, r.stdout)
			}
			if out.Verified == nil || *out.Verified {
				t.Errorf("verified = %v, want false", out.Verified)
			}
			if out.Warnings == nil {
				t.Errorf("warnings is null, want an array")
			}
			if len(out.Warnings) != len(tc.want) {
				t.Fatalf("warnings = %q, want %d matching %q", out.Warnings, len(tc.want), tc.want)
			}
			for i, w := range tc.want {
				if !strings.Contains(out.Warnings[i], w) {
					t.Errorf("warning %d = %q, want it to contain %q", i, out.Warnings[i], w)
				}
			}
			if tc.name == "clean" {
				want := decodeSummary{Alg: "ES256", Typ: "at+jwt", KeyID: "k", Issuer: "i", Subject: "s",
					Audience: []string{"a", "b"}, ClientID: "c", Scopes: []string{"x", "y"}}
				e := t0.Add(time.Hour)
				want.ExpiresAt = &e
				if diff := cmp.Diff(want, out.Summary); diff != "" {
					t.Errorf("summary (-want +got):\n%s", diff)
				}
			}
		})
	}
}

func TestTokenDecodeMalformed(t *testing.T) {
	enc := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	tests := []struct {
		name, token, wantErr string
	}{
		{"one segment", "abc", "malformed token: "},
		{"JWE", "a.b.c.d.e", "encrypted JWE"},
		{"padding", enc(`{"alg":"ES256"}`) + "==." + enc(`{}`) + ".", "malformed token: "},
		{"duplicate claim", enc(`{"alg":"ES256"}`) + "." + enc(`{"exp":1,"exp":2}`) + ".", "malformed token: payload: "},
		{"payload array", enc(`{"alg":"ES256"}`) + "." + enc(`[]`) + ".", "malformed token: payload: "},
		{"invalid UTF-8", enc(`{"alg":"ES256"}`) + "." + enc("{\"sub\":\"\xff\"}") + ".", "malformed token: payload: "},
		{"JSON serialization", `{"payload":"x"}`, "JWS JSON serialization"},
		{"dots", strings.Repeat(".", 1<<20), "token too large: "},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := runCLI(t, tc.token, t0, nil, "token", "decode", "-")
			if r.code != exitUsage {
				t.Fatalf("exit %d, want 2; stderr %s", r.code, r.stderr)
			}
			if r.stdout != "" {
				t.Errorf("stdout not empty: %s", r.stdout)
			}
			line := strings.TrimSuffix(r.stderr, "\n")
			if strings.Contains(line, "\n") || !strings.HasPrefix(line, "warden: token decode: ") || !strings.Contains(line, tc.wantErr) {
				t.Errorf("stderr = %q, want one line with %q", r.stderr, tc.wantErr)
			}
		})
	}
}

func TestHumanDuration(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{0, "0s"}, {400 * time.Millisecond, "0s"}, {time.Second, "1s"}, {59 * time.Second, "59s"},
		{time.Minute, "1m"}, {14*time.Minute + 59*time.Second, "14m59s"}, {time.Hour + 30*time.Second, "1h"},
		{3*time.Hour + 20*time.Minute + 5*time.Second, "3h20m"}, {50 * time.Hour, "2d2h"}, {-90 * time.Second, "1m30s"},
	}
	for _, tc := range tests {
		if got := humanDuration(tc.d); got != tc.want {
			t.Errorf("humanDuration(%v) = %q, want %q", tc.d, got, tc.want)
		}
	}
}
