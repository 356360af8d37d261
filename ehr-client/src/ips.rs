//! The International Patient Summary (IPS) of a folded chart (DESIGN.md §14).
//!
//! [`patient_summary`] turns a [`Chart`] into an HL7 IPS document: a FHIR R4 `Bundle` of type
//! `document` whose first entry is a `Composition` (LOINC 60591-5, "Patient summary
//! Document"), then the `Patient`, then the practice as the `Organization` that authored it,
//! then the resources of the sections:
//!
//! | Section | LOINC | What goes in |
//! |---|---|---|
//! | Allergies and intolerances | 48765-2 | active AllergyIntolerance ([`crate::allergy::can_alert`]) |
//! | Medication summary | 10160-0 | MedicationRequest with status `active` (list entries and prescriptions) |
//! | Problem list | 11450-4 | active Condition (not inactive, remission, resolved, refuted) |
//! | History of immunizations | 11369-6 | every Immunization (given or not given) |
//! | Results | 30954-2 | `laboratory` Observations, the latest per code |
//! | Vital signs | 8716-3 | `vital-signs` Observations, the latest per code |
//! | History of procedures | 47519-4 | Procedure records (none today: the chart has no such kind) |
//!
//! The first three are required: with nothing to list they carry an `emptyReason`
//! (`unavailable`), as IPS 2.0 allows; the others appear only when they have entries.
//! Patient-reported entries are left out unless [`SummaryOptions::include_patient_reported`]
//! says otherwise (they then carry [`crate::chart::patient_reported_tag`]).
//!
//! The core reads no clock: the summary's time comes in [`SummaryOptions::now`]. Every
//! reference inside the document is rewritten to the `urn:uuid:` `fullUrl` of its target; a
//! reference to a record outside the summary keeps its `display` or `identifier` only, or is
//! left out when nothing else names its target. A resource's own `text` is not carried over:
//! the only markup in the document is the generated narrative, whose every word from the chart
//! is escaped. [`check_summary`] checks the IPS rules that need no terminology server.

mod check;
mod narrative;
mod references;
mod select;

use nostr::prelude::{PublicKey, Timestamp};
use serde_json::{Value, json};
use uuid::Uuid;

pub use check::check_summary;

use crate::chart::{Chart, ChartEntry, Origin};
use crate::fhir::ResourceType;
use references::{Urls, carried, urn};
use select::select;

/// LOINC.
pub const LOINC: &str = "http://loinc.org";
/// The Composition type of an IPS: LOINC 60591-5.
pub const PATIENT_SUMMARY_CODE: &str = "60591-5";
/// The Composition title.
pub const TITLE: &str = "International Patient Summary";
/// The code system of a section's `emptyReason`.
pub const EMPTY_REASON_SYSTEM: &str = "http://terminology.hl7.org/CodeSystem/list-empty-reason";
/// The IPS Bundle profile the document claims.
pub const BUNDLE_PROFILE: &str = "http://hl7.org/fhir/uv/ips/StructureDefinition/Bundle-uv-ips";
/// The IPS Composition profile the Composition claims.
pub const COMPOSITION_PROFILE: &str =
    "http://hl7.org/fhir/uv/ips/StructureDefinition/Composition-uv-ips";
/// `Identifier.system` of a URI identifier (the Bundle's `urn:uuid:`, the practice's
/// `nostr:npub…`).
pub const URI_SYSTEM: &str = "urn:ietf:rfc:3986";

/// Why a summary could not be built, or why a Bundle is not an IPS document. No variant
/// carries PHI: rules, positions and LOINC section codes only.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IpsError {
    /// The chart has no Patient record (of the practice, or hers when patient-reported entries
    /// are included).
    #[error("the chart has no Patient record to summarise")]
    NoPatient,
    /// Neither the practice's name nor its key was given.
    #[error("the summary needs the practice's name or key as its author")]
    NoAuthor,
    /// [`SummaryOptions::now`] is not a representable instant.
    #[error("the summary time is out of range")]
    BadTime,
    /// A record could not be written as FHIR JSON.
    #[error("a chart record could not be written as FHIR JSON")]
    Serialize,
    /// The Bundle or its Composition breaks a structural rule.
    #[error("not an IPS document: {rule}")]
    Structure {
        /// Which rule.
        rule: &'static str,
    },
    /// A required section is missing.
    #[error("required section {code} is missing")]
    MissingSection {
        /// Its LOINC code.
        code: &'static str,
    },
    /// A section appears more than once.
    #[error("section {code} appears more than once")]
    DuplicateSection {
        /// Its LOINC code.
        code: &'static str,
    },
    /// A section breaks a rule (code, narrative, entries or emptyReason).
    #[error("section {section}: {rule}")]
    Section {
        /// Position of the section, from 0.
        section: usize,
        /// Which rule.
        rule: &'static str,
    },
    /// A section entry does not resolve to a resource of the Bundle.
    #[error("entry {entry} of section {section} does not resolve inside the bundle")]
    UnresolvedEntry {
        /// Position of the section, from 0.
        section: usize,
        /// Position of the entry in the section, from 0.
        entry: usize,
    },
    /// A section entry is a resource type the section may not hold.
    #[error("entry {entry} of section {section} is not a resource type the section holds")]
    WrongEntryType {
        /// Position of the section, from 0.
        section: usize,
        /// Position of the entry in the section, from 0.
        entry: usize,
    },
    /// A section entry has no code with a system where IPS requires one.
    #[error("entry {entry} of section {section} is not coded (no code with a system)")]
    Uncoded {
        /// Position of the section, from 0.
        section: usize,
        /// Position of the entry in the section, from 0.
        entry: usize,
    },
    /// A `urn:` reference inside a resource of the Bundle does not resolve inside it.
    #[error("a reference in bundle entry {entry} does not resolve inside the bundle")]
    DanglingReference {
        /// Position of the Bundle entry, from 0.
        entry: usize,
    },
}

/// One section of the summary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Section {
    /// Allergies and intolerances (required).
    Allergies,
    /// Medication summary (required).
    Medications,
    /// Problem list (required).
    Problems,
    /// History of immunizations.
    Immunizations,
    /// Results (laboratory).
    Results,
    /// Vital signs.
    VitalSigns,
    /// History of procedures.
    Procedures,
}

impl Section {
    /// Every section, in document order.
    pub const ALL: [Self; 7] = [
        Self::Allergies,
        Self::Medications,
        Self::Problems,
        Self::Immunizations,
        Self::Results,
        Self::VitalSigns,
        Self::Procedures,
    ];

    /// The section's LOINC code.
    pub fn code(self) -> &'static str {
        match self {
            Self::Allergies => "48765-2",
            Self::Medications => "10160-0",
            Self::Problems => "11450-4",
            Self::Immunizations => "11369-6",
            Self::Results => "30954-2",
            Self::VitalSigns => "8716-3",
            Self::Procedures => "47519-4",
        }
    }

    /// The LOINC display of the code.
    pub fn display(self) -> &'static str {
        match self {
            Self::Allergies => "Allergies and adverse reactions Document",
            Self::Medications => "History of Medication use Narrative",
            Self::Problems => "Problem list - Reported",
            Self::Immunizations => "History of Immunization Narrative",
            Self::Results => "Relevant diagnostic tests/laboratory data Narrative",
            Self::VitalSigns => "Vital signs",
            Self::Procedures => "History of Procedures Document",
        }
    }

    /// The section title.
    pub fn title(self) -> &'static str {
        match self {
            Self::Allergies => "Allergies and Intolerances",
            Self::Medications => "Medication Summary",
            Self::Problems => "Problem List",
            Self::Immunizations => "History of Immunizations",
            Self::Results => "Results",
            Self::VitalSigns => "Vital Signs",
            Self::Procedures => "History of Procedures",
        }
    }

    /// Whether IPS requires the section.
    pub fn required(self) -> bool {
        matches!(self, Self::Allergies | Self::Medications | Self::Problems)
    }

    /// The resource types the section's entries may be.
    pub fn entry_types(self) -> &'static [&'static str] {
        match self {
            Self::Allergies => &["AllergyIntolerance"],
            Self::Medications => &["MedicationRequest", "MedicationStatement"],
            Self::Problems => &["Condition"],
            Self::Immunizations => &["Immunization"],
            Self::Results => &["Observation", "DiagnosticReport"],
            Self::VitalSigns => &["Observation"],
            Self::Procedures => &["Procedure"],
        }
    }

    /// The section of a LOINC code.
    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.code() == code)
    }

    /// What the narrative says when the section has nothing to list.
    fn nothing(self) -> &'static str {
        match self {
            Self::Allergies => "No information about allergies or intolerances is recorded.",
            Self::Medications => "No information about current medications is recorded.",
            Self::Problems => "No information about current problems is recorded.",
            Self::Immunizations => "No immunizations are recorded.",
            Self::Results => "No results are recorded.",
            Self::VitalSigns => "No vital signs are recorded.",
            Self::Procedures => "No procedures are recorded.",
        }
    }
}

/// What the summary is built with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SummaryOptions {
    /// The summary's time: `Bundle.timestamp` and `Composition.date`.
    pub now: Timestamp,
    /// The practice's name: the `Organization` that authors the summary.
    pub practice_name: String,
    /// The practice's key, as the Organization's identifier `nostr:<npub>`.
    pub practice_key: Option<PublicKey>,
    /// The document's identifier (`Bundle.identifier`, `urn:uuid:`); a random one when `None`.
    /// The Composition's id derives from it, every other `fullUrl` from its record, so the same
    /// chart with the same id gives the same document.
    pub bundle_id: Option<Uuid>,
    /// Whether the patient's own entries (patient-reported, "multiple truths") go in. Off by
    /// default: the summary is what the practice recorded.
    pub include_patient_reported: bool,
}

impl SummaryOptions {
    /// Options for a summary at `now` by the practice named `practice_name`: a random
    /// document id, the practice's entries only.
    pub fn new(now: Timestamp, practice_name: &str) -> Self {
        Self {
            now,
            practice_name: practice_name.to_owned(),
            practice_key: None,
            bundle_id: None,
            include_patient_reported: false,
        }
    }
}

/// The International Patient Summary of `chart`: a FHIR R4 document Bundle (see the module
/// documentation for what goes in).
pub fn patient_summary(chart: &Chart, options: &SummaryOptions) -> Result<Value, IpsError> {
    let now = instant(options.now).ok_or(IpsError::BadTime)?;
    let wanted = |entry: &&ChartEntry| options.include_patient_reported || !entry.patient_reported;
    let patient = chart
        .of_type(ResourceType::Patient)
        .filter(|entry| wanted(entry))
        // The practice's newest Patient record, as every reader takes it (the gateway's own).
        .max_by_key(|entry| {
            (
                entry.key.origin == Origin::Practice,
                entry.updated_at,
                entry.event_id,
            )
        })
        .ok_or(IpsError::NoPatient)?;
    let name = options.practice_name.trim();
    if name.is_empty() && options.practice_key.is_none() {
        return Err(IpsError::NoAuthor);
    }

    let sections: Vec<(Section, Vec<&ChartEntry>)> = Section::ALL
        .into_iter()
        .map(|section| (section, select(chart, section, &wanted)))
        .filter(|(section, entries)| section.required() || !entries.is_empty())
        .collect();

    let mut urls = Urls::default();
    let patient_url = urls.assign_record(patient);
    let bundle_id = options.bundle_id.unwrap_or_else(Uuid::new_v4);
    let composition_id = urls.fresh(&["composition", &bundle_id.to_string()]);
    let practice_key = options.practice_key.map(|k| k.to_hex());
    let organization_id = urls.fresh(&[
        "organization",
        practice_key.as_deref().unwrap_or_default(),
        name,
    ]);
    for (_, entries) in &sections {
        for entry in entries {
            urls.assign_record(entry);
        }
    }

    let mut organization = json!({
        "resourceType": "Organization",
        "id": organization_id.to_string(),
    });
    if let Some(map) = organization.as_object_mut() {
        if let Some(key) = options.practice_key {
            map.insert(
                "identifier".to_owned(),
                json!([{ "system": URI_SYSTEM, "value": format!("nostr:{}", crate::keys::to_npub(&key)) }]),
            );
        }
        if !name.is_empty() {
            map.insert("name".to_owned(), Value::String(name.to_owned()));
        }
    }
    let organization_url = urn(organization_id);

    let mut composition_sections = Vec::new();
    let mut section_resources = Vec::new();
    for (section, entries) in &sections {
        let mut references = Vec::new();
        let mut items = Vec::new();
        for entry in entries {
            let url = urls.url_of(entry).ok_or(IpsError::Serialize)?;
            references.push(json!({ "reference": url }));
            items.push(narrative::describe(entry));
            section_resources.push(json!({
                "fullUrl": url,
                "resource": carried(entry, &urls, &patient_url)?,
            }));
        }
        let mut value = json!({
            "title": section.title(),
            "code": { "coding": [{ "system": LOINC, "code": section.code(), "display": section.display() }] },
            "text": { "status": "generated", "div": narrative::section_div(&items, section.nothing()) },
        });
        if let Some(map) = value.as_object_mut() {
            if references.is_empty() {
                map.insert(
                    "emptyReason".to_owned(),
                    json!({
                        "coding": [{ "system": EMPTY_REASON_SYSTEM, "code": "unavailable", "display": "Unavailable" }],
                        "text": "No information is recorded in this chart",
                    }),
                );
            } else {
                map.insert("entry".to_owned(), Value::Array(references));
            }
        }
        composition_sections.push(value);
    }

    let composition = json!({
        "resourceType": "Composition",
        "id": composition_id.to_string(),
        "meta": { "profile": [COMPOSITION_PROFILE] },
        "text": {
            "status": "generated",
            "div": narrative::composition_div(&patient.resource, name, &now),
        },
        "status": "final",
        "type": { "coding": [{ "system": LOINC, "code": PATIENT_SUMMARY_CODE, "display": "Patient summary Document" }] },
        "subject": { "reference": patient_url },
        "date": now,
        "author": [{ "reference": organization_url }],
        "title": TITLE,
        "custodian": { "reference": organization_url },
        "section": composition_sections,
    });

    let mut entries = vec![
        json!({ "fullUrl": urn(composition_id), "resource": composition }),
        json!({ "fullUrl": patient_url, "resource": carried(patient, &urls, &patient_url)? }),
        json!({ "fullUrl": organization_url, "resource": organization }),
    ];
    entries.extend(section_resources);
    Ok(json!({
        "resourceType": "Bundle",
        "id": bundle_id.to_string(),
        "meta": { "profile": [BUNDLE_PROFILE] },
        "identifier": { "system": URI_SYSTEM, "value": urn(bundle_id) },
        "type": "document",
        "timestamp": now,
        "entry": entries,
    }))
}

/// A FHIR `instant` of Unix seconds.
fn instant(at: Timestamp) -> Option<String> {
    use time::{OffsetDateTime, format_description::well_known::Rfc3339};
    let seconds = i64::try_from(at.as_secs()).ok()?;
    OffsetDateTime::from_unix_timestamp(seconds)
        .ok()?
        .format(&Rfc3339)
        .ok()
}
