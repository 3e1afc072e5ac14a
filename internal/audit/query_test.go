package audit

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/wardenhq/warden/internal/store/storetest"
)

func TestQuery(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, b *storetest.Backend) {
		ctx := context.Background()
		st := b.Open(t)
		appendN(t, st, "n1", 12)
		appendN(t, st, "n2", 4)
		ids := func(es []Entry) string {
			var s []string
			for _, e := range es {
				s = append(s, fmt.Sprintf("%s/%d", e.Record.Node, e.Record.Seq))
			}
			return strings.Join(s, " ")
		}
		at := func(i int) time.Time { return t0.Add(time.Duration(i) * time.Second) }
		cases := []struct {
			name string
			f    Filter
			want string
		}{
			{"all, ordered by time", Filter{Limit: 4}, "n1/1 n2/1 n1/2 n2/2"},
			{"subject and decision", Filter{Node: "n1", Subject: "bob", Decision: Deny}, "n1/3 n1/9"},
			{"window", Filter{Node: "n1", Since: at(10), Until: at(12)}, "n1/10 n1/11"},
			{"action", Filter{Action: "model:invoke", Node: "n2", Route: "openai-chat"}, "n2/1 n2/2 n2/3 n2/4"},
			{"request id", Filter{RequestID: "req-0004"}, "n1/4 n2/4"},
			{"after", Filter{Node: "n1", After: &Cursor{Time: at(10), Node: "n1", Seq: 10}}, "n1/11 n1/12"},
			{"none", Filter{Subject: "carol"}, ""},
		}
		for _, tc := range cases {
			got, err := Query(ctx, st, tc.f)
			if err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			if ids(got) != tc.want {
				t.Errorf("%s: got %q, want %q", tc.name, ids(got), tc.want)
			}
		}
		got, _ := Query(ctx, st, Filter{Node: "n1", Limit: 2})
		next, err := Query(ctx, st, Filter{Node: "n1", Limit: 2, After: ptr(got[1].Cursor())})
		if err != nil || ids(next) != "n1/3 n1/4" {
			t.Fatalf("paging: %q, %v", ids(next), err)
		}
		if _, err := Query(ctx, st, Filter{Decision: "maybe"}); err == nil {
			t.Error("Query accepted decision \"maybe\"")
		}

		// A query never shows a forged record as genuine.
		b.DropAppendOnly(t)
		b.Exec(t, "UPDATE audit_records SET decision = 'allow' WHERE node = 'n1' AND seq = 3")
		_, err = Query(ctx, st, Filter{Node: "n1", Subject: "bob"})
		var p *Problem
		if !errors.Is(err, ErrTampered) || !errors.As(err, &p) || p.Seq != 3 || p.Fault != FaultEdited {
			t.Fatalf("Query over an edited row = %v, want ErrTampered at seq 3", err)
		}
	})
}

func ptr[T any](v T) *T { return &v }

// TestExport checks the JSONL format: every line is valid JSON, in chain
// order, and its hash can be recomputed from the line alone.
func TestExport(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, b *storetest.Backend) {
		ctx := context.Background()
		st := b.Open(t)
		appendN(t, st, "n1", 5)
		appendN(t, st, "n2", 2)
		var buf bytes.Buffer
		n, err := Export(ctx, st, &buf, "")
		if err != nil || n != 7 {
			t.Fatalf("Export = %d, %v", n, err)
		}
		prev := map[string]string{}
		seq := map[string]uint64{}
		sc := bufio.NewScanner(&buf)
		lines := 0
		for sc.Scan() {
			lines++
			var line struct {
				Node     string          `json:"node"`
				Seq      uint64          `json:"seq"`
				PrevHash string          `json:"prev_hash"`
				Hash     string          `json:"hash"`
				Record   json.RawMessage `json:"record"`
			}
			if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
				t.Fatalf("line %d: %v", lines, err)
			}
			if p, ok := prev[line.Node]; ok && p != line.PrevHash || !ok && line.PrevHash != strings.Repeat("0", 64) {
				t.Fatalf("line %d does not link", lines)
			}
			pb, _ := hex.DecodeString(line.PrevHash)
			if h := sha256.Sum256(append(pb, line.Record...)); hex.EncodeToString(h[:]) != line.Hash {
				t.Fatalf("line %d: the hash does not recompute from the line", lines)
			}
			seq[line.Node]++
			if line.Seq != seq[line.Node] {
				t.Fatalf("line %d: seq %d out of order", lines, line.Seq)
			}
			prev[line.Node] = line.Hash
		}
		if lines != 7 || seq["n1"] != 5 || seq["n2"] != 2 {
			t.Fatalf("%d lines, seqs %v", lines, seq)
		}
		// Entry.AppendJSONLine writes the same lines.
		got, _ := Query(ctx, st, Filter{Node: "n2", Limit: 1})
		line := got[0].AppendJSONLine(nil)
		buf.Reset()
		Export(ctx, st, &buf, "n2")
		if first, _, _ := bytes.Cut(buf.Bytes(), []byte("\n")); !bytes.Equal(append(first, '\n'), line) {
			t.Fatalf("AppendJSONLine = %s\nexport line   %s", line, first)
		}
		// Damaged bytes still give a valid line.
		b.DropAppendOnly(t)
		b.Exec(t, "UPDATE audit_records SET record = ? WHERE node = 'n1' AND seq = 2", []byte("{broken"))
		buf.Reset()
		if _, err := Export(ctx, st, &buf, "n1"); err != nil {
			t.Fatal(err)
		}
		for l := range strings.Lines(buf.String()) {
			if !json.Valid([]byte(l)) {
				t.Fatalf("invalid line %s", l)
			}
		}
		if !strings.Contains(buf.String(), `"record_base64":"e2Jyb2tlbg=="`) {
			t.Fatalf("damaged record not exported as base64:\n%s", buf.String())
		}
	})
}

func TestParseAnchor(t *testing.T) {
	h := strings.Repeat("ab", 32)
	a, err := ParseAnchor("gw-1:42:" + h)
	if err != nil || a.Node != "gw-1" || a.Seq != 42 || hex.EncodeToString(a.Hash) != h || a.String() != "gw-1:42:"+h {
		t.Fatalf("ParseAnchor = %+v, %v", a, err)
	}
	for _, bad := range []string{"", "gw-1:42", "gw-1:0:" + h, "gw-1:x:" + h, "gw-1:42:abcd", ":42:" + h, "g w:42:" + h} {
		if _, err := ParseAnchor(bad); err == nil {
			t.Errorf("ParseAnchor(%q) succeeded", bad)
		}
	}
}
