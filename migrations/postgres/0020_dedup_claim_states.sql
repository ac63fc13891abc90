-- A claim is in flight (a send holds it while it delivers; `expires_at` is its lease's end) or done
-- (the provider accepted the notification; `expires_at` is the dedup window's end). Rows written
-- before claims had states were written for deliveries under way or made, and were answered as
-- duplicates: they count as done, as they did. A constant default adds the column without
-- rewriting the table.
ALTER TABLE dedup_claims ADD COLUMN done BOOLEAN NOT NULL DEFAULT true;
