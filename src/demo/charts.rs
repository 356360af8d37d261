//! Synthetic charts for the demo practice: visits over several years with vitals, problems,
//! medications (one of them later stopped), allergies, immunizations and a lab order with its
//! result. Every resource is labelled as test data (`meta.security` HTEST) and every name says
//! it is synthetic.

use ehr_client::demo::{new_id, synthetic_meta};
use ehr_client::fhir::*;
use ehr_client::kinds::ClinicalKind;

const LOINC: &str = "http://loinc.org";
const SNOMED: &str = "http://snomed.info/sct";
const RXNORM: &str = "http://www.nlm.nih.gov/research/umls/rxnorm";
const CVX: &str = "http://hl7.org/fhir/sid/cvx";
const OBSERVATION_CATEGORY: &str = "http://terminology.hl7.org/CodeSystem/observation-category";
const CONDITION_CLINICAL: &str = "http://terminology.hl7.org/CodeSystem/condition-clinical";

/// One synthetic person.
#[derive(Debug, Clone, Copy)]
pub struct Person {
    /// Given name.
    pub given: &'static str,
    /// Family name.
    pub family: &'static str,
    /// Gender.
    pub gender: AdministrativeGender,
    /// Birth date.
    pub birth_date: &'static str,
}

/// The ten demo patients. The first is the guardian of the last two, who are children.
pub const PATIENTS: [Person; 10] = [
    person(
        "Maria",
        "Demo-Alvarez",
        AdministrativeGender::Female,
        "1986-04-12",
    ),
    person(
        "James",
        "Demo-Okafor",
        AdministrativeGender::Male,
        "1958-11-03",
    ),
    person(
        "Aiko",
        "Demo-Tanaka",
        AdministrativeGender::Female,
        "1972-02-27",
    ),
    person(
        "Lars",
        "Demo-Nilsen",
        AdministrativeGender::Male,
        "1990-07-19",
    ),
    person(
        "Priya",
        "Demo-Raman",
        AdministrativeGender::Female,
        "1965-09-08",
    ),
    person(
        "Samuel",
        "Demo-Cohen",
        AdministrativeGender::Male,
        "1979-12-30",
    ),
    person(
        "Fatima",
        "Demo-Haddad",
        AdministrativeGender::Female,
        "1949-05-21",
    ),
    person(
        "Diego",
        "Demo-Fuentes",
        AdministrativeGender::Male,
        "2001-03-14",
    ),
    person(
        "Lucia",
        "Demo-Alvarez",
        AdministrativeGender::Female,
        "2015-08-02",
    ),
    person(
        "Mateo",
        "Demo-Alvarez",
        AdministrativeGender::Male,
        "2019-01-25",
    ),
];

const fn person(
    given: &'static str,
    family: &'static str,
    gender: AdministrativeGender,
    birth_date: &'static str,
) -> Person {
    Person {
        given,
        family,
        gender,
        birth_date,
    }
}

/// Whether patient `index` is a child (under the guardian's care).
pub fn is_child(index: usize) -> bool {
    index >= 8
}

fn category(code: &str, display: &str) -> Vec<CodeableConcept> {
    vec![CodeableConcept::coded(OBSERVATION_CATEGORY, code, display)]
}

fn text(value: &str) -> CodeableConcept {
    CodeableConcept {
        text: Some(value.to_owned()),
        ..CodeableConcept::default()
    }
}

/// A record to publish: its kind and resource.
pub type Record = (ClinicalKind, Resource);

/// Builds one patient's chart.
struct Chart {
    patient_id: String,
    index: usize,
    records: Vec<Record>,
}

impl Chart {
    fn patient_ref(&self) -> Reference {
        Reference::to("Patient", &self.patient_id)
    }

    fn push(&mut self, kind: ClinicalKind, resource: impl Into<Resource>) {
        self.records.push((kind, resource.into()));
    }

    /// A small deterministic variation per patient and visit.
    fn wobble(&self, visit: usize, spread: u32) -> f64 {
        let mixed = (self.index as u32)
            .wrapping_mul(2_654_435_761)
            .wrapping_add((visit as u32).wrapping_mul(40_503));
        f64::from((mixed >> 7) % (2 * spread + 1)) - f64::from(spread)
    }

    fn vital(
        &mut self,
        encounter: &Reference,
        when: &str,
        (loinc, display): (&str, &str),
        quantity: Quantity,
    ) {
        let observation = Observation {
            id: Some(new_id()),
            meta: synthetic_meta(),
            status: ObservationStatus::Final,
            category: category("vital-signs", "Vital Signs"),
            code: CodeableConcept::coded(LOINC, loinc, display),
            subject: Some(self.patient_ref()),
            encounter: Some(encounter.clone()),
            effective_date_time: Some(when.to_owned()),
            value_quantity: Some(quantity),
            ..Observation::default()
        };
        self.push(ClinicalKind::Observation, observation);
    }

    fn visit(&mut self, visit: usize, year: u32, reason: (&str, &str)) -> Reference {
        let day = 3 + (self.index as u32 + visit as u32) % 24;
        let start = format!("{year}-03-{day:02}T09:00:00-05:00");
        let encounter_id = new_id();
        let encounter = Encounter {
            id: Some(encounter_id.clone()),
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
            subject: Some(self.patient_ref()),
            period: Some(Period {
                start: Some(start.clone()),
                end: Some(format!("{year}-03-{day:02}T09:30:00-05:00")),
            }),
            reason_code: vec![CodeableConcept::coded(SNOMED, reason.0, reason.1)],
            ..Encounter::default()
        };
        self.push(ClinicalKind::Encounter, encounter);
        let reference = Reference::to("Encounter", &encounter_id);
        let when = format!("{year}-03-{day:02}T09:10:00-05:00");
        let child = is_child(self.index);
        let age_years = f64::from(year.saturating_sub(self.birth_year()));
        if !child {
            let systolic = 124.0 + self.wobble(visit, 10) + 2.0 * visit as f64;
            let diastolic = 80.0 + self.wobble(visit + 7, 6);
            let bp = Observation {
                id: Some(new_id()),
                meta: synthetic_meta(),
                status: ObservationStatus::Final,
                category: category("vital-signs", "Vital Signs"),
                code: CodeableConcept::coded(LOINC, "85354-9", "Blood pressure panel"),
                subject: Some(self.patient_ref()),
                encounter: Some(reference.clone()),
                effective_date_time: Some(when.clone()),
                component: vec![
                    ObservationComponent {
                        code: CodeableConcept::coded(LOINC, "8480-6", "Systolic blood pressure"),
                        value_quantity: Some(Quantity::ucum(systolic, "mmHg", "mm[Hg]")),
                        ..ObservationComponent::default()
                    },
                    ObservationComponent {
                        code: CodeableConcept::coded(LOINC, "8462-4", "Diastolic blood pressure"),
                        value_quantity: Some(Quantity::ucum(diastolic, "mmHg", "mm[Hg]")),
                        ..ObservationComponent::default()
                    },
                ],
                ..Observation::default()
            };
            self.push(ClinicalKind::Observation, bp);
        }
        let (weight, height) = if child {
            (8.0 + 2.6 * age_years, 75.0 + 6.5 * age_years)
        } else {
            (
                72.0 + self.wobble(visit + 3, 9) + 0.6 * visit as f64,
                168.0 + self.wobble(1, 12),
            )
        };
        self.vital(
            &reference,
            &when,
            ("29463-7", "Body weight"),
            Quantity::ucum(weight.round(), "kg", "kg"),
        );
        self.vital(
            &reference,
            &when,
            ("8302-2", "Body height"),
            Quantity::ucum(height.round(), "cm", "cm"),
        );
        self.vital(
            &reference,
            &when,
            ("8867-4", "Heart rate"),
            Quantity::ucum(72.0 + self.wobble(visit + 11, 8), "/min", "/min"),
        );
        reference
    }

    fn birth_year(&self) -> u32 {
        PATIENTS
            .get(self.index)
            .and_then(|p| p.birth_date.get(..4))
            .and_then(|y| y.parse().ok())
            .unwrap_or(1980)
    }

    fn condition(&mut self, (code, display): (&str, &str), onset: &str, status: &str) {
        let condition = Condition {
            id: Some(new_id()),
            meta: synthetic_meta(),
            clinical_status: Some(CodeableConcept::coded(CONDITION_CLINICAL, status, status)),
            code: Some(CodeableConcept::coded(SNOMED, code, display)),
            subject: self.patient_ref(),
            onset_date_time: Some(onset.to_owned()),
            ..Condition::default()
        };
        self.push(ClinicalKind::Condition, condition);
    }

    fn medication(
        &mut self,
        (code, display): (&str, &str),
        sig: &str,
        authored: &str,
    ) -> MedicationRequest {
        let medication = MedicationRequest {
            id: Some(new_id()),
            meta: synthetic_meta(),
            status: MedicationRequestStatus::Active,
            intent: RequestIntent::Order,
            medication_codeable_concept: Some(CodeableConcept::coded(RXNORM, code, display)),
            subject: self.patient_ref(),
            authored_on: Some(authored.to_owned()),
            dosage_instruction: vec![Dosage {
                text: Some(sig.to_owned()),
                ..Dosage::default()
            }],
            ..MedicationRequest::default()
        };
        self.push(ClinicalKind::Medication, medication.clone());
        medication
    }

    fn immunization(&mut self, (code, display): (&str, &str), date: &str) {
        let immunization = Immunization {
            id: Some(new_id()),
            meta: synthetic_meta(),
            status: ImmunizationStatus::Completed,
            vaccine_code: CodeableConcept::coded(CVX, code, display),
            patient: self.patient_ref(),
            occurrence_date_time: Some(date.to_owned()),
            primary_source: Some(true),
            ..Immunization::default()
        };
        self.push(ClinicalKind::Immunization, immunization);
    }

    fn allergy(
        &mut self,
        system: &str,
        (code, display): (&str, &str),
        category: AllergyIntoleranceCategory,
    ) {
        let allergy = AllergyIntolerance {
            id: Some(new_id()),
            meta: synthetic_meta(),
            type_: Some(AllergyIntoleranceType::Allergy),
            category: vec![category],
            criticality: Some(AllergyIntoleranceCriticality::High),
            code: Some(CodeableConcept::coded(system, code, display)),
            patient: self.patient_ref(),
            reaction: vec![AllergyReaction {
                manifestation: vec![CodeableConcept::coded(SNOMED, "247472004", "Hives")],
                severity: Some(AllergyIntoleranceSeverity::Moderate),
                ..AllergyReaction::default()
            }],
            ..AllergyIntolerance::default()
        };
        self.push(ClinicalKind::AllergyIntolerance, allergy);
    }

    fn lab(
        &mut self,
        encounter: &Reference,
        year: u32,
        (code, display): (&str, &str),
        analyte: (&str, &str, f64, &str),
    ) {
        let order_id = new_id();
        let result_id = new_id();
        let order = ServiceRequest {
            id: Some(order_id.clone()),
            meta: synthetic_meta(),
            status: RequestStatus::Completed,
            intent: RequestIntent::Order,
            code: Some(CodeableConcept::coded(LOINC, code, display)),
            subject: self.patient_ref(),
            encounter: Some(encounter.clone()),
            authored_on: Some(format!("{year}-03-10")),
            ..ServiceRequest::default()
        };
        self.push(ClinicalKind::ServiceRequest, order);
        let result = Observation {
            id: Some(result_id.clone()),
            meta: synthetic_meta(),
            based_on: vec![Reference::to("ServiceRequest", &order_id)],
            status: ObservationStatus::Final,
            category: category("laboratory", "Laboratory"),
            code: CodeableConcept::coded(LOINC, analyte.0, analyte.1),
            subject: Some(self.patient_ref()),
            effective_date_time: Some(format!("{year}-03-11T08:00:00Z")),
            value_quantity: Some(Quantity::ucum(analyte.2, analyte.3, analyte.3)),
            ..Observation::default()
        };
        self.push(ClinicalKind::Observation, result);
        let report = DiagnosticReport {
            id: Some(new_id()),
            meta: synthetic_meta(),
            based_on: vec![Reference::to("ServiceRequest", &order_id)],
            status: DiagnosticReportStatus::Final,
            code: CodeableConcept::coded(LOINC, code, display),
            subject: Some(self.patient_ref()),
            issued: Some(format!("{year}-03-12T08:00:00Z")),
            result: vec![Reference::to("Observation", &result_id)],
            conclusion: Some("Synthetic result, reviewed with the patient.".to_owned()),
            ..DiagnosticReport::default()
        };
        self.push(ClinicalKind::DiagnosticReport, report);
    }
}

/// Patient `index`'s chart, about the patient whose FHIR id is `patient_id`: the Patient
/// resource first, then the records in the order they were written.
pub fn chart(index: usize, patient_id: &str) -> Vec<Record> {
    let mut chart = Chart {
        patient_id: patient_id.to_owned(),
        index,
        records: Vec::new(),
    };
    let who = PATIENTS.get(index).copied().unwrap_or(PATIENTS[0]);
    let patient = Patient {
        id: Some(patient_id.to_owned()),
        meta: synthetic_meta(),
        active: Some(true),
        name: vec![HumanName {
            use_: Some("official".to_owned()),
            text: Some(format!(
                "{} {} (synthetic demo patient)",
                who.given, who.family
            )),
            family: Some(who.family.to_owned()),
            given: vec![who.given.to_owned()],
            ..HumanName::default()
        }],
        gender: Some(who.gender),
        birth_date: Some(who.birth_date.to_owned()),
        // A reserved documentation domain (RFC 2606): reminders to it reach nobody.
        telecom: vec![ContactPoint {
            system: Some("email".to_owned()),
            value: Some(format!(
                "{}.{}@example.org",
                who.given.to_lowercase(),
                who.family.to_lowercase()
            )),
            use_: Some("home".to_owned()),
            rank: None,
        }],
        ..Patient::default()
    };
    chart.push(ClinicalKind::Patient, patient);
    let child = is_child(index);
    let years: &[u32] = if child {
        &[2022, 2024, 2026]
    } else {
        &[2019, 2021, 2023, 2025, 2026]
    };
    let reason = if child {
        ("410620009", "Well child visit")
    } else {
        ("38341003", "Hypertension follow-up")
    };
    let mut last_visit = None;
    for (visit, year) in years.iter().enumerate() {
        last_visit = Some(chart.visit(visit, *year, reason));
        chart.immunization(
            ("140", "Influenza, seasonal, injectable, preservative free"),
            &format!("{year}-10-15"),
        );
    }
    if child {
        chart.condition(("195967001", "Asthma"), "2021-06", "active");
        chart.allergy(
            SNOMED,
            ("256349002", "Peanut"),
            AllergyIntoleranceCategory::Food,
        );
        chart.medication(
            ("745679", "albuterol 0.09 MG/ACTUAT Metered Dose Inhaler"),
            "2 puffs every 4 hours as needed",
            "2021-06-10",
        );
    } else {
        chart.condition(("38341003", "Hypertension"), "2019-03", "active");
        chart.medication(
            ("314076", "lisinopril 10 MG Oral Tablet"),
            "1 tablet by mouth once daily",
            "2019-03-10",
        );
        if index % 3 == 1 {
            chart.condition(
                ("44054006", "Type 2 diabetes mellitus"),
                "2021-03",
                "active",
            );
            chart.medication(
                ("860975", "metformin 500 MG Oral Tablet"),
                "1 tablet twice daily with meals",
                "2021-03-12",
            );
        }
        chart.condition(
            ("195662009", "Acute viral pharyngitis"),
            "2023-03",
            "resolved",
        );
        chart.immunization(("115", "Tdap"), "2021-03-15");
        if index.is_multiple_of(2) {
            chart.allergy(
                RXNORM,
                ("7980", "penicillin G"),
                AllergyIntoleranceCategory::Medication,
            );
        }
    }
    // A course that was stopped: version 2 of the same record, a status update.
    let mut course = chart.medication(
        ("308182", "amoxicillin 500 MG Oral Capsule"),
        "1 capsule three times daily for 10 days",
        "2025-03-10",
    );
    course.status = MedicationRequestStatus::Stopped;
    let mut stopped = Resource::MedicationRequest(course);
    stopped.set_version(2, RecordAction::StatusUpdate);
    chart.records.push((ClinicalKind::Medication, stopped));
    if let Some(visit) = last_visit {
        if child {
            chart.lab(
                &visit,
                2026,
                ("58410-2", "CBC panel - Blood by Automated count"),
                ("718-7", "Hemoglobin [Mass/volume] in Blood", 12.8, "g/dL"),
            );
        } else {
            chart.lab(
                &visit,
                2026,
                ("4548-4", "Hemoglobin A1c/Hemoglobin.total in Blood"),
                (
                    "4548-4",
                    "Hemoglobin A1c/Hemoglobin.total in Blood",
                    5.4 + f64::from((index % 4) as u32) * 0.6,
                    "%",
                ),
            );
        }
    }
    chart.records
}

/// A message of a thread with the practice about `patient_id`; `reply_to` links it.
pub fn message(
    patient_id: &str,
    topic: &str,
    body: &str,
    sent: &str,
    reply_to: Option<&str>,
) -> Resource {
    Communication {
        id: Some(new_id()),
        meta: synthetic_meta(),
        status: EventStatus::Completed,
        subject: Some(Reference::to("Patient", patient_id)),
        topic: Some(text(topic)),
        sent: Some(sent.to_owned()),
        in_response_to: reply_to
            .map(|id| vec![Reference::to("Communication", id)])
            .unwrap_or_default(),
        payload: vec![CommunicationPayload {
            content_string: Some(body.to_owned()),
            ..CommunicationPayload::default()
        }],
        ..Communication::default()
    }
    .into()
}

/// A one-page PDF that says it is synthetic (the demo's encrypted document).
pub fn synthetic_pdf(name: &str) -> Vec<u8> {
    let line = format!("SYNTHETIC DEMO DOCUMENT - lab report for {name} - not a real patient");
    let line = line.replace(['(', ')', '\\'], " ");
    let stream = format!("BT /F1 12 Tf 40 760 Td ({line}) Tj ET");
    let objects = [
        "<< /Type /Catalog /Pages 2 0 R >>".to_owned(),
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_owned(),
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>".to_owned(),
        format!("<< /Length {} >>\nstream\n{stream}\nendstream", stream.len()),
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>".to_owned(),
    ];
    let mut pdf = b"%PDF-1.4\n".to_vec();
    let mut offsets = Vec::new();
    for (n, body) in objects.iter().enumerate() {
        offsets.push(pdf.len());
        pdf.extend_from_slice(format!("{} 0 obj\n{body}\nendobj\n", n + 1).as_bytes());
    }
    let xref = pdf.len();
    pdf.extend_from_slice(
        format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes(),
    );
    for offset in offsets {
        pdf.extend_from_slice(format!("{offset:010} 00000 n \n").as_bytes());
    }
    pdf.extend_from_slice(
        format!(
            "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
            objects.len() + 1
        )
        .as_bytes(),
    );
    pdf
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

    use super::*;

    #[test]
    fn every_chart_is_synthetic_valid_fhir_with_a_stopped_medication() {
        for index in 0..PATIENTS.len() {
            let records = chart(index, &format!("patient-{index}"));
            assert!(records.len() > 20, "patient {index}: {}", records.len());
            for (kind, resource) in &records {
                assert_eq!(kind.resource_type(), resource.resource_type());
                let json = resource.to_json();
                assert!(json.contains("HTEST"), "{json}");
                Resource::from_json(&json).unwrap();
            }
            assert!(
                records
                    .iter()
                    .any(|(_, r)| r.action() == RecordAction::StatusUpdate)
            );
        }
    }

    #[test]
    fn the_pdf_names_itself_synthetic() {
        let pdf = synthetic_pdf("Maria Demo-Alvarez");
        assert!(pdf.starts_with(b"%PDF-1.4"));
        assert!(pdf.ends_with(b"%%EOF\n"));
        assert!(String::from_utf8_lossy(&pdf).contains("SYNTHETIC DEMO DOCUMENT"));
    }
}
