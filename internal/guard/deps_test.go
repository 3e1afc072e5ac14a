package guard

import (
	"os/exec"
	"strings"
	"testing"
)

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
