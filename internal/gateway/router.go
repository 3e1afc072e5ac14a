package gateway

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/wardenhq/warden/internal/policy"
)

// Limits on request paths and on values taken from untrusted input. A path
// over a limit does not match (404); a resource value over a limit is a 400.
const (
	MaxPathBytes      = 2048 // escaped path, without the query
	MaxPathSegments   = 32
	MaxParamBytes     = 256  // one decoded path parameter ({x...}: the whole rest)
	MaxResourceBytes  = 256  // a resource id or attribute value from a param, query or header
	maxParams         = 8    // path parameters per route
	maxEscapedSegment = 1024 // decoded bytes of a path segment with percent escapes
)

// Actions of model routes, derived from the request path when the route sets
// no Action.
const (
	ActionModelInvoke = "model:invoke"
	ActionModelList   = "model:list"
)

// Router maps a method and a path to a configured route. It is compiled once
// by NewRouter, immutable afterwards and safe for concurrent use.
//
// Precedence: a path is matched segment by segment, and at each segment a
// literal beats a {param}, which beats a trailing {param...}. When the more
// specific branch cannot complete the match (the rest of the path, or the
// method, does not fit), the router backtracks to the next one, so the route
// chosen is the most specific one, segment by segment from the left, that
// accepts the method. Two routes with the same shape (the same literals and
// parameters at the same positions, parameter names aside) and overlapping
// methods are a configuration error.
type Router struct {
	root   *node
	routes []*route
}

type node struct {
	literal  map[string]*node
	param    *node    // {name}: exactly one non-empty segment
	catchAll []*route // {name...}: one or more remaining segments
	terminal []*route // routes whose pattern ends at this node
}

type route struct {
	spec       RouteSpec
	params     []string // names, in pattern order
	anyMethod  bool
	methods    []string // upper case, sorted
	modelEP    bool     // model route with a derived action
	resID      template
	resAttrs   []attrTemplate
	hasResType bool
}

type templateKind uint8

const (
	tmplNone templateKind = iota
	tmplLiteral
	tmplParam
	tmplQuery
	tmplHeader
)

type template struct {
	kind  templateKind
	value string // literal, query name or canonical header name
	param int    // index into route.params
}

type attrTemplate struct {
	name string
	t    template
}

// Param is one path parameter of a match.
type Param struct {
	Name  string
	Value string // percent-decoded
}

// Match is the result of a successful Router.Match.
type Match struct {
	// Route is the matched route's specification. Read-only.
	Route *RouteSpec
	// Action is the Cedar action: the route's Action, or for a model route
	// without one, ActionModelList for a path ending in /models and
	// ActionModelInvoke otherwise.
	Action string

	r      *route
	n      int
	values [maxParams]string
}

// Params returns the path parameters in pattern order, in a new slice.
func (m *Match) Params() []Param {
	ps := make([]Param, m.n)
	for i := range m.n {
		ps[i] = Param{Name: m.r.params[i], Value: m.values[i]}
	}
	return ps
}

// Param returns the value of the path parameter name.
func (m *Match) Param(name string) (string, bool) {
	for i := range m.n {
		if m.r.params[i] == name {
			return m.values[i], true
		}
	}
	return "", false
}

// ErrNoResource is returned by Match.Resource for a route that names no
// resource (model routes, whose resource is the model in the body: see
// ModelRequest.Resource).
var ErrNoResource = errors.New("gateway: route names no resource")

// Resource resolves the route's resource from the request: the id and the
// attributes from path parameters, the URL query (r.URL.RawQuery) and the
// headers, as the route's ResourceSpec says.
//
// Values from the request are bounded (MaxResourceBytes), must be valid UTF-8
// without control characters, and a query parameter or header named by a
// template must appear at most once (no parameter pollution). A missing or
// empty id is an error; a missing attribute is left out, so a policy can test
// it with "has". Every such error is a *RequestError (400 invalid_request): the
// route matched, so the client sent a malformed request rather than one to an
// unknown path.
func (m *Match) Resource(r *http.Request) (policy.Resource, error) {
	rt := m.r
	if !rt.hasResType {
		return policy.Resource{}, ErrNoResource
	}
	var query url.Values
	if rt.needsQuery() {
		q, err := url.ParseQuery(r.URL.RawQuery)
		if err != nil {
			return policy.Resource{}, badRequest("malformed query string")
		}
		query = q
	}
	res := policy.Resource{Type: rt.spec.Resource.Type}
	id, ok, err := m.resolve(rt.resID, query, r.Header)
	if err != nil {
		return policy.Resource{}, fmt.Errorf("resource id: %w", err)
	}
	if !ok || id == "" {
		return policy.Resource{}, badRequest("missing resource id: " + rt.resID.describe())
	}
	res.ID = id
	if len(rt.resAttrs) > 0 {
		res.Attributes = make(map[string]any, len(rt.resAttrs))
		for _, a := range rt.resAttrs {
			v, ok, err := m.resolve(a.t, query, r.Header)
			if err != nil {
				return policy.Resource{}, fmt.Errorf("resource attribute %q: %w", a.name, err)
			}
			if ok {
				res.Attributes[a.name] = v
			}
		}
	}
	return res, nil
}

func (rt *route) needsQuery() bool {
	if rt.resID.kind == tmplQuery {
		return true
	}
	for _, a := range rt.resAttrs {
		if a.t.kind == tmplQuery {
			return true
		}
	}
	return false
}

func (t template) describe() string {
	switch t.kind {
	case tmplQuery:
		return "query parameter " + fmt.Sprintf("%q", t.value)
	case tmplHeader:
		return "header " + t.value
	default:
		return "path"
	}
}

// resolve evaluates a template; ok is false when the source is absent.
func (m *Match) resolve(t template, query url.Values, h http.Header) (string, bool, error) {
	var v string
	switch t.kind {
	case tmplLiteral:
		return t.value, true, nil
	case tmplParam:
		v = m.values[t.param]
	case tmplQuery:
		vs := query[t.value]
		switch len(vs) {
		case 0:
			return "", false, nil
		case 1:
			v = vs[0]
		default:
			return "", false, badRequest(fmt.Sprintf("query parameter %q given more than once", t.value))
		}
	case tmplHeader:
		vs := h[t.value]
		switch len(vs) {
		case 0:
			return "", false, nil
		case 1:
			v = vs[0]
		default:
			return "", false, badRequest("header " + t.value + " given more than once")
		}
	default:
		return "", false, nil
	}
	if err := checkValue(v); err != nil {
		return "", false, badRequest(t.describe() + ": " + err.Error())
	}
	return v, true, nil
}

// checkValue bounds an untrusted resource value.
func checkValue(v string) error {
	if len(v) > MaxResourceBytes {
		return fmt.Errorf("longer than %d bytes", MaxResourceBytes)
	}
	if !utf8.ValidString(v) {
		return errors.New("not valid UTF-8")
	}
	for _, c := range v {
		if c < 0x20 || c == 0x7f || (c >= 0x80 && c < 0xa0) {
			return errors.New("contains control characters")
		}
	}
	return nil
}

// NewRouter validates and compiles routes. It reports every problem it finds,
// joined. Routes are copied; later changes to the slice do not affect the
// Router.
func NewRouter(routes []RouteSpec) (*Router, error) {
	rt := &Router{root: &node{}}
	var errs []error
	names := make(map[string]bool, len(routes))
	for i := range routes {
		spec := routes[i]
		label := spec.Name
		if label == "" {
			label = fmt.Sprintf("#%d", i+1)
		}
		if spec.Name == "" {
			errs = append(errs, fmt.Errorf("route %s: name is required", label))
		} else if names[spec.Name] {
			errs = append(errs, fmt.Errorf("route %q: duplicate name", spec.Name))
		}
		names[spec.Name] = true
		r, err := compileRoute(spec)
		if err != nil {
			errs = append(errs, fmt.Errorf("route %s: %w", label, err))
			continue
		}
		if err := rt.insert(r); err != nil {
			errs = append(errs, fmt.Errorf("route %s: %w", label, err))
			continue
		}
		rt.routes = append(rt.routes, r)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return rt, nil
}

func compileRoute(spec RouteSpec) (*route, error) {
	spec.Methods = slices.Clone(spec.Methods)
	attrs := make(map[string]string, len(spec.Resource.Attributes))
	for k, v := range spec.Resource.Attributes {
		attrs[k] = v
	}
	spec.Resource.Attributes = attrs
	r := &route{spec: spec}
	switch spec.Kind {
	case KindModel, KindTool:
	default:
		return nil, fmt.Errorf("kind %q: want %q or %q", spec.Kind, KindModel, KindTool)
	}
	if spec.Upstream == "" {
		return nil, errors.New("upstream is required")
	}
	// Methods.
	if len(spec.Methods) == 0 {
		if spec.Kind == KindTool {
			return nil, errors.New("methods are required for tool routes")
		}
		r.anyMethod = true
	}
	for _, m := range spec.Methods {
		if !isToken(m) {
			return nil, fmt.Errorf("method %q is not an HTTP method token", m)
		}
		um := strings.ToUpper(m)
		if slices.Contains(r.methods, um) {
			return nil, fmt.Errorf("method %s listed twice", um)
		}
		r.methods = append(r.methods, um)
	}
	slices.Sort(r.methods)
	// Path pattern.
	if err := r.parsePattern(spec.Path); err != nil {
		return nil, fmt.Errorf("path %q: %w", spec.Path, err)
	}
	// Action and resource.
	switch spec.Kind {
	case KindTool:
		if spec.Action == "" {
			return nil, errors.New("action is required for tool routes")
		}
		if spec.Resource.Type == "" {
			return nil, errors.New("resource type is required for tool routes")
		}
		if spec.Resource.ID == "" {
			return nil, errors.New("resource id is required for tool routes")
		}
	case KindModel:
		if spec.Resource.Type != "" || spec.Resource.ID != "" || len(spec.Resource.Attributes) > 0 {
			return nil, errors.New("model routes take their resource from the request body; resource must be empty")
		}
		r.modelEP = spec.Action == ""
	}
	if strings.ContainsFunc(spec.Action, func(c rune) bool { return c <= ' ' || c == '"' || c >= 0x7f }) {
		return nil, fmt.Errorf("action %q contains spaces, quotes or control characters", spec.Action)
	}
	if spec.Resource.Type != "" {
		r.hasResType = true
		t, err := r.parseTemplate(spec.Resource.ID)
		if err != nil {
			return nil, fmt.Errorf("resource id: %w", err)
		}
		r.resID = t
		keys := make([]string, 0, len(attrs))
		for k := range attrs {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			if k == "" {
				return nil, errors.New("resource attribute with an empty name")
			}
			t, err := r.parseTemplate(attrs[k])
			if err != nil {
				return nil, fmt.Errorf("resource attribute %q: %w", k, err)
			}
			r.resAttrs = append(r.resAttrs, attrTemplate{name: k, t: t})
		}
	}
	return r, nil
}

// parseTemplate compiles "{param}", "query:name", "header:Name" or a literal.
func (r *route) parseTemplate(s string) (template, error) {
	switch {
	case s == "":
		return template{}, errors.New("empty template")
	case strings.HasPrefix(s, "{"):
		name, ok := strings.CutSuffix(s[1:], "}")
		name = strings.TrimSuffix(name, "...")
		if !ok || !isParamName(name) {
			return template{}, fmt.Errorf("malformed parameter reference %q", s)
		}
		i := slices.Index(r.params, name)
		if i < 0 {
			return template{}, fmt.Errorf("parameter {%s} is not in the path pattern", name)
		}
		return template{kind: tmplParam, param: i}, nil
	case strings.HasPrefix(s, "query:"):
		name := s[len("query:"):]
		if name == "" || len(name) > 128 {
			return template{}, fmt.Errorf("bad query parameter name in %q", s)
		}
		return template{kind: tmplQuery, value: name}, nil
	case strings.HasPrefix(s, "header:"):
		name := s[len("header:"):]
		if !isToken(name) {
			return template{}, fmt.Errorf("bad header name in %q", s)
		}
		return template{kind: tmplHeader, value: http.CanonicalHeaderKey(name)}, nil
	}
	if strings.ContainsAny(s, "{}") {
		return template{}, fmt.Errorf("literal %q contains braces (a parameter reference must be the whole template)", s)
	}
	if err := checkValue(s); err != nil {
		return template{}, fmt.Errorf("literal %q: %w", s, err)
	}
	return template{kind: tmplLiteral, value: s}, nil
}

func (r *route) parsePattern(p string) error {
	if !strings.HasPrefix(p, "/") {
		return errors.New("must start with /")
	}
	if len(p) > MaxPathBytes {
		return fmt.Errorf("longer than %d bytes", MaxPathBytes)
	}
	if p == "/" {
		return nil
	}
	segs := strings.Split(p[1:], "/")
	if len(segs) > MaxPathSegments {
		return fmt.Errorf("more than %d segments", MaxPathSegments)
	}
	for i, s := range segs {
		switch {
		case s == "":
			return errors.New("empty segment (// or trailing /)")
		case strings.HasPrefix(s, "{"):
			name, ok := strings.CutSuffix(s[1:], "}")
			if !ok {
				return fmt.Errorf("malformed parameter segment %q", s)
			}
			if n, ok := strings.CutSuffix(name, "..."); ok {
				if i != len(segs)-1 {
					return fmt.Errorf("%q must be the last segment", s)
				}
				name = n
			}
			if !isParamName(name) {
				return fmt.Errorf("bad parameter name in %q (letters, digits, _; not starting with a digit)", s)
			}
			if slices.Contains(r.params, name) {
				return fmt.Errorf("parameter {%s} appears twice", name)
			}
			if len(r.params) == maxParams {
				return fmt.Errorf("more than %d parameters", maxParams)
			}
			r.params = append(r.params, name)
		default:
			if s == "." || s == ".." {
				return fmt.Errorf("dot segment %q", s)
			}
			for j := 0; j < len(s); j++ {
				if !isPatternLiteralByte(s[j]) {
					return fmt.Errorf("segment %q: character %q not allowed in a literal (use unreserved characters)", s, s[j])
				}
			}
		}
	}
	return nil
}

// insert adds r to the trie and checks it against routes of the same shape.
func (rt *Router) insert(r *route) error {
	n := rt.root
	p := r.spec.Path
	if p != "/" {
		for _, s := range strings.Split(p[1:], "/") {
			switch {
			case strings.HasSuffix(s, "...}"):
				for _, o := range n.catchAll {
					if r.overlaps(o) {
						return fmt.Errorf("path %q and methods overlap route %q (%s)", p, o.spec.Name, o.spec.Path)
					}
				}
				n.catchAll = append(n.catchAll, r)
				return nil
			case strings.HasPrefix(s, "{"):
				if n.param == nil {
					n.param = &node{}
				}
				n = n.param
			default:
				if n.literal == nil {
					n.literal = make(map[string]*node)
				}
				c := n.literal[s]
				if c == nil {
					c = &node{}
					n.literal[s] = c
				}
				n = c
			}
		}
	}
	for _, o := range n.terminal {
		if r.overlaps(o) {
			return fmt.Errorf("path %q and methods overlap route %q (%s)", p, o.spec.Name, o.spec.Path)
		}
	}
	n.terminal = append(n.terminal, r)
	return nil
}

func (r *route) overlaps(o *route) bool {
	if r.anyMethod || o.anyMethod {
		return true
	}
	for _, m := range r.methods {
		if slices.Contains(o.methods, m) {
			return true
		}
	}
	return false
}

func (r *route) allows(method string) bool {
	if r.anyMethod {
		return true
	}
	for _, m := range r.methods {
		if m == method {
			return true
		}
	}
	return false
}

// Routes returns the compiled routes' specifications, in configuration order.
func (rt *Router) Routes() []RouteSpec {
	out := make([]RouteSpec, len(rt.routes))
	for i, r := range rt.routes {
		out[i] = r.spec
	}
	return out
}

// Match finds the route for method and path. path is the escaped path as
// sent on the wire (r.URL.EscapedPath()), without the query.
//
// The path is checked before any lookup; it does not match (false: answer 404,
// never proxy) if it is empty, does not start with /, is longer than
// MaxPathBytes or has more than MaxPathSegments segments, contains an empty
// segment (// or a trailing /), a dot segment (. or .., also percent-encoded),
// a backslash, a semicolon (path parameters, which some upstreams strip before
// routing: "/traces/t1;x" would be judged as t1;x and served as t1), a byte
// outside printable ASCII, a malformed percent escape, or an escape that
// decodes to /, \, % (double encoding), a control character or invalid UTF-8.
// Parameter values are percent-decoded and at most MaxParamBytes long.
//
// A model route without an Action matches only paths ending in one of the
// OpenAI-compatible endpoints (/chat/completions, /completions, /embeddings,
// /responses: model:invoke; /models: model:list).
//
// Match allocates the *Match only, unless the path has percent escapes.
func (rt *Router) Match(method, path string) (*Match, bool) {
	hasPct, ok := checkPath(path)
	if !ok {
		return nil, false
	}
	m := &Match{}
	var found *route
	if path == "/" {
		found = pick(rt.root.terminal, method, path)
	} else {
		found = rt.match(rt.root, path, 1, method, hasPct, m)
	}
	if found == nil {
		return nil, false
	}
	m.r = found
	m.Route = &found.spec
	m.Action = found.spec.Action
	if found.modelEP {
		m.Action = modelAction(path)
	}
	return m, true
}

func pick(rs []*route, method, path string) *route {
	for _, r := range rs {
		if r.allows(method) && (!r.modelEP || modelAction(path) != "") {
			return r
		}
	}
	return nil
}

// match walks the trie from n for the segments of path starting at pos
// (just after a '/').
func (rt *Router) match(n *node, path string, pos int, method string, hasPct bool, m *Match) *route {
	end := strings.IndexByte(path[pos:], '/')
	last := end < 0
	if last {
		end = len(path)
	} else {
		end += pos
	}
	seg := path[pos:end]
	dec := seg
	if hasPct && strings.IndexByte(seg, '%') >= 0 {
		dec, _ = url.PathUnescape(seg) // validated by checkPath
	}
	if c := n.literal[dec]; c != nil {
		if last {
			if r := pick(c.terminal, method, path); r != nil {
				return r
			}
		} else if r := rt.match(c, path, end+1, method, hasPct, m); r != nil {
			return r
		}
	}
	if n.param != nil && len(dec) <= MaxParamBytes && m.n < maxParams {
		m.values[m.n] = dec
		m.n++
		if last {
			if r := pick(n.param.terminal, method, path); r != nil {
				return r
			}
		} else if r := rt.match(n.param, path, end+1, method, hasPct, m); r != nil {
			return r
		}
		m.n--
	}
	if len(n.catchAll) > 0 && m.n < maxParams {
		rest := path[pos:]
		if hasPct && strings.IndexByte(rest, '%') >= 0 {
			rest, _ = url.PathUnescape(rest) // no %2F: checkPath refused it
		}
		if len(rest) <= MaxParamBytes {
			if r := pick(n.catchAll, method, path); r != nil {
				m.values[m.n] = rest
				m.n++
				return r
			}
		}
	}
	return nil
}

// modelAction derives the action of a model route from the path's tail; ""
// means the path is not a known model endpoint.
func modelAction(path string) string {
	switch {
	case strings.HasSuffix(path, "/chat/completions"),
		strings.HasSuffix(path, "/completions"),
		strings.HasSuffix(path, "/embeddings"),
		strings.HasSuffix(path, "/responses"):
		return ActionModelInvoke
	case strings.HasSuffix(path, "/models"):
		return ActionModelList
	}
	return ""
}

// checkPath validates an escaped path; hasPct reports percent escapes.
func checkPath(p string) (hasPct, ok bool) {
	if len(p) == 0 || p[0] != '/' || len(p) > MaxPathBytes {
		return false, false
	}
	if p == "/" {
		return false, true
	}
	segs := 0
	segStart := 1
	for i := 1; i <= len(p); i++ {
		if i < len(p) && p[i] != '/' {
			c := p[i]
			if c <= ' ' || c >= 0x7f || c == '\\' || c == ';' {
				return false, false
			}
			if c == '%' {
				hasPct = true
			}
			continue
		}
		// p[segStart:i] is a segment.
		segs++
		if segs > MaxPathSegments {
			return false, false
		}
		s := p[segStart:i]
		if s == "" || s == "." || s == ".." {
			return false, false
		}
		if strings.IndexByte(s, '%') >= 0 && !checkEscapedSegment(s) {
			return false, false
		}
		segStart = i + 1
	}
	return hasPct, true
}

// checkEscapedSegment decodes a segment with escapes (into a stack buffer:
// a segment that decodes to more than maxEscapedSegment bytes is refused) and
// refuses what must not hide behind them.
func checkEscapedSegment(s string) bool {
	var buf [maxEscapedSegment]byte
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '%' {
			if i+2 >= len(s) {
				return false
			}
			h, l := unhex(s[i+1]), unhex(s[i+2])
			if h < 0 || l < 0 {
				return false
			}
			c = byte(h<<4 | l)
			i += 2
			if c < ' ' || c == 0x7f || c == '/' || c == '\\' || c == '%' {
				return false
			}
		}
		if n == len(buf) {
			return false
		}
		buf[n] = c
		n++
	}
	d := buf[:n]
	if string(d) == "." || string(d) == ".." || !utf8.Valid(d) {
		return false
	}
	return true
}

func unhex(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c - 'a' + 10)
	case c >= 'A' && c <= 'F':
		return int(c - 'A' + 10)
	}
	return -1
}

func isParamName(s string) bool {
	if s == "" || len(s) > 64 || (s[0] >= '0' && s[0] <= '9') {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// isPatternLiteralByte: RFC 3986 unreserved plus a few sub-delims that need no
// escaping in a path.
func isPatternLiteralByte(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return strings.IndexByte("-._~:@!$&'()*+,=", c) >= 0
}

// isToken reports whether s is an RFC 9110 token.
func isToken(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
			continue
		}
		if strings.IndexByte("!#$%&'*+-.^_`|~", c) < 0 {
			return false
		}
	}
	return true
}
