//! Typed FHIR R4 (4.0.1) payloads for the clinical kinds.
//!
//! `fhir-model` (behind `fhir-sdk`) ships STU3, R4B and R5 but not R4, and its generated models
//! cost minutes of build time on every target including WebAssembly. These are hand-written serde
//! models of the standard R4 elements this project reads and writes; tests check what they emit
//! against the official R4 JSON schema in `shared/fhir/`.
//!
//! How a record's history is expressed in standard FHIR: the logical `id` is stable across
//! versions, `meta.versionId` counts versions 1, 2, 3, ..., and one `meta.tag` from
//! [`ACTION_SYSTEM`] says what a version does (create, status update, correction, deletion).

mod appointment;
mod codes;
mod consent;
mod datatypes;
mod gateway_ids;
mod resources;

pub use appointment::*;
pub use codes::*;
pub use consent::*;
pub use datatypes::*;
pub use gateway_ids::*;
pub use resources::*;

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Code system of the `meta.tag` that records what a version of a record does.
pub const ACTION_SYSTEM: &str = "urn:nostr-ehr:codesystem:record-action";

/// Extension on a DocumentReference attachment carrying the document's AES-256-GCM key.
pub const FILE_KEY_EXTENSION: &str = "urn:nostr-ehr:extension:file-key";

/// What one version of a record does to the record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RecordAction {
    /// The first version (the default when no action tag is present).
    Create,
    /// A status change (medication stopped, order completed).
    StatusUpdate,
    /// A correction of an earlier version's content.
    Correction,
    /// The record was entered in error and is hidden from the chart.
    Deletion,
}

impl RecordAction {
    /// The code in [`ACTION_SYSTEM`].
    pub fn code(self) -> &'static str {
        match self {
            Self::Create => "create",
            Self::StatusUpdate => "status-update",
            Self::Correction => "correction",
            Self::Deletion => "deletion",
        }
    }

    fn from_code(code: &str) -> Option<Self> {
        [
            Self::Create,
            Self::StatusUpdate,
            Self::Correction,
            Self::Deletion,
        ]
        .into_iter()
        .find(|action| action.code() == code)
    }
}

/// Why a FHIR payload was rejected. Messages name elements and positions, never values.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum FhirError {
    /// The JSON is malformed or does not fit the R4 model (unknown element, wrong type, code
    /// outside its value set).
    #[error("invalid FHIR JSON ({category}) at line {line} column {column}{}", field.as_ref().map(|f| format!(": unknown or non-standard element `{f}`")).unwrap_or_default())]
    Json {
        /// syntax | data | eof.
        category: &'static str,
        /// Line of the error.
        line: usize,
        /// Column of the error.
        column: usize,
        /// The offending element name, when it is an unknown element.
        field: Option<String>,
    },
    /// The resource type is not the one the event kind carries.
    #[error("resource type {found} does not match the event kind (expected {expected})")]
    WrongResourceType {
        /// The type the kind requires.
        expected: ResourceType,
        /// The type found in the payload.
        found: ResourceType,
    },
    /// A structural rule of R4 or of this project is broken.
    #[error("invalid {resource}: {reason}")]
    Invalid {
        /// The resource type.
        resource: ResourceType,
        /// Which rule.
        reason: &'static str,
    },
}

impl FhirError {
    fn from_serde(error: &serde_json::Error) -> Self {
        let message = error.to_string();
        let field = message
            .strip_prefix("unknown field `")
            .and_then(|rest| rest.split('`').next())
            .filter(|name| {
                !name.is_empty()
                    && name.len() <= 64
                    && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            })
            .map(str::to_owned);
        Self::Json {
            category: match error.classify() {
                serde_json::error::Category::Io => "io",
                serde_json::error::Category::Syntax => "syntax",
                serde_json::error::Category::Data => "data",
                serde_json::error::Category::Eof => "eof",
            },
            line: error.line(),
            column: error.column(),
            field,
        }
    }
}

macro_rules! resources {
    ($($variant:ident),+ $(,)?) => {
        /// The FHIR resource types of the clinical kinds.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum ResourceType { $(#[doc = stringify!($variant)] $variant),+ }

        impl ResourceType {
            /// The `resourceType` string.
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => stringify!($variant)),+ }
            }
        }

        impl FromStr for ResourceType {
            type Err = ();
            fn from_str(s: &str) -> Result<Self, ()> {
                match s { $(stringify!($variant) => Ok(Self::$variant),)+ _ => Err(()) }
            }
        }

        /// One FHIR R4 resource of a clinical event.
        // Every variant is 1.5-2.3 KB, so boxing one would not shrink the enum; values are
        // built once per event and mostly borrowed.
        #[allow(clippy::large_enum_variant)]
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
        #[serde(tag = "resourceType")]
        pub enum Resource { $(#[doc = stringify!($variant)] $variant($variant)),+ }

        impl Resource {
            /// The resource type.
            pub fn resource_type(&self) -> ResourceType {
                match self { $(Self::$variant(_) => ResourceType::$variant),+ }
            }

            /// The logical id.
            pub fn id(&self) -> Option<&str> {
                match self { $(Self::$variant(r) => r.id.as_deref()),+ }
            }

            /// Set the logical id.
            pub fn set_id(&mut self, id: String) {
                match self { $(Self::$variant(r) => r.id = Some(id)),+ }
            }

            /// The `meta` element.
            pub fn meta(&self) -> Option<&Meta> {
                match self { $(Self::$variant(r) => r.meta.as_ref()),+ }
            }

            fn meta_mut(&mut self) -> &mut Meta {
                match self { $(Self::$variant(r) => r.meta.get_or_insert_with(Meta::default)),+ }
            }
        }

        $(impl From<$variant> for Resource {
            fn from(resource: $variant) -> Self { Self::$variant(resource) }
        })+
    };
}

resources!(
    Patient,
    Encounter,
    MedicationRequest,
    Observation,
    Condition,
    AllergyIntolerance,
    Immunization,
    Communication,
    ServiceRequest,
    DiagnosticReport,
    DocumentReference,
    Consent,
    Appointment,
);

impl fmt::Display for ResourceType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Resource {
    /// Parse and validate a resource from FHIR JSON.
    pub fn from_json(json: &str) -> Result<Self, FhirError> {
        let resource: Self = serde_json::from_str(json).map_err(|e| FhirError::from_serde(&e))?;
        resource.validate()?;
        Ok(resource)
    }

    /// Serialise to FHIR JSON.
    pub fn to_json(&self) -> String {
        // Serialising these plain structs into a String cannot fail (no maps with non-string
        // keys, no foreign Serialize impls); an empty object is never reached in practice.
        serde_json::to_string(self).unwrap_or_else(|_| String::from("{}"))
    }

    /// The version number (`meta.versionId`), 1 when absent.
    pub fn version(&self) -> u32 {
        self.meta()
            .and_then(|m| m.version_id.as_deref())
            .and_then(|v| v.parse().ok())
            .unwrap_or(1)
    }

    /// What this version does, from its action tag; [`RecordAction::Create`] when absent.
    pub fn action(&self) -> RecordAction {
        self.meta()
            .and_then(|m| {
                m.tag
                    .iter()
                    .find(|t| t.system.as_deref() == Some(ACTION_SYSTEM))
            })
            .and_then(|t| t.code.as_deref())
            .and_then(RecordAction::from_code)
            .unwrap_or(RecordAction::Create)
    }

    /// Mark this resource as version `version` doing `action`, replacing any earlier marking.
    pub fn set_version(&mut self, version: u32, action: RecordAction) {
        let meta = self.meta_mut();
        meta.version_id = Some(version.to_string());
        meta.tag
            .retain(|t| t.system.as_deref() != Some(ACTION_SYSTEM));
        if action != RecordAction::Create {
            meta.tag.push(Coding {
                system: Some(ACTION_SYSTEM.to_owned()),
                code: Some(action.code().to_owned()),
                ..Coding::default()
            });
        }
    }

    /// References of this resource to records it attaches to: the encounter of a note or
    /// addendum (DocumentReference `context.encounter`), and the order a result fulfils
    /// (`basedOn` of DiagnosticReport and Observation).
    pub fn attaches_to(&self) -> Vec<(ResourceType, String)> {
        let references: Vec<&Reference> = match self {
            Self::DocumentReference(d) => {
                d.context.iter().flat_map(|c| c.encounter.iter()).collect()
            }
            Self::DiagnosticReport(r) => r.based_on.iter().collect(),
            Self::Observation(o) => o.based_on.iter().collect(),
            _ => Vec::new(),
        };
        references
            .into_iter()
            .filter_map(Reference::target)
            .filter_map(|(t, id)| Some((t.parse().ok()?, id.to_owned())))
            .collect()
    }

    /// Check the structural rules serde cannot express.
    pub fn validate(&self) -> Result<(), FhirError> {
        let resource = self.resource_type();
        let fail = |reason| Err(FhirError::Invalid { resource, reason });
        match self.id() {
            None => return fail("a logical id is required"),
            Some(id) if !is_fhir_id(id) => return fail("id must be 1-64 of [A-Za-z0-9-.]"),
            Some(_) => {}
        }
        if let Some(meta) = self.meta() {
            if let Some(v) = &meta.version_id
                && !v.parse::<u32>().is_ok_and(|n| n > 0)
            {
                return fail("meta.versionId must be a positive integer");
            }
            let actions: Vec<&Coding> = meta
                .tag
                .iter()
                .filter(|t| t.system.as_deref() == Some(ACTION_SYSTEM))
                .collect();
            if actions.len() > 1 {
                return fail("at most one record-action tag");
            }
            if actions.iter().any(|t| {
                t.code
                    .as_deref()
                    .and_then(RecordAction::from_code)
                    .is_none()
            }) {
                return fail("unknown record-action code");
            }
        }
        for extension in self.extensions() {
            if extension.url.is_empty() {
                return fail("extension.url is required");
            }
        }
        validate_specific(self).map_err(|reason| FhirError::Invalid { resource, reason })
    }

    fn extensions(&self) -> &[Extension] {
        match self {
            Self::Patient(r) => &r.extension,
            Self::Encounter(r) => &r.extension,
            Self::MedicationRequest(r) => &r.extension,
            Self::Observation(r) => &r.extension,
            Self::Condition(r) => &r.extension,
            Self::AllergyIntolerance(r) => &r.extension,
            Self::Immunization(r) => &r.extension,
            Self::Communication(r) => &r.extension,
            Self::ServiceRequest(r) => &r.extension,
            Self::DiagnosticReport(r) => &r.extension,
            Self::DocumentReference(r) => &r.extension,
            Self::Consent(r) => &r.extension,
            Self::Appointment(r) => &r.extension,
        }
    }

    /// The Appointment, if this is one.
    pub fn as_appointment(&self) -> Option<&Appointment> {
        match self {
            Self::Appointment(a) => Some(a),
            _ => None,
        }
    }

    /// The Consent, if this is one.
    pub fn as_consent(&self) -> Option<&Consent> {
        match self {
            Self::Consent(c) => Some(c),
            _ => None,
        }
    }
}

/// FHIR `id`: 1 to 64 characters of `[A-Za-z0-9\-\.]`.
pub fn is_fhir_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
}

/// FHIR `date` / `dateTime` / `instant` shape: `YYYY`, `YYYY-MM`, `YYYY-MM-DD`, or a full date
/// and time with seconds and a zone. Checks the shape and ranges, not the calendar.
pub fn is_fhir_date_time(value: &str) -> bool {
    let (date, time) = match value.split_once('T') {
        Some((d, t)) => (d, Some(t)),
        None => (value, None),
    };
    let parts: Vec<&str> = date.split('-').collect();
    let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
    let in_range =
        |s: &str, lo: u32, hi: u32| s.parse::<u32>().is_ok_and(|n| (lo..=hi).contains(&n));
    let date_ok = match parts.as_slice() {
        [y] => digits(y, 4),
        [y, m] => digits(y, 4) && digits(m, 2) && in_range(m, 1, 12),
        [y, m, d] => {
            digits(y, 4) && digits(m, 2) && digits(d, 2) && in_range(m, 1, 12) && in_range(d, 1, 31)
        }
        _ => false,
    };
    let Some(time) = time else { return date_ok };
    if !date_ok || parts.len() != 3 {
        return false;
    }
    let (clock, zone) = if let Some(clock) = time.strip_suffix('Z') {
        (clock, "Z")
    } else if let Some(pos) = time.rfind(['+', '-']) {
        (
            time.get(..pos).unwrap_or_default(),
            time.get(pos..).unwrap_or_default(),
        )
    } else {
        return false;
    };
    let zone_ok = zone == "Z"
        || (zone.len() == 6
            && zone.get(3..4) == Some(":")
            && digits(zone.get(1..3).unwrap_or_default(), 2)
            && digits(zone.get(4..6).unwrap_or_default(), 2));
    let (hms, fraction) = match clock.split_once('.') {
        Some((hms, f)) => (hms, Some(f)),
        None => (clock, None),
    };
    let hms: Vec<&str> = hms.split(':').collect();
    let clock_ok = match hms.as_slice() {
        [h, m, s] => {
            digits(h, 2)
                && digits(m, 2)
                && digits(s, 2)
                && in_range(h, 0, 23)
                && in_range(m, 0, 59)
                && in_range(s, 0, 60)
        }
        _ => false,
    };
    let fraction_ok = fraction
        .is_none_or(|f| !f.is_empty() && f.len() <= 9 && f.bytes().all(|b| b.is_ascii_digit()));
    zone_ok && clock_ok && fraction_ok
}

/// The Unix seconds a FHIR `date` / `dateTime` / `instant` covers, as `[first, after)`: a
/// date without a time is the whole year, month or day in UTC; a time is its one second.
/// `None` when the value is not a valid date (a reader that enforces it then fails closed).
pub fn date_time_range(value: &str) -> Option<(i64, i64)> {
    use time::{Date, Month, OffsetDateTime, format_description::well_known::Rfc3339};
    if !is_fhir_date_time(value) {
        return None;
    }
    if value.contains('T') {
        let at = OffsetDateTime::parse(value, &Rfc3339)
            .ok()?
            .unix_timestamp();
        return Some((at, at.checked_add(1)?));
    }
    let start = |year: i32, month: u8, day: u8| {
        Date::from_calendar_date(year, Month::try_from(month).ok()?, day)
            .ok()
            .map(|d| d.midnight().assume_utc().unix_timestamp())
    };
    let mut parts = value.split('-');
    let year: i32 = parts.next()?.parse().ok()?;
    let month: Option<u8> = parts.next().map(str::parse).transpose().ok()?;
    let day: Option<u8> = parts.next().map(str::parse).transpose().ok()?;
    match (month, day) {
        (None, _) => Some((start(year, 1, 1)?, start(year.checked_add(1)?, 1, 1)?)),
        (Some(12), None) => Some((start(year, 12, 1)?, start(year.checked_add(1)?, 1, 1)?)),
        (Some(month), None) => Some((start(year, month, 1)?, start(year, month + 1, 1)?)),
        (Some(month), Some(day)) => {
            let first = start(year, month, day)?;
            Some((first, first.checked_add(86_400)?))
        }
    }
}

fn check_dates<'a>(
    dates: impl IntoIterator<Item = Option<&'a String>>,
) -> Result<(), &'static str> {
    if dates.into_iter().flatten().all(|d| is_fhir_date_time(d)) {
        Ok(())
    } else {
        Err("a date or dateTime element is not a valid FHIR date")
    }
}

fn period_dates(period: Option<&Period>) -> [Option<&String>; 2] {
    [
        period.and_then(|p| p.start.as_ref()),
        period.and_then(|p| p.end.as_ref()),
    ]
}

fn has_target(reference: &Reference) -> bool {
    reference
        .reference
        .as_deref()
        .is_some_and(|r| !r.is_empty())
        || reference.identifier.is_some()
        || reference.display.is_some()
}

fn concept_present(concept: &CodeableConcept) -> bool {
    !concept.coding.is_empty() || concept.text.as_deref().is_some_and(|t| !t.is_empty())
}

fn at_most_one(count: usize, reason: &'static str) -> Result<(), &'static str> {
    if count > 1 { Err(reason) } else { Ok(()) }
}

fn validate_specific(resource: &Resource) -> Result<(), &'static str> {
    match resource {
        Resource::Patient(p) => {
            at_most_one(
                usize::from(p.deceased_boolean.is_some())
                    + usize::from(p.deceased_date_time.is_some()),
                "at most one deceased[x]",
            )?;
            check_dates([p.birth_date.as_ref(), p.deceased_date_time.as_ref()])
        }
        Resource::Encounter(e) => {
            if e.class.code.is_none() {
                return Err("class needs a code");
            }
            check_dates(period_dates(e.period.as_ref()))
        }
        Resource::MedicationRequest(m) => {
            let count = usize::from(m.medication_codeable_concept.is_some())
                + usize::from(m.medication_reference.is_some());
            if count != 1 {
                return Err("exactly one medication[x] is required");
            }
            at_most_one(
                usize::from(m.reported_boolean.is_some())
                    + usize::from(m.reported_reference.is_some()),
                "at most one reported[x]",
            )?;
            if !has_target(&m.subject) {
                return Err("subject is required");
            }
            check_dates([m.authored_on.as_ref()])
        }
        Resource::Observation(o) => {
            if !concept_present(&o.code) {
                return Err("code is required");
            }
            at_most_one(
                [
                    o.value_quantity.is_some(),
                    o.value_codeable_concept.is_some(),
                    o.value_string.is_some(),
                    o.value_boolean.is_some(),
                    o.value_integer.is_some(),
                ]
                .into_iter()
                .filter(|b| *b)
                .count(),
                "at most one value[x]",
            )?;
            at_most_one(
                usize::from(o.effective_date_time.is_some())
                    + usize::from(o.effective_period.is_some()),
                "at most one effective[x]",
            )?;
            let [start, end] = period_dates(o.effective_period.as_ref());
            check_dates([
                o.effective_date_time.as_ref(),
                o.issued.as_ref(),
                start,
                end,
            ])
        }
        Resource::Condition(c) => {
            if !has_target(&c.subject) {
                return Err("subject is required");
            }
            check_dates([
                c.onset_date_time.as_ref(),
                c.abatement_date_time.as_ref(),
                c.recorded_date.as_ref(),
            ])
        }
        Resource::AllergyIntolerance(a) => {
            if !has_target(&a.patient) {
                return Err("patient is required");
            }
            if a.reaction.iter().any(|r| r.manifestation.is_empty()) {
                return Err("every reaction needs a manifestation");
            }
            check_dates([a.onset_date_time.as_ref(), a.recorded_date.as_ref()])
        }
        Resource::Immunization(i) => {
            if !has_target(&i.patient) || !concept_present(&i.vaccine_code) {
                return Err("patient and vaccineCode are required");
            }
            let count = usize::from(i.occurrence_date_time.is_some())
                + usize::from(i.occurrence_string.is_some());
            if count != 1 {
                return Err("exactly one occurrence[x] is required");
            }
            check_dates([i.occurrence_date_time.as_ref(), i.recorded.as_ref()])
        }
        Resource::Communication(c) => check_dates([c.sent.as_ref(), c.received.as_ref()]),
        Resource::ServiceRequest(s) => {
            if !has_target(&s.subject) {
                return Err("subject is required");
            }
            check_dates([s.occurrence_date_time.as_ref(), s.authored_on.as_ref()])
        }
        Resource::DiagnosticReport(r) => {
            if !concept_present(&r.code) {
                return Err("code is required");
            }
            check_dates([r.effective_date_time.as_ref(), r.issued.as_ref()])
        }
        Resource::DocumentReference(d) => {
            if d.content.is_empty() {
                return Err("at least one content is required");
            }
            if d.relates_to.iter().any(|r| !has_target(&r.target)) {
                return Err("relatesTo.target is required");
            }
            check_dates([d.date.as_ref()])
        }
        Resource::Consent(c) => c.check(),
        Resource::Appointment(a) => a.check(),
    }
}
