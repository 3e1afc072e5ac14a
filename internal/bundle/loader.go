package bundle

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"github.com/wardenhq/warden/internal/fetch"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wardenhq/warden/internal/jwk"
)

// Loader defaults.
const (
	DefaultPollInterval     = 30 * time.Second // URL sources
	DefaultFilePollInterval = 5 * time.Second  // file sources
	DefaultMinBackoff       = time.Second
	DefaultMaxBackoff       = 5 * time.Minute
	DefaultHTTPTimeout      = 30 * time.Second
)

// LoaderConfig configures a Loader. Exactly one of Path and URL is set. The
// zero value of every other field is the secure default.
type LoaderConfig struct {
	// Path is a bundle file, re-read when it changes.
	Path string
	// URL is an https URL (http only to a loopback host) polled with
	// If-None-Match.
	URL string
	// Keys, Algorithms, InsecureAllowUnsigned and Limits are passed to Open
	// for every bundle. Without keys NewLoader refuses to start unless
	// InsecureAllowUnsigned is set.
	Keys                  []*jwk.Key
	Algorithms            []string
	InsecureAllowUnsigned bool
	Limits                Limits
	// PollInterval is the time between two checks of the source (±10%
	// jitter); 0 means DefaultPollInterval for a URL, DefaultFilePollInterval
	// for a file.
	PollInterval time.Duration
	// MinBackoff and MaxBackoff bound the exponential backoff after a failed
	// read or fetch: MinBackoff, then doubling up to MaxBackoff, each delay
	// drawn from its upper half. 0 means the defaults.
	MinBackoff, MaxBackoff time.Duration
	// HTTPClient fetches URL sources; nil means http.DefaultTransport. A
	// client without a Timeout gets DefaultHTTPTimeout. Redirects must stay
	// on https (or loopback http), at most 5.
	HTTPClient *http.Client
	// Clock is the time source; nil means time.Now.
	Clock func() time.Time
	// Jitter returns a number in [0, 1); nil means math/rand/v2.Float64.
	Jitter func() float64
	// Logger receives one line per load and per failure; nil discards.
	Logger *slog.Logger
}

// Status is a Loader's view of its source, for readiness and metrics.
type Status struct {
	Source      string    // the file path, or the URL without credentials
	Loaded      bool      // a bundle has been applied
	Revision    string    // of the applied bundle
	Digest      string    // of the applied bundle
	LastSuccess time.Time // when the applied bundle was applied
	LastCheck   time.Time // the last attempt, whatever its outcome
	LastError   string    // the last failure; cleared when a new bundle is applied
	LastErrorAt time.Time
	LastReason  Reason // the Reason of the last failure, "" when it was not an *Error
	ETag        string // the ETag of the last bundle fetched from a URL
	Attempts    int    // attempts since the start
	Failures    int    // failed attempts since the last applied bundle
	NextAttempt time.Time
}

// Loader watches a bundle source. Every new bundle goes through Open
// (signature first) and, only when it verifies, to apply. A bundle that fails
// never replaces the one applied before.
type Loader struct {
	cfg     LoaderConfig
	apply   func(context.Context, *Bundle) error
	fail    func(error)
	client  *http.Client
	source  string
	log     *slog.Logger
	running atomic.Bool

	mu            sync.Mutex // serializes attempts and guards the fields below
	etag          string
	lastHash      [sha256.Size]byte
	lastApplied   bool // lastHash is the applied bundle (else it failed)
	haveHash      bool
	file          fileState
	fetchFailures int
	lastErr       error // why the bundle at lastHash failed

	statusMu sync.Mutex
	status   Status
}

type fileState struct {
	modTime time.Time
	size    int64
	readAt  time.Time
	ok      bool
}

// NewLoader returns a Loader for cfg. apply receives every bundle that
// verified (for the policy engine: its Load with b.FS() and b.Meta()); it is
// expected to keep its last good state and record its own failures when it
// returns an error. fail (may be nil) receives every failure before apply:
// reading or fetching the source, and Open's refusals.
func NewLoader(cfg LoaderConfig, apply func(context.Context, *Bundle) error, fail func(error)) (*Loader, error) {
	if apply == nil {
		return nil, errors.New("bundle loader: no apply function")
	}
	if (cfg.Path == "") == (cfg.URL == "") {
		return nil, errors.New("bundle loader: set exactly one of Path and URL")
	}
	if len(cfg.Keys) == 0 && !cfg.InsecureAllowUnsigned {
		return nil, errors.New("bundle loader: no trusted keys (unsigned bundles need InsecureAllowUnsigned)")
	}
	if cfg.PollInterval < 0 || cfg.MinBackoff < 0 || cfg.MaxBackoff < 0 {
		return nil, errors.New("bundle loader: negative interval")
	}
	l := &Loader{cfg: cfg, apply: apply, fail: fail, log: cfg.Logger}
	if l.fail == nil {
		l.fail = func(error) {}
	}
	if l.log == nil {
		l.log = slog.New(slog.DiscardHandler)
	}
	if l.cfg.Clock == nil {
		l.cfg.Clock = time.Now
	}
	if l.cfg.Jitter == nil {
		l.cfg.Jitter = rand.Float64
	}
	if l.cfg.MinBackoff == 0 {
		l.cfg.MinBackoff = DefaultMinBackoff
	}
	if l.cfg.MaxBackoff == 0 {
		l.cfg.MaxBackoff = DefaultMaxBackoff
	}
	l.cfg.MaxBackoff = max(l.cfg.MaxBackoff, l.cfg.MinBackoff)
	l.cfg.Limits = l.cfg.Limits.withDefaults()
	if cfg.Path != "" {
		l.source = cfg.Path
		if l.cfg.PollInterval == 0 {
			l.cfg.PollInterval = DefaultFilePollInterval
		}
	} else {
		u, err := url.Parse(cfg.URL)
		if err != nil {
			return nil, fmt.Errorf("bundle loader: %w", err)
		}
		if err := fetch.CheckURL(u); err != nil {
			return nil, fmt.Errorf("bundle loader: %w", err)
		}
		l.source = u.Redacted()
		if l.cfg.PollInterval == 0 {
			l.cfg.PollInterval = DefaultPollInterval
		}
		l.client = fetch.Client(cfg.HTTPClient, DefaultHTTPTimeout)
	}
	l.log = l.log.With("source", l.source)
	l.status.Source = l.source
	return l, nil
}

// Run checks the source now and then at every poll interval (after a failed
// read or fetch: with backoff) until ctx is done; then it returns nil.
// Failures go to fail and Status, never end Run. Run may run once at a time.
func (l *Loader) Run(ctx context.Context) error {
	if !l.running.CompareAndSwap(false, true) {
		return errors.New("bundle loader: already running")
	}
	defer l.running.Store(false)
	for {
		delay, _ := l.attempt(ctx, false)
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

// Reload checks the source now, ignoring the file's unchanged size and time
// or the URL's ETag, and returns the outcome: nil when the source holds the
// applied bundle or a new one was applied. A bundle that failed before is
// verified again.
func (l *Loader) Reload(ctx context.Context) error {
	_, err := l.attempt(ctx, true)
	return err
}

// Status returns a snapshot of the loader's state.
func (l *Loader) Status() Status {
	l.statusMu.Lock()
	defer l.statusMu.Unlock()
	return l.status
}

func (l *Loader) updateStatus(f func(*Status)) {
	l.statusMu.Lock()
	defer l.statusMu.Unlock()
	f(&l.status)
}

// attempt makes one check of the source and returns the delay until the next.
func (l *Loader) attempt(ctx context.Context, force bool) (time.Duration, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.cfg.Clock()
	data, etag, changed, err := l.read(ctx, force, now)
	if err != nil {
		if ctx.Err() != nil { // shutting down: not a source failure
			return 0, ctx.Err()
		}
		l.fetchFailures++
		delay := l.backoff(l.fetchFailures)
		l.failed(now, err, delay)
		l.fail(err)
		return delay, err
	}
	l.fetchFailures = 0
	delay := l.interval()
	if changed {
		sum := sha256.Sum256(data)
		if l.haveHash && sum == l.lastHash && (l.lastApplied || !force) {
			changed = false // the same bytes as before: nothing new to verify
		} else {
			l.lastHash, l.haveHash, l.lastApplied = sum, true, false
		}
	}
	if l.cfg.URL != "" {
		l.etag = etag
	}
	if !changed {
		healthy := l.lastApplied || !l.haveHash
		l.updateStatus(func(s *Status) {
			s.Attempts++
			s.LastCheck = now
			s.ETag = l.etag
			s.NextAttempt = now.Add(delay)
			if healthy { // the source holds the applied bundle
				s.Failures = 0
				s.LastError, s.LastErrorAt, s.LastReason = "", time.Time{}, ""
			}
		})
		if healthy {
			return delay, nil
		}
		return delay, l.lastErr // the source still holds the bundle that failed
	}
	b, err := Open(data, OpenOptions{
		Keys:                  l.cfg.Keys,
		Algorithms:            l.cfg.Algorithms,
		InsecureAllowUnsigned: l.cfg.InsecureAllowUnsigned,
		Limits:                l.cfg.Limits,
	})
	if err != nil {
		err = fmt.Errorf("load bundle from %s: %w", l.source, err)
		l.lastErr = err
		l.failed(now, err, delay)
		l.fail(err)
		return delay, err
	}
	if err := l.apply(ctx, b); err != nil {
		err = fmt.Errorf("apply bundle from %s: %w", l.source, err)
		l.lastErr = err
		l.failed(now, err, delay)
		return delay, err
	}
	l.lastApplied = true
	l.log.Info("policy bundle applied", "revision", b.Manifest.Revision, "digest", b.Digest, "signed", b.Signed, "kid", b.KeyID)
	l.updateStatus(func(s *Status) {
		s.Attempts++
		s.Failures = 0
		s.Loaded = true
		s.Revision, s.Digest = b.Manifest.Revision, b.Digest
		s.LastSuccess, s.LastCheck = now, now
		s.LastError, s.LastErrorAt, s.LastReason = "", time.Time{}, ""
		s.ETag = l.etag
		s.NextAttempt = now.Add(delay)
	})
	return delay, nil
}

func (l *Loader) failed(now time.Time, err error, delay time.Duration) {
	l.log.Warn("policy bundle not loaded; keeping the last good bundle", "reason", ReasonOf(err), "error", err)
	l.updateStatus(func(s *Status) {
		s.Attempts++
		s.Failures++
		s.LastCheck = now
		s.LastError, s.LastErrorAt, s.LastReason = err.Error(), now, ReasonOf(err)
		s.ETag = l.etag
		s.NextAttempt = now.Add(delay)
	})
}

// interval returns the poll interval with ±10% jitter.
func (l *Loader) interval() time.Duration {
	p := l.cfg.PollInterval
	return p - p/10 + time.Duration(l.cfg.Jitter()*float64(p/5))
}

// backoff returns the delay after n consecutive failures: MinBackoff·2^(n-1)
// capped at MaxBackoff, drawn from the upper half of that.
func (l *Loader) backoff(n int) time.Duration {
	d := l.cfg.MaxBackoff
	if n-1 < 32 {
		if e := l.cfg.MinBackoff << (n - 1); e > 0 && e < d {
			d = e
		}
	}
	return d/2 + time.Duration(l.cfg.Jitter()*float64(d/2))
}

// read reads the source. changed is false when the source is known to hold
// the bytes seen last time (same file size and time, or HTTP 304).
func (l *Loader) read(ctx context.Context, force bool, now time.Time) (data []byte, etag string, changed bool, err error) {
	if l.cfg.Path != "" {
		data, changed, err = l.readFile(force, now)
		return data, "", changed, err
	}
	return l.fetch(ctx, force)
}

// readFile re-reads the file when its size or modification time changed, or
// when the last read came within 2 s of its modification time (a rewrite
// within the file system's time granularity would not show).
func (l *Loader) readFile(force bool, now time.Time) ([]byte, bool, error) {
	fi, err := os.Stat(l.cfg.Path)
	if err != nil {
		return nil, false, newError(ReasonFetch, "", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, false, newError(ReasonFetch, "", fmt.Errorf("%s is not a regular file", l.cfg.Path))
	}
	prev := l.file
	if !force && prev.ok && fi.Size() == prev.size && fi.ModTime().Equal(prev.modTime) &&
		prev.readAt.Sub(prev.modTime) > 2*time.Second {
		return nil, false, nil
	}
	if fi.Size() > l.cfg.Limits.MaxCompressed {
		return nil, false, newError(ReasonTooLarge, "", fmt.Errorf("%s is %d bytes, more than %d", l.cfg.Path, fi.Size(), l.cfg.Limits.MaxCompressed))
	}
	f, err := os.Open(l.cfg.Path)
	if err != nil {
		return nil, false, newError(ReasonFetch, "", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, l.cfg.Limits.MaxCompressed+1))
	if err != nil {
		return nil, false, newError(ReasonFetch, "", err)
	}
	if int64(len(data)) > l.cfg.Limits.MaxCompressed {
		return nil, false, newError(ReasonTooLarge, "", fmt.Errorf("%s is more than %d bytes", l.cfg.Path, l.cfg.Limits.MaxCompressed))
	}
	l.file = fileState{modTime: fi.ModTime(), size: fi.Size(), readAt: now, ok: true}
	return data, true, nil
}

// fetch GETs the URL with If-None-Match.
func (l *Loader) fetch(ctx context.Context, force bool) ([]byte, string, bool, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, l.cfg.URL, nil)
	if err != nil {
		return nil, "", false, newError(ReasonFetch, "", err)
	}
	req.Header.Set("Accept", "application/gzip, application/octet-stream")
	sentETag := !force && l.etag != "" && l.haveHash
	if sentETag {
		req.Header.Set("If-None-Match", l.etag)
	}
	resp, err := l.client.Do(req)
	if err != nil {
		return nil, "", false, newError(ReasonFetch, "", err)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotModified && sentETag:
		return nil, l.etag, false, nil
	case resp.StatusCode != http.StatusOK:
		return nil, "", false, newError(ReasonFetch, "", fmt.Errorf("GET %s: unexpected status %s", l.source, resp.Status))
	}
	lim := l.cfg.Limits.MaxCompressed
	if resp.ContentLength > lim {
		return nil, "", false, newError(ReasonTooLarge, "", fmt.Errorf("GET %s: %d bytes, more than %d", l.source, resp.ContentLength, lim))
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, lim+1))
	if err != nil {
		return nil, "", false, newError(ReasonFetch, "", fmt.Errorf("GET %s: %w", l.source, err))
	}
	if int64(len(data)) > lim {
		return nil, "", false, newError(ReasonTooLarge, "", fmt.Errorf("GET %s: more than %d bytes", l.source, lim))
	}
	return data, resp.Header.Get("ETag"), true, nil
}
