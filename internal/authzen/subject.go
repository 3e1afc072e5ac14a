package authzen

import (
	"encoding/json"
	"net/netip"
	"time"

	"github.com/wardenhq/warden/internal/identity"
	"github.com/wardenhq/warden/internal/policy"
)

// Subject types an explicit subject may have.
const (
	SubjectUser  = "user"  // User::"<id>"
	SubjectAgent = "agent" // Agent::"<id>" (a machine client)
)

// maxListItems bounds a roles, scopes or groups property.
const maxListItems = 256

// SubjectPrincipal maps an explicit subject to the principal the engine
// evaluates:
//
//   - type "user" is User::"<id>" (Principal.Subject = id); type "agent"
//     is Agent::"<id>" (Subject and ClientID = id); any other type is an
//     error.
//   - properties roles, scopes and groups are arrays of strings; team,
//     tenant, env, iss and client_id (users only) are strings; auth_time
//     is a number of seconds since the epoch (it feeds context.auth_age).
//   - every other property becomes a principal attribute of that name,
//     converted like a claim the issuer maps (Principal.Attributes).
//
// A delegated subject (an agent acting for a user) cannot be expressed:
// delegation comes from a token's act claim only. Errors are
// *RequestError.
func SubjectPrincipal(s *Subject) (*identity.Principal, error) {
	p := &identity.Principal{Roles: []string{}, Scopes: []string{}, Groups: []string{}}
	switch s.Type {
	case SubjectUser:
		p.Subject = s.ID
	case SubjectAgent:
		p.Subject, p.ClientID = s.ID, s.ID
	default:
		return nil, badf("subject.type must be %q or %q, not %q", SubjectUser, SubjectAgent, truncate(s.Type, 64))
	}
	for k, v := range s.Properties {
		field := "subject.properties." + truncate(k, 64)
		var err error
		switch k {
		case "roles":
			p.Roles, err = stringList(field, v)
		case "scopes":
			p.Scopes, err = stringList(field, v)
		case "groups":
			p.Groups, err = stringList(field, v)
		case "team":
			p.Team, err = str(field, v)
		case "tenant":
			p.Tenant, err = str(field, v)
		case "env":
			p.Env, err = str(field, v)
		case "iss":
			p.Issuer, err = str(field, v)
		case "client_id":
			if s.Type == SubjectAgent {
				return nil, badf("%s: an agent's client_id is its id", field)
			}
			p.ClientID, err = str(field, v)
		case "auth_time":
			n, ok := v.(json.Number)
			var sec int64
			if ok {
				sec, err = n.Int64()
			}
			if !ok || err != nil || sec < 0 {
				return nil, badf("%s must be a whole number of seconds since the epoch", field)
			}
			p.AuthTime = time.Unix(sec, 0)
		case "act", "sub":
			return nil, badf("%s is not supported: delegation and the subject id come from a token or subject.id", field)
		default:
			if p.Attributes == nil {
				p.Attributes = make(map[string]any, len(s.Properties))
			}
			p.Attributes[k] = v
		}
		if err != nil {
			return nil, err
		}
	}
	return p, nil
}

// selfSubject reports whether s names the caller p itself, with nothing
// more: the subject a caller without the pdp:query scope may send.
func selfSubject(s *Subject, p *identity.Principal) bool {
	if len(s.Properties) > 0 || p.Delegated() {
		return false
	}
	if policy.IsAgent(p) {
		return s.Type == SubjectAgent && s.ID == p.ClientID
	}
	return s.Type == SubjectUser && s.ID == p.Subject
}

// reserved context keys: the engine sets time, auth_age and on_behalf_of
// itself, and a caller of the decision API may not set them (a PEP that
// could set "time" could step around every time-based rule).
var reservedContext = [...]string{policy.ContextTime, policy.ContextAuthAge, policy.ContextOnBehalfOf}

// policyContext converts an AuthZEN context to the engine's: a copy with
// ip (a string) parsed as an IP address and env set to the node's
// deployment when it has one (it overrides the caller's, as the gateway's
// does). Errors are *RequestError.
func policyContext(in map[string]any, env string, prefix string) (map[string]any, error) {
	out := make(map[string]any, len(in)+1)
	for k, v := range in {
		for _, r := range reservedContext {
			if k == r {
				return nil, badf("%scontext.%s is set by Warden, not by the caller", prefix, k)
			}
		}
		if k == "ip" {
			s, ok := v.(string)
			if !ok {
				return nil, badf("%scontext.ip must be a string", prefix)
			}
			a, err := netip.ParseAddr(s)
			if err != nil {
				return nil, badf("%scontext.ip is not an IP address", prefix)
			}
			v = a
		}
		out[k] = v
	}
	if env != "" {
		out["env"] = env
	}
	return out, nil
}

func stringList(field string, v any) ([]string, error) {
	arr, ok := v.([]any)
	if !ok {
		return nil, badf("%s must be an array of strings", field)
	}
	if len(arr) > maxListItems {
		return nil, badf("%s has more than %d items", field, maxListItems)
	}
	out := make([]string, len(arr))
	for i, x := range arr {
		s, ok := x.(string)
		if !ok {
			return nil, badf("%s must be an array of strings", field)
		}
		out[i] = s
	}
	return out, nil
}

func str(field string, v any) (string, error) {
	s, ok := v.(string)
	if !ok {
		return "", badf("%s must be a string", field)
	}
	if len(s) > maxStringBytes {
		return "", badf("%s is longer than %d bytes", field, maxStringBytes)
	}
	return s, nil
}
