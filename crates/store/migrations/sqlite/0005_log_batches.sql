-- A chunk row is now one batch of lines (one stream, one stamp): the stamp and stream
-- are columns, and the text is either in `data` (in-memory databases) or in the run's
-- log file beside the database, at `file_offset` for `byte_len` bytes (`data` empty).
-- Rows from before keep their per-line encoding in `data` and have no `stream`.
ALTER TABLE log_chunks ADD COLUMN ts INTEGER;
ALTER TABLE log_chunks ADD COLUMN stream TEXT CHECK (stream IN ('stdout', 'stderr', 'terrace'));
ALTER TABLE log_chunks ADD COLUMN file_offset INTEGER;
ALTER TABLE log_chunks ADD COLUMN byte_len INTEGER;
