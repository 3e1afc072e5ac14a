package gateway

import (
	"net/http"

	"github.com/wardenhq/warden/internal/audit"
	"github.com/wardenhq/warden/internal/authn"
	"github.com/wardenhq/warden/internal/policy"
)

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
