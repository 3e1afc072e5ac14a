package cli

import (
	"path/filepath"
	"time"

	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

// TestAuditScripts runs the txtar scripts in testdata/script-audit. Since
// only the gateway writes audit records, the scripts get two test-only
// commands (never part of the warden binary):
//
//	audit-seed FILE            write the seeded scenario (seedAudit) into a new SQLite store FILE
//	audit-tamper FILE HOW      damage node gw-1 of FILE: edit, delete or truncate
func TestAuditScripts(t *testing.T) {
	if !rootHasAudit() {
		t.Skip("the audit command group is not wired into root.go yet")
	}
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata/script-audit",
		RequireExplicitExec: true,
		RequireUniqueNames:  true,
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"audit-seed":   cmdAuditSeed,
			"audit-tamper": cmdAuditTamper,
		},
	})
}

func cmdAuditSeed(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: audit-seed FILE")
	}
	ts.Check(seedAudit(ts.MkAbs(args[0]), time.Now()))
}

func cmdAuditTamper(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: audit-tamper FILE edit|delete|truncate")
	}
	exec, closeDB, err := sqliteTamperer(filepath.Clean(ts.MkAbs(args[0])))
	ts.Check(err)
	defer closeDB()
	ts.Check(tamperAudit(exec, args[1]))
}

// rootHasAudit reports whether root.go adds the audit group.
func rootHasAudit() bool {
	cmd, _, err := newRootCmd(IO{}.withDefaults()).Find([]string{"audit"})
	return err == nil && cmd.Name() == "audit"
}
