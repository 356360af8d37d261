//! The import as a pure plan (DESIGN.md §9): from the legacy events and a keyring to the
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
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::convert::{self, Context, Converted, LegacyFile, Output, push_extension};
use super::keyring::LegacyKeyring;
use super::source::{self, LegacyKind, LegacyTags, Marker, other_tag};
use super::{
    EXT_AUTHORED_BY, EXT_AUTHORED_BY_NAME, EXT_CREATED_AT, EXT_EVENT, EXT_KIND, EXT_MARKER,
    EXT_SIGNER, LEGACY_ID_SYSTEM,
};
use crate::fhir::{RecordAction, Resource, ResourceType};
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

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RosterPayload {
    staff: Vec<StaffEntry>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct StaffEntry {
    pk_hex: String,
    name: Option<String>,
    role: String,
    revoked_at: Option<u64>,
}

/// A staff member of the latest legacy roster.
struct Staff {
    role: Option<Role>,
    revoked_at: Option<u64>,
}

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

    /// The latest roster wins; its staff (not revoked) become members.
    fn read_rosters(
        &mut self,
        rosters: &mut [&Event],
        keyring: &LegacyKeyring,
    ) -> BTreeMap<PublicKey, Staff> {
        rosters.sort_by_key(|e| std::cmp::Reverse((e.created_at, e.id)));
        let mut staff = BTreeMap::new();
        let Some((latest, older)) = rosters.split_first() else {
            return staff;
        };
        for event in older {
            self.set(
                event,
                Fate::Skipped("superseded by a later roster (the latest wins)".into()),
            );
        }
        let payload = keyring
            .with(&self.practice)
            .ok_or_else(|| "no practice secret (X₁) to open it".to_owned())
            .and_then(|key| key.decrypt(&latest.content).map_err(|e| e.to_string()))
            .and_then(|plain| {
                serde_json::from_str::<RosterPayload>(&plain)
                    .map_err(|_| "the roster payload is not the reference's roster".to_owned())
            });
        let payload = match payload {
            Ok(p) => p,
            Err(reason) => {
                self.set(latest, Fate::Unreadable(reason));
                return staff;
            }
        };
        let mut members = Vec::new();
        for entry in payload.staff {
            let Ok(pubkey) = crate::keys::parse_hex_public_key(&entry.pk_hex) else {
                continue;
            };
            let role = match entry.role.as_str() {
                "doctor" => Some(Role::Doctor),
                "nurse" => Some(Role::Nurse),
                "ma" => Some(Role::Ma),
                "frontdesk" => Some(Role::Frontdesk),
                _ => None,
            };
            if let (Some(role), None) = (role, entry.revoked_at) {
                self.members.push(LegacyMember {
                    pubkey,
                    role,
                    name: entry.name.clone(),
                });
                members.push(pubkey);
            }
            staff.insert(
                pubkey,
                Staff {
                    role,
                    revoked_at: entry.revoked_at,
                },
            );
        }
        self.set(latest, Fate::Members(members));
        staff
    }

    /// The tags of a grant, or `None` with the event marked unreadable.
    fn tags_of(&mut self, event: &Event) -> Option<LegacyTags> {
        match source::read_tags(event) {
            Ok(tags) => Some(tags),
            Err(reason) => {
                self.set(event, Fate::Unreadable(reason));
                None
            }
        }
    }

    /// One member per agent key; repeated grants (2103 is a regular kind) are duplicates.
    fn read_agents(&mut self, agents: &mut [&Event]) {
        agents.sort_by_key(|e| (e.created_at, e.id));
        let mut first: BTreeMap<(PublicKey, String), EventId> = BTreeMap::new();
        for event in agents.iter() {
            let Some(tags) = self.tags_of(event) else {
                continue;
            };
            let service = other_tag(&tags, "service").unwrap_or_default().to_owned();
            let Some(agent) = tags.p.first().copied() else {
                self.set(
                    event,
                    Fate::Unreadable("service-agent grant without a `p` tag".into()),
                );
                continue;
            };
            if service != "fhir-reader" {
                self.set(
                    event,
                    Fate::Skipped("a service this project has no agent role for".into()),
                );
                continue;
            }
            if let Some(earlier) = first.get(&(agent, service.clone())) {
                self.set(
                    event,
                    Fate::Skipped(format!(
                        "duplicate service-agent grant (same agent and service as {earlier})"
                    )),
                );
                continue;
            }
            first.insert((agent, service), event.id);
            if !self.members.iter().any(|m| m.pubkey == agent) {
                self.members.push(LegacyMember {
                    pubkey: agent,
                    role: Role::FhirGateway,
                    name: None,
                });
            }
            self.set(event, Fate::Members(vec![agent]));
        }
    }

    fn read_guardian_grants(&mut self, grants: &mut [&Event]) {
        grants.sort_by_key(|e| (e.created_at, e.id));
        for event in grants.iter() {
            let Some(tags) = self.tags_of(event) else {
                continue;
            };
            let child =
                other_tag(&tags, "child-p").and_then(|c| crate::keys::parse_hex_public_key(c).ok());
            match (tags.p.first().copied(), child) {
                (Some(guardian), Some(ward)) if guardian != ward => {
                    self.guardianships.insert((ward, guardian));
                    self.set(event, Fate::Guardianship(ward, guardian));
                }
                _ => self.set(
                    event,
                    Fate::Unreadable(
                        "guardian grant without a guardian (`p`) and child (`child-p`)".into(),
                    ),
                ),
            }
        }
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

    fn plan_records(&mut self, opened: &BTreeMap<EventId, Opened<'_>>) {
        let mut ordered: Vec<&Opened<'_>> = opened.values().collect();
        ordered.sort_by_key(|o| (o.event.created_at, o.event.id));
        let mut versions: BTreeMap<String, u32> = BTreeMap::new();
        let mut bases: BTreeMap<EventId, Output> = BTreeMap::new();
        let mut chains: BTreeMap<EventId, Vec<&Opened<'_>>> = BTreeMap::new();
        for o in &ordered {
            let reference = self.patient_reference(&o.patient);
            let context = Context {
                tags: &o.tags,
                created_at: o.event.created_at,
                patient_reference: &reference,
            };
            let own = o.event.id.to_hex();
            let link = o.tags.link;
            if let Some((_, target)) = link
                && let Some(t) = opened.get(&target)
                && t.patient != o.patient
            {
                self.set(
                    o.event,
                    Fate::Unreadable("its link points at another patient's event".into()),
                );
                continue;
            }
            let converted = match link {
                Some((Marker::StatusUpdate | Marker::Deletion | Marker::Cancelled, target)) => {
                    chains.entry(target).or_default().push(o);
                    continue;
                }
                Some((Marker::Addendum, target)) => {
                    convert::addendum(&own, &target.to_hex(), &o.plaintext, &context)
                }
                Some((Marker::Result, target)) => {
                    convert::convert(o.kind, &own, &o.plaintext, &context).map(|mut c| {
                        with_based_on(&mut c, &target);
                        c
                    })
                }
                None if o.kind == ClinicalKind::Patient => {
                    let id = self
                        .patients
                        .get(&o.patient)
                        .cloned()
                        .unwrap_or_else(|| o.patient.to_hex());
                    convert::convert(o.kind, &id, &o.plaintext, &context)
                }
                None => convert::convert(o.kind, &own, &o.plaintext, &context),
            };
            let Converted { outputs, file } = match converted {
                Ok(c) => c,
                Err(reason) => {
                    self.set(o.event, Fate::Unreadable(reason));
                    continue;
                }
            };
            if let Some(primary) = outputs.first() {
                bases.insert(o.event.id, primary.clone());
            }
            // Patients are one record whose versions follow the 2110 events.
            let mut planned = Vec::new();
            let mut failed = None;
            for (index, output) in outputs.into_iter().enumerate() {
                let id = output
                    .resource
                    .get("id")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned();
                let version = if o.kind == ClinicalKind::Patient {
                    let n = versions.entry(id).or_insert(0);
                    *n += 1;
                    *n
                } else {
                    1
                };
                let action = if version == 1 {
                    RecordAction::Create
                } else {
                    RecordAction::StatusUpdate
                };
                let file = if index == 0 { file.clone() } else { None };
                match record(o, output, version, action, None, file) {
                    Ok(r) => planned.push(r),
                    Err(reason) => {
                        failed = Some(reason);
                        break;
                    }
                }
            }
            self.commit(o.event, planned, failed);
        }
        for (target, markers) in chains {
            self.plan_chain(opened.get(&target), bases.get(&target), &target, &markers);
        }
    }

    fn commit(&mut self, event: &Event, planned: Vec<PlannedRecord>, failed: Option<String>) {
        match failed {
            Some(reason) => self.set(event, Fate::Unreadable(reason)),
            None => {
                self.set(
                    event,
                    Fate::Records(planned.iter().map(|r| r.key.clone()).collect()),
                );
                self.records.extend(planned);
            }
        }
    }

    /// The versions the markers on one target make.
    fn plan_chain(
        &mut self,
        target: Option<&Opened<'_>>,
        base: Option<&Output>,
        target_id: &EventId,
        markers: &[&Opened<'_>],
    ) {
        let mut current = base.cloned();
        let mut version = 1;
        for marker in markers {
            let Some((kind, _)) = marker.tags.link else {
                continue;
            };
            if target.is_some_and(|t| t.kind != marker.kind) {
                self.set(
                    marker.event,
                    Fate::Unreadable("its marker points at an event of another kind".into()),
                );
                continue;
            }
            let reference = self.patient_reference(&marker.patient);
            let context = Context {
                tags: &marker.tags,
                created_at: marker.event.created_at,
                patient_reference: &reference,
            };
            let next = match kind {
                Marker::StatusUpdate => convert::convert(
                    marker.kind,
                    &target_id.to_hex(),
                    &marker.plaintext,
                    &context,
                )
                .and_then(|c| {
                    c.outputs
                        .into_iter()
                        .next()
                        .ok_or_else(|| "empty".to_owned())
                })
                .map(|o| (o, RecordAction::StatusUpdate)),
                Marker::Deletion | Marker::Cancelled => match &current {
                    None => Err(String::new()),
                    Some(base) => tombstone(base, kind, &marker.plaintext),
                },
                Marker::Addendum | Marker::Result => continue,
            };
            let (output, action) = match next {
                Ok(n) => n,
                Err(reason) if reason.is_empty() => {
                    self.set(
                        marker.event,
                        Fate::Skipped(format!(
                            "its {} target is not in the legacy data or could not be read",
                            kind.as_str()
                        )),
                    );
                    continue;
                }
                Err(reason) => {
                    self.set(marker.event, Fate::Unreadable(reason));
                    continue;
                }
            };
            version += 1;
            match record(marker, output.clone(), version, action, Some(kind), None) {
                Ok(r) => {
                    current = Some(output);
                    self.commit(marker.event, vec![r], None);
                }
                Err(reason) => {
                    version -= 1;
                    self.set(marker.event, Fate::Unreadable(reason));
                }
            }
        }
    }
}

/// A result's `basedOn` names its order, whatever the payload said.
fn with_based_on(converted: &mut Converted, order: &EventId) {
    let reference = json!([{ "reference": format!("ServiceRequest/{}", order.to_hex()) }]);
    for output in &mut converted.outputs {
        if let Some(map) = output.resource.as_object_mut()
            && matches!(
                map.get("resourceType").and_then(Value::as_str),
                Some("DiagnosticReport" | "Observation")
            )
        {
            map.insert("basedOn".into(), reference.clone());
        }
    }
}

/// The version a deletion or cancellation makes of `base`.
fn tombstone(
    base: &Output,
    marker: Marker,
    payload: &str,
) -> Result<(Output, RecordAction), String> {
    let mut output = base.clone();
    let Some(map) = output.resource.as_object_mut() else {
        return Err("the target is not a resource".into());
    };
    let resource_type = map
        .get("resourceType")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let action = match (marker, resource_type.as_str()) {
        (Marker::Deletion, "MedicationRequest") => {
            map.insert("status".into(), json!("stopped"));
            RecordAction::StatusUpdate
        }
        (Marker::Deletion, _) => RecordAction::Deletion,
        (Marker::Cancelled, "ServiceRequest") => {
            map.insert("status".into(), json!("revoked"));
            RecordAction::StatusUpdate
        }
        (Marker::Cancelled, "MedicationRequest") => {
            map.insert("status".into(), json!("cancelled"));
            RecordAction::StatusUpdate
        }
        _ => return Err("a cancellation of a kind that has no cancelled status".into()),
    };
    // Keep the tombstone's own FHIR id beside the record's.
    if let Some(id) = serde_json::from_str::<Value>(payload)
        .ok()
        .and_then(|v| v.get("id").and_then(Value::as_str).map(str::to_owned))
        && let Value::Array(ids) = map.entry("identifier").or_insert_with(|| json!([]))
    {
        ids.push(json!({ "use": "secondary", "system": LEGACY_ID_SYSTEM, "value": id }));
    }
    Ok((output, action))
}

/// Provenance of `source` on a resource: the legacy event, its signer, time and kind, and the
/// staff member it names.
fn provenance(map: &mut Map<String, Value>, source: &Opened<'_>, marker: Option<Marker>) {
    let event = source.event;
    push_extension(map, EXT_EVENT, "String", json!(event.id.to_hex()));
    push_extension(map, EXT_SIGNER, "String", json!(event.pubkey.to_hex()));
    push_extension(
        map,
        EXT_CREATED_AT,
        "Integer",
        json!(event.created_at.as_secs()),
    );
    push_extension(map, EXT_KIND, "Integer", json!(event.kind.as_u16()));
    if let Some((staff, name)) = &source.tags.authored_by {
        push_extension(map, EXT_AUTHORED_BY, "String", json!(staff.to_hex()));
        if !name.is_empty() {
            push_extension(map, EXT_AUTHORED_BY_NAME, "String", json!(name));
        }
    }
    if let Some(marker) = marker {
        push_extension(map, EXT_MARKER, "Code", json!(marker.as_str()));
    }
}

fn record(
    source: &Opened<'_>,
    output: Output,
    version: u32,
    action: RecordAction,
    marker: Option<Marker>,
    file: Option<LegacyFile>,
) -> Result<PlannedRecord, String> {
    let mut value = output.resource;
    if let Some(map) = value.as_object_mut() {
        // Extensions of provenance are this version's own.
        if let Some(Value::Array(extensions)) = map.get_mut("extension") {
            extensions.retain(|e| {
                e.get("url")
                    .and_then(Value::as_str)
                    .is_none_or(|u| !is_provenance(u))
            });
        }
        provenance(map, source, marker);
    }
    let mut resource = Resource::from_json(&value.to_string()).map_err(|e| e.to_string())?;
    resource.set_version(version, action);
    resource.validate().map_err(|e| e.to_string())?;
    output
        .kind
        .check_resource(&resource)
        .map_err(|e| e.to_string())?;
    let key = OutputKey::of(&resource).ok_or_else(|| "a resource without an id".to_owned())?;
    Ok(PlannedRecord {
        key,
        patient: source.patient,
        kind: output.kind,
        resource,
        source: source.event.id,
        file,
    })
}

fn is_provenance(url: &str) -> bool {
    [
        EXT_EVENT,
        EXT_SIGNER,
        EXT_CREATED_AT,
        EXT_KIND,
        EXT_AUTHORED_BY,
        EXT_AUTHORED_BY_NAME,
        EXT_MARKER,
    ]
    .contains(&url)
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
