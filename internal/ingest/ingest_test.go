package ingest_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wardenhq/warden/internal/audit"
	"github.com/wardenhq/warden/internal/auditship"
	"github.com/wardenhq/warden/internal/cli"
	"github.com/wardenhq/warden/internal/ingest"
	"github.com/wardenhq/warden/internal/issuer"
	"github.com/wardenhq/warden/internal/store"
	"github.com/wardenhq/warden/internal/store/storetest"
)

// warden is Warden's side: an issuer (for client authentication) and the
// ingest handler on a real loopback server over a real store, with its
// own audit log.
type warden struct {
	t       testing.TB
	st      store.Store
	url     string
	handler atomic.Pointer[http.Handler]
	log     *audit.Log
}

func newWarden(t testing.TB, b *storetest.Backend) *warden {
	t.Helper()
	ctx := context.Background()
	w := &warden{t: t, st: b.Open(t)}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	w.url = "http://" + ln.Addr().String()
	w.serve(w.build(ctx, w.st))
	srv := &httptest.Server{Listener: ln, Config: &http.Server{ReadHeaderTimeout: 5 * time.Second,
		Handler: http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) { (*w.handler.Load()).ServeHTTP(rw, r) })}}
	srv.Start()
	t.Cleanup(srv.Close)
	return w
}

// build makes an ingest handler over st.
func (w *warden) build(ctx context.Context, st store.Store) http.Handler {
	t := w.t
	keys, err := issuer.NewKeyRing(ctx, issuer.KeyRingConfig{Store: st.Issuer(), KEK: []byte("0123456789abcdef0123456789abcdef"), MaxTTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	revs, err := issuer.NewRevocations(ctx, st.Issuer(), nil)
	if err != nil {
		t.Fatal(err)
	}
	iss, err := issuer.New(ctx, issuer.Config{Issuer: w.url, Audiences: []string{"warden"}, Store: st.Issuer(), Keys: keys, Revocations: revs})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { iss.Close() })
	log, err := audit.New(ctx, audit.Config{Store: st, Node: "warden-1"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { log.Close(context.Background()) })
	if w.log == nil {
		w.log = log
	}
	h, err := ingest.New(ingest.Config{Store: st, Issuer: iss, Audit: log})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func (w *warden) serve(h http.Handler) { w.handler.Store(&h) }

func (w *warden) addClient(id string, scopes ...string) string {
	w.t.Helper()
	secret, h, err := issuer.NewSecret(issuer.SecretPrefix)
	if err != nil {
		w.t.Fatal(err)
	}
	if err := w.st.Issuer().AddClient(context.Background(), store.Client{ID: id, SecretHash: h, Scopes: scopes, Created: time.Now()}); err != nil {
		w.t.Fatal(err)
	}
	return secret
}

// service is a service's local decision log: an audit.Log on its own
// SQLite store, under its chain name.
type service struct {
	st   store.Store
	log  *audit.Log
	node string
}

func newService(t testing.TB, clientID string) *service {
	t.Helper()
	st := storetest.NewSQLite(t).Open(t)
	node := auditship.NodeFor(clientID)
	log, err := audit.New(context.Background(), audit.Config{Store: st, Node: node})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { log.Close(context.Background()) })
	return &service{st: st, log: log, node: node}
}

// decide writes n decision records.
func (s *service) decide(t testing.TB, n int) {
	t.Helper()
	for i := range n {
		rec := audit.Record{RequestID: audit.NewRequestID(time.Now()), Subject: "alice", ClientID: "billing", Action: "record:read",
			ResourceType: "Record", ResourceID: fmt.Sprint("r", i), Decision: audit.Allow, Route: "records", Phase: audit.PhaseDecision}
		if err := s.log.Append(context.Background(), rec); err != nil {
			t.Fatal(err)
		}
	}
}

// rows returns the service's stored rows as wire rows.
func (s *service) rows(t *testing.T, after uint64, n int) []auditship.Row {
	t.Helper()
	got, err := s.st.Audit().Range(context.Background(), s.node, after, n)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]auditship.Row, len(got))
	for i, r := range got {
		out[i] = auditship.Row{Seq: r.Seq, PrevHash: r.PrevHash, Hash: r.Hash, Record: r.Record}
	}
	return out
}

func (w *warden) shipper(t *testing.T, s *service, id, secret string) *auditship.Shipper {
	t.Helper()
	sh, err := auditship.New(auditship.Config{Store: s.st.Audit(), Node: s.node, URL: w.url, ClientID: id, ClientSecret: secret, BatchRows: 4,
		Interval: 10 * time.Millisecond, MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return sh
}

// verify runs `warden audit verify` on Warden's store for node.
func (w *warden) verify(t *testing.T, url, node string) string {
	t.Helper()
	var out, errb bytes.Buffer
	code := cli.Run(context.Background(), []string{"audit", "verify", "--store", url, "--node", node}, cli.IO{Stdout: &out, Stderr: &errb})
	if code != 0 {
		t.Fatalf("warden audit verify --node %s: exit %d\n%s%s", node, code, out.String(), errb.String())
	}
	return out.String()
}

// TestShipAndVerify: a service's chain shipped in batches arrives whole,
// further records follow, and `warden audit verify` passes on it.
func TestShipAndVerify(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, b *storetest.Backend) {
		w := newWarden(t, b)
		secret := w.addClient("billing", auditship.Scope)
		s := newService(t, "billing")
		s.decide(t, 10)
		sh := w.shipper(t, s, "billing", secret)
		ctx := context.Background()
		if err := sh.Sync(ctx); err != nil {
			t.Fatal(err)
		}
		if st := sh.Stats(); st.Acked != 10 || st.Shipped != 10 || st.Batches != 4 || st.LastErr != "" {
			t.Fatalf("stats after the first sync: %+v (want 10 acked in 1 probe + 3 batches)", st)
		}
		s.decide(t, 3)
		if err := sh.Sync(ctx); err != nil {
			t.Fatal(err)
		}
		rep, err := audit.Verify(ctx, w.st, s.node)
		if err != nil || !rep.OK() || rep.Records != 13 || rep.Head == nil || rep.Head.Seq != 13 {
			t.Fatalf("Verify = %+v, %v", rep, err)
		}
		out := w.verify(t, b.URL, s.node)
		if !strings.Contains(out, "OK") || !strings.Contains(out, "svc.billing: 13 records intact") {
			t.Fatalf("verify output:\n%s", out)
		}
		// Warden recorded each request in its own chain.
		if err := w.log.Sync(ctx); err != nil {
			t.Fatal(err)
		}
		recs, err := audit.Query(ctx, w.st, audit.Filter{Action: ingest.Action, Limit: 100})
		if err != nil || len(recs) < 5 || recs[0].Record.ClientID != "billing" || recs[0].Record.Decision != audit.Allow {
			t.Fatalf("Warden's ingest records: %d, %v", len(recs), err)
		}

		// Run ships what is written next without being asked.
		rctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- sh.Run(rctx) }()
		s.decide(t, 2)
		deadline := time.Now().Add(5 * time.Second)
		for sh.Stats().Acked != 15 {
			if time.Now().After(deadline) {
				t.Fatalf("Run did not ship: %+v", sh.Stats())
			}
			time.Sleep(10 * time.Millisecond)
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("Run = %v", err)
		}
	})
}

// post sends a raw batch and decodes the answer.
func (w *warden) post(t *testing.T, id, secret string, body any, hdr ...string) (int, auditship.Response, http.Header) {
	t.Helper()
	var raw []byte
	switch b := body.(type) {
	case []byte:
		raw = b
	default:
		var err error
		if raw, err = json.Marshal(b); err != nil {
			t.Fatal(err)
		}
	}
	req, _ := http.NewRequest(http.MethodPost, w.url+ingest.Path, bytes.NewReader(raw))
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	if id != "" {
		req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	var ans auditship.Response
	if err := json.Unmarshal(data, &ans); err != nil {
		t.Fatalf("answer %d %q is not JSON", resp.StatusCode, data)
	}
	return resp.StatusCode, ans, resp.Header
}

// TestIngestChecks: what the endpoint accepts and refuses, and why.
func TestIngestChecks(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, b *storetest.Backend) {
		w := newWarden(t, b)
		secret := w.addClient("billing", auditship.Scope)
		otherSecret := w.addClient("search", auditship.Scope)
		noScope := w.addClient("reader", "trace:read")
		s := newService(t, "billing")
		s.decide(t, 6)
		rows := s.rows(t, 0, 6)
		batch := func(rs ...auditship.Row) auditship.Batch { return auditship.Batch{Node: s.node, Rows: rs} }

		// A good start, then an idempotent re-send, then an overlap.
		if code, ans, _ := w.post(t, "billing", secret, batch(rows[:3]...)); code != 200 || ans.Accepted != 3 || ans.Head.Seq != 3 || !bytes.Equal(ans.Head.Hash, rows[2].Hash) {
			t.Fatalf("first batch: %d %+v", code, ans)
		}
		if code, ans, _ := w.post(t, "billing", secret, batch(rows[:3]...)); code != 200 || ans.Accepted != 0 || ans.Duplicates != 3 || ans.Head.Seq != 3 {
			t.Fatalf("re-sent batch: %d %+v", code, ans)
		}
		if code, ans, _ := w.post(t, "billing", secret, batch(rows[1:5]...)); code != 200 || ans.Accepted != 2 || ans.Duplicates != 2 || ans.Head.Seq != 5 {
			t.Fatalf("overlapping batch: %d %+v", code, ans)
		}

		tampered := rows[5]
		tampered.Record = bytes.Replace(bytes.Clone(tampered.Record), []byte(`"allow"`), []byte(`"deny"`), 1)
		rehashed := tampered
		rehashed.Hash = bytes.Repeat([]byte{7}, 32)
		badLink := rows[5]
		badLink.PrevHash = bytes.Repeat([]byte{1}, 32)
		changedDup := rows[4]
		changedDup.Record = tampered.Record
		otherService := newService(t, "search")
		otherService.decide(t, 1)
		// A record of another chain, re-hashed to link here: its node differs.
		foreign := otherService.rows(t, 0, 1)[0]
		foreign.Seq, foreign.PrevHash = 6, rows[4].Hash
		foreign.Hash = sha(foreign.PrevHash, foreign.Record)

		for _, tc := range []struct {
			name       string
			id, secret string
			body       any
			hdr        []string
			want       int
			code       string
			head       uint64 // for 409
		}{
			{"no credentials", "", "", batch(rows[5]), nil, 401, "unauthorized", 0},
			{"wrong secret", "billing", "wcs_nope", batch(rows[5]), nil, 401, "unauthorized", 0},
			{"client without the scope", "reader", noScope, auditship.Batch{Node: "svc.reader", Rows: []auditship.Row{}}, nil, 403, "forbidden", 0},
			{"another client's chain", "search", otherSecret, batch(rows[5]), nil, 403, "forbidden", 0},
			{"Warden's own chain", "billing", secret, auditship.Batch{Node: "warden-1", Rows: []auditship.Row{}}, nil, 403, "forbidden", 0},
			{"tampered record", "billing", secret, batch(tampered), nil, 422, auditship.CodeBadChain, 0},
			{"tampered and re-hashed", "billing", secret, batch(rehashed), nil, 422, auditship.CodeBadChain, 0},
			{"record of another node", "billing", secret, batch(foreign), nil, 422, auditship.CodeBadChain, 0},
			{"broken link to the head", "billing", secret, batch(badLink), nil, 409, auditship.CodeConflict, 5},
			{"gap", "billing", secret, batch(auditship.Row{Seq: 8, PrevHash: rows[5].Hash, Hash: rows[5].Hash, Record: rows[5].Record}), nil, 409, auditship.CodeConflict, 5},
			{"re-sent row that differs", "billing", secret, batch(changedDup), nil, 409, auditship.CodeConflict, 5},
			{"not consecutive", "billing", secret, batch(rows[3], rows[5]), nil, 400, "invalid_request", 0},
			{"unknown member", "billing", secret, []byte(`{"node":"svc.billing","rows":[],"extra":1}`), nil, 400, "invalid_request", 0},
			{"no rows member", "billing", secret, []byte(`{"node":"svc.billing"}`), nil, 400, "invalid_request", 0},
			{"trailing data", "billing", secret, []byte(`{"node":"svc.billing","rows":[]} {}`), nil, 400, "invalid_request", 0},
			{"short hash", "billing", secret, []byte(`{"node":"svc.billing","rows":[{"seq":6,"prev_hash":"AAAA","hash":"AAAA","record":"e30="}]}`), nil, 400, "invalid_request", 0},
			{"too many rows", "billing", secret, batch(make([]auditship.Row, auditship.MaxBatchRows+1)...), nil, 400, "invalid_request", 0},
			{"body too large", "billing", secret, append([]byte(`{"node":"`), bytes.Repeat([]byte("a"), auditship.MaxBodyBytes)...), nil, 413, "request_too_large", 0},
			{"not JSON", "billing", secret, batch(), []string{"Content-Type", "text/plain"}, 415, "invalid_request", 0},
		} {
			t.Run(tc.name, func(t *testing.T) {
				code, ans, hdr := w.post(t, tc.id, tc.secret, tc.body, tc.hdr...)
				if code != tc.want || ans.Error == nil || ans.Error.Code != tc.code || ans.Error.RequestID == "" || ans.Error.RequestID != hdr.Get("X-Request-Id") {
					t.Fatalf("got %d %+v, want %d %s", code, ans.Error, tc.want, tc.code)
				}
				if code == 401 && !strings.HasPrefix(hdr.Get("WWW-Authenticate"), "Basic ") {
					t.Errorf("401 without a Basic challenge")
				}
				if code == 409 && (ans.Head.Seq != tc.head || !bytes.Equal(ans.Head.Hash, rows[tc.head-1].Hash)) {
					t.Errorf("409 head %+v, want seq %d", ans.Head, tc.head)
				}
			})
		}
		// After all that, the chain is intact and the good row still fits.
		if code, ans, _ := w.post(t, "billing", secret, batch(rows[5])); code != 200 || ans.Accepted != 1 || ans.Head.Seq != 6 {
			t.Fatalf("last good row: %d %+v", code, ans)
		}
		if rep, err := audit.Verify(context.Background(), w.st, s.node); err != nil || !rep.OK() || rep.Records != 6 {
			t.Fatalf("Verify = %+v, %v", rep, err)
		}
		req, _ := http.NewRequest(http.MethodGet, w.url+ingest.Path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != http.MethodPost {
			t.Fatalf("GET: %d Allow %q", resp.StatusCode, resp.Header.Get("Allow"))
		}
	})
}

// TestShipperResumesAfterConflict: Warden's head is behind what the
// shipper believes (Warden's store was restored from an older copy); the
// 409 carries the head and the shipper resends from there.
func TestShipperResumesAfterConflict(t *testing.T) {
	w := newWarden(t, storetest.NewSQLite(t))
	secret := w.addClient("billing", auditship.Scope)
	s := newService(t, "billing")
	s.decide(t, 5)
	sh := w.shipper(t, s, "billing", secret)
	ctx := context.Background()
	if err := sh.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	// A second Warden store holding only the first 3 rows, with the same
	// client, now serves the endpoint.
	restored := storetest.NewSQLite(t).Open(t)
	local, _ := s.st.Audit().Range(ctx, s.node, 0, 3)
	if err := restored.Audit().Append(ctx, s.node, local); err != nil {
		t.Fatal(err)
	}
	c, _ := w.st.Issuer().Client(ctx, "billing")
	if err := restored.Issuer().AddClient(ctx, *c); err != nil {
		t.Fatal(err)
	}
	w.serve(w.build(ctx, restored))
	s.decide(t, 3)
	if err := sh.Sync(ctx); err != nil {
		t.Fatalf("Sync after the restore: %v (%+v)", err, sh.Stats())
	}
	if st := sh.Stats(); st.Conflicts != 1 || st.Acked != 8 {
		t.Fatalf("stats %+v, want one conflict and 8 acked", st)
	}
	if rep, err := audit.Verify(ctx, restored, s.node); err != nil || !rep.OK() || rep.Records != 8 {
		t.Fatalf("Verify = %+v, %v", rep, err)
	}
}

// TestShipperDivergence: Warden holds a different chain under the node
// (the service's local store was replaced); the shipper stops with
// ErrDiverged instead of writing a fork.
func TestShipperDivergence(t *testing.T) {
	w := newWarden(t, storetest.NewSQLite(t))
	secret := w.addClient("billing", auditship.Scope)
	ctx := context.Background()
	first := newService(t, "billing")
	first.decide(t, 3)
	if err := w.shipper(t, first, "billing", secret).Sync(ctx); err != nil {
		t.Fatal(err)
	}
	second := newService(t, "billing")
	second.decide(t, 5)
	sh := w.shipper(t, second, "billing", secret)
	if err := sh.Sync(ctx); !errors.Is(err, auditship.ErrDiverged) {
		t.Fatalf("Sync = %v, want ErrDiverged", err)
	}
	if err := sh.Run(ctx); !errors.Is(err, auditship.ErrDiverged) {
		t.Fatalf("Run = %v, want ErrDiverged", err)
	}
	// A shorter local chain under the same name (a second replica sharing
	// the client, or a lost local store) is a divergence too.
	shorter := newService(t, "billing")
	shorter.decide(t, 2)
	if err := w.shipper(t, shorter, "billing", secret).Sync(ctx); !errors.Is(err, auditship.ErrDiverged) {
		t.Fatalf("Sync of a shorter chain = %v, want ErrDiverged", err)
	}
	if err := w.shipper(t, newService(t, "billing"), "billing", secret).Sync(ctx); !errors.Is(err, auditship.ErrDiverged) {
		t.Fatalf("Sync of an empty chain = %v, want ErrDiverged", err)
	}
	// A shipper with the wrong scope is refused for good.
	noScope := w.addClient("other")
	third := newService(t, "other")
	third.decide(t, 1)
	var re *auditship.RejectedError
	if err := w.shipper(t, third, "other", noScope).Sync(ctx); !errors.As(err, &re) || re.Status != 403 {
		t.Fatalf("Sync without the scope = %v, want a 403 RejectedError", err)
	}
}

func sha(prev, rec []byte) []byte {
	h := sha256.New()
	h.Write(prev)
	h.Write(rec)
	return h.Sum(nil)
}
