//! `GET /fhir/Patient/[id]/$summary`: the patient's International Patient Summary (the IPS
//! operation), built by [`ehr_client::ips::patient_summary`] from the chart the gateway folded
//! for her (DESIGN.md §14), then made what the gateway serves: every record carries its gateway
//! id and `meta`, its `fullUrl` is the URL it is read at, and what must not leave the practice
//! (internal ids, file keys, the project's tags and extensions) is taken out as for any read.
//!
//! Authorised as `$everything` is (a patient whose consent names the facility, else 404), and
//! the token must reach every type a summary can hold: a summary that left out what the token
//! may not see would say "nothing recorded" where something is. Audited as an `operation` whose
//! AuditEvent names the IPS operation's definition.

use std::collections::{BTreeSet, HashMap};

use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use ehr_client::chart::{Origin, RecordKey};
use ehr_client::fhir::ResourceType;
use ehr_client::ips::{self, IpsError, SummaryOptions};
use nostr::prelude::Timestamp;
use serde_json::Value;

use crate::GatewayState;
use crate::error::GatewayError;
use crate::routes::{audited_operation, fhir, patient_for};
use crate::served::{PatientIndex, prepare, served_type};
use crate::store::Interaction;

/// The canonical URL of the IPS `$summary` OperationDefinition.
pub const OPERATION: &str = "http://hl7.org/fhir/uv/ips/OperationDefinition/summary";

/// The types a summary can hold: the token must reach them all.
pub const SUMMARY_TYPES: [ResourceType; 6] = [
    ResourceType::Patient,
    ResourceType::AllergyIntolerance,
    ResourceType::MedicationRequest,
    ResourceType::Condition,
    ResourceType::Immunization,
    ResourceType::Observation,
];

/// `GET /fhir/Patient/[id]/$summary`.
pub(crate) async fn summary(
    state: &GatewayState,
    headers: &HeaderMap,
    id: &str,
    params: &[(String, String)],
) -> Result<Response, GatewayError> {
    audited_operation(
        state,
        headers,
        "operation",
        Some(OPERATION),
        params,
        async |client, snapshot| {
            check_params(params)?;
            if !SUMMARY_TYPES
                .iter()
                .all(|t| client.may(t.as_str(), Interaction::Read))
            {
                return Err(GatewayError::Forbidden(
                    "the token's scopes do not reach every type a summary holds",
                ));
            }
            let patient = patient_for(snapshot, client, id)
                .ok_or(GatewayError::NotFound("no such patient for this client"))?;
            let document = document(state, patient)?;
            Ok((
                fhir(StatusCode::OK, &document),
                BTreeSet::from([patient.id.clone()]),
            ))
        },
    )
    .await
}

/// The operation's parameters: `profile`, when it is the IPS Bundle profile (the only one
/// served). `identifier` names a patient for `Patient/$summary`, which is not served: here the
/// path names her. Anything else is refused, as everywhere in the gateway.
fn check_params(params: &[(String, String)]) -> Result<(), GatewayError> {
    for (name, value) in params {
        match name.as_str() {
            "profile" if value.split('|').next() == Some(ips::BUNDLE_PROFILE) => {}
            "profile" => {
                return Err(GatewayError::BadRequest(format!(
                    "$summary: the only profile served is {}",
                    ips::BUNDLE_PROFILE
                )));
            }
            "identifier" => {
                return Err(GatewayError::BadRequest(
                    "$summary: the patient is the one in the path; identifier is not supported"
                        .to_owned(),
                ));
            }
            _ => {
                return Err(GatewayError::BadRequest(format!(
                    "$summary: unsupported parameter `{name}` (profile)"
                )));
            }
        }
    }
    Ok(())
}

/// The patient's summary as the gateway serves it. A summary that does not pass
/// [`ips::check_summary`] (a record held as text only is not coded) is still served: it is
/// the chart. The warning names the rule, never the record.
fn document(state: &GatewayState, patient: &PatientIndex) -> Result<Value, GatewayError> {
    let practice_name = state.config.practice_name.as_deref().unwrap_or_default();
    let mut options = SummaryOptions::new(Timestamp::now(), practice_name);
    options.practice_key = Some(state.config.practice);
    let mut bundle = ips::patient_summary(patient.chart(), &options).map_err(|e| match e {
        IpsError::NoPatient => {
            GatewayError::NotFound("the patient has no Patient record to summarise")
        }
        _ => GatewayError::Unavailable("the summary could not be built"),
    })?;
    served_view(&mut bundle, &state.base, patient);
    if let Err(error) = ips::check_summary(&bundle) {
        tracing::warn!(%error, "a $summary does not pass the IPS checks; served as the chart is");
    }
    Ok(bundle)
}

/// Make each record of the document the resource the gateway serves (its gateway id, `meta`,
/// nothing internal), with the URL it is read at as its `fullUrl`, and point the document's
/// references at those URLs. The Composition and the practice's Organization keep their
/// `urn:uuid:`s: they are not resources of the gateway.
fn served_view(bundle: &mut Value, base: &str, patient: &PatientIndex) {
    let mut moved: HashMap<String, String> = HashMap::new();
    let Some(entries) = bundle.get_mut("entry").and_then(Value::as_array_mut) else {
        return;
    };
    for entry in entries.iter_mut() {
        let Some(key) = record_key(entry) else {
            continue;
        };
        let Some(record) = patient.chart().get(&key) else {
            continue;
        };
        let served_id = patient.served_id(&key);
        let last_updated = i64::try_from(record.updated_at.as_secs()).unwrap_or(i64::MAX);
        if let Some(resource) = entry.get_mut("resource") {
            prepare(
                resource,
                &patient.patient,
                &served_id,
                record.version,
                last_updated,
            );
        }
        let url = format!("{base}/{}/{served_id}", key.resource_type.as_str());
        if let Some(old) = entry.get("fullUrl").and_then(Value::as_str) {
            moved.insert(old.to_owned(), url.clone());
        }
        if let Some(map) = entry.as_object_mut() {
            map.insert("fullUrl".to_owned(), Value::String(url));
        }
    }
    repoint(bundle, &moved);
}

/// The chart record an entry of the document was made from (the gateway's records are all
/// the practice's).
fn record_key(entry: &Value) -> Option<RecordKey> {
    let resource = entry.get("resource")?;
    let resource_type = served_type(resource.get("resourceType")?.as_str()?)?;
    let id = resource.get("id")?.as_str()?;
    Some(RecordKey {
        resource_type,
        id: id.to_owned(),
        origin: Origin::Practice,
    })
}

/// Every `reference` in `value` that names a moved `fullUrl` now names where it moved.
fn repoint(value: &mut Value, moved: &HashMap<String, String>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(reference)) = map.get_mut("reference")
                && let Some(url) = moved.get(reference.as_str())
            {
                reference.clone_from(url);
            }
            for child in map.values_mut() {
                repoint(child, moved);
            }
        }
        Value::Array(items) => {
            for item in items {
                repoint(item, moved);
            }
        }
        _ => {}
    }
}
