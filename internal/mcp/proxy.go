package mcp

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/wardenhq/warden/internal/audit"
	"github.com/wardenhq/warden/internal/authn"
	"github.com/wardenhq/warden/internal/gateway"
	"github.com/wardenhq/warden/internal/guard"
	"github.com/wardenhq/warden/internal/policy"
	"github.com/wardenhq/warden/internal/token"
)

// Paths the proxy serves.
const (
	// PathPrefix is followed by a server name: /mcp/<server>.
	PathPrefix = "/mcp/"
	// MetadataPrefix is followed by "mcp/<server>": RFC 9728 protected
	// resource metadata of that server's endpoint.
	MetadataPrefix = "/.well-known/oauth-protected-resource/mcp/"
)

// Defaults.
const (
	DefaultTimeout = 5 * time.Minute
	// DefaultSessionTTL is how long an idle 2025 session stays bound to its
	// principal.
	DefaultSessionTTL = 24 * time.Hour
	// DefaultMaxSessions bounds the session bindings kept.
	DefaultMaxSessions = 100_000
	// maxTools bounds the annotations remembered per server.
	maxTools = 4096
)

// Config assembles a Proxy.
type Config struct {
	// Servers are the MCP servers served, each at /mcp/<Name>.
	Servers []ServerConfig
	// Verifier checks bearer tokens. Required.
	Verifier *authn.Verifier
	// Engine judges every message. Required.
	Engine *policy.Engine
	// Guard redacts or blocks PII and secrets in tool arguments and
	// results. nil means no guards.
	Guard *guard.Guard
	// Audit receives one record per judged message (and one per result).
	// nil only in tests that say so.
	Audit *audit.Log
	// AuditFailOpen lets messages through when the log refuses their
	// record. false (the default) answers CodeUnavailable.
	AuditFailOpen bool
	// AuthorizationServers are named in the protected resource metadata
	// (Warden's own token issuer, or the IdP). Required.
	AuthorizationServers []string
	// PublicURL is Warden's data-plane base URL as clients reach it
	// ("https://warden.example.com"): the metadata URL in challenges, and
	// the default resource URI of a server (PublicURL + "/mcp/<name>").
	PublicURL string
	// TrustedProxies are the peers whose X-Forwarded-For is believed.
	TrustedProxies []netip.Prefix
	// Env is the deployment, given to every decision as context.env.
	Env string
	// Limits bounds requests and responses; zero fields are defaults.
	Limits Limits
	// SessionTTL and MaxSessions bound the 2025 session bindings; 0 means
	// the defaults.
	SessionTTL  time.Duration
	MaxSessions int
	// Mint signs the upstream tokens of servers with an UpstreamToken
	// (Warden's own token issuer's current key); nil when Warden issues no
	// tokens. TokenIssuer is the "iss" of those tokens.
	Mint        func(ctx context.Context, c token.Claims) (string, error)
	TokenIssuer string
	// Node names this proxy in logs.
	Node string
	// Clock is the time source; nil means time.Now.
	Clock func() time.Time
	// Logger receives warnings; nil discards. Nothing logged holds a
	// token or message content.
	Logger *slog.Logger
}

// ServerConfig is one upstream MCP server.
type ServerConfig struct {
	// Name is the path segment and the Cedar id prefix: /mcp/<Name>,
	// Tool::"<Name>/<tool>". Lower-case letters, digits, '-', '_', '.'.
	Name string
	// URL is the upstream's Streamable HTTP endpoint (http or https).
	URL string
	// Resource is the server's canonical resource URI, the audience a
	// token must carry. "" means PublicURL + "/mcp/" + Name.
	Resource string
	// Headers are injected into every upstream request (Warden's own
	// credential for the server, e.g. Authorization). The caller's
	// Authorization header is never forwarded. Secrets: never logged.
	Headers map[string]string
	// Scopes must all be held by the caller (403 insufficient_scope).
	Scopes []string
	// AuditArguments puts the canonical arguments themselves into the audit
	// records, not only their digest. They may hold personal data.
	AuditArguments bool
	// Timeout bounds one upstream exchange, streams included; 0 means
	// DefaultTimeout.
	Timeout time.Duration
	// UpstreamToken, when set, makes Warden mint a short-lived token for
	// every upstream request instead of (or besides) a static credential:
	// sub is Warden's issuer, aud the upstream's audience only, and the
	// caller (with its own delegation chain) in "act". It is sent as the
	// Authorization header. Needs Config.Mint.
	UpstreamToken *UpstreamToken
}

// UpstreamToken describes the tokens minted for an upstream.
type UpstreamToken struct {
	// Audience is the upstream's audience: the only one the token names.
	Audience string
	// TTL is the token's lifetime; 0 means DefaultUpstreamTokenTTL.
	TTL time.Duration
}

// DefaultUpstreamTokenTTL is the lifetime of a minted upstream token.
const DefaultUpstreamTokenTTL = time.Minute

// ResourceURI is the server's resource URI: Resource, or publicURL +
// "/mcp/" + Name.
func (sc ServerConfig) ResourceURI(publicURL string) string {
	if sc.Resource != "" {
		return sc.Resource
	}
	return strings.TrimSuffix(publicURL, "/") + PathPrefix + sc.Name
}

// Proxy serves the configured MCP servers. Each JSON-RPC message a client
// sends is judged by the policy engine before anything reaches the
// upstream; lists are filtered per caller; tool arguments and results go
// through the guards; every judged message gets an audit record. It is
// safe for concurrent use. Build it with New.
type Proxy struct {
	servers  map[string]*server
	verifier *authn.Verifier
	engine   *policy.Engine
	guard    *guard.Guard
	audit    *audit.Log
	failOpen bool
	authz    []string
	trusted  []netip.Prefix
	env      string
	limits   Limits
	node     string
	now      func() time.Time
	log      *slog.Logger
	sessions *sessions
	mint     func(ctx context.Context, c token.Claims) (string, error)
	tokIss   string
	argPaths *guard.Paths
	resPaths *guard.Paths
}

type server struct {
	name           string
	upstream       *url.URL
	resource       string
	metadataURL    string
	metadata       []byte
	headers        http.Header
	scopes         []string
	auditArguments bool
	timeout        time.Duration
	client         *http.Client
	hints          *hintCache
	upstreamToken  *UpstreamToken
}

var _ http.Handler = (*Proxy)(nil)

// New validates cfg and builds the Proxy.
func New(cfg Config) (*Proxy, error) {
	var errs []error
	if cfg.Verifier == nil {
		errs = append(errs, errors.New("no Verifier"))
	}
	if cfg.Engine == nil {
		errs = append(errs, errors.New("no Engine"))
	}
	if len(cfg.AuthorizationServers) == 0 {
		errs = append(errs, errors.New("no AuthorizationServers"))
	}
	pub := strings.TrimSuffix(cfg.PublicURL, "/")
	if u, err := url.Parse(pub); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("PublicURL %q: want an http(s) base URL", cfg.PublicURL))
	}
	argPaths, _ := guard.NewPaths("params.arguments")
	resPaths, _ := guard.NewPaths("result")
	p := &Proxy{
		servers:  make(map[string]*server, len(cfg.Servers)),
		verifier: cfg.Verifier,
		engine:   cfg.Engine,
		guard:    cfg.Guard,
		audit:    cfg.Audit,
		failOpen: cfg.AuditFailOpen,
		authz:    slices.Clone(cfg.AuthorizationServers),
		trusted:  slices.Clone(cfg.TrustedProxies),
		env:      cfg.Env,
		limits:   cfg.Limits.withDefaults(),
		node:     cfg.Node,
		now:      cfg.Clock,
		log:      cfg.Logger,
		argPaths: argPaths,
		resPaths: resPaths,
		mint:     cfg.Mint,
		tokIss:   cfg.TokenIssuer,
	}
	if p.now == nil {
		p.now = time.Now
	}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	ttl, maxSess := cfg.SessionTTL, cfg.MaxSessions
	if ttl <= 0 {
		ttl = DefaultSessionTTL
	}
	if maxSess <= 0 {
		maxSess = DefaultMaxSessions
	}
	p.sessions = newSessions(ttl, maxSess, p.now)
	for _, sc := range cfg.Servers {
		s, err := p.newServer(sc, pub)
		if err != nil {
			errs = append(errs, fmt.Errorf("server %q: %w", sc.Name, err))
			continue
		}
		if _, dup := p.servers[s.name]; dup {
			errs = append(errs, fmt.Errorf("server %q: defined twice", sc.Name))
			continue
		}
		p.servers[s.name] = s
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("mcp: %w", errors.Join(errs...))
	}
	return p, nil
}

func validServerName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i, c := range s {
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case (c == '-' || c == '_' || c == '.') && i > 0:
		default:
			return false
		}
	}
	return true
}

func (p *Proxy) newServer(sc ServerConfig, pub string) (*server, error) {
	if !validServerName(sc.Name) {
		return nil, errors.New("not a name (lower-case letters, digits, - _ .)")
	}
	u, err := url.Parse(sc.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.Fragment != "" {
		return nil, fmt.Errorf("upstream URL %q: want an absolute http(s) URL without credentials", sc.URL)
	}
	res := sc.ResourceURI(pub)
	if ru, err := url.Parse(res); err != nil || ru.Scheme == "" || ru.Host == "" || ru.Fragment != "" {
		return nil, fmt.Errorf("resource %q: want an absolute URI without a fragment (RFC 8707)", res)
	}
	timeout := sc.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	h := make(http.Header, len(sc.Headers))
	for k, v := range sc.Headers {
		h.Set(k, v)
	}
	tr := &http.Transport{
		Proxy:                  nil,
		DialContext:            (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2:      true,
		MaxIdleConns:           256,
		MaxIdleConnsPerHost:    256,
		IdleConnTimeout:        90 * time.Second,
		TLSHandshakeTimeout:    10 * time.Second,
		ResponseHeaderTimeout:  timeout,
		MaxResponseHeaderBytes: 64 << 10,
		DisableCompression:     true, // responses are inspected: ask for them plain
	}
	s := &server{
		name:           sc.Name,
		upstream:       u,
		resource:       res,
		metadataURL:    pub + MetadataPrefix + sc.Name,
		headers:        h,
		scopes:         slices.Clone(sc.Scopes),
		auditArguments: sc.AuditArguments,
		timeout:        timeout,
		client: &http.Client{
			Transport:     tr,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		hints: newHintCache(),
	}
	if ut := sc.UpstreamToken; ut != nil {
		switch {
		case p.mint == nil || p.tokIss == "":
			return nil, errors.New("an upstream token needs Mint and TokenIssuer (Warden's token issuer)")
		case ut.Audience == "":
			return nil, errors.New("an upstream token needs an audience")
		case ut.TTL < 0 || ut.TTL > time.Hour:
			return nil, errors.New("an upstream token lives between 1s and 1h")
		}
		c := *ut
		if c.TTL == 0 {
			c.TTL = DefaultUpstreamTokenTTL
		}
		s.upstreamToken = &c
	}
	s.metadata = p.metadataDoc(s)
	return s, nil
}

// Resources returns every server's resource URI: the audiences Warden's
// verifier must accept for tokens of its own issuer.
func (p *Proxy) Resources() []string {
	out := make([]string, 0, len(p.servers))
	for _, s := range p.servers {
		out = append(out, s.resource)
	}
	slices.Sort(out)
	return out
}

// Handles reports whether path is one of the proxy's: /mcp/<server> or
// its metadata document, for a configured server. It does not allocate.
func (p *Proxy) Handles(path string) bool {
	s, _ := p.serverOf(path)
	return s != nil
}

func (p *Proxy) serverOf(path string) (s *server, metadata bool) {
	switch {
	case strings.HasPrefix(path, PathPrefix):
		s = p.servers[path[len(PathPrefix):]]
	case strings.HasPrefix(path, MetadataPrefix):
		s, metadata = p.servers[path[len(MetadataPrefix):]], true
	}
	return s, metadata
}

// Mount returns the proxy as a gateway mount.
func (p *Proxy) Mount() gateway.Mount {
	return gateway.Mount{Name: "mcp", Handles: p.Handles, Handler: p}
}

// Close closes idle upstream connections.
func (p *Proxy) Close() {
	for _, s := range p.servers {
		s.client.CloseIdleConnections()
	}
}

// sessions binds 2025 Mcp-Session-Id values to the principal whose
// initialize created them.
type sessions struct {
	mu   sync.Mutex
	m    map[string]sessionEntry
	ttl  time.Duration
	max  int
	now  func() time.Time
	seen int // puts since the last sweep
}

type sessionEntry struct {
	server    string
	principal string
	expires   time.Time
}

func newSessions(ttl time.Duration, max int, now func() time.Time) *sessions {
	return &sessions{m: map[string]sessionEntry{}, ttl: ttl, max: max, now: now}
}

// bind records id as principal's session on server. It reports false when
// the table is full of live sessions.
func (ss *sessions) bind(server, id, principal string) bool {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	now := ss.now()
	if len(ss.m) >= ss.max {
		for k, e := range ss.m {
			if now.After(e.expires) {
				delete(ss.m, k)
			}
		}
		if len(ss.m) >= ss.max {
			return false
		}
	}
	ss.m[server+"\x00"+id] = sessionEntry{server: server, principal: principal, expires: now.Add(ss.ttl)}
	return true
}

// check reports whether id is a live session of principal on server, and
// extends it.
func (ss *sessions) check(server, id, principal string) bool {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	k := server + "\x00" + id
	e, ok := ss.m[k]
	now := ss.now()
	switch {
	case !ok:
		return false
	case now.After(e.expires):
		delete(ss.m, k)
		return false
	case subtle.ConstantTimeCompare([]byte(e.principal), []byte(principal)) != 1:
		return false
	}
	e.expires = now.Add(ss.ttl)
	ss.m[k] = e
	return true
}

func (ss *sessions) drop(server, id string) {
	ss.mu.Lock()
	delete(ss.m, server+"\x00"+id)
	ss.mu.Unlock()
}

// upstreamTokenFor mints the upstream token of one request of pr to s.
func (p *Proxy) upstreamTokenFor(ctx context.Context, s *server, pr *authn.Principal) (string, error) {
	act := &token.Actor{Subject: pr.Subject, Issuer: pr.Issuer, ClientID: pr.ClientID}
	tail := act
	for _, a := range pr.Actor {
		tail.Actor = &token.Actor{Subject: a.Subject, Issuer: a.Issuer, ClientID: a.ClientID}
		tail = tail.Actor
	}
	return p.mint(ctx, token.Claims{
		Issuer: p.tokIss, Subject: p.tokIss, Audience: []string{s.upstreamToken.Audience},
		TTL: s.upstreamToken.TTL, ClientID: "warden-mcp", Actor: act,
	})
}

// principalKey identifies a principal for session binding: issuer,
// subject, client and the delegation chain.
func principalKey(pr *authn.Principal) string {
	var b strings.Builder
	b.WriteString(pr.Issuer)
	b.WriteByte(0)
	b.WriteString(pr.Subject)
	b.WriteByte(0)
	b.WriteString(pr.ClientID)
	for _, a := range pr.Actor {
		b.WriteByte(0)
		b.WriteString(a.Issuer)
		b.WriteByte(1)
		b.WriteString(a.Subject)
	}
	return b.String()
}

// hints are the upstream's readOnlyHint / destructiveHint of its tools,
// learned from tools/list responses. The upstream sees Warden's credential,
// never the caller's, so its list (and these claims) is the same whoever
// asked; only the filtered list a caller receives differs, and it is never
// cached.
type hintCache struct {
	mu sync.RWMutex
	m  map[string]toolHints
}

type toolHints struct {
	readOnly, destructive *bool
}

func newHintCache() *hintCache { return &hintCache{m: map[string]toolHints{}} }

func (h *hintCache) get(tool string) toolHints {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.m[tool]
}

func (h *hintCache) put(tool string, th toolHints) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.m[tool]; !ok && len(h.m) >= maxTools {
		return
	}
	h.m[tool] = th
}
