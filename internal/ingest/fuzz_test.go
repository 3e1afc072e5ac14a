package ingest_test

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/wardenhq/warden/internal/audit"
	"github.com/wardenhq/warden/internal/auditship"
	"github.com/wardenhq/warden/internal/ingest"
)

// FuzzParseBatch: any body either fails cleanly or yields a batch within
// the bounds, which re-encodes to a body that parses to the same batch.
func FuzzParseBatch(f *testing.F) {
	h := bytes.Repeat([]byte{1}, 32)
	good, _ := json.Marshal(auditship.Batch{Node: "svc.billing", Rows: []auditship.Row{{Seq: 1, PrevHash: make([]byte, 32), Hash: h, Record: []byte(`{"v":2}`)}, {Seq: 2, PrevHash: h, Hash: h, Record: []byte("x")}}})
	for _, seed := range [][]byte{
		good,
		[]byte(`{"node":"svc.a","rows":[]}`),
		[]byte(`{"node":"svc.a","rows":null}`),
		[]byte(`{"node":"","rows":[]}`),
		[]byte(`{"node":"svc.a","rows":[{"seq":1,"prev_hash":"AAAA","hash":"AAAA","record":"e30="}]}`),
		[]byte(`{"node":"svc.a","rows":[],"x":1}`),
		[]byte(`{"node":"svc.a","node":"svc.b","rows":[]}`),
		[]byte(`[]`),
		[]byte(`{"node":"svc.a","rows":[{"seq":18446744073709551615}]}`),
		[]byte(`{"node":"svc.a","rows":[]} trailing`),
	} {
		f.Add(seed)
	}
	const maxRows = 8
	f.Fuzz(func(t *testing.T, body []byte) {
		b, err := ingest.ParseBatch(body, maxRows)
		if err != nil {
			if b != nil {
				t.Fatal("batch and error")
			}
			return
		}
		if audit.CheckNode(b.Node) != nil || b.Rows == nil || len(b.Rows) > maxRows {
			t.Fatalf("out of bounds: node %q, %d rows", b.Node, len(b.Rows))
		}
		for i, r := range b.Rows {
			if r.Seq == 0 || len(r.Hash) != 32 || len(r.PrevHash) != 32 || len(r.Record) == 0 || (i > 0 && r.Seq != b.Rows[i-1].Seq+1) {
				t.Fatalf("row %d out of bounds: %+v", i, r)
			}
		}
		again, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		b2, err := ingest.ParseBatch(again, maxRows)
		if err != nil {
			t.Fatalf("re-encoded batch refused: %v", err)
		}
		if b2.Node != b.Node || len(b2.Rows) != len(b.Rows) {
			t.Fatalf("round trip changed the batch")
		}
	})
}
