package gateway

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
)

func TestOriginalRequest(t *testing.T) {
	proxies := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	tests := []struct {
		name       string
		remote     string
		header     http.Header
		trusted    []netip.Prefix
		wantMethod string
		wantURI    string
		wantIP     string
		wantErr    error
	}{
		{"nginx", "10.0.0.2:5555", http.Header{"X-Original-Method": {"POST"}, "X-Original-Uri": {"/api/x?y=1"}}, nil, "POST", "/api/x?y=1", "10.0.0.2", nil},
		{"traefik", "10.0.0.2:5555", http.Header{"X-Forwarded-Method": {"GET"}, "X-Forwarded-Uri": {"/v1/models"}, "X-Forwarded-Proto": {"https"}, "X-Forwarded-Host": {"api.example.com:8443"}}, nil, "GET", "/v1/models", "10.0.0.2", nil},
		{"nginx wins", "10.0.0.2:1", http.Header{"X-Original-Method": {"POST"}, "X-Original-Uri": {"/a"}, "X-Forwarded-Method": {"GET"}, "X-Forwarded-Uri": {"/b"}}, nil, "POST", "/a", "10.0.0.2", nil},
		{"xff ignored untrusted", "192.0.2.1:1", http.Header{"X-Original-Method": {"GET"}, "X-Original-Uri": {"/"}, "X-Forwarded-For": {"203.0.113.9"}, "X-Real-Ip": {"203.0.113.8"}}, proxies, "GET", "/", "192.0.2.1", nil},
		{"xff ignored by default", "10.0.0.2:1", http.Header{"X-Original-Method": {"GET"}, "X-Original-Uri": {"/"}, "X-Forwarded-For": {"203.0.113.9"}}, nil, "GET", "/", "10.0.0.2", nil},
		{"xff trusted", "10.0.0.2:1", http.Header{"X-Original-Method": {"GET"}, "X-Original-Uri": {"/"}, "X-Forwarded-For": {"198.51.100.7, 203.0.113.9, 10.1.1.1"}}, proxies, "GET", "/", "203.0.113.9", nil},
		{"xff multiple headers", "10.0.0.2:1", http.Header{"X-Original-Method": {"GET"}, "X-Original-Uri": {"/"}, "X-Forwarded-For": {"198.51.100.7", "10.9.9.9"}}, proxies, "GET", "/", "198.51.100.7", nil},
		{"xff all trusted", "10.0.0.2:1", http.Header{"X-Original-Method": {"GET"}, "X-Original-Uri": {"/"}, "X-Forwarded-For": {"10.3.3.3, 10.1.1.1"}}, proxies, "GET", "/", "10.3.3.3", nil},
		{"xff v6 and port", "[::1]:1", http.Header{"X-Original-Method": {"GET"}, "X-Original-Uri": {"/"}, "X-Forwarded-For": {"[2001:db8::1]:443"}}, proxies, "GET", "/", "2001:db8::1", nil},
		{"xff mapped", "10.0.0.2:1", http.Header{"X-Original-Method": {"GET"}, "X-Original-Uri": {"/"}, "X-Forwarded-For": {"::ffff:203.0.113.9"}}, proxies, "GET", "/", "203.0.113.9", nil},
		{"real ip", "10.0.0.2:1", http.Header{"X-Original-Method": {"GET"}, "X-Original-Uri": {"/"}, "X-Real-Ip": {"203.0.113.8"}}, proxies, "GET", "/", "203.0.113.8", nil},
		{"peer mapped", "[::ffff:10.0.0.2]:1", http.Header{"X-Original-Method": {"GET"}, "X-Original-Uri": {"/"}, "X-Real-Ip": {"203.0.113.8"}}, proxies, "GET", "/", "203.0.113.8", nil},

		{"no headers", "10.0.0.2:1", http.Header{}, nil, "", "", "", ErrNoOriginalRequest},
		{"no method", "10.0.0.2:1", http.Header{"X-Original-Uri": {"/"}}, nil, "", "", "", ErrNoOriginalRequest},
		{"method from other family", "10.0.0.2:1", http.Header{"X-Original-Uri": {"/"}, "X-Forwarded-Method": {"GET"}}, nil, "", "", "", ErrNoOriginalRequest},
		{"bad peer", "nonsense", http.Header{"X-Original-Method": {"GET"}, "X-Original-Uri": {"/"}}, nil, "", "", "", ErrMalformedForwarded},
		{"two uris", "10.0.0.2:1", http.Header{"X-Original-Method": {"GET"}, "X-Original-Uri": {"/a", "/b"}}, nil, "", "", "", ErrMalformedForwarded},
		{"empty uri", "10.0.0.2:1", http.Header{"X-Original-Method": {"GET"}, "X-Original-Uri": {""}}, nil, "", "", "", ErrMalformedForwarded},
		{"long uri", "10.0.0.2:1", http.Header{"X-Original-Method": {"GET"}, "X-Original-Uri": {"/" + strings.Repeat("a", MaxOriginalURIBytes)}}, nil, "", "", "", ErrMalformedForwarded},
		{"absolute uri", "10.0.0.2:1", http.Header{"X-Original-Method": {"GET"}, "X-Original-Uri": {"http://evil/a"}}, nil, "", "", "", ErrMalformedForwarded},
		{"scheme-relative", "10.0.0.2:1", http.Header{"X-Original-Method": {"GET"}, "X-Original-Uri": {"//evil/a"}}, nil, "", "", "", ErrMalformedForwarded},
		{"fragment", "10.0.0.2:1", http.Header{"X-Original-Method": {"GET"}, "X-Original-Uri": {"/a#b"}}, nil, "", "", "", ErrMalformedForwarded},
		{"space", "10.0.0.2:1", http.Header{"X-Original-Method": {"GET"}, "X-Original-Uri": {"/a b"}}, nil, "", "", "", ErrMalformedForwarded},
		{"bad escape", "10.0.0.2:1", http.Header{"X-Original-Method": {"GET"}, "X-Original-Uri": {"/a%zz"}}, nil, "", "", "", ErrMalformedForwarded},
		{"bad query", "10.0.0.2:1", http.Header{"X-Original-Method": {"GET"}, "X-Original-Uri": {"/a?b=%zz"}}, nil, "", "", "", ErrMalformedForwarded},
		{"bad method", "10.0.0.2:1", http.Header{"X-Original-Method": {"GE T"}, "X-Original-Uri": {"/"}}, nil, "", "", "", ErrMalformedForwarded},
		{"bad proto", "10.0.0.2:1", http.Header{"X-Forwarded-Method": {"GET"}, "X-Forwarded-Uri": {"/"}, "X-Forwarded-Proto": {"gopher"}}, nil, "", "", "", ErrMalformedForwarded},
		{"bad host", "10.0.0.2:1", http.Header{"X-Forwarded-Method": {"GET"}, "X-Forwarded-Uri": {"/"}, "X-Forwarded-Host": {"a b"}}, nil, "", "", "", ErrMalformedForwarded},
		{"bad host port", "10.0.0.2:1", http.Header{"X-Forwarded-Method": {"GET"}, "X-Forwarded-Uri": {"/"}, "X-Forwarded-Host": {"a:x"}}, nil, "", "", "", ErrMalformedForwarded},
		{"bad xff", "10.0.0.2:1", http.Header{"X-Original-Method": {"GET"}, "X-Original-Uri": {"/"}, "X-Forwarded-For": {"1.2.3.4, bogus"}}, proxies, "", "", "", ErrMalformedForwarded},
		{"empty xff entry", "10.0.0.2:1", http.Header{"X-Original-Method": {"GET"}, "X-Original-Uri": {"/"}, "X-Forwarded-For": {"1.2.3.4,,"}}, proxies, "", "", "", ErrMalformedForwarded},
		{"xff zone", "10.0.0.2:1", http.Header{"X-Original-Method": {"GET"}, "X-Original-Uri": {"/"}, "X-Forwarded-For": {"fe80::1%eth0"}}, proxies, "", "", "", ErrMalformedForwarded},
		{"xff too many", "10.0.0.2:1", http.Header{"X-Original-Method": {"GET"}, "X-Original-Uri": {"/"}, "X-Forwarded-For": {strings.Repeat("1.1.1.1,", MaxForwardedHops) + "1.1.1.1"}}, proxies, "", "", "", ErrMalformedForwarded},
		{"xff too long", "10.0.0.2:1", http.Header{"X-Original-Method": {"GET"}, "X-Original-Uri": {"/"}, "X-Forwarded-For": {strings.Repeat(" ", MaxForwardedForBytes) + "1.1.1.1"}}, proxies, "", "", "", ErrMalformedForwarded},
		{"two real ips", "10.0.0.2:1", http.Header{"X-Original-Method": {"GET"}, "X-Original-Uri": {"/"}, "X-Real-Ip": {"1.1.1.1", "2.2.2.2"}}, proxies, "", "", "", ErrMalformedForwarded},
		{"bad real ip", "10.0.0.2:1", http.Header{"X-Original-Method": {"GET"}, "X-Original-Uri": {"/"}, "X-Real-Ip": {"x"}}, proxies, "", "", "", ErrMalformedForwarded},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/authz", nil)
			r.RemoteAddr = tc.remote
			r.Header = tc.header
			m, u, ip, err := OriginalRequest(r, tc.trusted)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if m != tc.wantMethod || u != tc.wantURI || ip.String() != tc.wantIP {
				t.Errorf("got %s %s %s, want %s %s %s", m, u, ip, tc.wantMethod, tc.wantURI, tc.wantIP)
			}
		})
	}
}

func TestBearerToken(t *testing.T) {
	tok := "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln"
	tests := []struct {
		name    string
		values  []string
		want    string
		wantErr error
	}{
		{"ok", []string{"Bearer " + tok}, tok, nil},
		{"lower", []string{"bearer " + tok}, tok, nil},
		{"upper", []string{"BEARER abc"}, "abc", nil},
		{"padding", []string{"Bearer ab+/c=="}, "ab+/c==", nil},
		{"token68 chars", []string{"Bearer a-._~+/9Z"}, "a-._~+/9Z", nil},
		{"none", nil, "", ErrNoToken},
		{"two headers", []string{"Bearer a", "Bearer b"}, "", ErrMalformedAuthorization},
		{"basic", []string{"Basic dXNlcjpwYXNz"}, "", ErrMalformedAuthorization},
		{"no space", []string{"Bearer"}, "", ErrMalformedAuthorization},
		{"empty token", []string{"Bearer "}, "", ErrMalformedAuthorization},
		{"two spaces", []string{"Bearer  abc"}, "", ErrMalformedAuthorization},
		{"tab", []string{"Bearer\tabc"}, "", ErrMalformedAuthorization},
		{"trailing space", []string{"Bearer abc "}, "", ErrMalformedAuthorization},
		{"inner space", []string{"Bearer a b"}, "", ErrMalformedAuthorization},
		{"comma", []string{"Bearer a,Bearer b"}, "", ErrMalformedAuthorization},
		{"quote", []string{`Bearer "abc"`}, "", ErrMalformedAuthorization},
		{"only padding", []string{"Bearer =="}, "", ErrMalformedAuthorization},
		{"padding inside", []string{"Bearer a=b"}, "", ErrMalformedAuthorization},
		{"non-ascii", []string{"Bearer abcé"}, "", ErrMalformedAuthorization},
		{"bearerx", []string{"Bearerx abc"}, "", ErrMalformedAuthorization},
		{"too long", []string{"Bearer " + strings.Repeat("a", MaxBearerTokenBytes+1)}, "", ErrMalformedAuthorization},
		{"max", []string{"Bearer " + strings.Repeat("a", MaxBearerTokenBytes)}, strings.Repeat("a", MaxBearerTokenBytes), nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			if tc.values != nil {
				r.Header["Authorization"] = tc.values
			}
			got, err := BearerToken(r)
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil && err != nil) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if got != tc.want {
				t.Errorf("token = %q, want %q", got, tc.want)
			}
			if err != nil && strings.Contains(err.Error(), "abc") {
				t.Errorf("error %q echoes the credential", err)
			}
		})
	}
}

func TestWWWAuthenticate(t *testing.T) {
	tests := []struct{ realm, code, desc, want string }{
		{"", "", "", "Bearer"},
		{"warden", "", "", `Bearer realm="warden"`},
		{"warden", "invalid_token", "The access token expired", `Bearer realm="warden", error="invalid_token", error_description="The access token expired"`},
		{"", "invalid_request", "", `Bearer error="invalid_request"`},
		{`a"b\c`, `in"valid`, "bad \"x\" \\ y\r\nz é", `Bearer realm="a\"b\\c", error="invalid", error_description="bad x  yz "`},
	}
	for _, tc := range tests {
		if got := WWWAuthenticate(tc.realm, tc.code, tc.desc); got != tc.want {
			t.Errorf("WWWAuthenticate(%q, %q, %q) = %s, want %s", tc.realm, tc.code, tc.desc, got, tc.want)
		}
	}
}

func FuzzForwardHeaders(f *testing.F) {
	f.Add("POST", "/api/x?y=1", "203.0.113.9, 10.1.1.1", "Bearer abc.def.ghi", "203.0.113.1")
	f.Add("GET", "//evil", "bogus", "Basic x", "")
	f.Add("GET", "/a%zz", "[::1]:80", "bearer  a", "1.2.3.4")
	proxies := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	f.Fuzz(func(t *testing.T, method, uri, xff, authz, realIP string) {
		r := httptest.NewRequest("GET", "/authz", nil)
		r.RemoteAddr = "10.0.0.2:1234"
		r.Header.Set("X-Original-Method", method)
		r.Header.Set("X-Original-URI", uri)
		r.Header.Set("X-Forwarded-For", xff)
		r.Header.Set("X-Real-IP", realIP)
		r.Header.Set("Authorization", authz)
		m, u, ip, err := OriginalRequest(r, proxies)
		if err == nil {
			if !isToken(m) || !strings.HasPrefix(u, "/") || strings.HasPrefix(u, "//") || len(u) > MaxOriginalURIBytes || !ip.IsValid() || ip.Zone() != "" {
				t.Fatalf("accepted %q %q %v", m, u, ip)
			}
		} else if !errors.Is(err, ErrMalformedForwarded) && !errors.Is(err, ErrNoOriginalRequest) {
			t.Fatalf("untyped error %v", err)
		}
		tok, err := BearerToken(r)
		if err == nil {
			if tok == "" || len(tok) > MaxBearerTokenBytes || !isToken68(tok) || !strings.EqualFold(authz[:7], "bearer ") {
				t.Fatalf("accepted token %q from %q", tok, authz)
			}
		} else if !errors.Is(err, ErrMalformedAuthorization) && !errors.Is(err, ErrNoToken) {
			t.Fatalf("untyped error %v", err)
		}
		h := WWWAuthenticate(uri, method, authz)
		for i := 0; i < len(h); i++ {
			if h[i] < 0x20 || h[i] >= 0x7f {
				t.Fatalf("challenge has byte %#x: %q", h[i], h)
			}
		}
	})
}
