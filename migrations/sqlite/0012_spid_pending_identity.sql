-- Issue 10 finding 4: a pending link keeps the whole verified identity server-side, so that its
-- owner can also refuse the claimed account ("Non è il mio account") and enter with a new
-- verified profile. Pending links live 15 minutes: the few in flight are dropped.
DELETE FROM spid_pending_links;
ALTER TABLE spid_pending_links ADD COLUMN fiscal_code TEXT NOT NULL DEFAULT '';
ALTER TABLE spid_pending_links ADD COLUMN first_name TEXT NOT NULL DEFAULT '';
ALTER TABLE spid_pending_links ADD COLUMN last_name TEXT NOT NULL DEFAULT '';
ALTER TABLE spid_pending_links ADD COLUMN email TEXT NOT NULL DEFAULT '';
ALTER TABLE spid_pending_links ADD COLUMN birth_date TEXT;
ALTER TABLE spid_pending_links ADD COLUMN level INTEGER NOT NULL DEFAULT 2;
