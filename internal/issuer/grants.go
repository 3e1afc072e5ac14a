package issuer

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/wardenhq/warden/internal/audit"
	"github.com/wardenhq/warden/internal/identity"
	"github.com/wardenhq/warden/internal/policy"
	"github.com/wardenhq/warden/internal/store"
	"github.com/wardenhq/warden/internal/token"
)

// tokenResponse is RFC 6749 §5.1 (and RFC 8693 §2.2.1).
type tokenResponse struct {
	AccessToken     string `json:"access_token"`
	IssuedTokenType string `json:"issued_token_type,omitempty"`
	TokenType       string `json:"token_type"`
	ExpiresIn       int64  `json:"expires_in"`
	Scope           string `json:"scope,omitempty"`
	RefreshToken    string `json:"refresh_token,omitempty"`
}

// carried are the claims a refresh family carries over to the access tokens
// issued from it (the subject's, for a family started by token exchange).
type carried struct {
	Roles  []string   `json:"roles,omitempty"`
	Team   string     `json:"team,omitempty"`
	Tenant string     `json:"tenant,omitempty"`
	Env    string     `json:"env,omitempty"`
	Act    *actorJSON `json:"act,omitempty"`
}

type actorJSON struct {
	Sub      string     `json:"sub"`
	Iss      string     `json:"iss,omitempty"`
	ClientID string     `json:"client_id,omitempty"`
	Act      *actorJSON `json:"act,omitempty"`
}

func (a *actorJSON) actor() *token.Actor {
	if a == nil {
		return nil
	}
	return &token.Actor{Subject: a.Sub, Issuer: a.Iss, ClientID: a.ClientID, Actor: a.Act.actor()}
}

// grant is what a grant handler decided to issue.
type grant struct {
	client   *store.Client
	subject  string
	scopes   []string
	aud      []string
	carried  carried
	notAfter time.Time // the access token never outlives it (zero: no bound)
	// family continues an existing refresh family (refresh grant);
	// otherwise a new family is started when the client may refresh.
	family   *store.RefreshFamily
	old      *store.RefreshToken
	exchange bool
}

func (iss *Issuer) serveToken(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	rec := audit.Record{RequestID: audit.NewRequestID(iss.cfg.Clock()), Phase: audit.PhaseDecision, Method: r.Method, Path: TokenPath, Route: "oauth2-token", ClientIP: peerIP(r.RemoteAddr), Action: ActionIssue}
	w.Header().Set("X-Request-Id", rec.RequestID)
	resp, err := iss.token(ctx, r, &rec)
	if err != nil {
		iss.refuse(ctx, w, rec, err)
		return
	}
	writeJSON(w, resp)
}

// refuse records a refused request and answers with its OAuth error.
func (iss *Issuer) refuse(ctx context.Context, w http.ResponseWriter, rec audit.Record, err error) {
	oe := asError(err)
	iss.ctr.add(&iss.ctr.refused, oe.Code)
	rec.Decision, rec.ErrorCode = audit.Deny, oe.Code
	if oe.Err != nil {
		rec.Errors = append(rec.Errors, oe.Err.Error())
	}
	iss.record(ctx, rec)
	if oe.Status >= 500 {
		iss.log.Error("issuer: request failed", "path", rec.Path, "err", err)
	}
	writeError(w, oe)
}

func (iss *Issuer) token(ctx context.Context, r *http.Request, rec *audit.Record) (*tokenResponse, error) {
	f, err := parseForm(r, iss.cfg.MaxFormBytes)
	if err != nil {
		return nil, err
	}
	rec.ClientID = f.clientID
	client, err := iss.authenticate(ctx, f)
	if err != nil {
		return nil, err
	}
	gt := f.get("grant_type")
	if gt == "" {
		return nil, badRequest("grant_type is required")
	}
	var g *grant
	switch gt {
	case GrantClientCredentials:
		g, err = iss.clientCredentials(client, f)
	case GrantRefreshToken:
		rec.Action = ActionRefresh
		g, err = iss.refreshGrant(ctx, client, f)
	case GrantTokenExchange:
		rec.Action = ActionExchange
		g, err = iss.exchangeGrant(ctx, client, f, rec)
	default:
		return nil, oauthErr(http.StatusBadRequest, ErrCodeUnsupportedGrantType, "unsupported grant_type", nil)
	}
	if err != nil {
		return nil, err
	}
	resp, err := iss.issue(ctx, g, rec)
	if err == nil {
		iss.ctr.add(&iss.ctr.issued, grantName(gt))
	}
	return resp, err
}

func (iss *Issuer) requireGrant(c *store.Client, gt string) error {
	if !slices.Contains(c.GrantTypes, gt) {
		return oauthErr(http.StatusBadRequest, ErrCodeUnauthorizedClient, "the client may not use this grant type", nil)
	}
	return nil
}

// allowedAudiences are the audiences client may request (its own list, or
// else the issuer's Audiences and Resources) and those it gets when it asks
// for none (its own list, or else the issuer's Audiences).
func (iss *Issuer) allowedAudiences(c *store.Client) (allowed, def []string) {
	if len(c.Audiences) > 0 {
		return c.Audiences, c.Audiences
	}
	return iss.requestable, iss.cfg.Audiences
}

// requestedScopes parses scope and checks that it only narrows allowed;
// no scope means all of allowed.
func requestedScopes(f *form, allowed []string) ([]string, error) {
	req, err := scopeList(f.get("scope"))
	if err != nil {
		return nil, oauthErr(http.StatusBadRequest, ErrCodeInvalidScope, "malformed scope", err)
	}
	if req == nil {
		return slices.Clone(allowed), nil
	}
	if !subset(req, allowed) {
		return nil, oauthErr(http.StatusBadRequest, ErrCodeInvalidScope, "a requested scope exceeds what may be granted", nil)
	}
	return req, nil
}

// requestedAudiences reads audience and resource (RFC 8693, RFC 8707) and
// checks them against allowed; none requested means def.
func requestedAudiences(f *form, allowed, def []string) ([]string, error) {
	var req []string
	for _, a := range append(slices.Clone(f.values["audience"]), f.values["resource"]...) {
		if !slices.Contains(req, a) {
			req = append(req, a)
		}
	}
	if len(req) == 0 {
		if len(def) == 0 {
			return nil, oauthErr(http.StatusBadRequest, ErrCodeInvalidTarget, "no audience may be granted", nil)
		}
		return slices.Clone(def), nil
	}
	if !subset(req, allowed) {
		return nil, oauthErr(http.StatusBadRequest, ErrCodeInvalidTarget, "a requested audience may not be granted", nil)
	}
	return req, nil
}

func (iss *Issuer) clientCredentials(c *store.Client, f *form) (*grant, error) {
	if err := iss.requireGrant(c, GrantClientCredentials); err != nil {
		return nil, err
	}
	scopes, aud, err := iss.narrow(f, c, c.Scopes)
	if err != nil {
		return nil, err
	}
	return &grant{client: c, subject: c.ID, scopes: scopes, aud: aud}, nil
}

// narrow returns the requested scopes (within allowedScopes) and audiences
// (within the client's), or all of them when none are requested.
func (iss *Issuer) narrow(f *form, c *store.Client, allowedScopes []string) (scopes, aud []string, err error) {
	if scopes, err = requestedScopes(f, allowedScopes); err != nil {
		return nil, nil, err
	}
	allowed, def := iss.allowedAudiences(c)
	if aud, err = requestedAudiences(f, allowed, def); err != nil {
		return nil, nil, err
	}
	return scopes, aud, nil
}

func (iss *Issuer) refreshGrant(ctx context.Context, c *store.Client, f *form) (*grant, error) {
	if err := iss.requireGrant(c, GrantRefreshToken); err != nil {
		return nil, err
	}
	raw := f.get("refresh_token")
	if raw == "" {
		return nil, badRequest("refresh_token is required")
	}
	t, fam, err := iss.cfg.Store.Refresh(ctx, HashSecret(raw))
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, invalidGrant("invalid refresh token", err)
	case err != nil:
		return nil, serverError(err)
	case fam.ClientID != c.ID:
		// Bound to its client: another client's use changes nothing.
		return nil, invalidGrant("invalid refresh token", fmt.Errorf("refresh token of client %q presented by %q", fam.ClientID, c.ID))
	}
	now := iss.cfg.Clock()
	if !fam.Revoked.IsZero() {
		return nil, invalidGrant("invalid refresh token", errors.New("refresh family revoked"))
	}
	if !t.Used.IsZero() {
		// Reuse of a spent token, whatever else the request says: the
		// family is revoked before anything is checked or answered.
		if err := iss.revokeFamily(ctx, fam, now); err != nil {
			return nil, serverError(err)
		}
		return nil, invalidGrant("invalid refresh token", errors.New("refresh token reused; family revoked"))
	}
	if !now.Before(fam.Expiry) || !now.Before(t.Idle) {
		return nil, invalidGrant("refresh token expired", nil)
	}
	scopes, err := requestedScopes(f, t.Scopes)
	if err != nil {
		return nil, err
	}
	aud, err := requestedAudiences(f, t.Audiences, t.Audiences)
	if err != nil {
		return nil, err
	}
	var cr carried
	if err := json.Unmarshal(t.Claims, &cr); err != nil {
		return nil, serverError(fmt.Errorf("refresh token claims: %w", err))
	}
	return &grant{client: c, subject: fam.Subject, scopes: scopes, aud: aud, carried: cr, notAfter: fam.Expiry,
		family: fam, old: t}, nil
}

// exchangeGrant implements RFC 8693 for "an agent acting for a user": the
// subject token (from the company IdP or Warden) must pass every check of
// the verifier; the authenticated client is the actor, and an actor token,
// if sent, must be that client's own token.
func (iss *Issuer) exchangeGrant(ctx context.Context, c *store.Client, f *form, rec *audit.Record) (*grant, error) {
	if iss.cfg.Verifier == nil {
		return nil, oauthErr(http.StatusBadRequest, ErrCodeUnsupportedGrantType, "token exchange is not enabled", nil)
	}
	if err := iss.requireGrant(c, GrantTokenExchange); err != nil {
		return nil, err
	}
	subjectTok := f.get("subject_token")
	switch {
	case subjectTok == "":
		return nil, badRequest("subject_token is required")
	case !jwtType(f.get("subject_token_type")):
		return nil, badRequest("subject_token_type must be " + TokenTypeAccessToken + " or " + TokenTypeJWT)
	case f.get("requested_token_type") != "" && f.get("requested_token_type") != TokenTypeAccessToken:
		return nil, badRequest("only access tokens can be requested")
	}
	subj, err := iss.cfg.Verifier.Verify(ctx, subjectTok)
	if err != nil {
		return nil, invalidGrant("the subject token is not valid", err)
	}
	if subj.Subject == "" {
		return nil, invalidGrant("the subject token has no subject", nil)
	}
	rec.Issuer, rec.Subject = subj.Issuer, subj.Subject
	if actorTok := f.get("actor_token"); actorTok != "" {
		if !jwtType(f.get("actor_token_type")) {
			return nil, badRequest("actor_token_type must be " + TokenTypeAccessToken + " or " + TokenTypeJWT)
		}
		act, err := iss.own.Verify(ctx, actorTok)
		if err != nil {
			return nil, invalidGrant("the actor token is not valid", err)
		}
		if act.ClientID != c.ID || act.Subject != c.ID {
			return nil, invalidGrant("the actor token is not the authenticated client's", nil)
		}
	} else if f.get("actor_token_type") != "" {
		return nil, badRequest("actor_token_type without actor_token")
	}
	chain := &actorJSON{Sub: c.ID, ClientID: c.ID, Iss: iss.cfg.Issuer}
	tail := chain
	for _, a := range subj.Actor {
		tail.Act = &actorJSON{Sub: a.Subject, Iss: a.Issuer, ClientID: a.ClientID}
		tail = tail.Act
	}
	rec.Actors = []string{c.ID}
	for _, a := range subj.Actor {
		rec.Actors = append(rec.Actors, a.Subject)
	}

	// Policy: may this subject delegate to this agent?
	d := iss.cfg.Engine.Decide(ctx, policy.Request{
		Principal: subj,
		Action:    ActionExchange,
		Resource:  policy.Resource{Type: string(policy.AgentType), ID: c.ID},
	})
	rec.DecisionID, rec.BundleRevision, rec.BundleDigest = d.ID, d.Revision, d.Digest
	rec.ResourceType, rec.ResourceID = string(policy.AgentType), c.ID
	rec.Policies = d.PolicyIDs()
	for _, r := range d.Reasons {
		rec.Reasons = append(rec.Reasons, r.Reason)
	}
	rec.Errors = append(rec.Errors, d.Errors...)
	if !d.Allowed {
		return nil, invalidGrant("the policy does not permit this delegation", errors.New("token:exchange denied"))
	}

	// Never widened: the scopes are the subject's that the client may hold,
	// the audiences the client's.
	scopes, aud, err := iss.narrow(f, c, intersect(subj.Scopes, c.Scopes))
	if err != nil {
		return nil, err
	}
	// Narrowed by policy: each scope and each audience is its own
	// token:exchange question (context.scope, context.audience). One that
	// was asked for and is refused fails the request; one that was only
	// defaulted is left out.
	scopeAsked, audAsked := f.get("scope") != "", len(f.values["audience"])+len(f.values["resource"]) > 0
	if scopes, err = iss.policyNarrow(ctx, subj, c.ID, rec, "scope", scopes, scopeAsked, ErrCodeInvalidScope); err != nil {
		return nil, err
	}
	if aud, err = iss.policyNarrow(ctx, subj, c.ID, rec, "audience", aud, audAsked, ErrCodeInvalidTarget); err != nil {
		return nil, err
	}
	if len(aud) == 0 {
		return nil, oauthErr(http.StatusBadRequest, ErrCodeInvalidTarget, "the policy permits no audience for this delegation", nil)
	}
	return &grant{
		client: c, subject: subj.Subject, scopes: scopes, aud: aud, exchange: true,
		carried:  carried{Roles: subj.Roles, Team: subj.Team, Tenant: subj.Tenant, Env: subj.Env, Act: chain},
		notAfter: subj.Expiry,
	}, nil
}

// policyNarrow keeps the values of a token-exchange dimension ("scope" or
// "audience") that the policy permits: token:exchange by subj on
// Agent::"<agent>" with context[key] = value. A refused value that the
// client asked for fails the exchange with code (invalid_scope,
// invalid_target), naming the policy's reason; a refused default is
// dropped. The policies that refused are added to rec.
func (iss *Issuer) policyNarrow(ctx context.Context, subj *identity.Principal, agent string, rec *audit.Record, key string, values []string, asked bool, code string) ([]string, error) {
	kept := values[:0:0]
	for _, v := range values {
		d := iss.cfg.Engine.Decide(ctx, policy.Request{
			Principal: subj,
			Action:    ActionExchange,
			Resource:  policy.Resource{Type: string(policy.AgentType), ID: agent},
			Context:   map[string]any{key: v},
		})
		if d.Allowed {
			kept = append(kept, v)
			continue
		}
		for _, id := range d.PolicyIDs() {
			if !slices.Contains(rec.Policies, id) {
				rec.Policies = append(rec.Policies, id)
			}
		}
		for _, r := range d.Reasons {
			rec.Reasons = append(rec.Reasons, r.Reason)
		}
		rec.Errors = append(rec.Errors, d.Errors...)
		if asked {
			desc := fmt.Sprintf("the policy does not permit %s %q for this delegation", key, v)
			if len(d.Reasons) > 0 && d.Reasons[0].Reason != "" {
				desc += ": " + d.Reasons[0].Reason
			}
			return nil, oauthErr(http.StatusBadRequest, code, desc, fmt.Errorf("token:exchange denied for %s %q", key, v))
		}
	}
	return kept, nil
}

func jwtType(t string) bool { return t == TokenTypeAccessToken || t == TokenTypeJWT }

// issue mints the access token (and a refresh token when the client may
// refresh), stores the refresh token, and records the decision.
func (iss *Issuer) issue(ctx context.Context, g *grant, rec *audit.Record) (*tokenResponse, error) {
	now := iss.cfg.Clock()
	ttl := iss.cfg.AccessTokenTTL
	if !g.notAfter.IsZero() {
		ttl = min(ttl, g.notAfter.Sub(now).Truncate(time.Second))
	}
	if ttl < time.Second {
		return nil, invalidGrant("the grant expires too soon to issue a token", nil)
	}

	// Refresh: continue the family, or start one.
	var refresh string
	fam := g.family
	switch {
	case fam != nil:
		var h []byte
		var err error
		if refresh, h, err = NewSecret(RefreshPrefix); err != nil {
			return nil, serverError(err)
		}
		old := g.old
		next := store.RefreshToken{Hash: h, Family: fam.ID, Scopes: old.Scopes, Audiences: old.Audiences, Claims: old.Claims,
			Created: now, Idle: minTime(now.Add(iss.cfg.RefreshIdleTTL), fam.Expiry)}
		until := familyRevokedUntil(fam, iss.cfg.AccessTokenTTL)
		if err := iss.cfg.Store.RotateRefresh(ctx, old.Hash, next, now, until); err != nil {
			if errors.Is(err, store.ErrRefreshReused) {
				iss.cfg.Revocations.Add(fam.ID, until)
				return nil, invalidGrant("invalid refresh token", err)
			}
			return nil, serverError(err)
		}
	case slices.Contains(g.client.GrantTypes, GrantRefreshToken):
		exp := now.Add(iss.cfg.RefreshTokenTTL)
		if !g.notAfter.IsZero() {
			exp = minTime(exp, g.notAfter)
		}
		fam = &store.RefreshFamily{ID: rand.Text(), ClientID: g.client.ID, Subject: g.subject, Expiry: exp, Created: now}
		var h []byte
		var err error
		if refresh, h, err = NewSecret(RefreshPrefix); err != nil {
			return nil, serverError(err)
		}
		claims, err := json.Marshal(g.carried)
		if err != nil {
			return nil, serverError(err)
		}
		t := store.RefreshToken{Hash: h, Family: fam.ID, Scopes: g.scopes, Audiences: g.aud, Claims: claims,
			Created: now, Idle: minTime(now.Add(iss.cfg.RefreshIdleTTL), exp)}
		if err := iss.cfg.Store.AddRefresh(ctx, *fam, t); err != nil {
			return nil, serverError(err)
		}
	}

	claims := token.Claims{
		Issuer: iss.cfg.Issuer, Subject: g.subject, Audience: g.aud, TTL: ttl, ClientID: g.client.ID,
		Roles: g.carried.Roles, Scopes: g.scopes, Team: g.carried.Team, Tenant: g.carried.Tenant, Env: g.carried.Env,
		Actor: g.carried.Act.actor(),
	}
	if fam != nil {
		claims.Extra = map[string]any{"sid": fam.ID}
	}
	m, err := iss.cfg.Keys.Signer().MintToken(ctx, claims)
	if err != nil {
		return nil, serverError(err)
	}
	rec.Decision, rec.JTI, rec.ClientID = audit.Allow, m.ID, g.client.ID
	if rec.Subject == "" {
		rec.Subject = g.subject
	}
	if rec.Issuer == "" {
		rec.Issuer = iss.cfg.Issuer
	}
	if !iss.record(ctx, *rec) {
		// Fail closed: the token was minted but is never handed out.
		return nil, oauthErr(http.StatusServiceUnavailable, ErrCodeUnavailable, "the audit log is unavailable", nil)
	}
	resp := &tokenResponse{AccessToken: m.Token, TokenType: "Bearer", ExpiresIn: int64(m.Expiry.Sub(m.IssuedAt) / time.Second),
		Scope: strings.Join(g.scopes, " "), RefreshToken: refresh}
	if g.exchange {
		resp.IssuedTokenType = TokenTypeAccessToken
	}
	return resp, nil
}

// revokeFamily revokes fam in the store and on this node at once.
func (iss *Issuer) revokeFamily(ctx context.Context, fam *store.RefreshFamily, now time.Time) error {
	until, err := RevokeFamily(ctx, iss.cfg.Store, fam, now, iss.cfg.AccessTokenTTL)
	if err != nil {
		return err
	}
	iss.cfg.Revocations.Add(fam.ID, until)
	return nil
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}
