package console

import (
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/wardenhq/warden/internal/audit"
	"github.com/wardenhq/warden/internal/gateway"
)

// Audit browser limits.
const (
	defaultPageSize = 50
	maxPageSize     = 500
	maxFilterLen    = 256
)

// recordView is an audit entry as the browser shows it.
type recordView struct {
	Cursor         string        `json:"cursor"`
	Time           time.Time     `json:"time"`
	Node           string        `json:"node"`
	Seq            uint64        `json:"seq"`
	Phase          string        `json:"phase,omitempty"`
	RequestID      string        `json:"request_id,omitempty"`
	DecisionID     string        `json:"decision_id,omitempty"`
	Issuer         string        `json:"iss,omitempty"`
	Subject        string        `json:"subject,omitempty"`
	Actors         []string      `json:"actors,omitempty"`
	ClientID       string        `json:"client_id,omitempty"`
	JTI            string        `json:"jti,omitempty"`
	ClientIP       string        `json:"client_ip,omitempty"`
	Method         string        `json:"method,omitempty"`
	Path           string        `json:"path,omitempty"`
	Route          string        `json:"route,omitempty"`
	Action         string        `json:"action,omitempty"`
	Resource       string        `json:"resource,omitempty"`
	Decision       string        `json:"decision"`
	Policies       []string      `json:"policies,omitempty"`
	Reasons        []string      `json:"reasons,omitempty"`
	Errors         []string      `json:"errors,omitempty"`
	ErrorCode      string        `json:"error_code,omitempty"`
	BundleRevision string        `json:"bundle_revision,omitempty"`
	BundleDigest   string        `json:"bundle_digest,omitempty"`
	Guards         []audit.Guard `json:"guards,omitempty"`
	UpstreamStatus int           `json:"upstream_status,omitempty"`
	LatencyMS      float64       `json:"latency_ms"`
	PrevHash       string        `json:"prev_hash"`
	Hash           string        `json:"hash"`
}

func viewOf(e *audit.Entry) recordView {
	r := &e.Record
	v := recordView{
		Cursor: formatCursor(e.Cursor()), Time: r.Time, Node: r.Node, Seq: r.Seq, Phase: r.Phase,
		RequestID: r.RequestID, DecisionID: r.DecisionID, Issuer: r.Issuer, Subject: r.Subject,
		Actors: r.Actors, ClientID: r.ClientID, JTI: r.JTI, ClientIP: r.ClientIP, Method: r.Method,
		Path: r.Path, Route: r.Route, Action: r.Action, Decision: r.Decision, Policies: r.Policies,
		Reasons: r.Reasons, Errors: r.Errors, ErrorCode: r.ErrorCode, BundleRevision: r.BundleRevision,
		BundleDigest: r.BundleDigest, Guards: r.Guards, UpstreamStatus: r.UpstreamStatus,
		LatencyMS: float64(r.Latency) / float64(time.Millisecond),
		PrevHash:  hex.EncodeToString(e.PrevHash), Hash: hex.EncodeToString(e.Hash),
	}
	if r.ResourceType != "" {
		v.Resource = r.ResourceType + `::"` + r.ResourceID + `"`
	}
	return v
}

// formatCursor writes a cursor as "UNIXNANO.SEQ.NODE" (node last: node
// names may contain dots, the numbers cannot).
func formatCursor(c audit.Cursor) string {
	return strconv.FormatInt(c.Time.UnixNano(), 10) + "." + strconv.FormatUint(c.Seq, 10) + "." + c.Node
}

var errBadCursor = errors.New("malformed cursor")

// parseCursor reads formatCursor's output. It accepts nothing else.
func parseCursor(s string) (audit.Cursor, error) {
	ts, rest, ok := strings.Cut(s, ".")
	if !ok {
		return audit.Cursor{}, errBadCursor
	}
	seqText, node, ok := strings.Cut(rest, ".")
	if !ok || node == "" || len(node) > 128 {
		return audit.Cursor{}, errBadCursor
	}
	nanos, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || nanos < 0 || strconv.FormatInt(nanos, 10) != ts {
		return audit.Cursor{}, errBadCursor
	}
	seq, err := strconv.ParseUint(seqText, 10, 64)
	if err != nil || strconv.FormatUint(seq, 10) != seqText {
		return audit.Cursor{}, errBadCursor
	}
	for _, ch := range []byte(node) {
		if !('a' <= ch && ch <= 'z' || 'A' <= ch && ch <= 'Z' || '0' <= ch && ch <= '9' || ch == '.' || ch == '_' || ch == '-') {
			return audit.Cursor{}, errBadCursor
		}
	}
	return audit.Cursor{Time: time.Unix(0, nanos).UTC(), Node: node, Seq: seq}, nil
}

// parseFilter reads the audit browser's query parameters: since and until
// (RFC 3339), subject, action, decision (allow or deny), route, after (a
// cursor) and limit. Errors are public.
func parseFilter(q url.Values) (audit.Filter, error) {
	var f audit.Filter
	for name, vals := range q {
		if len(vals) != 1 {
			return f, invalidRequest(fmt.Sprintf("parameter %q given %d times", name, len(vals)))
		}
		v := vals[0]
		if len(v) > maxFilterLen {
			return f, invalidRequest(fmt.Sprintf("parameter %q is longer than %d bytes", name, maxFilterLen))
		}
		var err error
		switch name {
		case "since", "until":
			var t time.Time
			if t, err = time.Parse(time.RFC3339Nano, v); err != nil {
				return f, invalidRequest(fmt.Sprintf("%s: want an RFC 3339 time such as 2026-12-02T06:00:00Z", name))
			}
			if name == "since" {
				f.Since = t
			} else {
				f.Until = t
			}
		case "subject":
			f.Subject = v
		case "action":
			f.Action = v
		case "route":
			f.Route = v
		case "request_id":
			f.RequestID = v
		case "decision":
			if v != audit.Allow && v != audit.Deny && v != "" {
				return f, invalidRequest(`decision: want "allow" or "deny"`)
			}
			f.Decision = v
		case "after":
			c, err := parseCursor(v)
			if err != nil {
				return f, invalidRequest("after: malformed cursor")
			}
			f.After = &c
		case "limit":
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > maxPageSize {
				return f, invalidRequest(fmt.Sprintf("limit: want 1 to %d", maxPageSize))
			}
			f.Limit = n
		default:
			return f, invalidRequest(fmt.Sprintf("unknown parameter %q", name))
		}
	}
	if f.Limit == 0 {
		f.Limit = defaultPageSize
	}
	if !f.Since.IsZero() && !f.Until.IsZero() && !f.Since.Before(f.Until) {
		return f, invalidRequest("since must be before until")
	}
	return f, nil
}

type recordsResult struct {
	Records []recordView `json:"records"`
	// Next is the cursor to continue from ("" when the page was not full).
	Next string `json:"next,omitempty"`
}

var errNoStore = &gateway.Error{Status: http.StatusNotFound, Code: CodeUnavailable, Message: "this server has no audit store"}

func (c *Console) auditRecords(r *http.Request, ex *exchange) error {
	if c.cfg.Store == nil {
		return errNoStore
	}
	f, err := parseFilter(r.URL.Query())
	if err != nil {
		return err
	}
	entries, err := audit.Query(r.Context(), c.cfg.Store, f)
	if errors.Is(err, audit.ErrTampered) {
		return &gateway.Error{Status: http.StatusConflict, Code: CodeTampered,
			Message: "a record fails its integrity check; run the chain verification", Err: err}
	}
	if err != nil {
		return fmt.Errorf("console: audit query: %w", err)
	}
	res := recordsResult{Records: make([]recordView, 0, len(entries))}
	for i := range entries {
		res.Records = append(res.Records, viewOf(&entries[i]))
	}
	if len(entries) == f.Limit {
		res.Next = res.Records[len(res.Records)-1].Cursor
	}
	return writeJSON(ex.w, http.StatusOK, res)
}

// chainView is one node's verification result.
type chainView struct {
	Node     string `json:"node"`
	OK       bool   `json:"ok"`
	Records  uint64 `json:"records"`
	LastSeq  uint64 `json:"last_seq"`
	LastHash string `json:"last_hash,omitempty"`
	Fault    string `json:"fault,omitempty"`
	BadSeq   uint64 `json:"bad_seq,omitempty"`
	Detail   string `json:"detail,omitempty"`
}

type verifyChainResult struct {
	OK      bool        `json:"ok"`
	Checked time.Time   `json:"checked"`
	Chains  []chainView `json:"chains"`
}

// auditVerify verifies every node's hash chain in the store, as `warden
// audit verify` does.
func (c *Console) auditVerify(r *http.Request, ex *exchange) error {
	if c.cfg.Store == nil {
		return errNoStore
	}
	reports, err := audit.VerifyAll(r.Context(), c.cfg.Store)
	if err != nil {
		return fmt.Errorf("console: audit verify: %w", err)
	}
	res := verifyChainResult{OK: true, Checked: c.clock(), Chains: make([]chainView, 0, len(reports))}
	for _, rep := range reports {
		cv := chainView{Node: rep.Node, OK: rep.OK(), Records: rep.Records, LastSeq: rep.LastSeq, LastHash: hex.EncodeToString(rep.LastHash)}
		if p := rep.Problem; p != nil {
			res.OK = false
			cv.Fault, cv.BadSeq, cv.Detail = string(p.Fault), p.Seq, p.Detail
		}
		res.Chains = append(res.Chains, cv)
	}
	return writeJSON(ex.w, http.StatusOK, res)
}
