package authzen_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wardenhq/warden/internal/audit"
	"github.com/wardenhq/warden/internal/authzen"
	"github.com/wardenhq/warden/internal/store"
)

// BenchmarkEvaluation is one evaluation through the handler, in process,
// with a cached token: parse, decide, answer (no audit log).
func BenchmarkEvaluation(b *testing.B) {
	f := newFixture(b, fixtureOpts{noAudit: true})
	tok := f.token(b, eve)
	for _, n := range []int{1, 10, 100} {
		path, body := authzen.EvaluationPath, `{"action":{"name":"trace:read"},"resource":`+trace1+`}`
		if n > 1 {
			path = authzen.EvaluationsPath
			body = `{"action":{"name":"trace:read"},"evaluations":[` + strings.TrimSuffix(strings.Repeat(`{"resource":`+trace1+`},`, n), ",") + `]}`
		}
		b.Run(fmt.Sprintf("items=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				req := httptest.NewRequest("POST", path, strings.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Authorization", "Bearer "+tok)
				rec := httptest.NewRecorder()
				f.h.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					b.Fatalf("%d %s", rec.Code, rec.Body)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/decision")
		})
	}
}

// BenchmarkBatchAudit measures the choice the handler makes for the audit
// records of a batch under batch durability (SQLite, synchronous=full):
// waiting for each record's commit in turn ("append-each") against queueing
// them all and waiting for the last one ("enqueue-wait-last", what
// Handler does: the log commits in queue order).
func BenchmarkBatchAudit(b *testing.B) {
	for _, n := range []int{10, 100} {
		for _, mode := range []string{"append-each", "enqueue-wait-last"} {
			b.Run(fmt.Sprintf("%s/items=%d", mode, n), func(b *testing.B) {
				ctx := context.Background()
				st, err := store.Open(ctx, filepath.Join(b.TempDir(), "audit.db"), store.Options{})
				if err != nil {
					b.Fatal(err)
				}
				defer st.Close()
				l, err := audit.New(ctx, audit.Config{Store: st, Node: "bench", Durability: audit.DurabilityBatch})
				if err != nil {
					b.Fatal(err)
				}
				defer l.Close(ctx)
				rec := audit.Record{RequestID: "r", DecisionID: "d", Phase: audit.PhaseDecision, Subject: "eve", Route: authzen.Route,
					Action: "trace:read", ResourceType: "Trace", ResourceID: "t-1", Decision: audit.Allow, Method: "POST", Path: authzen.EvaluationsPath}
				for b.Loop() {
					for i := range n {
						if mode == "append-each" || i == n-1 {
							err = l.Append(ctx, rec)
						} else {
							err = l.Enqueue(rec)
						}
						if err != nil {
							b.Fatal(err)
						}
					}
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/record")
			})
		}
	}
}
