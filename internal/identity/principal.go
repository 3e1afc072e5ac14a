// Package identity defines the Principal: the verified identity behind a
// request, as authn builds it from a token and as the policy engine and the
// audit log consume it. It is a leaf package (no imports beyond the standard
// library's time) so that consumers such as internal/policy need not depend
// on the verifier and its network code.
package identity

import "time"

// Principal is the verified identity behind a request: who called, for whom,
// with which roles and scopes, as asserted by a trusted issuer's signed token.
// A Principal is only ever built from a token that passed every check.
type Principal struct {
	// Issuer is the exact "iss" of the token.
	Issuer string
	// Subject is "sub": a person for user tokens, the client for agents.
	Subject string
	// ClientID is the OAuth client the token was issued to ("client_id",
	// or "azp" when the issuer maps it), empty if absent.
	ClientID string
	// TokenID is "jti", empty if the issuer does not set one.
	TokenID string
	// Audience is "aud" as a list, whether the token had a string or an array.
	Audience []string
	// Roles, Scopes and Groups come from the claims named by the issuer's
	// claim mapping (roles from "roles" or "groups", scopes from a "scope"
	// string or an "scp" array, ...). Never nil after verification.
	Roles  []string
	Scopes []string
	Groups []string
	// Team, Tenant and Env are single-valued mapped claims, empty if absent.
	Team   string
	Tenant string
	Env    string
	// Attributes holds the extra claims the issuer configuration maps by name
	// (attribute name → claim value as decoded JSON).
	Attributes map[string]any
	// Actor is the delegation chain from the RFC 8693 "act" claim: Actor[0]
	// is the current actor (the agent acting for Subject), Actor[1] the actor
	// before it, and so on. Empty for tokens that are not delegated.
	Actor []Actor
	// IssuedAt, NotBefore and Expiry are the token's time claims (zero if
	// absent; Expiry is always set for a verified token).
	IssuedAt  time.Time
	NotBefore time.Time
	Expiry    time.Time
	// AuthTime is "auth_time" (when the user last authenticated), zero if absent.
	AuthTime time.Time
	// Claims is the full verified payload as decoded JSON. Treat as read-only:
	// a Principal may be shared between requests through the verified-token cache.
	Claims map[string]any
}

// Actor is one link of a delegation chain ("act" claim, RFC 8693 §4.1).
type Actor struct {
	Subject  string
	Issuer   string
	ClientID string
}

// Delegated reports whether the token was issued to an actor acting for Subject.
func (p *Principal) Delegated() bool { return len(p.Actor) > 0 }

// HasScope reports whether the principal holds scope s.
func (p *Principal) HasScope(s string) bool {
	for _, x := range p.Scopes {
		if x == s {
			return true
		}
	}
	return false
}

// HasRole reports whether the principal holds role r.
func (p *Principal) HasRole(r string) bool {
	for _, x := range p.Roles {
		if x == r {
			return true
		}
	}
	return false
}
