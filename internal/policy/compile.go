package policy

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"iter"
	"path"
	"slices"
	"strings"

	"github.com/cedar-policy/cedar-go"
	"github.com/cedar-policy/cedar-go/types"
	xast "github.com/cedar-policy/cedar-go/x/exp/ast"
	"github.com/cedar-policy/cedar-go/x/exp/schema"
	"github.com/cedar-policy/cedar-go/x/exp/schema/resolved"
	"github.com/cedar-policy/cedar-go/x/exp/schema/validate"
)

// Bundle layout: the files Compile reads from a bundle's file system.
const (
	PoliciesGlob = "policies/*.cedar"
	SchemaFile   = "schema.cedarschema"
	EntitiesFile = "entities.json"
	TestsGlob    = "tests/*.yaml"
)

// Entity types the principal mapping produces. A bundle's schema declares
// them (Agent only if machine clients are expected).
const (
	UserType   types.EntityType = "User"
	AgentType  types.EntityType = "Agent"
	RoleType   types.EntityType = "Role"
	ActionType types.EntityType = "Action"
)

// The @risk annotation of a permit policy. An allow that a policy annotated
// @risk("high") determined is a high-risk allow (Decision.HighRisk): an
// enforcement point that sees it confirms the token with its issuer before
// acting on it (see the enforce package). Any other value is a compile error;
// forbid policies cannot carry it.
const (
	RiskAnnotation = "risk"
	RiskHigh       = "high"
	RiskLow        = "low"
)

// maxProblems bounds the problems one CompileError lists.
const maxProblems = 50

// Meta identifies a bundle; it is stamped into every Decision.
type Meta struct {
	Revision string
	Digest   string
}

// Problem is one defect in a bundle, located by file and line (Line is 0
// when the defect has no line, e.g. a missing file).
type Problem struct {
	File    string
	Line    int
	Message string
}

func (p Problem) String() string {
	switch {
	case p.File == "":
		return p.Message
	case p.Line > 0:
		return fmt.Sprintf("%s:%d: %s", p.File, p.Line, p.Message)
	default:
		return fmt.Sprintf("%s: %s", p.File, p.Message)
	}
}

// CompileError lists every problem Compile found in a bundle, one per line.
type CompileError struct {
	Problems []Problem
}

func (e *CompileError) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// PolicyInfo describes one compiled policy.
type PolicyInfo struct {
	// ID is the @id annotation, or "<file>:<index>" (index from 0 within the
	// file) for a policy without one.
	ID string `json:"id"`
	// Effect is "permit" or "forbid".
	Effect string `json:"effect"`
	// Reason is the @reason annotation, "" if absent.
	Reason string `json:"reason,omitempty"`
	// Risk is the @risk annotation: RiskHigh, RiskLow, or "" if absent.
	Risk string `json:"risk,omitempty"`
	File string `json:"file"`
	Line int    `json:"line"`
	// Actions are the requestable actions the policy's action scope can
	// match, as sorted Cedar UIDs (`Action::"trace:read"`).
	Actions []string `json:"actions"`
}

type compiledPolicy struct {
	id     types.PolicyID
	policy *cedar.Policy
	info   PolicyInfo
	reason Reason
}

// policyList is the subset of a bundle's policies that can apply to one
// action; it is what cedar.Authorize iterates.
type policyList []*compiledPolicy

func (l policyList) All() iter.Seq2[cedar.PolicyID, *cedar.Policy] {
	return func(yield func(cedar.PolicyID, *cedar.Policy) bool) {
		for _, p := range l {
			if !yield(p.id, p.policy) {
				return
			}
		}
	}
}

// selection is the policies of an action whose principal scope can match
// the principal of a request, in file order.
type selection struct {
	list policyList
	sel  []bool
}

func (s selection) All() iter.Seq2[cedar.PolicyID, *cedar.Policy] {
	return func(yield func(cedar.PolicyID, *cedar.Policy) bool) {
		for i, p := range s.list {
			if s.sel[i] && !yield(p.id, p.policy) {
				return
			}
		}
	}
}

// principalScope is a policy's principal scope, for the request-time filter.
type principalScope struct {
	kind   byte // 'a'll, 'i's T, '='' E, 'n' in E, 'b'oth: is T in E
	typ    types.EntityType
	entity types.EntityUID
}

// actionIndex is everything Decide needs about one requestable action.
type actionIndex struct {
	uid        types.EntityUID
	text       string // uid.String()
	principals []types.EntityType
	resources  []types.EntityType
	// policies are those whose action scope can match, in file order.
	policies policyList
	// scopes[i] is the principal scope of policies[i]; unscoped lists the
	// policies with scope "principal" or "principal is T", byEntity the
	// others by the entity they name. indexed is false when no policy names
	// an entity (then every policy is evaluated).
	scopes   []principalScope
	unscoped []int
	byEntity map[types.EntityUID][]int
	indexed  bool
}

// candidates returns the policies whose principal scope can match a
// principal uid that is transitively in ancestors. The others cannot
// apply, so Cedar need not evaluate them. With principal-scoped policies
// (RBAC: principal in Role::"x") this keeps a decision's cost near
// constant as a bundle grows.
func (ai *actionIndex) candidates(uid types.EntityUID, ancestors []types.EntityUID) cedar.PolicyIterator {
	if !ai.indexed {
		return ai.policies
	}
	sel := make([]bool, len(ai.policies))
	for _, i := range ai.unscoped {
		sc := ai.scopes[i]
		sel[i] = sc.kind == 'a' || sc.typ == uid.Type
	}
	mark := func(e types.EntityUID, self bool) {
		for _, i := range ai.byEntity[e] {
			switch sc := ai.scopes[i]; sc.kind {
			case '=':
				sel[i] = sel[i] || self
			case 'n':
				sel[i] = true
			case 'b':
				sel[i] = sel[i] || sc.typ == uid.Type
			}
		}
	}
	mark(uid, true)
	for _, a := range ancestors {
		mark(a, false)
	}
	return selection{list: ai.policies, sel: sel}
}

// index fills the principal-scope index of ai.policies.
func (ai *actionIndex) index() {
	ai.scopes = make([]principalScope, len(ai.policies))
	ai.byEntity = make(map[types.EntityUID][]int)
	for i, p := range ai.policies {
		var sc principalScope
		switch x := p.policy.AST().Principal.(type) {
		case xast.ScopeTypeEq:
			sc = principalScope{kind: '=', entity: x.Entity}
		case xast.ScopeTypeIn:
			sc = principalScope{kind: 'n', entity: x.Entity}
		case xast.ScopeTypeIs:
			sc = principalScope{kind: 'i', typ: x.Type}
		case xast.ScopeTypeIsIn:
			sc = principalScope{kind: 'b', typ: x.Type, entity: x.Entity}
		default: // ScopeTypeAll, or anything new: always evaluated
			sc = principalScope{kind: 'a'}
		}
		ai.scopes[i] = sc
		if sc.kind == 'a' || sc.kind == 'i' {
			ai.unscoped = append(ai.unscoped, i)
		} else {
			ai.byEntity[sc.entity] = append(ai.byEntity[sc.entity], i)
			ai.indexed = true
		}
	}
}

// Compiled is a parsed, validated and indexed bundle. It is immutable and safe
// for concurrent use.
type Compiled struct {
	meta     Meta
	policies []*compiledPolicy
	byID     map[types.PolicyID]*compiledPolicy
	// actions by "trace:read" (when unique across namespaces) and by
	// `Action::"trace:read"`.
	actions map[string]*actionIndex
	// entities are the static entities of entities.json plus one entity per
	// schema action (with its transitive parents).
	entities types.EntityMap
	// roleParents maps a role name to the parents a principal holding it gets:
	// Role::"name" and every Role it is transitively in; roleSets has the
	// same as ready-made sets for principals with a single role.
	roleParents map[string][]types.EntityUID
	roleSets    map[string]types.EntityUIDSet
	// ancestors maps a static entity to every entity it is transitively in.
	ancestors map[types.EntityUID][]types.EntityUID
}

// Meta returns the revision and digest the bundle was compiled with.
func (c *Compiled) Meta() Meta { return c.meta }

// Policies describes every policy, in file order.
func (c *Compiled) Policies() []PolicyInfo {
	out := make([]PolicyInfo, len(c.policies))
	for i, p := range c.policies {
		out[i] = p.info
		out[i].Actions = slices.Clone(p.info.Actions)
	}
	return out
}

// Actions lists the requestable actions of the schema (those with an
// appliesTo), sorted, as Cedar entity UIDs (`Action::"trace:read"`).
func (c *Compiled) Actions() []string {
	var out []string
	for k, a := range c.actions {
		if k == a.uid.String() {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

// ResourceTypes returns the resource types the schema lets action apply
// to (its appliesTo), sorted; nil for an unknown action. action is an id
// ("trace:read") or a full Cedar UID, as in Request.Action.
func (c *Compiled) ResourceTypes(action string) []string {
	a, ok := c.actions[action]
	if !ok {
		return nil
	}
	out := make([]string, len(a.resources))
	for i, t := range a.resources {
		out[i] = string(t)
	}
	slices.Sort(out)
	return out
}

// Compile reads a bundle from fsys (policies/*.cedar, schema.cedarschema,
// optional entities.json), validates every policy and entity against the
// schema and indexes the policies by action. Problems are reported together
// as a *CompileError; an unreadable file system yields a wrapped fs error.
func Compile(fsys fs.FS, meta Meta) (*Compiled, error) {
	var probs problems

	// Schema.
	schemaSrc, err := fs.ReadFile(fsys, SchemaFile)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			probs.add(SchemaFile, 0, "missing: a bundle needs a schema")
			return nil, probs.err()
		}
		return nil, fmt.Errorf("read %s: %w", SchemaFile, err)
	}
	var s schema.Schema
	s.SetFilename(SchemaFile)
	if err := s.UnmarshalCedar(schemaSrc); err != nil {
		line, msg := locate(SchemaFile, err.Error())
		probs.add(SchemaFile, line, "%s", msg)
		return nil, probs.err()
	}
	rs, err := s.Resolve()
	if err != nil {
		probs.add(SchemaFile, 0, "%v", err)
		return nil, probs.err()
	}
	v := validate.New(rs)

	c := &Compiled{
		meta:        meta,
		byID:        make(map[types.PolicyID]*compiledPolicy),
		actions:     make(map[string]*actionIndex),
		entities:    make(types.EntityMap),
		roleParents: make(map[string][]types.EntityUID),
		roleSets:    make(map[string]types.EntityUIDSet),
		ancestors:   make(map[types.EntityUID][]types.EntityUID),
	}

	// Policies.
	files, err := fs.Glob(fsys, PoliciesGlob)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", PoliciesGlob, err)
	}
	slices.Sort(files)
	if len(files) == 0 {
		probs.add(path.Dir(PoliciesGlob), 0, "no policy files (*.cedar)")
	}
	for _, name := range files {
		src, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", name, err)
		}
		c.addPolicies(&probs, v, name, src)
	}

	// Static entities.
	if src, err := fs.ReadFile(fsys, EntitiesFile); err == nil {
		c.addEntities(&probs, v, src)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("read %s: %w", EntitiesFile, err)
	}

	if len(probs) > 0 {
		return nil, probs.err()
	}
	c.indexActions(rs)
	c.closeRoles()
	return c, nil
}

type problems []Problem

func (p *problems) add(file string, line int, format string, a ...any) {
	*p = append(*p, Problem{File: file, Line: line, Message: fmt.Sprintf(format, a...)})
}

func (p problems) err() error {
	if len(p) == 0 {
		return nil
	}
	if len(p) > maxProblems {
		n := len(p) - maxProblems
		p = append(p[:maxProblems:maxProblems], Problem{Message: fmt.Sprintf("... and %d more problems", n)})
	}
	return &CompileError{Problems: p}
}

// addPolicies parses one policy file, names and validates its policies.
func (c *Compiled) addPolicies(probs *problems, v *validate.Validator, name string, src []byte) {
	list, err := cedar.NewPolicyListFromBytes(name, src)
	if err != nil {
		// The parser names the source "<input>".
		line, msg := locate("<input>", err.Error())
		probs.add(name, line, "%s", msg)
		return
	}
	if len(list) == 0 {
		probs.add(name, 0, "no policies in file")
		return
	}
	for i, p := range list {
		ann := p.Annotations()
		pos := p.Position()
		id := string(ann["id"])
		if _, ok := ann["id"]; !ok {
			id = fmt.Sprintf("%s:%d", name, i)
		} else if strings.TrimSpace(id) == "" {
			probs.add(name, pos.Line, "empty @id")
			continue
		}
		if prev, dup := c.byID[types.PolicyID(id)]; dup {
			probs.add(name, pos.Line, "duplicate policy id %q (first at %s:%d)", id, prev.info.File, prev.info.Line)
			continue
		}
		if err := v.Policy(id, (*xast.Policy)(p.AST())); err != nil {
			for _, msg := range strings.Split(err.Error(), "\n") {
				probs.add(name, pos.Line, "policy %q: %s", id, strings.TrimPrefix(msg, "for policy `"+id+"`, "))
			}
			continue
		}
		effect := "permit"
		if p.Effect() == cedar.Forbid {
			effect = "forbid"
		}
		risk, hasRisk := ann[RiskAnnotation]
		switch {
		case !hasRisk:
		case risk != RiskHigh && risk != RiskLow:
			probs.add(name, pos.Line, "policy %q: @%s(%q): want %q or %q", id, RiskAnnotation, string(risk), RiskHigh, RiskLow)
			continue
		case effect == "forbid":
			probs.add(name, pos.Line, "policy %q: @%s applies to permit policies only", id, RiskAnnotation)
			continue
		}
		cp := &compiledPolicy{
			id:     types.PolicyID(id),
			policy: p,
			info:   PolicyInfo{ID: id, Effect: effect, Reason: string(ann["reason"]), Risk: string(risk), File: name, Line: pos.Line},
			reason: Reason{PolicyID: id, Effect: effect, Reason: string(ann["reason"]), Risk: string(risk), File: name, Line: pos.Line},
		}
		c.byID[cp.id] = cp
		c.policies = append(c.policies, cp)
	}
}

// addEntities parses entities.json (Cedar's JSON entity format) and
// validates every entity against the schema.
func (c *Compiled) addEntities(probs *problems, v *validate.Validator, src []byte) {
	var em types.EntityMap
	if err := json.Unmarshal(src, &em); err != nil {
		probs.add(EntitiesFile, jsonErrorLine(src, err), "%v", err)
		return
	}
	uids := make([]types.EntityUID, 0, len(em))
	for uid := range em {
		uids = append(uids, uid)
	}
	slices.SortFunc(uids, func(a, b types.EntityUID) int { return strings.Compare(a.String(), b.String()) })
	for _, uid := range uids {
		if uid.Type == ActionType || strings.HasSuffix(string(uid.Type), "::"+string(ActionType)) {
			probs.add(EntitiesFile, 0, "entity %s: actions come from the schema, not from entities.json", uid)
			continue
		}
		if err := v.Entity(em[uid]); err != nil {
			probs.add(EntitiesFile, 0, "entity %s: %v", uid, err)
			continue
		}
		c.entities[uid] = em[uid]
	}
}

// locate finds "<file>:<line>:<column>" in a parser message and returns
// the line and the message with the location reduced to "column N".
func locate(file, msg string) (int, string) {
	i := strings.Index(msg, file+":")
	if i < 0 {
		return 0, msg
	}
	rest := msg[i+len(file)+1:]
	var line, col int
	n, _ := fmt.Sscanf(rest, "%d:%d", &line, &col)
	if n != 2 || line <= 0 {
		return 0, msg
	}
	loc := fmt.Sprintf("%d:%d", line, col)
	tail := strings.TrimPrefix(strings.TrimPrefix(rest[len(loc):], ":"), " ")
	head := strings.TrimSuffix(strings.TrimSpace(msg[:i]), " at")
	out := fmt.Sprintf("column %d: %s", col, tail)
	if head != "" {
		out = fmt.Sprintf("%s: column %d: %s", head, col, tail)
	}
	return line, out
}

// jsonErrorLine returns the line of a JSON syntax error, or 0.
func jsonErrorLine(src []byte, err error) int {
	var se *json.SyntaxError
	if errors.As(err, &se) && se.Offset > 0 && int(se.Offset) <= len(src) {
		return 1 + strings.Count(string(src[:se.Offset]), "\n")
	}
	return 0
}

// indexActions adds the schema's actions as entities (with their transitive
// parents, so `action in Action::"group"` is one lookup) and, for every
// requestable action, the policies whose action scope can match it.
func (c *Compiled) indexActions(rs *resolved.Schema) {
	ancestors := func(uid types.EntityUID) []types.EntityUID {
		var out []types.EntityUID
		seen := map[types.EntityUID]bool{uid: true}
		todo := []types.EntityUID{uid}
		for len(todo) > 0 {
			cur := todo[len(todo)-1]
			todo = todo[:len(todo)-1]
			a, ok := rs.Actions[cur]
			if !ok {
				continue
			}
			for p := range a.Entity.Parents.All() {
				if !seen[p] {
					seen[p] = true
					out = append(out, p)
					todo = append(todo, p)
				}
			}
		}
		return out
	}
	byID := make(map[string][]*actionIndex)
	for uid, a := range rs.Actions {
		anc := ancestors(uid)
		c.entities[uid] = types.Entity{UID: uid, Parents: types.NewEntityUIDSet(anc...)}
		if a.AppliesTo == nil {
			continue // an action group: not requestable
		}
		ai := &actionIndex{
			uid:        uid,
			text:       uid.String(),
			principals: slices.Clone(a.AppliesTo.Principals),
			resources:  slices.Clone(a.AppliesTo.Resources),
		}
		for _, p := range c.policies {
			if actionScopeMatches(p.policy.AST().Action, uid, anc) {
				ai.policies = append(ai.policies, p)
				p.info.Actions = append(p.info.Actions, ai.text)
			}
		}
		ai.index()
		c.actions[uid.String()] = ai
		byID[string(uid.ID)] = append(byID[string(uid.ID)], ai)
	}
	for id, list := range byID {
		if len(list) == 1 {
			c.actions[id] = list[0]
		}
	}
	for _, p := range c.policies {
		slices.Sort(p.info.Actions)
	}
}

// actionScopeMatches reports whether a policy's action scope can match
// action (whose transitive parents are anc). It is conservative: a scope it
// does not recognise matches, so the policy is evaluated.
func actionScopeMatches(scope xast.IsActionScopeNode, action types.EntityUID, anc []types.EntityUID) bool {
	in := func(e types.EntityUID) bool { return e == action || slices.Contains(anc, e) }
	switch sc := scope.(type) {
	case xast.ScopeTypeAll:
		return true
	case xast.ScopeTypeEq:
		return sc.Entity == action
	case xast.ScopeTypeIn:
		return in(sc.Entity)
	case xast.ScopeTypeInSet:
		return slices.ContainsFunc(sc.Entities, in)
	default:
		return true
	}
}

// closeRoles precomputes, for every Role entity, the parents a principal
// holding that role gets: the role and all its transitive Role ancestors;
// and for every static entity, its ancestors.
func (c *Compiled) closeRoles() {
	for uid, e := range c.entities {
		if e.Parents.Len() > 0 {
			c.ancestors[uid] = c.closure(uid)[1:]
		}
		if uid.Type != RoleType {
			continue
		}
		cl := c.closure(uid)
		c.roleParents[string(uid.ID)] = cl
		c.roleSets[string(uid.ID)] = types.NewEntityUIDSet(cl...)
	}
}

// closure returns uid followed by its transitive parents in the static
// entities, without duplicates.
func (c *Compiled) closure(uid types.EntityUID) []types.EntityUID {
	out := []types.EntityUID{uid}
	for i := 0; i < len(out); i++ {
		e, ok := c.entities[out[i]]
		if !ok {
			continue
		}
		for p := range e.Parents.All() {
			if !slices.Contains(out, p) {
				out = append(out, p)
			}
		}
	}
	return out
}
