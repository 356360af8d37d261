//! What a patient writes (DESIGN.md §11, "What a patient writes and takes with her"): the FHIR
//! resources of the portal's forms, signed through any [`PatientSigner`] as patient-authored
//! events (practice copy to the roster's current epoch key, patient copy to herself), and the
//! message threads of her chart. JSON text in and out, like the rest of [`crate::api`].

use ehr_client::chart::ORIGIN_SYSTEM;
use ehr_client::event::ClinicalEventBuilder;
use ehr_client::fhir::{
    CodeableConcept, Communication, CommunicationPayload, Consent, Dosage, EventStatus,
    MedicationRequest, MedicationRequestStatus, Meta, Reference, RequestIntent, Resource,
};
use ehr_client::kinds::ClinicalKind;
use ehr_client::roster::verify_roster_chain;
use ehr_client::signer::PatientSigner;
use serde_json::{Value, json};

use super::{ApiError, parse_events, public_key, seconds};

/// Longest free text a form takes (a name, a dose, a message), in characters.
pub const MAX_TEXT: usize = 10_000;

/// The patient-authored event of `resource` (FHIR JSON; a Bundle entry's own origin tag is
/// dropped) about the signer's patient, practice copy to the current epoch of `practice`'s
/// roster chain found in `events`: the signed event (JSON).
pub async fn sign_patient_event<S: PatientSigner>(
    signer: &S,
    practice: &str,
    events: &str,
    resource: &str,
    created_at: f64,
) -> Result<String, ApiError> {
    let practice = public_key(practice, "practice")?;
    let (events, _) = parse_events(events)?;
    let roster = verify_roster_chain(&practice, &events);
    let resource = resource_of(resource)?;
    let created_at = seconds(created_at)?;
    let kind = ClinicalKind::for_resource(&resource);
    // A message to the office epoch (the front desk reads it), anything else to the clinical.
    let target = roster.patient_seal_target(kind).ok_or(ApiError::NoRoster)?;
    let event = ClinicalEventBuilder::new(kind, resource, signer.public_key())
        .map_err(|e| ApiError::Record(e.to_string()))?
        .sign_as_patient_with(signer, &target, created_at)
        .await
        .map_err(|e| ApiError::Record(e.to_string()))?;
    Ok(event.to_json())
}

/// A FHIR resource given as JSON, without the Bundle's origin tag (who wrote an entry is the
/// event's signer, never a claim inside the resource).
pub(crate) fn resource_of(json: &str) -> Result<Resource, ApiError> {
    let mut value: Value =
        serde_json::from_str(json).map_err(|_| ApiError::Record("not JSON".to_owned()))?;
    if let Some(tags) = value
        .get_mut("meta")
        .and_then(|meta| meta.get_mut("tag"))
        .and_then(Value::as_array_mut)
    {
        tags.retain(|tag| tag.get("system").and_then(Value::as_str) != Some(ORIGIN_SYSTEM));
    }
    if value
        .get("meta")
        .and_then(|m| m.get("tag"))
        .and_then(Value::as_array)
        .is_some_and(Vec::is_empty)
        && let Some(meta) = value.get_mut("meta").and_then(Value::as_object_mut)
    {
        meta.remove("tag");
    }
    Resource::from_json(&value.to_string()).map_err(|e| ApiError::Record(e.to_string()))
}

/// The value at a JSON pointer, or null (clippy's rule against indexing, kept without loss).
pub(crate) fn at<'a>(value: &'a Value, pointer: &str) -> &'a Value {
    value.pointer(pointer).unwrap_or(&Value::Null)
}

/// A form's text: trimmed, required unless `optional`, at most [`MAX_TEXT`] characters.
pub(crate) fn field(
    value: &str,
    name: &'static str,
    optional: bool,
) -> Result<Option<String>, ApiError> {
    let value = value.trim();
    if value.chars().count() > MAX_TEXT {
        return Err(ApiError::Field(name, "is too long"));
    }
    match (value.is_empty(), optional) {
        (true, true) => Ok(None),
        (true, false) => Err(ApiError::Field(name, "is required")),
        (false, _) => Ok(Some(value.to_owned())),
    }
}

/// The patient's FHIR id in her chart (`{"patient", "bundle"}` as the chart opened): her
/// Patient record's id, or her key when the practice wrote none.
pub(crate) fn patient_id(chart: &str) -> Result<String, ApiError> {
    let chart: Value = serde_json::from_str(chart).map_err(|_| ApiError::Chart)?;
    let patient = chart
        .get("patient")
        .and_then(Value::as_str)
        .ok_or(ApiError::Chart)?;
    let from_record = at(&chart, "/bundle/entry")
        .as_array()
        .into_iter()
        .flatten()
        .map(|entry| at(entry, "/resource"))
        .find(|r| at(r, "/resourceType") == "Patient")
        .and_then(|r| at(r, "/id").as_str());
    Ok(from_record.unwrap_or(patient).to_owned())
}

pub(crate) fn first_version() -> Option<Meta> {
    Some(Meta {
        version_id: Some("1".to_owned()),
        ..Meta::default()
    })
}

pub(crate) fn text_concept(text: String) -> CodeableConcept {
    CodeableConcept {
        text: Some(text),
        ..CodeableConcept::default()
    }
}

/// "Something I take": a medication or supplement the patient reports taking, as US Core
/// records one on the medication list: MedicationRequest, intent `plan`, `reportedBoolean`
/// true, reported by the patient herself (kind 2112, never a prescription).
pub fn reported_medication(
    chart: &str,
    name: &str,
    dosage: &str,
    today: &str,
) -> Result<String, ApiError> {
    let patient = Reference::to("Patient", &patient_id(chart)?);
    let name = field(name, "name", false)?.unwrap_or_default();
    let dosage = field(dosage, "how you take it", true)?;
    let resource = Resource::MedicationRequest(MedicationRequest {
        id: Some(ehr_client::demo::new_id()),
        meta: first_version(),
        status: MedicationRequestStatus::Active,
        intent: RequestIntent::Plan,
        medication_codeable_concept: Some(text_concept(name)),
        reported_reference: None,
        reported_boolean: Some(true),
        subject: patient,
        authored_on: field(today, "date", true)?,
        dosage_instruction: dosage
            .map(|text| Dosage {
                text: Some(text),
                ..Dosage::default()
            })
            .into_iter()
            .collect(),
        ..MedicationRequest::default()
    });
    checked(resource)
}

/// A message to the practice: a new thread on `topic`, or a reply (`in_response_to`, the
/// Communication id it answers; its topic is kept).
pub fn message(
    chart: &str,
    topic: &str,
    text: &str,
    in_response_to: &str,
    sent: &str,
) -> Result<String, ApiError> {
    let patient = Reference::to("Patient", &patient_id(chart)?);
    let body = field(text, "message", false)?.unwrap_or_default();
    let reply_to = field(in_response_to, "reply", true)?;
    let topic = field(topic, "subject", reply_to.is_some())?;
    let resource = Resource::Communication(Communication {
        id: Some(ehr_client::demo::new_id()),
        meta: first_version(),
        status: EventStatus::Completed,
        subject: Some(patient),
        topic: topic.map(text_concept),
        sent: field(sent, "sent", true)?,
        in_response_to: reply_to
            .map(|id| vec![Reference::to("Communication", &id)])
            .unwrap_or_default(),
        payload: vec![CommunicationPayload {
            content_string: Some(body),
            ..CommunicationPayload::default()
        }],
        ..Communication::default()
    });
    checked(resource)
}

/// Consent to share the chart through the practice's FHIR gateway with `facilities` (a JSON
/// array of FHIR client ids; `"*"` is every facility the practice registered).
pub fn consent_grant(chart: &str, facilities: &str, date: &str) -> Result<String, ApiError> {
    let facilities: Vec<String> = serde_json::from_str(facilities)
        .map_err(|_| ApiError::Field("facilities", "must be a list"))?;
    let facilities: Vec<String> = facilities
        .iter()
        .filter_map(|f| field(f, "facility", true).transpose())
        .collect::<Result<_, _>>()?;
    if facilities.is_empty() {
        return Err(ApiError::Field("facility", "is required"));
    }
    let names: Vec<&str> = facilities.iter().map(String::as_str).collect();
    let date = field(date, "date", false)?.unwrap_or_default();
    checked(Consent::fhir_sharing(&patient_id(chart)?, &names, &date))
}

/// Withdraw `consent` (the current Consent resource of her chart, as the Bundle shows it): its
/// next version, inactive.
pub fn consent_withdrawal(consent: &str) -> Result<String, ApiError> {
    let resource = resource_of(consent)?;
    let consent = resource
        .as_consent()
        .ok_or(ApiError::Record("not a Consent".to_owned()))?;
    checked(consent.withdrawal())
}

/// Whether the chart's newest Consent (`Chart::newest_consent`: hers or the practice's record of one)
/// shares her chart through the FHIR gateway: `{"sharing", "facilities", "consent"}`, the
/// consent being the resource a withdrawal starts from (`null` without one).
pub fn sharing_state(chart: &str) -> Result<String, ApiError> {
    let chart: Value = serde_json::from_str(chart).map_err(|_| ApiError::Chart)?;
    let entries = at(&chart, "/bundle/entry")
        .as_array()
        .ok_or(ApiError::Chart)?;
    let facts = at(&chart, "/entries").as_array().ok_or(ApiError::Chart)?;
    let newest_id = at(&chart, "/newest_consent");
    let newest = entries
        .iter()
        .zip(facts)
        .find(|(_, fact)| !newest_id.is_null() && at(fact, "/event_id") == newest_id)
        .map(|(entry, _)| at(entry, "/resource"));
    let Some(newest) = newest else {
        return Ok(json!({ "sharing": false, "facilities": [], "consent": null }).to_string());
    };
    let facilities = resource_of(&newest.to_string())?
        .as_consent()
        .map(|consent| consent.fhir_recipients(super::guardians::now()))
        .unwrap_or_default();
    Ok(json!({
        "sharing": !facilities.is_empty(),
        "facilities": facilities,
        "consent": newest,
    })
    .to_string())
}

/// Her raw events to take anywhere, as JSON Lines: the rosters of `practice`'s verified chain
/// (what any reader needs to check who was authorised), then every clinical event about her
/// whose signature verifies and whose author the chain authorised, oldest first. Each line is
/// the signed event exactly as the relay served it.
pub fn export_events(practice: &str, patient: &str, events: &str) -> Result<String, ApiError> {
    use ehr_client::event::ClinicalEvent;
    let practice = public_key(practice, "practice")?;
    let patient = public_key(patient, "patient")?;
    let (events, _) = parse_events(events)?;
    let chain = verify_roster_chain(&practice, &events);
    if chain.current().is_none() {
        return Err(ApiError::NoRoster);
    }
    let rosters: std::collections::BTreeSet<_> = chain.rosters().iter().map(|r| r.id).collect();
    let mut kept: Vec<&ehr_client::nostr::prelude::Event> =
        events.iter().filter(|e| rosters.contains(&e.id)).collect();
    kept.sort_by_key(|e| (e.created_at, e.id));
    let mut clinical: Vec<&ehr_client::nostr::prelude::Event> = events
        .iter()
        .filter(|e| {
            ClinicalEvent::parse((*e).clone()).is_ok_and(|c| {
                c.patient() == patient && ehr_client::access::authorise(&chain, &c).is_ok()
            })
        })
        .collect();
    clinical.sort_by_key(|e| (e.created_at, e.id));
    clinical.dedup_by_key(|e| e.id);
    kept.extend(clinical);
    let mut lines = String::new();
    for event in kept {
        lines.push_str(&serde_json::to_string(event).map_err(|_| ApiError::EventList)?);
        lines.push('\n');
    }
    Ok(lines)
}

pub(crate) fn checked(resource: Resource) -> Result<String, ApiError> {
    resource
        .validate()
        .map_err(|e| ApiError::Record(e.to_string()))?;
    Ok(resource.to_json())
}

/// The message threads of a chart (`{"patient", "bundle", "entries"}` as the chart opened),
/// each message with who sent it: `patient_label` for the patient ("You" in the portal, her
/// name in the clinic app), else the roster's name for the member
/// (`practice`'s chain, verified from `events`). Threads follow `inResponseTo` to their first
/// message; messages are oldest first (by event time, then `sent`), threads by their newest message,
/// newest last.
pub fn message_threads(
    practice: &str,
    events: &str,
    chart: &str,
    patient_label: &str,
) -> Result<String, ApiError> {
    let practice = public_key(practice, "practice")?;
    let (events, _) = parse_events(events)?;
    let chain = verify_roster_chain(&practice, &events);
    let chart: Value = serde_json::from_str(chart).map_err(|_| ApiError::Chart)?;
    let patient = at(&chart, "/patient").as_str().ok_or(ApiError::Chart)?;
    let entries = at(&chart, "/bundle/entry")
        .as_array()
        .ok_or(ApiError::Chart)?;
    let facts = at(&chart, "/entries").as_array().ok_or(ApiError::Chart)?;
    let name_of = |author: &str| -> String {
        if author == patient {
            return patient_label.to_owned();
        }
        let member = chain.current().and_then(|roster| {
            roster
                .content
                .members
                .iter()
                .find(|m| m.pubkey.to_hex() == author)
        });
        match member {
            Some(m) => m.name.clone().unwrap_or_else(|| m.role.as_str().to_owned()),
            None => "Your practice".to_owned(),
        }
    };
    let mut messages = Vec::new();
    for (entry, fact) in entries.iter().zip(facts) {
        let resource = at(entry, "/resource");
        if at(resource, "/resourceType") != "Communication" {
            continue;
        }
        let author = at(fact, "/author").as_str().unwrap_or_default();
        let parent = at(resource, "/inResponseTo/0/reference")
            .as_str()
            .and_then(|r| r.strip_prefix("Communication/"))
            .map(str::to_owned);
        messages.push(json!({
            "id": at(resource, "/id"),
            "parent": parent,
            "topic": at(resource, "/topic/text"),
            "text": at(resource, "/payload/0/contentString"),
            "sent": at(resource, "/sent"),
            "at": at(fact, "/updated_at"),
            "from": name_of(author),
            "mine": author == patient,
        }));
    }
    Ok(json!({ "threads": threads(messages) }).to_string())
}

/// Group messages by the first message their `parent` chain leads to.
fn threads(messages: Vec<Value>) -> Vec<Value> {
    use std::collections::BTreeMap;
    let parents: BTreeMap<String, Option<String>> = messages
        .iter()
        .filter_map(|m| {
            Some((
                at(m, "/id").as_str()?.to_owned(),
                at(m, "/parent").as_str().map(str::to_owned),
            ))
        })
        .collect();
    let root_of = |id: &str| -> String {
        let mut current = id.to_owned();
        // A cycle or a missing parent ends the walk; the chain is at most every message long.
        for _ in 0..=parents.len() {
            match parents.get(&current) {
                Some(Some(parent)) if parents.contains_key(parent) => current = parent.clone(),
                _ => break,
            }
        }
        current
    };
    let mut grouped: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for message in messages {
        let root = root_of(at(&message, "/id").as_str().unwrap_or_default());
        grouped.entry(root).or_default().push(message);
    }
    // By the signed event time first (a `sent` is only what the author wrote), then `sent`.
    let order = |m: &Value| {
        (
            at(m, "/at").as_u64(),
            at(m, "/sent").as_str().unwrap_or_default().to_owned(),
        )
    };
    let mut threads: Vec<(Value, (Option<u64>, String))> = grouped
        .into_iter()
        .map(|(root, mut list)| {
            list.sort_by_key(order);
            let list = replies_after_parents(list);
            let topic = list
                .iter()
                .find(|m| at(m, "/id") == root.as_str())
                .or(list.first())
                .map(|m| at(m, "/topic").clone())
                .unwrap_or(Value::Null);
            let newest = list.last().map(order).unwrap_or_default();
            (
                json!({ "id": root, "topic": topic, "messages": list }),
                newest,
            )
        })
        .collect();
    threads.sort_by(|a, b| a.1.cmp(&b.1));
    threads.into_iter().map(|(thread, _)| thread).collect()
}

/// `list` (in time order) with every reply after the message it answers: event times have
/// one-second resolution and `sent` is only what an author wrote, so a reply written in the
/// same second as its question must not come first.
fn replies_after_parents(mut list: Vec<Value>) -> Vec<Value> {
    let ids: std::collections::BTreeSet<String> = list
        .iter()
        .filter_map(|m| at(m, "/id").as_str().map(str::to_owned))
        .collect();
    let mut placed = std::collections::BTreeSet::new();
    let mut ordered = Vec::with_capacity(list.len());
    while !list.is_empty() {
        // The first message whose parent is shown already (or not in this thread); a cycle
        // takes the first message left.
        let next = list
            .iter()
            .position(|m| {
                at(m, "/parent")
                    .as_str()
                    .is_none_or(|parent| placed.contains(parent) || !ids.contains(parent))
            })
            .unwrap_or(0);
        let message = list.remove(next);
        if let Some(id) = at(&message, "/id").as_str() {
            placed.insert(id.to_owned());
        }
        ordered.push(message);
    }
    ordered
}

#[cfg(test)]
mod tests;
