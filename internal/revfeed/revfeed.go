// Package revfeed follows Warden's revocation feed, GET /oauth2/revocations,
// so that a service enforcing Warden's policy in-process denies a revoked
// token (by its jti) or refresh family (by its sid) within about a second.
//
// A Follower is an authn.Denylist: give it to the service's authn.Verifier
// and call Run in a goroutine. Run long-polls the feed with the service's
// OAuth client credentials (HTTP Basic), applies each page, and on any
// failure backs off and retries; a reset (no cursor yet, an unknown or
// expired cursor, a 410) replaces the whole set. Revoked answers from memory
// without I/O; entries are dropped once their exp has passed, when every
// token they cover has expired anyway.
//
// Healthy reports whether the set is current. A Follower that has not
// completed a sync, or whose last sync is older than Config.MaxStaleness,
// is behind: callers deny high-risk actions then (or introspect) rather than
// trust a set that may be missing a revocation.
//
// The wire format (Page, Entry) is defined here and used by Warden's
// server side, so client and server cannot drift apart.
package revfeed

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wardenhq/warden/internal/backoff"
)

// Path is the feed's path on Warden's data plane.
const Path = "/oauth2/revocations"

// Limits and defaults of the feed, shared by the server and the Follower.
const (
	// DefaultWait is how long the server holds a long poll when nothing is
	// new, and what the Follower asks for.
	DefaultWait = 25 * time.Second
	// MaxWait bounds the wait parameter.
	MaxWait = 60 * time.Second
	// MaxPageItems is the most entries the server puts in one Page; a
	// larger answer sets More and continues from its Cursor.
	MaxPageItems = 1000
	// MaxCursorLen bounds a cursor (the since parameter, Last-Event-ID).
	MaxCursorLen = 128
	// MaxIDLen bounds an entry's ID: a jti or sid Warden issued.
	MaxIDLen = 256
	// MaxPageBytes bounds a Page the Follower reads.
	MaxPageBytes = 4 << 20
	// DefaultMaxStaleness is Config.MaxStaleness's default: more than two
	// long polls without an answer.
	DefaultMaxStaleness = 2*DefaultWait + 10*time.Second
	// SSEEvent is the event name of a Page sent as a server-sent event.
	SSEEvent = "revocations"
)

// Page is one answer of the feed (and the data of one SSE event).
//
//	{"cursor":"…","reset":false,"more":false,"revoked":[{"id":"…","exp":1767225600}]}
type Page struct {
	// Cursor is opaque: pass it back as since (or Last-Event-ID) to get
	// what changed after this page. It is the same on every Warden node
	// sharing one PostgreSQL database.
	Cursor string `json:"cursor"`
	// Reset means Revoked is the full current set (from its start, if More
	// is set): the client replaces what it holds once the reset is
	// complete. Otherwise Revoked holds the changes since the cursor.
	Reset bool `json:"reset"`
	// More means the answer was cut at MaxPageItems: ask again with Cursor
	// at once, without waiting.
	More bool `json:"more,omitempty"`
	// Revoked lists revoked IDs, in the order they were revoked.
	Revoked []Entry `json:"revoked"`
}

// Entry is one revocation: a jti or a refresh family's sid, denied until
// Exp (Unix seconds), after which every token it covers has expired.
type Entry struct {
	ID  string `json:"id"`
	Exp int64  `json:"exp"`
}

// Config configures a Follower. URL, ClientID and ClientSecret are required.
type Config struct {
	// URL is Warden's data-plane base URL (https://warden.example.com);
	// the feed is at URL + Path.
	URL string
	// ClientID and ClientSecret are the service's OAuth client credentials,
	// sent with HTTP Basic (RFC 6749 §2.3.1).
	ClientID     string
	ClientSecret string
	// HTTPClient makes the requests; nil means a client with a timeout of
	// Wait + 15s. A client with a Timeout shorter than Wait is refused.
	HTTPClient *http.Client
	// Wait is how long the server may hold a poll (default DefaultWait, at
	// most MaxWait).
	Wait time.Duration
	// Stream follows the feed as server-sent events over one connection
	// (resumed with Last-Event-ID) instead of long polls. Keep-alive
	// comments count as syncs; a stream silent for 45s is reconnected.
	Stream bool
	// MaxStaleness: Healthy is false when the last completed sync is older
	// (default DefaultMaxStaleness).
	MaxStaleness time.Duration
	// MinBackoff and MaxBackoff bound the wait after a failure, doubled on
	// each consecutive failure with jitter (defaults 250ms and 30s).
	MinBackoff, MaxBackoff time.Duration
	// Clock; nil means time.Now.
	Clock func() time.Time
	// Logger; nil discards. Secrets are never logged.
	Logger *slog.Logger
}

// Stats are a Follower's counters.
type Stats struct {
	Entries  int       // revocations held (expired ones included until the next page)
	LastSync time.Time // when the last complete sync ended; zero before the first
	Polls    uint64    // answers applied
	Resets   uint64    // resets applied (the first sync included)
	Failures uint64    // failed polls
	LastErr  string    // the last failure, "" after a success
}

// Follower follows the feed. Revoked, Healthy, LastSync and Stats are safe
// for concurrent use; Run must be called once.
type Follower struct {
	cfg      Config
	endpoint string
	client   *http.Client
	log      *slog.Logger

	set      atomic.Pointer[map[string]int64] // id → exp (Unix seconds)
	lastSync atomic.Int64                     // UnixNano of the last complete sync, 0 before
	synced   chan struct{}                    // closed after the first complete sync
	once     sync.Once

	polls, resets, failures atomic.Uint64
	mu                      sync.Mutex // guards lastErr, and serializes writers of set
	lastErr                 string

	// Owned by Run.
	cursor  string
	pending map[string]int64 // a reset in progress (its pages so far)
}

// New checks cfg and builds a Follower. It makes no request: call Run.
func New(cfg Config) (*Follower, error) {
	u, err := url.Parse(cfg.URL)
	switch {
	case cfg.URL == "" || err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "":
		return nil, errors.New("revfeed: URL must be an http(s) base URL")
	case u.RawQuery != "" || u.Fragment != "":
		return nil, errors.New("revfeed: URL must not have a query or fragment")
	case cfg.ClientID == "" || cfg.ClientSecret == "":
		return nil, errors.New("revfeed: ClientID and ClientSecret are required")
	}
	if cfg.Wait == 0 {
		cfg.Wait = DefaultWait
	}
	if cfg.MaxStaleness == 0 {
		cfg.MaxStaleness = DefaultMaxStaleness
	}
	if cfg.MinBackoff == 0 {
		cfg.MinBackoff = 250 * time.Millisecond
	}
	if cfg.MaxBackoff == 0 {
		cfg.MaxBackoff = 30 * time.Second
	}
	switch {
	case cfg.Wait < time.Second || cfg.Wait > MaxWait:
		return nil, fmt.Errorf("revfeed: Wait must be between 1s and %s", MaxWait)
	case cfg.MaxStaleness < 0 || cfg.MinBackoff < 0 || cfg.MaxBackoff < cfg.MinBackoff:
		return nil, errors.New("revfeed: MaxStaleness and backoffs must be positive, MaxBackoff ≥ MinBackoff")
	}
	client := cfg.HTTPClient
	if client == nil {
		client = &http.Client{Timeout: cfg.Wait + 15*time.Second}
	} else if client.Timeout != 0 && client.Timeout <= cfg.Wait {
		return nil, fmt.Errorf("revfeed: HTTPClient.Timeout %s does not outlast a poll of %s", client.Timeout, cfg.Wait)
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	f := &Follower{
		cfg:      cfg,
		endpoint: strings.TrimSuffix(cfg.URL, "/") + Path,
		client:   client,
		log:      cfg.Logger,
		synced:   make(chan struct{}),
	}
	empty := map[string]int64{}
	f.set.Store(&empty)
	return f, nil
}

// Revoked reports whether id (a jti or a refresh family's sid) is revoked
// and not yet expired. It implements authn.Denylist and does no I/O.
func (f *Follower) Revoked(id string) bool {
	exp, ok := (*f.set.Load())[id]
	return ok && f.cfg.Clock().Unix() < exp
}

// LastSync is when the last complete sync ended (zero before the first).
func (f *Follower) LastSync() time.Time {
	ns := f.lastSync.Load()
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns)
}

// Healthy reports whether the set is current: a sync completed within
// MaxStaleness.
func (f *Follower) Healthy() bool {
	last := f.LastSync()
	return !last.IsZero() && f.cfg.Clock().Sub(last) <= f.cfg.MaxStaleness
}

// Synced is closed when the first complete sync has been applied.
func (f *Follower) Synced() <-chan struct{} { return f.synced }

// Stats returns the Follower's counters.
func (f *Follower) Stats() Stats {
	f.mu.Lock()
	lastErr := f.lastErr
	f.mu.Unlock()
	return Stats{
		Entries:  len(*f.set.Load()),
		LastSync: f.LastSync(),
		Polls:    f.polls.Load(),
		Resets:   f.resets.Load(),
		Failures: f.failures.Load(),
		LastErr:  lastErr,
	}
}

// Run follows the feed until ctx is done, then returns nil. Failures are
// logged and retried with backoff; after a failure the next poll resumes
// from the last cursor, and the server answers a reset if it no longer
// knows it.
func (f *Follower) Run(ctx context.Context) error {
	failures := 0
	for ctx.Err() == nil {
		var err error
		if f.cfg.Stream {
			err = f.stream(ctx)
		} else {
			var page *Page
			if page, err = f.poll(ctx); err == nil {
				f.apply(page)
			}
		}
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			failures++
			f.setErr(err.Error())
			f.failures.Add(1)
			d := backoff.Delay(f.cfg.MinBackoff, f.cfg.MaxBackoff, failures)
			f.log.Warn("revfeed: poll failed", "err", err, "retry_in", d)
			select {
			case <-ctx.Done():
			case <-time.After(d):
			}
			continue
		}
		failures = 0
		f.setErr("")
	}
	return nil
}

// streamIdle ends a stream that sent nothing, not even the server's
// keep-alive comment (every 15s), for this long.
const streamIdle = 45 * time.Second

// stream follows the feed as server-sent events until the server ends the
// stream (nil) or it fails; each event's page is applied as it arrives, and
// a reconnection resumes with Last-Event-ID.
func (f *Follower) stream(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, f.endpoint, nil)
	if err != nil {
		return fmt.Errorf("revfeed: %w", err)
	}
	req.SetBasicAuth(url.QueryEscape(f.cfg.ClientID), url.QueryEscape(f.cfg.ClientSecret))
	req.Header.Set("Accept", "text/event-stream")
	if f.cursor != "" {
		req.Header.Set("Last-Event-ID", f.cursor)
	}
	client := *f.client
	client.Timeout = 0 // a stream lasts minutes; the idle watchdog bounds it instead
	idle := time.AfterFunc(streamIdle, cancel)
	defer idle.Stop()
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("revfeed: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return f.statusError(resp.StatusCode, body)
	}
	r := bufio.NewReader(resp.Body)
	var data []byte
	pages := 0
	for {
		line, err := readLine(r, MaxPageBytes)
		if err != nil {
			if errors.Is(err, io.EOF) && pages > 0 {
				return nil // the server ends streams now and then; reconnect
			}
			return fmt.Errorf("revfeed: stream: %w", err)
		}
		idle.Reset(streamIdle)
		switch {
		case len(line) == 0 && data != nil:
			page, err := ParsePage(data)
			if err != nil {
				return err
			}
			data = nil
			f.apply(page)
			pages++
		case strings.HasPrefix(string(line), "data:"):
			if data != nil {
				return errors.New("revfeed: stream: an event with several data lines")
			}
			data = []byte(strings.TrimPrefix(strings.TrimPrefix(string(line), "data:"), " "))
		case len(line) > 0 && line[0] == ':' && pages > 0 && f.pending == nil:
			// A keep-alive: the stream is current.
			f.lastSync.Store(f.cfg.Clock().UnixNano())
		}
	}
}

// readLine reads one line (without its end) of at most max bytes.
func readLine(r *bufio.Reader, max int) ([]byte, error) {
	var line []byte
	for {
		chunk, err := r.ReadSlice('\n')
		if len(line)+len(chunk) > max+1 {
			return nil, errors.New("line too long")
		}
		line = append(line, chunk...)
		switch {
		case err == nil:
			line = line[:len(line)-1]
			if n := len(line); n > 0 && line[n-1] == '\r' {
				line = line[:n-1]
			}
			return line, nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		default:
			return nil, err
		}
	}
}

// ErrCursorGone is returned by a poll answered 410 Gone: the server no
// longer knows the cursor. The Follower then starts over with a reset.
var ErrCursorGone = errors.New("revfeed: cursor unknown to the server")

// StatusError is a poll answered with an unexpected HTTP status.
type StatusError struct {
	Status int
	Code   string // the OAuth error code of the body, if any
}

func (e *StatusError) Error() string {
	if e.Code != "" {
		return fmt.Sprintf("revfeed: HTTP %d (%s)", e.Status, e.Code)
	}
	return fmt.Sprintf("revfeed: HTTP %d", e.Status)
}

// poll makes one request and decodes the page.
func (f *Follower) poll(ctx context.Context) (*Page, error) {
	q := url.Values{"wait": {strconv.Itoa(int(f.cfg.Wait / time.Second))}}
	if f.cursor != "" {
		q.Set("since", f.cursor)
	}
	ctx, cancel := context.WithTimeout(ctx, f.cfg.Wait+15*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, f.endpoint+"?"+q.Encode(), nil)
	if err != nil {
		return nil, fmt.Errorf("revfeed: %w", err)
	}
	req.SetBasicAuth(url.QueryEscape(f.cfg.ClientID), url.QueryEscape(f.cfg.ClientSecret))
	req.Header.Set("Accept", "application/json")
	resp, err := f.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("revfeed: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxPageBytes+1))
	if err != nil {
		return nil, fmt.Errorf("revfeed: read answer: %w", err)
	}
	if len(body) > MaxPageBytes {
		return nil, errors.New("revfeed: answer too large")
	}
	if resp.StatusCode != http.StatusOK {
		return nil, f.statusError(resp.StatusCode, body)
	}
	page, err := ParsePage(body)
	if err != nil {
		return nil, err
	}
	return page, nil
}

// statusError is the error for an answer other than 200; a 410 also
// forgets the cursor, so the next request is a reset.
func (f *Follower) statusError(status int, body []byte) error {
	if status == http.StatusGone {
		f.cursor, f.pending = "", nil
		return ErrCursorGone
	}
	var oe struct {
		Error string `json:"error"`
	}
	_ = json.Unmarshal(body, &oe)
	code := oe.Error
	if len(code) > 64 {
		code = code[:64]
	}
	return &StatusError{Status: status, Code: code}
}

// ParsePage decodes and checks a Page: a JSON object with a cursor of at
// most MaxCursorLen bytes, at most MaxPageItems entries with non-empty IDs
// of at most MaxIDLen bytes.
func ParsePage(b []byte) (*Page, error) {
	var p Page
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, fmt.Errorf("revfeed: malformed page: %w", err)
	}
	switch {
	case p.Cursor == "" || len(p.Cursor) > MaxCursorLen:
		return nil, errors.New("revfeed: page without a valid cursor")
	case len(p.Revoked) > MaxPageItems:
		return nil, errors.New("revfeed: page with too many entries")
	}
	for _, e := range p.Revoked {
		if e.ID == "" || len(e.ID) > MaxIDLen {
			return nil, errors.New("revfeed: page with an empty or oversized ID")
		}
	}
	return &p, nil
}

// apply merges a page into the set. During a reset, entries are added to
// the live set at once (never removing one early) and collected; the
// collected set replaces the live one when the reset completes.
func (f *Follower) apply(p *Page) {
	defer f.polls.Add(1)
	now := f.cfg.Clock().Unix()
	if p.Reset {
		f.pending = make(map[string]int64, len(p.Revoked))
	}
	f.mu.Lock()
	cur := *f.set.Load()
	next := make(map[string]int64, len(cur)+len(p.Revoked))
	for id, exp := range cur {
		if exp > now {
			next[id] = exp
		}
	}
	for _, e := range p.Revoked {
		if e.Exp > now && e.Exp > next[e.ID] {
			next[e.ID] = e.Exp
		}
		if f.pending != nil && e.Exp > now {
			f.pending[e.ID] = max(f.pending[e.ID], e.Exp)
		}
	}
	complete := !p.More
	if complete && f.pending != nil {
		next = f.pending
		f.pending = nil
		f.resets.Add(1)
	}
	f.set.Store(&next)
	f.mu.Unlock()
	f.cursor = p.Cursor
	if complete {
		f.lastSync.Store(f.cfg.Clock().UnixNano())
		f.once.Do(func() { close(f.synced) })
	}
}

func (f *Follower) setErr(s string) {
	f.mu.Lock()
	f.lastErr = s
	f.mu.Unlock()
}
