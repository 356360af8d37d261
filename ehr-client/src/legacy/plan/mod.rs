//! The import as a pure plan (DESIGN.md §10): from the legacy events and a keyring to the
//! members, patients, guardianships and standard records of the new practice, and the fate of
//! every legacy event.
//!
//! Records are keyed by legacy event id: the record a legacy event starts has that id as its
//! logical id. Markers become versions or links of this project's own semantics:
//!
//! | legacy marker | becomes |
//! |---|---|
//! | `status-update` (2114, or any kind) | the next version of the target, tagged status-update |
//! | `deletion` of a 2112 medication | the next version of the target with status `stopped` |
//! | `deletion` of anything else | the next version of the target, tagged deletion (hidden) |
//! | `cancelled` (2118, 2112/2120) | the next version of the target with status `revoked` / `cancelled`; the tombstone is no order itself |
//! | `addendum` (2111) | a DocumentReference attached to the target encounter that `appends` its note |
//! | `result` (2119) | a DiagnosticReport `basedOn` the target order |
//!
//! Versions of one target follow the markers' `created_at` (then event id), from 2.

use std::collections::{BTreeMap, BTreeSet};

use nostr::prelude::{Event, EventId, PublicKey};
use serde_json::Value;

use self::members::Staff;
use super::EXT_EVENT;
use super::convert::LegacyFile;
use super::keyring::LegacyKeyring;
use super::source::{self, LegacyKind, LegacyTags};
use crate::fhir::{Resource, ResourceType};
use crate::kinds::ClinicalKind;
use crate::roster::Role;

/// Identity of one version of one imported record: what the new relay is checked for.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OutputKey {
    /// Resource type.
    pub resource_type: ResourceType,
    /// Logical id.
    pub id: String,
    /// `meta.versionId`.
    pub version: u32,
}

impl OutputKey {
    /// The key of a record read back from the new relay.
    pub fn of(resource: &Resource) -> Option<Self> {
        Some(Self {
            resource_type: resource.resource_type(),
            id: resource.id()?.to_owned(),
            version: resource.version(),
        })
    }
}

/// One standard record to write.
#[derive(Debug, Clone)]
pub struct PlannedRecord {
    /// Which version of which record.
    pub key: OutputKey,
    /// The chart it belongs to.
    pub patient: PublicKey,
    /// The kind it travels in.
    pub kind: ClinicalKind,
    /// The resource, validated, with provenance and version.
    pub resource: Resource,
    /// The legacy event it comes from.
    pub source: EventId,
    /// For a document: the legacy file to re-encrypt before the resource is written.
    pub file: Option<LegacyFile>,
}

/// What becomes of one legacy event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fate {
    /// Records (versions) of the new practice.
    Records(Vec<OutputKey>),
    /// Members of the new roster (a staff roster, a service-agent grant).
    Members(Vec<PublicKey>),
    /// A guardianship of the new practice (ward, guardian).
    Guardianship(PublicKey, PublicKey),
    /// Deliberately not imported, and why.
    Skipped(String),
    /// Could not be read or understood, and why (no PHI in the reason).
    Unreadable(String),
}

/// A legacy event's kind (as published) and fate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventFate {
    /// The kind number as published (1000–1014 included).
    pub kind: u16,
    /// What becomes of it.
    pub fate: Fate,
}

/// A member of the new roster, from the legacy roster or a service-agent grant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegacyMember {
    /// The member's key (kept).
    pub pubkey: PublicKey,
    /// The role in the new practice.
    pub role: Role,
    /// The name the legacy roster gives.
    pub name: Option<String>,
}

/// The whole import, planned.
#[derive(Debug, Clone)]
pub struct Analysis {
    /// The legacy practice key.
    pub practice: PublicKey,
    /// Staff and agents to put on the new roster.
    pub members: Vec<LegacyMember>,
    /// Patients to enrol (their own legacy keys), with their legacy patient id.
    pub patients: BTreeMap<PublicKey, String>,
    /// Guardianships to record: (ward, guardian).
    pub guardianships: BTreeSet<(PublicKey, PublicKey)>,
    /// Records to write, in dependency-free order.
    pub records: Vec<PlannedRecord>,
    /// Every legacy event's fate.
    pub fates: BTreeMap<EventId, EventFate>,
}

/// Who signed a legacy clinical event, as the reference authorises it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Author {
    Practice,
    Staff,
    Patient,
    Guardian,
}

struct Opened<'a> {
    event: &'a Event,
    kind: ClinicalKind,
    tags: LegacyTags,
    patient: PublicKey,
    plaintext: String,
}

mod members;
mod records;

const KEY_GRANT_REASON: &str = "legacy key grant (a shared secret in hex): the new practice's epoch grants and chart-key wraps replace it";

fn telehealth_reason(kind: u16) -> String {
    let what = match kind {
        4050 => "lobby join",
        4051 => "WebRTC SDP offer",
        4052 => "WebRTC SDP answer",
        4053 => "ICE candidate",
        4054 => "call state (mute, video)",
        _ => "call-end notice (appointment, duration)",
    };
    format!(
        "telehealth signalling ({what}): transient call set-up, no chart content; it stays on the old relay"
    )
}

/// Plan the import of `events` (everything read from the old relay) with `keyring`.
pub fn analyse(events: &[Event], keyring: &LegacyKeyring) -> Analysis {
    let practice = keyring.practice();
    let mut analysis = Analysis {
        practice,
        members: Vec::new(),
        patients: BTreeMap::new(),
        guardianships: BTreeSet::new(),
        records: Vec::new(),
        fates: BTreeMap::new(),
    };
    let mut seen = BTreeSet::new();
    let mut rosters = Vec::new();
    let mut agents = Vec::new();
    let mut guardian_grants = Vec::new();
    let mut clinical = Vec::new();
    for event in events {
        if !seen.insert(event.id) {
            continue;
        }
        let published = event.kind.as_u16();
        let mut fate = |fate| {
            analysis.fates.insert(
                event.id,
                EventFate {
                    kind: published,
                    fate,
                },
            );
        };
        let Some(kind) = source::classify(published) else {
            fate(Fate::Skipped("not a Nostr EHR kind".into()));
            continue;
        };
        if event.verify().is_err() {
            fate(Fate::Unreadable("wrong event id or signature".into()));
            continue;
        }
        match kind {
            LegacyKind::PatientKeyGrant | LegacyKind::PracticeKeyGrant => {
                fate(Fate::Skipped(KEY_GRANT_REASON.into()));
            }
            LegacyKind::Telehealth(n) => fate(Fate::Skipped(telehealth_reason(n))),
            _ if event.pubkey != practice && !matches!(kind, LegacyKind::Clinical(_)) => {
                fate(Fate::Skipped(
                    "not signed by the practice key, which alone signs grants and rosters".into(),
                ));
            }
            LegacyKind::StaffRoster => rosters.push(event),
            LegacyKind::ServiceAgent => agents.push(event),
            LegacyKind::GuardianGrant => guardian_grants.push(event),
            LegacyKind::Clinical(k) => clinical.push((event, k)),
        }
    }

    let staff = analysis.read_rosters(&mut rosters, keyring);
    analysis.read_agents(&mut agents);
    analysis.read_guardian_grants(&mut guardian_grants);

    // Open every clinical event the reference would accept.
    clinical.sort_by_key(|(e, _)| (e.created_at, e.id));
    let mut opened = BTreeMap::new();
    for (event, kind) in clinical {
        match analysis.open(event, kind, &staff, keyring) {
            Ok(o) => {
                opened.insert(event.id, o);
            }
            Err(fate) => analysis.set(event, fate),
        }
    }
    analysis.patient_ids(&opened);
    analysis.plan_records(&opened);
    let patients: BTreeSet<PublicKey> = analysis.records.iter().map(|r| r.patient).collect();
    for patient in patients {
        analysis
            .patients
            .entry(patient)
            .or_insert_with(|| patient.to_hex());
    }
    analysis
}

impl Analysis {
    fn set(&mut self, event: &Event, fate: Fate) {
        self.fates.insert(
            event.id,
            EventFate {
                kind: event.kind.as_u16(),
                fate,
            },
        );
    }

    /// Check who signed a clinical event and open it.
    fn open<'a>(
        &self,
        event: &'a Event,
        kind: ClinicalKind,
        staff: &BTreeMap<PublicKey, Staff>,
        keyring: &LegacyKeyring,
    ) -> Result<Opened<'a>, Fate> {
        let tags = source::read_tags(event).map_err(Fate::Unreadable)?;
        let patient = source::patient_of(&tags, &self.practice)
            .ok_or_else(|| Fate::Unreadable("names no patient".into()))?;
        let at = event.created_at.as_secs();
        let author = if event.pubkey == self.practice {
            Author::Practice
        } else if staff.get(&event.pubkey).is_some_and(|s| {
            s.role.is_some_and(|r| r.may_write(kind)) && s.revoked_at.is_none_or(|r| at < r)
        }) {
            Author::Staff
        } else if kind == ClinicalKind::Message
            && event.pubkey == patient
            && tags.guardian_of.is_none()
        {
            Author::Patient
        } else if kind == ClinicalKind::Message
            && tags.guardian_of == Some(patient)
            && self.guardianships.contains(&(patient, event.pubkey))
        {
            Author::Guardian
        } else {
            return Err(Fate::Skipped(
                "signed by a key the legacy practice did not authorise for this kind (not the practice, a staff member of the latest roster, or the patient or her guardian for a message)".into(),
            ));
        };
        let plaintext = match author {
            Author::Practice | Author::Staff => {
                let practice_copy = keyring
                    .with(&self.practice)
                    .ok_or_else(|| "no practice secret (X₁)".to_owned())
                    .and_then(|k| k.decrypt(&event.content).map_err(|e| e.to_string()));
                practice_copy.or_else(|first| {
                    let copy = tags.patient_content.as_deref().ok_or(first.clone())?;
                    let key = keyring.with(&patient).ok_or(first.clone())?;
                    key.decrypt(copy).map_err(|_| first)
                })
            }
            Author::Patient | Author::Guardian => keyring
                .with(&event.pubkey)
                .ok_or_else(|| "no shared secret with its author".to_owned())
                .and_then(|k| k.decrypt(&event.content).map_err(|e| e.to_string())),
        }
        .map_err(Fate::Unreadable)?;
        Ok(Opened {
            event,
            kind,
            tags,
            patient,
            plaintext,
        })
    }

    /// Legacy patient ids: the id of the patient's 2110 Patient resource, else a `pt` tag.
    fn patient_ids(&mut self, opened: &BTreeMap<EventId, Opened<'_>>) {
        for o in opened.values() {
            let from_payload = (o.kind == ClinicalKind::Patient)
                .then(|| serde_json::from_str::<Value>(&o.plaintext).ok())
                .flatten()
                .and_then(|v| v.get("id").and_then(Value::as_str).map(str::to_owned));
            if let Some(id) = from_payload.filter(|id| crate::fhir::is_fhir_id(id)) {
                self.patients.insert(o.patient, id);
            }
        }
        for o in opened.values() {
            if let Some(id) = o
                .tags
                .patient_id
                .as_deref()
                .filter(|id| crate::fhir::is_fhir_id(id))
            {
                self.patients
                    .entry(o.patient)
                    .or_insert_with(|| id.to_owned());
            }
        }
    }

    fn patient_reference(&self, patient: &PublicKey) -> String {
        let id = self
            .patients
            .get(patient)
            .cloned()
            .unwrap_or_else(|| patient.to_hex());
        format!("Patient/{id}")
    }
}

/// The legacy event a resource was imported from, if it was.
pub fn legacy_event_of(resource: &Resource) -> Option<EventId> {
    let json = serde_json::to_value(resource).ok()?;
    json.get("extension")?
        .as_array()?
        .iter()
        .find(|e| e.get("url").and_then(Value::as_str) == Some(EXT_EVENT))
        .and_then(|e| e.get("valueString"))
        .and_then(Value::as_str)
        .and_then(|id| EventId::from_hex(id).ok())
}

impl Analysis {
    /// Legacy events per kind (as published).
    pub fn events_by_kind(&self) -> BTreeMap<u16, usize> {
        let mut counts = BTreeMap::new();
        for fate in self.fates.values() {
            *counts.entry(fate.kind).or_insert(0) += 1;
        }
        counts
    }

    /// The records not among `present` (the versions the new relay already holds).
    pub fn missing<'a>(
        &'a self,
        present: &'a BTreeSet<OutputKey>,
    ) -> impl Iterator<Item = &'a PlannedRecord> {
        self.records
            .iter()
            .filter(move |r| !present.contains(&r.key))
    }
}
