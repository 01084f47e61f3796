-- The back office's operator management (issue 12).
-- When an operator last logged in (shown to admins on the operators' page).
ALTER TABLE operators ADD COLUMN last_login_at TIMESTAMPTZ;
