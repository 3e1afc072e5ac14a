package enforce

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/wardenhq/warden/internal/audit"
	"github.com/wardenhq/warden/internal/gateway"
	"github.com/wardenhq/warden/internal/policy"
)

// Resource is the entity a decision is about, with the attributes the
// policies read.
type Resource struct {
	// Type is the Cedar entity type, e.g. "Record".
	Type string
	// ID is the entity id.
	ID string
	// Attributes: strings, booleans, integers, string slices and nested
	// maps, as the schema declares them.
	Attributes map[string]any
}

// Decision is the answer to Decide. The zero value is a deny.
type Decision struct {
	// Allowed is the answer. Act on nothing else.
	Allowed bool
	// ID identifies the decision in the decision log.
	ID string
	// Policies are the ids of the policies that determined the decision
	// (the forbids of a deny, the permits of an allow), Reasons their
	// @reason annotations.
	Policies []string
	Reasons  []string
	// HighRisk is set when a determining permit is annotated
	// @risk("high"); such an allow was confirmed with Warden.
	HighRisk bool
	// Errors is everything that went wrong on the way (each one a deny),
	// for the service's logs; never show it to the caller.
	Errors []string
	// BundleRevision and BundleDigest identify the bundle that decided.
	BundleRevision string
	BundleDigest   string
}

// errNoPrincipal is the error of a Decide without a verified principal.
var errNoPrincipal = errors.New("no verified principal in the request context (the request did not pass the enforce middleware)")

// Decide judges one more action within a request the middleware let
// through: the principal, the client address and the request id come from
// ctx (a handler passes r.Context()); facts adds request facts (the Cedar context) for the
// policies (ip and env are the Enforcer's and cannot be overridden). A
// context without a principal is a deny. A high-risk allow is confirmed with
// Warden as in the middleware. Every Decide is one decision record with the
// request's id; a record the log refuses is a deny unless Audit.FailOpen.
func (e *Enforcer) Decide(ctx context.Context, action string, resource Resource, facts map[string]any) Decision {
	start := e.now()
	st := requestFrom(ctx)
	rec := audit.Record{Time: start, Phase: audit.PhaseDecision, Action: action, ResourceType: resource.Type, ResourceID: resource.ID}
	res := policy.Resource{Type: resource.Type, ID: resource.ID, Attributes: resource.Attributes}
	var d policy.Decision
	if st == nil {
		rec.RequestID = audit.NewRequestID(start)
		d = policy.Decision{Errors: []string{errNoPrincipal.Error()}}
		rec.Errors = d.Errors
	} else {
		rec.RequestID, rec.Method, rec.Path, rec.Route, rec.ClientIP = st.id, st.method, st.path, st.route, st.clientIP
		gateway.RecordPrincipal(&rec, st.principal)
		var err error
		if d, err = e.judge(ctx, st, action, res, facts, &rec); err != nil && d.HighRisk {
			// An unconfirmed high-risk allow: judge recorded the decision
			// before the confirmation failed, so the cause goes here.
			rec.Errors = append(rec.Errors, err.Error())
		}
	}
	rec.Decision = audit.Deny
	if d.Allowed {
		rec.Decision = audit.Allow
	}
	rec.Latency = e.now().Sub(start)
	if !e.record(ctx, &rec) && d.Allowed {
		d.Allowed = false
		d.Errors = append(d.Errors, "the decision log refused the record")
	}
	return publicDecision(&d)
}

func publicDecision(d *policy.Decision) Decision {
	out := Decision{
		Allowed: d.Allowed, ID: d.ID, HighRisk: d.HighRisk, Errors: d.Errors,
		BundleRevision: d.Revision, BundleDigest: d.Digest,
	}
	for _, r := range d.Reasons {
		out.Policies = append(out.Policies, r.PolicyID)
		out.Reasons = append(out.Reasons, r.Reason)
	}
	return out
}

// record appends rec to the decision log. It reports whether the request
// may go on: false when the log refused the record and the Enforcer fails
// closed.
func (e *Enforcer) record(ctx context.Context, rec *audit.Record) bool {
	if e.audit == nil {
		return true
	}
	err := e.audit.Append(ctx, *rec)
	if err == nil {
		return true
	}
	e.log.LogAttrs(ctx, slog.LevelWarn, "decision record not stored",
		slog.String("request_id", rec.RequestID), slog.Bool("fail_open", e.failOpen), slog.Any("error", err))
	return e.failOpen
}

// Principal is the verified identity behind a request, as the issuer's
// signed token asserts it.
type Principal struct {
	Issuer   string
	Subject  string
	ClientID string
	// TokenID is the token's "jti".
	TokenID string
	Roles   []string
	Scopes  []string
	Groups  []string
	Team    string
	Tenant  string
	Env     string
	// Attributes are the claims the issuer's ClaimMapping maps by name.
	Attributes map[string]any
	// Actors is the delegation chain ("act" claim), current actor first:
	// the agent acting for Subject. Empty when the token is not delegated.
	Actors []string
	Expiry time.Time
}

// PrincipalFrom returns the principal of a request the middleware let
// through (ctx is the request's context), and false for any other context.
// The slices and the Attributes map are copies; attribute values that are
// themselves JSON arrays or objects are shared, so do not modify them.
func PrincipalFrom(ctx context.Context) (Principal, bool) {
	st := requestFrom(ctx)
	if st == nil || st.principal == nil {
		return Principal{}, false
	}
	p := st.principal
	out := Principal{
		Issuer: p.Issuer, Subject: p.Subject, ClientID: p.ClientID, TokenID: p.TokenID,
		Roles: clone(p.Roles), Scopes: clone(p.Scopes), Groups: clone(p.Groups),
		Team: p.Team, Tenant: p.Tenant, Env: p.Env, Expiry: p.Expiry,
	}
	if p.Attributes != nil {
		out.Attributes = make(map[string]any, len(p.Attributes))
		for k, v := range p.Attributes {
			out.Attributes[k] = v
		}
	}
	for _, a := range p.Actor {
		out.Actors = append(out.Actors, a.Subject)
	}
	return out, true
}

func clone(s []string) []string { return append([]string(nil), s...) }
