-- The back office (/ufficio): operators with a second factor, their sessions (apart from the
-- citizens'), the services each may act on, resolved anomalies, and the indexes of its searches.
CREATE TABLE operators (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    username TEXT NOT NULL UNIQUE CHECK (length(username) BETWEEN 3 AND 64),
    password_hash TEXT NOT NULL,
    -- The initial password printed by `sportello operator add` must be changed at first login.
    must_change_password BOOLEAN NOT NULL DEFAULT TRUE,
    totp_secret TEXT NOT NULL, -- base32, RFC 6238
    -- The last time step whose code was accepted: a code is good once (no replay).
    totp_last_step BIGINT NOT NULL DEFAULT 0,
    role TEXT NOT NULL CHECK (role IN ('admin', 'operator')),
    read_only BOOLEAN NOT NULL DEFAULT FALSE,
    disabled_at TIMESTAMPTZ,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);

-- The services (catalog codes) an operator may see and act on; admins need none.
CREATE TABLE operator_services (
    operator_id BIGINT NOT NULL REFERENCES operators (id) ON DELETE CASCADE,
    service_code TEXT NOT NULL,
    PRIMARY KEY (operator_id, service_code)
);

CREATE TABLE operator_sessions (
    id_hash TEXT PRIMARY KEY,
    operator_id BIGINT REFERENCES operators (id) ON DELETE CASCADE,
    csrf_token TEXT NOT NULL,
    ip TEXT NOT NULL DEFAULT '',
    user_agent TEXT NOT NULL DEFAULT '',
    created_at TIMESTAMPTZ NOT NULL,
    last_seen_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX operator_sessions_expiry ON operator_sessions (expires_at);

-- An anomaly (kind + the id of its row) a person has dealt with, and their note.
CREATE TABLE anomaly_resolutions (
    kind TEXT NOT NULL CHECK (kind IN ('refund', 'unknown_notice', 'checkout_overdue', 'mail_failed')),
    ref_id TEXT NOT NULL,
    note TEXT NOT NULL CHECK (length(note) BETWEEN 1 AND 2000),
    resolved_by TEXT NOT NULL,
    resolved_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (kind, ref_id)
);

-- Searches of the back office, newest first (keyset on id): everything, or by service.
CREATE INDEX debt_positions_keyset ON debt_positions (ente_id, id);
CREATE INDEX debt_positions_service ON debt_positions (ente_id, service_id, id);
CREATE INDEX receipts_keyset ON receipts (ente_id, id);
CREATE INDEX receipts_time ON receipts (ente_id, payment_date_time);
CREATE INDEX audit_log_actor ON audit_log (actor, occurred_at);
CREATE INDEX checkouts_state ON checkouts (state, updated_at);
