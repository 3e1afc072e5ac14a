-- The revocation feed (GET /oauth2/revocations): every revocation carries a
-- revision, taken from one counter row in the transaction that records it,
-- so revisions are unique, increase in commit order (writers serialize on
-- the counter row's lock until they commit; a sequence would not: its
-- values are handed out before commit), and are the same for every node
-- sharing the database. A feed cursor is (epoch, rev); the epoch is random
-- per database, so a cursor from another database is unknown, not wrong.
CREATE TABLE revocation_feed (
    id    integer NOT NULL PRIMARY KEY CHECK (id = 1),
    epoch text    NOT NULL,
    rev   bigint  NOT NULL
);
ALTER TABLE revocations ADD COLUMN rev bigint NOT NULL DEFAULT 0;
UPDATE revocations r SET rev = n.rn
    FROM (SELECT id, row_number() OVER (ORDER BY created_ns, id) AS rn FROM revocations) n
    WHERE r.id = n.id;
INSERT INTO revocation_feed (id, epoch, rev)
    VALUES (1, substr(md5(random()::text || clock_timestamp()::text), 1, 16), (SELECT coalesce(max(rev), 0) FROM revocations));
CREATE UNIQUE INDEX revocations_rev ON revocations (rev);
