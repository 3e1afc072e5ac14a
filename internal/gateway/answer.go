package gateway

import (
	"errors"
	"net/http"

	"github.com/wardenhq/warden/internal/audit"
	"github.com/wardenhq/warden/internal/authn"
	"github.com/wardenhq/warden/internal/policy"
)

// ErrTokenTooLarge is the cause Unauthenticated expects for a bearer token
// over the caller's size limit, refused before verification.
var ErrTokenTooLarge = errors.New("token over the size limit")

// Unauthenticated returns the 401 answer to a request whose bearer token is
// missing (BearerToken's ErrNoToken), malformed (any other BearerToken
// error), over the size limit (ErrTokenTooLarge) or refused by the verifier
// (an *authn.VerifyError): the WWW-Authenticate challenge (RFC 6750) and the
// JSON error to render with WriteError. The gateway and the enforce
// middleware answer with it, so a client sees the same 401 from both.
func Unauthenticated(err error) (challenge string, e *Error) {
	var ve *authn.VerifyError
	switch {
	case errors.Is(err, ErrNoToken):
		return WWWAuthenticate(Realm, "", ""),
			&Error{Status: http.StatusUnauthorized, Code: CodeUnauthorized, Message: "a bearer token is required", Err: err}
	case errors.Is(err, ErrMalformedAuthorization):
		return WWWAuthenticate(Realm, "invalid_request", "malformed Authorization header"),
			&Error{Status: http.StatusUnauthorized, Code: CodeUnauthorized, Message: "malformed Authorization header", Err: err}
	case errors.Is(err, ErrTokenTooLarge):
		return WWWAuthenticate(Realm, "invalid_token", string(authn.ReasonTooLarge)),
			&Error{Status: http.StatusUnauthorized, Code: CodeUnauthorized, Message: "invalid bearer token", Err: err}
	}
	desc := "invalid token"
	if errors.As(err, &ve) {
		desc = string(ve.Reason)
	}
	return WWWAuthenticate(Realm, "invalid_token", desc),
		&Error{Status: http.StatusUnauthorized, Code: CodeUnauthorized, Message: "invalid bearer token", Err: err}
}

// Denied returns the 403 answer to a policy deny: the first forbid's
// @reason as the public message (else "access denied by policy") and the
// decision id.
func Denied(d *policy.Decision) *Error {
	msg := "access denied by policy"
	for _, rs := range d.Reasons {
		if rs.Effect == "forbid" && rs.Reason != "" {
			msg = rs.Reason
			break
		}
	}
	return &Error{Status: http.StatusForbidden, Code: CodeForbidden, Message: msg, DecisionID: d.ID}
}

// RecordPrincipal fills the identity fields of rec from p: issuer, subject,
// client, token id and the delegation chain.
func RecordPrincipal(rec *audit.Record, p *authn.Principal) {
	rec.Issuer, rec.Subject, rec.ClientID, rec.JTI = p.Issuer, p.Subject, p.ClientID, p.TokenID
	for _, a := range p.Actor {
		rec.Actors = append(rec.Actors, a.Subject)
	}
}

// RecordDecision fills the decision fields of rec from d: the decision id,
// the bundle, the errors and the determining policies with their reasons.
// It leaves rec.Decision to the caller, which may still refuse an allow.
func RecordDecision(rec *audit.Record, d *policy.Decision) {
	rec.DecisionID = d.ID
	rec.BundleRevision, rec.BundleDigest = d.Revision, d.Digest
	rec.Errors = append(rec.Errors, d.Errors...)
	for _, rs := range d.Reasons {
		rec.Policies = append(rec.Policies, rs.PolicyID)
		rec.Reasons = append(rec.Reasons, rs.Reason)
	}
}

// ErrorCode returns the stable code WriteError sends for err.
func ErrorCode(err error) string {
	_, code, _, _ := public(err)
	return code
}
