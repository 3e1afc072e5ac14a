package policy_test

import (
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"strings"
	"testing"
)

// TestNoNetHTTP guards the import graph: internal/policy must not import
// net/http, directly or transitively (DESIGN.md §2). Bundle transport lives
// in internal/bundle.
func TestNoNetHTTP(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go not on PATH")
	}
	out, err := exec.Command(goBin, "list", "-deps", "-json=ImportPath,Imports", ".").Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("go list: %v\n%s", err, ee.Stderr)
		}
		t.Fatalf("go list: %v", err)
	}
	imports := make(map[string][]string)
	var self string
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for {
		var p struct {
			ImportPath string
			Imports    []string
		}
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		imports[p.ImportPath] = p.Imports
		self = p.ImportPath // go list -deps prints the package itself last
	}
	if !strings.HasSuffix(self, "/internal/policy") {
		t.Fatalf("go list -deps ended with %q, want internal/policy", self)
	}
	for _, banned := range []string{"net/http"} {
		if _, ok := imports[banned]; !ok {
			continue
		}
		t.Errorf("%s imports %s: %s", self, banned, strings.Join(importPath(imports, self, banned), " → "))
	}
}

// importPath returns one chain of imports from "from" to "to".
func importPath(imports map[string][]string, from, to string) []string {
	prev := map[string]string{from: ""}
	queue := []string{from}
	for len(queue) > 0 {
		cur := queue[0]
		queue = queue[1:]
		if cur == to {
			var chain []string
			for p := to; p != ""; p = prev[p] {
				chain = append([]string{p}, chain...)
			}
			return chain
		}
		for _, next := range imports[cur] {
			if _, seen := prev[next]; !seen {
				prev[next] = cur
				queue = append(queue, next)
			}
		}
	}
	return nil
}
