#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! The Nostr EHR legacy cipher against its vectors (`shared/vectors/nostrehr-legacy.vectors.json`,
//! read in place): every case opens, from the shared x-coordinate and from the keys, and a
//! truncated, altered or wrongly keyed payload is refused.

use base64::Engine as _;
use ehr_client::crypto;
use ehr_client::keys::Identity;
use ehr_client::legacy::{LegacyCipherError, LegacyConversationKey};
use ehr_client::nostr::prelude::{PublicKey, SecretKey};
use serde_json::Value;

fn vectors() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/vectors/nostrehr-legacy.vectors.json"
    );
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("read {path} (shared/ must sit beside the repository): {e}"));
    serde_json::from_str(&text).unwrap()
}

fn cases() -> Vec<Value> {
    vectors()["cases"].as_array().unwrap().clone()
}

fn key_of(case: &Value) -> LegacyConversationKey {
    LegacyConversationKey::from_shared_x_hex(case["shared_x"].as_str().unwrap()).unwrap()
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn raw(payload: &str) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(payload)
        .unwrap()
}

#[test]
fn every_vector_opens_from_its_shared_secret() {
    let cases = cases();
    assert_eq!(cases.len(), 12);
    for case in &cases {
        let opened = key_of(case).decrypt(case["payload"].as_str().unwrap());
        assert_eq!(
            opened.as_deref(),
            Ok(case["plaintext"].as_str().unwrap()),
            "{}",
            case["nonce"]
        );
    }
}

#[test]
fn the_keys_derive_the_same_secrets_on_both_sides() {
    let v = vectors();
    let sk = |name: &str| SecretKey::from_hex(v[name].as_str().unwrap()).unwrap();
    let pk = |name: &str| PublicKey::from_hex(v[name].as_str().unwrap()).unwrap();
    let practice = (sk("practice_sk"), pk("practice_pk"));
    let patient = (sk("patient_sk"), pk("patient_pk"));
    for case in cases() {
        let payload = case["payload"].as_str().unwrap();
        let plaintext = case["plaintext"].as_str().unwrap();
        let derived = if case["secret"].as_str().unwrap().starts_with("X1") {
            // X1: the practice with itself.
            vec![LegacyConversationKey::derive(&practice.0, &practice.1).unwrap()]
        } else {
            // X2: the practice with the patient, from either side.
            vec![
                LegacyConversationKey::derive(&practice.0, &patient.1).unwrap(),
                LegacyConversationKey::derive(&patient.0, &practice.1).unwrap(),
            ]
        };
        for key in derived {
            assert_eq!(key.decrypt(payload).as_deref(), Ok(plaintext));
        }
    }
}

#[test]
fn a_truncated_payload_is_refused() {
    for case in cases() {
        let bytes = raw(case["payload"].as_str().unwrap());
        let key = key_of(&case);
        // Without the tag's last byte, without the whole tag, down to the nonce only.
        for cut in [1, 16, bytes.len() - 33, bytes.len() - 1] {
            let result = key.decrypt(&b64(&bytes[..bytes.len() - cut]));
            assert!(
                matches!(
                    result,
                    Err(LegacyCipherError::Authentication | LegacyCipherError::TooShort)
                ),
                "cut {cut}: {result:?}"
            );
        }
        // Not base64 any more, or an empty string.
        let text = case["payload"].as_str().unwrap();
        assert_eq!(
            key.decrypt(&text[..text.len() - 1]),
            Err(LegacyCipherError::Base64)
        );
        assert_eq!(key.decrypt(""), Err(LegacyCipherError::TooShort));
    }
}

#[test]
fn a_tampered_payload_is_refused() {
    for case in cases() {
        let bytes = raw(case["payload"].as_str().unwrap());
        let key = key_of(&case);
        // Flip one bit in the nonce, the ciphertext and the tag.
        for position in [1, 33, 40, bytes.len() - 17, bytes.len() - 1] {
            let mut altered = bytes.clone();
            altered[position] ^= 0x01;
            assert_eq!(
                key.decrypt(&b64(&altered)),
                Err(LegacyCipherError::Authentication),
                "byte {position}"
            );
        }
        // Another version byte.
        let mut altered = bytes.clone();
        altered[0] = 1;
        assert_eq!(
            key.decrypt(&b64(&altered)),
            Err(LegacyCipherError::Version(1))
        );
    }
}

#[test]
fn a_wrong_key_is_refused() {
    let cases = cases();
    let stranger = Identity::generate();
    let v = vectors();
    let practice = PublicKey::from_hex(v["practice_pk"].as_str().unwrap()).unwrap();
    let wrong = LegacyConversationKey::derive(stranger.secret_key(), &practice).unwrap();
    for case in &cases {
        let payload = case["payload"].as_str().unwrap();
        assert_eq!(
            wrong.decrypt(payload),
            Err(LegacyCipherError::Authentication)
        );
        // X1 does not open what X2 sealed, nor the reverse.
        let other = cases
            .iter()
            .find(|c| c["secret"] != case["secret"])
            .unwrap();
        assert_eq!(
            key_of(other).decrypt(payload),
            Err(LegacyCipherError::Authentication)
        );
    }
}

#[test]
fn standard_nip44_cannot_read_the_legacy_format() {
    let v = vectors();
    let practice = SecretKey::from_hex(v["practice_sk"].as_str().unwrap()).unwrap();
    let patient = PublicKey::from_hex(v["patient_pk"].as_str().unwrap()).unwrap();
    for case in cases() {
        if case["secret"].as_str().unwrap().starts_with("X2") {
            assert!(
                crypto::nip44_decrypt(&practice, &patient, case["payload"].as_str().unwrap())
                    .is_err()
            );
        }
    }
}

#[test]
fn a_bad_shared_secret_is_refused() {
    assert_eq!(
        LegacyConversationKey::from_shared_x_hex("abcd").map(|_| ()),
        Err(LegacyCipherError::InvalidKey)
    );
    assert_eq!(
        LegacyConversationKey::from_shared_x_hex("not hex").map(|_| ()),
        Err(LegacyCipherError::InvalidKey)
    );
}
