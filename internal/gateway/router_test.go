package gateway

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/wardenhq/warden/internal/policy"
)

func testRoutes() []RouteSpec {
	return []RouteSpec{
		{Name: "openai", Kind: KindModel, Path: "/v1/{endpoint...}", Upstream: "openai"},
		{Name: "replay", Kind: KindTool, Methods: []string{"POST"}, Path: "/api/agents/{agent}/traces/{id}/replay",
			Action: "trace:replay", Upstream: "tools",
			Resource: ResourceSpec{Type: "Trace", ID: "{id}", Attributes: map[string]string{"agent": "{agent}", "tenant": "header:X-Tenant", "env": "query:env", "kind": "trace"}}},
		{Name: "trace-read", Kind: KindTool, Methods: []string{"GET"}, Path: "/api/agents/{agent}/traces/{id}",
			Action: "trace:read", Upstream: "tools", Resource: ResourceSpec{Type: "Trace", ID: "{id}"}},
		{Name: "trace-latest", Kind: KindTool, Methods: []string{"GET"}, Path: "/api/agents/{agent}/traces/latest",
			Action: "trace:read", Upstream: "tools", Resource: ResourceSpec{Type: "Trace", ID: "query:id"}},
		{Name: "trace-delete", Kind: KindTool, Methods: []string{"DELETE"}, Path: "/api/agents/{agent}/traces/latest",
			Action: "record:delete", Upstream: "tools", Resource: ResourceSpec{Type: "Trace", ID: "header:X-Trace-ID"}},
		{Name: "prompts", Kind: KindTool, Methods: []string{"get", "PUT"}, Path: "/api/prompts/{name...}",
			Action: "prompt:read", Upstream: "tools", Resource: ResourceSpec{Type: "Prompt", ID: "{name}"}},
		{Name: "index", Kind: KindTool, Methods: []string{"POST"}, Path: "/api/index/rebuild",
			Action: "index:rebuild", Upstream: "tools", Resource: ResourceSpec{Type: "Index", ID: "main"}},
		{Name: "root", Kind: KindTool, Methods: []string{"GET"}, Path: "/",
			Action: "tool:call", Upstream: "tools", Resource: ResourceSpec{Type: "Tool", ID: "root"}},
	}
}

func mustRouter(t testing.TB, routes []RouteSpec) *Router {
	t.Helper()
	r, err := NewRouter(routes)
	if err != nil {
		t.Fatalf("NewRouter: %v", err)
	}
	return r
}

func TestRouterMatch(t *testing.T) {
	rt := mustRouter(t, testRoutes())
	tests := []struct {
		method, path string
		route        string // "" = no match
		action       string
		params       map[string]string
	}{
		{"POST", "/v1/chat/completions", "openai", "model:invoke", map[string]string{"endpoint": "chat/completions"}},
		{"POST", "/v1/completions", "openai", "model:invoke", map[string]string{"endpoint": "completions"}},
		{"POST", "/v1/embeddings", "openai", "model:invoke", map[string]string{"endpoint": "embeddings"}},
		{"POST", "/v1/responses", "openai", "model:invoke", map[string]string{"endpoint": "responses"}},
		{"GET", "/v1/models", "openai", "model:list", map[string]string{"endpoint": "models"}},
		{"POST", "/v1/files", "", "", nil},              // model route: unknown endpoint
		{"POST", "/v1", "", "", nil},                    // catch-all needs one segment
		{"POST", "/v1/", "", "", nil},                   // trailing slash
		{"POST", "/v1/chat/%63ompletions", "", "", nil}, // escaped endpoint: not derived, fail closed
		{"POST", "/api/agents/a1/traces/t1/replay", "replay", "trace:replay", map[string]string{"agent": "a1", "id": "t1"}},
		{"GET", "/api/agents/a1/traces/t1/replay", "", "", nil}, // method
		{"GET", "/api/agents/a1/traces/t1", "trace-read", "trace:read", map[string]string{"agent": "a1", "id": "t1"}},
		{"GET", "/api/agents/a1/traces/latest", "trace-latest", "trace:read", map[string]string{"agent": "a1"}},
		{"DELETE", "/api/agents/a1/traces/latest", "trace-delete", "record:delete", map[string]string{"agent": "a1"}},
		// literal "latest" route has no POST: backtrack to {id}, then /replay.
		{"POST", "/api/agents/a1/traces/latest/replay", "replay", "trace:replay", map[string]string{"agent": "a1", "id": "latest"}},
		{"GET", "/api/agents/a%20b/traces/t%C3%A9", "trace-read", "trace:read", map[string]string{"agent": "a b", "id": "té"}},
		{"GET", "/api/prompts/team/summarise", "prompts", "prompt:read", map[string]string{"name": "team/summarise"}},
		{"PUT", "/api/prompts/x", "prompts", "prompt:read", map[string]string{"name": "x"}},
		{"get", "/api/prompts/x", "", "", nil}, // methods are case-sensitive on the wire
		{"POST", "/api/index/rebuild", "index", "index:rebuild", map[string]string{}},
		{"POST", "/api/index/%72ebuild", "index", "index:rebuild", map[string]string{}},
		{"GET", "/", "root", "tool:call", map[string]string{}},
		{"GET", "/nope", "", "", nil},
		// suspicious paths never match
		{"GET", "", "", "", nil},
		{"GET", "api/index", "", "", nil},
		{"GET", "/api//agents/a/traces/t", "", "", nil},
		{"GET", "/api/agents/a/traces/t/", "", "", nil},
		{"GET", "/api/agents/../traces/t", "", "", nil},
		{"GET", "/api/agents/./traces/t/x", "", "", nil},
		{"GET", "/api/agents/%2e%2E/traces/t", "", "", nil},
		{"GET", "/api/agents/%2E/traces/t", "", "", nil},
		{"GET", "/api/agents/a%2Fb/traces/t", "", "", nil},
		{"GET", "/api/agents/a%2fb/traces/t", "", "", nil},
		{"GET", "/api/agents/a%5Cb/traces/t", "", "", nil},
		{"GET", "/api/agents/a\\b/traces/t", "", "", nil},
		{"GET", "/api/agents/a%00/traces/t", "", "", nil},
		{"GET", "/api/agents/a%0A/traces/t", "", "", nil},
		{"GET", "/api/agents/a\x00/traces/t", "", "", nil},
		{"GET", "/api/agents/a b/traces/t", "", "", nil},
		{"GET", "/api/agents/a%zz/traces/t", "", "", nil},
		{"GET", "/api/agents/a%/traces/t", "", "", nil},
		{"GET", "/api/agents/a%2/traces/t", "", "", nil},
		{"GET", "/api/agents/a;x=1/traces/t", "", "", nil},
		{"POST", "/api/index/rebuild;x", "", "", nil},
		{"GET", "/api/agents/a%252F/traces/t", "", "", nil}, // double encoding
		{"GET", "/api/agents/a%3Bx/traces/t", "trace-read", "trace:read", map[string]string{"agent": "a;x", "id": "t"}},
		{"GET", "/api/agents/%ff/traces/t", "", "", nil},      // invalid UTF-8
		{"GET", "/api/agents/\xc3\xa9/traces/t", "", "", nil}, // raw non-ASCII
		{"GET", "/api/prompts/a/%2e%2e/b", "", "", nil},       // catch-all too
		{"GET", "/api/prompts/" + strings.Repeat("a", MaxParamBytes+1), "", "", nil},
		{"GET", "/api/prompts/" + strings.Repeat("a/", MaxPathSegments) + "a", "", "", nil},
		{"GET", "/" + strings.Repeat("a", MaxPathBytes), "", "", nil},
	}
	for _, tc := range tests {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			m, ok := rt.Match(tc.method, tc.path)
			if tc.route == "" {
				if ok {
					t.Fatalf("matched route %q, want no match", m.Route.Name)
				}
				return
			}
			if !ok {
				t.Fatalf("no match, want route %q", tc.route)
			}
			if m.Route.Name != tc.route || m.Action != tc.action {
				t.Errorf("got route %q action %q, want %q %q", m.Route.Name, m.Action, tc.route, tc.action)
			}
			got := map[string]string{}
			for _, p := range m.Params() {
				got[p.Name] = p.Value
			}
			if diff := cmp.Diff(tc.params, got); diff != "" {
				t.Errorf("params (-want +got):\n%s", diff)
			}
			for name, want := range tc.params {
				if v, ok := m.Param(name); !ok || v != want {
					t.Errorf("Param(%q) = %q, %v; want %q", name, v, ok, want)
				}
			}
			if _, ok := m.Param("nope"); ok {
				t.Error(`Param("nope") found`)
			}
		})
	}
}

func TestRouterPrecedence(t *testing.T) {
	routes := []RouteSpec{
		{Name: "param", Kind: KindTool, Methods: []string{"GET"}, Path: "/a/{x}/c", Action: "a:p", Upstream: "u", Resource: ResourceSpec{Type: "T", ID: "{x}"}},
		{Name: "literal", Kind: KindTool, Methods: []string{"GET"}, Path: "/a/b/d", Action: "a:l", Upstream: "u", Resource: ResourceSpec{Type: "T", ID: "b"}},
		{Name: "rest", Kind: KindTool, Methods: []string{"GET"}, Path: "/a/{r...}", Action: "a:r", Upstream: "u", Resource: ResourceSpec{Type: "T", ID: "{r}"}},
		{Name: "literal-rest", Kind: KindTool, Methods: []string{"GET"}, Path: "/a/b/{r...}", Action: "a:lr", Upstream: "u", Resource: ResourceSpec{Type: "T", ID: "{r}"}},
	}
	rt := mustRouter(t, routes)
	for path, want := range map[string]string{
		"/a/b/d":   "literal",      // literal all the way
		"/a/b/c":   "literal-rest", // literal b, then its catch-all, beats the param branch
		"/a/x/c":   "param",
		"/a/x/d":   "rest",
		"/a/x":     "rest",
		"/a/b":     "rest", // literal b has no terminal; param has none; catch-all
		"/a/b/c/d": "literal-rest",
	} {
		m, ok := rt.Match("GET", path)
		if !ok || m.Route.Name != want {
			name := ""
			if ok {
				name = m.Route.Name
			}
			t.Errorf("Match(%q) = %q, want %q", path, name, want)
		}
	}
}

func TestNewRouterErrors(t *testing.T) {
	tool := func(mod func(*RouteSpec)) RouteSpec {
		r := RouteSpec{Name: "t", Kind: KindTool, Methods: []string{"GET"}, Path: "/a/{id}", Action: "x:y", Upstream: "u",
			Resource: ResourceSpec{Type: "T", ID: "{id}"}}
		mod(&r)
		return r
	}
	tests := []struct {
		name   string
		routes []RouteSpec
		want   string
	}{
		{"no name", []RouteSpec{tool(func(r *RouteSpec) { r.Name = "" })}, "name is required"},
		{"dup name", []RouteSpec{tool(func(*RouteSpec) {}), tool(func(r *RouteSpec) { r.Path = "/b" })}, "duplicate name"},
		{"kind", []RouteSpec{tool(func(r *RouteSpec) { r.Kind = "x" })}, "kind"},
		{"upstream", []RouteSpec{tool(func(r *RouteSpec) { r.Upstream = "" })}, "upstream is required"},
		{"tool methods", []RouteSpec{tool(func(r *RouteSpec) { r.Methods = nil })}, "methods are required"},
		{"bad method", []RouteSpec{tool(func(r *RouteSpec) { r.Methods = []string{"GE T"} })}, "not an HTTP method"},
		{"dup method", []RouteSpec{tool(func(r *RouteSpec) { r.Methods = []string{"GET", "get"} })}, "listed twice"},
		{"relative", []RouteSpec{tool(func(r *RouteSpec) { r.Path = "a/{id}" })}, "must start with /"},
		{"empty seg", []RouteSpec{tool(func(r *RouteSpec) { r.Path = "/a//{id}" })}, "empty segment"},
		{"trailing", []RouteSpec{tool(func(r *RouteSpec) { r.Path = "/a/{id}/" })}, "empty segment"},
		{"dots", []RouteSpec{tool(func(r *RouteSpec) { r.Path = "/../{id}" })}, "dot segment"},
		{"unclosed", []RouteSpec{tool(func(r *RouteSpec) { r.Path = "/a/{id" })}, "malformed parameter"},
		{"bad param", []RouteSpec{tool(func(r *RouteSpec) { r.Path = "/a/{1d}"; r.Resource.ID = "x" })}, "bad parameter name"},
		{"dup param", []RouteSpec{tool(func(r *RouteSpec) { r.Path = "/{id}/{id}" })}, "appears twice"},
		{"rest not last", []RouteSpec{tool(func(r *RouteSpec) { r.Path = "/{id...}/a" })}, "must be the last"},
		{"literal chars", []RouteSpec{tool(func(r *RouteSpec) { r.Path = "/a%2F/{id}" })}, "not allowed in a literal"},
		{"literal semicolon", []RouteSpec{tool(func(r *RouteSpec) { r.Path = "/a;b/{id}" })}, "not allowed in a literal"},
		{"mixed seg", []RouteSpec{tool(func(r *RouteSpec) { r.Path = "/a/x{id}" })}, "not allowed in a literal"},
		{"too many params", []RouteSpec{tool(func(r *RouteSpec) { r.Path = "/{a}/{b}/{c}/{d}/{e}/{f}/{g}/{h}/{id}" })}, "more than 8"},
		{"no action", []RouteSpec{tool(func(r *RouteSpec) { r.Action = "" })}, "action is required"},
		{"bad action", []RouteSpec{tool(func(r *RouteSpec) { r.Action = `a"b` })}, "action"},
		{"no type", []RouteSpec{tool(func(r *RouteSpec) { r.Resource.Type = "" })}, "resource type is required"},
		{"no id", []RouteSpec{tool(func(r *RouteSpec) { r.Resource.ID = "" })}, "resource id is required"},
		{"unknown param", []RouteSpec{tool(func(r *RouteSpec) { r.Resource.ID = "{nope}" })}, "not in the path pattern"},
		{"attr unknown param", []RouteSpec{tool(func(r *RouteSpec) { r.Resource.Attributes = map[string]string{"a": "{x}"} })}, "not in the path pattern"},
		{"attr braces", []RouteSpec{tool(func(r *RouteSpec) { r.Resource.Attributes = map[string]string{"a": "x{id}"} })}, "braces"},
		{"attr empty", []RouteSpec{tool(func(r *RouteSpec) { r.Resource.Attributes = map[string]string{"a": ""} })}, "empty template"},
		{"attr name", []RouteSpec{tool(func(r *RouteSpec) { r.Resource.Attributes = map[string]string{"": "x"} })}, "empty name"},
		{"bad header", []RouteSpec{tool(func(r *RouteSpec) { r.Resource.ID = "header:a b" })}, "bad header name"},
		{"bad query", []RouteSpec{tool(func(r *RouteSpec) { r.Resource.ID = "query:" })}, "bad query parameter"},
		{"model resource", []RouteSpec{{Name: "m", Kind: KindModel, Path: "/v1/{e...}", Upstream: "u", Resource: ResourceSpec{Type: "Model"}}}, "resource must be empty"},
		{"same shape", []RouteSpec{tool(func(*RouteSpec) {}), tool(func(r *RouteSpec) { r.Name = "t2"; r.Path = "/a/{other}"; r.Resource.ID = "{other}" })}, "overlap"},
		{"any method overlaps", []RouteSpec{
			{Name: "m1", Kind: KindModel, Path: "/v1/{e...}", Upstream: "u"},
			{Name: "m2", Kind: KindModel, Methods: []string{"POST"}, Path: "/v1/{x...}", Upstream: "u"},
		}, "overlap"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewRouter(tc.routes)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.want)
			}
		})
	}
	// Same shape, disjoint methods: fine.
	ok := []RouteSpec{tool(func(*RouteSpec) {}), tool(func(r *RouteSpec) { r.Name = "t2"; r.Methods = []string{"POST"} })}
	if _, err := NewRouter(ok); err != nil {
		t.Errorf("disjoint methods: %v", err)
	}
}

func TestRouterCopiesSpecs(t *testing.T) {
	routes := testRoutes()
	rt := mustRouter(t, routes)
	routes[1].Resource.Attributes["agent"] = "changed"
	routes[1].Methods[0] = "GET"
	got := rt.Routes()[1]
	if got.Resource.Attributes["agent"] != "{agent}" || got.Methods[0] != "POST" {
		t.Errorf("router shares the caller's slices or maps: %+v", got)
	}
	if _, ok := rt.Match("POST", "/api/agents/a/traces/t/replay"); !ok {
		t.Error("route no longer matches after caller mutation")
	}
}

func TestMatchResource(t *testing.T) {
	rt := mustRouter(t, testRoutes())
	long := strings.Repeat("x", MaxResourceBytes+1)
	tests := []struct {
		name    string
		method  string
		target  string
		header  http.Header
		want    policy.Resource
		wantErr string // substring; "" = success
	}{
		{"params header query literal", "POST", "/api/agents/a1/traces/t1/replay?env=prod",
			http.Header{"X-Tenant": {"acme"}},
			policy.Resource{Type: "Trace", ID: "t1", Attributes: map[string]any{"agent": "a1", "tenant": "acme", "env": "prod", "kind": "trace"}}, ""},
		{"missing attributes left out", "POST", "/api/agents/a1/traces/t1/replay", nil,
			policy.Resource{Type: "Trace", ID: "t1", Attributes: map[string]any{"agent": "a1", "kind": "trace"}}, ""},
		{"id from query", "GET", "/api/agents/a1/traces/latest?id=t9", nil, policy.Resource{Type: "Trace", ID: "t9"}, ""},
		{"id from header", "DELETE", "/api/agents/a1/traces/latest", http.Header{"X-Trace-Id": {"t7"}}, policy.Resource{Type: "Trace", ID: "t7"}, ""},
		{"literal id", "POST", "/api/index/rebuild", nil, policy.Resource{Type: "Index", ID: "main"}, ""},
		{"decoded param", "GET", "/api/agents/a/traces/t%C3%A9", nil, policy.Resource{Type: "Trace", ID: "té"}, ""},
		{"missing query id", "GET", "/api/agents/a1/traces/latest", nil, policy.Resource{}, `missing resource id: query parameter "id"`},
		{"empty query id", "GET", "/api/agents/a1/traces/latest?id=", nil, policy.Resource{}, "missing resource id"},
		{"missing header id", "DELETE", "/api/agents/a1/traces/latest", nil, policy.Resource{}, "missing resource id: header X-Trace-Id"},
		{"repeated query", "GET", "/api/agents/a1/traces/latest?id=a&id=b", nil, policy.Resource{}, "more than once"},
		{"repeated header", "DELETE", "/api/agents/a1/traces/latest", http.Header{"X-Trace-Id": {"a", "b"}}, policy.Resource{}, "more than once"},
		{"malformed query", "GET", "/api/agents/a1/traces/latest?id=%zz", nil, policy.Resource{}, "malformed query"},
		{"long query", "GET", "/api/agents/a1/traces/latest?id=" + long, nil, policy.Resource{}, "longer than"},
		{"control in query", "GET", "/api/agents/a1/traces/latest?id=a%0Ab", nil, policy.Resource{}, "control"},
		{"bad utf8 query", "GET", "/api/agents/a1/traces/latest?id=%ff", nil, policy.Resource{}, "UTF-8"},
		{"long header attr", "POST", "/api/agents/a1/traces/t1/replay", http.Header{"X-Tenant": {long}}, policy.Resource{}, "longer than"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(tc.method, "http://gw"+tc.target, nil)
			for k, v := range tc.header {
				req.Header[k] = v
			}
			m, ok := rt.Match(req.Method, req.URL.EscapedPath())
			if !ok {
				t.Fatalf("no match for %s %s", tc.method, req.URL.EscapedPath())
			}
			got, err := m.Resource(req)
			if tc.wantErr != "" {
				var re *RequestError
				if !errors.As(err, &re) || re.Status != http.StatusBadRequest || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want 400 *RequestError containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("resource (-want +got):\n%s", diff)
			}
		})
	}
	t.Run("model route", func(t *testing.T) {
		m, _ := rt.Match("POST", "/v1/chat/completions")
		if _, err := m.Resource(httptest.NewRequest("POST", "/v1/chat/completions", nil)); !errors.Is(err, ErrNoResource) {
			t.Errorf("err = %v, want ErrNoResource", err)
		}
	})
}

func TestMatchAllocs(t *testing.T) {
	rt := mustRouter(t, benchRoutes(50))
	allocs := testing.AllocsPerRun(100, func() {
		if _, ok := rt.Match("POST", "/api/svc5/items/abc/replay"); !ok {
			t.Fatal("no match")
		}
	})
	if allocs > 2 {
		t.Errorf("Match allocates %v times, want <= 2", allocs)
	}
}

// benchRoutes builds n tool routes of assorted shapes plus the model routes.
func benchRoutes(n int) []RouteSpec {
	routes := []RouteSpec{{Name: "openai", Kind: KindModel, Path: "/v1/{endpoint...}", Upstream: "openai"}}
	shapes := []string{"/api/svc%d/items/{id}", "/api/svc%d/items/{id}/replay", "/api/svc%d/items", "/api/svc%d/{kind}/{id}/history", "/api/svc%d/files/{path...}"}
	for i := 0; len(routes) < n; i++ {
		p := fmt.Sprintf(shapes[i%len(shapes)], i/len(shapes))
		id := "{id}"
		switch {
		case strings.HasSuffix(p, "/items"):
			id = "query:id"
		case strings.HasSuffix(p, "{path...}"):
			id = "{path}"
		}
		routes = append(routes, RouteSpec{Name: fmt.Sprintf("r%d", i), Kind: KindTool, Methods: []string{"GET", "POST"}, Path: p,
			Action: "tool:call", Upstream: "u", Resource: ResourceSpec{Type: "Tool", ID: id}})
	}
	return routes
}

func BenchmarkMatch(b *testing.B) {
	rt := mustRouter(b, benchRoutes(50))
	for _, bc := range []struct{ name, method, path string }{
		{"model", "POST", "/v1/chat/completions"},
		{"tool", "POST", "/api/svc5/items/abc/replay"},
		{"escaped", "GET", "/api/svc9/items/a%20b"},
		{"miss", "GET", "/api/svc5/nothing/here/at/all"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				rt.Match(bc.method, bc.path)
			}
		})
	}
}

func ExampleRouter() {
	rt, err := NewRouter([]RouteSpec{
		{Name: "openai", Kind: KindModel, Path: "/v1/{endpoint...}", Upstream: "openai"},
		{
			Name: "replay", Kind: KindTool, Methods: []string{"POST"},
			Path:   "/api/agents/{agent}/traces/{id}/replay",
			Action: "trace:replay", Upstream: "tools",
			Resource: ResourceSpec{Type: "Trace", ID: "{id}", Attributes: map[string]string{"agent": "{agent}"}},
		},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	req := httptest.NewRequest("POST", "/api/agents/support-bot/traces/t-42/replay", nil)
	m, ok := rt.Match(req.Method, req.URL.EscapedPath())
	if !ok {
		fmt.Println("404")
		return
	}
	res, err := m.Resource(req)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(m.Route.Name, m.Action, res.UID(), res.Attributes["agent"])

	m, _ = rt.Match("GET", "/v1/models")
	fmt.Println(m.Route.Name, m.Action)

	_, ok = rt.Match("POST", "/api/agents/x/traces/..%2F..%2Fadmin/replay")
	fmt.Println(ok)
	// Output:
	// replay trace:replay Trace::"t-42" support-bot
	// openai model:list
	// false
}

func FuzzMatch(f *testing.F) {
	rt := mustRouter(f, testRoutes())
	for _, s := range []string{"/v1/chat/completions", "/api/agents/a/traces/t/replay", "/api/agents/%2e%2e/x", "/a//b", "/api/prompts/a%2Fb", "/", "/%zz", "/api/agents/a%C3%A9/traces/t"} {
		f.Add("GET", s)
	}
	f.Fuzz(func(t *testing.T, method, path string) {
		m, ok := rt.Match(method, path)
		if !ok {
			return
		}
		// Whatever matched is a clean path.
		if len(path) > MaxPathBytes || strings.Contains(path, "//") || strings.Contains(path, "\\") ||
			strings.Contains(strings.ToLower(path), "%2f") || strings.Contains(strings.ToLower(path), "%5c") ||
			strings.Contains(strings.ToLower(path), "%00") || strings.Contains(path, ";") ||
			strings.Contains(path, "%25") {
			t.Fatalf("suspicious path %q matched %q", path, m.Route.Name)
		}
		for _, seg := range strings.Split(path, "/")[1:] {
			if seg == "." || seg == ".." || seg == "" && path != "/" {
				t.Fatalf("dot or empty segment in %q matched", path)
			}
		}
		if m.Action == "" {
			t.Fatalf("match without action for %q", path)
		}
		for _, p := range m.Params() {
			if p.Value == "" || len(p.Value) > MaxParamBytes {
				t.Fatalf("param %q = %q", p.Name, p.Value)
			}
			if !strings.HasSuffix(m.Route.Path, "...}") && strings.Contains(p.Value, "/") {
				t.Fatalf("param %q contains a slash: %q", p.Name, p.Value)
			}
		}
		if m.Route.Kind == KindTool {
			req := httptest.NewRequest("GET", "http://gw/", nil)
			res, err := m.Resource(req)
			if err == nil && (res.ID == "" || len(res.ID) > MaxResourceBytes) {
				t.Fatalf("resource id %q", res.ID)
			}
		}
	})
}
