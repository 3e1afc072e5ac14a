package config

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/goccy/go-yaml/ast"
	"github.com/wardenhq/warden/internal/audit"
	"github.com/wardenhq/warden/internal/authn"
	"github.com/wardenhq/warden/internal/fetch"
	"github.com/wardenhq/warden/internal/gateway"
	"github.com/wardenhq/warden/internal/guard"
	"github.com/wardenhq/warden/internal/issuer"
	"github.com/wardenhq/warden/internal/jwk"
)

// Upper bounds of settings, to catch typos (a timeout of "300h").
const (
	maxTimeout  = 24 * time.Hour
	maxInterval = 24 * time.Hour
	maxBody     = 1 << 30
	maxHeader   = 1 << 20
	maxTokenLen = 1 << 20
)

// builder turns the syntax tree into a Config.
type builder struct {
	walker
	dir      string
	env      func(string) string
	readFile func(string) ([]byte, error)

	// upstreams by name, with the node that defined each.
	upstreams map[string]ast.Node
}

func (b *builder) build(body ast.Node) *Config {
	cfg := &Config{secrets: map[string]string{}}
	top := b.object(body, "", "listen", "limits", "issuers", "policy", "store", "audit", "guards",
		"trusted_proxies", "upstreams", "routes", "models", "token_issuer", "authzen", "mcp")
	b.listen(cfg, top.get("listen"))
	b.limits(cfg, top.get("limits"))
	b.issuers(cfg, top, top.get("issuers"))
	b.policy(cfg, top, top.get("policy"))
	b.store(cfg, top)
	b.audit(cfg, top.get("audit"))
	b.authzen(cfg, top.get("authzen"))
	b.tokenIssuer(cfg, top)
	b.guards(cfg, top.get("guards"))
	b.proxies(cfg, top.get("trusted_proxies"))
	b.upstreamList(cfg, top.get("upstreams"))
	b.routes(cfg, top.get("routes"))
	b.models(cfg, top.get("models"))
	b.mcpServers(cfg, top)
	// Without routes every request gets 404. Routes that failed to parse
	// have been reported already.
	seq, isSeq := top.get("routes").(*ast.SequenceNode)
	// A decision-only node (the AuthZEN API, docs/authzen.md) says so with
	// an authzen section that does not disable it; the API being on by
	// default does not make a configuration without routes valid.
	pdp := top.has("authzen") && !cfg.AuthZEN.Disabled
	if !top.has("models") && !top.has("mcp") && !pdp && (!top.has("routes") || isSeq && len(seq.Values) == 0) {
		b.errorf(top.at("routes"), "routes", "no routes: set routes, models, mcp or authzen (a gateway without routes answers every request with 404)")
	}
	return cfg
}

// path resolves a configured file path against the configuration's directory.
func (b *builder) path(p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(b.dir, p)
}

func (b *builder) listen(cfg *Config, n ast.Node) {
	f := b.object(n, "listen", "data", "admin", "insecure_admin_public")
	cfg.Listen = Listen{Data: DefaultDataAddr, Admin: DefaultAdminAddr}
	if f.has("insecure_admin_public") {
		cfg.Listen.InsecureAdminPublic = b.boolean(f.get("insecure_admin_public"), "listen.insecure_admin_public")
	}
	if v := f.get("data"); v != nil {
		if s, ok := b.str(v, "listen.data"); ok && b.addr(v, "listen.data", s) {
			cfg.Listen.Data = s
		}
	}
	if v := f.get("admin"); v != nil {
		if s, ok := b.str(v, "listen.admin"); ok && b.addr(v, "listen.admin", s) {
			cfg.Listen.Admin = s
			if !cfg.Listen.InsecureAdminPublic && !loopbackAddr(s) {
				b.errorf(v, "listen.admin", "%q is not a loopback address (want 127.0.0.1:PORT, [::1]:PORT or localhost:PORT; set insecure_admin_public: true to expose metrics and admin APIs)", s)
			}
		}
	}
	if cfg.Listen.Data == cfg.Listen.Admin {
		b.errorf(f.at("admin"), "listen.admin", "same address as listen.data (%s)", cfg.Listen.Data)
	}
}

// addr checks a host:port listen address.
func (b *builder) addr(n ast.Node, path, s string) bool {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		b.errorf(n, path, "%q is not a host:port address (e.g. \"127.0.0.1:8080\")", s)
		return false
	}
	if p, err := parsePort(port); err != nil || p == 0 {
		b.errorf(n, path, "%q: port %q is not a number from 1 to 65535", s, port)
		return false
	}
	if host != "" && host != "localhost" {
		if _, err := netip.ParseAddr(host); err != nil {
			b.errorf(n, path, "%q: host %q is not an IP address or localhost (listen on an address, not a name)", s, host)
			return false
		}
	}
	return true
}

func parsePort(s string) (int, error) {
	if s == "" || len(s) > 5 || strings.Trim(s, "0123456789") != "" {
		return 0, errors.New("bad port")
	}
	p := 0
	for _, c := range s {
		p = p*10 + int(c-'0')
	}
	if p > 65535 {
		return 0, errors.New("bad port")
	}
	return p, nil
}

// loopbackAddr reports whether a valid host:port listens on loopback only.
func loopbackAddr(s string) bool {
	host, _, err := net.SplitHostPort(s)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.Unmap().IsLoopback()
}

func (b *builder) limits(cfg *Config, n ast.Node) {
	f := b.object(n, "limits", "max_header_bytes", "max_body_bytes", "max_token_bytes", "read_header_timeout",
		"read_timeout", "write_timeout", "idle_timeout", "upstream_timeout")
	l := Limits{
		MaxHeaderBytes:    DefaultMaxHeaderBytes,
		MaxBodyBytes:      DefaultMaxBodyBytes,
		MaxTokenBytes:     authn.DefaultMaxTokenBytes,
		ReadHeaderTimeout: DefaultReadHeaderTimeout,
		ReadTimeout:       DefaultReadTimeout,
		WriteTimeout:      DefaultWriteTimeout,
		IdleTimeout:       DefaultIdleTimeout,
		UpstreamTimeout:   DefaultUpstreamTimeout,
	}
	if v := f.get("max_header_bytes"); v != nil {
		if x, ok := b.size(v, "limits.max_header_bytes", 1<<10, maxHeader); ok {
			l.MaxHeaderBytes = int(x)
		}
	}
	if v := f.get("max_body_bytes"); v != nil {
		if x, ok := b.size(v, "limits.max_body_bytes", 1, maxBody); ok {
			l.MaxBodyBytes = x
		}
	}
	if v := f.get("max_token_bytes"); v != nil {
		if x, ok := b.size(v, "limits.max_token_bytes", 256, maxTokenLen); ok {
			l.MaxTokenBytes = int(x)
		}
	}
	for _, d := range []struct {
		key string
		dst *time.Duration
	}{
		{"read_header_timeout", &l.ReadHeaderTimeout},
		{"read_timeout", &l.ReadTimeout},
		{"write_timeout", &l.WriteTimeout},
		{"idle_timeout", &l.IdleTimeout},
		{"upstream_timeout", &l.UpstreamTimeout},
	} {
		v := f.get(d.key)
		if v == nil {
			continue
		}
		if x, ok := b.duration(v, "limits."+d.key, maxTimeout); ok {
			if x == 0 {
				b.errorf(v, "limits."+d.key, "must be positive (omit it for the default)")
				continue
			}
			*d.dst = x
		}
	}
	if l.UpstreamTimeout > l.WriteTimeout {
		b.errorf(f.at("upstream_timeout"), "limits.upstream_timeout", "%s exceeds limits.write_timeout %s: responses would be cut off", l.UpstreamTimeout, l.WriteTimeout)
	}
	cfg.Limits = l
	cfg.Authn.MaxTokenBytes = l.MaxTokenBytes
}

func (b *builder) issuers(cfg *Config, top fields, n ast.Node) {
	items := b.list(n, "issuers")
	if _, isSeq := n.(*ast.SequenceNode); len(items) == 0 && (n == nil || isSeq) {
		b.errorf(top.at("issuers"), "issuers", "no trusted issuers (want at least one)")
	}
	seen := map[string]ast.Node{}
	for i, it := range items {
		p := index("issuers", i)
		ic, ok := b.issuer(it, p)
		if !ok {
			continue
		}
		if first, dup := seen[ic.Issuer]; dup {
			line, _ := pos(first)
			b.errorf(it, p+".issuer", "issuer %q configured twice (first at line %d)", ic.Issuer, line)
			continue
		}
		seen[ic.Issuer] = it
		cfg.Authn.Issuers = append(cfg.Authn.Issuers, ic)
	}
}

func (b *builder) issuer(n ast.Node, p string) (authn.IssuerConfig, bool) {
	f := b.object(n, p, "issuer", "audiences", "algorithms", "leeway", "required_claims", "type", "insecure_skip_type",
		"jwks_url", "jwks_file", "keys_file", "min_refresh", "max_refresh", "max_stale", "unknown_kid_cooldown", "claims")
	ic := authn.IssuerConfig{Leeway: DefaultLeeway, Type: DefaultTokenType}
	before := len(b.sink.errs) + b.sink.more

	if v := f.get("issuer"); v == nil {
		b.errorf(f.at("issuer"), p+".issuer", "required (the exact \"iss\" of the tokens)")
	} else if s, ok := b.str(v, p+".issuer"); ok {
		if s == "" {
			b.errorf(v, p+".issuer", "must not be empty")
		}
		ic.Issuer = s
	}

	if v := f.get("audiences"); v == nil {
		b.errorf(f.at("audiences"), p+".audiences", "required: the audiences this gateway accepts (a token's \"aud\" must contain one)")
	} else {
		items := b.list(v, p+".audiences")
		for j, it := range items {
			if a, ok := b.str(it, index(p+".audiences", j)); ok {
				if a == "" {
					b.errorf(it, index(p+".audiences", j), "must not be empty")
				}
				ic.Audiences = append(ic.Audiences, a)
			}
		}
		if len(items) == 0 {
			b.errorf(v, p+".audiences", "want at least one audience")
		}
	}

	supported := jwk.Algorithms()
	if v := f.get("algorithms"); v == nil {
		b.errorf(f.at("algorithms"), p+".algorithms", "required: list the algorithms this issuer signs with (one or more of %s)", strings.Join(supported, ", "))
	} else {
		items := b.list(v, p+".algorithms")
		if len(items) == 0 {
			b.errorf(v, p+".algorithms", "want at least one of %s", strings.Join(supported, ", "))
		}
		for j, it := range items {
			ip := index(p+".algorithms", j)
			s, ok := b.str(it, ip)
			if !ok {
				continue
			}
			switch {
			case !slices.Contains(supported, s):
				b.errorf(it, ip, "%q is not an algorithm (want one of %s)", s, strings.Join(supported, ", "))
			case slices.Contains(ic.Algorithms, s):
				b.errorf(it, ip, "%q listed twice", s)
			default:
				ic.Algorithms = append(ic.Algorithms, s)
			}
		}
	}

	if v := f.get("leeway"); v != nil {
		if d, ok := b.duration(v, p+".leeway", authn.MaxLeeway); ok {
			ic.Leeway = d
		}
	}
	if v := f.get("required_claims"); v != nil {
		ic.RequiredClaims, _ = b.strs(v, p+".required_claims")
	}
	skipType := false
	if v := f.get("insecure_skip_type"); v != nil {
		skipType = b.boolean(v, p+".insecure_skip_type")
	}
	if v := f.get("type"); v != nil {
		if s, ok := b.str(v, p+".type"); ok {
			if s == "" {
				b.errorf(v, p+".type", "must not be empty (omit it for %q; set insecure_skip_type: true to accept any typ)", DefaultTokenType)
			}
			if skipType {
				b.errorf(v, p+".type", "set together with insecure_skip_type; choose one")
			}
			ic.Type = s
		}
	}
	if skipType {
		ic.Type = ""
	}

	b.keySource(f, p, &ic)

	refresh := []struct {
		key string
		dst *time.Duration
		def time.Duration
	}{
		{"min_refresh", &ic.MinRefresh, authn.DefaultMinRefresh},
		{"max_refresh", &ic.MaxRefresh, authn.DefaultMaxRefresh},
		{"max_stale", &ic.MaxStale, authn.DefaultMaxStale},
		{"unknown_kid_cooldown", &ic.UnknownKidCooldown, authn.DefaultUnknownKidCooldown},
	}
	for _, r := range refresh {
		v := f.get(r.key)
		if v == nil {
			continue
		}
		if f.has("keys_file") {
			b.errorf(v, p+"."+r.key, "only applies to jwks_url and jwks_file (keys_file is read once)")
			continue
		}
		if d, ok := b.duration(v, p+"."+r.key, maxInterval); ok {
			if d == 0 {
				b.errorf(v, p+"."+r.key, "must be positive (omit it for the default %s)", r.def)
				continue
			}
			*r.dst = d
		}
	}
	minR, maxR := cmpOr(ic.MinRefresh, authn.DefaultMinRefresh), cmpOr(ic.MaxRefresh, authn.DefaultMaxRefresh)
	if minR > maxR {
		b.errorf(f.at("min_refresh"), p+".min_refresh", "%s exceeds max_refresh %s", minR, maxR)
	}

	if v := f.get("claims"); v != nil {
		ic.Claims = b.claims(v, p+".claims")
	}
	return ic, len(b.sink.errs)+b.sink.more == before
}

func cmpOr(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

// keySource reads exactly one of jwks_url, jwks_file, keys_file.
func (b *builder) keySource(f fields, p string, ic *authn.IssuerConfig) {
	var set []string
	for _, k := range []string{"jwks_url", "jwks_file", "keys_file"} {
		if f.has(k) {
			set = append(set, k)
		}
	}
	switch len(set) {
	case 0:
		b.errorf(start(f.node), p, "no key source: set one of jwks_url, jwks_file or keys_file")
		return
	case 1:
	default:
		b.errorf(f.at(set[1]), p+"."+set[1], "more than one key source (%s); set exactly one of jwks_url, jwks_file or keys_file", strings.Join(set, ", "))
		return
	}
	k := set[0]
	v := f.get(k)
	s, ok := b.str(v, p+"."+k)
	if !ok {
		return
	}
	switch k {
	case "jwks_url":
		if msg := checkURL(s); msg != "" {
			b.errorf(v, p+".jwks_url", "%s", msg)
			return
		}
		ic.JWKSURL = s
	case "jwks_file":
		path := b.path(s)
		if _, ok := b.loadKeys(v, p+".jwks_file", path); ok {
			ic.JWKSFile = path
		}
	case "keys_file":
		keys, ok := b.loadKeys(v, p+".keys_file", b.path(s))
		if !ok {
			return
		}
		fits := false
		for _, key := range keys {
			if key.IsPrivate() && !isSecret(key) {
				b.errorf(v, p+".keys_file", "%s holds a private key (kid %q); configure the public key (e.g. jwks.json)", s, key.KeyID)
				return
			}
			for _, alg := range ic.Algorithms {
				if jwk.CheckAlg(alg, key.Key) == nil {
					fits = true
				}
			}
		}
		if !fits && len(ic.Algorithms) > 0 {
			b.errorf(v, p+".keys_file", "no key in %s fits the algorithms %v", s, ic.Algorithms)
			return
		}
		ic.Keys = keys
	}
}

// isSecret reports whether k is an HMAC secret (kty "oct").
func isSecret(k *jwk.Key) bool {
	_, ok := k.Key.([]byte)
	return ok
}

// loadKeys reads a JWK, JWK Set or PEM file through readFile.
func (b *builder) loadKeys(n ast.Node, p, path string) ([]*jwk.Key, bool) {
	data, err := b.readFile(path)
	if err != nil {
		b.wrapf(n, p, err, "cannot read key file: %v", err)
		return nil, false
	}
	if len(data) > jwk.MaxSetBytes {
		b.errorf(n, p, "key file %s is larger than %d bytes", path, jwk.MaxSetBytes)
		return nil, false
	}
	keys, err := jwk.Load(data)
	if err != nil {
		b.wrapf(n, p, err, "%s: %v", path, err)
		return nil, false
	}
	if len(keys) == 0 {
		b.errorf(n, p, "%s holds no usable key", path)
		return nil, false
	}
	return keys, true
}

// checkURL checks a URL Warden fetches from (a JWKS, a bundle) against the
// outbound rule of package fetch (https; http only to a loopback host), and
// refuses credentials and fragments. It returns a message or "".
func checkURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || !u.IsAbs() {
		return fmt.Sprintf("%q is not an absolute URL", s)
	}
	if u.User != nil {
		return fmt.Sprintf("URL must not hold credentials (%s)", u.Redacted())
	}
	if u.Fragment != "" {
		return fmt.Sprintf("%q: URL must not have a fragment", s)
	}
	if err := fetch.CheckURL(u); err != nil {
		return err.Error()
	}
	return ""
}

func (b *builder) claims(n ast.Node, p string) authn.ClaimMapping {
	f := b.object(n, p, "roles", "scopes", "groups", "team", "tenant", "env", "client_id", "attributes")
	var m authn.ClaimMapping
	for _, c := range []struct {
		key string
		dst *string
	}{
		{"roles", &m.Roles}, {"scopes", &m.Scopes}, {"groups", &m.Groups}, {"team", &m.Team},
		{"tenant", &m.Tenant}, {"env", &m.Env}, {"client_id", &m.ClientID},
	} {
		if v := f.get(c.key); v != nil {
			if s, ok := b.str(v, p+"."+c.key); ok {
				if s == "" {
					b.errorf(v, p+"."+c.key, "must not be empty (omit it for the default)")
				}
				*c.dst = s
			}
		}
	}
	if v := f.get("attributes"); v != nil {
		es, _ := b.entries(v, p+".attributes")
		for _, e := range es {
			ep := p + ".attributes." + e.key
			if !identifier(e.key) {
				b.errorf(e.keyNode, ep, "%q is not an attribute name (want letters, digits and _; starting with a letter)", e.key)
				continue
			}
			s, ok := b.str(e.val, ep)
			if !ok {
				continue
			}
			if s == "" {
				b.errorf(e.val, ep, "want a claim name")
				continue
			}
			if m.Attributes == nil {
				m.Attributes = map[string]string{}
			}
			m.Attributes[e.key] = s
		}
	}
	return m
}

// identifier reports whether s is a Cedar-style identifier.
func identifier(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i, c := range s {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c == '_':
		case c >= '0' && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

func (b *builder) policy(cfg *Config, top fields, n ast.Node) {
	if n == nil {
		b.errorf(top.at("policy"), "policy", "required: the signed policy bundle (policy.bundle) and its public keys (policy.keys)")
		return
	}
	f := b.object(n, "policy", "bundle", "keys", "algorithms", "poll_interval", "insecure_allow_unsigned")
	lc := &cfg.Policy
	if v := f.get("insecure_allow_unsigned"); v != nil {
		lc.InsecureAllowUnsigned = b.boolean(v, "policy.insecure_allow_unsigned")
	}
	if v := f.get("bundle"); v == nil {
		b.errorf(f.at("bundle"), "policy.bundle", "required: a bundle file path or an https URL")
	} else if s, ok := b.str(v, "policy.bundle"); ok {
		switch {
		case s == "":
			b.errorf(v, "policy.bundle", "must not be empty")
		case strings.HasPrefix(s, "https://") || strings.HasPrefix(s, "http://"):
			if msg := checkURL(s); msg != "" {
				b.errorf(v, "policy.bundle", "%s", msg)
			} else {
				lc.URL = s
			}
		case strings.Contains(s, "://"):
			b.errorf(v, "policy.bundle", "%q: want a file path or an https URL", s)
		default:
			lc.Path = b.path(s)
		}
	}
	if v := f.get("keys"); v != nil {
		for j, it := range b.list(v, "policy.keys") {
			kp := index("policy.keys", j)
			s, ok := b.str(it, kp)
			if !ok {
				continue
			}
			keys, ok := b.loadKeys(it, kp, b.path(s))
			if !ok {
				continue
			}
			for _, k := range keys {
				if k.IsPrivate() && !isSecret(k) {
					b.errorf(it, kp, "%s holds a private key (kid %q); configure the public key (e.g. jwks.json)", s, k.KeyID)
					keys = nil
					break
				}
			}
			lc.Keys = append(lc.Keys, keys...)
		}
	}
	if len(lc.Keys) == 0 && !lc.InsecureAllowUnsigned && !f.has("keys") {
		b.errorf(f.at("keys"), "policy.keys", "required: the public key files that verify bundle signatures (or insecure_allow_unsigned: true)")
	}
	if v := f.get("algorithms"); v != nil {
		for j, it := range b.list(v, "policy.algorithms") {
			ap := index("policy.algorithms", j)
			a, ok := b.str(it, ap)
			if !ok {
				continue
			}
			if !slices.Contains(jwk.Algorithms(), a) {
				b.errorf(it, ap, "%q is not an algorithm (want one of %s)", a, strings.Join(jwk.Algorithms(), ", "))
				continue
			}
			lc.Algorithms = append(lc.Algorithms, a)
		}
	}
	if v := f.get("poll_interval"); v != nil {
		if d, ok := b.duration(v, "policy.poll_interval", maxInterval); ok {
			if d < time.Second {
				b.errorf(v, "policy.poll_interval", "%s is too short (at least 1s)", d)
			} else {
				lc.PollInterval = d
			}
		}
	}
}

func (b *builder) store(cfg *Config, top fields) {
	v := top.get("store")
	if v == nil {
		b.errorf(top.at("store"), "store", "required: the database URL, e.g. \"sqlite:///var/lib/warden/warden.db\" or \"postgres://…\"")
		return
	}
	s, ok := b.str(v, "store")
	if !ok {
		return
	}
	switch {
	case strings.HasPrefix(s, "sqlite:"), strings.HasPrefix(s, "postgres://"), strings.HasPrefix(s, "postgresql://"):
		if s == "sqlite:" || s == "sqlite://" {
			b.errorf(v, "store", "sqlite URL without a path")
			return
		}
	default:
		// Never echo the URL: it may hold a password.
		b.errorf(v, "store", "want a sqlite:PATH, sqlite:///ABS/PATH or postgres:// URL")
		return
	}
	cfg.Store = s
}

// tokenIssuer reads token_issuer: Warden as an OAuth token issuer.
func (b *builder) tokenIssuer(cfg *Config, top fields) {
	n := top.get("token_issuer")
	if !top.has("token_issuer") {
		return
	}
	const p = "token_issuer"
	f := b.object(n, p, "url", "audiences", "key_encryption_key", "algorithm", "access_token_ttl",
		"refresh_token_ttl", "refresh_idle_ttl", "resync_interval")
	ti := &TokenIssuer{
		Algorithm:       issuer.DefaultAlgorithm,
		AccessTokenTTL:  issuer.DefaultAccessTokenTTL,
		RefreshTokenTTL: issuer.DefaultRefreshTokenTTL,
		RefreshIdleTTL:  issuer.DefaultRefreshIdleTTL,
		ResyncInterval:  issuer.DefaultResyncInterval,
	}
	if v := f.get("url"); v != nil {
		if s, ok := b.str(v, p+".url"); ok {
			u, err := url.Parse(s)
			switch {
			case err != nil || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" || strings.HasSuffix(s, "/"):
				b.errorf(v, p+".url", "%q is not an issuer URL (want https://host[/path], no trailing slash, query or user info)", s)
			case u.Scheme != "https" && !(u.Scheme == "http" && fetch.IsLoopback(u.Hostname())):
				b.errorf(v, p+".url", "%q: the issuer URL must be https (http only for a loopback host)", s)
			default:
				ti.URL = s
			}
		}
	}
	if v := f.get("audiences"); v != nil {
		if auds, ok := b.strs(v, p+".audiences"); ok {
			if len(auds) == 0 || slices.Contains(auds, "") {
				b.errorf(v, p+".audiences", "want at least one non-empty audience")
			}
			ti.Audiences = auds
		}
	} else {
		b.errorf(f.at("audiences"), p+".audiences", "required: the default audience of the tokens Warden issues (e.g. [warden])")
	}
	if v := f.get("key_encryption_key"); v != nil {
		if val, _, ok := b.secret(v, p+".key_encryption_key"); ok {
			kek, err := issuer.ParseKEK(val)
			if err != nil {
				b.errorf(v, p+".key_encryption_key", "must be 32 random bytes in base64 (e.g. openssl rand -base64 32)")
			}
			ti.KEK = kek
		}
	} else {
		b.errorf(f.at("key_encryption_key"), p+".key_encryption_key", "required: {env: NAME} or {file: PATH} holding 32 random bytes in base64; it encrypts the signing keys in the store")
	}
	if v := f.get("algorithm"); v != nil {
		if s, ok := b.str(v, p+".algorithm"); ok {
			switch s {
			case "ES256", "ES384", "ES512", "EdDSA", "RS256", "PS256":
				ti.Algorithm = s
			default:
				b.errorf(v, p+".algorithm", "%q: want ES256, ES384, ES512, EdDSA, RS256 or PS256", s)
			}
		}
	}
	for _, d := range []struct {
		key string
		dst *time.Duration
		hi  time.Duration
	}{
		{"access_token_ttl", &ti.AccessTokenTTL, 24 * time.Hour},
		{"refresh_token_ttl", &ti.RefreshTokenTTL, 365 * 24 * time.Hour},
		{"refresh_idle_ttl", &ti.RefreshIdleTTL, 365 * 24 * time.Hour},
		{"resync_interval", &ti.ResyncInterval, time.Hour},
	} {
		v := f.get(d.key)
		if v == nil {
			continue
		}
		if x, ok := b.duration(v, p+"."+d.key, d.hi); ok {
			if x < time.Second {
				b.errorf(v, p+"."+d.key, "must be at least 1s (omit it for the default)")
				continue
			}
			*d.dst = x
		}
	}
	if ti.RefreshIdleTTL > ti.RefreshTokenTTL {
		b.errorf(f.at("refresh_idle_ttl"), p+".refresh_idle_ttl", "%s exceeds token_issuer.refresh_token_ttl %s", ti.RefreshIdleTTL, ti.RefreshTokenTTL)
	}
	if ti.URL != "" {
		for _, is := range cfg.Authn.Issuers {
			if is.Issuer == ti.URL {
				b.errorf(f.at("url"), p+".url", "%q is also listed under issuers: Warden trusts its own tokens by itself, remove that entry", ti.URL)
			}
		}
	}
	cfg.TokenIssuer = ti
}

// authzen reads the authzen section: enabled (default true) and url.
func (b *builder) authzen(cfg *Config, n ast.Node) {
	if n == nil {
		return
	}
	f := b.object(n, "authzen", "enabled", "url")
	if v := f.get("enabled"); v != nil {
		cfg.AuthZEN.Disabled = !b.boolean(v, "authzen.enabled")
	}
	if v := f.get("url"); v != nil {
		if s, ok := b.str(v, "authzen.url"); ok {
			u, err := url.Parse(s)
			switch {
			case err != nil || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" || strings.HasSuffix(s, "/"):
				b.errorf(v, "authzen.url", "%q is not a PDP URL (want https://host[/path], no trailing slash, query or user info)", s)
			case u.Scheme != "https" && !(u.Scheme == "http" && fetch.IsLoopback(u.Hostname())):
				b.errorf(v, "authzen.url", "%q: the PDP URL must be https (http only for a loopback host)", s)
			default:
				cfg.AuthZEN.URL = s
			}
		}
	}
}

func (b *builder) audit(cfg *Config, n ast.Node) {
	f := b.object(n, "audit", "node", "durability", "batch_size", "flush_interval", "queue_size", "fail_open")
	a := &cfg.Audit
	if v := f.get("node"); v != nil {
		if s, ok := b.str(v, "audit.node"); ok {
			if len(s) > 128 || strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") != "" {
				b.errorf(v, "audit.node", "%q is not a node name (want 1 to 128 of A-Z a-z 0-9 . _ -; omit it for the host name)", s)
			} else {
				a.Node = s
			}
		}
	}
	if v := f.get("durability"); v != nil {
		if s, ok := b.str(v, "audit.durability"); ok {
			switch audit.Durability(s) {
			case audit.DurabilityBatch, audit.DurabilityAsync:
				a.Durability = audit.Durability(s)
			default:
				b.errorf(v, "audit.durability", "%q is not a durability (want batch or async)", s)
			}
		}
	}
	if a.Durability == "" {
		a.Durability = audit.DurabilityBatch
	}
	if v := f.get("batch_size"); v != nil {
		if x, ok := b.integer(v, "audit.batch_size", 1, 4096); ok {
			a.BatchSize = int(x)
		}
	}
	if v := f.get("queue_size"); v != nil {
		if x, ok := b.integer(v, "audit.queue_size", 1, 1<<20); ok {
			a.QueueSize = int(x)
		}
	}
	if v := f.get("flush_interval"); v != nil {
		if d, ok := b.duration(v, "audit.flush_interval", time.Second); ok {
			a.FlushInterval = d
		}
	} else if a.Durability == audit.DurabilityAsync {
		a.FlushInterval = DefaultAsyncFlushInterval
	}
	if v := f.get("fail_open"); v != nil {
		cfg.AuditFailOpen = b.boolean(v, "audit.fail_open")
	}
}

func (b *builder) guards(cfg *Config, n ast.Node) {
	f := b.object(n, "guards", "actions", "hold_back")
	if v := f.get("hold_back"); v != nil {
		if x, ok := b.size(v, "guards.hold_back", 64, 65536); ok {
			cfg.Guard.HoldBack = int(x)
		}
	}
	v := f.get("actions")
	if v == nil {
		return
	}
	var names []string
	for _, d := range guard.Detectors() {
		names = append(names, string(d))
	}
	classes := []string{string(guard.ClassPII), string(guard.ClassSecret)}
	es, _ := b.entries(v, "guards.actions")
	for _, e := range es {
		ep := "guards.actions." + e.key
		if !slices.Contains(names, e.key) && !slices.Contains(classes, e.key) {
			b.errorf(e.keyNode, ep, "unknown detector or class %q (want one of %s, or a class: %s)", e.key, strings.Join(names, ", "), strings.Join(classes, ", "))
			continue
		}
		s, ok := b.str(e.val, ep)
		if !ok {
			continue
		}
		act, err := guard.ParseAction(s)
		if err != nil || s != strings.ToLower(s) {
			b.errorf(e.val, ep, "%q is not an action (want redact, block, off or default)", s)
			continue
		}
		if cfg.Guard.Actions == nil {
			cfg.Guard.Actions = map[string]guard.Action{}
		}
		cfg.Guard.Actions[e.key] = act
	}
}

func (b *builder) proxies(cfg *Config, n ast.Node) {
	items := b.list(n, "trusted_proxies")
	for i, it := range items {
		ip := index("trusted_proxies", i)
		s, ok := b.str(it, ip)
		if !ok {
			continue
		}
		var pfx netip.Prefix
		if strings.Contains(s, "/") {
			p, err := netip.ParsePrefix(s)
			if err != nil {
				b.errorf(it, ip, "%q is not a CIDR (want e.g. \"10.0.0.0/8\" or \"fd00::/8\")", s)
				continue
			}
			if p.Masked() != p {
				b.errorf(it, ip, "%q has host bits set (did you mean %s?)", s, p.Masked())
				continue
			}
			pfx = p
		} else {
			a, err := netip.ParseAddr(s)
			if err != nil || a.Zone() != "" {
				b.errorf(it, ip, "%q is not an IP address or CIDR (want e.g. \"10.0.0.0/8\")", s)
				continue
			}
			a = a.Unmap()
			pfx = netip.PrefixFrom(a, a.BitLen())
		}
		if pfx.Bits() == 0 {
			b.errorf(it, ip, "%q trusts every address; list your proxies' networks", s)
			continue
		}
		cfg.TrustedProxies = append(cfg.TrustedProxies, pfx)
	}
}

// name reports whether s is a route or upstream name.
func name(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i, c := range s {
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case (c == '-' || c == '_' || c == '.') && i > 0:
		default:
			return false
		}
	}
	return true
}

func (b *builder) upstreamList(cfg *Config, n ast.Node) {
	b.upstreams = map[string]ast.Node{}
	for i, it := range b.list(n, "upstreams") {
		p := index("upstreams", i)
		f := b.object(it, p, "name", "url", "headers", "timeout")
		u := gateway.UpstreamSpec{}
		ok := true
		if v := f.get("name"); v == nil {
			b.errorf(f.at("name"), p+".name", "required")
			ok = false
		} else if s, good := b.str(v, p+".name"); good {
			if !name(s) {
				b.errorf(v, p+".name", "%q is not a name (want lower-case letters, digits, - _ .)", s)
				ok = false
			} else if first, dup := b.upstreams[s]; dup {
				line, _ := pos(first)
				b.errorf(v, p+".name", "upstream %q defined twice (first at line %d)", s, line)
				ok = false
			}
			u.Name = s
		} else {
			ok = false
		}
		if v := f.get("url"); v == nil {
			b.errorf(f.at("url"), p+".url", "required (http:// or https:// base URL)")
		} else if s, good := b.str(v, p+".url"); good {
			if msg := upstreamURL(s); msg != "" {
				b.errorf(v, p+".url", "%s", msg)
			}
			u.URL = s
		}
		u.Timeout = b.upstreamTimeout(cfg, f.get("timeout"), p+".timeout")
		if v := f.get("headers"); v != nil {
			u.Headers = b.headers(cfg, u.Name, v, p+".headers")
		}
		if ok {
			b.upstreams[u.Name] = it
		}
		cfg.Upstreams = append(cfg.Upstreams, u)
	}
}

// upstreamTimeout reads the timeout of an upstream (or MCP server) at v:
// limits.upstream_timeout when absent, positive, at most
// limits.write_timeout.
func (b *builder) upstreamTimeout(cfg *Config, v ast.Node, path string) time.Duration {
	if v == nil {
		return cfg.Limits.UpstreamTimeout
	}
	d, ok := b.duration(v, path, maxTimeout)
	switch {
	case !ok:
	case d == 0:
		b.errorf(v, path, "must be positive (omit it for limits.upstream_timeout)")
	case d > cfg.Limits.WriteTimeout:
		b.errorf(v, path, "%s exceeds limits.write_timeout %s: responses would be cut off", d, cfg.Limits.WriteTimeout)
	default:
		return d
	}
	return cfg.Limits.UpstreamTimeout
}

func upstreamURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || !u.IsAbs() || u.Host == "" {
		return fmt.Sprintf("%q is not an absolute URL", s)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Sprintf("%q: want http or https", s)
	}
	if u.User != nil {
		return "URL must not hold credentials; use headers with {env: NAME} or {file: PATH}"
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return fmt.Sprintf("%q: a base URL has no query or fragment", s)
	}
	return ""
}

// forbiddenHeaders may not be injected upstream: hop-by-hop and framing.
var forbiddenHeaders = []string{"Host", "Connection", "Content-Length", "Transfer-Encoding", "Te", "Trailer", "Upgrade", "Keep-Alive", "Proxy-Connection"}

// headers reads header -> secret source.
func (b *builder) headers(cfg *Config, upstream string, n ast.Node, p string) map[string]string {
	es, _ := b.entries(n, p)
	out := map[string]string{}
	for _, e := range es {
		hp := p + "." + e.key
		if !headerName(e.key) {
			b.errorf(e.keyNode, hp, "%q is not a header name", e.key)
			continue
		}
		canon := canonicalHeader(e.key)
		if slices.Contains(forbiddenHeaders, canon) {
			b.errorf(e.keyNode, hp, "%s cannot be set on upstream requests", canon)
			continue
		}
		if _, dup := out[canon]; dup {
			b.errorf(e.keyNode, hp, "header %s set twice", canon)
			continue
		}
		val, src, ok := b.secret(e.val, hp)
		if !ok {
			continue
		}
		out[canon] = val
		cfg.secrets[upstream+"/"+canon] = src
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// secret resolves {env: NAME} | {file: PATH} | {value: LITERAL}, each with
// an optional prefix. It returns the value and a description of its source.
// Messages never contain the value.
func (b *builder) secret(n ast.Node, p string) (string, string, bool) {
	if _, ok := n.(*ast.StringNode); ok {
		b.errorf(n, p, "want {env: NAME}, {file: PATH} or {value: LITERAL} (a plain string is ambiguous: secrets must say where they come from)")
		return "", "", false
	}
	f := b.object(n, p, "env", "file", "value", "prefix")
	var set []string
	for _, k := range []string{"env", "file", "value"} {
		if _, ok := f.vals[k]; ok {
			set = append(set, k)
		}
	}
	if len(set) != 1 {
		b.errorf(start(f.node), p, "want exactly one of env, file or value (got %d)", len(set))
		return "", "", false
	}
	prefix := ""
	if v := f.get("prefix"); v != nil {
		s, ok := b.str(v, p+".prefix")
		if !ok {
			return "", "", false
		}
		prefix = s
	}
	k := set[0]
	v := f.get(k)
	if v == nil {
		b.errorf(f.at(k), p+"."+k, "must not be empty")
		return "", "", false
	}
	s, ok := b.str(v, p+"."+k)
	if !ok {
		return "", "", false
	}
	var val, src string
	switch k {
	case "env":
		if s == "" || strings.ContainsAny(s, "= \t") {
			b.errorf(v, p+".env", "%q is not an environment variable name", s)
			return "", "", false
		}
		val = b.env(s)
		if val == "" {
			b.wrapf(v, p+".env", ErrEnvNotSet, "environment variable %s is not set or empty", s)
			return "", "", false
		}
		src = "env:" + s
	case "file":
		path := b.path(s)
		data, err := b.readFile(path)
		if err != nil {
			b.wrapf(v, p+".file", err, "cannot read secret file: %v", err)
			return "", "", false
		}
		if len(data) > MaxSecretBytes {
			b.errorf(v, p+".file", "secret file %s is larger than %d bytes", path, MaxSecretBytes)
			return "", "", false
		}
		val = strings.TrimRight(string(data), "\r\n")
		if val == "" {
			b.errorf(v, p+".file", "secret file %s is empty", path)
			return "", "", false
		}
		src = "file:" + path
	case "value":
		if s == "" {
			b.errorf(v, p+".value", "must not be empty")
			return "", "", false
		}
		val, src = s, "value"
	}
	full := prefix + val
	if !headerValue(full) {
		b.errorf(v, p, "the resolved value (from %s) holds control characters; it cannot be a header value", src)
		return "", "", false
	}
	return full, src, true
}

// headerName reports whether s is an HTTP token.
func headerName(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c > 0x7e || c <= ' ' || strings.ContainsRune("\"(),/:;<=>?@[\\]{}", c) {
			return false
		}
	}
	return true
}

// headerValue reports whether s has no control characters except tab.
func headerValue(s string) bool {
	for _, c := range s {
		if (c < ' ' && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

// canonicalHeader is textproto.CanonicalMIMEHeaderKey for valid tokens.
func canonicalHeader(s string) string {
	out := []byte(s)
	upper := true
	for i, c := range out {
		switch {
		case upper && c >= 'a' && c <= 'z':
			out[i] = c - 'a' + 'A'
		case !upper && c >= 'A' && c <= 'Z':
			out[i] = c - 'A' + 'a'
		}
		upper = c == '-'
	}
	return string(out)
}
