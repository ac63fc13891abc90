-- Web Push: a project's VAPID identity (subject and private key, sealed under CREDENTIALS_KEY like
-- the other credentials) and its suspension, beside APNS's and FCM's.
ALTER TABLE projects ADD COLUMN webpush_credentials TEXT;
ALTER TABLE projects ADD COLUMN webpush_suspended_reason TEXT;
ALTER TABLE projects ADD COLUMN webpush_suspended_since BIGINT;
