-- A B-tree entry holds at most about 2,700 bytes, so `token TEXT UNIQUE` refused valid device
-- tokens longer than that (the contract accepts 4,096 bytes). Uniqueness now lives on the
-- SHA-256 of the token: 32 bytes whatever the token, and exact in practice (a collision would
-- need a SHA-256 collision). Lookups use the hash index and compare the token text too.
--
-- convert_to() is only STABLE (it depends on the database encoding, which never changes for a
-- database), so a generated column needs this IMMUTABLE wrapper.
CREATE FUNCTION push_token_hash(token TEXT) RETURNS BYTEA
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    AS $$ SELECT sha256(convert_to(token, 'UTF8')) $$;

-- Existing rows get their hash as the table is rewritten; the old index goes after the new one
-- exists, so the rule holds throughout.
ALTER TABLE clients ADD COLUMN token_hash BYTEA GENERATED ALWAYS AS (push_token_hash(token)) STORED;
CREATE UNIQUE INDEX clients_token_hash_key ON clients (token_hash);
ALTER TABLE clients DROP CONSTRAINT clients_token_key;
