#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! Each builder's FHIR is signed as the doctor through `api::member::sign_record` (so
//! `ehr-client` accepts it for its kind) and read back folded from the member's chart.

use ehr_client::keys::Identity;
use ehr_client::nostr::prelude::{Event, Timestamp};
use ehr_client::practice::{self, State};
use ehr_client::roster::Role;
use ehr_client::rotation::{self, RosterChange};
use serde_json::{Value, json};

use super::*;
use crate::api::member;

const PENICILLIN: &str = r#"{"resourceType":"AllergyIntolerance","id":"pen","meta":{"versionId":"1"},
  "clinicalStatus":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical","code":"active"}]},
  "criticality":"high","code":{"coding":[{"system":"http://www.nlm.nih.gov/research/umls/rxnorm","code":"7980","display":"penicillin G"}]},
  "patient":{"reference":"Patient/p1"}}"#;

const LIPIDS: &str = r#"{"loinc":"57698-3","display":"Lipid panel with direct LDL - Serum or Plasma","kind":"lab","source":"x",
  "analytes":[{"display":"Cholesterol [Mass/volume] in Serum or Plasma","high":200.0,"loinc":"2093-3","low":0.0,"unit":"mg/dL"},
  {"display":"Cholesterol in HDL [Mass/volume] in Serum or Plasma","high":200.0,"loinc":"2085-9","low":40.0,"unit":"mg/dL"},
  {"display":"Hemoglobin","high":null,"low":null,"loinc":"718-7","unit":"g/dL","ranges":[{"high":17.5,"low":13.5,"sex":"male","unit":"g/dL"},{"high":15.5,"low":12.0,"sex":"female","unit":"g/dL"}]}]}"#;

struct Clinic {
    root: Identity,
    doctor: Identity,
    patient: Identity,
    events: Vec<Event>,
}

/// A practice with a doctor and one patient whose chart has demographics (born `birth`).
fn clinic(birth: &str, extra: &[&str]) -> Clinic {
    let (root, doctor, patient) = (
        Identity::generate(),
        Identity::generate(),
        Identity::generate(),
    );
    let now = Timestamp::now();
    let (mut events, _) = rotation::genesis(&root, None, now).unwrap();
    let state = State {
        root: root.public_key(),
        events: &events,
        actor: &root,
        now,
    };
    let change = RosterChange::Add {
        pubkey: doctor.public_key(),
        role: Role::Doctor,
        name: Some("Dr Test".to_owned()),
    };
    events.extend(
        practice::change_roster(&state, &change)
            .unwrap()
            .into_events(),
    );
    let state = State {
        root: root.public_key(),
        events: &events,
        actor: &doctor,
        now,
    };
    events.extend(
        practice::enrol_patient(&state, &patient.public_key())
            .unwrap()
            .into_events(),
    );
    let mut clinic = Clinic {
        root,
        doctor,
        patient,
        events,
    };
    let demographics = json!({
        "resourceType": "Patient", "id": "p1", "meta": {"versionId": "1"},
        "gender": "female", "birthDate": birth,
        "name": [{"given": ["Test"], "family": "Patient"}],
    });
    clinic.sign(&demographics.to_string());
    for resource in extra {
        clinic.sign(resource);
    }
    clinic
}

impl Clinic {
    /// Sign `resource` as the doctor (refused if `ehr-client` refuses it for its kind): the
    /// event's kind.
    fn sign(&mut self, resource: &str) -> u16 {
        let event = member::sign_record(
            &self.root.public_key().to_hex(),
            &self.doctor,
            &serde_json::to_string(&self.events).unwrap(),
            &self.patient.public_key().to_hex(),
            resource,
            // One second later than the last, so versions fold in order.
            (Timestamp::now().as_secs() + self.events.len() as u64) as f64,
        )
        .unwrap();
        let event: Event = serde_json::from_str(&event).unwrap();
        self.events.push(event.clone());
        event.kind.as_u16()
    }

    fn chart(&self) -> String {
        member::chart(
            &self.root.public_key().to_hex(),
            &self.doctor,
            &self.patient.public_key().to_hex(),
            &serde_json::to_string(&self.events).unwrap(),
        )
        .unwrap()
    }

    /// The folded resources of `resource_type`.
    fn folded(&self, resource_type: &str) -> Vec<Value> {
        let chart: Value = serde_json::from_str(&self.chart()).unwrap();
        chart["bundle"]["entry"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["resource"].clone())
            .filter(|r| r["resourceType"] == resource_type)
            .collect()
    }
}

fn parse(json: &str) -> Value {
    serde_json::from_str(json).unwrap()
}

#[test]
fn a_problem_from_the_picker_is_an_active_icd10cm_condition_of_kind_2114() {
    let mut c = clinic("1986-04-12", &[]);
    let form = json!({"icd10": "J45.909", "display": "Unspecified asthma, uncomplicated",
        "onset": "2026-11-01", "recorded": "2026-12-07"});
    let condition = problem(&c.chart(), &form.to_string()).unwrap();
    assert_eq!(c.sign(&condition), 2114);
    let folded = &c.folded("Condition")[0];
    assert_eq!(folded["code"]["coding"][0]["system"], systems::ICD10CM);
    assert_eq!(folded["code"]["coding"][0]["code"], "J45.909");
    assert_eq!(folded["clinicalStatus"]["coding"][0]["code"], "active");
    assert_eq!(folded["subject"]["reference"], "Patient/p1");
    assert_eq!(folded["onsetDateTime"], "2026-11-01");
}

#[test]
fn a_free_text_problem_has_code_text_only() {
    let c = clinic("1986-04-12", &[]);
    let form = json!({"text": "Fear of flying", "recorded": "2026-12-07"});
    let condition = parse(&problem(&c.chart(), &form.to_string()).unwrap());
    assert_eq!(condition["code"], json!({"text": "Fear of flying"}));
}

#[test]
fn a_malformed_icd10cm_code_is_refused() {
    let c = clinic("1986-04-12", &[]);
    let form = json!({"icd10": "asthma", "display": "x", "recorded": "2026-12-07"});
    assert_eq!(
        problem(&c.chart(), &form.to_string()),
        Err(ApiError::Field(
            "ICD-10-CM code",
            "is not an ICD-10-CM code"
        ))
    );
}

#[test]
fn resolving_then_reactivating_a_problem_are_its_next_versions() {
    let mut c = clinic("1986-04-12", &[]);
    let form = json!({"text": "Low back pain", "recorded": "2026-12-01"});
    c.sign(&problem(&c.chart(), &form.to_string()).unwrap());
    let current = c.folded("Condition")[0].to_string();
    let resolved = problem_change(&current, "resolve", "2026-12-07").unwrap();
    c.sign(&resolved);
    let folded = c.folded("Condition")[0].clone();
    assert_eq!(folded["meta"]["versionId"], "2");
    assert_eq!(folded["clinicalStatus"]["coding"][0]["code"], "resolved");
    assert_eq!(folded["abatementDateTime"], "2026-12-07");
    c.sign(&problem_change(&folded.to_string(), "reactivate", "").unwrap());
    let folded = &c.folded("Condition")[0];
    assert_eq!(folded["meta"]["versionId"], "3");
    assert_eq!(folded["clinicalStatus"]["coding"][0]["code"], "active");
    assert_eq!(folded["abatementDateTime"], Value::Null);
}

#[test]
fn a_problem_entered_in_error_is_a_deletion_version_the_chart_hides() {
    let mut c = clinic("1986-04-12", &[]);
    let form = json!({"text": "Wrong patient", "recorded": "2026-12-01"});
    c.sign(&problem(&c.chart(), &form.to_string()).unwrap());
    let current = c.folded("Condition")[0].to_string();
    let error = parse(&problem_change(&current, "entered-in-error", "").unwrap());
    assert_eq!(error["meta"]["versionId"], "2");
    assert_eq!(
        error["verificationStatus"]["coding"][0]["code"],
        "entered-in-error"
    );
    assert_eq!(error["clinicalStatus"], Value::Null);
    c.sign(&error.to_string());
    assert!(c.folded("Condition").is_empty());
}

fn amoxicillin() -> Value {
    json!({"rxcui": "308182", "display": "Amoxicillin 250 MG Oral Capsule", "dose": "1",
        "doseUnit": "capsule", "route": "oral", "frequency": "TID", "days": "10",
        "quantity": "30", "authoredOn": "2026-12-07"})
}

#[test]
fn a_prescription_is_kind_2120_with_structured_dosage_and_dispense_request() {
    let mut c = clinic("1986-04-12", &[]);
    let request = prescription(&c.chart(), &amoxicillin().to_string()).unwrap();
    assert_eq!(c.sign(&request), 2120);
    let m = &c.folded("MedicationRequest")[0];
    assert_eq!(m["intent"], "order");
    assert_eq!(
        m["medicationCodeableConcept"]["coding"][0]["code"],
        "308182"
    );
    let dosage = &m["dosageInstruction"][0];
    assert_eq!(
        dosage["text"],
        "1 capsule by mouth three times daily for 10 days"
    );
    assert_eq!(
        dosage["timing"]["repeat"],
        json!({"frequency": 3, "period": 1.0, "periodUnit": "d"})
    );
    assert_eq!(dosage["route"]["coding"][0]["code"], "26643006");
    assert_eq!(dosage["doseAndRate"][0]["doseQuantity"]["value"], 1.0);
    assert_eq!(m["dispenseRequest"]["quantity"]["value"], 30.0);
    assert_eq!(m["dispenseRequest"]["expectedSupplyDuration"]["code"], "d");
    assert_eq!(
        m["dispenseRequest"]["expectedSupplyDuration"]["value"],
        10.0
    );
}

#[test]
fn a_prescription_without_a_dose_is_refused() {
    let c = clinic("1986-04-12", &[]);
    let mut form = amoxicillin();
    form["dose"] = json!("");
    assert_eq!(
        prescription(&c.chart(), &form.to_string()),
        Err(ApiError::Field("dose", "is required"))
    );
}

#[test]
fn discontinuing_is_the_next_version_stopped_with_its_reason() {
    let mut c = clinic("1986-04-12", &[]);
    c.sign(&prescription(&c.chart(), &amoxicillin().to_string()).unwrap());
    let current = c.folded("MedicationRequest")[0].to_string();
    assert_eq!(
        c.sign(&discontinue(&current, "Rash on day 3").unwrap()),
        2120
    );
    let m = &c.folded("MedicationRequest")[0];
    assert_eq!(m["status"], "stopped");
    assert_eq!(m["statusReason"]["text"], "Rash on day 3");
    assert_eq!(m["meta"]["versionId"], "2");
    assert_eq!(
        discontinue(&m.to_string(), "again"),
        Err(ApiError::Field("medication", "is not current"))
    );
}

#[test]
fn amoxicillin_alerts_on_a_penicillin_allergy_through_the_export() {
    let c = clinic("1986-04-12", &[PENICILLIN]);
    let alerts = parse(&allergy_alerts(&c.chart(), r#"["amoxicillin"]"#).unwrap());
    assert_eq!(alerts.as_array().unwrap().len(), 1, "{alerts}");
    assert_eq!(
        alerts[0]["text"],
        "Allergy to penicillin G: amoxicillin — same class (penicillins); severity high."
    );
    assert_eq!(alerts[0]["allergyId"], "pen");
}

#[test]
fn an_unrelated_medication_raises_no_alert() {
    let c = clinic("1986-04-12", &[PENICILLIN]);
    assert_eq!(
        allergy_alerts(&c.chart(), r#"["metformin"]"#).unwrap(),
        "[]"
    );
}

#[test]
fn an_allergy_is_kind_2115_with_reaction_severity_and_criticality() {
    let mut c = clinic("1986-04-12", &[]);
    let form = json!({"substance": "sulfamethoxazole", "category": "medication",
        "reaction": "Hives", "severity": "moderate", "criticality": "low", "recorded": "2026-12-07"});
    assert_eq!(
        c.sign(&allergy(&c.chart(), &form.to_string()).unwrap()),
        2115
    );
    let a = &c.folded("AllergyIntolerance")[0];
    assert_eq!(a["code"]["text"], "sulfamethoxazole");
    assert_eq!(a["reaction"][0]["manifestation"][0]["text"], "Hives");
    assert_eq!(a["reaction"][0]["severity"], "moderate");
    assert_eq!(a["criticality"], "low");
    assert_eq!(a["category"], json!(["medication"]));
}

#[test]
fn a_severity_without_a_reaction_is_refused() {
    let c = clinic("1986-04-12", &[]);
    let form = json!({"substance": "peanut", "severity": "severe", "recorded": "2026-12-07"});
    assert_eq!(
        allergy(&c.chart(), &form.to_string()),
        Err(ApiError::Field("reaction", "is required with a severity"))
    );
}

#[test]
fn an_allergy_entered_in_error_no_longer_alerts() {
    let mut c = clinic("1986-04-12", &[PENICILLIN]);
    let current = c.folded("AllergyIntolerance")[0].to_string();
    let error = allergy_entered_in_error(&current).unwrap();
    assert_eq!(parse(&error)["meta"]["versionId"], "2");
    c.sign(&error);
    assert!(c.folded("AllergyIntolerance").is_empty());
    assert_eq!(
        allergy_alerts(&c.chart(), r#"["amoxicillin"]"#).unwrap(),
        "[]"
    );
}

#[test]
fn an_immunization_is_kind_2116_cvx_coded_with_site_route_and_lot() {
    let mut c = clinic("2019-01-25", &[]);
    let form = json!({"cvx": "03", "display": "MMR", "date": "2026-12-07", "lot": "AB123",
        "site": "LT", "route": "SQ", "recorded": "2026-12-07"});
    assert_eq!(
        c.sign(&immunization(&c.chart(), &form.to_string()).unwrap()),
        2116
    );
    let i = &c.folded("Immunization")[0];
    assert_eq!(i["status"], "completed");
    assert_eq!(i["vaccineCode"]["coding"][0]["system"], systems::CVX);
    assert_eq!(
        i["site"]["coding"][0],
        json!({"system": systems::ACT_SITE, "code": "LT", "display": "left thigh"})
    );
    assert_eq!(i["route"]["coding"][0]["system"], systems::ROUTE);
    assert_eq!(i["route"]["coding"][0]["code"], "SQ");
    assert_eq!(i["lotNumber"], "AB123");
}

#[test]
fn an_unknown_vaccine_site_is_refused() {
    let c = clinic("2019-01-25", &[]);
    let form = json!({"cvx": "03", "display": "MMR", "date": "2026-12-07", "site": "head"});
    assert_eq!(
        immunization(&c.chart(), &form.to_string()),
        Err(ApiError::Field("site", "is not one of the form's choices"))
    );
}

#[test]
fn the_forecast_of_a_child_with_no_doses_lists_overdue_and_upcoming_doses() {
    // Born 2026-01-01, seen 2026-12-07 (11 months) with no dose recorded.
    let c = clinic("2026-01-01", &[]);
    let forecast = parse(&immunization_forecast(&c.chart(), "2026-12-07").unwrap());
    assert_eq!(forecast["birthDate"], "2026-01-01");
    let group = |name: &str| {
        forecast["groups"]
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["group"] == name)
            .cloned()
            .unwrap()
    };
    // HepB dose 1 is due at birth (Table 1), long overdue at 11 months.
    assert_eq!(group("HepB")["status"], "overdue");
    assert_eq!(group("HepB")["dose"], 1);
    assert_eq!(group("HepB")["recommended"], "2026-01-01");
    // MMR dose 1 is recommended from 12 months: not yet.
    assert_eq!(group("MMR")["status"], "not-yet");
    assert_eq!(group("MMR")["recommended"], "2027-01-01");
    // Rotavirus cannot be started after 15 weeks.
    assert_eq!(group("RV")["status"], "aged-out");
}

#[test]
fn the_forecast_counts_the_charts_immunizations() {
    let mut c = clinic("2026-01-01", &[]);
    let form =
        json!({"cvx": "08", "display": "Hep B, adolescent or pediatric", "date": "2026-01-01"});
    c.sign(&immunization(&c.chart(), &form.to_string()).unwrap());
    let forecast = parse(&immunization_forecast(&c.chart(), "2026-12-07").unwrap());
    let hepb = forecast["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["group"] == "HepB")
        .unwrap();
    assert_eq!(hepb["validDoses"], 1);
    assert_eq!(hepb["dose"], 2);
}

#[test]
fn an_adult_has_no_childhood_forecast() {
    let c = clinic("1986-04-12", &[]);
    let forecast = parse(&immunization_forecast(&c.chart(), "2026-12-07").unwrap());
    assert_eq!(forecast["groups"], json!([]));
}

fn ordered(c: &mut Clinic) -> Value {
    let form = json!({"loinc": "57698-3", "display": "Lipid panel with direct LDL - Serum or Plasma",
        "kind": "lab", "authoredOn": "2026-12-07"});
    assert_eq!(
        c.sign(&lab_order(&c.chart(), &form.to_string()).unwrap()),
        2118
    );
    c.folded("ServiceRequest")[0].clone()
}

#[test]
fn an_order_is_an_active_loinc_coded_service_request_of_kind_2118() {
    let mut c = clinic("1986-04-12", &[]);
    let order = ordered(&mut c);
    assert_eq!(order["status"], "active");
    assert_eq!(order["intent"], "order");
    assert_eq!(order["code"]["coding"][0]["system"], systems::LOINC);
    assert_eq!(order["code"]["coding"][0]["code"], "57698-3");
}

#[test]
fn the_result_form_gives_each_analyte_the_range_for_her_sex() {
    let c = clinic("1986-04-12", &[]);
    let rows = parse(&result_form(&c.chart(), LIPIDS, "2026-12-07").unwrap());
    assert_eq!(rows[0]["range"], "≤ 200 mg/dL");
    assert_eq!(rows[1]["range"], "40–200 mg/dL");
    // Female: 12.0–15.5, not the male 13.5–17.5.
    assert_eq!(rows[2]["range"], "12–15.5 g/dL");
    assert_eq!(
        lab_interpretation(&rows[2].to_string(), "16.1").unwrap(),
        json!({"code": "H", "display": "High"}).to_string()
    );
    assert_eq!(
        lab_interpretation(&rows[1].to_string(), "abc").unwrap(),
        "null"
    );
}

#[test]
fn results_are_flagged_observations_and_a_report_based_on_the_order_which_completes() {
    let mut c = clinic("1986-04-12", &[]);
    let order = ordered(&mut c);
    let values = json!({"2093-3": "245", "2085-9": "35", "718-7": ""});
    let records = parse(
        &lab_result(
            &c.chart(),
            &order.to_string(),
            LIPIDS,
            &values.to_string(),
            "2026-12-08",
            "",
        )
        .unwrap(),
    );
    let records = records.as_array().unwrap();
    assert_eq!(records.len(), 4, "two analytes, the report, the order");
    let kinds: Vec<u16> = records.iter().map(|r| c.sign(&r.to_string())).collect();
    assert_eq!(kinds, [2113, 2113, 2119, 2118]);
    let order_ref = format!("ServiceRequest/{}", order["id"].as_str().unwrap());
    let observations = c.folded("Observation");
    let flag = |loinc: &str| {
        let o = observations
            .iter()
            .find(|o| o["code"]["coding"][0]["code"] == loinc)
            .unwrap();
        assert_eq!(o["basedOn"][0]["reference"], order_ref.as_str());
        o["interpretation"][0]["coding"][0]["code"].clone()
    };
    assert_eq!(flag("2093-3"), "H");
    assert_eq!(flag("2085-9"), "L");
    let report = &c.folded("DiagnosticReport")[0];
    assert_eq!(report["basedOn"][0]["reference"], order_ref.as_str());
    let results: Vec<&str> = report["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["reference"].as_str().unwrap())
        .collect();
    for o in &observations {
        assert!(results.contains(&format!("Observation/{}", o["id"].as_str().unwrap()).as_str()));
    }
    let completed = &c.folded("ServiceRequest")[0];
    assert_eq!(completed["status"], "completed");
    assert_eq!(completed["meta"]["versionId"], "2");
}

#[test]
fn results_of_another_test_than_the_order_are_refused() {
    let mut c = clinic("1986-04-12", &[]);
    let order = ordered(&mut c);
    let a1c = r#"{"loinc":"4548-4","display":"HbA1c","kind":"lab","analytes":[{"loinc":"4548-4","display":"HbA1c","unit":"%","low":4.0,"high":5.6}]}"#;
    assert_eq!(
        lab_result(
            &c.chart(),
            &order.to_string(),
            a1c,
            r#"{"4548-4":"7.1"}"#,
            "2026-12-08",
            ""
        ),
        Err(ApiError::Field("test", "is not the test of this order"))
    );
}

#[test]
fn cancelling_an_order_is_its_next_version_revoked_and_it_takes_no_result() {
    let mut c = clinic("1986-04-12", &[]);
    let order = ordered(&mut c);
    c.sign(&order_cancel(&order.to_string(), "Patient declined").unwrap());
    let revoked = c.folded("ServiceRequest")[0].clone();
    assert_eq!(revoked["status"], "revoked");
    assert_eq!(revoked["meta"]["versionId"], "2");
    assert_eq!(
        lab_result(
            &c.chart(),
            &revoked.to_string(),
            LIPIDS,
            r#"{"2093-3":"180"}"#,
            "2026-12-08",
            ""
        ),
        Err(ApiError::Field("order", "is not open"))
    );
}

#[test]
fn the_form_options_come_from_the_builders_tables() {
    let options = parse(&form_options());
    assert!(
        options["frequencies"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["value"] == "TID")
    );
    let sites: Vec<&str> = options["vaccine"]["sites"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["value"].as_str().unwrap())
        .collect();
    assert_eq!(sites, ["LA", "RA", "LT", "RT"]);
    assert_eq!(options["criticalities"].as_array().unwrap().len(), 3);
}
