package audit

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/wardenhq/warden/internal/store"
)

// Fault is the kind of damage Verify found.
type Fault string

const (
	// FaultEdited: a record's content, hash or an indexed column was
	// changed (the record no longer hashes to its stored hash, is not a
	// canonical record, or a column disagrees with the record).
	FaultEdited Fault = "edited"
	// FaultDeleted: a seq is missing from the chain.
	FaultDeleted Fault = "deleted"
	// FaultInserted: a record that the writer did not write sits in the
	// chain (it links around a record, names another node, or lies past the
	// head).
	FaultInserted Fault = "inserted"
	// FaultReordered: records were swapped or moved (a record's seq column
	// differs from the seq it was hashed with).
	FaultReordered Fault = "reordered"
	// FaultBrokenLink: a record's prev_hash is not the hash of the record
	// before it, although both hash correctly on their own: the record
	// before was edited and re-hashed (reported as the first bad seq), or
	// this record's prev_hash and hash were both rewritten.
	FaultBrokenLink Fault = "broken_link"
	// FaultTruncated: records at the end of the chain are gone (the head, or
	// an anchor, names a seq past the last record).
	FaultTruncated Fault = "truncated"
	// FaultHead: the last record does not match the head row (the records
	// were rewritten and re-chained, or the head was edited or removed).
	FaultHead Fault = "head_mismatch"
	// FaultAnchor: the record at an anchor's seq does not have the anchor's
	// hash: the chain was rewritten since the anchor was taken.
	FaultAnchor Fault = "anchor_mismatch"
)

// Problem is the first damage Verify found in a chain.
type Problem struct {
	Node   string
	Seq    uint64 // the first bad seq
	Fault  Fault
	Detail string
}

func (p *Problem) Error() string {
	return fmt.Sprintf("node %s: seq %d: %s: %s", p.Node, p.Seq, p.Fault, p.Detail)
}

// Report is the result of verifying one node's chain.
type Report struct {
	Node     string
	Records  uint64 // records read before stopping
	LastSeq  uint64 // seq of the last record read
	LastHash []byte
	Head     *store.AuditHead // nil when the node has no head row
	Problem  *Problem         // nil when the chain is intact
}

// OK reports whether the chain is intact.
func (r *Report) OK() bool { return r.Problem == nil }

// Anchor is a (seq, hash) of a chain recorded outside the store, for
// example the head printed by a previous verify and kept elsewhere. With it,
// Verify detects a chain rewritten consistently from before the anchor
// (records re-hashed and the head updated), which the store alone cannot
// reveal.
type Anchor struct {
	Node string
	Seq  uint64
	Hash []byte
}

// String renders a as "node:seq:hexhash", the form ParseAnchor reads.
func (a Anchor) String() string {
	return a.Node + ":" + strconv.FormatUint(a.Seq, 10) + ":" + hex.EncodeToString(a.Hash)
}

// ParseAnchor parses "node:seq:hexhash".
func ParseAnchor(s string) (Anchor, error) {
	rest, h, ok1 := cutLast(s, ":")
	node, seqs, ok2 := cutLast(rest, ":")
	if !ok1 || !ok2 {
		return Anchor{}, fmt.Errorf("audit: anchor %q: want NODE:SEQ:HASH", s)
	}
	seq, err := strconv.ParseUint(seqs, 10, 64)
	if err != nil || seq == 0 {
		return Anchor{}, fmt.Errorf("audit: anchor %q: bad seq", s)
	}
	hash, err := hex.DecodeString(h)
	if err != nil || len(hash) != HashSize {
		return Anchor{}, fmt.Errorf("audit: anchor %q: hash must be %d hex digits", s, 2*HashSize)
	}
	if err := checkNode(node); err != nil {
		return Anchor{}, fmt.Errorf("audit: anchor %q: %w", s, err)
	}
	return Anchor{Node: node, Seq: seq, Hash: hash}, nil
}

func cutLast(s, sep string) (before, after string, ok bool) {
	i := strings.LastIndex(s, sep)
	if i < 0 {
		return s, "", false
	}
	return s[:i], s[i+len(sep):], true
}

// errStop ends a chain scan once a problem is found.
var errStop = errors.New("stop")

// Verify recomputes node's chain from the store and reports the first
// damage, with the first bad seq and its kind. The error is for failures to
// read the store; a damaged chain is a Report with a Problem. A node with no
// records and no head is reported as truncated at seq 1 (nothing to verify is
// not proof of anything). anchors for other nodes are ignored.
//
// What is detected without an anchor: any edit of a record, its hash, its
// prev_hash or an indexed column; a deleted record (including with the later
// seqs renumbered); a record inserted between others or past the head; two
// records swapped; records removed from the end while the head stays; a
// re-chained suffix when the head was not rewritten too. What needs an
// anchor: a rewrite that re-hashes every record from some point on and also
// rewrites the head (or truncates the end and moves the head back), since
// SHA-256 without a key can be recomputed by anyone who can write the
// database.
func Verify(ctx context.Context, st store.Store, node string, anchors ...Anchor) (*Report, error) {
	v := verifier{rep: &Report{Node: node}, prev: genesisHash()}
	for _, a := range anchors {
		if a.Node == node {
			v.anchors = append(v.anchors, a)
		}
	}
	head, err := st.Audit().Chain(ctx, node, func(r store.AuditRow) error {
		if v.push(&r) {
			return errStop
		}
		return nil
	})
	if err != nil && !errors.Is(err, errStop) {
		return nil, fmt.Errorf("audit: verify node %q: %w", node, err)
	}
	v.rep.Head = head
	if v.rep.Problem == nil {
		if !v.push(nil) {
			v.finish(head)
		}
	}
	return v.rep, nil
}

// VerifyAll verifies the chain of every node in the store, in node order.
func VerifyAll(ctx context.Context, st store.Store, anchors ...Anchor) ([]*Report, error) {
	nodes, err := st.Audit().Nodes(ctx)
	if err != nil {
		return nil, fmt.Errorf("audit: verify: %w", err)
	}
	known := map[string]bool{}
	for _, n := range nodes {
		known[n] = true
	}
	for _, a := range anchors {
		if !known[a.Node] {
			known[a.Node] = true
			nodes = append(nodes, a.Node) // an anchored node that vanished entirely
		}
	}
	out := make([]*Report, 0, len(nodes))
	for _, n := range nodes {
		rep, err := Verify(ctx, st, n, anchors...)
		if err != nil {
			return nil, err
		}
		out = append(out, rep)
	}
	return out, nil
}

// verifier walks one chain with one record of lookahead (to tell a swap
// from a deletion).
type verifier struct {
	rep      *Report
	anchors  []Anchor
	pending  *verifyRow // read, not yet judged
	prev     []byte     // hash of the last judged record (genesis at first)
	prevPrev []byte     // hash of the one before, to recognize an inserted record
	expect   uint64     // seq of the last judged record
}

type verifyRow struct {
	row store.AuditRow
	rec Record
	err error // decoding error
}

// push feeds the next row (nil at the end) and judges the pending one. It
// reports whether a problem was found.
func (v *verifier) push(r *store.AuditRow) bool {
	var next *verifyRow
	if r != nil {
		next = &verifyRow{row: *r}
		next.rec, next.err = DecodeRecord(r.Record)
	}
	cur := v.pending
	v.pending = next
	if cur == nil {
		return false
	}
	if p := v.judge(cur, next); p != nil {
		p.Node = v.rep.Node
		v.rep.Problem = p
		return true
	}
	v.rep.Records++
	v.rep.LastSeq = cur.row.Seq
	v.rep.LastHash = cur.row.Hash
	v.prevPrev, v.prev = v.prev, cur.row.Hash
	v.expect = cur.row.Seq
	return false
}

func (v *verifier) judge(cur, next *verifyRow) *Problem {
	r := &cur.row
	want := v.expect + 1
	if r.Seq != want {
		return &Problem{Seq: want, Fault: FaultDeleted,
			Detail: fmt.Sprintf("seq %d is followed by seq %d: %d record(s) missing", v.expect, r.Seq, r.Seq-want)}
	}
	if h := chainHash(r.PrevHash, r.Record); !bytes.Equal(h[:], r.Hash) {
		return &Problem{Seq: r.Seq, Fault: FaultEdited, Detail: "the record does not hash to its stored hash (content, hash or prev_hash edited)"}
	}
	if cur.err != nil {
		return &Problem{Seq: r.Seq, Fault: FaultEdited, Detail: "the stored bytes are not a valid record: " + cur.err.Error()}
	}
	rec := &cur.rec
	if rec.Node != r.Node {
		return &Problem{Seq: r.Seq, Fault: FaultInserted, Detail: fmt.Sprintf("the record belongs to node %q", rec.Node)}
	}
	if rec.Seq != r.Seq {
		switch {
		case next != nil && next.err == nil && rec.Seq == r.Seq+1 && next.rec.Seq == r.Seq:
			return &Problem{Seq: r.Seq, Fault: FaultReordered, Detail: fmt.Sprintf("records %d and %d were swapped", r.Seq, r.Seq+1)}
		case rec.Seq == r.Seq-1 && v.prevPrev != nil && bytes.Equal(r.PrevHash, v.prevPrev):
			return &Problem{Seq: r.Seq - 1, Fault: FaultInserted,
				Detail: fmt.Sprintf("the record stored as seq %d was written as seq %d and links to seq %d: seq %d was inserted and the rest renumbered", r.Seq, rec.Seq, r.Seq-2, r.Seq-1)}
		case rec.Seq > r.Seq:
			return &Problem{Seq: r.Seq, Fault: FaultDeleted,
				Detail: fmt.Sprintf("the record stored as seq %d was written as seq %d: record(s) %d..%d deleted (or moved) and the rest renumbered", r.Seq, rec.Seq, r.Seq, rec.Seq-1)}
		default:
			return &Problem{Seq: r.Seq, Fault: FaultReordered, Detail: fmt.Sprintf("the record stored as seq %d was written as seq %d", r.Seq, rec.Seq)}
		}
	}
	if !bytes.Equal(r.PrevHash, v.prev) {
		if v.prevPrev != nil && bytes.Equal(r.PrevHash, v.prevPrev) {
			return &Problem{Seq: r.Seq - 1, Fault: FaultInserted,
				Detail: fmt.Sprintf("seq %d links to seq %d: seq %d was inserted", r.Seq, r.Seq-2, r.Seq-1)}
		}
		if r.Seq == 1 {
			return &Problem{Seq: 1, Fault: FaultBrokenLink, Detail: "the prev_hash of seq 1 is not 32 zero bytes: seq 1 was rewritten"}
		}
		return &Problem{Seq: r.Seq - 1, Fault: FaultBrokenLink,
			Detail: fmt.Sprintf("the prev_hash of seq %d is not the hash of seq %d: seq %d was edited and re-hashed (or the prev_hash and hash of seq %d were rewritten)", r.Seq, r.Seq-1, r.Seq-1, r.Seq)}
	}
	if col := columnMismatch(r, rec); col != "" {
		return &Problem{Seq: r.Seq, Fault: FaultEdited, Detail: fmt.Sprintf("column %s differs from the record", col)}
	}
	for _, a := range v.anchors {
		if a.Seq == r.Seq && !bytes.Equal(a.Hash, r.Hash) {
			return &Problem{Seq: r.Seq, Fault: FaultAnchor, Detail: "the hash differs from the anchor: the chain was rewritten from this seq or before"}
		}
	}
	return nil
}

func columnMismatch(r *store.AuditRow, rec *Record) string {
	switch {
	case !r.Time.Equal(rec.Time):
		return "time_ns"
	case r.RequestID != rec.RequestID:
		return "request_id"
	case r.Subject != rec.Subject:
		return "subject"
	case r.Decision != rec.Decision:
		return "decision"
	case r.Action != rec.Action:
		return "action"
	case r.Route != rec.Route:
		return "route"
	}
	return ""
}

// finish compares the end of an intact chain with the head and anchors.
func (v *verifier) finish(head *store.AuditHead) {
	rep := v.rep
	last := rep.LastSeq
	set := func(seq uint64, f Fault, detail string) {
		if rep.Problem == nil {
			rep.Problem = &Problem{Node: rep.Node, Seq: seq, Fault: f, Detail: detail}
		}
	}
	for _, a := range v.anchors {
		if a.Seq > last {
			set(last+1, FaultTruncated, fmt.Sprintf("an anchor names seq %d, the last record is seq %d", a.Seq, last))
		}
	}
	switch {
	case head == nil && last == 0:
		set(1, FaultTruncated, "no records and no head for this node")
	case head == nil:
		set(last, FaultHead, "records but no head row: the head was deleted")
	case head.Seq > last:
		set(last+1, FaultTruncated, fmt.Sprintf("the head is at seq %d, the last record is seq %d", head.Seq, last))
	case head.Seq < last:
		set(head.Seq+1, FaultInserted, fmt.Sprintf("records after the head (seq %d)", head.Seq))
	case !bytes.Equal(head.Hash, rep.LastHash):
		set(last, FaultHead, "the last record's hash differs from the head: records were rewritten and re-chained, or the head was edited")
	}
}
