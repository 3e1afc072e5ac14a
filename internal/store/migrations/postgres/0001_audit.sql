-- Audit records: one hash chain per node (package audit computes the hashes).
CREATE TABLE audit_records (
    node       text   NOT NULL,
    seq        bigint NOT NULL CHECK (seq > 0),
    prev_hash  bytea  NOT NULL CHECK (length(prev_hash) = 32),
    hash       bytea  NOT NULL CHECK (length(hash) = 32),
    record     bytea  NOT NULL,
    time_ns    bigint NOT NULL,
    request_id text   NOT NULL DEFAULT '',
    subject    text   NOT NULL DEFAULT '',
    decision   text   NOT NULL CHECK (decision IN ('allow', 'deny')),
    action     text   NOT NULL DEFAULT '',
    route      text   NOT NULL DEFAULT '',
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
    node       text   NOT NULL PRIMARY KEY,
    seq        bigint NOT NULL CHECK (seq > 0),
    hash       bytea  NOT NULL CHECK (length(hash) = 32),
    updated_ns bigint NOT NULL
);

-- Append-only: stops mistakes, not an attacker with DDL rights (the hash chain
-- is for that).
CREATE FUNCTION audit_records_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit records are append-only';
END;
$$;
CREATE TRIGGER audit_records_no_update BEFORE UPDATE OR DELETE ON audit_records
    FOR EACH ROW EXECUTE FUNCTION audit_records_append_only();
CREATE TRIGGER audit_records_no_truncate BEFORE TRUNCATE ON audit_records
    FOR EACH STATEMENT EXECUTE FUNCTION audit_records_append_only();
