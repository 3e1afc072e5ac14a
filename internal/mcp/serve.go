package mcp

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/wardenhq/warden/internal/audit"
	"github.com/wardenhq/warden/internal/authn"
	"github.com/wardenhq/warden/internal/gateway"
	"github.com/wardenhq/warden/internal/guard"
	"github.com/wardenhq/warden/internal/policy"
)

// Headers of the Streamable HTTP transport.
const (
	headerSession  = "Mcp-Session-Id"
	headerVersion  = "Mcp-Protocol-Version"
	headerMethod   = "Mcp-Method"
	headerName     = "Mcp-Name"
	headerParam    = "Mcp-Param-"
	headerLastID   = "Last-Event-Id"
	maxHeaderValue = 256
)

// Actions the proxy asks about.
const (
	ActionToolCall     = "tool:call"
	ActionResourceRead = "resource:read"
	ActionPromptGet    = "prompt:get"
)

// Cedar entity types of the judged objects.
const (
	TypeTool     = "Tool"
	TypeResource = "Resource"
	TypePrompt   = "Prompt"
)

// exchange is one HTTP request to a server's endpoint.
type exchange struct {
	id        string
	start     time.Time
	srv       *server
	principal *authn.Principal
	pkey      string
	clientIP  netip.Addr
	method    string
	path      string
}

// ServeHTTP serves /mcp/<server> (POST messages, GET the 2025 event
// stream, DELETE a 2025 session) and the server's protected resource
// metadata.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s, meta := p.serverOf(r.URL.Path)
	start := p.now()
	id := audit.NewRequestID(start)
	w.Header().Set("X-Request-Id", id)
	if s == nil {
		gateway.WriteError(w, r, id, &gateway.Error{Status: http.StatusNotFound, Code: gateway.CodeNotFound, Message: "no MCP server at this path"})
		return
	}
	if meta {
		p.serveMetadata(w, r, s)
		return
	}
	ex := &exchange{id: id, start: start, srv: s, method: r.Method, path: r.URL.EscapedPath()}
	ip, err := gateway.ClientAddr(r, p.trusted)
	if err != nil {
		p.refuse(w, r, ex, http.StatusBadRequest, &RPCError{Code: CodeInvalidRequest, Message: "malformed forwarding headers", Err: err})
		return
	}
	ex.clientIP = ip
	if !p.authenticate(w, r, ex) {
		return
	}
	switch r.Method {
	case http.MethodPost:
		p.post(w, r, ex)
	case http.MethodGet:
		p.getStream(w, r, ex)
	case http.MethodDelete:
		p.deleteSession(w, r, ex)
	default:
		w.Header().Set("Allow", "GET, POST, DELETE")
		p.refuse(w, r, ex, http.StatusMethodNotAllowed, rpcErrorf(CodeInvalidRequest, "method not allowed"))
	}
}

// serveMetadata answers the RFC 9728 protected resource metadata.
func (p *Proxy) serveMetadata(w http.ResponseWriter, r *http.Request, s *server) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		gateway.WriteError(w, r, w.Header().Get("X-Request-Id"), &gateway.Error{Status: http.StatusMethodNotAllowed, Code: gateway.CodeInvalidRequest, Message: "method not allowed"})
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "max-age=300")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Length", strconv.Itoa(len(s.metadata)))
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		_, _ = w.Write(s.metadata)
	}
}

func (p *Proxy) metadataDoc(s *server) []byte {
	scopes := s.scopes
	if scopes == nil {
		scopes = []string{}
	}
	doc := struct {
		Resource               string   `json:"resource"`
		AuthorizationServers   []string `json:"authorization_servers"`
		ScopesSupported        []string `json:"scopes_supported"`
		BearerMethodsSupported []string `json:"bearer_methods_supported"`
		ResourceName           string   `json:"resource_name"`
	}{s.resource, p.authz, scopes, []string{"header"}, "MCP server " + s.name + " (through Warden)"}
	b, _ := json.Marshal(doc)
	return append(b, '\n')
}

// authenticate verifies the bearer token, its audience (the server's
// resource URI) and the server's required scopes. On failure it answers
// 401 or 403 with the challenge the MCP authorization spec asks for.
func (p *Proxy) authenticate(w http.ResponseWriter, r *http.Request, ex *exchange) bool {
	s := ex.srv
	tok, err := gateway.BearerToken(r)
	var (
		status = http.StatusUnauthorized
		params = [][2]string{{"resource_metadata", s.metadataURL}}
		msg    = "a bearer token is required"
		cause  error
	)
	switch {
	case errors.Is(err, gateway.ErrNoToken):
		cause = err
	case err != nil:
		params = append(params, [2]string{"error", "invalid_request"})
		msg, cause = "malformed Authorization header", err
	default:
		pr, verr := p.verifier.Verify(r.Context(), tok)
		switch {
		case verr != nil:
			desc := "invalid token"
			var ve *authn.VerifyError
			if errors.As(verr, &ve) {
				desc = string(ve.Reason)
			}
			params = append(params, [2]string{"error", "invalid_token"}, [2]string{"error_description", desc})
			msg, cause = "invalid bearer token", verr
		case !slices.Contains(pr.Audience, s.resource):
			params = append(params, [2]string{"error", "invalid_token"}, [2]string{"error_description", "the token is not for this MCP server (audience)"})
			msg, cause = "the token's audience does not include this MCP server", errors.New("audience mismatch")
			ex.setPrincipal(pr)
		default:
			ex.setPrincipal(pr)
			var missing []string
			for _, sc := range s.scopes {
				if !pr.HasScope(sc) {
					missing = append(missing, sc)
				}
			}
			if len(missing) == 0 {
				return true
			}
			status = http.StatusForbidden
			params = append(params, [2]string{"error", "insufficient_scope"}, [2]string{"scope", strings.Join(s.scopes, " ")})
			msg, cause = "the token lacks a scope this MCP server requires: "+strings.Join(missing, " "), errors.New("insufficient scope")
		}
	}
	w.Header().Set("WWW-Authenticate", challenge(params))
	p.refuse(w, r, ex, status, &RPCError{Code: CodeDenied, Message: msg, Err: cause})
	return false
}

func (ex *exchange) setPrincipal(pr *authn.Principal) {
	ex.principal = pr
	ex.pkey = principalKey(pr)
}

// challenge builds `Bearer k="v", ...`; values lose the characters a
// quoted-string of RFC 6750 may not hold.
func challenge(params [][2]string) string {
	var b strings.Builder
	b.WriteString("Bearer")
	for i, kv := range params {
		if i == 0 {
			b.WriteByte(' ')
		} else {
			b.WriteString(", ")
		}
		b.WriteString(kv[0])
		b.WriteString(`="`)
		for j := 0; j < len(kv[1]); j++ {
			if c := kv[1][j]; c >= 0x20 && c < 0x7f && c != '"' && c != '\\' {
				b.WriteByte(c)
			}
		}
		b.WriteByte('"')
	}
	return b.String()
}

// record builds the audit record of ex with the principal's fields.
func (p *Proxy) record(ex *exchange) audit.Record {
	rec := audit.Record{
		Time: ex.start, RequestID: ex.id, Phase: audit.PhaseDecision,
		Method: ex.method, Path: ex.path, Route: "mcp/" + ex.srv.name,
		MCP: &audit.MCP{Server: ex.srv.name},
	}
	if ex.clientIP.IsValid() {
		rec.ClientIP = ex.clientIP.String()
	}
	if pr := ex.principal; pr != nil {
		rec.Issuer, rec.Subject, rec.ClientID, rec.JTI = pr.Issuer, pr.Subject, pr.ClientID, pr.TokenID
		for _, a := range pr.Actor {
			rec.Actors = append(rec.Actors, a.Subject)
		}
	}
	return rec
}

// refuse answers an HTTP-level refusal (nothing judged or forwarded) as a
// JSON-RPC error without id, after recording it.
func (p *Proxy) refuse(w http.ResponseWriter, r *http.Request, ex *exchange, status int, e *RPCError) {
	ex.srv.denied.Add(1)
	rec := p.record(ex)
	rec.Decision = audit.Deny
	rec.ErrorCode = strconv.Itoa(e.Code)
	rec.MCP.RPCError = e.Code
	rec.Errors = append(rec.Errors, e.Error())
	rec.Latency = p.now().Sub(ex.start)
	p.stamp(&rec)
	p.appendRecord(context.WithoutCancel(r.Context()), ex, rec)
	writeRPC(w, status, errorMessage(nil, e, "", ex.id))
}

// stamp records the serving bundle in a record that has no decision.
func (p *Proxy) stamp(rec *audit.Record) {
	if rec.BundleDigest != "" {
		return
	}
	if c := p.engine.Current(); c != nil {
		m := c.Meta()
		rec.BundleRevision, rec.BundleDigest = m.Revision, m.Digest
	}
}

// appendRecord appends a decision record; false means the message must not
// go on (the log refused it and the proxy fails closed).
func (p *Proxy) appendRecord(ctx context.Context, ex *exchange, rec audit.Record) bool {
	if p.audit == nil {
		return true
	}
	if err := p.audit.Append(ctx, rec); err != nil {
		p.log.LogAttrs(ctx, slog.LevelWarn, "mcp audit record not stored",
			slog.String("request_id", ex.id), slog.String("node", p.node), slog.Bool("fail_open", p.failOpen), slog.Any("error", err))
		return p.failOpen
	}
	return true
}

// enqueueResult queues a result record without waiting for its commit.
func (p *Proxy) enqueueResult(ctx context.Context, ex *exchange, rec audit.Record) {
	if p.audit == nil {
		return
	}
	if err := p.audit.Enqueue(rec); err != nil {
		p.log.LogAttrs(ctx, slog.LevelWarn, "mcp audit result record not stored",
			slog.String("request_id", ex.id), slog.String("node", p.node), slog.Any("error", err))
	}
}

// rpcErrorBody is the error member of a JSON-RPC error response.
type rpcErrorBody struct {
	Code    int          `json:"code"`
	Message string       `json:"message"`
	Data    rpcErrorData `json:"data"`
}

// rpcErrorData is what a client shows of a refusal.
type rpcErrorData struct {
	Reason     string `json:"reason,omitempty"`
	DecisionID string `json:"decision_id,omitempty"`
	RequestID  string `json:"request_id"`
}

// errorMessage encodes a JSON-RPC error response to id (null when nil).
func errorMessage(id json.RawMessage, e *RPCError, decisionID, requestID string) []byte {
	if id == nil {
		id = json.RawMessage("null")
	}
	b, _ := json.Marshal(struct {
		JSONRPC string          `json:"jsonrpc"`
		ID      json.RawMessage `json:"id"`
		Error   rpcErrorBody    `json:"error"`
	}{"2.0", id, rpcErrorBody{Code: e.Code, Message: e.Message, Data: rpcErrorData{Reason: e.Message, DecisionID: decisionID, RequestID: requestID}}})
	return b
}

// writeRPC writes one JSON body.
func writeRPC(w http.ResponseWriter, status int, body []byte) {
	gateway.WriteJSON(w, nil, status, body)
}

// singleHeader returns the one value of a header; two values are an error.
func singleHeader(h http.Header, name string) (string, error) {
	vs := h.Values(name)
	switch {
	case len(vs) == 0:
		return "", nil
	case len(vs) > 1:
		return "", errors.New(name + " sent more than once")
	case len(vs[0]) > maxHeaderValue:
		return "", errors.New(name + " is too long")
	}
	for i := 0; i < len(vs[0]); i++ {
		if c := vs[0][i]; c < 0x21 || c > 0x7e {
			return "", errors.New(name + " holds characters outside visible ASCII")
		}
	}
	return vs[0], nil
}

// post handles one POST: a message or a batch.
func (p *Proxy) post(w http.ResponseWriter, r *http.Request, ex *exchange) {
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		p.refuse(w, r, ex, http.StatusUnsupportedMediaType, rpcErrorf(CodeInvalidRequest, "Content-Type must be application/json"))
		return
	}
	hdrMethod, err1 := singleHeader(r.Header, headerMethod)
	hdrName, err2 := singleHeader(r.Header, headerName)
	sid, err3 := singleHeader(r.Header, headerSession)
	_, err4 := singleHeader(r.Header, headerVersion)
	if err := errors.Join(err1, err2, err3, err4); err != nil {
		p.refuse(w, r, ex, http.StatusBadRequest, &RPCError{Code: CodeInvalidRequest, Message: "malformed MCP headers", Err: err})
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, int64(p.limits.MaxMessageBytes)))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			p.refuse(w, r, ex, http.StatusRequestEntityTooLarge, rpcErrorf(CodeInvalidRequest, "the message is larger than %d bytes", p.limits.MaxMessageBytes))
			return
		}
		p.refuse(w, r, ex, http.StatusBadRequest, &RPCError{Code: CodeParseError, Message: "the body could not be read", Err: err})
		return
	}
	msgs, batch, err := Parse(body, p.limits)
	if err != nil {
		var re *RPCError
		if !errors.As(err, &re) {
			re = &RPCError{Code: CodeInvalidRequest, Message: "invalid message", Err: err}
		}
		p.refuse(w, r, ex, http.StatusBadRequest, re)
		return
	}
	// The routing headers must agree with the body; the body is what is
	// judged and forwarded, the headers never route.
	if hdrMethod != "" && (batch || hdrMethod != msgs[0].Method) {
		p.refuse(w, r, ex, http.StatusBadRequest, rpcErrorf(CodeInvalidRequest, "the Mcp-Method header does not match the message's method"))
		return
	}
	if sid != "" && !p.sessions.check(ex.srv.name, sid, ex.pkey) {
		// Unknown, expired or another principal's: 404 tells a client to
		// start a new session.
		p.refuse(w, r, ex, http.StatusNotFound, rpcErrorf(CodeInvalidRequest, "no such session for this caller"))
		return
	}

	calls := make([]*call, len(msgs))
	for i := range msgs {
		calls[i] = p.judge(r.Context(), ex, &msgs[i])
	}
	if !batch && hdrName != "" && calls[0].name != "" && hdrName != calls[0].name {
		p.refuse(w, r, ex, http.StatusBadRequest, rpcErrorf(CodeInvalidRequest, "the Mcp-Name header does not match the message"))
		return
	}
	for _, c := range calls {
		p.guardArguments(r.Context(), ex, c)
		if !p.appendRecord(r.Context(), ex, c.decisionRecord(p, ex)) && c.err == nil {
			c.err = rpcErrorf(CodeUnavailable, "the audit log is unavailable")
			c.unrecorded = true
		}
		if c.err != nil {
			ex.srv.denied.Add(1)
		} else {
			ex.srv.allowed.Add(1)
		}
	}
	if !batch {
		c := calls[0]
		if c.err != nil {
			status := http.StatusOK
			if c.msg.ID == nil {
				status = http.StatusForbidden
			}
			writeRPC(w, status, errorMessage(c.msg.ID, c.err, c.decision.ID, ex.id))
			return
		}
		p.forward(w, r, ex, c, sid)
		return
	}
	p.forwardBatch(w, r, ex, calls, sid)
}

// call is one judged message.
type call struct {
	msg      *Message
	action   string
	resource policy.Resource
	name     string // tool or prompt name, resource URI
	ctx      map[string]any
	args     []byte // canonical arguments, nil without
	decision policy.Decision
	decided  bool
	err      *RPCError // the answer when the message does not go on
	// unrecorded: the log refused the decision record.
	unrecorded bool
	body       []byte // the message as forwarded (arguments redacted)
	redacted   bool
	reqGuards  []audit.Guard
	scanner    *guard.Scanner // results; nil: none apply
	done       bool
}

// lifecycle reports whether method goes through without a policy
// question: it carries no tool, resource or prompt (initialize, discovery,
// keep-alive, the client's own notifications). Everything not listed here
// or judged by judge is denied.
func lifecycle(method string) bool {
	switch method {
	case "initialize", "ping", "server/discover", "subscriptions/listen", "logging/setLevel",
		"notifications/initialized", "notifications/cancelled", "notifications/progress",
		"notifications/roots/list_changed", "notifications/elicitation/complete":
		return true
	}
	return false
}

// listKey is the member of a list method's result that is filtered to what
// the caller may use; "" for other methods.
func listKey(method string) string {
	switch method {
	case "tools/list":
		return "tools"
	case "resources/list":
		return "resources"
	case "prompts/list":
		return "prompts"
	}
	return ""
}

// judge decides one message.
func (p *Proxy) judge(ctx context.Context, ex *exchange, m *Message) *call {
	c := &call{msg: m, body: m.Raw}
	switch {
	case m.IsResponse():
		// The client answering the server's own request (sampling,
		// elicitation, roots): it goes back to who asked.
		return c
	case lifecycle(m.Method), m.Method == "resources/templates/list", listKey(m.Method) != "":
		return c
	}
	var params map[string]json.RawMessage
	if m.Params != nil {
		if err := json.Unmarshal(m.Params, &params); err != nil {
			c.err = &RPCError{Code: CodeInvalidParams, Message: "params must be an object", Err: err}
			return c
		}
	}
	str := func(key string) (string, *RPCError) {
		v, ok := params[key]
		var s string
		if !ok || len(v) == 0 || v[0] != '"' || json.Unmarshal(v, &s) != nil {
			return "", rpcErrorf(CodeInvalidParams, "params.%s must be a string", key)
		}
		return s, nil
	}
	pc := p.policyContext(ex)
	s := ex.srv
	switch m.Method {
	case "tools/call", "prompts/get":
		name, err := str("name")
		if err != nil {
			c.err = err
			return c
		}
		if nerr := checkName(name); nerr != nil {
			c.err = &RPCError{Code: CodeInvalidParams, Message: "invalid name: " + nerr.Error(), Err: nerr}
			return c
		}
		c.name = name
		args, aerr := decodeArguments(params["arguments"])
		if aerr != nil {
			c.err = &RPCError{Code: CodeInvalidParams, Message: "params.arguments must be an object", Err: aerr}
			return c
		}
		if len(params["arguments"]) > 0 {
			if cj, err := canonicalJSON(args); err == nil {
				c.args = cj
			}
		}
		rec, cerr := cedarArguments(args)
		if cerr != nil {
			c.err = &RPCError{Code: CodeDenied, Message: "the arguments cannot be judged: " + cerr.Error(), Err: cerr}
			return c
		}
		pc["arguments"] = rec
		if m.Method == "tools/call" {
			attrs := map[string]any{"server": s.name}
			h := s.hints.get(name)
			if h.readOnly != nil {
				attrs["read_only_hint"] = *h.readOnly
			}
			if h.destructive != nil {
				attrs["destructive_hint"] = *h.destructive
			}
			c.action, c.resource = ActionToolCall, policy.Resource{Type: TypeTool, ID: s.name + "/" + name, Attributes: attrs}
		} else {
			c.action, c.resource = ActionPromptGet, policy.Resource{Type: TypePrompt, ID: s.name + "/" + name}
		}
	case "resources/read", "resources/subscribe", "resources/unsubscribe":
		uri, err := str("uri")
		if err != nil {
			c.err = err
			return c
		}
		if uerr := checkURI(uri); uerr != nil {
			c.err = &RPCError{Code: CodeInvalidParams, Message: "invalid resource URI: " + uerr.Error(), Err: uerr}
			return c
		}
		c.name = uri
		c.action, c.resource = ActionResourceRead, policy.Resource{Type: TypeResource, ID: s.name + "/" + uri}
	default:
		c.err = rpcErrorf(CodeMethodNotFound, "method %q is not allowed through Warden", truncate(m.Method, 64))
		return c
	}
	c.ctx = pc
	c.decision = p.engine.Decide(ctx, policy.Request{Principal: ex.principal, Action: c.action, Resource: c.resource, Context: pc})
	c.decided = true
	if !c.decision.Allowed {
		msg := "access denied by policy"
		for _, rs := range c.decision.Reasons {
			if rs.Effect == "forbid" && rs.Reason != "" {
				msg = rs.Reason
				break
			}
		}
		c.err = &RPCError{Code: CodeDenied, Message: msg}
	}
	return c
}

// policyContext is what every decision knows: ip and env.
func (p *Proxy) policyContext(ex *exchange) map[string]any {
	pc := make(map[string]any, 3)
	if ex.clientIP.IsValid() {
		pc["ip"] = ex.clientIP
	}
	if p.env != "" {
		pc["env"] = p.env
	}
	return pc
}

// applies asks which guard classes apply to res for the caller.
func (p *Proxy) applies(ctx context.Context, ex *exchange, res policy.Resource, pc map[string]any) guard.Apply {
	ds := p.engine.DecideEach(ctx, policy.Request{Principal: ex.principal, Resource: res, Context: pc}, gateway.ActionPIIView, gateway.ActionSecretRead)
	return guard.Apply{PII: !ds[0].Allowed, Secret: !ds[1].Allowed}
}

// strictScanner applies every guard (messages not tied to a judged call).
func (p *Proxy) strictScanner() *guard.Scanner {
	if p.guard == nil {
		return nil
	}
	if sc := p.guard.Scanner(guard.Apply{PII: true, Secret: true}); sc.Active() {
		return sc
	}
	return nil
}

// guardArguments redacts (or blocks) a judged call's arguments and picks the
// scanner of its result.
func (p *Proxy) guardArguments(ctx context.Context, ex *exchange, c *call) {
	if c.err != nil || p.guard == nil {
		return
	}
	if !c.decided {
		c.scanner = p.strictScanner()
		return
	}
	sc := p.guard.Scanner(p.applies(ctx, ex, c.resource, c.ctx))
	if !sc.Active() {
		return
	}
	c.scanner = sc
	if c.msg.Method != "tools/call" && c.msg.Method != "prompts/get" {
		return
	}
	red, hits, err := sc.RedactJSON(c.msg.Raw, p.argPaths)
	c.reqGuards = gateway.AppendGuards(nil, "request", hits, err)
	switch {
	case err != nil:
		var be *guard.BlockedError
		if errors.As(err, &be) {
			c.err = &RPCError{Code: CodeBlocked, Message: "blocked by a guard: " + string(be.Detector), Err: err}
		} else {
			c.err = &RPCError{Code: CodeInvalidParams, Message: "the arguments could not be inspected", Err: err}
		}
	case hits.Total() > 0:
		c.body, c.redacted = red, true
	}
}

// decisionRecord is the audit record of a judged message.
func (c *call) decisionRecord(p *Proxy, ex *exchange) audit.Record {
	rec := p.record(ex)
	rec.MCP.Method = c.msg.Method
	rec.MCP.Name = c.name
	if c.args != nil {
		rec.MCP.ArgumentsDigest = digest(c.args)
		if ex.srv.auditArguments {
			rec.MCP.Arguments = string(c.args)
		}
	}
	rec.Action = c.action
	if c.decided {
		rec.ResourceType, rec.ResourceID = c.resource.Type, c.resource.ID
		d := &c.decision
		rec.DecisionID = d.ID
		rec.BundleRevision, rec.BundleDigest = d.Revision, d.Digest
		rec.Errors = append(rec.Errors, d.Errors...)
		for _, rs := range d.Reasons {
			rec.Policies = append(rec.Policies, rs.PolicyID)
			rec.Reasons = append(rec.Reasons, rs.Reason)
		}
	}
	p.stamp(&rec)
	rec.Guards = c.reqGuards
	rec.Decision = audit.Allow
	if c.err != nil {
		rec.Decision = audit.Deny
		rec.ErrorCode = strconv.Itoa(c.err.Code)
		rec.MCP.RPCError = c.err.Code
		if !c.decided || c.err.Err != nil {
			rec.Errors = append(rec.Errors, c.err.Error())
		}
	}
	rec.Latency = p.now().Sub(ex.start)
	return rec
}

// resultRecord is the audit record of the upstream's answer to c.
func (c *call) resultRecord(p *Proxy, ex *exchange, status int, resp *Message, guards []audit.Guard, cause error) audit.Record {
	rec := p.record(ex)
	rec.Phase = audit.PhaseResult
	rec.MCP.Method, rec.MCP.Name = c.msg.Method, c.name
	if c.args != nil {
		rec.MCP.ArgumentsDigest = digest(c.args)
	}
	rec.Action = c.action
	if c.decided {
		rec.ResourceType, rec.ResourceID = c.resource.Type, c.resource.ID
		rec.DecisionID = c.decision.ID
		rec.BundleRevision, rec.BundleDigest = c.decision.Revision, c.decision.Digest
	}
	p.stamp(&rec)
	rec.Decision = audit.Allow
	rec.UpstreamStatus = status
	rec.Guards = guards
	if resp != nil {
		if resp.Error != nil {
			var e struct {
				Code int `json:"code"`
			}
			_ = json.Unmarshal(resp.Error, &e)
			rec.MCP.RPCError = e.Code
		} else if c.msg.Method == "tools/call" {
			var r struct {
				IsError bool `json:"isError"`
			}
			_ = json.Unmarshal(resp.Result, &r)
			rec.MCP.ToolError = r.IsError
		}
	}
	if cause != nil {
		rec.ErrorCode = "aborted"
		var re *RPCError
		if errors.As(cause, &re) {
			rec.ErrorCode = strconv.Itoa(re.Code)
			rec.MCP.RPCError = re.Code
		}
		rec.Errors = append(rec.Errors, cause.Error())
	}
	rec.Latency = p.now().Sub(ex.start)
	return rec
}
