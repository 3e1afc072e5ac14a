// Package differential puts the same authorization questions to every
// surface that decides with a policy bundle (the policy engine itself, the
// gateway over HTTP, the AuthZEN decision API and, once merged, the enforce
// middleware) and checks that they agree. This file holds the case
// generator; the comparison is the package's test.
package differential

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"slices"
	"strings"

	"github.com/wardenhq/warden/internal/policy"
)

// Case is one question: a token's claims (without iss, aud, exp, iat and
// jti, which each surface's token adds), an action, a resource and a
// context. Claims, resource attributes and context hold JSON types
// (string, bool, float64 or int, []any, map[string]any).
type Case struct {
	Name     string
	Claims   map[string]any
	Action   string
	Resource policy.Resource
	Context  map[string]any
	// Expect is the reference test's expected decision ("allow", "deny");
	// "" for a generated case.
	Expect string
}

// Catalogue is what the generator draws from: the bundle's requestable
// actions and the resource types each applies to, and its static
// entities by type (the model catalogue, the agents, the roles).
type Catalogue struct {
	Actions       []string
	ResourceTypes map[string][]string // action -> types
	AllTypes      []string
	Entities      map[string][]string // type -> ids
}

// NewCatalogue reads the catalogue of a compiled bundle and its
// entities.json (in fsys; absent means none).
func NewCatalogue(c *policy.Compiled, fsys fs.FS) (*Catalogue, error) {
	cat := &Catalogue{ResourceTypes: map[string][]string{}, Entities: map[string][]string{}}
	for _, uid := range c.Actions() {
		id := strings.TrimSuffix(strings.TrimPrefix(uid, `Action::"`), `"`)
		cat.Actions = append(cat.Actions, id)
		ts := c.ResourceTypes(id)
		cat.ResourceTypes[id] = ts
		for _, t := range ts {
			if !slices.Contains(cat.AllTypes, t) {
				cat.AllTypes = append(cat.AllTypes, t)
			}
		}
	}
	slices.Sort(cat.AllTypes)
	b, err := fs.ReadFile(fsys, "entities.json")
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("read entities.json: %w", err)
	}
	if len(b) > 0 {
		var ents []struct {
			UID struct{ Type, ID string } `json:"uid"`
		}
		if err := json.Unmarshal(b, &ents); err != nil {
			return nil, fmt.Errorf("entities.json: %w", err)
		}
		for _, e := range ents {
			cat.Entities[e.UID.Type] = append(cat.Entities[e.UID.Type], e.UID.ID)
		}
	}
	return cat, nil
}

// Vocabulary of the generated claims and attributes: the reference
// bundle's own names, plus values no policy mentions.
var (
	users   = []string{"eve", "erin", "paul", "sam", "rita", "ada", "oscar", "priya", "uma", "mallory"}
	teams   = []string{"research", "platform", "support", "growth"}
	tenants = []string{"acme", "globex"}
	envs    = []string{"staging", "production"}
	scopes  = []string{"models:premium", "pii:read", "traces:read", "trace:read", "secrets:read", "pdp:query"}
	levels  = []string{"normal", "sensitive"}
	risks   = []string{"low", "high"}
)

// Generate returns n cases drawn with the given seed: random claims (a user,
// an agent with sub = client_id, or a user's token delegated to an agent
// with act; roles, scopes, team, tenant, env each present or not), an action
// of the schema, a resource of a type the action applies to (one in ten of
// any type) with a catalogue id where there is one and random attributes,
// and a random context (env, max_tokens, stream, scope, tool arguments).
// The same seed gives the same cases.
func Generate(seed uint64, n int, cat *Catalogue) []Case {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	pick := func(xs []string) string { return xs[r.IntN(len(xs))] }
	some := func(xs []string, p float64) []any {
		out := []any{}
		for _, x := range xs {
			if r.Float64() < p {
				out = append(out, x)
			}
		}
		return out
	}
	roles := cat.Entities["Role"]
	agents := cat.Entities["Agent"]
	out := make([]Case, 0, n)
	for i := range n {
		claims := map[string]any{}
		switch k := r.IntN(10); {
		case k < 6:
			claims["sub"] = pick(users)
		case k < 8 && len(agents) > 0:
			a := pick(agents)
			claims["sub"], claims["client_id"] = a, a
		default:
			claims["sub"] = pick(users)
			if len(agents) > 0 {
				claims["act"] = map[string]any{"sub": pick(agents)}
			}
		}
		if len(roles) > 0 && r.Float64() < 0.7 {
			rs := some(append(slices.Clone(roles), "nobody"), 0.15)
			if len(rs) == 0 {
				rs = []any{pick(roles)}
			}
			claims["roles"] = rs
		}
		if r.Float64() < 0.6 {
			ss := some(scopes, 0.3)
			parts := make([]string, len(ss))
			for j, s := range ss {
				parts[j] = s.(string)
			}
			claims["scope"] = strings.Join(parts, " ")
		}
		for _, kv := range []struct {
			k  string
			vs []string
			p  float64
		}{{"team", teams, 0.6}, {"tenant", tenants, 0.8}, {"env", envs, 0.2}} {
			if r.Float64() < kv.p {
				claims[kv.k] = pick(kv.vs)
			}
		}

		action := pick(cat.Actions)
		types := cat.ResourceTypes[action]
		typ := ""
		if len(types) == 0 || r.IntN(10) == 0 {
			typ = pick(cat.AllTypes)
		} else {
			typ = pick(types)
		}
		id := fmt.Sprintf("r-%d", r.IntN(100))
		if ids := cat.Entities[typ]; len(ids) > 0 && r.Float64() < 0.8 {
			id = pick(ids)
		}
		res := policy.Resource{Type: typ, ID: id}
		attrs := map[string]any{}
		if r.Float64() < 0.8 {
			attrs["tenant"] = pick(tenants)
			if t, ok := claims["tenant"]; ok && r.Float64() < 0.75 {
				attrs["tenant"] = t // mostly the caller's own: isolation is not the only rule worth testing
			}
		}
		if r.Float64() < 0.3 {
			attrs["team"] = pick(teams)
		}
		if r.Float64() < 0.2 {
			attrs["sensitivity"] = pick(levels)
		}
		if r.Float64() < 0.15 {
			attrs["env"] = pick(envs)
		}
		if typ == "Tool" && r.Float64() < 0.3 {
			attrs["risk"] = pick(risks)
		}
		if typ == "Output" && r.Float64() < 0.3 {
			attrs["customer_facing"] = r.IntN(2) == 0 // not a string: the gateway cannot say it
		}
		if typ == "Model" && r.Float64() < 0.7 {
			attrs = map[string]any{} // most model questions are about the catalogue as it is
		}
		if len(attrs) > 0 {
			res.Attributes = attrs
		}

		ctx := map[string]any{}
		if r.Float64() < 0.5 {
			ctx["env"] = pick(envs)
		}
		if typ == "Model" {
			if r.Float64() < 0.5 {
				ctx["max_tokens"] = []int{64, 4096, 16384, 20000}[r.IntN(4)]
			}
			if r.Float64() < 0.4 {
				ctx["stream"] = r.IntN(2) == 0
			}
		}
		if action == "token:exchange" && r.Float64() < 0.6 {
			ctx["scope"] = pick(scopes)
		}
		if action == "tool:call" && r.Float64() < 0.4 {
			ctx["arguments"] = map[string]any{"env": pick(envs), "dry_run": r.IntN(2) == 0}
		}
		if len(ctx) == 0 {
			ctx = nil
		}
		out = append(out, Case{Name: fmt.Sprintf("generated #%d", i), Claims: claims, Action: action, Resource: res, Context: ctx})
	}
	return out
}
