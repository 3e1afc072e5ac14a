package config

import (
	"strings"
	"testing"
	"time"
)

const mcpSection = `mcp:
  public_url: https://warden.example.com
  authorization_servers: [https://idp.example.com/]
  servers:
    - name: search
      url: http://127.0.0.1:7000/mcp
      headers:
        Authorization: {env: SEARCH_MCP_TOKEN, prefix: "Bearer "}
      scopes: [mcp:search]
      audit_arguments: true
      timeout: 30s
    - name: files
      url: https://files.internal/mcp
      resource: https://mcp.example.com/files
`

func TestMCPConfig(t *testing.T) {
	cfg, err := Parse("warden.yaml", []byte(minimal+mcpSection), envMap{"SEARCH_MCP_TOKEN": "tok-123"}.get, files{}.read)
	if err != nil {
		t.Fatal(err)
	}
	m := cfg.MCP
	if m == nil || len(m.Servers) != 2 {
		t.Fatalf("MCP = %+v, want two servers", m)
	}
	s := m.Servers[0]
	if s.Name != "search" || s.URL != "http://127.0.0.1:7000/mcp" || s.Headers["Authorization"] != "Bearer tok-123" ||
		len(s.Scopes) != 1 || !s.AuditArguments || s.Timeout != 30*time.Second {
		t.Errorf("server 0 = %+v", s)
	}
	if got := s.ResourceURI(m.PublicURL); got != "https://warden.example.com/mcp/search" {
		t.Errorf("default resource = %q", got)
	}
	if got := m.Servers[1].ResourceURI(m.PublicURL); got != "https://mcp.example.com/files" {
		t.Errorf("configured resource = %q", got)
	}
	if m.Servers[1].Timeout != DefaultUpstreamTimeout {
		t.Errorf("default timeout = %s", m.Servers[1].Timeout)
	}
	if str := cfg.String(); strings.Contains(str, "tok-123") || !strings.Contains(str, "Authorization=[redacted env:SEARCH_MCP_TOKEN]") {
		t.Errorf("String leaks or misses the credential source:\n%s", str)
	}
	// mcp alone is a gateway: no routes needed.
	noRoutes := strings.Replace(minimal, "models:\n  upstream: echo\n", "", 1)
	if _, err := Parse("warden.yaml", []byte(noRoutes+mcpSection), envMap{"SEARCH_MCP_TOKEN": "t"}.get, files{}.read); err != nil {
		t.Errorf("mcp without routes: %v", err)
	}
}

func TestMCPConfigErrors(t *testing.T) {
	base := minimal + "mcp:\n  public_url: https://warden.example.com\n  authorization_servers: [https://idp.example.com/]\n  servers:\n"
	tests := []struct {
		name, src, want string
	}{
		{"no servers", minimal + "mcp:\n  public_url: https://w.example.com\n  authorization_servers: [https://idp.example.com/]\n",
			`mcp.servers: want at least one MCP server`},
		{"no public url", minimal + "mcp:\n  authorization_servers: [https://idp.example.com/]\n  servers:\n    - name: a\n      url: http://127.0.0.1:1\n",
			`warden.yaml:17:3: mcp.public_url: required without token_issuer`},
		{"bad name", base + "    - name: Bad/Name\n      url: http://127.0.0.1:1\n",
			`warden.yaml:20:13: mcp.servers[0].name: "Bad/Name" is not a name`},
		{"duplicate", base + "    - name: a\n      url: http://127.0.0.1:1\n    - name: a\n      url: http://127.0.0.1:2\n",
			`warden.yaml:22:13: mcp.servers[1].name: MCP server "a" defined twice (first at line 20)`},
		{"no url", base + "    - name: a\n",
			`mcp.servers[0].url: required`},
		{"credentials in url", base + "    - name: a\n      url: http://u:p@127.0.0.1:1\n",
			`mcp.servers[0].url: URL must not hold credentials`},
		{"bad resource", base + "    - name: a\n      url: http://127.0.0.1:1\n      resource: not-a-uri\n",
			`mcp.servers[0].resource: "not-a-uri" is not a resource URI`},
		{"plain secret", base + "    - name: a\n      url: http://127.0.0.1:1\n      headers:\n        Authorization: Bearer x\n",
			`mcp.servers[0].headers.Authorization: want {env: NAME}`},
		{"upstream token without issuer", base + "    - name: a\n      url: http://127.0.0.1:1\n      upstream_token: {audience: https://up.test}\n",
			`mcp.servers[0].upstream_token: needs token_issuer`},
		{"upstream token without audience", base + "    - name: a\n      url: http://127.0.0.1:1\n      upstream_token: {ttl: 30s}\n",
			`mcp.servers[0].upstream_token.audience: required`},
		{"unknown key", base + "    - name: a\n      url: http://127.0.0.1:1\n      scope: [x]\n",
			`warden.yaml:22:7: mcp.servers[0].scope: unknown key`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("warden.yaml", []byte(tc.src), nil, files{}.read)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v\nwant it to contain %s", err, tc.want)
			}
		})
	}
}
