package console

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"mime"
	"net/http"
	"net/netip"
	"path"
	"strings"
	"time"

	"github.com/wardenhq/warden/internal/audit"
	"github.com/wardenhq/warden/internal/authn"
	"github.com/wardenhq/warden/internal/gateway"
	"github.com/wardenhq/warden/internal/policy"
)

// allowed asks the engine whether p may perform action on the console's
// resource for that action. Any error is a deny.
func (c *Console) allowed(ctx context.Context, p *authn.Principal, action string) policy.Decision {
	res := ResourceConsole
	if action == ActionAuditRead {
		res = ResourceAudit
	}
	return c.cfg.Engine.Decide(ctx, policy.Request{
		Principal: p,
		Action:    action,
		Resource:  policy.Resource{Type: res, ID: resourceID},
	})
}

func errForbidden(action string, d *policy.Decision) error {
	return &gateway.Error{Status: http.StatusForbidden, Code: gateway.CodeForbidden,
		Message:    fmt.Sprintf("Not allowed: the policy does not permit %s for you (%s)", action, d.Summary()),
		DecisionID: d.ID}
}

var errNoSession = &gateway.Error{Status: http.StatusUnauthorized, Code: CodeNoSession, Message: "sign in first"}

// authorize finds the request's session and checks that its principal may
// still view the console and, if need is set, perform need too.
func (c *Console) authorize(r *http.Request, ex *exchange, need string) error {
	ss, _ := c.sessionOf(r)
	if ss == nil {
		return errNoSession
	}
	for _, action := range []string{ActionView, need} {
		if action == "" {
			continue
		}
		if d := c.allowed(r.Context(), ss.principal, action); !d.Allowed {
			return errForbidden(action, &d)
		}
	}
	ex.session = ss
	return nil
}

// api wraps an API handler: a session whose principal may view the console
// (and perform need), and for state-changing calls a same-origin request
// with the session's CSRF token.
func (c *Console) api(stateChanging bool, need string, h handler) handler {
	return func(r *http.Request, ex *exchange) error {
		if stateChanging {
			if err := checkOrigin(r); err != nil {
				return err
			}
		}
		if err := c.authorize(r, ex, need); err != nil {
			return err
		}
		if stateChanging {
			if err := checkCSRF(r, ex.session); err != nil {
				return err
			}
		}
		return h(r, ex)
	}
}

// index is the sign-in page, or the token tools once signed in.
func (c *Console) index(r *http.Request, ex *exchange) error {
	if ss, _ := c.sessionOf(r); ss != nil {
		http.Redirect(ex.w, r, Prefix+"tokens", http.StatusSeeOther)
		return nil
	}
	return c.render(ex.w, "signin", http.StatusOK, pageData{})
}

// page serves a console page to a signed-in principal; without a session it
// sends the browser to the sign-in page.
func (c *Console) page(name, need string) handler {
	return func(r *http.Request, ex *exchange) error {
		err := c.authorize(r, ex, need)
		if errors.Is(err, errNoSession) {
			http.Redirect(ex.w, r, Prefix, http.StatusSeeOther)
			return nil
		}
		if err != nil {
			return err
		}
		return c.render(ex.w, name, http.StatusOK, pageData{})
	}
}

// asset serves the embedded styles and scripts.
func (c *Console) asset(r *http.Request, ex *exchange) error {
	name := r.PathValue("file")
	ext := path.Ext(name)
	if name != path.Base(name) || (ext != ".css" && ext != ".js") {
		return &gateway.Error{Status: http.StatusNotFound, Code: gateway.CodeNotFound, Message: "no such file"}
	}
	return c.serveFile(ex.w, name, http.StatusOK)
}

func (c *Console) serveFile(w http.ResponseWriter, name string, status int) error {
	b, err := fs.ReadFile(c.static, name)
	if err != nil {
		return &gateway.Error{Status: http.StatusNotFound, Code: gateway.CodeNotFound, Message: "no such file", Err: err}
	}
	ct := mime.TypeByExtension(path.Ext(name))
	if path.Ext(name) == ".js" {
		ct = "text/javascript; charset=utf-8"
	}
	w.Header().Set("Content-Type", ct)
	w.WriteHeader(status)
	_, _ = w.Write(b)
	return nil
}

// errorPage renders an error with the public message only.
func (c *Console) errorPage(w http.ResponseWriter, r *http.Request, id string, err error) {
	status, msg := http.StatusInternalServerError, "internal error"
	var ge *gateway.Error
	if errors.As(err, &ge) && ge.Status >= 400 && ge.Status <= 599 {
		status, msg = ge.Status, ge.Message
	}
	if rerr := c.render(w, "error", status, pageData{Status: status, Message: msg, RequestID: id}); rerr != nil {
		c.logger.ErrorContext(r.Context(), "console error page", "request_id", id, "err", rerr)
		http.Error(w, msg, status)
	}
}

// page is one parsed page and what the layout needs to know about it.
type page struct {
	tmpl          *template.Template
	title, script string
	nav           bool
}

// parsePages parses every page with the layout, once.
func parsePages() (map[string]*page, error) {
	out := map[string]*page{
		"signin":     {title: "Sign in", script: "signin.js"},
		"tokens":     {title: "Token tools", script: "tokens.js", nav: true},
		"playground": {title: "Policy playground", script: "playground.js", nav: true},
		"audit":      {title: "Audit log", script: "audit.js", nav: true},
		"error":      {title: "Error"},
	}
	for name, p := range out {
		t, err := template.ParseFS(pageFiles, "pages/layout.html", "pages/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("console: page %s: %w", name, err)
		}
		p.tmpl = t
	}
	return out, nil
}

// pageData fills the layout and the page.
type pageData struct {
	Title, Page, Script string
	Nav                 bool
	Status              int
	Message, RequestID  string
}

// render executes a page into a buffer first, so that a template error
// becomes an error response rather than half a page.
func (c *Console) render(w http.ResponseWriter, name string, status int, d pageData) error {
	p := c.pages[name]
	if p == nil {
		return fmt.Errorf("console: no page %q", name)
	}
	d.Title, d.Page, d.Script, d.Nav = p.title, name, p.script, p.nav
	if name == "error" {
		d.Title = fmt.Sprintf("Error %d", status)
	}
	var buf bytes.Buffer
	if err := p.tmpl.ExecuteTemplate(&buf, "layout", d); err != nil {
		return fmt.Errorf("console: render %s: %w", name, err)
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
	return nil
}

// decodeJSON decodes a request body of exactly one JSON object into v;
// unknown fields are errors.
func decodeJSON(r *http.Request, v any) error {
	if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct != "application/json" {
		return &gateway.Error{Status: http.StatusUnsupportedMediaType, Code: gateway.CodeInvalidRequest, Message: "the body must be application/json"}
	}
	return decodeBody(r.Body, v)
}

func decodeBody(body io.Reader, v any) error {
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return &gateway.Error{Status: http.StatusRequestEntityTooLarge, Code: gateway.CodeTooLarge, Message: fmt.Sprintf("the body exceeds %d bytes", maxBodyBytes)}
		}
		return &gateway.Error{Status: http.StatusBadRequest, Code: gateway.CodeInvalidRequest, Message: "the body is not a valid JSON request", Err: err}
	}
	if _, err := dec.Token(); err != io.EOF {
		return &gateway.Error{Status: http.StatusBadRequest, Code: gateway.CodeInvalidRequest, Message: "trailing data after the JSON request"}
	}
	return nil
}

func writeJSON(w http.ResponseWriter, status int, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("console: encode response: %w", err)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
	return nil
}

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
