package authn

import (
	"strings"
	"time"
)

// maxActorDepth bounds the nesting of "act" claims (RFC 8693 §4.1).
const maxActorDepth = 8

// ClaimMapping names the claims a Principal's fields come from, per issuer.
// The zero value is the common convention; set a field to use another claim
// (for example Roles: "groups", Tenant: "org_id"), or to "-" to ignore it.
//
// List claims (Roles, Scopes, Groups) accept an array of strings or a
// string: for Scopes a string is split on spaces (the OAuth "scope" form),
// for Roles and Groups it is one value. Single-valued claims (Team, Tenant,
// Env, ClientID) must be strings. A claim of the wrong JSON type is an error
// (ReasonInvalidClaim), never silently dropped.
type ClaimMapping struct {
	// Roles is the claim holding roles; default "roles".
	Roles string
	// Scopes is the claim holding scopes; default "scope", or "scp" when the
	// token has no "scope".
	Scopes string
	// Groups is the claim holding groups; default "groups".
	Groups string
	// Team, Tenant and Env name single-valued claims; defaults "team",
	// "tenant" and "env".
	Team   string
	Tenant string
	Env    string
	// ClientID is the claim naming the OAuth client; default "client_id",
	// or "azp" when the token has no "client_id".
	ClientID string
	// Attributes maps Principal.Attributes names to claim names; the claim
	// value is copied as decoded JSON. Absent claims are left out.
	Attributes map[string]string
}

// disabled is the ClaimMapping value that turns a field's mapping off.
const disabled = "-"

// Principal builds the Principal for claims (a decoded JWT payload) with
// this mapping: the registered claims (iss, sub, jti, aud, exp, nbf, iat,
// auth_time, act) and the mapped ones. It checks claim types but not times,
// issuer or audience: that is Verify's job. Errors are *VerifyError with
// ReasonInvalidClaim. The Principal keeps claims as its Claims: do not
// modify the map afterwards.
func (c ClaimMapping) Principal(claims map[string]any) (*Principal, error) {
	p, err := c.principal(claims)
	if err != nil {
		return nil, err
	}
	return p, nil
}

func (c ClaimMapping) principal(claims map[string]any) (*Principal, *VerifyError) {
	return c.principalWithTimes(claims, nil)
}

// principalWithTimes is principal reusing exp, nbf and iat when the
// verifier has already decoded them.
func (c ClaimMapping) principalWithTimes(claims map[string]any, tc *timeClaims) (*Principal, *VerifyError) {
	p := &Principal{Claims: claims}
	var err *VerifyError
	if p.Issuer, err = stringClaim(claims, "iss"); err != nil {
		return nil, err
	}
	if p.Subject, err = stringClaim(claims, "sub"); err != nil {
		return nil, err
	}
	if p.TokenID, err = stringClaim(claims, "jti"); err != nil {
		return nil, err
	}
	if p.Audience, err = audiences(claims); err != nil {
		return nil, err
	}
	if p.Audience == nil {
		p.Audience = []string{}
	}
	if tc != nil {
		p.Expiry, p.NotBefore, p.IssuedAt = tc.exp, tc.nbf, tc.iat
	} else {
		for _, d := range []struct {
			name string
			dst  *time.Time
		}{{"exp", &p.Expiry}, {"nbf", &p.NotBefore}, {"iat", &p.IssuedAt}} {
			if *d.dst, err = dateClaim(claims, d.name); err != nil {
				return nil, err
			}
		}
	}
	if p.AuthTime, err = dateClaim(claims, "auth_time"); err != nil {
		return nil, err
	}

	if c.ClientID == "" {
		if p.ClientID, err = stringClaim(claims, "client_id"); err != nil {
			return nil, err
		}
		if _, ok := claims["client_id"]; !ok {
			if p.ClientID, err = stringClaim(claims, "azp"); err != nil {
				return nil, err
			}
		}
	} else if c.ClientID != disabled {
		if p.ClientID, err = stringClaim(claims, c.ClientID); err != nil {
			return nil, err
		}
	}

	if p.Roles, err = listClaim(claims, or(c.Roles, "roles"), false); err != nil {
		return nil, err
	}
	scopes := c.Scopes
	if scopes == "" {
		scopes = "scope"
		if _, ok := claims["scope"]; !ok {
			scopes = "scp"
		}
	}
	if p.Scopes, err = listClaim(claims, scopes, true); err != nil {
		return nil, err
	}
	if p.Groups, err = listClaim(claims, or(c.Groups, "groups"), false); err != nil {
		return nil, err
	}
	for _, f := range []struct {
		claim string
		dst   *string
	}{{or(c.Team, "team"), &p.Team}, {or(c.Tenant, "tenant"), &p.Tenant}, {or(c.Env, "env"), &p.Env}} {
		if f.claim == disabled {
			continue
		}
		if *f.dst, err = stringClaim(claims, f.claim); err != nil {
			return nil, err
		}
	}
	if len(c.Attributes) > 0 {
		p.Attributes = make(map[string]any, len(c.Attributes))
		for attr, claim := range c.Attributes {
			if v, ok := claims[claim]; ok {
				p.Attributes[attr] = v
			}
		}
	}
	if act, ok := claims["act"]; ok {
		if p.Actor, err = actorChain(act); err != nil {
			return nil, err
		}
	}
	return p, nil
}

func or(name, def string) string {
	if name == "" {
		return def
	}
	return name
}

// dateClaim returns NumericDate claim name, the zero time when absent.
func dateClaim(claims map[string]any, name string) (time.Time, *VerifyError) {
	v, ok := claims[name]
	if !ok {
		return time.Time{}, nil
	}
	return numericDate(name, v)
}

// stringClaim returns claim name as a string, "" when absent.
func stringClaim(claims map[string]any, name string) (string, *VerifyError) {
	v, ok := claims[name]
	if !ok {
		return "", nil
	}
	s, ok := v.(string)
	if !ok {
		return "", fail(ReasonInvalidClaim, "claim %s is %s, want a string", quote(name), jsonType(v))
	}
	return s, nil
}

// listClaim returns claim name as a list of non-empty strings: from an
// array of strings, or from a string (split on spaces when split is set,
// one value otherwise). Absent gives an empty list; the name "-" disables
// the mapping.
func listClaim(claims map[string]any, name string, split bool) ([]string, *VerifyError) {
	if name == disabled {
		return []string{}, nil
	}
	v, ok := claims[name]
	if !ok {
		return []string{}, nil
	}
	switch x := v.(type) {
	case string:
		if split {
			return strings.Fields(x), nil
		}
		if x == "" {
			return []string{}, nil
		}
		return []string{x}, nil
	case []any:
		out := make([]string, 0, len(x))
		for i, e := range x {
			s, ok := e.(string)
			if !ok {
				return nil, fail(ReasonInvalidClaim, "claim %s element %d is %s, want a string", quote(name), i, jsonType(e))
			}
			if s == "" {
				return nil, fail(ReasonInvalidClaim, "claim %s element %d is an empty string", quote(name), i)
			}
			out = append(out, s)
		}
		return out, nil
	case []string:
		return append([]string{}, x...), nil
	}
	return nil, fail(ReasonInvalidClaim, "claim %s is %s, want a string or an array of strings", quote(name), jsonType(v))
}

// actorChain decodes a nested "act" claim: the current actor first.
func actorChain(v any) ([]Actor, *VerifyError) {
	var chain []Actor
	for v != nil {
		obj, ok := v.(map[string]any)
		if !ok {
			return nil, fail(ReasonInvalidClaim, `claim "act" is %s, want an object`, jsonType(v))
		}
		if len(chain) == maxActorDepth {
			return nil, fail(ReasonInvalidClaim, `claim "act" nests deeper than %d actors`, maxActorDepth)
		}
		var a Actor
		var err *VerifyError
		if a.Subject, err = stringClaim(obj, "sub"); err != nil {
			return nil, actErr(err)
		}
		if a.Issuer, err = stringClaim(obj, "iss"); err != nil {
			return nil, actErr(err)
		}
		if a.ClientID, err = stringClaim(obj, "client_id"); err != nil {
			return nil, actErr(err)
		}
		chain = append(chain, a)
		next, ok := obj["act"]
		if !ok {
			break
		}
		if next == nil {
			return nil, fail(ReasonInvalidClaim, `claim "act" is null, want an object`)
		}
		v = next
	}
	if v == nil && chain == nil {
		return nil, fail(ReasonInvalidClaim, `claim "act" is null, want an object`)
	}
	return chain, nil
}

func actErr(err *VerifyError) *VerifyError {
	return fail(ReasonInvalidClaim, `in "act": %w`, err.Err)
}
