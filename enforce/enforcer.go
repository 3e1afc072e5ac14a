package enforce

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/wardenhq/warden/internal/audit"
	"github.com/wardenhq/warden/internal/auditship"
	"github.com/wardenhq/warden/internal/authn"
	"github.com/wardenhq/warden/internal/bundle"
	"github.com/wardenhq/warden/internal/fetch"
	"github.com/wardenhq/warden/internal/gateway"
	"github.com/wardenhq/warden/internal/jwk"
	"github.com/wardenhq/warden/internal/policy"
	"github.com/wardenhq/warden/internal/revfeed"
	"github.com/wardenhq/warden/internal/store"
)

// CloseTimeout bounds how long Close waits for the decision log to commit
// the records still queued.
const CloseTimeout = 10 * time.Second

// DefaultShipTimeout bounds one batch of decision records posted to Warden.
const DefaultShipTimeout = 30 * time.Second

// Enforcer verifies tokens, decides requests with the active policy bundle
// and records every decision. It is safe for concurrent use. Build it with
// New; Close it when the service stops.
type Enforcer struct {
	verifier   *authn.Verifier
	engine     *policy.Engine
	loader     *bundle.Loader     // nil for Bundle.Data
	store      store.Store        // nil with InsecureNoAudit
	audit      *audit.Log         // nil with InsecureNoAudit
	introspect *introspector      // nil without Warden
	follower   *revfeed.Follower  // nil without Warden
	shipper    *auditship.Shipper // nil unless Audit.Ship
	failOpen   bool
	maxToken   int
	trusted    []netip.Prefix // Config.TrustedProxies
	env        string
	now        func() time.Time
	log        *slog.Logger

	cancel    context.CancelFunc
	wg        sync.WaitGroup
	closeOnce sync.Once
	closeErr  error
}

// New checks cfg and builds the Enforcer: it loads the issuers' keys
// (fetching JWKS URLs with ctx), opens the decision log, and loads the
// bundle once before it returns (a bundle that does not verify is not an
// error here: the Enforcer then denies everything until a good one arrives,
// and Ready says why). File and URL bundles are then watched in the
// background until Close.
func New(ctx context.Context, cfg Config) (_ *Enforcer, err error) {
	e := &Enforcer{env: cfg.Env, now: cfg.Clock, log: cfg.Logger, failOpen: cfg.Audit.FailOpen, maxToken: cfg.MaxTokenBytes}
	if e.now == nil {
		e.now = time.Now
	}
	if e.log == nil {
		e.log = slog.New(slog.DiscardHandler)
	}
	if e.maxToken <= 0 || e.maxToken > gateway.MaxBearerTokenBytes {
		e.maxToken = gateway.MaxBearerTokenBytes
	}
	for _, p := range cfg.TrustedProxies {
		if !p.IsValid() || p != p.Masked() || p.Bits() == 0 {
			return nil, fmt.Errorf("enforce: TrustedProxies: %v is not a network of proxies (want a valid prefix without host bits, not /0)", p)
		}
	}
	e.trusted = slices.Clone(cfg.TrustedProxies)
	defer func() {
		if err != nil {
			e.Close()
		}
	}()
	bg, cancel := context.WithCancel(context.WithoutCancel(ctx))
	e.cancel = cancel

	if e.introspect, err = newIntrospector(cfg.Warden, cfg.HTTPClient, e.now); err != nil {
		return nil, err
	}
	ac, err := authnConfig(cfg, e.log)
	if err != nil {
		return nil, err
	}
	if e.introspect != nil {
		if e.follower, err = revfeed.New(revfeed.Config{
			URL: cfg.Warden.URL, ClientID: cfg.Warden.ClientID, ClientSecret: cfg.Warden.ClientSecret,
			Clock: cfg.Clock, Logger: e.log.With("component", "revfeed"),
		}); err != nil {
			return nil, fmt.Errorf("enforce: %w", err)
		}
		ac.Denylist = e.follower
		e.wg.Go(func() { _ = e.follower.Run(bg) })
	}
	if e.verifier, err = authn.New(ctx, ac); err != nil {
		return nil, fmt.Errorf("enforce: %w", err)
	}
	if err := e.openAudit(ctx, cfg.Audit, cfg.Warden, cfg.HTTPClient); err != nil {
		return nil, err
	}
	if e.shipper != nil {
		e.wg.Go(func() { _ = e.shipper.Run(bg) })
	}
	if e.engine, err = policy.New(policy.Config{Clock: e.now, Logger: e.log.With("component", "policy")}); err != nil {
		return nil, fmt.Errorf("enforce: %w", err)
	}
	if err := e.startBundle(ctx, bg, cfg); err != nil {
		return nil, err
	}
	return e, nil
}

// authnConfig translates the issuers into the verifier's configuration.
func authnConfig(cfg Config, log *slog.Logger) (authn.Config, error) {
	if len(cfg.Issuers) == 0 {
		return authn.Config{}, errors.New("enforce: no Issuers")
	}
	ac := authn.Config{
		MaxTokenBytes: cfg.MaxTokenBytes,
		CacheSize:     cfg.TokenCacheSize,
		HTTPClient:    cfg.HTTPClient,
		Clock:         cfg.Clock,
		Logger:        log.With("component", "authn"),
	}
	for i, is := range cfg.Issuers {
		ic := authn.IssuerConfig{
			Issuer: is.Issuer, Audiences: is.Audiences, Algorithms: is.Algorithms, Leeway: is.Leeway,
			RequiredClaims: is.RequiredClaims, Type: is.Type, JWKSURL: is.JWKSURL,
			Claims: authn.ClaimMapping{
				Roles: is.Claims.Roles, Scopes: is.Claims.Scopes, Groups: is.Claims.Groups,
				Team: is.Claims.Team, Tenant: is.Claims.Tenant, Env: is.Claims.Env,
				ClientID: is.Claims.ClientID, Attributes: is.Claims.Attributes,
			},
		}
		switch {
		case (is.JWKSURL == "") == (len(is.JWKS) == 0):
			return authn.Config{}, fmt.Errorf("enforce: issuer %d (%q): set exactly one of JWKSURL and JWKS", i, is.Issuer)
		case len(is.JWKS) > 0:
			keys, err := jwk.Load(is.JWKS)
			if err != nil {
				return authn.Config{}, fmt.Errorf("enforce: issuer %d (%q): JWKS: %w", i, is.Issuer, err)
			}
			ic.Keys = keys
		}
		ac.Issuers = append(ac.Issuers, ic)
	}
	return ac, nil
}

// openAudit opens the store and the hash-chained log.
func (e *Enforcer) openAudit(ctx context.Context, a Audit, w Warden, client *http.Client) error {
	switch {
	case a.InsecureNoAudit && (a.Store != "" || a.Ship):
		return errors.New("enforce: Audit: InsecureNoAudit excludes Store and Ship")
	case a.InsecureNoAudit:
		return nil
	case a.Store == "":
		return errors.New("enforce: Audit.Store is required (or InsecureNoAudit)")
	case a.Ship && e.introspect == nil:
		return errors.New("enforce: Audit.Ship needs Warden")
	case a.Ship && a.Node == "":
		a.Node = auditship.NodeFor(w.ClientID)
	case a.Ship && a.Node != auditship.NodeFor(w.ClientID):
		return fmt.Errorf("enforce: Audit.Node %q: a shipped chain must be named %q", a.Node, auditship.NodeFor(w.ClientID))
	}
	var err error
	if e.store, err = store.Open(ctx, a.Store, store.Options{Clock: e.now, Logger: e.log.With("component", "store")}); err != nil {
		return fmt.Errorf("enforce: audit store %s: %w", store.Describe(a.Store), err)
	}
	d := audit.DurabilityBatch
	if a.Async {
		d = audit.DurabilityAsync
	}
	if e.audit, err = audit.New(ctx, audit.Config{Store: e.store, Node: a.Node, Durability: d, QueueSize: a.QueueSize, Clock: e.now, Logger: e.log.With("component", "audit")}); err != nil {
		return fmt.Errorf("enforce: audit log: %w", err)
	}
	if a.Ship {
		if e.shipper, err = auditship.New(auditship.Config{
			Store: e.store.Audit(), Node: a.Node, URL: w.URL, ClientID: w.ClientID, ClientSecret: w.ClientSecret,
			HTTPClient: fetch.Client(client, DefaultShipTimeout), Clock: e.now, Logger: e.log.With("component", "auditship"),
		}); err != nil {
			return fmt.Errorf("enforce: %w", err)
		}
	}
	return nil
}

// startBundle opens an in-memory bundle, or builds the loader of a file or
// URL, loads once and watches in the background.
func (e *Enforcer) startBundle(ctx, bg context.Context, cfg Config) error {
	b := cfg.Bundle
	n := 0
	for _, set := range []bool{b.Path != "", b.URL != "", len(b.Data) > 0} {
		if set {
			n++
		}
	}
	if n != 1 {
		return errors.New("enforce: Bundle: set exactly one of Path, URL and Data")
	}
	if len(b.PublicKeys) == 0 {
		return errors.New("enforce: Bundle.PublicKeys is required: bundles must be signed")
	}
	keys, err := jwk.Load(b.PublicKeys)
	if err != nil {
		return fmt.Errorf("enforce: Bundle.PublicKeys: %w", err)
	}
	for _, k := range keys {
		if k.Type() == "oct" || k.IsPrivate() {
			return errors.New("enforce: Bundle.PublicKeys must be public keys")
		}
	}
	apply := func(ctx context.Context, bd *bundle.Bundle) error {
		rev, digest := bd.Meta()
		return e.engine.Load(ctx, bd.FS(), policy.Meta{Revision: rev, Digest: digest})
	}
	if len(b.Data) > 0 {
		bd, err := bundle.Open(b.Data, bundle.OpenOptions{Keys: keys, Algorithms: b.Algorithms})
		if err != nil {
			e.engine.Fail(err)
			e.log.Error("policy bundle rejected", "err", err)
			return nil
		}
		_ = apply(ctx, bd) // recorded in the engine's Status
		return nil
	}
	lc := bundle.LoaderConfig{
		Path: b.Path, URL: b.URL, Keys: keys, Algorithms: b.Algorithms, PollInterval: b.PollInterval,
		HTTPClient: cfg.HTTPClient, Clock: cfg.Clock, Logger: e.log.With("component", "bundle"),
	}
	if e.loader, err = bundle.NewLoader(lc, apply, e.engine.Fail); err != nil {
		return fmt.Errorf("enforce: %w", err)
	}
	_ = e.loader.Reload(ctx) // failures are in Status and the log
	e.wg.Go(func() { _ = e.loader.Run(bg) })
	return nil
}

// Reload checks the bundle source now (a file's size and time, a URL's ETag
// ignored) and returns the outcome: nil when the source holds the active
// bundle or a new one was activated. An in-memory bundle has nothing to
// reload.
func (e *Enforcer) Reload(ctx context.Context) error {
	if e.loader == nil {
		return nil
	}
	return e.loader.Reload(ctx)
}

// Status is a snapshot of an Enforcer's state, for readiness probes and
// metrics.
type Status struct {
	// Ready is true when a bundle is active and the decision log takes
	// records: requests can be allowed.
	Ready bool `json:"ready"`
	// BundleRevision and BundleDigest identify the active bundle.
	BundleRevision string    `json:"bundle_revision,omitempty"`
	BundleDigest   string    `json:"bundle_digest,omitempty"`
	BundleLoadedAt time.Time `json:"bundle_loaded_at,omitzero"`
	Policies       int       `json:"policies"`
	// BundleSource is the file path or the URL without credentials.
	BundleSource string `json:"bundle_source,omitempty"`
	// LastBundleError is the last bundle that was refused, and why; the
	// active bundle kept serving.
	LastBundleError   string    `json:"last_bundle_error,omitempty"`
	LastBundleErrorAt time.Time `json:"last_bundle_error_at,omitzero"`
	BundleFailures    uint64    `json:"bundle_failures"`
	// AuditError is why the decision log refuses records, "" when it takes
	// them (or there is none).
	AuditError string `json:"audit_error,omitempty"`
	// AuditCommitted is the number of records committed since New.
	AuditCommitted uint64 `json:"audit_committed"`
	// RevocationsCurrent is true while the revocation feed is followed
	// (its last sync is recent); RevocationsSynced is when it last was.
	RevocationsCurrent bool      `json:"revocations_current"`
	RevocationsSynced  time.Time `json:"revocations_synced,omitzero"`
	// AuditShipped is the last seq Warden acknowledged (Audit.Ship), and
	// AuditShipError the last shipping failure.
	AuditShipped   uint64 `json:"audit_shipped,omitempty"`
	AuditShipError string `json:"audit_ship_error,omitempty"`
}

// Status returns a snapshot of the Enforcer's state.
func (e *Enforcer) Status() Status {
	ps := e.engine.Status()
	s := Status{
		BundleRevision: ps.Revision, BundleDigest: ps.Digest, BundleLoadedAt: ps.LoadedAt, Policies: ps.Policies,
		LastBundleError: ps.LastError, LastBundleErrorAt: ps.LastErrorAt, BundleFailures: ps.Failures,
	}
	if e.loader != nil {
		s.BundleSource = e.loader.Status().Source
	}
	if e.audit != nil {
		if err := e.audit.Err(); err != nil {
			s.AuditError = err.Error()
		}
		s.AuditCommitted = e.audit.Stats().Committed
	}
	if e.follower != nil {
		s.RevocationsCurrent, s.RevocationsSynced = e.follower.Healthy(), e.follower.LastSync()
	}
	if e.shipper != nil {
		ss := e.shipper.Stats()
		s.AuditShipped, s.AuditShipError = ss.Acked, ss.LastErr
	}
	s.Ready = ps.Loaded && (s.AuditError == "" || e.failOpen)
	return s
}

// Ready reports whether the Enforcer can allow requests: nil once a bundle
// is active and the decision log takes records, else an error that says
// what is missing (for a readiness probe).
func (e *Enforcer) Ready() error {
	s := e.Status()
	switch {
	case s.Ready:
		return nil
	case s.BundleRevision == "" && s.LastBundleError != "":
		return fmt.Errorf("enforce: no policy bundle active: %s", s.LastBundleError)
	case s.BundleRevision == "":
		return errors.New("enforce: no policy bundle active yet")
	default:
		return fmt.Errorf("enforce: decision log unavailable: %s", s.AuditError)
	}
}

// Close stops the background work (bundle watch, key refreshes), flushes
// the decision log (waiting at most CloseTimeout) and closes the store. It is safe
// to call more than once; the Enforcer denies everything afterwards.
func (e *Enforcer) Close() error {
	e.closeOnce.Do(func() {
		if e.cancel != nil {
			e.cancel()
		}
		e.wg.Wait()
		var errs []error
		if e.audit != nil {
			ctx, cancel := context.WithTimeout(context.Background(), CloseTimeout)
			errs = append(errs, e.audit.Close(ctx))
			if e.shipper != nil {
				// Whatever the log committed last, once more; Warden
				// gets the rest from the store on the next start.
				if err := e.shipper.Sync(ctx); err != nil {
					e.log.Warn("decision records not all shipped at close", "err", err)
				}
			}
			cancel()
		}
		if e.verifier != nil {
			errs = append(errs, e.verifier.Close())
		}
		if e.store != nil {
			errs = append(errs, e.store.Close())
		}
		e.closeErr = errors.Join(errs...)
	})
	return e.closeErr
}

// trimURL returns raw without a trailing slash, checked by the outbound
// URL rule (https, or http to loopback).
func trimURL(raw string) (string, error) {
	u, err := fetch.ParseURL(raw)
	if err != nil {
		return "", err
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("%s: no credentials, query or fragment", (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}).String())
	}
	return strings.TrimSuffix(u.String(), "/"), nil
}
