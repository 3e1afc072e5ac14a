package config

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/wardenhq/warden/internal/audit"
	"github.com/wardenhq/warden/internal/authn"
	"github.com/wardenhq/warden/internal/bundle"
	"github.com/wardenhq/warden/internal/gateway"
	"github.com/wardenhq/warden/internal/guard"
	"github.com/wardenhq/warden/internal/jwk"
	"github.com/wardenhq/warden/internal/store"
)

// Size caps on what a configuration reads.
const (
	// MaxFileBytes caps the configuration file.
	MaxFileBytes = 1 << 20
	// MaxSecretBytes caps a secret read from a {file: PATH} source.
	MaxSecretBytes = 64 << 10
)

// Defaults of the gateway's own settings (the other packages' defaults stay
// with them: authn, bundle, guard and audit document theirs).
const (
	DefaultDataAddr          = "127.0.0.1:8080"
	DefaultAdminAddr         = "127.0.0.1:9090"
	DefaultMaxHeaderBytes    = 64 << 10
	DefaultMaxBodyBytes      = 1 << 20
	DefaultReadHeaderTimeout = 10 * time.Second
	DefaultReadTimeout       = time.Minute
	DefaultWriteTimeout      = 10 * time.Minute
	DefaultIdleTimeout       = 2 * time.Minute
	DefaultUpstreamTimeout   = 5 * time.Minute
	// DefaultLeeway is the clock skew allowed on token times when an issuer
	// sets no leeway (an explicit "0s" means none).
	DefaultLeeway = 30 * time.Second
	// DefaultTokenType is the "typ" an access token must carry unless an
	// issuer sets another type or insecure_skip_type (RFC 9068).
	DefaultTokenType = "at+jwt"
	// DefaultAsyncFlushInterval is audit.flush_interval when durability is
	// async and the key is not set: nobody waits for an async commit, so
	// waiting 5 ms for more records makes batches of a hundred or more
	// instead of a few, at a fraction of the writer's CPU.
	DefaultAsyncFlushInterval = 5 * time.Millisecond
)

// Config is a loaded, validated warden.yaml. Every default is filled in
// where this package owns it; fields of the other packages' Config types
// that are left zero take that package's documented default.
//
// Upstreams[i].Headers holds resolved credentials: never log it. Config's
// own String, Format and LogValue redact them.
type Config struct {
	// File is the name the configuration was loaded from.
	File string

	Listen Listen
	Limits Limits

	// Authn configures the token verifier: Issuers and MaxTokenBytes are
	// set; the caller adds HTTPClient, Clock, Logger and Denylist.
	Authn authn.Config

	// Policy configures the bundle loader: Path or URL, Keys, Algorithms,
	// PollInterval, InsecureAllowUnsigned; the caller adds Clock, Logger
	// and HTTPClient.
	Policy bundle.LoaderConfig

	// Guard configures the detectors: Actions and HoldBack.
	Guard guard.Config

	// Store is the database URL (sqlite:… or postgres://…) for store.Open.
	// It may hold a password: log store.Describe(Store), never Store.
	Store string

	// Audit configures the audit log: Node (""= the host name, filled in
	// when the server starts), Durability, BatchSize, FlushInterval,
	// QueueSize. The caller adds Store, Clock and Logger.
	Audit audit.Config
	// AuditFailOpen lets requests through when the audit log cannot take
	// their record. False (the default) denies them.
	AuditFailOpen bool

	// TrustedProxies are the peers whose X-Forwarded-For is believed. Empty
	// (the default) trusts none.
	TrustedProxies []netip.Prefix

	Upstreams []gateway.UpstreamSpec
	Routes    []gateway.RouteSpec

	// TokenIssuer, when not nil, makes Warden an OAuth token issuer on the
	// data plane (token_issuer). Its KEK is a secret: never log it.
	TokenIssuer *TokenIssuer

	// MCP, when not nil, serves MCP servers at /mcp/<name> (mcp). Its
	// servers' Headers are credentials: never log them.
	MCP *MCP

	// secrets describes where each upstream header value came from, for
	// redacted output: "upstream/Header" -> "env:NAME".
	secrets map[string]string
}

// TokenIssuer holds the token_issuer settings.
type TokenIssuer struct {
	// URL is the "iss" of issued tokens and the base URL of the endpoints;
	// "" means http://<the data-plane address>, filled in at start.
	URL string
	// Audiences are the default "aud" of issued tokens.
	Audiences []string
	// KEK is the 32-byte key-encryption key of the signing keys (secret).
	KEK []byte
	// Algorithm signs new keys.
	Algorithm string
	// Lifetimes and the store resync interval; defaults filled in.
	AccessTokenTTL  time.Duration
	RefreshTokenTTL time.Duration
	RefreshIdleTTL  time.Duration
	ResyncInterval  time.Duration
}

// Listen holds the listener addresses.
type Listen struct {
	// Data is the data-plane address (routes, /authz).
	Data string
	// Admin is the admin address (/healthz, /readyz, /metrics); loopback
	// unless InsecureAdminPublic.
	Admin string
	// InsecureAdminPublic allows a non-loopback Admin address.
	InsecureAdminPublic bool
}

// Limits bound what a request may cost.
type Limits struct {
	MaxHeaderBytes    int // request header bytes (http.Server.MaxHeaderBytes)
	MaxBodyBytes      int64
	MaxTokenBytes     int // bearer token length, checked before decoding
	ReadHeaderTimeout time.Duration
	ReadTimeout       time.Duration
	WriteTimeout      time.Duration
	IdleTimeout       time.Duration
	// UpstreamTimeout is the default timeout of an upstream call; an
	// upstream's own timeout overrides it (Upstreams[i].Timeout is filled
	// in either way).
	UpstreamTimeout time.Duration
}

// Load reads and parses the configuration file at path (at most
// MaxFileBytes), taking environment variables from the process and reading
// the files it names from disk. Relative paths in the file are relative to
// the file's directory.
func Load(path string) (*Config, error) {
	data, err := readCapped(path, MaxFileBytes)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return Parse(path, data, os.Getenv, nil)
}

// Parse parses and validates a configuration. name is used in error
// messages and, through its directory, to resolve relative paths. env
// looks up the variables named by {env: NAME} sources (nil: none are set).
// readFile reads the files the configuration names (key files, secret
// files); nil reads from disk with a size cap.
//
// An invalid configuration returns an *ErrorList.
func Parse(name string, data []byte, env func(string) string, readFile func(string) ([]byte, error)) (*Config, error) {
	if env == nil {
		env = func(string) string { return "" }
	}
	if readFile == nil {
		readFile = func(p string) ([]byte, error) { return readCapped(p, max(MaxSecretBytes, jwk.MaxSetBytes)) }
	}
	sink := &errSink{file: name}
	if len(data) > MaxFileBytes {
		sink.add(&Error{Msg: fmt.Sprintf("file is %d bytes, more than the %d allowed", len(data), MaxFileBytes)})
		return nil, sink.result()
	}
	body, err := parseYAML(data)
	if err != nil {
		sink.add(yamlError(err))
		return nil, sink.result()
	}
	b := &builder{
		walker:   walker{sink: sink},
		dir:      filepath.Dir(name),
		env:      env,
		readFile: readFile,
	}
	cfg := b.build(body)
	cfg.File = name
	if err := sink.result(); err != nil {
		return nil, err
	}
	return cfg, nil
}

// yamlError turns a parser error into an Error with its position.
func yamlError(err error) *Error {
	var pe *posError
	if errors.As(err, &pe) {
		line, col := pos(pe.node)
		return &Error{Line: line, Column: col, Msg: pe.msg}
	}
	var ye yaml.Error
	if errors.As(err, &ye) {
		msg := "YAML syntax: " + ye.GetMessage()
		if m := dupKey.FindStringSubmatch(ye.GetMessage()); m != nil {
			msg = fmt.Sprintf("duplicate key %s (first at line %s)", m[1], m[2])
		}
		e := &Error{Msg: msg}
		if tk := ye.GetToken(); tk != nil && tk.Position != nil {
			e.Line, e.Column = tk.Position.Line, tk.Position.Column
		}
		return e
	}
	return &Error{Msg: "YAML syntax: " + err.Error()}
}

// dupKey matches go-yaml's message about a duplicate mapping key.
var dupKey = regexp.MustCompile(`^mapping key ("(?:[^"\\]|\\.)*") already defined at \[(\d+):\d+\]$`)

// readCapped reads at most limit bytes of path; a larger file is an error.
func readCapped(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("read %s: larger than %d bytes", path, limit)
	}
	return data, nil
}

// String renders the configuration with every secret redacted.
func (c Config) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "file: %s\n", c.File)
	fmt.Fprintf(&b, "listen: data=%s admin=%s insecure_admin_public=%t\n", c.Listen.Data, c.Listen.Admin, c.Listen.InsecureAdminPublic)
	l := c.Limits
	fmt.Fprintf(&b, "limits: max_header_bytes=%d max_body_bytes=%d max_token_bytes=%d read_header_timeout=%s read_timeout=%s write_timeout=%s idle_timeout=%s upstream_timeout=%s\n",
		l.MaxHeaderBytes, l.MaxBodyBytes, l.MaxTokenBytes, l.ReadHeaderTimeout, l.ReadTimeout, l.WriteTimeout, l.IdleTimeout, l.UpstreamTimeout)
	for _, is := range c.Authn.Issuers {
		src := is.JWKSURL
		switch {
		case is.JWKSFile != "":
			src = "jwks_file " + is.JWKSFile
		case len(is.Keys) > 0:
			src = fmt.Sprintf("%d static keys", len(is.Keys))
		}
		fmt.Fprintf(&b, "issuer: %s audiences=%v algorithms=%v type=%q leeway=%s keys=%s\n", is.Issuer, is.Audiences, is.Algorithms, is.Type, is.Leeway, src)
	}
	src := c.Policy.Path
	if c.Policy.URL != "" {
		src = c.Policy.URL
	}
	fmt.Fprintf(&b, "policy: bundle=%s keys=%d insecure_allow_unsigned=%t\n", src, len(c.Policy.Keys), c.Policy.InsecureAllowUnsigned)
	fmt.Fprintf(&b, "store: %s\n", store.Describe(c.Store))
	fmt.Fprintf(&b, "audit: node=%q durability=%q fail_open=%t\n", c.Audit.Node, c.Audit.Durability, c.AuditFailOpen)
	fmt.Fprintf(&b, "trusted_proxies: %v\n", c.TrustedProxies)
	for _, u := range c.Upstreams {
		names := make([]string, 0, len(u.Headers))
		for h := range u.Headers {
			names = append(names, h)
		}
		sort.Strings(names)
		hs := make([]string, len(names))
		for i, h := range names {
			hs[i] = fmt.Sprintf("%s=[redacted %s]", h, c.secrets[u.Name+"/"+h])
		}
		fmt.Fprintf(&b, "upstream: %s %s timeout=%s headers={%s}\n", u.Name, u.URL, u.Timeout, strings.Join(hs, " "))
	}
	if ti := c.TokenIssuer; ti != nil {
		fmt.Fprintf(&b, "token_issuer: url=%q audiences=%v algorithm=%s key_encryption_key=[redacted] access_token_ttl=%s refresh_token_ttl=%s refresh_idle_ttl=%s resync_interval=%s\n",
			ti.URL, ti.Audiences, ti.Algorithm, ti.AccessTokenTTL, ti.RefreshTokenTTL, ti.RefreshIdleTTL, ti.ResyncInterval)
	}
	c.mcpString(&b)
	for _, r := range c.Routes {
		fmt.Fprintf(&b, "route: %s %s %v %s action=%q resource=%s upstream=%s\n", r.Name, r.Kind, r.Methods, r.Path, r.Action, r.Resource.Type, r.Upstream)
	}
	return b.String()
}

// Format makes every fmt verb print the redacted String.
func (c Config) Format(f fmt.State, _ rune) {
	io.WriteString(f, c.String())
}

// LogValue makes slog print the redacted String.
func (c Config) LogValue() slog.Value {
	return slog.StringValue(c.String())
}

var (
	_ fmt.Formatter  = Config{}
	_ slog.LogValuer = Config{}
)
