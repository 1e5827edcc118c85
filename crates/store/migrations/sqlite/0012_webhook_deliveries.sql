-- Verified webhook deliveries, kept for the work they ask; the forge's delivery id is the
-- key, so a redelivery is recognised and does nothing twice.
CREATE TABLE webhook_deliveries (
    key          TEXT    PRIMARY KEY,
    forge        TEXT    NOT NULL,
    event        TEXT    NOT NULL,
    summary      TEXT    NOT NULL,
    body         BLOB    NOT NULL,
    state        TEXT    NOT NULL,
    received_at  BIGINT  NOT NULL
);
CREATE INDEX webhook_deliveries_by_state ON webhook_deliveries (state, received_at);
