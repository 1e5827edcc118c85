-- Named locks under a lease (a promotion of one environment and artifact at a time,
-- across processes and replicas): the holder renews `expires_at`; an expired lock is
-- taken over, and each take-over bumps `token`.
CREATE TABLE named_locks (
    name        TEXT    NOT NULL PRIMARY KEY,
    holder      TEXT    NOT NULL,
    token       INTEGER NOT NULL,
    acquired_at INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL
);
