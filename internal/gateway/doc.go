// Package gateway is Warden's data plane: the HTTP handler that judges every
// model call and internal-tool call, and the request-shaping parts it is
// built from. Listeners and the admin endpoints live in internal/cli.
//
//   - Gateway (New, Gateway.ServeHTTP) assembles a Verifier, a policy Engine,
//     an optional Guard and the audit Log. Per request: a fresh request id,
//     the bearer token verified (401 with an RFC 6750 challenge), the route
//     matched (404, never proxied), the resource found (the model in the body,
//     or the route's ResourceSpec), the decision (403 with its id and reason),
//     the request guards, the audit record appended before anything is
//     proxied (503 audit_unavailable when the log refuses it, unless
//     AuditFailOpen), then httputil.ReverseProxy with the caller's
//     credentials stripped, the upstream's injected, and the response guards
//     (JSON buffered and redacted, SSE redacted event by event); once the
//     response has ended, failed or been aborted, a second audit record
//     (phase "result": upstream status, total latency, response guards). /authz
//     (AuthzPath) answers forward-auth subrequests with identity headers.
//     Gateway.Stats feeds /metrics.
//   - Router (NewRouter, Router.Match) maps a method and an escaped path to a
//     configured RouteSpec, the Cedar action and the path parameters, and
//     resolves the route's resource (Match.Resource) from path parameters,
//     the query and headers. Routes are compiled once into a segment trie; a
//     suspicious or unmatched path does not match and must get 404 without
//     being proxied.
//   - ParseModelRequest reads the model, token limit and stream flag from an
//     OpenAI-compatible request body (strict: one JSON object, bounded size and
//     depth, no duplicate top-level names); FilterModels cuts an upstream
//     /v1/models list down to the models a caller may invoke.
//   - OriginalRequest reconstructs the request a reverse proxy (nginx
//     auth_request, Traefik ForwardAuth, Caddy forward_auth) asks about;
//     BearerToken extracts the caller's token strictly; WWWAuthenticate builds
//     the RFC 6750 challenge.
//   - Error and WriteError render {"error":{"code","message","request_id"}}:
//     a public message and stable code to the client, the cause kept for the
//     audit record.
//
// Everything here works on untrusted bytes and fails closed: anything
// malformed, ambiguous or over a limit is an error, never a best guess.
package gateway
