package config

import (
	"slices"
	"strings"

	"github.com/goccy/go-yaml/ast"
	"github.com/wardenhq/warden/internal/gateway"
)

// ModelRoutes are the OpenAI-compatible routes the models shorthand expands
// into, in this order.
var modelRoutes = []struct{ name, method, path string }{
	{"chat_completions", "POST", "/v1/chat/completions"},
	{"completions", "POST", "/v1/completions"},
	{"embeddings", "POST", "/v1/embeddings"},
	{"responses", "POST", "/v1/responses"},
	{"models", "GET", "/v1/models"},
}

// routeKey identifies a route for duplicate checks.
type routeKey struct{ method, path string }

func (b *builder) routes(cfg *Config, n ast.Node) {
	names := map[string]ast.Node{}
	taken := map[routeKey]ast.Node{}
	for i, it := range b.list(n, "routes") {
		p := index("routes", i)
		r, ok := b.route(it, p)
		if !ok {
			continue
		}
		if first, dup := names[r.Name]; dup {
			line, _ := pos(first)
			b.errorf(it, p+".name", "route %q defined twice (first at line %d)", r.Name, line)
			continue
		}
		if !b.claim(taken, r, it, p) {
			continue
		}
		names[r.Name] = it
		cfg.Routes = append(cfg.Routes, r)
	}
}

// claim records the (method, path) pairs of r, reporting overlaps.
func (b *builder) claim(taken map[routeKey]ast.Node, r gateway.RouteSpec, at ast.Node, p string) bool {
	methods := r.Methods
	if len(methods) == 0 {
		methods = []string{"*"}
	}
	for _, m := range methods {
		for _, k := range []routeKey{{m, r.Path}, {"*", r.Path}} {
			if first, dup := taken[k]; dup {
				line, _ := pos(first)
				b.errorf(at, p+".path", "%s %s is already routed (line %d)", m, r.Path, line)
				return false
			}
		}
		if m == "*" {
			for k, first := range taken {
				if k.path == r.Path {
					line, _ := pos(first)
					b.errorf(at, p+".path", "%s is already routed (line %d)", r.Path, line)
					return false
				}
			}
		}
	}
	for _, m := range methods {
		taken[routeKey{m, r.Path}] = at
	}
	return true
}

func (b *builder) route(n ast.Node, p string) (gateway.RouteSpec, bool) {
	before := len(b.sink.errs) + b.sink.more
	f := b.object(n, p, "name", "kind", "methods", "path", "action", "resource", "upstream")
	var r gateway.RouteSpec
	if v := f.get("name"); v == nil {
		b.errorf(f.at("name"), p+".name", "required")
	} else if s, ok := b.str(v, p+".name"); ok {
		if !name(s) {
			b.errorf(v, p+".name", "%q is not a name (want lower-case letters, digits, - _ .)", s)
		}
		r.Name = s
	}
	if v := f.get("kind"); v == nil {
		b.errorf(f.at("kind"), p+".kind", "required: model or tool")
	} else if s, ok := b.str(v, p+".kind"); ok {
		switch gateway.RouteKind(s) {
		case gateway.KindModel, gateway.KindTool:
			r.Kind = gateway.RouteKind(s)
		default:
			b.errorf(v, p+".kind", "%q is not a route kind (want model or tool)", s)
		}
	}
	if v := f.get("methods"); v != nil {
		for j, it := range b.list(v, p+".methods") {
			mp := index(p+".methods", j)
			m, ok := b.str(it, mp)
			switch {
			case !ok:
			case !method(m):
				b.errorf(it, mp, "%q is not an HTTP method (want upper case, e.g. GET, POST)", m)
			case slices.Contains(r.Methods, m):
				b.errorf(it, mp, "%s listed twice", m)
			default:
				r.Methods = append(r.Methods, m)
			}
		}
	}
	var params []string
	if v := f.get("path"); v == nil {
		b.errorf(f.at("path"), p+".path", "required, e.g. \"/api/traces/{id}\"")
	} else if s, ok := b.str(v, p+".path"); ok {
		var msg string
		params, msg = pathParams(s)
		if msg != "" {
			b.errorf(v, p+".path", "%s", msg)
		}
		r.Path = s
	}
	if v := f.get("upstream"); v == nil {
		b.errorf(f.at("upstream"), p+".upstream", "required: the name of an upstream")
	} else if s, ok := b.str(v, p+".upstream"); ok {
		if _, found := b.upstreams[s]; !found {
			b.errorf(v, p+".upstream", "no upstream named %q (want one of %s)", s, b.upstreamNames())
		}
		r.Upstream = s
	}
	switch r.Kind {
	case gateway.KindModel:
		for _, k := range []string{"action", "resource"} {
			if _, set := f.vals[k]; set {
				b.errorf(f.at(k), p+"."+k, "not allowed on a model route (the action is model:invoke or model:list, the resource the model named in the body)")
			}
		}
	case gateway.KindTool:
		if len(r.Methods) == 0 && f.get("methods") == nil {
			b.errorf(f.at("methods"), p+".methods", "required on a tool route, e.g. [POST]")
		}
		if v := f.get("action"); v == nil {
			b.errorf(f.at("action"), p+".action", "required on a tool route, e.g. \"trace:replay\"")
		} else if s, ok := b.str(v, p+".action"); ok {
			if !actionName(s) {
				b.errorf(v, p+".action", "%q is not an action (want noun:verb, e.g. \"trace:replay\")", s)
			}
			r.Action = s
		}
		if v := f.get("resource"); v == nil {
			b.errorf(f.at("resource"), p+".resource", "required on a tool route: {type, id}")
		} else {
			r.Resource = b.resource(v, p+".resource", params)
		}
	}
	return r, len(b.sink.errs)+b.sink.more == before
}

func (b *builder) upstreamNames() string {
	names := make([]string, 0, len(b.upstreams))
	for n := range b.upstreams {
		names = append(names, n)
	}
	if len(names) == 0 {
		return "none: define upstreams first"
	}
	slices.Sort(names)
	return strings.Join(names, ", ")
}

func (b *builder) resource(n ast.Node, p string, params []string) gateway.ResourceSpec {
	f := b.object(n, p, "type", "id", "attributes")
	var rs gateway.ResourceSpec
	if v := f.get("type"); v == nil {
		b.errorf(f.at("type"), p+".type", "required: a Cedar entity type, e.g. \"Trace\"")
	} else if s, ok := b.str(v, p+".type"); ok {
		if !entityType(s) {
			b.errorf(v, p+".type", "%q is not an entity type (want e.g. \"Trace\" or \"Ns::Trace\")", s)
		}
		rs.Type = s
	}
	if v := f.get("id"); v == nil {
		b.errorf(f.at("id"), p+".id", "required: \"{param}\", \"query:NAME\", \"header:NAME\" or a literal")
	} else if s, ok := b.str(v, p+".id"); ok {
		if msg := template(s, params); msg != "" {
			b.errorf(v, p+".id", "%s", msg)
		}
		rs.ID = s
	}
	if v := f.get("attributes"); v != nil {
		es, _ := b.entries(v, p+".attributes")
		for _, e := range es {
			ep := p + ".attributes." + e.key
			if !identifier(e.key) {
				b.errorf(e.keyNode, ep, "%q is not an attribute name (want letters, digits and _; starting with a letter)", e.key)
				continue
			}
			s, ok := b.str(e.val, ep)
			if !ok {
				continue
			}
			if msg := template(s, params); msg != "" {
				b.errorf(e.val, ep, "%s", msg)
				continue
			}
			if rs.Attributes == nil {
				rs.Attributes = map[string]string{}
			}
			rs.Attributes[e.key] = s
		}
	}
	return rs
}

// template checks a resource value template; it returns a message or "".
func template(s string, params []string) string {
	switch {
	case s == "":
		return "must not be empty"
	case strings.HasPrefix(s, "{") && strings.HasSuffix(s, "}"):
		name := strings.TrimSuffix(strings.TrimPrefix(s, "{"), "}")
		if !slices.Contains(params, name) {
			if len(params) == 0 {
				return "path parameter " + s + " is not in the route's path (it has none)"
			}
			return "path parameter " + s + " is not in the route's path (want one of {" + strings.Join(params, "}, {") + "})"
		}
	case strings.HasPrefix(s, "query:"):
		if strings.TrimPrefix(s, "query:") == "" {
			return "query: needs a parameter name, e.g. \"query:id\""
		}
	case strings.HasPrefix(s, "header:"):
		if !headerName(strings.TrimPrefix(s, "header:")) {
			return "header: needs a header name, e.g. \"header:X-Agent\""
		}
	case strings.ContainsAny(s, "{}"):
		return "\"" + s + "\": a template is a whole value (\"{param}\"), not part of a literal"
	}
	return ""
}

// pathParams checks a route path pattern and returns its parameters.
func pathParams(s string) ([]string, string) {
	if !strings.HasPrefix(s, "/") {
		return nil, "\"" + s + "\": want a path starting with /"
	}
	if strings.ContainsAny(s, "?#%") || !headerValue(s) || strings.ContainsRune(s, ' ') {
		return nil, "\"" + s + "\": a path pattern has no query, fragment, escapes, spaces or control characters"
	}
	segs := strings.Split(s[1:], "/")
	var params []string
	for i, seg := range segs {
		last := i == len(segs)-1
		switch {
		case seg == "" && !last:
			return nil, "\"" + s + "\": empty path segment"
		case seg == "." || seg == "..":
			return nil, "\"" + s + "\": dot segments are not allowed"
		case strings.HasPrefix(seg, "{") && strings.HasSuffix(seg, "}"):
			name := seg[1 : len(seg)-1]
			if rest, ok := strings.CutSuffix(name, "..."); ok {
				if !last {
					return nil, "\"" + s + "\": {" + name + "} must be the last segment"
				}
				name = rest
			}
			if !identifier(name) {
				return nil, "\"" + s + "\": {" + name + "} is not a parameter name"
			}
			if slices.Contains(params, name) {
				return nil, "\"" + s + "\": parameter {" + name + "} appears twice"
			}
			params = append(params, name)
		case strings.ContainsAny(seg, "{}"):
			return nil, "\"" + s + "\": a parameter is a whole segment (\"{id}\")"
		}
	}
	return params, ""
}

// method reports whether s is an upper-case HTTP method token.
func method(s string) bool {
	if s == "" || len(s) > 20 {
		return false
	}
	for _, c := range s {
		if c < 'A' || c > 'Z' {
			return false
		}
	}
	return true
}

// actionName reports whether s looks like "noun:verb".
func actionName(s string) bool {
	noun, verb, ok := strings.Cut(s, ":")
	return ok && ident(noun) && ident(verb)
}

func ident(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i, c := range s {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
		case (c >= '0' && c <= '9' || c == '_' || c == '-') && i > 0:
		default:
			return false
		}
	}
	return true
}

// entityType reports whether s is a Cedar entity type path.
func entityType(s string) bool {
	for _, part := range strings.Split(s, "::") {
		if !identifier(part) {
			return false
		}
	}
	return true
}

// models expands the models shorthand into the OpenAI-compatible routes.
func (b *builder) models(cfg *Config, n ast.Node) {
	if n == nil {
		return
	}
	f := b.object(n, "models", "upstream")
	v := f.get("upstream")
	if v == nil {
		b.errorf(f.at("upstream"), "models.upstream", "required: the name of the model upstream")
		return
	}
	up, ok := b.str(v, "models.upstream")
	if !ok {
		return
	}
	if _, found := b.upstreams[up]; !found {
		b.errorf(v, "models.upstream", "no upstream named %q (want one of %s)", up, b.upstreamNames())
		return
	}
	for _, m := range modelRoutes {
		for _, r := range cfg.Routes {
			if r.Name == m.name {
				b.errorf(start(n), "models", "expands to route %q, which routes already defines", m.name)
				return
			}
			if r.Path == m.path && (len(r.Methods) == 0 || slices.Contains(r.Methods, m.method)) {
				b.errorf(start(n), "models", "expands to %s %s, which route %q already serves", m.method, m.path, r.Name)
				return
			}
		}
	}
	for _, m := range modelRoutes {
		cfg.Routes = append(cfg.Routes, gateway.RouteSpec{
			Name:     m.name,
			Kind:     gateway.KindModel,
			Methods:  []string{m.method},
			Path:     m.path,
			Upstream: up,
		})
	}
}
