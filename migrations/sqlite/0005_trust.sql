-- sportello:foreign-keys-off
-- (The line above tells the migration runner to apply this file with foreign keys switched off
-- on its connection, outside the transaction, and to run PRAGMA foreign_key_check before it
-- commits: SQLite's documented way to rebuild a table that other tables reference. With foreign
-- keys on, DROP TABLE accounts would delete every session, token and cart entry through their
-- ON DELETE CASCADE. See crates/sportello/src/db/migrate.rs.)
--
-- Identity (issue 10): a fiscal code typed at registration is a claim, not an identity. Several
-- accounts may claim one code; at most one may hold it verified (by SPID/CIE, or confirmed by an
-- operator), and only a verified identity sees what the municipality links to that code.
-- Kept in lockstep with postgres/0005_trust.sql. SQLite cannot drop an inline UNIQUE: the table is
-- rebuilt with the same columns, in the same order, plus the three new ones.
CREATE TABLE accounts_rebuilt (
    id INTEGER PRIMARY KEY,
    username TEXT NOT NULL,
    username_key TEXT NOT NULL UNIQUE, -- lower-cased username: one account per spelling
    password_hash TEXT,
    first_name TEXT NOT NULL,
    last_name TEXT NOT NULL,
    fiscal_code TEXT NOT NULL, -- a claim until fiscal_code_verified_at is set
    birth_date TEXT,
    address TEXT NOT NULL DEFAULT '',
    postal_code TEXT NOT NULL DEFAULT '',
    city TEXT NOT NULL DEFAULT '',
    province TEXT NOT NULL DEFAULT '',
    phone TEXT NOT NULL DEFAULT '',
    fax TEXT NOT NULL DEFAULT '',
    email TEXT NOT NULL,
    email_confirmed_at TEXT,
    state TEXT NOT NULL CHECK (state IN ('pending', 'active', 'locked')),
    spid_subject TEXT UNIQUE,
    privacy_accepted_at TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    -- When fiscal_code was proven to belong to this person, how, and by whom (an operator's
    -- username, or the identity provider's entity id).
    fiscal_code_verified_at TEXT,
    identity_source TEXT CHECK (identity_source IN ('spid', 'cie', 'operator')),
    identity_verified_by TEXT,
    CHECK ((fiscal_code_verified_at IS NULL) = (identity_source IS NULL)),
    CHECK ((fiscal_code_verified_at IS NULL) = (identity_verified_by IS NULL))
);
INSERT INTO accounts_rebuilt (id, username, username_key, password_hash, first_name, last_name, fiscal_code,
    birth_date, address, postal_code, city, province, phone, fax, email, email_confirmed_at, state,
    spid_subject, privacy_accepted_at, created_at, updated_at)
SELECT id, username, username_key, password_hash, first_name, last_name, fiscal_code,
    birth_date, address, postal_code, city, province, phone, fax, email, email_confirmed_at, state,
    spid_subject, privacy_accepted_at, created_at, updated_at
FROM accounts;
DROP TABLE accounts;
ALTER TABLE accounts_rebuilt RENAME TO accounts;
-- One verified holder per fiscal code; any number of claims.
CREATE UNIQUE INDEX accounts_verified_fiscal_code ON accounts (fiscal_code)
    WHERE fiscal_code_verified_at IS NOT NULL;
CREATE INDEX accounts_fiscal_code ON accounts (fiscal_code);

-- Notice numbers minted by Sportello (aux 3): the 13-digit base is drawn at random above the
-- numbers the old sequence handed out (iuv_sequence.next_value, now frozen), so one notice code
-- tells nothing about the next. Every base drawn is recorded here and never deleted, so a number
-- is never handed out twice, even after its position is deleted; the primary key makes a clash a
-- conflict, and the minting code draws again.
CREATE TABLE iuv_minted (
    ente_id BIGINT NOT NULL REFERENCES ente (id),
    base BIGINT NOT NULL CHECK (base >= 1 AND base < 10000000000000),
    minted_at TEXT NOT NULL,
    PRIMARY KEY (ente_id, base)
);
