package mcpdemo

import (
	"encoding/json"
	"testing"
)

// FuzzIsInitialize feeds isInitialize arbitrary bodies: it never panics,
// and a body it calls an initialize is valid JSON.
func FuzzIsInitialize(f *testing.F) {
	for _, s := range []string{
		`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}`,
		`[{"jsonrpc":"2.0","id":1,"method":"tools/list"},{"jsonrpc":"2.0","id":2,"method":"initialize"}]`,
		`{"method":"tools/call"}`, `[`, ` [] `, `null`, `{"method":1}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		if isInitialize(body) && !json.Valid(body) {
			t.Errorf("isInitialize(%q) = true for invalid JSON", body)
		}
	})
}

func TestIsInitialize(t *testing.T) {
	for body, want := range map[string]bool{
		`{"jsonrpc":"2.0","id":1,"method":"initialize"}`:     true,
		` [{"method":"tools/list"},{"method":"initialize"}]`: true,
		`{"jsonrpc":"2.0","id":1,"method":"tools/call"}`:     false,
		`{"jsonrpc":"2.0","id":1,"method":"Initialize"}`:     false,
		`[{"method":"tools/list"}]`:                          false,
		`{"method":"initialize"`:                             false,
		``:                                                   false,
	} {
		if got := isInitialize([]byte(body)); got != want {
			t.Errorf("isInitialize(%q) = %v, want %v", body, got, want)
		}
	}
}
