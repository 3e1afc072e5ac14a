// Package enforce puts Warden's enforcement inside a Go service: the same
// token verification, the same signed policy bundle and the same decision
// records as the gateway, evaluated in-process, with no network call on the
// request path except the confirmation of high-risk actions.
//
// A service builds one Enforcer with New from a Config (the trusted token
// issuers, the bundle source and its public keys, the decision log, and
// optionally Warden's URL with the service's client credentials), wraps its
// handlers with Middleware and a route table, and asks Decide inside a
// handler for decisions only the handler can make ("may this caller see the
// personal data in this record").
//
// What it guarantees:
//
//   - Fail closed. No bundle verified yet, a token that does not verify, a
//     decision that errs, a decision log that refuses the record, Warden
//     unreachable for a high-risk action: each is a refusal.
//   - The answers of the gateway. 401 with the same WWW-Authenticate
//     challenge, 403 with the deciding policy's @reason and the decision id,
//     404 for a path no route names, all as the gateway's JSON errors with
//     an X-Request-Id.
//   - Signed bundles only. A bundle activates after its signature, its
//     manifest, every file digest, its policies and its schema check out; a
//     bad one never replaces the last good one.
//   - High-risk actions are confirmed. A permit policy annotated
//     @risk("high") makes its allow high risk; the Enforcer then introspects
//     the token at Warden (RFC 7662) before allowing, with a cache of a few
//     seconds.
//
// This is the only public package of the module; everything it builds on
// stays internal, and no internal type appears in its API.
package enforce
