package console

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/wardenhq/warden/internal/audit"
	"github.com/wardenhq/warden/internal/authn"
	"github.com/wardenhq/warden/internal/gateway"
	"github.com/wardenhq/warden/internal/policy"
)

// sessionView is what the pages learn about their session.
type sessionView struct {
	Subject   string    `json:"subject"`
	Issuer    string    `json:"issuer"`
	Roles     []string  `json:"roles"`
	Expires   time.Time `json:"expires"`
	CSRF      string    `json:"csrf"`
	CanAudit  bool      `json:"can_audit"`
	CanMint   bool      `json:"can_generate"`
	AuditNode string    `json:"audit_node,omitempty"`
}

func (c *Console) view(ctx context.Context, ss *session) sessionView {
	p := ss.principal
	d := c.allowed(ctx, p, ActionAuditRead)
	return sessionView{
		Subject: p.Subject, Issuer: p.Issuer, Roles: p.Roles, Expires: ss.expires, CSRF: ss.csrf,
		CanAudit: d.Allowed && c.cfg.Store != nil, CanMint: c.cfg.InsecureDevMint != nil, AuditNode: c.cfg.Node,
	}
}

type signInRequest struct {
	Token string `json:"token"`
}

// signIn verifies the token once, asks the policy about console:view, and
// on allow creates the session. The decision is audited either way.
func (c *Console) signIn(r *http.Request, ex *exchange) error {
	if err := checkOrigin(r); err != nil {
		return err
	}
	var req signInRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	tok := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(req.Token), "Bearer "))
	if tok == "" {
		return &gateway.Error{Status: http.StatusBadRequest, Code: gateway.CodeInvalidRequest, Message: "paste a token to sign in"}
	}
	ctx := r.Context()
	now := c.clock()
	p, err := c.cfg.Verifier.Verify(ctx, tok)
	if err != nil {
		reason := "invalid"
		var ve *authn.VerifyError
		if errors.As(err, &ve) {
			reason = string(ve.Reason)
		}
		c.logger.InfoContext(ctx, "console sign-in refused", "request_id", ex.id, "reason", reason)
		return &gateway.Error{Status: http.StatusUnauthorized, Code: CodeInvalidToken,
			Message: "the token is not valid here: " + reason, Err: err}
	}
	d := c.allowed(ctx, p, ActionView)
	if err := c.auditSignIn(ctx, r, ex.id, p, &d, now); err != nil && d.Allowed {
		// Fail closed, as the gateway does: no unaudited sign-in.
		return &gateway.Error{Status: http.StatusServiceUnavailable, Code: gateway.CodeUnavailable,
			Message: "the audit log cannot record the sign-in; try again later", Err: err}
	}
	if !d.Allowed {
		c.logger.InfoContext(ctx, "console sign-in denied", "request_id", ex.id, "subject", p.Subject, "decision_id", d.ID)
		return errForbidden(ActionView, &d)
	}
	expires := p.Expiry
	if limit := now.Add(MaxSessionAge); expires.IsZero() || expires.After(limit) {
		expires = limit
	}
	id, ss := c.sessions.create(p, now, expires)
	setSessionCookie(ex.w, r, id, expires.Sub(now))
	c.logger.InfoContext(ctx, "console sign-in", "request_id", ex.id, "subject", p.Subject, "issuer", p.Issuer, "decision_id", d.ID, "expires", expires)
	return writeJSON(ex.w, http.StatusOK, c.view(ctx, ss))
}

// auditSignIn records a sign-in decision.
func (c *Console) auditSignIn(ctx context.Context, r *http.Request, reqID string, p *authn.Principal, d *policy.Decision, now time.Time) error {
	if c.cfg.Audit == nil {
		return nil
	}
	rec := audit.Record{
		Time: now, RequestID: reqID, DecisionID: d.ID, Phase: audit.PhaseDecision,
		Issuer: p.Issuer, Subject: p.Subject, ClientID: p.ClientID, JTI: p.TokenID, ClientIP: clientIP(r),
		Method: r.Method, Path: r.URL.EscapedPath(), Route: AuditRoute,
		Action: ActionView, ResourceType: ResourceConsole, ResourceID: resourceID,
		Decision: audit.Deny, Policies: d.PolicyIDs(), Errors: d.Errors,
		BundleRevision: d.Revision, BundleDigest: d.Digest,
	}
	for _, a := range p.Actor {
		rec.Actors = append(rec.Actors, a.Subject)
	}
	for _, rs := range d.Reasons {
		rec.Reasons = append(rec.Reasons, rs.Reason)
	}
	if d.Allowed {
		rec.Decision = audit.Allow
	} else {
		rec.ErrorCode = gateway.CodeForbidden
	}
	if err := c.cfg.Audit.Append(ctx, rec); err != nil {
		return fmt.Errorf("console: audit the sign-in: %w", err)
	}
	return nil
}

// clientIP is the peer address of the admin connection ("" if unparsable).
func clientIP(r *http.Request) string {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return ""
	}
	return ap.Addr().Unmap().String()
}

func (c *Console) sessionInfo(r *http.Request, ex *exchange) error {
	return writeJSON(ex.w, http.StatusOK, c.view(r.Context(), ex.session))
}

func (c *Console) signOut(r *http.Request, ex *exchange) error {
	_, id := c.sessionOf(r)
	c.sessions.delete(id)
	setSessionCookie(ex.w, r, "", 0)
	return writeJSON(ex.w, http.StatusOK, map[string]bool{"signed_out": true})
}
