-- The SQLite SQL of iap-store, as the code sends it: every statement of
-- the store engine (the schema and its migrations first), by the name
-- the engine gives it. Written by the test `engine::sql_files`; do not edit
-- (change the code, then run the test with IAP_WRITE_SQL=1).

-- == Schema ==

-- HAS_META
SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'iap_meta') AS present;

-- HAS_TABLES
SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE name IN ('iap_outbox', 'iap_inbox')) AS present;

-- SELECT_VERSION
SELECT value FROM iap_meta WHERE name = 'schema_version';

-- INSERT_VERSION
INSERT INTO iap_meta (name, value) VALUES ('schema_version', ?1);

-- CREATE_SCHEMA
CREATE TABLE iap_meta (
    name  TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
CREATE TABLE iap_outbox (
    source     TEXT NOT NULL,
    event_id   TEXT NOT NULL,
    status     TEXT NOT NULL,
    attempts   INTEGER NOT NULL,
    due_at     INTEGER,
    envelope   TEXT NOT NULL,
    problem    TEXT,
    renewed_at INTEGER,
    settled_at INTEGER,
    ordering_key TEXT,
    held_back  INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (source, event_id)
);

CREATE INDEX iap_outbox_due ON iap_outbox (due_at) WHERE due_at IS NOT NULL AND held_back = 0;
CREATE INDEX iap_outbox_held_back ON iap_outbox (ordering_key) WHERE held_back = 1;
CREATE INDEX iap_outbox_key_dead_letters ON iap_outbox (ordering_key)
                 WHERE ordering_key IS NOT NULL AND status IN ('failed', 'quarantined');
CREATE INDEX iap_outbox_status ON iap_outbox (status);

CREATE INDEX iap_outbox_settled ON iap_outbox (settled_at)
    WHERE settled_at IS NOT NULL AND status IN ('processed', 'acknowledged', 'skipped');
CREATE INDEX iap_outbox_dead_letters ON iap_outbox ((CASE typeof(settled_at) WHEN 'integer' THEN settled_at ELSE -9223372036854775807 END)) WHERE status = 'failed';

CREATE INDEX iap_outbox_stray ON iap_outbox (status) WHERE ((due_at IS NULL AND status NOT IN ('processed', 'acknowledged', 'failed', 'skipped', 'quarantined'))
          OR typeof(due_at) NOT IN ('integer', 'null') OR due_at > 8210266876799999999
          OR (held_back IS NOT 0 AND (held_back IS NOT 1 OR ordering_key IS NULL)));
CREATE INDEX iap_outbox_key_order ON iap_outbox (ordering_key)
                 WHERE ordering_key IS NOT NULL AND status IN ('pending', 'dispatched', 'retrying', 'failed', 'quarantined');
CREATE TABLE iap_inbox (
    source      TEXT NOT NULL,
    event_id    TEXT NOT NULL,
    event       TEXT NOT NULL,
    received_at INTEGER NOT NULL,
    PRIMARY KEY (source, event_id)
) WITHOUT ROWID;
CREATE INDEX iap_inbox_received ON iap_inbox (received_at);;

-- MIGRATE_FROM_1
ALTER TABLE iap_outbox ADD COLUMN renewed_at INTEGER;
CREATE INDEX iap_outbox_stray ON iap_outbox (status) WHERE ((due_at IS NULL AND status NOT IN ('processed', 'acknowledged', 'failed', 'skipped', 'quarantined'))
          OR typeof(due_at) NOT IN ('integer', 'null'));
UPDATE iap_meta SET value = 2 WHERE name = 'schema_version';;

-- MIGRATE_FROM_2
ALTER TABLE iap_outbox ADD COLUMN settled_at INTEGER;
UPDATE iap_outbox SET settled_at = CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER)
    WHERE status IN ('processed', 'acknowledged', 'skipped');
CREATE INDEX iap_outbox_settled ON iap_outbox (settled_at) WHERE settled_at IS NOT NULL;
UPDATE iap_meta SET value = 3 WHERE name = 'schema_version';;

-- MIGRATE_FROM_3
ALTER TABLE iap_outbox ADD COLUMN ordering_key TEXT;
UPDATE iap_outbox SET ordering_key = envelope ->> '$.partitionkey'
    WHERE json_valid(envelope) AND json_type(envelope, '$.partitionkey') = 'text';
CREATE INDEX iap_outbox_key_order ON iap_outbox (ordering_key)
                 WHERE ordering_key IS NOT NULL AND status IN ('pending', 'dispatched', 'retrying', 'failed', 'quarantined');
UPDATE iap_meta SET value = 4 WHERE name = 'schema_version';;

-- MIGRATE_FROM_4
ALTER TABLE iap_outbox ADD COLUMN held_back INTEGER NOT NULL DEFAULT 0;
DROP INDEX iap_outbox_due;

CREATE INDEX iap_outbox_due ON iap_outbox (due_at) WHERE due_at IS NOT NULL AND held_back = 0;
CREATE INDEX iap_outbox_held_back ON iap_outbox (ordering_key) WHERE held_back = 1;
CREATE INDEX iap_outbox_key_dead_letters ON iap_outbox (ordering_key)
                 WHERE ordering_key IS NOT NULL AND status IN ('failed', 'quarantined');
UPDATE iap_meta SET value = 5 WHERE name = 'schema_version';;

-- MIGRATE_FROM_5
ALTER TABLE iap_inbox RENAME COLUMN payload TO event;
UPDATE iap_outbox
    SET envelope = json_set(json_remove(envelope, '$.delivery'),
                            '$._delivery', json(envelope -> '$.delivery'))
    WHERE json_valid(envelope) AND json_type(envelope, '$.delivery') IS NOT NULL;
DROP INDEX iap_outbox_stray;
CREATE INDEX iap_outbox_stray ON iap_outbox (status) WHERE ((due_at IS NULL AND status NOT IN ('processed', 'acknowledged', 'failed', 'skipped', 'quarantined'))
          OR typeof(due_at) NOT IN ('integer', 'null') OR due_at > 8210266876799999999
          OR (held_back IS NOT 0 AND (held_back IS NOT 1 OR ordering_key IS NULL)));
UPDATE iap_meta SET value = 6 WHERE name = 'schema_version';;

-- MIGRATE_FROM_6
UPDATE iap_outbox SET settled_at = coalesce(
    (SELECT unixepoch(substr(at, 1, 19)) * 1000000
            + CASE WHEN substr(at, 20, 1) = '.'
                   THEN CAST(substr(substr(at, 21, instr(at, 'Z') - 21) || '000000', 1, 6)
                             AS INTEGER)
                   ELSE 0 END
     FROM (SELECT CASE WHEN json_valid(envelope)
                       THEN envelope ->> '$._delivery.history[#-1].at' END AS at)),
    CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER))
    WHERE status = 'failed';
DROP INDEX iap_outbox_settled;

CREATE INDEX iap_outbox_settled ON iap_outbox (settled_at)
    WHERE settled_at IS NOT NULL AND status IN ('processed', 'acknowledged', 'skipped');
CREATE INDEX iap_outbox_dead_letters ON iap_outbox ((CASE typeof(settled_at) WHEN 'integer' THEN settled_at ELSE -9223372036854775807 END)) WHERE status = 'failed';

UPDATE iap_meta SET value = 7 WHERE name = 'schema_version';;

-- == Outbox rows ==

-- SELECT_KEY
SELECT rowid AS seq, source, event_id, status, attempts, due_at, renewed_at, envelope, problem,
         NULL AS claimed_at, ordering_key, held_back FROM iap_outbox WHERE source = ?1 AND event_id = ?2;

-- LOCK_ROW
SELECT rowid AS seq, source, event_id, status, attempts, due_at, renewed_at, envelope, problem,
         NULL AS claimed_at, ordering_key, held_back FROM iap_outbox WHERE source = ?1 AND event_id = ?2;

-- ROW_IF_NOT_QUARANTINED
SELECT rowid AS seq, source, event_id, status, attempts, due_at, renewed_at, envelope, problem,
         NULL AS claimed_at, ordering_key, held_back FROM iap_outbox WHERE rowid = ?1 AND status <> 'quarantined';

-- QUARANTINED_KEY
SELECT rowid AS seq, source, event_id, status, attempts, due_at, renewed_at, envelope, problem,
         NULL AS claimed_at, ordering_key, held_back FROM iap_outbox WHERE source = ?1 AND event_id = ?2 AND status = 'quarantined';

-- SELECT_STRAYS
SELECT rowid AS seq, source, event_id, status, attempts, due_at, renewed_at, envelope, problem,
         NULL AS claimed_at, ordering_key, held_back FROM iap_outbox WHERE ((due_at IS NULL AND status NOT IN ('processed', 'acknowledged', 'failed', 'skipped', 'quarantined'))
          OR typeof(due_at) NOT IN ('integer', 'null') OR due_at > 8210266876799999999
          OR (held_back IS NOT 0 AND (held_back IS NOT 1 OR ordering_key IS NULL))) LIMIT ?1;

-- SELECT_UNQUARANTINED
SELECT rowid AS seq, source, event_id, status, attempts, due_at, renewed_at, envelope, problem,
         NULL AS claimed_at, ordering_key, held_back FROM iap_outbox WHERE status IS NOT 'quarantined' ORDER BY rowid;

-- LOCK_DEAD_LETTERS
SELECT rowid AS seq, source, event_id, status, attempts, due_at, renewed_at, envelope, problem,
         NULL AS claimed_at, ordering_key, held_back FROM iap_outbox WHERE status = 'failed';

-- == Claims ==

-- MARK_HELD_BACK
UPDATE iap_outbox SET held_back = 1 WHERE rowid IN (SELECT id FROM (SELECT rowid AS id FROM iap_outbox
            WHERE due_at IS NOT NULL AND due_at <= ?1 AND held_back = 0
            ORDER BY due_at LIMIT ?2)) AND NOT (iap_outbox.ordering_key IS NULL OR NOT EXISTS (
                SELECT 1 FROM iap_outbox AS earlier
                WHERE earlier.ordering_key = iap_outbox.ordering_key
                    AND earlier.rowid < iap_outbox.rowid
                    AND earlier.status IN ('pending', 'dispatched', 'retrying', 'failed', 'quarantined')
                    AND (earlier.status IN ('pending', 'dispatched', 'retrying') OR ?3)));

-- SELECT_DUE
WITH RECURSIVE held_back_keys(ordering_key) AS (
    SELECT MIN(ordering_key) FROM iap_outbox WHERE held_back = 1
    UNION ALL
    SELECT (SELECT MIN(ordering_key) FROM iap_outbox
            WHERE held_back = 1 AND ordering_key > held_back_keys.ordering_key)
    FROM held_back_keys WHERE held_back_keys.ordering_key IS NOT NULL
)
SELECT rowid AS seq, source, event_id, status, attempts, due_at, renewed_at, envelope, problem,
         NULL AS claimed_at, ordering_key, held_back, (SELECT earlier.source || '/' || earlier.event_id FROM iap_outbox AS earlier
              WHERE earlier.ordering_key = iap_outbox.ordering_key
                  AND earlier.rowid < iap_outbox.rowid
                  AND earlier.status IN ('pending', 'dispatched', 'retrying', 'failed', 'quarantined')
                  AND earlier.status IN ('failed', 'quarantined')
              ORDER BY earlier.rowid LIMIT 1) AS passed FROM iap_outbox WHERE rowid IN (SELECT id FROM (SELECT rowid AS id FROM iap_outbox
            WHERE due_at IS NOT NULL AND due_at <= ?1 AND held_back = 0
            ORDER BY due_at LIMIT ?2))
    AND (iap_outbox.ordering_key IS NULL OR NOT EXISTS (
                SELECT 1 FROM iap_outbox AS earlier
                WHERE earlier.ordering_key = iap_outbox.ordering_key
                    AND earlier.rowid < iap_outbox.rowid
                    AND earlier.status IN ('pending', 'dispatched', 'retrying', 'failed', 'quarantined')
                    AND (earlier.status IN ('pending', 'dispatched', 'retrying') OR ?3)))
UNION ALL
SELECT rowid AS seq, source, event_id, status, attempts, due_at, renewed_at, envelope, problem,
         NULL AS claimed_at, ordering_key, held_back, (SELECT earlier.source || '/' || earlier.event_id FROM iap_outbox AS earlier
              WHERE earlier.ordering_key = iap_outbox.ordering_key
                  AND earlier.rowid < iap_outbox.rowid
                  AND earlier.status IN ('pending', 'dispatched', 'retrying', 'failed', 'quarantined')
                  AND earlier.status IN ('failed', 'quarantined')
              ORDER BY earlier.rowid LIMIT 1) AS passed FROM iap_outbox WHERE rowid IN (
        SELECT (SELECT MIN(rowid) FROM iap_outbox AS head
                WHERE head.held_back = 1 AND head.ordering_key = held_back_keys.ordering_key)
        FROM held_back_keys WHERE held_back_keys.ordering_key IS NOT NULL)
    AND due_at IS NOT NULL AND due_at <= ?1 AND (iap_outbox.ordering_key IS NULL OR NOT EXISTS (
                SELECT 1 FROM iap_outbox AS earlier
                WHERE earlier.ordering_key = iap_outbox.ordering_key
                    AND earlier.rowid < iap_outbox.rowid
                    AND earlier.status IN ('pending', 'dispatched', 'retrying', 'failed', 'quarantined')
                    AND (earlier.status IN ('pending', 'dispatched', 'retrying') OR ?3)))
ORDER BY due_at LIMIT ?2;

-- SELECT_DUE_IN_ORDER
WITH RECURSIVE held_back_keys(ordering_key) AS (
    SELECT MIN(ordering_key) FROM iap_outbox WHERE held_back = 1
    UNION ALL
    SELECT (SELECT MIN(ordering_key) FROM iap_outbox
            WHERE held_back = 1 AND ordering_key > held_back_keys.ordering_key)
    FROM held_back_keys WHERE held_back_keys.ordering_key IS NOT NULL
)
SELECT rowid AS seq, source, event_id, status, attempts, due_at, renewed_at, envelope, problem,
         NULL AS claimed_at, ordering_key, held_back, (SELECT earlier.source || '/' || earlier.event_id FROM iap_outbox AS earlier
              WHERE earlier.ordering_key = iap_outbox.ordering_key
                  AND earlier.rowid < iap_outbox.rowid
                  AND earlier.status IN ('pending', 'dispatched', 'retrying', 'failed', 'quarantined')
                  AND earlier.status IN ('failed', 'quarantined')
              ORDER BY earlier.rowid LIMIT 1) AS passed FROM iap_outbox WHERE due_at IS NOT NULL AND due_at <= ?1 AND held_back = 0 AND (iap_outbox.ordering_key IS NULL OR NOT EXISTS (
                SELECT 1 FROM iap_outbox AS earlier
                WHERE earlier.ordering_key = iap_outbox.ordering_key
                    AND earlier.rowid < iap_outbox.rowid
                    AND earlier.status IN ('pending', 'dispatched', 'retrying', 'failed', 'quarantined')
                    AND (earlier.status IN ('pending', 'dispatched', 'retrying') OR ?3)))
UNION ALL
SELECT rowid AS seq, source, event_id, status, attempts, due_at, renewed_at, envelope, problem,
         NULL AS claimed_at, ordering_key, held_back, (SELECT earlier.source || '/' || earlier.event_id FROM iap_outbox AS earlier
              WHERE earlier.ordering_key = iap_outbox.ordering_key
                  AND earlier.rowid < iap_outbox.rowid
                  AND earlier.status IN ('pending', 'dispatched', 'retrying', 'failed', 'quarantined')
                  AND earlier.status IN ('failed', 'quarantined')
              ORDER BY earlier.rowid LIMIT 1) AS passed FROM iap_outbox WHERE rowid IN (
        SELECT (SELECT MIN(rowid) FROM iap_outbox AS head
                WHERE head.held_back = 1 AND head.ordering_key = held_back_keys.ordering_key)
        FROM held_back_keys WHERE held_back_keys.ordering_key IS NOT NULL)
    AND due_at IS NOT NULL AND due_at <= ?1 AND (iap_outbox.ordering_key IS NULL OR NOT EXISTS (
                SELECT 1 FROM iap_outbox AS earlier
                WHERE earlier.ordering_key = iap_outbox.ordering_key
                    AND earlier.rowid < iap_outbox.rowid
                    AND earlier.status IN ('pending', 'dispatched', 'retrying', 'failed', 'quarantined')
                    AND (earlier.status IN ('pending', 'dispatched', 'retrying') OR ?3)))
ORDER BY due_at LIMIT ?2;

-- CLEAR_HELD_BACK
UPDATE iap_outbox SET held_back = 0 WHERE rowid = ?1;

-- == Writes ==

-- ENQUEUE
INSERT INTO iap_outbox (source, event_id, status, attempts, due_at, envelope, ordering_key)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT DO NOTHING;

-- WRITE_ROW
UPDATE iap_outbox
         SET status = ?3, attempts = ?4, due_at = ?5, envelope = ?6, renewed_at = NULL,
             settled_at = ?7
         WHERE source = ?1 AND event_id = ?2;

-- WRITE_ROWS
UPDATE iap_outbox
         SET status = w.value ->> 2, attempts = w.value ->> 3, due_at = w.value ->> 4,
             envelope = w.value ->> 5, renewed_at = NULL, settled_at = w.value ->> 6
         FROM json_each(?1) AS w
         WHERE iap_outbox.source = w.value ->> 0 AND iap_outbox.event_id = w.value ->> 1;

-- RECORD
UPDATE iap_outbox
             SET status = ?3, due_at = ?4, envelope = ?5, renewed_at = NULL, settled_at = ?7
             WHERE source = ?1 AND event_id = ?2 AND status = 'dispatched' AND attempts = ?6;

-- RECORD_ROWS
UPDATE iap_outbox
         SET status = w.value ->> 2, due_at = w.value ->> 4, envelope = w.value ->> 5,
             renewed_at = NULL, settled_at = w.value ->> 6
         FROM json_each(?1) AS w
         WHERE iap_outbox.source = w.value ->> 0 AND iap_outbox.event_id = w.value ->> 1
             AND iap_outbox.status = 'dispatched' AND iap_outbox.attempts = w.value ->> 3
         RETURNING iap_outbox.source, iap_outbox.event_id;

-- EXTEND_LEASE
UPDATE iap_outbox SET due_at = ?3, renewed_at = ?4
             WHERE source = ?1 AND event_id = ?2 AND status = 'dispatched' AND attempts = ?5;

-- RELEASE_CLAIM
UPDATE iap_outbox SET status = ?3, attempts = ?4, due_at = ?5, renewed_at = ?6, envelope = ?7
                 WHERE source = ?1 AND event_id = ?2 AND status = 'dispatched' AND attempts = ?8;

-- QUARANTINE
UPDATE iap_outbox SET status = ?2, due_at = NULL, renewed_at = NULL, problem = ?3,
             held_back = 0
         WHERE rowid = ?1;

-- RELEASE_QUARANTINED
UPDATE iap_outbox SET status = ?2, due_at = ?3, renewed_at = NULL, problem = NULL,
                 settled_at = ?4
             WHERE rowid = ?1;

-- DELETE_QUARANTINED
DELETE FROM iap_outbox WHERE source = ?1 AND event_id = ?2 AND status = 'quarantined';

-- PURGE_SETTLED
DELETE FROM iap_outbox WHERE rowid IN (
         SELECT rowid FROM iap_outbox
         WHERE settled_at < ?1 AND status IN ('processed', 'acknowledged', 'skipped')
         LIMIT ?2);

-- == Dead letters and quarantine ==

-- SELECT_DEAD_LETTERS_PAGE
SELECT rowid AS seq, source, event_id, status, attempts, due_at, renewed_at, envelope, problem,
         NULL AS claimed_at, ordering_key, held_back, (CASE typeof(settled_at) WHEN 'integer' THEN settled_at ELSE -9223372036854775807 END) AS failed_order FROM iap_outbox INDEXED BY iap_outbox_dead_letters
    WHERE status = 'failed'
    AND (?1 IS NULL OR source = ?1)
    AND (?2 IS NULL OR (CASE WHEN json_valid(envelope) THEN envelope ->> '$.type' END) = ?2)
    AND (CASE typeof(settled_at) WHEN 'integer' THEN settled_at ELSE -9223372036854775807 END) <= ifnull(?3, 9223372036854775807)
    AND (CASE typeof(settled_at) WHEN 'integer' THEN settled_at ELSE -9223372036854775807 END) >= ?4 AND ((CASE typeof(settled_at) WHEN 'integer' THEN settled_at ELSE -9223372036854775807 END), rowid) > (?4, ?5)
    ORDER BY (CASE typeof(settled_at) WHEN 'integer' THEN settled_at ELSE -9223372036854775807 END), rowid LIMIT ?6;

-- LOCK_DEAD_LETTERS_PAGE
SELECT rowid AS seq, source, event_id, status, attempts, due_at, renewed_at, envelope, problem,
         NULL AS claimed_at, ordering_key, held_back, (CASE typeof(settled_at) WHEN 'integer' THEN settled_at ELSE -9223372036854775807 END) AS failed_order FROM iap_outbox INDEXED BY iap_outbox_dead_letters
    WHERE status = 'failed'
    AND (?1 IS NULL OR source = ?1)
    AND (?2 IS NULL OR (CASE WHEN json_valid(envelope) THEN envelope ->> '$.type' END) = ?2)
    AND (CASE typeof(settled_at) WHEN 'integer' THEN settled_at ELSE -9223372036854775807 END) <= ifnull(?3, 9223372036854775807)
    AND (CASE typeof(settled_at) WHEN 'integer' THEN settled_at ELSE -9223372036854775807 END) >= ?4 AND ((CASE typeof(settled_at) WHEN 'integer' THEN settled_at ELSE -9223372036854775807 END), rowid) > (?4, ?5)
    ORDER BY (CASE typeof(settled_at) WHEN 'integer' THEN settled_at ELSE -9223372036854775807 END), rowid LIMIT ?6;

-- COUNT_DEAD_LETTERS
SELECT COUNT(*) AS count FROM iap_outbox WHERE status = 'failed'
    AND (?1 IS NULL OR source = ?1)
    AND (?2 IS NULL OR (CASE WHEN json_valid(envelope) THEN envelope ->> '$.type' END) = ?2)
    AND (CASE typeof(settled_at) WHEN 'integer' THEN settled_at ELSE -9223372036854775807 END) <= ifnull(?3, 9223372036854775807);

-- HELD_KEYS
SELECT head.ordering_key, head.source, head.event_id, head.status,
                 (SELECT COUNT(*) FROM iap_outbox AS behind
                  WHERE behind.ordering_key = head.ordering_key
                      AND behind.rowid > head.rowid
                      AND behind.status IN ('pending', 'dispatched', 'retrying', 'failed', 'quarantined')
                      AND behind.status IN ('pending', 'dispatched', 'retrying')) AS waiting
             FROM iap_outbox AS head
             WHERE head.ordering_key IS NOT NULL AND head.status IN ('pending', 'dispatched', 'retrying', 'failed', 'quarantined')
                 AND head.status IN ('failed', 'quarantined')
                 AND NOT EXISTS (
                     SELECT 1 FROM iap_outbox AS earlier
                     WHERE earlier.ordering_key = head.ordering_key
                         AND earlier.rowid < head.rowid
                         AND earlier.status IN ('pending', 'dispatched', 'retrying', 'failed', 'quarantined'))
             ORDER BY head.rowid LIMIT ?1;

-- SELECT_QUARANTINED
SELECT source, event_id, problem, envelope FROM iap_outbox
             WHERE status = 'quarantined' ORDER BY rowid LIMIT ?1;

-- == Monitoring ==

-- COUNT_BY_STATUS
SELECT status, COUNT(*) AS count FROM iap_outbox GROUP BY status;

-- COUNT_INBOX
SELECT COUNT(*) AS count FROM iap_inbox;

-- MIN_DUE_BETWEEN
SELECT MIN(due_at) AS due_at FROM iap_outbox
             WHERE due_at IS NOT NULL AND held_back = 0 AND due_at BETWEEN ?1 AND ?2
                 AND typeof(due_at) = 'integer';

-- OLDEST_DUE_BETWEEN
SELECT MIN(due) AS due_at FROM (
    SELECT MIN(due_at) AS due FROM iap_outbox
    WHERE due_at IS NOT NULL AND held_back = 0 AND due_at BETWEEN ?1 AND ?2
        AND typeof(due_at) = 'integer'
    UNION ALL
    SELECT MIN(due_at) FROM iap_outbox
    WHERE held_back = 1 AND due_at BETWEEN ?1 AND ?2 AND typeof(due_at) = 'integer');

-- == Inbox ==

-- SELECT_FRESH_KEY
SELECT event FROM iap_inbox WHERE source = ?1 AND event_id = ?2 AND received_at >= ?3;

-- REMEMBER_KEY
INSERT INTO iap_inbox (source, event_id, event, received_at) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (source, event_id) DO UPDATE SET event = ?3, received_at = ?4;

-- PURGE_INBOX
DELETE FROM iap_inbox WHERE received_at < ?1;

-- SAVEPOINT
SAVEPOINT iap_admit;

-- RELEASE_SAVEPOINT
RELEASE iap_admit;

-- ROLLBACK_TO_SAVEPOINT
ROLLBACK TO iap_admit;
