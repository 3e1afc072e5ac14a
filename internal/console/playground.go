package console

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/cedar-policy/cedar-go/types"

	"github.com/wardenhq/warden/internal/authn"
	"github.com/wardenhq/warden/internal/gateway"
	"github.com/wardenhq/warden/internal/policy"
)

func (c *Console) tokenPresets(_ *http.Request, ex *exchange) error {
	return writeJSON(ex.w, http.StatusOK, c.presets())
}

// statusView is the active bundle and the source's last check.
type statusView struct {
	Engine policy.Status `json:"engine"`
	Source *SourceStatus `json:"source,omitempty"`
}

func (c *Console) status() statusView {
	v := statusView{Engine: c.cfg.Engine.Status()}
	if c.cfg.Loader != nil {
		st := c.cfg.Loader.Status()
		v.Source = &SourceStatus{Source: st.Source, LastCheck: st.LastCheck, LastSuccess: st.LastSuccess,
			LastError: st.LastError, LastErrorAt: st.LastErrorAt, Failures: st.Failures}
	}
	return v
}

func (c *Console) policyStatus(_ *http.Request, ex *exchange) error {
	return writeJSON(ex.w, http.StatusOK, c.status())
}

// evalRequest is one playground question. The principal comes from a token
// (decoded, NOT verified, as `warden policy eval --token`) or from claims.
type evalRequest struct {
	Token      string          `json:"token,omitempty"`
	Claims     json.RawMessage `json:"claims,omitempty"`
	Action     string          `json:"action"`
	Resource   string          `json:"resource"`
	Attributes map[string]any  `json:"attributes,omitempty"`
	Context    map[string]any  `json:"context,omitempty"`
}

// evalResult is the decision as `warden policy eval --json` prints it, the
// text of `--explain`, and the bundle status.
type evalResult struct {
	Decision   policy.Decision `json:"decision"`
	Explain    string          `json:"explain"`
	Unverified bool            `json:"unverified_token,omitempty"`
	Status     statusView      `json:"status"`
}

// parseEvalRequest checks a playground request and returns the claims and
// the resource it names. Errors are public.
func parseEvalRequest(req *evalRequest) (map[string]any, types.EntityUID, error) {
	var uid types.EntityUID
	hasClaims := len(req.Claims) > 0 && string(req.Claims) != "null"
	switch {
	case (strings.TrimSpace(req.Token) == "") == !hasClaims:
		return nil, uid, invalidRequest("give exactly one of a token and claims")
	case req.Action == "":
		return nil, uid, invalidRequest("the action is required, e.g. trace:read")
	case req.Resource == "":
		return nil, uid, invalidRequest(`the resource is required, as Type::"id"`)
	}
	if err := uid.UnmarshalCedar([]byte(req.Resource)); err != nil {
		return nil, uid, invalidRequest(fmt.Sprintf(`resource %q: want a Cedar entity like Model::"gpt-4o"`, req.Resource))
	}
	if !hasClaims {
		p, err := authn.Parse(strings.TrimSpace(req.Token), 0)
		if err != nil {
			return nil, uid, invalidRequest("the token does not decode: " + err.Error())
		}
		return p.Claims, uid, nil
	}
	// Claims as a JWT decoder gives them (numbers as float64).
	var claims map[string]any
	if err := json.Unmarshal(req.Claims, &claims); err != nil || claims == nil {
		return nil, uid, invalidRequest("the claims must be a JSON object")
	}
	return claims, uid, nil
}

// policyEval answers a playground question with the running engine: the same
// Decide and Explain that `warden policy eval --explain` prints.
func (c *Console) policyEval(r *http.Request, ex *exchange) error {
	var req evalRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	claims, uid, err := parseEvalRequest(&req)
	if err != nil {
		return err
	}
	iss, _ := claims["iss"].(string)
	p, err := c.cfg.ClaimMappings[iss].Principal(claims)
	if err != nil {
		return &gateway.Error{Status: http.StatusBadRequest, Code: gateway.CodeInvalidRequest, Message: "the claims do not make a principal: " + err.Error()}
	}
	d := c.cfg.Engine.Decide(r.Context(), policy.Request{
		Principal: p,
		Action:    req.Action,
		Resource:  policy.Resource{Type: string(uid.Type), ID: string(uid.ID), Attributes: req.Attributes},
		Context:   req.Context,
	})
	return writeJSON(ex.w, http.StatusOK, evalResult{
		Decision: d, Explain: d.Explain(), Unverified: req.Token != "", Status: c.status(),
	})
}
