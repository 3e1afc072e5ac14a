package auditship_test

import (
	"context"
	"fmt"
	"log"
	"net/http/httptest"
	"os"
	"path/filepath"
	"time"

	"github.com/wardenhq/warden/internal/audit"
	"github.com/wardenhq/warden/internal/auditship"
	"github.com/wardenhq/warden/internal/ingest"
	"github.com/wardenhq/warden/internal/issuer"
	"github.com/wardenhq/warden/internal/store"
)

// A service writes its decisions to a local hash-chained log and ships
// them to Warden (here a real issuer and ingest handler over SQLite on
// loopback), where they verify like any node's chain.
func ExampleShipper() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "auditship-example")
	defer os.RemoveAll(dir)

	// Warden's side.
	wst, err := store.Open(ctx, filepath.Join(dir, "warden.db"), store.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer wst.Close()
	keys, _ := issuer.NewKeyRing(ctx, issuer.KeyRingConfig{Store: wst.Issuer(), KEK: make([]byte, issuer.KEKBytes), MaxTTL: time.Hour})
	revs, _ := issuer.NewRevocations(ctx, wst.Issuer(), nil)
	iss, err := issuer.New(ctx, issuer.Config{Issuer: "https://warden.example", Audiences: []string{"warden"}, Store: wst.Issuer(), Keys: keys, Revocations: revs})
	if err != nil {
		log.Fatal(err)
	}
	defer iss.Close()
	ing, err := ingest.New(ingest.Config{Store: wst, Issuer: iss})
	if err != nil {
		log.Fatal(err)
	}
	srv := httptest.NewServer(ing)
	defer srv.Close()
	secret, hash, _ := issuer.NewSecret(issuer.SecretPrefix)
	_ = wst.Issuer().AddClient(ctx, store.Client{ID: "billing", SecretHash: hash, Scopes: []string{auditship.Scope}, Created: time.Now()})

	// The service's side: its own chain, svc.billing, in a local store.
	local, err := store.Open(ctx, filepath.Join(dir, "billing.db"), store.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer local.Close()
	node := auditship.NodeFor("billing")
	decisions, err := audit.New(ctx, audit.Config{Store: local, Node: node})
	if err != nil {
		log.Fatal(err)
	}
	for _, id := range []string{"r-1", "r-2", "r-3"} {
		_ = decisions.Append(ctx, audit.Record{RequestID: audit.NewRequestID(time.Now()), Subject: "alice", Action: "record:read",
			ResourceType: "Record", ResourceID: id, Decision: audit.Allow})
	}
	_ = decisions.Close(ctx)
	sh, err := auditship.New(auditship.Config{Store: local.Audit(), Node: node, URL: srv.URL, ClientID: "billing", ClientSecret: secret})
	if err != nil {
		log.Fatal(err)
	}
	if err := sh.Sync(ctx); err != nil { // Run(ctx) does this in the background
		log.Fatal(err)
	}
	fmt.Println("acknowledged up to seq", sh.Stats().Acked)

	rep, err := audit.Verify(ctx, wst, node)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(rep.Node, "intact:", rep.OK(), "records:", rep.Records)
	// Output:
	// acknowledged up to seq 3
	// svc.billing intact: true records: 3
}
