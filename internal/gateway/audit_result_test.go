package gateway_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/wardenhq/warden/internal/audit"
)

// TestAuditResultRecord: every proxied request gets, after its decision
// record, a result record with the same request and decision ids, the
// upstream status (or the gateway's own on 502/504), the total latency and
// the response-phase guards; the chain still verifies.
func TestAuditResultRecord(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	ritaTok, eveTok := f.token(t, rita), f.token(t, eve)
	streamBody := `{"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":"hi"}]}`
	tests := []struct {
		name        string
		method      string
		path        string
		token       string
		body        string
		wantStatus  int    // what the client got
		wantUp      int    // result record's UpstreamStatus
		wantCode    string // result record's ErrorCode
		wantGuard   string // "detector/action" of the response guard, "" for none
		minLatency  time.Duration
		wantMatches int // response guard hits of the detector
	}{
		{"JSON chat", "POST", "/v1/chat/completions", ritaTok, chatBody, 200, 200, "", "email/redact", 0, 1},
		{"SSE chat, after the stream ended", "POST", "/v1/chat/completions", ritaTok, streamBody, 200, 200, "", "email/redact", 0, 1},
		{"tool route, not guarded content", "GET", "/api/traces/tr-shared", eveTok, "", 200, 200, "", "", 0, 0},
		{"JSON response blocked", "GET", "/api/traces/tr-key", eveTok, "", 403, 200, "blocked", "private_key/block", 0, 1},
		{"upstream down", "DELETE", "/api/traces/tr-1", eveTok, "", 502, 502, "bad_gateway", "", 0, 0},
		{"upstream timeout", "POST", "/api/traces/tr-1/replay", eveTok, "", 504, 504, "gateway_timeout", "", 200 * time.Millisecond, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := f.do(t, tc.method, tc.path, tc.token, tc.body, nil)
			if res.status != tc.wantStatus {
				t.Fatalf("status = %d, want %d (%s)", res.status, tc.wantStatus, res.body)
			}
			id := res.header.Get("X-Request-Id")
			dec, got := f.recordFor(t, id), f.resultFor(t, id)
			if n := len(f.requestRecords(t, id)); n != 2 {
				t.Fatalf("%d records, want 2", n)
			}
			if got.Decision != audit.Allow || got.DecisionID != dec.DecisionID || got.DecisionID == "" || !got.Time.Equal(dec.Time) ||
				got.Subject != dec.Subject || got.Route != dec.Route || got.Action != dec.Action || got.ResourceID != dec.ResourceID {
				t.Errorf("result record does not match its decision:\n result %+v\n decision %+v", got, dec)
			}
			if got.Seq <= dec.Seq {
				t.Errorf("result seq %d not after decision seq %d", got.Seq, dec.Seq)
			}
			if got.UpstreamStatus != tc.wantUp || got.ErrorCode != tc.wantCode {
				t.Errorf("upstream status %d, error code %q; want %d, %q", got.UpstreamStatus, got.ErrorCode, tc.wantUp, tc.wantCode)
			}
			if got.Latency <= 0 || got.Latency < dec.Latency || got.Latency < tc.minLatency {
				t.Errorf("latency %v (decision %v), want at least %v and the decision's", got.Latency, dec.Latency, tc.minLatency)
			}
			if dec.UpstreamStatus != 0 || dec.Phase != audit.PhaseDecision {
				t.Errorf("decision record %+v", dec)
			}
			if tc.wantCode != "" && len(got.Errors) == 0 {
				t.Error("failed exchange without a cause in Errors")
			}
			var guards []string
			for _, g := range got.Guards {
				if g.Phase != "response" {
					t.Errorf("guard %+v in the result record is not a response guard", g)
				}
				for d, n := range g.Hits {
					guards = append(guards, d+"/"+g.Action)
					if n != tc.wantMatches {
						t.Errorf("guard %s: %d hits, want %d", d, n, tc.wantMatches)
					}
				}
			}
			if want := tc.wantGuard; strings.Join(guards, ",") != want {
				t.Errorf("response guards %v, want %q", guards, want)
			}
		})
	}

	t.Run("refused request: decision only", func(t *testing.T) {
		res := f.do(t, "POST", "/v1/chat/completions", f.token(t, paul), chatBody, nil)
		if res.status != 403 {
			t.Fatalf("status %d", res.status)
		}
		recs := f.requestRecords(t, res.header.Get("X-Request-Id"))
		if len(recs) != 1 || recs[0].Phase != audit.PhaseDecision || recs[0].Decision != audit.Deny {
			t.Errorf("records %+v, want one deny decision", recs)
		}
	})

	t.Run("stream aborted by a guard", func(t *testing.T) {
		req, _ := http.NewRequest("POST", f.srv.URL+"/v1/completions", strings.NewReader(`{"model":"gpt-4o","prompt":"x","stream":true}`))
		req.Header.Set("Authorization", "Bearer "+ritaTok)
		before := len(f.records(t))
		resp, err := f.srv.Client().Do(req)
		if err == nil { // else aborted before the status line was flushed
			_, _ = io.ReadAll(resp.Body)
			resp.Body.Close()
		}
		// The handler appends the result as the abort unwinds it, which
		// may end after the client saw the connection close.
		var got audit.Record
		deadline := time.Now().Add(5 * time.Second)
		for got.Phase == "" {
			for _, r := range f.records(t)[before:] {
				if r.Route == "completions" && r.Phase == audit.PhaseResult {
					got = r
				}
			}
			if time.Now().After(deadline) {
				t.Fatal("no result record for the aborted stream")
			}
			time.Sleep(5 * time.Millisecond)
		}
		if err == nil && got.RequestID != resp.Header.Get("X-Request-Id") {
			t.Errorf("result of request %s, want %s", got.RequestID, resp.Header.Get("X-Request-Id"))
		}
		if got.UpstreamStatus != 200 || got.ErrorCode != "aborted" || len(got.Errors) == 0 || got.Latency <= 0 {
			t.Errorf("result record %+v", got)
		}
		if len(got.Guards) != 1 || got.Guards[0].Action != "block" || got.Guards[0].Hits["private_key"] != 1 {
			t.Errorf("guards %+v, want the private_key block", got.Guards)
		}
	})

	if err := f.log.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	rep, err := audit.Verify(context.Background(), f.st, "test")
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() {
		t.Fatalf("audit chain does not verify: %v", rep.Problem)
	}
}
