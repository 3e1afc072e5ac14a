package policy

import (
	"fmt"
	"slices"
	"testing"
	"testing/fstest"

	"github.com/cedar-policy/cedar-go"
	"github.com/cedar-policy/cedar-go/types"

	"github.com/wardenhq/warden/internal/authn"
)

// TestCandidatesMatchFullEvaluation checks the principal-scope filter: for
// every principal shape and every kind of principal scope, evaluating only
// the candidates gives the same decision and reasons as evaluating every
// policy of the action.
func TestCandidatesMatchFullEvaluation(t *testing.T) {
	fsys := fstest.MapFS{
		"schema.cedarschema": {Data: []byte(`
entity Group in [Group];
entity Role in [Role];
entity User, Agent in [Role, Group] { roles?: Set<String>, scopes?: Set<String>, groups?: Set<String>, iss?: String, tenant?: String };
entity Doc;
action "read" appliesTo { principal: [User, Agent], resource: [Doc], context: { on_behalf_of?: User } };
`)},
		"entities.json": {Data: []byte(`[
  {"uid": {"type": "Group", "id": "org"}, "attrs": {}, "parents": []},
  {"uid": {"type": "Group", "id": "team"}, "attrs": {}, "parents": [{"type": "Group", "id": "org"}]},
  {"uid": {"type": "Role", "id": "b"}, "attrs": {}, "parents": []},
  {"uid": {"type": "Role", "id": "a"}, "attrs": {}, "parents": [{"type": "Role", "id": "b"}]},
  {"uid": {"type": "User", "id": "static-user"}, "attrs": {}, "parents": [{"type": "Group", "id": "team"}]},
  {"uid": {"type": "Agent", "id": "bot"}, "attrs": {}, "parents": [{"type": "Role", "id": "a"}]}
]`)},
		"policies/p.cedar": {Data: []byte(`
@id("eq-alice") permit (principal == User::"alice", action, resource);
@id("eq-static") permit (principal == User::"static-user", action, resource);
@id("eq-bot") forbid (principal == Agent::"bot", action, resource) when { context has on_behalf_of };
@id("in-org") permit (principal in Group::"org", action, resource);
@id("in-team-forbid") forbid (principal in Group::"team", action, resource) when { principal has tenant };
@id("is-agent-in-b") permit (principal is Agent in Role::"b", action, resource);
@id("is-user-in-b") permit (principal is User in Role::"b", action, resource);
@id("is-user") permit (principal is User, action, resource) when { principal has tenant };
@id("in-b") permit (principal in Role::"b", action, resource);
@id("in-zzz") forbid (principal in Role::"zzz", action, resource);
@id("in-self-user") permit (principal in User::"alice", action, resource);
@id("all") permit (principal, action, resource) when { principal in Role::"a" };
`)},
	}
	c := mustCompile(t, fsys)
	ai := c.actions["read"]
	if !ai.indexed {
		t.Fatal("policies not indexed")
	}
	principals := []*authn.Principal{
		{Subject: "alice"},
		{Subject: "alice", Tenant: "t"},
		{Subject: "alice", Roles: []string{"a"}},
		{Subject: "alice", Roles: []string{"b"}},
		{Subject: "alice", Roles: []string{"zzz"}},
		{Subject: "alice", Roles: []string{"a", "zzz", "unknown"}},
		{Subject: "static-user"},
		{Subject: "static-user", Roles: []string{"b"}, Tenant: "t"},
		{Subject: "bob", Roles: []string{"unknown"}},
		{Subject: "bot", ClientID: "bot"},
		{ClientID: "bot", Roles: []string{"zzz"}},
		{ClientID: "other", Roles: []string{"b"}},
		{Subject: "alice", Roles: []string{"b"}, Actor: []authn.Actor{{Subject: "bot"}}},
		{Subject: "static-user", Actor: []authn.Actor{{ClientID: "other"}}},
	}
	resource := types.Entity{UID: types.NewEntityUID("Doc", "d")}
	for i, p := range principals {
		var subjects []subject
		var ctxs []types.Record
		var extras []types.Entity
		if p.Delegated() {
			a, err := c.agentEntity(p)
			if err != nil {
				t.Fatal(err)
			}
			u, err := c.userEntity(p)
			if err != nil {
				t.Fatal(err)
			}
			subjects = []subject{a, u}
			ctxs = []types.Record{types.NewRecord(types.RecordMap{"on_behalf_of": u.UID}), types.NewRecord(nil)}
			extras = []types.Entity{u.Entity, {}}
		} else {
			s, err := c.principalEntity(p)
			if err != nil {
				t.Fatal(err)
			}
			subjects, ctxs, extras = []subject{s}, []types.Record{types.NewRecord(nil)}, []types.Entity{{}}
		}
		for j, s := range subjects {
			t.Run(fmt.Sprintf("%d/%s", i, s.UID), func(t *testing.T) {
				ents := &requestEntities{static: c.entities, principal: s.Entity, resource: resource, extra: extras[j]}
				req := cedar.Request{Principal: s.UID, Action: ai.uid, Resource: resource.UID, Context: ctxs[j]}
				fullDec, full := cedar.Authorize(ai.policies, ents, req)
				candDec, cand := cedar.Authorize(ai.candidates(s.UID, s.ancestors), ents, req)
				if fullDec != candDec || !slices.Equal(reasonIDs(full), reasonIDs(cand)) || len(full.Errors) != len(cand.Errors) {
					t.Errorf("full %v %v %v, candidates %v %v %v", fullDec, reasonIDs(full), full.Errors, candDec, reasonIDs(cand), cand.Errors)
				}
			})
		}
	}
}

func reasonIDs(d cedar.Diagnostic) []string {
	var out []string
	for _, r := range d.Reasons {
		out = append(out, string(r.PolicyID))
	}
	slices.Sort(out)
	return out
}
