#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! The official NIP-44 v2 vectors (`shared/vectors/nip44.vectors.json`, read in place) and the
//! 2026 extended-length boundary vectors of 44.md, through `ehr_client::crypto`.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bitcoin_hashes::{Hash, HashEngine, hmac, sha256};
use chacha20::ChaCha20;
use chacha20::cipher::{KeyIvInit, StreamCipher};
use ehr_client::crypto::{self, CryptoError};
use ehr_client::nostr::nips::nip44::v2::ConversationKey;
use ehr_client::nostr::prelude::{Keys, PublicKey, SecretKey};
use serde_json::Value;

fn vectors() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/vectors/nip44.vectors.json"
    );
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("read {path} (shared/ must sit beside the repository): {e}"));
    let sum = sha256::Hash::hash(text.as_bytes()).to_string();
    assert_eq!(
        sum, "269ed0f69e4c192512cc779e78c555090cebc7c785b609e338a62afc3ce25040",
        "the vector file is not the one 44.md pins"
    );
    serde_json::from_str(&text).unwrap()
}

fn cases<'a>(v: &'a Value, path: &[&str]) -> &'a Vec<Value> {
    let mut node = &v["v2"];
    for p in path {
        node = &node[*p];
    }
    node.as_array()
        .unwrap_or_else(|| panic!("no vectors at {path:?}"))
}

fn s<'a>(case: &'a Value, field: &str) -> &'a str {
    case[field].as_str().unwrap()
}

fn bytes32(hex_str: &str) -> [u8; 32] {
    hex::decode(hex_str).unwrap().try_into().unwrap()
}

fn conv(hex_str: &str) -> ConversationKey {
    ConversationKey::from_slice(&hex::decode(hex_str).unwrap()).unwrap()
}

fn sha256_hex(data: &[u8]) -> String {
    sha256::Hash::hash(data).to_string()
}

#[test]
fn valid_conversation_keys() {
    let v = vectors();
    let list = cases(&v, &["valid", "get_conversation_key"]);
    assert!(list.len() >= 30);
    for case in list {
        let sk = SecretKey::from_hex(s(case, "sec1")).unwrap();
        let pk = PublicKey::from_hex(s(case, "pub2")).unwrap();
        let key = crypto::conversation_key(&sk, &pk).unwrap();
        assert_eq!(hex::encode(key.as_bytes()), s(case, "conversation_key"));
    }
}

/// The message-key derivation is private to `nostr`; check its output instead: a payload made
/// with the vector's conversation key and nonce must decrypt under the vector's ChaCha20 key and
/// nonce, and carry the HMAC made with the vector's HMAC key.
#[test]
fn valid_message_keys() {
    let v = vectors();
    let conversation_key = conv(s(&v["v2"]["valid"]["get_message_keys"], "conversation_key"));
    let list = cases(&v, &["valid", "get_message_keys", "keys"]);
    assert!(!list.is_empty());
    for case in list {
        let nonce = bytes32(s(case, "nonce"));
        let payload =
            crypto::encrypt_with_nonce(&conversation_key, b"message keys", nonce).unwrap();
        let raw = STANDARD.decode(payload).unwrap();
        let (body, mac) = raw.split_at(raw.len() - 32);
        let mut ciphertext = body[33..].to_vec();
        let chacha_key = bytes32(s(case, "chacha_key"));
        let chacha_nonce: [u8; 12] = hex::decode(s(case, "chacha_nonce"))
            .unwrap()
            .try_into()
            .unwrap();
        ChaCha20::new(&chacha_key.into(), &chacha_nonce.into()).apply_keystream(&mut ciphertext);
        assert_eq!(&ciphertext[..2], &[0, 12], "length prefix");
        assert_eq!(&ciphertext[2..14], b"message keys");

        let mut engine =
            hmac::HmacEngine::<sha256::Hash>::new(&hex::decode(s(case, "hmac_key")).unwrap());
        engine.input(&body[1..]);
        let expected_mac = hmac::Hmac::<sha256::Hash>::from_engine(engine);
        assert_eq!(mac, expected_mac.as_byte_array());
    }
}

/// Padded lengths, observed as payload sizes: version + nonce + prefix + padded + MAC.
#[test]
fn valid_padded_lengths() {
    let v = vectors();
    let key = ConversationKey::new([7; 32]);
    for case in cases(&v, &["valid", "calc_padded_len"]) {
        let len = case[0].as_u64().unwrap() as usize;
        let padded = case[1].as_u64().unwrap() as usize;
        let prefix = if len < 65_536 { 2 } else { 6 };
        let payload = crypto::encrypt_with_nonce(&key, &vec![b'x'; len], [1; 32]).unwrap();
        let raw = STANDARD.decode(payload).unwrap();
        assert_eq!(
            raw.len(),
            1 + 32 + prefix + padded + 32,
            "plaintext length {len}"
        );
    }
}

#[test]
fn valid_encrypt_decrypt() {
    let v = vectors();
    let list = cases(&v, &["valid", "encrypt_decrypt"]);
    assert!(!list.is_empty());
    for case in list {
        let sec1 = SecretKey::from_hex(s(case, "sec1")).unwrap();
        let sec2 = SecretKey::from_hex(s(case, "sec2")).unwrap();
        let pub1 = Keys::new(sec1.clone()).public_key();
        let pub2 = Keys::new(sec2.clone()).public_key();
        let key = crypto::conversation_key(&sec1, &pub2).unwrap();
        assert_eq!(hex::encode(key.as_bytes()), s(case, "conversation_key"));

        let plaintext = s(case, "plaintext");
        let payload =
            crypto::encrypt_with_nonce(&key, plaintext.as_bytes(), bytes32(s(case, "nonce")))
                .unwrap();
        assert_eq!(payload, s(case, "payload"));
        // The other side opens it with its own secret.
        assert_eq!(
            crypto::nip44_decrypt(&sec2, &pub1, &payload).unwrap(),
            plaintext
        );
    }
}

#[test]
fn valid_long_messages() {
    let v = vectors();
    for case in cases(&v, &["valid", "encrypt_decrypt_long_msg"]) {
        let key = conv(s(case, "conversation_key"));
        let plaintext = s(case, "pattern").repeat(case["repeat"].as_u64().unwrap() as usize);
        assert_eq!(
            sha256_hex(plaintext.as_bytes()),
            s(case, "plaintext_sha256")
        );
        let payload =
            crypto::encrypt_with_nonce(&key, plaintext.as_bytes(), bytes32(s(case, "nonce")))
                .unwrap();
        assert_eq!(sha256_hex(payload.as_bytes()), s(case, "payload_sha256"));
        assert_eq!(
            crypto::decrypt_with_conversation_key(&key, &payload).unwrap(),
            plaintext.as_bytes()
        );
    }
}

/// 44.md's extended length prefix vectors: 'a' repeated, conversation key of the first
/// encrypt_decrypt vector, nonce 0x00..01.
#[test]
fn extended_length_prefix_boundaries() {
    let key = conv("c41c775356fd92eadc63ff5a0dc1da211b268cbea22316767095b2871ea1412d");
    let mut nonce = [0u8; 32];
    nonce[31] = 1;
    for (len, padded, plaintext_sha, payload_sha) in [
        (
            65_535usize,
            65_536usize,
            "6e1bebca6a8229364a162a72ef064826c4cd7457bf54f190ef782bd9deff3e42",
            "6d8c2810d1e870fbaa1f0a0937126cca837a15f9260e27060c331d70a3c0bc84",
        ),
        (
            65_536,
            65_536,
            "bf718b6f653bebc184e1479f1935b8da974d701b893afcf49e701f3e2f9f9c5a",
            "b7b4edb36ba92e267d322d56d9aebc22e7fa96ff52e3c12adc07f07a43cbc616",
        ),
        (
            65_537,
            81_920,
            "008ffc88d3c96a9f307524eb361e47c5222a887fc45fa0c1fb8d429c5c23b430",
            "eeb7c7c5373894ea2c1547cfd3ccb15d5a0b2d619da852e5c79df792dcc9e435",
        ),
    ] {
        let plaintext = vec![b'a'; len];
        assert_eq!(sha256_hex(&plaintext), plaintext_sha);
        let payload = crypto::encrypt_with_nonce(&key, &plaintext, nonce).unwrap();
        assert_eq!(
            sha256_hex(payload.as_bytes()),
            payload_sha,
            "payload for length {len}"
        );
        let prefix = if len < 65_536 { 2 } else { 6 };
        assert_eq!(
            STANDARD.decode(&payload).unwrap().len(),
            1 + 32 + prefix + padded + 32
        );
        assert_eq!(
            crypto::decrypt_with_conversation_key(&key, &payload).unwrap(),
            plaintext
        );
    }
}

/// `invalid.encrypt_msg_lengths` predates the extension: only 0 is still invalid.
#[test]
fn message_lengths_after_the_extension() {
    let v = vectors();
    let key = ConversationKey::new([9; 32]);
    for len in cases(&v, &["invalid", "encrypt_msg_lengths"]) {
        let len = len.as_u64().unwrap() as usize;
        let plaintext = vec![b'z'; len];
        let result = crypto::encrypt_with_nonce(&key, &plaintext, [3; 32]);
        if len == 0 {
            assert_eq!(result, Err(CryptoError::InvalidPlaintextLength(0)));
        } else {
            let payload = result.unwrap_or_else(|e| panic!("length {len} must encrypt: {e}"));
            assert_eq!(
                crypto::decrypt_with_conversation_key(&key, &payload)
                    .unwrap()
                    .len(),
                len
            );
        }
    }
}

#[test]
fn invalid_conversation_keys_are_rejected() {
    let v = vectors();
    let list = cases(&v, &["invalid", "get_conversation_key"]);
    assert_eq!(list.len(), 8);
    for case in list {
        let note = s(case, "note");
        let rejected = match (
            SecretKey::from_hex(s(case, "sec1")),
            PublicKey::from_hex(s(case, "pub2")),
        ) {
            (Ok(sk), Ok(pk)) => crypto::conversation_key(&sk, &pk).is_err(),
            _ => true,
        };
        assert!(rejected, "accepted an invalid key pair: {note}");
    }
}

#[test]
fn invalid_payloads_are_rejected_with_clear_errors() {
    let v = vectors();
    let list = cases(&v, &["invalid", "decrypt"]);
    assert_eq!(list.len(), 12);
    for case in list {
        let key = conv(s(case, "conversation_key"));
        let note = s(case, "note");
        let error =
            crypto::decrypt_with_conversation_key(&key, s(case, "payload")).expect_err(note);
        let expected_class = match error {
            CryptoError::UnknownFutureVersion | CryptoError::UnsupportedVersion(_) => {
                "unknown encryption version"
            }
            CryptoError::InvalidBase64 => "invalid base64",
            CryptoError::InvalidMac => "invalid MAC",
            CryptoError::InvalidPadding => "invalid padding",
            CryptoError::EmptyPayload | CryptoError::InvalidPayloadLength(_) => {
                "invalid payload length"
            }
            ref other => panic!("{note}: unexpected error {other}"),
        };
        assert!(note.starts_with(expected_class), "{note}: got {error}");
        assert!(!error.to_string().is_empty());
    }
}

#[test]
fn oversized_payloads_are_refused_before_decoding() {
    let key = ConversationKey::new([1; 32]);
    let huge = "A".repeat(crypto::MAX_ENCODED_PAYLOAD + 4);
    assert!(matches!(
        crypto::decrypt_with_conversation_key(&key, &huge),
        Err(CryptoError::PayloadTooLarge(_))
    ));
}

#[test]
fn a_version_byte_other_than_2_is_refused_even_with_a_valid_mac() {
    let key = ConversationKey::new([5; 32]);
    let payload = crypto::encrypt_with_nonce(&key, b"hello", [2; 32]).unwrap();
    let mut raw = STANDARD.decode(payload).unwrap();
    raw[0] = 1;
    assert_eq!(
        crypto::decrypt_with_conversation_key(&key, &STANDARD.encode(&raw)),
        Err(CryptoError::UnsupportedVersion(1))
    );
}
