package ingest_test

import (
	"testing"

	"github.com/wardenhq/warden/internal/auditship"
	"github.com/wardenhq/warden/internal/store/storetest"
	"github.com/wardenhq/warden/internal/testutil"
)

// TestDocsCurl runs the ingest walkthrough of docs/audit.md against a
// real server and compares its output with the documented one.
func TestDocsCurl(t *testing.T) {
	w := newWarden(t, storetest.NewSQLite(t))
	secret := w.addClient("billing", auditship.Scope)
	const doc = "../../docs/audit.md"
	out := testutil.RunDocScript(t, testutil.DocBlock(t, doc, "<!-- ingest-curl -->"), "WARDEN="+w.url, "CLIENT_SECRET="+secret)
	if want := testutil.DocBlock(t, doc, "<!-- ingest-curl-output -->"); out != want {
		t.Errorf("documented output:\n%s\nactual:\n%s", want, out)
	}
}
