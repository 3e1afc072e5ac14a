package audit

import (
	"bytes"
	"fmt"

	"github.com/wardenhq/warden/internal/store"
)

// CheckNode reports whether node is a valid chain name: 1 to 128 letters,
// digits, '.', '_' or '-'.
func CheckNode(node string) error { return checkNode(node) }

// GenesisHash returns the prev_hash of a chain's first record: 32 zero
// bytes (a new slice each call).
func GenesisHash() []byte { return genesisHash() }

// CheckRow checks one record of node's chain written elsewhere (a service
// shipping its decision log to Warden) on its own: prevHash and hash are 32
// bytes, hash = SHA-256(prevHash || record), record is the canonical
// encoding of a record written as node's seq. It returns the row to store,
// with the indexed columns taken from the record. Whether the row links to
// its predecessor is the caller's check (compare prevHash with the stored
// head). A failure wraps ErrTampered and a *Problem.
func CheckRow(node string, seq uint64, prevHash, hash, record []byte) (store.AuditRow, error) {
	r := store.AuditRow{Node: node, Seq: seq, PrevHash: prevHash, Hash: hash, Record: record}
	if len(prevHash) != HashSize || len(hash) != HashSize {
		return store.AuditRow{}, fmt.Errorf("%w: %w", ErrTampered, &Problem{Node: node, Seq: seq, Fault: FaultEdited, Detail: "prev_hash and hash must be 32 bytes"})
	}
	rec, err := checkContent(&r)
	if err != nil {
		return store.AuditRow{}, err
	}
	r.Time, r.RequestID, r.Subject, r.Decision, r.Action, r.Route = rec.Time, rec.RequestID, rec.Subject, rec.Decision, rec.Action, rec.Route
	return r, nil
}

// checkContent checks a row's hash, encoding and place (node, seq).
func checkContent(r *store.AuditRow) (Record, error) {
	bad := func(f Fault, detail string) (Record, error) {
		return Record{}, fmt.Errorf("%w: %w", ErrTampered, &Problem{Node: r.Node, Seq: r.Seq, Fault: f, Detail: detail})
	}
	if h := chainHash(r.PrevHash, r.Record); !bytes.Equal(h[:], r.Hash) {
		return bad(FaultEdited, "the record does not hash to its stored hash")
	}
	rec, err := DecodeRecord(r.Record)
	if err != nil {
		return bad(FaultEdited, "the stored bytes are not a valid record: "+err.Error())
	}
	if rec.Node != r.Node || rec.Seq != r.Seq {
		return bad(FaultReordered, fmt.Sprintf("the record was written as %s seq %d", rec.Node, rec.Seq))
	}
	return rec, nil
}
