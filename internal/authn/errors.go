package authn

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Reason is a stable, machine-readable code for why a token was rejected.
// Reasons are part of Warden's public surface (audit records, API error
// codes, CLI output): they never change meaning.
type Reason string

// The reasons a token can be rejected for.
const (
	// ReasonMalformed: not a well-formed compact JWS with JSON object header
	// and payload (segments, base64url, JSON, UTF-8, duplicate names, ...).
	ReasonMalformed Reason = "malformed"
	// ReasonTooLarge: the token exceeds Config.MaxTokenBytes.
	ReasonTooLarge Reason = "too_large"
	// ReasonForbiddenHeader: the header carries a member Warden never accepts
	// (crit, b64, zip, enc, cty, jku, x5u, jwk, x5c, ...).
	ReasonForbiddenHeader Reason = "forbidden_header"
	// ReasonAlgorithm: alg is missing, not in the issuer's allow-list, or does
	// not fit the key that kid names.
	ReasonAlgorithm Reason = "algorithm"
	// ReasonUnknownKey: no key of the issuer matches kid (or, without kid, no
	// single key fits alg).
	ReasonUnknownKey Reason = "unknown_key"
	// ReasonKeysUnavailable: the issuer's key set could not be refreshed for
	// longer than its max-stale bound; verification fails closed.
	ReasonKeysUnavailable Reason = "keys_unavailable"
	// ReasonBadSignature: the signature is missing or does not verify.
	ReasonBadSignature Reason = "bad_signature"
	// ReasonExpired: now is at or past exp plus leeway.
	ReasonExpired Reason = "expired"
	// ReasonNotYetValid: now is before nbf minus leeway, or iat is later
	// than now plus leeway.
	ReasonNotYetValid Reason = "not_yet_valid"
	// ReasonIssuer: iss is missing or not a trusted issuer.
	ReasonIssuer Reason = "issuer"
	// ReasonAudience: aud is missing or names none of the accepted audiences.
	ReasonAudience Reason = "audience"
	// ReasonType: the typ header is missing or not the configured type.
	ReasonType Reason = "type"
	// ReasonMissingClaim: a required claim (exp, or one of the issuer's
	// RequiredClaims) is absent.
	ReasonMissingClaim Reason = "missing_claim"
	// ReasonInvalidClaim: a claim has the wrong JSON type or an impossible
	// value (exp as a string, aud as a number, roles as a number, a negative
	// date, ...). errors.Is(err, ErrMalformed) also holds for it.
	ReasonInvalidClaim Reason = "invalid_claim"
	// ReasonRevoked: the token's jti is on the denylist.
	ReasonRevoked Reason = "revoked"
)

// Sentinels for errors.Is: every *VerifyError matches the sentinel of its
// Reason (and a ReasonInvalidClaim error also matches ErrMalformed).
var (
	ErrMalformed       = errors.New("malformed token")
	ErrTooLarge        = errors.New("token too large")
	ErrForbiddenHeader = errors.New("forbidden header")
	ErrAlgorithm       = errors.New("algorithm not allowed")
	ErrUnknownKey      = errors.New("unknown key")
	ErrKeysUnavailable = errors.New("keys unavailable")
	ErrBadSignature    = errors.New("bad signature")
	ErrExpired         = errors.New("token expired")
	ErrNotYetValid     = errors.New("token not yet valid")
	ErrIssuer          = errors.New("issuer not trusted")
	ErrAudience        = errors.New("audience not accepted")
	ErrType            = errors.New("wrong token type")
	ErrMissingClaim    = errors.New("missing claim")
	ErrInvalidClaim    = errors.New("invalid claim")
	ErrRevoked         = errors.New("token revoked")
)

// sentinel returns the sentinel error of r, or nil for an unknown reason.
func (r Reason) sentinel() error {
	switch r {
	case ReasonMalformed:
		return ErrMalformed
	case ReasonTooLarge:
		return ErrTooLarge
	case ReasonForbiddenHeader:
		return ErrForbiddenHeader
	case ReasonAlgorithm:
		return ErrAlgorithm
	case ReasonUnknownKey:
		return ErrUnknownKey
	case ReasonKeysUnavailable:
		return ErrKeysUnavailable
	case ReasonBadSignature:
		return ErrBadSignature
	case ReasonExpired:
		return ErrExpired
	case ReasonNotYetValid:
		return ErrNotYetValid
	case ReasonIssuer:
		return ErrIssuer
	case ReasonAudience:
		return ErrAudience
	case ReasonType:
		return ErrType
	case ReasonMissingClaim:
		return ErrMissingClaim
	case ReasonInvalidClaim:
		return ErrInvalidClaim
	case ReasonRevoked:
		return ErrRevoked
	}
	return nil
}

// VerifyError is the error Verify and Parse return. Reason is the stable
// code; Err describes the problem precisely. Neither ever contains the token
// or key material; values taken from the token (kid, iss, aud) are quoted and
// truncated.
type VerifyError struct {
	Reason Reason
	Err    error
}

// Error returns a one-line description, such as
// "token expired 2m3s ago (exp 2026-11-24T08:00:00Z)".
func (e *VerifyError) Error() string {
	if e.Err == nil {
		if s := e.Reason.sentinel(); s != nil {
			return s.Error()
		}
		return string(e.Reason)
	}
	return e.Err.Error()
}

// Unwrap returns the underlying error.
func (e *VerifyError) Unwrap() error { return e.Err }

// Is reports whether target is the sentinel of e's Reason.
func (e *VerifyError) Is(target error) bool {
	if target == nil {
		return false
	}
	if s := e.Reason.sentinel(); s == target {
		return true
	}
	return e.Reason == ReasonInvalidClaim && target == ErrMalformed
}

// fail builds a *VerifyError with a formatted message.
func fail(r Reason, format string, args ...any) *VerifyError {
	return &VerifyError{Reason: r, Err: fmt.Errorf(format, args...)}
}

// maxQuoted bounds how much of an attacker-chosen value an error message shows.
const maxQuoted = 64

// quote renders an untrusted string for an error message: Go-quoted (so
// control characters and invalid UTF-8 are escaped and the message stays on
// one line) and truncated to maxQuoted bytes.
func quote(s string) string {
	if len(s) <= maxQuoted {
		return fmt.Sprintf("%q", s)
	}
	cut := maxQuoted
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return fmt.Sprintf("%q… (%d bytes)", s[:cut], len(s))
}

// quoteList renders a list of configured values, e.g. ["a","b"].
func quoteList(list []string) string {
	var b strings.Builder
	b.WriteByte('[')
	for i, s := range list {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(quote(s))
	}
	b.WriteByte(']')
	return b.String()
}

// jsonType names the JSON type of a decoded value for error messages.
func jsonType(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case float64:
		return "a number"
	case bool:
		return "a boolean"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}

// byteCount renders n bytes, e.g. "1 byte", "64 bytes".
func byteCount(n int) string {
	if n == 1 {
		return "1 byte"
	}
	return strconv.Itoa(n) + " bytes"
}
