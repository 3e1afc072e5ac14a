package policy

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/cedar-policy/cedar-go"
	"github.com/cedar-policy/cedar-go/types"

	"github.com/wardenhq/warden/internal/identity"
)

// maxAuthTimeSkew is how far in the future a token's auth_time may be and
// still count as "just now" (clock skew between issuer and node).
const maxAuthTimeSkew = time.Minute

// Context keys the engine fills in. A caller may set "time" and "auth_age"
// itself (the engine then leaves them alone); "on_behalf_of" is the engine's
// alone, and a request that sets it is denied.
const (
	ContextTime       = "time"         // datetime: the engine clock at decision time
	ContextAuthAge    = "auth_age"     // Long: seconds since the token's auth_time (absent without one, or with one in the future)
	ContextOnBehalfOf = "on_behalf_of" // User entity: the user a delegated agent acts for
)

// Request is one question to the engine: may Principal perform Action on
// Resource, given Context?
type Request struct {
	// Principal is the verified caller. A delegated principal (Actor set) is
	// evaluated as its agent and as its user; see Engine.Decide.
	Principal *identity.Principal
	// Action is the action id ("trace:read" → Action::"trace:read"), or a full
	// Cedar UID (`Ns::Action::"trace:read"`) when the id is ambiguous.
	Action string
	// Resource is the object of the action.
	Resource Resource
	// Context holds request facts (env, max_tokens, stream, ip, ...). Values
	// are converted to Cedar: string, bool, integers and integral floats
	// (Long), slices (Set), maps (Record; {"__entity": {type, id}} and
	// {"__extn": {fn, arg}} as in Cedar's JSON), time.Time (datetime),
	// time.Duration (duration), netip.Addr and netip.Prefix (ipaddr), and
	// Cedar values as they are. Anything else, a fractional number or nil
	// denies the request. The engine adds time and auth_age (see the
	// Context* constants).
	Context map[string]any
}

// Resource names the object of an action. Attributes override those of the
// static entity with the same type and id in entities.json, if any.
type Resource struct {
	Type       string
	ID         string
	Attributes map[string]any
}

// UID returns the Cedar entity UID text of the resource, e.g. Model::"gpt-4o".
func (r Resource) UID() string {
	return uidText(types.NewEntityUID(types.EntityType(r.Type), types.String(r.ID)))
}

// uidText is EntityUID.String without its cost for the common case: cedar-go
// escapes rune by rune with an allocation each, which showed up as a fifth
// of a decision's allocations.
func uidText(uid types.EntityUID) string {
	for i := 0; i < len(uid.ID); i++ {
		if c := uid.ID[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' {
			return uid.String()
		}
	}
	return string(uid.Type) + `::"` + string(uid.ID) + `"`
}

// Reason is one policy that determined a decision.
type Reason struct {
	PolicyID string `json:"policy"`
	Effect   string `json:"effect"` // "permit" or "forbid"
	Reason   string `json:"reason,omitempty"`
	Risk     string `json:"risk,omitempty"` // the policy's @risk annotation
	File     string `json:"file,omitempty"`
	Line     int    `json:"line,omitempty"`
}

// Evaluation is one pass of the policies over a request with a given
// principal. A delegated request has two.
type Evaluation struct {
	// Principal is the Cedar UID of the principal of this pass.
	Principal string `json:"principal"`
	Allowed   bool   `json:"allowed"`
	// Reasons are the forbids that denied, or else the permits that allowed
	// (or, for a pass denied by an error, the policies Cedar matched).
	Reasons []Reason `json:"reasons,omitempty"`
	Errors  []string `json:"errors,omitempty"`
}

// Decision is the engine's answer. The zero value is a deny.
type Decision struct {
	// ID identifies the decision in the audit trail (random).
	ID      string `json:"id"`
	Allowed bool   `json:"allowed"`
	// Reasons are the policies that determined the decision: the forbids
	// that denied it, or the permits that allowed it (for a delegated request,
	// those of both passes). Empty for a default deny.
	Reasons []Reason `json:"reasons,omitempty"`
	// Errors are everything that went wrong on the way; any error is a deny.
	Errors []string `json:"errors,omitempty"`
	// Revision and Digest identify the bundle that decided.
	Revision string `json:"revision,omitempty"`
	Digest   string `json:"digest,omitempty"`
	// HighRisk is set on an allow when one of the permits that determined
	// it (Reasons) is annotated @risk("high"). Never set on a deny.
	HighRisk bool `json:"high_risk,omitempty"`
	// Principal, OnBehalfOf, Action and Resource are the Cedar UIDs that were
	// evaluated; OnBehalfOf is set for a delegated request.
	Principal  string `json:"principal,omitempty"`
	OnBehalfOf string `json:"on_behalf_of,omitempty"`
	Action     string `json:"action,omitempty"`
	Resource   string `json:"resource,omitempty"`
	// Evaluations are the passes: one, or two for a delegated request (the
	// agent first, then the user).
	Evaluations []Evaluation `json:"evaluations,omitempty"`
}

// PolicyIDs returns the ids of Reasons.
func (d *Decision) PolicyIDs() []string {
	ids := make([]string, len(d.Reasons))
	for i, r := range d.Reasons {
		ids[i] = r.PolicyID
	}
	return ids
}

func (d *Decision) deny(err error) {
	d.Allowed = false
	d.Errors = append(d.Errors, err.Error())
}

// ErrNoBundle is the error of every decision taken before a bundle loaded.
var ErrNoBundle = errors.New("no policy bundle loaded")

// errReservedContext is returned for a request that sets on_behalf_of.
var errReservedContext = errors.New(`context key "on_behalf_of" is reserved: delegation comes from the token's "act" claim`)

// decide evaluates req against the compiled bundle at time now. It never
// fails: every error becomes a deny recorded in the Decision.
func (c *Compiled) decide(req Request, now time.Time) Decision {
	var out [1]Decision
	c.decideEach(out[:0], req, []string{req.Action}, now)
	return out[0]
}

// decideEach appends to dst one decision per action: req with its Action
// replaced by each of actions in turn. The principal, resource and context
// are mapped once and shared by every action (they do not depend on it), so
// asking several questions of one request costs one mapping.
func (c *Compiled) decideEach(dst []Decision, req Request, actions []string, now time.Time) []Decision {
	resource := types.NewEntityUID(types.EntityType(req.Resource.Type), types.String(req.Resource.ID))
	resText := uidText(resource)
	// Principal(s) first, so that even an early deny names who asked.
	p := req.Principal
	var principal, user subject
	var perr error
	switch {
	case p == nil:
		perr = errors.New("no principal")
	case p.Delegated():
		if principal, perr = c.agentEntity(p); perr == nil {
			user, perr = c.userEntity(p)
		}
	default:
		principal, perr = c.principalEntity(p)
	}
	// The resource entity and the context are built on first use, in the
	// order the checks have always run.
	var (
		resEntity types.Entity
		base      types.RecordMap
		shared    error
		built     bool
	)
	for _, action := range actions {
		d := Decision{Revision: c.meta.Revision, Digest: c.meta.Digest, Resource: resText}
		if !principal.UID.IsZero() {
			d.Principal = uidText(principal.UID)
		}
		if !user.UID.IsZero() {
			d.OnBehalfOf = uidText(user.UID)
		}
		if perr != nil {
			d.Action = action
			d.deny(perr)
			dst = append(dst, d)
			continue
		}
		act, ok := c.actions[action]
		if !ok {
			d.Action = action
			d.deny(fmt.Errorf("unknown action %q: not in the schema (or not requestable)", action))
			dst = append(dst, d)
			continue
		}
		d.Action = act.text
		if !slices.Contains(act.resources, resource.Type) {
			d.deny(fmt.Errorf("resource type %q is not valid for %s", req.Resource.Type, d.Action))
			dst = append(dst, d)
			continue
		}
		if !built {
			built = true
			var err error
			if resEntity, err = c.resourceEntity(resource, req.Resource.Attributes); err != nil {
				shared = fmt.Errorf("resource attributes: %w", err)
			} else if base, err = c.baseContext(req.Context, p, now); err != nil {
				shared = fmt.Errorf("context: %w", err)
			}
		}
		if shared != nil {
			d.deny(shared)
			dst = append(dst, d)
			continue
		}
		c.judge(&d, act, p, principal, user, resEntity, base)
		d.HighRisk = d.Allowed && slices.ContainsFunc(d.Reasons, func(r Reason) bool { return r.Risk == RiskHigh })
		dst = append(dst, d)
	}
	return dst
}

// judge runs the evaluation pass(es) of one action into d.
func (c *Compiled) judge(d *Decision, act *actionIndex, p *identity.Principal, principal, user subject, resEntity types.Entity, base types.RecordMap) {
	if !p.Delegated() {
		ev := c.evaluate(act, principal, resEntity, types.NewRecord(base), types.Entity{}, d.Principal)
		d.Evaluations = []Evaluation{ev}
		d.Allowed = ev.Allowed
		d.Errors = ev.Errors
		d.Reasons = ev.decisive()
		return
	}

	// Delegated: the agent with the user in context, then the user alone.
	withUser := make(types.RecordMap, len(base)+1)
	for k, v := range base {
		withUser[k] = v
	}
	withUser[ContextOnBehalfOf] = user.UID
	agentEval := c.evaluate(act, principal, resEntity, types.NewRecord(withUser), user.Entity, d.Principal)
	userEval := c.evaluate(act, user, resEntity, types.NewRecord(base), types.Entity{}, d.OnBehalfOf)
	d.Evaluations = []Evaluation{agentEval, userEval}
	d.Allowed = agentEval.Allowed && userEval.Allowed
	for _, ev := range d.Evaluations {
		for _, e := range ev.Errors {
			d.Errors = append(d.Errors, ev.Principal+": "+e)
		}
		if d.Allowed || !ev.Allowed {
			d.Reasons = appendReasons(d.Reasons, ev.decisive())
		}
	}
}

// decisive returns the reasons that decided this pass: for an allow, the
// permits; for a deny, the forbids (none for a default deny or an error).
func (ev *Evaluation) decisive() []Reason {
	var out []Reason
	for _, r := range ev.Reasons {
		if (r.Effect == "permit") == ev.Allowed {
			out = append(out, r)
		}
	}
	return out
}

func appendReasons(dst, src []Reason) []Reason {
	for _, r := range src {
		if !slices.ContainsFunc(dst, func(x Reason) bool { return x.PolicyID == r.PolicyID }) {
			dst = append(dst, r)
		}
	}
	return dst
}

// evaluate runs the policies of act with principal pe; extra is one more
// entity the request needs (the delegating user), or the zero Entity.
func (c *Compiled) evaluate(act *actionIndex, pe subject, re types.Entity, ctx types.Record, extra types.Entity, peText string) Evaluation {
	ev := Evaluation{Principal: peText}
	if !slices.Contains(act.principals, pe.UID.Type) {
		ev.Errors = []string{fmt.Sprintf("principal type %q is not valid for %s", pe.UID.Type, act.text)}
		return ev
	}
	ents := &requestEntities{static: c.entities, principal: pe.Entity, resource: re, extra: extra}
	dec, diag := cedar.Authorize(act.candidates(pe.UID, pe.ancestors), ents, cedar.Request{
		Principal: pe.UID,
		Action:    act.uid,
		Resource:  re.UID,
		Context:   ctx,
	})
	ev.Allowed = dec == cedar.Allow && len(diag.Errors) == 0
	for _, r := range diag.Reasons {
		ev.Reasons = append(ev.Reasons, c.byID[r.PolicyID].reason)
	}
	for _, e := range diag.Errors {
		ev.Errors = append(ev.Errors, fmt.Sprintf("policy %q (%s:%d): %s", e.PolicyID, e.Position.Filename, e.Position.Line, e.Message))
	}
	return ev
}

// subject is a mapped principal: its entity and every entity it is
// transitively in.
type subject struct {
	types.Entity
	ancestors []types.EntityUID
}

// requestEntities is the entity store of one evaluation: the request's own
// entities over the bundle's static ones, without copying the static map.
type requestEntities struct {
	static                     types.EntityMap
	principal, resource, extra types.Entity
}

func (r *requestEntities) Get(uid types.EntityUID) (types.Entity, bool) {
	switch uid {
	case r.principal.UID:
		return r.principal, true
	case r.resource.UID:
		return r.resource, true
	case r.extra.UID:
		if !r.extra.UID.IsZero() {
			return r.extra, true
		}
	}
	e, ok := r.static[uid]
	return e, ok
}

// resourceEntity is the static entity uid (if any) with attrs merged over its
// attributes.
func (c *Compiled) resourceEntity(uid types.EntityUID, attrs map[string]any) (types.Entity, error) {
	e, ok := c.entities[uid]
	if !ok {
		e = types.Entity{UID: uid}
	}
	if len(attrs) == 0 {
		return e, nil
	}
	rm, err := toRecordMap(attrs, 1)
	if err != nil {
		return types.Entity{}, err
	}
	for k, v := range e.Attributes.All() {
		if _, set := rm[k]; !set {
			rm[k] = v
		}
	}
	e.Attributes = types.NewRecord(rm)
	return e, nil
}

// baseContext converts the caller's context and adds time and auth_age.
func (c *Compiled) baseContext(in map[string]any, p *identity.Principal, now time.Time) (types.RecordMap, error) {
	if _, ok := in[ContextOnBehalfOf]; ok {
		return nil, errReservedContext
	}
	rm, err := toRecordMap(in, 1)
	if err != nil {
		return nil, err
	}
	if _, ok := rm[ContextTime]; !ok {
		rm[ContextTime] = types.NewDatetime(now)
	}
	if _, ok := rm[ContextAuthAge]; !ok && p != nil && !p.AuthTime.IsZero() {
		switch age := now.Sub(p.AuthTime); {
		case age >= 0:
			rm[ContextAuthAge] = types.Long(age / time.Second)
		case age >= -maxAuthTimeSkew:
			rm[ContextAuthAge] = types.Long(0) // our clock a little behind the issuer's
		default:
			// An auth_time in the future is no evidence of a recent
			// authentication: leave auth_age out, so policies that require
			// one deny.
		}
	}
	return rm, nil
}

// IsAgent reports whether a (non-delegated) principal is a machine client
// rather than a person: its sub is empty or equals its client_id (an OAuth
// client-credentials token). Such a principal is Agent::"<client_id>";
// everyone else is User::"<sub>".
func IsAgent(p *identity.Principal) bool {
	return p.Subject == "" || (p.ClientID != "" && p.Subject == p.ClientID)
}

// principalEntity maps a non-delegated principal.
func (c *Compiled) principalEntity(p *identity.Principal) (subject, error) {
	if IsAgent(p) {
		id := p.ClientID
		if id == "" {
			return subject{}, errors.New("principal has neither sub nor client_id")
		}
		return c.tokenEntity(types.NewEntityUID(AgentType, types.String(id)), p)
	}
	return c.userEntity(p)
}

// userEntity maps the person behind p: User::"<sub>" with the token's roles.
func (c *Compiled) userEntity(p *identity.Principal) (subject, error) {
	if p.Subject == "" {
		return subject{}, errors.New("delegated token without sub: no user to act for")
	}
	return c.tokenEntity(types.NewEntityUID(UserType, types.String(p.Subject)), p)
}

// agentEntity maps the current actor of a delegated token:
// Agent::"<client_id of the actor, else its sub>". The token's roles and
// groups are the user's, so the agent does not get them: its roles come from
// its static entity in entities.json. It gets the token's issuer and scopes
// (what was delegated), and team, tenant and env from the token where its
// static entity does not set them.
func (c *Compiled) agentEntity(p *identity.Principal) (subject, error) {
	a := p.Actor[0]
	id := a.ClientID
	if id == "" {
		id = a.Subject
	}
	if id == "" {
		return subject{}, errors.New(`delegated token: the actor ("act") has neither sub nor client_id`)
	}
	uid := types.NewEntityUID(AgentType, types.String(id))
	static := c.entities[uid]
	rm := make(types.RecordMap, 8)
	rm["roles"] = types.NewSet()
	rm["groups"] = types.NewSet()
	for _, kv := range [...]struct{ k, v string }{{"team", p.Team}, {"tenant", p.Tenant}, {"env", p.Env}} {
		if kv.v != "" {
			rm[types.String(kv.k)] = types.String(kv.v)
		}
	}
	for k, v := range static.Attributes.All() {
		rm[k] = v
	}
	if p.Issuer != "" {
		rm["iss"] = types.String(p.Issuer)
	}
	rm["scopes"] = stringSet(p.Scopes)
	parents, anc := c.parents(static, nil)
	return subject{Entity: types.Entity{UID: uid, Parents: parents, Attributes: types.NewRecord(rm)}, ancestors: anc}, nil
}

// standardAttrs are the attribute names the mapping sets from the token;
// mapped claims (Principal.Attributes) cannot override them.
var standardAttrs = [...]string{"iss", "roles", "scopes", "groups", "team", "tenant", "env"}

// tokenEntity builds a principal entity uid from p's claims, over the static
// entity uid (if any): attributes iss, roles, scopes, groups, team, tenant,
// env (the last three only when set) and the mapped Attributes; parents the
// static ones plus Role::"r" (and its ancestors) for every role r.
func (c *Compiled) tokenEntity(uid types.EntityUID, p *identity.Principal) (subject, error) {
	static := c.entities[uid]
	rm := make(types.RecordMap, 8+len(p.Attributes)+static.Attributes.Len())
	for k, v := range static.Attributes.All() {
		rm[k] = v
	}
	for k, v := range p.Attributes {
		if slices.Contains(standardAttrs[:], k) {
			continue
		}
		cv, err := toValue(v, 1)
		if err != nil {
			return subject{}, fmt.Errorf("principal attribute %s: %w", k, err)
		}
		rm[types.String(k)] = cv
	}
	if p.Issuer != "" {
		rm["iss"] = types.String(p.Issuer)
	}
	rm["roles"] = stringSet(p.Roles)
	rm["scopes"] = stringSet(p.Scopes)
	rm["groups"] = stringSet(p.Groups)
	for _, kv := range [...]struct{ k, v string }{{"team", p.Team}, {"tenant", p.Tenant}, {"env", p.Env}} {
		if kv.v != "" {
			rm[types.String(kv.k)] = types.String(kv.v)
		}
	}
	parents, anc := c.parents(static, p.Roles)
	return subject{Entity: types.Entity{UID: uid, Parents: parents, Attributes: types.NewRecord(rm)}, ancestors: anc}, nil
}

// parents returns static's parents plus, for each role, Role::"role" and its
// transitive Role ancestors (precomputed at compile time).
//
// It also returns every entity the principal is transitively in (for the
// policy filter of actionIndex.candidates).
func (c *Compiled) parents(static types.Entity, roles []string) (types.EntityUIDSet, []types.EntityUID) {
	staticAnc := c.ancestors[static.UID]
	n := static.Parents.Len()
	switch {
	case len(roles) == 0:
		return static.Parents, staticAnc
	case n == 0 && len(roles) == 1:
		if set, ok := c.roleSets[roles[0]]; ok {
			return set, c.roleParents[roles[0]] // precomputed, immutable
		}
	}
	list := make([]types.EntityUID, 0, n+2*len(roles))
	list = append(list, static.Parents.Slice()...)
	anc := slices.Clone(staticAnc)
	for _, r := range roles {
		if cl, ok := c.roleParents[r]; ok {
			list = append(list, cl...)
			anc = append(anc, cl...)
		} else {
			role := types.NewEntityUID(RoleType, types.String(r))
			list = append(list, role)
			anc = append(anc, role)
		}
	}
	// The static parents of a principal may themselves be roles with
	// ancestors; Cedar walks those at evaluation time.
	return types.NewEntityUIDSet(list...), anc
}

func stringSet(ss []string) types.Set {
	if len(ss) == 0 {
		return types.NewSet()
	}
	vals := make([]types.Value, len(ss))
	for i, s := range ss {
		vals[i] = types.String(s)
	}
	return types.NewSet(vals...)
}
