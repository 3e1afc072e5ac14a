package issuer

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wardenhq/warden/internal/jwk"
	"github.com/wardenhq/warden/internal/store"
	"github.com/wardenhq/warden/internal/token"
)

// KEKBytes is the size of the key-encryption key: AES-256.
const KEKBytes = 32

// DefaultAlgorithm is the signing algorithm of new keys.
const DefaultAlgorithm = "ES256"

// ErrNoKEK reports a missing or malformed key-encryption key.
var ErrNoKEK = errors.New("issuer: key-encryption key must be 32 bytes (base64 or base64url of 32 random bytes)")

// ParseKEK decodes a key-encryption key given as standard or URL-safe
// base64 (padded or not) of 32 bytes. Surrounding white space is ignored.
func ParseKEK(s string) ([]byte, error) {
	b := []byte(s)
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r' || b[len(b)-1] == ' ') {
		b = b[:len(b)-1]
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if k, err := enc.DecodeString(string(b)); err == nil && len(k) == KEKBytes {
			return k, nil
		}
	}
	return nil, ErrNoKEK
}

// sealPrefix versions the encrypted private key format: "w1" || nonce ||
// AES-256-GCM(private JWK), with the kid as additional data so that a
// ciphertext cannot be moved to another key's row.
const sealPrefix = "w1"

func seal(kek []byte, kid string, plain []byte) ([]byte, error) {
	aead, err := newAEAD(kek)
	if err != nil {
		return nil, err
	}
	out := make([]byte, len(sealPrefix)+aead.NonceSize(), len(sealPrefix)+aead.NonceSize()+len(plain)+aead.Overhead())
	copy(out, sealPrefix)
	if _, err := rand.Read(out[len(sealPrefix):]); err != nil {
		return nil, fmt.Errorf("seal key: %w", err)
	}
	return aead.Seal(out, out[len(sealPrefix):], plain, []byte(kid)), nil
}

func open(kek []byte, kid string, sealed []byte) ([]byte, error) {
	aead, err := newAEAD(kek)
	if err != nil {
		return nil, err
	}
	n := len(sealPrefix) + aead.NonceSize()
	if len(sealed) < n || string(sealed[:len(sealPrefix)]) != sealPrefix {
		return nil, fmt.Errorf("key %q: not an encrypted key", kid)
	}
	plain, err := aead.Open(nil, sealed[len(sealPrefix):n], sealed[n:], []byte(kid))
	if err != nil {
		return nil, fmt.Errorf("key %q: decryption failed (wrong key-encryption key?)", kid)
	}
	return plain, nil
}

func newAEAD(kek []byte) (cipher.AEAD, error) {
	if len(kek) != KEKBytes {
		return nil, ErrNoKEK
	}
	block, err := aes.NewCipher(kek)
	if err != nil {
		return nil, fmt.Errorf("key-encryption key: %w", err)
	}
	return cipher.NewGCM(block)
}

// KeyRingConfig configures a KeyRing.
type KeyRingConfig struct {
	// Store holds the keys. Required.
	Store store.IssuerStore
	// KEK encrypts private keys at rest: 32 bytes. Required.
	KEK []byte
	// Algorithm of new keys; "" means DefaultAlgorithm.
	Algorithm string
	// MaxTTL bounds the tokens the signer mints. Required.
	MaxTTL time.Duration
	// ReadOnly: never create keys (inspection tools); a store without keys
	// is then an error.
	ReadOnly bool
	// Clock; nil means time.Now.
	Clock func() time.Time
}

// KeyRing is the issuer's view of its signing keys: the current key's
// signer and the published public keys (next, current, retired). Reload
// rereads the store; it is safe for concurrent use.
type KeyRing struct {
	cfg   KeyRingConfig
	state atomic.Pointer[ringState]
	mu    sync.Mutex // serializes Reload
}

type ringState struct {
	signer    *token.Signer
	published []*jwk.Key // public keys
	kids      []string
}

// NewKeyRing loads the keys, creating a current and a next key when the
// store has none (unless ReadOnly).
func NewKeyRing(ctx context.Context, cfg KeyRingConfig) (*KeyRing, error) {
	switch {
	case cfg.Store == nil:
		return nil, errors.New("issuer: key ring: no store")
	case len(cfg.KEK) != KEKBytes:
		return nil, ErrNoKEK
	case cfg.MaxTTL <= 0:
		return nil, errors.New("issuer: key ring: MaxTTL must be positive")
	}
	if cfg.Algorithm == "" {
		cfg.Algorithm = DefaultAlgorithm
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	r := &KeyRing{cfg: cfg}
	keys, err := cfg.Store.SigningKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("issuer: %w", err)
	}
	if !hasState(keys, store.KeyCurrent) && !cfg.ReadOnly {
		cur, err := r.newKey(store.KeyCurrent)
		if err != nil {
			return nil, err
		}
		next, err := r.newKey(store.KeyNext)
		if err != nil {
			return nil, err
		}
		// Another node may have won the race: then use its keys.
		if err := cfg.Store.InitKeys(ctx, cur, next); err != nil && !errors.Is(err, store.ErrExists) {
			return nil, fmt.Errorf("issuer: %w", err)
		}
	}
	if err := r.Reload(ctx); err != nil {
		return nil, err
	}
	return r, nil
}

func hasState(keys []store.SigningKey, state string) bool {
	for _, k := range keys {
		if k.State == state {
			return true
		}
	}
	return false
}

// newKey generates a key and seals its private half.
func (r *KeyRing) newKey(state string) (store.SigningKey, error) {
	kid := rand.Text()[:16]
	k, err := jwk.Generate(r.cfg.Algorithm, kid)
	if err != nil {
		return store.SigningKey{}, fmt.Errorf("issuer: generate key: %w", err)
	}
	priv, err := k.MarshalJSON()
	if err != nil {
		return store.SigningKey{}, fmt.Errorf("issuer: encode key: %w", err)
	}
	sealed, err := seal(r.cfg.KEK, kid, priv)
	clear(priv)
	if err != nil {
		return store.SigningKey{}, err
	}
	pub, err := k.Public()
	if err != nil {
		return store.SigningKey{}, fmt.Errorf("issuer: public key: %w", err)
	}
	pubJSON, err := pub.MarshalJSON()
	if err != nil {
		return store.SigningKey{}, fmt.Errorf("issuer: encode public key: %w", err)
	}
	return store.SigningKey{KID: kid, Alg: r.cfg.Algorithm, State: state, Private: sealed, Public: pubJSON, Created: r.cfg.Clock()}, nil
}

// Reload rereads the keys from the store. On error the previous keys stay.
func (r *KeyRing) Reload(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	keys, err := r.cfg.Store.SigningKeys(ctx)
	if err != nil {
		return fmt.Errorf("issuer: %w", err)
	}
	now := r.cfg.Clock()
	st := &ringState{}
	for _, k := range keys {
		if k.State == store.KeyRetired && !now.Before(k.PublishUntil) {
			continue // every token it signed has expired
		}
		pub, err := jwk.ParseKey(k.Public)
		if err != nil {
			return fmt.Errorf("issuer: key %q: %w", k.KID, err)
		}
		st.published = append(st.published, pub)
		st.kids = append(st.kids, k.KID)
		if k.State != store.KeyCurrent {
			continue
		}
		if prev := r.state.Load(); prev != nil && prev.signer != nil && prev.signer.KeyID() == k.KID {
			st.signer = prev.signer // unchanged: no need to decrypt again
			continue
		}
		plain, err := open(r.cfg.KEK, k.KID, k.Private)
		if err != nil {
			return fmt.Errorf("issuer: %w", err)
		}
		priv, err := jwk.ParseKey(plain)
		clear(plain)
		if err != nil {
			return fmt.Errorf("issuer: key %q: %w", k.KID, err)
		}
		if st.signer, err = token.NewSigner(token.SignerConfig{Key: priv, Alg: k.Alg, KeyID: k.KID, MaxTTL: r.cfg.MaxTTL, Clock: r.cfg.Clock}); err != nil {
			return fmt.Errorf("issuer: key %q: %w", k.KID, err)
		}
	}
	if st.signer == nil {
		return errors.New("issuer: the store has no current signing key")
	}
	r.state.Store(st)
	return nil
}

// Signer signs with the current key.
func (r *KeyRing) Signer() *token.Signer { return r.state.Load().signer }

// PublicKeys returns the published public keys: next, current and retired
// keys whose tokens may still be valid. It has the signature of
// authn.IssuerConfig.KeySource.
func (r *KeyRing) PublicKeys(context.Context) ([]*jwk.Key, error) {
	return r.state.Load().published, nil
}

// KeyIDs returns the kids of PublicKeys.
func (r *KeyRing) KeyIDs() []string { return r.state.Load().kids }

// Rotate makes the next key current, retires the current one (published
// until retiredUntil, which must cover every token it may still sign on a
// node that has not reloaded yet) and publishes a new next key, then
// reloads. A key is thus published one rotation before it signs anything.
func (r *KeyRing) Rotate(ctx context.Context, retiredUntil time.Time) error {
	if r.cfg.ReadOnly {
		return store.ErrReadOnly
	}
	next, err := r.newKey(store.KeyNext)
	if err != nil {
		return err
	}
	if err := r.cfg.Store.RotateKeys(ctx, next, r.cfg.Clock(), retiredUntil); err != nil {
		return fmt.Errorf("issuer: %w", err)
	}
	return r.Reload(ctx)
}
