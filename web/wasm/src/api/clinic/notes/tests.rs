#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

use ehr_client::fhir::Resource;
use ehr_client::kinds::ClinicalKind;
use serde_json::{Value, json};

use super::*;

/// A chart of one patient as the member's view opens it: the demo's one record of each kind.
fn chart() -> String {
    let entries: Vec<Value> = ehr_client::demo::one_of_each_kind("pt-1")
        .into_iter()
        .map(|(_, resource)| json!({ "resource": serde_json::to_value(&resource).unwrap() }))
        .collect();
    json!({ "patient": "ab".repeat(32), "bundle": { "entry": entries } }).to_string()
}

fn resources(json: &str) -> Vec<Resource> {
    let values: Vec<Value> = serde_json::from_str(json).unwrap();
    values
        .iter()
        .map(|v| Resource::from_json(v.as_str().unwrap()).unwrap())
        .collect()
}

fn text_of(note: &Resource) -> String {
    let Resource::DocumentReference(document) = note else {
        panic!("not a document")
    };
    let data = document.content[0].attachment.data.as_deref().unwrap();
    String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(data)
            .unwrap(),
    )
    .unwrap()
}

#[test]
fn a_note_for_a_new_visit_is_an_encounter_then_a_progress_note_linked_to_it() {
    let form = json!({
        "kind": "progress", "visitType": "Sick visit", "reason": "Sore throat",
        "subjective": "Sore throat for two days.", "assessment": "Viral pharyngitis.",
    });
    let out = resources(&note(&chart(), &form.to_string(), "2026-12-07T09:00:00Z").unwrap());
    assert_eq!(out.len(), 2);
    let Resource::Encounter(encounter) = &out[0] else {
        panic!("no encounter first")
    };
    assert_eq!(ClinicalKind::for_resource(&out[1]), ClinicalKind::Document);
    let Resource::DocumentReference(document) = &out[1] else {
        panic!("no note")
    };
    let link = document.context.as_ref().unwrap().encounter[0]
        .reference
        .clone();
    assert_eq!(
        link.as_deref(),
        Some(format!("Encounter/{}", encounter.id.clone().unwrap()).as_str())
    );
    assert_eq!(
        document.type_.as_ref().unwrap().coding[0].code.as_deref(),
        Some("11506-3")
    );
    assert_eq!(
        text_of(&out[1]),
        "Subjective:\nSore throat for two days.\n\nAssessment:\nViral pharyngitis."
    );
}

#[test]
fn a_nursing_note_on_an_existing_visit_is_one_nurse_note() {
    let form = json!({ "kind": "nursing", "encounter": "enc-7", "objective": "BP taken." });
    let out = resources(&note(&chart(), &form.to_string(), "2026-12-07T09:00:00Z").unwrap());
    assert_eq!(out.len(), 1);
    let Resource::DocumentReference(document) = &out[0] else {
        panic!("no note")
    };
    assert_eq!(
        document.type_.as_ref().unwrap().coding[0].code.as_deref(),
        Some("34746-8")
    );
    let link = &document.context.as_ref().unwrap().encounter[0].reference;
    assert_eq!(link.as_deref(), Some("Encounter/enc-7"));
}

#[test]
fn an_empty_note_is_refused() {
    let form = json!({ "kind": "progress", "subjective": "   " });
    assert_eq!(
        note(&chart(), &form.to_string(), "2026-12-07T09:00:00Z").unwrap_err(),
        ApiError::Field("note", "has no section written")
    );
}

#[test]
fn an_addendum_appends_to_the_note_in_its_visit() {
    let chart = chart();
    let parsed: Value = serde_json::from_str(&chart).unwrap();
    let original = parsed["bundle"]["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["resource"])
        .find(|r| r["resourceType"] == "DocumentReference")
        .unwrap();
    let id = original["id"].as_str().unwrap();
    let json = addendum(&chart, id, "Rapid strep negative.", "2026-12-07T10:00:00Z").unwrap();
    let Resource::DocumentReference(document) = Resource::from_json(&json).unwrap() else {
        panic!("not a document")
    };
    assert_eq!(
        document.relates_to[0].target.reference.as_deref(),
        Some(format!("DocumentReference/{id}").as_str())
    );
    assert_eq!(
        document.context.unwrap().encounter[0].reference,
        original["context"]["encounter"][0]["reference"]
            .as_str()
            .map(str::to_owned)
    );
    assert!(addendum(&chart, "no-such-note", "x", "2026-12-07T10:00:00Z").is_err());
}

#[test]
fn dot_phrases_fill_in_from_the_chart_and_unknown_ones_stay() {
    let text = expand(
        "Meds: .meds\nAllergies: .allergies\n.vitals\nAge .age. Keep .unknown and 1.5 mg.",
        &chart(),
        "2026-12-07",
        "[]",
    );
    assert!(text.contains("Meds: "), "{text}");
    assert!(
        !text.contains(".meds") && !text.contains(".allergies"),
        "{text}"
    );
    assert!(text.contains("Vitals (") && text.contains("BP "), "{text}");
    assert!(
        text.contains(".unknown") && text.contains("1.5 mg"),
        "{text}"
    );
}

#[test]
fn the_practice_phrases_fill_in_as_written_and_never_shadow_a_built_in() {
    let practice = json!([
        { "name": "asthma", "text": "Asthma action plan reviewed." },
        { "name": "meds", "text": "Not this." },
    ])
    .to_string();
    let text = expand("Plan: .asthma\n.meds", &chart(), "2026-12-07", &practice);
    assert!(
        text.starts_with("Plan: Asthma action plan reviewed."),
        "{text}"
    );
    assert!(!text.contains("Not this."), "{text}");
    assert!(super::phrases::is_built_in("meds") && !super::phrases::is_built_in("asthma"));
}

#[test]
fn every_template_names_a_kind_the_note_form_takes() {
    let templates: Vec<Value> = serde_json::from_str(&templates()).unwrap();
    assert!(templates.len() >= 4);
    for template in templates {
        let form = json!({
            "kind": template["kind"], "visitType": template["visitType"],
            "subjective": template["subjective"],
        });
        assert!(
            note(&chart(), &form.to_string(), "2026-12-07T09:00:00Z").is_ok(),
            "{template}"
        );
    }
}

/// The demo chart's appointment (a booked sick visit): its id.
fn appointment_id(chart: &str) -> String {
    let parsed: Value = serde_json::from_str(chart).unwrap();
    parsed["bundle"]["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["resource"])
        .find(|r| r["resourceType"] == "Appointment")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[test]
fn a_note_started_from_an_appointment_opens_its_visit_linked_to_it() {
    let chart = chart();
    let id = appointment_id(&chart);
    let form = json!({
        "kind": "progress", "appointment": id, "subjective": "Cough for a week.",
    });
    let out = resources(&note(&chart, &form.to_string(), "2026-12-07T09:40:00Z").unwrap());
    assert_eq!(out.len(), 2);
    let Resource::Encounter(encounter) = &out[0] else {
        panic!("no encounter first")
    };
    // The link, valid FHIR (resources() parsed and validated it), and the same after a
    // round trip through JSON.
    assert_eq!(encounter.appointment.len(), 1);
    assert_eq!(
        encounter.appointment[0].reference.as_deref(),
        Some(format!("Appointment/{id}").as_str())
    );
    out[0].validate().unwrap();
    assert_eq!(Resource::from_json(&out[0].to_json()).unwrap(), out[0]);
    let json: Value = serde_json::from_str(&out[0].to_json()).unwrap();
    assert_eq!(
        json["appointment"][0]["reference"],
        format!("Appointment/{id}")
    );
    // The visit type is the appointment's, the note's title too.
    assert_eq!(encounter.type_[0].text.as_deref(), Some("Sick visit"));
    let display = encounter.appointment[0].display.clone().unwrap();
    assert!(
        display.starts_with("Appointment: Sick visit at "),
        "{display}"
    );
    let Resource::DocumentReference(document) = &out[1] else {
        panic!("no note")
    };
    assert_eq!(
        document.content[0].attachment.title.as_deref(),
        Some("Progress note: Sick visit")
    );
}

#[test]
fn an_appointment_the_chart_lacks_is_described_from_the_form_and_a_written_type_wins() {
    let form = json!({
        "kind": "progress", "appointment": "appt-9", "appointmentStart": "2026-12-08T09:30:00Z",
        "appointmentType": "Well-child visit", "visitType": "Follow-up visit",
        "plan": "Back in a year.",
    });
    let out = resources(&note(&chart(), &form.to_string(), "2026-12-08T09:35:00Z").unwrap());
    let Resource::Encounter(encounter) = &out[0] else {
        panic!("no encounter first")
    };
    assert_eq!(encounter.type_[0].text.as_deref(), Some("Follow-up visit"));
    assert_eq!(
        encounter.appointment[0].reference.as_deref(),
        Some("Appointment/appt-9")
    );
    assert_eq!(
        encounter.appointment[0].display.as_deref(),
        Some("Appointment: Well-child visit at 2026-12-08T09:30:00Z")
    );
}

#[test]
fn a_second_note_for_an_appointment_joins_its_visit() {
    let chart = chart();
    let id = appointment_id(&chart);
    let form = json!({ "kind": "progress", "appointment": id, "subjective": "Cough." });
    let first = resources(&note(&chart, &form.to_string(), "2026-12-07T09:40:00Z").unwrap());
    let mut parsed: Value = serde_json::from_str(&chart).unwrap();
    parsed["bundle"]["entry"]
        .as_array_mut()
        .unwrap()
        .push(json!({ "resource": serde_json::to_value(&first[0]).unwrap() }));
    let form = json!({ "kind": "nursing", "appointment": id, "objective": "Weight taken." });
    let second = resources(
        &note(
            &parsed.to_string(),
            &form.to_string(),
            "2026-12-07T09:50:00Z",
        )
        .unwrap(),
    );
    assert_eq!(second.len(), 1, "no second visit");
    let Resource::DocumentReference(document) = &second[0] else {
        panic!("no note")
    };
    assert_eq!(
        document.context.as_ref().unwrap().encounter[0].reference,
        first[0].id().map(|id| format!("Encounter/{id}"))
    );
}

#[test]
fn an_appointment_takes_a_new_visit_and_a_valid_id() {
    let form = json!({
        "kind": "progress", "encounter": "enc-7", "appointment": "appt-9", "plan": "x",
    });
    assert!(matches!(
        note(&chart(), &form.to_string(), "2026-12-07T09:00:00Z"),
        Err(ApiError::Field("appointment", _))
    ));
    let form = json!({ "kind": "progress", "appointment": "not/an id", "plan": "x" });
    assert_eq!(
        note(&chart(), &form.to_string(), "2026-12-07T09:00:00Z").unwrap_err(),
        ApiError::Field("appointment", "is not an appointment id")
    );
}
