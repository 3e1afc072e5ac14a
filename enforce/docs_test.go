package enforce_test

import (
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/wardenhq/warden/enforce"
)

// TestDocsNameEveryOption keeps docs/enforce.md in step with the
// configuration: every exported field of Config and of the types it holds
// is named there.
func TestDocsNameEveryOption(t *testing.T) {
	doc, err := os.ReadFile("../docs/enforce.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []any{enforce.Config{}, enforce.Issuer{}, enforce.ClaimMapping{}, enforce.Bundle{}, enforce.Warden{}, enforce.Audit{}} {
		typ := reflect.TypeOf(v)
		for i := range typ.NumField() {
			if f := typ.Field(i); f.IsExported() && !strings.Contains(string(doc), "`"+f.Name+"`") && !strings.Contains(string(doc), f.Name+"`") && !strings.Contains(string(doc), "`"+f.Name) {
				t.Errorf("docs/enforce.md does not name %s.%s", typ.Name(), f.Name)
			}
		}
	}
	for _, s := range []string{`@risk("high")`, "Decide(", "PrincipalFrom", "Middleware(", "Ready", "Status", "Reload"} {
		if !strings.Contains(string(doc), s) {
			t.Errorf("docs/enforce.md does not mention %s", s)
		}
	}
}
