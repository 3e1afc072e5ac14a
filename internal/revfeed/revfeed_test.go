package revfeed_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wardenhq/warden/internal/authn"
	"github.com/wardenhq/warden/internal/revfeed"
	"github.com/wardenhq/warden/internal/testutil"
)

var _ authn.Denylist = (*revfeed.Follower)(nil)

func TestNewValidates(t *testing.T) {
	ok := revfeed.Config{URL: "https://warden.example", ClientID: "svc", ClientSecret: "s"}
	for _, tc := range []struct {
		name string
		edit func(*revfeed.Config)
	}{
		{"no URL", func(c *revfeed.Config) { c.URL = "" }},
		{"not http", func(c *revfeed.Config) { c.URL = "ftp://warden.example" }},
		{"no host", func(c *revfeed.Config) { c.URL = "https://" }},
		{"query", func(c *revfeed.Config) { c.URL = "https://warden.example/?a=1" }},
		{"no client", func(c *revfeed.Config) { c.ClientID = "" }},
		{"no secret", func(c *revfeed.Config) { c.ClientSecret = "" }},
		{"wait too long", func(c *revfeed.Config) { c.Wait = 2 * time.Minute }},
		{"wait too short", func(c *revfeed.Config) { c.Wait = time.Millisecond }},
		{"client timeout shorter than a poll", func(c *revfeed.Config) { c.HTTPClient = &http.Client{Timeout: 5 * time.Second} }},
		{"backoffs reversed", func(c *revfeed.Config) { c.MinBackoff, c.MaxBackoff = time.Minute, time.Second }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := ok
			tc.edit(&c)
			if _, err := revfeed.New(c); err == nil {
				t.Fatal("New accepted it")
			}
		})
	}
	if _, err := revfeed.New(ok); err != nil {
		t.Fatalf("New(%+v) = %v", ok, err)
	}
}

// script is a feed server that answers requests from a list, one per
// token on step, recording each request's since parameter.
type script struct {
	mu      sync.Mutex
	answers []func(w http.ResponseWriter)
	since   []string
	auth    []string
	step    chan struct{}
}

func (s *script) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	select {
	case <-s.step:
	case <-r.Context().Done():
		return
	}
	s.mu.Lock()
	s.since = append(s.since, r.URL.Query().Get("since"))
	id, secret, _ := r.BasicAuth()
	s.auth = append(s.auth, id+":"+secret)
	var next func(http.ResponseWriter)
	if len(s.answers) > 0 {
		next, s.answers = s.answers[0], s.answers[1:]
	}
	s.mu.Unlock()
	if next == nil {
		<-r.Context().Done() // hold, like an idle long poll
		return
	}
	next(w)
}

func page(p revfeed.Page) func(http.ResponseWriter) {
	return func(w http.ResponseWriter) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(p)
	}
}

func status(code int) func(http.ResponseWriter) {
	return func(w http.ResponseWriter) {
		w.WriteHeader(code)
		_, _ = w.Write([]byte(`{"error":"invalid_client"}`))
	}
}

// run starts f against s and returns a function that lets s answer n
// more requests and waits until f has handled them (applied or failed).
func run(t *testing.T, f *revfeed.Follower, s *script) func(n int) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = f.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	var total uint64
	return func(n int) {
		t.Helper()
		for range n {
			select {
			case s.step <- struct{}{}:
			case <-time.After(5 * time.Second):
				t.Fatal("the follower did not poll")
			}
			total++
			deadline := time.Now().Add(5 * time.Second)
			for st := f.Stats(); st.Polls+st.Failures < total; st = f.Stats() {
				if time.Now().After(deadline) {
					t.Fatalf("answer %d not handled: %+v", total, st)
				}
				time.Sleep(time.Millisecond)
			}
		}
	}
}

func TestFollowerApplies(t *testing.T) {
	clock := testutil.NewClock(time.Unix(1000, 0))
	s := &script{step: make(chan struct{}), answers: []func(http.ResponseWriter){
		// A reset in two pages.
		page(revfeed.Page{Cursor: "e.2", Reset: true, More: true, Revoked: []revfeed.Entry{{ID: "a", Exp: 2000}, {ID: "old", Exp: 900}}}),
		page(revfeed.Page{Cursor: "e.3", Revoked: []revfeed.Entry{{ID: "b", Exp: 1500}}}),
		// A change.
		page(revfeed.Page{Cursor: "e.4", Revoked: []revfeed.Entry{{ID: "c", Exp: 3000}}}),
		// A failure, then the server no longer knows the cursor.
		status(http.StatusInternalServerError),
		status(http.StatusGone),
		// The reset after it: "a" and "b" are no longer revoked.
		page(revfeed.Page{Cursor: "f.1", Reset: true, Revoked: []revfeed.Entry{{ID: "c", Exp: 3000}}}),
	}}
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close) // after the follower stops (cleanups run last first)
	f, err := revfeed.New(revfeed.Config{URL: srv.URL, ClientID: "svc a", ClientSecret: "s:é", Clock: clock.Now, MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if f.Healthy() || f.Revoked("a") {
		t.Fatal("a new follower is healthy or denies")
	}
	wait := run(t, f, s)
	wait(1)
	if f.Healthy() || !f.Revoked("a") || f.Revoked("old") {
		t.Fatalf("mid-reset: healthy %v, a %v, old %v", f.Healthy(), f.Revoked("a"), f.Revoked("old"))
	}
	wait(1)
	if !f.Healthy() || !f.Revoked("a") || !f.Revoked("b") {
		t.Fatalf("after the reset: %+v", f.Stats())
	}
	select {
	case <-f.Synced():
	default:
		t.Fatal("Synced not closed after the first complete reset")
	}
	wait(1)
	if !f.Revoked("c") {
		t.Fatal("change not applied")
	}
	clock.Advance(600 * time.Second) // now 1600: b expired
	if f.Revoked("b") || !f.Revoked("a") {
		t.Fatalf("expiry: b %v, a %v", f.Revoked("b"), f.Revoked("a"))
	}
	wait(3)
	if f.Revoked("a") || !f.Revoked("c") {
		t.Fatalf("after the second reset: a %v, c %v", f.Revoked("a"), f.Revoked("c"))
	}
	st := f.Stats()
	if st.Resets != 2 || st.Failures != 2 || st.Polls != 4 || st.Entries != 1 || st.LastErr != "" {
		t.Fatalf("stats %+v", st)
	}
	clock.Advance(revfeed.DefaultMaxStaleness + time.Second)
	if f.Healthy() {
		t.Fatal("healthy past MaxStaleness")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if want := []string{"", "e.2", "e.3", "e.4", "e.4", ""}; strings.Join(s.since[:6], ",") != strings.Join(want, ",") {
		t.Fatalf("since = %q, want %q", s.since[:6], want)
	}
	if s.auth[0] != "svc+a:s%3A%C3%A9" {
		t.Fatalf("Basic credentials %q, want them form-encoded (RFC 6749 §2.3.1)", s.auth[0])
	}
}

func TestFollowerRefusals(t *testing.T) {
	s := &script{step: make(chan struct{}), answers: []func(http.ResponseWriter){
		status(http.StatusUnauthorized),
		func(w http.ResponseWriter) { _, _ = w.Write([]byte(`{"cursor":"","revoked":[]}`)) },
		func(w http.ResponseWriter) { _, _ = w.Write([]byte(`not json`)) },
		func(w http.ResponseWriter) {
			_ = json.NewEncoder(w).Encode(revfeed.Page{Cursor: "e.1", Reset: true, Revoked: []revfeed.Entry{{ID: strings.Repeat("x", revfeed.MaxIDLen+1), Exp: 1 << 40}}})
		},
	}}
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close) // after the follower stops (cleanups run last first)
	f, err := revfeed.New(revfeed.Config{URL: srv.URL, ClientID: "svc", ClientSecret: "s", MinBackoff: time.Millisecond, MaxBackoff: 2 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	wait := run(t, f, s)
	wait(4)
	st := f.Stats()
	if st.Failures != 4 || st.Polls != 0 || f.Healthy() || st.LastErr == "" {
		t.Fatalf("stats %+v", st)
	}
}

func TestParsePage(t *testing.T) {
	for _, tc := range []struct {
		body string
		ok   bool
	}{
		{`{"cursor":"a.1","reset":true,"revoked":[{"id":"j","exp":5}]}`, true},
		{`{"cursor":"a.1","revoked":[]}`, true},
		{`{"cursor":"","revoked":[]}`, false},
		{`{"cursor":"` + strings.Repeat("a", revfeed.MaxCursorLen+1) + `","revoked":[]}`, false},
		{`{"cursor":"a.1","revoked":[{"id":"","exp":5}]}`, false},
		{`[]`, false},
		{`{"cursor":"a.1","revoked":[{"id":"j","exp":"5"}]}`, false},
	} {
		_, err := revfeed.ParsePage([]byte(tc.body))
		if (err == nil) != tc.ok {
			t.Errorf("ParsePage(%s) = %v, want ok %v", tc.body, err, tc.ok)
		}
	}
	many := revfeed.Page{Cursor: "a.1", Revoked: make([]revfeed.Entry, revfeed.MaxPageItems+1)}
	for i := range many.Revoked {
		many.Revoked[i] = revfeed.Entry{ID: "j", Exp: 1}
	}
	b, _ := json.Marshal(many)
	if _, err := revfeed.ParsePage(b); err == nil {
		t.Error("ParsePage accepted more than MaxPageItems")
	}
}

// FuzzParsePage: the Follower reads pages from the network; anything
// either fails cleanly or is a page within the bounds.
func FuzzParsePage(f *testing.F) {
	f.Add([]byte(`{"cursor":"a.1","reset":true,"more":true,"revoked":[{"id":"j","exp":5}]}`))
	f.Add([]byte(`{"cursor":"a.1","revoked":null}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := revfeed.ParsePage(b)
		if err != nil {
			return
		}
		if p.Cursor == "" || len(p.Cursor) > revfeed.MaxCursorLen || len(p.Revoked) > revfeed.MaxPageItems {
			t.Fatalf("page out of bounds: %+v", p)
		}
		for _, e := range p.Revoked {
			if e.ID == "" || len(e.ID) > revfeed.MaxIDLen {
				t.Fatalf("entry out of bounds: %+v", e)
			}
		}
	})
}

// TestStreamRefusals: what a Follower in SSE mode refuses from a server.
func TestStreamRefusals(t *testing.T) {
	good := `data: {"cursor":"e.1","reset":true,"revoked":[{"id":"a","exp":99999999999}]}` + "\n\n"
	for _, tc := range []struct {
		name, ctype, body string
		wantPolls         uint64
	}{
		{"not an event stream", "application/json", `{"cursor":"e.1","reset":true,"revoked":[]}`, 0},
		{"malformed page", "text/event-stream", "data: {\n\n", 0},
		{"two data lines", "text/event-stream", "data: {}\ndata: {}\n\n", 0},
		{"line too long", "text/event-stream", "data: " + strings.Repeat("x", revfeed.MaxPageBytes+10) + "\n\n", 0},
		{"a good page, then the stream ends", "text/event-stream", "retry: 1000\n\n: keep-alive\n\nid: e.1\nevent: revocations\n" + good, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			served := make(chan struct{}, 1)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				select {
				case served <- struct{}{}:
				default:
					<-r.Context().Done() // hold every later request
					return
				}
				w.Header().Set("Content-Type", tc.ctype)
				_, _ = w.Write([]byte(tc.body))
			}))
			t.Cleanup(srv.Close)
			f, err := revfeed.New(revfeed.Config{URL: srv.URL, ClientID: "svc", ClientSecret: "s", Stream: true, MinBackoff: time.Millisecond, MaxBackoff: time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { _ = f.Run(ctx); close(done) }()
			t.Cleanup(func() { cancel(); <-done })
			deadline := time.Now().Add(5 * time.Second)
			for st := f.Stats(); st.Polls+st.Failures == 0; st = f.Stats() {
				if time.Now().After(deadline) {
					t.Fatal("nothing handled")
				}
				time.Sleep(time.Millisecond)
			}
			time.Sleep(20 * time.Millisecond)
			st := f.Stats()
			if st.Polls != tc.wantPolls || (tc.wantPolls == 0) != (st.Failures > 0) || f.Revoked("a") != (tc.wantPolls == 1) {
				t.Fatalf("stats %+v, revoked(a) %v", st, f.Revoked("a"))
			}
		})
	}
}
