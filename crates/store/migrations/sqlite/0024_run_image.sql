-- The image a container run ran: the registry digest (repo@sha256:...) of a pulled image,
-- the image id (sha256:...) of one built from a Dockerfile or found only locally, the
-- reference a Kubernetes Job asked for. Empty for local runs.
ALTER TABLE runs ADD COLUMN image TEXT;
