// Package token mints Warden's own access tokens: compact JWS JWTs in the
// RFC 9068 profile (header typ "at+jwt"), signed with a private key from
// internal/jwk.
//
// A Signer is built once from a private key and is then safe for concurrent
// use. It never signs with alg "none", always sets iss, sub, aud, iat, nbf,
// exp and a random jti, and refuses extra claims that would shadow the
// registered or Warden-defined ones. Verification lives in internal/authn.
package token

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/wardenhq/warden/internal/jwk"
)

// Type is the "typ" header of every token a Signer mints (RFC 9068 §2.1).
const Type = "at+jwt"

// DefaultMaxTTL is the longest lifetime a Signer accepts when
// SignerConfig.MaxTTL is zero.
const DefaultMaxTTL = 24 * time.Hour

// jtiBytes is the number of random bytes in a jti: 128 bits.
const jtiBytes = 16

// ErrReservedClaim is returned (wrapped) by Mint when Claims.Extra names a
// claim that the Signer sets itself.
var ErrReservedClaim = errors.New("reserved claim")

// SignerConfig configures a Signer. The zero value of every optional field is
// the safe default.
type SignerConfig struct {
	// Key is the private key (or HMAC secret) to sign with. Required.
	Key *jwk.Key
	// Alg is the signing algorithm. When empty, Key.Alg is used, and when
	// that is empty too, one is chosen by key type (jwk.DefaultAlgFor). When both
	// Alg and Key.Alg are set they must be equal. Never "none".
	Alg string
	// KeyID is the "kid" header. When empty, Key.KeyID is used, and when
	// that is empty too, the key's RFC 7638 thumbprint — except for an HMAC
	// key, whose thumbprint is a hash of the secret and is never published:
	// such tokens carry no kid.
	KeyID string
	// MaxTTL bounds Claims.TTL. Zero means DefaultMaxTTL.
	MaxTTL time.Duration
	// Clock returns the current time; nil means time.Now.
	Clock func() time.Time
}

// Signer mints signed JWTs with one key. It is immutable and safe for
// concurrent use.
type Signer struct {
	method jwt.SigningMethod
	key    any // what method.Sign wants: the private key or the secret
	alg    string
	kid    string
	maxTTL time.Duration
	clock  func() time.Time
}

// NewSigner checks cfg and returns a Signer. It fails if the key is missing,
// public, or does not fit the algorithm (curve, RSA size, HMAC length).
func NewSigner(cfg SignerConfig) (*Signer, error) {
	if cfg.Key == nil || cfg.Key.Key == nil {
		return nil, errors.New("token: signer: no key")
	}
	if !cfg.Key.IsPrivate() {
		return nil, errors.New("token: signer: key is public; a private key or an HMAC secret is required")
	}
	alg := cfg.Alg
	switch {
	case alg != "" && cfg.Key.Alg != "" && alg != cfg.Key.Alg:
		return nil, fmt.Errorf("token: signer: alg %q does not match the key's alg %q", alg, cfg.Key.Alg)
	case alg == "":
		alg = cfg.Key.Alg
	}
	if alg == "" {
		a, err := jwk.DefaultAlgFor(cfg.Key.Key)
		if err != nil {
			return nil, fmt.Errorf("token: signer: %w", err)
		}
		alg = a
	}
	if strings.EqualFold(alg, "none") {
		return nil, errors.New(`token: signer: alg "none" is never allowed`)
	}
	if !slices.Contains(jwk.Algorithms(), alg) {
		return nil, fmt.Errorf("token: signer: unsupported alg %q", alg)
	}
	if err := jwk.CheckAlg(alg, cfg.Key.Key); err != nil {
		return nil, fmt.Errorf("token: signer: %w", err)
	}
	method, err := jwk.SigningMethod(alg)
	if err != nil {
		return nil, fmt.Errorf("token: signer: %w", err)
	}
	kid := cfg.KeyID
	if kid == "" {
		kid = cfg.Key.KeyID
	}
	if kid == "" && cfg.Key.Type() != "oct" {
		if kid, err = cfg.Key.Thumbprint(); err != nil {
			return nil, fmt.Errorf("token: signer: key id: %w", err)
		}
	}
	maxTTL := cfg.MaxTTL
	if maxTTL == 0 {
		maxTTL = DefaultMaxTTL
	}
	if maxTTL < 0 {
		return nil, fmt.Errorf("token: signer: negative MaxTTL %v", maxTTL)
	}
	clock := cfg.Clock
	if clock == nil {
		clock = time.Now
	}
	return &Signer{
		method: method,
		key:    cfg.Key.SigningKey(),
		alg:    alg,
		kid:    kid,
		maxTTL: maxTTL,
		clock:  clock,
	}, nil
}

// Alg returns the signing algorithm, the "alg" header of every token.
func (s *Signer) Alg() string { return s.alg }

// KeyID returns the "kid" header of every token.
func (s *Signer) KeyID() string { return s.kid }

// Minted is a token with the claims the Signer chose for it.
type Minted struct {
	Token    string
	ID       string // "jti"
	IssuedAt time.Time
	Expiry   time.Time
}

// Mint returns a signed compact JWT carrying c. iat and nbf are the current
// time (whole seconds), exp is iat + c.TTL, jti is 128 random bits in
// base64url.
func (s *Signer) Mint(ctx context.Context, c Claims) (string, error) {
	m, err := s.MintToken(ctx, c)
	return m.Token, err
}

// MintToken is Mint returning the token's jti, iat and exp as well.
func (s *Signer) MintToken(ctx context.Context, c Claims) (Minted, error) {
	tok, payload, err := s.mint(ctx, c)
	if err != nil {
		return Minted{}, err
	}
	return Minted{
		Token:    tok,
		ID:       payload["jti"].(string),
		IssuedAt: time.Unix(payload["iat"].(int64), 0),
		Expiry:   time.Unix(payload["exp"].(int64), 0),
	}, nil
}

func (s *Signer) mint(ctx context.Context, c Claims) (string, map[string]any, error) {
	if err := ctx.Err(); err != nil {
		return "", nil, fmt.Errorf("token: mint: %w", err)
	}
	payload, err := s.payload(c)
	if err != nil {
		return "", nil, fmt.Errorf("token: mint: %w", err)
	}
	header := map[string]any{"alg": s.alg, "typ": Type, "kid": s.kid}
	rawHeader, err := marshal(header)
	if err != nil {
		return "", nil, fmt.Errorf("token: mint: header: %w", err)
	}
	rawPayload, err := marshal(payload)
	if err != nil {
		return "", nil, fmt.Errorf("token: mint: claims: %w", err)
	}
	enc := base64.RawURLEncoding
	signingInput := enc.EncodeToString(rawHeader) + "." + enc.EncodeToString(rawPayload)
	sig, err := s.method.Sign(signingInput, s.key)
	if err != nil {
		return "", nil, fmt.Errorf("token: mint: sign %s: %w", s.alg, err)
	}
	return signingInput + "." + enc.EncodeToString(sig), payload, nil
}

func (s *Signer) payload(c Claims) (map[string]any, error) {
	switch {
	case c.TTL <= 0:
		return nil, fmt.Errorf("ttl must be positive, got %v", c.TTL)
	case c.TTL < time.Second:
		return nil, fmt.Errorf("ttl must be at least 1s, got %v", c.TTL)
	case c.TTL > s.maxTTL:
		return nil, fmt.Errorf("ttl %v exceeds the maximum %v", c.TTL, s.maxTTL)
	}
	m, err := c.claims()
	if err != nil {
		return nil, err
	}
	jti, err := newJTI()
	if err != nil {
		return nil, err
	}
	now := s.clock().Truncate(time.Second)
	m["iat"] = now.Unix()
	m["nbf"] = now.Unix()
	m["exp"] = now.Add(c.TTL.Truncate(time.Second)).Unix()
	m["jti"] = jti
	return m, nil
}

// newJTI returns 128 random bits, base64url without padding.
func newJTI() (string, error) {
	b := make([]byte, jtiBytes)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("jti: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}
