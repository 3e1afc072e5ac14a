// Package mcpts holds the acceptance test of Warden's MCP proxy with a
// client in another language: client.mjs, on the official TypeScript MCP SDK
// (@modelcontextprotocol/sdk, pinned in package.json and package-lock.json),
// against the real warden binary running `serve --demo` on 127.0.0.1.
//
// The client starts with no token. It follows the 401 to the
// protected-resource metadata, gets a token from Warden's issuer with
// client_credentials (the demo client eval-runner, an evaluator agent) and
// the RFC 8707 resource parameter, calls a read-only tool and sees
// delete_records refused with the policy's reason.
//
// The test needs node (v20 or later) and npm; .ci/run installs them. Without
// them it fails when CI is set and skips otherwise. `npm ci` runs once per
// package-lock.json into the user cache directory (WARDEN_MCPTS_CACHE
// overrides it).
package mcpts_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/wardenhq/warden/internal/testutil"
)

func inCI() bool {
	v := strings.ToLower(strings.TrimSpace(os.Getenv("CI")))
	return v != "" && v != "false" && v != "0"
}

// requireNode returns node and npm, or skips (fails under CI) without them.
func requireNode(t *testing.T) (node, npm string) {
	t.Helper()
	node, err := exec.LookPath("node")
	if err == nil {
		npm, err = exec.LookPath("npm")
	}
	if err != nil {
		msg := fmt.Sprintf("%v: the TypeScript SDK acceptance test needs node and npm; .ci/run installs them (apt-get install -y nodejs npm)", err)
		if inCI() {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return node, npm
}

// installClient copies package.json, package-lock.json and client.mjs into
// a cache directory named for the lock file's digest and runs `npm ci`
// there unless an earlier run completed it. It returns the directory.
func installClient(t *testing.T, npm string) string {
	t.Helper()
	lock, err := os.ReadFile("package-lock.json")
	if err != nil {
		t.Fatal(err)
	}
	base := os.Getenv("WARDEN_MCPTS_CACHE")
	if base == "" {
		if base, err = os.UserCacheDir(); err != nil {
			base = os.TempDir()
		}
		base = filepath.Join(base, "warden-mcpts")
	}
	sum := sha256.Sum256(lock)
	dir := filepath.Join(base, hex.EncodeToString(sum[:8]))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"package.json", "package-lock.json", "client.mjs"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	stamp := filepath.Join(dir, ".npm-ci-done")
	if _, err := os.Stat(stamp); err == nil {
		if _, err := os.Stat(filepath.Join(dir, "node_modules", "@modelcontextprotocol", "sdk", "package.json")); err == nil {
			return dir
		}
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, npm, "ci", "--no-audit", "--no-fund", "--prefer-offline")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("npm ci in %s: %v\n%s", dir, err, out)
	}
	if err := os.WriteFile(stamp, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestTypeScriptSDKClient(t *testing.T) {
	node, npm := requireNode(t)
	if out, err := exec.Command(node, "--version").Output(); err != nil || !regexp.MustCompile(`^v(2\d|[3-9]\d)\.`).Match(out) {
		t.Fatalf("node %q (%v): want v20 or later", strings.TrimSpace(string(out)), err)
	}
	dir := installClient(t, npm)
	bin, err := testutil.BuildWarden(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	banner := testutil.StartDemo(t, bin).Banner

	mcpURL := regexp.MustCompile(`(?m)^  mcp server   (http://\S+)`).FindStringSubmatch(banner)
	secret := regexp.MustCompile(`(?m)^  CLIENT_SECRET=(\S+)$`).FindStringSubmatch(banner)
	if mcpURL == nil || secret == nil {
		t.Fatalf("the demo banner lacks the MCP server URL or the client secret:\n%s", banner)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "client.mjs")
	cmd.Dir = dir
	// Only what the client needs: no token of any kind.
	cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"),
		"WARDEN_MCP_URL=" + mcpURL[1], "CLIENT_ID=eval-runner", "CLIENT_SECRET=" + secret[1],
	}
	out, err := cmd.CombinedOutput()
	t.Logf("node client.mjs:\n%s", out)
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		t.Fatalf("the TypeScript client failed (exit %d)", exit.ExitCode())
	case err != nil:
		t.Fatalf("node client.mjs: %v", err)
	}
	for _, step := range []string{"challenged", "discovered", "token", "connected", "listed", "allowed", "denied", "ok"} {
		if !strings.Contains(string(out), `{"step":"`+step+`"`) {
			t.Errorf("the client did not report step %q", step)
		}
	}
}
