// Package issuer makes Warden an OAuth 2.0 token issuer for agents and
// services: the token endpoint (client_credentials, refresh_token with
// rotation and reuse detection, RFC 8693 token exchange for an agent acting
// for a user), introspection (RFC 7662), revocation (RFC 7009), discovery
// (RFC 8414 and OpenID Connect) and the JWKS. An *Issuer is an http.Handler
// that the gateway mounts on the data plane.
//
// Access tokens are RFC 9068 JWTs (typ at+jwt) signed by the KeyRing's
// current key; keys live in the store, their private halves sealed with
// AES-256-GCM under a key-encryption key that never enters the store. A key
// is published one rotation before it signs, and a retired key stays
// published until every token it signed has expired.
//
// State is in package store: client secrets and refresh tokens only as
// SHA-256 hashes (both carry 256 random bits), revocations until the tokens
// they cover expire. Revocations is the node's in-memory copy, used as the
// gateway verifier's Denylist; Run keeps it current from PostgreSQL
// notifications and a periodic resync.
//
// Every failure is an RFC 6749 error with its status (invalid_client 401,
// with a Basic challenge when Basic was used; invalid_grant, invalid_scope,
// invalid_target, unsupported_grant_type, invalid_request 400) and nothing
// of its cause; the cause goes to the audit record.
package issuer
