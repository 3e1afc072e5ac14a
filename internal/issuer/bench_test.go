package issuer_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/wardenhq/warden/internal/issuer"
	"github.com/wardenhq/warden/internal/revfeed"
	"github.com/wardenhq/warden/internal/store"
	"github.com/wardenhq/warden/internal/store/storetest"
)

// benchPost sends one form over a keep-alive connection and returns the
// decoded answer; any status but 200 fails the benchmark.
func benchPost(b *testing.B, e *env, id, secret string, f url.Values) map[string]any {
	req, err := http.NewRequest(http.MethodPost, e.url+issuer.TokenPath, strings.NewReader(f.Encode()))
	if err != nil {
		b.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(id, secret)
	code, _, m := e.do(req)
	if code != http.StatusOK {
		b.Fatalf("%d %v", code, m)
	}
	return m
}

// benchBackends are the stores the benchmarks run on (PostgreSQL is
// skipped without WARDEN_TEST_POSTGRES_URL).
var benchBackends = []struct {
	name string
	new  func(testing.TB) *storetest.Backend
}{{"sqlite", storetest.NewSQLite}, {"postgres", storetest.NewPostgres}}

// BenchmarkClientCredentials is the throughput of client_credentials
// issuance through the real HTTP endpoint: client lookup and secret check,
// signing (ES256) and the audit record, on SQLite and on PostgreSQL.
func BenchmarkClientCredentials(b *testing.B) {
	for _, kind := range benchBackends {
		b.Run(kind.name, func(b *testing.B) {
			e := newEnv(b, kind.new(b))
			secret := e.addClient("agent-1", agentScopes, ccGrants...)
			f := form("grant_type", "client_credentials", "scope", "model:invoke")
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				benchPost(b, e, "agent-1", secret, f)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tokens/s")
		})
	}
}

// BenchmarkRefreshRotation is the throughput of refresh_token grants, each
// rotating the token (compare-and-set on the old token, insert of the new
// one, a new access token), on SQLite and on PostgreSQL.
func BenchmarkRefreshRotation(b *testing.B) {
	for _, kind := range benchBackends {
		b.Run(kind.name, func(b *testing.B) {
			e := newEnv(b, kind.new(b))
			secret := e.addClient("agent-1", agentScopes, issuer.GrantClientCredentials, issuer.GrantRefreshToken)
			rt := benchPost(b, e, "agent-1", secret, form("grant_type", "client_credentials"))["refresh_token"].(string)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				rt = benchPost(b, e, "agent-1", secret, form("grant_type", "refresh_token", "refresh_token", rt))["refresh_token"].(string)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "rotations/s")
		})
	}
}

// BenchmarkClientCredentialsParallel is the same issuance with 16 clients
// at once: the audit log commits their records together.
func BenchmarkClientCredentialsParallel(b *testing.B) {
	for _, kind := range benchBackends {
		b.Run(kind.name, func(b *testing.B) {
			e := newEnv(b, kind.new(b))
			secret := e.addClient("agent-1", agentScopes, ccGrants...)
			body := form("grant_type", "client_credentials", "scope", "model:invoke").Encode()
			b.SetParallelism(8)
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					req, _ := http.NewRequest(http.MethodPost, e.url+issuer.TokenPath, strings.NewReader(body))
					req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
					req.SetBasicAuth("agent-1", secret)
					resp, err := http.DefaultClient.Do(req)
					if err != nil {
						b.Error(err)
						return
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK {
						b.Errorf("status %d", resp.StatusCode)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tokens/s")
		})
	}
}

// BenchmarkRevocationFeed is the cost of the feed on Warden: a reset of
// 1,000 revocations (a follower connecting) and an empty poll from the
// current cursor (wait=0), through the real HTTP endpoint with client
// authentication, on SQLite and on PostgreSQL. Wake-up latency of a held
// poll is measured by TestFollowerSeesRevocation (a few ms).
func BenchmarkRevocationFeed(b *testing.B) {
	for _, be := range benchBackends {
		b.Run(be.name, func(b *testing.B) {
			e := newEnv(b, be.new(b))
			secret := e.addClient("svc", nil, ccGrants...)
			exp := time.Now().Add(time.Hour)
			for i := range revfeed.MaxPageItems {
				if err := e.st.Issuer().Revoke(context.Background(), store.Revocation{ID: fmt.Sprintf("jti-%06d", i), Kind: store.RevokeJTI, Expiry: exp, Created: exp}); err != nil {
					b.Fatal(err)
				}
			}
			get := func(query string) *revfeed.Page {
				_, p, m := e.feed("svc", secret, query)
				if p == nil {
					b.Fatalf("feed: %v", m)
				}
				return p
			}
			cursor := get("wait=0").Cursor
			b.Run("reset", func(b *testing.B) {
				for b.Loop() {
					if p := get("wait=0"); len(p.Revoked) != revfeed.MaxPageItems {
						b.Fatalf("%d entries", len(p.Revoked))
					}
				}
			})
			b.Run("empty-poll", func(b *testing.B) {
				for b.Loop() {
					if p := get("wait=0&since=" + cursor); len(p.Revoked) != 0 {
						b.Fatalf("%d entries", len(p.Revoked))
					}
				}
			})
		})
	}
}
