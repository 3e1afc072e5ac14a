package audit

import (
	"bytes"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// goldenRecord1 is testRecord(1) as node n1, seq 1. It must never change:
// stored chains hash these bytes.
const goldenRecord1 = `{"action":"model:invoke","actors":["agent-7"],"bundle_digest":"sha256:0f1e","bundle_revision":"r42","client_id":"support-bot","client_ip":"192.0.2.10","decision":"allow","decision_id":"dec-0001","guards":[{"action":"redact","hits":{"email":2,"phone":1},"name":"pii","phase":"response"}],"issuer":"https://idp.example","jti":"jti-1","latency_ns":1500000,"method":"POST","node":"n1","path":"/v1/chat/completions","policies":["evaluators-invoke"],"reasons":["evaluators may invoke staging models"],"request_id":"req-0001","resource_id":"gpt-4o","resource_type":"Model","route":"openai-chat","seq":1,"subject":"bob","time":"2026-11-24T10:00:01.000000000Z","upstream_status":200,"v":1}`

func TestCanonicalGolden(t *testing.T) {
	r := testRecord(1)
	r.Node, r.Seq = "n1", 1
	if got := string(r.AppendCanonical(nil)); got != goldenRecord1 {
		t.Fatalf("canonical encoding changed:\n got %s\nwant %s", got, goldenRecord1)
	}
	// Members are in byte order (checked independently of the encoder).
	dec := json.NewDecoder(strings.NewReader(goldenRecord1))
	dec.Token()
	var keys []string
	for dec.More() {
		k, _ := dec.Token()
		keys = append(keys, k.(string))
		var skip json.RawMessage
		dec.Decode(&skip)
	}
	if !slices.IsSorted(keys) || len(keys) != 26 {
		t.Errorf("members not sorted or missing: %v", keys)
	}
	// A record in another time zone encodes identically.
	r.Time = r.Time.In(time.FixedZone("X", 5*3600))
	if got := string(r.AppendCanonical(nil)); got != goldenRecord1 {
		t.Errorf("time zone changes the encoding: %s", got)
	}
}

// goldenRecord2 is a result record (version 2: with a phase) as node n1,
// seq 2. It must never change either.
const goldenRecord2 = `{"action":"model:invoke","decision":"allow","decision_id":"dec-0001","guards":[{"action":"redact","hits":{"email":1},"name":"pii","phase":"response"}],"latency_ns":42000000,"node":"n1","phase":"result","request_id":"req-0001","seq":2,"subject":"bob","time":"2026-11-24T10:00:01.000000000Z","upstream_status":502,"v":2}`

// TestCanonicalVersions: a record without a phase still encodes as version
// 1, byte for byte (goldenRecord1 above), one with a phase as version 2, and
// both decode to what was encoded.
func TestCanonicalVersions(t *testing.T) {
	r := Record{Node: "n1", Seq: 2, Time: t0.Add(time.Second), RequestID: "req-0001", DecisionID: "dec-0001", Phase: PhaseResult,
		Subject: "bob", Action: "model:invoke", Decision: Allow, UpstreamStatus: 502, Latency: 42 * time.Millisecond,
		Guards: []Guard{{Name: "pii", Phase: "response", Action: "redact", Hits: map[string]int{"email": 1}}}}
	if got := string(r.AppendCanonical(nil)); got != goldenRecord2 {
		t.Fatalf("version 2 encoding:\n got %s\nwant %s", got, goldenRecord2)
	}
	for _, golden := range []string{goldenRecord1, goldenRecord2} {
		dec, err := DecodeRecord([]byte(golden))
		if err != nil {
			t.Fatalf("decode %s: %v", golden, err)
		}
		if got := string(dec.AppendCanonical(nil)); got != golden {
			t.Errorf("round trip:\n got %s\nwant %s", got, golden)
		}
	}
	if dec, _ := DecodeRecord([]byte(goldenRecord2)); dec.Phase != PhaseResult || dec.UpstreamStatus != 502 {
		t.Errorf("decoded %+v", dec)
	}
	r.Phase = "later"
	if err := r.validate(); !errors.Is(err, ErrInvalidRecord) {
		t.Errorf("unknown phase: %v, want ErrInvalidRecord", err)
	}
}

func TestCanonicalMinimal(t *testing.T) {
	r := Record{Node: "n", Seq: 7, Decision: Deny, Time: time.Unix(0, 1).UTC()}
	want := `{"decision":"deny","node":"n","seq":7,"time":"1970-01-01T00:00:00.000000001Z","v":1}`
	if got := string(r.AppendCanonical(nil)); got != want {
		t.Fatalf("got %s\nwant %s", got, want)
	}
}

func TestCanonicalStrings(t *testing.T) {
	r := Record{Node: "n", Seq: 1, Decision: Allow, Time: t0,
		Subject: "a\"b\\c\x00\x1f\n\t<>&\u2028é😀", Path: "bad\xffutf8"}
	b := r.AppendCanonical(nil)
	for _, want := range []string{
		`"subject":"a\"b\\c\u0000\u001f\u000a\u0009<>&` + "\u2028é😀" + `"`,
		`"path":"bad` + "\uFFFD" + `utf8"`,
	} {
		if !bytes.Contains(b, []byte(want)) {
			t.Errorf("encoding %s lacks %s", b, want)
		}
	}
	got, err := DecodeRecord(b)
	if err != nil {
		t.Fatal(err)
	}
	if got.Subject != r.Subject || got.Path != "bad\uFFFDutf8" {
		t.Errorf("decoded %q, %q", got.Subject, got.Path)
	}
}

func TestDecodeRoundTrip(t *testing.T) {
	for i := range 7 {
		r := testRecord(i)
		r.Node, r.Seq = "node-a", uint64(i+1)
		b := r.AppendCanonical(nil)
		got, err := DecodeRecord(b)
		if err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
		if diff := cmp.Diff(r, got); diff != "" {
			t.Errorf("record %d (-want +got):\n%s", i, diff)
		}
	}
}

func TestDecodeRejectsNonCanonical(t *testing.T) {
	const min = `{"decision":"deny","node":"n","seq":7,"time":"1970-01-01T00:00:00.000000001Z","v":1}`
	if _, err := DecodeRecord([]byte(min)); err != nil {
		t.Fatalf("canonical minimal record: %v", err)
	}
	cases := map[string]string{
		"white space":          strings.Replace(min, `,"node"`, `, "node"`, 1),
		"member order":         `{"node":"n","decision":"deny","seq":7,"time":"1970-01-01T00:00:00.000000001Z","v":1}`,
		"duplicate member":     strings.Replace(min, `"node":"n"`, `"node":"m","node":"n"`, 1),
		"case-folded member":   strings.Replace(min, `"node"`, `"Node"`, 1),
		"unknown member":       strings.Replace(min, `"v":1`, `"v":1,"x":1`, 1),
		"empty member":         strings.Replace(min, `"node"`, `"jti":"","node"`, 1),
		"empty list":           strings.Replace(min, `"node"`, `"errors":[],"node"`, 1),
		"null list":            strings.Replace(min, `"node"`, `"errors":null,"node"`, 1),
		"other escape":         strings.Replace(min, `"node":"n"`, `"node":"\u006e"`, 1),
		"short time":           strings.Replace(min, `00:00:00.000000001Z`, `00:00:00.000000001+00:00`, 1),
		"number form":          strings.Replace(min, `"seq":7`, `"seq":7.0`, 1),
		"leading zero":         strings.Replace(min, `"seq":7`, `"seq":07`, 1),
		"version 2, no phase":  strings.Replace(min, `"v":1`, `"v":2`, 1),
		"version 1 with phase": strings.Replace(min, `"seq"`, `"phase":"result","seq"`, 1),
		"version 3, no mcp":    strings.Replace(min, `"v":1`, `"v":3`, 1),
		"version 1 with mcp":   strings.Replace(min, `"node"`, `"mcp":{"server":"s"},"node"`, 1),
		"mcp tool_error false": strings.Replace(strings.Replace(min, `"node"`, `"mcp":{"tool_error":false},"node"`, 1), `"v":1`, `"v":3`, 1),
		"mcp unknown member":   strings.Replace(strings.Replace(min, `"node"`, `"mcp":{"x":1},"node"`, 1), `"v":1`, `"v":3`, 1),
		"version 0":            strings.Replace(min, `"v":1`, `"v":0`, 1),
		"unknown phase":        strings.Replace(strings.Replace(min, `"seq"`, `"phase":"later","seq"`, 1), `"v":1`, `"v":2`, 1),
		"empty phase":          strings.Replace(strings.Replace(min, `"seq"`, `"phase":"","seq"`, 1), `"v":1`, `"v":2`, 1),
		"no version":           strings.Replace(min, `,"v":1`, ``, 1),
		"trailing data":        min + " ",
		"two objects":          min + min,
		"bad decision":         strings.Replace(min, `"deny"`, `"maybe"`, 1),
		"seq 0":                strings.Replace(min, `"seq":7`, `"seq":0`, 1),
		"no node":              strings.Replace(min, `"node":"n",`, ``, 1),
		"negative latency":     strings.Replace(min, `"node"`, `"latency_ns":-1,"node"`, 1),
		"not an object":        `[1]`,
		"empty":                ``,
		"unsorted hits":        strings.Replace(min, `"node"`, `"guards":[{"hits":{"b":1,"a":1}}],"node"`, 1),
		"upper-case \\u":       strings.Replace(min, `"node":"n"`, `"node":"n\u001F"`, 1),
		"escaped slash":        strings.Replace(min, `"node":"n"`, `"node":"n\/"`, 1),
		"invalid utf-8":        strings.Replace(min, `"node":"n"`, "\"node\":\"n\xff\"", 1),
		"time before 1970":     strings.Replace(min, `1970-01-01T00:00:00.000000001Z`, `1969-12-31T23:59:59.000000000Z`, 1),
	}
	for name, in := range cases {
		if _, err := DecodeRecord([]byte(in)); err == nil {
			t.Errorf("%s: accepted %s", name, in)
		}
	}
	if _, err := DecodeRecord([]byte(strings.Replace(min, `"v":1`, `"v":4`, 1))); !errors.Is(err, ErrUnsupportedVersion) {
		t.Errorf("version 4: %v, want ErrUnsupportedVersion", err)
	}
}

// goldenRecord3 is an MCP result record (version 3).
const goldenRecord3 = `{"decision":"allow","mcp":{"arguments":"{\"env\":\"prod\"}","arguments_digest":"sha256:ab","method":"tools/call","name":"reindex","rpc_error":-32001,"server":"search","tool_error":true},"node":"n1","phase":"result","seq":3,"time":"2026-11-24T10:00:00.000000000Z","v":3}`

// TestCanonicalVersion3: a record with MCP encodes as version 3 and
// round-trips; records without it keep their versions.
func TestCanonicalVersion3(t *testing.T) {
	r := Record{Node: "n1", Seq: 3, Time: time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC), Phase: PhaseResult, Decision: Allow,
		MCP: &MCP{Server: "search", Method: "tools/call", Name: "reindex", ArgumentsDigest: "sha256:ab", Arguments: `{"env":"prod"}`, ToolError: true, RPCError: -32001}}
	if got := string(r.AppendCanonical(nil)); got != goldenRecord3 {
		t.Fatalf("version 3 encoding:\n got %s\nwant %s", got, goldenRecord3)
	}
	dec, err := DecodeRecord([]byte(goldenRecord3))
	if err != nil {
		t.Fatal(err)
	}
	if dec.MCP == nil || *dec.MCP != *r.MCP {
		t.Fatalf("decoded MCP = %+v, want %+v", dec.MCP, r.MCP)
	}
	r.MCP = nil
	if v := r.version(); v != 2 {
		t.Fatalf("without MCP: version %d, want 2", v)
	}
}

// FuzzRecordDecode: DecodeRecord never panics, and whatever it accepts is
// exactly the canonical encoding of what it returns.
func FuzzRecordDecode(f *testing.F) {
	for i := range 4 {
		r := testRecord(i)
		r.Node, r.Seq = "n1", uint64(i+1)
		f.Add(r.AppendCanonical(nil))
	}
	f.Add([]byte(`{"decision":"deny","node":"n","seq":7,"time":"1970-01-01T00:00:00.000000001Z","v":1}`))
	f.Add([]byte(goldenRecord2))
	f.Add([]byte(`{"subject":"a\u0000\"","decision":"allow","node":"n","seq":1,"time":"2000-01-01T00:00:00.000000000Z","v":1}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := DecodeRecord(b)
		if err != nil {
			return
		}
		if got := r.AppendCanonical(nil); !bytes.Equal(got, b) {
			t.Fatalf("accepted non-canonical input:\n in %q\nout %q", b, got)
		}
		if r.Node == "" || r.Seq == 0 || (r.Decision != Allow && r.Decision != Deny) {
			t.Fatalf("accepted an incomplete record: %+v", r)
		}
	})
}
