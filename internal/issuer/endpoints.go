package issuer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/wardenhq/warden/internal/audit"
	"github.com/wardenhq/warden/internal/authn"
	"github.com/wardenhq/warden/internal/jwk"
	"github.com/wardenhq/warden/internal/store"
)

// inactive is the whole answer about a token that is not active (RFC 7662
// §2.2): nothing about why. A new map each call, so no caller can alter a
// shared answer.
func inactive() map[string]any { return map[string]any{"active": false} }

// serveIntrospect is RFC 7662. The caller must authenticate as a client.
// Warden's access tokens are active while they verify (signature by a
// published key, exp, not revoked); refresh tokens are active only for the
// client they were issued to, while unused, unexpired and unrevoked.
// Everything else is {"active":false}.
func (iss *Issuer) serveIntrospect(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	f, err := parseForm(r, iss.cfg.MaxFormBytes)
	if err != nil {
		iss.refuseQuietly(w, err)
		return
	}
	client, err := iss.authenticate(ctx, f)
	if err != nil {
		iss.refuseQuietly(w, err)
		return
	}
	tok := f.get("token")
	if tok == "" {
		iss.refuseQuietly(w, badRequest("token is required"))
		return
	}
	if strings.HasPrefix(tok, RefreshPrefix) {
		writeJSON(w, iss.introspectRefresh(ctx, client, tok))
		return
	}
	p, err := iss.own.Verify(ctx, tok)
	if err != nil {
		writeJSON(w, inactive())
		return
	}
	out := map[string]any{
		"active":     true,
		"token_type": "Bearer",
		"iss":        p.Issuer,
		"sub":        p.Subject,
		"aud":        p.Audience,
		"client_id":  p.ClientID,
		"jti":        p.TokenID,
		"exp":        p.Expiry.Unix(),
		"iat":        p.IssuedAt.Unix(),
		"scope":      strings.Join(p.Scopes, " "),
	}
	if act, ok := p.Claims["act"]; ok {
		out["act"] = act
	}
	writeJSON(w, out)
}

// refuseQuietly answers an introspection error; introspection is not
// audited (it decides nothing), only counted.
func (iss *Issuer) refuseQuietly(w http.ResponseWriter, err error) {
	oe := asError(err)
	iss.ctr.add(&iss.ctr.refused, oe.Code)
	writeError(w, oe)
}

func (iss *Issuer) introspectRefresh(ctx context.Context, client *store.Client, tok string) map[string]any {
	t, fam, err := iss.cfg.Store.Refresh(ctx, HashSecret(tok))
	now := iss.cfg.Clock()
	if err != nil || fam.ClientID != client.ID || !fam.Revoked.IsZero() || !t.Used.IsZero() || !now.Before(t.Idle) || !now.Before(fam.Expiry) {
		return inactive()
	}
	return map[string]any{
		"active":     true,
		"token_type": "refresh_token",
		"iss":        iss.cfg.Issuer,
		"sub":        fam.Subject,
		"client_id":  fam.ClientID,
		"scope":      strings.Join(t.Scopes, " "),
		"exp":        minTime(t.Idle, fam.Expiry).Unix(),
		"iat":        t.Created.Unix(),
	}
}

// serveRevoke is RFC 7009. The caller must authenticate; a token that is
// unknown, invalid, already revoked or another client's is answered 200
// like a revoked one, and nothing changes. Revoking a refresh token revokes
// its family and, through their "sid", every access token issued from it.
func (iss *Issuer) serveRevoke(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	rec := audit.Record{RequestID: audit.NewRequestID(iss.cfg.Clock()), Phase: audit.PhaseDecision, Method: r.Method, Path: RevokePath, Route: "oauth2-revoke", ClientIP: peerIP(r.RemoteAddr), Action: ActionRevoke}
	w.Header().Set("X-Request-Id", rec.RequestID)
	if err := iss.revoke(ctx, r, &rec); err != nil {
		iss.refuse(ctx, w, rec, err)
		return
	}
	rec.Decision = audit.Allow
	iss.record(ctx, rec)
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
}

func (iss *Issuer) revoke(ctx context.Context, r *http.Request, rec *audit.Record) error {
	f, err := parseForm(r, iss.cfg.MaxFormBytes)
	if err != nil {
		return err
	}
	rec.ClientID = f.clientID
	client, err := iss.authenticate(ctx, f)
	if err != nil {
		return err
	}
	tok := f.get("token")
	if tok == "" {
		return badRequest("token is required")
	}
	now := iss.cfg.Clock()
	if strings.HasPrefix(tok, RefreshPrefix) {
		_, fam, err := iss.cfg.Store.Refresh(ctx, HashSecret(tok))
		switch {
		case errors.Is(err, store.ErrNotFound):
			return nil
		case err != nil:
			return serverError(err)
		case fam.ClientID != client.ID:
			rec.Errors = append(rec.Errors, "refresh token of another client: nothing revoked")
			return nil
		}
		if err := iss.revokeFamily(ctx, fam, now); err != nil {
			return serverError(err)
		}
		rec.Subject = fam.Subject
		return nil
	}
	p, err := iss.own.Verify(ctx, tok)
	if err != nil {
		var ve *authn.VerifyError
		if errors.As(err, &ve) {
			rec.Errors = append(rec.Errors, "not an active token: "+string(ve.Reason))
		}
		return nil
	}
	rec.Subject, rec.JTI = p.Subject, p.TokenID
	if p.ClientID != client.ID {
		rec.Errors = append(rec.Errors, "access token of another client: nothing revoked")
		return nil
	}
	if err := RevokeToken(ctx, iss.cfg.Store, p, now); err != nil {
		return serverError(err)
	}
	iss.cfg.Revocations.Add(p.TokenID, p.Expiry.Add(authn.MaxLeeway))
	return nil
}

// RevokeToken records the revocation of a verified access token's jti
// until it expires (plus the largest leeway a verifier may allow). Every
// node denies it once it has the revocation: at once through PostgreSQL
// notifications, else at its next resync.
func RevokeToken(ctx context.Context, st store.IssuerStore, p *authn.Principal, now time.Time) error {
	if p.TokenID == "" {
		return errors.New("issuer: the token has no jti and cannot be revoked alone")
	}
	return st.Revoke(ctx, store.Revocation{ID: p.TokenID, Kind: store.RevokeJTI, Expiry: p.Expiry.Add(authn.MaxLeeway), Created: now})
}

// RevokeFamily revokes a refresh family and, through their "sid", every
// access token issued from it (accessTTL bounds those). It returns until
// when the revocation is kept.
func RevokeFamily(ctx context.Context, st store.IssuerStore, fam *store.RefreshFamily, now time.Time, accessTTL time.Duration) (time.Time, error) {
	until := familyRevokedUntil(fam, accessTTL)
	return until, st.RevokeFamily(ctx, fam.ID, now, until)
}

// familyRevokedUntil is when every access token of fam has expired.
func familyRevokedUntil(fam *store.RefreshFamily, accessTTL time.Duration) time.Time {
	return fam.Expiry.Add(accessTTL + authn.MaxLeeway)
}

// serveJWKS publishes the next, current and retired public keys.
func (iss *Issuer) serveJWKS(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		writeError(w, &Error{Status: http.StatusMethodNotAllowed, Code: ErrCodeInvalidRequest, Description: "use GET", allow: "GET, HEAD"})
		return
	}
	keys, _ := iss.cfg.Keys.PublicKeys(r.Context())
	b, err := (&jwk.Set{Keys: keys}).MarshalJSON()
	if err != nil {
		writeError(w, serverError(err))
		return
	}
	w.Header().Set("Content-Type", "application/jwk-set+json")
	w.Header().Set("Cache-Control", fmt.Sprintf("public, max-age=%d", int(iss.cfg.ResyncInterval.Seconds())))
	_, _ = w.Write(b)
}

// metadata is the RFC 8414 / OpenID Connect discovery document.
func (iss *Issuer) metadata() ([]byte, error) {
	auth := []string{"client_secret_basic", "client_secret_post", "private_key_jwt"}
	grants := []string{GrantClientCredentials, GrantRefreshToken}
	if iss.cfg.Verifier != nil {
		grants = append(grants, GrantTokenExchange)
	}
	doc := map[string]any{
		"issuer":                                iss.base,
		"token_endpoint":                        iss.base + TokenPath,
		"introspection_endpoint":                iss.base + IntrospectPath,
		"revocation_endpoint":                   iss.base + RevokePath,
		"jwks_uri":                              iss.base + JWKSPath,
		"grant_types_supported":                 grants,
		"token_endpoint_auth_methods_supported": auth,
		"introspection_endpoint_auth_methods_supported": auth,
		"revocation_endpoint_auth_methods_supported":    auth,
		// No authorization endpoint: Warden issues tokens to clients and by
		// exchange, never through a browser.
		"response_types_supported":                                 []string{},
		"subject_types_supported":                                  []string{"public"},
		"id_token_signing_alg_values_supported":                    []string{iss.cfg.Keys.cfg.Algorithm},
		"token_endpoint_auth_signing_alg_values_supported":         assertionAlgs,
		"introspection_endpoint_auth_signing_alg_values_supported": assertionAlgs,
		"revocation_endpoint_auth_signing_alg_values_supported":    assertionAlgs,
	}
	b, err := json.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("issuer: metadata: %w", err)
	}
	return append(b, '\n'), nil
}

func (iss *Issuer) serveMetadata(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		writeError(w, &Error{Status: http.StatusMethodNotAllowed, Code: ErrCodeInvalidRequest, Description: "use GET", allow: "GET, HEAD"})
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "public, max-age=300")
	_, _ = w.Write(iss.meta)
}
