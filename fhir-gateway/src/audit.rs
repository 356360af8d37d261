//! Every access by a facility becomes a FHIR `AuditEvent`: one row in the gateway's database
//! for the practice, and for each patient whose records were disclosed, a kind 2107 event
//! sealed to the practice's epoch key and to that patient (`ehr_client::audit`), queued in the
//! same transaction and published to the relay by the follower.

use std::collections::BTreeSet;

use base64::Engine as _;
use ehr_client::audit::AuditRecord;
use ehr_client::fhir::{FHIR_CLIENT_SYSTEM, INFORMATION_RECIPIENT, PARTICIPATION_TYPE_SYSTEM};
use nostr::prelude::{Event, Timestamp};
use serde_json::{Value, json};

use crate::GatewayState;
use crate::error::GatewayError;
use crate::served::instant;
use crate::store::Client;
use crate::store::audit::Access;
use crate::sync::Snapshot;

/// What one access was.
#[derive(Debug)]
pub struct AccessFacts<'a> {
    /// The facility.
    pub client: &'a Client,
    /// FHIR restful interaction (`read`, `search-type`, `operation`).
    pub interaction: &'a str,
    /// For some operations, the canonical URL of the operation's definition (`$summary`'s):
    /// a second `subtype` coding that names what was run.
    pub operation: Option<&'a str>,
    /// Gateway ids of the patients whose records were disclosed.
    pub patients: &'a BTreeSet<String>,
    /// Names of the query's parameters, comma-separated (never their values: PHI).
    pub parameter_names: &'a str,
    /// `0` success, `4` refused, `8` failed.
    pub outcome: &'a str,
    /// Unix seconds.
    pub recorded: i64,
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
    let mut subtype = vec![
        json!({"system": "http://hl7.org/fhir/restful-interaction", "code": facts.interaction}),
    ];
    if let Some(definition) = facts.operation {
        subtype.push(json!({"system": ehr_client::ips::URI_SYSTEM, "code": definition, "display": operation_name(definition)}));
    }
    json!({
        "resourceType": "AuditEvent",
        "type": {"system": "http://terminology.hl7.org/CodeSystem/audit-event-type", "code": "rest", "display": "RESTful Operation"},
        "subtype": subtype,
        "action": if facts.interaction == "read" { "R" } else { "E" },
        "recorded": instant(facts.recorded),
        "outcome": facts.outcome,
        "agent": [{
            "type": {"coding": [{"system": PARTICIPATION_TYPE_SYSTEM, "code": INFORMATION_RECIPIENT, "display": "information recipient"}]},
            "who": {"identifier": {"system": FHIR_CLIENT_SYSTEM, "value": facts.client.client_id}},
            "requestor": true,
        }],
        "source": {"observer": {"display": "ehr-fhir-gateway"}},
        "entity": entities,
    })
}

/// `$name` of an operation definition's canonical URL (its last path segment).
fn operation_name(definition: &str) -> String {
    let name = definition.rsplit('/').next().unwrap_or(definition);
    format!("${name}")
}

/// One sealed kind 2107 event per disclosed patient, each naming that patient only.
fn seal(state: &GatewayState, snapshot: &Snapshot, facts: &AccessFacts<'_>) -> Vec<Event> {
    let Some(epoch) = snapshot.roster.current_epoch() else {
        return Vec::new();
    };
    let created_at = Timestamp::from(u64::try_from(facts.recorded).unwrap_or_default());
    facts
        .patients
        .iter()
        .filter_map(|id| {
            let index = snapshot.patients.get(id)?;
            let json = audit_event(facts, std::iter::once(id)).to_string();
            match AuditRecord::seal(&state.config.key, &index.patient, epoch, &json, created_at) {
                Ok(record) => Some(record.event().clone()),
                Err(error) => {
                    tracing::error!(%error, "could not seal an audit event");
                    None
                }
            }
        })
        .collect()
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
                client_id: &facts.client.client_id,
                patients: facts.patients,
                outcome: facts.outcome,
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
