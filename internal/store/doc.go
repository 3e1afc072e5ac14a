// Package store is Warden's persistent state: SQLite (the embedded default:
// one file, WAL, pure Go) or PostgreSQL (several nodes sharing one database),
// behind one interface with one shared test suite (package storetest).
//
// Open picks the implementation from the URL, applies the versioned schema
// migrations embedded in the binary, and refuses a database whose schema is
// newer than the binary knows. Methods are grouped by concern: Store.Audit
// returns the audit-record storage used by package audit; Store.Issuer the
// token issuer's tables (OAuth clients, refresh-token families, revocations,
// signing keys; migration 0002), written once with database/sql for both
// dialects. With PostgreSQL every committed revocation is announced with
// NOTIFY on channel warden_revocations (IssuerStore.WatchRevocations).
//
// The store holds data; it does not judge it. The audit hash chain is computed
// and verified by package audit; the store only guarantees that appends for a
// node are atomic, ordered and never fork (a compare-and-set on the node's
// head row).
package store
