package testutil

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// RepoRoot returns the directory of the main module's go.mod.
func RepoRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("go env GOMOD: not in a module")
	}
	return filepath.Dir(gomod), nil
}

// BuildWarden builds cmd/warden into dir and returns the binary's path.
func BuildWarden(dir string) (string, error) {
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "warden")
	build := exec.Command("go", "build", "-o", bin, "./cmd/warden")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/warden: %w\n%s", err, out)
	}
	return bin, nil
}

// Demo is a running `warden serve --demo`.
type Demo struct {
	Data, Admin string            // host:port of the data plane and the admin listener
	Tokens      map[string]string // persona shell variable (EVE, OSCAR, ...) → token
	Banner      string            // everything the demo printed on stdout
}

// StartDemo runs bin with `serve --demo` on port-0 loopback listeners and a
// temporary data directory, waits for its banner and for /readyz, and stops
// it at cleanup (SIGTERM, then SIGKILL after 15 s; its stderr is logged if
// the test failed).
func StartDemo(t testing.TB, bin string) *Demo {
	t.Helper()
	dataDir := t.TempDir() // registered first, so removed after the process stops
	var stdout, stderr SyncBuffer
	cmd := exec.Command(bin, "serve", "--demo", "--data-dir", dataDir,
		"--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0", "--shutdown-timeout", "10s")
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start warden: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-done
			t.Errorf("warden did not stop within 15s of SIGTERM")
		}
		if t.Failed() {
			t.Logf("warden stderr:\n%s", stderr.String())
		}
	})

	deadline := time.After(60 * time.Second)
	for !strings.Contains(stdout.String(), "Stop with Ctrl-C") {
		select {
		case err := <-done:
			done <- err
			t.Fatalf("warden serve --demo exited early: %v\nstderr:\n%s", err, stderr.String())
		case <-deadline:
			t.Fatalf("no demo banner after 60s\nstderr:\n%s", stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	d := &Demo{Banner: stdout.String(), Tokens: map[string]string{}}
	data := regexp.MustCompile(`data plane   http://(\S+)`).FindStringSubmatch(d.Banner)
	admin := regexp.MustCompile(`admin        http://(\S+)`).FindStringSubmatch(d.Banner)
	if data == nil || admin == nil {
		t.Fatal("the demo banner lacks the data plane or admin address")
	}
	d.Data, d.Admin = data[1], admin[1]
	for _, m := range regexp.MustCompile(`(?m)^  export (\w+)=(\S+)$`).FindAllStringSubmatch(d.Banner, -1) {
		d.Tokens[m[1]] = m[2]
	}

	client := &http.Client{Timeout: 5 * time.Second}
	for readyBy := time.Now().Add(30 * time.Second); ; {
		resp, err := client.Get("http://" + d.Admin + "/readyz")
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return d
			}
			err = fmt.Errorf("status %d: %s", resp.StatusCode, body)
		}
		if time.Now().After(readyBy) {
			t.Fatalf("warden not ready after 30s: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
