package config

import (
	"errors"
	"os"
	"testing"
)

// FuzzParse feeds arbitrary bytes to Parse: it must never panic, and must
// return either a Config or an *ErrorList of at most MaxErrors errors that
// each name the file.
func FuzzParse(f *testing.F) {
	f.Add([]byte(minimal))
	if data, err := os.ReadFile(examplePath); err == nil {
		f.Add(data)
	}
	for _, s := range []string{
		"", "---\n", "a: [1,\n", "x: &a 1\ny: *a\n", "<<: {a: 1}\n", "listen: !!str 1\n",
		"issuers:\n  - {issuer: x, audiences: [a], algorithms: [ES256], keys_file: k}\n",
		"routes:\n  - {name: r, kind: tool, methods: [GET], path: \"/a/{b...}\", action: a:b, resource: {type: T, id: \"{b}\"}, upstream: u}\n",
		"upstreams:\n  - name: u\n    url: http://127.0.0.1\n    headers: {X: {env: E, prefix: p}}\n",
		"limits: {max_body_bytes: 18446744073709551615}\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 16<<10 {
			return
		}
		env := func(string) string { return "v" }
		readFile := func(string) ([]byte, error) { return nil, os.ErrNotExist }
		cfg, err := Parse("f.yaml", data, env, readFile)
		if err == nil {
			if cfg == nil {
				t.Fatal("nil Config without error")
			}
			_ = cfg.String()
			return
		}
		var list *ErrorList
		if !errors.As(err, &list) {
			t.Fatalf("error is %T, not *ErrorList: %v", err, err)
		}
		if len(list.Errors) == 0 || len(list.Errors) > MaxErrors {
			t.Fatalf("%d errors", len(list.Errors))
		}
		for _, e := range list.Errors {
			if e.File != "f.yaml" {
				t.Fatalf("error without the file name: %v", e)
			}
		}
	})
}
