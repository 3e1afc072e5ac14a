package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/wardenhq/warden/internal/audit"
	"github.com/wardenhq/warden/internal/authn"
	"github.com/wardenhq/warden/internal/authzen"
	"github.com/wardenhq/warden/internal/bundle"
	"github.com/wardenhq/warden/internal/config"
	"github.com/wardenhq/warden/internal/console"
	"github.com/wardenhq/warden/internal/gateway"
	"github.com/wardenhq/warden/internal/guard"
	"github.com/wardenhq/warden/internal/ingest"
	"github.com/wardenhq/warden/internal/issuer"
	"github.com/wardenhq/warden/internal/mcp"
	"github.com/wardenhq/warden/internal/policy"
	"github.com/wardenhq/warden/internal/store"
	"github.com/wardenhq/warden/internal/token"
)

// DefaultShutdownTimeout bounds the graceful shutdown: draining requests in
// flight and flushing the audit log.
const DefaultShutdownTimeout = 30 * time.Second

type serveFlags struct {
	config          string
	demo            bool
	dataDir         string
	listen          string
	adminListen     string
	shutdownTimeout time.Duration
}

func newServeCmd(stdio IO) *cobra.Command {
	var f serveFlags
	cmd := &cobra.Command{
		Use:   "serve (--config FILE | --demo [--data-dir DIR])",
		Short: "Run the gateway: every model and tool call judged against the token and the signed policy",
		Long: `Serve runs Warden's data plane and admin listeners.

The data plane (default 127.0.0.1:8080) serves the configured routes: every
request's bearer token is verified, the call is judged by the signed Cedar
policy bundle, prompts and outputs are redacted as the policy says, allowed
calls are forwarded to their upstream with the upstream's own credentials (the
caller's token never goes upstream), and every decision is written to the
hash-chained audit log.

The admin listener (default 127.0.0.1:9090, loopback only unless the
configuration says insecure_admin_public) serves /healthz, /readyz (200 only
once a verified policy bundle is loaded), /metrics (Prometheus text format)
and the web console at /console/ (sign in with a token whose principal the
policy allows console:view; see docs/console.md).

Logs are JSON lines on stderr. SIGINT or SIGTERM stops accepting connections,
drains the requests in flight (up to --shutdown-timeout) and flushes the audit
log before exiting.

--demo needs no files: it generates ephemeral signing keys, builds and signs
the reference policy bundle (examples/policy) into the data directory and
loads it through the normal verification path, starts a built-in echo model
upstream and a demo MCP server (served through Warden at /mcp/demo) on
loopback ports, keeps the audit log in SQLite in the data directory, and
prints tokens for the reference roles and curl commands to try.

SECURITY CONSIDERATIONS
  --demo prints bearer tokens that are valid for one hour and writes a
  configuration that trusts only its own ephemeral keys. It is for trying
  Warden out, never for production.`,
		Example: `  # Try Warden with no setup
  warden serve --demo

  # Keep the demo's audit log and bundle in ./demo
  warden serve --demo --data-dir ./demo

  # Production: everything comes from the configuration file
  warden serve --config /etc/warden/warden.yaml`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			switch {
			case f.demo && f.config != "":
				return usageErrorf("--config and --demo are mutually exclusive")
			case !f.demo && f.config == "":
				return usageErrorf("one of --config FILE or --demo is required")
			case !f.demo && f.dataDir != "":
				return usageErrorf("--data-dir is only used with --demo")
			case f.shutdownTimeout <= 0:
				return usageErrorf("--shutdown-timeout must be positive")
			}
			return runServe(cmd.Context(), stdio, f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.config, "config", "", "the configuration file (warden.yaml; see docs/configuration.md)")
	fl.BoolVar(&f.demo, "demo", false, "run a self-contained demo: ephemeral keys, the example bundle, a built-in echo model and MCP server")
	fl.StringVar(&f.dataDir, "data-dir", "", "--demo: where the bundle, configuration and audit database go (default: a new directory under the system temp dir)")
	fl.StringVar(&f.listen, "listen", "", "data-plane address, overriding listen.data (default 127.0.0.1:8080; port 0 picks a free port)")
	fl.StringVar(&f.adminListen, "admin-listen", "", "admin address, overriding listen.admin (default 127.0.0.1:9090; must be loopback)")
	fl.DurationVar(&f.shutdownTimeout, "shutdown-timeout", DefaultShutdownTimeout, "how long a graceful shutdown may take to drain requests and flush the audit log")
	return cmd
}

// runServe builds every part from the configuration, serves until ctx is
// done, then shuts down gracefully.
func runServe(ctx context.Context, stdio IO, f serveFlags) error {
	logger := slog.New(slog.NewJSONHandler(stdio.Stderr, nil))

	var demo *demoEnv
	var cfg *config.Config
	if f.demo {
		var err error
		demo, err = setupDemo(ctx, stdio, f.dataDir, logger)
		if err != nil {
			return invalidErrorf("demo: %w", err)
		}
		defer demo.close()
		cfg, err = config.Load(demo.configPath)
		if err != nil {
			return invalidErrorf("demo: load the generated configuration: %w", err)
		}
	} else {
		var err error
		if cfg, err = loadConfig(stdio, f.config); err != nil {
			return err
		}
	}

	dataAddr, adminAddr := cfg.Listen.Data, cfg.Listen.Admin
	if f.listen != "" {
		dataAddr = f.listen
	}
	if f.adminListen != "" {
		adminAddr = f.adminListen
		if !cfg.Listen.InsecureAdminPublic && !loopbackAddr(adminAddr) {
			return usageErrorf("--admin-listen %q is not a loopback address (want 127.0.0.1:PORT, [::1]:PORT or localhost:PORT; set listen.insecure_admin_public in the configuration to expose it)", adminAddr)
		}
	}

	// Listen first: the token issuer's default URL is the data address.
	dataLn, err := net.Listen("tcp", dataAddr)
	if err != nil {
		return invalidErrorf("data listener: %w (use --listen to pick another address)", err)
	}
	adminLn, err := net.Listen("tcp", adminAddr)
	if err != nil {
		dataLn.Close()
		return invalidErrorf("admin listener: %w (use --admin-listen to pick another address)", err)
	}
	if ti := cfg.TokenIssuer; ti != nil && ti.URL == "" {
		ti.URL = "http://" + dataLn.Addr().String()
	}
	srv, err := buildServer(ctx, stdio, cfg, logger)
	if err != nil {
		dataLn.Close()
		adminLn.Close()
		return invalidErrorf("%w", err)
	}
	defer srv.closeParts()
	if err := srv.buildConsole(stdio, demo); err != nil {
		dataLn.Close()
		adminLn.Close()
		return invalidErrorf("%w", err)
	}
	if demo != nil {
		if err := demo.addClient(ctx, srv.store, stdio.Now(), mcpResources(cfg)); err != nil {
			dataLn.Close()
			adminLn.Close()
			return invalidErrorf("demo: %w", err)
		}
	}
	return srv.serve(ctx, stdio, dataLn, adminLn, demo, f.shutdownTimeout)
}

// loadConfig loads a configuration file; its errors go to stderr, one per
// line with file:line:col, and exit 2.
func loadConfig(stdio IO, path string) (*config.Config, error) {
	cfg, err := config.Load(path)
	if err != nil {
		var list *config.ErrorList
		if errors.As(err, &list) {
			for _, e := range list.Errors {
				fmt.Fprintln(stdio.Stderr, e.Error())
			}
			if list.Omitted > 0 {
				fmt.Fprintf(stdio.Stderr, "(and %d more)\n", list.Omitted)
			}
			return nil, silentExit(exitUsage)
		}
		return nil, usageErrorf("%w", err)
	}
	return cfg, nil
}

// loopbackAddr reports whether a host:port address listens on loopback only.
func loopbackAddr(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// server holds the running parts of `warden serve`.
type server struct {
	cfg      *config.Config
	logger   *slog.Logger
	verifier *authn.Verifier
	engine   *policy.Engine
	loader   *bundle.Loader
	store    store.Store
	audit    *audit.Log
	gateway  *gateway.Gateway
	issuer   *issuer.Issuer // nil without token_issuer
	console  *console.Console
	mcp      *mcp.Proxy // nil without mcp servers
	// mcpVerifier accepts only the MCP servers' resource URIs as audiences.
	mcpVerifier *authn.Verifier
	node        string
	// auditClosed is set (by serve, before closeParts runs in the same
	// goroutine) once the audit log has been flushed and closed. The audit
	// field itself never changes after buildServer, so handlers may read it.
	auditClosed bool
}

// buildServer constructs the verifier, the policy engine and its bundle
// loader, the guard, the store, the audit log and the gateway. On error,
// everything built so far is closed.
func buildServer(ctx context.Context, stdio IO, cfg *config.Config, logger *slog.Logger) (_ *server, err error) {
	s := &server{cfg: cfg, logger: logger}
	defer func() {
		if err != nil {
			s.closeParts()
		}
	}()

	if s.store, err = store.Open(ctx, cfg.Store, store.Options{Logger: logger.With("component", "store"), Clock: stdio.Now}); err != nil {
		return nil, fmt.Errorf("store %s: %w", store.Describe(cfg.Store), err)
	}

	ac := cfg.Authn
	ac.Issuers = slices.Clone(ac.Issuers)
	ac.Clock = stdio.Now
	ac.Logger = logger.With("component", "authn")
	if ac.HTTPClient == nil {
		ac.HTTPClient = stdio.HTTPClient
	}
	var ic issuer.Config
	if ti := cfg.TokenIssuer; ti != nil {
		// The issuer's keys and revocations come first: the verifier
		// trusts Warden's tokens through them and asks the revocations
		// about every token.
		if ic, err = issuerConfig(ctx, s.store, ti, stdio.Now, logger); err != nil {
			return nil, err
		}
		// A client without its own audience list may ask for an MCP
		// server's resource URI (RFC 8707), which it never gets unasked.
		ic.Resources = mcpResources(cfg)
		ac.Issuers = append(ac.Issuers, ic.OwnIssuerConfig(nil))
		ac.Denylist = ic.Revocations
	}
	if s.verifier, err = authn.New(ctx, ac); err != nil {
		return nil, fmt.Errorf("token verifier: %w", err)
	}
	if res := mcpResources(cfg); len(res) > 0 {
		// The MCP servers have a verifier of their own: a token for an MCP
		// server (its resource URI as audience, RFC 8707) is for that
		// server only and never passes on the routes, and a token for the
		// routes never passes on an MCP server.
		mac := ac
		mac.Issuers = make([]authn.IssuerConfig, len(ac.Issuers))
		for i, is := range ac.Issuers {
			is.Audiences, is.InsecureSkipAudience = res, false
			mac.Issuers[i] = is
		}
		mac.Logger = logger.With("component", "authn", "for", "mcp")
		if s.mcpVerifier, err = authn.New(ctx, mac); err != nil {
			return nil, fmt.Errorf("mcp token verifier: %w", err)
		}
	}

	if s.engine, err = policy.New(policy.Config{Clock: stdio.Now, Logger: logger.With("component", "policy")}); err != nil {
		return nil, fmt.Errorf("policy engine: %w", err)
	}
	lc := cfg.Policy
	lc.Clock = stdio.Now
	lc.Logger = logger.With("component", "bundle")
	if lc.HTTPClient == nil && lc.URL != "" {
		lc.HTTPClient = stdio.HTTPClient
	}
	engine := s.engine
	apply := func(ctx context.Context, b *bundle.Bundle) error {
		rev, digest := b.Meta()
		return engine.Load(ctx, b.FS(), policy.Meta{Revision: rev, Digest: digest})
	}
	if s.loader, err = bundle.NewLoader(lc, apply, engine.Fail); err != nil {
		return nil, fmt.Errorf("bundle loader: %w", err)
	}

	gc := cfg.Guard
	gc.Logger = logger.With("component", "guard")
	g, err := guard.New(gc)
	if err != nil {
		return nil, fmt.Errorf("guard: %w", err)
	}

	audc := cfg.Audit
	audc.Store = s.store
	audc.Clock = stdio.Now
	audc.Logger = logger.With("component", "audit")
	if audc.Node == "" {
		if audc.Node, err = os.Hostname(); err != nil || audc.Node == "" {
			return nil, fmt.Errorf("audit node: no host name (set audit.node): %v", err)
		}
	}
	s.node = audc.Node
	if s.audit, err = audit.New(ctx, audc); err != nil {
		return nil, fmt.Errorf("audit log: %w", err)
	}

	var issuerHandler http.Handler
	var mounts []gateway.Mount
	if cfg.TokenIssuer != nil {
		ic.Verifier, ic.Engine, ic.Audit, ic.AuditFailOpen = s.verifier, s.engine, s.audit, cfg.AuditFailOpen
		if s.issuer, err = issuer.New(ctx, ic); err != nil {
			return nil, fmt.Errorf("token issuer: %w", err)
		}
		issuerHandler = s.issuer
		// Services ship their decision logs as the issuer's clients.
		ing, err := ingest.New(ingest.Config{Store: s.store, Issuer: s.issuer, Audit: s.audit, AuditFailOpen: cfg.AuditFailOpen,
			Clock: stdio.Now, Logger: logger.With("component", "ingest")})
		if err != nil {
			return nil, fmt.Errorf("audit ingest: %w", err)
		}
		mounts = append(mounts, gateway.Mount{Name: "audit-ingest", Handles: ingest.Handles, Handler: ing})
	}

	// The AuthZEN decision API (docs/authzen.md) is on unless
	// authzen.enabled is false: it answers only verified callers, about
	// themselves unless their token holds pdp:query, and audits every
	// evaluation like the gateway.
	if !cfg.AuthZEN.Disabled {
		pdpURL := cfg.AuthZEN.URL
		if pdpURL == "" {
			pdpURL = s.issuerURL()
		}
		pdp, err := authzen.New(authzen.Config{
			Verifier:      s.verifier,
			Engine:        s.engine,
			Audit:         s.audit,
			AuditFailOpen: cfg.AuditFailOpen,
			URL:           pdpURL,
			Limits:        authzen.Limits{MaxTokenBytes: cfg.Limits.MaxTokenBytes},
			Node:          s.node,
			Clock:         stdio.Now,
			Logger:        logger.With("component", "authzen"),
		})
		if err != nil {
			return nil, fmt.Errorf("authzen: %w", err)
		}
		mounts = append(mounts, pdp.Mount())
	}

	if m := cfg.MCP; m != nil {
		pub, authz := mcpDefaults(cfg)
		mc := mcp.Config{
			Servers: m.Servers, Verifier: s.mcpVerifier, Engine: s.engine, Guard: g, Audit: s.audit, AuditFailOpen: cfg.AuditFailOpen,
			AuthorizationServers: authz, PublicURL: pub, TrustedProxies: cfg.TrustedProxies,
			Limits: mcp.Limits{MaxMessageBytes: int(min(cfg.Limits.MaxBodyBytes, 1<<30))},
			Node:   s.node, Clock: stdio.Now, Logger: logger.With("component", "mcp"),
		}
		if keys := ic.Keys; keys != nil {
			// Upstream tokens are signed with the issuer's current key.
			mc.Mint = func(ctx context.Context, c token.Claims) (string, error) { return keys.Signer().Mint(ctx, c) }
			mc.TokenIssuer = cfg.TokenIssuer.URL
		}
		if s.mcp, err = mcp.New(mc); err != nil {
			return nil, fmt.Errorf("mcp: %w", err)
		}
		mounts = append(mounts, s.mcp.Mount())
	}

	if s.gateway, err = gateway.New(gateway.Config{
		Issuer:         issuerHandler,
		Mounts:         mounts,
		Verifier:       s.verifier,
		Engine:         s.engine,
		Guard:          g,
		Audit:          s.audit,
		AuditFailOpen:  cfg.AuditFailOpen,
		Routes:         cfg.Routes,
		Upstreams:      cfg.Upstreams,
		TrustedProxies: cfg.TrustedProxies,
		Limits: gateway.Limits{
			MaxBodyBytes:    cfg.Limits.MaxBodyBytes,
			MaxTokenBytes:   cfg.Limits.MaxTokenBytes,
			UpstreamTimeout: cfg.Limits.UpstreamTimeout,
		},
		Node:   s.node,
		Clock:  stdio.Now,
		Logger: logger.With("component", "gateway"),
	}); err != nil {
		return nil, fmt.Errorf("gateway: %w", err)
	}
	return s, nil
}

// mcpDefaults returns the MCP proxy's public URL and authorization servers:
// the configured ones, else Warden's own token issuer.
func mcpDefaults(cfg *config.Config) (pub string, authz []string) {
	pub, authz = cfg.MCP.PublicURL, cfg.MCP.AuthorizationServers
	if ti := cfg.TokenIssuer; ti != nil {
		if pub == "" {
			pub = ti.URL
		}
		if len(authz) == 0 {
			authz = []string{ti.URL}
		}
	}
	return pub, authz
}

// mcpResources lists the MCP servers' resource URIs (nil without mcp).
func mcpResources(cfg *config.Config) []string {
	if cfg.MCP == nil {
		return nil
	}
	pub, _ := mcpDefaults(cfg)
	out := make([]string, 0, len(cfg.MCP.Servers))
	for _, sc := range cfg.MCP.Servers {
		out = append(out, sc.ResourceURI(pub))
	}
	return out
}

// closeParts closes what buildServer opened, in reverse order; it runs once.
// serve closes (and flushes) the audit log itself, within its shutdown
// deadline.
func (s *server) closeParts() {
	if s.audit != nil && !s.auditClosed {
		ctx, cancel := context.WithTimeout(context.Background(), DefaultShutdownTimeout)
		_ = s.audit.Close(ctx)
		cancel()
		s.auditClosed = true
	}
	if s.mcp != nil {
		s.mcp.Close()
	}
	if s.issuer != nil {
		_ = s.issuer.Close()
	}
	if s.verifier != nil {
		_ = s.verifier.Close()
	}
	if s.mcpVerifier != nil {
		_ = s.mcpVerifier.Close()
	}
	if s.store != nil {
		_ = s.store.Close()
	}
}

// issuerConfig opens the token issuer's key ring and revocation set and
// returns its Config without the verifier, engine and audit log.
func issuerConfig(ctx context.Context, st store.Store, ti *config.TokenIssuer, now func() time.Time, logger *slog.Logger) (issuer.Config, error) {
	keys, err := issuer.NewKeyRing(ctx, issuer.KeyRingConfig{Store: st.Issuer(), KEK: ti.KEK, Algorithm: ti.Algorithm, MaxTTL: ti.AccessTokenTTL, Clock: now})
	if err != nil {
		return issuer.Config{}, fmt.Errorf("token issuer keys: %w", err)
	}
	revs, err := issuer.NewRevocations(ctx, st.Issuer(), now)
	if err != nil {
		return issuer.Config{}, fmt.Errorf("token issuer revocations: %w", err)
	}
	return issuer.Config{
		Issuer: ti.URL, Audiences: ti.Audiences, Store: st.Issuer(), Keys: keys, Revocations: revs,
		AccessTokenTTL: ti.AccessTokenTTL, RefreshTokenTTL: ti.RefreshTokenTTL, RefreshIdleTTL: ti.RefreshIdleTTL,
		ResyncInterval: ti.ResyncInterval, Clock: now, Logger: logger.With("component", "issuer"),
	}, nil
}

func (s *server) httpServer(h http.Handler) *http.Server {
	l := s.cfg.Limits
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: l.ReadHeaderTimeout,
		ReadTimeout:       l.ReadTimeout,
		WriteTimeout:      l.WriteTimeout,
		IdleTimeout:       l.IdleTimeout,
		MaxHeaderBytes:    l.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(s.logger.Handler(), slog.LevelWarn),
	}
}

// serve runs the bundle loader and both listeners until ctx is done or a
// listener fails, then shuts down: stop accepting, drain, flush the audit
// log, close the rest.
func (s *server) serve(ctx context.Context, stdio IO, dataLn, adminLn net.Listener, demo *demoEnv, drain time.Duration) error {
	loaderCtx, stopLoader := context.WithCancel(context.WithoutCancel(ctx))
	loaderDone := make(chan struct{})
	go func() {
		defer close(loaderDone)
		_ = s.loader.Run(loaderCtx)
	}()
	defer func() {
		stopLoader()
		<-loaderDone
	}()
	if s.issuer != nil {
		issuerDone := make(chan struct{})
		go func() {
			defer close(issuerDone)
			s.issuer.Run(loaderCtx)
		}()
		defer func() {
			stopLoader()
			<-issuerDone
		}()
	}

	data := s.httpServer(s.gateway)
	admin := s.httpServer(s.adminHandler())
	errc := make(chan error, 2)
	go func() { errc <- serveOn(data, dataLn, "data") }()
	go func() { errc <- serveOn(admin, adminLn, "admin") }()

	s.logger.Info("serving",
		"data", dataLn.Addr().String(), "admin", adminLn.Addr().String(),
		"node", s.node, "store", store.Describe(s.cfg.Store),
		"routes", len(s.cfg.Routes), "bundle", s.loader.Status().Source, "token_issuer", s.issuerURL())
	if demo != nil {
		demo.waitLoaded(ctx, s.engine, 10*time.Second)
		if err := demo.printBanner(ctx, stdio.Stdout, dataLn.Addr().String(), adminLn.Addr().String()); err != nil {
			s.logger.Error("demo banner", "err", err)
		}
	}

	var runErr error
	select {
	case <-ctx.Done():
		s.logger.Info("shutting down", "cause", context.Cause(ctx).Error())
	case runErr = <-errc:
		s.logger.Error("listener failed, shutting down", "err", runErr)
	}

	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), drain)
	defer cancel()
	if s.issuer != nil {
		// Held revocation-feed polls answer now instead of holding the
		// drain for up to their wait.
		s.issuer.Drain()
	}
	if err := data.Shutdown(sctx); err != nil {
		s.logger.Warn("data plane did not drain in time", "err", err)
		_ = data.Close()
	}
	if err := admin.Shutdown(sctx); err != nil {
		_ = admin.Close()
	}
	if err := s.audit.Close(sctx); err != nil {
		s.logger.Error("audit log close", "err", err)
		if runErr == nil {
			runErr = fmt.Errorf("audit log close: %w", err)
		}
	} else {
		st := s.audit.Stats()
		s.logger.Info("audit log flushed", "committed", st.Committed, "last_seq", st.LastSeq)
	}
	s.auditClosed = true
	if runErr != nil {
		return invalidErrorf("serve: %w", runErr)
	}
	s.logger.Info("stopped")
	return nil
}

// issuerURL is the token issuer's URL for the log, "" without one.
func (s *server) issuerURL() string {
	if s.cfg.TokenIssuer == nil {
		return ""
	}
	return s.cfg.TokenIssuer.URL
}

func serveOn(srv *http.Server, ln net.Listener, name string) error {
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("%s listener: %w", name, err)
	}
	return nil
}
