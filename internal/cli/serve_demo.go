package cli

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/wardenhq/warden/examples"
	"github.com/wardenhq/warden/internal/authn"
	"github.com/wardenhq/warden/internal/authzen"
	"github.com/wardenhq/warden/internal/bundle"
	"github.com/wardenhq/warden/internal/echo"
	"github.com/wardenhq/warden/internal/issuer"
	"github.com/wardenhq/warden/internal/jwk"
	"github.com/wardenhq/warden/internal/mcpdemo"
	"github.com/wardenhq/warden/internal/policy"
	"github.com/wardenhq/warden/internal/store"
	"github.com/wardenhq/warden/internal/token"
)

// Demo constants: the issuer and audience of the demo tokens and the files
// written to the data directory.
const (
	demoIssuer       = "https://warden.demo/"
	demoAudience     = "warden"
	demoTokenTTL     = time.Hour
	demoNode         = "demo"
	demoConfigFile   = "warden.yaml"
	demoBundleFile   = "bundle.tar.gz"
	demoTokenJWKS    = "token-keys.jwks.json"
	demoBundleJWKS   = "bundle-keys.jwks.json"
	demoStoreFile    = "warden.db"
	demoKEKFile      = "key-encryption-key"
	demoMCPTokenFile = "mcp-upstream-token"
	demoClient       = "eval-runner"
	demoEchoTimeout  = 30 * time.Second
	demoMCPPath      = "/mcp/" + mcpdemo.Name // where Warden serves the demo MCP server
)

// demoPersona is one reference user of examples/policy the demo mints a
// token for.
type demoPersona struct {
	Env    string // shell variable name for the token
	Sub    string
	Roles  []string
	Team   string
	Scopes []string
	Note   string
}

// demoPersonas returns the reference roles of the example bundle, each with
// the claims that make its decisions visible.
func demoPersonas() []demoPersona {
	return []demoPersona{
		{"EVE", "eve", []string{"evaluator"}, "research", []string{"models:premium"},
			"evaluator, team research: premium models and traces; no pii:read, so PII is redacted"},
		{"OSCAR", "oscar", []string{"operator"}, "platform", nil,
			"operator, team platform: rebuilds indexes; standard models only (no models:premium)"},
		{"SAM", "sam", []string{"support-lead"}, "support", nil,
			"support lead, team support: sees only gpt-4o-mini; reads no traces"},
		{"ERIN", "erin", []string{"engineer"}, "platform", []string{"models:premium"},
			"engineer, team platform: platform models, premium included"},
		{"PRIYA", "priya", []string{"evaluator"}, "research", []string{"pii:read"},
			"evaluator with pii:read: sees personal data in traces unredacted (secrets stay redacted)"},
		{"ADA", "ada", []string{"admin"}, "platform", []string{"models:premium"},
			"admin, team platform: platform models, premium included; indexes"},
	}
}

// demoEnv is what --demo sets up before the server starts.
type demoEnv struct {
	dataDir    string
	configPath string
	storeURL   string
	revision   string
	echoURL    string
	// mcpUpstream is the demo MCP server's endpoint, mcpToken the bearer
	// credential it requires (Warden injects it; callers never see it).
	mcpUpstream string
	mcpToken    string
	upstreams   []*http.Server // echo and the demo MCP server, stopped by close
	tokens      []demoToken
	signer      *token.Signer // the ephemeral token key, for the console's generator
	logger      *slog.Logger
	// clientSecret is the demo OAuth client's secret, set by addClient.
	clientSecret string
}

type demoToken struct {
	persona demoPersona
	token   string
}

// setupDemo prepares the data directory: ephemeral token and bundle signing
// keys (only their public halves are written), the example bundle built and
// signed, the echo upstream started on a loopback port, and a configuration
// file that ties them together and that the server then loads like any other.
func setupDemo(ctx context.Context, stdio IO, dataDir string, logger *slog.Logger) (_ *demoEnv, err error) {
	d := &demoEnv{logger: logger}
	defer func() {
		if err != nil {
			d.close()
		}
	}()
	if dataDir == "" {
		if dataDir, err = os.MkdirTemp("", "warden-demo-"); err != nil {
			return nil, fmt.Errorf("create data dir: %w", err)
		}
	} else if err = os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	if d.dataDir, err = filepath.Abs(dataDir); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}

	tokenKey, err := jwk.Generate("EdDSA", "")
	if err != nil {
		return nil, fmt.Errorf("generate token key: %w", err)
	}
	bundleKey, err := jwk.Generate("EdDSA", "")
	if err != nil {
		return nil, fmt.Errorf("generate bundle key: %w", err)
	}
	for _, kf := range []struct {
		key  *jwk.Key
		file string
	}{{tokenKey, demoTokenJWKS}, {bundleKey, demoBundleJWKS}} {
		if err := writePublicJWKS(filepath.Join(d.dataDir, kf.file), kf.key); err != nil {
			return nil, err
		}
	}

	files, err := embeddedPolicy()
	if err != nil {
		return nil, err
	}
	now := stdio.Now()
	d.revision = "demo-" + now.UTC().Format("20060102T150405Z")
	archive, _, err := bundle.Build(files, bundle.BuildOptions{Revision: d.revision, Created: now, Key: bundleKey})
	if err != nil {
		return nil, fmt.Errorf("build the example bundle: %w", err)
	}
	if err := os.WriteFile(filepath.Join(d.dataDir, demoBundleFile), archive, 0o600); err != nil {
		return nil, fmt.Errorf("write bundle: %w", err)
	}

	if d.echoURL, err = d.startUpstream("echo", echo.Handler(echo.Config{Clock: stdio.Now})); err != nil {
		return nil, err
	}
	// The demo MCP server opens only to Warden's own credential, which the
	// configuration injects: the caller's token never reaches it.
	if d.mcpToken, err = randomToken(); err != nil {
		return nil, err
	}
	mcpSrv := mcpdemo.New(mcpdemo.Config{Clock: stdio.Now, Logger: logger.With("component", "mcpdemo"), Token: d.mcpToken})
	if d.mcpUpstream, err = d.startUpstream("mcp", mcpSrv.Handler()); err != nil {
		return nil, err
	}
	d.mcpUpstream += "/mcp"
	if err := os.WriteFile(filepath.Join(d.dataDir, demoMCPTokenFile), []byte(d.mcpToken+"\n"), 0o600); err != nil {
		return nil, fmt.Errorf("write the MCP upstream credential: %w", err)
	}

	kek := make([]byte, issuer.KEKBytes)
	if _, err := rand.Read(kek); err != nil {
		return nil, fmt.Errorf("key-encryption key: %w", err)
	}
	if err := os.WriteFile(filepath.Join(d.dataDir, demoKEKFile), []byte(base64.StdEncoding.EncodeToString(kek)+"\n"), 0o600); err != nil {
		return nil, fmt.Errorf("write key-encryption key: %w", err)
	}

	d.storeURL = "sqlite://" + filepath.ToSlash(filepath.Join(d.dataDir, demoStoreFile))
	d.configPath = filepath.Join(d.dataDir, demoConfigFile)
	if err := os.WriteFile(d.configPath, []byte(d.configYAML()), 0o600); err != nil {
		return nil, fmt.Errorf("write configuration: %w", err)
	}

	signer, err := token.NewSigner(token.SignerConfig{Key: tokenKey, Clock: stdio.Now})
	if err != nil {
		return nil, fmt.Errorf("token signer: %w", err)
	}
	d.signer = signer
	return d, nil
}

// mintTokens mints a token for every persona, for the gateway's audience
// and the demo MCP server's resource (which names the data address, known
// only once the listener is bound: hence not in setupDemo).
func (d *demoEnv) mintTokens(ctx context.Context, mcpResource string) error {
	d.tokens = d.tokens[:0]
	for _, p := range demoPersonas() {
		tok, err := d.signer.Mint(ctx, token.Claims{
			Issuer: demoIssuer, Subject: p.Sub, Audience: []string{demoAudience, mcpResource}, TTL: demoTokenTTL,
			Roles: p.Roles, Scopes: p.Scopes, Team: p.Team, Tenant: "acme",
		})
		if err != nil {
			return fmt.Errorf("mint token for %s: %w", p.Sub, err)
		}
		d.tokens = append(d.tokens, demoToken{persona: p, token: tok})
	}
	return nil
}

// startUpstream serves h on a fresh loopback port until close and returns
// its base URL.
func (d *demoEnv) startUpstream(name string, h http.Handler) (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("%s upstream listener: %w", name, err)
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(d.logger.Handler(), slog.LevelWarn),
	}
	d.upstreams = append(d.upstreams, srv)
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			d.logger.Error(name+" upstream stopped", "err", err)
		}
	}()
	return "http://" + ln.Addr().String(), nil
}

// randomToken returns 32 random bytes, base64url.
func randomToken() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("random token: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// embeddedPolicy returns the files of examples/policy, as bundle.Build takes
// them.
func embeddedPolicy() (map[string][]byte, error) {
	sub, err := fs.Sub(examples.Policy, "policy")
	if err != nil {
		return nil, fmt.Errorf("embedded policy: %w", err)
	}
	files := map[string][]byte{}
	err = fs.WalkDir(sub, ".", func(path string, de fs.DirEntry, err error) error {
		if err != nil || de.IsDir() {
			return err
		}
		b, err := fs.ReadFile(sub, path)
		files[path] = b
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("embedded policy: %w", err)
	}
	return files, nil
}

func writePublicJWKS(path string, k *jwk.Key) error {
	pub, err := k.Public()
	if err != nil {
		return fmt.Errorf("public key: %w", err)
	}
	b, err := (&jwk.Set{Keys: []*jwk.Key{pub}}).MarshalJSON()
	if err != nil {
		return fmt.Errorf("marshal %s: %w", filepath.Base(path), err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", filepath.Base(path), err)
	}
	return nil
}

// configYAML is the demo's configuration: the same file a production
// deployment would write, pointing at the data directory's keys and bundle
// and at the echo upstream.
func (d *demoEnv) configYAML() string {
	return fmt.Sprintf(`# Generated by "warden serve --demo": a configuration like any other
# (see docs/configuration.md). The keys it trusts were generated for this run
# only; their private halves were never written to disk.
issuers:
  - issuer: %s
    audiences: [%s]
    algorithms: [EdDSA]
    keys_file: %s
    required_claims: [jti]

policy:
  bundle: %s
  keys: [%s]

store: %s

audit:
  node: %s

# Warden as an OAuth token issuer (docs/issuer.md); its URL is the data plane.
token_issuer:
  audiences: [%s]
  key_encryption_key: {file: %s}

upstreams:
  - name: echo
    url: %s
    timeout: %s

models:
  upstream: echo

routes:
  - name: trace-read
    kind: tool
    methods: [GET]
    path: /api/traces/{id}
    action: trace:read
    resource:
      type: Trace
      id: "{id}"
      attributes:
        tenant: header:X-Tenant
    upstream: echo
  - name: index-rebuild
    kind: tool
    methods: [POST]
    path: /api/indexes/{id}/rebuild
    action: index:rebuild
    resource:
      type: Index
      id: "{id}"
      attributes:
        tenant: header:X-Tenant
    upstream: echo

# The demo MCP server (internal/mcpdemo) at /mcp/%s; Warden injects its own
# credential upstream, never the caller's token (docs/mcp.md).
mcp:
  servers:
    - name: %s
      url: %s
      headers:
        Authorization: {file: %s, prefix: "Bearer "}
`, demoIssuer, demoAudience, demoTokenJWKS, demoBundleFile, demoBundleJWKS,
		strconv.Quote(d.storeURL), demoNode, demoAudience, demoKEKFile, d.echoURL, demoEchoTimeout,
		mcpdemo.Name, mcpdemo.Name, d.mcpUpstream, demoMCPTokenFile)
}

// addClient registers the demo's OAuth client with a fresh secret (an
// existing one, from an earlier run in the same data directory, is
// replaced). It may ask for the gateway's audience and for mcpResources,
// the demo MCP server's resource URI (RFC 8707).
func (d *demoEnv) addClient(ctx context.Context, st store.Store, now time.Time, mcpResources []string) error {
	secret, hash, err := issuer.NewSecret(issuer.SecretPrefix)
	if err != nil {
		return err
	}
	if err := st.Issuer().RemoveClient(ctx, demoClient, now, issuer.DefaultAccessTokenTTL+authn.MaxLeeway); err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("demo client: %w", err)
	}
	if err := st.Issuer().AddClient(ctx, store.Client{
		ID: demoClient, Name: "demo evaluation agent", SecretHash: hash, Scopes: []string{"trace:read", "model:invoke", authzen.ScopePDPQuery},
		Audiences:  append([]string{demoAudience}, mcpResources...),
		GrantTypes: []string{issuer.GrantClientCredentials, issuer.GrantRefreshToken, issuer.GrantTokenExchange}, Created: now,
	}); err != nil {
		return fmt.Errorf("demo client: %w", err)
	}
	d.clientSecret = secret
	return nil
}

// waitLoaded waits until the engine has a bundle, at most timeout.
func (d *demoEnv) waitLoaded(ctx context.Context, e *policy.Engine, timeout time.Duration) {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for !e.Status().Loaded {
		select {
		case <-ctx.Done():
			return
		case <-deadline.C:
			d.logger.Warn("the demo bundle is not loaded yet; see /readyz")
			return
		case <-tick.C:
		}
	}
}

// printBanner mints the persona tokens (see mintTokens) and prints where
// everything is, the tokens and commands to try.
func (d *demoEnv) printBanner(ctx context.Context, w io.Writer, dataAddr, adminAddr string) error {
	base := "http://" + dataAddr
	if err := d.mintTokens(ctx, base+demoMCPPath); err != nil {
		return err
	}
	var b strings.Builder
	fmt.Fprintf(&b, `Warden demo is running.

  data plane   %s
  admin        http://%s  (/healthz /readyz /metrics)
  console      http://%s/console/  (sign in with $ADA; generates development tokens)
  echo model   %s  (the upstream: it echoes your prompt and adds an email, a phone number and a fake API key)
  mcp server   %s  (the demo MCP server behind Warden; its upstream %s opens only to Warden's own credential)
  data dir     %s
               %s (configuration), %s (signed bundle, revision %s), %s (audit log)

Tokens for the reference roles of examples/policy (issuer %s, audience %s, valid %s, tenant acme):

`, base, adminAddr, adminAddr, d.echoURL, base+demoMCPPath, d.mcpUpstream, d.dataDir, demoConfigFile, demoBundleFile, d.revision, demoStoreFile,
		demoIssuer, demoAudience, demoTokenTTL)
	for _, t := range d.tokens {
		fmt.Fprintf(&b, "  # %s: %s\n  export %s=%s\n\n", t.persona.Sub, t.persona.Note, t.persona.Env, t.token)
	}
	chat := func(tok, model, extra string) string {
		return fmt.Sprintf(`curl -s %s/v1/chat/completions -H "Authorization: Bearer $%s" -H 'Content-Type: application/json' -d '{"model":"%s",%s"messages":[{"role":"user","content":"Hello, Warden"}]}'`,
			base, tok, model, extra)
	}
	fmt.Fprintf(&b, `Try:

  # allowed, and redacted: eve may use gpt-4o, but the email, phone number and key in the reply are masked
  %s

  # streamed: redaction holds even where the email is split across SSE chunks
  %s

  # denied (403): gpt-4o is premium and oscar lacks models:premium
  %s

  # /v1/models is filtered per caller: sam sees only gpt-4o-mini, eve the research models
  curl -s %s/v1/models -H "Authorization: Bearer $SAM"
  curl -s %s/v1/models -H "Authorization: Bearer $EVE"

  # tools: eve reads a trace of her tenant, PII redacted; priya (pii:read) sees it; oscar may not read traces (403)
  curl -s %s/api/traces/t-1 -H 'X-Tenant: acme' -H "Authorization: Bearer $EVE"
  curl -s %s/api/traces/t-1 -H 'X-Tenant: acme' -H "Authorization: Bearer $PRIYA"
  curl -s %s/api/traces/t-1 -H 'X-Tenant: acme' -H "Authorization: Bearer $OSCAR"
  curl -s -X POST %s/api/indexes/docs/rebuild -H 'X-Tenant: acme' -H "Authorization: Bearer $OSCAR"

%s
%s
  # every decision is in the hash-chained audit log
  warden audit query --store %s
  warden audit verify --store %s

Stop with Ctrl-C: requests in flight are drained and the audit log is flushed.
`,
		chat("EVE", "gpt-4o", ""),
		strings.Replace(chat("EVE", "claude-sonnet", `"stream":true,`), "curl -s", "curl -sN", 1),
		chat("OSCAR", "gpt-4o", ""),
		base, base, base, base, base, base, d.issuerBanner(base), mcpBanner(base+demoMCPPath), d.storeURL, d.storeURL)
	_, err := io.WriteString(w, b.String())
	return err
}

// issuerBanner is the banner's part about the token issuer.
func (d *demoEnv) issuerBanner(base string) string {
	return strings.TrimSuffix(fmt.Sprintf(`  # Warden issues tokens too (docs/issuer.md). The demo client %[2]s (an evaluator agent; secret shown once):
  CLIENT_SECRET=%[3]s
  # client_credentials: the agent's own token, then a call with it
  AGENT=$(curl -s -u %[2]s:$CLIENT_SECRET -d grant_type=client_credentials -d scope=trace:read %[1]s/oauth2/token | sed -E 's/.*"access_token":"([^"]+)".*/\1/')
  curl -s %[1]s/api/traces/t-1 -H 'X-Tenant: acme' -H "Authorization: Bearer $AGENT"
  # token exchange: the agent acting for eve (the audit record shows both)
  curl -s -u %[2]s:$CLIENT_SECRET -d grant_type=urn:ietf:params:oauth:grant-type:token-exchange -d subject_token=$EVE -d subject_token_type=urn:ietf:params:oauth:token-type:access_token %[1]s/oauth2/token
  curl -s %[1]s/.well-known/openid-configuration
  # the AuthZEN decision API (docs/authzen.md): may eve read trace t-1 of her tenant?
  curl -s %[1]s/access/v1/evaluation -H 'Content-Type: application/json' -H "Authorization: Bearer $EVE" -d '{"action":{"name":"trace:read"},"resource":{"type":"Trace","id":"t-1","properties":{"tenant":"acme"}}}'

`, base, demoClient, d.clientSecret), "\n")
}

// mcpCurl is a curl command sending one 2026-07-28 MCP request (no
// session) to endpoint with the token in $tok. name is the tool of a
// tools/call ("" for another method); params is the JSON of the params
// without their _meta.
func mcpCurl(endpoint, tok, method, name, params string) string {
	var nameHeader string
	if name != "" {
		nameHeader = fmt.Sprintf(`-H 'Mcp-Name: %s' `, name)
	}
	params = strings.TrimSuffix(params, "}")
	if params != "{" {
		params += ","
	}
	return fmt.Sprintf(`curl -s %s -H "Authorization: Bearer $%s" -H 'Content-Type: application/json' -H 'Accept: application/json, text/event-stream' `+
		`-H 'Mcp-Protocol-Version: 2026-07-28' -H 'Mcp-Method: %s' %s-d '{"jsonrpc":"2.0","id":1,"method":"%s","params":%s"_meta":%s}}'`,
		endpoint, tok, method, nameHeader, method, params, demoMCPMeta)
}

// demoMCPMeta is the _meta of a 2026-07-28 request in the banner's commands.
const demoMCPMeta = `{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientInfo":{"name":"curl","version":"1"},"io.modelcontextprotocol/clientCapabilities":{}}`

// mcpBanner is the banner's part about the demo MCP server.
func mcpBanner(endpoint string) string {
	call := func(tok, tool, args string) string {
		return mcpCurl(endpoint, tok, "tools/call", tool, `{"name":"`+tool+`","arguments":`+args+`}`)
	}
	return strings.TrimSuffix(fmt.Sprintf(`  # MCP (docs/mcp.md): every tools/call is judged as tool:call on Tool::"demo/<tool>"
  # allowed: eve (evaluator) calls a read-only tool; the email in the result is redacted
  %s
  # denied: evaluators call read-only tools only (a JSON-RPC error with the reason and the decision id)
  %s
  # oscar (operator) sees only the tools he may call, and rebuilds an index
  %s
  %s
  # an MCP client finds its way alone: the 401 names the protected-resource metadata, which names Warden's issuer
  curl -si %s -X POST | grep -i www-authenticate

`, call("EVE", "search_traces", `{"tenant":"acme","query":"refund"}`),
		call("EVE", "delete_records", `{"env":"staging","tenant":"acme"}`),
		mcpCurl(endpoint, "OSCAR", "tools/list", "", "{}"),
		call("OSCAR", "rebuild_index", `{"index":"kb","tenant":"acme"}`),
		endpoint), "\n")
}

// close stops the echo upstream and the demo MCP server. The data
// directory is kept: it holds the audit log.
func (d *demoEnv) close() {
	if len(d.upstreams) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, srv := range d.upstreams {
		_ = srv.Shutdown(ctx)
	}
	d.upstreams = nil
}
