//! Records a patient shares with another practice (kind 2108, DESIGN.md §11).
//!
//! A patient takes her chart to a new practice by re-encrypting it herself: her portal (or any
//! client holding her key or signer) splits her folded chart into FHIR Bundles of bounded size
//! and publishes each as a *shared-records part* on the new practice's relay, in the layout of
//! a patient-authored event:
//!
//! ```text
//! kind     2108, signed by the patient
//! content  NIP-44 v2 from the patient to the new practice's epoch public key E_n
//! tags     ["p", patient] ["patient-content", NIP-44 v2 from the patient to herself]
//!          ["epoch", n] ["ehr", "1"]
//! ```
//!
//! Each part's plaintext is a FHIR R4 `Bundle` (`collection`) whose `identifier` names the
//! batch, whose `meta.source` names the practice the records came from, and whose `meta.tag`
//! gives the part number and the number of parts. The new practice's staff read the parts with
//! the epoch key and import the records with `ehr import shared`, marked as shared by the
//! patient. Nothing here needs the patient's secret: the signer encrypts and signs, so a NIP-07
//! extension or a NIP-46 signer can share too.

use nostr::prelude::{Event, Kind, PublicKey, Timestamp};
use serde_json::{Value, json};

use crate::chart;
use crate::crypto::{self, CryptoError};
use crate::event::{EventError, read_epoch_layout, seal_with};
use crate::grants::EpochKey;
use crate::keys;
use crate::kinds::SHARED_RECORDS;
use crate::signer::PatientSigner;

/// `Bundle.identifier.system` of a shared batch.
pub const BATCH_SYSTEM: &str = "urn:nostr-ehr:shared-records";
/// `meta.tag` system giving a part's number (`code`) of the batch.
pub const PART_SYSTEM: &str = "urn:nostr-ehr:shared-part";
/// `meta.tag` system giving the number of parts (`code`) of the batch.
pub const PARTS_SYSTEM: &str = "urn:nostr-ehr:shared-parts";
/// A part's plaintext bound by default: two NIP-44 copies (base64, padded) of this fit in the
/// relay's default 128 KiB event limit with room for the tags.
pub const DEFAULT_PART_BYTES: usize = 40_000;

/// Resource types that stay with the practice they were written at: messages are a
/// conversation with that practice, and a consent names that practice's facilities.
const NOT_SHARED: [&str; 2] = ["Communication", "Consent"];

/// Why records could not be shared, or a part could not be read. No variant carries PHI.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShareError {
    /// The chart is not a FHIR Bundle with entries.
    #[error("the chart to share is not a FHIR Bundle")]
    NotABundle,
    /// One record is larger than a part may be.
    #[error("a record is larger than one shared part may be ({limit} bytes)")]
    RecordTooLarge {
        /// The part bound.
        limit: usize,
    },
    /// Not kind 2108.
    #[error("not a shared-records event (kind 2108)")]
    WrongKind,
    /// Id or signature do not verify.
    #[error("invalid event id or signature")]
    InvalidSignature,
    /// The tags are not the layout, or the author is not the patient.
    #[error("shared-records tags are not the layout, or the author is not the patient")]
    BadTags,
    /// The plaintext is not a shared part.
    #[error("the payload is not a shared-records part")]
    NotAPart,
    /// The epoch key given is not the one the event names.
    #[error("shared records are under epoch {expected}, key given is for epoch {given}")]
    WrongEpoch {
        /// Epoch in the event.
        expected: u64,
        /// Epoch of the key given.
        given: u64,
    },
    /// Decryption failed.
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    /// The patient's signer refused, failed, or returned another event than the one asked for.
    #[error(transparent)]
    Sealing(#[from] EventError),
}

/// The plaintexts of the parts that carry `bundle`'s shareable records from `source` (the
/// practice they were read at) as batch `batch`, each at most `max_bytes`.
pub fn split(
    bundle: &Value,
    source: &PublicKey,
    batch: &str,
    max_bytes: usize,
) -> Result<Vec<String>, ShareError> {
    let entries = bundle
        .get("entry")
        .and_then(Value::as_array)
        .filter(|_| bundle.get("resourceType").and_then(Value::as_str) == Some("Bundle"))
        .ok_or(ShareError::NotABundle)?;
    let shared = entries.iter().filter(|entry| {
        let kind = entry
            .pointer("/resource/resourceType")
            .and_then(Value::as_str)
            .unwrap_or_default();
        !kind.is_empty() && !NOT_SHARED.contains(&kind)
    });
    // Fill parts greedily; the part count is known only at the end, so it is written last
    // and the bound keeps room for it.
    let room = max_bytes.saturating_sub(part(&[], source, batch, 999_999, 999_999).len());
    let mut groups: Vec<Vec<&Value>> = vec![Vec::new()];
    let mut used = 0;
    for entry in shared {
        let size = serde_json::to_string(entry).map_or(usize::MAX, |s| s.len() + 1);
        if size > room {
            return Err(ShareError::RecordTooLarge { limit: max_bytes });
        }
        if used + size > room {
            groups.push(Vec::new());
            used = 0;
        }
        used += size;
        if let Some(group) = groups.last_mut() {
            group.push(entry);
        }
    }
    let parts = groups.len();
    Ok(groups
        .iter()
        .enumerate()
        .map(|(index, group)| part(group, source, batch, index + 1, parts))
        .collect())
}

fn part(entries: &[&Value], source: &PublicKey, batch: &str, index: usize, parts: usize) -> String {
    json!({
        "resourceType": "Bundle",
        "type": "collection",
        "identifier": { "system": BATCH_SYSTEM, "value": batch },
        "meta": {
            "source": format!("nostr:{}", keys::to_npub(source)),
            "tag": [
                { "system": PART_SYSTEM, "code": index.to_string() },
                { "system": PARTS_SYSTEM, "code": parts.to_string() },
            ],
        },
        "entry": entries,
    })
    .to_string()
}

/// Seal one part (a plaintext of [`split`]) as a kind 2108 event through the patient's
/// `signer`: the practice copy to the new practice's epoch `epoch` (number and public key), the
/// patient copy to herself. What the signer returns is checked before it is handed out.
pub async fn seal_part<S: PatientSigner>(
    signer: &S,
    epoch: (u64, &PublicKey),
    part: &str,
    created_at: Timestamp,
) -> Result<Event, ShareError> {
    // Shared records are clinical: sealed to the clinical epoch `E_n`.
    let target = crate::roster::SealTarget {
        domain: crate::kinds::Domain::Clinical,
        number: epoch.0,
        public_key: *epoch.1,
    };
    let sealed = seal_with(
        signer,
        Kind::Custom(SHARED_RECORDS),
        &target,
        part,
        created_at,
        Vec::new(),
    )
    .await?;
    Ok(sealed.into_event())
}

/// A verified shared-records event, still encrypted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedRecords {
    event: Event,
    epoch: u64,
}

/// One opened part.
#[derive(Debug, Clone, PartialEq)]
pub struct SharedPart {
    /// The batch it belongs to.
    pub batch: String,
    /// Its number, from 1.
    pub index: usize,
    /// How many parts the batch has.
    pub parts: usize,
    /// `nostr:<npub>` of the practice the records came from.
    pub source: String,
    /// The records (FHIR resources).
    pub resources: Vec<Value>,
    /// When the patient published it.
    pub created_at: Timestamp,
}

impl SharedRecords {
    /// Verify an event as a shared-records part: kind, id and signature, exactly the four tags,
    /// and written by the patient it names (only she can share her records).
    pub fn parse(event: Event) -> Result<Self, ShareError> {
        if event.kind != Kind::Custom(SHARED_RECORDS) {
            return Err(ShareError::WrongKind);
        }
        event.verify().map_err(|_| ShareError::InvalidSignature)?;
        let layout = read_epoch_layout(&event).ok_or(ShareError::BadTags)?;
        if layout.patient != event.pubkey {
            return Err(ShareError::BadTags);
        }
        Ok(Self {
            event,
            epoch: layout.epoch,
        })
    }

    /// The signed event.
    pub fn event(&self) -> &Event {
        &self.event
    }

    /// The patient who shared it.
    pub fn patient(&self) -> PublicKey {
        self.event.pubkey
    }

    /// The epoch of the practice copy.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// Open the practice copy with the epoch secret it names.
    pub fn open_with_epoch_key(&self, epoch_key: &EpochKey) -> Result<SharedPart, ShareError> {
        if epoch_key.number != self.epoch {
            return Err(ShareError::WrongEpoch {
                expected: self.epoch,
                given: epoch_key.number,
            });
        }
        let json =
            crypto::nip44_decrypt(&epoch_key.secret, &self.event.pubkey, &self.event.content)?;
        parse_part(&json, self.event.created_at)
    }
}

fn parse_part(json: &str, created_at: Timestamp) -> Result<SharedPart, ShareError> {
    let value: Value = serde_json::from_str(json).map_err(|_| ShareError::NotAPart)?;
    let text = |pointer: &str| value.pointer(pointer).and_then(Value::as_str);
    let tag = |system: &str| {
        value
            .pointer("/meta/tag")?
            .as_array()?
            .iter()
            .find(|t| t.get("system").and_then(Value::as_str) == Some(system))?
            .get("code")?
            .as_str()?
            .parse::<usize>()
            .ok()
    };
    let (Some(index), Some(parts)) = (tag(PART_SYSTEM), tag(PARTS_SYSTEM)) else {
        return Err(ShareError::NotAPart);
    };
    let entries = value.get("entry").and_then(Value::as_array);
    match (text("/identifier/value"), text("/meta/source"), entries) {
        (Some(batch), Some(source), Some(entries))
            if text("/resourceType") == Some("Bundle")
                && text("/identifier/system") == Some(BATCH_SYSTEM)
                && (1..=parts).contains(&index) =>
        {
            Ok(SharedPart {
                batch: batch.to_owned(),
                index,
                parts,
                source: source.to_owned(),
                resources: entries
                    .iter()
                    .filter_map(|e| e.get("resource").cloned())
                    .collect(),
                created_at,
            })
        }
        _ => Err(ShareError::NotAPart),
    }
}

/// A batch whose every part arrived: its records in part order.
#[derive(Debug, Clone, PartialEq)]
pub struct SharedBatch {
    /// The batch id.
    pub batch: String,
    /// `nostr:<npub>` of the practice the records came from.
    pub source: String,
    /// The records.
    pub resources: Vec<Value>,
}

/// A shared record (FHIR JSON) as the new practice keeps it: `meta.tag`
/// [`chart::SHARED_BY_PATIENT`], `meta.source` the practice it came from (`source`,
/// `nostr:<npub>`), and references to her Patient record at that practice (`there`) pointing at
/// hers here (`here`), when both are known.
pub fn as_shared_record(
    resource: &Value,
    source: &str,
    there: Option<&str>,
    here: Option<&str>,
) -> String {
    let mut resource = resource.clone();
    chart::add_meta_tag(
        &mut resource,
        chart::origin_tag(
            chart::SHARED_BY_PATIENT,
            "Shared by the patient from another practice",
        ),
    );
    if let Some(meta) = chart::meta_of(&mut resource) {
        meta.insert("source".to_owned(), json!(source));
    }
    let json = resource.to_string();
    match (there, here) {
        (Some(there), Some(here)) => json.replace(
            &format!("\"Patient/{there}\""),
            &format!("\"Patient/{here}\""),
        ),
        _ => json,
    }
}

/// Group parts into batches: the complete ones (oldest first), and the ids of batches still
/// missing parts. A part delivered twice counts once.
pub fn assemble(parts: Vec<SharedPart>) -> (Vec<SharedBatch>, Vec<String>) {
    use std::collections::BTreeMap;
    let mut batches: BTreeMap<String, BTreeMap<usize, SharedPart>> = BTreeMap::new();
    for part in parts {
        batches
            .entry(part.batch.clone())
            .or_default()
            .entry(part.index)
            .or_insert(part);
    }
    let mut complete = Vec::new();
    let mut incomplete = Vec::new();
    for (batch, parts) in batches {
        let expected = parts.values().next().map_or(0, |p| p.parts);
        let consistent = parts.values().all(|p| p.parts == expected);
        if !consistent || parts.len() != expected {
            incomplete.push(batch);
            continue;
        }
        let created_at = parts.values().map(|p| p.created_at).max();
        let source = parts
            .values()
            .next()
            .map(|p| p.source.clone())
            .unwrap_or_default();
        let resources = parts.into_values().flat_map(|p| p.resources).collect();
        complete.push((
            created_at,
            SharedBatch {
                batch,
                source,
                resources,
            },
        ));
    }
    complete.sort_by_key(|(at, _)| *at);
    (complete.into_iter().map(|(_, b)| b).collect(), incomplete)
}

#[cfg(test)]
mod tests;
