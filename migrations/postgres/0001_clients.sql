-- One row per registered device, as in the SQLite store. The UNIQUE token constraint is the last
-- line of defence for the rule that a device token belongs to at most one client, also when
-- several servers register at once.
CREATE TABLE clients (
    client_id  TEXT PRIMARY KEY NOT NULL,
    push_type  TEXT NOT NULL,
    token      TEXT NOT NULL UNIQUE,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
