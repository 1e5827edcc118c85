-- A chunk row is now one batch of lines (one stream, one stamp): the stamp and stream
-- are columns and `data` holds the lines' text as is. Rows from before keep their
-- per-line encoding in `data` and have no `stream`. (`file_offset`/`byte_len` mirror
-- the SQLite schema, where texts may live in files; here they stay NULL.)
ALTER TABLE log_chunks
    ADD COLUMN ts BIGINT,
    ADD COLUMN stream TEXT CHECK (stream IN ('stdout', 'stderr', 'terrace')),
    ADD COLUMN file_offset BIGINT,
    ADD COLUMN byte_len BIGINT;
-- Log text compresses poorly per row and is read whole: no TOAST compression.
ALTER TABLE log_chunks ALTER COLUMN data SET STORAGE EXTERNAL;
