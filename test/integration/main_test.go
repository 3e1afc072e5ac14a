// Package integration_test holds acceptance tests that build and run the real
// `warden` binary on 127.0.0.1 in front of a real upstream: the official
// OpenAI Go SDK as the client (openai_test.go) and kill -9 durability of the
// audit log (durability_test.go).
//
// TestMain builds cmd/warden once into a temporary directory; every test
// then starts its own server process with `warden serve --config`, pointing
// at an upstream the test runs (the echo model of `warden serve --demo`,
// wrapped so that the test sees every request the gateway forwards).
package integration_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wardenhq/warden/examples"
	"github.com/wardenhq/warden/internal/bundle"
	"github.com/wardenhq/warden/internal/jwk"
	"github.com/wardenhq/warden/internal/testutil"
	"github.com/wardenhq/warden/internal/token"
)

// binary is the path of the warden binary TestMain built, or "" with
// skipReason set when it could not be built because go is not on PATH.
// It is written once in TestMain, before any test runs.
var binary, skipReason string

func TestMain(m *testing.M) {
	os.Exit(buildAndRun(m))
}

func buildAndRun(m *testing.M) int {
	goBin, err := exec.LookPath("go")
	if err != nil {
		skipReason = "go is not on PATH: cannot build the warden binary"
		return m.Run()
	}
	out, err := exec.Command(goBin, "env", "GOMOD").Output()
	if err != nil {
		fmt.Fprintf(os.Stderr, "go env GOMOD: %v\n", err)
		return 1
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		fmt.Fprintln(os.Stderr, "go env GOMOD: not in a module")
		return 1
	}
	tmp, err := os.MkdirTemp("", "warden-integration-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(tmp)
	binary = filepath.Join(tmp, "warden")
	build := exec.Command(goBin, "build", "-o", binary, "./cmd/warden")
	build.Dir = filepath.Dir(gomod)
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "go build ./cmd/warden: %v\n%s", err, out)
		return 1
	}
	return m.Run()
}

func needBinary(t *testing.T) {
	t.Helper()
	if binary == "" {
		t.Skip(skipReason)
	}
}

// persona is a reference user of examples/policy, with the claims the demo
// (`warden serve --demo`) gives it.
type persona struct {
	name   string
	roles  []string
	team   string
	scopes []string
}

func personas() []persona {
	return []persona{
		{"eve", []string{"evaluator"}, "research", []string{"models:premium"}},
		{"oscar", []string{"operator"}, "platform", nil},
		{"sam", []string{"support-lead"}, "support", nil},
		{"erin", []string{"engineer"}, "platform", []string{"models:premium"}},
		{"priya", []string{"evaluator"}, "research", []string{"pii:read"}},
		{"ada", []string{"admin"}, "platform", []string{"models:premium"}},
	}
}

const (
	issuer      = "https://warden.integration/"
	audience    = "warden"
	node        = "it-node"
	upstreamKey = "Bearer upstream-credential-0123456789"
)

// env is a data directory with everything `warden serve --config` needs:
// public token and bundle keys, the example bundle signed, a configuration.
type env struct {
	dir      string
	config   string
	storeURL string
	tokens   map[string]string // persona name -> bearer token
	policy   map[string][]byte // the example bundle's files
}

// newEnv writes the data directory for a gateway in front of upstreamURL, the
// same way `warden serve --demo` does (internal/cli/serve_demo.go), with
// auditYAML as the audit section's extra keys and storeQuery (e.g.
// "?synchronous=normal") appended to the SQLite store URL.
func newEnv(t *testing.T, upstreamURL, auditYAML, storeQuery string) *env {
	t.Helper()
	e := &env{dir: t.TempDir(), tokens: map[string]string{}}
	tokenKey, err := jwk.Generate("EdDSA", "")
	if err != nil {
		t.Fatal(err)
	}
	bundleKey, err := jwk.Generate("EdDSA", "")
	if err != nil {
		t.Fatal(err)
	}
	writeJWKS(t, filepath.Join(e.dir, "token-keys.jwks.json"), tokenKey)
	writeJWKS(t, filepath.Join(e.dir, "bundle-keys.jwks.json"), bundleKey)

	e.policy = examplePolicy(t)
	archive, _, err := bundle.Build(e.policy, bundle.BuildOptions{Revision: "it-1", Created: time.Now(), Key: bundleKey})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(e.dir, "bundle.tar.gz"), archive, 0o600); err != nil {
		t.Fatal(err)
	}

	e.storeURL = "sqlite://" + filepath.ToSlash(filepath.Join(e.dir, "warden.db")) + storeQuery
	cfg := fmt.Sprintf(`issuers:
  - issuer: %s
    audiences: [%s]
    algorithms: [EdDSA]
    keys_file: token-keys.jwks.json
    required_claims: [jti]
policy:
  bundle: bundle.tar.gz
  keys: [bundle-keys.jwks.json]
store: %s
audit:
  node: %s
%s
upstreams:
  - name: upstream
    url: %s
    timeout: 30s
    headers:
      Authorization: {value: %s}
models:
  upstream: upstream
`, issuer, audience, strconv.Quote(e.storeURL), node, auditYAML, upstreamURL, strconv.Quote(upstreamKey))
	e.config = filepath.Join(e.dir, "warden.yaml")
	if err := os.WriteFile(e.config, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}

	signer, err := token.NewSigner(token.SignerConfig{Key: tokenKey})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range personas() {
		tok, err := signer.Mint(t.Context(), token.Claims{
			Issuer: issuer, Subject: p.name, Audience: []string{audience}, TTL: time.Hour,
			Roles: p.roles, Scopes: p.scopes, Team: p.team, Tenant: "acme",
		})
		if err != nil {
			t.Fatal(err)
		}
		e.tokens[p.name] = tok
	}
	return e
}

// examplePolicy returns the files of examples/policy (embedded by package
// examples), as bundle.Build takes them.
func examplePolicy(t *testing.T) map[string][]byte {
	t.Helper()
	sub, err := fs.Sub(examples.Policy, "policy")
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{}
	if err := fs.WalkDir(sub, ".", func(path string, de fs.DirEntry, err error) error {
		if err != nil || de.IsDir() {
			return err
		}
		b, err := fs.ReadFile(sub, path)
		files[path] = b
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return files
}

func writeJWKS(t *testing.T, path string, k *jwk.Key) {
	t.Helper()
	pub, err := k.Public()
	if err != nil {
		t.Fatal(err)
	}
	b, err := (&jwk.Set{Keys: []*jwk.Key{pub}}).MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// syncBuffer is a bytes.Buffer safe for a process writing while the test
// reads.
type syncBuffer = testutil.SyncBuffer

// server is a running `warden serve` process.
type server struct {
	cmd    *exec.Cmd
	stdout *syncBuffer
	stderr *syncBuffer
	done   chan struct{} // closed when the process has exited
	err    error         // cmd.Wait's result, set before done is closed
	data   string        // http://host:port of the data plane
	admin  string        // http://host:port of the admin listener
}

var servingLine = regexp.MustCompile(`"msg":"serving","data":"([^"]+)","admin":"([^"]+)"`)

// startServer runs `warden serve --config cfg` on port-0 loopback listeners
// and waits until /readyz answers 200. The process is killed at the end of
// the test if it still runs.
func startServer(t *testing.T, cfg string) *server {
	t.Helper()
	return startServe(t, "--config", cfg)
}

// startServe runs `warden serve ARGS` on port-0 loopback listeners and waits
// until /readyz answers 200.
func startServe(t *testing.T, args ...string) *server {
	t.Helper()
	s := &server{stdout: &syncBuffer{}, stderr: &syncBuffer{}, done: make(chan struct{})}
	args = append([]string{"serve"}, args...)
	s.cmd = exec.Command(binary, append(args,
		"--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0", "--shutdown-timeout", "10s")...)
	s.cmd.Stdout = s.stdout
	s.cmd.Stderr = s.stderr
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		s.err = s.cmd.Wait()
		close(s.done)
	}()
	t.Cleanup(func() {
		select {
		case <-s.done:
		default:
			_ = s.cmd.Process.Kill()
			<-s.done
		}
	})

	deadline := time.Now().Add(20 * time.Second)
	for {
		if m := servingLine.FindStringSubmatch(s.stderr.String()); m != nil {
			s.data, s.admin = "http://"+m[1], "http://"+m[2]
			break
		}
		select {
		case <-s.done:
			t.Fatalf("warden serve exited early: %v\nstderr:\n%s", s.err, s.stderr)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("warden serve did not start within 20s\nstderr:\n%s", s.stderr)
		}
	}
	client := &http.Client{Timeout: 2 * time.Second}
	for {
		resp, err := client.Get(s.admin + "/readyz")
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("/readyz = %d %s after 20s", resp.StatusCode, body)
			}
		} else if time.Now().After(deadline) {
			t.Fatalf("/readyz: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return s
}

// stop sends SIGTERM and waits for a clean exit (audit log flushed).
func (s *server) stop(t *testing.T) {
	t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.done:
	case <-time.After(20 * time.Second):
		t.Fatalf("warden serve did not stop within 20s of SIGTERM\nstderr:\n%s", s.stderr)
	}
	if s.err != nil {
		t.Fatalf("warden serve exited with %v\nstderr:\n%s", s.err, s.stderr)
	}
}

// kill sends SIGKILL and waits for the process to be gone.
func (s *server) kill(t *testing.T) {
	t.Helper()
	if err := s.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		t.Fatal("warden serve still running 10s after SIGKILL")
	}
	var ee *exec.ExitError
	if !errors.As(s.err, &ee) || ee.ProcessState.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("warden serve did not die of SIGKILL: %v", s.err)
	}
}

// runWarden runs a warden subcommand to completion and returns its stdout,
// stderr and exit code.
func runWarden(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	var out, errb bytes.Buffer
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		code = ee.ExitCode()
	default:
		t.Fatalf("warden %s: %v", strings.Join(args, " "), err)
	}
	return out.String(), errb.String(), code
}

// invocableModels derives, from the example bundle's catalogue
// (entities.json) and its model policies (policies/models.cedar), the models
// each persona may invoke, which is what /v1/models must list: a model whose
// "teams" contain the persona's team ("model-by-team"), unless it is of tier
// "premium" and the persona lacks the models:premium scope
// ("model-premium-scope"). The gateway sends no "env" in the context, so
// "model-env" never applies; no max_tokens, so neither does the budget.
func invocableModels(t *testing.T, policy map[string][]byte) map[string][]string {
	t.Helper()
	cedar := string(policy["policies/models.cedar"])
	for _, want := range []string{
		`resource.teams.contains(principal.team)`,
		`resource.tier == "premium" && !(principal has scopes && principal.scopes.contains("models:premium"))`,
	} {
		if !strings.Contains(cedar, want) {
			t.Fatalf("policies/models.cedar changed: it lacks %q; update invocableModels", want)
		}
	}
	var ents []struct {
		UID   struct{ Type, ID string } `json:"uid"`
		Attrs struct {
			Tier  string   `json:"tier"`
			Teams []string `json:"teams"`
		} `json:"attrs"`
	}
	if err := json.Unmarshal(policy["entities.json"], &ents); err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	for _, p := range personas() {
		out[p.name] = []string{}
		for _, e := range ents {
			if e.UID.Type != "Model" || !slices.Contains(e.Attrs.Teams, p.team) {
				continue
			}
			if e.Attrs.Tier == "premium" && !slices.Contains(p.scopes, "models:premium") {
				continue
			}
			out[p.name] = append(out[p.name], e.UID.ID)
		}
		slices.Sort(out[p.name])
	}
	return out
}
