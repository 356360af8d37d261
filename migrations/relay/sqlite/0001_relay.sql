-- The practice relay's store (DESIGN.md §5). Events are kept as their signed JSON; the
-- columns beside it exist only to answer filters. No column holds plaintext PHI.
CREATE TABLE events (
    seq         INTEGER PRIMARY KEY,   -- rowid: tags point here, lookups stay one b-tree search
    id          BLOB    NOT NULL UNIQUE, -- 32-byte event id
    pubkey      BLOB    NOT NULL,      -- 32-byte author key
    created_at  INTEGER NOT NULL,
    kind        INTEGER NOT NULL,
    d_tag       TEXT,                  -- '' for replaceable kinds, the identifier for addressable ones
    expires_at  INTEGER,               -- NIP-40
    raw         TEXT    NOT NULL,      -- the event as received
    received_at INTEGER NOT NULL
);
CREATE INDEX events_by_author ON events (pubkey, created_at DESC);
CREATE INDEX events_by_kind ON events (kind, created_at DESC);
CREATE INDEX events_by_time ON events (created_at DESC);
CREATE INDEX events_replaceable ON events (pubkey, kind, d_tag) WHERE d_tag IS NOT NULL;
CREATE INDEX events_expiring ON events (expires_at) WHERE expires_at IS NOT NULL;

-- Single-letter tags, for tag filters and the read rules.
CREATE TABLE tags (
    event_seq  INTEGER NOT NULL,
    name       TEXT    NOT NULL,
    value      TEXT    NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX tags_by_value ON tags (name, value, created_at DESC);
CREATE INDEX tags_by_event ON tags (event_seq);

-- NIP-09: ids their authors asked to delete, so they are not stored again.
CREATE TABLE deleted (
    id     BLOB NOT NULL,
    pubkey BLOB NOT NULL,   -- who asked: only the author's own request counts
    PRIMARY KEY (id, pubkey)
) WITHOUT ROWID;

-- NIP-09 by address: versions up to `until` stay deleted.
CREATE TABLE deleted_addresses (
    pubkey BLOB    NOT NULL,
    kind   INTEGER NOT NULL,
    d_tag  TEXT    NOT NULL,
    until  INTEGER NOT NULL,
    PRIMARY KEY (pubkey, kind, d_tag)
) WITHOUT ROWID;

-- Patients and guardians, given over NIP-86 (staff and agents come from the roster).
CREATE TABLE assigned_roles (
    pubkey      BLOB    NOT NULL,
    role        TEXT    NOT NULL,
    assigned_by BLOB    NOT NULL,
    assigned_at INTEGER NOT NULL,
    PRIMARY KEY (pubkey, role)
) WITHOUT ROWID;

CREATE TABLE bans (
    pubkey    BLOB    PRIMARY KEY,
    reason    TEXT    NOT NULL,
    banned_by BLOB    NOT NULL,
    banned_at INTEGER NOT NULL
) WITHOUT ROWID;

-- NIP-98 auth events already used, until their window closes.
CREATE TABLE nip98_seen (
    id         BLOB    PRIMARY KEY,
    expires_at INTEGER NOT NULL
) WITHOUT ROWID;

-- Ephemeral events in flight between relay processes (PostgreSQL only; unused here).
CREATE TABLE ephemeral (
    id          BLOB    PRIMARY KEY,
    raw         TEXT    NOT NULL,
    received_at INTEGER NOT NULL
) WITHOUT ROWID;
