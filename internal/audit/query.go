package audit

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/wardenhq/warden/internal/store"
)

// Filter selects records for Query. Zero fields do not filter.
type Filter struct {
	Node      string
	Since     time.Time // inclusive
	Until     time.Time // exclusive
	Subject   string
	Decision  string // Allow, Deny or ""
	Action    string
	Route     string
	RequestID string
	// Limit caps the result: 0 means 100, at most 100000.
	Limit int
	// After continues a previous Query from the Cursor of its last Entry.
	After *Cursor
}

// Cursor is a position in Query's order: by time, then node, then seq.
type Cursor struct {
	Time time.Time
	Node string
	Seq  uint64
}

// Entry is a record as stored: the record and its place in the chain.
type Entry struct {
	Record   Record
	PrevHash []byte
	Hash     []byte
}

// Cursor is the position of e, for Filter.After.
func (e *Entry) Cursor() Cursor {
	return Cursor{Time: e.Record.Time, Node: e.Record.Node, Seq: e.Record.Seq}
}

// ErrTampered: a record returned by a query fails its own integrity check
// (it does not hash to its stored hash, does not decode, or an indexed column
// disagrees with it). The error also wraps the *Problem; run Verify for the
// whole chain.
var ErrTampered = errors.New("audit: record fails its integrity check")

// Query returns the records matching f, ordered by time, node and seq.
// Each record is checked on its own (its hash, its encoding, its columns;
// not its links, which is Verify's job); a record that fails makes Query
// fail with ErrTampered rather than show a forged record.
func Query(ctx context.Context, st store.Store, f Filter) ([]Entry, error) {
	if f.Decision != "" && f.Decision != Allow && f.Decision != Deny {
		return nil, fmt.Errorf("audit: query: decision %q (want %q or %q)", f.Decision, Allow, Deny)
	}
	sf := store.AuditFilter{
		Node: f.Node, Since: f.Since, Until: f.Until, Subject: f.Subject, Decision: f.Decision,
		Action: f.Action, Route: f.Route, RequestID: f.RequestID, Limit: f.Limit,
	}
	if f.After != nil {
		sf.After = &store.AuditCursor{Time: f.After.Time, Node: f.After.Node, Seq: f.After.Seq}
	}
	rows, err := st.Audit().Query(ctx, sf)
	if err != nil {
		return nil, fmt.Errorf("audit: query: %w", err)
	}
	out := make([]Entry, 0, len(rows))
	for i := range rows {
		e, err := checkRow(&rows[i])
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}

// checkRow decodes one stored row and checks it on its own.
func checkRow(r *store.AuditRow) (Entry, error) {
	rec, err := checkContent(r)
	if err != nil {
		return Entry{}, err
	}
	if col := columnMismatch(r, &rec); col != "" {
		return Entry{}, fmt.Errorf("%w: %w", ErrTampered, &Problem{Node: r.Node, Seq: r.Seq, Fault: FaultEdited, Detail: "column " + col + " differs from the record"})
	}
	return Entry{Record: rec, PrevHash: r.PrevHash, Hash: r.Hash}, nil
}

// AppendJSONLine appends e as one line of the JSONL export format:
//
//	{"node":"…","seq":N,"prev_hash":"hex","hash":"hex","record":{canonical record}}
//
// followed by a newline. The record member is the canonical encoding
// byte for byte, so hash = SHA-256(hex-decoded prev_hash || the bytes of the
// record member) can be checked from the line alone.
func (e *Entry) AppendJSONLine(b []byte) []byte {
	return appendLine(b, e.Record.Node, e.Record.Seq, e.PrevHash, e.Hash, e.Record.AppendCanonical(nil))
}

func appendLine(b []byte, node string, seq uint64, prev, hash, record []byte) []byte {
	b = append(b, `{"node":`...)
	b = appendString(b, node)
	b = append(b, `,"seq":`...)
	b = strconv.AppendUint(b, seq, 10)
	b = append(b, `,"prev_hash":"`...)
	b = hex.AppendEncode(b, prev)
	b = append(b, `","hash":"`...)
	b = hex.AppendEncode(b, hash)
	if json.Valid(record) {
		b = append(b, `","record":`...)
		b = append(b, record...)
	} else {
		// Damaged bytes: keep the line valid JSON and the bytes exact.
		b = append(b, `","record_base64":"`...)
		b = base64.StdEncoding.AppendEncode(b, record)
		b = append(b, '"')
	}
	return append(b, '}', '\n')
}

// Export writes node's chain (every node's, in node order, when node is "")
// to w as JSON Lines in seq order, records exactly as stored, and returns how
// many it wrote. It does not verify; run Verify for that. The lines of one
// node read in order form the whole chain, so an export can be checked
// away from the database.
func Export(ctx context.Context, st store.Store, w io.Writer, node string) (int, error) {
	nodes := []string{node}
	if node == "" {
		var err error
		if nodes, err = st.Audit().Nodes(ctx); err != nil {
			return 0, fmt.Errorf("audit: export: %w", err)
		}
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	var n int
	var line []byte
	for _, nd := range nodes {
		_, err := st.Audit().Chain(ctx, nd, func(r store.AuditRow) error {
			line = appendLine(line[:0], r.Node, r.Seq, r.PrevHash, r.Hash, r.Record)
			if _, err := bw.Write(line); err != nil {
				return err
			}
			n++
			return nil
		})
		if err != nil {
			return n, fmt.Errorf("audit: export node %q: %w", nd, err)
		}
	}
	if err := bw.Flush(); err != nil {
		return n, fmt.Errorf("audit: export: %w", err)
	}
	return n, nil
}
