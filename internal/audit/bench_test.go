package audit

import (
	"context"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wardenhq/warden/internal/store"
	"github.com/wardenhq/warden/internal/store/storetest"
)

// discardStore accepts appends without storing them, to measure the request
// path alone.
type discardStore struct{ store.Store }

func (d discardStore) Audit() store.AuditStore { return discardAudit{d.Store.Audit()} }

type discardAudit struct{ store.AuditStore }

func (discardAudit) Append(context.Context, string, []store.AuditRow) error { return nil }

// BenchmarkAppendAsync is the request-path cost of Append with
// DurabilityAsync: validation and the enqueue. The writer drains the queue
// between timed chunks so that the queue never fills.
func BenchmarkAppendAsync(b *testing.B) {
	for _, par := range []int{1, 4} {
		b.Run("goroutines-"+strconv.Itoa(par), func(b *testing.B) {
			st := discardStore{storetest.NewSQLite(b).Open(b)}
			l := newLog(b, st, "bench", func(c *Config) { c.Durability = DurabilityAsync; c.QueueSize = 8192 })
			rec := testRecord(1)
			ctx := context.Background()
			const chunk = 4096
			b.ReportAllocs()
			b.ResetTimer()
			for done := 0; done < b.N; {
				n := min(b.N-done, chunk)
				var wg sync.WaitGroup
				b.StartTimer()
				for p := range par {
					m := n / par
					if p == 0 {
						m += n % par
					}
					wg.Go(func() {
						for range m {
							if err := l.Append(ctx, rec); err != nil {
								b.Error(err)
								return
							}
						}
					})
				}
				wg.Wait()
				b.StopTimer()
				done += n
				for l.Stats().QueueDepth > 0 {
					time.Sleep(20 * time.Microsecond)
				}
			}
		})
	}
}

// BenchmarkAppendBatch is Append with DurabilityBatch against SQLite (and
// PostgreSQL when WARDEN_TEST_POSTGRES_URL is set) from 64 concurrent
// callers per CPU: ns/op is the inverse of the throughput, "latency-µs" the
// mean time one Append waited for its group commit.
func BenchmarkAppendBatch(b *testing.B) {
	backends := map[string]func(testing.TB) *storetest.Backend{"sqlite": storetest.NewSQLite}
	if os.Getenv(storetest.EnvPostgresURL) != "" {
		backends["postgres"] = storetest.NewPostgres
	}
	for name, nb := range backends {
		b.Run(name, func(b *testing.B) {
			st := nb(b).Open(b)
			l := newLog(b, st, "bench")
			rec := testRecord(1)
			ctx := context.Background()
			var waited atomic.Int64
			b.SetParallelism(64)
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					start := time.Now()
					if err := l.Append(ctx, rec); err != nil {
						b.Error(err)
						return
					}
					waited.Add(int64(time.Since(start)))
				}
			})
			b.StopTimer()
			b.ReportMetric(float64(waited.Load())/float64(b.N)/1e3, "latency-µs")
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
			s := l.Stats()
			b.ReportMetric(float64(s.Committed)/float64(max(s.Batches, 1)), "records/batch")
		})
	}
}

// BenchmarkCommit is the writer's sustained throughput into SQLite (and
// PostgreSQL when configured), records/s, by batch size: the writer is kept
// busy by a full queue.
func BenchmarkCommit(b *testing.B) {
	backends := map[string]func(testing.TB) *storetest.Backend{"sqlite": storetest.NewSQLite}
	if os.Getenv(storetest.EnvPostgresURL) != "" {
		backends["postgres"] = storetest.NewPostgres
	}
	for name, nb := range backends {
		for _, size := range []int{64, 256, 1024} {
			b.Run(name+"/batch-"+strconv.Itoa(size), func(b *testing.B) {
				st := nb(b).Open(b)
				l, err := New(context.Background(), Config{Store: st, Node: "bench", Durability: DurabilityAsync, BatchSize: size, QueueSize: 4 * size})
				if err != nil {
					b.Fatal(err)
				}
				rec := testRecord(1)
				ctx := context.Background()
				b.ResetTimer()
				for range b.N {
					for l.Append(ctx, rec) == ErrQueueFull {
						time.Sleep(50 * time.Microsecond)
					}
				}
				if err := l.Close(ctx); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
			})
		}
	}
}

// BenchmarkEncodeHash is the writer's CPU cost per record: canonical
// encoding and the chain hash.
func BenchmarkEncodeHash(b *testing.B) {
	rec := testRecord(1)
	rec.Node, rec.Seq = "bench", 1
	prev := make([]byte, HashSize)
	buf := make([]byte, 0, 1024)
	b.ReportAllocs()
	for b.Loop() {
		buf = rec.AppendCanonical(buf[:0])
		h := chainHash(prev, buf)
		prev = h[:]
	}
}

// BenchmarkVerify is Verify's throughput on SQLite, records/s.
func BenchmarkVerify(b *testing.B) {
	st := storetest.NewSQLite(b).Open(b)
	const n = 5000
	l, err := New(context.Background(), Config{Store: st, Node: "bench", Durability: DurabilityAsync, QueueSize: n})
	if err != nil {
		b.Fatal(err)
	}
	for i := range n {
		if err := l.Append(context.Background(), testRecord(i)); err != nil {
			b.Fatal(err)
		}
	}
	l.Close(context.Background())
	b.ResetTimer()
	for b.Loop() {
		rep, err := Verify(context.Background(), st, "bench")
		if err != nil || !rep.OK() {
			b.Fatal(rep, err)
		}
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "records/s")
}
