//! Synthetic FHIR content: Patients, Encounters, Conditions and Observations marked as test
//! data (`HTEST`), padded with free text to about the record size asked for.

use ehr_client::fhir as f;
use ehr_fhir_gateway::served::instant;
use ehr_tests::bench::Rng;

const LOINC: &str = "http://loinc.org";
const SNOMED: &str = "http://snomed.info/sct";
const UCUM: &str = "http://unitsofmeasure.org";
const CATEGORY: &str = "http://terminology.hl7.org/CodeSystem/observation-category";

/// A measurement and the range its values are drawn from.
#[derive(Clone, Copy)]
struct Analyte {
    loinc: &'static str,
    display: &'static str,
    unit: &'static str,
    low: f64,
    high: f64,
    decimals: i32,
    vital_sign: bool,
}

const fn analyte(
    loinc: &'static str,
    display: &'static str,
    unit: &'static str,
    (low, high, decimals): (f64, f64, i32),
    vital_sign: bool,
) -> Analyte {
    Analyte {
        loinc,
        display,
        unit,
        low,
        high,
        decimals,
        vital_sign,
    }
}

const VITAL: bool = true;
const LAB: bool = false;

const HEART_RATE: Analyte = analyte("8867-4", "Heart rate", "/min", (52.0, 110.0, 0), VITAL);

#[rustfmt::skip]
const ANALYTES: [Analyte; 18] = [
    HEART_RATE,
    analyte("8480-6", "Systolic blood pressure", "mm[Hg]", (100.0, 170.0, 0), VITAL),
    analyte("8462-4", "Diastolic blood pressure", "mm[Hg]", (60.0, 105.0, 0), VITAL),
    analyte("8310-5", "Body temperature", "Cel", (36.0, 38.6, 1), VITAL),
    analyte("9279-1", "Respiratory rate", "/min", (11.0, 22.0, 0), VITAL),
    analyte("59408-5", "Oxygen saturation in Arterial blood by Pulse oximetry", "%", (90.0, 100.0, 0), VITAL),
    analyte("29463-7", "Body weight", "kg", (48.0, 130.0, 1), VITAL),
    analyte("8302-2", "Body height", "cm", (150.0, 195.0, 1), VITAL),
    analyte("39156-5", "Body mass index (BMI) [Ratio]", "kg/m2", (18.0, 38.0, 1), VITAL),
    analyte("2345-7", "Glucose [Mass/volume] in Serum or Plasma", "mg/dL", (70.0, 210.0, 0), LAB),
    analyte("4548-4", "Hemoglobin A1c/Hemoglobin.total in Blood", "%", (4.6, 10.5, 1), LAB),
    analyte("2093-3", "Cholesterol [Mass/volume] in Serum or Plasma", "mg/dL", (130.0, 290.0, 0), LAB),
    analyte("2085-9", "HDL Cholesterol", "mg/dL", (30.0, 90.0, 0), LAB),
    analyte("2571-8", "Triglyceride [Mass/volume] in Serum or Plasma", "mg/dL", (50.0, 400.0, 0), LAB),
    analyte("2160-0", "Creatinine [Mass/volume] in Serum or Plasma", "mg/dL", (0.5, 2.2, 2), LAB),
    analyte("718-7", "Hemoglobin [Mass/volume] in Blood", "g/dL", (10.0, 17.5, 1), LAB),
    analyte("2823-3", "Potassium [Moles/volume] in Serum or Plasma", "mmol/L", (3.2, 5.6, 1), LAB),
    analyte("2951-2", "Sodium [Moles/volume] in Serum or Plasma", "mmol/L", (131.0, 148.0, 0), LAB),
];

/// (SNOMED CT code, display)
const CONDITIONS: [(&str, &str); 8] = [
    ("38341003", "Hypertensive disorder"),
    ("44054006", "Diabetes mellitus type 2"),
    ("55822004", "Hyperlipidemia"),
    ("195967001", "Asthma"),
    ("35489007", "Depressive disorder"),
    ("13645005", "Chronic obstructive lung disease"),
    ("69896004", "Rheumatoid arthritis"),
    ("40055000", "Chronic sinusitis"),
];

const ENCOUNTER_TYPES: [(&str, &str); 4] = [
    ("185349003", "Encounter for check up"),
    ("390906007", "Follow-up encounter"),
    ("185345009", "Encounter for symptom"),
    ("439740005", "Postoperative follow-up visit"),
];

#[rustfmt::skip]
const WORDS: [&str; 24] = [
    "patient", "reports", "no", "new", "symptoms", "since", "last", "visit", "values", "reviewed",
    "with", "the", "patient", "trend", "stable", "over", "past", "months", "continue", "current",
    "plan", "recheck", "at", "follow-up",
];

#[rustfmt::skip]
const FAMILY: [&str; 8] = [
    "Testperson", "Sample", "Example", "Synthetic", "Demo", "Fictive", "Placeholder", "Mock",
];

const GIVEN: [&str; 8] = [
    "Synthia", "Alex", "Jordan", "Robin", "Casey", "Morgan", "Riley", "Sam",
];

/// Free text of about `len` characters.
fn filler(rng: &mut Rng, len: usize) -> String {
    let mut text = String::with_capacity(len + 16);
    while text.len() < len {
        if !text.is_empty() {
            text.push(' ');
        }
        text.push_str(rng.pick(&WORDS).copied().unwrap_or("note"));
    }
    text.truncate(len);
    text
}

/// What padding a resource needs to reach `target` bytes of JSON.
fn padding(resource: &f::Resource, target: usize, overhead: usize) -> usize {
    target.saturating_sub(resource.to_json().len() + overhead)
}

/// A note of padding, if the resource needs one to reach `target` bytes.
fn note(resource: f::Resource, target: usize, rng: &mut Rng) -> Vec<f::Annotation> {
    let pad = padding(&resource, target, r#","note":[{"text":""}]"#.len());
    if pad == 0 {
        return Vec::new();
    }
    vec![f::Annotation {
        text: filler(rng, pad),
        ..f::Annotation::default()
    }]
}

fn synthetic_meta() -> Option<f::Meta> {
    Some(f::Meta {
        version_id: Some("1".to_owned()),
        security: vec![f::Coding::new(
            "http://terminology.hl7.org/CodeSystem/v3-ActReason",
            "HTEST",
            "test health data",
        )],
        ..f::Meta::default()
    })
}

/// `YYYY-MM-DDThh:mm:ssZ` of Unix seconds.
fn date_time(at: u64) -> String {
    instant(i64::try_from(at).unwrap_or(i64::MAX))
}

pub fn patient(logical: &str, rng: &mut Rng) -> f::Resource {
    let birth = 1930 + rng.below(75);
    f::Patient {
        id: Some(logical.to_owned()),
        meta: synthetic_meta(),
        active: Some(true),
        name: vec![f::HumanName {
            use_: Some("official".to_owned()),
            family: rng.pick(&FAMILY).map(|s| (*s).to_owned()),
            given: rng
                .pick(&GIVEN)
                .map(|s| (*s).to_owned())
                .into_iter()
                .collect(),
            ..f::HumanName::default()
        }],
        gender: Some(if rng.below(2) == 0 {
            f::AdministrativeGender::Female
        } else {
            f::AdministrativeGender::Male
        }),
        birth_date: Some(format!(
            "{birth:04}-{:02}-{:02}",
            1 + rng.below(12),
            1 + rng.below(28)
        )),
        ..f::Patient::default()
    }
    .into()
}

/// An ambulatory visit with its summary as the narrative; returns its id and the resource.
pub fn encounter(logical: &str, at: u64, rng: &mut Rng, target: usize) -> (String, f::Resource) {
    let id = ehr_client::demo::new_id();
    let (code, display) = rng
        .pick(&ENCOUNTER_TYPES)
        .copied()
        .unwrap_or(("185349003", "Encounter for check up"));
    let (reason, reason_display) = rng
        .pick(&CONDITIONS)
        .copied()
        .unwrap_or(("38341003", "Hypertensive disorder"));
    let mut encounter = f::Encounter {
        id: Some(id.clone()),
        meta: synthetic_meta(),
        status: f::EncounterStatus::Finished,
        class: f::Coding::new(
            "http://terminology.hl7.org/CodeSystem/v3-ActCode",
            "AMB",
            "ambulatory",
        ),
        type_: vec![f::CodeableConcept::coded(SNOMED, code, display)],
        subject: Some(f::Reference::to("Patient", logical)),
        period: Some(f::Period {
            start: Some(date_time(at)),
            end: Some(date_time(at + 1800)),
        }),
        reason_code: vec![f::CodeableConcept::coded(SNOMED, reason, reason_display)],
        ..f::Encounter::default()
    };
    let wrapper = r#","text":{"status":"generated","div":"<div xmlns=\"http://www.w3.org/1999/xhtml\"></div>"}"#;
    let pad = padding(&encounter.clone().into(), target, wrapper.len());
    if pad > 0 {
        encounter.text = Some(f::Narrative {
            status: "generated".to_owned(),
            div: format!(
                "<div xmlns=\"http://www.w3.org/1999/xhtml\">{}</div>",
                filler(rng, pad)
            ),
        });
    }
    (id, encounter.into())
}

pub fn condition(
    logical: &str,
    encounter: &str,
    at: u64,
    rng: &mut Rng,
    target: usize,
) -> f::Resource {
    let (code, display) = rng
        .pick(&CONDITIONS)
        .copied()
        .unwrap_or(("38341003", "Hypertensive disorder"));
    let active = rng.below(4) != 0;
    let recorded = date_time(at);
    let mut condition = f::Condition {
        id: Some(ehr_client::demo::new_id()),
        meta: synthetic_meta(),
        clinical_status: Some(f::CodeableConcept::coded(
            "http://terminology.hl7.org/CodeSystem/condition-clinical",
            if active { "active" } else { "resolved" },
            if active { "Active" } else { "Resolved" },
        )),
        verification_status: Some(f::CodeableConcept::coded(
            "http://terminology.hl7.org/CodeSystem/condition-ver-status",
            "confirmed",
            "Confirmed",
        )),
        category: vec![f::CodeableConcept::coded(
            "http://terminology.hl7.org/CodeSystem/condition-category",
            "problem-list-item",
            "Problem List Item",
        )],
        code: Some(f::CodeableConcept::coded(SNOMED, code, display)),
        subject: f::Reference::to("Patient", logical),
        encounter: (!encounter.is_empty()).then(|| f::Reference::to("Encounter", encounter)),
        onset_date_time: Some(recorded.get(..10).unwrap_or_default().to_owned()),
        recorded_date: Some(recorded),
        ..f::Condition::default()
    };
    condition.note = note(condition.clone().into(), target, rng);
    condition.into()
}

pub fn observation(
    logical: &str,
    encounter: &str,
    at: u64,
    rng: &mut Rng,
    target: usize,
) -> f::Resource {
    let a = rng.pick(&ANALYTES).copied().unwrap_or(HEART_RATE);
    let (category, category_display) = if a.vital_sign {
        ("vital-signs", "Vital Signs")
    } else {
        ("laboratory", "Laboratory")
    };
    let value = rng.value(a.low, a.high, a.decimals);
    let mut observation = f::Observation {
        id: Some(ehr_client::demo::new_id()),
        meta: synthetic_meta(),
        status: f::ObservationStatus::Final,
        category: vec![f::CodeableConcept::coded(
            CATEGORY,
            category,
            category_display,
        )],
        code: f::CodeableConcept::coded(LOINC, a.loinc, a.display),
        subject: Some(f::Reference::to("Patient", logical)),
        encounter: (!encounter.is_empty()).then(|| f::Reference::to("Encounter", encounter)),
        effective_date_time: Some(date_time(at)),
        issued: Some(date_time(at + 600)),
        value_quantity: Some(f::Quantity {
            value: Some(value),
            unit: Some(a.unit.to_owned()),
            system: Some(UCUM.to_owned()),
            code: Some(a.unit.to_owned()),
            ..f::Quantity::default()
        }),
        reference_range: vec![f::ReferenceRange {
            low: Some(f::Quantity::ucum(a.low, a.unit, a.unit)),
            high: Some(f::Quantity::ucum(a.high, a.unit, a.unit)),
            text: None,
        }],
        ..f::Observation::default()
    };
    observation.note = note(observation.clone().into(), target, rng);
    observation.into()
}
