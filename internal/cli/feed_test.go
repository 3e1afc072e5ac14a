package cli

import (
	"context"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wardenhq/warden/internal/audit"
	"github.com/wardenhq/warden/internal/auditship"
	"github.com/wardenhq/warden/internal/issuer"
	"github.com/wardenhq/warden/internal/revfeed"
	"github.com/wardenhq/warden/internal/store"
	"github.com/wardenhq/warden/internal/store/storetest"
)

// TestServiceFeedAndIngest runs real `warden serve` nodes (one on SQLite;
// two on one PostgreSQL database when WARDEN_TEST_POSTGRES_URL is set) and
// drives them as an embedded enforcer would: a revfeed.Follower of the last
// node denies a token revoked at the first within 1s, and an
// auditship.Shipper ships a service's local chain to the first node's
// /audit/ingest, which `warden audit verify` then passes.
func TestServiceFeedAndIngest(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, b *storetest.Backend) {
		nf := newNodeFiles(t)
		names := []string{"n1"}
		if b.Name == store.DriverPostgres {
			names = append(names, "n2")
		}
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		var nodes []*node
		for _, name := range names {
			nodes = append(nodes, startNode(t, ctx, name, nf.config(t, name, b.URL, time.Minute)))
		}
		first, last := nodes[0], nodes[len(nodes)-1]
		st, err := store.Open(t.Context(), b.URL, store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		secret, hash, _ := issuer.NewSecret(issuer.SecretPrefix)
		if err := st.Issuer().AddClient(t.Context(), store.Client{ID: "billing", SecretHash: hash, Scopes: []string{"trace:read", auditship.Scope},
			GrantTypes: []string{issuer.GrantClientCredentials}, Created: time.Now()}); err != nil {
			t.Fatal(err)
		}

		f, err := revfeed.New(revfeed.Config{URL: last.url, ClientID: "billing", ClientSecret: secret})
		if err != nil {
			t.Fatal(err)
		}
		fctx, stopFollower := context.WithCancel(ctx)
		var wg sync.WaitGroup
		wg.Go(func() { _ = f.Run(fctx) })
		defer func() { stopFollower(); wg.Wait() }()
		select {
		case <-f.Synced():
		case <-time.After(10 * time.Second):
			t.Fatalf("follower not synced: %+v", f.Stats())
		}
		code, m := first.post(issuer.TokenPath, "billing", secret, url.Values{"grant_type": {"client_credentials"}})
		if code != 200 {
			t.Fatalf("token: %d %v", code, m)
		}
		_, m2 := first.post(issuer.IntrospectPath, "billing", secret, url.Values{"token": {m["access_token"].(string)}})
		jti, _ := m2["jti"].(string)
		if jti == "" || f.Revoked(jti) {
			t.Fatalf("introspection %v; revoked before revocation: %v", m2, f.Revoked(jti))
		}
		start := time.Now()
		if code, m := first.post(issuer.RevokePath, "billing", secret, url.Values{"token": {m["access_token"].(string)}}); code != 200 {
			t.Fatalf("revoke: %d %v", code, m)
		}
		for !f.Revoked(jti) {
			if time.Since(start) > time.Second {
				t.Fatalf("the follower of %s did not see the revocation at %s within 1s: %+v", last.name, first.name, f.Stats())
			}
			time.Sleep(5 * time.Millisecond)
		}
		t.Logf("revocation at %s reached the follower of %s after %v", first.name, last.name, time.Since(start))

		// The service's decision log, shipped to Warden.
		local, err := store.Open(t.Context(), "sqlite://"+filepath.Join(t.TempDir(), "svc.db"), store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer local.Close()
		node := auditship.NodeFor("billing")
		log, err := audit.New(t.Context(), audit.Config{Store: local, Node: node})
		if err != nil {
			t.Fatal(err)
		}
		for i := range 7 {
			if err := log.Append(t.Context(), audit.Record{RequestID: audit.NewRequestID(time.Now()), Subject: "alice", Action: "trace:read",
				ResourceType: "Trace", ResourceID: "t-" + string(rune('a'+i)), Decision: audit.Allow}); err != nil {
				t.Fatal(err)
			}
		}
		if err := log.Close(t.Context()); err != nil {
			t.Fatal(err)
		}
		sh, err := auditship.New(auditship.Config{Store: local.Audit(), Node: node, URL: first.url, ClientID: "billing", ClientSecret: secret})
		if err != nil {
			t.Fatal(err)
		}
		if err := sh.Sync(t.Context()); err != nil {
			t.Fatalf("ship: %v (%+v)", err, sh.Stats())
		}
		cancel()
		for _, n := range nodes {
			n.stop()
		}
		code, out, errOut := runWardenLive(t, "audit", "verify", "--store", b.URL)
		if code != 0 || !strings.Contains(out, node+": 7 records intact") {
			t.Fatalf("audit verify: %d\n%s%s", code, out, errOut)
		}
		// n1 recorded the token request, the revocation and the ingest.
		if !strings.Contains(out, "OK        n1:") {
			t.Errorf("audit verify lacks node n1:\n%s", out)
		}
	})
}
