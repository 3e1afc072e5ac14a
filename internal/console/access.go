package console

import (
	"context"
	"fmt"
	"net/http"

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
