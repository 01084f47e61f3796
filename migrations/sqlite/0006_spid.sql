-- SPID and CIE login (issue 11). Kept in lockstep with migrations/postgres/0006_spid.sql.

-- Every AuthnRequest and LogoutRequest Sportello sends: a response is accepted only for a
-- request we made, not expired, used once, and back in the browser that started it.
CREATE TABLE spid_requests (
    id TEXT PRIMARY KEY, -- the SAML ID (InResponseTo of the answer)
    kind TEXT NOT NULL CHECK (kind IN ('authn', 'logout')),
    idp_entity_id TEXT NOT NULL,
    level BIGINT NOT NULL CHECK (level BETWEEN 1 AND 3),
    browser_hash TEXT NOT NULL, -- SHA-256 of the flow cookie
    next_path TEXT NOT NULL DEFAULT '',
    issue_instant TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    used_at TEXT
);
CREATE INDEX spid_requests_expiry ON spid_requests (expires_at);

-- The SPID/CIE session behind a Sportello session, for single logout (both directions).
CREATE TABLE spid_sessions (
    session_id_hash TEXT PRIMARY KEY REFERENCES sessions (id_hash) ON DELETE CASCADE,
    account_id BIGINT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    idp_entity_id TEXT NOT NULL,
    name_id TEXT NOT NULL,
    name_qualifier TEXT NOT NULL,
    session_index TEXT,
    created_at TEXT NOT NULL
);
CREATE INDEX spid_sessions_subject ON spid_sessions (idp_entity_id, name_id);

-- A verified identity waiting for its owner to confirm the password of the existing account
-- with the same fiscal code (linking happens once). Keyed by the visitor's session.
CREATE TABLE spid_pending_links (
    session_id_hash TEXT PRIMARY KEY REFERENCES sessions (id_hash) ON DELETE CASCADE,
    account_id BIGINT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    federation TEXT NOT NULL CHECK (federation IN ('spid', 'cie')),
    idp_entity_id TEXT NOT NULL,
    name_id TEXT NOT NULL,
    name_qualifier TEXT NOT NULL,
    session_index TEXT,
    next_path TEXT NOT NULL DEFAULT '',
    expires_at TEXT NOT NULL
);
