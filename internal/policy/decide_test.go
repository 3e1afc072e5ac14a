package policy

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cedar-policy/cedar-go/types"
	"github.com/google/go-cmp/cmp"

	"github.com/wardenhq/warden/internal/authn"
)

func TestDecide(t *testing.T) {
	c := mustCompile(t, testBundle(nil))
	tests := []struct {
		name        string
		req         Request
		allow       bool
		reasons     []string
		errContains string
	}{
		{
			name:    "permit through a role",
			req:     Request{Principal: user("alice", "reader"), Action: "doc:read", Resource: doc("d1", 1)},
			allow:   true,
			reasons: []string{"read-readers"},
		},
		{
			name:    "permit through the role hierarchy (writer in reader), every permit reported in file order",
			req:     Request{Principal: user("wendy", "writer"), Action: "doc:read", Resource: doc("d1", 1)},
			allow:   true,
			reasons: []string{"read-readers", "writers"},
		},
		{
			name:    "action group",
			req:     Request{Principal: user("wendy", "writer"), Action: "doc:write", Resource: doc("d1", 1)},
			allow:   true,
			reasons: []string{"writers"},
		},
		{
			name:  "default deny has no reasons",
			req:   Request{Principal: user("bob"), Action: "doc:read", Resource: doc("d1", 1)},
			allow: false,
		},
		{
			name:    "forbid overrides permit",
			req:     Request{Principal: user("alice", "reader"), Action: "doc:read", Resource: doc("d3", 3)},
			allow:   false,
			reasons: []string{"no-secret"},
		},
		{
			name:    "static entity attributes",
			req:     Request{Principal: user("alice", "reader"), Action: "doc:read", Resource: Resource{Type: "Doc", ID: "static"}},
			allow:   true,
			reasons: []string{"read-readers"},
		},
		{
			name:    "request attributes override static ones",
			req:     Request{Principal: user("alice", "reader"), Action: "doc:read", Resource: Resource{Type: "Doc", ID: "static", Attributes: map[string]any{"level": 3}}},
			allow:   false,
			reasons: []string{"no-secret"},
		},
		{
			name:        "evaluation error denies even when a policy permits",
			req:         Request{Principal: user("alice", "reader"), Action: "doc:read", Resource: Resource{Type: "Doc", ID: "no-level"}},
			allow:       false,
			errContains: `policy "no-secret" (policies/main.cedar:6)`,
		},
		{
			name:        "unknown action",
			req:         Request{Principal: user("alice", "reader"), Action: "doc:delete", Resource: doc("d1", 1)},
			errContains: `unknown action "doc:delete"`,
		},
		{
			name:        "action group is not requestable",
			req:         Request{Principal: user("alice", "reader"), Action: "group", Resource: doc("d1", 1)},
			errContains: `unknown action "group"`,
		},
		{
			name:    "full action UID",
			req:     Request{Principal: user("alice", "reader"), Action: `Action::"doc:read"`, Resource: doc("d1", 1)},
			allow:   true,
			reasons: []string{"read-readers"},
		},
		{
			name:        "resource type not valid for the action",
			req:         Request{Principal: user("alice", "reader"), Action: "doc:read", Resource: Resource{Type: "Photo", ID: "p"}},
			errContains: `resource type "Photo" is not valid for Action::"doc:read"`,
		},
		{
			name:        "principal type not valid for the action",
			req:         Request{Principal: &authn.Principal{Subject: "svc", ClientID: "svc"}, Action: "doc:admin", Resource: doc("d1", 1)},
			errContains: `principal type "Agent" is not valid`,
		},
		{
			name:        "no principal",
			req:         Request{Action: "doc:read", Resource: doc("d1", 1)},
			errContains: "no principal",
		},
		{
			name:        "principal without sub or client_id",
			req:         Request{Principal: &authn.Principal{Roles: []string{"reader"}}, Action: "doc:read", Resource: doc("d1", 1)},
			errContains: "neither sub nor client_id",
		},
		{
			name:        "context value without a Cedar form",
			req:         Request{Principal: user("wendy", "writer"), Action: "doc:write", Resource: doc("d1", 1), Context: map[string]any{"n": 1.5}},
			errContains: "context: n: no Cedar value: number 1.5 is not an integer",
		},
		{
			name:        "resource attribute without a Cedar form",
			req:         Request{Principal: user("wendy", "writer"), Action: "doc:write", Resource: Resource{Type: "Doc", ID: "x", Attributes: map[string]any{"level": struct{}{}}}},
			errContains: "resource attributes: level: no Cedar value: unsupported type struct {}",
		},
		{
			name:        "caller cannot set on_behalf_of",
			req:         Request{Principal: user("wendy", "writer"), Action: "doc:write", Resource: doc("d1", 1), Context: map[string]any{"on_behalf_of": "x"}},
			errContains: `"on_behalf_of" is reserved`,
		},
		{
			name:    "context Long from float64",
			req:     Request{Principal: user("wendy", "writer"), Action: "doc:write", Resource: doc("d1", 1), Context: map[string]any{"n": float64(11)}},
			reasons: []string{"bounded"},
		},
		{
			name:    "mapped attribute",
			req:     Request{Principal: withAttrs(user("lee"), map[string]any{"department": "legal"}), Action: "doc:write", Resource: doc("d1", 1)},
			allow:   true,
			reasons: []string{"legal"},
		},
		{
			name:    "auth_age from auth_time",
			req:     Request{Principal: authAt(user("ann"), testClock().Add(-30*time.Second)), Action: "doc:admin", Resource: doc("d1", 1)},
			allow:   true,
			reasons: []string{"fresh-admin"},
		},
		{
			name:  "stale auth_time",
			req:   Request{Principal: authAt(user("ann"), testClock().Add(-time.Hour)), Action: "doc:admin", Resource: doc("d1", 1)},
			allow: false,
		},
		{
			name:  "caller's auth_age wins over auth_time",
			req:   Request{Principal: authAt(user("ann"), testClock().Add(-30*time.Second)), Action: "doc:admin", Resource: doc("d1", 1), Context: map[string]any{"auth_age": 999}},
			allow: false,
		},
		{
			name:    "auth_time a little in the future counts as now",
			req:     Request{Principal: authAt(user("ann"), testClock().Add(30*time.Second)), Action: "doc:admin", Resource: doc("d1", 1)},
			allow:   true,
			reasons: []string{"fresh-admin"},
		},
		{
			name:  "auth_time far in the future is no evidence",
			req:   Request{Principal: authAt(user("ann"), testClock().Add(time.Hour)), Action: "doc:admin", Resource: doc("d1", 1)},
			allow: false,
		},
		{
			name:  "no auth_time, no auth_age",
			req:   Request{Principal: user("ann"), Action: "doc:admin", Resource: doc("d1", 1)},
			allow: false,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := c.decide(tc.req, testClock())
			if d.Allowed != tc.allow {
				t.Errorf("Allowed = %v, want %v (%s)", d.Allowed, tc.allow, d.Summary())
			}
			if got := d.PolicyIDs(); !slices.Equal(got, tc.reasons) && !(len(got) == 0 && len(tc.reasons) == 0) {
				t.Errorf("reasons = %v, want %v", got, tc.reasons)
			}
			if tc.errContains == "" && len(d.Errors) > 0 {
				t.Errorf("unexpected errors %q", d.Errors)
			}
			if tc.errContains != "" && !slices.ContainsFunc(d.Errors, func(e string) bool { return strings.Contains(e, tc.errContains) }) {
				t.Errorf("errors = %q, want one containing %q", d.Errors, tc.errContains)
			}
			if tc.errContains != "" && d.Allowed {
				t.Error("a decision with errors allowed")
			}
			if d.Revision != "test" || d.Digest != "sha256:test" {
				t.Errorf("revision/digest = %q/%q", d.Revision, d.Digest)
			}
		})
	}
}

func withAttrs(p *authn.Principal, attrs map[string]any) *authn.Principal {
	p.Attributes = attrs
	return p
}

func authAt(p *authn.Principal, at time.Time) *authn.Principal {
	p.AuthTime = at
	return p
}

func TestDelegation(t *testing.T) {
	c := mustCompile(t, testBundle(nil))
	tests := []struct {
		name       string
		req        Request
		allow      bool
		reasons    []string
		agentAllow bool
		userAllow  bool
	}{
		{
			name:       "both passes allow",
			req:        Request{Principal: delegated("alice", "bot", "reader"), Action: "doc:read", Resource: doc("d1", 1)},
			allow:      true,
			reasons:    []string{"agent-for-reader", "read-readers"},
			agentAllow: true, userAllow: true,
		},
		{
			name:       "user allowed, agent not: the agent gets no more than its own permits",
			req:        Request{Principal: delegated("wendy", "bot", "writer"), Action: "doc:write", Resource: doc("d1", 1)},
			allow:      false,
			agentAllow: false, userAllow: true,
		},
		{
			name:       "agent allowed, user not: never more than the user",
			req:        Request{Principal: delegated("alice", "bot", "reader"), Action: "doc:read", Resource: doc("d2", 2)},
			allow:      false,
			reasons:    []string{"no-users-on-level-2"},
			agentAllow: true, userAllow: false,
		},
		{
			name:       "neither",
			req:        Request{Principal: delegated("bob", "bot"), Action: "doc:read", Resource: doc("d1", 1)},
			allow:      false,
			agentAllow: false, userAllow: false,
		},
		{
			name:       "a forbid in both passes is reported once",
			req:        Request{Principal: delegated("alice", "bot", "reader"), Action: "doc:read", Resource: doc("d3", 3)},
			allow:      false,
			reasons:    []string{"no-secret"},
			agentAllow: false, userAllow: false,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := c.decide(tc.req, testClock())
			if d.Allowed != tc.allow {
				t.Errorf("Allowed = %v, want %v (%s)", d.Allowed, tc.allow, d.Summary())
			}
			if got := d.PolicyIDs(); !slices.Equal(got, tc.reasons) && !(len(got) == 0 && len(tc.reasons) == 0) {
				t.Errorf("reasons = %v, want %v", got, tc.reasons)
			}
			if len(d.Evaluations) != 2 {
				t.Fatalf("%d evaluations, want 2", len(d.Evaluations))
			}
			a, u := d.Evaluations[0], d.Evaluations[1]
			if a.Principal != `Agent::"bot"` || u.Principal != `User::"`+tc.req.Principal.Subject+`"` {
				t.Errorf("passes as %s and %s", a.Principal, u.Principal)
			}
			if a.Allowed != tc.agentAllow || u.Allowed != tc.userAllow {
				t.Errorf("agent pass %v, user pass %v; want %v, %v", a.Allowed, u.Allowed, tc.agentAllow, tc.userAllow)
			}
			if d.Principal != `Agent::"bot"` || d.OnBehalfOf != u.Principal {
				t.Errorf("Principal %s OnBehalfOf %s", d.Principal, d.OnBehalfOf)
			}
		})
	}
}

func TestDelegationErrors(t *testing.T) {
	c := mustCompile(t, testBundle(nil))
	for _, tc := range []struct {
		name string
		p    *authn.Principal
		want string
	}{
		{"actor without id", &authn.Principal{Subject: "alice", Actor: []authn.Actor{{Issuer: "x"}}}, "neither sub nor client_id"},
		{"no user", &authn.Principal{Actor: []authn.Actor{{Subject: "bot"}}}, "without sub"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := c.decide(Request{Principal: tc.p, Action: "doc:read", Resource: doc("d1", 1)}, testClock())
			if d.Allowed || len(d.Errors) == 0 || !strings.Contains(d.Errors[0], tc.want) {
				t.Errorf("got %+v, want a deny with %q", d, tc.want)
			}
		})
	}
}

func TestPrincipalEntity(t *testing.T) {
	c := mustCompile(t, testBundle(nil))
	role := func(r string) types.EntityUID { return types.NewEntityUID("Role", types.String(r)) }
	tests := []struct {
		name    string
		p       *authn.Principal
		uid     string
		parents []types.EntityUID
		attrs   types.RecordMap
	}{
		{
			name: "a person is a User with role parents and the role closure",
			p: &authn.Principal{Issuer: "https://idp", Subject: "alice", ClientID: "console", Roles: []string{"writer", "ghost"},
				Scopes: []string{"a", "b"}, Groups: []string{"g"}, Team: "t", Tenant: "acme"},
			uid:     `User::"alice"`,
			parents: []types.EntityUID{role("writer"), role("reader"), role("ghost")},
			attrs: types.RecordMap{
				"iss": types.String("https://idp"), "roles": types.NewSet(types.String("writer"), types.String("ghost")),
				"scopes": types.NewSet(types.String("a"), types.String("b")), "groups": types.NewSet(types.String("g")),
				"team": types.String("t"), "tenant": types.String("acme"),
			},
		},
		{
			name:  "sub equal to client_id is an Agent, over its static entity",
			p:     &authn.Principal{Subject: "bot", ClientID: "bot", Env: "staging"},
			uid:   `Agent::"bot"`,
			attrs: types.RecordMap{"roles": types.NewSet(), "scopes": types.NewSet(), "groups": types.NewSet(), "env": types.String("staging"), "tenant": types.String("acme")},
		},
		{
			name:  "no sub is an Agent named by client_id",
			p:     &authn.Principal{ClientID: "svc"},
			uid:   `Agent::"svc"`,
			attrs: types.RecordMap{"roles": types.NewSet(), "scopes": types.NewSet(), "groups": types.NewSet()},
		},
		{
			name: "mapped attributes never override the standard ones",
			p:    &authn.Principal{Subject: "eve", Attributes: map[string]any{"tenant": "evil", "department": "legal"}, Tenant: "acme"},
			uid:  `User::"eve"`,
			attrs: types.RecordMap{"roles": types.NewSet(), "scopes": types.NewSet(), "groups": types.NewSet(),
				"tenant": types.String("acme"), "department": types.String("legal")},
		},
		{
			name:  "an empty tenant is absent, not empty",
			p:     &authn.Principal{Subject: "eve", Attributes: map[string]any{"tenant": "evil"}},
			uid:   `User::"eve"`,
			attrs: types.RecordMap{"roles": types.NewSet(), "scopes": types.NewSet(), "groups": types.NewSet()},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e, err := c.principalEntity(tc.p)
			if err != nil {
				t.Fatal(err)
			}
			if e.UID.String() != tc.uid {
				t.Errorf("uid %s, want %s", e.UID, tc.uid)
			}
			gotParents := e.Parents.Slice()
			sortUIDs(gotParents)
			wantParents := slices.Clone(tc.parents)
			sortUIDs(wantParents)
			if !slices.Equal(gotParents, wantParents) {
				t.Errorf("parents %v, want %v", gotParents, wantParents)
			}
			if !e.Attributes.Equal(types.NewRecord(tc.attrs)) {
				t.Errorf("attributes %s, want %s", e.Attributes, types.NewRecord(tc.attrs))
			}
		})
	}
}

func TestAgentEntityDelegated(t *testing.T) {
	c := mustCompile(t, testBundle(nil))
	// The token's roles are the user's: the agent keeps its own (none here),
	// gets the delegated scopes, and its static tenant wins over the user's.
	p := &authn.Principal{Issuer: "https://idp", Subject: "alice", Roles: []string{"writer"}, Scopes: []string{"doc"}, Tenant: "globex", Team: "t",
		Actor: []authn.Actor{{Subject: "ignored", ClientID: "bot"}}}
	e, err := c.agentEntity(p)
	if err != nil {
		t.Fatal(err)
	}
	want := types.NewRecord(types.RecordMap{
		"iss": types.String("https://idp"), "roles": types.NewSet(), "groups": types.NewSet(),
		"scopes": types.NewSet(types.String("doc")), "tenant": types.String("acme"), "team": types.String("t"), "env": types.String("prod"),
	})
	if e.UID.String() != `Agent::"bot"` || e.Parents.Len() != 0 || !e.Attributes.Equal(want) {
		t.Errorf("agent entity %s parents %v attrs %s, want Agent::\"bot\" [] %s", e.UID, e.Parents.Slice(), e.Attributes, want)
	}
}

func sortUIDs(s []types.EntityUID) {
	slices.SortFunc(s, func(a, b types.EntityUID) int { return strings.Compare(a.String(), b.String()) })
}

func TestEngineNoBundle(t *testing.T) {
	e, err := New(Config{Clock: testClock})
	if err != nil {
		t.Fatal(err)
	}
	d := e.Decide(context.Background(), Request{Principal: user("alice", "reader"), Action: "doc:read", Resource: doc("d1", 1)})
	if d.Allowed || !slices.Equal(d.Errors, []string{"no policy bundle loaded"}) || d.ID == "" {
		t.Errorf("decision without bundle: %+v", d)
	}
	if st := e.Status(); st.Loaded {
		t.Errorf("status %+v", st)
	}
}

func TestEngineCancelledContext(t *testing.T) {
	e, _ := New(Config{Clock: testClock})
	if err := e.Load(context.Background(), testBundle(nil), Meta{Revision: "r1"}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	d := e.Decide(ctx, Request{Principal: user("alice", "reader"), Action: "doc:read", Resource: doc("d1", 1)})
	if d.Allowed || len(d.Errors) != 1 || d.Revision != "r1" {
		t.Errorf("decision on a cancelled context: %+v", d)
	}
	if err := e.Load(ctx, testBundle(nil), Meta{Revision: "r2"}); err == nil {
		t.Error("Load on a cancelled context succeeded")
	}
}

func TestEngineDecideEach(t *testing.T) {
	e, _ := New(Config{Clock: testClock})
	req := Request{Principal: user("wendy", "writer"), Resource: doc("d1", 1)}
	for _, d := range e.DecideEach(context.Background(), req, "doc:read", "doc:write") {
		if d.Allowed || !slices.Equal(d.Errors, []string{"no policy bundle loaded"}) || d.ID == "" {
			t.Errorf("decision without bundle: %+v", d)
		}
	}
	if err := e.Load(context.Background(), testBundle(nil), Meta{Revision: "r1"}); err != nil {
		t.Fatal(err)
	}
	ds := e.DecideEach(context.Background(), req, "doc:read", "doc:write", "doc:delete")
	if len(ds) != 3 || !ds[0].Allowed || !ds[1].Allowed || ds[2].Allowed || ds[0].ID == ds[1].ID || ds[1].ID == ds[2].ID {
		t.Fatalf("DecideEach = %+v", ds)
	}
	for _, d := range ds {
		if d.Revision != "r1" {
			t.Errorf("decision %s from revision %q, want r1", d.Action, d.Revision)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for _, d := range e.DecideEach(ctx, req, "doc:read", "doc:write") {
		if d.Allowed || len(d.Errors) != 1 || d.Revision != "r1" {
			t.Errorf("decision on a cancelled context: %+v", d)
		}
	}
	if got := e.DecideEach(context.Background(), req); len(got) != 0 {
		t.Errorf("DecideEach without actions = %+v", got)
	}
}

func TestEngineLoadKeepsLastGood(t *testing.T) {
	now := testClock()
	e, _ := New(Config{Clock: func() time.Time { return now }})
	req := Request{Principal: user("alice", "reader"), Action: "doc:read", Resource: doc("d1", 1)}
	if err := e.Load(context.Background(), testBundle(nil), Meta{Revision: "r1", Digest: "d1"}); err != nil {
		t.Fatal(err)
	}
	loadedAt := now
	now = now.Add(time.Minute)
	bad := testBundle(map[string]string{"policies/extra.cedar": `permit (principal, action == Action::"doc:nope", resource);`})
	err := e.Load(context.Background(), bad, Meta{Revision: "r2"})
	if err == nil || !strings.Contains(err.Error(), "policies/extra.cedar:1:") || !strings.Contains(err.Error(), "unrecognized action") {
		t.Fatalf("Load(bad) = %v", err)
	}
	d := e.Decide(context.Background(), req)
	if !d.Allowed || d.Revision != "r1" || d.Digest != "d1" {
		t.Errorf("after a bad load: %+v", d)
	}
	e.Fail(errSentinel("signature does not verify"))
	want := Status{
		Loaded: true, Revision: "r1", Digest: "d1", LoadedAt: loadedAt, Policies: 8,
		LastError: "signature does not verify", LastErrorAt: now, Failures: 2,
	}
	if diff := cmp.Diff(want, e.Status()); diff != "" {
		t.Errorf("status (-want +got):\n%s", diff)
	}
	if err := e.Load(context.Background(), testBundle(nil), Meta{Revision: "r3"}); err != nil {
		t.Fatal(err)
	}
	if st := e.Status(); st.LastError != "" || st.Revision != "r3" || st.Failures != 2 {
		t.Errorf("status after recovery: %+v", st)
	}
}

type errSentinel string

func (e errSentinel) Error() string { return string(e) }

// TestDecideEachMatchesDecide: asking several actions at once gives, for
// each, exactly the decision Decide gives for it alone (the mapping shared
// between them changes nothing), on the allow, deny, error and delegated
// paths.
func TestDecideEachMatchesDecide(t *testing.T) {
	c := mustCompile(t, testBundle(nil))
	actions := []string{"doc:read", "doc:write", "doc:admin", "doc:delete", "group", `Action::"doc:read"`}
	reqs := map[string]Request{
		"reader":              {Principal: user("alice", "reader"), Resource: doc("d1", 1)},
		"writer, forbidden":   {Principal: user("wendy", "writer"), Resource: doc("d3", 3)},
		"evaluation error":    {Principal: user("alice", "reader"), Resource: Resource{Type: "Doc", ID: "no-level"}},
		"wrong resource type": {Principal: user("alice", "reader"), Resource: Resource{Type: "Photo", ID: "p"}},
		"agent":               {Principal: &authn.Principal{Subject: "svc", ClientID: "svc"}, Resource: doc("d1", 1)},
		"no principal":        {Resource: doc("d1", 1)},
		"bad context":         {Principal: user("wendy", "writer"), Resource: doc("d1", 1), Context: map[string]any{"n": 1.5}},
		"bad attribute":       {Principal: user("wendy", "writer"), Resource: Resource{Type: "Doc", ID: "x", Attributes: map[string]any{"level": struct{}{}}}},
		"reserved context":    {Principal: user("wendy", "writer"), Resource: doc("d1", 1), Context: map[string]any{"on_behalf_of": "x"}},
		"delegated":           {Principal: delegated("alice", "bot", "reader"), Resource: doc("d1", 1)},
		"fresh admin":         {Principal: authAt(user("ann"), testClock().Add(-30*time.Second)), Resource: doc("d1", 1)},
	}
	for name, req := range reqs {
		t.Run(name, func(t *testing.T) {
			got := c.decideEach(nil, req, actions, testClock())
			if len(got) != len(actions) {
				t.Fatalf("%d decisions for %d actions", len(got), len(actions))
			}
			for i, a := range actions {
				one := req
				one.Action = a
				if diff := cmp.Diff(c.decide(one, testClock()), got[i]); diff != "" {
					t.Errorf("action %s: DecideEach differs from Decide (-Decide +DecideEach):\n%s", a, diff)
				}
			}
		})
	}
}
