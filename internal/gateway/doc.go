// Package gateway holds the request-shaping parts of Warden's data plane: it
// turns an HTTP request into the question the policy engine answers, and turns
// errors into safe JSON answers. The HTTP server, listeners and reverse proxy
// are built on top of it.
//
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
