package enforce

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wardenhq/warden/internal/authn"
	"github.com/wardenhq/warden/internal/testutil"
)

func TestParseIntrospection(t *testing.T) {
	p := &authn.Principal{Issuer: "https://w", Subject: "op", TokenID: "j1"}
	tests := []struct {
		name    string
		body    string
		active  bool
		wantErr bool
	}{
		{"active", `{"active":true,"jti":"j1","sub":"op","iss":"https://w"}`, true, false},
		{"active, no ids", `{"active":true}`, true, false},
		{"inactive", `{"active":false}`, false, false},
		{"active as a string", `{"active":"true"}`, false, true},
		{"no active", `{"sub":"op"}`, false, true},
		{"null active", `{"active":null}`, false, true},
		{"another token's jti", `{"active":true,"jti":"j2"}`, false, true},
		{"another subject", `{"active":true,"sub":"eve"}`, false, true},
		{"another issuer", `{"active":true,"iss":"https://x"}`, false, true},
		{"trailing data", `{"active":true} {"active":false}`, false, true},
		{"not JSON", `active`, false, true},
		{"array", `[true]`, false, true},
		{"too large", `{"active":true,"x":"` + strings.Repeat("a", maxIntrospectionBytes) + `"}`, false, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			active, err := parseIntrospection([]byte(tc.body), p)
			if active != tc.active || (err != nil) != tc.wantErr {
				t.Fatalf("= %v, %v; want %v, error %v", active, err, tc.active, tc.wantErr)
			}
		})
	}
}

func FuzzParseIntrospection(f *testing.F) {
	for _, s := range []string{`{"active":true}`, `{"active":false,"jti":"j"}`, `{"active":true,"sub":"op","iss":"i","jti":"j"}`, `[]`, `{"active":1}`} {
		f.Add([]byte(s))
	}
	p := &authn.Principal{Issuer: "i", Subject: "op", TokenID: "j"}
	f.Fuzz(func(t *testing.T, b []byte) {
		active, err := parseIntrospection(b, p)
		if err != nil && active {
			t.Fatal("active with an error")
		}
	})
}

// TestIntrospectionCache: an answer is reused for the TTL and asked again
// after it; a failure is never cached; the credentials go as Basic.
func TestIntrospectionCache(t *testing.T) {
	var calls atomic.Int32
	var active atomic.Bool
	active.Store(true)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		id, pw, ok := r.BasicAuth()
		if !ok || id != "svc%3A1" || pw != "s%26cret" || r.FormValue("token") != "tok" || r.Method != http.MethodPost {
			http.Error(w, `{"error":"invalid_client"}`, http.StatusUnauthorized)
			return
		}
		if active.Load() {
			w.Write([]byte(`{"active":true,"sub":"op"}`))
		} else {
			w.Write([]byte(`{"active":false}`))
		}
	}))
	defer srv.Close()
	clock := testutil.NewClock(time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC))
	in, err := newIntrospector(Warden{URL: srv.URL, ClientID: "svc:1", ClientSecret: "s&cret", IntrospectionCacheTTL: 2 * time.Second}, nil, clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	p := &authn.Principal{Subject: "op"}
	ctx := context.Background()
	step := func(want error, wantCalls int32) {
		t.Helper()
		if err := in.confirm(ctx, "tok", p); !errors.Is(err, want) {
			t.Fatalf("confirm = %v, want %v", err, want)
		}
		if got := calls.Load(); got != wantCalls {
			t.Fatalf("%d calls to Warden, want %d", got, wantCalls)
		}
	}
	step(nil, 1)
	step(nil, 1) // cached
	active.Store(false)
	clock.Advance(time.Second)
	step(nil, 1) // still within the TTL
	clock.Advance(time.Second)
	step(errInactive, 2)
	step(errInactive, 2)

	srv.Close()
	clock.Advance(3 * time.Second)
	if err := in.confirm(ctx, "tok", p); err == nil || errors.Is(err, errInactive) {
		t.Fatalf("Warden gone: %v, want a call error", err)
	}
	if err := (*introspector)(nil).confirm(ctx, "tok", p); !errors.Is(err, errNoWarden) {
		t.Fatalf("no Warden: %v", err)
	}
}
