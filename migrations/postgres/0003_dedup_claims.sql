-- Dedup claims for DEDUP_BACKEND=postgres: one row per (client, notification id) claimed within
-- its window. The primary key makes a claim one atomic INSERT ... ON CONFLICT; `token` lets a
-- release delete only its own claim; expired rows are taken over by the next claim and swept
-- in the background by the `expires_at` index. Ids are at most 255 bytes each, well inside a
-- B-tree entry.
CREATE TABLE dedup_claims (
    client_id       TEXT NOT NULL,
    notification_id TEXT NOT NULL,
    token           BIGINT NOT NULL,
    expires_at      TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (client_id, notification_id)
);
CREATE INDEX dedup_claims_expires_at ON dedup_claims (expires_at);
