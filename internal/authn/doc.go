// Package authn verifies JWTs strictly (RFC 8725, RFC 9068) against trusted
// issuers and turns their claims into a Principal.
//
// A token is checked before any cryptography: size cap, exactly three
// segments, canonical base64url, JSON objects without duplicate names, no
// dangerous headers (crit, jku, x5u, jwk, x5c, ...). The algorithm comes from
// the issuer's allow-list, never from the header alone, and must match the key
// type. Keys are looked up by (issuer, kid) from static keys, JWKS files or
// JWKS URLs (cached, refreshed in the background, last good set kept within a
// max-stale bound). Verified tokens are cached by their SHA-256 until expiry,
// with a jti denylist consulted on every hit.
package authn
