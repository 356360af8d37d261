//! Synthetic sample resources, one per clinical kind, for the `ehr demo` verbs and interop tests.
//!
//! Every resource is labelled as test data in `meta.security` (HL7 `HTEST`), and no name or
//! identifier belongs to a real person.

use crate::fhir::*;
use crate::kinds::ClinicalKind;

const LOINC: &str = "http://loinc.org";
const SNOMED: &str = "http://snomed.info/sct";
const RXNORM: &str = "http://www.nlm.nih.gov/research/umls/rxnorm";

/// `meta` of a synthetic resource: version 1, labelled as test data (HL7 `HTEST`).
pub fn synthetic_meta() -> Option<Meta> {
    Some(Meta {
        version_id: Some("1".to_owned()),
        security: vec![Coding::new(
            "http://terminology.hl7.org/CodeSystem/v3-ActReason",
            "HTEST",
            "test health data",
        )],
        ..Meta::default()
    })
}

/// A new random logical id.
pub fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// A synthetic ambulatory Encounter for `patient_id`.
pub fn encounter(patient_id: &str) -> Resource {
    Encounter {
        id: Some(new_id()),
        meta: synthetic_meta(),
        status: EncounterStatus::Finished,
        class: Coding::new(
            "http://terminology.hl7.org/CodeSystem/v3-ActCode",
            "AMB",
            "ambulatory",
        ),
        type_: vec![CodeableConcept::coded(
            SNOMED,
            "185349003",
            "Encounter for check up",
        )],
        subject: Some(Reference::to("Patient", patient_id)),
        period: Some(Period {
            start: Some("2026-03-02T09:00:00-05:00".to_owned()),
            end: Some("2026-03-02T09:30:00-05:00".to_owned()),
        }),
        reason_code: vec![CodeableConcept::coded(SNOMED, "38341003", "Hypertension")],
        ..Encounter::default()
    }
    .into()
}

/// A synthetic message (Communication) to `patient_id` saying `text`.
pub fn message(patient_id: &str, text: &str) -> Resource {
    Communication {
        id: Some(new_id()),
        meta: synthetic_meta(),
        status: EventStatus::Completed,
        subject: Some(Reference::to("Patient", patient_id)),
        topic: Some(CodeableConcept {
            text: Some("Blood pressure follow-up".to_owned()),
            ..CodeableConcept::default()
        }),
        sent: Some("2026-03-03T14:00:00Z".to_owned()),
        payload: vec![CommunicationPayload {
            content_string: Some(text.to_owned()),
            ..CommunicationPayload::default()
        }],
        ..Communication::default()
    }
    .into()
}

/// A synthetic active Consent of `patient_id` to share the chart through the FHIR gateway with
/// the facilities whose FHIR client ids are `facilities` (each an `IRCP` actor identified in
/// [`FHIR_CLIENT_SYSTEM`]), for treatment: [`Consent::fhir_sharing`] labelled as test data.
/// With no facility it permits no sharing.
pub fn fhir_sharing_consent(patient_id: &str, facilities: &[&str]) -> Resource {
    let mut consent = Consent::fhir_sharing(patient_id, facilities, "2026-03-02T09:40:00-05:00");
    if let Resource::Consent(c) = &mut consent {
        c.meta = synthetic_meta();
    }
    consent
}

/// A synthetic opt-in of `patient_id` to emergency access: [`Consent::emergency_access`]
/// labelled as test data.
pub fn emergency_access_consent(patient_id: &str) -> Resource {
    let mut consent = Consent::emergency_access(patient_id, "2026-01-05");
    if let Resource::Consent(c) = &mut consent {
        c.meta = synthetic_meta();
    }
    consent
}

/// One synthetic resource for every clinical kind, all about `patient_id`, linked the way a
/// chart links them (note to encounter, result to order).
pub fn one_of_each_kind(patient_id: &str) -> Vec<(ClinicalKind, Resource)> {
    let patient_ref = || Reference::to("Patient", patient_id);
    let encounter = encounter(patient_id);
    let encounter_id = encounter.id().unwrap_or_default().to_owned();
    let encounter_ref = || Reference::to("Encounter", &encounter_id);
    let order_id = new_id();
    let analyte_id = new_id();

    let patient = Patient {
        id: Some(patient_id.to_owned()),
        meta: synthetic_meta(),
        active: Some(true),
        name: vec![HumanName {
            use_: Some("official".to_owned()),
            family: Some("Testperson".to_owned()),
            given: vec!["Synthia".to_owned()],
            ..HumanName::default()
        }],
        gender: Some(AdministrativeGender::Female),
        birth_date: Some("1984-07-12".to_owned()),
        ..Patient::default()
    };
    let medication = MedicationRequest {
        id: Some(new_id()),
        meta: synthetic_meta(),
        status: MedicationRequestStatus::Active,
        intent: RequestIntent::Plan,
        medication_codeable_concept: Some(CodeableConcept::coded(
            RXNORM,
            "314076",
            "lisinopril 10 MG Oral Tablet",
        )),
        subject: patient_ref(),
        dosage_instruction: vec![Dosage {
            text: Some("1 tablet by mouth once daily".to_owned()),
            ..Dosage::default()
        }],
        ..MedicationRequest::default()
    };
    let prescription = MedicationRequest {
        id: Some(new_id()),
        meta: synthetic_meta(),
        status: MedicationRequestStatus::Active,
        intent: RequestIntent::Order,
        medication_codeable_concept: medication.medication_codeable_concept.clone(),
        subject: patient_ref(),
        encounter: Some(encounter_ref()),
        authored_on: Some("2026-03-02".to_owned()),
        dosage_instruction: medication.dosage_instruction.clone(),
        dispense_request: Some(DispenseRequest {
            number_of_repeats_allowed: Some(3),
            quantity: Some(Quantity::ucum(30.0, "tablet", "{tbl}")),
            expected_supply_duration: Some(Quantity::ucum(30.0, "days", "d")),
            ..DispenseRequest::default()
        }),
        ..MedicationRequest::default()
    };
    let blood_pressure = Observation {
        id: Some(new_id()),
        meta: synthetic_meta(),
        status: ObservationStatus::Final,
        category: vec![CodeableConcept::coded(
            "http://terminology.hl7.org/CodeSystem/observation-category",
            "vital-signs",
            "Vital Signs",
        )],
        code: CodeableConcept::coded(LOINC, "85354-9", "Blood pressure panel"),
        subject: Some(patient_ref()),
        encounter: Some(encounter_ref()),
        effective_date_time: Some("2026-03-02T09:10:00-05:00".to_owned()),
        component: vec![
            ObservationComponent {
                code: CodeableConcept::coded(LOINC, "8480-6", "Systolic blood pressure"),
                value_quantity: Some(Quantity::ucum(138.0, "mmHg", "mm[Hg]")),
                ..ObservationComponent::default()
            },
            ObservationComponent {
                code: CodeableConcept::coded(LOINC, "8462-4", "Diastolic blood pressure"),
                value_quantity: Some(Quantity::ucum(88.0, "mmHg", "mm[Hg]")),
                ..ObservationComponent::default()
            },
        ],
        ..Observation::default()
    };
    let condition = Condition {
        id: Some(new_id()),
        meta: synthetic_meta(),
        clinical_status: Some(CodeableConcept::coded(
            "http://terminology.hl7.org/CodeSystem/condition-clinical",
            "active",
            "Active",
        )),
        code: Some(CodeableConcept::coded(SNOMED, "38341003", "Hypertension")),
        subject: patient_ref(),
        onset_date_time: Some("2024-05".to_owned()),
        ..Condition::default()
    };
    let allergy = AllergyIntolerance {
        id: Some(new_id()),
        meta: synthetic_meta(),
        type_: Some(AllergyIntoleranceType::Allergy),
        category: vec![AllergyIntoleranceCategory::Medication],
        criticality: Some(AllergyIntoleranceCriticality::High),
        code: Some(CodeableConcept::coded(RXNORM, "7980", "penicillin G")),
        patient: patient_ref(),
        reaction: vec![AllergyReaction {
            manifestation: vec![CodeableConcept::coded(SNOMED, "247472004", "Hives")],
            severity: Some(AllergyIntoleranceSeverity::Moderate),
            ..AllergyReaction::default()
        }],
        ..AllergyIntolerance::default()
    };
    let immunization = Immunization {
        id: Some(new_id()),
        meta: synthetic_meta(),
        status: ImmunizationStatus::Completed,
        vaccine_code: CodeableConcept::coded(
            "http://hl7.org/fhir/sid/cvx",
            "140",
            "Influenza, seasonal, injectable, preservative free",
        ),
        patient: patient_ref(),
        occurrence_date_time: Some("2025-10-15".to_owned()),
        primary_source: Some(true),
        ..Immunization::default()
    };
    let message = message(patient_id, "Please log your blood pressure twice a week.");
    let order = ServiceRequest {
        id: Some(order_id.clone()),
        meta: synthetic_meta(),
        status: RequestStatus::Completed,
        intent: RequestIntent::Order,
        code: Some(CodeableConcept::coded(
            LOINC,
            "24323-8",
            "Comprehensive metabolic panel",
        )),
        subject: patient_ref(),
        encounter: Some(encounter_ref()),
        authored_on: Some("2026-03-02".to_owned()),
        ..ServiceRequest::default()
    };
    let potassium = Observation {
        id: Some(analyte_id.clone()),
        meta: synthetic_meta(),
        based_on: vec![Reference::to("ServiceRequest", &order_id)],
        status: ObservationStatus::Final,
        category: vec![CodeableConcept::coded(
            "http://terminology.hl7.org/CodeSystem/observation-category",
            "laboratory",
            "Laboratory",
        )],
        code: CodeableConcept::coded(
            LOINC,
            "2823-3",
            "Potassium [Moles/volume] in Serum or Plasma",
        ),
        subject: Some(patient_ref()),
        value_quantity: Some(Quantity::ucum(4.2, "mmol/L", "mmol/L")),
        ..Observation::default()
    };
    let report = DiagnosticReport {
        id: Some(new_id()),
        meta: synthetic_meta(),
        based_on: vec![Reference::to("ServiceRequest", &order_id)],
        status: DiagnosticReportStatus::Final,
        code: CodeableConcept::coded(LOINC, "24323-8", "Comprehensive metabolic panel"),
        subject: Some(patient_ref()),
        issued: Some("2026-03-04T08:00:00Z".to_owned()),
        result: vec![Reference::to("Observation", &analyte_id)],
        conclusion: Some("Within normal limits.".to_owned()),
        ..DiagnosticReport::default()
    };
    let note = DocumentReference {
        id: Some(new_id()),
        meta: synthetic_meta(),
        status: DocumentReferenceStatus::Current,
        type_: Some(CodeableConcept::coded(LOINC, "11506-3", "Progress note")),
        subject: Some(patient_ref()),
        date: Some("2026-03-02T09:35:00-05:00".to_owned()),
        content: vec![DocumentContent {
            attachment: Attachment {
                content_type: Some("text/plain; charset=utf-8".to_owned()),
                // "Synthetic note: BP above goal; continue lisinopril, recheck in 4 weeks."
                data: Some("U3ludGhldGljIG5vdGU6IEJQIGFib3ZlIGdvYWw7IGNvbnRpbnVlIGxpc2lub3ByaWwsIHJlY2hlY2sgaW4gNCB3ZWVrcy4=".to_owned()),
                ..Attachment::default()
            },
            format: None,
        }],
        context: Some(DocumentContext {
            encounter: vec![encounter_ref()],
            ..DocumentContext::default()
        }),
        ..DocumentReference::default()
    };

    vec![
        (ClinicalKind::Patient, patient.into()),
        (ClinicalKind::Encounter, encounter),
        (ClinicalKind::Medication, medication.into()),
        (ClinicalKind::Observation, blood_pressure.into()),
        (ClinicalKind::Condition, condition.into()),
        (ClinicalKind::AllergyIntolerance, allergy.into()),
        (ClinicalKind::Immunization, immunization.into()),
        (ClinicalKind::Message, message),
        (ClinicalKind::ServiceRequest, order.into()),
        (ClinicalKind::DiagnosticReport, report.into()),
        (ClinicalKind::Prescription, prescription.into()),
        (ClinicalKind::Document, note.into()),
        (ClinicalKind::Observation, potassium.into()),
        (
            ClinicalKind::Consent,
            fhir_sharing_consent(patient_id, &["synthetic-facility-1"]),
        ),
        (ClinicalKind::Appointment, appointment(patient_id)),
    ]
}

/// A synthetic booked sick visit of `patient_id` with Dr. Demo Rivera, a week from a fixed day.
pub fn appointment(patient_id: &str) -> Resource {
    let slot = crate::schedule::FreeSlot {
        slot: "demo-rivera.1893661200".to_owned(),
        schedule: "demo-rivera".to_owned(),
        clinician: "Dr. Demo Rivera (synthetic)".to_owned(),
        start: 1_893_661_200,
        end: 1_893_662_100,
        visit_type: "sick".to_owned(),
    };
    let visit = crate::schedule::VisitType {
        code: "sick".to_owned(),
        label: "Sick visit".to_owned(),
        minutes: 15,
        bookable_online: true,
    };
    let mut resource =
        crate::schedule::booking::request(patient_id, &slot, &visit, None, 1_893_056_400);
    if let Resource::Appointment(a) = &mut resource {
        a.meta = synthetic_meta();
        a.status = crate::fhir::AppointmentStatus::Booked;
    }
    resource
}

/// Three heart-rate Observations of `patient_id` at different times: a date, a period and a
/// date-time with an offset (what a sort on date has to order; 2021, 2023, 2025).
pub fn dated_heart_rates(patient_id: &str) -> Vec<Resource> {
    [
        serde_json::json!({"effectiveDateTime": "2021-01-05"}),
        serde_json::json!({"effectivePeriod": {"start": "2023-07-01T08:00:00Z", "end": "2023-07-01T09:00:00Z"}}),
        serde_json::json!({"effectiveDateTime": "2025-02-10T12:00:00+01:00"}),
    ]
    .into_iter()
    .filter_map(|effective| {
        let mut observation = serde_json::json!({
            "resourceType": "Observation",
            "id": new_id(),
            "meta": synthetic_meta(),
            "status": "final",
            "category": [{"coding": [{
                "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                "code": "vital-signs"
            }]}],
            "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4", "display": "Heart rate"}]},
            "subject": {"reference": format!("Patient/{patient_id}")},
            "valueQuantity": {"value": 64, "unit": "/min", "system": "http://unitsofmeasure.org", "code": "/min"},
        });
        observation.as_object_mut()?.extend(effective.as_object()?.clone());
        serde_json::from_value(observation).ok()
    })
    .collect()
}
