package ingest_test

import (
	"context"
	"testing"

	"github.com/wardenhq/warden/internal/auditship"
	"github.com/wardenhq/warden/internal/store/storetest"
)

// BenchmarkShip ships batches of 200 records over loopback HTTP into
// Warden's SQLite store: authentication, parse, per-row hash and decode
// checks, append, and Warden's own audit record per request.
func BenchmarkShip(b *testing.B) {
	w := newWarden(b, storetest.NewSQLite(b))
	secret := w.addClient("billing", auditship.Scope)
	s := newService(b, "billing")
	ctx := context.Background()
	sh, err := auditship.New(auditship.Config{Store: s.st.Audit(), Node: s.node, URL: w.url, ClientID: "billing", ClientSecret: secret, BatchRows: 200})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		s.decide(b, 200)
		b.StartTimer()
		if err := sh.Sync(ctx); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*200)/b.Elapsed().Seconds(), "rows/s")
}
