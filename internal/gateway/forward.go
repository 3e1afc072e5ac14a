package gateway

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
)

// Limits on forward-auth and Authorization headers.
const (
	MaxOriginalURIBytes  = 8192
	MaxForwardedForBytes = 4096
	MaxForwardedHops     = 32
	MaxBearerTokenBytes  = 8192
)

// Errors of OriginalRequest and BearerToken. Callers branch with errors.Is.
var (
	// ErrNoOriginalRequest: neither X-Original-URI nor X-Forwarded-Uri (or no
	// method header) was sent: the forward-auth endpoint was called by
	// something other than a configured proxy.
	ErrNoOriginalRequest = errors.New("gateway: no original request headers")
	// ErrMalformedForwarded: a forward-auth header is malformed, repeated or
	// too long.
	ErrMalformedForwarded = errors.New("gateway: malformed forwarded headers")
	// ErrNoToken: the request has no Authorization header. RFC 6750 §3.1: the
	// 401 answer then carries no error code.
	ErrNoToken = errors.New("gateway: no bearer token")
	// ErrMalformedAuthorization: an Authorization header that is not exactly
	// one well-formed "Bearer <token68>" (answer 401 with
	// error="invalid_request").
	ErrMalformedAuthorization = errors.New("gateway: malformed Authorization header")
)

// OriginalRequest reconstructs the request a reverse proxy asks the
// forward-auth endpoint about.
//
// Method and URI come from X-Original-Method and X-Original-URI (nginx
// auth_request, with the usual proxy_set_header lines) or, when those are
// absent, X-Forwarded-Method and X-Forwarded-Uri (Traefik ForwardAuth, Caddy
// forward_auth). Each must be present exactly once; the method must be an HTTP
// token, the URI an origin-form request target ("/path?query", no fragment, at
// most MaxOriginalURIBytes). uri is returned as sent (escaped); split it with
// url.ParseRequestURI and match its EscapedPath. X-Forwarded-Proto and
// X-Forwarded-Host, when present, must be well-formed (http or https; a host
// with an optional port), so that a proxy that garbles them is noticed.
//
// The client IP is the direct peer (r.RemoteAddr) unless the peer is in
// trustedProxies. Then it is taken from X-Forwarded-For, walking from the right
// and skipping trusted proxies (the first untrusted address; the leftmost if
// all are trusted), or else from X-Real-IP. By default (nil) no proxy is
// trusted, and forwarding headers never decide the client IP.
//
// Errors wrap ErrNoOriginalRequest or ErrMalformedForwarded.
func OriginalRequest(r *http.Request, trustedProxies []netip.Prefix) (method, uri string, clientIP netip.Addr, err error) {
	peer, err := parsePeer(r.RemoteAddr)
	if err != nil {
		return "", "", netip.Addr{}, err
	}
	h := r.Header
	mh, uh := "X-Original-Method", "X-Original-Uri"
	if _, ok := h[uh]; !ok {
		mh, uh = "X-Forwarded-Method", "X-Forwarded-Uri"
	}
	uri, ok, err := single(h, uh, MaxOriginalURIBytes)
	if err != nil {
		return "", "", netip.Addr{}, err
	}
	if !ok {
		return "", "", netip.Addr{}, ErrNoOriginalRequest
	}
	method, ok, err = single(h, mh, 64)
	if err != nil {
		return "", "", netip.Addr{}, err
	}
	if !ok {
		return "", "", netip.Addr{}, fmt.Errorf("%w: %s missing", ErrNoOriginalRequest, mh)
	}
	if !isToken(method) {
		return "", "", netip.Addr{}, fmt.Errorf("%w: %s is not an HTTP method", ErrMalformedForwarded, mh)
	}
	if err := checkRequestURI(uri); err != nil {
		return "", "", netip.Addr{}, fmt.Errorf("%w: %s: %w", ErrMalformedForwarded, uh, err)
	}
	if proto, ok, err := single(h, "X-Forwarded-Proto", 16); err != nil {
		return "", "", netip.Addr{}, err
	} else if ok && proto != "http" && proto != "https" {
		return "", "", netip.Addr{}, fmt.Errorf("%w: X-Forwarded-Proto is neither http nor https", ErrMalformedForwarded)
	}
	if host, ok, err := single(h, "X-Forwarded-Host", 256); err != nil {
		return "", "", netip.Addr{}, err
	} else if ok && !validHost(host) {
		return "", "", netip.Addr{}, fmt.Errorf("%w: X-Forwarded-Host is not a host", ErrMalformedForwarded)
	}
	clientIP, err = clientAddr(h, peer, trustedProxies)
	if err != nil {
		return "", "", netip.Addr{}, err
	}
	return method, uri, clientIP, nil
}

func parsePeer(remote string) (netip.Addr, error) {
	if ap, err := netip.ParseAddrPort(remote); err == nil {
		return ap.Addr().Unmap(), nil
	}
	if a, err := netip.ParseAddr(remote); err == nil && a.Zone() == "" {
		return a.Unmap(), nil
	}
	return netip.Addr{}, fmt.Errorf("%w: peer address %q", ErrMalformedForwarded, remote)
}

// single returns the one value of header name; a repeated or over-long header
// is an error.
func single(h http.Header, name string, max int) (string, bool, error) {
	vs := h[name]
	switch len(vs) {
	case 0:
		return "", false, nil
	case 1:
	default:
		return "", false, fmt.Errorf("%w: %s given more than once", ErrMalformedForwarded, name)
	}
	v := vs[0]
	if len(v) > max {
		return "", false, fmt.Errorf("%w: %s longer than %d bytes", ErrMalformedForwarded, name, max)
	}
	if v == "" {
		return "", false, fmt.Errorf("%w: %s is empty", ErrMalformedForwarded, name)
	}
	return v, true, nil
}

func checkRequestURI(s string) error {
	if s[0] != '/' || strings.HasPrefix(s, "//") {
		return errors.New("not an origin-form request target")
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c >= 0x7f || c == '#' {
			return errors.New("contains spaces, control characters, non-ASCII bytes or a fragment")
		}
	}
	u, err := url.ParseRequestURI(s)
	if err != nil {
		return errors.New("not a valid request target")
	}
	if _, err := url.ParseQuery(u.RawQuery); err != nil {
		return errors.New("malformed query")
	}
	return nil
}

func validHost(h string) bool {
	host := h
	if hp, port, err := net.SplitHostPort(h); err == nil {
		if port == "" || len(port) > 5 || strings.Trim(port, "0123456789") != "" {
			return false
		}
		host = hp
	} else if strings.HasPrefix(h, "[") {
		return false
	}
	if a, err := netip.ParseAddr(host); err == nil {
		return a.Zone() == ""
	}
	if host == "" || len(host) > 253 {
		return false
	}
	for i := 0; i < len(host); i++ {
		c := host[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_') {
			return false
		}
	}
	return true
}

func trusted(a netip.Addr, prefixes []netip.Prefix) bool {
	for _, p := range prefixes {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// ClientAddr returns the address of the client behind r: the TCP peer, or,
// when the peer is one of trustedProxies, the nearest untrusted hop of
// X-Forwarded-For (or X-Real-IP). Malformed or oversized forwarding headers
// from a trusted peer are an error wrapping ErrMalformedForwarded. Mounts
// use it to judge requests with the same client address as the routes.
func ClientAddr(r *http.Request, trustedProxies []netip.Prefix) (netip.Addr, error) {
	peer, err := parsePeer(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}, err
	}
	return clientAddr(r.Header, peer, trustedProxies)
}

func clientAddr(h http.Header, peer netip.Addr, trustedProxies []netip.Prefix) (netip.Addr, error) {
	if !trusted(peer, trustedProxies) {
		return peer, nil
	}
	if xff := h["X-Forwarded-For"]; len(xff) > 0 {
		total := 0
		for _, v := range xff {
			total += len(v)
		}
		if total > MaxForwardedForBytes {
			return netip.Addr{}, fmt.Errorf("%w: X-Forwarded-For longer than %d bytes", ErrMalformedForwarded, MaxForwardedForBytes)
		}
		var hops []string
		for _, v := range xff {
			hops = append(hops, strings.Split(v, ",")...)
		}
		if len(hops) > MaxForwardedHops {
			return netip.Addr{}, fmt.Errorf("%w: X-Forwarded-For has more than %d entries", ErrMalformedForwarded, MaxForwardedHops)
		}
		var a netip.Addr
		for i := len(hops) - 1; i >= 0; i-- {
			var err error
			a, err = parseForwardedAddr(hops[i])
			if err != nil {
				return netip.Addr{}, fmt.Errorf("%w: X-Forwarded-For entry: %w", ErrMalformedForwarded, err)
			}
			if !trusted(a, trustedProxies) {
				return a, nil
			}
		}
		return a, nil // every hop trusted: the leftmost
	}
	if v, ok, err := single(h, "X-Real-Ip", 64); err != nil {
		return netip.Addr{}, err
	} else if ok {
		a, err := parseForwardedAddr(v)
		if err != nil {
			return netip.Addr{}, fmt.Errorf("%w: X-Real-IP: %w", ErrMalformedForwarded, err)
		}
		return a, nil
	}
	return peer, nil
}

// parseForwardedAddr parses one address of X-Forwarded-For or X-Real-IP: a
// bare IP, or an IP with a port ("1.2.3.4:80", "[::1]:80"); no zones.
func parseForwardedAddr(s string) (netip.Addr, error) {
	s = strings.TrimSpace(s)
	a, err := netip.ParseAddr(s)
	if err != nil {
		ap, err2 := netip.ParseAddrPort(s)
		if err2 != nil {
			return netip.Addr{}, errors.New("not an IP address")
		}
		a = ap.Addr()
	}
	if a.Zone() != "" {
		return netip.Addr{}, errors.New("IP address with a zone")
	}
	return a.Unmap(), nil
}

// BearerToken returns the token of the request's Authorization header, which
// must be present exactly once and be "Bearer" (any case), one space and an
// RFC 6750 b64token (token68: ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" /
// "/", then any "=" padding) of at most MaxBearerTokenBytes. No header is
// ErrNoToken; anything else malformed is ErrMalformedAuthorization (answer 401
// with WWW-Authenticate error="invalid_request"). Tokens in the query or body
// are not accepted.
func BearerToken(r *http.Request) (string, error) {
	vs := r.Header["Authorization"]
	switch len(vs) {
	case 0:
		return "", ErrNoToken
	case 1:
	default:
		return "", fmt.Errorf("%w: more than one Authorization header", ErrMalformedAuthorization)
	}
	v := vs[0]
	const scheme = "bearer "
	if len(v) < len(scheme) || !strings.EqualFold(v[:len(scheme)], scheme) {
		return "", fmt.Errorf("%w: not a Bearer credential", ErrMalformedAuthorization)
	}
	tok := v[len(scheme):]
	if tok == "" {
		return "", fmt.Errorf("%w: empty token", ErrMalformedAuthorization)
	}
	if len(tok) > MaxBearerTokenBytes {
		return "", fmt.Errorf("%w: token longer than %d bytes", ErrMalformedAuthorization, MaxBearerTokenBytes)
	}
	if !isToken68(tok) {
		return "", fmt.Errorf("%w: token has characters outside token68", ErrMalformedAuthorization)
	}
	return tok, nil
}

func isToken68(s string) bool {
	i := 0
	for ; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/' {
			continue
		}
		break
	}
	if i == 0 {
		return false
	}
	for ; i < len(s); i++ {
		if s[i] != '=' {
			return false
		}
	}
	return true
}

// WWWAuthenticate builds a WWW-Authenticate challenge for the Bearer scheme
// (RFC 6750 §3): `Bearer realm="…", error="…", error_description="…"`. Empty
// arguments are left out. The realm is a quoted-string with '"' and '\'
// escaped; error and error_description may only hold %x20-21 / %x23-5B /
// %x5D-7E, so other characters (quotes, backslashes, control characters,
// non-ASCII) are dropped from them, as are control and non-ASCII characters
// from the realm.
func WWWAuthenticate(realm, errCode, desc string) string {
	var b strings.Builder
	b.WriteString("Bearer")
	sep := " "
	add := func(name, value string, escape bool) {
		b.WriteString(sep)
		sep = ", "
		b.WriteString(name)
		b.WriteString(`="`)
		for i := 0; i < len(value); i++ {
			c := value[i]
			switch {
			case c < 0x20 || c >= 0x7f:
			case c == '"' || c == '\\':
				if escape {
					b.WriteByte('\\')
					b.WriteByte(c)
				}
			default:
				b.WriteByte(c)
			}
		}
		b.WriteByte('"')
	}
	if realm != "" {
		add("realm", realm, true)
	}
	if errCode != "" {
		add("error", errCode, false)
	}
	if desc != "" {
		add("error_description", desc, false)
	}
	return b.String()
}
