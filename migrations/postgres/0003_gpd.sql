-- GPD API and bulk import (PostgreSQL dialect; kept in lockstep with sqlite/0003_gpd.sql).

-- GPD's `payStandIn`: whether the node may take the payment in stand-in mode.
ALTER TABLE debt_positions ADD COLUMN pay_stand_in BOOLEAN NOT NULL DEFAULT TRUE;

-- Fingerprint of the CSV rows a position was imported from: re-importing the same rows is
-- recognised as "unchanged" instead of a duplicate. NULL for positions created otherwise.
ALTER TABLE debt_positions ADD COLUMN content_hash TEXT;

-- The API lists positions by insertion time (GPD's default order) and filters on due dates.
CREATE INDEX debt_positions_created ON debt_positions (ente_id, created_at);
CREATE INDEX payment_options_due ON payment_options (position_id, status, due_date);
