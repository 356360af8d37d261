-- Every patient an access disclosed, so the practice finds a patient's accesses even when one
-- search or export file disclosed several patients at once.
CREATE TABLE audit_event_patients (
    seq BIGINT NOT NULL REFERENCES audit_events (seq),
    patient_id TEXT NOT NULL,
    PRIMARY KEY (patient_id, seq)
);

-- Replay guards share one shape: an id remembered until it expires.
DROP TABLE assertions_seen;
CREATE TABLE assertions_seen (
    id TEXT PRIMARY KEY,
    expires_at BIGINT NOT NULL
);
DROP TABLE nip98_seen;
CREATE TABLE nip98_seen (
    id TEXT PRIMARY KEY,
    expires_at BIGINT NOT NULL
);
CREATE INDEX assertions_seen_expiry ON assertions_seen (expires_at);
CREATE INDEX nip98_seen_expiry ON nip98_seen (expires_at);
CREATE INDEX api_keys_expiry ON api_keys (kind, expires_at);
