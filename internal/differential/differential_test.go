package differential_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wardenhq/warden/internal/authn"
	"github.com/wardenhq/warden/internal/authzen"
	"github.com/wardenhq/warden/internal/differential"
	"github.com/wardenhq/warden/internal/gateway"
	"github.com/wardenhq/warden/internal/jwk"
	"github.com/wardenhq/warden/internal/policy"
	"github.com/wardenhq/warden/internal/testutil"
)

const (
	bundleDir     = "../../examples/policy"
	defaultIssuer = "https://idp.example.com"
	audience      = "warden"
	// seed of the generated cases; DIFFERENTIAL_SEED overrides it.
	defaultSeed = 20261202
	// generated is the number of generated cases.
	generated = 1200
	pepClient = "differential-pep"
)

// Decider is one surface under comparison. Skip says why the surface cannot
// put a case ("" when it can); Decide answers it. reasons nil means the
// surface does not report the determining policies (they are then not
// compared); an empty non-nil slice means "none".
type Decider struct {
	Name   string
	Skip   func(c differential.Case) string
	Decide func(t *testing.T, c differential.Case) (allowed bool, reasons []string)
}

// env is everything the deciders share: one key that signs every case's
// token, trusted under every issuer the cases name; the bundle, compiled
// once per surface from the same files.
type env struct {
	key     *jwk.Key
	issuers []string
	now     time.Time
}

// claims returns c's claims as a token carries them: an iss (the case's or
// the default), aud, exp, iat and jti added.
func (e *env) claims(c differential.Case) map[string]any {
	out := maps.Clone(c.Claims)
	if out == nil {
		out = map[string]any{}
	}
	if _, ok := out["iss"]; !ok {
		out["iss"] = defaultIssuer
	}
	out["aud"] = audience
	out["exp"] = e.now.Add(time.Hour).Unix()
	out["iat"] = e.now.Unix()
	out["jti"] = "jti-" + c.Name
	// Through JSON, as a verifier decodes it.
	b, err := json.Marshal(out)
	if err != nil {
		panic(fmt.Sprintf("case %s: claims do not marshal: %v", c.Name, err))
	}
	var j map[string]any
	if err := json.Unmarshal(b, &j); err != nil {
		panic(err)
	}
	return j
}

func (e *env) token(t testing.TB, claims map[string]any) string {
	return testutil.MintJWT(t, map[string]any{"alg": "ES256", "kid": "k1", "typ": "at+jwt"}, claims, "ES256", e.key.SigningKey())
}

func (e *env) verifier(t testing.TB) *authn.Verifier {
	t.Helper()
	pub, err := e.key.Public()
	if err != nil {
		t.Fatal(err)
	}
	var ics []authn.IssuerConfig
	for _, iss := range e.issuers {
		ics = append(ics, authn.IssuerConfig{Issuer: iss, Audiences: []string{audience}, Algorithms: []string{"ES256"}, Keys: []*jwk.Key{pub}})
	}
	v, err := authn.New(context.Background(), authn.Config{Issuers: ics})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	return v
}

func engine(t testing.TB) *policy.Engine {
	t.Helper()
	eng, err := policy.New(policy.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if err := eng.Load(context.Background(), os.DirFS(bundleDir), policy.Meta{Revision: "differential"}); err != nil {
		t.Fatal(err)
	}
	return eng
}

func reasonIDs(rs []policy.Reason) []string {
	out := []string{}
	for _, r := range rs {
		out = append(out, r.PolicyID)
	}
	slices.Sort(out)
	return out
}

// engineDecider asks the engine directly, with the principal the default
// claim mapping makes of the token's claims: the reference answer.
func engineDecider(t *testing.T, e *env) Decider {
	eng := engine(t)
	return Decider{
		Name: "engine",
		Skip: func(differential.Case) string { return "" },
		Decide: func(t *testing.T, c differential.Case) (bool, []string) {
			p, err := authn.ClaimMapping{}.Principal(e.claims(c))
			if err != nil {
				t.Fatalf("%s: claims: %v", c.Name, err)
			}
			d := eng.Decide(context.Background(), policy.Request{Principal: p, Action: c.Action, Resource: c.Resource, Context: c.Context})
			return d.Allowed, reasonIDs(d.Reasons)
		},
	}
}

// The gateway's routes: one tool route per (action, resource type) of the
// schema, GET /d/<action>/<Type>, the resource id from X-Resource-Id and
// every string attribute a case uses from X-Attr-<name>; and the model
// route for model:invoke.
var gatewayAttrs = []string{"tenant", "team", "sensitivity", "env", "risk"}

// gatewayDecider drives real gateways over HTTP on 127.0.0.1, one per
// deployment env ("", staging, production: the gateway sets context.env
// from its configuration, never from the request). An allowed request
// reaches a stub upstream (200), a denied one is 403.
//
// What the gateway cannot express, it skips:
//   - context it does not set: anything but env, and for the model route
//     max_tokens and stream (from the body);
//   - resource attributes that are not strings, or not among the attribute
//     headers its routes map; any attribute on a model (the model route
//     takes the catalogue's);
//   - model:list, which it answers by filtering the upstream's list, not by
//     one decision.
//
// It adds context.ip (the client address), which the reference bundle does
// not read, and for the model route context.stream = false when the body has
// none (ditto). It does not report reasons (the 403 carries the decision id
// only), so only decisions are compared.
func gatewayDecider(t *testing.T, e *env, cat *differential.Catalogue) Decider {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"ok":true}`)
	}))
	t.Cleanup(up.Close)
	attrs := map[string]string{}
	for _, a := range gatewayAttrs {
		attrs[a] = "header:X-Attr-" + a
	}
	var routes []gateway.RouteSpec
	for _, a := range cat.Actions {
		if strings.HasPrefix(a, "model:") {
			continue
		}
		for _, typ := range cat.AllTypes {
			routes = append(routes, gateway.RouteSpec{
				Name: a + "/" + typ, Kind: gateway.KindTool, Methods: []string{"GET"}, Path: "/d/" + a + "/" + typ, Action: a,
				Resource: gateway.ResourceSpec{Type: typ, ID: "header:X-Resource-Id", Attributes: attrs}, Upstream: "up",
			})
		}
	}
	routes = append(routes, gateway.RouteSpec{Name: "chat", Kind: gateway.KindModel, Methods: []string{"POST"}, Path: "/v1/chat/completions", Upstream: "up"})
	v := e.verifier(t)
	eng := engine(t)
	srvs := map[string]*httptest.Server{}
	for _, dep := range []string{"", "staging", "production"} {
		gw, err := gateway.New(gateway.Config{
			Verifier: v, Engine: eng, Routes: routes, Env: dep,
			Upstreams: []gateway.UpstreamSpec{{Name: "up", URL: up.URL}},
			// No audit log: the differential compares decisions; the
			// gateway's own tests cover its records.
		})
		if err != nil {
			t.Fatal(err)
		}
		srvs[dep] = httptest.NewServer(gw)
		t.Cleanup(srvs[dep].Close)
	}
	client := &http.Client{Timeout: 10 * time.Second}
	return Decider{
		Name: "gateway",
		Skip: func(c differential.Case) string {
			if c.Action == "model:list" {
				return "model:list filters a list, it is not one decision"
			}
			model := c.Action == "model:invoke" && c.Resource.Type == "Model"
			for k, v := range c.Context {
				switch {
				case k == "env":
					if s, ok := v.(string); !ok || (s != "staging" && s != "production") {
						return "context.env other than the configured deployments"
					}
				case model && (k == "max_tokens" || k == "stream"):
				default:
					return "context." + k + " is not set by the gateway"
				}
			}
			if strings.HasPrefix(c.Action, "model:") && !model {
				return "model actions on other resource types have no route"
			}
			if model && len(c.Resource.Attributes) > 0 {
				return "model attributes come from the catalogue"
			}
			for k, v := range c.Resource.Attributes {
				if _, ok := v.(string); !ok {
					return "resource attribute " + k + " is not a string"
				}
				if !slices.Contains(gatewayAttrs, k) {
					return "resource attribute " + k + " has no header"
				}
			}
			if c.Resource.ID == "" {
				return "empty resource id"
			}
			return ""
		},
		Decide: func(t *testing.T, c differential.Case) (bool, []string) {
			dep, _ := c.Context["env"].(string)
			base := srvs[dep].URL
			var req *http.Request
			if c.Action == "model:invoke" {
				body := map[string]any{"model": c.Resource.ID, "messages": []any{}}
				if v, ok := c.Context["max_tokens"]; ok {
					body["max_tokens"] = v
				}
				if v, ok := c.Context["stream"]; ok {
					body["stream"] = v
				}
				req, _ = http.NewRequest("POST", base+"/v1/chat/completions", bytes.NewReader(testutil.MustJSON(t, body)))
				req.Header.Set("Content-Type", "application/json")
			} else {
				req, _ = http.NewRequest("GET", base+"/d/"+c.Action+"/"+c.Resource.Type, nil)
				req.Header.Set("X-Resource-Id", c.Resource.ID)
				for k, v := range c.Resource.Attributes {
					req.Header.Set("X-Attr-"+k, v.(string))
				}
			}
			req.Header.Set("Authorization", "Bearer "+e.token(t, e.claims(c)))
			res, err := client.Do(req)
			if err != nil {
				t.Fatalf("%s: gateway: %v", c.Name, err)
			}
			b, _ := io.ReadAll(res.Body)
			res.Body.Close()
			switch {
			case res.StatusCode == http.StatusForbidden && bytes.Contains(b, []byte(`"code":"forbidden"`)):
				return false, nil
			case res.StatusCode == http.StatusOK, res.StatusCode == http.StatusBadGateway && c.Action == "model:invoke":
				// Allowed: the request went to the upstream (a stub that
				// is not a streaming model, hence 502 for stream:true).
				return true, nil
			}
			t.Fatalf("%s: gateway answered %d %s", c.Name, res.StatusCode, b)
			return false, nil
		},
	}
}

// authzenDeciders ask the AuthZEN endpoint over HTTP on 127.0.0.1 in its
// two ways: with the case's own token as the subject ("authzen-token"), and
// as a service holding pdp:query that names the subject explicitly
// ("authzen-subject", the principal's mapped claims as properties). The
// explicit form cannot express a delegated token (act): delegation comes
// from tokens only.
func authzenDeciders(t *testing.T, e *env) []Decider {
	h, err := authzen.New(authzen.Config{Verifier: e.verifier(t), Engine: engine(t)}) // no audit log: see gatewayDecider
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	client := &http.Client{Timeout: 10 * time.Second}
	pep := e.token(t, e.claims(differential.Case{Name: "pep", Claims: map[string]any{"sub": pepClient, "client_id": pepClient, "scope": authzen.ScopePDPQuery}}))
	ask := func(t *testing.T, c differential.Case, tok string, subject *authzen.Subject) (bool, []string) {
		ev := map[string]any{
			"action":   authzen.Action{Name: c.Action},
			"resource": authzen.Resource{Type: c.Resource.Type, ID: c.Resource.ID, Properties: c.Resource.Attributes},
		}
		if subject != nil {
			ev["subject"] = subject
		}
		if c.Context != nil {
			ev["context"] = c.Context
		}
		req, _ := http.NewRequest("POST", srv.URL+authzen.EvaluationPath, bytes.NewReader(testutil.MustJSON(t, ev)))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+tok)
		res, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s: authzen: %v", c.Name, err)
		}
		defer res.Body.Close()
		var d authzen.Decision
		b, _ := io.ReadAll(res.Body)
		if res.StatusCode != 200 || json.Unmarshal(b, &d) != nil || d.Context == nil {
			t.Fatalf("%s: authzen answered %d %s", c.Name, res.StatusCode, b)
		}
		ids := slices.Clone(d.Context.ReasonIDs)
		slices.Sort(ids)
		return d.Decision, ids
	}
	// The engine's own context keys are refused from callers (a PEP that
	// could set time or auth_age could step around every rule on them); a
	// case that sets one is not put to the endpoint.
	engineOwned := func(c differential.Case) string {
		for _, k := range []string{policy.ContextTime, policy.ContextAuthAge, policy.ContextOnBehalfOf} {
			if _, ok := c.Context[k]; ok {
				return "context." + k + " is set by Warden, not by the caller"
			}
		}
		return ""
	}
	return []Decider{
		{
			Name: "authzen-token",
			Skip: func(c differential.Case) string {
				if sc, _ := c.Claims["scope"].(string); slices.Contains(strings.Fields(sc), authzen.ScopePDPQuery) {
					return "a token with pdp:query must name its subject"
				}
				return engineOwned(c)
			},
			Decide: func(t *testing.T, c differential.Case) (bool, []string) {
				return ask(t, c, e.token(t, e.claims(c)), nil)
			},
		},
		{
			Name: "authzen-subject",
			Skip: func(c differential.Case) string {
				if _, ok := c.Claims["act"]; ok {
					return "a delegated subject (act) cannot be named explicitly"
				}
				return engineOwned(c)
			},
			Decide: func(t *testing.T, c differential.Case) (bool, []string) {
				p, err := authn.ClaimMapping{}.Principal(e.claims(c))
				if err != nil {
					t.Fatalf("%s: claims: %v", c.Name, err)
				}
				s := &authzen.Subject{Type: authzen.SubjectUser, ID: p.Subject, Properties: map[string]any{
					"roles": p.Roles, "scopes": p.Scopes, "groups": p.Groups, "iss": p.Issuer,
				}}
				if policy.IsAgent(p) {
					s.Type, s.ID = authzen.SubjectAgent, p.ClientID
				} else if p.ClientID != "" {
					s.Properties["client_id"] = p.ClientID
				}
				for k, v := range map[string]string{"team": p.Team, "tenant": p.Tenant, "env": p.Env} {
					if v != "" {
						s.Properties[k] = v
					}
				}
				if !p.AuthTime.IsZero() {
					s.Properties["auth_time"] = p.AuthTime.Unix()
				}
				return ask(t, c, pep, s)
			},
		},
	}
}

// referenceCases are the bundle's own test cases, as Cases.
func referenceCases(t *testing.T) []differential.Case {
	tcs, err := policy.LoadTestCases(os.DirFS(bundleDir))
	if err != nil {
		t.Fatal(err)
	}
	out := make([]differential.Case, 0, len(tcs))
	for _, tc := range tcs {
		claims := tc.Claims
		if tc.Token != "" {
			p, err := authn.Parse(tc.Token, 0) // decoded, not verified: a test case is not a credential
			if err != nil {
				t.Fatalf("%s:%d: token: %v", tc.File, tc.Line, err)
			}
			claims = p.Claims
		}
		// Through JSON, as an HTTP client sends them.
		var res map[string]any
		_ = json.Unmarshal(testutil.MustJSON(t, tc.Resource.Attributes), &res)
		var ctx map[string]any
		_ = json.Unmarshal(testutil.MustJSON(t, tc.Context), &ctx)
		out = append(out, differential.Case{
			Name: fmt.Sprintf("%s:%d %s", tc.File, tc.Line, tc.Name), Claims: claims, Action: tc.Action,
			Resource: policy.Resource{Type: tc.Resource.Type, ID: tc.Resource.ID, Attributes: res}, Context: ctx, Expect: tc.Expect,
		})
	}
	return out
}

// TestDifferential asks every decider every reference case and the
// generated cases and fails on any disagreement with the engine, printing
// the seed. Each decider must cover a fair share of the cases.
func TestDifferential(t *testing.T) {
	seed := uint64(defaultSeed)
	if s := os.Getenv("DIFFERENTIAL_SEED"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("DIFFERENTIAL_SEED: %v", err)
		}
		seed = n
	}
	key, err := jwk.Generate("ES256", "k1")
	if err != nil {
		t.Fatal(err)
	}
	e := &env{key: key, now: time.Now()}
	refs := referenceCases(t)
	comp, err := policy.Compile(os.DirFS(bundleDir), policy.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	cat, err := differential.NewCatalogue(comp, os.DirFS(bundleDir))
	if err != nil {
		t.Fatal(err)
	}
	gen := differential.Generate(seed, generated, cat)
	issuers := map[string]bool{defaultIssuer: true}
	for _, c := range append(slices.Clone(refs), gen...) {
		if iss, ok := c.Claims["iss"].(string); ok {
			issuers[iss] = true
		}
	}
	e.issuers = slices.Sorted(maps.Keys(issuers))

	ref := engineDecider(t, e)
	deciders := []Decider{gatewayDecider(t, e, cat)}
	deciders = append(deciders, authzenDeciders(t, e)...)
	deciders = append(deciders, enforceDecider(t, e, cat))

	type tally struct{ compared, skipped, allowed int }
	for _, set := range []struct {
		name  string
		cases []differential.Case
		min   float64 // the share of cases every decider must cover
	}{{"reference", refs, 0.3}, {"generated", gen, 0.3}} {
		counts := make([]tally, len(deciders))
		skips := make([]map[string]int, len(deciders))
		for i := range skips {
			skips[i] = map[string]int{}
		}
		for _, c := range set.cases {
			want, wantReasons := ref.Decide(t, c)
			if c.Expect != "" && want != (c.Expect == "allow") {
				t.Fatalf("%s: the engine says %v, the test expects %s: the harness is not faithful", c.Name, want, c.Expect)
			}
			for i, d := range deciders {
				if why := d.Skip(c); why != "" {
					counts[i].skipped++
					skips[i][why]++
					continue
				}
				got, reasons := d.Decide(t, c)
				counts[i].compared++
				if got {
					counts[i].allowed++
				}
				if got != want {
					t.Errorf("seed %d: %s: %s says %v, the engine %v (reasons %v)\ncase: %+v", seed, c.Name, d.Name, got, want, wantReasons, c)
				} else if reasons != nil && !slices.Equal(reasons, wantReasons) {
					t.Errorf("seed %d: %s: %s gives reasons %v, the engine %v\ncase: %+v", seed, c.Name, d.Name, reasons, wantReasons, c)
				}
			}
		}
		t.Logf("%s cases: %d (seed %d)", set.name, len(set.cases), seed)
		for i, d := range deciders {
			t.Logf("  %-16s compared %4d (allowed %4d), skipped %4d %v", d.Name, counts[i].compared, counts[i].allowed, counts[i].skipped, skips[i])
			if float64(counts[i].compared) < set.min*float64(len(set.cases)) {
				t.Errorf("%s: %s compared only %d of %d %s cases", d.Name, d.Name, counts[i].compared, len(set.cases), set.name)
			}
		}
	}
}
