package issuer_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wardenhq/warden/internal/issuer"
	"github.com/wardenhq/warden/internal/revfeed"
	"github.com/wardenhq/warden/internal/store"
	"github.com/wardenhq/warden/internal/store/storetest"
)

// accessToken issues a client_credentials token and returns it with its jti.
func (e *env) accessToken(id, secret string) (tok, jti string) {
	e.t.Helper()
	m := e.tokenOK(id, secret, form("grant_type", issuer.GrantClientCredentials))
	tok, _ = m["access_token"].(string)
	p, err := e.verifier.Verify(context.Background(), tok)
	if err != nil {
		e.t.Fatalf("issued token does not verify: %v", err)
	}
	return tok, p.TokenID
}

// revoke revokes tok at /oauth2/revoke.
func (e *env) revoke(id, secret, tok string) {
	e.t.Helper()
	if code, _, m := e.post(issuer.RevokePath, id, secret, form("token", tok)); code != http.StatusOK {
		e.t.Fatalf("revoke: %d %v", code, m)
	}
}

// feed GETs the feed with query and headers and decodes a 200 Page.
func (e *env) feed(id, secret, query string, hdr ...string) (int, *revfeed.Page, map[string]any) {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodGet, e.url+issuer.RevocationsPath+"?"+query, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	if id != "" {
		req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		var m map[string]any
		_ = json.Unmarshal(body, &m)
		return resp.StatusCode, nil, m
	}
	p, err := revfeed.ParsePage(body)
	if err != nil {
		e.t.Fatalf("feed answer %q: %v", body, err)
	}
	return resp.StatusCode, p, nil
}

func ids(p *revfeed.Page) []string {
	var out []string
	for _, e := range p.Revoked {
		out = append(out, e.ID)
	}
	return out
}

// TestFeedPages: a reset without or with an unknown cursor, changes since a
// cursor, a long poll answered by a revocation, and the refusals.
func TestFeedPages(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, b *storetest.Backend) {
		e := newEnv(t, b)
		secret := e.addClient("svc", nil, ccGrants...)
		tok1, jti1 := e.accessToken("svc", secret)
		e.revoke("svc", secret, tok1)

		_, p, _ := e.feed("svc", secret, "wait=0")
		if !p.Reset || p.More || strings.Join(ids(p), ",") != jti1 {
			t.Fatalf("first page = %+v, want a reset with %s", p, jti1)
		}
		if exp := p.Revoked[0].Exp; exp < time.Now().Unix() {
			t.Errorf("entry exp %d is in the past", exp)
		}
		for _, bad := range []string{"bogus", "0123456789abcdef.1", strings.Split(p.Cursor, ".")[0] + ".99", "." + "1", p.Cursor + "0"} {
			_, r, _ := e.feed("svc", secret, "wait=0&since="+url.QueryEscape(bad))
			if !r.Reset || strings.Join(ids(r), ",") != jti1 {
				t.Errorf("since=%q: %+v, want a reset", bad, r)
			}
		}
		_, same, _ := e.feed("svc", secret, "wait=0&since="+p.Cursor)
		if same.Reset || len(same.Revoked) != 0 || same.Cursor != p.Cursor {
			t.Fatalf("nothing new: %+v", same)
		}

		// A long poll is answered by the next revocation, not by its timeout.
		tok2, jti2 := e.accessToken("svc", secret)
		done := make(chan *revfeed.Page, 1)
		start := time.Now()
		go func() {
			_, p2, _ := e.feed("svc", secret, "wait=20&since="+p.Cursor)
			done <- p2
		}()
		time.Sleep(100 * time.Millisecond)
		e.revoke("svc", secret, tok2)
		select {
		case p2 := <-done:
			if p2 == nil || p2.Reset || strings.Join(ids(p2), ",") != jti2 {
				t.Fatalf("long poll = %+v, want %s", p2, jti2)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Fatalf("long poll took %s", d)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("long poll not answered")
		}

		// An empty long poll ends after wait with the same cursor.
		_, cur, _ := e.feed("svc", secret, "wait=0")
		_, idle, _ := e.feed("svc", secret, "wait=1&since="+cur.Cursor)
		if idle.Reset || len(idle.Revoked) != 0 || idle.Cursor != cur.Cursor {
			t.Fatalf("idle poll = %+v", idle)
		}

		for _, tc := range []struct {
			name, id, secret, query string
			want                    int
			code                    string
		}{
			{"no credentials", "", "", "", 401, issuer.ErrCodeInvalidClient},
			{"wrong secret", "svc", "wcs_wrong", "", 401, issuer.ErrCodeInvalidClient},
			{"unknown client", "nobody", secret, "", 401, issuer.ErrCodeInvalidClient},
			{"wait too long", "svc", secret, "wait=61", 400, issuer.ErrCodeInvalidRequest},
			{"wait negative", "svc", secret, "wait=-1", 400, issuer.ErrCodeInvalidRequest},
			{"wait not a number", "svc", secret, "wait=x", 400, issuer.ErrCodeInvalidRequest},
			{"since repeated", "svc", secret, "wait=0&since=a&since=b", 400, issuer.ErrCodeInvalidRequest},
			{"since too long", "svc", secret, "wait=0&since=" + strings.Repeat("a", revfeed.MaxCursorLen+1), 400, issuer.ErrCodeInvalidRequest},
		} {
			t.Run(tc.name, func(t *testing.T) {
				code, _, m := e.feed(tc.id, tc.secret, tc.query)
				wantError(t, code, m, tc.want, tc.code)
			})
		}
		code, _, m := e.post(issuer.RevocationsPath, "svc", secret, nil)
		wantError(t, code, m, http.StatusMethodNotAllowed, issuer.ErrCodeInvalidRequest)
	})
}

// TestFeedPagination: more than MaxPageItems revocations arrive in pages,
// each continuing from the previous cursor.
func TestFeedPagination(t *testing.T) {
	e := newEnv(t, storetest.NewSQLite(t))
	secret := e.addClient("svc", nil, ccGrants...)
	ctx := context.Background()
	n := revfeed.MaxPageItems + 10
	exp := time.Now().Add(time.Hour)
	for i := range n {
		if err := e.st.Issuer().Revoke(ctx, store.Revocation{ID: fmt.Sprintf("j%04d", i), Kind: store.RevokeJTI, Expiry: exp, Created: exp}); err != nil {
			t.Fatal(err)
		}
	}
	_, p1, _ := e.feed("svc", secret, "wait=0")
	if !p1.Reset || !p1.More || len(p1.Revoked) != revfeed.MaxPageItems || p1.Revoked[0].ID != "j0000" {
		t.Fatalf("page 1: reset %v more %v, %d entries", p1.Reset, p1.More, len(p1.Revoked))
	}
	_, p2, _ := e.feed("svc", secret, "wait=0&since="+p1.Cursor)
	if p2.Reset || p2.More || len(p2.Revoked) != 10 || p2.Revoked[0].ID != fmt.Sprintf("j%04d", revfeed.MaxPageItems) {
		t.Fatalf("page 2: reset %v more %v, %d entries", p2.Reset, p2.More, len(p2.Revoked))
	}
}

// TestFeedWaiterLimit: polls beyond MaxFeedWaiters are refused with 503 and
// Retry-After instead of being held.
func TestFeedWaiterLimit(t *testing.T) {
	e := newEnv(t, storetest.NewSQLite(t), func(c *issuer.Config) { c.MaxFeedWaiters = 1 })
	secret := e.addClient("svc", nil, ccGrants...)
	_, p, _ := e.feed("svc", secret, "wait=0")
	held := make(chan struct{})
	go func() {
		defer close(held)
		e.feed("svc", secret, "wait=3&since="+p.Cursor)
	}()
	deadline := time.Now().Add(2 * time.Second)
	for e.iss.Stats().FeedWaiters == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	code, _, m := e.feed("svc", secret, "wait=0")
	wantError(t, code, m, http.StatusServiceUnavailable, issuer.ErrCodeUnavailable)
	<-held
	if code, _, _ := e.feed("svc", secret, "wait=0"); code != http.StatusOK {
		t.Fatalf("after the held poll ended: %d", code)
	}
}

// sseReader reads server-sent events.
type sseReader struct {
	resp *http.Response
	r    *bufio.Reader
}

func (e *env) openSSE(id, secret, lastEventID string) *sseReader {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, e.url+issuer.RevocationsPath, nil)
	req.SetBasicAuth(id, secret)
	req.Header.Set("Accept", "text/event-stream")
	if lastEventID != "" {
		req.Header.Set("Last-Event-ID", lastEventID)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		e.t.Fatalf("SSE: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	return &sseReader{resp: resp, r: bufio.NewReader(resp.Body)}
}

// next returns the next event's id and page, skipping comments and the
// retry field; it fails after 10s.
func (s *sseReader) next(t *testing.T) (string, *revfeed.Page) {
	t.Helper()
	type ev struct {
		id   string
		page *revfeed.Page
		err  error
	}
	ch := make(chan ev, 1)
	go func() {
		var id, event, data string
		for {
			line, err := s.r.ReadString('\n')
			if err != nil {
				ch <- ev{err: err}
				return
			}
			line = strings.TrimRight(line, "\n")
			switch {
			case line == "" && data != "":
				if event != revfeed.SSEEvent {
					ch <- ev{err: fmt.Errorf("event %q", event)}
					return
				}
				p, err := revfeed.ParsePage([]byte(data))
				ch <- ev{id: id, page: p, err: err}
				return
			case strings.HasPrefix(line, "id: "):
				id = line[4:]
			case strings.HasPrefix(line, "event: "):
				event = line[7:]
			case strings.HasPrefix(line, "data: "):
				data = line[6:]
			}
		}
	}()
	select {
	case e := <-ch:
		if e.err != nil {
			t.Fatalf("SSE: %v", e.err)
		}
		if e.id != e.page.Cursor {
			t.Fatalf("event id %q, page cursor %q", e.id, e.page.Cursor)
		}
		return e.id, e.page
	case <-time.After(10 * time.Second):
		t.Fatal("no SSE event within 10s")
		return "", nil
	}
}

// TestFeedSSE: the stream starts with a reset, sends each revocation as it
// lands, and a reconnection with Last-Event-ID resumes after that event.
func TestFeedSSE(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, b *storetest.Backend) {
		e := newEnv(t, b)
		secret := e.addClient("svc", nil, ccGrants...)
		tok1, jti1 := e.accessToken("svc", secret)
		e.revoke("svc", secret, tok1)

		s := e.openSSE("svc", secret, "")
		id1, p := s.next(t)
		if !p.Reset || strings.Join(ids(p), ",") != jti1 {
			t.Fatalf("first event %+v", p)
		}
		tok2, jti2 := e.accessToken("svc", secret)
		e.revoke("svc", secret, tok2)
		id2, p := s.next(t)
		if p.Reset || strings.Join(ids(p), ",") != jti2 || id2 == id1 {
			t.Fatalf("second event %s %+v, want %s", id2, p, jti2)
		}
		s.resp.Body.Close()

		// Resume from the first event: only the second revocation.
		r := e.openSSE("svc", secret, id1)
		if id, p := r.next(t); p.Reset || strings.Join(ids(p), ",") != jti2 || id != id2 {
			t.Fatalf("resumed event %s %+v, want %s %s", id, p, id2, jti2)
		}
		// Resume with an unknown id: a reset.
		u := e.openSSE("svc", secret, "feedfeedfeedfeed.1")
		if _, p := u.next(t); !p.Reset || len(p.Revoked) != 2 {
			t.Fatalf("unknown Last-Event-ID: %+v", p)
		}
	})
}

// follow starts a Follower of e's feed and waits for its first sync.
func follow(t *testing.T, base, id, secret string, stream ...bool) *revfeed.Follower {
	t.Helper()
	f, err := revfeed.New(revfeed.Config{URL: base, ClientID: id, ClientSecret: secret, Wait: 20 * time.Second, MinBackoff: 10 * time.Millisecond, MaxBackoff: 100 * time.Millisecond,
		Stream: len(stream) > 0 && stream[0]})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = f.Run(ctx) })
	t.Cleanup(func() { cancel(); wg.Wait() })
	select {
	case <-f.Synced():
	case <-time.After(10 * time.Second):
		t.Fatalf("follower not synced: %+v", f.Stats())
	}
	if !f.Healthy() {
		t.Fatalf("synced follower not healthy: %+v", f.Stats())
	}
	return f
}

// waitRevoked waits until limit after start for f to deny id.
func waitRevoked(t *testing.T, f *revfeed.Follower, id string, start time.Time, limit time.Duration) time.Duration {
	t.Helper()
	for !f.Revoked(id) {
		if time.Since(start) > limit {
			t.Fatalf("%s not revoked at the follower within %s: %+v", id, limit, f.Stats())
		}
		time.Sleep(5 * time.Millisecond)
	}
	return time.Since(start)
}

// TestFollowerSeesRevocation: a revocation reaches a long-polling Follower
// within 1s, and the Follower is an authn.Denylist for jti and sid.
func TestFollowerSeesRevocation(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, b *storetest.Backend) {
		e := newEnv(t, b)
		secret := e.addClient("svc", nil, ccGrants...)
		tok0, jti0 := e.accessToken("svc", secret)
		e.revoke("svc", secret, tok0)
		f := follow(t, e.url, "svc", secret)
		if !f.Revoked(jti0) {
			t.Fatalf("reset did not deliver %s", jti0)
		}
		tok, jti := e.accessToken("svc", secret)
		if f.Revoked(jti) {
			t.Fatal("unrevoked token denied")
		}
		time.Sleep(50 * time.Millisecond) // the follower is holding a poll
		start := time.Now()
		e.revoke("svc", secret, tok)
		d := waitRevoked(t, f, jti, start, time.Second)
		t.Logf("revocation reached the follower in %s", d)
	})
}

// TestFollowerAcrossNodes: two Warden nodes on one database; a token revoked
// at node A reaches a Follower of node B (PostgreSQL: by NOTIFY within 1s;
// SQLite: by node B's resync).
func TestFollowerAcrossNodes(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, b *storetest.Backend) {
		a := newEnv(t, b)
		nodeB := newEnv(t, b)
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		wg.Go(func() { nodeB.iss.Run(ctx) })
		t.Cleanup(func() { cancel(); wg.Wait() })
		secret := a.addClient("svc", nil, ccGrants...)
		f := follow(t, nodeB.url, "svc", secret)
		tok, jti := a.accessToken("svc", secret)
		time.Sleep(50 * time.Millisecond)
		start := time.Now()
		a.revoke("svc", secret, tok)
		d := waitRevoked(t, f, jti, start, time.Second)
		t.Logf("revocation at node A reached node B's follower in %s", d)
		// Both nodes give the same cursor.
		_, pa, _ := a.feed("svc", secret, "wait=0")
		_, pb, _ := nodeB.feed("svc", secret, "wait=0")
		if pa.Cursor != pb.Cursor {
			t.Fatalf("cursors differ: %s vs %s", pa.Cursor, pb.Cursor)
		}
	})
}

// TestFeedOutlivesWriteTimeout: a held poll and an event stream extend
// their write deadline, so a listener with a short write_timeout does not
// cut them off.
func TestFeedOutlivesWriteTimeout(t *testing.T) {
	e := newEnv(t, storetest.NewSQLite(t))
	secret := e.addClient("svc", nil, ccGrants...)
	srv := httptest.NewUnstartedServer(e.iss)
	srv.Config.WriteTimeout = 300 * time.Millisecond
	srv.Start()
	defer srv.Close()
	_, first, _ := e.feed("svc", secret, "wait=0")
	req, _ := http.NewRequest(http.MethodGet, srv.URL+issuer.RevocationsPath+"?wait=1&since="+first.Cursor, nil)
	req.SetBasicAuth("svc", secret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("held poll behind a 300ms write timeout: %v", err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("held poll: %d %q %v", resp.StatusCode, body, err)
	}
	if p, err := revfeed.ParsePage(body); err != nil || p.Cursor != first.Cursor {
		t.Fatalf("held poll answer %q: %v", body, err)
	}
}

// TestFollowerStream: a Follower in SSE mode sees a revocation within 1s,
// and after the connection drops it reconnects with Last-Event-ID and sees
// the next one without a reset.
func TestFollowerStream(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, b *storetest.Backend) {
		e := newEnv(t, b)
		secret := e.addClient("svc", nil, ccGrants...)
		f := follow(t, e.url, "svc", secret, true)
		for i := range 2 {
			tok, jti := e.accessToken("svc", secret)
			time.Sleep(50 * time.Millisecond)
			start := time.Now()
			e.revoke("svc", secret, tok)
			d := waitRevoked(t, f, jti, start, time.Second)
			t.Logf("revocation %d reached the streaming follower in %s", i+1, d)
			// Drop every connection: the follower's stream, and the
			// test's own idle ones, which it must not reuse.
			e.srv.CloseClientConnections()
			http.DefaultClient.CloseIdleConnections()
		}
		if st := f.Stats(); st.Resets != 1 || !f.Healthy() {
			t.Fatalf("stats %+v: want one reset (the first sync) and healthy", st)
		}
	})
}

// TestFeedDrain: Drain answers a held long poll at once (with no changes and
// its cursor), ends a held stream, and later polls do not wait.
func TestFeedDrain(t *testing.T) {
	e := newEnv(t, storetest.NewSQLite(t))
	secret := e.addClient("svc", nil, ccGrants...)
	_, p, _ := e.feed("svc", secret, "wait=0")
	type answer struct {
		code int
		page *revfeed.Page
		took time.Duration
	}
	held := make(chan answer, 1)
	go func() {
		start := time.Now()
		code, page, _ := e.feed("svc", secret, "wait=30&since="+p.Cursor)
		held <- answer{code, page, time.Since(start)}
	}()
	sse := e.openSSE("svc", secret, p.Cursor)
	deadline := time.Now().Add(5 * time.Second)
	for e.iss.Stats().FeedWaiters < 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := e.iss.Stats().FeedWaiters; n < 2 {
		t.Fatalf("%d feed requests held, want 2", n)
	}
	e.iss.Drain()
	select {
	case a := <-held:
		if a.code != http.StatusOK || a.page.Reset || len(a.page.Revoked) != 0 || a.page.Cursor != p.Cursor {
			t.Errorf("drained poll: %d %+v, want 200, no changes, cursor %s", a.code, a.page, p.Cursor)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a held poll outlived Drain by 5s (its wait was 30s)")
	}
	ended := make(chan error, 1)
	go func() { _, err := io.Copy(io.Discard, sse.r); ended <- err }()
	select {
	case <-ended:
	case <-time.After(5 * time.Second):
		t.Fatal("a held stream outlived Drain by 5s")
	}
	start := time.Now()
	if code, _, _ := e.feed("svc", secret, "wait=30&since="+p.Cursor); code != http.StatusOK || time.Since(start) > 5*time.Second {
		t.Errorf("a poll after Drain: %d after %v, want 200 at once", code, time.Since(start))
	}
	e.iss.Drain() // twice is fine
}
