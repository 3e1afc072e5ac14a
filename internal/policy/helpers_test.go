package policy

import (
	"testing"
	"testing/fstest"
	"time"

	"github.com/wardenhq/warden/internal/authn"
)

// testClock is the clock of every unit test.
func testClock() time.Time { return time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC) }

const testSchema = `
type Ctx = { env?: String, auth_age?: Long, on_behalf_of?: User, n?: Long, time?: datetime };
entity Role in [Role];
entity User, Agent in [Role] {
  iss?: String, roles?: Set<String>, scopes?: Set<String>, groups?: Set<String>,
  team?: String, tenant?: String, env?: String, department?: String,
};
entity Doc { owner?: String, tenant?: String, level: Long };
action "group";
action "doc:read", "doc:write" in ["group"] appliesTo { principal: [User, Agent], resource: [Doc], context: Ctx };
action "doc:admin" appliesTo { principal: [User], resource: [Doc], context: Ctx };
`

const testPolicies = `
@id("read-readers")
@reason("readers read")
permit (principal in Role::"reader", action == Action::"doc:read", resource);

@id("no-secret")
@reason("level 3 is secret")
forbid (principal, action, resource is Doc) when { resource.level >= 3 };

@id("writers")
permit (principal in Role::"writer", action in Action::"group", resource);

@id("agent-for-reader")
@reason("agents read for readers")
permit (principal is Agent, action == Action::"doc:read", resource)
when { context has on_behalf_of && context.on_behalf_of in Role::"reader" };

@id("no-users-on-level-2")
forbid (principal is User, action, resource is Doc) when { resource.level == 2 };

@id("fresh-admin")
permit (principal, action == Action::"doc:admin", resource)
when { context has auth_age && context.auth_age < 60 };

@id("legal")
permit (principal, action == Action::"doc:write", resource)
when { principal has department && principal.department == "legal" };

@id("bounded")
forbid (principal, action == Action::"doc:write", resource)
when { context has n && context.n > 10 };
`

const testEntities = `[
  {"uid": {"type": "Role", "id": "writer"}, "attrs": {}, "parents": [{"type": "Role", "id": "reader"}]},
  {"uid": {"type": "Role", "id": "reader"}, "attrs": {}, "parents": []},
  {"uid": {"type": "Doc", "id": "static"}, "attrs": {"level": 1, "owner": "zoe"}, "parents": []},
  {"uid": {"type": "Agent", "id": "bot"}, "attrs": {"env": "prod", "tenant": "acme"}, "parents": []}
]`

// testBundle returns the unit-test bundle with files replaced or added
// (a nil value removes a file).
func testBundle(files map[string]string) fstest.MapFS {
	fsys := fstest.MapFS{
		"schema.cedarschema":  {Data: []byte(testSchema)},
		"policies/main.cedar": {Data: []byte(testPolicies)},
		"entities.json":       {Data: []byte(testEntities)},
	}
	for name, data := range files {
		if data == "\x00" {
			delete(fsys, name)
			continue
		}
		fsys[name] = &fstest.MapFile{Data: []byte(data)}
	}
	return fsys
}

func mustCompile(t testing.TB, fsys fstest.MapFS) *Compiled {
	t.Helper()
	c, err := Compile(fsys, Meta{Revision: "test", Digest: "sha256:test"})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func user(sub string, roles ...string) *authn.Principal {
	return &authn.Principal{Issuer: "https://idp.example", Subject: sub, Roles: roles, Scopes: []string{}, Groups: []string{}}
}

func delegated(sub, agent string, roles ...string) *authn.Principal {
	p := user(sub, roles...)
	p.Actor = []authn.Actor{{Subject: agent}}
	return p
}

func doc(id string, level int) Resource {
	return Resource{Type: "Doc", ID: id, Attributes: map[string]any{"level": level}}
}
