package config

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/wardenhq/warden/internal/mcp"
)

// MCP holds the mcp settings: the MCP servers Warden serves at
// /mcp/<name>. Servers[i].Headers holds resolved credentials: never log it.
type MCP struct {
	// PublicURL is Warden's data-plane base URL as clients reach it; ""
	// means token_issuer.url (filled in at start).
	PublicURL string
	// AuthorizationServers are named in the protected resource metadata;
	// empty means [token_issuer.url].
	AuthorizationServers []string
	// Servers, each with its upstream and Warden's credential for it.
	Servers []mcp.ServerConfig
}

func (b *builder) mcpServers(cfg *Config, top fields) {
	if !top.has("mcp") {
		return
	}
	const p = "mcp"
	f := b.object(top.get("mcp"), p, "public_url", "authorization_servers", "servers")
	m := &MCP{}
	if v := f.get("public_url"); v != nil {
		if s, ok := b.str(v, p+".public_url"); ok {
			if u, err := url.Parse(s); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
				u.User != nil || u.RawQuery != "" || u.Fragment != "" || strings.HasSuffix(s, "/") {
				b.errorf(v, p+".public_url", "%q is not a base URL (want https://host[/path], no trailing slash, query or user info)", s)
			}
			m.PublicURL = s
		}
	} else if !top.has("token_issuer") {
		b.errorf(f.at("public_url"), p+".public_url", "required without token_issuer: the URL clients reach Warden at (the default of every server's resource URI)")
	}
	if v := f.get("authorization_servers"); v != nil {
		if as, ok := b.strs(v, p+".authorization_servers"); ok {
			for i, s := range as {
				if u, err := url.Parse(s); err != nil || !u.IsAbs() || u.Host == "" {
					b.errorf(v, index(p+".authorization_servers", i), "%q is not an issuer URL", s)
				}
			}
			m.AuthorizationServers = as
		}
	} else if !top.has("token_issuer") {
		b.errorf(f.at("authorization_servers"), p+".authorization_servers", "required without token_issuer: the issuers clients get tokens from")
	}
	seen := map[string]int{}
	for i, it := range b.list(f.get("servers"), p+".servers") {
		sp := index(p+".servers", i)
		sf := b.object(it, sp, "name", "url", "resource", "headers", "scopes", "audit_arguments", "timeout", "upstream_token")
		var sc mcp.ServerConfig
		if v := sf.get("name"); v == nil {
			b.errorf(sf.at("name"), sp+".name", "required")
		} else if s, ok := b.str(v, sp+".name"); ok {
			line, _ := pos(v)
			switch first, dup := seen[s]; {
			case !name(s):
				b.errorf(v, sp+".name", "%q is not a name (want lower-case letters, digits, - _ .)", s)
			case dup:
				b.errorf(v, sp+".name", "MCP server %q defined twice (first at line %d)", s, first)
			default:
				seen[s] = line
			}
			sc.Name = s
		}
		if v := sf.get("url"); v == nil {
			b.errorf(sf.at("url"), sp+".url", "required (the upstream's Streamable HTTP endpoint)")
		} else if s, ok := b.str(v, sp+".url"); ok {
			if msg := upstreamURL(s); msg != "" {
				b.errorf(v, sp+".url", "%s", msg)
			}
			sc.URL = s
		}
		if v := sf.get("resource"); v != nil {
			if s, ok := b.str(v, sp+".resource"); ok {
				if u, err := url.Parse(s); err != nil || !u.IsAbs() || u.Host == "" || u.Fragment != "" {
					b.errorf(v, sp+".resource", "%q is not a resource URI (absolute, no fragment: RFC 8707)", s)
				}
				sc.Resource = s
			}
		}
		if v := sf.get("headers"); v != nil {
			sc.Headers = b.headers(cfg, "mcp:"+sc.Name, v, sp+".headers")
		}
		if v := sf.get("scopes"); v != nil {
			sc.Scopes, _ = b.strs(v, sp+".scopes")
		}
		if v := sf.get("audit_arguments"); v != nil {
			sc.AuditArguments = b.boolean(v, sp+".audit_arguments")
		}
		sc.Timeout = b.upstreamTimeout(cfg, sf.get("timeout"), sp+".timeout")
		if v := sf.get("upstream_token"); v != nil {
			tp := sp + ".upstream_token"
			tf := b.object(v, tp, "audience", "ttl")
			ut := &mcp.UpstreamToken{}
			if a := tf.get("audience"); a == nil {
				b.errorf(tf.at("audience"), tp+".audience", "required: the upstream's audience, the only one the minted tokens name")
			} else if s, ok := b.str(a, tp+".audience"); ok {
				ut.Audience = s
			}
			if d := tf.get("ttl"); d != nil {
				if x, ok := b.duration(d, tp+".ttl", time.Hour); ok {
					if x < time.Second {
						b.errorf(d, tp+".ttl", "must be at least 1s")
					}
					ut.TTL = x
				}
			}
			switch {
			case !top.has("token_issuer"):
				b.errorf(v, tp, "needs token_issuer: the tokens are Warden's own")
			case sc.Headers["Authorization"] != "":
				b.errorf(v, tp, "the minted token is the Authorization header: remove headers.Authorization")
			}
			sc.UpstreamToken = ut
		}
		m.Servers = append(m.Servers, sc)
	}
	if len(m.Servers) == 0 {
		b.errorf(f.at("servers"), p+".servers", "want at least one MCP server")
	}
	cfg.MCP = m
}

// mcpString renders the mcp settings with credentials redacted.
func (c Config) mcpString(b *strings.Builder) {
	if c.MCP == nil {
		return
	}
	fmt.Fprintf(b, "mcp: public_url=%q authorization_servers=%v\n", c.MCP.PublicURL, c.MCP.AuthorizationServers)
	for _, s := range c.MCP.Servers {
		var hs []string
		for h := range s.Headers {
			hs = append(hs, fmt.Sprintf("%s=[redacted %s]", h, c.secrets["mcp:"+s.Name+"/"+h]))
		}
		slices.Sort(hs)
		ut := "none"
		if s.UpstreamToken != nil {
			ut = fmt.Sprintf("aud=%s ttl=%s", s.UpstreamToken.Audience, s.UpstreamToken.TTL)
		}
		fmt.Fprintf(b, "mcp server: %s %s resource=%q scopes=%v audit_arguments=%t timeout=%s upstream_token=%s headers={%s}\n",
			s.Name, s.URL, s.Resource, s.Scopes, s.AuditArguments, s.Timeout, ut, strings.Join(hs, " "))
	}
}
