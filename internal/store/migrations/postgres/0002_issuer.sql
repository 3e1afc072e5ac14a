-- The token issuer (internal/issuer): OAuth clients, refresh-token families,
-- revocations and signing keys. Secrets and tokens are stored only as
-- SHA-256 hashes; private keys only encrypted with the key-encryption key.
CREATE TABLE oauth_clients (
    id          text    NOT NULL PRIMARY KEY,
    name        text    NOT NULL DEFAULT '',
    secret_hash bytea   NOT NULL CHECK (length(secret_hash) IN (0, 32)),
    scopes      text    NOT NULL DEFAULT '',
    audiences   text    NOT NULL DEFAULT '',
    grant_types text    NOT NULL DEFAULT '',
    jwks        text    NOT NULL DEFAULT '',  -- public keys for private_key_jwt (a JWK Set)
    created_ns  bigint  NOT NULL,
    -- a client authenticates with a secret or with keys, never neither
    CHECK (length(secret_hash) = 32 OR jwks <> '')
);

-- One row per refresh-token family (one login or grant): rotation keeps the
-- family, reuse of a rotated token revokes it.
CREATE TABLE refresh_families (
    id         text    NOT NULL PRIMARY KEY,
    client_id  text    NOT NULL,
    subject    text    NOT NULL,
    expires_ns bigint  NOT NULL,
    revoked_ns bigint  NOT NULL DEFAULT 0,
    created_ns bigint  NOT NULL
);

CREATE TABLE refresh_tokens (
    hash       bytea   NOT NULL PRIMARY KEY CHECK (length(hash) = 32),
    family_id  text    NOT NULL REFERENCES refresh_families (id) ON DELETE CASCADE,
    scopes     text    NOT NULL DEFAULT '',
    audiences  text    NOT NULL DEFAULT '',
    claims     bytea   NOT NULL,
    created_ns bigint  NOT NULL,
    idle_ns    bigint  NOT NULL,
    used_ns    bigint  NOT NULL DEFAULT 0
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);

-- Revoked token IDs (jti) and refresh families (sid), kept until every token
-- they cover has expired. Every node loads the unexpired rows.
CREATE TABLE revocations (
    id         text    NOT NULL PRIMARY KEY,
    kind       text    NOT NULL CHECK (kind IN ('jti', 'family')),
    expires_ns bigint  NOT NULL,
    created_ns bigint  NOT NULL
);
CREATE INDEX revocations_expires ON revocations (expires_ns);

-- The jti of every private_key_jwt client assertion until it expires, so
-- that an assertion is used once (RFC 7523 §3). Its own table: assertion jtis
-- are chosen by clients and must never collide with revocations.
CREATE TABLE client_assertions (
    client_id  text    NOT NULL,
    jti        text    NOT NULL,
    expires_ns bigint  NOT NULL,
    PRIMARY KEY (client_id, jti)
);

-- Signing keys: at most one current and one next key; retired keys stay
-- published until publish_until_ns.
CREATE TABLE signing_keys (
    kid              text    NOT NULL PRIMARY KEY,
    alg              text    NOT NULL,
    state            text    NOT NULL CHECK (state IN ('next', 'current', 'retired')),
    private_enc      bytea   NOT NULL,
    public_jwk       bytea   NOT NULL,
    created_ns       bigint  NOT NULL,
    retired_ns       bigint  NOT NULL DEFAULT 0,
    publish_until_ns bigint  NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX signing_keys_one_per_state ON signing_keys (state) WHERE state IN ('next', 'current');

-- Every committed revocation is announced on channel warden_revocations
-- (payload: the revoked id), so that other nodes deny it within a second.
CREATE FUNCTION warden_revocation_notify() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('warden_revocations', NEW.kind || ':' || NEW.id);
    RETURN NEW;
END;
$$;
CREATE TRIGGER revocations_notify AFTER INSERT ON revocations
    FOR EACH ROW EXECUTE FUNCTION warden_revocation_notify();
