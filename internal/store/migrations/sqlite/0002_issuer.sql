-- The token issuer (internal/issuer): OAuth clients, refresh-token families,
-- revocations and signing keys. Secrets and tokens are stored only as
-- SHA-256 hashes; private keys only encrypted with the key-encryption key.
CREATE TABLE oauth_clients (
    id          TEXT    NOT NULL PRIMARY KEY,
    name        TEXT    NOT NULL DEFAULT '',
    secret_hash BLOB    NOT NULL CHECK (length(secret_hash) IN (0, 32)),
    scopes      TEXT    NOT NULL DEFAULT '',
    audiences   TEXT    NOT NULL DEFAULT '',
    grant_types TEXT    NOT NULL DEFAULT '',
    jwks        TEXT    NOT NULL DEFAULT '',  -- public keys for private_key_jwt (a JWK Set)
    created_ns  INTEGER NOT NULL,
    -- a client authenticates with a secret or with keys, never neither
    CHECK (length(secret_hash) = 32 OR jwks <> '')
);

-- One row per refresh-token family (one login or grant): rotation keeps the
-- family, reuse of a rotated token revokes it.
CREATE TABLE refresh_families (
    id         TEXT    NOT NULL PRIMARY KEY,
    client_id  TEXT    NOT NULL,
    subject    TEXT    NOT NULL,
    expires_ns INTEGER NOT NULL,
    revoked_ns INTEGER NOT NULL DEFAULT 0,
    created_ns INTEGER NOT NULL
);

CREATE TABLE refresh_tokens (
    hash       BLOB    NOT NULL PRIMARY KEY CHECK (length(hash) = 32),
    family_id  TEXT    NOT NULL REFERENCES refresh_families (id) ON DELETE CASCADE,
    scopes     TEXT    NOT NULL DEFAULT '',
    audiences  TEXT    NOT NULL DEFAULT '',
    claims     BLOB    NOT NULL,
    created_ns INTEGER NOT NULL,
    idle_ns    INTEGER NOT NULL,
    used_ns    INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);

-- Revoked token IDs (jti) and refresh families (sid), kept until every token
-- they cover has expired. Every node loads the unexpired rows.
CREATE TABLE revocations (
    id         TEXT    NOT NULL PRIMARY KEY,
    kind       TEXT    NOT NULL CHECK (kind IN ('jti', 'family')),
    expires_ns INTEGER NOT NULL,
    created_ns INTEGER NOT NULL
);
CREATE INDEX revocations_expires ON revocations (expires_ns);

-- The jti of every private_key_jwt client assertion until it expires, so
-- that an assertion is used once (RFC 7523 §3). Its own table: assertion jtis
-- are chosen by clients and must never collide with revocations.
CREATE TABLE client_assertions (
    client_id  TEXT    NOT NULL,
    jti        TEXT    NOT NULL,
    expires_ns INTEGER NOT NULL,
    PRIMARY KEY (client_id, jti)
);

-- Signing keys: at most one current and one next key; retired keys stay
-- published until publish_until_ns.
CREATE TABLE signing_keys (
    kid              TEXT    NOT NULL PRIMARY KEY,
    alg              TEXT    NOT NULL,
    state            TEXT    NOT NULL CHECK (state IN ('next', 'current', 'retired')),
    private_enc      BLOB    NOT NULL,
    public_jwk       BLOB    NOT NULL,
    created_ns       INTEGER NOT NULL,
    retired_ns       INTEGER NOT NULL DEFAULT 0,
    publish_until_ns INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX signing_keys_one_per_state ON signing_keys (state) WHERE state IN ('next', 'current');
