-- The back office's operator management and notice attachments (issue 12).
-- When an operator last logged in (shown to admins on the operators' page).
ALTER TABLE operators ADD COLUMN last_login_at TEXT;
-- A file attached to an outbox message (the notice PDF), stored with the row so that every
-- delivery attempt sends the same bytes under the same Message-ID.
ALTER TABLE outbox ADD COLUMN attachment_name TEXT;
ALTER TABLE outbox ADD COLUMN attachment_type TEXT;
ALTER TABLE outbox ADD COLUMN attachment BLOB;
