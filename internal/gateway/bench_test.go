package gateway_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"
)

// BenchmarkGateway compares an allowed chat completion through the gateway
// (JWT verification, policy, request and response guards, a durable audit
// record on SQLite) with a bare httputil.ReverseProxy to the same upstream,
// both over loopback HTTP.
//
// Audit durability "batch" makes every request wait for the group commit
// of its record; "async" only queues it. Parallelism 16 per CPU lets group
// commits form batches.
func BenchmarkGateway(b *testing.B) {
	f := newFixture(b, fixtureOpts{})
	fa := newFixture(b, fixtureOpts{asyncAudit: true})
	tok := f.token(b, rita)
	upURL, err := url.Parse(f.up0URL(b))
	if err != nil {
		b.Fatal(err)
	}
	bare := httptest.NewServer(&httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) { pr.SetURL(upURL) }})
	b.Cleanup(bare.Close)

	run := func(b *testing.B, base, tok string) {
		client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}}
		b.Cleanup(client.CloseIdleConnections)
		b.ReportAllocs()
		b.SetParallelism(16)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				req, _ := http.NewRequest("POST", base+"/v1/chat/completions", strings.NewReader(chatBody))
				req.Header.Set("Authorization", "Bearer "+tok)
				req.Header.Set("Content-Type", "application/json")
				resp, err := client.Do(req)
				if err != nil {
					b.Error(err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					b.Errorf("status %d", resp.StatusCode)
					return
				}
			}
		})
	}
	b.Run("warden-audit-batch", func(b *testing.B) { run(b, f.srv.URL, tok) })
	b.Run("warden-audit-async", func(b *testing.B) { run(b, fa.srv.URL, fa.token(b, rita)) })
	b.Run("bare", func(b *testing.B) { run(b, bare.URL, tok) })
}
