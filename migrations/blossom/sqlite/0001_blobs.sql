-- Blossom metadata (DESIGN.md §4). Blobs are ciphertext; nothing here is PHI beyond sizes and
-- times, which is why reads need authorization by default.
CREATE TABLE blobs (
    sha256   TEXT    PRIMARY KEY,  -- lowercase hex
    size     INTEGER NOT NULL,
    type     TEXT    NOT NULL,
    uploaded INTEGER NOT NULL
) WITHOUT ROWID;

-- Who uploaded each blob: a blob stays while any owner holds it.
CREATE TABLE owners (
    sha256 TEXT    NOT NULL,
    pubkey TEXT    NOT NULL,       -- lowercase hex
    added  INTEGER NOT NULL,
    PRIMARY KEY (sha256, pubkey)
) WITHOUT ROWID;
CREATE INDEX owners_by_pubkey ON owners (pubkey, added, sha256);
