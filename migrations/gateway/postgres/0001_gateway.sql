-- API keys of outside facilities: only a sha256 of the secret is kept.
CREATE TABLE api_keys (
    key_id TEXT PRIMARY KEY,
    client_id TEXT NOT NULL,
    secret_sha256 TEXT NOT NULL,
    scopes TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT
);
CREATE INDEX api_keys_client ON api_keys (client_id);

-- Every access, as a FHIR AuditEvent (JSON), with the columns the access log is read by.
CREATE TABLE audit_events (
    seq BIGSERIAL PRIMARY KEY,
    recorded_at BIGINT NOT NULL,
    client_id TEXT NOT NULL,
    patient_id TEXT,
    outcome TEXT NOT NULL,
    audit_event TEXT NOT NULL
);
CREATE INDEX audit_events_time ON audit_events (recorded_at);
CREATE INDEX audit_events_client ON audit_events (client_id, recorded_at);
