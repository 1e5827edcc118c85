-- An attempt's step is found again through its executor by an opaque handle id; no
-- process id is kept. A pid recorded before becomes the local executor's handle on this
-- host ("/<pid>/<start>": an empty host means the one reading it).
ALTER TABLE attempts ADD COLUMN executor TEXT;
ALTER TABLE attempts ADD COLUMN handle TEXT;
UPDATE attempts SET executor = 'local', handle = '/' || pid || '/' || COALESCE(pid_start, '') WHERE pid IS NOT NULL;
ALTER TABLE attempts DROP COLUMN pid;
ALTER TABLE attempts DROP COLUMN pid_start;
