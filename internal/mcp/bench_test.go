package mcp_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
)

// BenchmarkToolsCall is one tools/call round trip by the go-sdk client
// through Warden (token verified, the call judged against the reference
// bundle, the guard questions, a redacted SSE result, a decision record
// committed to SQLite before the call goes upstream and a result record
// queued) against the same call direct to the same go-sdk server, in one
// run. The two are interleaved call by call so machine noise hits both;
// the "warden/direct" metric is the ratio of their mean latencies.
// audit-batch waits for the decision record's group commit (the default,
// SQLite synchronous=full: an fsync per call here, nothing else runs);
// audit-async queues it.
// bench/mcp/run.sh runs it.
func BenchmarkToolsCall(b *testing.B) {
	for _, tc := range []struct {
		name, version string
		async         bool
	}{
		{"2026-07-28/audit-batch", "2026-07-28", false},
		{"2026-07-28/audit-async", "2026-07-28", true},
		{"2025-11-25/audit-batch", "2025-11-25", false},
		{"2025-11-25/audit-async", "2025-11-25", true},
	} {
		v := tc.version
		b.Run(tc.name, func(b *testing.B) {
			f := newFixture(b, fixtureOpts{asyncAudit: tc.async})
			ctx := context.Background()
			through, _ := f.connect(b, eve, v, nil)
			c := sdk.NewClient(&sdk.Implementation{Name: "bench", Version: "1"}, nil)
			direct, err := c.Connect(ctx, &sdk.StreamableClientTransport{Endpoint: f.up.srv.URL + "/mcp", HTTPClient: &http.Client{Timeout: 10 * time.Second}}, &sdk.ClientSessionOptions{ProtocolVersion: v})
			if err != nil {
				b.Fatal(err)
			}
			defer direct.Close()
			f.up.record(false)
			params := &sdk.CallToolParams{Name: "search", Arguments: map[string]any{"query": "q"}}
			var dDirect, dWarden time.Duration
			b.ResetTimer()
			for b.Loop() {
				t0 := time.Now()
				if _, err := direct.CallTool(ctx, params); err != nil {
					b.Fatal(err)
				}
				t1 := time.Now()
				if _, err := through.CallTool(ctx, params); err != nil {
					b.Fatal(err)
				}
				dDirect += t1.Sub(t0)
				dWarden += time.Since(t1)
			}
			n := float64(b.N)
			b.ReportMetric(float64(dDirect.Microseconds())/n, "direct-µs/call")
			b.ReportMetric(float64(dWarden.Microseconds())/n, "warden-µs/call")
			b.ReportMetric(float64(dWarden)/float64(dDirect), "warden/direct")
		})
	}
}
