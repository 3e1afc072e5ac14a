package issuer

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"unicode/utf8"
)

// DefaultMaxFormBytes bounds a request body of the OAuth endpoints.
const DefaultMaxFormBytes = 64 << 10

// maxParamBytes bounds one parameter value (a subject token is at most a
// few KiB; the verifier caps it again).
const maxParamBytes = 16 << 10

// repeatable are the parameters that may appear more than once (RFC 8693
// §2.1: audience and resource); every other parameter must not (RFC 6749
// §3.2).
func repeatable(name string) bool { return name == "audience" || name == "resource" }

// form is a parsed request body of an OAuth endpoint.
type form struct {
	values url.Values
	// client credentials from the Authorization header (Basic) or the body,
	// or a private_key_jwt assertion (RFC 7523).
	clientID, clientSecret string
	assertion              string
	basic                  bool
}

// AssertionType is the client_assertion_type of private_key_jwt.
const AssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// maxAssertionBytes bounds a client assertion.
const maxAssertionBytes = 8 << 10

func (f *form) get(name string) string { return f.values.Get(name) }

// parseForm reads an OAuth endpoint request: POST, an
// application/x-www-form-urlencoded body of at most max bytes, valid UTF-8,
// no repeated parameter except audience and resource, empty values treated as
// absent (RFC 6749 §3.1), and the client's credentials from HTTP Basic (with
// the form-encoding of RFC 6749 §2.3.1) or client_id/client_secret in the
// body, never both.
func parseForm(r *http.Request, max int64) (*form, error) {
	if r.Method != http.MethodPost {
		return nil, &Error{Status: http.StatusMethodNotAllowed, Code: ErrCodeInvalidRequest, Description: "use POST", allow: http.MethodPost}
	}
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/x-www-form-urlencoded" {
		return nil, badRequest("the body must be application/x-www-form-urlencoded")
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, max+1))
	if err != nil {
		return nil, badRequest("unreadable body")
	}
	if int64(len(body)) > max {
		return nil, &Error{Status: http.StatusRequestEntityTooLarge, Code: ErrCodeInvalidRequest, Description: "body too large"}
	}
	return parseBody(string(body), r.Header.Values("Authorization"))
}

// parseBody is parseForm after the transport checks; it is what the fuzz
// target drives.
func parseBody(body string, authz []string) (*form, error) {
	if !utf8.ValidString(body) {
		return nil, badRequest("the body is not valid UTF-8")
	}
	vals, err := url.ParseQuery(body)
	if err != nil {
		return nil, badRequest("malformed form body")
	}
	for k, vs := range vals {
		if !utf8.ValidString(k) {
			return nil, badRequest("a parameter name is not valid UTF-8")
		}
		kept := vs[:0]
		for _, v := range vs {
			if !utf8.ValidString(v) {
				return nil, badRequest("parameter " + safeName(k) + " is not valid UTF-8")
			}
			if len(v) > maxParamBytes {
				return nil, badRequest("parameter " + safeName(k) + " is too long")
			}
			if v != "" {
				kept = append(kept, v)
			}
		}
		switch {
		case len(kept) == 0:
			delete(vals, k)
		case len(kept) > 1 && !repeatable(k):
			return nil, badRequest("parameter " + safeName(k) + " is repeated")
		default:
			vals[k] = kept
		}
	}
	f := &form{values: vals}
	switch len(authz) {
	case 0:
	case 1:
		scheme, cred, _ := strings.Cut(authz[0], " ")
		if !strings.EqualFold(scheme, "Basic") {
			return nil, &Error{Status: http.StatusUnauthorized, Code: ErrCodeInvalidClient, Description: "only HTTP Basic client authentication is supported"}
		}
		f.basic = true
		id, secret, err := decodeBasic(strings.TrimSpace(cred))
		if err != nil {
			return nil, &Error{Status: http.StatusUnauthorized, Code: ErrCodeInvalidClient, Description: "malformed Basic credentials", basic: true}
		}
		if vals.Has("client_secret") {
			return nil, badRequest("use one client authentication method, not two")
		}
		if bodyID := vals.Get("client_id"); bodyID != "" && bodyID != id {
			return nil, badRequest("client_id differs from the authenticated client")
		}
		f.clientID, f.clientSecret = id, secret
	default:
		return nil, badRequest("more than one Authorization header")
	}
	if !f.basic {
		f.clientID, f.clientSecret = vals.Get("client_id"), vals.Get("client_secret")
	}
	if vals.Has("client_assertion") || vals.Has("client_assertion_type") {
		switch {
		case f.basic || f.clientSecret != "":
			return nil, badRequest("use one client authentication method, not two")
		case vals.Get("client_assertion_type") != AssertionType:
			return nil, badRequest("client_assertion_type must be " + AssertionType)
		case !vals.Has("client_assertion"):
			return nil, badRequest("client_assertion is required")
		case len(vals.Get("client_assertion")) > maxAssertionBytes:
			return nil, badRequest("client_assertion is too long")
		}
		f.assertion = vals.Get("client_assertion")
		sub, err := assertionSubject(f.assertion)
		if err != nil {
			return nil, &Error{Status: http.StatusUnauthorized, Code: ErrCodeInvalidClient, Description: "malformed client assertion", Err: err}
		}
		if f.clientID != "" && f.clientID != sub {
			return nil, badRequest("client_id differs from the assertion's subject")
		}
		f.clientID = sub
	}
	return f, nil
}

// assertionSubject reads the (not yet verified) "sub" of a client
// assertion: it only selects whose keys verify it.
func assertionSubject(jwt string) (string, error) {
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		return "", errors.New("not a compact JWS")
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return "", errors.New("payload is not base64url")
	}
	var claims struct {
		Sub string `json:"sub"`
	}
	if err := json.Unmarshal(payload, &claims); err != nil {
		return "", errors.New("payload is not a JSON object")
	}
	if claims.Sub == "" || !utf8.ValidString(claims.Sub) {
		return "", errors.New("no sub")
	}
	return claims.Sub, nil
}

// decodeBasic decodes HTTP Basic credentials whose user and password are
// form-encoded (RFC 6749 §2.3.1).
func decodeBasic(cred string) (id, secret string, err error) {
	raw, err := base64.StdEncoding.DecodeString(cred)
	if err != nil {
		return "", "", err
	}
	u, p, ok := strings.Cut(string(raw), ":")
	if !ok {
		return "", "", errors.New("no colon")
	}
	if id, err = url.QueryUnescape(u); err != nil {
		return "", "", err
	}
	if secret, err = url.QueryUnescape(p); err != nil {
		return "", "", err
	}
	if id == "" || !utf8.ValidString(id) || !utf8.ValidString(secret) {
		return "", "", errors.New("empty or invalid client id")
	}
	return id, secret, nil
}

// safeName quotes a parameter name for an error description, bounded and
// printable.
func safeName(k string) string {
	if len(k) > 40 {
		k = k[:40]
	}
	var b strings.Builder
	for _, c := range k {
		if c < 0x20 || c > 0x7e || c == '"' {
			c = '?'
		}
		b.WriteRune(c)
	}
	return `"` + b.String() + `"`
}

// scopeList splits a scope parameter (RFC 6749 §3.3) and checks each token.
func scopeList(s string) ([]string, error) {
	if s == "" {
		return nil, nil
	}
	var out []string
	for _, tok := range strings.Split(s, " ") {
		if tok == "" {
			return nil, errors.New("empty scope token")
		}
		for i := 0; i < len(tok); i++ {
			c := tok[i]
			if c < 0x21 || c > 0x7e || c == '"' || c == '\\' {
				return nil, errors.New("invalid scope token")
			}
		}
		if !slices.Contains(out, tok) {
			out = append(out, tok)
		}
	}
	return out, nil
}

// subset reports whether every element of a is in b.
func subset(a, b []string) bool {
	for _, x := range a {
		if !slices.Contains(b, x) {
			return false
		}
	}
	return true
}

// intersect returns the elements of a that are in b, in a's order.
func intersect(a, b []string) []string {
	var out []string
	for _, x := range a {
		if slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	return out
}
