-- Emergency access (DESIGN.md §15).
-- Break-glass accesses are found by their purpose (v3-ActReason ETREAT) without reading every
-- AuditEvent's JSON.
ALTER TABLE audit_events ADD COLUMN purpose TEXT;
CREATE INDEX audit_events_purpose ON audit_events (purpose, recorded_at);

-- SMART Health Links: what the manifest server keeps. The file is a JWE under a key that is
-- only in the link (and, sealed to the patient, in sealed_key): nothing here opens it.
CREATE TABLE shl_links (
    link_id TEXT PRIMARY KEY,
    patient TEXT NOT NULL,
    label TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER,
    passcode_hash TEXT,
    attempts_left INTEGER,
    latest INTEGER NOT NULL,
    file TEXT NOT NULL,
    file_updated_at INTEGER NOT NULL,
    sealed_key TEXT NOT NULL,
    ended_at INTEGER,
    accesses INTEGER NOT NULL DEFAULT 0,
    last_access_at INTEGER
);
CREATE INDEX shl_links_patient ON shl_links (patient, created_at);

-- Short-lived file locations (an hour at most) handed out in manifests.
CREATE TABLE shl_file_tokens (
    token TEXT PRIMARY KEY,
    link_id TEXT NOT NULL REFERENCES shl_links (link_id),
    expires_at INTEGER NOT NULL
);
