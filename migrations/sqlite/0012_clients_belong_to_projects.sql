-- A client cannot outlive its project: the database refuses a client whose project does not
-- exist, and deleting a project deletes its clients (ON DELETE CASCADE). SQLite cannot add a
-- foreign key to a table in place, so the table is rebuilt, as migration 0002 did.
--
-- The default project's clients (key '', which no created project can have) get a row of their
-- own to refer to; it is never listed, counted or deleted.
INSERT INTO projects (id) VALUES ('') ON CONFLICT (id) DO NOTHING;
CREATE TABLE clients_in_projects (
    project    TEXT NOT NULL DEFAULT '' REFERENCES projects (id) ON DELETE CASCADE,
    client_id  TEXT NOT NULL,
    push_type  TEXT NOT NULL,
    token      TEXT NOT NULL,
    updated_at INTEGER NOT NULL DEFAULT (unixepoch()),
    always_raw BOOLEAN NOT NULL DEFAULT 0,
    PRIMARY KEY (project, client_id),
    -- A device token belongs to at most one client of a project.
    UNIQUE (project, token)
);
-- Clients left behind by a deleted project belong to nobody: they are not copied.
INSERT INTO clients_in_projects (project, client_id, push_type, token, updated_at, always_raw)
    SELECT project, client_id, push_type, token, updated_at, always_raw FROM clients
    WHERE project IN (SELECT id FROM projects);
DROP TABLE clients;
ALTER TABLE clients_in_projects RENAME TO clients;
