package console

import (
	"bytes"
	"net/url"
	"testing"
	"time"

	"github.com/wardenhq/warden/internal/audit"
)

// FuzzParseCursor: a cursor from the browser either is refused or is exactly
// what formatCursor writes for the position it names.
func FuzzParseCursor(f *testing.F) {
	for _, s := range []string{"1796191984820846042.1.demo", "0.0.a", "1.2.node.with.dots", "-1.2.x", "01.2.x", "1.2.", "1..x", "x", "1.2.a b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := parseCursor(s)
		if err != nil {
			return
		}
		if got := formatCursor(c); got != s {
			t.Fatalf("parseCursor(%q) = %+v, which formats as %q", s, c, got)
		}
	})
}

// FuzzParseFilter: any query string gives a filter within the limits or a
// public error, never a panic.
func FuzzParseFilter(f *testing.F) {
	for _, s := range []string{"", "subject=eve&decision=deny", "since=2026-12-01T12:00:00Z&until=2026-12-01T13:00:00Z",
		"limit=500", "after=1.2.x&route=chat", "decision=maybe", "a=1&a=2", "since=2026-12-01T12:00:00.123456789+01:00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		flt, err := parseFilter(q)
		if err != nil {
			return
		}
		if flt.Limit < 1 || flt.Limit > maxPageSize {
			t.Fatalf("limit %d out of range", flt.Limit)
		}
		if flt.Decision != "" && flt.Decision != audit.Allow && flt.Decision != audit.Deny {
			t.Fatalf("decision %q", flt.Decision)
		}
		if !flt.Since.IsZero() && !flt.Until.IsZero() && !flt.Since.Before(flt.Until) {
			t.Fatalf("since %v not before until %v", flt.Since, flt.Until)
		}
	})
}

// FuzzEvalRequest: a playground body either is refused or names claims, an
// action and a Cedar resource.
func FuzzEvalRequest(f *testing.F) {
	for _, s := range []string{
		`{"claims":{"sub":"eve","roles":["evaluator"]},"action":"trace:read","resource":"Trace::\"t-1\"","attributes":{"tenant":"acme"}}`,
		`{"token":"eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.","action":"a","resource":"T::\"x\""}`,
		`{"claims":null,"action":"a","resource":"A::B::\"x\""}`,
		`{"claims":{},"action":"a","resource":"T::\"\\u0000\"","context":{"n":1e400}}`,
		`{"action":"a"}{}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var req evalRequest
		if err := decodeBody(bytes.NewReader(body), &req); err != nil {
			return
		}
		claims, uid, err := parseEvalRequest(&req)
		if err != nil {
			return
		}
		if claims == nil || req.Action == "" || uid.Type == "" {
			t.Fatalf("accepted %q with claims %v, action %q, resource %v", body, claims, req.Action, uid)
		}
	})
}

// TestCursorRoundTrip: every position formats to a cursor that parses back.
func TestCursorRoundTrip(t *testing.T) {
	for _, c := range []audit.Cursor{
		{Time: time.Unix(0, 0).UTC(), Node: "a", Seq: 0},
		{Time: time.Date(2026, 12, 2, 6, 0, 0, 123, time.UTC), Node: "node.with.dots-and_more", Seq: 1<<64 - 1},
	} {
		got, err := parseCursor(formatCursor(c))
		if err != nil || !got.Time.Equal(c.Time) || got.Node != c.Node || got.Seq != c.Seq {
			t.Errorf("round trip of %+v: %+v, %v", c, got, err)
		}
	}
}
