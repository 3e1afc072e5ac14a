package audit

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/wardenhq/warden/internal/store"
	"github.com/wardenhq/warden/internal/store/storetest"
)

// tamperEnv is a store with node n1 (10 records) and n2 (3 records), and raw
// SQL access to it, with the append-only triggers dropped as an attacker
// with DDL rights would.
type tamperEnv struct {
	t    *testing.T
	b    *storetest.Backend
	st   store.Store
	rows []store.AuditRow // n1 as written
}

// set updates column col of n1's record seq.
func (e *tamperEnv) set(seq uint64, col string, v any) {
	e.b.Exec(e.t, "UPDATE audit_records SET "+col+" = ? WHERE node = 'n1' AND seq = ?", v, int64(seq))
}

// shift renumbers n1's records from seq `from` on by delta (in two steps, so
// that no unique constraint trips midway).
func (e *tamperEnv) shift(from uint64, delta int64) {
	e.b.Exec(e.t, "UPDATE audit_records SET seq = seq + 1000000 WHERE node = 'n1' AND seq >= ?", int64(from))
	e.b.Exec(e.t, "UPDATE audit_records SET seq = seq - 1000000 + ? WHERE node = 'n1' AND seq >= 1000000", delta)
}

func (e *tamperEnv) insert(r store.AuditRow) {
	e.b.Exec(e.t, "INSERT INTO audit_records (node, seq, prev_hash, hash, record, time_ns, request_id, subject, decision, action, route) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
		r.Node, int64(r.Seq), r.PrevHash, r.Hash, r.Record, r.Time.UnixNano(), r.RequestID, r.Subject, r.Decision, r.Action, r.Route)
}

// forge builds a row for n1 at seq whose record is rec and whose hash is
// correct for prev: what an attacker who knows the format can compute.
func forge(rec Record, seq uint64, prev []byte) store.AuditRow {
	rec.Node, rec.Seq = "n1", seq
	data := rec.AppendCanonical(nil)
	h := chainHash(prev, data)
	return store.AuditRow{Node: "n1", Seq: seq, PrevHash: prev, Hash: h[:], Record: data, Time: rec.Time,
		RequestID: rec.RequestID, Subject: rec.Subject, Decision: rec.Decision, Action: rec.Action, Route: rec.Route}
}

// rechain rewrites n1's records from seq on: rec(seq) replaces the record,
// and every hash and prev_hash after it is recomputed.
func (e *tamperEnv) rechain(from uint64, edit func(*Record)) []store.AuditRow {
	prev := e.rows[from-2].Hash
	var out []store.AuditRow
	for _, r := range e.rows[from-1:] {
		rec, err := DecodeRecord(r.Record)
		if err != nil {
			e.t.Fatal(err)
		}
		if r.Seq == from {
			edit(&rec)
		}
		f := forge(rec, r.Seq, prev)
		e.b.Exec(e.t, "UPDATE audit_records SET record = ?, prev_hash = ?, hash = ?, subject = ?, decision = ? WHERE node = 'n1' AND seq = ?",
			f.Record, f.PrevHash, f.Hash, f.Subject, f.Decision, int64(r.Seq))
		prev = f.Hash
		out = append(out, f)
	}
	return out
}

func (e *tamperEnv) moveHead(seq uint64, hash []byte) {
	e.b.Exec(e.t, "UPDATE audit_heads SET seq = ?, hash = ? WHERE node = 'n1'", int64(seq), hash)
}

func anchorAt(r store.AuditRow) Anchor { return Anchor{Node: r.Node, Seq: r.Seq, Hash: r.Hash} }

// TestTampering edits a stored chain the ways an attacker with write access
// to the database can, and checks what Verify reports: the first bad seq and
// the kind of damage, or (for the rewrites that also fix the head) that only
// an anchor kept outside the store reveals it.
func TestTampering(t *testing.T) {
	cases := []struct {
		name    string
		tamper  func(e *tamperEnv) []Anchor
		fault   Fault // "" = not detectable without an anchor
		seq     uint64
		resumes bool // New still resumes the chain (the damage is not at its end)
	}{
		{"edit a field in the record", func(e *tamperEnv) []Anchor {
			e.set(5, "record", bytes.Replace(e.rows[4].Record, []byte(`"gpt-4o"`), []byte(`"gpt-4x"`), 1))
			return nil
		}, FaultEdited, 5, true},
		{"edit an indexed column", func(e *tamperEnv) []Anchor {
			e.set(5, "subject", "mallory")
			return nil
		}, FaultEdited, 5, true},
		{"edit the time column", func(e *tamperEnv) []Anchor {
			e.set(4, "time_ns", e.rows[3].Time.UnixNano()+1)
			return nil
		}, FaultEdited, 4, true},
		{"edit the stored hash", func(e *tamperEnv) []Anchor {
			e.set(5, "hash", bytes.Repeat([]byte{7}, 32))
			return nil
		}, FaultEdited, 5, true},
		{"edit prev_hash", func(e *tamperEnv) []Anchor {
			e.set(5, "prev_hash", e.rows[2].Hash)
			return nil
		}, FaultEdited, 5, true},
		{"replace the record with garbage and re-hash it", func(e *tamperEnv) []Anchor {
			junk := []byte("not a record")
			h := chainHash(e.rows[4].PrevHash, junk)
			e.set(5, "record", junk)
			e.set(5, "hash", h[:])
			return nil
		}, FaultEdited, 5, true},
		{"edit a record and re-hash only it", func(e *tamperEnv) []Anchor {
			rec, _ := DecodeRecord(e.rows[4].Record)
			rec.ResourceID = "gpt-4x"
			f := forge(rec, 5, e.rows[4].PrevHash)
			e.set(5, "record", f.Record)
			e.set(5, "hash", f.Hash)
			return nil
		}, FaultBrokenLink, 5, true},
		{"delete a row", func(e *tamperEnv) []Anchor {
			e.b.Exec(e.t, "DELETE FROM audit_records WHERE node = 'n1' AND seq = 5")
			return nil
		}, FaultDeleted, 5, true},
		{"delete a row and renumber the rest", func(e *tamperEnv) []Anchor {
			e.b.Exec(e.t, "DELETE FROM audit_records WHERE node = 'n1' AND seq = 5")
			e.shift(6, -1)
			e.moveHead(9, e.rows[9].Hash)
			return nil
		}, FaultDeleted, 5, false},
		{"delete the first row", func(e *tamperEnv) []Anchor {
			e.b.Exec(e.t, "DELETE FROM audit_records WHERE node = 'n1' AND seq = 1")
			return nil
		}, FaultDeleted, 1, true},
		{"insert a forged row in the middle", func(e *tamperEnv) []Anchor {
			e.shift(5, 1)
			rec := testRecord(99)
			e.insert(forge(rec, 5, e.rows[3].Hash))
			return nil
		}, FaultInserted, 5, false},
		{"insert a forged row past the head", func(e *tamperEnv) []Anchor {
			e.insert(forge(testRecord(99), 11, e.rows[9].Hash))
			return nil
		}, FaultInserted, 11, false},
		{"copy a record of another node", func(e *tamperEnv) []Anchor {
			n2 := chainRows(e.t, e.st, "n2")[1]
			e.b.Exec(e.t, "DELETE FROM audit_records WHERE node = 'n1' AND seq = 5")
			n2.Node, n2.Seq = "n1", 5
			e.insert(n2)
			return nil
		}, FaultInserted, 5, true},
		{"swap two rows", func(e *tamperEnv) []Anchor {
			e.set(5, "seq", 1000)
			e.set(6, "seq", 5)
			e.set(1000, "seq", 6)
			return nil
		}, FaultReordered, 5, true},
		{"truncate the tail", func(e *tamperEnv) []Anchor {
			e.b.Exec(e.t, "DELETE FROM audit_records WHERE node = 'n1' AND seq > 7")
			return nil
		}, FaultTruncated, 8, false},
		{"truncate the tail and move the head back", func(e *tamperEnv) []Anchor {
			e.b.Exec(e.t, "DELETE FROM audit_records WHERE node = 'n1' AND seq > 7")
			e.moveHead(7, e.rows[6].Hash)
			return nil
		}, "", 0, true},
		{"... caught by an anchor past the new end", func(e *tamperEnv) []Anchor {
			e.b.Exec(e.t, "DELETE FROM audit_records WHERE node = 'n1' AND seq > 7")
			e.moveHead(7, e.rows[6].Hash)
			return []Anchor{anchorAt(e.rows[9])}
		}, FaultTruncated, 8, true},
		{"delete the head row", func(e *tamperEnv) []Anchor {
			e.b.Exec(e.t, "DELETE FROM audit_heads WHERE node = 'n1'")
			return nil
		}, FaultHead, 10, false},
		{"re-chain from the middle", func(e *tamperEnv) []Anchor {
			e.rechain(5, func(r *Record) { r.Decision = Allow; r.Subject = "mallory" })
			return nil
		}, FaultHead, 10, false},
		{"re-chain from the middle and rewrite the head", func(e *tamperEnv) []Anchor {
			out := e.rechain(5, func(r *Record) { r.Subject = "mallory" })
			e.moveHead(10, out[len(out)-1].Hash)
			return nil
		}, "", 0, true},
		{"... an anchor before the rewrite does not help", func(e *tamperEnv) []Anchor {
			out := e.rechain(5, func(r *Record) { r.Subject = "mallory" })
			e.moveHead(10, out[len(out)-1].Hash)
			return []Anchor{anchorAt(e.rows[3])}
		}, "", 0, true},
		{"... an anchor after the rewrite catches it", func(e *tamperEnv) []Anchor {
			out := e.rechain(5, func(r *Record) { r.Subject = "mallory" })
			e.moveHead(10, out[len(out)-1].Hash)
			return []Anchor{anchorAt(e.rows[3]), anchorAt(e.rows[7])}
		}, FaultAnchor, 8, true},
	}
	storetest.ForEachKind(t, func(t *testing.T, newBackend func(testing.TB) *storetest.Backend) {
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				ctx := context.Background()
				b := newBackend(t)
				st := b.Open(t)
				appendN(t, st, "n1", 10)
				appendN(t, st, "n2", 3)
				e := &tamperEnv{t: t, b: b, st: st, rows: chainRows(t, st, "n1")}
				if rep, err := Verify(ctx, st, "n1"); err != nil || !rep.OK() || rep.Records != 10 {
					t.Fatalf("before tampering: %+v, %v", rep, err)
				}
				b.DropAppendOnly(t)
				anchors := tc.tamper(e)

				rep, err := Verify(ctx, st, "n1", anchors...)
				if err != nil {
					t.Fatal(err)
				}
				if tc.fault == "" {
					if !rep.OK() {
						t.Fatalf("Verify found %v; this rewrite was expected to be undetectable without an anchor", rep.Problem)
					}
				} else {
					if rep.OK() {
						t.Fatalf("Verify found nothing, want %s at seq %d", tc.fault, tc.seq)
					}
					if p := rep.Problem; p.Fault != tc.fault || p.Seq != tc.seq || p.Node != "n1" {
						t.Fatalf("Verify = %v, want %s at seq %d", p, tc.fault, tc.seq)
					}
				}
				// The other node's chain is untouched.
				reps, err := VerifyAll(ctx, st, anchors...)
				if err != nil || len(reps) != 2 || reps[1].Node != "n2" || !reps[1].OK() {
					t.Fatalf("VerifyAll: %v, %v", reps, err)
				}
				// A writer refuses to continue a chain whose end is damaged.
				l, err := New(ctx, Config{Store: st, Node: "n1"})
				if tc.resumes {
					if err != nil {
						t.Fatalf("New: %v", err)
					}
					l.Close(ctx)
				} else if !errors.Is(err, ErrChainBroken) {
					if l != nil {
						l.Close(ctx)
					}
					t.Fatalf("New on a damaged tail = %v, want ErrChainBroken", err)
				}
			})
		}
	})
}
