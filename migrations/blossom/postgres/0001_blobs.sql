-- Blossom metadata, PostgreSQL flavour of migrations/blossom/sqlite.
CREATE TABLE blobs (
    sha256   TEXT   PRIMARY KEY,
    size     BIGINT NOT NULL,
    type     TEXT   NOT NULL,
    uploaded BIGINT NOT NULL
);

CREATE TABLE owners (
    sha256 TEXT   NOT NULL,
    pubkey TEXT   NOT NULL,
    added  BIGINT NOT NULL,
    PRIMARY KEY (sha256, pubkey)
);
CREATE INDEX owners_by_pubkey ON owners (pubkey, added, sha256);
