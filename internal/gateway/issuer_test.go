package gateway_test

import (
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/wardenhq/warden/internal/gateway"
)

// pathRecorder answers 200 and remembers the paths it served.
type pathRecorder struct {
	mu    sync.Mutex
	paths []string
}

func (p *pathRecorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	p.paths = append(p.paths, r.URL.Path)
	p.mu.Unlock()
	w.WriteHeader(http.StatusOK)
}

// TestIssuerMount: the issuer's endpoints go to Config.Issuer without bearer
// authentication; every other path, /oauth2/ look-alikes included, stays
// behind the gateway's checks; without an issuer none is served.
func TestIssuerMount(t *testing.T) {
	rec := &pathRecorder{}
	f := newFixture(t, fixtureOpts{issuer: rec})
	for _, tc := range []struct {
		method, path string
		want         int
	}{
		{"POST", "/oauth2/token", 200},
		{"POST", "/oauth2/introspect", 200},
		{"POST", "/oauth2/revoke", 200},
		{"GET", "/.well-known/jwks.json", 200},
		{"GET", "/.well-known/openid-configuration", 200},
		{"GET", "/.well-known/oauth-authorization-server", 200},
		{"POST", "/oauth2/token/", 401},
		{"POST", "/oauth2/authorize", 401},
		{"GET", "/.well-known/other", 401},
	} {
		if got := f.do(t, tc.method, tc.path, "", "", nil); got.status != tc.want {
			t.Errorf("%s %s = %d, want %d", tc.method, tc.path, got.status, tc.want)
		}
	}
	if len(rec.paths) != 6 {
		t.Errorf("the issuer served %v, want the six endpoints", rec.paths)
	}
	plain := newFixture(t, fixtureOpts{})
	if got := plain.do(t, "POST", "/oauth2/token", "", "", nil); got.status != http.StatusUnauthorized {
		t.Errorf("without an issuer /oauth2/token = %d, want 401", got.status)
	}
}

// TestMounts: a mount serves the paths its Handles accepts, ahead of bearer
// authentication and the routes; the first matching mount wins; other paths
// stay behind the gateway's checks.
func TestMounts(t *testing.T) {
	first, second := &pathRecorder{}, &pathRecorder{}
	f := newFixture(t, fixtureOpts{mounts: []gateway.Mount{
		{Name: "first", Handles: func(p string) bool { return strings.HasPrefix(p, "/mcp/") }, Handler: first},
		{Name: "second", Handles: func(p string) bool { return strings.HasPrefix(p, "/mcp/") || p == "/access/v1/evaluation" }, Handler: second},
	}})
	for _, tc := range []struct {
		path string
		want int
	}{
		{"/mcp/demo", 200},
		{"/access/v1/evaluation", 200},
		{"/mcp", 401},
		{"/access/v1/evaluations", 401},
	} {
		if got := f.do(t, "POST", tc.path, "", "", nil); got.status != tc.want {
			t.Errorf("POST %s = %d, want %d", tc.path, got.status, tc.want)
		}
	}
	if len(first.paths) != 1 || first.paths[0] != "/mcp/demo" {
		t.Errorf("first mount served %v, want [/mcp/demo]", first.paths)
	}
	if len(second.paths) != 1 || second.paths[0] != "/access/v1/evaluation" {
		t.Errorf("second mount served %v, want [/access/v1/evaluation]", second.paths)
	}
	if _, err := gateway.New(gateway.Config{Mounts: []gateway.Mount{{Name: "broken"}}}); err == nil || !strings.Contains(err.Error(), "broken") {
		t.Errorf("a mount without Handles or Handler: err = %v, want one naming it", err)
	}
}
