package console

import (
	"testing"
	"time"

	"github.com/wardenhq/warden/internal/authn"
)

// TestSessionsBounded: a full table drops expired sessions first, then the
// oldest; a lookup never returns an expired session.
func TestSessionsBounded(t *testing.T) {
	t0 := time.Date(2026, 12, 2, 6, 0, 0, 0, time.UTC)
	p := &authn.Principal{Subject: "ada"}
	tests := []struct {
		name      string
		expiries  []time.Duration // of the sessions created before the new one, each a second apart
		wantAlive []bool          // after one more session is created at t0+10s
	}{
		{"expired go first", []time.Duration{time.Hour, 5 * time.Second, time.Hour}, []bool{true, false, true}},
		{"then the oldest", []time.Duration{time.Hour, time.Hour, time.Hour}, []bool{false, true, true}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newSessions(len(tc.expiries))
			var ids []string
			for i, exp := range tc.expiries {
				at := t0.Add(time.Duration(i) * time.Second)
				id, _ := s.create(p, at, at.Add(exp))
				ids = append(ids, id)
			}
			now := t0.Add(10 * time.Second)
			newID, _ := s.create(p, now, now.Add(time.Hour))
			if s.len() != len(tc.expiries) {
				t.Errorf("%d sessions, want at most %d", s.len(), len(tc.expiries))
			}
			if s.get(newID, now) == nil {
				t.Error("the new session is missing")
			}
			for i, id := range ids {
				if got := s.get(id, now) != nil; got != tc.wantAlive[i] {
					t.Errorf("session %d alive = %v, want %v", i, got, tc.wantAlive[i])
				}
			}
		})
	}
	s := newSessions(4)
	id, ss := s.create(p, t0, t0.Add(time.Minute))
	if s.get(id, t0.Add(59*time.Second)) != ss || s.get(id, t0.Add(time.Minute)) != nil || s.get(id, t0) != nil {
		t.Error("a session outlives its expiry, or comes back after it")
	}
	if s.get("", t0) != nil || s.get("guess", t0) != nil {
		t.Error("an unknown cookie finds a session")
	}
}
