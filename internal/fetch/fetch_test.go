package fetch

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestCheckURL(t *testing.T) {
	tests := []struct {
		raw, wantErr string
	}{
		{"https://issuer.example/jwks", ""},
		{"http://127.0.0.1:8080/jwks", ""},
		{"http://[::1]/jwks", ""},
		{"http://localhost/jwks", ""},
		{"http://issuer.example/jwks", "only allowed to a loopback host"},
		{"http://10.0.0.1/jwks", "only allowed to a loopback host"},
		{"ftp://issuer.example/jwks", "want an https:// URL"},
		{"file:///etc/passwd", "no host"},
		{"https://user:secret@issuer.example/x", ""},
		{"http://user:secret@issuer.example/x", "xxxxx"},
	}
	for _, tc := range tests {
		u, err := url.Parse(tc.raw)
		if err != nil {
			t.Fatal(err)
		}
		err = CheckURL(u)
		switch {
		case tc.wantErr == "" && err != nil:
			t.Errorf("CheckURL(%s) = %v, want nil", tc.raw, err)
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("CheckURL(%s) = %v, want containing %q", tc.raw, err, tc.wantErr)
		case err != nil && strings.Contains(err.Error(), "secret"):
			t.Errorf("CheckURL(%s) leaks the password: %v", tc.raw, err)
		}
	}
}

func TestClientRedirects(t *testing.T) {
	hops := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/to-http":
			http.Redirect(w, r, "http://issuer.example/jwks", http.StatusFound)
		case "/loop":
			hops++
			http.Redirect(w, r, "/loop", http.StatusFound)
		default:
			w.Write([]byte("ok"))
		}
	}))
	defer srv.Close()
	c := Client(nil, time.Second)
	if c.Timeout != time.Second {
		t.Errorf("timeout = %v", c.Timeout)
	}
	if _, err := c.Get(srv.URL + "/to-http"); err == nil || !strings.Contains(err.Error(), "redirect refused") {
		t.Errorf("redirect to plain http: err = %v", err)
	}
	if _, err := c.Get(srv.URL + "/loop"); err == nil || hops > MaxRedirects+1 {
		t.Errorf("redirect loop: err = %v after %d hops", err, hops)
	}
	resp, err := c.Get(srv.URL + "/ok")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	// A caller's client keeps its own timeout.
	if got := Client(&http.Client{Timeout: 3 * time.Second}, time.Second).Timeout; got != 3*time.Second {
		t.Errorf("caller timeout replaced: %v", got)
	}
}
