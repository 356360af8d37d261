#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! Key formats: hex, npub/nsec with checksums, NIP-49 ncryptsec; secrets never print.

use ehr_client::keys::{self, ChartKey, Identity, KeyError};

#[test]
fn npub_nsec_and_hex_round_trip() {
    let id = Identity::generate();
    let npub = id.npub();
    assert!(npub.starts_with("npub1"));
    assert_eq!(keys::parse_public_key(&npub).unwrap(), id.public_key());
    assert_eq!(
        keys::parse_public_key(&id.public_key().to_hex()).unwrap(),
        id.public_key()
    );

    let nsec = id.nsec();
    assert!(nsec.starts_with("nsec1"));
    assert_eq!(
        Identity::parse(&nsec, None).unwrap().public_key(),
        id.public_key()
    );
    let hex = id.secret_key().to_secret_hex();
    assert_eq!(
        Identity::parse(&hex, None).unwrap().public_key(),
        id.public_key()
    );
}

/// Known answer: NIP-19's own example pair.
#[test]
fn nip19_example_decodes() {
    let pk =
        keys::parse_public_key("npub10elfcs4fr0l0r8af98jlmgdh9c8tcxjvz9qkw038js35mp4dma8qzvjptg")
            .unwrap();
    assert_eq!(
        pk.to_hex(),
        "7e7e9c42a91bfef19fa929e5fda1b72e0ebc1a4c1141673e2794234d86addf4e"
    );
    let id = Identity::parse(
        "nsec1vl029mgpspedva04g90vltkh6fvh240zqtv9k0t9af8935ke9laqsnlfe5",
        None,
    )
    .unwrap();
    assert_eq!(
        id.secret_key().to_secret_hex(),
        "67dea2ed018072d675f5415ecfaed7d2597555e202d85b3d65ea4e58d2d92ffa"
    );
}

#[test]
fn a_mistyped_bech32_string_fails_its_checksum() {
    let npub = Identity::generate().npub();
    // Change one data character: the checksum must catch it.
    let mut chars: Vec<char> = npub.chars().collect();
    chars[10] = if chars[10] == 'q' { 'p' } else { 'q' };
    let typo: String = chars.into_iter().collect();
    assert_eq!(keys::parse_public_key(&typo), Err(KeyError::InvalidBech32));

    let nsec = Identity::generate().nsec();
    let truncated = &nsec[..nsec.len() - 1];
    assert!(matches!(
        Identity::parse(truncated, None),
        Err(KeyError::InvalidBech32)
    ));
}

#[test]
fn the_wrong_kind_of_key_is_named_in_the_error() {
    let id = Identity::generate();
    assert!(matches!(
        keys::parse_public_key(&id.nsec()),
        Err(KeyError::WrongPrefix {
            expected: "npub",
            ..
        })
    ));
    assert!(matches!(
        Identity::parse(&id.npub(), None),
        Err(KeyError::WrongPrefix {
            expected: "nsec",
            ..
        })
    ));
    assert!(matches!(
        keys::parse_public_key("hello"),
        Err(KeyError::UnrecognisedFormat { .. })
    ));
    // 64 hex digits that are not a curve point, and a zero scalar.
    assert!(matches!(
        keys::parse_public_key(&"f".repeat(64)),
        Err(KeyError::InvalidKey { .. })
    ));
    assert!(matches!(
        Identity::parse(&"0".repeat(64), None),
        Err(KeyError::InvalidKey { .. })
    ));
}

#[test]
fn ncryptsec_round_trip_and_wrong_password() {
    let id = Identity::generate();
    // log_n 8 keeps the test fast; the CLI defaults to 16.
    let ncryptsec = keys::to_ncryptsec(id.secret_key(), "correct horse", 8).unwrap();
    assert!(ncryptsec.starts_with("ncryptsec1"));
    let opened = Identity::parse(&ncryptsec, Some("correct horse")).unwrap();
    assert_eq!(opened.public_key(), id.public_key());
    assert!(matches!(
        Identity::parse(&ncryptsec, Some("wrong")),
        Err(KeyError::WrongPassword)
    ));
    assert!(matches!(
        Identity::parse(&ncryptsec, None),
        Err(KeyError::PasswordRequired)
    ));
}

/// NIP-49's published example: password "nostr", log_n 16.
#[test]
fn nip49_example_decrypts() {
    let example = "ncryptsec1qgg9947rlpvqu76pj5ecreduf9jxhselq2nae2kghhvd5g7dgjtcxfqtd67p9m0w57lspw8gsq6yphnm8623nsl8xn9j4jdzz84zm3frztj3z7s35vpzmqf6ksu8r89qk5z2zxfmu5gv8th8wclt0h4p";
    let id = Identity::parse(example, Some("nostr")).unwrap();
    assert_eq!(
        id.secret_key().to_secret_hex(),
        "3501454135014541350145413501453fefb02227e449e57cf4d3a3ce05378683"
    );
}

#[test]
fn debug_output_never_prints_a_secret() {
    let id = Identity::generate();
    let secret_hex = id.secret_key().to_secret_hex();
    let nsec = id.nsec().to_string();
    let printed = format!("{id:?} {id:#?}");
    assert!(!printed.contains(&secret_hex) && !printed.contains(&nsec));
    assert!(printed.contains("<redacted>"));

    let chart_key = ChartKey::generate(3);
    let raw = hex::encode(*chart_key.to_bytes());
    let printed = format!("{chart_key:?}");
    assert!(!printed.contains(&raw));
    assert!(printed.contains("version: 3"));
}

#[test]
fn chart_keys_reject_invalid_scalars() {
    assert!(ChartKey::from_bytes(1, &[0u8; 32]).is_err());
    assert!(ChartKey::from_bytes(1, &[1u8; 31]).is_err());
    let key = ChartKey::generate(2);
    let copy = ChartKey::from_bytes(2, &*key.to_bytes()).unwrap();
    assert_eq!(copy.public_key(), key.public_key());
}
