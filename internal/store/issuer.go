package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Errors of the issuer tables. Callers branch on them with errors.Is.
var (
	// ErrNotFound: no row with that key.
	ErrNotFound = errors.New("store: not found")
	// ErrExists: a row with that key already exists.
	ErrExists = errors.New("store: already exists")
	// ErrRefreshReused: the refresh token was already used (or its family
	// revoked); the whole family is now revoked.
	ErrRefreshReused = errors.New("store: refresh token reused; family revoked")
)

// Revocation kinds.
const (
	RevokeJTI    = "jti"    // one access token, by its "jti"
	RevokeFamily = "family" // a refresh-token family and every access token issued from it (their "sid")
)

// Signing key states.
const (
	KeyNext    = "next"    // published, not yet signing
	KeyCurrent = "current" // published and signing
	KeyRetired = "retired" // published until PublishUntil, never signing again
)

// IssuerStore keeps the token issuer's state: OAuth clients, refresh-token
// families, revocations and signing keys. It holds hashes of secrets and
// tokens and encrypted private keys only; package issuer computes them.
type IssuerStore interface {
	// AddClient stores a new client; ErrExists if the ID is taken.
	AddClient(ctx context.Context, c Client) error
	// Client returns the client with id, or ErrNotFound.
	Client(ctx context.Context, id string) (*Client, error)
	// Clients lists every client, sorted by ID.
	Clients(ctx context.Context) ([]Client, error)
	// UseAssertion records the jti of a client's private_key_jwt assertion
	// until exp; ErrExists if that client used it before (a replay).
	UseAssertion(ctx context.Context, clientID, jti string, exp time.Time) error
	// RemoveClient deletes a client and revokes its refresh families (until
	// their expiry plus grace, which covers the access tokens issued from
	// them); ErrNotFound if there is none.
	RemoveClient(ctx context.Context, id string, now time.Time, grace time.Duration) error

	// AddRefresh stores the first token of a new family.
	AddRefresh(ctx context.Context, f RefreshFamily, t RefreshToken) error
	// Refresh returns the token with hash and its family, or ErrNotFound.
	Refresh(ctx context.Context, hash []byte) (*RefreshToken, *RefreshFamily, error)
	// RotateRefresh marks the token with oldHash used and stores next in the
	// same family, in one transaction. If the token was used already or its
	// family is revoked, nothing is stored, the family is revoked (a
	// revocation of kind RevokeFamily until revokeUntil is recorded) and the
	// error wraps ErrRefreshReused. Of concurrent rotations of one token, at
	// most one succeeds.
	RotateRefresh(ctx context.Context, oldHash []byte, next RefreshToken, now, revokeUntil time.Time) error
	// RevokeFamily revokes a family (idempotent) and records a revocation of
	// kind RevokeFamily until `until`.
	RevokeFamily(ctx context.Context, family string, now, until time.Time) error

	// Revoke records a revocation (idempotent: an existing ID keeps the
	// later expiry).
	Revoke(ctx context.Context, r Revocation) error
	// Revocations returns every revocation that expires after now.
	Revocations(ctx context.Context, now time.Time) ([]Revocation, error)
	// RevocationsSince returns up to limit revocations (limit ≤ 0 means
	// DefaultQueryLimit) whose Rev is after `after` and that expire after
	// now, in Rev order, and the feed's position: every revocation with a
	// Rev up to pos.Rev is committed, so a reader that got fewer than limit
	// rows has seen everything up to pos.Rev. Revisions are shared by every
	// node using the database.
	RevocationsSince(ctx context.Context, after uint64, now time.Time, limit int) (revs []Revocation, pos FeedPosition, err error)
	// PurgeExpired deletes revocations, refresh tokens and families that
	// expired before now.
	PurgeExpired(ctx context.Context, now time.Time) error
	// WatchRevocations calls fn with the ID of each revocation committed by
	// any node, as soon as it is announced, until ctx is done (it then
	// returns nil). PostgreSQL uses LISTEN/NOTIFY; SQLite has no
	// notifications and returns nil at once (one process owns the file;
	// callers resync periodically either way).
	WatchRevocations(ctx context.Context, fn func(kind, id string)) error

	// SigningKeys returns every stored key, newest first.
	SigningKeys(ctx context.Context) ([]SigningKey, error)
	// InitKeys stores a current and a next key when there is no current key
	// yet; ErrExists (and nothing stored) otherwise.
	InitKeys(ctx context.Context, current, next SigningKey) error
	// RotateKeys retires the current key (published until retiredUntil),
	// makes the next key current and stores newNext as next, in one
	// transaction; retired keys whose publication ended before now are
	// deleted. ErrNotFound if there is no next key.
	RotateKeys(ctx context.Context, newNext SigningKey, now, retiredUntil time.Time) error
}

// Client is a registered OAuth client. Only a SHA-256 hash of its secret is
// stored: secrets are 256 random bits, so a slow password hash would add
// nothing but latency.
type Client struct {
	ID         string
	Name       string
	SecretHash []byte   // 32 bytes, or empty for a client that authenticates with JWKS
	JWKS       []byte   // public keys (a JWK Set) for private_key_jwt, or empty
	Scopes     []string // the scopes it may be granted
	Audiences  []string // the audiences it may request; empty: the issuer's default
	GrantTypes []string // e.g. client_credentials, refresh_token, token-exchange URN
	Created    time.Time
}

// RefreshFamily is one chain of rotated refresh tokens.
type RefreshFamily struct {
	ID       string
	ClientID string
	Subject  string
	Expiry   time.Time // absolute: no token of the family is valid after it
	Revoked  time.Time // zero unless revoked
	Created  time.Time
}

// RefreshToken is one refresh token of a family, by its hash.
type RefreshToken struct {
	Hash      []byte // SHA-256 of the opaque token, 32 bytes
	Family    string
	Scopes    []string
	Audiences []string
	Claims    []byte    // JSON the issuer carries over to access tokens (roles, act, ...)
	Created   time.Time // issued at
	Idle      time.Time // invalid after this unless rotated
	Used      time.Time // zero until rotated
}

// Revocation denies a jti or a family until Expiry (after which every token
// it covers has expired anyway).
type Revocation struct {
	ID      string
	Kind    string // RevokeJTI or RevokeFamily
	Expiry  time.Time
	Created time.Time
	// Rev is the feed revision of the revocation's last change, set by the
	// store (RevocationsSince reads it; Revoke ignores it).
	Rev uint64
}

// FeedPosition is where the revocation feed stands: the database's random
// Epoch and the last revision handed out.
type FeedPosition struct {
	Epoch string
	Rev   uint64
}

// SigningKey is one of the issuer's signing keys.
type SigningKey struct {
	KID          string
	Alg          string
	State        string // KeyNext, KeyCurrent, KeyRetired
	Private      []byte // the private JWK, encrypted by package issuer
	Public       []byte // the public JWK (JSON)
	Created      time.Time
	Retired      time.Time
	PublishUntil time.Time // for retired keys
}

// issuerSQL implements IssuerStore with database/sql for both dialects:
// queries are written with "?" and rebound to "$n" for PostgreSQL.
type issuerSQL struct {
	w, r     *sql.DB // w nil when read-only
	postgres bool
	// watch implements WatchRevocations.
	watch func(ctx context.Context, fn func(kind, id string)) error
}

var _ IssuerStore = (*issuerSQL)(nil)

func (s *issuerSQL) q(query string) string {
	if !s.postgres {
		return query
	}
	var b strings.Builder
	n := 0
	for i := 0; i < len(query); i++ {
		if query[i] == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteByte(query[i])
	}
	return b.String()
}

func (s *issuerSQL) writer() (*sql.DB, error) {
	if s.w == nil {
		return nil, ErrReadOnly
	}
	return s.w, nil
}

func (s *issuerSQL) isUnique(err error) bool {
	if s.postgres {
		return isPGUniqueViolation(err)
	}
	return isSQLiteConstraint(err)
}

func ns(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func fromNS(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

func joinList(v []string) string { return strings.Join(v, " ") }

func splitList(s string) []string { return strings.Fields(s) }

// inTx runs fn in a write transaction and commits it.
func (s *issuerSQL) inTx(ctx context.Context, what string, fn func(*sql.Tx) error) error {
	w, err := s.writer()
	if err != nil {
		return err
	}
	tx, err := w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("%s: commit: %w", what, err)
	}
	return nil
}

func (s *issuerSQL) AddClient(ctx context.Context, c Client) error {
	if c.ID == "" || (len(c.SecretHash) != 32 && (len(c.SecretHash) != 0 || len(c.JWKS) == 0)) {
		return fmt.Errorf("store: add client: empty ID, or neither a 32-byte secret hash nor keys")
	}
	w, err := s.writer()
	if err != nil {
		return err
	}
	hash := c.SecretHash
	if hash == nil {
		hash = []byte{}
	}
	_, err = w.ExecContext(ctx, s.q(`INSERT INTO oauth_clients (`+clientColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`), c.ID, c.Name, hash, joinList(c.Scopes), joinList(c.Audiences), joinList(c.GrantTypes), string(c.JWKS), ns(c.Created))
	if err != nil {
		if s.isUnique(err) {
			return fmt.Errorf("add client %q: %w", c.ID, ErrExists)
		}
		return fmt.Errorf("add client: %w", err)
	}
	return nil
}

const clientColumns = "id, name, secret_hash, scopes, audiences, grant_types, jwks, created_ns"

func scanClient(sc scanner) (Client, error) {
	var c Client
	var scopes, auds, grants, jwks string
	var created int64
	if err := sc.Scan(&c.ID, &c.Name, &c.SecretHash, &scopes, &auds, &grants, &jwks, &created); err != nil {
		return Client{}, err
	}
	if jwks != "" {
		c.JWKS = []byte(jwks)
	}
	c.Scopes, c.Audiences, c.GrantTypes, c.Created = splitList(scopes), splitList(auds), splitList(grants), fromNS(created)
	return c, nil
}

func (s *issuerSQL) Client(ctx context.Context, id string) (*Client, error) {
	c, err := scanClient(s.r.QueryRowContext(ctx, s.q("SELECT "+clientColumns+" FROM oauth_clients WHERE id = ?"), id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("client %q: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("read client: %w", err)
	}
	return &c, nil
}

func (s *issuerSQL) Clients(ctx context.Context) ([]Client, error) {
	rows, err := s.r.QueryContext(ctx, "SELECT "+clientColumns+" FROM oauth_clients ORDER BY id")
	return collect(rows, err, "list clients", scanClient)
}

// collect scans every row of a query (whose error is err) with scan;
// errors are wrapped with what.
func collect[T any](rows *sql.Rows, err error, what string, scan func(scanner) (T, error)) ([]T, error) {
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return out, nil
}

func (s *issuerSQL) RemoveClient(ctx context.Context, id string, now time.Time, grace time.Duration) error {
	return s.inTx(ctx, "remove client", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, s.q("DELETE FROM oauth_clients WHERE id = ?"), id)
		if err != nil {
			return fmt.Errorf("remove client: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return fmt.Errorf("client %q: %w", id, ErrNotFound)
		}
		type fam struct {
			id  string
			exp int64
		}
		rows, err := tx.QueryContext(ctx, s.q("SELECT id, expires_ns FROM refresh_families WHERE client_id = ? AND revoked_ns = 0 AND expires_ns > ?"), id, ns(now))
		fams, err := collect(rows, err, "remove client", func(sc scanner) (fam, error) {
			var f fam
			return f, sc.Scan(&f.id, &f.exp)
		})
		if err != nil {
			return err
		}
		for _, f := range fams {
			if err := s.revokeFamilyTx(ctx, tx, f.id, now, fromNS(f.exp).Add(grace)); err != nil {
				return err
			}
		}
		return nil
	})
}

func (s *issuerSQL) UseAssertion(ctx context.Context, clientID, jti string, exp time.Time) error {
	w, err := s.writer()
	if err != nil {
		return err
	}
	res, err := w.ExecContext(ctx, s.q("INSERT INTO client_assertions (client_id, jti, expires_ns) VALUES (?, ?, ?) ON CONFLICT DO NOTHING"), clientID, jti, ns(exp))
	if err != nil {
		return fmt.Errorf("record client assertion: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return fmt.Errorf("client assertion %q of %q: %w", jti, clientID, ErrExists)
	}
	return nil
}

func (s *issuerSQL) AddRefresh(ctx context.Context, f RefreshFamily, t RefreshToken) error {
	if f.ID == "" || len(t.Hash) != 32 || t.Family != f.ID {
		return fmt.Errorf("store: add refresh token: bad family or hash")
	}
	return s.inTx(ctx, "add refresh token", func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO refresh_families (id, client_id, subject, expires_ns, created_ns) VALUES (?, ?, ?, ?, ?)`),
			f.ID, f.ClientID, f.Subject, ns(f.Expiry), ns(f.Created)); err != nil {
			return fmt.Errorf("add refresh family: %w", err)
		}
		return s.insertRefresh(ctx, tx, t)
	})
}

func (s *issuerSQL) insertRefresh(ctx context.Context, tx *sql.Tx, t RefreshToken) error {
	claims := t.Claims
	if claims == nil {
		claims = []byte("{}")
	}
	if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO refresh_tokens (hash, family_id, scopes, audiences, claims, created_ns, idle_ns) VALUES (?, ?, ?, ?, ?, ?, ?)`),
		t.Hash, t.Family, joinList(t.Scopes), joinList(t.Audiences), claims, ns(t.Created), ns(t.Idle)); err != nil {
		return fmt.Errorf("add refresh token: %w", err)
	}
	return nil
}

func (s *issuerSQL) Refresh(ctx context.Context, hash []byte) (*RefreshToken, *RefreshFamily, error) {
	var t RefreshToken
	var f RefreshFamily
	var scopes, auds string
	var created, idle, used, fexp, frev, fcreated int64
	err := s.r.QueryRowContext(ctx, s.q(`SELECT t.hash, t.family_id, t.scopes, t.audiences, t.claims, t.created_ns, t.idle_ns, t.used_ns,
			f.client_id, f.subject, f.expires_ns, f.revoked_ns, f.created_ns
		FROM refresh_tokens t JOIN refresh_families f ON f.id = t.family_id WHERE t.hash = ?`), hash).Scan(
		&t.Hash, &t.Family, &scopes, &auds, &t.Claims, &created, &idle, &used,
		&f.ClientID, &f.Subject, &fexp, &frev, &fcreated)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil, fmt.Errorf("refresh token: %w", ErrNotFound)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("read refresh token: %w", err)
	}
	t.Scopes, t.Audiences = splitList(scopes), splitList(auds)
	t.Created, t.Idle, t.Used = fromNS(created), fromNS(idle), fromNS(used)
	f.ID, f.Expiry, f.Revoked, f.Created = t.Family, fromNS(fexp), fromNS(frev), fromNS(fcreated)
	return &t, &f, nil
}

func (s *issuerSQL) RotateRefresh(ctx context.Context, oldHash []byte, next RefreshToken, now, revokeUntil time.Time) error {
	if len(next.Hash) != 32 || next.Family == "" {
		return fmt.Errorf("store: rotate refresh token: bad next token")
	}
	reused := false
	err := s.inTx(ctx, "rotate refresh token", func(tx *sql.Tx) error {
		// The conditional update is the compare-and-set: of concurrent
		// rotations exactly one sees a row affected.
		res, err := tx.ExecContext(ctx, s.q(`UPDATE refresh_tokens SET used_ns = ?
			WHERE hash = ? AND family_id = ? AND used_ns = 0
			AND EXISTS (SELECT 1 FROM refresh_families f WHERE f.id = refresh_tokens.family_id AND f.revoked_ns = 0)`),
			ns(now), oldHash, next.Family)
		if err != nil {
			return fmt.Errorf("rotate refresh token: %w", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return fmt.Errorf("rotate refresh token: %w", err)
		}
		if n == 0 {
			reused = true
			return s.revokeFamilyTx(ctx, tx, next.Family, now, revokeUntil)
		}
		return s.insertRefresh(ctx, tx, next)
	})
	if err != nil {
		return err
	}
	if reused {
		return fmt.Errorf("rotate refresh token: %w", ErrRefreshReused)
	}
	return nil
}

func (s *issuerSQL) RevokeFamily(ctx context.Context, family string, now, until time.Time) error {
	return s.inTx(ctx, "revoke refresh family", func(tx *sql.Tx) error {
		return s.revokeFamilyTx(ctx, tx, family, now, until)
	})
}

func (s *issuerSQL) revokeFamilyTx(ctx context.Context, tx *sql.Tx, family string, now, until time.Time) error {
	if _, err := tx.ExecContext(ctx, s.q("UPDATE refresh_families SET revoked_ns = ? WHERE id = ? AND revoked_ns = 0"), ns(now), family); err != nil {
		return fmt.Errorf("revoke refresh family: %w", err)
	}
	return s.revokeTx(ctx, tx, Revocation{ID: family, Kind: RevokeFamily, Expiry: until, Created: now})
}

func (s *issuerSQL) revokeTx(ctx context.Context, tx *sql.Tx, r Revocation) error {
	if r.ID == "" || (r.Kind != RevokeJTI && r.Kind != RevokeFamily) {
		return fmt.Errorf("store: revoke: empty ID or unknown kind %q", r.Kind)
	}
	// The feed revision: the counter row stays locked until this
	// transaction ends, so revisions become visible in order.
	var rev int64
	if err := tx.QueryRowContext(ctx, "UPDATE revocation_feed SET rev = rev + 1 WHERE id = 1 RETURNING rev").Scan(&rev); err != nil {
		return fmt.Errorf("revoke: next feed revision: %w", err)
	}
	// A repeated revocation inserts nothing (and announces nothing); it
	// only extends the expiry, and moves the row to the new revision when
	// it does, so that followers learn the later expiry.
	if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO revocations (id, kind, expires_ns, created_ns, rev) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET
			rev = CASE WHEN excluded.expires_ns > revocations.expires_ns THEN excluded.rev ELSE revocations.rev END,
			expires_ns = CASE WHEN excluded.expires_ns > revocations.expires_ns THEN excluded.expires_ns ELSE revocations.expires_ns END`),
		r.ID, r.Kind, ns(r.Expiry), ns(r.Created), rev); err != nil {
		return fmt.Errorf("revoke: %w", err)
	}
	return nil
}

func (s *issuerSQL) Revoke(ctx context.Context, r Revocation) error {
	return s.inTx(ctx, "revoke", func(tx *sql.Tx) error { return s.revokeTx(ctx, tx, r) })
}

func (s *issuerSQL) Revocations(ctx context.Context, now time.Time) ([]Revocation, error) {
	rows, err := s.r.QueryContext(ctx, s.q("SELECT id, kind, expires_ns, created_ns FROM revocations WHERE expires_ns > ?"), ns(now))
	return collect(rows, err, "read revocations", func(sc scanner) (Revocation, error) {
		var r Revocation
		var exp, created int64
		err := sc.Scan(&r.ID, &r.Kind, &exp, &created)
		r.Expiry, r.Created = fromNS(exp), fromNS(created)
		return r, err
	})
}

func (s *issuerSQL) RevocationsSince(ctx context.Context, after uint64, now time.Time, limit int) ([]Revocation, FeedPosition, error) {
	var pos FeedPosition
	var head int64
	// The position first: every revision up to it is committed (writers
	// commit in revision order), so the rows read next include them all.
	if err := s.r.QueryRowContext(ctx, "SELECT epoch, rev FROM revocation_feed WHERE id = 1").Scan(&pos.Epoch, &head); err != nil {
		return nil, FeedPosition{}, fmt.Errorf("read revocation feed: %w", err)
	}
	pos.Rev = uint64(head)
	if after >= pos.Rev {
		return nil, pos, nil
	}
	limit = clampLimit(limit)
	rows, err := s.r.QueryContext(ctx, s.q("SELECT id, kind, expires_ns, created_ns, rev FROM revocations WHERE rev > ? AND rev <= ? AND expires_ns > ? ORDER BY rev LIMIT ?"),
		int64(after), head, ns(now), limit)
	revs, err := collect(rows, err, "read revocation feed", func(sc scanner) (Revocation, error) {
		var r Revocation
		var exp, created, rev int64
		err := sc.Scan(&r.ID, &r.Kind, &exp, &created, &rev)
		r.Expiry, r.Created, r.Rev = fromNS(exp), fromNS(created), uint64(rev)
		return r, err
	})
	if err != nil {
		return nil, FeedPosition{}, err
	}
	return revs, pos, nil
}

func (s *issuerSQL) PurgeExpired(ctx context.Context, now time.Time) error {
	return s.inTx(ctx, "purge expired", func(tx *sql.Tx) error {
		for _, q := range []string{
			"DELETE FROM revocations WHERE expires_ns <= ?",
			"DELETE FROM client_assertions WHERE expires_ns <= ?",
			"DELETE FROM refresh_tokens WHERE family_id IN (SELECT id FROM refresh_families WHERE expires_ns <= ?)",
			"DELETE FROM refresh_families WHERE expires_ns <= ?",
		} {
			if _, err := tx.ExecContext(ctx, s.q(q), ns(now)); err != nil {
				return fmt.Errorf("purge expired: %w", err)
			}
		}
		return nil
	})
}

func (s *issuerSQL) WatchRevocations(ctx context.Context, fn func(kind, id string)) error {
	if s.watch == nil {
		return nil
	}
	return s.watch(ctx, fn)
}

const keyColumns = "kid, alg, state, private_enc, public_jwk, created_ns, retired_ns, publish_until_ns"

func (s *issuerSQL) SigningKeys(ctx context.Context) ([]SigningKey, error) {
	rows, err := s.r.QueryContext(ctx, "SELECT "+keyColumns+" FROM signing_keys ORDER BY created_ns DESC, kid")
	return collect(rows, err, "read signing keys", func(sc scanner) (SigningKey, error) {
		var k SigningKey
		var created, retired, until int64
		err := sc.Scan(&k.KID, &k.Alg, &k.State, &k.Private, &k.Public, &created, &retired, &until)
		k.Created, k.Retired, k.PublishUntil = fromNS(created), fromNS(retired), fromNS(until)
		return k, err
	})
}

func (s *issuerSQL) insertKey(ctx context.Context, tx *sql.Tx, k SigningKey) error {
	_, err := tx.ExecContext(ctx, s.q("INSERT INTO signing_keys ("+keyColumns+") VALUES (?, ?, ?, ?, ?, ?, ?, ?)"),
		k.KID, k.Alg, k.State, k.Private, k.Public, ns(k.Created), ns(k.Retired), ns(k.PublishUntil))
	if err != nil {
		if s.isUnique(err) {
			return fmt.Errorf("store signing key: %w", ErrExists)
		}
		return fmt.Errorf("store signing key: %w", err)
	}
	return nil
}

func (s *issuerSQL) InitKeys(ctx context.Context, current, next SigningKey) error {
	current.State, next.State = KeyCurrent, KeyNext
	return s.inTx(ctx, "init signing keys", func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM signing_keys WHERE state = 'current'").Scan(&n); err != nil {
			return fmt.Errorf("init signing keys: %w", err)
		}
		if n > 0 {
			return fmt.Errorf("init signing keys: %w", ErrExists)
		}
		if err := s.insertKey(ctx, tx, current); err != nil {
			return err
		}
		return s.insertKey(ctx, tx, next)
	})
}

func (s *issuerSQL) RotateKeys(ctx context.Context, newNext SigningKey, now, retiredUntil time.Time) error {
	newNext.State = KeyNext
	return s.inTx(ctx, "rotate signing keys", func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM signing_keys WHERE state = 'next'").Scan(&n); err != nil {
			return fmt.Errorf("rotate signing keys: %w", err)
		}
		if n == 0 {
			return fmt.Errorf("rotate signing keys: no next key: %w", ErrNotFound)
		}
		for _, st := range []struct {
			q    string
			args []any
		}{
			{"DELETE FROM signing_keys WHERE state = 'retired' AND publish_until_ns <= ?", []any{ns(now)}},
			{"UPDATE signing_keys SET state = 'retired', retired_ns = ?, publish_until_ns = ? WHERE state = 'current'", []any{ns(now), ns(retiredUntil)}},
			{"UPDATE signing_keys SET state = 'current' WHERE state = 'next'", nil},
		} {
			if _, err := tx.ExecContext(ctx, s.q(st.q), st.args...); err != nil {
				return fmt.Errorf("rotate signing keys: %w", err)
			}
		}
		return s.insertKey(ctx, tx, newNext)
	})
}
