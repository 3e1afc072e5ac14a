package authzen_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wardenhq/warden/internal/audit"
	"github.com/wardenhq/warden/internal/authn"
	"github.com/wardenhq/warden/internal/authzen"
	"github.com/wardenhq/warden/internal/jwk"
	"github.com/wardenhq/warden/internal/policy"
	"github.com/wardenhq/warden/internal/store"
	"github.com/wardenhq/warden/internal/testutil"
)

const (
	testIssuer   = "https://issuer.test"
	testAudience = "warden"
)

type fixture struct {
	h   *authzen.Handler
	srv *httptest.Server
	key *jwk.Key
	log *audit.Log
	st  store.Store
}

type fixtureOpts struct {
	env         string
	closedAudit bool
	noAudit     bool
}

func newFixture(t testing.TB, o fixtureOpts) *fixture {
	t.Helper()
	ctx := context.Background()
	key, err := jwk.Generate("ES256", "k1")
	if err != nil {
		t.Fatal(err)
	}
	pub, err := key.Public()
	if err != nil {
		t.Fatal(err)
	}
	v, err := authn.New(ctx, authn.Config{Issuers: []authn.IssuerConfig{{
		Issuer: testIssuer, Audiences: []string{testAudience}, Algorithms: []string{"ES256"}, Keys: []*jwk.Key{pub},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	eng, err := policy.New(policy.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if err := eng.Load(ctx, os.DirFS("../../examples/policy"), policy.Meta{Revision: "r1", Digest: "sha256:test"}); err != nil {
		t.Fatal(err)
	}
	f := &fixture{key: key}
	cfg := authzen.Config{Verifier: v, Engine: eng, Env: o.env, Node: "test"}
	if !o.noAudit {
		st, err := store.Open(ctx, filepath.Join(t.TempDir(), "audit.db"), store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		alog, err := audit.New(ctx, audit.Config{Store: st, Node: "test", Durability: audit.DurabilityBatch})
		if err != nil {
			t.Fatal(err)
		}
		if o.closedAudit {
			if err := alog.Close(ctx); err != nil {
				t.Fatal(err)
			}
		} else {
			t.Cleanup(func() { alog.Close(context.Background()) })
		}
		f.log, f.st, cfg.Audit = alog, st, alog
	}
	if f.h, err = authzen.New(cfg); err != nil {
		t.Fatal(err)
	}
	f.srv = httptest.NewServer(f.h)
	t.Cleanup(f.srv.Close)
	return f
}

// token mints a token with the test issuer's key over the given claims.
func (f *fixture) token(t testing.TB, claims map[string]any) string {
	t.Helper()
	c := map[string]any{"iss": testIssuer, "aud": testAudience, "exp": time.Now().Add(time.Hour).Unix(), "iat": time.Now().Unix(), "jti": "jti-1"}
	for k, v := range claims {
		c[k] = v
	}
	return testutil.MintJWT(t, map[string]any{"alg": "ES256", "kid": "k1", "typ": "at+jwt"}, c, "ES256", f.key.SigningKey())
}

type response struct {
	Status int
	Header http.Header
	Body   map[string]any
	Raw    string
}

func (f *fixture) post(t testing.TB, path, tok, body string) response {
	t.Helper()
	req, err := http.NewRequest("POST", f.srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	return do(t, req)
}

func do(t testing.TB, req *http.Request) response {
	t.Helper()
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	out := response{Status: res.StatusCode, Header: res.Header, Raw: string(b)}
	if len(b) > 0 {
		if err := json.Unmarshal(b, &out.Body); err != nil {
			t.Fatalf("response is not JSON: %v: %s", err, b)
		}
	}
	return out
}

// records reads back every audit record after the log has committed.
func (f *fixture) records(t testing.TB) []audit.Record {
	t.Helper()
	ctx := context.Background()
	if err := f.log.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	entries, err := audit.Query(ctx, f.st, audit.Filter{Node: "test", Limit: 100000})
	if err != nil {
		t.Fatal(err)
	}
	out := make([]audit.Record, len(entries))
	for i, e := range entries {
		out[i] = e.Record
	}
	return out
}
