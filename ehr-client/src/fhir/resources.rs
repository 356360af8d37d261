//! The eleven FHIR R4 resource types behind clinical kinds 2110–2121 (MedicationRequest serves
//! two kinds), with standard elements only. Consent (kind 2105) is in `consent.rs`.

use serde::{Deserialize, Serialize};
use serde_with::skip_serializing_none;

use super::codes::*;
use super::datatypes::*;

/// Declares a resource struct with the `DomainResource` elements every resource shares.
macro_rules! resource {
    ($(#[$outer:meta])* pub struct $name:ident { $($body:tt)* }) => {
        $(#[$outer])*
        #[skip_serializing_none]
        #[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
        #[serde(rename_all = "camelCase", deny_unknown_fields)]
        pub struct $name {
            /// Logical id: stable across every version of the record.
            pub id: Option<String>,
            /// Version number and the action tag of this version.
            pub meta: Option<Meta>,
            /// Human-readable summary.
            pub text: Option<Narrative>,
            /// Standard extensions.
            #[serde(default, skip_serializing_if = "Vec::is_empty")]
            pub extension: Vec<Extension>,
            $($body)*
        }
    };
}
pub(super) use resource;

resource!(
    /// `Patient` (kind 2110): demographics.
    pub struct Patient {
        /// Business identifiers (MRN).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub identifier: Vec<Identifier>,
        /// Whether the record is in active use.
        pub active: Option<bool>,
        /// Names.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub name: Vec<HumanName>,
        /// Contact details.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub telecom: Vec<ContactPoint>,
        /// Administrative gender.
        pub gender: Option<AdministrativeGender>,
        /// Date of birth.
        pub birth_date: Option<String>,
        /// Deceased indicator.
        pub deceased_boolean: Option<bool>,
        /// Date of death.
        pub deceased_date_time: Option<String>,
        /// Addresses.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub address: Vec<Address>,
        /// Marital status.
        pub marital_status: Option<CodeableConcept>,
        /// Primary care providers.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub general_practitioner: Vec<Reference>,
    }
);

/// `Encounter.participant`.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EncounterParticipant {
    /// Role of the participant.
    #[serde(rename = "type", default, skip_serializing_if = "Vec::is_empty")]
    pub type_: Vec<CodeableConcept>,
    /// Period of participation.
    pub period: Option<Period>,
    /// The practitioner.
    pub individual: Option<Reference>,
}

/// `Encounter.diagnosis`.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EncounterDiagnosis {
    /// The diagnosis (a Condition).
    pub condition: Reference,
    /// Role of the diagnosis in the encounter.
    #[serde(rename = "use")]
    pub use_: Option<CodeableConcept>,
    /// Ranking of the diagnosis.
    pub rank: Option<u32>,
}

resource!(
    /// `Encounter` (kind 2111). Its clinical note is a DocumentReference with
    /// `context.encounter`, because R4 Encounter has no note element.
    pub struct Encounter {
        /// Business identifiers.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub identifier: Vec<Identifier>,
        /// Status.
        pub status: EncounterStatus,
        /// Classification (ambulatory, virtual, ...), a v3 ActCode coding.
        pub class: Coding,
        /// Specific type of encounter.
        #[serde(rename = "type", default, skip_serializing_if = "Vec::is_empty")]
        pub type_: Vec<CodeableConcept>,
        /// Service type.
        pub service_type: Option<CodeableConcept>,
        /// The patient.
        pub subject: Option<Reference>,
        /// Participants.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub participant: Vec<EncounterParticipant>,
        /// The appointments this encounter was scheduled as (`Reference(Appointment)`).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub appointment: Vec<Reference>,
        /// Start and end.
        pub period: Option<Period>,
        /// Coded reasons.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub reason_code: Vec<CodeableConcept>,
        /// Reasons as references (Condition, Observation).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub reason_reference: Vec<Reference>,
        /// Diagnoses relevant to the encounter.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub diagnosis: Vec<EncounterDiagnosis>,
        /// The organisation responsible.
        pub service_provider: Option<Reference>,
    }
);

/// `MedicationRequest.dispenseRequest`.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DispenseRequest {
    /// Time period the prescription is valid for.
    pub validity_period: Option<Period>,
    /// Number of refills authorised.
    pub number_of_repeats_allowed: Option<u32>,
    /// Amount to dispense per fill.
    pub quantity: Option<Quantity>,
    /// Days supply per fill.
    pub expected_supply_duration: Option<Quantity>,
    /// Intended dispenser.
    pub performer: Option<Reference>,
}

/// `MedicationRequest.substitution`.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Substitution {
    /// Whether substitution is allowed.
    pub allowed_boolean: Option<bool>,
    /// Why substitution should or should not happen.
    pub reason: Option<CodeableConcept>,
}

resource!(
    /// `MedicationRequest`: a medication-list entry (kind 2112) or a prescription order
    /// (kind 2120, `intent` order with a `dispenseRequest`).
    pub struct MedicationRequest {
        /// Business identifiers.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub identifier: Vec<Identifier>,
        /// Status.
        pub status: MedicationRequestStatus,
        /// Reason for the current status (why it was stopped).
        pub status_reason: Option<CodeableConcept>,
        /// proposal | plan | order | ...
        pub intent: RequestIntent,
        /// Type of request (inpatient, outpatient, community, discharge).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub category: Vec<CodeableConcept>,
        /// Priority.
        pub priority: Option<RequestPriority>,
        /// The medication as a code (RxNorm).
        pub medication_codeable_concept: Option<CodeableConcept>,
        /// The medication as a reference.
        pub medication_reference: Option<Reference>,
        /// Whether this is a secondary, reported record rather than a primary source of truth
        /// (a medication or supplement the patient reports taking: US Core's medication list).
        pub reported_boolean: Option<bool>,
        /// Who reported it.
        pub reported_reference: Option<Reference>,
        /// The patient.
        pub subject: Reference,
        /// Encounter of the request.
        pub encounter: Option<Reference>,
        /// When written.
        pub authored_on: Option<String>,
        /// Who wrote it.
        pub requester: Option<Reference>,
        /// Coded reasons.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub reason_code: Vec<CodeableConcept>,
        /// Condition or observation behind the request.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub reason_reference: Vec<Reference>,
        /// Notes.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub note: Vec<Annotation>,
        /// How to take it.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub dosage_instruction: Vec<Dosage>,
        /// Dispensing details of a prescription.
        pub dispense_request: Option<DispenseRequest>,
        /// Substitution rules.
        pub substitution: Option<Substitution>,
        /// The prescription this one replaces.
        pub prior_prescription: Option<Reference>,
    }
);

/// `Observation.referenceRange`.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReferenceRange {
    /// Low range.
    pub low: Option<Quantity>,
    /// High range.
    pub high: Option<Quantity>,
    /// Text description.
    pub text: Option<String>,
}

/// `Observation.component` (blood pressure systolic and diastolic, for example).
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ObservationComponent {
    /// What was measured.
    pub code: CodeableConcept,
    /// Quantity value.
    pub value_quantity: Option<Quantity>,
    /// Coded value.
    pub value_codeable_concept: Option<CodeableConcept>,
    /// Text value.
    pub value_string: Option<String>,
    /// Why the value is missing.
    pub data_absent_reason: Option<CodeableConcept>,
    /// High, low, normal.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub interpretation: Vec<CodeableConcept>,
    /// Reference ranges.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reference_range: Vec<ReferenceRange>,
}

resource!(
    /// `Observation` (kind 2113): vitals, lab analytes, social history.
    pub struct Observation {
        /// Business identifiers.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub identifier: Vec<Identifier>,
        /// The order this observation fulfils (ServiceRequest).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub based_on: Vec<Reference>,
        /// Status.
        pub status: ObservationStatus,
        /// vital-signs | laboratory | ...
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub category: Vec<CodeableConcept>,
        /// What was observed (LOINC).
        pub code: CodeableConcept,
        /// The patient.
        pub subject: Option<Reference>,
        /// Encounter of the observation.
        pub encounter: Option<Reference>,
        /// Clinically relevant time.
        pub effective_date_time: Option<String>,
        /// Clinically relevant period.
        pub effective_period: Option<Period>,
        /// When this version was made available.
        pub issued: Option<String>,
        /// Who is responsible.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub performer: Vec<Reference>,
        /// Quantity result.
        pub value_quantity: Option<Quantity>,
        /// Coded result.
        pub value_codeable_concept: Option<CodeableConcept>,
        /// Text result.
        pub value_string: Option<String>,
        /// Boolean result.
        pub value_boolean: Option<bool>,
        /// Integer result.
        pub value_integer: Option<i64>,
        /// Why the result is missing.
        pub data_absent_reason: Option<CodeableConcept>,
        /// High, low, normal.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub interpretation: Vec<CodeableConcept>,
        /// Comments.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub note: Vec<Annotation>,
        /// Body site.
        pub body_site: Option<CodeableConcept>,
        /// Method.
        pub method: Option<CodeableConcept>,
        /// Reference ranges.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub reference_range: Vec<ReferenceRange>,
        /// Related observations in a panel.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub has_member: Vec<Reference>,
        /// Observations this one derives from.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub derived_from: Vec<Reference>,
        /// Component results.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub component: Vec<ObservationComponent>,
    }
);

resource!(
    /// `Condition` (kind 2114): problems and diagnoses.
    pub struct Condition {
        /// Business identifiers.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub identifier: Vec<Identifier>,
        /// active | recurrence | relapse | inactive | remission | resolved.
        pub clinical_status: Option<CodeableConcept>,
        /// unconfirmed | provisional | differential | confirmed | refuted | entered-in-error.
        pub verification_status: Option<CodeableConcept>,
        /// problem-list-item | encounter-diagnosis.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub category: Vec<CodeableConcept>,
        /// Severity.
        pub severity: Option<CodeableConcept>,
        /// The condition (SNOMED CT, ICD-10).
        pub code: Option<CodeableConcept>,
        /// Anatomical location.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub body_site: Vec<CodeableConcept>,
        /// The patient.
        pub subject: Reference,
        /// Encounter where it was asserted.
        pub encounter: Option<Reference>,
        /// Onset.
        pub onset_date_time: Option<String>,
        /// Abatement.
        pub abatement_date_time: Option<String>,
        /// When recorded.
        pub recorded_date: Option<String>,
        /// Who recorded it.
        pub recorder: Option<Reference>,
        /// Who asserted it.
        pub asserter: Option<Reference>,
        /// Notes.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub note: Vec<Annotation>,
    }
);

/// `AllergyIntolerance.reaction`.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AllergyReaction {
    /// Specific substance.
    pub substance: Option<CodeableConcept>,
    /// Clinical symptoms.
    pub manifestation: Vec<CodeableConcept>,
    /// Description of the event.
    pub description: Option<String>,
    /// When the reaction began.
    pub onset: Option<String>,
    /// mild | moderate | severe.
    pub severity: Option<AllergyIntoleranceSeverity>,
}

resource!(
    /// `AllergyIntolerance` (kind 2115).
    pub struct AllergyIntolerance {
        /// Business identifiers.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub identifier: Vec<Identifier>,
        /// active | inactive | resolved.
        pub clinical_status: Option<CodeableConcept>,
        /// unconfirmed | confirmed | refuted | entered-in-error.
        pub verification_status: Option<CodeableConcept>,
        /// allergy | intolerance.
        #[serde(rename = "type")]
        pub type_: Option<AllergyIntoleranceType>,
        /// food | medication | environment | biologic.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub category: Vec<AllergyIntoleranceCategory>,
        /// low | high | unable-to-assess.
        pub criticality: Option<AllergyIntoleranceCriticality>,
        /// The substance.
        pub code: Option<CodeableConcept>,
        /// The patient.
        pub patient: Reference,
        /// Encounter where recorded.
        pub encounter: Option<Reference>,
        /// Onset.
        pub onset_date_time: Option<String>,
        /// When recorded.
        pub recorded_date: Option<String>,
        /// Who recorded it.
        pub recorder: Option<Reference>,
        /// Source of the information.
        pub asserter: Option<Reference>,
        /// Notes.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub note: Vec<Annotation>,
        /// Reactions.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub reaction: Vec<AllergyReaction>,
    }
);

/// `Immunization.performer`.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ImmunizationPerformer {
    /// Ordering or administering provider.
    pub function: Option<CodeableConcept>,
    /// Who performed the event.
    pub actor: Reference,
}

/// `Immunization.protocolApplied`.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProtocolApplied {
    /// Vaccine series name.
    pub series: Option<String>,
    /// Target diseases.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub target_disease: Vec<CodeableConcept>,
    /// Dose number within the series.
    pub dose_number_positive_int: Option<u32>,
    /// Recommended number of doses.
    pub series_doses_positive_int: Option<u32>,
}

resource!(
    /// `Immunization` (kind 2116).
    pub struct Immunization {
        /// Business identifiers.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub identifier: Vec<Identifier>,
        /// completed | entered-in-error | not-done.
        pub status: ImmunizationStatus,
        /// Why not done.
        pub status_reason: Option<CodeableConcept>,
        /// Vaccine (CVX).
        pub vaccine_code: CodeableConcept,
        /// The patient.
        pub patient: Reference,
        /// Encounter of administration.
        pub encounter: Option<Reference>,
        /// When administered.
        pub occurrence_date_time: Option<String>,
        /// When administered, as text.
        pub occurrence_string: Option<String>,
        /// When recorded.
        pub recorded: Option<String>,
        /// Whether the practice gave it (false: reported by the patient or another source).
        pub primary_source: Option<bool>,
        /// Lot number.
        pub lot_number: Option<String>,
        /// Vaccine expiration date.
        pub expiration_date: Option<String>,
        /// Body site.
        pub site: Option<CodeableConcept>,
        /// Route.
        pub route: Option<CodeableConcept>,
        /// Amount administered.
        pub dose_quantity: Option<Quantity>,
        /// Who performed it.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub performer: Vec<ImmunizationPerformer>,
        /// Notes.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub note: Vec<Annotation>,
        /// Protocol followed.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub protocol_applied: Vec<ProtocolApplied>,
    }
);

/// `Communication.payload`.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CommunicationPayload {
    /// Text of the message.
    pub content_string: Option<String>,
    /// An attached file.
    pub content_attachment: Option<Attachment>,
    /// A referenced resource.
    pub content_reference: Option<Reference>,
}

resource!(
    /// `Communication` (kind 2117): one message of a thread; the thread is `partOf` /
    /// `inResponseTo`.
    pub struct Communication {
        /// Business identifiers.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub identifier: Vec<Identifier>,
        /// The thread or event this message is part of.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub part_of: Vec<Reference>,
        /// The message this one replies to.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub in_response_to: Vec<Reference>,
        /// Status.
        pub status: EventStatus,
        /// Message category.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub category: Vec<CodeableConcept>,
        /// Priority.
        pub priority: Option<RequestPriority>,
        /// The patient.
        pub subject: Option<Reference>,
        /// Subject line.
        pub topic: Option<CodeableConcept>,
        /// Encounter.
        pub encounter: Option<Reference>,
        /// When sent.
        pub sent: Option<String>,
        /// When received.
        pub received: Option<String>,
        /// Recipients.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub recipient: Vec<Reference>,
        /// Sender.
        pub sender: Option<Reference>,
        /// Message content.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub payload: Vec<CommunicationPayload>,
        /// Notes.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub note: Vec<Annotation>,
    }
);

resource!(
    /// `ServiceRequest` (kind 2118): a lab, imaging or referral order.
    pub struct ServiceRequest {
        /// Business identifiers.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub identifier: Vec<Identifier>,
        /// Status.
        pub status: RequestStatus,
        /// proposal | plan | order | ...
        pub intent: RequestIntent,
        /// Classification.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub category: Vec<CodeableConcept>,
        /// Priority.
        pub priority: Option<RequestPriority>,
        /// What is being requested (LOINC, SNOMED CT).
        pub code: Option<CodeableConcept>,
        /// The patient.
        pub subject: Reference,
        /// Encounter of the request.
        pub encounter: Option<Reference>,
        /// When the service should occur.
        pub occurrence_date_time: Option<String>,
        /// When written.
        pub authored_on: Option<String>,
        /// Who ordered it.
        pub requester: Option<Reference>,
        /// Requested performer.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub performer: Vec<Reference>,
        /// Coded reasons.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub reason_code: Vec<CodeableConcept>,
        /// Reasons as references.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub reason_reference: Vec<Reference>,
        /// Notes.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub note: Vec<Annotation>,
        /// Instructions for the patient.
        pub patient_instruction: Option<String>,
    }
);

resource!(
    /// `DiagnosticReport` (kind 2119): its analytes are Observations listed in `result`.
    pub struct DiagnosticReport {
        /// Business identifiers.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub identifier: Vec<Identifier>,
        /// The order this report fulfils (ServiceRequest).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub based_on: Vec<Reference>,
        /// Status.
        pub status: DiagnosticReportStatus,
        /// Service category (LAB, RAD).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub category: Vec<CodeableConcept>,
        /// Name of the report (LOINC panel).
        pub code: CodeableConcept,
        /// The patient.
        pub subject: Option<Reference>,
        /// Encounter.
        pub encounter: Option<Reference>,
        /// Clinically relevant time.
        pub effective_date_time: Option<String>,
        /// When this version was released.
        pub issued: Option<String>,
        /// Responsible diagnostic service.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub performer: Vec<Reference>,
        /// Analyte Observations.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub result: Vec<Reference>,
        /// Clinical conclusion.
        pub conclusion: Option<String>,
        /// Coded conclusions.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub conclusion_code: Vec<CodeableConcept>,
        /// The report as a PDF or other attachment.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub presented_form: Vec<Attachment>,
    }
);

/// `DocumentReference.relatesTo`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DocumentRelatesTo {
    /// replaces | transforms | signs | appends.
    pub code: DocumentRelationshipType,
    /// The target document.
    pub target: Reference,
}

/// `DocumentReference.content`.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DocumentContent {
    /// Where to get the document (Blossom URL) or the text inline.
    pub attachment: Attachment,
    /// Format or content rules.
    pub format: Option<Coding>,
}

/// `DocumentReference.context`.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DocumentContext {
    /// The encounter this document belongs to: how notes and addenda attach to encounters.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub encounter: Vec<Reference>,
    /// Time of service documented.
    pub period: Option<Period>,
    /// Related resources.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub related: Vec<Reference>,
}

resource!(
    /// `DocumentReference` (kind 2121): clinical notes, addenda and encrypted files. A file's
    /// AES key travels in an extension of this resource, never as a top-level field.
    pub struct DocumentReference {
        /// Master version-independent identifier.
        pub master_identifier: Option<Identifier>,
        /// Other identifiers.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub identifier: Vec<Identifier>,
        /// current | superseded | entered-in-error.
        pub status: DocumentReferenceStatus,
        /// preliminary | final | amended | entered-in-error.
        pub doc_status: Option<String>,
        /// Kind of document (LOINC).
        #[serde(rename = "type")]
        pub type_: Option<CodeableConcept>,
        /// Categorisation.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub category: Vec<CodeableConcept>,
        /// The patient.
        pub subject: Option<Reference>,
        /// When created.
        pub date: Option<String>,
        /// Authors.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub author: Vec<Reference>,
        /// Who authenticated it.
        pub authenticator: Option<Reference>,
        /// Relationships to other documents (an addendum `appends` its note).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub relates_to: Vec<DocumentRelatesTo>,
        /// Human-readable description.
        pub description: Option<String>,
        /// Document content (at least one).
        pub content: Vec<DocumentContent>,
        /// Clinical context.
        pub context: Option<DocumentContext>,
    }
);

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]

    use super::*;
    use crate::fhir::Resource;

    #[test]
    fn an_encounter_names_its_appointment_and_validates() {
        let json = r#"{"resourceType":"Encounter","id":"enc-1","status":"finished",
            "class":{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"AMB"},
            "appointment":[{"reference":"Appointment/appt-1"}]}"#;
        let resource = Resource::from_json(json).unwrap();
        let Resource::Encounter(encounter) = &resource else {
            panic!("not an encounter")
        };
        assert_eq!(
            encounter.appointment,
            vec![Reference::to("Appointment", "appt-1")]
        );
        assert!(
            resource
                .to_json()
                .contains(r#""appointment":[{"reference":"Appointment/appt-1"}]"#)
        );
        // None named: the element is left out.
        let plain = Resource::Encounter(Encounter {
            appointment: Vec::new(),
            ..encounter.clone()
        });
        plain.validate().unwrap();
        assert!(!plain.to_json().contains("appointment"));
    }
}
