package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"slices"
	"time"

	"github.com/wardenhq/warden/internal/audit"
	"github.com/wardenhq/warden/internal/authn"
	"github.com/wardenhq/warden/internal/guard"
	"github.com/wardenhq/warden/internal/policy"
)

// AuthzPath is the forward-auth endpoint. It takes precedence over a
// configured route with the same path.
const AuthzPath = "/authz"

// Realm is the realm of the gateway's WWW-Authenticate challenges.
const Realm = "warden"

// Actions the gateway asks the engine about to decide which guards apply:
// a guard class applies unless the principal is permitted the action on the
// request's resource.
const (
	ActionPIIView    = "pii:view"
	ActionSecretRead = "secret:read"
)

// OutputResourceType is the Cedar entity type the guard questions of a model
// route are asked about: pii:view and secret:read on Output::"<model>" (a
// model is not what personal data belongs to; the reference schema allows
// pii:view on Output, not on Model). Tool routes ask about the route's own
// resource. A question the schema does not allow is a deny, so the guard
// applies.
const OutputResourceType = "Output"

// Defaults of Limits.
const (
	DefaultUpstreamTimeout = 5 * time.Minute
	// DefaultMaxResponseBytes bounds a JSON response buffered to be redacted.
	DefaultMaxResponseBytes = 16 << 20
)

// Limits bounds the work one request may cause. The zero value means the
// defaults.
type Limits struct {
	// MaxBodyBytes bounds the request body of model routes, which is read
	// whole to find the model. 0 means DefaultMaxBodyBytes. Tool route
	// bodies are streamed to the upstream unread.
	MaxBodyBytes int64
	// MaxTokenBytes bounds the bearer token, checked before verification.
	// 0 means MaxBearerTokenBytes, which is also the upper bound.
	MaxTokenBytes int
	// MaxResponseBytes bounds a JSON response buffered to be redacted.
	// 0 means DefaultMaxResponseBytes.
	MaxResponseBytes int64
	// UpstreamTimeout bounds a whole upstream exchange (connect, headers and
	// body, streams included) of an upstream without its own Timeout.
	// 0 means DefaultUpstreamTimeout.
	UpstreamTimeout time.Duration
}

// Config assembles a gateway from parts built elsewhere (internal/cli's serve
// does that from internal/config).
type Config struct {
	// Verifier checks bearer tokens. Required.
	Verifier *authn.Verifier
	// Engine decides every request. Required.
	Engine *policy.Engine
	// Guard redacts or blocks PII and secrets in model request bodies and in
	// JSON and SSE responses. nil means no guards.
	Guard *guard.Guard
	// Issuer, if set, serves Warden's OAuth endpoints (issuer.Handles:
	// /oauth2/token, /oauth2/introspect, /oauth2/revoke and the
	// /.well-known/ metadata and JWKS) on the data plane, ahead of the
	// routes and without bearer authentication: those endpoints
	// authenticate clients themselves. nil serves none of them.
	Issuer http.Handler
	// Mounts are further data-plane surfaces that authenticate and audit
	// their own requests (the MCP routes, the AuthZEN decision API). They
	// are tried in order after the issuer and before bearer authentication;
	// the first whose Handles accepts the path serves the request.
	Mounts []Mount
	// Audit receives one record per request, allowed or denied. nil is only
	// for tests that say so: nothing is recorded.
	Audit *audit.Log
	// AuditFailOpen: false (the default) answers 503 audit_unavailable when
	// the log does not take a request's record, before anything is proxied.
	// true lets the request through; the failure is counted and logged.
	AuditFailOpen bool
	// Routes and Upstreams: every route names an upstream.
	Routes    []RouteSpec
	Upstreams []UpstreamSpec
	// TrustedProxies are the peers whose X-Forwarded-For (and, for /authz,
	// X-Original-* / X-Forwarded-*) headers are believed. nil trusts none.
	TrustedProxies []netip.Prefix
	// Limits; the zero value means the defaults.
	Limits Limits
	// Node names this gateway in logs.
	Node string
	// Env is the deployment this gateway serves ("staging",
	// "production"), given to every decision as context.env. "" leaves
	// context.env absent (policies test `context has env`).
	Env string
	// Clock is the time source; nil means time.Now.
	Clock func() time.Time
	// Logger receives per-request debug lines and warnings; nil discards.
	// Nothing logged ever contains a token or request content.
	Logger *slog.Logger
}

// Mount is a data-plane surface served beside the routes. Handles must be
// cheap and must not allocate: it runs for every request.
type Mount struct {
	// Name identifies the mount in errors ("mcp", "authzen").
	Name string
	// Handles reports whether the mount serves the (unescaped) path.
	Handles func(path string) bool
	// Handler serves the request. It authenticates the caller, decides and
	// audits on its own.
	Handler http.Handler
}

// Gateway is the data-plane HTTP handler: the configured routes and /authz.
// It is safe for concurrent use. Build it with New.
//
// Decisions worth knowing:
//
//   - Authentication comes before routing: a request without a valid token
//     gets 401 whatever its path, so unauthenticated callers cannot map the
//     routes. Every request, refused or not, gets one audit record.
//   - The decision record (audit.PhaseDecision) is appended after the
//     decision and the request guards and before the upstream call, so that
//     a log that refuses it can still deny the request. It holds the
//     decision, the request-phase guard hits and the latency up to the
//     decision. A proxied request gets a second record with the same request
//     id once its response has ended, failed or been aborted
//     (audit.PhaseResult, see resultRecord): the upstream status, the total
//     latency and the response-phase guards. The response has been sent by
//     then, so a result record the log refuses denies nothing: it is counted
//     in Stats.AuditFailures and logged.
//   - Guards: a guard class applies unless the engine permits pii:view
//     (secret:read) to the principal on the route's resource; for model
//     routes on Output::"<model>" (see OutputResourceType). Model request
//     bodies are redacted (or blocked) before they are proxied; tool request
//     bodies are streamed unread. Responses: JSON is buffered (at most
//     Limits.MaxResponseBytes) and redacted, text/event-stream is redacted
//     event by event with the guard's hold-back and flushed after each event,
//     any other type passes through on tool routes and is refused with 502 on
//     model routes (fail closed: it cannot be inspected). A compressed
//     response that must be inspected is refused too (the gateway does not
//     forward the caller's Accept-Encoding then, so upstreams answer plain).
//     A block before the response has started is 403 blocked; a block or a
//     guard error mid-stream aborts the connection.
//   - The model list (a model route with action model:list) is not decided
//     as a whole: the upstream list is filtered to the models for which
//     model:invoke is permitted (same context), so it never shows a model
//     the caller may not use.
//   - /authz refuses model routes (403): their model is in the body, which a
//     forward-auth subrequest does not carry. Every refusal of /authz other
//     than 401 is a 403 (nginx auth_request understands only 2xx, 401 and
//     403), except 400 for a call without the original-request headers and
//     503 when the audit log refuses the record.
type Gateway struct {
	verifier      *authn.Verifier
	engine        *policy.Engine
	issuer        http.Handler
	mounts        []Mount
	guard         *guard.Guard
	audit         *audit.Log
	auditFailOpen bool
	router        *Router
	routeIndex    map[string]int // route name -> counters index
	noRoute       int            // counters index of unmatched requests
	upstreams     map[string]*upstream
	trusted       []netip.Prefix
	limits        Limits
	node          string
	env           string
	now           func() time.Time
	log           *slog.Logger
	ctr           *counters
}

var _ http.Handler = (*Gateway)(nil)

// New validates cfg and builds the Gateway: the compiled router and one
// reverse proxy (with its own connection pool) per upstream.
func New(cfg Config) (*Gateway, error) {
	var errs []error
	if cfg.Verifier == nil {
		errs = append(errs, errors.New("no Verifier"))
	}
	if cfg.Engine == nil {
		errs = append(errs, errors.New("no Engine"))
	}
	lim := cfg.Limits
	if lim.MaxBodyBytes < 0 || lim.MaxTokenBytes < 0 || lim.MaxResponseBytes < 0 || lim.UpstreamTimeout < 0 {
		errs = append(errs, errors.New("negative limit"))
	}
	if lim.MaxBodyBytes == 0 {
		lim.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if lim.MaxTokenBytes == 0 || lim.MaxTokenBytes > MaxBearerTokenBytes {
		lim.MaxTokenBytes = MaxBearerTokenBytes
	}
	if lim.MaxResponseBytes == 0 {
		lim.MaxResponseBytes = DefaultMaxResponseBytes
	}
	if lim.UpstreamTimeout == 0 {
		lim.UpstreamTimeout = DefaultUpstreamTimeout
	}
	router, err := NewRouter(cfg.Routes)
	if err != nil {
		errs = append(errs, err)
	}
	mounts := slices.Clone(cfg.Mounts)
	for i, m := range mounts {
		if m.Handles == nil || m.Handler == nil {
			errs = append(errs, fmt.Errorf("mount %d (%q): Handles and Handler are required", i, m.Name))
		}
	}
	g := &Gateway{
		verifier:      cfg.Verifier,
		engine:        cfg.Engine,
		issuer:        cfg.Issuer,
		mounts:        mounts,
		guard:         cfg.Guard,
		audit:         cfg.Audit,
		auditFailOpen: cfg.AuditFailOpen,
		router:        router,
		routeIndex:    make(map[string]int, len(cfg.Routes)),
		noRoute:       len(cfg.Routes),
		upstreams:     make(map[string]*upstream, len(cfg.Upstreams)),
		trusted:       append([]netip.Prefix(nil), cfg.TrustedProxies...),
		limits:        lim,
		node:          cfg.Node,
		env:           cfg.Env,
		now:           cfg.Clock,
		log:           cfg.Logger,
		ctr:           newCounters(cfg.Routes),
	}
	if g.now == nil {
		g.now = time.Now
	}
	if g.log == nil {
		g.log = slog.New(slog.DiscardHandler)
	}
	for _, spec := range cfg.Upstreams {
		if _, dup := g.upstreams[spec.Name]; dup || spec.Name == "" {
			errs = append(errs, fmt.Errorf("upstream %q: empty or duplicate name", spec.Name))
			continue
		}
		up, err := g.newUpstream(spec)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		g.upstreams[spec.Name] = up
	}
	for i, r := range cfg.Routes {
		g.routeIndex[r.Name] = i
		if _, ok := g.upstreams[r.Upstream]; !ok {
			errs = append(errs, fmt.Errorf("route %q: unknown upstream %q", r.Name, r.Upstream))
		}
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("gateway: %w", errors.Join(errs...))
	}
	return g, nil
}

// Stats returns a snapshot of the counters.
func (g *Gateway) Stats() Stats { return g.ctr.snapshot() }

// Close closes the idle upstream connections. The Gateway stays usable.
func (g *Gateway) Close() {
	for _, up := range g.upstreams {
		up.transport.CloseIdleConnections()
	}
}

// exchange is the state of one request, shared with the proxy hooks through
// the request context.
type exchange struct {
	id        string
	start     time.Time
	authz     bool
	route     int // counters index
	clientIP  netip.Addr
	principal *authn.Principal
	kind      RouteKind
	up        *upstream
	policyCtx map[string]any

	listModels  bool
	respScanner *guard.Scanner // nil: the response is not scanned
	stream      *guard.StreamReader
	respHits    guard.Hits
	upStatus    int   // the upstream's status, 0 if it did not answer
	upErr       error // why the exchange failed (proxyError), if it did
	errStatus   int   // the gateway's own answer to a failed exchange
	errCode     string
	bodyErr     error // the first error reading the (guarded) response body
	counted     bool  // in Stats already

	rec audit.Record
}

type exchangeKey struct{}

func exchangeFrom(ctx context.Context) *exchange {
	ex, _ := ctx.Value(exchangeKey{}).(*exchange)
	return ex
}
