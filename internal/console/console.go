package console

import (
	"embed"
	"errors"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/wardenhq/warden/internal/audit"
	"github.com/wardenhq/warden/internal/authn"
	"github.com/wardenhq/warden/internal/bundle"
	"github.com/wardenhq/warden/internal/gateway"
	"github.com/wardenhq/warden/internal/policy"
	"github.com/wardenhq/warden/internal/store"
	"github.com/wardenhq/warden/internal/token"
)

// Prefix is the path the console is served under; mount the Console there.
const Prefix = "/console/"

// Limits and defaults.
const (
	// DefaultMaxSessions bounds the sessions kept in memory when
	// Config.MaxSessions is zero.
	DefaultMaxSessions = 1024
	// MaxSessionAge caps a session even when its token lives longer.
	MaxSessionAge = 12 * time.Hour
	// MaxMintTTL is the longest lifetime of a token the console generates.
	MaxMintTTL = time.Hour
	// maxBodyBytes bounds every API request body.
	maxBodyBytes = 64 << 10
)

// The resources and actions the console asks the policy engine about.
const (
	ActionView      = "console:view"
	ActionAuditRead = "audit:read"
	ResourceConsole = "Console"
	ResourceAudit   = "AuditLog"
	resourceID      = "main"
	// AuditRoute is the route name of the console's own audit records
	// (sign-in decisions).
	AuditRoute = "console"
)

// Error codes of the console API, besides the gateway's.
const (
	CodeCSRF         = "csrf_failed"       // 403: missing or wrong CSRF token, or a cross-site request
	CodeNoSession    = "no_session"        // 401: no valid session cookie
	CodeInvalidToken = "invalid_token"     // 401: the sign-in token did not verify
	CodeUnavailable  = "unavailable"       // 404/503: the feature is not configured on this server
	CodeMintDisabled = "generate_disabled" // 404: no development signing key
	CodeTampered     = "tampered"          // 409: an audit record fails its integrity check
)

// csp is the Content-Security-Policy of every console response: scripts and
// styles only from the console itself, no inline code, no framing.
const csp = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; " +
	"connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

// Config configures a Console. Verifier and Engine are required.
type Config struct {
	// Verifier verifies sign-in tokens and "verify against the configured
	// issuers".
	Verifier *authn.Verifier
	// Engine decides console:view and audit:read and answers the playground.
	Engine *policy.Engine
	// Loader, if set, adds the bundle source's status to the playground.
	Loader *bundle.Loader
	// Store is where the audit browser reads records; nil disables it.
	Store store.Store
	// Audit, if set, receives a record for every sign-in decision.
	Audit *audit.Log
	// Node is the audit node name of this server, shown in the audit
	// browser.
	Node string
	// ClaimMappings maps an issuer ("iss") to its claim mapping, for the
	// playground; other issuers use the default mapping.
	ClaimMappings map[string]authn.ClaimMapping
	// InsecureDevMint, if set, enables token generation: anyone who may
	// use the console can then mint tokens, for any preset role, that this
	// server accepts. Only for a demo or development signing key (warden
	// serve --demo), never a production issuer's.
	InsecureDevMint *MintConfig
	// MaxSessions bounds the sessions in memory; 0 means DefaultMaxSessions.
	MaxSessions int
	// Clock returns the current time; nil means time.Now.
	Clock func() time.Time
	// Logger receives sign-ins and errors (never a token); nil discards.
	Logger *slog.Logger
}

// SourceStatus is the bundle source's state, as the playground shows it.
type SourceStatus struct {
	Source      string    `json:"source"`
	LastCheck   time.Time `json:"last_check,omitzero"`
	LastSuccess time.Time `json:"last_success,omitzero"`
	LastError   string    `json:"last_error,omitempty"`
	LastErrorAt time.Time `json:"last_error_at,omitzero"`
	Failures    int       `json:"failures"`
}

// MintConfig is the development signing key the console may generate tokens
// with, and what they say.
type MintConfig struct {
	Signer   *token.Signer
	Issuer   string
	Audience []string
	// Presets are the roles offered; a request names one.
	Presets []Preset
}

// Preset is a role preset for generated tokens.
type Preset struct {
	Name    string   `json:"name"`
	Subject string   `json:"subject"`
	Roles   []string `json:"roles"`
	Team    string   `json:"team,omitempty"`
	Scopes  []string `json:"scopes,omitempty"`
}

// Console is the web console's http.Handler. It is safe for concurrent use.
type Console struct {
	cfg      Config
	clock    func() time.Time
	logger   *slog.Logger
	sessions *sessions
	static   fs.FS
	pages    map[string]*page
	mux      *http.ServeMux
}

var _ http.Handler = (*Console)(nil)

// staticFiles are the styles and scripts, served as they are; pageFiles
// the HTML templates (html/template), rendered into the layout.
//
//go:embed static
var staticFiles embed.FS

//go:embed pages
var pageFiles embed.FS

// New checks cfg and returns a Console.
func New(cfg Config) (*Console, error) {
	if cfg.Verifier == nil {
		return nil, errors.New("console: no verifier")
	}
	if cfg.Engine == nil {
		return nil, errors.New("console: no policy engine")
	}
	if m := cfg.InsecureDevMint; m != nil {
		if m.Signer == nil || m.Issuer == "" || len(m.Audience) == 0 || len(m.Presets) == 0 {
			return nil, errors.New("console: InsecureDevMint needs a signer, an issuer, an audience and at least one preset")
		}
	}
	sub, err := fs.Sub(staticFiles, "static")
	if err != nil {
		return nil, err
	}
	pages, err := parsePages()
	if err != nil {
		return nil, err
	}
	c := &Console{cfg: cfg, clock: cfg.Clock, logger: cfg.Logger, static: sub, pages: pages}
	if c.clock == nil {
		c.clock = time.Now
	}
	if c.logger == nil {
		c.logger = slog.New(slog.DiscardHandler)
	}
	limit := cfg.MaxSessions
	if limit <= 0 {
		limit = DefaultMaxSessions
	}
	c.sessions = newSessions(limit)
	c.mux = c.routes()
	return c, nil
}

func (c *Console) routes() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /console/{$}", c.handle(c.index))
	mux.HandleFunc("GET /console/tokens", c.handle(c.page("tokens", "")))
	mux.HandleFunc("GET /console/playground", c.handle(c.page("playground", "")))
	mux.HandleFunc("GET /console/audit", c.handle(c.page("audit", ActionAuditRead)))
	mux.HandleFunc("GET /console/static/{file}", c.handle(c.asset))

	mux.HandleFunc("POST /console/api/session", c.handle(c.signIn))
	mux.HandleFunc("GET /console/api/session", c.handle(c.api(false, "", c.sessionInfo)))
	mux.HandleFunc("POST /console/api/logout", c.handle(c.api(true, "", c.signOut)))
	mux.HandleFunc("GET /console/api/token/presets", c.handle(c.api(false, "", c.tokenPresets)))
	mux.HandleFunc("POST /console/api/token/verify", c.handle(c.api(true, "", c.verifyToken)))
	mux.HandleFunc("POST /console/api/token/generate", c.handle(c.api(true, "", c.generateToken)))
	mux.HandleFunc("GET /console/api/policy/status", c.handle(c.api(false, "", c.policyStatus)))
	mux.HandleFunc("POST /console/api/policy/eval", c.handle(c.api(true, "", c.policyEval)))
	mux.HandleFunc("GET /console/api/audit/records", c.handle(c.api(false, ActionAuditRead, c.auditRecords)))
	mux.HandleFunc("GET /console/api/audit/verify", c.handle(c.api(false, ActionAuditRead, c.auditVerify)))
	mux.HandleFunc("/console/", c.handle(func(*http.Request, *exchange) error {
		return &gateway.Error{Status: http.StatusNotFound, Code: gateway.CodeNotFound, Message: "no such console page"}
	}))
	return mux
}

// ServeHTTP sets the security headers of every response and dispatches.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", csp)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
	h.Set("Cache-Control", "no-store")
	c.mux.ServeHTTP(w, r)
}

// exchange is one request's state: its id, the writer and the session (once
// checked).
type exchange struct {
	id      string
	w       http.ResponseWriter
	session *session
}

// handler is a console handler: it writes its response or returns an error
// that handle renders.
type handler func(r *http.Request, ex *exchange) error

// handle adapts a handler: a request id, a bounded body, and one place that
// renders errors (the public message and code to the client, the cause and
// the request id to the log).
func (c *Console) handle(h handler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ex := &exchange{id: audit.NewRequestID(c.clock()), w: w}
		w.Header().Set("X-Request-Id", ex.id)
		if r.Body != nil {
			r.Body = http.MaxBytesReader(w, r.Body, maxBodyBytes)
		}
		err := h(r, ex)
		if err == nil {
			return
		}
		var ge *gateway.Error
		if !errors.As(err, &ge) || ge.Status >= 500 {
			c.logger.ErrorContext(r.Context(), "console request failed", "request_id", ex.id, "path", r.URL.Path, "err", err)
		} else if ge.Err != nil {
			c.logger.InfoContext(r.Context(), "console request refused", "request_id", ex.id, "path", r.URL.Path, "code", ge.Code, "err", ge.Err)
		}
		if strings.HasPrefix(r.URL.Path, "/console/api/") {
			gateway.WriteError(w, r, ex.id, err)
			return
		}
		c.errorPage(w, r, ex.id, err)
	}
}
