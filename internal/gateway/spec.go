package gateway

import "time"

// RouteSpec is one configured route, as loaded from the configuration.
type RouteSpec struct {
	Name     string       // unique, used in metrics and audit
	Kind     RouteKind    // KindModel or KindTool
	Methods  []string     // e.g. ["POST"]; empty = any (tool routes must set it)
	Path     string       // pattern: literal segments, {param} for one segment, {param...} as the last segment for the rest
	Action   string       // tool routes: the Cedar action, e.g. "trace:replay"; model routes: derived (model:invoke / model:list)
	Resource ResourceSpec // tool routes
	Upstream string       // name of an UpstreamSpec
}

// RouteKind says whether a route fronts a model API or an internal tool API.
type RouteKind string

// Route kinds.
const (
	KindModel RouteKind = "model"
	KindTool  RouteKind = "tool"
)

// ResourceSpec says how a request names its resource.
type ResourceSpec struct {
	Type       string            // Cedar entity type, e.g. "Trace"
	ID         string            // template: "{id}" (path param), "query:name", "header:X-Name", or a literal
	Attributes map[string]string // attribute -> same template forms
}

// UpstreamSpec is an upstream service and the credentials Warden injects.
type UpstreamSpec struct {
	Name    string
	URL     string            // http(s)://host:port/base
	Headers map[string]string // header -> value; values already resolved from env/file by config (never the caller's token)
	Timeout time.Duration
}
