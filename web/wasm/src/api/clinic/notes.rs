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
/// or a new visit with its type and reason). A new visit may be an appointment's (DESIGN.md
/// §13): its Encounter then names the appointment (`Encounter.appointment`), and takes the
/// appointment's visit type when the form has none; `appointmentStart` and `appointmentType`
/// are what the schedule showed, used when the chart does not hold the appointment.
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
    appointment: Option<String>,
    #[serde(default)]
    appointment_start: String,
    #[serde(default)]
    appointment_type: String,
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
/// documents a new visit, then the note. At least one section must be written. A note for an
/// appointment whose visit the chart already holds (an Encounter naming it) joins that visit.
pub fn note(chart: &str, form: &str, now: &str) -> Result<String, ApiError> {
    let form: NoteForm =
        serde_json::from_str(form).map_err(|_| ApiError::Field("note", "is not a note form"))?;
    let patient = patient_id(chart)?;
    let now = field(now, "date", false)?.unwrap_or_default();
    let text = soap_text(&form)?;
    let parsed: Value = serde_json::from_str(chart).map_err(|_| ApiError::Chart)?;
    let appointment = appointment_of(&parsed, &form)?;
    let existing = field(form.encounter.as_deref().unwrap_or(""), "visit", true)?;
    if existing.is_some() && appointment.is_some() {
        return Err(ApiError::Field(
            "appointment",
            "starts a new visit: choose a new visit, not an earlier one",
        ));
    }
    let visit_type = match field(&form.visit_type, "visit type", true)? {
        Some(visit) => Some(visit),
        None => appointment.as_ref().and_then(|a| a.visit_type.clone()),
    };
    let mut resources = Vec::new();
    let visit_of_appointment = appointment
        .as_ref()
        .and_then(|a| encounter_for_appointment(&parsed, &a.id));
    let encounter_id = match existing.or(visit_of_appointment) {
        Some(id) => id,
        None => {
            let encounter = new_encounter(
                &patient,
                &form,
                visit_type.clone(),
                appointment.as_ref(),
                &now,
            )?;
            let id = encounter.id().unwrap_or_default().to_owned();
            resources.push(json!(checked(encounter)?));
            id
        }
    };
    let (code, display) = form.kind.coding();
    let title =
        visit_type.map_or_else(|| display.to_owned(), |visit| format!("{display}: {visit}"));
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

/// The appointment a note's new visit is for: its id, and its visit type and start as the
/// chart holds them, else as the form says.
#[derive(Debug)]
struct VisitAppointment {
    id: String,
    visit_type: Option<String>,
    start: Option<String>,
}

fn appointment_of(chart: &Value, form: &NoteForm) -> Result<Option<VisitAppointment>, ApiError> {
    let Some(id) = field(
        form.appointment.as_deref().unwrap_or(""),
        "appointment",
        true,
    )?
    else {
        return Ok(None);
    };
    if !ehr_client::fhir::is_fhir_id(&id) {
        return Err(ApiError::Field("appointment", "is not an appointment id"));
    }
    let held = entries(chart)
        .find(|r| at(r, "/resourceType") == "Appointment" && at(r, "/id") == id.as_str());
    let text = |value: &Value| {
        value
            .as_str()
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_owned)
    };
    let visit_type = held
        .and_then(|a| {
            text(at(a, "/appointmentType/text"))
                .or_else(|| text(at(a, "/appointmentType/coding/0/display")))
        })
        .or(field(&form.appointment_type, "appointment type", true)?);
    let start = held.and_then(|a| text(at(a, "/start"))).or(field(
        &form.appointment_start,
        "appointment start",
        true,
    )?);
    Ok(Some(VisitAppointment {
        id,
        visit_type,
        start,
    }))
}

/// The resources of an opened chart.
fn entries(chart: &Value) -> impl Iterator<Item = &Value> {
    at(chart, "/bundle/entry")
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|entry| entry.get("resource"))
}

/// The id of the chart's visit (Encounter) for appointment `id`, if one was written.
fn encounter_for_appointment(chart: &Value, id: &str) -> Option<String> {
    let target = format!("Appointment/{id}");
    entries(chart)
        .filter(|r| at(r, "/resourceType") == "Encounter")
        .find(|r| {
            at(r, "/appointment")
                .as_array()
                .into_iter()
                .flatten()
                .any(|a| at(a, "/reference") == target.as_str())
        })
        .and_then(|r| at(r, "/id").as_str())
        .map(str::to_owned)
}

fn new_encounter(
    patient: &str,
    form: &NoteForm,
    visit_type: Option<String>,
    appointment: Option<&VisitAppointment>,
    now: &str,
) -> Result<Resource, ApiError> {
    let visit = visit_type.unwrap_or_else(|| "Office visit".into());
    let reason = field(&form.reason, "reason", true)?;
    // The appointment in words too (its type and time), for a reader that cannot open it.
    let appointment = appointment.map(|a| {
        let display = [a.visit_type.as_deref(), a.start.as_deref()]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" at ");
        Reference {
            display: (!display.is_empty()).then(|| format!("Appointment: {display}")),
            ..Reference::to("Appointment", &a.id)
        }
    });
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
        appointment: appointment.into_iter().collect(),
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
