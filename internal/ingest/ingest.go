// Package ingest is Warden's POST /audit/ingest: services that enforce
// Warden's policy in-process ship their own hash-chained decision records
// (package auditship is the client), and Warden stores them beside its
// own, where `warden audit verify` checks them like any node's chain.
//
// Who may write what: the caller authenticates as an OAuth client (HTTP
// Basic, checked by the issuer), the client must hold the scope
// audit:ingest, and it writes exactly one chain, "svc.<client_id>", so one
// service can never write another's records or Warden's.
//
// What is stored: only rows that continue the stored chain. Each row must
// hash correctly (SHA-256(prev_hash || record)), decode as a canonical
// record written as that node and seq, and link to the row before it; the
// first new row must follow the stored head. Rows the store already holds
// are acknowledged when identical (a shipper retrying after a lost
// answer). A gap or a row that differs from the stored one is 409
// chain_conflict with the stored head, from which the shipper resumes; a
// row that fails its own checks is 422 invalid_chain. Every request, taken
// or refused, is recorded in Warden's own audit log.
package ingest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/wardenhq/warden/internal/audit"
	"github.com/wardenhq/warden/internal/auditship"
	"github.com/wardenhq/warden/internal/gateway"
	"github.com/wardenhq/warden/internal/issuer"
	"github.com/wardenhq/warden/internal/store"
)

// Path is the endpoint's path on the data plane.
const Path = auditship.Path

// Action is the action of Warden's audit record of an ingest request.
const Action = "audit:ingest"

// Handles reports whether path is the ingest endpoint.
func Handles(path string) bool { return path == Path }

// Config configures a Handler. Store and Issuer are required.
type Config struct {
	// Store receives the rows (its AuditStore).
	Store store.Store
	// Issuer authenticates the calling client.
	Issuer *issuer.Issuer
	// Audit records each request in Warden's own chain; nil records
	// nothing (tests only).
	Audit *audit.Log
	// AuditFailOpen ingests even when Audit refuses the record; false (the
	// default) answers 503.
	AuditFailOpen bool
	// MaxBodyBytes (default auditship.MaxBodyBytes) and MaxRows (default
	// and at most auditship.MaxBatchRows) bound a request.
	MaxBodyBytes int64
	MaxRows      int
	// Clock; nil means time.Now.
	Clock func() time.Time
	// Logger; nil discards.
	Logger *slog.Logger
}

// Handler serves POST /audit/ingest. It is safe for concurrent use.
type Handler struct {
	cfg Config
	st  store.AuditStore
	log *slog.Logger
}

// New checks cfg and builds the Handler.
func New(cfg Config) (*Handler, error) {
	if cfg.Store == nil || cfg.Issuer == nil {
		return nil, errors.New("ingest: Store and Issuer are required")
	}
	if cfg.MaxBodyBytes == 0 {
		cfg.MaxBodyBytes = auditship.MaxBodyBytes
	}
	if cfg.MaxRows == 0 {
		cfg.MaxRows = auditship.MaxBatchRows
	}
	if cfg.MaxBodyBytes < 0 || cfg.MaxRows < 0 || cfg.MaxRows > auditship.MaxBatchRows {
		return nil, fmt.Errorf("ingest: MaxBodyBytes must be positive and MaxRows at most %d", auditship.MaxBatchRows)
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Handler{cfg: cfg, st: cfg.Store.Audit(), log: cfg.Logger}, nil
}

// conflict is a 409: the rows do not continue the stored chain.
type conflict struct {
	head   auditship.Head
	detail string
}

func (c *conflict) Error() string { return "chain conflict: " + c.detail }

func refuse(status int, code, msg string, cause error) error {
	return &gateway.Error{Status: status, Code: code, Message: msg, Err: cause}
}

// ServeHTTP authenticates the client, checks and stores its rows, and
// answers an auditship.Response.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	start := h.cfg.Clock()
	rec := audit.Record{Time: start, RequestID: audit.NewRequestID(start), Phase: audit.PhaseDecision, Method: r.Method,
		Path: Path, Route: "audit-ingest", Action: Action, ClientIP: peerIP(r.RemoteAddr)}
	w.Header().Set("X-Request-Id", rec.RequestID)
	resp, err := h.ingest(ctx, r, &rec)
	rec.Latency = h.cfg.Clock().Sub(start)
	if err != nil {
		rec.Decision = audit.Deny
		rec.Errors = append(rec.Errors, err.Error())
		var c *conflict
		if errors.As(err, &c) {
			rec.ErrorCode = auditship.CodeConflict
		} else {
			_, rec.ErrorCode = status(err)
		}
		h.record(ctx, rec)
		h.writeError(w, r, rec.RequestID, err)
		return
	}
	rec.Decision = audit.Allow
	if !h.record(ctx, rec) {
		// The rows are stored; only Warden's own record of the request is
		// missing. Fail closed on the answer so the shipper retries (the
		// retry is acknowledged as duplicates and recorded then).
		h.writeError(w, r, rec.RequestID, refuse(http.StatusServiceUnavailable, gateway.CodeUnavailable, "audit log unavailable", nil))
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

func (h *Handler) ingest(ctx context.Context, r *http.Request, rec *audit.Record) (*auditship.Response, error) {
	if r.Method != http.MethodPost {
		return nil, refuse(http.StatusMethodNotAllowed, gateway.CodeInvalidRequest, "use POST", nil)
	}
	client, err := h.cfg.Issuer.AuthenticateBasic(ctx, r)
	if err != nil {
		var oe *issuer.Error
		if errors.As(err, &oe) && oe.Status >= 500 {
			return nil, refuse(http.StatusInternalServerError, gateway.CodeInternal, "internal error", err)
		}
		return nil, refuse(http.StatusUnauthorized, gateway.CodeUnauthorized, "client authentication failed", err)
	}
	rec.ClientID, rec.Subject = client.ID, client.ID
	if !slices.Contains(client.Scopes, auditship.Scope) {
		return nil, refuse(http.StatusForbidden, gateway.CodeForbidden, "the client may not ingest audit records (scope "+auditship.Scope+")", nil)
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		return nil, refuse(http.StatusUnsupportedMediaType, gateway.CodeInvalidRequest, "the body must be application/json", nil)
	}
	body, err := gateway.ReadBody(r.Body, h.cfg.MaxBodyBytes)
	if err != nil {
		return nil, err
	}
	batch, err := ParseBatch(body, h.cfg.MaxRows)
	if err != nil {
		return nil, refuse(http.StatusBadRequest, gateway.CodeInvalidRequest, err.Error(), err)
	}
	rec.ResourceType, rec.ResourceID = "AuditChain", batch.Node
	if want := auditship.NodeFor(client.ID); batch.Node != want {
		return nil, refuse(http.StatusForbidden, gateway.CodeForbidden, "this client writes only the chain "+strconv.Quote(want), nil)
	}
	return h.store(ctx, batch)
}

// store checks batch against the stored chain and appends the new rows.
func (h *Handler) store(ctx context.Context, b *auditship.Batch) (*auditship.Response, error) {
	head, err := h.head(ctx, b.Node)
	if err != nil {
		return nil, err
	}
	resp := &auditship.Response{Node: b.Node, Head: head}
	if len(b.Rows) == 0 {
		return resp, nil
	}
	first := b.Rows[0].Seq
	if first > head.Seq+1 {
		return nil, &conflict{head: head, detail: fmt.Sprintf("gap: the chain ends at seq %d, the batch starts at %d", head.Seq, first)}
	}
	// Rows Warden holds already must be the stored ones, byte for byte.
	dups := 0
	if first <= head.Seq {
		n := min(uint64(len(b.Rows)), head.Seq-first+1)
		stored, err := h.st.Range(ctx, b.Node, first-1, int(n))
		if err != nil {
			return nil, refuse(http.StatusInternalServerError, gateway.CodeInternal, "internal error", err)
		}
		if uint64(len(stored)) != n {
			return nil, refuse(http.StatusInternalServerError, gateway.CodeInternal, "internal error", fmt.Errorf("node %q: stored rows %d..%d missing below the head", b.Node, first, first+n-1))
		}
		for i, s := range stored {
			g := &b.Rows[i]
			if s.Seq != g.Seq || !bytes.Equal(s.PrevHash, g.PrevHash) || !bytes.Equal(s.Hash, g.Hash) || !bytes.Equal(s.Record, g.Record) {
				return nil, &conflict{head: head, detail: fmt.Sprintf("seq %d differs from the stored record", g.Seq)}
			}
		}
		dups = int(n)
	}
	fresh := b.Rows[dups:]
	resp.Duplicates = dups
	if len(fresh) == 0 {
		return resp, nil
	}
	prev := head.Hash
	if head.Seq == 0 {
		prev = audit.GenesisHash()
	}
	if !bytes.Equal(fresh[0].PrevHash, prev) {
		return nil, &conflict{head: head, detail: fmt.Sprintf("seq %d does not link to the stored head", fresh[0].Seq)}
	}
	rows := make([]store.AuditRow, len(fresh))
	for i, g := range fresh {
		if i > 0 && !bytes.Equal(g.PrevHash, fresh[i-1].Hash) {
			return nil, refuse(http.StatusUnprocessableEntity, auditship.CodeBadChain, fmt.Sprintf("seq %d does not link to seq %d", g.Seq, fresh[i-1].Seq), nil)
		}
		if rows[i], err = audit.CheckRow(b.Node, g.Seq, g.PrevHash, g.Hash, g.Record); err != nil {
			var p *audit.Problem
			msg := fmt.Sprintf("seq %d fails its integrity check", g.Seq)
			if errors.As(err, &p) {
				msg += ": " + string(p.Fault)
			}
			return nil, refuse(http.StatusUnprocessableEntity, auditship.CodeBadChain, msg, err)
		}
	}
	if err := h.st.Append(ctx, b.Node, rows); err != nil {
		if errors.Is(err, store.ErrConflict) {
			now, herr := h.head(ctx, b.Node)
			if herr != nil {
				return nil, herr
			}
			return nil, &conflict{head: now, detail: "another writer moved the head"}
		}
		return nil, refuse(http.StatusInternalServerError, gateway.CodeInternal, "internal error", err)
	}
	last := fresh[len(fresh)-1]
	resp.Accepted = len(fresh)
	resp.Head = auditship.Head{Seq: last.Seq, Hash: last.Hash}
	return resp, nil
}

// head is node's stored head (seq 0 when there is none).
func (h *Handler) head(ctx context.Context, node string) (auditship.Head, error) {
	last, head, err := h.st.Tail(ctx, node)
	switch {
	case err != nil:
		return auditship.Head{}, refuse(http.StatusInternalServerError, gateway.CodeInternal, "internal error", err)
	case head != nil:
		return auditship.Head{Seq: head.Seq, Hash: head.Hash}, nil
	case last != nil:
		return auditship.Head{Seq: last.Seq, Hash: last.Hash}, nil
	}
	return auditship.Head{}, nil
}

// ParseBatch decodes a request body: one JSON object with exactly the
// members node and rows (no others, no trailing data), a valid node name,
// at most maxRows rows with consecutive seqs from 1 up, and base64 hashes
// of 32 bytes. It is the parser of untrusted bytes the fuzz target drives.
func ParseBatch(body []byte, maxRows int) (*auditship.Batch, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	var b auditship.Batch
	if err := dec.Decode(&b); err != nil {
		return nil, errors.New("malformed JSON body")
	}
	if dec.More() {
		return nil, errors.New("trailing data after the JSON body")
	}
	if err := audit.CheckNode(b.Node); err != nil {
		return nil, errors.New("invalid node name")
	}
	if b.Rows == nil {
		return nil, errors.New("rows is required (an empty list asks for the head)")
	}
	if len(b.Rows) > maxRows {
		return nil, fmt.Errorf("at most %d rows per request", maxRows)
	}
	for i, r := range b.Rows {
		switch {
		case r.Seq == 0 || r.Seq > 1<<62:
			return nil, fmt.Errorf("row %d: seq must be at least 1", i)
		case i > 0 && r.Seq != b.Rows[i-1].Seq+1:
			return nil, fmt.Errorf("row %d: seqs must be consecutive", i)
		case len(r.PrevHash) != audit.HashSize || len(r.Hash) != audit.HashSize:
			return nil, fmt.Errorf("row %d: prev_hash and hash must be 32 bytes", i)
		case len(r.Record) == 0 || len(r.Record) > audit.MaxRecordBytes:
			return nil, fmt.Errorf("row %d: record must be 1 to %d bytes", i, audit.MaxRecordBytes)
		}
	}
	return &b, nil
}

// status is the HTTP status and code a client sees for err.
func status(err error) (int, string) {
	var ge *gateway.Error
	var re *gateway.RequestError
	switch {
	case errors.As(err, &ge):
		return ge.Status, ge.Code
	case errors.As(err, &re):
		return re.Status, re.Code
	}
	return http.StatusInternalServerError, gateway.CodeInternal
}

func (h *Handler) writeError(w http.ResponseWriter, r *http.Request, requestID string, err error) {
	var c *conflict
	if errors.As(err, &c) {
		resp := auditship.Response{Head: c.head}
		resp.Error = &auditship.ErrorMember{Code: auditship.CodeConflict, Message: c.detail, RequestID: requestID}
		writeJSON(w, http.StatusConflict, &resp)
		return
	}
	if st, _ := status(err); st == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Basic realm="warden", charset="UTF-8"`)
	}
	if st, _ := status(err); st == http.StatusMethodNotAllowed {
		w.Header().Set("Allow", http.MethodPost)
	}
	gateway.WriteError(w, r, requestID, err)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.Marshal(v) // strings, ints and bytes only
	if err != nil {           // cannot happen for these types; fail closed anyway
		code, b = http.StatusInternalServerError, []byte(`{"error":{"code":"internal","message":"internal error"}}`)
	}
	gateway.WriteJSON(w, nil, code, b)
}

// record appends rec to Warden's own log; false means it was refused and
// the request must fail closed.
func (h *Handler) record(ctx context.Context, rec audit.Record) bool {
	if h.cfg.Audit == nil {
		return true
	}
	if err := h.cfg.Audit.Append(ctx, rec); err != nil {
		h.log.Error("ingest: audit record refused", "err", err)
		return h.cfg.AuditFailOpen
	}
	return true
}

func peerIP(remote string) string {
	if host, _, err := net.SplitHostPort(remote); err == nil {
		return host
	}
	return remote
}
