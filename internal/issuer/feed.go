package issuer

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/wardenhq/warden/internal/revfeed"
	"github.com/wardenhq/warden/internal/store"
)

// RevocationsPath is the revocation feed (package revfeed follows it).
const RevocationsPath = revfeed.Path

// Feed limits.
const (
	// DefaultMaxFeedWaiters bounds the long polls and event streams held
	// at once (Config.MaxFeedWaiters).
	DefaultMaxFeedWaiters = 1024
	// feedKeepAlive is the interval of SSE comments that keep proxies from
	// closing an idle stream.
	feedKeepAlive = 15 * time.Second
	// maxFeedStream ends an event stream; the client reconnects with
	// Last-Event-ID and authenticates again, so a removed client stops
	// receiving within this time.
	maxFeedStream = 5 * time.Minute
	// feedWriteSlack is added to the write deadline of a held answer.
	feedWriteSlack = 10 * time.Second
)

// errFeedBusy answers a poll when MaxFeedWaiters are held already.
var errFeedBusy = &Error{Status: http.StatusServiceUnavailable, Code: ErrCodeUnavailable, Description: "too many feed followers; retry later"}

// AuthenticateBasic authenticates the OAuth client of a request without a
// form body (the feed's GET, the JSON POST of audit ingest): HTTP Basic
// credentials, checked like the token endpoint's in constant time. Every
// failure is an *Error invalid_client (401, with a Basic challenge).
func (iss *Issuer) AuthenticateBasic(ctx context.Context, r *http.Request) (*store.Client, error) {
	authz := r.Header.Values("Authorization")
	if len(authz) == 0 {
		return nil, &Error{Status: http.StatusUnauthorized, Code: ErrCodeInvalidClient, Description: "client authentication (HTTP Basic) is required", basic: true}
	}
	f, err := parseBody("", authz)
	if err != nil {
		return nil, err
	}
	return iss.authenticate(ctx, f)
}

// serveRevocations is the revocation feed: GET /oauth2/revocations
// ?since=<cursor>&wait=<seconds>, for any authenticated client (like
// introspection). Without a cursor, or with one this database does not know,
// the answer is a reset: the full current set. Otherwise it holds the
// request until a revocation lands or wait (default 25s, at most 60s) ends.
// With Accept: text/event-stream it streams pages as server-sent events,
// resuming from Last-Event-ID.
func (iss *Issuer) serveRevocations(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if r.Method != http.MethodGet {
		iss.refuseQuietly(w, &Error{Status: http.StatusMethodNotAllowed, Code: ErrCodeInvalidRequest, Description: "use GET", allow: http.MethodGet})
		return
	}
	if _, err := iss.AuthenticateBasic(ctx, r); err != nil {
		iss.refuseQuietly(w, err)
		return
	}
	q := r.URL.Query()
	since, waitS := q.Get("since"), q.Get("wait")
	if id := r.Header.Get("Last-Event-ID"); id != "" {
		since = id
	}
	wait := revfeed.DefaultWait
	if waitS != "" {
		n, err := strconv.Atoi(waitS)
		if err != nil || n < 0 || time.Duration(n)*time.Second > revfeed.MaxWait {
			iss.refuseQuietly(w, badRequest(fmt.Sprintf("wait must be 0 to %d seconds", int(revfeed.MaxWait/time.Second))))
			return
		}
		wait = time.Duration(n) * time.Second
	}
	if len(since) > revfeed.MaxCursorLen || len(q["since"]) > 1 || len(q["wait"]) > 1 {
		iss.refuseQuietly(w, badRequest("malformed since or wait"))
		return
	}
	if iss.waiters.Add(1) > int64(iss.cfg.MaxFeedWaiters) {
		iss.waiters.Add(-1)
		w.Header().Set("Retry-After", "5")
		iss.refuseQuietly(w, errFeedBusy)
		return
	}
	defer iss.waiters.Add(-1)
	if acceptsEventStream(r.Header.Values("Accept")) {
		iss.streamRevocations(ctx, w, since)
		return
	}
	_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(wait + feedWriteSlack))
	page, err := iss.pollRevocations(ctx, since, wait)
	if err != nil {
		if ctx.Err() == nil {
			iss.refuseQuietly(w, serverError(err))
		}
		return
	}
	writeJSON(w, page)
}

// pollRevocations answers a long poll: at once when there is something to
// say (a reset, or changes), else when a revocation lands or wait ends.
func (iss *Issuer) pollRevocations(ctx context.Context, since string, wait time.Duration) (*revfeed.Page, error) {
	var timeout <-chan time.Time
	if wait > 0 {
		t := time.NewTimer(wait)
		defer t.Stop()
		timeout = t.C
	}
	for {
		// Taken before reading, so a revocation committed after the read
		// closes it.
		changed := iss.cfg.Revocations.Changed()
		page, err := iss.revocationPage(ctx, since)
		if err != nil || page.Reset || len(page.Revoked) > 0 || wait == 0 {
			return page, err
		}
		since = page.Cursor
		select {
		case <-changed:
		case <-timeout:
			return page, nil
		case <-iss.draining:
			// Shutting down: answer now, the follower reconnects to
			// another node or to this one when it is back.
			return page, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// streamRevocations serves the feed as server-sent events: one event per
// page (id: its cursor), the first at once, then one whenever revocations
// land, with keep-alive comments in between, until maxFeedStream.
func (iss *Issuer) streamRevocations(ctx context.Context, w http.ResponseWriter, since string) {
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	// Taken before each read, so a revocation committed after the read
	// closes it.
	changed := iss.cfg.Revocations.Changed()
	page, err := iss.revocationPage(ctx, since)
	if err != nil {
		if ctx.Err() == nil {
			iss.refuseQuietly(w, serverError(err))
		}
		return
	}
	write := func(b []byte) bool {
		_ = rc.SetWriteDeadline(time.Now().Add(feedWriteSlack))
		if _, err := w.Write(b); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	w.WriteHeader(http.StatusOK)
	if !write([]byte("retry: 1000\n\n")) || !write(sseEvent(page)) {
		return
	}
	keep := time.NewTicker(feedKeepAlive)
	defer keep.Stop()
	end := time.NewTimer(maxFeedStream)
	defer end.Stop()
	for {
		since = page.Cursor
		for !page.More {
			select {
			case <-changed:
			case <-keep.C:
				if !write([]byte(": keep-alive\n\n")) {
					return
				}
				continue
			case <-end.C:
				return
			case <-iss.draining:
				return
			case <-ctx.Done():
				return
			}
			break
		}
		changed = iss.cfg.Revocations.Changed()
		if page, err = iss.revocationPage(ctx, since); err != nil {
			if ctx.Err() == nil {
				iss.log.Warn("issuer: revocation feed", "err", err)
			}
			return // the client reconnects with Last-Event-ID
		}
		if (page.Reset || len(page.Revoked) > 0) && !write(sseEvent(page)) {
			return
		}
	}
}

// sseEvent renders page as one server-sent event.
func sseEvent(page *revfeed.Page) []byte {
	data, _ := json.Marshal(page) // strings and ints only: cannot fail
	b := make([]byte, 0, len(data)+len(page.Cursor)+48)
	b = append(b, "id: "...)
	b = append(b, page.Cursor...)
	b = append(b, "\nevent: "+revfeed.SSEEvent+"\ndata: "...)
	b = append(b, data...)
	return append(b, "\n\n"...)
}

// acceptsEventStream reports whether an Accept header asks for SSE.
func acceptsEventStream(accept []string) bool {
	for _, a := range accept {
		for part := range strings.SplitSeq(a, ",") {
			mt, _, _ := strings.Cut(part, ";")
			if strings.EqualFold(strings.TrimSpace(mt), "text/event-stream") {
				return true
			}
		}
	}
	return false
}

// revocationPage reads the feed after since: changes for a cursor of this
// database, else a reset (the full unexpired set).
func (iss *Issuer) revocationPage(ctx context.Context, since string) (*revfeed.Page, error) {
	now := iss.cfg.Clock()
	epoch, after, ok := parseFeedCursor(since)
	if !ok {
		after = 0
	}
	revs, pos, err := iss.cfg.Store.RevocationsSince(ctx, after, now, revfeed.MaxPageItems+1)
	if err != nil {
		return nil, err
	}
	reset := !ok || epoch != pos.Epoch || after > pos.Rev
	if reset && after != 0 {
		if revs, pos, err = iss.cfg.Store.RevocationsSince(ctx, 0, now, revfeed.MaxPageItems+1); err != nil {
			return nil, err
		}
	}
	page := &revfeed.Page{Reset: reset, Revoked: make([]revfeed.Entry, 0, min(len(revs), revfeed.MaxPageItems))}
	last := pos.Rev
	if len(revs) > revfeed.MaxPageItems {
		revs = revs[:revfeed.MaxPageItems]
		page.More = true
		last = revs[len(revs)-1].Rev
	}
	for _, v := range revs {
		page.Revoked = append(page.Revoked, revfeed.Entry{ID: v.ID, Exp: unixCeil(v.Expiry)})
	}
	page.Cursor = formatFeedCursor(pos.Epoch, last)
	return page, nil
}

// unixCeil is t in Unix seconds, rounded up so that an entry never expires
// early at the follower.
func unixCeil(t time.Time) int64 {
	s := t.Unix()
	if t.Nanosecond() > 0 {
		s++
	}
	return s
}

// A feed cursor is "<epoch>.<rev>": the database's random epoch and a
// revision. It is opaque to clients.
func formatFeedCursor(epoch string, rev uint64) string {
	return epoch + "." + strconv.FormatUint(rev, 10)
}

func parseFeedCursor(s string) (epoch string, rev uint64, ok bool) {
	epoch, r, found := strings.Cut(s, ".")
	if !found || epoch == "" || len(epoch) > 64 || r == "" || (len(r) > 1 && r[0] == '0') {
		return "", 0, false
	}
	for i := 0; i < len(epoch); i++ {
		c := epoch[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return "", 0, false
		}
	}
	rev, err := strconv.ParseUint(r, 10, 63)
	if err != nil {
		return "", 0, false
	}
	return epoch, rev, true
}
