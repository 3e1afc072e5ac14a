// Package fetch holds Warden's one rule for outbound HTTP to key sets,
// discovery documents and policy bundles: https only, plain http only to a
// loopback host (a sidecar or a test server on the same machine), redirects
// held to the same rule, and always a timeout.
package fetch

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// MaxRedirects is the most redirects a Client follows.
const MaxRedirects = 5

// CheckURL allows https URLs with a host, and http URLs only to a loopback
// host. Errors name the URL without its password.
func CheckURL(u *url.URL) error {
	switch {
	case u.Host == "":
		return fmt.Errorf("%s: no host", u.Redacted())
	case u.Scheme == "https":
		return nil
	case u.Scheme == "http" && IsLoopback(u.Hostname()):
		return nil
	case u.Scheme == "http":
		return fmt.Errorf("%s: plain http is only allowed to a loopback host; use https", u.Redacted())
	}
	return fmt.Errorf("%s: want an https:// URL", u.Redacted())
}

// ParseURL parses raw and applies CheckURL.
func ParseURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, err
	}
	if err := CheckURL(u); err != nil {
		return nil, err
	}
	return u, nil
}

// IsLoopback reports whether host is "localhost" or a loopback IP address.
func IsLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Client returns a shallow copy of c (a new client when c is nil) that has a
// timeout (defaultTimeout when c has none) and whose redirects must pass
// CheckURL, at most MaxRedirects of them. A CheckRedirect that c already has
// runs after these checks.
func Client(c *http.Client, defaultTimeout time.Duration) *http.Client {
	var cp http.Client
	if c != nil {
		cp = *c
	}
	if cp.Timeout <= 0 {
		cp.Timeout = defaultTimeout
	}
	next := cp.CheckRedirect
	cp.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if len(via) >= MaxRedirects {
			return errors.New("too many redirects")
		}
		if err := CheckURL(req.URL); err != nil {
			return fmt.Errorf("redirect refused: %w", err)
		}
		if next != nil {
			return next(req, via)
		}
		return nil
	}
	return &cp
}
