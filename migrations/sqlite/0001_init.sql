-- Sportello schema, SQLite dialect. Kept in lockstep with migrations/postgres/0001_init.sql:
-- same tables, same columns, same constraints. Money is BIGINT cents; time is TEXT (UTC).

CREATE TABLE ente (
    id INTEGER PRIMARY KEY,
    fiscal_code TEXT NOT NULL UNIQUE CHECK (length(fiscal_code) = 11),
    name TEXT NOT NULL,
    office_name TEXT NOT NULL DEFAULT '',
    id_broker_pa TEXT NOT NULL,
    id_station TEXT NOT NULL,
    segregation_code TEXT NOT NULL CHECK (length(segregation_code) = 2),
    aux_digit INTEGER NOT NULL DEFAULT 3 CHECK (aux_digit = 3),
    iban TEXT NOT NULL,
    cbill TEXT NOT NULL,
    postal_account TEXT,
    contact_email TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

-- The IUV base counter: one row per ente, advanced with UPDATE … RETURNING in its own short
-- transaction, so no number is ever handed out twice, across connections and instances.
CREATE TABLE iuv_sequence (
    ente_id BIGINT PRIMARY KEY REFERENCES ente (id),
    next_value BIGINT NOT NULL CHECK (next_value >= 1 AND next_value < 10000000000000)
);

CREATE TABLE accounts (
    id INTEGER PRIMARY KEY,
    username TEXT NOT NULL,
    username_key TEXT NOT NULL UNIQUE, -- lower-cased username: one account per spelling
    password_hash TEXT,
    first_name TEXT NOT NULL,
    last_name TEXT NOT NULL,
    fiscal_code TEXT NOT NULL UNIQUE,
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
    updated_at TEXT NOT NULL
);

-- Single-use tokens (activation, password reset, e-mail change); only their hash is stored.
CREATE TABLE account_tokens (
    id INTEGER PRIMARY KEY,
    account_id BIGINT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    purpose TEXT NOT NULL CHECK (purpose IN ('activation', 'password_reset', 'email_change')),
    token_hash TEXT NOT NULL UNIQUE,
    new_email TEXT,
    expires_at TEXT NOT NULL,
    used_at TEXT,
    created_at TEXT NOT NULL
);
CREATE INDEX account_tokens_account ON account_tokens (account_id, purpose);

-- Server-side sessions; the cookie carries a random id, the table its hash.
CREATE TABLE sessions (
    id_hash TEXT PRIMARY KEY,
    account_id BIGINT REFERENCES accounts (id) ON DELETE CASCADE,
    csrf_token TEXT NOT NULL,
    data TEXT NOT NULL DEFAULT '{}',
    ip TEXT NOT NULL DEFAULT '',
    user_agent TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL,
    last_seen_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
);
CREATE INDEX sessions_account ON sessions (account_id);
CREATE INDEX sessions_expiry ON sessions (expires_at);

-- Fixed-window counters for rate limits that must hold across instances.
CREATE TABLE rate_limits (
    bucket TEXT PRIMARY KEY,
    window_start TEXT NOT NULL,
    hits BIGINT NOT NULL CHECK (hits >= 0),
    failures BIGINT NOT NULL DEFAULT 0 CHECK (failures >= 0),
    blocked_until TEXT
);

-- The service catalog (tipi dovuto); form and transfers are JSON documents.
CREATE TABLE services (
    id INTEGER PRIMARY KEY,
    ente_id BIGINT NOT NULL REFERENCES ente (id),
    code TEXT NOT NULL,
    name TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    spontaneous BOOLEAN NOT NULL,
    pay_for_others BOOLEAN NOT NULL,
    amount_rule TEXT NOT NULL CHECK (amount_rule IN ('fixed', 'entered')),
    fixed_amount BIGINT CHECK (fixed_amount > 0),
    min_amount BIGINT CHECK (min_amount > 0),
    max_amount BIGINT CHECK (max_amount > 0),
    form_definition TEXT NOT NULL,
    causale_template TEXT NOT NULL,
    transfers TEXT NOT NULL,
    taxonomy TEXT NOT NULL DEFAULT '',
    active BOOLEAN NOT NULL DEFAULT 1,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (ente_id, code),
    CHECK (amount_rule <> 'fixed' OR fixed_amount IS NOT NULL),
    CHECK (min_amount IS NULL OR max_amount IS NULL OR min_amount <= max_amount)
);

-- Debt positions, GPD's model.
CREATE TABLE debt_positions (
    id INTEGER PRIMARY KEY,
    ente_id BIGINT NOT NULL REFERENCES ente (id),
    iupd TEXT NOT NULL CHECK (length(iupd) BETWEEN 1 AND 140),
    debtor_type TEXT NOT NULL CHECK (debtor_type IN ('F', 'G')),
    debtor_fiscal_code TEXT NOT NULL,
    full_name TEXT NOT NULL,
    street_name TEXT,
    civic_number TEXT,
    postal_code TEXT,
    city TEXT,
    province TEXT,
    region TEXT,
    country TEXT,
    email TEXT,
    phone TEXT,
    company_name TEXT NOT NULL,
    office_name TEXT,
    validity_date TEXT,
    switch_to_expired BOOLEAN NOT NULL DEFAULT 0,
    status TEXT NOT NULL CHECK (status IN ('DRAFT', 'PUBLISHED', 'VALID', 'INVALID', 'EXPIRED', 'PARTIALLY_PAID', 'PAID', 'REPORTED')),
    service_id BIGINT REFERENCES services (id),
    origin TEXT NOT NULL CHECK (origin IN ('api', 'import', 'portal')),
    created_by_account_id BIGINT REFERENCES accounts (id),
    -- A spontaneous position started on the portal and never paid is removed after this time.
    abandon_at TEXT,
    published_at TEXT,
    payment_date TEXT,
    version BIGINT NOT NULL DEFAULT 1,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (ente_id, iupd)
);
CREATE INDEX debt_positions_debtor ON debt_positions (ente_id, debtor_fiscal_code, status);
CREATE INDEX debt_positions_creator ON debt_positions (created_by_account_id, status);
CREATE INDEX debt_positions_status ON debt_positions (ente_id, status, updated_at);

CREATE TABLE payment_options (
    id INTEGER PRIMARY KEY,
    position_id BIGINT NOT NULL REFERENCES debt_positions (id) ON DELETE CASCADE,
    ente_id BIGINT NOT NULL REFERENCES ente (id),
    iuv TEXT NOT NULL CHECK (length(iuv) IN (15, 17)),
    nav TEXT NOT NULL CHECK (length(nav) = 18),
    amount BIGINT NOT NULL CHECK (amount > 0 AND amount <= 99999999999),
    description TEXT NOT NULL CHECK (length(description) BETWEEN 1 AND 140),
    is_partial_payment BOOLEAN NOT NULL DEFAULT 0,
    due_date TEXT NOT NULL,
    retention_date TEXT,
    fee BIGINT NOT NULL DEFAULT 0 CHECK (fee >= 0),
    notification_fee BIGINT NOT NULL DEFAULT 0 CHECK (notification_fee >= 0),
    status TEXT NOT NULL DEFAULT 'PO_UNPAID' CHECK (status IN ('PO_UNPAID', 'PO_PAID', 'PO_PARTIALLY_REPORTED', 'PO_REPORTED')),
    metadata TEXT NOT NULL DEFAULT '[]',
    paid_at TEXT,
    created_at TEXT NOT NULL,
    UNIQUE (ente_id, iuv),
    UNIQUE (ente_id, nav)
);
CREATE INDEX payment_options_position ON payment_options (position_id);

CREATE TABLE transfers (
    id INTEGER PRIMARY KEY,
    payment_option_id BIGINT NOT NULL REFERENCES payment_options (id) ON DELETE CASCADE,
    id_transfer INTEGER NOT NULL CHECK (id_transfer BETWEEN 1 AND 5),
    amount BIGINT NOT NULL CHECK (amount > 0),
    organization_fiscal_code TEXT NOT NULL,
    remittance_information TEXT NOT NULL,
    category TEXT NOT NULL,
    iban TEXT,
    postal_iban TEXT,
    stamp_hash_document TEXT,
    stamp_type TEXT,
    stamp_provincial_residence TEXT,
    company_name TEXT,
    metadata TEXT NOT NULL DEFAULT '[]',
    UNIQUE (payment_option_id, id_transfer),
    CHECK (iban IS NOT NULL OR stamp_hash_document IS NOT NULL)
);

-- A cart handed to pagoPA Checkout; id is the idCart sent to Checkout.
CREATE TABLE checkouts (
    id TEXT PRIMARY KEY,
    account_id BIGINT REFERENCES accounts (id),
    state TEXT NOT NULL CHECK (state IN ('created', 'redirected', 'waiting_receipt', 'paid', 'partially_paid', 'cancelled', 'failed')),
    total_amount BIGINT NOT NULL CHECK (total_amount > 0),
    email_notice TEXT,
    redirect_url TEXT,
    failure_reason TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX checkouts_account ON checkouts (account_id, created_at);

CREATE TABLE checkout_items (
    checkout_id TEXT NOT NULL REFERENCES checkouts (id) ON DELETE CASCADE,
    payment_option_id BIGINT NOT NULL REFERENCES payment_options (id),
    position INTEGER NOT NULL CHECK (position BETWEEN 1 AND 5),
    amount BIGINT NOT NULL CHECK (amount > 0),
    PRIMARY KEY (checkout_id, payment_option_id),
    UNIQUE (checkout_id, position)
);

-- Every paGetPayment[V2] (activation) the node made.
CREATE TABLE payment_attempts (
    id INTEGER PRIMARY KEY,
    payment_option_id BIGINT NOT NULL REFERENCES payment_options (id) ON DELETE CASCADE,
    amount BIGINT NOT NULL CHECK (amount > 0),
    payment_note TEXT,
    transfer_type TEXT,
    created_at TEXT NOT NULL
);
CREATE INDEX payment_attempts_option ON payment_attempts (payment_option_id);

-- Receipts (paSendRT[V2]). Never updated in place, never deleted: a second receipt for a
-- notice already paid is stored too, flagged for refund.
CREATE TABLE receipts (
    id INTEGER PRIMARY KEY,
    ente_id BIGINT NOT NULL REFERENCES ente (id),
    receipt_id TEXT NOT NULL,
    payment_option_id BIGINT REFERENCES payment_options (id),
    notice_number TEXT NOT NULL,
    iuv TEXT NOT NULL,
    outcome TEXT NOT NULL CHECK (outcome IN ('OK', 'KO')),
    amount BIGINT NOT NULL CHECK (amount > 0),
    description TEXT NOT NULL,
    company_name TEXT NOT NULL,
    office_name TEXT,
    debtor_type TEXT NOT NULL CHECK (debtor_type IN ('F', 'G')),
    debtor_fiscal_code TEXT NOT NULL,
    debtor_name TEXT NOT NULL,
    payer_type TEXT CHECK (payer_type IN ('F', 'G')),
    payer_fiscal_code TEXT,
    payer_name TEXT,
    payer_account_id BIGINT REFERENCES accounts (id),
    checkout_id TEXT REFERENCES checkouts (id),
    id_psp TEXT NOT NULL,
    psp_fiscal_code TEXT,
    psp_partita_iva TEXT,
    psp_company_name TEXT NOT NULL,
    id_channel TEXT NOT NULL,
    channel_description TEXT,
    payment_method TEXT,
    fee BIGINT CHECK (fee >= 0),
    primary_ci_incurred_fee BIGINT CHECK (primary_ci_incurred_fee >= 0),
    id_bundle TEXT,
    id_ci_bundle TEXT,
    payment_note TEXT,
    payment_date_time TEXT NOT NULL,
    application_date TEXT,
    transfer_date TEXT,
    stand_in BOOLEAN NOT NULL DEFAULT 0,
    refund_required BOOLEAN NOT NULL DEFAULT 0,
    raw_xml TEXT NOT NULL,
    received_at TEXT NOT NULL,
    UNIQUE (ente_id, receipt_id)
);
CREATE INDEX receipts_payer ON receipts (payer_account_id, payment_date_time, id);
CREATE INDEX receipts_debtor ON receipts (ente_id, debtor_fiscal_code, payment_date_time, id);
CREATE INDEX receipts_option ON receipts (payment_option_id);

CREATE TABLE receipt_transfers (
    receipt_pk BIGINT NOT NULL REFERENCES receipts (id),
    id_transfer INTEGER NOT NULL CHECK (id_transfer BETWEEN 1 AND 5),
    amount BIGINT NOT NULL CHECK (amount > 0),
    fiscal_code_pa TEXT NOT NULL,
    iban TEXT,
    stamp BOOLEAN NOT NULL DEFAULT 0,
    remittance_information TEXT NOT NULL,
    category TEXT NOT NULL,
    PRIMARY KEY (receipt_pk, id_transfer)
);

-- Transactional outbox: written in the same transaction as the change it announces.
CREATE TABLE outbox (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    recipient TEXT NOT NULL,
    subject TEXT NOT NULL,
    body_text TEXT NOT NULL,
    body_html TEXT,
    state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'sent', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    locked_until TEXT,
    locked_by TEXT,
    last_error TEXT,
    created_at TEXT NOT NULL,
    sent_at TEXT
);
CREATE INDEX outbox_due ON outbox (state, next_attempt_at);

-- Every message exchanged with pagoPA, raw, with its outcome.
CREATE TABLE event_log (
    id INTEGER PRIMARY KEY,
    direction TEXT NOT NULL CHECK (direction IN ('in', 'out')),
    channel TEXT NOT NULL,
    operation TEXT NOT NULL,
    correlation TEXT,
    request TEXT NOT NULL,
    response TEXT,
    outcome TEXT NOT NULL,
    fault_code TEXT,
    http_status INTEGER,
    duration_ms BIGINT NOT NULL CHECK (duration_ms >= 0),
    created_at TEXT NOT NULL
);
CREATE INDEX event_log_correlation ON event_log (correlation);
CREATE INDEX event_log_time ON event_log (created_at);

-- Who did what, when, from where, with which outcome.
CREATE TABLE audit_log (
    id INTEGER PRIMARY KEY,
    occurred_at TEXT NOT NULL,
    account_id BIGINT REFERENCES accounts (id) ON DELETE SET NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    outcome TEXT NOT NULL,
    ip TEXT NOT NULL DEFAULT '',
    detail TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_log_account ON audit_log (account_id, occurred_at);
CREATE INDEX audit_log_time ON audit_log (occurred_at);
