package authn

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"github.com/wardenhq/warden/internal/fetch"
	"log/slog"
	"net/http"
	"sync"
	"time"
	"unsafe"

	"github.com/wardenhq/warden/internal/jwk"
)

// MaxLeeway is the largest clock-skew allowance an issuer may configure.
const MaxLeeway = 5 * time.Minute

// Config configures a Verifier. The zero value of every field except
// Issuers is a secure default.
type Config struct {
	// Issuers are the trusted token issuers; at least one.
	Issuers []IssuerConfig
	// MaxTokenBytes caps the token length, checked before any decoding;
	// 0 means DefaultMaxTokenBytes (8 KiB).
	MaxTokenBytes int
	// CacheSize bounds the verified-token cache (entries); 0 means
	// DefaultCacheSize, negative disables the cache.
	CacheSize int
	// Denylist, if set, is asked about every token's jti on every Verify,
	// cached or not.
	Denylist Denylist
	// HTTPClient fetches JWKS URLs. nil means a client with a 5s timeout.
	// Either way redirects must stay on https, and every fetch is bounded
	// by DefaultFetchTimeout when the client sets no timeout.
	HTTPClient *http.Client
	// Clock returns the current time; nil means time.Now.
	Clock func() time.Time
	// Logger receives key refresh events (never tokens or keys); nil
	// discards them.
	Logger *slog.Logger
}

// IssuerConfig is one trusted issuer: who it is, what its tokens must
// say, and where its keys come from (exactly one of Keys, JWKSFile,
// JWKSURL).
type IssuerConfig struct {
	// Issuer is matched exactly against "iss".
	Issuer string
	// Audiences: the token's "aud" must contain one of these (exact match).
	// Required unless InsecureSkipAudience.
	Audiences []string
	// Algorithms is the allow-list of JWS algorithms (exact, case-sensitive:
	// "ES256", "EdDSA", "RS256", ...). Required; "none" is never allowed.
	// The key a token names must also fit the algorithm (key type, curve,
	// size) and, when the key pins an "alg", equal it.
	Algorithms []string
	// Leeway is the clock skew allowed on exp, nbf and iat; 0 means none
	// (the CLI passes 30s). At most MaxLeeway.
	Leeway time.Duration
	// RequiredClaims must be present (and not null) in every token, in
	// addition to exp (always required), iss and aud.
	RequiredClaims []string
	// Type, if set, is the required "typ" header, e.g. "at+jwt" (RFC 9068).
	// It is compared case-insensitively and "application/" is optional on
	// either side. Empty means typ is not checked.
	Type string

	// Keys are static verification keys (public keys or HMAC secrets).
	Keys []*jwk.Key
	// JWKSFile is a JWK Set, JWK or PEM file; it is reread when it changes
	// (checked every MaxRefresh, and on an unknown kid at most once per
	// UnknownKidCooldown).
	JWKSFile string
	// JWKSURL is fetched at New and then refreshed as its Cache-Control
	// says, within [MinRefresh, MaxRefresh]. It must be https; plain http is
	// accepted only for loopback hosts (localhost, 127.0.0.0/8, ::1), for
	// tests and same-host sidecars. HMAC ("oct") keys in a fetched set are
	// ignored: a secret is never taken from the network.
	JWKSURL string
	// KeySource supplies keys from inside the process: Warden's own token
	// issuer hands its published signing keys (current, next and retired)
	// to the gateway's verifier this way. It is called at New, every
	// MaxRefresh, and on an unknown kid (at most once per
	// UnknownKidCooldown). An error keeps the last good keys.
	KeySource func(ctx context.Context) ([]*jwk.Key, error)

	// MinRefresh, MaxRefresh, MaxStale and UnknownKidCooldown bound key
	// refreshes; zero means DefaultMinRefresh, DefaultMaxRefresh,
	// DefaultMaxStale and DefaultUnknownKidCooldown. A fetched set is used
	// for its Cache-Control max-age clamped to [MinRefresh, MaxRefresh],
	// refreshed in the background after three quarters of that, and kept
	// MaxStale longer while refreshes fail; after that tokens fail with
	// ReasonKeysUnavailable. Fetches happen at most once per
	// UnknownKidCooldown, however many unknown kids tokens name.
	MinRefresh         time.Duration
	MaxRefresh         time.Duration
	MaxStale           time.Duration
	UnknownKidCooldown time.Duration

	// Claims maps claims to Principal fields.
	Claims ClaimMapping

	// InsecureSkipIssuer accepts any "iss" (or none) with this issuer's
	// keys. Only for `warden token verify --insecure-skip-iss`; allowed
	// only when it is the one issuer configured.
	InsecureSkipIssuer bool
	// InsecureSkipAudience skips the audience check ("aud" must still be a
	// string or an array of strings if present).
	InsecureSkipAudience bool
}

// Denylist reports revoked token IDs ("jti") and sessions ("sid": Warden's
// issuer puts a refresh-token family's ID there, so that revoking the family
// revokes every access token issued from it). It must be safe for
// concurrent use and fast: it is consulted on every Verify, cached or not.
// A token without a jti cannot be revoked individually; issuers that rely
// on revocation should list "jti" in RequiredClaims.
type Denylist interface {
	Revoked(jti string) bool
}

// Verifier verifies JWTs from trusted issuers. It is safe for concurrent use.
type Verifier struct {
	issuers  map[string]*issuer
	fallback *issuer // the InsecureSkipIssuer issuer, if any
	maxBytes int
	cache    *tokenCache
	deny     Denylist
	clock    func() time.Time

	ctx    context.Context // canceled by Close; parent of background work
	cancel context.CancelFunc
	wg     sync.WaitGroup
	mu     sync.Mutex // guards closed against wg.Go racing with Close
	closed bool
}

// issuer is an IssuerConfig resolved at New.
type issuer struct {
	name      string
	audiences []string
	algs      []*algInfo
	leeway    time.Duration
	required  []string
	typ       string // normalised; "" = unchecked
	keys      *keyStore
	mapping   ClaimMapping
	skipIss   bool
	skipAud   bool
}

// New builds a Verifier: it validates the configuration, loads static keys
// and JWKS files, fetches JWKS URLs once (with ctx; New fails if a fetch
// fails, so a misconfigured issuer is found at start), and starts the
// background refreshes that Close stops.
func New(ctx context.Context, cfg Config) (*Verifier, error) {
	if len(cfg.Issuers) == 0 {
		return nil, errors.New("authn: no issuers configured")
	}
	if cfg.MaxTokenBytes < 0 {
		return nil, fmt.Errorf("authn: MaxTokenBytes %d is negative", cfg.MaxTokenBytes)
	}
	v := &Verifier{
		issuers:  make(map[string]*issuer, len(cfg.Issuers)),
		maxBytes: cfg.MaxTokenBytes,
		deny:     cfg.Denylist,
		clock:    cfg.Clock,
	}
	if v.maxBytes == 0 {
		v.maxBytes = DefaultMaxTokenBytes
	}
	if v.clock == nil {
		v.clock = time.Now
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	switch {
	case cfg.CacheSize == 0:
		v.cache = newTokenCache(DefaultCacheSize)
	case cfg.CacheSize > 0:
		v.cache = newTokenCache(cfg.CacheSize)
	}
	client := fetch.Client(cfg.HTTPClient, DefaultFetchTimeout)
	v.ctx, v.cancel = context.WithCancel(context.Background())

	var stores []*keyStore
	for i := range cfg.Issuers {
		ic := &cfg.Issuers[i]
		iss, err := v.newIssuer(ic, len(cfg.Issuers), client, log)
		if err != nil {
			v.cancel()
			return nil, fmt.Errorf("authn: issuer %d (%q): %w", i, ic.Issuer, err)
		}
		if ic.InsecureSkipIssuer {
			v.fallback = iss
		} else {
			if _, dup := v.issuers[iss.name]; dup {
				v.cancel()
				return nil, fmt.Errorf("authn: issuer %q configured twice", iss.name)
			}
			v.issuers[iss.name] = iss
		}
		stores = append(stores, iss.keys)
	}
	for i, s := range stores {
		if s.src == nil {
			continue
		}
		if err := s.fetch(ctx); err != nil {
			v.cancel()
			return nil, fmt.Errorf("authn: issuer %d (%q): load keys: %w", i, cfg.Issuers[i].Issuer, err)
		}
	}
	for _, s := range stores {
		if s.src != nil {
			v.spawn(func() { s.loop(v.ctx) })
		}
	}
	return v, nil
}

func (v *Verifier) newIssuer(ic *IssuerConfig, n int, client *http.Client, log *slog.Logger) (*issuer, error) {
	iss := &issuer{
		name:     ic.Issuer,
		leeway:   ic.Leeway,
		required: append([]string(nil), ic.RequiredClaims...),
		typ:      normalizeType(ic.Type),
		mapping:  ic.Claims,
		skipIss:  ic.InsecureSkipIssuer,
		skipAud:  ic.InsecureSkipAudience,
	}
	if ic.Issuer == "" && !ic.InsecureSkipIssuer {
		return nil, errors.New("Issuer is empty (set it, or InsecureSkipIssuer for tools)")
	}
	if ic.InsecureSkipIssuer && n != 1 {
		return nil, errors.New("InsecureSkipIssuer is only allowed with a single issuer")
	}
	if len(ic.Audiences) == 0 && !ic.InsecureSkipAudience {
		return nil, errors.New("no Audiences (set them, or InsecureSkipAudience for tools)")
	}
	for _, a := range ic.Audiences {
		if a == "" {
			return nil, errors.New("empty audience")
		}
	}
	iss.audiences = append([]string(nil), ic.Audiences...)
	if ic.Leeway < 0 || ic.Leeway > MaxLeeway {
		return nil, fmt.Errorf("Leeway %s is outside [0, %s]", ic.Leeway, MaxLeeway)
	}
	algs, err := resolveAlgs(ic.Algorithms)
	if err != nil {
		return nil, err
	}
	iss.algs = algs

	ks := &keyStore{
		issuer:   ic.Issuer,
		algs:     algs,
		clock:    v.clock,
		log:      log,
		minTTL:   or0(ic.MinRefresh, DefaultMinRefresh),
		maxTTL:   or0(ic.MaxRefresh, DefaultMaxRefresh),
		maxStale: or0(ic.MaxStale, DefaultMaxStale),
		cooldown: or0(ic.UnknownKidCooldown, DefaultUnknownKidCooldown),
		kick:     make(chan struct{}, 1),
		spawn:    v.spawn,
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"MinRefresh", ic.MinRefresh}, {"MaxRefresh", ic.MaxRefresh}, {"MaxStale", ic.MaxStale}, {"UnknownKidCooldown", ic.UnknownKidCooldown}} {
		if d.v < 0 {
			return nil, fmt.Errorf("%s %s is negative", d.name, d.v)
		}
	}
	if ks.minTTL > ks.maxTTL {
		return nil, fmt.Errorf("MinRefresh %s exceeds MaxRefresh %s", ks.minTTL, ks.maxTTL)
	}
	iss.keys = ks

	sources := 0
	if len(ic.Keys) > 0 {
		sources++
	}
	if ic.JWKSFile != "" {
		sources++
	}
	if ic.JWKSURL != "" {
		sources++
	}
	if ic.KeySource != nil {
		sources++
	}
	if sources != 1 {
		return nil, errors.New("set exactly one key source: Keys, JWKSFile, JWKSURL or KeySource")
	}
	switch {
	case len(ic.Keys) > 0:
		for i, k := range ic.Keys {
			if k == nil || k.Key == nil {
				return nil, fmt.Errorf("key %d is nil", i)
			}
		}
		set, err := newKeySet(ic.Keys, algs, true)
		if err != nil {
			return nil, err
		}
		if !set.usable() {
			return nil, fmt.Errorf("no key fits the allowed algorithms %v", algNames(algs))
		}
		set.gen = 1
		ks.current.Store(set)
	case ic.JWKSFile != "":
		ks.src = &fileSource{path: ic.JWKSFile}
	case ic.KeySource != nil:
		ks.src = funcSource{name: "in-process keys of " + ic.Issuer, fn: ic.KeySource}
	default:
		u, err := fetch.ParseURL(ic.JWKSURL)
		if err != nil {
			return nil, fmt.Errorf("JWKS URL: %w", err)
		}
		timeout := time.Duration(0)
		if client.Timeout == 0 {
			timeout = DefaultFetchTimeout
		}
		ks.src = newURLSource(u, client, timeout)
	}
	return iss, nil
}

func or0(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

// Close stops background key refreshes and waits for them. Verify keeps
// working with the keys loaded so far.
func (v *Verifier) Close() error {
	v.mu.Lock()
	v.closed = true
	v.mu.Unlock()
	v.cancel()
	v.wg.Wait()
	return nil
}

// spawn runs f in a background goroutine that Close waits for, unless the
// Verifier is closed.
func (v *Verifier) spawn(f func()) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.closed {
		return false
	}
	v.wg.Go(f)
	return true
}

// Verify checks token strictly and returns its Principal. Every error is a
// *VerifyError whose Reason says why (see the Reason constants); callers can
// also use errors.Is with the Err* sentinels. ctx bounds only the wait for
// a key refetch triggered by an unknown kid.
//
// The order of checks: size; structure (Parse); forbidden headers; alg,
// kid and typ types; issuer; alg allow-list; key lookup by (iss, kid) and
// key/alg fit; signature; typ; exp, nbf, iat; required claims; claim types
// and mapping; aud; denylist. A cached verification is reused only until
// exp plus leeway, only while the issuer's keys are unchanged and fresh,
// and the denylist is asked again on every hit.
func (v *Verifier) Verify(ctx context.Context, token string) (*Principal, error) {
	p, err := v.verify(ctx, token)
	if err != nil {
		return nil, err
	}
	return p, nil
}

func (v *Verifier) verify(ctx context.Context, token string) (*Principal, *VerifyError) {
	if len(token) > v.maxBytes {
		return nil, fail(ReasonTooLarge, "token of %d bytes exceeds the limit of %d", len(token), v.maxBytes)
	}
	// Turn away what is not even shaped like a JWS before hashing it for
	// the cache lookup (the split allocates nothing).
	if _, _, err := splitCompact(token); err != nil {
		return nil, err
	}
	now := v.clock()
	var key [32]byte
	if v.cache != nil {
		key = tokenDigest(token)
		if e := v.cache.get(&key); e != nil {
			if p, ok, err := v.fromCache(e, now); ok {
				return p, err
			}
		}
	}
	p, iss, gen, err := v.verifyUncached(ctx, token, now)
	if err != nil {
		return nil, err
	}
	if v.cache != nil {
		v.cache.put(&cacheEntry{
			key:      key,
			p:        p,
			deadline: p.Expiry.Add(iss.leeway),
			store:    iss.keys,
			gen:      gen,
		})
	}
	return p, nil
}

// tokenDigest is the cache key of token: its SHA-256, computed without
// copying the token (sha256 only reads its input, and strings are immutable).
func tokenDigest(token string) [32]byte {
	return sha256.Sum256(unsafe.Slice(unsafe.StringData(token), len(token)))
}

// fromCache serves a cache hit. ok is false when the entry may not be used
// (expired, or the issuer's keys changed or went stale): the caller then
// verifies from scratch, which yields the precise error.
func (v *Verifier) fromCache(e *cacheEntry, now time.Time) (*Principal, bool, *VerifyError) {
	if !now.Before(e.deadline) {
		v.cache.remove(e)
		return nil, false, nil
	}
	ks, kerr := e.store.keys(now)
	if kerr != nil || ks.gen != e.gen {
		v.cache.remove(e)
		return nil, false, nil
	}
	if err := v.checkDenylist(e.p); err != nil {
		return nil, true, err
	}
	return e.p, true, nil
}

// CheckRevoked asks the denylist about p's jti and session ("sid") again:
// a *VerifyError with ReasonRevoked if either has been revoked since p was
// verified, else nil. Holders of a principal that outlives one request
// (the console's sessions) call it on every use, so a revocation ends them
// as it ends the token.
func (v *Verifier) CheckRevoked(p *Principal) error {
	if err := v.checkDenylist(p); err != nil {
		return err
	}
	return nil
}

func (v *Verifier) checkDenylist(p *Principal) *VerifyError {
	if v.deny == nil {
		return nil
	}
	if p.TokenID != "" && v.deny.Revoked(p.TokenID) {
		return fail(ReasonRevoked, "token %s has been revoked", quote(p.TokenID))
	}
	if sid, ok := p.Claims["sid"].(string); ok && sid != "" && v.deny.Revoked(sid) {
		return fail(ReasonRevoked, "session %s of token %s has been revoked", quote(sid), quote(p.TokenID))
	}
	return nil
}

func (v *Verifier) verifyUncached(ctx context.Context, token string, now time.Time) (*Principal, *issuer, uint64, *VerifyError) {
	parsed, h, err := parse(token, v.maxBytes, true)
	if err != nil {
		return nil, nil, 0, err
	}
	claims := parsed.Claims

	// Header: nothing dangerous, and the members used have the right types.
	if h.forbidden >= 0 {
		return nil, nil, 0, fail(ReasonForbiddenHeader, "header %q is not allowed", forbiddenHeaders[h.forbidden])
	}
	if h.wrongType != "" {
		return nil, nil, 0, fail(ReasonMalformed, "header %q is %s, want a string", h.wrongType, jsonType(h.wrongValue))
	}
	if !h.hasAlg {
		return nil, nil, 0, fail(ReasonAlgorithm, `token has no "alg" header`)
	}
	alg, kid, hasKid := h.alg, h.kid, h.hasKid
	switch {
	case hasKid && kid == "":
		return nil, nil, 0, fail(ReasonMalformed, `header "kid" is empty`)
	case len(kid) > maxKidBytes:
		return nil, nil, 0, fail(ReasonMalformed, `header "kid" is %d bytes, longer than %d`, len(kid), maxKidBytes)
	}

	// Issuer, from the unverified payload: it only selects whose keys and
	// rules apply. It is exact, so after the signature check it is verified.
	iss, err := v.selectIssuer(claims)
	if err != nil {
		return nil, nil, 0, err
	}
	a := findAlg(iss.algs, alg)
	if a == nil {
		return nil, nil, 0, fail(ReasonAlgorithm, "algorithm %s not allowed (want one of %v)", quote(alg), algNames(iss.algs))
	}

	// Key by (iss, kid), never from another issuer.
	ks, err := iss.keys.keys(now)
	if err != nil {
		return nil, nil, 0, err
	}
	vk, err := ks.lookup(a, kid, hasKid)
	if err != nil && err.Reason == ReasonUnknownKey && iss.keys.refetchForUnknownKid(ctx, v.ctx) {
		if ks, err = iss.keys.keys(v.clock()); err != nil {
			return nil, nil, 0, err
		}
		vk, err = ks.lookup(a, kid, hasKid)
	}
	if err != nil {
		return nil, nil, 0, err
	}

	// Signature: exact length for the algorithm and key, then the crypto.
	sig := parsed.Signature
	want := vk.size
	if a.fam == famHMAC {
		want = a.macSize
	}
	switch {
	case len(sig) == 0:
		return nil, nil, 0, fail(ReasonBadSignature, "token has no signature")
	case len(sig) != want:
		return nil, nil, 0, fail(ReasonBadSignature, "%s signature is %s, want %d", a.name, byteCount(len(sig)), want)
	}
	if a.method.Verify(parsed.SigningInput, sig, vk.key) != nil {
		return nil, nil, 0, fail(ReasonBadSignature, "%s signature does not verify with key %s", a.name, quote(vk.kid))
	}

	// Claims, now that they are authentic.
	if iss.typ != "" {
		if err := checkType(h.typ, h.hasTyp, iss.typ); err != nil {
			return nil, nil, 0, err
		}
	}
	times, err := checkTimes(claims, now, iss.leeway)
	if err != nil {
		return nil, nil, 0, err
	}
	for _, name := range iss.required {
		if c, ok := claims[name]; !ok || c == nil {
			return nil, nil, 0, fail(ReasonMissingClaim, "required claim %q is missing", name)
		}
	}
	// The mapping also checks the types of the registered claims (aud, sub,
	// jti, ...) and of the mapped ones.
	p, err := iss.mapping.principalWithTimes(claims, &times)
	if err != nil {
		return nil, nil, 0, err
	}
	if !iss.skipAud {
		if err := checkAudience(p.Audience, iss.audiences); err != nil {
			return nil, nil, 0, err
		}
	}
	if err := v.checkDenylist(p); err != nil {
		return nil, nil, 0, err
	}
	return p, iss, ks.gen, nil
}

// selectIssuer finds the issuer config for the token's (not yet verified)
// "iss": an exact match, or the InsecureSkipIssuer issuer.
func (v *Verifier) selectIssuer(claims map[string]any) (*issuer, *VerifyError) {
	raw, ok := claims["iss"]
	if !ok {
		if v.fallback != nil {
			return v.fallback, nil
		}
		return nil, fail(ReasonIssuer, `token has no "iss" claim`)
	}
	name, ok := raw.(string)
	if !ok {
		return nil, fail(ReasonInvalidClaim, `claim "iss" is %s, want a string`, jsonType(raw))
	}
	if iss, ok := v.issuers[name]; ok {
		return iss, nil
	}
	if v.fallback != nil {
		return v.fallback, nil
	}
	return nil, fail(ReasonIssuer, "issuer %s is not trusted", quote(name))
}
