package token

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// Claims is what a minted token asserts. Issuer, Subject, at least one
// Audience and a positive TTL are required; everything else is optional and
// omitted from the token when empty.
type Claims struct {
	// Issuer is "iss".
	Issuer string
	// Subject is "sub": the user, or the client for a machine token.
	Subject string
	// Audience is "aud": a string when there is one, an array when several.
	Audience []string
	// TTL is the lifetime: exp = iat + TTL (whole seconds, at least 1s, at
	// most the Signer's MaxTTL).
	TTL time.Duration
	// ClientID is "client_id" (RFC 9068 §2.2), the OAuth client the token is
	// issued to.
	ClientID string
	// Roles is "roles", an array of strings.
	Roles []string
	// Scopes is "scope", joined with spaces (RFC 9068 §2.2.3). A scope must
	// be a non-empty RFC 6749 scope-token: printable ASCII without space,
	// '"' or '\'.
	Scopes []string
	// Team, Tenant and Env are "team", "tenant" and "env".
	Team   string
	Tenant string
	Env    string
	// Actor is the RFC 8693 "act" claim: who acts on behalf of Subject.
	Actor *Actor
	// Extra holds any other claims. Each value must marshal to JSON. A name
	// that equals a reserved claim (see ReservedClaims), in any letter case,
	// is an error wrapping ErrReservedClaim.
	Extra map[string]any
}

// Actor is one link of an RFC 8693 delegation chain: {"sub": ..., "act": {...}}.
type Actor struct {
	// Subject is the actor's "sub". Required.
	Subject string
	// Issuer is the actor's "iss", omitted when empty.
	Issuer string
	// ClientID is the actor's "client_id", omitted when empty.
	ClientID string
	// Actor is the previous actor in the chain, if any.
	Actor *Actor
}

// maxActorDepth bounds the act chain a Signer writes.
const maxActorDepth = 16

// ReservedClaims returns the claim names that Claims.Extra may not use, in
// any letter case: those the Signer sets itself, plus "scp", "azp" and "cnf",
// which verifiers read in place of them.
func ReservedClaims() []string {
	return []string{
		"iss", "sub", "aud", "exp", "nbf", "iat", "jti",
		"client_id", "roles", "scope", "team", "tenant", "env", "act",
		"scp", "azp", "cnf",
	}
}

// isReserved compares with Unicode case folding, as encoding/json does when
// it matches object names to struct fields.
func isReserved(name string) bool {
	for _, r := range ReservedClaims() {
		if strings.EqualFold(name, r) {
			return true
		}
	}
	return false
}

// claims validates c and returns the payload without the time claims and jti.
func (c Claims) claims() (map[string]any, error) {
	m := make(map[string]any, 12+len(c.Extra))
	if err := checkString("iss", c.Issuer, true); err != nil {
		return nil, err
	}
	m["iss"] = c.Issuer
	if err := checkString("sub", c.Subject, true); err != nil {
		return nil, err
	}
	m["sub"] = c.Subject
	switch len(c.Audience) {
	case 0:
		return nil, errors.New(`"aud" is required: a token without an audience is accepted by everybody`)
	case 1:
		m["aud"] = c.Audience[0]
	default:
		m["aud"] = c.Audience
	}
	for _, a := range c.Audience {
		if err := checkString("aud", a, true); err != nil {
			return nil, err
		}
	}
	for name, v := range map[string]string{"client_id": c.ClientID, "team": c.Team, "tenant": c.Tenant, "env": c.Env} {
		if v == "" {
			continue
		}
		if err := checkString(name, v, false); err != nil {
			return nil, err
		}
		m[name] = v
	}
	if len(c.Roles) > 0 {
		for _, r := range c.Roles {
			if err := checkString("roles", r, true); err != nil {
				return nil, err
			}
		}
		m["roles"] = c.Roles
	}
	if len(c.Scopes) > 0 {
		for _, s := range c.Scopes {
			if err := checkScope(s); err != nil {
				return nil, err
			}
		}
		m["scope"] = strings.Join(c.Scopes, " ")
	}
	if c.Actor != nil {
		act, err := c.Actor.claim(1)
		if err != nil {
			return nil, err
		}
		m["act"] = act
	}
	for name, v := range c.Extra {
		if name == "" {
			return nil, errors.New("extra claim with an empty name")
		}
		if !utf8.ValidString(name) {
			return nil, fmt.Errorf("extra claim name %q is not valid UTF-8", name)
		}
		if isReserved(name) {
			return nil, fmt.Errorf("extra claim %q: %w (set it through its own field)", name, ErrReservedClaim)
		}
		if _, err := marshal(v); err != nil {
			return nil, fmt.Errorf("extra claim %q: %w", name, err)
		}
		m[name] = v
	}
	return m, nil
}

func (a *Actor) claim(depth int) (map[string]any, error) {
	if depth > maxActorDepth {
		return nil, fmt.Errorf(`"act" chain deeper than %d`, maxActorDepth)
	}
	if err := checkString("act.sub", a.Subject, true); err != nil {
		return nil, err
	}
	m := map[string]any{"sub": a.Subject}
	if a.Issuer != "" {
		if err := checkString("act.iss", a.Issuer, false); err != nil {
			return nil, err
		}
		m["iss"] = a.Issuer
	}
	if a.ClientID != "" {
		if err := checkString("act.client_id", a.ClientID, false); err != nil {
			return nil, err
		}
		m["client_id"] = a.ClientID
	}
	if a.Actor != nil {
		inner, err := a.Actor.claim(depth + 1)
		if err != nil {
			return nil, err
		}
		m["act"] = inner
	}
	return m, nil
}

func checkString(name, v string, required bool) error {
	if v == "" {
		if required {
			return fmt.Errorf("%q is required and must not be empty", name)
		}
		return nil
	}
	if !utf8.ValidString(v) {
		return fmt.Errorf("%q is not valid UTF-8", name)
	}
	return nil
}

// checkScope enforces RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ).
func checkScope(s string) error {
	if s == "" {
		return errors.New(`"scope": empty scope`)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x21 || c > 0x7e || c == '"' || c == '\\' {
			return fmt.Errorf(`"scope": %q is not a valid scope token (printable ASCII without space, '"' or '\')`, s)
		}
	}
	return nil
}

// marshal encodes v as compact JSON without HTML escaping. Maps are encoded
// with sorted keys, so the output is deterministic.
func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}
