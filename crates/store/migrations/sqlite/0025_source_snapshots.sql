-- The content of a job's source folder as its last successful `start` applied it, so a
-- job removed from terrace.yaml runs its `delete` from that content even when the
-- folder changed or is gone. `data_enc` is a gzip-compressed tar sealed with the master
-- key, bound to its hash; `hash` is the SHA-256 of the tar: a redeploy of the same
-- content stores nothing new. A snapshot goes when no applied job refers to it.
CREATE TABLE source_snapshots (
    hash        TEXT    PRIMARY KEY,
    data_enc    BLOB    NOT NULL,
    size        INTEGER NOT NULL,
    created_at  INTEGER NOT NULL
) STRICT;

ALTER TABLE applied_jobs ADD COLUMN source_snapshot TEXT;
