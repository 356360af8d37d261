//! Every access by a facility becomes a FHIR `AuditEvent`: one row in the gateway's database
//! for the practice, and for each patient whose records were disclosed, a kind 2107 event
//! sealed to the practice's epoch key and to that patient (`ehr_client::audit`), queued in the
//! same transaction and published to the relay by the follower. So does every opening of a
//! SMART Health Link's manifest. An emergency access and a link's opening also send the patient
//! a notice at once: a NIP-17 message from the gateway's key, queued with the audit copies.

use std::collections::BTreeSet;

use base64::Engine as _;
use ehr_client::audit::{AUDIT_SUBTYPE_SYSTEM, AuditRecord, SHL_MANIFEST};
use ehr_client::fhir::{
    ACT_REASON_SYSTEM, EMERGENCY_TREATMENT, FHIR_CLIENT_SYSTEM, INFORMATION_RECIPIENT,
    PARTICIPATION_TYPE_SYSTEM,
};
use nostr::prelude::{Event, PublicKey, Timestamp};
use serde_json::{Value, json};

use crate::GatewayState;
use crate::error::GatewayError;
use crate::served::{instant, patient_id};
use crate::store::Client;
use crate::store::audit::Access;
use crate::sync::Snapshot;

/// The purpose of use of an emergency access, as the access log's `purpose` column holds it.
pub const EMERGENCY_PURPOSE: &str = EMERGENCY_TREATMENT;

/// Who accessed.
#[derive(Debug, Clone, Copy)]
pub enum Accessor<'a> {
    /// A registered facility, by its credential.
    Facility(&'a Client),
    /// Whoever opened a SMART Health Link, as it described itself (`recipient`).
    LinkRecipient {
        /// The link's id.
        link: &'a str,
        /// The link's label.
        label: &'a str,
        /// The recipient's own description of itself.
        recipient: &'a str,
    },
}

impl Accessor<'_> {
    /// The access log's `client` column: the facility's client id, or `shl:` and the link.
    fn client_id(&self) -> String {
        match self {
            Self::Facility(client) => client.client_id.clone(),
            Self::LinkRecipient { link, .. } => format!("shl:{link}"),
        }
    }

    fn agent(&self) -> Value {
        let role = json!({"coding": [{"system": PARTICIPATION_TYPE_SYSTEM, "code": INFORMATION_RECIPIENT, "display": "information recipient"}]});
        match self {
            Self::Facility(client) => json!({
                "type": role,
                "who": {"identifier": {"system": FHIR_CLIENT_SYSTEM, "value": client.client_id}},
                "requestor": true,
            }),
            Self::LinkRecipient { recipient, .. } => json!({
                "type": role,
                "who": {"display": recipient},
                "requestor": true,
            }),
        }
    }
}

/// What one access was.
#[derive(Debug)]
pub struct AccessFacts<'a> {
    /// Who.
    pub accessor: Accessor<'a>,
    /// FHIR restful interaction (`read`, `search-type`, `operation`), or `shl-manifest`.
    pub interaction: &'a str,
    /// For some operations, the canonical URL of the operation's definition (`$summary`'s):
    /// a second `subtype` coding that names what was run.
    pub operation: Option<&'a str>,
    /// Gateway ids of the patients whose records were disclosed (or whose link was opened).
    pub patients: &'a BTreeSet<String>,
    /// Names of the query's parameters, comma-separated (never their values: PHI).
    pub parameter_names: &'a str,
    /// `0` success, `4` refused, `8` failed.
    pub outcome: &'a str,
    /// Why it was refused, in words, when that matters to the patient (a wrong passcode).
    pub outcome_desc: Option<&'a str>,
    /// Unix seconds.
    pub recorded: i64,
    /// The reason a facility stated for emergency access: purpose of use `ETREAT`.
    pub emergency_reason: Option<&'a str>,
    /// A patient named in `patients` the snapshot may not serve (a link's owner), by key.
    pub owner: Option<PublicKey>,
    /// The notice sent to each patient named, `(subject, text)`, if any.
    pub notice: Option<(String, String)>,
}

/// The AuditEvent naming `patients` (all of an access's, or one patient's share of it).
fn audit_event<'p>(facts: &AccessFacts<'_>, patients: impl Iterator<Item = &'p String>) -> Value {
    let mut entities: Vec<Value> = patients
        .map(|p| json!({
            "what": {"reference": format!("Patient/{p}")},
            "role": {"system": "http://terminology.hl7.org/CodeSystem/object-role", "code": "1", "display": "Patient"},
        }))
        .collect();
    if !facts.parameter_names.is_empty() {
        entities.push(json!({
            "type": {"system": "http://terminology.hl7.org/CodeSystem/audit-entity-type", "code": "2", "display": "System Object"},
            "query": base64::engine::general_purpose::STANDARD.encode(facts.parameter_names),
        }));
    }
    if let Accessor::LinkRecipient { label, .. } = facts.accessor {
        entities.push(json!({
            "type": {"system": "http://terminology.hl7.org/CodeSystem/audit-entity-type", "code": "2", "display": "System Object"},
            "name": label,
            "description": "SMART Health Link",
        }));
    }
    let mut subtype = Vec::new();
    if facts.interaction == SHL_MANIFEST {
        subtype.push(json!({"system": AUDIT_SUBTYPE_SYSTEM, "code": SHL_MANIFEST, "display": "SMART Health Link opened"}));
    } else {
        subtype.push(
            json!({"system": "http://hl7.org/fhir/restful-interaction", "code": facts.interaction}),
        );
    }
    if let Some(definition) = facts.operation {
        subtype.push(json!({"system": ehr_client::ips::URI_SYSTEM, "code": definition, "display": operation_name(definition)}));
    }
    let mut event = json!({
        "resourceType": "AuditEvent",
        "type": {"system": "http://terminology.hl7.org/CodeSystem/audit-event-type", "code": "rest", "display": "RESTful Operation"},
        "subtype": subtype,
        "action": if facts.interaction == "read" || facts.interaction == SHL_MANIFEST { "R" } else { "E" },
        "recorded": instant(facts.recorded),
        "outcome": facts.outcome,
        "agent": [facts.accessor.agent()],
        "source": {"observer": {"display": "ehr-fhir-gateway"}},
        "entity": entities,
    });
    if let Some(map) = event.as_object_mut() {
        if let Some(desc) = facts.outcome_desc {
            map.insert("outcomeDesc".to_owned(), json!(desc));
        }
        if let Some(reason) = facts.emergency_reason {
            map.insert(
                "purposeOfEvent".to_owned(),
                json!([{"coding": [{"system": ACT_REASON_SYSTEM, "code": EMERGENCY_TREATMENT, "display": "emergency treatment"}], "text": reason}]),
            );
        }
    }
    event
}

/// `$name` of an operation definition's canonical URL (its last path segment).
fn operation_name(definition: &str) -> String {
    let name = definition.rsplit('/').next().unwrap_or(definition);
    format!("${name}")
}

/// The key of the patient with gateway id `id`: served, or the link's owner.
fn patient_key(snapshot: &Snapshot, facts: &AccessFacts<'_>, id: &str) -> Option<PublicKey> {
    snapshot
        .patients
        .get(id)
        .map(|index| index.patient)
        .or_else(|| facts.owner.filter(|owner| patient_id(owner) == id))
}

/// One sealed kind 2107 event per disclosed patient, each naming that patient only, and the
/// notice to each, if the access sends one.
fn seal(state: &GatewayState, snapshot: &Snapshot, facts: &AccessFacts<'_>) -> Vec<Event> {
    let Some(epoch) = snapshot.roster.current_epoch() else {
        return Vec::new();
    };
    let created_at = Timestamp::from(u64::try_from(facts.recorded).unwrap_or_default());
    let mut events = Vec::new();
    for id in facts.patients {
        let Some(patient) = patient_key(snapshot, facts, id) else {
            continue;
        };
        let json = audit_event(facts, std::iter::once(id)).to_string();
        match AuditRecord::seal(&state.config.key, &patient, epoch, &json, created_at) {
            Ok(record) => events.push(record.event().clone()),
            Err(error) => tracing::error!(%error, "could not seal an audit event"),
        }
        if let Some((subject, text)) = &facts.notice {
            match ehr_client::dm::wrap(&state.config.key, &patient, subject, text, created_at) {
                Ok(wrapped) => events.push(wrapped.to_recipient),
                Err(error) => tracing::error!(%error, "could not wrap a notice"),
            }
        }
    }
    events
}

/// Log one access (an access is never answered unlogged), and wake the publisher.
pub async fn record(
    state: &GatewayState,
    snapshot: &Snapshot,
    facts: &AccessFacts<'_>,
) -> Result<(), GatewayError> {
    let event = audit_event(facts, facts.patients.iter());
    let sealed = seal(state, snapshot, facts);
    state
        .store
        .record_access(
            &Access {
                recorded_at: facts.recorded,
                client_id: &facts.accessor.client_id(),
                patients: facts.patients,
                outcome: facts.outcome,
                purpose: facts.emergency_reason.map(|_| EMERGENCY_PURPOSE),
                audit_event: &event,
            },
            &sealed,
        )
        .await?;
    if !sealed.is_empty() {
        state.outbox.notify_one();
    }
    Ok(())
}

/// A time as the notices write it: `2026-12-07 18:05 UTC`.
pub fn notice_time(secs: i64) -> String {
    let instant = instant(secs);
    format!(
        "{} UTC",
        instant.get(..16).unwrap_or(&instant).replace('T', " ")
    )
}
