-- The revocation feed (GET /oauth2/revocations): every revocation carries a
-- revision, taken from one counter row in the transaction that records it,
-- so revisions are unique, increase in commit order (writers serialize on
-- the counter row), and are the same for every node sharing the database.
-- A feed cursor is (epoch, rev); the epoch is random per database, so a
-- cursor from another (or a re-created) database is unknown, not wrong.
CREATE TABLE revocation_feed (
    id    INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    epoch TEXT    NOT NULL,
    rev   INTEGER NOT NULL
);
ALTER TABLE revocations ADD COLUMN rev INTEGER NOT NULL DEFAULT 0;
UPDATE revocations SET rev = rowid;
INSERT INTO revocation_feed (id, epoch, rev)
    VALUES (1, lower(hex(randomblob(8))), (SELECT coalesce(max(rev), 0) FROM revocations));
CREATE UNIQUE INDEX revocations_rev ON revocations (rev);
