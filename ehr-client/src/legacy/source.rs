//! Legacy events as the reference publishes them: kinds, tags and link markers.
//!
//! Kinds 2100–2104 are the reference's grants and roster, 2110–2121 its clinical kinds (the
//! numbers this project kept), 4050–4055 its telehealth signalling. Older deployments wrote
//! 1000–1011 for 2110–2121 (same order) and 1012, 1013, 1014 for 2100, 2101, 2102.

use nostr::prelude::{Event, EventId, PublicKey};

use crate::kinds::ClinicalKind;

/// What a legacy kind number is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LegacyKind {
    /// 2100 (was 1012): a patient's X₂ for a staff member or agent.
    PatientKeyGrant,
    /// 2101 (was 1013): X₁ for a staff member or agent.
    PracticeKeyGrant,
    /// 2102 (was 1014): the staff roster; the latest wins.
    StaffRoster,
    /// 2103: a service agent (the FHIR reader); a regular kind, so it may appear several times.
    ServiceAgent,
    /// 2104: a guardian's access to a child's chart.
    GuardianGrant,
    /// 2110–2121 (was 1000–1011): a clinical record.
    Clinical(ClinicalKind),
    /// 4050–4055: telehealth signalling (lobby, SDP offer and answer, ICE, call state, call end).
    Telehealth(u16),
}

/// The kinds an import reads from the old relay.
pub fn legacy_kinds() -> Vec<u16> {
    (1000..=1014)
        .chain(2100..=2104)
        .chain(2110..=2121)
        .chain(4050..=4055)
        .collect()
}

/// The current number of a legacy kind (1000–1014 renumbered), or `None` for other kinds.
pub fn canonical_kind(kind: u16) -> Option<u16> {
    match kind {
        1000..=1011 => Some(kind + 1110),
        1012..=1014 => Some(kind + 1088),
        2100..=2104 | 2110..=2121 | 4050..=4055 => Some(kind),
        _ => None,
    }
}

/// Classify a kind number as published (old numbers included).
pub fn classify(kind: u16) -> Option<LegacyKind> {
    Some(match canonical_kind(kind)? {
        2100 => LegacyKind::PatientKeyGrant,
        2101 => LegacyKind::PracticeKeyGrant,
        2102 => LegacyKind::StaffRoster,
        2103 => LegacyKind::ServiceAgent,
        2104 => LegacyKind::GuardianGrant,
        n @ 4050..=4055 => LegacyKind::Telehealth(n),
        n => LegacyKind::Clinical(ClinicalKind::from_u16(n)?),
    })
}

/// A link marker: `["e", <target>, "", <marker>]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Marker {
    /// A new status for the target (a full copy, same FHIR id).
    StatusUpdate,
    /// The target is discontinued (a medication) or deleted (an allergy, anything else).
    Deletion,
    /// An addendum to the target encounter.
    Addendum,
    /// The result (DiagnosticReport) of the target order.
    Result,
    /// A tombstone cancelling the target order; not an order itself.
    Cancelled,
}

impl Marker {
    /// The marker as the reference writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::StatusUpdate => "status-update",
            Self::Deletion => "deletion",
            Self::Addendum => "addendum",
            Self::Result => "result",
            Self::Cancelled => "cancelled",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        [
            Self::StatusUpdate,
            Self::Deletion,
            Self::Addendum,
            Self::Result,
            Self::Cancelled,
        ]
        .into_iter()
        .find(|m| m.as_str() == text)
    }
}

/// The tags of a legacy event, read once.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LegacyTags {
    /// Every `p` tag, in order.
    pub p: Vec<PublicKey>,
    /// `pt`: the reference's patient id.
    pub patient_id: Option<String>,
    /// `authored-by`: the staff member who wrote an event the practice key signed or that she
    /// signed in staff mode, and her name.
    pub authored_by: Option<(PublicKey, String)>,
    /// A link marker and its target.
    pub link: Option<(Marker, EventId)>,
    /// A message's thread root (`["e", root]`).
    pub thread_root: Option<EventId>,
    /// `guardian-of`: the child a guardian writes about.
    pub guardian_of: Option<PublicKey>,
    /// `patient-content`: the patient copy.
    pub patient_content: Option<String>,
    /// Every other tag (`subject`, `obs`, `category`, ...): name and value(s).
    pub other: Vec<(String, Vec<String>)>,
}

/// Tags that only describe the reference's format (`fhir`, `v`, `enc`): what they say is the
/// resource type and the cipher, which the import replaces.
const FORMAT_TAGS: [&str; 3] = ["fhir", "v", "enc"];

fn hex_key(value: &str, what: &'static str) -> Result<PublicKey, String> {
    crate::keys::parse_hex_public_key(value)
        .map_err(|_| format!("`{what}` tag is not a public key"))
}

fn hex_id(value: &str, what: &'static str) -> Result<EventId, String> {
    EventId::from_hex(value).map_err(|_| format!("`{what}` tag is not an event id"))
}

/// Read the tags of a legacy event. Errors name the tag, never its value.
pub fn read_tags(event: &Event) -> Result<LegacyTags, String> {
    let mut tags = LegacyTags::default();
    for tag in event.tags.iter() {
        let values = tag.as_slice();
        let Some((name, rest)) = values.split_first() else {
            continue;
        };
        match (name.as_str(), rest) {
            ("p", [value, ..]) => tags.p.push(hex_key(value, "p")?),
            ("pt", [value, ..]) => tags.patient_id = Some(value.clone()),
            ("authored-by", [key, name, ..]) => {
                tags.authored_by = Some((hex_key(key, "authored-by")?, name.clone()));
            }
            ("authored-by", [key]) => {
                tags.authored_by = Some((hex_key(key, "authored-by")?, String::new()))
            }
            ("guardian-of", [value, ..]) => tags.guardian_of = Some(hex_key(value, "guardian-of")?),
            ("patient-content", [value, ..]) => tags.patient_content = Some(value.clone()),
            ("e", [target]) => tags.thread_root = Some(hex_id(target, "e")?),
            ("e", [target, _relay]) => tags.thread_root = Some(hex_id(target, "e")?),
            ("e", [target, _relay, marker, ..])
                if ["", "root", "reply"].contains(&marker.as_str()) =>
            {
                tags.thread_root = Some(hex_id(target, "e")?);
            }
            ("e", [target, _relay, marker, ..]) => {
                let marker =
                    Marker::parse(marker).ok_or_else(|| "unknown `e` marker".to_owned())?;
                if tags.link.replace((marker, hex_id(target, "e")?)).is_some() {
                    return Err("more than one link marker".to_owned());
                }
            }
            (name, _) if FORMAT_TAGS.contains(&name) => {}
            (name, rest) => tags.other.push((name.to_owned(), rest.to_vec())),
        }
    }
    Ok(tags)
}

/// The first value of a tag kept in [`LegacyTags::other`].
pub fn other_tag<'a>(tags: &'a LegacyTags, name: &str) -> Option<&'a str> {
    tags.other
        .iter()
        .find(|(n, _)| n == name)
        .and_then(|(_, values)| values.first())
        .map(String::as_str)
}

/// The patient a legacy event belongs to: the child of `guardian-of`, else the first `p` tag
/// that is not the practice.
pub fn patient_of(tags: &LegacyTags, practice: &PublicKey) -> Option<PublicKey> {
    tags.guardian_of
        .or_else(|| tags.p.iter().find(|p| *p != practice).copied())
}
