package authzen

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"time"

	"github.com/wardenhq/warden/internal/audit"
	"github.com/wardenhq/warden/internal/authn"
	"github.com/wardenhq/warden/internal/gateway"
	"github.com/wardenhq/warden/internal/identity"
	"github.com/wardenhq/warden/internal/policy"
)

// Paths of the AuthZEN endpoints on the data plane.
const (
	EvaluationPath  = "/access/v1/evaluation"
	EvaluationsPath = "/access/v1/evaluations"
	MetadataPath    = "/.well-known/authzen-configuration"
)

// ScopePDPQuery is the scope a caller needs to ask about a subject other
// than itself.
const ScopePDPQuery = "pdp:query"

// Route is the audit records' route name for AuthZEN evaluations.
const Route = "authzen"

// Error codes of this package beyond the gateway's (gateway.Code*).
const (
	CodeUnsupportedMediaType = "unsupported_media_type" // 415: the body is not application/json
	CodeMethodNotAllowed     = "method_not_allowed"     // 405
)

// maxRequestIDBytes bounds an X-Request-ID the caller sends (echoed back).
const maxRequestIDBytes = 128

// Limits bounds one request. Zero values mean the package maxima, which are
// also upper bounds.
type Limits struct {
	MaxBodyBytes   int64 // ≤ MaxBodyBytes
	MaxEvaluations int   // ≤ MaxEvaluations
	MaxTokenBytes  int   // ≤ gateway.MaxBearerTokenBytes
}

// Config assembles a Handler.
type Config struct {
	// Verifier checks the caller's bearer token. Required.
	Verifier *authn.Verifier
	// Engine decides. Required.
	Engine *policy.Engine
	// Audit receives one record per evaluation and one per refused
	// request. nil is for tests and examples only: nothing is recorded.
	Audit *audit.Log
	// AuditFailOpen answers decisions even when the log refuses their
	// records. false (the default) answers 503 audit_unavailable.
	AuditFailOpen bool
	// URL is the PDP's identifier in the metadata (policy_decision_point,
	// the base of the endpoint URLs), e.g. "https://warden.example". ""
	// derives it from each metadata request (its Host, https when served
	// over TLS): set it when Warden is behind a proxy.
	URL string
	// Env is the deployment this node serves, given to every decision as
	// context.env (overriding the caller's), as the gateway does. "" leaves
	// the caller's context.env as sent.
	Env string
	// Limits; the zero value means the package maxima.
	Limits Limits
	// Node names this node in logs.
	Node string
	// Clock is the time source; nil means time.Now.
	Clock func() time.Time
	// Logger receives warnings (audit failures); nil discards. Nothing
	// logged contains a token or request content.
	Logger *slog.Logger
}

// Handler serves the AuthZEN Authorization API 1.0 evaluation endpoints and
// the PDP metadata. It is safe for concurrent use; build it with New and
// mount it on the data plane with Handles (gateway.Mount).
//
// The subject of every evaluation is the caller's verified bearer token,
// unless the caller's token holds the pdp:query scope: then the subject is
// required and is evaluated as SubjectPrincipal maps it. A caller without
// pdp:query may leave the subject out, or send one that names the caller
// itself (type and id, no properties); any other subject is 403.
//
// A malformed request is 400 (413 for a body over the limit), a missing or
// invalid token 401, and nothing is decided; an evaluation the engine
// denies (including one it cannot evaluate: an unknown action, a resource
// type the action does not apply to) is {"decision": false} with its
// reasons.
type Handler struct {
	verifier      *authn.Verifier
	engine        *policy.Engine
	audit         *audit.Log
	auditFailOpen bool
	url           string
	env           string
	limits        Limits
	node          string
	now           func() time.Time
	log           *slog.Logger
}

var _ http.Handler = (*Handler)(nil)

// New validates cfg and builds the Handler.
func New(cfg Config) (*Handler, error) {
	var errs []error
	if cfg.Verifier == nil {
		errs = append(errs, errors.New("no Verifier"))
	}
	if cfg.Engine == nil {
		errs = append(errs, errors.New("no Engine"))
	}
	lim := cfg.Limits
	if lim.MaxBodyBytes < 0 || lim.MaxEvaluations < 0 || lim.MaxTokenBytes < 0 {
		errs = append(errs, errors.New("negative limit"))
	}
	if lim.MaxBodyBytes == 0 || lim.MaxBodyBytes > MaxBodyBytes {
		lim.MaxBodyBytes = MaxBodyBytes
	}
	if lim.MaxEvaluations == 0 || lim.MaxEvaluations > MaxEvaluations {
		lim.MaxEvaluations = MaxEvaluations
	}
	if lim.MaxTokenBytes == 0 || lim.MaxTokenBytes > gateway.MaxBearerTokenBytes {
		lim.MaxTokenBytes = gateway.MaxBearerTokenBytes
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("authzen: %w", errors.Join(errs...))
	}
	h := &Handler{
		verifier: cfg.Verifier, engine: cfg.Engine, audit: cfg.Audit, auditFailOpen: cfg.AuditFailOpen,
		url: cfg.URL, env: cfg.Env, limits: lim, node: cfg.Node, now: cfg.Clock, log: cfg.Logger,
	}
	if h.now == nil {
		h.now = time.Now
	}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	return h, nil
}

// Handles reports whether path is one of the handler's: the two evaluation
// endpoints and the metadata. It does not allocate.
func Handles(path string) bool {
	return path == EvaluationPath || path == EvaluationsPath || path == MetadataPath
}

// Mount returns the handler as a data-plane mount for gateway.Config.Mounts.
func (h *Handler) Mount() gateway.Mount {
	return gateway.Mount{Name: Route, Handles: Handles, Handler: h}
}

// Metadata is the PDP metadata document (AuthZEN §9).
type Metadata struct {
	PolicyDecisionPoint       string `json:"policy_decision_point"`
	AccessEvaluationEndpoint  string `json:"access_evaluation_endpoint"`
	AccessEvaluationsEndpoint string `json:"access_evaluations_endpoint"`
}

// Decision is one evaluation's answer.
type Decision struct {
	Decision bool             `json:"decision"`
	Context  *DecisionContext `json:"context,omitempty"`
}

// DecisionContext explains a Decision: the decision id (the audit record's),
// the ids of the policies that determined it and their @reason texts, in
// the same order, and, when the engine could not evaluate the request, the
// code "evaluation_failed" (the detail is in the audit record).
type DecisionContext struct {
	DecisionID string   `json:"decision_id"`
	ReasonIDs  []string `json:"reason_ids"`
	Reasons    []string `json:"reasons,omitempty"`
	Error      string   `json:"error,omitempty"`
}

// evaluationsResponse is the answer to an evaluations request.
type evaluationsResponse struct {
	Evaluations []Decision `json:"evaluations"`
}

// request is the state of one HTTP request.
type request struct {
	id     string
	start  time.Time
	path   string
	ip     string
	caller *identity.Principal
}

// ServeHTTP serves EvaluationPath, EvaluationsPath and MetadataPath.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == MetadataPath {
		h.serveMetadata(w, r)
		return
	}
	start := h.now()
	rq := &request{id: audit.NewRequestID(start), start: start, path: r.URL.Path}
	if ip, err := peerIP(r.RemoteAddr); err == nil {
		rq.ip = ip.String()
	}
	w.Header().Set("X-Request-Id", responseRequestID(r.Header.Get("X-Request-Id"), rq.id))
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		h.refuse(w, r, rq, &gateway.Error{Status: http.StatusMethodNotAllowed, Code: CodeMethodNotAllowed, Message: "use POST"})
		return
	}
	if !h.authenticate(w, r, rq) {
		return
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		h.refuse(w, r, rq, &gateway.Error{Status: http.StatusUnsupportedMediaType, Code: CodeUnsupportedMediaType, Message: "the body must be application/json"})
		return
	}
	body, err := ReadBody(r.Body, h.limits.MaxBodyBytes)
	if err != nil {
		h.refuse(w, r, rq, requestError(err))
		return
	}
	var (
		items  []Evaluation
		single bool
		sem    = ExecuteAll
	)
	if rq.path == EvaluationPath {
		ev, err := ParseEvaluation(body)
		if err != nil {
			h.refuse(w, r, rq, requestError(err))
			return
		}
		items, single = []Evaluation{*ev}, true
	} else {
		evs, one, err := ParseEvaluations(body, h.limits.MaxEvaluations)
		if err != nil {
			h.refuse(w, r, rq, requestError(err))
			return
		}
		items, single, sem = evs.Evaluations, one, evs.Semantic()
	}
	reqs := make([]policy.Request, len(items))
	for i := range items {
		prefix := ""
		if !single {
			prefix = fmt.Sprintf("evaluations[%d].", i)
		}
		if reqs[i], err = h.policyRequest(rq.caller, &items[i], prefix); err != nil {
			h.refuse(w, r, rq, requestError(err))
			return
		}
	}

	// One bundle answers the whole request (Engine.DecideAll).
	ds := h.engine.DecideAll(r.Context(), reqs, func(d *policy.Decision) bool {
		return (sem == DenyOnFirstDeny && !d.Allowed) || (sem == PermitOnFirstPermit && d.Allowed)
	})
	out := make([]Decision, len(ds))
	recs := make([]audit.Record, len(ds))
	for i := range ds {
		out[i] = answer(&ds[i])
		recs[i] = h.record(rq, &reqs[i], &ds[i])
	}
	if !h.store(r.Context(), rq, recs) {
		writeError(w, r, rq.id, &gateway.Error{Status: http.StatusServiceUnavailable, Code: gateway.CodeUnavailable, Message: "the audit log is unavailable"})
		return
	}
	if single {
		writeJSON(w, http.StatusOK, out[0])
		return
	}
	writeJSON(w, http.StatusOK, evaluationsResponse{Evaluations: out})
}

// policyRequest builds the engine's request for one item: the subject rule
// of Handler, the action, the resource with its properties as attributes,
// the context (see policyContext).
func (h *Handler) policyRequest(caller *identity.Principal, ev *Evaluation, prefix string) (policy.Request, error) {
	p := caller
	if ev.Subject == nil && caller.HasScope(ScopePDPQuery) {
		return policy.Request{}, badf("%ssubject is required: a caller with the %s scope asks about an explicit subject", prefix, ScopePDPQuery)
	}
	if s := ev.Subject; s != nil {
		switch {
		case caller.HasScope(ScopePDPQuery):
			var err error
			if p, err = SubjectPrincipal(s); err != nil {
				return policy.Request{}, prefixed(prefix, err)
			}
		case !selfSubject(s, caller):
			return policy.Request{}, &gateway.Error{Status: http.StatusForbidden, Code: gateway.CodeForbidden,
				Message: "a subject other than the caller needs a token with the " + ScopePDPQuery + " scope"}
		}
	}
	if len(ev.Action.Properties) > 0 {
		return policy.Request{}, badf("%saction.properties is not supported", prefix)
	}
	ctx, err := policyContext(ev.Context, h.env, prefix)
	if err != nil {
		return policy.Request{}, err
	}
	return policy.Request{
		Principal: p,
		Action:    ev.Action.Name,
		Resource:  policy.Resource{Type: ev.Resource.Type, ID: ev.Resource.ID, Attributes: ev.Resource.Properties},
		Context:   ctx,
	}, nil
}

func prefixed(prefix string, err error) error {
	var re *RequestError
	if prefix != "" && errors.As(err, &re) {
		return &RequestError{TooLarge: re.TooLarge, Message: prefix + re.Message}
	}
	return err
}

// answer is the AuthZEN form of a decision.
func answer(d *policy.Decision) Decision {
	c := &DecisionContext{DecisionID: d.ID, ReasonIDs: make([]string, 0, len(d.Reasons))}
	for _, rs := range d.Reasons {
		c.ReasonIDs = append(c.ReasonIDs, rs.PolicyID)
		if rs.Reason != "" {
			c.Reasons = append(c.Reasons, rs.Reason)
		}
	}
	if len(d.Errors) > 0 {
		c.Error = "evaluation_failed"
	}
	return Decision{Decision: d.Allowed, Context: c}
}

// record is the audit record of one evaluation. For an explicit subject,
// Subject (and ClientID for an agent) is the evaluated subject and Actors
// names the caller (its client_id, else its sub): the caller asked about
// the subject. Issuer and JTI are always the caller's token's.
func (h *Handler) record(rq *request, req *policy.Request, d *policy.Decision) audit.Record {
	c, p := rq.caller, req.Principal
	rec := audit.Record{
		Time: rq.start, RequestID: rq.id, DecisionID: d.ID, Phase: audit.PhaseDecision,
		Issuer: c.Issuer, Subject: p.Subject, ClientID: p.ClientID, JTI: c.TokenID, ClientIP: rq.ip,
		Method: http.MethodPost, Path: rq.path, Route: Route, Action: req.Action,
		ResourceType: req.Resource.Type, ResourceID: req.Resource.ID,
		Decision: audit.Deny, BundleRevision: d.Revision, BundleDigest: d.Digest,
		Errors: d.Errors, Latency: h.now().Sub(rq.start),
	}
	if d.Allowed {
		rec.Decision = audit.Allow
	}
	if p != c {
		who := c.ClientID
		if who == "" {
			who = c.Subject
		}
		rec.Actors = []string{who}
	} else {
		for _, a := range c.Actor {
			rec.Actors = append(rec.Actors, a.Subject)
		}
	}
	for _, rs := range d.Reasons {
		rec.Policies = append(rec.Policies, rs.PolicyID)
		rec.Reasons = append(rec.Reasons, rs.Reason)
	}
	return rec
}

// store writes a request's evaluation records. With batch durability only
// the last record is awaited: the others are queued first (Enqueue), and
// the log commits in queue order, so the last one's commit covers them. It
// reports whether the answers may be given.
func (h *Handler) store(ctx context.Context, rq *request, recs []audit.Record) bool {
	if h.audit == nil {
		return true
	}
	var err error
	for i := range recs[:len(recs)-1] {
		if err = h.audit.Enqueue(recs[i]); err != nil {
			break
		}
	}
	if err == nil {
		err = h.audit.Append(ctx, recs[len(recs)-1])
	}
	if err == nil {
		return true
	}
	h.log.LogAttrs(ctx, slog.LevelWarn, "audit record not stored",
		slog.String("request_id", rq.id), slog.String("node", h.node), slog.Bool("fail_open", h.auditFailOpen), slog.Any("error", err))
	return h.auditFailOpen
}

// authenticate verifies the bearer token into rq.caller; on failure it
// answers 401 with an RFC 6750 challenge.
func (h *Handler) authenticate(w http.ResponseWriter, r *http.Request, rq *request) bool {
	p, challenge, err := gateway.Authenticate(r.Context(), h.verifier, r, h.limits.MaxTokenBytes)
	if err == nil {
		rq.caller = p
		return true
	}
	w.Header().Set("WWW-Authenticate", challenge)
	h.refuse(w, r, rq, err)
	return false
}

// refuse answers err after recording the request as refused: one audit
// record with the error code and the cause (the answer is a refusal
// whether or not the log takes it).
func (h *Handler) refuse(w http.ResponseWriter, r *http.Request, rq *request, err error) {
	ge := asGatewayError(err)
	if h.audit != nil {
		rec := audit.Record{
			Time: rq.start, RequestID: rq.id, Phase: audit.PhaseDecision, ClientIP: rq.ip,
			Method: r.Method, Path: rq.path, Route: Route, Decision: audit.Deny, ErrorCode: ge.Code,
			Errors: []string{err.Error()}, Latency: h.now().Sub(rq.start),
		}
		if c := rq.caller; c != nil {
			rec.Issuer, rec.Subject, rec.ClientID, rec.JTI = c.Issuer, c.Subject, c.ClientID, c.TokenID
		}
		if aerr := h.audit.Append(context.WithoutCancel(r.Context()), rec); aerr != nil {
			h.log.LogAttrs(r.Context(), slog.LevelWarn, "audit record not stored",
				slog.String("request_id", rq.id), slog.String("node", h.node), slog.Any("error", aerr))
		}
	}
	writeError(w, r, rq.id, ge)
}

// requestError maps a parse error to the public error: *RequestError is
// 400 (413 for a body over the limit), a *gateway.Error stays as it is,
// anything else (a read failure) is 400.
func requestError(err error) error {
	var re *RequestError
	var ge *gateway.Error
	switch {
	case errors.As(err, &ge):
		return ge
	case errors.As(err, &re) && re.TooLarge:
		return &gateway.Error{Status: http.StatusRequestEntityTooLarge, Code: gateway.CodeTooLarge, Message: re.Message, Err: err}
	case errors.As(err, &re):
		return &gateway.Error{Status: http.StatusBadRequest, Code: gateway.CodeInvalidRequest, Message: re.Message, Err: err}
	}
	return &gateway.Error{Status: http.StatusBadRequest, Code: gateway.CodeInvalidRequest, Message: "the request body could not be read", Err: err}
}

func asGatewayError(err error) *gateway.Error {
	var ge *gateway.Error
	if errors.As(err, &ge) {
		return ge
	}
	return &gateway.Error{Status: http.StatusInternalServerError, Code: gateway.CodeInternal, Message: "internal error", Err: err}
}

func writeError(w http.ResponseWriter, r *http.Request, id string, err error) {
	gateway.WriteError(w, r, id, err)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil { // cannot happen for these types; fail closed anyway
		status, b = http.StatusInternalServerError, []byte(`{"error":{"code":"internal","message":"internal error"}}`)
	}
	gateway.WriteJSON(w, nil, status, b)
}

// serveMetadata answers the PDP metadata (GET or HEAD, no authentication:
// it is discovery).
func (h *Handler) serveMetadata(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeError(w, r, "", &gateway.Error{Status: http.StatusMethodNotAllowed, Code: CodeMethodNotAllowed, Message: "use GET"})
		return
	}
	base := h.url
	if base == "" {
		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		base = scheme + "://" + r.Host
	}
	md := Metadata{PolicyDecisionPoint: base, AccessEvaluationEndpoint: base + EvaluationPath, AccessEvaluationsEndpoint: base + EvaluationsPath}
	b, _ := json.Marshal(md)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "max-age=300")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		_, _ = w.Write(b)
	}
}

// responseRequestID is the X-Request-Id of the answer: the caller's when
// it sent a usable one (AuthZEN §10.1: the PDP echoes it), else ours.
func responseRequestID(sent, ours string) string {
	if sent == "" || len(sent) > maxRequestIDBytes {
		return ours
	}
	for i := 0; i < len(sent); i++ {
		if c := sent[i]; c < 0x21 || c > 0x7e {
			return ours
		}
	}
	return sent
}

func peerIP(remote string) (netip.Addr, error) {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		return netip.Addr{}, err
	}
	a, err := netip.ParseAddr(host)
	return a.Unmap(), err
}
