//! Encounter notes (DESIGN.md §12): a visit note is a DocumentReference (LOINC 11506-3 progress
//! note, or 34746-8 nurse note) whose `context.encounter` names its Encounter, its text the SOAP
//! sections as `text/plain`; an addendum is a DocumentReference that `appends` a signed note,
//! in the same encounter (DESIGN.md §3). A note is signed when it is published: nothing is
//! edited afterwards, only appended to. Built-in templates and dot-phrases (`.meds`, `.vitals`,
//! …) fill the sections from the open chart.

use base64::Engine as _;
use ehr_client::demo::new_id;
use ehr_client::fhir::{
    Attachment, CodeableConcept, Coding, DocumentContent, DocumentContext, DocumentReference,
    DocumentReferenceStatus, DocumentRelatesTo, DocumentRelationshipType, Encounter,
    EncounterStatus, Period, Reference, Resource,
};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::api::ApiError;
use crate::api::records::{at, checked, field, first_version, patient_id, text_concept};

mod phrases;

pub use phrases::{expand, is_built_in};

/// The dot-phrases, for the form's help: `[{"phrase": ".meds", "becomes": "current medications"}]`.
pub fn dot_phrases() -> String {
    let list: Vec<Value> = phrases::PHRASES
        .iter()
        .map(|(phrase, becomes)| json!({ "phrase": format!(".{phrase}"), "becomes": becomes }))
        .collect();
    Value::Array(list).to_string()
}

const LOINC: &str = "http://loinc.org";

/// Which note a member writes: a clinician's progress note or a nurse's (or MA's) note.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum NoteKind {
    Progress,
    Nursing,
}

impl NoteKind {
    fn coding(self) -> (&'static str, &'static str) {
        match self {
            Self::Progress => ("11506-3", "Progress note"),
            Self::Nursing => ("34746-8", "Nurse note"),
        }
    }
}

/// The note form: the SOAP sections, and the visit it documents (an existing encounter's id,
/// or a new visit with its type and reason).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct NoteForm {
    kind: NoteKind,
    #[serde(default)]
    encounter: Option<String>,
    #[serde(default)]
    visit_type: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    subjective: String,
    #[serde(default)]
    objective: String,
    #[serde(default)]
    assessment: String,
    #[serde(default)]
    plan: String,
}

/// The built-in templates: `[{"id", "label", "kind", "visitType", "subjective", "objective",
/// "assessment", "plan"}]`; sections hold dot-phrases the form expands.
pub fn templates() -> String {
    json!([
        {
            "id": "sick", "label": "Sick visit", "kind": "progress", "visitType": "Sick visit",
            "subjective": "Chief complaint: \nHistory of present illness: \n.ros",
            "objective": ".vitals\nExam: ",
            "assessment": "",
            "plan": ".rtc",
        },
        {
            "id": "follow-up", "label": "Chronic care follow-up", "kind": "progress",
            "visitType": "Follow-up visit",
            "subjective": "Interval history: \nMedications: .meds\nAllergies: .allergies",
            "objective": ".vitals\nExam: ",
            "assessment": "Active problems: .problems",
            "plan": ".fu",
        },
        {
            "id": "well-child", "label": "Well-child visit", "kind": "progress",
            "visitType": "Well-child visit",
            "subjective": "Age: .age\nParent concerns: \nDiet: \nSleep: \nDevelopment: \n.ros",
            "objective": ".vitals\nGrowth: see the growth chart.\n.pe",
            "assessment": "Well child, .age.",
            "plan": "Immunizations per schedule.\nAnticipatory guidance given.\n.fu",
        },
        {
            "id": "nursing", "label": "Nursing note", "kind": "nursing", "visitType": "Nurse visit",
            "subjective": "Reason for visit: ",
            "objective": ".vitals",
            "assessment": "",
            "plan": "",
        },
    ])
    .to_string()
}

/// The signed note of `form` (JSON: the note form) in `chart` at `now` (a FHIR dateTime): a
/// JSON array of FHIR resources to publish in order, the new Encounter first when the note
/// documents a new visit, then the note. At least one section must be written.
pub fn note(chart: &str, form: &str, now: &str) -> Result<String, ApiError> {
    let form: NoteForm =
        serde_json::from_str(form).map_err(|_| ApiError::Field("note", "is not a note form"))?;
    let patient = patient_id(chart)?;
    let now = field(now, "date", false)?.unwrap_or_default();
    let text = soap_text(&form)?;
    let mut resources = Vec::new();
    let encounter_id = match field(form.encounter.as_deref().unwrap_or(""), "visit", true)? {
        Some(id) => id,
        None => {
            let encounter = new_encounter(&patient, &form, &now)?;
            let id = encounter.id().unwrap_or_default().to_owned();
            resources.push(json!(checked(encounter)?));
            id
        }
    };
    let (code, display) = form.kind.coding();
    let title = field(&form.visit_type, "visit type", true)?
        .map_or_else(|| display.to_owned(), |visit| format!("{display}: {visit}"));
    let note = document(
        &patient,
        &encounter_id,
        (code, display),
        &title,
        &text,
        &now,
        None,
    );
    resources.push(json!(checked(note)?));
    Ok(Value::Array(resources).to_string())
}

/// An addendum (`text`) to the signed note `note_id` of `chart`, at `now`: one FHIR resource.
pub fn addendum(chart: &str, note_id: &str, text: &str, now: &str) -> Result<String, ApiError> {
    let parsed: Value = serde_json::from_str(chart).map_err(|_| ApiError::Chart)?;
    let original = parsed
        .pointer("/bundle/entry")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|entry| entry.get("resource"))
        .find(|r| at(r, "/resourceType") == "DocumentReference" && at(r, "/id") == note_id)
        .ok_or(ApiError::Field("note", "is not in this chart"))?;
    let encounter = original
        .pointer("/context/encounter/0/reference")
        .and_then(Value::as_str)
        .and_then(|r| r.strip_prefix("Encounter/"))
        .ok_or(ApiError::Field("note", "belongs to no visit"))?;
    let text = field(text, "addendum", false)?.unwrap_or_default();
    let now = field(now, "date", false)?.unwrap_or_default();
    let appended = DocumentRelatesTo {
        code: DocumentRelationshipType::Appends,
        target: Reference::to("DocumentReference", note_id),
    };
    let addendum = document(
        &patient_id(chart)?,
        encounter,
        ("11506-3", "Progress note"),
        "Addendum",
        &text,
        &now,
        Some(appended),
    );
    checked(addendum)
}

/// The sections as the note's text: each written one under its heading, in SOAP order.
fn soap_text(form: &NoteForm) -> Result<String, ApiError> {
    let sections = [
        ("Subjective", &form.subjective, "subjective"),
        ("Objective", &form.objective, "objective"),
        ("Assessment", &form.assessment, "assessment"),
        ("Plan", &form.plan, "plan"),
    ];
    let mut text = String::new();
    for (heading, body, name) in sections {
        if let Some(body) = field(body, name, true)? {
            if !text.is_empty() {
                text.push_str("\n\n");
            }
            text.push_str(heading);
            text.push_str(":\n");
            text.push_str(&body);
        }
    }
    if text.is_empty() {
        return Err(ApiError::Field("note", "has no section written"));
    }
    Ok(text)
}

fn new_encounter(patient: &str, form: &NoteForm, now: &str) -> Result<Resource, ApiError> {
    let visit =
        field(&form.visit_type, "visit type", true)?.unwrap_or_else(|| "Office visit".into());
    let reason = field(&form.reason, "reason", true)?;
    Ok(Resource::Encounter(Encounter {
        id: Some(new_id()),
        meta: first_version(),
        status: EncounterStatus::Finished,
        class: Coding::new(
            "http://terminology.hl7.org/CodeSystem/v3-ActCode",
            "AMB",
            "ambulatory",
        ),
        type_: vec![text_concept(visit)],
        subject: Some(Reference::to("Patient", patient)),
        period: Some(Period {
            start: Some(now.to_owned()),
            end: None,
        }),
        reason_code: reason.map(text_concept).into_iter().collect(),
        ..Encounter::default()
    }))
}

fn document(
    patient: &str,
    encounter: &str,
    (code, display): (&str, &str),
    title: &str,
    text: &str,
    now: &str,
    appends: Option<DocumentRelatesTo>,
) -> Resource {
    Resource::DocumentReference(DocumentReference {
        id: Some(new_id()),
        meta: first_version(),
        status: DocumentReferenceStatus::Current,
        doc_status: Some("final".to_owned()),
        type_: Some(CodeableConcept::coded(LOINC, code, display)),
        category: vec![CodeableConcept::coded(
            "http://hl7.org/fhir/us/core/CodeSystem/us-core-documentreference-category",
            "clinical-note",
            "Clinical Note",
        )],
        subject: Some(Reference::to("Patient", patient)),
        date: Some(now.to_owned()),
        relates_to: appends.into_iter().collect(),
        content: vec![DocumentContent {
            attachment: Attachment {
                content_type: Some("text/plain; charset=utf-8".to_owned()),
                data: Some(base64::engine::general_purpose::STANDARD.encode(text)),
                title: Some(title.to_owned()),
                ..Attachment::default()
            },
            format: None,
        }],
        context: Some(DocumentContext {
            encounter: vec![Reference::to("Encounter", encounter)],
            ..DocumentContext::default()
        }),
        ..DocumentReference::default()
    })
}

#[cfg(test)]
mod tests;
