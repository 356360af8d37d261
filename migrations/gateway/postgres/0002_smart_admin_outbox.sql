-- SMART Backend Services clients: a facility's public keys (JWKS) and allowed scopes,
-- registered over the NIP-98 admin API by a staff member. No client secret exists.
CREATE TABLE smart_clients (
    client_id TEXT PRIMARY KEY,
    jwks TEXT NOT NULL,
    scopes TEXT NOT NULL,
    registered_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    revoked_at BIGINT
);

-- Client assertion ids (jti) until they expire: a replayed assertion gets no token.
CREATE TABLE assertions_seen (
    client_id TEXT NOT NULL,
    jti TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (client_id, jti)
);

-- NIP-98 auth events used on the admin API, until they leave the 60 s window.
CREATE TABLE nip98_seen (
    event_id TEXT PRIMARY KEY,
    expires_at BIGINT NOT NULL
);

-- Short-lived SMART access tokens live beside the static API keys, told apart by kind.
ALTER TABLE api_keys ADD COLUMN kind TEXT NOT NULL DEFAULT 'api-key';

-- Sealed kind 2107 audit events not yet accepted by the relay (encrypted; see DESIGN.md §6).
CREATE TABLE audit_outbox (
    event_id TEXT PRIMARY KEY,
    event_json TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
