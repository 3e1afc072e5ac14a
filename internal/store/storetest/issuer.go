package storetest

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/wardenhq/warden/internal/store"
)

// issuerNow is the clock of the issuer suite.
var issuerNow = time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)

func hash(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

// issuerSuite runs the conformance tests of store.IssuerStore.
func issuerSuite(t *testing.T, newBackend func(testing.TB) *Backend) {
	ctx := context.Background()
	now := issuerNow

	t.Run("clients", func(t *testing.T) {
		is := newBackend(t).Open(t).Issuer()
		c := store.Client{ID: "agent-1", Name: "Agent one", SecretHash: hash("s"), Scopes: []string{"a", "b"},
			Audiences: []string{"warden"}, GrantTypes: []string{"client_credentials"}, Created: now}
		if err := is.AddClient(ctx, c); err != nil {
			t.Fatal(err)
		}
		if err := is.AddClient(ctx, c); !errors.Is(err, store.ErrExists) {
			t.Fatalf("second AddClient = %v, want ErrExists", err)
		}
		if err := is.AddClient(ctx, store.Client{ID: "agent-0", SecretHash: hash("t"), Created: now}); err != nil {
			t.Fatal(err)
		}
		got, err := is.Client(ctx, "agent-1")
		if err != nil {
			t.Fatal(err)
		}
		if got.Name != c.Name || string(got.SecretHash) != string(c.SecretHash) || !slices.Equal(got.Scopes, c.Scopes) ||
			!slices.Equal(got.Audiences, c.Audiences) || !slices.Equal(got.GrantTypes, c.GrantTypes) || !got.Created.Equal(now) {
			t.Fatalf("Client = %+v, want %+v", got, c)
		}
		jc := store.Client{ID: "agent-k", JWKS: []byte(`{"keys":[]}`), Created: now}
		if err := is.AddClient(ctx, jc); err != nil {
			t.Fatalf("AddClient with keys and no secret: %v", err)
		}
		if got, err := is.Client(ctx, "agent-k"); err != nil || string(got.JWKS) != string(jc.JWKS) || len(got.SecretHash) != 0 {
			t.Fatalf("Client(agent-k) = %+v, %v", got, err)
		}
		if err := is.RemoveClient(ctx, "agent-k", now, 0); err != nil {
			t.Fatal(err)
		}
		if err := is.AddClient(ctx, store.Client{ID: "agent-n", Created: now}); err == nil {
			t.Fatal("AddClient without a secret or keys succeeded")
		}
		if err := is.UseAssertion(ctx, "agent-1", "a1", now.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		if err := is.UseAssertion(ctx, "agent-1", "a1", now.Add(time.Minute)); !errors.Is(err, store.ErrExists) {
			t.Fatalf("replayed assertion = %v, want ErrExists", err)
		}
		if err := is.UseAssertion(ctx, "agent-0", "a1", now.Add(time.Minute)); err != nil {
			t.Fatalf("another client's assertion with the same jti: %v", err)
		}
		if err := is.PurgeExpired(ctx, now.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		if err := is.UseAssertion(ctx, "agent-1", "a1", now.Add(2*time.Hour)); err != nil {
			t.Fatalf("an expired assertion jti was not purged: %v", err)
		}
		list, err := is.Clients(ctx)
		if err != nil || len(list) != 2 || list[0].ID != "agent-0" || list[1].ID != "agent-1" {
			t.Fatalf("Clients = %v, %v", list, err)
		}
		if _, err := is.Client(ctx, "nobody"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("Client(nobody) = %v, want ErrNotFound", err)
		}
		fam := store.RefreshFamily{ID: "fam-c", ClientID: "agent-1", Subject: "agent-1", Expiry: now.Add(time.Hour), Created: now}
		if err := is.AddRefresh(ctx, fam, store.RefreshToken{Hash: hash("rt-c"), Family: "fam-c", Created: now, Idle: now.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
		if err := is.RemoveClient(ctx, "agent-1", now, time.Minute); err != nil {
			t.Fatal(err)
		}
		if err := is.RemoveClient(ctx, "agent-1", now, time.Minute); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("second RemoveClient = %v, want ErrNotFound", err)
		}
		_, f, err := is.Refresh(ctx, hash("rt-c"))
		if err != nil || f.Revoked.IsZero() {
			t.Fatalf("the removed client's family is not revoked: %+v, %v", f, err)
		}
		if revs, err := is.Revocations(ctx, now); err != nil || len(revs) != 1 || revs[0].ID != "fam-c" || !revs[0].Expiry.Equal(fam.Expiry.Add(time.Minute)) {
			t.Fatalf("revocation of the removed client's family: %+v, %v", revs, err)
		}
	})

	t.Run("refresh rotation", func(t *testing.T) {
		is := newBackend(t).Open(t).Issuer()
		fam := store.RefreshFamily{ID: "fam-1", ClientID: "c1", Subject: "alice", Expiry: now.Add(24 * time.Hour), Created: now}
		first := store.RefreshToken{Hash: hash("rt-1"), Family: "fam-1", Scopes: []string{"a", "b"}, Audiences: []string{"warden"},
			Claims: []byte(`{"roles":["x"]}`), Created: now, Idle: now.Add(time.Hour)}
		if err := is.AddRefresh(ctx, fam, first); err != nil {
			t.Fatal(err)
		}
		tok, f, err := is.Refresh(ctx, hash("rt-1"))
		if err != nil {
			t.Fatal(err)
		}
		if f.ClientID != "c1" || f.Subject != "alice" || !f.Expiry.Equal(fam.Expiry) || !f.Revoked.IsZero() ||
			!slices.Equal(tok.Scopes, first.Scopes) || string(tok.Claims) != string(first.Claims) || !tok.Idle.Equal(first.Idle) || !tok.Used.IsZero() {
			t.Fatalf("Refresh = %+v %+v", tok, f)
		}
		second := store.RefreshToken{Hash: hash("rt-2"), Family: "fam-1", Scopes: []string{"a"}, Created: now, Idle: now.Add(time.Hour)}
		if err := is.RotateRefresh(ctx, hash("rt-1"), second, now, fam.Expiry); err != nil {
			t.Fatal(err)
		}
		if tok, _, err := is.Refresh(ctx, hash("rt-1")); err != nil || tok.Used.IsZero() {
			t.Fatalf("rotated token not marked used: %+v, %v", tok, err)
		}
		// Reuse of rt-1 revokes the family, rt-2 included.
		third := store.RefreshToken{Hash: hash("rt-3"), Family: "fam-1", Created: now, Idle: now.Add(time.Hour)}
		if err := is.RotateRefresh(ctx, hash("rt-1"), third, now, fam.Expiry); !errors.Is(err, store.ErrRefreshReused) {
			t.Fatalf("reuse = %v, want ErrRefreshReused", err)
		}
		if err := is.RotateRefresh(ctx, hash("rt-2"), third, now, fam.Expiry); !errors.Is(err, store.ErrRefreshReused) {
			t.Fatalf("rotation in a revoked family = %v, want ErrRefreshReused", err)
		}
		if _, _, err := is.Refresh(ctx, hash("rt-3")); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("a refused rotation stored its token: %v", err)
		}
		revs, err := is.Revocations(ctx, now)
		if err != nil || len(revs) != 1 || revs[0].ID != "fam-1" || revs[0].Kind != store.RevokeFamily || !revs[0].Expiry.Equal(fam.Expiry) {
			t.Fatalf("Revocations = %+v, %v", revs, err)
		}
		if _, _, err := is.Refresh(ctx, hash("unknown")); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("Refresh(unknown) = %v", err)
		}
	})

	t.Run("concurrent rotations of one token", func(t *testing.T) {
		is := newBackend(t).Open(t).Issuer()
		fam := store.RefreshFamily{ID: "fam-x", ClientID: "c1", Subject: "c1", Expiry: now.Add(time.Hour), Created: now}
		if err := is.AddRefresh(ctx, fam, store.RefreshToken{Hash: hash("x"), Family: "fam-x", Created: now, Idle: now.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
		const n = 20
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				next := store.RefreshToken{Hash: hash(fmt.Sprint("x-", i)), Family: "fam-x", Created: now, Idle: now.Add(time.Hour)}
				errs[i] = is.RotateRefresh(ctx, hash("x"), next, now, fam.Expiry)
			})
		}
		wg.Wait()
		ok := 0
		for _, err := range errs {
			switch {
			case err == nil:
				ok++
			case !errors.Is(err, store.ErrRefreshReused):
				t.Errorf("rotation failed with %v", err)
			}
		}
		if ok != 1 {
			t.Fatalf("%d of %d concurrent rotations succeeded, want exactly 1", ok, n)
		}
		if _, f, err := is.Refresh(ctx, hash("x")); err != nil || f.Revoked.IsZero() {
			t.Fatalf("family not revoked after reuse: %+v, %v", f, err)
		}
	})

	t.Run("revocations", func(t *testing.T) {
		is := newBackend(t).Open(t).Issuer()
		for _, r := range []store.Revocation{
			{ID: "j1", Kind: store.RevokeJTI, Expiry: now.Add(time.Minute), Created: now},
			{ID: "j1", Kind: store.RevokeJTI, Expiry: now.Add(time.Second), Created: now}, // keeps the later expiry
			{ID: "j2", Kind: store.RevokeJTI, Expiry: now.Add(-time.Second), Created: now},
		} {
			if err := is.Revoke(ctx, r); err != nil {
				t.Fatal(err)
			}
		}
		if err := is.Revoke(ctx, store.Revocation{ID: "j3", Kind: "bogus"}); err == nil {
			t.Fatal("Revoke with a bogus kind succeeded")
		}
		revs, err := is.Revocations(ctx, now)
		if err != nil || len(revs) != 1 || revs[0].ID != "j1" || !revs[0].Expiry.Equal(now.Add(time.Minute)) {
			t.Fatalf("Revocations = %+v, %v", revs, err)
		}
		if err := is.PurgeExpired(ctx, now.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		if revs, err := is.Revocations(ctx, time.Unix(0, 1)); err != nil || len(revs) != 0 {
			t.Fatalf("after purge: %+v, %v", revs, err)
		}
	})

	t.Run("revocation feed", func(t *testing.T) {
		b := newBackend(t)
		is := b.Open(t).Issuer()
		revs, pos, err := is.RevocationsSince(ctx, 0, now, 0)
		if err != nil || len(revs) != 0 || pos.Rev != 0 || pos.Epoch == "" {
			t.Fatalf("empty feed = %+v, %+v, %v", revs, pos, err)
		}
		epoch := pos.Epoch
		for _, r := range []store.Revocation{
			{ID: "f1", Kind: store.RevokeJTI, Expiry: now.Add(time.Minute), Created: now},
			{ID: "f2", Kind: store.RevokeFamily, Expiry: now.Add(time.Hour), Created: now},
			{ID: "f3", Kind: store.RevokeJTI, Expiry: now.Add(-time.Second), Created: now}, // expired: never in the feed
		} {
			if err := is.Revoke(ctx, r); err != nil {
				t.Fatal(err)
			}
		}
		revs, pos, err = is.RevocationsSince(ctx, 0, now, 0)
		if err != nil || pos.Epoch != epoch || pos.Rev != 3 {
			t.Fatalf("RevocationsSince(0) pos = %+v, %v; want epoch %s rev 3", pos, err, epoch)
		}
		if len(revs) != 2 || revs[0].ID != "f1" || revs[0].Rev != 1 || revs[1].ID != "f2" || revs[1].Rev != 2 || revs[1].Kind != store.RevokeFamily {
			t.Fatalf("RevocationsSince(0) = %+v", revs)
		}
		if revs, _, err := is.RevocationsSince(ctx, 1, now, 0); err != nil || len(revs) != 1 || revs[0].ID != "f2" {
			t.Fatalf("RevocationsSince(1) = %+v, %v", revs, err)
		}
		if revs, _, err := is.RevocationsSince(ctx, 0, now, 1); err != nil || len(revs) != 1 || revs[0].ID != "f1" {
			t.Fatalf("RevocationsSince(0, limit 1) = %+v, %v", revs, err)
		}
		// A later expiry moves the row to a new revision; an earlier one
		// changes nothing (but uses up a revision).
		if err := is.Revoke(ctx, store.Revocation{ID: "f1", Kind: store.RevokeJTI, Expiry: now.Add(2 * time.Hour), Created: now}); err != nil {
			t.Fatal(err)
		}
		if err := is.Revoke(ctx, store.Revocation{ID: "f2", Kind: store.RevokeFamily, Expiry: now, Created: now}); err != nil {
			t.Fatal(err)
		}
		revs, pos, err = is.RevocationsSince(ctx, 3, now, 0)
		if err != nil || pos.Rev != 5 || len(revs) != 1 || revs[0].ID != "f1" || revs[0].Rev != 4 || !revs[0].Expiry.Equal(now.Add(2*time.Hour)) {
			t.Fatalf("after re-revoking: %+v, %+v, %v", revs, pos, err)
		}
		if revs, _, err := is.RevocationsSince(ctx, 9, now, 0); err != nil || len(revs) != 0 {
			t.Fatalf("RevocationsSince past the head = %+v, %v", revs, err)
		}
		// Another connection (another node) sees the same revisions.
		if revs2, pos2, err := b.Open(t).Issuer().RevocationsSince(ctx, 0, now, 0); err != nil || pos2 != pos || len(revs2) != 2 {
			t.Fatalf("second opener: %+v, %+v, %v; want pos %+v", revs2, pos2, err, pos)
		}
		// Concurrent writers get distinct revisions.
		var wg sync.WaitGroup
		for i := range 8 {
			wg.Go(func() {
				if err := is.Revoke(ctx, store.Revocation{ID: fmt.Sprint("c", i), Kind: store.RevokeJTI, Expiry: now.Add(time.Hour), Created: now}); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		revs, pos, err = is.RevocationsSince(ctx, 5, now, 0)
		if err != nil || pos.Rev != 13 || len(revs) != 8 {
			t.Fatalf("after concurrent revokes: %d rows, %+v, %v", len(revs), pos, err)
		}
		for i, r := range revs {
			if r.Rev != uint64(6+i) {
				t.Fatalf("row %d has rev %d, want %d", i, r.Rev, 6+i)
			}
		}
	})

	t.Run("revocation feed migration", func(t *testing.T) {
		// A database at schema 2 with revocations: migration 3 gives them
		// distinct revisions in creation order, and new ones continue.
		if store.LatestSchemaVersion() != 3 {
			t.Skipf("rewinds the database to schema 2 by undoing migration 3, which must be the last (latest is %d)", store.LatestSchemaVersion())
		}
		b := newBackend(t)
		st := b.Open(t)
		st.Close()
		b.Exec(t, "DROP INDEX revocations_rev")
		b.Exec(t, "ALTER TABLE revocations DROP COLUMN rev")
		b.Exec(t, "DROP TABLE revocation_feed")
		b.Exec(t, "DELETE FROM schema_migrations WHERE version = 3")
		for i, id := range []string{"old-b", "old-a", "old-c"} {
			b.Exec(t, "INSERT INTO revocations (id, kind, expires_ns, created_ns) VALUES (?, 'jti', ?, ?)", id, now.Add(time.Hour).UnixNano(), now.Add(time.Duration(i)*time.Second).UnixNano())
		}
		is := b.Open(t).Issuer()
		revs, pos, err := is.RevocationsSince(ctx, 0, now, 0)
		if err != nil || pos.Rev != 3 || len(revs) != 3 {
			t.Fatalf("after migrating: %+v, %+v, %v", revs, pos, err)
		}
		seen := map[uint64]bool{}
		for _, r := range revs {
			if r.Rev < 1 || r.Rev > 3 || seen[r.Rev] {
				t.Fatalf("revisions %+v are not 1..3, distinct", revs)
			}
			seen[r.Rev] = true
		}
		if err := is.Revoke(ctx, store.Revocation{ID: "new", Kind: store.RevokeJTI, Expiry: now.Add(time.Hour), Created: now}); err != nil {
			t.Fatal(err)
		}
		if revs, pos, err := is.RevocationsSince(ctx, 3, now, 0); err != nil || pos.Rev != 4 || len(revs) != 1 || revs[0].ID != "new" {
			t.Fatalf("a new revocation after the migration: %+v, %+v, %v", revs, pos, err)
		}
	})

	t.Run("revocations are announced", func(t *testing.T) {
		b := newBackend(t)
		is := b.Open(t).Issuer()
		wctx, cancel := context.WithCancel(ctx)
		defer cancel()
		got := make(chan string, 4)
		done := make(chan error, 1)
		go func() { done <- is.WatchRevocations(wctx, func(kind, id string) { got <- kind + ":" + id }) }()
		if b.Name == store.DriverSQLite {
			if err := <-done; err != nil {
				t.Fatalf("SQLite WatchRevocations = %v, want nil at once", err)
			}
			return
		}
		deadline := time.After(5 * time.Second)
		for i := 0; ; i++ {
			// The listener may not be listening yet: revoke until announced.
			if err := is.Revoke(ctx, store.Revocation{ID: fmt.Sprint("n", i), Kind: store.RevokeJTI, Expiry: now.Add(time.Hour), Created: now}); err != nil {
				t.Fatal(err)
			}
			select {
			case s := <-got:
				if s[:5] != "jti:n" {
					t.Fatalf("notification %q", s)
				}
				cancel()
				if err := <-done; err != nil {
					t.Fatalf("WatchRevocations = %v after cancel", err)
				}
				return
			case <-time.After(100 * time.Millisecond):
			case <-deadline:
				t.Fatal("no notification within 5s")
			}
		}
	})

	t.Run("signing keys", func(t *testing.T) {
		is := newBackend(t).Open(t).Issuer()
		key := func(kid string, at time.Time) store.SigningKey {
			return store.SigningKey{KID: kid, Alg: "ES256", Private: []byte("enc-" + kid), Public: []byte(`{"kid":"` + kid + `"}`), Created: at}
		}
		if err := is.RotateKeys(ctx, key("k0", now), now, now); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("RotateKeys without keys = %v, want ErrNotFound", err)
		}
		if err := is.InitKeys(ctx, key("k1", now), key("k2", now.Add(time.Second))); err != nil {
			t.Fatal(err)
		}
		if err := is.InitKeys(ctx, key("k8", now), key("k9", now)); !errors.Is(err, store.ErrExists) {
			t.Fatalf("second InitKeys = %v, want ErrExists", err)
		}
		states := func() string {
			t.Helper()
			ks, err := is.SigningKeys(ctx)
			if err != nil {
				t.Fatal(err)
			}
			var s []string
			for _, k := range ks {
				s = append(s, k.KID+"="+k.State)
			}
			slices.Sort(s)
			return fmt.Sprint(s)
		}
		if got := states(); got != "[k1=current k2=next]" {
			t.Fatalf("after init: %s", got)
		}
		t1 := now.Add(time.Hour)
		if err := is.RotateKeys(ctx, key("k3", t1), t1, t1.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		if got := states(); got != "[k1=retired k2=current k3=next]" {
			t.Fatalf("after rotation: %s", got)
		}
		ks, _ := is.SigningKeys(ctx)
		for _, k := range ks {
			if k.KID == "k1" && (!k.Retired.Equal(t1) || !k.PublishUntil.Equal(t1.Add(time.Hour)) || string(k.Private) != "enc-k1") {
				t.Fatalf("retired key %+v", k)
			}
		}
		// The next rotation after k1's publication ended deletes it.
		t2 := t1.Add(2 * time.Hour)
		if err := is.RotateKeys(ctx, key("k4", t2), t2, t2.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		if got := states(); got != "[k2=retired k3=current k4=next]" {
			t.Fatalf("after second rotation: %s", got)
		}
	})

	t.Run("read-only", func(t *testing.T) {
		b := newBackend(t)
		b.Open(t).Close()
		st, err := store.Open(ctx, b.URL, store.Options{ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		if err := st.Issuer().Revoke(ctx, store.Revocation{ID: "j", Kind: store.RevokeJTI, Expiry: now}); !errors.Is(err, store.ErrReadOnly) {
			t.Fatalf("Revoke on a read-only store = %v", err)
		}
		if _, err := st.Issuer().Clients(ctx); err != nil {
			t.Fatalf("Clients on a read-only store: %v", err)
		}
	})
}
