package issuer_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/wardenhq/warden/internal/issuer"
	"github.com/wardenhq/warden/internal/store"
)

// Example builds an issuer over a SQLite store, registers a client and
// obtains a client_credentials token from the token endpoint.
func Example() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "issuer-example-")
	defer os.RemoveAll(dir)
	st, err := store.Open(ctx, filepath.Join(dir, "warden.db"), store.Options{})
	if err != nil {
		panic(err)
	}
	defer st.Close()

	kek := []byte("an example key-encryption key 32") // use 32 random bytes
	keys, err := issuer.NewKeyRing(ctx, issuer.KeyRingConfig{Store: st.Issuer(), KEK: kek, MaxTTL: time.Hour})
	if err != nil {
		panic(err)
	}
	revs, err := issuer.NewRevocations(ctx, st.Issuer(), nil)
	if err != nil {
		panic(err)
	}
	srv := httptest.NewUnstartedServer(nil)
	iss, err := issuer.New(ctx, issuer.Config{
		Issuer: "http://" + srv.Listener.Addr().String(), Audiences: []string{"warden"},
		Store: st.Issuer(), Keys: keys, Revocations: revs,
	})
	if err != nil {
		panic(err)
	}
	defer iss.Close()
	srv.Config.Handler = iss
	srv.Start()
	defer srv.Close()

	secret, hash, _ := issuer.NewSecret(issuer.SecretPrefix)
	_ = st.Issuer().AddClient(ctx, store.Client{ID: "agent-1", SecretHash: hash, Scopes: []string{"trace:read"},
		GrantTypes: []string{issuer.GrantClientCredentials}, Created: time.Now()})

	req, _ := http.NewRequest(http.MethodPost, srv.URL+issuer.TokenPath, strings.NewReader(url.Values{"grant_type": {"client_credentials"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("agent-1", secret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	var tok struct {
		TokenType string `json:"token_type"`
		ExpiresIn int    `json:"expires_in"`
		Scope     string `json:"scope"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&tok)
	fmt.Println(resp.StatusCode, resp.Header.Get("Cache-Control"), tok.TokenType, tok.ExpiresIn, tok.Scope)
	// Output: 200 no-store Bearer 600 trace:read
}
