//! A reader whose own key sits in a signer (a NIP-07 extension, a NIP-46 bunker): the few
//! payloads sealed to that key (epoch grants, direct wraps) are decrypted by the signer first,
//! then the view is built as [`PracticeView::load`] builds it; new records are encrypted under
//! the chart key here and only the patient copy and the signature go to the signer.

use std::collections::BTreeMap;

use nostr::prelude::{Event, EventId, PublicKey};
use zeroize::Zeroizing;

use super::{AccessError, PracticeView};
use crate::event::{ClinicalEvent, ClinicalEventBuilder};
use crate::grants::{ChartKeyWrap, EpochGrant, EpochKey, GrantError, WrapRecipient};
use crate::keys::{ChartKey, Identity};
use crate::kinds;
use crate::roster::{Role, verify_roster_chain};
use crate::signer::{Nip44Decrypt, PatientSigner, SignerError};

/// The reader's own key while a view loads: held here, or already used by a signer.
pub(super) enum ReaderKey<'a> {
    Held(&'a Identity),
    /// What the signer decrypted, by event id; a payload it could not decrypt is an error.
    Decrypted {
        public_key: PublicKey,
        plaintexts: &'a BTreeMap<EventId, Result<Zeroizing<String>, GrantError>>,
    },
}

impl ReaderKey<'_> {
    pub(super) fn public_key(&self) -> PublicKey {
        match self {
            Self::Held(identity) => identity.public_key(),
            Self::Decrypted { public_key, .. } => *public_key,
        }
    }

    fn plaintext(&self, id: &EventId) -> Result<&str, GrantError> {
        match self {
            Self::Held(_) => Err(GrantError::NotForThisKey),
            Self::Decrypted { plaintexts, .. } => match plaintexts.get(id) {
                Some(Ok(plaintext)) => Ok(plaintext.as_str()),
                Some(Err(error)) => Err(error.clone()),
                None => Err(GrantError::NotForThisKey),
            },
        }
    }

    pub(super) fn open_grant(&self, grant: &EpochGrant) -> Result<Vec<EpochKey>, GrantError> {
        match self {
            Self::Held(identity) => grant.open(identity),
            Self::Decrypted { .. } => grant.open_decrypted(self.plaintext(&grant.id)?),
        }
    }

    pub(super) fn open_direct_wrap(
        &self,
        wrap: &ChartKeyWrap,
    ) -> Result<Vec<ChartKey>, GrantError> {
        match self {
            Self::Held(identity) => wrap.open_as_grantee(identity),
            Self::Decrypted { .. } => wrap.open_decrypted(self.plaintext(&wrap.id)?),
        }
    }
}

impl PracticeView {
    /// [`PracticeView::load`] for a reader whose key is in `signer`: the signer decrypts only
    /// what is sealed to that key and signed by a key the verified roster lets seal it (so a
    /// forged grant never reaches the signer, nor the member's screen as a prompt). A signer
    /// that refuses or cannot be reached is an error; a payload that does not decrypt is
    /// refused as [`PracticeView::load`] refuses it.
    pub async fn load_with_signer<'a, S: Nip44Decrypt>(
        root: &PublicKey,
        events: impl IntoIterator<Item = &'a Event> + Clone,
        signer: &S,
    ) -> Result<Self, SignerError> {
        let reader = signer.public_key();
        let roster = verify_roster_chain(root, events.clone());
        let authorised = |key: &PublicKey, at, check: fn(Role) -> bool| {
            key == root || roster.role_at(key, at).is_some_and(check)
        };
        let mut plaintexts = BTreeMap::new();
        for event in events.clone() {
            let sealed = match event.kind.as_u16() {
                kinds::EPOCH_GRANT => EpochGrant::parse(event).ok().filter(|grant| {
                    grant.member == reader
                        && authorised(&grant.granter, grant.created_at, Role::is_admin)
                }).map(|grant| (grant.granter, grant.ciphertext().to_owned())),
                kinds::CHART_KEY_WRAP | kinds::GUARDIAN_GRANT => ChartKeyWrap::parse(event)
                    .ok()
                    .filter(|wrap| {
                        matches!(wrap.recipient,
                            WrapRecipient::Gateway(to) | WrapRecipient::Guardian(to) if to == reader)
                            && authorised(&wrap.author, wrap.created_at, Role::may_wrap_chart_keys)
                    })
                    .map(|wrap| (wrap.author, wrap.ciphertext().to_owned())),
                _ => None,
            };
            let Some((sealer, ciphertext)) = sealed else {
                continue;
            };
            if plaintexts.contains_key(&event.id) {
                continue;
            }
            let opened = match signer.nip44_decrypt(&sealer, &ciphertext).await {
                Ok(plaintext) => Ok(Zeroizing::new(plaintext)),
                Err(SignerError::Crypto(error)) => Err(GrantError::Crypto(error)),
                Err(other) => return Err(other),
            };
            plaintexts.insert(event.id, opened);
        }
        let key = ReaderKey::Decrypted {
            public_key: reader,
            plaintexts: &plaintexts,
        };
        Ok(Self::load_as(root, events, &key))
    }

    /// [`PracticeView::sign_record`] for an author whose key is in `signer`: the practice copy
    /// is encrypted here under the key the kind takes; the signer encrypts the patient copy
    /// and signs, and what it returns is checked to be the event asked for.
    pub async fn sign_record_with<S: PatientSigner>(
        &self,
        signer: &S,
        builder: ClinicalEventBuilder,
    ) -> Result<ClinicalEvent, AccessError> {
        let domain = self.write_domain(builder.kind());
        let key = self.write_key_in(&builder.patient(), domain)?;
        Ok(builder.sign_in_with(signer, domain, key).await?)
    }
}
