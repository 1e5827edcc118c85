-- As migrations/sqlite/0026_master_key.sql.
-- The id of the master key the store's sealed values are under: a SHA-256 of the key
-- under a prefix of its own, never the key and no way back to it. The first open with a
-- key writes it (a store made before this table gets it at its next open); every later
-- open with another key is refused, so no process seals values the others cannot open.
CREATE TABLE master_key (
    one          INTEGER PRIMARY KEY CHECK (one = 1),
    key_id       TEXT    NOT NULL,
    recorded_at  BIGINT  NOT NULL
);
