package console

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/wardenhq/warden/internal/authn"
	"github.com/wardenhq/warden/internal/gateway"
	"github.com/wardenhq/warden/internal/jwk"
	"github.com/wardenhq/warden/internal/token"
)

// Key sources of a verify request.
const (
	sourceIssuers = "issuers" // the server's configured issuers
	sourceKeys    = "keys"    // a pasted JWK, JWK Set or PEM public key
)

type verifyRequest struct {
	Token  string `json:"token"`
	Source string `json:"source"`
	// With Source "keys":
	Keys     string   `json:"keys,omitempty"`
	Issuer   string   `json:"iss,omitempty"`
	Audience []string `json:"aud,omitempty"`
	Algs     []string `json:"alg,omitempty"`
}

// verifyResult is the answer: valid with the verified claims, or the
// Verifier's stable reason and message.
type verifyResult struct {
	Valid   bool           `json:"valid"`
	Reason  string         `json:"reason,omitempty"`
	Error   string         `json:"error,omitempty"`
	Claims  map[string]any `json:"claims,omitempty"`
	Subject string         `json:"subject,omitempty"`
	Expires time.Time      `json:"expires,omitzero"`
}

func invalidRequest(msg string) error {
	return &gateway.Error{Status: http.StatusBadRequest, Code: gateway.CodeInvalidRequest, Message: msg}
}

// verifyToken runs the strict Verifier on a token: the server's own (the
// configured issuers), or one built for this request from pasted keys.
func (c *Console) verifyToken(r *http.Request, ex *exchange) error {
	var req verifyRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	tok := strings.TrimSpace(req.Token)
	if tok == "" {
		return invalidRequest("paste a token to verify")
	}
	ctx := r.Context()
	var v *authn.Verifier
	switch req.Source {
	case sourceIssuers, "":
		v = c.cfg.Verifier
	case sourceKeys:
		pv, err := c.pastedVerifier(ctx, req, tok)
		if err != nil {
			return err
		}
		defer pv.Close()
		v = pv
	default:
		return invalidRequest(`source must be "issuers" or "keys"`)
	}
	p, err := v.Verify(ctx, tok)
	if err != nil {
		res := verifyResult{Reason: "invalid", Error: err.Error()}
		var ve *authn.VerifyError
		if errors.As(err, &ve) {
			res.Reason = string(ve.Reason)
		}
		return writeJSON(ex.w, http.StatusOK, res)
	}
	return writeJSON(ex.w, http.StatusOK, verifyResult{Valid: true, Claims: p.Claims, Subject: p.Subject, Expires: p.Expiry})
}

// pastedVerifier builds a one-issuer Verifier from pasted key material, with
// the same rules as `warden token verify --key`: iss and aud required, the
// algorithm from the allow-list or from keys that pin it, never from the
// token.
func (c *Console) pastedVerifier(ctx context.Context, req verifyRequest, tok string) (*authn.Verifier, error) {
	if strings.TrimSpace(req.Keys) == "" {
		return nil, invalidRequest("paste a JWK Set, a JWK or a PEM public key")
	}
	if req.Issuer == "" {
		return nil, invalidRequest("the expected issuer (iss) is required")
	}
	if len(req.Audience) == 0 || slices.Contains(req.Audience, "") {
		return nil, invalidRequest("an accepted audience (aud) is required")
	}
	for _, a := range req.Algs {
		if !slices.Contains(jwk.Algorithms(), a) {
			return nil, invalidRequest(fmt.Sprintf("unsupported algorithm %q (want one of %s)", a, strings.Join(jwk.Algorithms(), ", ")))
		}
	}
	keys, err := jwk.Load([]byte(req.Keys))
	if err != nil {
		return nil, &gateway.Error{Status: http.StatusBadRequest, Code: gateway.CodeInvalidRequest,
			Message: "the pasted keys are not a JWK Set, a JWK or a PEM key: " + err.Error()}
	}
	keys = jwk.AdoptKeyID(keys, tokenKeyID(tok))
	algs := req.Algs
	if len(algs) == 0 {
		for _, k := range keys {
			if k.Alg == "" {
				return nil, invalidRequest(`choose the algorithm: a pasted key does not pin one, and the token's own "alg" is never trusted`)
			}
			if !slices.Contains(algs, k.Alg) {
				algs = append(algs, k.Alg)
			}
		}
	}
	v, err := authn.New(ctx, authn.Config{
		Issuers: []authn.IssuerConfig{{
			Issuer: req.Issuer, Audiences: req.Audience, Algorithms: algs, Keys: keys,
		}},
		CacheSize: -1,
		Clock:     c.clock,
		Logger:    slog.New(slog.DiscardHandler),
	})
	if err != nil {
		return nil, &gateway.Error{Status: http.StatusBadRequest, Code: gateway.CodeInvalidRequest, Message: "cannot verify with these keys: " + err.Error()}
	}
	return v, nil
}

// tokenKeyID is the token's kid header, "" when it has none or does not
// parse (Verify then reports the problem).
func tokenKeyID(tok string) string {
	p, err := authn.Parse(tok, 0)
	if err != nil {
		return ""
	}
	kid, _ := p.Header["kid"].(string)
	return kid
}

type generateRequest struct {
	Preset     string   `json:"preset"`
	Subject    string   `json:"subject,omitempty"`
	Scopes     []string `json:"scopes,omitempty"`
	Tenant     string   `json:"tenant,omitempty"`
	Env        string   `json:"env,omitempty"`
	TTLSeconds int64    `json:"ttl_seconds"`
}

type generateResult struct {
	Token   string    `json:"token"`
	Expires time.Time `json:"expires"`
	Issuer  string    `json:"iss"`
	Subject string    `json:"sub"`
}

// presetsView is what the token page needs to offer generation.
type presetsView struct {
	Enabled  bool     `json:"enabled"`
	Issuer   string   `json:"iss,omitempty"`
	Audience []string `json:"aud,omitempty"`
	Presets  []Preset `json:"presets,omitempty"`
	MaxTTL   int64    `json:"max_ttl_seconds"`
}

func (c *Console) presets() presetsView {
	m := c.cfg.InsecureDevMint
	if m == nil {
		return presetsView{MaxTTL: int64(MaxMintTTL / time.Second)}
	}
	return presetsView{Enabled: true, Issuer: m.Issuer, Audience: m.Audience, Presets: m.Presets, MaxTTL: int64(MaxMintTTL / time.Second)}
}

// generateToken mints a token with the development signing key, for a
// preset's roles and the chosen scopes, tenant, env and TTL (at most an hour).
func (c *Console) generateToken(r *http.Request, ex *exchange) error {
	m := c.cfg.InsecureDevMint
	if m == nil {
		return &gateway.Error{Status: http.StatusNotFound, Code: CodeMintDisabled,
			Message: "token generation is available only when the server runs with a development signing key (warden serve --demo)"}
	}
	var req generateRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	i := slices.IndexFunc(m.Presets, func(p Preset) bool { return p.Name == req.Preset })
	if i < 0 {
		return invalidRequest(fmt.Sprintf("unknown preset %q", req.Preset))
	}
	ttl := time.Duration(req.TTLSeconds) * time.Second
	if req.TTLSeconds <= 0 || ttl > MaxMintTTL {
		return invalidRequest(fmt.Sprintf("the TTL must be between 1 second and %v", MaxMintTTL))
	}
	pr := m.Presets[i]
	sub := req.Subject
	if sub == "" {
		sub = pr.Subject
	}
	scopes := req.Scopes
	if scopes == nil {
		scopes = pr.Scopes
	}
	tok, err := m.Signer.Mint(r.Context(), token.Claims{
		Issuer: m.Issuer, Subject: sub, Audience: m.Audience, TTL: ttl,
		Roles: pr.Roles, Team: pr.Team, Scopes: scopes, Tenant: req.Tenant, Env: req.Env,
	})
	if err != nil {
		return &gateway.Error{Status: http.StatusBadRequest, Code: gateway.CodeInvalidRequest, Message: "cannot generate this token: " + err.Error()}
	}
	now := c.clock()
	c.logger.InfoContext(r.Context(), "console generated a development token", "request_id", ex.id,
		"by", ex.session.principal.Subject, "subject", sub, "preset", pr.Name, "ttl", ttl)
	return writeJSON(ex.w, http.StatusOK, generateResult{Token: tok, Expires: now.Add(ttl), Issuer: m.Issuer, Subject: sub})
}
