//! The shared secrets a legacy practice encrypts with.
//!
//! The reference encrypts the practice copy under X₁ = ECDH(practice, practice), the patient
//! copy (and a patient's portal messages) under X₂ = ECDH(practice, patient), a guardian's
//! messages under ECDH(practice, guardian), and grants under ECDH(practice, recipient). With
//! the practice's secret key every one of them is derived ([`LegacyKeyring::from_practice_key`]).
//!
//! A practice whose key sits in a NIP-46 signer cannot derive them: a signer encrypts and
//! decrypts standard NIP-44, it never hands out an ECDH x-coordinate. The reference itself
//! gives its staff X₁ (grant 2101) and each patient's X₂ (grants 2100), in hex, so a legacy
//! staff member's own key opens those grants and reads what they cover
//! ([`LegacyKeyring::from_staff_grants`]): every practice copy, and the messages of the
//! patients she holds a grant for. Grants addressed to others stay closed to her.

use std::collections::BTreeMap;

use nostr::prelude::{Event, PublicKey, SecretKey};
use serde::Deserialize;

use super::cipher::LegacyConversationKey;
use super::source::{self, LegacyKind};
use crate::keys::Identity;

/// Legacy conversation keys, by the counterparty of the practice.
#[derive(Debug, Clone)]
pub struct LegacyKeyring {
    practice: PublicKey,
    secret: Option<SecretKey>,
    shared: BTreeMap<PublicKey, LegacyConversationKey>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PracticeGrant {
    practice_shared_secret: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PatientGrant {
    patient_pk_hex: String,
    patient_shared_secret: String,
}

impl LegacyKeyring {
    /// The legacy practice's own key: every secret can be derived.
    pub fn from_practice_key(practice: &Identity) -> Self {
        Self {
            practice: practice.public_key(),
            secret: Some(practice.secret_key().clone()),
            shared: BTreeMap::new(),
        }
    }

    /// A legacy staff member's key: X₁ and the X₂ of every patient granted to her, from the
    /// practice-signed grants 2101 and 2100 (or 1013 and 1012) addressed to her among `events`.
    pub fn from_staff_grants<'a>(
        practice: PublicKey,
        staff: &Identity,
        events: impl IntoIterator<Item = &'a Event>,
    ) -> Self {
        let mut shared = BTreeMap::new();
        let to_staff = LegacyConversationKey::derive(staff.secret_key(), &practice).ok();
        for event in events {
            let Some(key) = &to_staff else { break };
            let kind = source::classify(event.kind.as_u16());
            let addressed = event.pubkey == practice
                && event.tags.iter().any(|t| {
                    matches!(t.as_slice(), [name, value, ..] if name == "p" && *value == staff.public_key().to_hex())
                });
            if !addressed || event.verify().is_err() {
                continue;
            }
            let Ok(plain) = key.decrypt(&event.content) else {
                continue;
            };
            match kind {
                Some(LegacyKind::PracticeKeyGrant) => {
                    if let Ok(grant) = serde_json::from_str::<PracticeGrant>(&plain)
                        && let Ok(x1) =
                            LegacyConversationKey::from_shared_x_hex(&grant.practice_shared_secret)
                    {
                        shared.insert(practice, x1);
                    }
                }
                Some(LegacyKind::PatientKeyGrant) => {
                    if let Ok(grant) = serde_json::from_str::<PatientGrant>(&plain)
                        && let Ok(patient) =
                            crate::keys::parse_hex_public_key(&grant.patient_pk_hex)
                        && let Ok(x2) =
                            LegacyConversationKey::from_shared_x_hex(&grant.patient_shared_secret)
                    {
                        shared.insert(patient, x2);
                    }
                }
                _ => {}
            }
        }
        Self {
            practice,
            secret: None,
            shared,
        }
    }

    /// The legacy practice's public key.
    pub fn practice(&self) -> PublicKey {
        self.practice
    }

    /// Whether the practice's secret key is at hand (every secret derivable).
    pub fn has_practice_secret(&self) -> bool {
        self.secret.is_some()
    }

    /// The conversation key between the practice and `peer` (the practice itself for X₁).
    pub fn with(&self, peer: &PublicKey) -> Option<LegacyConversationKey> {
        if let Some(key) = self.shared.get(peer) {
            return Some(key.clone());
        }
        let secret = self.secret.as_ref()?;
        LegacyConversationKey::derive(secret, peer).ok()
    }
}
