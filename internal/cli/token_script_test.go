package cli

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

// TestTokenIssuerScripts runs the txtar scripts in testdata/script-issuer,
// which need an OpenID Connect issuer on 127.0.0.1: the "oidc-issuer JWKS"
// command serves the discovery document and the JWK Set file JWKS (from the
// script's work directory, read on every request) and sets $ISSUER to its URL.
func TestTokenIssuerScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata/script-issuer",
		RequireExplicitExec: true,
		RequireUniqueNames:  true,
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"oidc-issuer": cmdOIDCIssuer,
		},
	})
}

func cmdOIDCIssuer(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: oidc-issuer JWKS")
	}
	jwksFile := args[0]
	var srv *httptest.Server
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]string{"issuer": srv.URL, "jwks_uri": srv.URL + "/jwks.json"})
	})
	mux.HandleFunc("GET /jwks.json", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/jwk-set+json")
		w.Write([]byte(ts.ReadFile(jwksFile)))
	})
	srv = httptest.NewServer(mux)
	ts.Defer(srv.Close)
	ts.Setenv("ISSUER", srv.URL)
}
