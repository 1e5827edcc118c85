-- A plan run keeps its summary (JSON text) and where its artifacts (the saved plan) are.
ALTER TABLE runs ADD COLUMN plan_summary TEXT;
ALTER TABLE runs ADD COLUMN artifacts TEXT;
