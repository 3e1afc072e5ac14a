package gateway

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestWriteError(t *testing.T) {
	secret := errors.New("dial tcp 10.0.0.5:443: secret detail")
	tests := []struct {
		name       string
		method     string
		err        error
		wantStatus int
		wantCode   string
		wantMsg    string
	}{
		{"gateway error", "GET", &Error{Status: 403, Code: CodeForbidden, Message: "access denied by policy", Err: secret}, 403, CodeForbidden, "access denied by policy"},
		{"wrapped", "GET", fmt.Errorf("route: %w", &Error{Status: 404, Code: CodeNotFound, Message: "no route"}), 404, CodeNotFound, "no route"},
		{"request error", "POST", badRequest(`"model" is required`), 400, CodeInvalidRequest, `"model" is required`},
		{"too large", "POST", tooLarge(10), 413, CodeTooLarge, "request body larger than 10 bytes"},
		{"plain error", "GET", secret, 500, CodeInternal, "internal error"},
		{"bad status", "GET", &Error{Status: 200, Code: "ok", Message: "fine"}, 500, CodeInternal, "internal error"},
		{"no code", "GET", &Error{Status: 400, Message: "x"}, 500, CodeInternal, "internal error"},
		{"default message", "GET", &Error{Status: 502, Code: CodeBadGateway}, 502, CodeBadGateway, "Bad Gateway"},
		{"nil", "GET", nil, 500, CodeInternal, "internal error"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			w.Header().Set("WWW-Authenticate", "Bearer")
			WriteError(w, httptest.NewRequest(tc.method, "/", nil), "req-1", tc.err)
			if w.Code != tc.wantStatus {
				t.Errorf("status %d, want %d", w.Code, tc.wantStatus)
			}
			for k, want := range map[string]string{"Content-Type": "application/json", "X-Content-Type-Options": "nosniff", "Cache-Control": "no-store", "Www-Authenticate": "Bearer"} {
				if got := w.Header().Get(k); got != want {
					t.Errorf("%s = %q, want %q", k, got, want)
				}
			}
			var got errorBody
			dec := json.NewDecoder(w.Body)
			dec.DisallowUnknownFields()
			if err := dec.Decode(&got); err != nil {
				t.Fatal(err)
			}
			want := errorBody{Error: errorMember{Code: tc.wantCode, Message: tc.wantMsg, RequestID: "req-1"}}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("body (-want +got):\n%s", diff)
			}
		})
	}
	t.Run("no leak", func(t *testing.T) {
		w := httptest.NewRecorder()
		WriteError(w, nil, "", fmt.Errorf("x: %w", secret))
		if strings.Contains(w.Body.String(), "secret") || strings.Contains(w.Body.String(), "request_id") {
			t.Errorf("body %s", w.Body)
		}
	})
	t.Run("head", func(t *testing.T) {
		w := httptest.NewRecorder()
		WriteError(w, httptest.NewRequest("HEAD", "/", nil), "r", &Error{Status: 404, Code: CodeNotFound, Message: "no route"})
		if w.Code != 404 || w.Body.Len() != 0 {
			t.Errorf("HEAD: %d %q", w.Code, w.Body)
		}
	})
	t.Run("real server", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			WriteError(w, r, "abc", &Error{Status: 401, Code: CodeUnauthorized, Message: "missing bearer token"})
		}))
		defer srv.Close()
		resp, err := http.Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var got errorBody
		if err := json.NewDecoder(resp.Body).Decode(&got); err != nil || resp.StatusCode != 401 || got.Error.RequestID != "abc" {
			t.Errorf("%d %+v %v", resp.StatusCode, got, err)
		}
	})
}

func TestErrorUnwrap(t *testing.T) {
	cause := errors.New("cause")
	e := &Error{Status: 502, Code: CodeBadGateway, Message: "upstream failed", Err: cause}
	if !errors.Is(e, cause) {
		t.Error("errors.Is does not reach the cause")
	}
	if got, want := e.Error(), "bad_gateway: upstream failed: cause"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}
