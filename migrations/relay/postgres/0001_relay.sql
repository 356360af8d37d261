-- The practice relay's store (DESIGN.md §5), PostgreSQL flavour of migrations/relay/sqlite.
CREATE TABLE events (
    seq         BIGSERIAL PRIMARY KEY,
    id          BYTEA   NOT NULL UNIQUE,
    pubkey      BYTEA   NOT NULL,
    created_at  BIGINT  NOT NULL,
    kind        BIGINT  NOT NULL,
    d_tag       TEXT,
    expires_at  BIGINT,
    raw         TEXT    NOT NULL,
    received_at BIGINT  NOT NULL
);
CREATE INDEX events_by_author ON events (pubkey, created_at DESC);
CREATE INDEX events_by_kind ON events (kind, created_at DESC);
CREATE INDEX events_by_time ON events (created_at DESC);
CREATE INDEX events_replaceable ON events (pubkey, kind, d_tag) WHERE d_tag IS NOT NULL;
CREATE INDEX events_expiring ON events (expires_at) WHERE expires_at IS NOT NULL;

CREATE TABLE tags (
    event_seq  BIGINT NOT NULL,
    name       TEXT   NOT NULL,
    value      TEXT   NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX tags_by_value ON tags (name, value, created_at DESC);
CREATE INDEX tags_by_event ON tags (event_seq);

CREATE TABLE deleted (
    id     BYTEA NOT NULL,
    pubkey BYTEA NOT NULL,
    PRIMARY KEY (id, pubkey)
);

CREATE TABLE deleted_addresses (
    pubkey BYTEA  NOT NULL,
    kind   BIGINT NOT NULL,
    d_tag  TEXT   NOT NULL,
    until  BIGINT NOT NULL,
    PRIMARY KEY (pubkey, kind, d_tag)
);

CREATE TABLE assigned_roles (
    pubkey      BYTEA  NOT NULL,
    role        TEXT   NOT NULL,
    assigned_by BYTEA  NOT NULL,
    assigned_at BIGINT NOT NULL,
    PRIMARY KEY (pubkey, role)
);

CREATE TABLE bans (
    pubkey    BYTEA  PRIMARY KEY,
    reason    TEXT   NOT NULL,
    banned_by BYTEA  NOT NULL,
    banned_at BIGINT NOT NULL
);

CREATE TABLE nip98_seen (
    id         BYTEA  PRIMARY KEY,
    expires_at BIGINT NOT NULL
);

-- Ephemeral events in flight between relay processes: NOTIFY carries only the id.
CREATE TABLE ephemeral (
    id          BYTEA  PRIMARY KEY,
    raw         TEXT   NOT NULL,
    received_at BIGINT NOT NULL
);
