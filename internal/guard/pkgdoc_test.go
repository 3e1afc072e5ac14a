package guard

import (
	"go/parser"
	"go/token"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestPackageDoc(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), name, nil, parser.PackageClauseOnly|parser.ParseComments)
		if err != nil {
			t.Fatal(err)
		}
		if f.Doc != nil && strings.HasPrefix(f.Doc.Text(), "Package guard ") {
			return
		}
	}
	t.Error("no package doc comment starting with \"Package guard \"")
}

// TestImports: the guard works on bytes, JSON values and streams; it must
// not depend on net/http or on other Warden packages.
func TestImports(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Skipf("go list: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		if dep == "net/http" || (strings.HasPrefix(dep, "github.com/wardenhq/warden/") && !strings.HasSuffix(dep, "/internal/guard")) {
			t.Errorf("guard depends on %s", dep)
		}
	}
}
