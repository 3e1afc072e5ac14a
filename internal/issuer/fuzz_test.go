package issuer

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzParseBody drives the parser of token, introspection and revocation
// requests with arbitrary bodies and Authorization headers: it never
// panics, every failure is an *Error with an OAuth code, and what it accepts
// holds no repeated or empty parameter and only valid UTF-8.
func FuzzParseBody(f *testing.F) {
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte("agent%3A1:s%20ecret"))
	for _, s := range []struct{ body, authz string }{
		{"grant_type=client_credentials&scope=a+b", basic},
		{"grant_type=client_credentials&client_id=a&client_secret=b", ""},
		{"grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Atoken-exchange&audience=x&audience=y&resource=z", basic},
		{"scope=a&scope=b", ""},
		{"a=%zz", ""},
		{"a=\xff", ""},
		{"client_secret=x", basic},
		{"x", "Bearer abc"},
		{"", "Basic !!!"},
		{";;&&==", "Basic " + base64.StdEncoding.EncodeToString([]byte(":"))},
		{"client_assertion_type=" + AssertionType + "&client_assertion=eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhZ2VudCJ9.c2ln", ""},
		{"client_assertion_type=" + AssertionType + "&client_assertion=a.e30.b&client_id=x", ""},
		{"client_assertion=a.bm90IGpzb24.c", basic},
	} {
		f.Add(s.body, s.authz)
	}
	f.Fuzz(func(t *testing.T, body, authz string) {
		var hdr []string
		if authz != "" {
			hdr = []string{authz}
		}
		fm, err := parseBody(body, hdr)
		if err != nil {
			var oe *Error
			if !errors.As(err, &oe) || (oe.Code != ErrCodeInvalidRequest && oe.Code != ErrCodeInvalidClient) || oe.Status < 400 {
				t.Fatalf("error %v is not an OAuth request or client error", err)
			}
			return
		}
		for k, vs := range fm.values {
			if !utf8.ValidString(k) || len(vs) == 0 || (len(vs) > 1 && !repeatable(k)) {
				t.Fatalf("accepted parameter %q = %q", k, vs)
			}
			for _, v := range vs {
				if v == "" || !utf8.ValidString(v) || len(v) > maxParamBytes {
					t.Fatalf("accepted value %q of %q", v, k)
				}
			}
		}
		if fm.assertion != "" {
			if fm.basic || fm.clientSecret != "" || fm.clientID == "" || fm.values.Get("client_assertion_type") != AssertionType {
				t.Fatalf("assertion accepted with id %q, basic %v", fm.clientID, fm.basic)
			}
		} else if fm.basic {
			if !strings.HasPrefix(strings.ToLower(authz), "basic") || fm.clientID == "" || fm.values.Has("client_secret") {
				t.Fatalf("Basic credentials accepted from %q: id %q", authz, fm.clientID)
			}
		} else if fm.clientID != fm.values.Get("client_id") {
			t.Fatalf("client id %q not from the body", fm.clientID)
		}
		if _, err := scopeList(fm.get("scope")); err == nil {
			// Round trip: what was accepted re-encodes to an equal form.
			again, err := parseBody(fm.values.Encode(), hdr)
			if err != nil || again.values.Encode() != fm.values.Encode() {
				t.Fatalf("re-encoded form %q not accepted alike: %v", fm.values.Encode(), err)
			}
		}
	})
}
