-- Named locks under a lease (a promotion of one environment and artifact at a time,
-- across processes and replicas): the holder renews `expires_at`; an expired lock is
-- taken over, and each take-over bumps `token`.
CREATE TABLE named_locks (
    name        TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    holder      TEXT    NOT NULL,
    token       BIGINT  NOT NULL,
    acquired_at BIGINT  NOT NULL,
    expires_at  BIGINT  NOT NULL
);
