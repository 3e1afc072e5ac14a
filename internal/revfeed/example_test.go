package revfeed_test

import (
	"context"
	"fmt"
	"log"
	"net/http/httptest"
	"os"
	"path/filepath"
	"time"

	"github.com/wardenhq/warden/internal/issuer"
	"github.com/wardenhq/warden/internal/revfeed"
	"github.com/wardenhq/warden/internal/store"
)

// A service follows the revocation feed of a Warden (here a real issuer
// over a SQLite store on loopback) and asks the Follower about each token's
// jti and sid; give it to authn.Config.Denylist.
func ExampleFollower() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "revfeed-example")
	defer os.RemoveAll(dir)
	st, err := store.Open(ctx, filepath.Join(dir, "warden.db"), store.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()
	srv := httptest.NewUnstartedServer(nil)
	keys, _ := issuer.NewKeyRing(ctx, issuer.KeyRingConfig{Store: st.Issuer(), KEK: make([]byte, issuer.KEKBytes), MaxTTL: time.Hour})
	revs, _ := issuer.NewRevocations(ctx, st.Issuer(), nil)
	iss, err := issuer.New(ctx, issuer.Config{Issuer: "http://" + srv.Listener.Addr().String(), Audiences: []string{"warden"},
		Store: st.Issuer(), Keys: keys, Revocations: revs})
	if err != nil {
		log.Fatal(err)
	}
	defer iss.Close()
	srv.Config.Handler = iss
	srv.Start()
	defer srv.Close()
	secret, hash, _ := issuer.NewSecret(issuer.SecretPrefix)
	_ = st.Issuer().AddClient(ctx, store.Client{ID: "billing", SecretHash: hash, Created: time.Now()})
	_ = st.Issuer().Revoke(ctx, store.Revocation{ID: "jti-1", Kind: store.RevokeJTI, Expiry: time.Now().Add(time.Hour), Created: time.Now()})

	// The service's side.
	f, err := revfeed.New(revfeed.Config{URL: srv.URL, ClientID: "billing", ClientSecret: secret})
	if err != nil {
		log.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { _ = f.Run(runCtx); close(done) }()
	<-f.Synced()
	fmt.Println("jti-1 revoked:", f.Revoked("jti-1"))
	fmt.Println("jti-2 revoked:", f.Revoked("jti-2"))
	fmt.Println("healthy:", f.Healthy())
	stop()
	<-done
	// Output:
	// jti-1 revoked: true
	// jti-2 revoked: false
	// healthy: true
}
