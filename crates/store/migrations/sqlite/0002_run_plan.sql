-- A plan run keeps its summary (to add, to change, to destroy, empty) and where its
-- artifacts (the saved plan file) are.
ALTER TABLE runs ADD COLUMN plan_summary TEXT;
ALTER TABLE runs ADD COLUMN artifacts TEXT;
