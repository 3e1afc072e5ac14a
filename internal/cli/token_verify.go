package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/wardenhq/warden/internal/fetch"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/wardenhq/warden/internal/authn"
	"github.com/wardenhq/warden/internal/jwk"
)

// defaultVerifyLeeway is the clock skew verify tolerates on exp, nbf and iat.
const defaultVerifyLeeway = 30 * time.Second

// maxDiscoveryBytes caps an OIDC discovery document.
const maxDiscoveryBytes = 64 << 10

// defaultFetchTimeout bounds a JWKS or discovery fetch when the command's
// HTTP client has no timeout of its own.
const defaultFetchTimeout = 10 * time.Second

type tokenVerifyFlags struct {
	jwks, key, issuer string
	iss               string
	aud               []string
	skipIss, skipAud  bool
	algs              []string
	leeway            time.Duration
	typ               string
	json              bool
	maxBytes          int
}

func newTokenVerifyCmd(stdio IO) *cobra.Command {
	var f tokenVerifyFlags
	cmd := &cobra.Command{
		Use:   "verify [TOKEN|-] (--jwks FILE|URL | --key FILE | --issuer URL) --iss ISS --aud AUD",
		Short: "Verify a token's signature and claims against trusted keys",
		Long: `Verify a JWT with Warden's verifier, the same code the gateway runs: strict
parsing, the signature with a trusted key chosen by kid, alg only from an
allow-list, exp (required), nbf and iat with leeway, iss, aud and optionally
typ.

The token is read from the argument, or from stdin when the argument is "-" or
missing. Surrounding white space and a leading "Bearer " are ignored.

Exactly one source of trusted keys:
  --jwks FILE|URL   a JWK Set, from a file or fetched once over HTTPS
                    (plain HTTP only for loopback addresses).
  --key FILE        a public key as PEM (PKIX or certificate), a JWK or a JWK
                    Set; a private key file is accepted and only its public
                    half used. For HS256/384/512 this is the secret itself
                    (an "oct" JWK, such as private.jwk from warden keys
                    generate). A key without "kid" (PEM) is used whatever
                    kid the token names.
  --issuer URL      OpenID Connect discovery: fetch URL/.well-known/openid-
                    configuration, whose "issuer" must equal URL exactly, and
                    then its jwks_uri. HTTPS is required except on loopback.
                    --iss defaults to URL.

--iss and --aud are required, unless skipped with --insecure-skip-iss or
--insecure-skip-aud. --aud may be repeated: the token must name one of them.

--alg is the allow-list of algorithms (repeatable). It may be left out only
when every trusted key pins its own "alg" (as Warden's JWKs do); it is then
that set. Keys without "alg" (PEM keys, many JWK Sets) need --alg, to prevent
algorithm downgrade attacks. "none" is never accepted.

Exit codes:
  0  valid: prints "valid" and the verified claims as JSON
  1  invalid: prints one line "invalid token: REASON: detail", where REASON is
     a stable code: malformed, too_large, forbidden_header, algorithm,
     unknown_key, bad_signature, expired, not_yet_valid, issuer, audience,
     type, missing_claim, invalid_claim, ...
  2  the check could not be carried out: missing or contradictory flags, no
     token, an unreadable key file, an unreachable or invalid JWKS URL or
     discovery document. Nothing was judged; fix the command.

--json prints one JSON object instead: {"valid":true,"claims":{...}} or
{"valid":false,"reason":"expired","error":"..."} (exit codes unchanged).

SECURITY CONSIDERATIONS
  Only the keys you name are trusted: verify never fetches a key or URL that
  the token names (jku, x5u), never uses a key embedded in it (jwk, x5c), and
  rejects tokens that carry those headers, crit, b64, zip, enc or cty. The
  algorithm is taken from the allow-list, never from the token alone, and
  must fit the key type; alg "none" never verifies.
  Skipping the issuer or audience check (--insecure-skip-iss,
  --insecure-skip-aud) accepts tokens minted for other issuers or services:
  a token for one service replayed against another. Use those flags only to
  investigate, never in a script that grants access.
  HMAC (HS*) verification needs the shared secret, and whoever holds it can
  also mint tokens; keep such key files private (mode 0600).
  A valid result means the token was signed by a trusted key and is within
  its lifetime now; it does not consult a revocation list.`,
		Example: `  # Verify against a JWK Set file (the algorithm comes from the keys' "alg")
  warden token verify --jwks ./keys/jwks.json --iss https://issuer.example --aud warden "$TOKEN"

  # Verify against a public PEM key: the algorithm must be given
  warden token verify --key ./public.pem --alg ES256 --iss https://issuer.example --aud warden "$TOKEN"

  # Verify through OpenID Connect discovery, reading the token from stdin
  echo "$TOKEN" | warden token verify --issuer https://login.example.com --aud api://warden -

  # Machine-readable result, expecting an RFC 9068 access token
  warden token verify --jwks ./keys/jwks.json --iss https://issuer.example --aud warden --typ at+jwt --json "$TOKEN"`,
		Args: usageArgs(cobra.MaximumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runTokenVerify(cmd.Context(), stdio, f, args)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.jwks, "jwks", "", "trusted keys: a JWK Set file, or an https:// URL to fetch it from")
	fl.StringVar(&f.key, "key", "", "trusted key file: PEM, JWK or JWK Set (an oct JWK for HS*)")
	fl.StringVar(&f.issuer, "issuer", "", "issuer URL: find its keys by OpenID Connect discovery")
	fl.StringVar(&f.iss, "iss", "", `expected issuer, exact match of "iss" (required)`)
	fl.StringArrayVar(&f.aud, "aud", nil, `accepted audience, one must be in "aud" (required, repeatable)`)
	fl.BoolVar(&f.skipIss, "insecure-skip-iss", false, "do not check the issuer (accepts tokens from any issuer using these keys)")
	fl.BoolVar(&f.skipAud, "insecure-skip-aud", false, "do not check the audience (accepts tokens minted for other services)")
	fl.StringArrayVar(&f.algs, "alg", nil, `allowed algorithm (repeatable; required when a key has no "alg")`)
	fl.DurationVar(&f.leeway, "leeway", defaultVerifyLeeway, "clock skew allowed on exp, nbf and iat (at most 5m)")
	fl.StringVar(&f.typ, "typ", "", `expected "typ" header, e.g. at+jwt (default: not checked)`)
	fl.BoolVar(&f.json, "json", false, `print one JSON object: {"valid":..., "claims"|"reason","error"}`)
	fl.IntVar(&f.maxBytes, "max-bytes", defaultMaxTokenBytes, "largest token accepted, in bytes")
	return cmd
}

func runTokenVerify(ctx context.Context, stdio IO, f tokenVerifyFlags, args []string) error {
	sources := 0
	for _, s := range []string{f.jwks, f.key, f.issuer} {
		if s != "" {
			sources++
		}
	}
	if sources != 1 {
		return usageErrorf("token verify: give exactly one of --jwks, --key or --issuer (the keys to trust)")
	}
	if f.issuer != "" {
		if f.iss != "" && f.iss != f.issuer {
			return usageErrorf("token verify: --iss %q differs from --issuer %q", f.iss, f.issuer)
		}
		if !f.skipIss {
			f.iss = f.issuer // the issuer whose keys we trust is the one we expect
		}
	}
	switch {
	case f.skipIss && f.iss != "":
		return usageErrorf("token verify: --iss and --insecure-skip-iss contradict each other")
	case !f.skipIss && f.iss == "":
		return usageErrorf("token verify: --iss is required (or skip the issuer check with --insecure-skip-iss)")
	case f.skipAud && len(f.aud) > 0:
		return usageErrorf("token verify: --aud and --insecure-skip-aud contradict each other")
	case !f.skipAud && len(f.aud) == 0:
		return usageErrorf("token verify: --aud is required (or skip the audience check with --insecure-skip-aud)")
	case f.leeway < 0:
		return usageErrorf("token verify: --leeway must not be negative")
	case f.leeway > authn.MaxLeeway:
		return usageErrorf("token verify: --leeway %v exceeds the maximum %v", f.leeway, authn.MaxLeeway)
	case f.maxBytes <= 0:
		return usageErrorf("token verify: --max-bytes must be positive")
	}
	for _, a := range f.aud {
		if a == "" {
			return usageErrorf("token verify: --aud must not be empty")
		}
	}
	for _, a := range f.algs {
		if !slices.Contains(jwk.Algorithms(), a) {
			return usageErrorf("token verify: unsupported --alg %q (want one of %s)", a, strings.Join(jwk.Algorithms(), ", "))
		}
	}
	tok, err := readToken(stdio, args, f.maxBytes)
	if err != nil {
		return err
	}

	client := fetch.Client(stdio.HTTPClient, defaultFetchTimeout)
	var keys []*jwk.Key
	source := f.key + f.jwks
	switch {
	case f.key != "":
		if keys, err = jwk.LoadFile(f.key); err != nil {
			return usageErrorf("token verify: --key: %w", err)
		}
		keys = adoptTokenKid(keys, tok, f.maxBytes)
	case f.jwks != "":
		if keys, err = loadJWKS(ctx, client, f.jwks); err != nil {
			return usageErrorf("token verify: --jwks: %w", err)
		}
	default:
		jwksURI, err := discoverJWKSURI(ctx, client, f.issuer)
		if err != nil {
			return usageErrorf("token verify: --issuer: %w", err)
		}
		source = jwksURI
		if keys, err = loadJWKS(ctx, client, jwksURI); err != nil {
			return usageErrorf("token verify: --issuer: jwks_uri: %w", err)
		}
	}

	algs := f.algs
	if len(algs) == 0 {
		for _, k := range keys {
			if k.Alg == "" {
				return usageErrorf(`token verify: --alg is required: a key in %s does not pin an algorithm, and the token's own "alg" is never trusted (this prevents algorithm downgrade attacks)`, source)
			}
			if !slices.Contains(algs, k.Alg) {
				algs = append(algs, k.Alg)
			}
		}
	}

	ic := authn.IssuerConfig{
		Issuer:               f.iss,
		Audiences:            f.aud,
		Algorithms:           algs,
		Leeway:               f.leeway,
		Type:                 f.typ,
		Keys:                 keys,
		InsecureSkipIssuer:   f.skipIss,
		InsecureSkipAudience: f.skipAud,
	}
	v, err := authn.New(ctx, authn.Config{
		Issuers:       []authn.IssuerConfig{ic},
		MaxTokenBytes: f.maxBytes,
		CacheSize:     -1,
		HTTPClient:    client,
		Clock:         stdio.Now,
		Logger:        slog.New(slog.DiscardHandler),
	})
	if err != nil {
		return usageErrorf("token verify: %w", err)
	}
	defer v.Close()

	p, err := v.Verify(ctx, tok)
	if err != nil {
		return reportInvalid(stdio, f.json, err)
	}
	if f.json {
		b, err := prettyJSON(verifyResult{Valid: true, Claims: p.Claims})
		if err != nil {
			return usageErrorf("token verify: %w", err)
		}
		_, err = stdio.Stdout.Write(b)
		return err
	}
	b, err := prettyJSON(p.Claims)
	if err != nil {
		return usageErrorf("token verify: %w", err)
	}
	fmt.Fprintln(stdio.Stdout, "valid")
	_, err = stdio.Stdout.Write(b)
	return err
}

// adoptTokenKid lets the one key of a --key file that has no "kid" (a PEM
// key) verify a token whatever kid the token names (see jwk.AdoptKeyID).
func adoptTokenKid(keys []*jwk.Key, tok string, maxBytes int) []*jwk.Key {
	p, err := authn.Parse(tok, maxBytes)
	if err != nil {
		return keys // Verify reports the problem
	}
	kid, _ := p.Header["kid"].(string)
	return jwk.AdoptKeyID(keys, kid)
}

// verifyResult is the --json output of verify.
type verifyResult struct {
	Valid  bool           `json:"valid"`
	Claims map[string]any `json:"claims,omitempty"`
	Reason string         `json:"reason,omitempty"`
	Error  string         `json:"error,omitempty"`
}

// reportInvalid reports a rejected token: exit 1, with the stable reason.
func reportInvalid(stdio IO, asJSON bool, err error) error {
	reason := "invalid"
	var ve *authn.VerifyError
	if errors.As(err, &ve) {
		reason = string(ve.Reason)
		if ve.Reason == authn.ReasonKeysUnavailable {
			// Static keys cannot become unavailable; should a future key
			// source do so, nothing was judged.
			return usageErrorf("token verify: %v", err)
		}
	}
	if asJSON {
		b, jerr := prettyJSON(verifyResult{Reason: reason, Error: oneLine(err.Error())})
		if jerr != nil {
			return usageErrorf("token verify: %w", jerr)
		}
		if _, werr := stdio.Stdout.Write(b); werr != nil {
			return werr
		}
		return silentExit(exitInvalid)
	}
	return invalidErrorf("invalid token: %s: %v", reason, err)
}

// isURL reports whether s is meant as a URL rather than a file name.
func isURL(s string) bool {
	return strings.HasPrefix(s, "https://") || strings.HasPrefix(s, "http://") || strings.Contains(s, "://")
}

// loadJWKS reads a JWK Set from a file or an https URL.
func loadJWKS(ctx context.Context, client *http.Client, src string) ([]*jwk.Key, error) {
	var data []byte
	if isURL(src) {
		b, err := fetchBody(ctx, client, src, jwk.MaxSetBytes, "application/jwk-set+json, application/json")
		if err != nil {
			return nil, err
		}
		data = b
	} else {
		fh, err := os.Open(src)
		if err != nil {
			return nil, err
		}
		defer fh.Close()
		b, err := io.ReadAll(io.LimitReader(fh, jwk.MaxSetBytes+1))
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", src, err)
		}
		if len(b) > jwk.MaxSetBytes {
			return nil, fmt.Errorf("%s exceeds %d bytes", src, jwk.MaxSetBytes)
		}
		data = b
	}
	set, err := jwk.ParseSet(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", src, err)
	}
	if len(set.Keys) == 0 {
		return nil, fmt.Errorf("%s: the JWK Set holds no usable key", src)
	}
	return set.Keys, nil
}

// discoverJWKSURI fetches issuer's OpenID Connect discovery document and
// returns its jwks_uri, after checking that its "issuer" is exactly issuer
// (OpenID Connect Discovery 1.0 §4.3).
func discoverJWKSURI(ctx context.Context, client *http.Client, issuer string) (string, error) {
	u, err := url.Parse(issuer)
	if err != nil {
		return "", fmt.Errorf("invalid issuer URL: %w", err)
	}
	if err := fetch.CheckURL(u); err != nil {
		return "", err
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return "", fmt.Errorf("%s: an issuer URL has no query, fragment or user info", u.Redacted())
	}
	docURL := strings.TrimSuffix(issuer, "/") + "/.well-known/openid-configuration"
	body, err := fetchBody(ctx, client, docURL, maxDiscoveryBytes, "application/json")
	if err != nil {
		return "", err
	}
	var doc struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return "", fmt.Errorf("%s: invalid discovery document: %w", docURL, err)
	}
	if doc.Issuer != issuer {
		return "", fmt.Errorf("%s: discovery document names issuer %q, not %q (they must be identical)", docURL, truncate(doc.Issuer, 200), issuer)
	}
	if doc.JWKSURI == "" {
		return "", fmt.Errorf("%s: discovery document has no jwks_uri", docURL)
	}
	ju, err := url.Parse(doc.JWKSURI)
	if err != nil {
		return "", fmt.Errorf("%s: invalid jwks_uri: %w", docURL, err)
	}
	if err := fetch.CheckURL(ju); err != nil {
		return "", fmt.Errorf("%s: jwks_uri %w", docURL, err)
	}
	return doc.JWKSURI, nil
}

// fetchBody GETs rawURL (https, or http on loopback) and returns a body of at
// most limit bytes from a 200 response.
func fetchBody(ctx context.Context, client *http.Client, rawURL string, limit int, accept string) ([]byte, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("invalid URL: %w", err)
	}
	if err := fetch.CheckURL(u); err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", accept)
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetch %s: %w", u.Redacted(), err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetch %s: HTTP %s", u.Redacted(), resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, int64(limit)+1))
	if err != nil {
		return nil, fmt.Errorf("fetch %s: %w", u.Redacted(), err)
	}
	if len(body) > limit {
		return nil, fmt.Errorf("fetch %s: response exceeds %d bytes", u.Redacted(), limit)
	}
	return body, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
