package mcp

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/cedar-policy/cedar-go/types"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		batch bool
		n     int
		code  int // 0: accepted
	}{
		{"request", `{"jsonrpc":"2.0","id":1,"method":"ping"}`, false, 1, 0},
		{"string id", `{"jsonrpc":"2.0","id":"a","method":"ping","params":{}}`, false, 1, 0},
		{"notification", `{"jsonrpc":"2.0","method":"notifications/initialized"}`, false, 1, 0},
		{"response", `{"jsonrpc":"2.0","id":1,"result":{}}`, false, 1, 0},
		{"batch", `[{"jsonrpc":"2.0","id":1,"method":"ping"},{"jsonrpc":"2.0","id":"1","method":"ping"}]`, true, 2, 0},
		{"white space", " \n{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}\n", false, 1, 0},
		{"not JSON", `{"jsonrpc"`, false, 0, CodeParseError},
		{"two values", `{"jsonrpc":"2.0","id":1,"method":"ping"} {}`, false, 0, CodeParseError},
		{"invalid UTF-8", "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"p\xffing\"}", false, 0, CodeParseError},
		{"duplicate member", `{"jsonrpc":"2.0","id":1,"id":2,"method":"ping"}`, false, 0, CodeParseError},
		{"duplicate nested member", `{"jsonrpc":"2.0","id":1,"method":"x","params":{"a":{"b":1,"b":2}}}`, false, 0, CodeParseError},
		{"case-variant duplicate member", `{"jsonrpc":"2.0","id":1,"method":"x","params":{"name":"a","Name":"b"}}`, false, 0, CodeParseError},
		{"Kelvin-sign duplicate member", `{"jsonrpc":"2.0","id":1,"method":"x","params":{"k":1,"\u212a":2}}`, false, 0, CodeParseError},
		{"escaped duplicate member", `{"jsonrpc":"2.0","id":1,"method":"ping","\u006dethod":"x"}`, false, 0, CodeParseError},
		{"no jsonrpc", `{"id":1,"method":"ping"}`, false, 0, CodeInvalidRequest},
		{"jsonrpc number", `{"jsonrpc":2.0,"id":1,"method":"ping"}`, false, 0, CodeInvalidRequest},
		{"unknown member", `{"jsonrpc":"2.0","id":1,"method":"ping","extra":1}`, false, 0, CodeInvalidRequest},
		{"case-variant member", `{"jsonrpc":"2.0","ID":1,"method":"ping"}`, false, 0, CodeInvalidRequest},
		{"null id", `{"jsonrpc":"2.0","id":null,"method":"ping"}`, false, 0, CodeInvalidRequest},
		{"fraction id", `{"jsonrpc":"2.0","id":1.5,"method":"ping"}`, false, 0, CodeInvalidRequest},
		{"object id", `{"jsonrpc":"2.0","id":{},"method":"ping"}`, false, 0, CodeInvalidRequest},
		{"long id", `{"jsonrpc":"2.0","id":"` + strings.Repeat("x", 300) + `","method":"ping"}`, false, 0, CodeInvalidRequest},
		{"method not string", `{"jsonrpc":"2.0","id":1,"method":1}`, false, 0, CodeInvalidRequest},
		{"empty method", `{"jsonrpc":"2.0","id":1,"method":""}`, false, 0, CodeInvalidRequest},
		{"array params", `{"jsonrpc":"2.0","id":1,"method":"ping","params":[]}`, false, 0, CodeInvalidRequest},
		{"request with result", `{"jsonrpc":"2.0","id":1,"method":"ping","result":{}}`, false, 0, CodeInvalidRequest},
		{"response without id", `{"jsonrpc":"2.0","result":{}}`, false, 0, CodeInvalidRequest},
		{"response with both", `{"jsonrpc":"2.0","id":1,"result":{},"error":{}}`, false, 0, CodeInvalidRequest},
		{"not an object", `"ping"`, false, 0, CodeInvalidRequest},
		{"empty batch", `[]`, true, 0, CodeInvalidRequest},
		{"batch of non-objects", `[1]`, true, 0, CodeInvalidRequest},
		{"duplicate batch ids", `[{"jsonrpc":"2.0","id":1,"method":"ping"},{"jsonrpc":"2.0","id":1,"method":"ping"}]`, true, 0, CodeInvalidRequest},
		{"duplicate escaped string ids", `[{"jsonrpc":"2.0","id":"a","method":"ping"},{"jsonrpc":"2.0","id":"\u0061","method":"ping"}]`, true, 0, CodeInvalidRequest},
		{"too large a batch", "[" + strings.Repeat(`{"jsonrpc":"2.0","method":"ping"},`, 4) + `{"jsonrpc":"2.0","method":"ping"}]`, true, 0, CodeInvalidRequest},
		{"too deep", `{"jsonrpc":"2.0","id":1,"method":"x","params":` + strings.Repeat(`{"a":`, 10) + "1" + strings.Repeat("}", 10) + "}", false, 0, CodeInvalidRequest},
		{"too large", `{"jsonrpc":"2.0","id":1,"method":"x","params":{"a":"` + strings.Repeat("a", 600) + `"}}`, false, 0, CodeInvalidRequest},
	}
	lim := Limits{MaxMessageBytes: 512, MaxBatch: 4, MaxDepth: 8}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			msgs, batch, err := Parse([]byte(tc.in), lim)
			if tc.code != 0 {
				var re *RPCError
				if !errors.As(err, &re) || re.Code != tc.code {
					t.Fatalf("err = %v, want code %d", err, tc.code)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if batch != tc.batch || len(msgs) != tc.n {
				t.Errorf("batch %t, %d messages; want %t, %d", batch, len(msgs), tc.batch, tc.n)
			}
		})
	}
}

func TestCheckName(t *testing.T) {
	for name, ok := range map[string]bool{
		"search": true, "delete_records": true, "get-item.v2": true, "ünïcode": true,
		"": false, "a/b": false, `a\b`: false, "..": false, "a..b": false, "a b": false, "a\tb": false,
		"a\x00": false, "a\u200b": false, "a\u202e": false, strings.Repeat("a", MaxNameBytes+1): false, "a\xff": false,
	} {
		if err := checkName(name); (err == nil) != ok {
			t.Errorf("checkName(%q) = %v, want ok=%t", name, err, ok)
		}
	}
	for uri, ok := range map[string]bool{
		"file:///docs/a.md": true, "https://x.test/a?b=c": true, "db://t/1": true,
		"": false, "docs/a.md": false, "file:///a b": false, "file:///a\n": false, "https://" + strings.Repeat("a", MaxURIBytes): false,
	} {
		if err := checkURI(uri); (err == nil) != ok {
			t.Errorf("checkURI(%q) = %v, want ok=%t", uri, err, ok)
		}
	}
}

func TestCedarArguments(t *testing.T) {
	tests := []struct {
		in   string
		want types.Value // of member "v"; nil: the member is dropped
		err  bool
	}{
		{`{"v":"prod"}`, types.String("prod"), false},
		{`{"v":true}`, types.Boolean(true), false},
		{`{"v":42}`, types.Long(42), false},
		{`{"v":1e2}`, types.Long(100), false},
		{`{"v":-9223372036854775808}`, types.Long(-1 << 63), false},
		{`{"v":9223372036854775808}`, nil, true},
		{`{"v":1.5}`, mustDecimal(t, "1.5"), false},
		{`{"v":0.0001}`, mustDecimal(t, "0.0001"), false},
		{`{"v":1.50000}`, mustDecimal(t, "1.5"), false},
		{`{"v":0.00001}`, nil, true},
		{`{"v":1e300}`, nil, true},
		{`{"v":null}`, nil, false},
		{`{"v":["a",1]}`, types.NewSet(types.String("a"), types.Long(1)), false},
		{`{"v":["a",null]}`, nil, true},
		{`{"v":{"w":null,"x":"y"}}`, types.NewRecord(types.RecordMap{"x": types.String("y")}), false},
	}
	for _, tc := range tests {
		args, err := decodeArguments(json.RawMessage(tc.in))
		if err != nil {
			t.Fatalf("%s: %v", tc.in, err)
		}
		rec, err := cedarArguments(args)
		if (err != nil) != tc.err {
			t.Errorf("%s: err = %v, want error %t", tc.in, err, tc.err)
			continue
		}
		if tc.err {
			continue
		}
		got, ok := rec.Get("v")
		switch {
		case tc.want == nil && ok:
			t.Errorf("%s: v = %v, want it dropped", tc.in, got)
		case tc.want != nil && (!ok || !got.Equal(tc.want)):
			t.Errorf("%s: v = %v, want %v", tc.in, got, tc.want)
		}
	}
	cj, _ := canonicalJSON(map[string]any{"b": json.Number("1.50"), "a": "<&>"})
	if string(cj) != `{"a":"<&>","b":1.50}` {
		t.Errorf("canonical JSON = %s", cj)
	}
}

func mustDecimal(t *testing.T, s string) types.Decimal {
	t.Helper()
	d, err := types.ParseDecimal(s)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// FuzzParse: Parse never panics; what it accepts has messages that
// re-parse on their own, and no batch with two equal ids.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x","arguments":{"a":1}}}`,
		`[{"jsonrpc":"2.0","id":1,"method":"ping"},{"jsonrpc":"2.0","method":"notifications/initialized"}]`,
		`{"jsonrpc":"2.0","id":"a","result":{"tools":[]}}`,
		`{"jsonrpc":"2.0","id":1,"id":1}`, `[]`, `{"a":{"b":[1,2,{"c":null}]}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		msgs, batch, err := Parse(b, Limits{MaxMessageBytes: 1 << 16})
		if err != nil {
			var re *RPCError
			if !errors.As(err, &re) {
				t.Fatalf("error %v is not an *RPCError", err)
			}
			return
		}
		seen := map[string]bool{}
		for _, m := range msgs {
			again, _, err := Parse(m.Raw, Limits{MaxMessageBytes: 1 << 16})
			if err != nil || len(again) != 1 || again[0].Method != m.Method {
				t.Fatalf("message %s does not re-parse: %v", m.Raw, err)
			}
			if m.ID != nil {
				if k := idKey(m.ID); batch && seen[k] {
					t.Fatalf("duplicate id %s accepted", m.ID)
				} else {
					seen[k] = true
				}
			}
			if m.Method == "" && m.ID == nil {
				t.Fatalf("accepted a message with neither method nor id: %s", m.Raw)
			}
		}
	})
}

// FuzzArguments: the conversion of arguments never panics.
func FuzzArguments(f *testing.F) {
	f.Add([]byte(`{"env":"prod","n":1.25,"l":[1,"a",{"x":null}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		if _, _, err := Parse(append(append([]byte(`{"jsonrpc":"2.0","id":1,"method":"x","params":`), b...), '}'), Limits{}); err != nil {
			return
		}
		args, err := decodeArguments(b)
		if err != nil {
			return
		}
		_, _ = cedarArguments(args)
		_, _ = canonicalJSON(args)
	})
}

// FuzzRelaySSE: the event-stream relay never panics and never emits a data
// line that did not pass through process.
func FuzzRelaySSE(f *testing.F) {
	f.Add([]byte("event: message\nid: 1\ndata: {\"a\":1}\n\n: comment\ndata: x\ndata: y\r\n\r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		var out strings.Builder
		_ = relaySSE(&out, strings.NewReader(string(b)), 4096, func(d []byte) ([]byte, error) {
			return []byte("OK"), nil
		})
		for _, line := range strings.Split(out.String(), "\n") {
			if d, ok := strings.CutPrefix(line, "data: "); ok && d != "OK" && strings.TrimSpace(d) != "" {
				t.Fatalf("unprocessed data line %q", line)
			}
		}
	})
}

// BenchmarkParse is the strict parse of a typical tools/call body.
func BenchmarkParse(b *testing.B) {
	body := []byte(`{"jsonrpc":"2.0","id":17,"method":"tools/call","params":{"name":"search","arguments":{"query":"reindex the support corpus","env":"prod","limit":20},"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28"}}}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := Parse(body, Limits{}); err != nil {
			b.Fatal(err)
		}
	}
}
