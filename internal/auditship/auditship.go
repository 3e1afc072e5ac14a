// Package auditship ships a service's hash-chained decision records to
// Warden (POST /audit/ingest), where `warden audit verify` checks them like
// any node's chain.
//
// A service writes its records with an audit.Log to a local store (SQLite)
// under its own node name, "svc.<client_id>"; a Shipper reads that chain
// and posts it in batches. It is never on the request path: the service's
// Log commits locally, and the Shipper follows in the background. Warden is
// the shipper's cursor: the first request of Run (and the answer to every
// batch) carries Warden's head for the node, and the Shipper sends the rows
// after it. A 409 means Warden's head is elsewhere (another shipper, a
// restart); the Shipper resumes from the head in the answer. Re-sent rows
// that Warden already holds are acknowledged, so a retry after a lost
// answer is harmless. A chain has one writer: replicas of a service each
// need their own client (billing-1, billing-2), since Warden holding more
// or other records under the name than the local store stops the Shipper
// with ErrDiverged.
//
// The wire format (Batch, Row, Head, Response) is defined here and used by
// Warden's server side.
package auditship

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wardenhq/warden/internal/backoff"
	"github.com/wardenhq/warden/internal/store"
)

// Path is the ingest endpoint on Warden's data plane.
const Path = "/audit/ingest"

// Scope is the client scope that allows a client to ingest its chain.
const Scope = "audit:ingest"

// NodePrefix starts the node name a client may write: NodePrefix +
// client_id.
const NodePrefix = "svc."

// NodeFor is the chain name of the service that authenticates as clientID.
func NodeFor(clientID string) string { return NodePrefix + clientID }

// Limits of the endpoint, shared by the server and the Shipper.
const (
	// MaxBatchRows is the most rows in one Batch.
	MaxBatchRows = 500
	// MaxBodyBytes bounds a request body.
	MaxBodyBytes = 8 << 20
	// DefaultBatchRows is how many rows the Shipper sends at once.
	DefaultBatchRows = 200
	// DefaultInterval is how often Run looks for new rows.
	DefaultInterval = time.Second
	// maxAnswerBytes bounds an answer the Shipper reads.
	maxAnswerBytes = 64 << 10
)

// Batch is the request body of POST /audit/ingest.
//
//	{"node":"svc.billing","rows":[{"seq":1,"prev_hash":"base64","hash":"base64","record":"base64"}]}
//
// An empty rows list asks for the head only.
type Batch struct {
	Node string `json:"node"`
	Rows []Row  `json:"rows"`
}

// Row is one record of the chain: its seq, the previous record's hash (32
// zero bytes for seq 1), its hash = SHA-256(prev_hash || record), and the
// canonical record bytes (package audit), each base64 (standard, padded)
// in JSON.
type Row struct {
	Seq      uint64 `json:"seq"`
	PrevHash []byte `json:"prev_hash"`
	Hash     []byte `json:"hash"`
	Record   []byte `json:"record"`
}

// Head is the last record Warden holds for a node: seq 0 (and no hash)
// when it holds none.
type Head struct {
	Seq  uint64 `json:"seq"`
	Hash []byte `json:"hash,omitempty"`
}

// Response is the answer to a Batch: 200 with Accepted and Duplicates, or
// an error (409 chain_conflict carries the head too).
//
//	{"node":"svc.billing","accepted":10,"duplicates":0,"head":{"seq":10,"hash":"base64"}}
type Response struct {
	Node       string `json:"node,omitempty"`
	Accepted   int    `json:"accepted"`   // rows stored by this request
	Duplicates int    `json:"duplicates"` // rows Warden already held, identical
	Head       Head   `json:"head"`
	// Error is set on a refusal, in the shape of every Warden JSON error.
	Error *ErrorMember `json:"error,omitempty"`
}

// ErrorMember is the "error" member of a refusal: a stable code, a public
// message and the request id that Warden's audit record carries.
type ErrorMember struct {
	Code      string `json:"code"`
	Message   string `json:"message"`
	RequestID string `json:"request_id,omitempty"`
}

// Error codes of the endpoint besides the gateway's.
const (
	// CodeConflict (409): the rows do not continue Warden's head; the
	// answer's head says where to resume.
	CodeConflict = "chain_conflict"
	// CodeBadChain (422): a row does not hash, decode or link correctly.
	CodeBadChain = "invalid_chain"
)

// Config configures a Shipper. Store, Node, URL, ClientID and ClientSecret
// are required.
type Config struct {
	// Store is the local store the service's audit.Log writes to.
	Store store.AuditStore
	// Node is the chain to ship; Warden accepts only NodeFor(ClientID).
	Node string
	// URL is Warden's data-plane base URL; the endpoint is URL + Path.
	URL string
	// ClientID and ClientSecret are the service's OAuth client, which needs
	// the Scope audit:ingest. Sent with HTTP Basic.
	ClientID     string
	ClientSecret string
	// HTTPClient posts the batches; nil means a client with a 30s timeout.
	// A client without a Timeout is refused.
	HTTPClient *http.Client
	// BatchRows (default DefaultBatchRows, at most MaxBatchRows) and
	// Interval (default DefaultInterval) tune Run.
	BatchRows int
	Interval  time.Duration
	// MinBackoff and MaxBackoff bound the wait after a failure (defaults 1s
	// and 1m).
	MinBackoff, MaxBackoff time.Duration
	// Clock; nil means time.Now.
	Clock func() time.Time
	// Logger; nil discards. Secrets are never logged.
	Logger *slog.Logger
}

// Stats are a Shipper's counters.
type Stats struct {
	Acked      uint64    // Warden's head seq as last answered
	Shipped    uint64    // rows Warden stored from this Shipper
	Duplicates uint64    // rows re-sent that Warden already held
	Batches    uint64    // requests answered 200
	Conflicts  uint64    // requests answered 409
	Failures   uint64    // requests that failed otherwise
	LastShip   time.Time // when Warden last acknowledged a batch
	LastErr    string    // the last failure, "" after a success
}

// Shipper ships one node's chain. Sync, Stats and Run are safe for
// concurrent use (they take turns).
type Shipper struct {
	cfg      Config
	endpoint string
	client   *http.Client
	log      *slog.Logger

	mu    sync.Mutex // one shipment at a time; guards head and known
	head  Head
	known bool // head is Warden's as last answered

	shipped, dups, batches, conflicts, failures atomic.Uint64
	acked, lastShip                             atomic.Int64
	errMu                                       sync.Mutex
	lastErr                                     string
}

// ErrDiverged reports that Warden holds a different record at a seq than
// the local store: the chains have forked (the local store was replaced,
// or Warden's was edited) and shipping stops until an operator looks.
var ErrDiverged = errors.New("auditship: local chain and Warden's differ")

// RejectedError is a batch Warden refused for a reason a retry cannot fix
// (401, 403, 413, 422): a wrong client, scope or node, or a bad row.
type RejectedError struct {
	Status int
	Code   string
	Msg    string
}

func (e *RejectedError) Error() string {
	return fmt.Sprintf("auditship: Warden refused the batch: HTTP %d %s: %s", e.Status, e.Code, e.Msg)
}

// New checks cfg and builds a Shipper. It makes no request.
func New(cfg Config) (*Shipper, error) {
	u, err := url.Parse(cfg.URL)
	switch {
	case cfg.Store == nil:
		return nil, errors.New("auditship: no Store")
	case cfg.Node == "":
		return nil, errors.New("auditship: no Node")
	case cfg.URL == "" || err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "":
		return nil, errors.New("auditship: URL must be an http(s) base URL")
	case cfg.ClientID == "" || cfg.ClientSecret == "":
		return nil, errors.New("auditship: ClientID and ClientSecret are required")
	}
	if cfg.BatchRows == 0 {
		cfg.BatchRows = DefaultBatchRows
	}
	if cfg.Interval == 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.MinBackoff == 0 {
		cfg.MinBackoff = time.Second
	}
	if cfg.MaxBackoff == 0 {
		cfg.MaxBackoff = time.Minute
	}
	switch {
	case cfg.BatchRows < 1 || cfg.BatchRows > MaxBatchRows:
		return nil, fmt.Errorf("auditship: BatchRows must be 1 to %d", MaxBatchRows)
	case cfg.Interval < 0 || cfg.MinBackoff < 0 || cfg.MaxBackoff < cfg.MinBackoff:
		return nil, errors.New("auditship: Interval and backoffs must be positive, MaxBackoff ≥ MinBackoff")
	}
	client := cfg.HTTPClient
	if client == nil {
		client = &http.Client{Timeout: 30 * time.Second}
	} else if client.Timeout == 0 {
		return nil, errors.New("auditship: HTTPClient needs a Timeout")
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Shipper{cfg: cfg, endpoint: strings.TrimSuffix(cfg.URL, "/") + Path, client: client, log: cfg.Logger}, nil
}

// Stats returns the Shipper's counters.
func (s *Shipper) Stats() Stats {
	s.errMu.Lock()
	lastErr := s.lastErr
	s.errMu.Unlock()
	st := Stats{
		Acked:      uint64(s.acked.Load()),
		Shipped:    s.shipped.Load(),
		Duplicates: s.dups.Load(),
		Batches:    s.batches.Load(),
		Conflicts:  s.conflicts.Load(),
		Failures:   s.failures.Load(),
		LastErr:    lastErr,
	}
	if ns := s.lastShip.Load(); ns != 0 {
		st.LastShip = time.Unix(0, ns)
	}
	return st
}

// Run ships new rows every Interval until ctx is done, backing off after
// failures; it returns nil when ctx ends, or ErrDiverged.
func (s *Shipper) Run(ctx context.Context) error {
	failures := 0
	for {
		err := s.Sync(ctx)
		wait := s.cfg.Interval
		switch {
		case ctx.Err() != nil:
			return nil
		case errors.Is(err, ErrDiverged):
			return err
		case err != nil:
			failures++
			wait = backoff.Delay(s.cfg.MinBackoff, s.cfg.MaxBackoff, failures)
			s.log.Warn("auditship: shipping failed", "node", s.cfg.Node, "err", err, "retry_in", wait)
		default:
			failures = 0
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
	}
}

// Sync ships every row committed to the local store when it is called,
// and returns when Warden has acknowledged them (nil) or on the first
// error. After a 409 it resumes from Warden's head at once, a bounded
// number of times.
func (s *Shipper) Sync(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	err := s.sync(ctx)
	if err != nil {
		s.failures.Add(1)
		s.setErr(err.Error())
	} else {
		s.setErr("")
	}
	return err
}

// maxConflicts bounds the 409 round trips of one Sync.
const maxConflicts = 3

func (s *Shipper) sync(ctx context.Context) error {
	if !s.known {
		if err := s.post(ctx, nil); err != nil {
			return err
		}
	}
	_, localHead, err := s.cfg.Store.Tail(ctx, s.cfg.Node)
	if err != nil {
		return fmt.Errorf("auditship: read local head: %w", err)
	}
	var target uint64
	if localHead != nil {
		target = localHead.Seq
	}
	if s.head.Seq > target {
		// Only this chain's writer appends to it: Warden holding more than
		// the local store means another store wrote under this name.
		return fmt.Errorf("%w: Warden holds %d records of %q, the local chain %d", ErrDiverged, s.head.Seq, s.cfg.Node, target)
	}
	conflicts := 0
	for s.head.Seq < target {
		rows, err := s.read(ctx, s.head.Seq, min(target-s.head.Seq, uint64(s.cfg.BatchRows)))
		if err != nil {
			return err
		}
		if len(rows) == 0 || rows[0].Seq != s.head.Seq+1 {
			return fmt.Errorf("auditship: local chain of %q has no seq %d", s.cfg.Node, s.head.Seq+1)
		}
		if s.head.Seq > 0 && !bytes.Equal(rows[0].PrevHash, s.head.Hash) {
			return fmt.Errorf("%w: node %q seq %d", ErrDiverged, s.cfg.Node, s.head.Seq)
		}
		err = s.post(ctx, rows)
		var ce *conflictError
		if errors.As(err, &ce) {
			if conflicts++; conflicts > maxConflicts {
				return err
			}
			if s.head.Seq > target {
				return fmt.Errorf("%w: Warden holds %d records of %q, the local chain %d", ErrDiverged, s.head.Seq, s.cfg.Node, target)
			}
			continue
		}
		if err != nil {
			return err
		}
	}
	return s.checkHead(ctx)
}

// checkHead compares Warden's head with the local record at that seq.
func (s *Shipper) checkHead(ctx context.Context) error {
	if s.head.Seq == 0 {
		return nil
	}
	rows, err := s.read(ctx, s.head.Seq-1, 1)
	if err != nil {
		return err
	}
	if len(rows) == 1 && rows[0].Seq == s.head.Seq && !bytes.Equal(rows[0].Hash, s.head.Hash) {
		return fmt.Errorf("%w: node %q seq %d", ErrDiverged, s.cfg.Node, s.head.Seq)
	}
	return nil
}

// read returns up to n local rows after seq.
func (s *Shipper) read(ctx context.Context, after, n uint64) ([]Row, error) {
	stored, err := s.cfg.Store.Range(ctx, s.cfg.Node, after, int(n))
	if err != nil {
		return nil, fmt.Errorf("auditship: read local chain: %w", err)
	}
	rows := make([]Row, len(stored))
	for i, r := range stored {
		rows[i] = Row{Seq: r.Seq, PrevHash: r.PrevHash, Hash: r.Hash, Record: r.Record}
	}
	return rows, nil
}

// conflictError is a 409: s.head has been moved to Warden's head.
type conflictError struct{ head Head }

func (e *conflictError) Error() string {
	return fmt.Sprintf("auditship: Warden's head is at seq %d", e.head.Seq)
}

// post sends one batch (nil rows: a head probe) and moves s.head to the
// head in the answer.
func (s *Shipper) post(ctx context.Context, rows []Row) error {
	if rows == nil {
		rows = []Row{}
	}
	body, err := json.Marshal(Batch{Node: s.cfg.Node, Rows: rows})
	if err != nil {
		return fmt.Errorf("auditship: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.endpoint, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("auditship: %w", err)
	}
	req.SetBasicAuth(url.QueryEscape(s.cfg.ClientID), url.QueryEscape(s.cfg.ClientSecret))
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		return fmt.Errorf("auditship: %w", err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswerBytes+1))
	if err != nil {
		return fmt.Errorf("auditship: read answer: %w", err)
	}
	var ans Response
	decodeErr := json.Unmarshal(raw, &ans)
	if len(raw) > maxAnswerBytes {
		decodeErr = errors.New("answer too large")
	}
	switch {
	case resp.StatusCode == http.StatusOK && decodeErr == nil:
		s.setHead(ans.Head)
		s.batches.Add(1)
		s.shipped.Add(uint64(ans.Accepted))
		s.dups.Add(uint64(ans.Duplicates))
		s.lastShip.Store(s.cfg.Clock().UnixNano())
		return nil
	case resp.StatusCode == http.StatusConflict && decodeErr == nil:
		s.setHead(ans.Head)
		s.conflicts.Add(1)
		return &conflictError{head: ans.Head}
	case resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusConflict:
		s.known = false
		return fmt.Errorf("auditship: malformed answer (HTTP %d): %w", resp.StatusCode, decodeErr)
	}
	code, msg := "", ""
	if ans.Error != nil {
		code, msg = ans.Error.Code, ans.Error.Message
	}
	switch resp.StatusCode {
	case http.StatusUnauthorized, http.StatusForbidden, http.StatusRequestEntityTooLarge, http.StatusUnprocessableEntity, http.StatusBadRequest:
		return &RejectedError{Status: resp.StatusCode, Code: code, Msg: msg}
	}
	return fmt.Errorf("auditship: HTTP %d %s", resp.StatusCode, code)
}

func (s *Shipper) setHead(h Head) {
	s.head, s.known = h, true
	s.acked.Store(int64(h.Seq))
}

func (s *Shipper) setErr(msg string) {
	s.errMu.Lock()
	s.lastErr = msg
	s.errMu.Unlock()
}
