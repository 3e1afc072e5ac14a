package policy_test

import (
	"bytes"
	"context"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wardenhq/warden/internal/authn"
	"github.com/wardenhq/warden/internal/policy"
)

// referenceDir is the reference bundle for internal AI teams.
const referenceDir = "../../examples/policy"

// testOptions maps claims with authn's default claim mapping and decodes
// test tokens without verifying them, as `warden policy test` does.
func testOptions() policy.TestOptions {
	return policy.TestOptions{
		Principal: authn.ClaimMapping{}.Principal,
		DecodeToken: func(tok string) (map[string]any, error) {
			p, err := authn.Parse(tok, 0)
			if err != nil {
				return nil, err
			}
			return p.Claims, nil
		},
		Clock: func() time.Time { return time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC) },
	}
}

// TestReferenceBundle runs the reference bundle's own tests: all must pass.
func TestReferenceBundle(t *testing.T) {
	rep, err := policy.RunTests(context.Background(), os.DirFS(referenceDir), testOptions())
	if err != nil {
		t.Fatal(err)
	}
	if rep.Failed > 0 || rep.Passed == 0 {
		var buf bytes.Buffer
		_ = rep.Write(&buf, referenceDir)
		t.Fatalf("reference bundle tests:\n%s", buf.String())
	}
}

// TestReferenceBundleCoverage requires every policy of the reference bundle
// to carry @id and @reason, and to be named in the expected reasons of at
// least one passing case: every policy line is tested.
func TestReferenceBundleCoverage(t *testing.T) {
	rep, err := policy.RunTests(context.Background(), os.DirFS(referenceDir), testOptions())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range rep.Policies {
		if strings.Contains(p.ID, ".cedar:") {
			t.Errorf("%s:%d: policy without @id", p.File, p.Line)
		}
		if p.Reason == "" {
			t.Errorf("%s:%d: policy %s without @reason", p.File, p.Line, p.ID)
		}
	}
	if un := rep.Uncovered(); len(un) > 0 {
		t.Errorf("policies no test case names in its reasons: %v", un)
	}
	// Both sides: every permit is named by a passing allow case, and some
	// passing deny case asks one of its actions; every forbid is named by a
	// passing deny case, and some passing allow case asks one of its actions
	// (the forbid held back).
	for _, p := range rep.Policies {
		var namedSide, otherSide bool
		for _, r := range rep.Results {
			if !r.Passed {
				continue
			}
			decisive := (p.Effect == "permit") == (r.Expect == "allow")
			switch {
			case decisive && named(r, p.ID):
				namedSide = true
			case !decisive && slices.Contains(p.Actions, r.Decision.Action):
				otherSide = true
			}
		}
		if !namedSide {
			t.Errorf("%s %s: no passing case expects it in its reasons", p.Effect, p.ID)
		}
		if !otherSide {
			t.Errorf("%s %s: no passing case tests the other side (a %s of its actions %v)", p.Effect, p.ID, map[bool]string{true: "deny", false: "allow"}[p.Effect == "permit"], p.Actions)
		}
	}
}

func named(r policy.TestResult, id string) bool {
	for _, x := range r.Reasons {
		if x == id {
			return true
		}
	}
	return false
}
