-- Audit records: one hash chain per node (package audit computes the hashes).
CREATE TABLE audit_records (
    node       TEXT    NOT NULL,
    seq        INTEGER NOT NULL CHECK (seq > 0),
    prev_hash  BLOB    NOT NULL CHECK (length(prev_hash) = 32),
    hash       BLOB    NOT NULL CHECK (length(hash) = 32),
    record     BLOB    NOT NULL,
    time_ns    INTEGER NOT NULL,
    request_id TEXT    NOT NULL DEFAULT '',
    subject    TEXT    NOT NULL DEFAULT '',
    decision   TEXT    NOT NULL CHECK (decision IN ('allow', 'deny')),
    action     TEXT    NOT NULL DEFAULT '',
    route      TEXT    NOT NULL DEFAULT '',
    PRIMARY KEY (node, seq)
);
CREATE INDEX audit_records_time ON audit_records (time_ns);
CREATE INDEX audit_records_subject ON audit_records (subject, time_ns);
CREATE INDEX audit_records_action ON audit_records (action, time_ns);
CREATE INDEX audit_records_request ON audit_records (request_id);

-- The last seq and hash each node's writer committed, updated in the same
-- transaction as the records: removing records from the end of a chain
-- without also rewriting this row is detected by audit verify.
CREATE TABLE audit_heads (
    node       TEXT    NOT NULL PRIMARY KEY,
    seq        INTEGER NOT NULL CHECK (seq > 0),
    hash       BLOB    NOT NULL CHECK (length(hash) = 32),
    updated_ns INTEGER NOT NULL
);

-- Append-only: stops mistakes, not an attacker with DDL rights (the hash chain
-- is for that).
CREATE TRIGGER audit_records_no_update BEFORE UPDATE ON audit_records
BEGIN
    SELECT RAISE(ABORT, 'audit records are append-only');
END;
CREATE TRIGGER audit_records_no_delete BEFORE DELETE ON audit_records
BEGIN
    SELECT RAISE(ABORT, 'audit records are append-only');
END;
