-- Projects: several wallet apps on one server. Every existing client moves into the default
-- project, whose key is the empty text (no project id can be empty, so it never collides with a
-- created project); client ids and device tokens become unique per project (the token by its
-- hash, as migration 0002 made it).
ALTER TABLE clients ADD COLUMN project TEXT NOT NULL DEFAULT '';
ALTER TABLE clients DROP CONSTRAINT clients_pkey;
ALTER TABLE clients ADD PRIMARY KEY (project, client_id);
CREATE UNIQUE INDEX clients_project_token_hash_key ON clients (project, token_hash);
DROP INDEX clients_token_hash_key;

-- Credentials are AES-256-GCM sealed (base64) under CREDENTIALS_KEY; nothing secret is stored in
-- the clear. `revision` grows with every credentials change, which tells other instances to
-- rebuild their providers.
CREATE TABLE projects (
    id                    TEXT PRIMARY KEY NOT NULL,
    revision              BIGINT NOT NULL DEFAULT 0,
    apns_credentials      TEXT,
    fcm_credentials       TEXT,
    apns_suspended_reason TEXT,
    apns_suspended_since  BIGINT,
    fcm_suspended_reason  TEXT,
    fcm_suspended_since   BIGINT,
    created_at            TIMESTAMPTZ NOT NULL DEFAULT now()
);
