package issuer

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wardenhq/warden/internal/audit"
	"github.com/wardenhq/warden/internal/authn"
	"github.com/wardenhq/warden/internal/jwk"
	"github.com/wardenhq/warden/internal/policy"
	"github.com/wardenhq/warden/internal/store"
)

// Endpoint paths, relative to the issuer URL.
const (
	TokenPath         = "/oauth2/token"
	IntrospectPath    = "/oauth2/introspect"
	RevokePath        = "/oauth2/revoke"
	JWKSPath          = "/.well-known/jwks.json"
	OpenIDConfigPath  = "/.well-known/openid-configuration"
	OAuthMetadataPath = "/.well-known/oauth-authorization-server"
)

// Grant types.
const (
	GrantClientCredentials = "client_credentials"
	GrantRefreshToken      = "refresh_token"
	GrantTokenExchange     = "urn:ietf:params:oauth:grant-type:token-exchange"
)

// Token type URNs of RFC 8693 §3.
const (
	TokenTypeAccessToken = "urn:ietf:params:oauth:token-type:access_token"
	TokenTypeJWT         = "urn:ietf:params:oauth:token-type:jwt"
)

// Actions the issuer asks the policy engine about and records in the audit
// log.
const (
	ActionIssue    = "token:issue" // client_credentials
	ActionExchange = "token:exchange"
	ActionRefresh  = "token:refresh"
	ActionRevoke   = "token:revoke"
)

// Defaults.
const (
	DefaultAccessTokenTTL  = 10 * time.Minute
	DefaultRefreshTokenTTL = 30 * 24 * time.Hour
	DefaultRefreshIdleTTL  = 24 * time.Hour
	DefaultResyncInterval  = 10 * time.Second
	// secretBytes is the entropy of client secrets and refresh tokens.
	secretBytes = 32
	// SecretPrefix and RefreshPrefix mark Warden's secrets for secret
	// scanners.
	SecretPrefix  = "wcs_"
	RefreshPrefix = "wrt_"
)

// Config configures an Issuer. Fields marked required have no default.
type Config struct {
	// Issuer is the "iss" of every token and the base URL of the
	// endpoints (no trailing slash). Required.
	Issuer string
	// Audiences are the default "aud" of issued tokens and the audiences a
	// client without its own list may request. Required.
	Audiences []string
	// Resources are further audiences a client without its own list may
	// request by name (RFC 8707 "resource" or RFC 8693 "audience"), never
	// granted unasked: the resource URIs of the MCP servers Warden fronts,
	// so that an MCP client following the protected-resource metadata can
	// get a token for exactly that server.
	Resources []string
	// Store holds clients, refresh tokens and revocations. Required.
	Store store.IssuerStore
	// Keys signs tokens. Required.
	Keys *KeyRing
	// Revocations is this node's revocation set, shared with the gateway's
	// verifier as its Denylist. Required.
	Revocations *Revocations
	// Verifier checks the subject and actor tokens of a token exchange:
	// the gateway's verifier, which trusts the configured issuers (the
	// company IdP) and Warden itself. nil disables token exchange.
	Verifier *authn.Verifier
	// Engine decides token:exchange (principal: the subject, resource:
	// Agent::"<client>"). Required with Verifier.
	Engine *policy.Engine
	// Audit receives a record for every token request and revocation. nil
	// records nothing (tests only).
	Audit *audit.Log
	// AuditFailOpen issues tokens even when the audit log refuses the
	// record. false (the default) answers temporarily_unavailable.
	AuditFailOpen bool
	// AccessTokenTTL (DefaultAccessTokenTTL), RefreshTokenTTL (absolute
	// lifetime of a refresh family, DefaultRefreshTokenTTL) and
	// RefreshIdleTTL (a refresh token unused this long expires,
	// DefaultRefreshIdleTTL); zero means the default.
	AccessTokenTTL  time.Duration
	RefreshTokenTTL time.Duration
	RefreshIdleTTL  time.Duration
	// ResyncInterval is how often Run reloads revocations and keys from the
	// store, in case a notification was missed; 0 means
	// DefaultResyncInterval.
	ResyncInterval time.Duration
	// MaxFormBytes bounds request bodies; 0 means DefaultMaxFormBytes.
	MaxFormBytes int64
	// MaxFeedWaiters bounds the revocation feed's long polls and event
	// streams held at once; more are answered 503 with Retry-After. 0 means
	// DefaultMaxFeedWaiters.
	MaxFeedWaiters int
	// Clock; nil means time.Now.
	Clock func() time.Time
	// Logger; nil discards. Tokens, secrets and keys are never logged.
	Logger *slog.Logger
}

// Issuer serves Warden's OAuth 2.0 endpoints. It is an http.Handler for
// the paths above and is safe for concurrent use.
type Issuer struct {
	cfg  Config
	base string
	// own verifies Warden's own access tokens for introspection and
	// revocation: no other issuer is trusted there.
	own  *authn.Verifier
	mux  *http.ServeMux
	log  *slog.Logger
	meta []byte // RFC 8414 / OpenID discovery document
	// dummyHash is compared against when the client is unknown, so that
	// unknown and known clients take the same time.
	dummyHash []byte
	ctr       counters
	waiters   atomic.Int64 // feed requests held
	// draining is closed by Drain: held feed requests answer at once.
	draining  chan struct{}
	drainOnce sync.Once
	// requestable is Audiences then Resources: what a client without its
	// own audience list may ask for.
	requestable []string
}

// New checks cfg and builds the Issuer.
func New(ctx context.Context, cfg Config) (*Issuer, error) {
	switch {
	case cfg.Issuer == "" || strings.HasSuffix(cfg.Issuer, "/"):
		return nil, errors.New("issuer: Issuer must be a URL without a trailing slash")
	case len(cfg.Audiences) == 0:
		return nil, errors.New("issuer: no Audiences")
	case cfg.Store == nil || cfg.Keys == nil || cfg.Revocations == nil:
		return nil, errors.New("issuer: Store, Keys and Revocations are required")
	case cfg.Verifier != nil && cfg.Engine == nil:
		return nil, errors.New("issuer: token exchange needs a policy Engine")
	}
	if cfg.AccessTokenTTL == 0 {
		cfg.AccessTokenTTL = DefaultAccessTokenTTL
	}
	if cfg.RefreshTokenTTL == 0 {
		cfg.RefreshTokenTTL = DefaultRefreshTokenTTL
	}
	if cfg.RefreshIdleTTL == 0 {
		cfg.RefreshIdleTTL = DefaultRefreshIdleTTL
	}
	if cfg.ResyncInterval == 0 {
		cfg.ResyncInterval = DefaultResyncInterval
	}
	if cfg.MaxFormBytes == 0 {
		cfg.MaxFormBytes = DefaultMaxFormBytes
	}
	if cfg.MaxFeedWaiters == 0 {
		cfg.MaxFeedWaiters = DefaultMaxFeedWaiters
	}
	if cfg.AccessTokenTTL < time.Second || cfg.RefreshTokenTTL < time.Second || cfg.RefreshIdleTTL < time.Second || cfg.ResyncInterval < 0 || cfg.MaxFormBytes < 0 || cfg.MaxFeedWaiters < 0 {
		return nil, errors.New("issuer: lifetimes must be at least 1s and limits positive")
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	ownIssuer := cfg.OwnIssuerConfig(nil)
	// Introspection, revocation and actor tokens concern Warden's own
	// tokens of any audience a client may request (a client registered
	// for "billing" gets tokens for "billing"); iss, typ, signature and
	// exp are still checked.
	ownIssuer.InsecureSkipAudience = true
	own, err := authn.New(ctx, authn.Config{
		Issuers:   []authn.IssuerConfig{ownIssuer},
		Denylist:  cfg.Revocations,
		Clock:     cfg.Clock,
		Logger:    cfg.Logger,
		CacheSize: -1, // introspection and revocation are rare; no cache to go stale
	})
	if err != nil {
		return nil, fmt.Errorf("issuer: own token verifier: %w", err)
	}
	iss := &Issuer{cfg: cfg, base: cfg.Issuer, own: own, log: cfg.Logger, draining: make(chan struct{})}
	iss.requestable = slices.Clone(cfg.Audiences)
	for _, r := range cfg.Resources {
		if !slices.Contains(iss.requestable, r) {
			iss.requestable = append(iss.requestable, r)
		}
	}
	iss.dummyHash = make([]byte, sha256.Size)
	if iss.meta, err = iss.metadata(); err != nil {
		own.Close()
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc(TokenPath, iss.serveToken)
	mux.HandleFunc(IntrospectPath, iss.serveIntrospect)
	mux.HandleFunc(RevokePath, iss.serveRevoke)
	mux.HandleFunc(RevocationsPath, iss.serveRevocations)
	mux.HandleFunc(JWKSPath, iss.serveJWKS)
	mux.HandleFunc(OpenIDConfigPath, iss.serveMetadata)
	mux.HandleFunc(OAuthMetadataPath, iss.serveMetadata)
	iss.mux = mux
	return iss, nil
}

// OwnIssuerConfig is the authn issuer entry that trusts Warden's own access
// tokens: exact iss, the configured audiences (or audiences when not nil),
// typ at+jwt, jti required, keys from the key ring, refreshed at least every
// ResyncInterval and on an unknown kid.
func (c Config) OwnIssuerConfig(audiences []string) authn.IssuerConfig {
	if audiences == nil {
		audiences = c.Audiences
	}
	resync := c.ResyncInterval
	if resync <= 0 {
		resync = DefaultResyncInterval
	}
	alg := DefaultAlgorithm
	if c.Keys != nil {
		alg = c.Keys.cfg.Algorithm
	}
	ic := authn.IssuerConfig{
		Issuer:             c.Issuer,
		Audiences:          audiences,
		Algorithms:         []string{alg},
		Type:               "at+jwt",
		RequiredClaims:     []string{"jti", "client_id"},
		Leeway:             5 * time.Second,
		MinRefresh:         resync,
		MaxRefresh:         resync,
		UnknownKidCooldown: time.Second,
	}
	if c.Keys != nil {
		ic.KeySource = c.Keys.PublicKeys
	}
	return ic
}

// Handles reports whether path is one of the issuer's endpoints.
func Handles(path string) bool {
	switch path {
	case TokenPath, IntrospectPath, RevokePath, RevocationsPath, JWKSPath, OpenIDConfigPath, OAuthMetadataPath:
		return true
	}
	return false
}

// ServeHTTP serves the issuer's endpoints.
func (iss *Issuer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	iss.mux.ServeHTTP(w, r)
}

// Drain ends every held revocation-feed request (a long poll answers with
// what it has, a stream ends) and makes later ones answer without waiting,
// so that a graceful shutdown does not wait out the followers' polls. Call
// it before http.Server.Shutdown. It is safe to call more than once.
func (iss *Issuer) Drain() { iss.drainOnce.Do(func() { close(iss.draining) }) }

// Close releases the issuer's own verifier.
func (iss *Issuer) Close() error { return iss.own.Close() }

// Run keeps the node's revocations and keys in step with the store until
// ctx is done: notifications (PostgreSQL) are applied at once, and
// everything is reloaded every ResyncInterval in case one was missed;
// expired rows are purged hourly.
func (iss *Issuer) Run(ctx context.Context) {
	watchDone := make(chan struct{})
	go func() {
		defer close(watchDone)
		for ctx.Err() == nil {
			err := iss.cfg.Store.WatchRevocations(ctx, func(kind, id string) {
				iss.cfg.Revocations.Add(id, iss.cfg.Clock().Add(iss.cfg.RefreshTokenTTL+iss.cfg.AccessTokenTTL))
				// The reload replaces the provisional expiry with the stored one.
				if err := iss.cfg.Revocations.Reload(ctx); err != nil && ctx.Err() == nil {
					iss.log.Warn("issuer: reload revocations", "err", err)
				}
			})
			if err == nil && ctx.Err() == nil {
				return // no notifications from this store (SQLite)
			}
			if err != nil {
				iss.log.Warn("issuer: revocation notifications lost; resyncing", "err", err)
			}
			iss.resync(ctx)
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}()
	tick := time.NewTicker(iss.cfg.ResyncInterval)
	defer tick.Stop()
	lastPurge := iss.cfg.Clock()
	for {
		select {
		case <-ctx.Done():
			<-watchDone
			return
		case <-tick.C:
			iss.resync(ctx)
			if now := iss.cfg.Clock(); now.Sub(lastPurge) >= time.Hour {
				lastPurge = now
				if err := iss.cfg.Store.PurgeExpired(ctx, now); err != nil && ctx.Err() == nil {
					iss.log.Warn("issuer: purge expired", "err", err)
				}
			}
		}
	}
}

// resync reloads revocations and keys; failures keep the last good state.
func (iss *Issuer) resync(ctx context.Context) {
	if err := iss.cfg.Revocations.Reload(ctx); err != nil && ctx.Err() == nil {
		iss.ctr.resyncFailures.Add(1)
		iss.log.Warn("issuer: reload revocations", "err", err)
	}
	if err := iss.cfg.Keys.Reload(ctx); err != nil && ctx.Err() == nil {
		iss.ctr.resyncFailures.Add(1)
		iss.log.Warn("issuer: reload keys", "err", err)
	}
}

// NewSecret returns a random secret of 256 bits with prefix, and its hash.
func NewSecret(prefix string) (secret string, hash []byte, err error) {
	b := make([]byte, secretBytes)
	if _, err := rand.Read(b); err != nil {
		return "", nil, fmt.Errorf("issuer: random: %w", err)
	}
	secret = prefix + base64.RawURLEncoding.EncodeToString(b)
	return secret, HashSecret(secret), nil
}

// HashSecret is the stored form of a client secret or refresh token. Both
// carry 256 random bits, so SHA-256 suffices: a slow password hash protects
// guessable secrets, and these are not guessable.
func HashSecret(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}

// authenticate checks the client's credentials against the store in
// constant time. Every failure is the same invalid_client.
func (iss *Issuer) authenticate(ctx context.Context, f *form) (*store.Client, error) {
	fail := func(cause error) error {
		return &Error{Status: http.StatusUnauthorized, Code: ErrCodeInvalidClient, Description: "client authentication failed", Err: cause, basic: f.basic}
	}
	if f.clientID == "" {
		return nil, fail(errors.New("no client credentials"))
	}
	c, err := iss.cfg.Store.Client(ctx, f.clientID)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, serverError(err)
	}
	if f.assertion != "" {
		if c == nil || len(c.JWKS) == 0 {
			return nil, fail(fmt.Errorf("client %q: unknown or without keys", f.clientID))
		}
		if err := iss.checkAssertion(ctx, c, f.assertion); err != nil {
			return nil, fail(err)
		}
		return c, nil
	}
	want := iss.dummyHash
	if c != nil {
		want = c.SecretHash
	}
	ok := subtle.ConstantTimeCompare(HashSecret(f.clientSecret), want) == 1
	if c == nil || !ok || f.clientSecret == "" {
		return nil, fail(fmt.Errorf("client %q: unknown or wrong secret", f.clientID))
	}
	return c, nil
}

// maxAssertionLife bounds how far in the future a client assertion may
// expire: the replay table keeps each jti that long.
const maxAssertionLife = 5 * time.Minute

// assertionAlgs are the algorithms a client assertion may use: asymmetric
// only (a shared secret would be a client secret by another name).
var assertionAlgs = []string{"ES256", "ES384", "ES512", "EdDSA", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}

// checkAssertion verifies a private_key_jwt assertion (RFC 7523 §3): signed
// by one of the client's keys, iss = sub = the client, aud this issuer or
// one of its endpoints, exp at most maxAssertionLife ahead, and a jti not
// used before by this client.
func (iss *Issuer) checkAssertion(ctx context.Context, c *store.Client, assertion string) error {
	set, err := jwk.ParseSet(c.JWKS)
	if err != nil {
		return fmt.Errorf("client %q keys: %w", c.ID, err)
	}
	v, err := authn.New(ctx, authn.Config{
		Issuers: []authn.IssuerConfig{{
			Issuer:         c.ID,
			Audiences:      []string{iss.base, iss.base + TokenPath, iss.base + IntrospectPath, iss.base + RevokePath},
			Algorithms:     assertionAlgs,
			Keys:           set.Keys,
			RequiredClaims: []string{"jti", "sub"},
			Leeway:         30 * time.Second,
		}},
		MaxTokenBytes: maxAssertionBytes,
		CacheSize:     -1,
		Clock:         iss.cfg.Clock,
	})
	if err != nil {
		return fmt.Errorf("client %q keys: %w", c.ID, err)
	}
	defer v.Close()
	p, err := v.Verify(ctx, assertion)
	if err != nil {
		return fmt.Errorf("client assertion: %w", err)
	}
	now := iss.cfg.Clock()
	switch {
	case p.Subject != c.ID:
		return errors.New("client assertion: sub is not the client")
	case p.Expiry.Sub(now) > maxAssertionLife:
		return fmt.Errorf("client assertion: expires more than %s ahead", maxAssertionLife)
	}
	if err := iss.cfg.Store.UseAssertion(ctx, c.ID, p.TokenID, p.Expiry.Add(time.Minute)); err != nil {
		if errors.Is(err, store.ErrExists) {
			return errors.New("client assertion replayed")
		}
		return err
	}
	return nil
}

// peerIP is the caller's address without the port, as the gateway records it.
func peerIP(remote string) string {
	if host, _, err := net.SplitHostPort(remote); err == nil {
		return host
	}
	return remote
}

// record appends an audit record for an issuer decision. It reports false
// when the record was refused and the issuer must fail closed.
func (iss *Issuer) record(ctx context.Context, rec audit.Record) bool {
	if iss.cfg.Audit == nil {
		return true
	}
	rec.Time = iss.cfg.Clock()
	if err := iss.cfg.Audit.Append(ctx, rec); err != nil {
		iss.log.Error("issuer: audit record refused", "err", err, "action", rec.Action)
		return iss.cfg.AuditFailOpen
	}
	return true
}
