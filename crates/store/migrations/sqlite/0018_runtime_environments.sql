-- Environments created at run time (a clone, a preview) live in the store beside those
-- declared in terrace.yaml. Their definition is on their record, so it goes when the
-- record goes (a delete event that succeeded): `origin` is what made it (`clone`,
-- `preview`, ...; NULL for the record of an environment the file declares), `source` the
-- environment it was made from, `base` the declared environment it derives from (whose
-- jobs, parameters files and settings it uses), `variables` its variable overrides as a
-- JSON object of strings, `created_by` who made it.
ALTER TABLE environments ADD COLUMN origin TEXT;
ALTER TABLE environments ADD COLUMN source TEXT;
ALTER TABLE environments ADD COLUMN base TEXT;
ALTER TABLE environments ADD COLUMN variables TEXT;
ALTER TABLE environments ADD COLUMN created_by TEXT;
