// Package audit is Warden's tamper-evident audit trail: one Record per
// decision of the gateway, allowed or denied, plus one result Record per
// proxied request (see PhaseDecision and PhaseResult), appended to a
// per-node hash chain in the store.
//
// Each record is encoded canonically (deterministic JSON with sorted
// members and a version, see AppendCanonical) and chained:
//
//	hash(seq) = SHA-256(hash(seq-1) || canonical(record with node and seq))
//
// with 32 zero bytes before seq 1. A Log takes records on the request path
// (Append only queues, a bounded queue, failing at once when full, so that
// the caller can fail closed) and one writer goroutine assigns seqs, hashes
// and group-commits batches in one transaction, together with the node's head
// row. Verify recomputes a chain and names the first bad seq and the kind of
// damage; Query and Export read records back.
package audit
