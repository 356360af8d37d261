//! The search parameters each served type supports (the list plus what US Core 6.1
//! requires for these resources), and the `_include` values: one table drives matching, sorting
//! and the CapabilityStatement.

use ehr_client::fhir::ResourceType;

/// How a parameter compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamKind {
    /// `[system]|[code]`, `code`, `system|`, `|code`.
    Token,
    /// A date with an optional `eq`/`gt`/`ge`/`lt`/`le` prefix.
    Date,
    /// Starts with, ignoring case.
    String,
    /// `Type/id` or `id`.
    Reference,
}

impl ParamKind {
    /// The CapabilityStatement `type`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Token => "token",
            Self::Date => "date",
            Self::String => "string",
            Self::Reference => "reference",
        }
    }
}

/// One search parameter of one resource type.
#[derive(Debug, Clone, Copy)]
pub struct ParamDef {
    /// Its name.
    pub name: &'static str,
    /// How it compares.
    pub kind: ParamKind,
    /// Where its values are: dotted element paths (arrays are walked through).
    pub paths: &'static [&'static str],
}

const fn p(name: &'static str, kind: ParamKind, paths: &'static [&'static str]) -> ParamDef {
    ParamDef { name, kind, paths }
}

use ParamKind::{Date, Reference, String as Text, Token};

const PATIENT: &[ParamDef] = &[
    p("identifier", Token, &["identifier"]),
    p("name", Text, &["name"]),
    p("family", Text, &["name.family"]),
    p("given", Text, &["name.given"]),
    p("birthdate", Date, &["birthDate"]),
    p("gender", Token, &["gender"]),
];
const ENCOUNTER: &[ParamDef] = &[
    p("patient", Reference, &["subject"]),
    p("subject", Reference, &["subject"]),
    p("identifier", Token, &["identifier"]),
    p("date", Date, &["period"]),
    p("status", Token, &["status"]),
    p("class", Token, &["class"]),
    p("type", Token, &["type.coding"]),
];
const OBSERVATION: &[ParamDef] = &[
    p("patient", Reference, &["subject"]),
    p("subject", Reference, &["subject"]),
    p("category", Token, &["category.coding"]),
    p("code", Token, &["code.coding"]),
    p("date", Date, &["effectiveDateTime", "effectivePeriod"]),
    p("status", Token, &["status"]),
];
const CONDITION: &[ParamDef] = &[
    p("patient", Reference, &["subject"]),
    p("subject", Reference, &["subject"]),
    p("category", Token, &["category.coding"]),
    p("code", Token, &["code.coding"]),
    p("clinical-status", Token, &["clinicalStatus.coding"]),
    p("onset-date", Date, &["onsetDateTime"]),
    p("recorded-date", Date, &["recordedDate"]),
    p("abatement-date", Date, &["abatementDateTime"]),
    p("encounter", Reference, &["encounter"]),
];
const MEDICATION_REQUEST: &[ParamDef] = &[
    p("patient", Reference, &["subject"]),
    p("subject", Reference, &["subject"]),
    p("status", Token, &["status"]),
    p("intent", Token, &["intent"]),
    p("authoredon", Date, &["authoredOn"]),
    p("date", Date, &["authoredOn"]),
    p("encounter", Reference, &["encounter"]),
    p("code", Token, &["medicationCodeableConcept.coding"]),
];
const ALLERGY_INTOLERANCE: &[ParamDef] = &[
    p("patient", Reference, &["patient"]),
    p("clinical-status", Token, &["clinicalStatus.coding"]),
    p("code", Token, &["code.coding"]),
    p("date", Date, &["recordedDate"]),
];
const IMMUNIZATION: &[ParamDef] = &[
    p("patient", Reference, &["patient"]),
    p("date", Date, &["occurrenceDateTime"]),
    p("status", Token, &["status"]),
    p("vaccine-code", Token, &["vaccineCode.coding"]),
];
const SERVICE_REQUEST: &[ParamDef] = &[
    p("patient", Reference, &["subject"]),
    p("subject", Reference, &["subject"]),
    p("category", Token, &["category.coding"]),
    p("code", Token, &["code.coding"]),
    p("status", Token, &["status"]),
    p("intent", Token, &["intent"]),
    p("authored", Date, &["authoredOn"]),
    p("date", Date, &["occurrenceDateTime", "authoredOn"]),
];
const DIAGNOSTIC_REPORT: &[ParamDef] = &[
    p("patient", Reference, &["subject"]),
    p("subject", Reference, &["subject"]),
    p("category", Token, &["category.coding"]),
    p("code", Token, &["code.coding"]),
    p("date", Date, &["effectiveDateTime"]),
    p("status", Token, &["status"]),
    p("result", Reference, &["result"]),
];
const DOCUMENT_REFERENCE: &[ParamDef] = &[
    p("patient", Reference, &["subject"]),
    p("subject", Reference, &["subject"]),
    p("category", Token, &["category.coding"]),
    p("type", Token, &["type.coding"]),
    p("date", Date, &["date"]),
    p("period", Date, &["context.period"]),
    p("status", Token, &["status"]),
    p("encounter", Reference, &["context.encounter"]),
];

/// The type-specific parameters of a served type (`_id` and `_lastUpdated` apply to all).
pub fn params_of(resource_type: ResourceType) -> &'static [ParamDef] {
    match resource_type {
        ResourceType::Patient => PATIENT,
        ResourceType::Encounter => ENCOUNTER,
        ResourceType::Observation => OBSERVATION,
        ResourceType::Condition => CONDITION,
        ResourceType::MedicationRequest => MEDICATION_REQUEST,
        ResourceType::AllergyIntolerance => ALLERGY_INTOLERANCE,
        ResourceType::Immunization => IMMUNIZATION,
        ResourceType::ServiceRequest => SERVICE_REQUEST,
        ResourceType::DiagnosticReport => DIAGNOSTIC_REPORT,
        ResourceType::DocumentReference => DOCUMENT_REFERENCE,
        _ => &[],
    }
}

/// The `_include` values each type supports.
pub fn includes_of(resource_type: ResourceType) -> &'static [&'static str] {
    match resource_type {
        ResourceType::DiagnosticReport => &["DiagnosticReport:result"],
        // Medications are inline codes here, so this includes nothing; US Core asks for it.
        ResourceType::MedicationRequest => &["MedicationRequest:medication"],
        _ => &[],
    }
}
