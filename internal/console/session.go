package console

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/wardenhq/warden/internal/authn"
	"github.com/wardenhq/warden/internal/gateway"
)

// Cookie names: the __Host- prefix (which browsers accept only with Secure)
// when the console is served over TLS.
const (
	cookieName       = "warden_console"
	secureCookieName = "__Host-warden_console"
	csrfHeader       = "X-CSRF-Token"
	secretBytes      = 32
)

// session is a signed-in browser: the verified principal, until when, and
// the CSRF token its state-changing calls must present.
type session struct {
	principal *authn.Principal
	expires   time.Time
	created   time.Time
	csrf      string
}

// sessions is the in-memory session table, keyed by the SHA-256 of the
// cookie value so that the table never holds the secret itself and a lookup
// does not compare secrets byte by byte.
type sessions struct {
	mu  sync.Mutex
	max int
	m   map[[sha256.Size]byte]*session
}

func newSessions(limit int) *sessions {
	return &sessions{max: limit, m: make(map[[sha256.Size]byte]*session)}
}

func newSecret() string {
	b := make([]byte, secretBytes)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return base64.RawURLEncoding.EncodeToString(b)
}

// create stores a new session and returns its cookie value. When the table
// is full, expired sessions go first, then the oldest.
func (s *sessions) create(p *authn.Principal, now, expires time.Time) (string, *session) {
	id := newSecret()
	ss := &session{principal: p, expires: expires, created: now, csrf: newSecret()}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.m) >= s.max {
		var oldestKey [sha256.Size]byte
		var oldest *session
		for k, v := range s.m {
			if !now.Before(v.expires) {
				delete(s.m, k)
				continue
			}
			if oldest == nil || v.created.Before(oldest.created) {
				oldestKey, oldest = k, v
			}
		}
		if len(s.m) >= s.max && oldest != nil {
			delete(s.m, oldestKey)
		}
	}
	s.m[sha256.Sum256([]byte(id))] = ss
	return id, ss
}

// get returns the live session of a cookie value, or nil.
func (s *sessions) get(id string, now time.Time) *session {
	if id == "" {
		return nil
	}
	key := sha256.Sum256([]byte(id))
	s.mu.Lock()
	defer s.mu.Unlock()
	ss := s.m[key]
	if ss == nil {
		return nil
	}
	if !now.Before(ss.expires) {
		delete(s.m, key)
		return nil
	}
	return ss
}

func (s *sessions) delete(id string) {
	key := sha256.Sum256([]byte(id))
	s.mu.Lock()
	delete(s.m, key)
	s.mu.Unlock()
}

func (s *sessions) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.m)
}

func cookieNameFor(r *http.Request) string {
	if r.TLS != nil {
		return secureCookieName
	}
	return cookieName
}

// sessionOf returns the session of the request's cookie (or nil) and the
// cookie's value. A session whose token has been revoked since sign-in
// (its jti or refresh family on the verifier's denylist) is ended here.
func (c *Console) sessionOf(r *http.Request) (*session, string) {
	ck, err := r.Cookie(cookieNameFor(r))
	if err != nil {
		return nil, ""
	}
	ss := c.sessions.get(ck.Value, c.clock())
	if ss != nil && c.cfg.Verifier.CheckRevoked(ss.principal) != nil {
		c.sessions.delete(ck.Value)
		return nil, ck.Value
	}
	return ss, ck.Value
}

func setSessionCookie(w http.ResponseWriter, r *http.Request, value string, maxAge time.Duration) {
	ck := &http.Cookie{
		Name:     cookieNameFor(r),
		Value:    value,
		Path:     "/",
		HttpOnly: true,
		Secure:   r.TLS != nil,
		SameSite: http.SameSiteStrictMode,
	}
	if r.TLS == nil {
		// __Host- cookies must have Path=/; the plain one is scoped to the
		// console.
		ck.Path = Prefix
	}
	if maxAge <= 0 {
		ck.MaxAge = -1
	} else {
		ck.MaxAge = int(maxAge / time.Second)
		if ck.MaxAge == 0 {
			ck.MaxAge = 1
		}
	}
	http.SetCookie(w, ck)
}

// errCrossSite is the CSRF refusal.
func errCrossSite(detail string) error {
	return &gateway.Error{Status: http.StatusForbidden, Code: CodeCSRF,
		Message: "cross-site request refused; reload the console and try again", Err: errors.New(detail)}
}

// checkOrigin refuses a request that a browser marks as cross-site, or
// whose Origin is not this server. Requests without either header (curl)
// pass this check; the CSRF token check still applies to them.
func checkOrigin(r *http.Request) error {
	switch site := r.Header.Get("Sec-Fetch-Site"); site {
	case "", "same-origin", "none":
	default:
		return errCrossSite("Sec-Fetch-Site " + site)
	}
	origin := r.Header.Get("Origin")
	if origin == "" {
		return nil
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return errCrossSite("unparsable Origin")
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	if u.Scheme != scheme || !strings.EqualFold(u.Host, r.Host) {
		return errCrossSite("Origin is another site")
	}
	return nil
}

// checkCSRF requires the session's CSRF token in the X-CSRF-Token header.
func checkCSRF(r *http.Request, ss *session) error {
	got := r.Header.Get(csrfHeader)
	if got == "" || subtle.ConstantTimeCompare([]byte(got), []byte(ss.csrf)) != 1 {
		return errCrossSite("missing or wrong " + csrfHeader)
	}
	return nil
}
