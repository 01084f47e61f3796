-- The citizen's cart: notices of other people added by code ("Pagamento per altri da Avviso"),
-- and the due-date rule of spontaneous services.
ALTER TABLE services ADD COLUMN due_days INTEGER NOT NULL DEFAULT 30 CHECK (due_days BETWEEN 1 AND 3650);

CREATE TABLE cart_entries (
    account_id BIGINT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    payment_option_id BIGINT NOT NULL REFERENCES payment_options (id) ON DELETE CASCADE,
    added_at TEXT NOT NULL,
    PRIMARY KEY (account_id, payment_option_id)
);
CREATE INDEX cart_entries_option ON cart_entries (payment_option_id);
