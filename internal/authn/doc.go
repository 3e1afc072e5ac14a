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
//
// # Checks, in order
//
//  1. Size: longer than Config.MaxTokenBytes (8 KiB by default) is
//     ReasonTooLarge, before anything is decoded or allocated.
//  2. Structure (Parse): three segments of unpadded, canonical base64url;
//     header and payload each one JSON object of valid UTF-8 with no
//     duplicate member names at any depth, nesting at most 32 levels and
//     nothing after the object. JWE, the JWS JSON serialization, padding,
//     "+" and "/", line breaks and non-zero trailing bits are
//     ReasonMalformed. Member names are case-sensitive: "EXP" is an unknown
//     claim, not exp.
//  3. Header: crit, b64, zip, enc, cty, jku, x5u, jwk and x5c are
//     ReasonForbiddenHeader; nothing a token names is ever fetched. alg and
//     typ must be strings, kid a non-empty string of at most 256 bytes, used
//     only as a map key.
//  4. Issuer: the unverified "iss" selects the issuer configuration (exact
//     match; ReasonIssuer otherwise). Only that issuer's keys are searched.
//  5. Algorithm: exactly one of the issuer's Algorithms (case-sensitive;
//     "none" can never be configured), else ReasonAlgorithm.
//  6. Key: the issuer's key with that kid (ReasonUnknownKey if none, after
//     at most one refetch per cool-down); without kid, the issuer's only key
//     that fits alg. The key must fit alg — type, curve, size, and its own
//     "alg" if it pins one — else ReasonAlgorithm. HMAC keys exist only as
//     configured "oct" keys (never from a JWKS URL, never derived from an
//     asymmetric key's bytes), so HS256 signed with a public key as secret
//     fails.
//  7. Signature: exactly the length alg and key give (ES256 64 bytes,
//     ES384 96, ES512 132, EdDSA 64, RS and PS the modulus size, HS the hash
//     size), then golang-jwt's SigningMethod.Verify (PS* with the salt
//     length equal to the hash, RFC 7518 §3.5). Else ReasonBadSignature.
//  8. Claims: typ if configured (case-insensitive, "application/" optional);
//     exp required; nbf and iat; required claims; claim types and mapping;
//     aud; the denylist.
//
// # Time boundaries
//
// With leeway L (IssuerConfig.Leeway; zero means none), a token is valid at
// now when now < exp+L, now >= nbf-L and iat <= now+L. At exactly exp+L it
// has expired; at exactly nbf-L it is valid. NumericDates may be fractional;
// negative values, values past year 9999 and non-numbers (strings, null,
// booleans) are ReasonInvalidClaim.
//
// # Errors
//
// Every error from Verify and Parse is a *VerifyError with a stable Reason
// and a one-line message naming the problem, e.g. "token expired 2m3s ago
// (exp 2026-11-24T08:00:00Z)". errors.Is matches the Err* sentinel of the
// reason. Messages never contain the token or key material; values taken
// from a token are quoted and truncated.
//
// # Key sets
//
// A JWKS URL must be https, except http to a loopback host (localhost,
// 127.0.0.0/8, ::1) for tests and same-host sidecars; redirects must keep to
// the same rule. New fetches it once and fails if it cannot. The body is
// capped at MaxJWKSBytes and the fetch at DefaultFetchTimeout unless the
// HTTP client has its own timeout. The set is used for its Cache-Control
// max-age clamped to [MinRefresh, MaxRefresh], refreshed in the background
// after three quarters of that, and kept while refreshes fail until MaxStale
// after its lifetime; then tokens fail with ReasonKeysUnavailable until a
// refresh succeeds. An unknown kid triggers a refetch at most once per
// UnknownKidCooldown per issuer. A JWKS file is reread when it changes.
//
// # Cache
//
// A successful verification is cached under the token's SHA-256 (bounded,
// CLOCK eviction) and served until exp+leeway, only while the issuer's keys
// are unchanged and not stale; the denylist is asked on every hit. The
// cached Principal is shared: treat it as read-only.
package authn
