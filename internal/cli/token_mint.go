package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/wardenhq/warden/internal/jwk"
	"github.com/wardenhq/warden/internal/token"
)

// defaultMintTTL is the lifetime of a minted token without --ttl.
const defaultMintTTL = 15 * time.Minute

type tokenMintFlags struct {
	key         string
	alg         string
	kid         string
	iss         string
	sub         string
	aud         []string
	roles       []string
	scopes      []string
	team        string
	tenant      string
	env         string
	clientID    string
	claims      []string
	act         string
	ttl         time.Duration
	insecureTTL bool
}

func newTokenMintCmd(stdio IO) *cobra.Command {
	var f tokenMintFlags
	cmd := &cobra.Command{
		Use:   "mint --key FILE --iss URL --aud AUD --sub SUB [flags]",
		Short: "Mint a signed, short-lived access token (for local and staging work)",
		Long: `Mint a JWT access token (RFC 9068 profile: header typ "at+jwt") signed with a
private key, and print it alone on stdout.

The key file is a private JWK (as written by "warden keys generate"), a JWK Set
holding one private key (or choose it with --kid), or a PEM private key
(PKCS#8, SEC1 EC or PKCS#1 RSA). The algorithm is the key's "alg"; a key
without one (PEM) uses --alg, or else one chosen by key type: ES256, ES384 or
ES512 by EC curve, EdDSA for Ed25519, RS256 for RSA. alg "none" is never
used.

Every token carries iss, sub, aud, iat, nbf, exp and a random 128-bit jti.
--iss, --sub and --aud are required: a token without an audience would be
accepted by every service that trusts the issuer. One --aud gives a string
"aud", several an array. --role values form the "roles" array, --scope values
(each may hold several scopes separated by spaces) the space-separated "scope"
string. --act SUB adds the RFC 8693 delegation claim {"act":{"sub":SUB}}: the
token is then held by actor SUB acting for --sub.

--claim NAME=VALUE adds any other claim. VALUE is used as JSON when it is
valid JSON (42, true, ["a","b"], {"k":1}, "quoted"), otherwise as a string.
Claims the other flags or the signer set (iss, sub, aud, exp, nbf, iat, jti,
client_id, roles, scope, team, tenant, env, act, and scp, azp, cnf), in any
letter case, cannot be set with --claim.

The lifetime (--ttl) defaults to 15m and may not exceed 24h unless
--insecure-long-ttl is given: a long-lived bearer token is a standing
credential for whoever copies it.`,
		Example: `  # A 15-minute token for alice with the evaluator role
  warden token mint --key ./keys/private.jwk --iss https://issuer.example --aud warden --sub alice --role evaluator

  # Keep it in a variable for the next commands
  TOKEN=$(warden token mint --key ./keys/private.jwk --iss https://issuer.example --aud warden --sub alice --role evaluator)

  # An agent acting for alice, two audiences, scopes, team and extra claims
  warden token mint --key ./keys/private.jwk --iss https://issuer.example --aud warden --aud billing \
    --sub alice --act support-bot --client-id support-bot --scope 'model:invoke trace:read' \
    --team ml --tenant acme --env staging --claim max_tokens=512 --claim 'tags=["beta"]' --ttl 5m

  # A PEM key without "alg": name the algorithm
  warden token mint --key ./ec.pem --alg ES256 --kid ec-1 --iss https://issuer.example --aud warden --sub alice`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runTokenMint(cmd, stdio, f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.key, "key", "", "private key file: JWK, JWK Set or PEM (required)")
	fl.StringVar(&f.alg, "alg", "", `signing algorithm, for a key without "alg" (default: by key type)`)
	fl.StringVar(&f.kid, "kid", "", `"kid" header; selects the key in a JWK Set (default: the key's kid, else its thumbprint; none for an HMAC secret)`)
	fl.StringVar(&f.iss, "iss", "", `issuer, the "iss" claim (required)`)
	fl.StringVar(&f.sub, "sub", "", `subject, the "sub" claim (required)`)
	fl.StringArrayVar(&f.aud, "aud", nil, `audience, the "aud" claim (required, repeatable)`)
	fl.StringArrayVar(&f.roles, "role", nil, `role for the "roles" claim (repeatable)`)
	fl.StringArrayVar(&f.scopes, "scope", nil, `scope for the "scope" claim (repeatable; space-separated lists allowed)`)
	fl.StringVar(&f.team, "team", "", `the "team" claim`)
	fl.StringVar(&f.tenant, "tenant", "", `the "tenant" claim`)
	fl.StringVar(&f.env, "env", "", `the "env" claim`)
	fl.StringVar(&f.clientID, "client-id", "", `the "client_id" claim`)
	fl.StringArrayVar(&f.claims, "claim", nil, "extra claim NAME=VALUE, VALUE as JSON if valid, else a string (repeatable)")
	fl.StringVar(&f.act, "act", "", `actor subject: adds {"act":{"sub":ACT}} (RFC 8693 delegation)`)
	fl.DurationVar(&f.ttl, "ttl", defaultMintTTL, "lifetime (at most 24h without --insecure-long-ttl)")
	fl.BoolVar(&f.insecureTTL, "insecure-long-ttl", false, "allow --ttl over 24h (a long-lived bearer token is a standing credential)")
	return cmd
}

func runTokenMint(cmd *cobra.Command, stdio IO, f tokenMintFlags) error {
	var missing []string
	for _, m := range []struct{ name, v string }{{"--key", f.key}, {"--iss", f.iss}, {"--sub", f.sub}} {
		if m.v == "" {
			missing = append(missing, m.name)
		}
	}
	if len(f.aud) == 0 {
		missing = append(missing, "--aud")
	}
	if len(missing) > 0 {
		return usageErrorf("token mint: %s required (a token without an issuer, subject and audience is not minted)", strings.Join(missing, ", "))
	}
	switch {
	case f.ttl <= 0:
		return usageErrorf("token mint: --ttl must be positive, got %v", f.ttl)
	case f.ttl < time.Second:
		return usageErrorf("token mint: --ttl must be at least 1s, got %v", f.ttl)
	case f.ttl > token.DefaultMaxTTL && !f.insecureTTL:
		return usageErrorf("token mint: --ttl %v exceeds %v; refusing to mint a long-lived bearer token (pass --insecure-long-ttl to do it anyway)", f.ttl, token.DefaultMaxTTL)
	}
	if f.alg != "" && strings.EqualFold(f.alg, "none") {
		return usageErrorf(`token mint: --alg none is never allowed`)
	}

	key, err := loadSigningKey(f.key, f.kid)
	if err != nil {
		return usageErrorf("token mint: %w", err)
	}
	extra, err := parseClaimFlags(f.claims)
	if err != nil {
		return usageErrorf("token mint: %w", err)
	}
	var scopes []string
	for _, s := range f.scopes {
		scopes = append(scopes, strings.Fields(s)...)
	}
	if len(f.scopes) > 0 && len(scopes) == 0 {
		return usageErrorf("token mint: --scope is empty")
	}

	maxTTL := token.DefaultMaxTTL
	if f.insecureTTL {
		maxTTL = time.Duration(math.MaxInt64)
	}
	signer, err := token.NewSigner(token.SignerConfig{
		Key:    key,
		Alg:    f.alg,
		KeyID:  f.kid,
		MaxTTL: maxTTL,
		Clock:  stdio.Now,
	})
	if err != nil {
		return usageErrorf("token mint: %w", err)
	}
	c := token.Claims{
		Issuer:   f.iss,
		Subject:  f.sub,
		Audience: f.aud,
		TTL:      f.ttl,
		ClientID: f.clientID,
		Roles:    f.roles,
		Scopes:   scopes,
		Team:     f.team,
		Tenant:   f.tenant,
		Env:      f.env,
		Extra:    extra,
	}
	if f.act != "" {
		c.Actor = &token.Actor{Subject: f.act}
	}
	tok, err := signer.Mint(cmd.Context(), c)
	if err != nil {
		return usageErrorf("%w", err)
	}
	fmt.Fprintln(stdio.Stdout, tok)
	return nil
}

// loadSigningKey reads the one private key in path. In a file with several
// keys, kid selects it.
func loadSigningKey(path, kid string) (*jwk.Key, error) {
	keys, err := jwk.LoadFile(path)
	if err != nil {
		return nil, err
	}
	var private []*jwk.Key
	for _, k := range keys {
		if k.IsPrivate() {
			private = append(private, k)
		}
	}
	if len(private) == 0 {
		return nil, fmt.Errorf("%s holds no private key (a public key or JWKS cannot sign)", path)
	}
	if len(private) == 1 {
		return private[0], nil
	}
	if kid == "" {
		return nil, fmt.Errorf("%s holds %d private keys; choose one with --kid", path, len(private))
	}
	var found *jwk.Key
	for _, k := range private {
		if k.KeyID == kid {
			if found != nil {
				return nil, fmt.Errorf("%s holds several private keys with kid %q", path, kid)
			}
			found = k
		}
	}
	if found == nil {
		return nil, fmt.Errorf("%s holds no private key with kid %q", path, kid)
	}
	return found, nil
}

// parseClaimFlags turns NAME=VALUE pairs into claims: VALUE is decoded as
// JSON when it is valid JSON (numbers kept exact), else used as a string.
func parseClaimFlags(pairs []string) (map[string]any, error) {
	if len(pairs) == 0 {
		return nil, nil
	}
	out := make(map[string]any, len(pairs))
	for _, p := range pairs {
		name, value, ok := strings.Cut(p, "=")
		if !ok {
			return nil, fmt.Errorf("--claim %q: want NAME=VALUE", p)
		}
		if name == "" {
			return nil, fmt.Errorf("--claim %q: empty claim name", p)
		}
		if _, dup := out[name]; dup {
			return nil, fmt.Errorf("--claim %q given twice", name)
		}
		out[name] = claimValue(value)
	}
	return out, nil
}

func claimValue(s string) any {
	if !json.Valid([]byte(s)) {
		return s
	}
	dec := json.NewDecoder(bytes.NewReader([]byte(s)))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return s
	}
	return v
}
