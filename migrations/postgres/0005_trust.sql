-- Identity (issue 10): a fiscal code typed at registration is a claim, not an identity. Several
-- accounts may claim one code; at most one may hold it verified (by SPID/CIE, or confirmed by an
-- operator), and only a verified identity sees what the municipality links to that code.
-- Kept in lockstep with sqlite/0005_trust.sql (which has to rebuild the table to drop the
-- inline UNIQUE; PostgreSQL drops the constraint by name).
ALTER TABLE accounts DROP CONSTRAINT accounts_fiscal_code_key;
-- When fiscal_code was proven to belong to this person, how, and by whom (an operator's
-- username, or the identity provider's entity id).
ALTER TABLE accounts ADD COLUMN fiscal_code_verified_at TIMESTAMPTZ;
ALTER TABLE accounts ADD COLUMN identity_source TEXT CHECK (identity_source IN ('spid', 'cie', 'operator'));
ALTER TABLE accounts ADD COLUMN identity_verified_by TEXT;
ALTER TABLE accounts ADD CONSTRAINT accounts_identity_source_given
    CHECK ((fiscal_code_verified_at IS NULL) = (identity_source IS NULL));
ALTER TABLE accounts ADD CONSTRAINT accounts_identity_verifier_given
    CHECK ((fiscal_code_verified_at IS NULL) = (identity_verified_by IS NULL));
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
    minted_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (ente_id, base)
);
