-- Reconciliation (issue 13): pagoPA's reporting flows (FdR), their lines matched to receipts,
-- the treasury's credits, and the anomalies between them. Kept in lockstep with
-- migrations/postgres/0010_recon.sql.

-- One row per revision of a flow. A newer revision becomes `current`; older ones stay, with
-- their lines and matches, as history.
CREATE TABLE fdr_flows (
    id INTEGER PRIMARY KEY,
    ente_id BIGINT NOT NULL REFERENCES ente (id),
    fdr TEXT NOT NULL,
    psp_id TEXT NOT NULL,
    revision BIGINT NOT NULL CHECK (revision >= 1),
    current BOOLEAN NOT NULL,
    status TEXT NOT NULL,
    published_at TEXT NOT NULL,
    flow_date TEXT,
    regulation TEXT NOT NULL,
    regulation_date TEXT,
    bic TEXT,
    psp_name TEXT NOT NULL,
    tot_payments BIGINT NOT NULL,
    sum_payments BIGINT NOT NULL,
    line_count BIGINT NOT NULL,
    line_sum BIGINT NOT NULL,
    credit_pk BIGINT,
    loaded_at TEXT NOT NULL,
    UNIQUE (ente_id, fdr, psp_id, revision)
);
CREATE INDEX fdr_flows_list ON fdr_flows (ente_id, current, published_at);
CREATE INDEX fdr_flows_fdr ON fdr_flows (ente_id, fdr);

-- A flow's lines; `receipt_pk` is the match (kept on old revisions as history).
CREATE TABLE fdr_lines (
    id INTEGER PRIMARY KEY,
    flow_pk BIGINT NOT NULL REFERENCES fdr_flows (id),
    idx BIGINT NOT NULL,
    iuv TEXT NOT NULL,
    iur TEXT NOT NULL,
    id_transfer BIGINT NOT NULL,
    amount BIGINT NOT NULL,
    pay_status TEXT NOT NULL CHECK (pay_status IN ('EXECUTED', 'REVOKED', 'STAND_IN', 'STAND_IN_NO_RPT', 'NO_RPT')),
    pay_date TEXT NOT NULL,
    receipt_pk BIGINT REFERENCES receipts (id),
    UNIQUE (flow_pk, idx)
);
CREATE INDEX fdr_lines_receipt ON fdr_lines (receipt_pk);
CREATE INDEX fdr_lines_key ON fdr_lines (iuv, iur);

-- The treasury's credits (camt.053 or CSV), once each.
CREATE TABLE treasury_credits (
    id INTEGER PRIMARY KEY,
    ente_id BIGINT NOT NULL REFERENCES ente (id),
    movement_key TEXT NOT NULL,
    source TEXT NOT NULL CHECK (source IN ('camt053', 'csv')),
    file_name TEXT NOT NULL,
    booking_date TEXT,
    value_date TEXT,
    amount BIGINT NOT NULL CHECK (amount > 0),
    currency TEXT NOT NULL,
    reference TEXT,
    debtor_name TEXT,
    remittance TEXT NOT NULL,
    fdr TEXT,
    imported_at TEXT NOT NULL,
    UNIQUE (ente_id, movement_key)
);
CREATE INDEX treasury_credits_fdr ON treasury_credits (ente_id, fdr);

-- What does not add up. Closed, never deleted: `superseded` by a newer revision,
-- `recovered` (the receipt was fetched), `resolved` by an operator, `settled` (what was
-- missing arrived).
CREATE TABLE recon_anomalies (
    id INTEGER PRIMARY KEY,
    ente_id BIGINT NOT NULL REFERENCES ente (id),
    kind TEXT NOT NULL,
    flow_pk BIGINT REFERENCES fdr_flows (id),
    line_pk BIGINT REFERENCES fdr_lines (id),
    receipt_pk BIGINT REFERENCES receipts (id),
    credit_pk BIGINT REFERENCES treasury_credits (id),
    iuv TEXT,
    iur TEXT,
    id_transfer BIGINT,
    detail TEXT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_at TEXT,
    created_at TEXT NOT NULL,
    closed_at TEXT,
    closed_reason TEXT,
    closed_note TEXT
);
CREATE INDEX recon_anomalies_open ON recon_anomalies (ente_id, closed_at, kind);
CREATE INDEX recon_anomalies_flow ON recon_anomalies (flow_pk);
CREATE INDEX recon_anomalies_receipt ON recon_anomalies (receipt_pk);

-- The FdR watermark: flows published after it are new.
CREATE TABLE recon_state (
    ente_id BIGINT PRIMARY KEY REFERENCES ente (id),
    fdr_watermark TEXT,
    last_sync_at TEXT,
    last_error TEXT
);

-- A receipt fetched from pagoPA's receipts API rather than delivered by paSendRT, and where it
-- stands in reconciliation (pending → reported → credited, or anomaly).
ALTER TABLE receipts ADD COLUMN recovered BOOLEAN NOT NULL DEFAULT 0;
ALTER TABLE receipts ADD COLUMN reporting_state TEXT NOT NULL DEFAULT 'pending'
    CHECK (reporting_state IN ('pending', 'reported', 'credited', 'anomaly'));
ALTER TABLE receipts ADD COLUMN reported_fdr TEXT;
