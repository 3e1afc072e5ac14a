package gateway

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/wardenhq/warden/internal/audit"
	"github.com/wardenhq/warden/internal/authn"
	"github.com/wardenhq/warden/internal/guard"
	"github.com/wardenhq/warden/internal/issuer"
	"github.com/wardenhq/warden/internal/policy"
)

// ServeHTTP serves the data plane: the configured routes and AuthzPath.
//
// The issuer's endpoints, when Config.Issuer is set, go to the issuer.
// For a route: a fresh request id (X-Request-Id on the answer and to the
// upstream; one sent by the client is ignored), the bearer token verified,
// the route matched on the escaped path (404 otherwise, never proxied), the
// resource found (the model in the body for model routes, the route's
// ResourceSpec for tool routes), the policy decision (403 with the decision
// id and the policy's reason on deny), the request guards (model routes), the
// audit record appended (503 audit_unavailable if the log refuses it and
// AuditFailOpen is false), then the upstream call with the response guards.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if g.issuer != nil && issuer.Handles(r.URL.Path) {
		// The issuer audits its own decisions (token issued, exchanged,
		// revoked) with both identities.
		g.issuer.ServeHTTP(w, r)
		return
	}
	for i := range g.mounts {
		if g.mounts[i].Handles(r.URL.Path) {
			g.mounts[i].Handler.ServeHTTP(w, r)
			return
		}
	}
	start := g.now()
	ex := &exchange{id: audit.NewRequestID(start), start: start, route: g.noRoute}
	ex.rec = audit.Record{Time: ex.start, RequestID: ex.id, Phase: audit.PhaseDecision, Method: r.Method, Path: r.URL.EscapedPath()}
	w.Header().Set("X-Request-Id", ex.id)
	defer g.finish(r.Context(), ex)
	if ex.rec.Path == AuthzPath {
		ex.authz = true
		g.serveAuthz(w, r, ex)
		return
	}
	g.serve(w, r, ex)
}

func (g *Gateway) serve(w http.ResponseWriter, r *http.Request, ex *exchange) {
	ctx := r.Context()
	peer, err := parsePeer(r.RemoteAddr)
	if err == nil {
		peer, err = clientAddr(r.Header, peer, g.trusted)
	}
	if err != nil {
		g.refuse(w, r, ex, &Error{Status: http.StatusBadRequest, Code: CodeInvalidRequest, Message: "malformed forwarding headers", Err: err})
		return
	}
	ex.clientIP = peer
	ex.rec.ClientIP = peer.String()

	if !g.authenticate(w, r, ex) {
		return
	}
	m, ok := g.router.Match(r.Method, ex.rec.Path)
	if !ok {
		g.refuse(w, r, ex, &Error{Status: http.StatusNotFound, Code: CodeNotFound, Message: "no route for this path"})
		return
	}
	g.matched(ex, m)

	ex.policyCtx = g.policyContext(ex.clientIP, 4)
	var (
		res  policy.Resource
		body []byte
	)
	switch {
	case m.Route.Kind == KindModel && m.Action == ActionModelList:
		ex.listModels = true
		ex.rec.ResourceType = ModelResourceType
	case m.Route.Kind == KindModel:
		body, err = ReadBody(r.Body, g.limits.MaxBodyBytes)
		if err != nil {
			g.refuse(w, r, ex, bodyError(err))
			return
		}
		mr, err := ParseModelRequest(body, ModelLimits{MaxBodyBytes: g.limits.MaxBodyBytes})
		if err != nil {
			g.refuse(w, r, ex, err)
			return
		}
		res = mr.Resource()
		if mr.MaxTokens != nil {
			ex.policyCtx["max_tokens"] = *mr.MaxTokens
		}
		ex.policyCtx["stream"] = mr.Stream
	default:
		res, err = m.Resource(r)
		if err != nil {
			g.refuse(w, r, ex, err)
			return
		}
	}

	if ex.listModels {
		// The list itself is not a decision on one resource: it is
		// filtered per model with model:invoke (see filterModels).
		g.stampBundle(ex)
	} else {
		ex.rec.ResourceType, ex.rec.ResourceID = res.Type, res.ID
		if !g.decide(w, r, ex, m.Action, res) {
			return
		}
		if g.guard != nil {
			gres := res
			if m.Route.Kind == KindModel {
				// A model is not what personal data belongs to: the
				// guard questions are asked about the model's output.
				gres = policy.Resource{Type: OutputResourceType, ID: res.ID}
			}
			sc := g.guard.Scanner(g.applies(ctx, ex, gres))
			if sc.Active() {
				ex.respScanner = sc
				if body != nil {
					red, hits, err := sc.RedactJSON(body, nil)
					ex.rec.Guards = AppendGuards(ex.rec.Guards, "request", hits, err)
					g.ctr.guardHits(hits)
					if err != nil {
						g.refuse(w, r, ex, guardError(err))
						return
					}
					body = red
				}
			}
		}
	}

	ex.rec.Decision = audit.Allow
	ex.rec.Latency = g.now().Sub(ex.start)
	if !g.record(ctx, ex) {
		ex.rec.Decision = audit.Deny
		WriteError(w, r, ex.id, &Error{Status: http.StatusServiceUnavailable, Code: CodeUnavailable, Message: "the audit log is unavailable"})
		return
	}

	if body != nil {
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
		r.Header.Del("Content-Length")
		r.TransferEncoding = nil
	}
	ctx, cancel := context.WithTimeout(context.WithValue(ctx, exchangeKey{}, ex), ex.up.timeout)
	defer cancel()
	g.proxy(w, r.WithContext(ctx), ex)
}

// auditCodeAborted is the ErrorCode of the result record of a response cut
// midway (a guard block or error in a stream, the upstream or the client
// gone). The client got the upstream's status and part of the body, no
// error code.
const auditCodeAborted = "aborted"

// proxy runs the upstream exchange, then appends the result record: when
// the response has been copied, when the proxy answered an error, and when
// the response was aborted midway (ReverseProxy panics with
// http.ErrAbortHandler; the record is appended and the panic goes on).
func (g *Gateway) proxy(w http.ResponseWriter, r *http.Request, ex *exchange) {
	defer func() {
		p := recover()
		g.count(ex)
		g.recordResult(context.WithoutCancel(r.Context()), ex, p != nil)
		if p != nil {
			panic(p)
		}
	}()
	ex.up.proxy.ServeHTTP(w, r)
}

// recordResult queues ex's result record without waiting for its commit
// (audit.Log.Enqueue), whatever the durability: the answer has been given,
// so there is nothing left to deny, and waiting would only hold the
// connection. A crash before the next commit can lose it, which the
// durability table of docs/audit.md states; the decision record, committed
// before the answer with "batch" durability, is not affected. A failure is
// counted and logged.
func (g *Gateway) recordResult(ctx context.Context, ex *exchange, aborted bool) {
	if g.audit == nil {
		return
	}
	rec := g.resultRecord(ex, aborted)
	if err := g.audit.Enqueue(rec); err != nil {
		g.ctr.auditFail.Add(1)
		g.log.LogAttrs(ctx, slog.LevelWarn, "audit result record not stored",
			slog.String("request_id", ex.id), slog.String("node", g.node), slog.Any("error", err))
	}
}

// resultRecord builds the result record of a proxied request: the decision
// record's time (the arrival), identity, request, decision and bundle
// fields (not its policies, reasons, errors nor request guards, which stay
// in the decision record), plus:
//
//   - UpstreamStatus: the upstream's status when it answered, else the
//     gateway's own (502, 504);
//   - ErrorCode: the gateway's error code when it answered an error instead
//     of the upstream's response (blocked, bad_gateway, gateway_timeout),
//     "aborted" when the response was cut midway;
//   - Errors: why (never response content);
//   - Guards: the response-phase guards with their hits per detector (a
//     block as action "block");
//   - Latency: from arrival to the end of the response.
func (g *Gateway) resultRecord(ex *exchange, aborted bool) audit.Record {
	d := &ex.rec
	rec := audit.Record{
		Time: d.Time, RequestID: d.RequestID, DecisionID: d.DecisionID, Phase: audit.PhaseResult,
		Issuer: d.Issuer, Subject: d.Subject, Actors: d.Actors, ClientID: d.ClientID, JTI: d.JTI, ClientIP: d.ClientIP,
		Method: d.Method, Path: d.Path, Route: d.Route, Action: d.Action, ResourceType: d.ResourceType, ResourceID: d.ResourceID,
		Decision: d.Decision, BundleRevision: d.BundleRevision, BundleDigest: d.BundleDigest,
		UpstreamStatus: ex.upStatus,
	}
	g.foldStreamHits(ex)
	var cause error
	switch {
	case ex.upErr != nil:
		cause = ex.upErr
		rec.ErrorCode = ex.errCode
		if rec.UpstreamStatus == 0 {
			rec.UpstreamStatus = ex.errStatus
		}
	case aborted:
		rec.ErrorCode = auditCodeAborted
		cause = ex.bodyErr
		if cause == nil {
			cause = errors.New("response aborted (client gone or write failed)")
		}
		rec.Errors = append(rec.Errors, "response aborted: "+cause.Error())
	}
	if ex.upErr != nil {
		rec.Errors = append(rec.Errors, ex.upErr.Error())
	}
	rec.Guards = AppendGuards(nil, "response", ex.respHits, cause)
	rec.Latency = g.now().Sub(ex.start)
	return rec
}

// foldStreamHits moves the stream redactor's hits into ex.respHits, once.
func (g *Gateway) foldStreamHits(ex *exchange) {
	if ex.stream != nil {
		ex.respHits.Add(ex.stream.Hits())
		ex.stream = nil
	}
}

// policyContext starts a request's policy context with what every route
// knows: ip (the client address, an ipaddr for Cedar) and env (the
// configured deployment, absent when not configured). Model routes add
// max_tokens and stream.
func (g *Gateway) policyContext(ip netip.Addr, size int) map[string]any {
	c := make(map[string]any, size)
	if ip.IsValid() {
		c["ip"] = ip
	}
	if g.env != "" {
		c["env"] = g.env
	}
	return c
}

// matched records the route of m in ex.
func (g *Gateway) matched(ex *exchange, m *Match) {
	ex.route = g.routeIndex[m.Route.Name]
	ex.kind = m.Route.Kind
	ex.up = g.upstreams[m.Route.Upstream]
	ex.rec.Route = m.Route.Name
	ex.rec.Action = m.Action
}

// authenticate verifies the bearer token and fills the principal's fields of
// the record. On failure it answers 401 with a WWW-Authenticate challenge and
// returns false.
func (g *Gateway) authenticate(w http.ResponseWriter, r *http.Request, ex *exchange) bool {
	tok, err := BearerToken(r)
	var challenge string
	switch {
	case errors.Is(err, ErrNoToken):
		challenge = WWWAuthenticate(Realm, "", "")
		err = &Error{Status: http.StatusUnauthorized, Code: CodeUnauthorized, Message: "a bearer token is required", Err: err}
	case err != nil:
		challenge = WWWAuthenticate(Realm, "invalid_request", "malformed Authorization header")
		err = &Error{Status: http.StatusUnauthorized, Code: CodeUnauthorized, Message: "malformed Authorization header", Err: err}
	case len(tok) > g.limits.MaxTokenBytes:
		challenge = WWWAuthenticate(Realm, "invalid_token", string(authn.ReasonTooLarge))
		err = &Error{Status: http.StatusUnauthorized, Code: CodeUnauthorized, Message: "invalid bearer token", Err: errors.New("token over the size limit")}
	default:
		p, verr := g.verifier.Verify(r.Context(), tok)
		if verr == nil {
			ex.principal = p
			ex.rec.Issuer, ex.rec.Subject, ex.rec.ClientID, ex.rec.JTI = p.Issuer, p.Subject, p.ClientID, p.TokenID
			for _, a := range p.Actor {
				ex.rec.Actors = append(ex.rec.Actors, a.Subject)
			}
			return true
		}
		desc := "invalid token"
		var ve *authn.VerifyError
		if errors.As(verr, &ve) {
			desc = string(ve.Reason)
		}
		challenge = WWWAuthenticate(Realm, "invalid_token", desc)
		err = &Error{Status: http.StatusUnauthorized, Code: CodeUnauthorized, Message: "invalid bearer token", Err: verr}
	}
	w.Header().Set("WWW-Authenticate", challenge)
	g.refuse(w, r, ex, err)
	return false
}

// decide asks the engine and fills the decision's fields of the record. On
// deny it answers 403 with the decision id and the deciding policy's reason,
// and returns false.
func (g *Gateway) decide(w http.ResponseWriter, r *http.Request, ex *exchange, action string, res policy.Resource) bool {
	t0 := time.Now()
	d := g.engine.Decide(r.Context(), policy.Request{Principal: ex.principal, Action: action, Resource: res, Context: ex.policyCtx})
	g.ctr.decision(time.Since(t0))
	ex.rec.DecisionID = d.ID
	ex.rec.BundleRevision, ex.rec.BundleDigest = d.Revision, d.Digest
	ex.rec.Errors = append(ex.rec.Errors, d.Errors...)
	for _, rs := range d.Reasons {
		ex.rec.Policies = append(ex.rec.Policies, rs.PolicyID)
		ex.rec.Reasons = append(ex.rec.Reasons, rs.Reason)
	}
	if d.Allowed {
		return true
	}
	msg := "access denied by policy"
	for _, rs := range d.Reasons {
		if rs.Effect == "forbid" && rs.Reason != "" {
			msg = rs.Reason
			break
		}
	}
	g.refuse(w, r, ex, &Error{Status: http.StatusForbidden, Code: CodeForbidden, Message: msg, DecisionID: d.ID})
	return false
}

// stampBundle records the serving bundle for a request that is not decided
// as a whole (the model list).
func (g *Gateway) stampBundle(ex *exchange) {
	if c := g.engine.Current(); c != nil {
		m := c.Meta()
		ex.rec.BundleRevision, ex.rec.BundleDigest = m.Revision, m.Digest
	}
}

// applies asks the engine which guard classes apply to res: PII unless
// pii:view is permitted, secrets unless secret:read is. A decision that
// fails (for instance because the schema does not allow the action on the
// resource type) is a deny, so the guard applies.
func (g *Gateway) applies(ctx context.Context, ex *exchange, res policy.Resource) guard.Apply {
	ds := g.engine.DecideEach(ctx, policy.Request{Principal: ex.principal, Resource: res, Context: ex.policyCtx}, ActionPIIView, ActionSecretRead)
	return guard.Apply{PII: !ds[0].Allowed, Secret: !ds[1].Allowed}
}

// refuse answers err, after recording the request as denied.
func (g *Gateway) refuse(w http.ResponseWriter, r *http.Request, ex *exchange, err error) {
	_, code, _, _ := public(err)
	ex.rec.Decision = audit.Deny
	ex.rec.ErrorCode = code
	var ge *Error
	if !errors.As(err, &ge) || ge.Err != nil || code == CodeInvalidRequest || code == CodeTooLarge {
		ex.rec.Errors = append(ex.rec.Errors, err.Error())
	}
	ex.rec.Latency = g.now().Sub(ex.start)
	// The answer is a refusal whether or not the log takes the record.
	g.record(context.WithoutCancel(r.Context()), ex)
	WriteError(w, r, ex.id, err)
}

// record appends ex's record to the audit log. It reports whether the
// request may go on: false when the log refused the record and the gateway
// fails closed.
func (g *Gateway) record(ctx context.Context, ex *exchange) bool {
	if g.audit == nil {
		return true
	}
	err := g.audit.Append(ctx, ex.rec)
	if err == nil {
		return true
	}
	g.ctr.auditFail.Add(1)
	g.log.LogAttrs(ctx, slog.LevelWarn, "audit record not stored",
		slog.String("request_id", ex.id), slog.String("node", g.node), slog.Bool("fail_open", g.auditFailOpen), slog.Any("error", err))
	return g.auditFailOpen
}

// count counts the request in Stats, once.
func (g *Gateway) count(ex *exchange) {
	if ex.counted {
		return
	}
	ex.counted = true
	g.ctr.request(ex.authz, ex.route, ex.rec.Decision == audit.Allow)
	g.foldStreamHits(ex)
	g.ctr.guardHits(ex.respHits)
}

// finish counts the request (if proxy has not) and logs it at debug level.
func (g *Gateway) finish(ctx context.Context, ex *exchange) {
	g.count(ex)
	if !g.log.Enabled(ctx, slog.LevelDebug) {
		return
	}
	attrs := []slog.Attr{
		slog.String("request_id", ex.id), slog.String("node", g.node),
		slog.String("method", ex.rec.Method), slog.String("path", ex.rec.Path),
		slog.String("route", ex.rec.Route), slog.String("subject", ex.rec.Subject),
		slog.String("decision", ex.rec.Decision), slog.String("decision_id", ex.rec.DecisionID),
		slog.String("error_code", ex.rec.ErrorCode), slog.Int("upstream_status", ex.upStatus),
		slog.Duration("latency", g.now().Sub(ex.start)),
	}
	if len(ex.rec.Errors) > 0 {
		attrs = append(attrs, slog.Any("errors", ex.rec.Errors))
	}
	if ex.respHits.Total() > 0 {
		attrs = append(attrs, slog.String("response_guard_hits", ex.respHits.String()))
	}
	if ex.upErr != nil {
		attrs = append(attrs, slog.Any("upstream_error", ex.upErr))
	}
	g.log.LogAttrs(ctx, slog.LevelDebug, "request", attrs...)
}

// serveAuthz is the forward-auth endpoint: 200 with identity headers, 401
// with a challenge, 403 for everything refused (proxies such as nginx
// auth_request understand only 2xx, 401 and 403), 400 when the caller is not
// a proxy sending the original request.
func (g *Gateway) serveAuthz(w http.ResponseWriter, r *http.Request, ex *exchange) {
	method, uri, ip, err := OriginalRequest(r, g.trusted)
	if err != nil {
		g.refuse(w, r, ex, &Error{Status: http.StatusBadRequest, Code: CodeInvalidRequest, Message: "no valid original request headers", Err: err})
		return
	}
	ex.clientIP = ip
	ex.rec.ClientIP = ip.String()
	ex.rec.Method = method
	u, err := url.ParseRequestURI(uri)
	if err != nil {
		g.refuse(w, r, ex, &Error{Status: http.StatusBadRequest, Code: CodeInvalidRequest, Message: "malformed original URI", Err: err})
		return
	}
	ex.rec.Path = u.EscapedPath()
	if !g.authenticate(w, r, ex) {
		return
	}
	m, ok := g.router.Match(method, ex.rec.Path)
	if !ok {
		g.refuse(w, r, ex, &Error{Status: http.StatusForbidden, Code: CodeNotFound, Message: "no route for the original request"})
		return
	}
	g.matched(ex, m)
	if m.Route.Kind == KindModel {
		// The model is in the body, which forward auth never sees.
		g.refuse(w, r, ex, &Error{Status: http.StatusForbidden, Code: CodeForbidden, Message: "model routes cannot be authorized by forward auth"})
		return
	}
	orig := *r
	orig.Method, orig.URL = method, u
	res, err := m.Resource(&orig)
	if err != nil {
		var re *RequestError
		if errors.As(err, &re) {
			err = &Error{Status: http.StatusForbidden, Code: re.Code, Message: re.Message, Err: err}
		}
		g.refuse(w, r, ex, err)
		return
	}
	ex.rec.ResourceType, ex.rec.ResourceID = res.Type, res.ID
	ex.policyCtx = g.policyContext(ip, 2)
	if !g.decide(w, r, ex, m.Action, res) {
		return
	}
	ex.rec.Decision = audit.Allow
	ex.rec.Latency = g.now().Sub(ex.start)
	if !g.record(r.Context(), ex) {
		ex.rec.Decision = audit.Deny
		WriteError(w, r, ex.id, &Error{Status: http.StatusServiceUnavailable, Code: CodeUnavailable, Message: "the audit log is unavailable"})
		return
	}
	h := w.Header()
	p := ex.principal
	h.Set("X-Warden-Subject", headerSafe(p.Subject))
	h.Set("X-Warden-Roles", headerSafe(strings.Join(p.Roles, ",")))
	h.Set("X-Warden-Tenant", headerSafe(p.Tenant))
	h.Set("X-Warden-Decision-Id", ex.rec.DecisionID)
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
}

// headerSafe drops the bytes that may not appear in a header value (claims
// are attacker-influenced JSON strings).
func headerSafe(s string) string {
	ok := true
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == 0x7f || c >= 0x80 {
			ok = false
			break
		}
	}
	if ok {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 0x20 && c != 0x7f && c < 0x80 {
			b.WriteByte(c)
		}
	}
	return b.String()
}

// bodyError maps a ReadBody error: a *RequestError (413) as is, a read
// failure as 400.
func bodyError(err error) error {
	var re *RequestError
	if errors.As(err, &re) {
		return err
	}
	return &Error{Status: http.StatusBadRequest, Code: CodeInvalidRequest, Message: "the request body could not be read", Err: err}
}

// guardError maps a guard failure: a block is 403 blocked, anything else
// (the guard failed) blocks too, as 400 for a request body the guard cannot
// read.
func guardError(err error) error {
	var be *guard.BlockedError
	if errors.As(err, &be) {
		return &Error{Status: http.StatusForbidden, Code: CodeBlocked, Message: "blocked by a guard: " + string(be.Detector), Err: err}
	}
	if errors.Is(err, guard.ErrTooLarge) {
		return &Error{Status: http.StatusRequestEntityTooLarge, Code: CodeTooLarge, Message: "the request body is too large to be inspected", Err: err}
	}
	return &Error{Status: http.StatusBadRequest, Code: CodeInvalidRequest, Message: "the request body could not be inspected", Err: err}
}

// AppendGuards adds to gs one audit.Guard per guard class that matched in
// hits ("redact", with the hits per detector), or the block when err is a
// *guard.BlockedError. phase is "request" or "response". The MCP proxy
// records its guards the same way.
func AppendGuards(gs []audit.Guard, phase string, hits guard.Hits, err error) []audit.Guard {
	var be *guard.BlockedError
	if errors.As(err, &be) {
		return append(gs, audit.Guard{Name: string(be.Class), Phase: phase, Action: "block", Hits: map[string]int{string(be.Detector): 1}})
	}
	var pii, sec map[string]int
	for d, n := range hits.All() {
		m := &pii
		if guard.ClassOf(d) == guard.ClassSecret {
			m = &sec
		}
		if *m == nil {
			*m = make(map[string]int)
		}
		(*m)[string(d)] = n
	}
	if pii != nil {
		gs = append(gs, audit.Guard{Name: string(guard.ClassPII), Phase: phase, Action: "redact", Hits: pii})
	}
	if sec != nil {
		gs = append(gs, audit.Guard{Name: string(guard.ClassSecret), Phase: phase, Action: "redact", Hits: sec})
	}
	return gs
}
