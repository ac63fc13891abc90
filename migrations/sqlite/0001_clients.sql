-- One row per registered device. The UNIQUE token constraint is the last line of defence for the
-- rule that a device token belongs to at most one client.
CREATE TABLE clients (
    client_id  TEXT PRIMARY KEY NOT NULL,
    push_type  TEXT NOT NULL,
    token      TEXT NOT NULL UNIQUE,
    updated_at INTEGER NOT NULL DEFAULT (unixepoch())
);
