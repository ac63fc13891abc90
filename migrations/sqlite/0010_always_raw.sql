-- Whether the wallet asked for the raw form of notifications (`always_raw` at registration).
-- Existing clients registered before it was kept get the default, the classic form.
ALTER TABLE clients ADD COLUMN always_raw BOOLEAN NOT NULL DEFAULT 0;
