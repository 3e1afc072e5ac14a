// Package authzen serves the OpenID AuthZEN Authorization API 1.0 on
// Warden's data plane, for services in other languages that ask Warden for
// decisions instead of embedding the enforcer:
//
//   - POST /access/v1/evaluation: one decision; POST /access/v1/evaluations:
//     several, with top-level defaults, per-item overrides and the
//     execute_all, deny_on_first_deny and permit_on_first_permit semantics;
//     GET /.well-known/authzen-configuration: the PDP metadata.
//   - The subject is the caller's verified bearer token, or, for a caller
//     whose token holds the pdp:query scope, the explicit subject of the
//     request (SubjectPrincipal says how it maps to a principal).
//   - Decisions come from the same policy.Engine as the gateway's; each
//     evaluation is one audit.Record, and a request the log refuses is 503
//     (fail closed).
//   - ParseEvaluation and ParseEvaluations read untrusted bodies strictly:
//     bounded size, depth and item count, no duplicate or unknown members.
//
// New builds the Handler; Handler.Mount plugs it into gateway.Config.Mounts.
// docs/authzen.md documents the wire format, limits and errors.
package authzen
