package policy

import (
	"encoding/json"
	"errors"
	"math"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/cedar-policy/cedar-go/types"
)

func TestConvertValue(t *testing.T) {
	mustIP := func(s string) types.Value {
		v, err := types.ParseIPAddr(s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	mustDec := func(s string) types.Value {
		v, err := types.ParseDecimal(s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	deep := any("x")
	for range maxValueDepth + 1 {
		deep = []any{deep}
	}
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		name    string
		in      any
		want    types.Value
		wantErr string
	}{
		{name: "string", in: "x", want: types.String("x")},
		{name: "bool", in: true, want: types.True},
		{name: "int", in: 42, want: types.Long(42)},
		{name: "int8", in: int8(-3), want: types.Long(-3)},
		{name: "int64 min", in: int64(math.MinInt64), want: types.Long(math.MinInt64)},
		{name: "uint32", in: uint32(7), want: types.Long(7)},
		{name: "uint64 max int64", in: uint64(math.MaxInt64), want: types.Long(math.MaxInt64)},
		{name: "uint64 past int64", in: uint64(math.MaxInt64) + 1, wantErr: "exceeds the Long range"},
		{name: "float64 integral", in: 300.0, want: types.Long(300)},
		{name: "float64 negative zero", in: math.Copysign(0, -1), want: types.Long(0)},
		{name: "float32 integral", in: float32(8), want: types.Long(8)},
		{name: "float64 fraction", in: 1.5, wantErr: "not an integer"},
		{name: "float64 NaN", in: math.NaN(), wantErr: "number NaN"},
		{name: "float64 +Inf", in: math.Inf(1), wantErr: "number +Inf"},
		{name: "float64 2^63", in: math.Ldexp(1, 63), wantErr: "exceeds the Long range"},
		{name: "float64 -2^63", in: -math.Ldexp(1, 63), want: types.Long(math.MinInt64)},
		{name: "float64 huge", in: 1e300, wantErr: "exceeds the Long range"},
		{name: "json.Number int", in: json.Number("9223372036854775807"), want: types.Long(math.MaxInt64)},
		{name: "json.Number integral float", in: json.Number("1e3"), want: types.Long(1000)},
		{name: "json.Number fraction", in: json.Number("0.5"), wantErr: "not an integer"},
		{name: "json.Number too big", in: json.Number("9223372036854775808"), wantErr: "exceeds the Long range"},
		{name: "json.Number garbage", in: json.Number("1e999999"), wantErr: "out of range"},
		{name: "[]any", in: []any{"a", 1.0, true}, want: types.NewSet(types.String("a"), types.Long(1), types.True)},
		{name: "[]any duplicates collapse", in: []any{"a", "a"}, want: types.NewSet(types.String("a"))},
		{name: "[]any with a bad element", in: []any{"a", 0.1}, wantErr: "[1]: no Cedar value"},
		{name: "[]string", in: []string{"a", "b"}, want: types.NewSet(types.String("a"), types.String("b"))},
		{name: "[]int", in: []int{1, 2}, want: types.NewSet(types.Long(1), types.Long(2))},
		{name: "[]float64 fraction", in: []float64{1, 2.5}, wantErr: "not an integer"},
		{name: "[]bool", in: []bool{false}, want: types.NewSet(types.False)},
		{name: "empty set", in: []any{}, want: types.NewSet()},
		{name: "record", in: map[string]any{"a": "x", "n": 2.0}, want: types.NewRecord(types.RecordMap{"a": types.String("x"), "n": types.Long(2)})},
		{name: "record with a bad value", in: map[string]any{"a": nil}, wantErr: "a: no Cedar value: null"},
		{name: "map[string]string", in: map[string]string{"a": "b"}, want: types.NewRecord(types.RecordMap{"a": types.String("b")})},
		{name: "entity reference", in: map[string]any{"__entity": map[string]any{"type": "User", "id": "alice"}}, want: types.NewEntityUID("User", "alice")},
		{name: "entity reference without id", in: map[string]any{"__entity": map[string]any{"type": "User"}}, wantErr: "__entity wants"},
		{name: "entity reference with a bad type", in: map[string]any{"__entity": map[string]any{"type": "9x", "id": "a"}}, wantErr: "invalid entity type"},
		{name: "ip extension", in: map[string]any{"__extn": map[string]any{"fn": "ip", "arg": "10.0.0.0/8"}}, want: mustIP("10.0.0.0/8")},
		{name: "decimal extension", in: map[string]any{"__extn": map[string]any{"fn": "decimal", "arg": "1.25"}}, want: mustDec("1.25")},
		{name: "datetime extension", in: map[string]any{"__extn": map[string]any{"fn": "datetime", "arg": "2026-01-02"}}, want: types.NewDatetime(time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC))},
		{name: "duration extension", in: map[string]any{"__extn": map[string]any{"fn": "duration", "arg": "1h30m"}}, want: types.NewDuration(90 * time.Minute)},
		{name: "bad extension argument", in: map[string]any{"__extn": map[string]any{"fn": "ip", "arg": "nope"}}, wantErr: `__extn ip("nope")`},
		{name: "unknown extension", in: map[string]any{"__extn": map[string]any{"fn": "eval", "arg": "x"}}, wantErr: `unknown function "eval"`},
		{name: "__extn beside other keys is a plain record", in: map[string]any{"__extn": "x", "b": "y"}, want: types.NewRecord(types.RecordMap{"__extn": types.String("x"), "b": types.String("y")})},
		{name: "time.Time", in: at, want: types.NewDatetime(at)},
		{name: "time.Duration", in: 5 * time.Second, want: types.NewDuration(5 * time.Second)},
		{name: "netip.Addr", in: netip.MustParseAddr("192.0.2.1"), want: mustIP("192.0.2.1")},
		{name: "netip.Prefix", in: netip.MustParsePrefix("192.0.2.0/24"), want: mustIP("192.0.2.0/24")},
		{name: "zero netip.Addr", in: netip.Addr{}, wantErr: "invalid IP address"},
		{name: "cedar value passes", in: types.NewEntityUID("Role", "x"), want: types.NewEntityUID("Role", "x")},
		{name: "nil", in: nil, wantErr: "null"},
		{name: "struct", in: struct{}{}, wantErr: "unsupported type struct {}"},
		{name: "pointer", in: new(int), wantErr: "unsupported type *int"},
		{name: "too deep", in: deep, wantErr: "nested deeper than 32"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := convertValue(tc.in)
			if tc.wantErr != "" {
				if err == nil || !errors.Is(err, errValue) || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("convertValue(%#v) = %v, %v; want an errValue containing %q", tc.in, got, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("convertValue(%#v): %v", tc.in, err)
			}
			if !got.Equal(tc.want) {
				t.Errorf("convertValue(%#v) = %s, want %s", tc.in, got, tc.want)
			}
		})
	}
}

// FuzzContext feeds arbitrary JSON (as an HTTP caller would send a context)
// through the conversion and a decision: no panic, a deterministic result,
// and a conversion error always denies.
func FuzzContext(f *testing.F) {
	for _, s := range []string{
		`{}`, `{"n": 3}`, `{"n": 1.5}`, `{"env": "prod", "stream": true, "tags": ["a", "b", 2]}`,
		`{"ip": {"__extn": {"fn": "ip", "arg": "10.1.2.3"}}}`, `{"who": {"__entity": {"type": "User", "id": "a"}}}`,
		`{"deep": [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}`, `{"n": 1e400}`, `{"n": -0}`,
		`{"on_behalf_of": "x"}`, `{"x": null}`, `{"t": {"__extn": {"fn": "datetime", "arg": "2024-13-40"}}}`,
	} {
		f.Add([]byte(s))
	}
	c := mustCompile(f, testBundle(nil))
	f.Fuzz(func(t *testing.T, data []byte) {
		dec := json.NewDecoder(strings.NewReader(string(data)))
		dec.UseNumber()
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			return
		}
		r1, err1 := convertRecord(m)
		r2, err2 := convertRecord(m)
		if (err1 == nil) != (err2 == nil) || (err1 == nil && !r1.Equal(r2)) {
			t.Fatalf("conversion not deterministic: %v/%v", err1, err2)
		}
		if err1 != nil && !errors.Is(err1, errValue) {
			t.Fatalf("conversion error %v does not wrap errValue", err1)
		}
		d := c.decide(Request{Principal: user("wendy", "writer"), Action: "doc:write", Resource: doc("d1", 1), Context: m}, testClock())
		if (err1 != nil || m["on_behalf_of"] != nil) && d.Allowed {
			t.Fatalf("context %s: allowed despite %v", data, err1)
		}
		if len(d.Errors) > 0 && d.Allowed {
			t.Fatalf("allowed with errors %q", d.Errors)
		}
	})
}
