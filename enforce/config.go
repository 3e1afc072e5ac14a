package enforce

import (
	"log/slog"
	"net/http"
	"net/netip"
	"time"
)

// Defaults of Config.
const (
	// DefaultIntrospectionCacheTTL is how long an introspection answer is
	// reused for high-risk actions.
	DefaultIntrospectionCacheTTL = 2 * time.Second
	// MaxIntrospectionCacheTTL bounds Warden.IntrospectionCacheTTL: a
	// revoked token may pass a high-risk check this long at most.
	MaxIntrospectionCacheTTL = 10 * time.Second
	// DefaultWardenTimeout bounds one call to Warden (introspection).
	DefaultWardenTimeout = 2 * time.Second
)

// Config configures an Enforcer. The zero value of every field is the
// secure default; Issuers, Bundle and Audit must be set.
type Config struct {
	// Issuers are the trusted token issuers; at least one. A token must
	// come from one of them, for one of its audiences, signed with one of
	// its keys and algorithms.
	Issuers []Issuer
	// Bundle is where the signed policy bundle comes from and the keys it
	// must be signed with.
	Bundle Bundle
	// Warden is the Warden deployment that issued the service's tokens:
	// its URL and the service's client credentials. With it the Enforcer
	// follows Warden's revocation feed (a revoked token is refused within
	// about a second), introspects the token of every high-risk allow, and
	// can ship its decision records (Audit.Ship). The zero value connects to
	// nothing: revocations are not seen and every high-risk allow is
	// refused.
	Warden Warden
	// Audit is the decision log.
	Audit Audit
	// Env is the deployment the service runs in ("staging", "production"),
	// given to every decision as context.env. "" leaves it absent.
	Env string
	// TrustedProxies are the peers (load balancers, ingress proxies) whose
	// X-Forwarded-For / X-Real-IP is believed for the client address: the
	// ip a policy sees and the audit records. nil trusts none: the client
	// address is the TCP peer. Each must be a network address (no host bits
	// set) and none may be all addresses (/0). A request from a trusted
	// peer with malformed forwarding headers is refused (400).
	TrustedProxies []netip.Prefix
	// MaxTokenBytes bounds the bearer token, checked before verification.
	// 0 means 8 KiB, which is also the upper bound.
	MaxTokenBytes int
	// TokenCacheSize bounds the verified-token cache (entries). 0 means
	// the verifier's default; negative disables the cache.
	TokenCacheSize int
	// HTTPClient fetches JWKS and bundle URLs and calls Warden. nil means a
	// client with timeouts. Plain http is accepted for loopback hosts only.
	HTTPClient *http.Client
	// Clock is the time source; nil means time.Now.
	Clock func() time.Time
	// Logger receives bundle loads, key refreshes, failures of the decision
	// log and of Warden calls; never a token or a key. nil discards.
	Logger *slog.Logger
}

// Issuer is one trusted token issuer. Exactly one of JWKSURL and JWKS is
// set.
type Issuer struct {
	// Issuer is matched exactly against the token's "iss".
	Issuer string
	// Audiences: the token's "aud" must contain one of these. Required.
	Audiences []string
	// Algorithms is the allow-list of JWS algorithms ("ES256", "EdDSA",
	// "RS256", ...). Required; "none" is never allowed.
	Algorithms []string
	// JWKSURL is the issuer's JWK Set, fetched at New and refreshed as its
	// Cache-Control says. https, or http to a loopback host.
	JWKSURL string
	// JWKS is static key material: a JWK Set, a JWK or a PEM public key.
	JWKS []byte
	// Type, if set, is the required "typ" header, e.g. "at+jwt".
	Type string
	// RequiredClaims must be present in every token besides exp, iss and
	// aud; list "jti" when tokens are revoked by id.
	RequiredClaims []string
	// Leeway is the clock skew allowed on exp, nbf and iat; at most 5m.
	Leeway time.Duration
	// Claims says which claims the principal's fields come from.
	Claims ClaimMapping
}

// ClaimMapping names the claims a principal's fields come from. The zero
// value is the common convention ("roles", "scope" or "scp", "groups",
// "team", "tenant", "env", "client_id" or "azp"); "-" ignores a field.
type ClaimMapping struct {
	Roles, Scopes, Groups string
	Team, Tenant, Env     string
	ClientID              string
	// Attributes maps principal attribute names to claim names.
	Attributes map[string]string
}

// Bundle is the policy bundle source: exactly one of Path, URL and Data.
type Bundle struct {
	// Path is a bundle file (bundle.tar.gz from `warden policy build`),
	// re-read when it changes.
	Path string
	// URL is an https URL (http to a loopback host) polled with
	// If-None-Match.
	URL string
	// Data is a bundle held in memory, opened once at New.
	Data []byte
	// PublicKeys are the keys bundles must be signed with: a JWK Set, a JWK
	// or a PEM public key. Required.
	PublicKeys []byte
	// Algorithms allowed for the bundle signature; nil means all of
	// Warden's asymmetric algorithms.
	Algorithms []string
	// PollInterval is the time between two checks of Path or URL; 0 means
	// 5s for a file and 30s for a URL.
	PollInterval time.Duration
}

// Warden is the Warden deployment the service reports to.
type Warden struct {
	// URL is Warden's data-plane base URL, e.g.
	// "https://warden.internal:8443". https, or http to a loopback host.
	URL string
	// ClientID and ClientSecret are the service's OAuth client
	// credentials (client_secret_basic).
	ClientID     string
	ClientSecret string
	// IntrospectionCacheTTL is how long an introspection answer is reused;
	// 0 means DefaultIntrospectionCacheTTL, negative means never, and it is
	// at most MaxIntrospectionCacheTTL.
	IntrospectionCacheTTL time.Duration
	// Timeout bounds one call to Warden; 0 means DefaultWardenTimeout.
	Timeout time.Duration
}

// Audit configures the decision log: one record per request (and per
// Decide), allowed or denied, in a local hash-chained log that
// `warden audit verify` checks.
type Audit struct {
	// Store is the store URL of the local log: "sqlite:///var/lib/svc/audit.db"
	// (or a path), or a postgres:// URL. Required unless InsecureNoAudit.
	Store string
	// Node names this service's chain ([A-Za-z0-9._-], 1 to 128), which
	// is the service's identity in every record. Required with Store,
	// unless Ship sets it.
	Node string
	// Async makes Append return once the record is queued instead of after
	// its group commit: a record still queued when the process dies is
	// lost.
	Async bool
	// QueueSize bounds the records waiting for the log's writer (a burst
	// above what the store commits). When it is full a request's record is
	// refused: 503 audit_unavailable unless FailOpen. 0 means 8192.
	QueueSize int
	// FailOpen lets a request through when the log refuses its record.
	// false (the default) answers 503 audit_unavailable.
	FailOpen bool
	// Ship sends the chain to Warden (POST /audit/ingest) in batches, in
	// the background, with the Warden client credentials; the client needs
	// the audit:ingest scope. Node must then be "svc." + Warden.ClientID
	// (the default when Node is empty), the only chain Warden accepts from
	// that client.
	Ship bool
	// InsecureNoAudit runs without a decision log. For tests and examples.
	InsecureNoAudit bool
}
