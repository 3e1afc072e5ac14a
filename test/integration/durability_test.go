package integration_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wardenhq/warden/internal/echo"
)

// answered is one request the gateway answered: its X-Request-Id and the
// decision its status implies.
type answered struct {
	id, decision string
	status       int
}

// TestKill9Durability runs the gateway with audit durability "batch" on
// SQLite under concurrent allowed and denied load, kills it with SIGKILL
// mid-load, restarts it on the same data directory, and checks that the
// chain verifies (`warden audit verify`) and that every request that received
// an answer has its record in `warden audit export --format jsonl`.
//
// SQLite runs with its default synchronous=full and with synchronous=normal,
// which docs/configuration.md says also survives a killed process.
func TestKill9Durability(t *testing.T) {
	needBinary(t)
	tests := []struct{ name, storeQuery string }{
		{"synchronous=full", ""},
		{"synchronous=normal", "?synchronous=normal"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { testKill9(t, tc.storeQuery) })
	}
}

func testKill9(t *testing.T, storeQuery string) {
	upstream := httptest.NewServer(echo.Handler(echo.Config{}))
	defer upstream.Close()
	e := newEnv(t, upstream.URL, "  durability: batch", storeQuery)
	srv := startServer(t, e.config)

	const (
		workers     = 8
		maxRequests = 20000 // a bound; the kill comes long before
	)
	kinds := []struct {
		persona, model string
		status         int
		decision       string
	}{
		{"eve", "gpt-4o-mini", http.StatusOK, "allow"},
		{"oscar", "gpt-4o", http.StatusForbidden, "deny"},
		{"sam", "claude-sonnet", http.StatusForbidden, "deny"},
		{"erin", "gpt-4o", http.StatusOK, "allow"},
	}
	var (
		mu       sync.Mutex
		got      []answered
		problems []string
		count    atomic.Int64
		cut      atomic.Int64 // requests without an answer because of the kill
		stopping atomic.Bool
	)
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: workers}}
	defer client.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	send := func(i int) (answered, bool) {
		k := kinds[i%len(kinds)]
		body := fmt.Sprintf(`{"model":%q,"messages":[{"role":"user","content":"load %d"}]}`, k.model, i)
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, srv.data+"/v1/chat/completions", strings.NewReader(body))
		if err != nil {
			t.Error(err)
			return answered{}, false
		}
		req.Header.Set("Authorization", "Bearer "+e.tokens[k.persona])
		req.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			if stopping.Load() {
				cut.Add(1)
			} else {
				mu.Lock()
				problems = append(problems, fmt.Sprintf("request %d before the kill: %v", i, err))
				mu.Unlock()
			}
			return answered{}, false
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		a := answered{id: resp.Header.Get("X-Request-Id"), decision: k.decision, status: resp.StatusCode}
		if a.status != k.status || a.id == "" {
			mu.Lock()
			problems = append(problems, fmt.Sprintf("%s %s: status %d, X-Request-Id %q; want %d and an id", k.persona, k.model, a.status, a.id, k.status))
			mu.Unlock()
		}
		return a, true
	}

	var wg sync.WaitGroup
	var next atomic.Int64
	for range workers {
		wg.Go(func() {
			for ctx.Err() == nil {
				i := int(next.Add(1))
				if i > maxRequests {
					return
				}
				a, ok := send(i)
				if !ok {
					if stopping.Load() {
						return
					}
					continue
				}
				mu.Lock()
				got = append(got, a)
				mu.Unlock()
				count.Add(1)
			}
		})
	}
	// Kill mid-load: once a good number of requests were answered (or after
	// 3 s at most), with all workers still sending.
	for deadline := time.Now().Add(3 * time.Second); count.Load() < 1000 && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	stopping.Store(true)
	srv.kill(t)
	wg.Wait()
	if ctx.Err() != nil {
		t.Fatal("the load did not stop within 10s")
	}
	for _, p := range problems {
		t.Error(p)
	}
	problems = nil
	if len(got) < 20 {
		t.Fatalf("only %d requests answered before the kill; want load", len(got))
	}
	t.Logf("%d requests answered before SIGKILL, %d cut off by it", len(got), cut.Load())

	// Restart on the same data directory: the chain continues.
	srv = startServer(t, e.config)
	ctx, cancel = context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	stopping.Store(false)
	for i := range len(kinds) {
		a, ok := send(i)
		if !ok {
			t.Fatal("a request after the restart got no answer")
		}
		got = append(got, a)
	}
	for _, p := range problems {
		t.Fatal(p)
	}
	srv.stop(t)

	out, errOut, code := runWarden(t, "audit", "verify", "--store", e.storeURL)
	if code != 0 {
		t.Fatalf("warden audit verify: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	out, errOut, code = runWarden(t, "audit", "export", "--store", e.storeURL, "--format", "jsonl")
	if code != 0 {
		t.Fatalf("warden audit export: exit %d\n%s", code, errOut)
	}
	// A refused request has one record, its decision; a proxied one also a
	// result record once its response has ended (internal/audit/record.go).
	// The decision is committed before the answer (durability batch); the
	// result, written after the response, may be lost to the kill.
	type key struct{ id, phase string }
	records := map[key]string{} // (request id, phase) -> decision
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(nil, 1<<20)
	n := 0
	for sc.Scan() {
		var line struct {
			Node   string `json:"node"`
			Seq    int    `json:"seq"`
			Record *struct {
				RequestID string `json:"request_id"`
				Phase     string `json:"phase"`
				Decision  string `json:"decision"`
			} `json:"record"`
		}
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil || line.Record == nil {
			t.Fatalf("export line %d: %v: %s", n+1, err, sc.Text())
		}
		n++
		if line.Node != node || line.Seq != n {
			t.Errorf("export line %d: node %q seq %d, want node %q seq %d", n, line.Node, line.Seq, node, n)
		}
		r := line.Record
		k := key{r.RequestID, r.Phase}
		if _, dup := records[k]; dup || r.RequestID == "" || (r.Phase != "decision" && r.Phase != "result") {
			t.Errorf("export line %d: request id %q phase %q: empty, unknown or repeated", n, r.RequestID, r.Phase)
		}
		records[k] = r.Decision
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	for k, d := range records {
		if k.phase != "result" {
			continue
		}
		if dd, ok := records[key{k.id, "decision"}]; !ok || dd != d || d != "allow" {
			t.Errorf("result record of %s (decision %q) without a matching allow decision record (%q, %v)", k.id, d, dd, ok)
		}
	}
	missing := 0
	for _, a := range got {
		d, ok := records[key{a.id, "decision"}]
		switch {
		case !ok:
			missing++
			if missing <= 10 {
				t.Errorf("request %s (status %d) was answered but has no audit record", a.id, a.status)
			}
		case d != a.decision:
			t.Errorf("request %s: audit decision %q, want %q", a.id, d, a.decision)
		}
	}
	if missing > 0 {
		t.Errorf("%d of %d answered requests have no audit record", missing, len(got))
	}
	results := 0
	for _, a := range got {
		if _, ok := records[key{a.id, "result"}]; ok {
			results++
		}
	}
	t.Logf("%d audit records; %d answered requests, all with their decision record; %d of them with a result record", n, len(got), results)
}
