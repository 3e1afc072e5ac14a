package enforce

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"

	"github.com/wardenhq/warden/internal/audit"
	"github.com/wardenhq/warden/internal/authn"
	"github.com/wardenhq/warden/internal/gateway"
	"github.com/wardenhq/warden/internal/policy"
)

// Route maps requests to the action and resource they are judged on, as the
// gateway's tool routes do.
type Route struct {
	// Name identifies the route in decision records. Unique.
	Name string
	// Methods the route accepts, e.g. {"GET"}. Required.
	Methods []string
	// Pattern is the path: literal segments, {param} for one segment,
	// {param...} as the last segment for the rest, e.g. "/traces/{id}".
	// The handler reads the parameters with r.PathValue.
	Pattern string
	// Action is the Cedar action, e.g. "trace:read". Required.
	Action string
	// Resource names the request's resource.
	Resource ResourceTemplate
}

// ResourceTemplate says where a request's resource comes from. ID and each
// attribute are a template: "{param}" (a path parameter), "query:name",
// "header:X-Name", or a literal. Values from the request are bounded,
// valid UTF-8 and free of control characters; a missing id is a 400.
type ResourceTemplate struct {
	// Type is the Cedar entity type, e.g. "Trace". Required.
	Type string
	// ID is the template of the entity id. Required.
	ID string
	// Attributes maps attribute names to templates. A missing value is left
	// out, so a policy can test it with "has".
	Attributes map[string]string
}

// routeUpstream is the upstream name the router requires of a route; the
// middleware's "upstream" is the wrapped handler.
const routeUpstream = "handler"

// Middleware compiles routes and returns net/http middleware that, for every
// request: gives it a request id (X-Request-Id), verifies the bearer token
// (401 with a WWW-Authenticate challenge), matches the route (404 when none
// does), resolves the resource (400 when the request does not name it
// properly), decides the route's action with the active bundle (403 with the
// deciding policy's reason and the decision id), confirms a high-risk allow
// with Warden (403 when it cannot be confirmed), appends the decision record
// (503 when the log refuses it, unless Audit.FailOpen), and only then calls
// the next handler, with the principal in the request's context (see
// PrincipalFrom) and the pattern's parameters in r.PathValue.
//
// The answers are the gateway's, byte for byte: a client cannot tell the
// two enforcement points apart. Routes are compiled once; an error lists
// every problem.
func (e *Enforcer) Middleware(routes []Route) (func(http.Handler) http.Handler, error) {
	specs := make([]gateway.RouteSpec, len(routes))
	for i, rt := range routes {
		specs[i] = gateway.RouteSpec{
			Name: rt.Name, Kind: gateway.KindTool, Methods: rt.Methods, Path: rt.Pattern, Action: rt.Action,
			Resource: gateway.ResourceSpec{Type: rt.Resource.Type, ID: rt.Resource.ID, Attributes: rt.Resource.Attributes},
			Upstream: routeUpstream,
		}
	}
	router, err := gateway.NewRouter(specs)
	if err != nil {
		return nil, fmt.Errorf("enforce: routes: %w", err)
	}
	return func(next http.Handler) http.Handler {
		return &middleware{e: e, router: router, next: next}
	}, nil
}

type middleware struct {
	e      *Enforcer
	router *gateway.Router
	next   http.Handler
}

// request is what the middleware knows about a request it let through, for
// PrincipalFrom and Decide.
type request struct {
	principal *authn.Principal
	token     string
	id        string
	method    string
	path      string
	route     string
	clientIP  string
	ip        netip.Addr
}

type requestKey struct{}

func requestFrom(ctx context.Context) *request {
	r, _ := ctx.Value(requestKey{}).(*request)
	return r
}

func (m *middleware) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	e := m.e
	start := e.now()
	id := audit.NewRequestID(start)
	rec := audit.Record{Time: start, RequestID: id, Phase: audit.PhaseDecision, Method: r.Method, Path: r.URL.EscapedPath()}
	w.Header().Set("X-Request-Id", id)
	st := &request{id: id, method: rec.Method, path: rec.Path}
	ip, err := gateway.ClientAddr(r, e.trusted)
	if err != nil {
		if ap, perr := netip.ParseAddrPort(r.RemoteAddr); perr == nil {
			rec.ClientIP = ap.Addr().Unmap().String() // the peer that sent them
		}
		e.refuse(w, r, &rec, &gateway.Error{Status: http.StatusBadRequest, Code: gateway.CodeInvalidRequest, Message: "malformed forwarding headers", Err: err})
		return
	}
	st.ip = ip
	st.clientIP = ip.String()
	rec.ClientIP = st.clientIP

	p, challenge, aerr := gateway.Authenticate(r.Context(), e.verifier, r, e.maxToken)
	if aerr != nil {
		w.Header().Set("WWW-Authenticate", challenge)
		e.refuse(w, r, &rec, aerr)
		return
	}
	// The token verified, so the header holds exactly one bearer token;
	// introspection of a high-risk allow needs it.
	st.principal = p
	st.token, _ = gateway.BearerToken(r)
	gateway.RecordPrincipal(&rec, st.principal)

	match, ok := m.router.Match(r.Method, rec.Path)
	if !ok {
		e.refuse(w, r, &rec, &gateway.Error{Status: http.StatusNotFound, Code: gateway.CodeNotFound, Message: "no route for this path"})
		return
	}
	st.route, rec.Route, rec.Action = match.Route.Name, match.Route.Name, match.Action
	res, err := match.Resource(r)
	if err != nil {
		e.refuse(w, r, &rec, err)
		return
	}
	rec.ResourceType, rec.ResourceID = res.Type, res.ID
	if _, refusal := e.judge(r.Context(), st, match.Action, res, nil, &rec); refusal != nil {
		e.refuse(w, r, &rec, refusal)
		return
	}
	rec.Decision = audit.Allow
	rec.Latency = e.now().Sub(start)
	if !e.record(r.Context(), &rec) {
		rec.Decision = audit.Deny
		gateway.WriteError(w, r, id, &gateway.Error{Status: http.StatusServiceUnavailable, Code: gateway.CodeUnavailable, Message: "the audit log is unavailable"})
		return
	}
	r = r.WithContext(context.WithValue(r.Context(), requestKey{}, st))
	for _, p := range match.Params() {
		r.SetPathValue(p.Name, p.Value)
	}
	m.next.ServeHTTP(w, r)
}

// highRiskMessage is the public message of a high-risk allow that could not
// be confirmed with Warden.
const highRiskMessage = "this action needs the token confirmed by its issuer, which failed"

// judge decides action on res for the request st, confirms a high-risk
// allow, and fills rec's decision fields. It returns the refusal to answer,
// or nil for an allow.
func (e *Enforcer) judge(ctx context.Context, st *request, action string, res policy.Resource, extra map[string]any, rec *audit.Record) (policy.Decision, error) {
	pctx := make(map[string]any, 2+len(extra))
	for k, v := range extra {
		pctx[k] = v
	}
	// ip and env are facts of the Enforcer, never of the caller.
	delete(pctx, "ip")
	delete(pctx, "env")
	if st.ip.IsValid() {
		pctx["ip"] = st.ip
	}
	if e.env != "" {
		pctx["env"] = e.env
	}
	d := e.engine.Decide(ctx, policy.Request{Principal: st.principal, Action: action, Resource: res, Context: pctx})
	gateway.RecordDecision(rec, &d)
	if !d.Allowed {
		return d, gateway.Denied(&d)
	}
	if d.HighRisk {
		if err := e.introspect.confirm(ctx, st.token, st.principal); err != nil {
			d.Allowed = false
			d.Errors = append(d.Errors, "high-risk action not confirmed: "+err.Error())
			e.log.LogAttrs(ctx, slog.LevelInfo, "high-risk action refused",
				slog.String("request_id", st.id), slog.String("decision_id", d.ID), slog.Any("error", err))
			return d, &gateway.Error{Status: http.StatusForbidden, Code: gateway.CodeForbidden, Message: highRiskMessage, DecisionID: d.ID, Err: err}
		}
	}
	return d, nil
}

// refuse records the request as denied and answers err, as the gateway
// does: the cause goes to the record, the public side to the client.
func (e *Enforcer) refuse(w http.ResponseWriter, r *http.Request, rec *audit.Record, err error) {
	rec.Decision = audit.Deny
	rec.ErrorCode = gateway.ErrorCode(err)
	var ge *gateway.Error
	if !errors.As(err, &ge) || ge.Err != nil || rec.ErrorCode == gateway.CodeInvalidRequest || rec.ErrorCode == gateway.CodeTooLarge {
		rec.Errors = append(rec.Errors, err.Error())
	}
	rec.Latency = e.now().Sub(rec.Time)
	// The answer is a refusal whether or not the log takes the record.
	e.record(context.WithoutCancel(r.Context()), rec)
	gateway.WriteError(w, r, rec.RequestID, err)
}
