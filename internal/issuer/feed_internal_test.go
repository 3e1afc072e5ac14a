package issuer

import (
	"testing"
	"time"
)

func TestFeedCursor(t *testing.T) {
	for _, tc := range []struct {
		in    string
		epoch string
		rev   uint64
		ok    bool
	}{
		{"0123456789abcdef.0", "0123456789abcdef", 0, true},
		{"ab.42", "ab", 42, true},
		{"", "", 0, false},
		{"ab", "", 0, false},
		{"ab.", "", 0, false},
		{".1", "", 0, false},
		{"AB.1", "", 0, false},
		{"ab.01", "", 0, false},
		{"ab.-1", "", 0, false},
		{"ab.1.2", "", 0, false},
		{"ab.99999999999999999999", "", 0, false},
		{"ab.+1", "", 0, false},
	} {
		epoch, rev, ok := parseFeedCursor(tc.in)
		if epoch != tc.epoch || rev != tc.rev || ok != tc.ok {
			t.Errorf("parseFeedCursor(%q) = %q, %d, %v; want %q, %d, %v", tc.in, epoch, rev, ok, tc.epoch, tc.rev, tc.ok)
		}
	}
}

// FuzzFeedCursor: the since parameter is untrusted; a cursor that parses
// formats back to itself, so no two spellings name one position.
func FuzzFeedCursor(f *testing.F) {
	for _, s := range []string{"0123456789abcdef.1", "a.0", "", ".", "a.01", "a.18446744073709551615"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		epoch, rev, ok := parseFeedCursor(s)
		if ok && formatFeedCursor(epoch, rev) != s {
			t.Fatalf("%q parses to %q, %d", s, epoch, rev)
		}
	})
}

func TestUnixCeil(t *testing.T) {
	base := time.Unix(100, 0)
	if got := unixCeil(base); got != 100 {
		t.Errorf("unixCeil(100s) = %d", got)
	}
	if got := unixCeil(base.Add(time.Nanosecond)); got != 101 {
		t.Errorf("unixCeil(100s+1ns) = %d", got)
	}
}

func TestAcceptsEventStream(t *testing.T) {
	for _, tc := range []struct {
		accept []string
		want   bool
	}{
		{nil, false},
		{[]string{"application/json"}, false},
		{[]string{"text/event-stream"}, true},
		{[]string{"application/json, Text/Event-Stream;q=0.9"}, true},
		{[]string{"application/json", "text/event-stream"}, true},
	} {
		if got := acceptsEventStream(tc.accept); got != tc.want {
			t.Errorf("acceptsEventStream(%q) = %v", tc.accept, got)
		}
	}
}
