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

/// One `_include` value: `[type]:[param]` follows the references of a reference parameter of
/// the searched type to the resources of `target` in the same patient's chart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IncludeDef {
    /// The value, `[type]:[param]`.
    pub name: &'static str,
    /// The reference parameter followed (its keys hold the referenced ids).
    pub param: &'static str,
    /// The type it reaches; `None` for one this gateway never serves (Medication: medications
    /// are inline codes here, so `MedicationRequest:medication` includes nothing, but US Core
    /// asks for it).
    pub target: Option<ResourceType>,
}

const fn i(name: &'static str, param: &'static str, target: ResourceType) -> IncludeDef {
    IncludeDef {
        name,
        param,
        target: Some(target),
    }
}

use ResourceType as T;

const ENCOUNTER_INCLUDES: &[IncludeDef] = &[
    i("Encounter:patient", "patient", T::Patient),
    i("Encounter:subject", "subject", T::Patient),
];
const OBSERVATION_INCLUDES: &[IncludeDef] = &[
    i("Observation:patient", "patient", T::Patient),
    i("Observation:subject", "subject", T::Patient),
];
const CONDITION_INCLUDES: &[IncludeDef] = &[
    i("Condition:patient", "patient", T::Patient),
    i("Condition:subject", "subject", T::Patient),
    i("Condition:encounter", "encounter", T::Encounter),
];
const MEDICATION_REQUEST_INCLUDES: &[IncludeDef] = &[
    IncludeDef {
        name: "MedicationRequest:medication",
        param: "medication",
        target: None,
    },
    i("MedicationRequest:patient", "patient", T::Patient),
    i("MedicationRequest:subject", "subject", T::Patient),
    i("MedicationRequest:encounter", "encounter", T::Encounter),
];
const ALLERGY_INTOLERANCE_INCLUDES: &[IncludeDef] =
    &[i("AllergyIntolerance:patient", "patient", T::Patient)];
const IMMUNIZATION_INCLUDES: &[IncludeDef] = &[i("Immunization:patient", "patient", T::Patient)];
const SERVICE_REQUEST_INCLUDES: &[IncludeDef] = &[
    i("ServiceRequest:patient", "patient", T::Patient),
    i("ServiceRequest:subject", "subject", T::Patient),
];
const DIAGNOSTIC_REPORT_INCLUDES: &[IncludeDef] = &[
    i("DiagnosticReport:result", "result", T::Observation),
    i("DiagnosticReport:patient", "patient", T::Patient),
    i("DiagnosticReport:subject", "subject", T::Patient),
];
const DOCUMENT_REFERENCE_INCLUDES: &[IncludeDef] = &[
    i("DocumentReference:patient", "patient", T::Patient),
    i("DocumentReference:subject", "subject", T::Patient),
    i("DocumentReference:encounter", "encounter", T::Encounter),
];

/// The `_include` values each type supports: US Core's (`MedicationRequest:medication`) and
/// every reference parameter of the type whose target is served.
pub fn include_defs(resource_type: ResourceType) -> &'static [IncludeDef] {
    match resource_type {
        ResourceType::Encounter => ENCOUNTER_INCLUDES,
        ResourceType::Observation => OBSERVATION_INCLUDES,
        ResourceType::Condition => CONDITION_INCLUDES,
        ResourceType::MedicationRequest => MEDICATION_REQUEST_INCLUDES,
        ResourceType::AllergyIntolerance => ALLERGY_INTOLERANCE_INCLUDES,
        ResourceType::Immunization => IMMUNIZATION_INCLUDES,
        ResourceType::ServiceRequest => SERVICE_REQUEST_INCLUDES,
        ResourceType::DiagnosticReport => DIAGNOSTIC_REPORT_INCLUDES,
        ResourceType::DocumentReference => DOCUMENT_REFERENCE_INCLUDES,
        _ => &[],
    }
}

/// The `_include` values of a type, as the CapabilityStatement lists them.
pub fn includes_of(resource_type: ResourceType) -> Vec<&'static str> {
    include_defs(resource_type).iter().map(|d| d.name).collect()
}

/// The one `_revinclude` value: every served record's Provenance ([`crate::provenance`]), as
/// US Core names it on each of its resources.
pub const REVINCLUDE_PROVENANCE: &str = "Provenance:target";
