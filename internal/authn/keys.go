package authn

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wardenhq/warden/internal/jwk"
)

// Key-set refresh defaults, used when the IssuerConfig field is zero.
const (
	// DefaultMinRefresh is the shortest time a fetched JWKS is used before
	// it is refetched, whatever its Cache-Control says.
	DefaultMinRefresh = 5 * time.Minute
	// DefaultMaxRefresh is the longest time a fetched JWKS is used before it
	// is refetched; also the lifetime of a response without max-age. A JWKS
	// file is checked for changes this often.
	DefaultMaxRefresh = time.Hour
	// DefaultMaxStale is how long past its lifetime a JWKS is still used
	// while refreshes fail. After that verification fails closed with
	// ReasonKeysUnavailable.
	DefaultMaxStale = 12 * time.Hour
	// DefaultUnknownKidCooldown is the shortest interval between two
	// fetches of an issuer's JWKS (background or on an unknown kid), so that
	// tokens with random kids cannot make Warden hammer the identity provider.
	DefaultUnknownKidCooldown = time.Minute
	// DefaultFetchTimeout bounds one JWKS fetch when the HTTP client has no
	// timeout of its own.
	DefaultFetchTimeout = 5 * time.Second
	// MaxJWKSBytes caps a JWKS response body or file.
	MaxJWKSBytes = jwk.MaxSetBytes
)

// maxKidBytes bounds the "kid" header: it is only ever a map key.
const maxKidBytes = 256

// verifyKey is one key an issuer's tokens may be verified with, prepared at
// load: the public half (or HMAC secret) and the algorithms it may serve.
type verifyKey struct {
	kid  string
	key  any       // what jwt.SigningMethod.Verify expects
	algs algSet    // the issuer's allowed algorithms this key fits
	desc string    // key type for error messages, e.g. "EC P-256"
	pin  string    // the key's own "alg", "" if none
	size int       // exact signature length for this key (per family)
	fam  algFamily // key family, to check signature sizes
}

// keySet is an immutable snapshot of an issuer's keys. It is swapped whole
// on refresh.
type keySet struct {
	byKid map[string][]*verifyKey
	all   []*verifyKey
	// gen changes only when the keys change, so that cached verifications
	// made with the previous keys are dropped.
	gen    uint64
	digest [32]byte
	// fetched is when the keys were loaded; refreshAt when a background
	// refresh is due (zero: never); staleAt when the set must no longer be
	// used (zero: never).
	fetched   time.Time
	refreshAt time.Time
	staleAt   time.Time
}

// lookup finds the single key for (alg, kid). A kid present in the set but
// unfit for alg is ReasonAlgorithm; no key is ReasonUnknownKey.
func (ks *keySet) lookup(a *algInfo, kid string, hasKid bool) (*verifyKey, *VerifyError) {
	if hasKid {
		cands := ks.byKid[kid]
		if len(cands) == 0 {
			return nil, fail(ReasonUnknownKey, "no key with kid %s", quote(kid))
		}
		var found *verifyKey
		for _, k := range cands {
			if k.algs.has(a.bit) {
				if found != nil {
					return nil, fail(ReasonUnknownKey, "kid %s names more than one %s key", quote(kid), a.name)
				}
				found = k
			}
		}
		if found == nil {
			k := cands[0]
			if k.pin != "" && k.pin != a.name {
				return nil, fail(ReasonAlgorithm, "algorithm %s does not match the %s key %s, which is pinned to %s", a.name, k.desc, quote(kid), k.pin)
			}
			return nil, fail(ReasonAlgorithm, "algorithm %s cannot be used with the %s key %s", a.name, k.desc, quote(kid))
		}
		return found, nil
	}
	var found *verifyKey
	for _, k := range ks.all {
		if k.algs.has(a.bit) {
			if found != nil {
				return nil, fail(ReasonUnknownKey, "token has no kid and the issuer has several %s keys", a.name)
			}
			found = k
		}
	}
	if found == nil {
		return nil, fail(ReasonUnknownKey, "token has no kid and the issuer has no %s key", a.name)
	}
	return found, nil
}

// newKeySet prepares keys for an issuer that allows algs. Keys that fit none
// of algs are kept (so that a kid still resolves and the error says why),
// but never verify anything.
func newKeySet(keys []*jwk.Key, algs []*algInfo, allowSecret bool) (*keySet, error) {
	ks := &keySet{byKid: make(map[string][]*verifyKey, len(keys))}
	for _, k := range keys {
		if k.Use != "" && k.Use != "sig" {
			continue
		}
		pub := k.VerifyingKey()
		if pub == nil {
			continue
		}
		if _, secret := pub.([]byte); secret && !allowSecret {
			continue
		}
		vk := &verifyKey{kid: k.KeyID, key: pub, pin: k.Alg, desc: keyDesc(pub)}
		vk.fam, vk.size = keyFamily(pub)
		for _, a := range algs {
			if k.Alg != "" && k.Alg != a.name {
				continue
			}
			if a.fam != vk.fam {
				continue
			}
			if jwk.CheckAlg(a.name, pub) != nil {
				continue
			}
			vk.algs = vk.algs.with(a.bit)
		}
		ks.all = append(ks.all, vk)
		ks.byKid[k.KeyID] = append(ks.byKid[k.KeyID], vk)
	}
	if len(ks.all) == 0 {
		return nil, errors.New("no signing keys")
	}
	return ks, nil
}

// usable reports whether at least one key fits one allowed algorithm.
func (ks *keySet) usable() bool {
	for _, k := range ks.all {
		if k.algs != 0 {
			return true
		}
	}
	return false
}

func keyFamily(key any) (algFamily, int) {
	switch k := key.(type) {
	case *ecdsa.PublicKey:
		return famEC, 2 * ((k.Curve.Params().BitSize + 7) / 8)
	case *rsa.PublicKey:
		return famRSA, k.Size()
	case ed25519.PublicKey:
		return famEdDSA, ed25519.SignatureSize
	case []byte:
		return famHMAC, 0 // depends on the hash; checked by alg
	}
	return famNone, 0
}

func keyDesc(key any) string {
	switch k := key.(type) {
	case *ecdsa.PublicKey:
		return "EC " + k.Curve.Params().Name
	case *rsa.PublicKey:
		return fmt.Sprintf("RSA %d-bit", k.N.BitLen())
	case ed25519.PublicKey:
		return "Ed25519"
	case []byte:
		return "HMAC"
	}
	return fmt.Sprintf("%T", key)
}

// source loads an issuer's keys from a JWKS file or URL.
type source interface {
	// load returns the keys, how long they may be used (0: no bound), and
	// a digest of the raw document.
	load(ctx context.Context) (keys []*jwk.Key, ttl time.Duration, digest [32]byte, err error)
	// String names the source for logs and errors (never key material).
	String() string
	// remote reports whether the keys come from the network (their sets go
	// stale; HMAC secrets are never accepted from them).
	remote() bool
}

// keyStore holds an issuer's current key set and refreshes it.
type keyStore struct {
	issuer  string
	algs    []*algInfo
	src     source // nil for static keys
	current atomic.Pointer[keySet]

	clock    func() time.Time
	log      *slog.Logger
	minTTL   time.Duration
	maxTTL   time.Duration
	maxStale time.Duration
	cooldown time.Duration

	kick chan struct{} // wakes the refresh loop; capacity 1
	// spawn runs f in a goroutine the Verifier's Close waits for; false
	// once the Verifier is closed.
	spawn func(f func()) bool

	mu          sync.Mutex
	lastAttempt time.Time  // last fetch start, successful or not
	nextTry     time.Time  // when the refresh loop fetches next
	failures    int        // consecutive failed fetches
	inflight    *fetchCall // the fetch running now, if any
	gen         uint64

	// refreshFailures counts failed fetches since start, for Stats.
	refreshFailures atomic.Uint64
}

// fetchCall is one fetch that concurrent callers wait for together.
type fetchCall struct {
	done chan struct{}
	err  error
}

// keys returns the set to verify with at now, or ReasonKeysUnavailable when
// it is older than its max-stale bound. It nudges the refresh loop when a
// refresh is due.
func (s *keyStore) keys(now time.Time) (*keySet, *VerifyError) {
	ks := s.current.Load()
	if ks == nil {
		return nil, fail(ReasonKeysUnavailable, "no keys loaded for issuer %s", quote(s.issuer))
	}
	if !ks.refreshAt.IsZero() && !now.Before(ks.refreshAt) {
		s.nudge()
	}
	if !ks.staleAt.IsZero() && !now.Before(ks.staleAt) {
		return nil, fail(ReasonKeysUnavailable, "keys of issuer %s are stale (last refreshed %s ago, refreshes failing)", quote(s.issuer), now.Sub(ks.fetched).Round(time.Second))
	}
	return ks, nil
}

func (s *keyStore) nudge() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// refetchForUnknownKid fetches the key set again because a token named a
// key the current set lacks, unless a fetch started less than the cool-down
// ago. A fetch already in flight is joined instead. It reports whether a
// fetch completed successfully. The fetch runs in the background under bg
// (the Verifier's lifetime, bounded by the fetch timeout), so that the
// caller can give up when ctx ends without failing it for the others
// waiting on it.
func (s *keyStore) refetchForUnknownKid(ctx, bg context.Context) bool {
	if s.src == nil || bg.Err() != nil {
		return false
	}
	s.mu.Lock()
	c := s.inflight
	if c == nil {
		now := s.clock()
		if !s.lastAttempt.IsZero() && now.Sub(s.lastAttempt) < s.cooldown {
			s.mu.Unlock()
			return false
		}
		c = s.startLocked(now)
		s.mu.Unlock()
		if !s.spawn(func() { s.run(bg, c) }) {
			s.run(bg, c) // closed: bg is done, so this returns at once
		}
	} else {
		s.mu.Unlock()
	}
	select {
	case <-c.done:
		return c.err == nil
	case <-ctx.Done():
		return false
	}
}

// startLocked registers a new fetch; s.mu must be held.
func (s *keyStore) startLocked(now time.Time) *fetchCall {
	c := &fetchCall{done: make(chan struct{})}
	s.inflight = c
	s.lastAttempt = now
	return c
}

// fetch runs one fetch now (joining one in flight), ignoring the cool-down.
func (s *keyStore) fetch(ctx context.Context) error {
	s.mu.Lock()
	c := s.inflight
	if c == nil {
		c = s.startLocked(s.clock())
		s.mu.Unlock()
		s.run(ctx, c)
	} else {
		s.mu.Unlock()
		<-c.done
	}
	return c.err
}

// run performs fetch c and installs its result.
func (s *keyStore) run(ctx context.Context, c *fetchCall) {
	c.err = s.load(ctx)
	now := s.clock()
	s.mu.Lock()
	s.inflight = nil
	if c.err != nil {
		s.failures++
		s.refreshFailures.Add(1)
		s.nextTry = now.Add(s.backoff())
	} else {
		s.failures = 0
		s.nextTry = s.current.Load().refreshAt
	}
	s.mu.Unlock()
	close(c.done)
	if c.err != nil {
		s.log.Warn("authn: fetching issuer keys failed; the last good keys stay in use",
			"issuer", s.issuer, "source", s.src.String(), "error", c.err)
	}
}

// backoff is the delay before retrying after s.failures failed fetches:
// doubling from the cool-down, capped by the minimum refresh interval.
func (s *keyStore) backoff() time.Duration {
	d := s.cooldown
	for i := 1; i < s.failures && d < s.minTTL; i++ {
		d *= 2
	}
	return min(d, max(s.minTTL, s.cooldown))
}

// load fetches and installs a new key set.
func (s *keyStore) load(ctx context.Context) error {
	keys, ttl, digest, err := s.src.load(ctx)
	if err != nil {
		return err
	}
	now := s.clock()
	prev := s.current.Load()
	var ks *keySet
	if prev != nil && prev.digest == digest {
		cp := *prev // same keys: keep the generation, extend the lifetime
		ks = &cp
	} else {
		ks, err = newKeySet(keys, s.algs, !s.src.remote())
		if err != nil {
			return fmt.Errorf("%s: %w", s.src, err)
		}
		if !ks.usable() {
			return fmt.Errorf("%s: no key fits the allowed algorithms %v", s.src, algNames(s.algs))
		}
		ks.digest = digest
		s.mu.Lock()
		s.gen++
		ks.gen = s.gen
		s.mu.Unlock()
		if prev != nil {
			s.log.Info("authn: issuer keys changed", "issuer", s.issuer, "source", s.src.String(), "keys", len(ks.all))
		}
	}
	ks.fetched = now
	if s.src.remote() {
		ttl = min(max(ttl, s.minTTL), s.maxTTL)
		// Refresh in the background a quarter of the lifetime early, so
		// that a slow or failing identity provider is retried before the
		// keys expire.
		ks.refreshAt = now.Add(ttl - ttl/4)
		ks.staleAt = now.Add(ttl + s.maxStale)
	} else {
		ks.refreshAt = now.Add(s.maxTTL)
		ks.staleAt = time.Time{}
	}
	s.current.Store(ks)
	return nil
}

// loop refreshes the key set in the background until ctx is done: when the
// current set's refresh time comes (by the injected clock), when nudged by
// a verification that noticed it is due, and with backoff after failures.
func (s *keyStore) loop(ctx context.Context) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		s.mu.Lock()
		due := s.nextTry
		s.mu.Unlock()
		wait := due.Sub(s.clock())
		if wait > 0 {
			timer.Reset(wait)
			select {
			case <-ctx.Done():
				return
			case <-timer.C:
			case <-s.kick:
				if !timer.Stop() {
					select {
					case <-timer.C:
					default:
					}
				}
			}
			s.mu.Lock()
			due = s.nextTry
			s.mu.Unlock()
			if s.clock().Before(due) {
				continue
			}
		}
		if ctx.Err() != nil {
			return
		}
		_ = s.fetch(ctx) // failures are logged and scheduled by run
	}
}

// urlSource fetches a JWKS over HTTPS (or HTTP on a loopback address).
type urlSource struct {
	url     string
	display string // url without user info or query, for logs and errors
	client  *http.Client
	timeout time.Duration
}

func newURLSource(u *url.URL, client *http.Client, timeout time.Duration) *urlSource {
	d := *u
	d.User, d.RawQuery, d.ForceQuery, d.Fragment, d.RawFragment = nil, "", false, "", ""
	return &urlSource{url: u.String(), display: d.String(), client: client, timeout: timeout}
}

func (u *urlSource) String() string { return u.display }
func (u *urlSource) remote() bool   { return true }

func (u *urlSource) load(ctx context.Context) ([]*jwk.Key, time.Duration, [32]byte, error) {
	var digest [32]byte
	if u.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, u.timeout)
		defer cancel()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.url, nil)
	if err != nil {
		return nil, 0, digest, fmt.Errorf("fetch JWKS %s: %w", u.display, err)
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	resp, err := u.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			ue.URL = u.display // the query may carry a credential
		}
		return nil, 0, digest, fmt.Errorf("fetch JWKS: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
		return nil, 0, digest, fmt.Errorf("fetch JWKS %s: status %s", u.display, resp.Status)
	}
	if resp.ContentLength > MaxJWKSBytes {
		return nil, 0, digest, fmt.Errorf("fetch JWKS %s: body of %d bytes exceeds %d", u.display, resp.ContentLength, MaxJWKSBytes)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxJWKSBytes+1))
	if err != nil {
		return nil, 0, digest, fmt.Errorf("fetch JWKS %s: %w", u.display, err)
	}
	if len(body) > MaxJWKSBytes {
		return nil, 0, digest, fmt.Errorf("fetch JWKS %s: body exceeds %d bytes", u.display, MaxJWKSBytes)
	}
	set, err := jwk.ParseSet(body)
	if err != nil {
		return nil, 0, digest, fmt.Errorf("fetch JWKS %s: %w", u.display, err)
	}
	return set.Keys, cacheLifetime(resp.Header), sha256.Sum256(body), nil
}

// cacheLifetime reads how long a response may be used from Cache-Control:
// max-age minus Age; 0 for no-store or no-cache. Without a usable max-age it
// returns the largest duration, so that the caller's clamp to [MinRefresh,
// MaxRefresh] yields MaxRefresh.
func cacheLifetime(h http.Header) time.Duration {
	const unknown = time.Duration(1<<63 - 1)
	cc := h.Values("Cache-Control")
	if len(cc) == 0 {
		return unknown
	}
	maxAge := time.Duration(-1)
	for _, line := range cc {
		for _, d := range strings.Split(line, ",") {
			name, val, _ := strings.Cut(strings.TrimSpace(d), "=")
			switch strings.ToLower(name) {
			case "no-store", "no-cache":
				return 0
			case "max-age":
				n, err := strconv.ParseInt(strings.Trim(val, `"`), 10, 64)
				if err != nil || n < 0 {
					continue
				}
				if n > int64(unknown/time.Second) {
					n = int64(unknown / time.Second)
				}
				maxAge = time.Duration(n) * time.Second
			}
		}
	}
	if maxAge < 0 {
		return unknown
	}
	if age, err := strconv.ParseInt(h.Get("Age"), 10, 64); err == nil && age > 0 {
		maxAge -= min(time.Duration(age)*time.Second, maxAge)
	}
	return maxAge
}

// funcSource asks a function of the process for the keys.
type funcSource struct {
	name string
	fn   func(context.Context) ([]*jwk.Key, error)
}

func (f funcSource) String() string { return f.name }
func (f funcSource) remote() bool   { return false }

func (f funcSource) load(ctx context.Context) ([]*jwk.Key, time.Duration, [32]byte, error) {
	keys, err := f.fn(ctx)
	if err != nil {
		return nil, 0, [32]byte{}, err
	}
	h := sha256.New()
	for _, k := range keys {
		if k == nil || k.Key == nil {
			return nil, 0, [32]byte{}, errors.New("key source returned a nil key")
		}
		b, err := k.MarshalJSON()
		if err != nil {
			return nil, 0, [32]byte{}, fmt.Errorf("key source: %w", err)
		}
		h.Write(b)
		h.Write([]byte{0})
	}
	var d [32]byte
	h.Sum(d[:0])
	return keys, 0, d, nil
}

// fileSource reads a JWKS, JWK or PEM file; it is reread when it changes.
type fileSource struct {
	path string

	mu      sync.Mutex
	modTime time.Time
	size    int64
	keys    []*jwk.Key
	digest  [32]byte
}

func (f *fileSource) String() string { return f.path }
func (f *fileSource) remote() bool   { return false }

func (f *fileSource) load(context.Context) ([]*jwk.Key, time.Duration, [32]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fi, err := os.Stat(f.path)
	if err != nil {
		return nil, 0, f.digest, fmt.Errorf("key file: %w", err)
	}
	if f.keys != nil && fi.ModTime().Equal(f.modTime) && fi.Size() == f.size {
		return f.keys, 0, f.digest, nil
	}
	data, err := readCapped(f.path)
	if err != nil {
		return nil, 0, f.digest, err
	}
	keys, err := jwk.Load(data)
	if err != nil {
		return nil, 0, f.digest, fmt.Errorf("key file %s: %w", f.path, err)
	}
	f.keys, f.modTime, f.size, f.digest = keys, fi.ModTime(), fi.Size(), sha256.Sum256(data)
	return keys, 0, f.digest, nil
}

func readCapped(path string) ([]byte, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("key file: %w", err)
	}
	defer fh.Close()
	var buf bytes.Buffer
	if _, err := io.Copy(&buf, io.LimitReader(fh, MaxJWKSBytes+1)); err != nil {
		return nil, fmt.Errorf("key file %s: %w", path, err)
	}
	if buf.Len() > MaxJWKSBytes {
		return nil, fmt.Errorf("key file %s exceeds %d bytes", path, MaxJWKSBytes)
	}
	return buf.Bytes(), nil
}
