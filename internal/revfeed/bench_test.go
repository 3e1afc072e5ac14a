package revfeed_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/wardenhq/warden/internal/revfeed"
)

// BenchmarkRevoked is the request-path cost: a lookup in a set of 1,000
// revocations (the verifier asks for the jti and the sid of each token).
func BenchmarkRevoked(b *testing.B) {
	entries := make([]revfeed.Entry, revfeed.MaxPageItems)
	for i := range entries {
		entries[i] = revfeed.Entry{ID: fmt.Sprintf("jti-%06d", i), Exp: time.Now().Add(time.Hour).Unix()}
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("since") != "" {
			<-r.Context().Done()
			return
		}
		_ = json.NewEncoder(w).Encode(revfeed.Page{Cursor: "e.1", Reset: true, Revoked: entries})
	}))
	f, err := revfeed.New(revfeed.Config{URL: srv.URL, ClientID: "svc", ClientSecret: "s"})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = f.Run(ctx); close(done) }()
	defer func() { cancel(); <-done; srv.Close() }()
	<-f.Synced()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if f.Revoked("jti-not-there") || !f.Revoked(entries[i%len(entries)].ID) {
				b.Fatal("wrong answer")
			}
			i++
		}
	})
}
