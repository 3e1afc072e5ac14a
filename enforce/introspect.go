package enforce

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/wardenhq/warden/internal/authn"
	"github.com/wardenhq/warden/internal/fetch"
)

// Limits of the introspection client.
const (
	introspectPath        = "/oauth2/introspect"
	maxIntrospectionBytes = 64 << 10
	maxIntrospectionCache = 10000
)

// errInactive is the cause of a high-risk refusal when Warden answers that
// the token is not active (revoked, expired, unknown).
var errInactive = errors.New("enforce: the token is not active")

// errNoWarden is the cause of a high-risk refusal when the Enforcer has no
// Warden to confirm the token with.
var errNoWarden = errors.New("enforce: no Warden configured to confirm high-risk actions")

// introspector confirms tokens at Warden's RFC 7662 endpoint, with a short
// cache of the answers.
type introspector struct {
	endpoint string
	id, pw   string
	client   *http.Client
	ttl      time.Duration // <= 0: no cache
	now      func() time.Time

	mu    sync.Mutex
	cache map[[32]byte]introspection
}

type introspection struct {
	active bool
	until  time.Time
}

// newIntrospector returns nil for the zero Warden.
func newIntrospector(w Warden, client *http.Client, now func() time.Time) (*introspector, error) {
	if w == (Warden{}) {
		return nil, nil
	}
	base, err := trimURL(w.URL)
	if err != nil {
		return nil, fmt.Errorf("enforce: Warden.URL: %w", err)
	}
	if w.ClientID == "" || w.ClientSecret == "" {
		return nil, errors.New("enforce: Warden needs ClientID and ClientSecret")
	}
	if w.IntrospectionCacheTTL > MaxIntrospectionCacheTTL {
		return nil, fmt.Errorf("enforce: Warden.IntrospectionCacheTTL %v is over %v", w.IntrospectionCacheTTL, MaxIntrospectionCacheTTL)
	}
	ttl := w.IntrospectionCacheTTL
	if ttl == 0 {
		ttl = DefaultIntrospectionCacheTTL
	}
	timeout := w.Timeout
	if timeout <= 0 {
		timeout = DefaultWardenTimeout
	}
	c := fetch.Client(client, timeout)
	if c.Timeout > timeout {
		c.Timeout = timeout
	}
	return &introspector{
		endpoint: base + introspectPath, id: w.ClientID, pw: w.ClientSecret,
		client: c, ttl: ttl, now: now, cache: make(map[[32]byte]introspection),
	}, nil
}

// confirm reports nil when Warden says the token of p is active (from the
// cache when a recent answer says so), errInactive when it is not, and
// another error when Warden could not be asked. Only nil allows.
func (in *introspector) confirm(ctx context.Context, token string, p *authn.Principal) error {
	if in == nil {
		return errNoWarden
	}
	key := sha256.Sum256([]byte(token))
	now := in.now()
	if in.ttl > 0 {
		in.mu.Lock()
		c, ok := in.cache[key]
		in.mu.Unlock()
		if ok && now.Before(c.until) {
			if !c.active {
				return errInactive
			}
			return nil
		}
	}
	active, err := in.ask(ctx, token, p)
	if err != nil {
		return err
	}
	if in.ttl > 0 {
		in.put(key, introspection{active: active, until: now.Add(in.ttl)}, now)
	}
	if !active {
		return errInactive
	}
	return nil
}

// put stores an answer, first dropping expired answers when the cache is
// full, and everything if that is not enough (the cache only saves calls).
func (in *introspector) put(key [32]byte, v introspection, now time.Time) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if len(in.cache) >= maxIntrospectionCache {
		for k, c := range in.cache {
			if !now.Before(c.until) {
				delete(in.cache, k)
			}
		}
		if len(in.cache) >= maxIntrospectionCache {
			clear(in.cache)
		}
	}
	in.cache[key] = v
}

// ask calls the introspection endpoint once.
func (in *introspector) ask(ctx context.Context, token string, p *authn.Principal) (bool, error) {
	form := url.Values{"token": {token}, "token_type_hint": {"access_token"}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, in.endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return false, fmt.Errorf("introspect: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	// RFC 6749 §2.3.1: the credentials are form-encoded before Basic.
	req.SetBasicAuth(url.QueryEscape(in.id), url.QueryEscape(in.pw))
	resp, err := in.client.Do(req)
	if err != nil {
		return false, fmt.Errorf("introspect: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxIntrospectionBytes+1))
	if err != nil {
		return false, fmt.Errorf("introspect: read answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return false, fmt.Errorf("introspect: Warden answered %d", resp.StatusCode)
	}
	return parseIntrospection(body, p)
}

// parseIntrospection reads an RFC 7662 answer: a JSON object whose "active"
// is a boolean. An active answer must be about the token that was verified:
// its "jti", "sub" and "iss", when present, must equal the principal's.
func parseIntrospection(body []byte, p *authn.Principal) (bool, error) {
	if len(body) > maxIntrospectionBytes {
		return false, errors.New("introspect: answer too large")
	}
	var ans struct {
		Active *bool   `json:"active"`
		JTI    *string `json:"jti"`
		Sub    *string `json:"sub"`
		Iss    *string `json:"iss"`
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&ans); err != nil {
		return false, fmt.Errorf("introspect: malformed answer: %w", err)
	}
	if dec.More() {
		return false, errors.New("introspect: malformed answer: trailing data")
	}
	if ans.Active == nil {
		return false, errors.New(`introspect: malformed answer: no boolean "active"`)
	}
	if !*ans.Active {
		return false, nil
	}
	for _, c := range []struct {
		name string
		got  *string
		want string
	}{{"jti", ans.JTI, p.TokenID}, {"sub", ans.Sub, p.Subject}, {"iss", ans.Iss, p.Issuer}} {
		if c.got != nil && *c.got != c.want {
			return false, fmt.Errorf("introspect: the answer's %s does not match the token", c.name)
		}
	}
	return true, nil
}
