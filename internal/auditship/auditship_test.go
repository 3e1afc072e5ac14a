package auditship_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/wardenhq/warden/internal/auditship"
	"github.com/wardenhq/warden/internal/store/storetest"
)

// The shipping itself is tested against the real endpoint in
// internal/ingest; these are the constructor's checks.
func TestNewValidates(t *testing.T) {
	st := storetest.NewSQLite(t).Open(t).Audit()
	ok := auditship.Config{Store: st, Node: auditship.NodeFor("billing"), URL: "https://warden.example", ClientID: "billing", ClientSecret: "s"}
	for _, tc := range []struct {
		name string
		edit func(*auditship.Config)
	}{
		{"no store", func(c *auditship.Config) { c.Store = nil }},
		{"no node", func(c *auditship.Config) { c.Node = "" }},
		{"no URL", func(c *auditship.Config) { c.URL = "" }},
		{"not http", func(c *auditship.Config) { c.URL = "file:///tmp" }},
		{"URL with a query", func(c *auditship.Config) { c.URL = "https://warden.example?x=1" }},
		{"no client", func(c *auditship.Config) { c.ClientID = "" }},
		{"no secret", func(c *auditship.Config) { c.ClientSecret = "" }},
		{"batch too large", func(c *auditship.Config) { c.BatchRows = auditship.MaxBatchRows + 1 }},
		{"negative batch", func(c *auditship.Config) { c.BatchRows = -1 }},
		{"client without a timeout", func(c *auditship.Config) { c.HTTPClient = &http.Client{} }},
		{"backoffs reversed", func(c *auditship.Config) { c.MinBackoff, c.MaxBackoff = time.Minute, time.Second }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := ok
			tc.edit(&c)
			if _, err := auditship.New(c); err == nil {
				t.Fatal("New accepted it")
			}
		})
	}
	s, err := auditship.New(ok)
	if err != nil {
		t.Fatalf("New = %v", err)
	}
	if st := s.Stats(); st.Acked != 0 || st.Batches != 0 || !st.LastShip.IsZero() {
		t.Fatalf("fresh stats %+v", st)
	}
}

func TestNodeFor(t *testing.T) {
	if got := auditship.NodeFor("billing"); got != "svc.billing" {
		t.Fatalf("NodeFor = %q", got)
	}
}
