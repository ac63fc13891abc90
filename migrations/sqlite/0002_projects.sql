-- Projects: several wallet apps on one server. Every existing client moves into the default
-- project, whose key is the empty text (no project id can be empty, so it never collides with a
-- created project). SQLite cannot change a primary key in place, so the table is rebuilt; the
-- copy keeps every row.
CREATE TABLE clients_by_project (
    project    TEXT NOT NULL DEFAULT '',
    client_id  TEXT NOT NULL,
    push_type  TEXT NOT NULL,
    token      TEXT NOT NULL,
    updated_at INTEGER NOT NULL DEFAULT (unixepoch()),
    PRIMARY KEY (project, client_id),
    -- A device token belongs to at most one client of a project.
    UNIQUE (project, token)
);
INSERT INTO clients_by_project (project, client_id, push_type, token, updated_at)
    SELECT '', client_id, push_type, token, updated_at FROM clients;
DROP TABLE clients;
ALTER TABLE clients_by_project RENAME TO clients;

-- Credentials are AES-256-GCM sealed (base64) under CREDENTIALS_KEY; nothing secret is stored in
-- the clear. `revision` grows with every credentials change, which tells other instances to
-- rebuild their providers.
CREATE TABLE projects (
    id                    TEXT PRIMARY KEY NOT NULL,
    revision              INTEGER NOT NULL DEFAULT 0,
    apns_credentials      TEXT,
    fcm_credentials       TEXT,
    apns_suspended_reason TEXT,
    apns_suspended_since  INTEGER,
    fcm_suspended_reason  TEXT,
    fcm_suspended_since   INTEGER,
    created_at            INTEGER NOT NULL DEFAULT (unixepoch())
);
