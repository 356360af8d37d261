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
//!
//! Break-glass (DESIGN.md §15): a credential with the emergency scope gets the summary of a
//! patient who opted in to emergency access, whatever her sharing consent says, if it states a
//! `reason`; it gets 403 for anyone else, opted out or unknown alike, and nothing else anywhere
//! (its scope reads no type). Its AuditEvent carries the purpose `ETREAT` and the reason, and
//! the patient is sent a notice at once.
//!
//! The type-level form `GET Patient/$summary?identifier=system|value` finds the patient by her
//! Patient record's identifier among those the credential may have.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use ehr_client::chart::{Chart, Origin, RecordKey};
use ehr_client::fhir::ResourceType;
use ehr_client::ips::{self, IpsError, SummaryOptions};
use nostr::prelude::{PublicKey, Timestamp};
use serde_json::Value;
use serde_json::value::RawValue;

use crate::GatewayState;
use crate::error::GatewayError;
use crate::routes::{audited_operation, fhir, patient_for};
use crate::served::{PatientIndex, SummaryAuthor, prepare, served_type};
use crate::store::Interaction;
use crate::sync::Snapshot;

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

/// Which patient a `$summary` request names.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Target<'a> {
    /// `Patient/[id]/$summary`.
    Id(&'a str),
    /// `Patient/$summary?identifier=...`.
    ByIdentifier,
}

/// The longest emergency reason kept.
const REASON_MAX: usize = 500;

/// `GET /fhir/Patient/[id]/$summary` and `GET /fhir/Patient/$summary?identifier=`.
pub(crate) async fn summary(
    state: &GatewayState,
    headers: &HeaderMap,
    target: Target<'_>,
    params: &[(String, String)],
) -> Result<Response, GatewayError> {
    audited_operation(
        state,
        headers,
        "operation",
        Some(OPERATION),
        params,
        async |client, snapshot| {
            let emergency = client.is_emergency();
            check_params(params, target, emergency)?;
            let patient = if emergency {
                emergency_patient(snapshot, target, params)?
            } else {
                if !SUMMARY_TYPES
                    .iter()
                    .all(|t| client.may(t.as_str(), Interaction::Read))
                {
                    return Err(GatewayError::Forbidden(
                        "the token's scopes do not reach every type a summary holds",
                    ));
                }
                let found = match target {
                    Target::Id(id) => patient_for(snapshot, client, id),
                    Target::ByIdentifier => {
                        by_identifier(snapshot, params, |p| p.sharing.allows(&client.client_id))?
                    }
                };
                found.ok_or(GatewayError::NotFound("no such patient for this client"))?
            };
            let document = document(state, patient)?;
            Ok((
                fhir(StatusCode::OK, &document),
                BTreeSet::from([patient.id.clone()]),
            ))
        },
    )
    .await
}

/// The opted-in patient an emergency credential names. Anyone else, opted out or unknown, is
/// the same 403: the answer says nothing about who is a patient here.
fn emergency_patient<'a>(
    snapshot: &'a Snapshot,
    target: Target<'_>,
    params: &[(String, String)],
) -> Result<&'a Arc<PatientIndex>, GatewayError> {
    let found = match target {
        Target::Id(id) => snapshot.patients.get(id).filter(|p| p.emergency),
        Target::ByIdentifier => by_identifier(snapshot, params, |p| p.emergency)?,
    };
    found.ok_or(GatewayError::Forbidden(
        "no emergency access to this patient: she has not opted in to emergency access",
    ))
}

/// The one patient, among those `allowed`, whose own Patient record has the `identifier`
/// (`system|value`, or `value` in any system).
fn by_identifier<'a>(
    snapshot: &'a Snapshot,
    params: &[(String, String)],
    allowed: impl Fn(&PatientIndex) -> bool,
) -> Result<Option<&'a Arc<PatientIndex>>, GatewayError> {
    let wanted = param(params, "identifier").ok_or_else(|| {
        GatewayError::BadRequest("Patient/$summary: identifier is required".to_owned())
    })?;
    // The same token matching as `Patient?identifier=`, against the keys taken when her chart
    // was indexed: nothing is inflated or parsed per patient.
    let query = [("identifier".to_owned(), wanted.to_owned())];
    let paging = crate::search::Paging {
        default_count: 1,
        max_count: 1,
    };
    let search = crate::search::Search::parse(ResourceType::Patient, &query, paging)?;
    let mut found = snapshot
        .patients
        .values()
        .filter(|p| allowed(p))
        .filter(|p| {
            p.get(ResourceType::Patient, &p.id)
                .is_some_and(|own| search.matches(own))
        });
    let first = found.next();
    if found.next().is_some() {
        return Err(GatewayError::BadRequest(
            "Patient/$summary: the identifier names more than one patient".to_owned(),
        ));
    }
    Ok(first)
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// The emergency reason a request states, trimmed, if it is one the gateway keeps (1 to 500
/// characters, no control characters).
pub(crate) fn stated_reason(params: &[(String, String)]) -> Option<&str> {
    let reason = param(params, "reason")?.trim();
    let fine = !reason.is_empty()
        && reason.chars().count() <= REASON_MAX
        && !reason.chars().any(char::is_control);
    fine.then_some(reason)
}

/// The notice a patient gets of an emergency access: `(subject, text)`.
pub(crate) fn emergency_notice(facility: &str, reason: &str, at: i64) -> (String, String) {
    (
        "Emergency access to your health summary".to_owned(),
        format!(
            "The facility \"{facility}\" opened your health summary for emergency treatment at {}. \
             The reason it gave: \"{reason}\". You allowed emergency access; if this was not \
             expected, contact your practice.",
            crate::audit::notice_time(at)
        ),
    )
}

/// The operation's parameters: `profile`, when it is the IPS Bundle profile (the only one
/// served); `identifier` for the type-level form only; `reason`, required of an emergency
/// credential and of no other. Anything else is refused, as everywhere in the gateway.
fn check_params(
    params: &[(String, String)],
    target: Target<'_>,
    emergency: bool,
) -> Result<(), GatewayError> {
    for (name, value) in params {
        match name.as_str() {
            "profile" if value.split('|').next() == Some(ips::BUNDLE_PROFILE) => {}
            "profile" => {
                return Err(GatewayError::BadRequest(format!(
                    "$summary: the only profile served is {}",
                    ips::BUNDLE_PROFILE
                )));
            }
            "identifier" if matches!(target, Target::ByIdentifier) => {}
            "identifier" => {
                return Err(GatewayError::BadRequest(
                    "$summary: the patient is the one in the path; identifier is not supported"
                        .to_owned(),
                ));
            }
            "reason" if emergency => {}
            "reason" => {
                return Err(GatewayError::BadRequest(
                    "$summary: reason is for emergency access (the emergency scope) only"
                        .to_owned(),
                ));
            }
            _ => {
                return Err(GatewayError::BadRequest(format!(
                    "$summary: unsupported parameter `{name}` (profile, identifier, reason)"
                )));
            }
        }
    }
    if emergency && stated_reason(params).is_none() {
        return Err(GatewayError::BadRequest(
            "$summary: emergency access must state a reason (1 to 500 characters)".to_owned(),
        ));
    }
    Ok(())
}

/// Stands for the gateway's FHIR base in a summary made before the base is known (a chart is
/// folded before the gateway listens): JSON writes it as `\u0001gateway-base\u0001`, which
/// no record's text can hold (FHIR strings have no control characters).
const BASE: &str = "\u{1}gateway-base\u{1}";

/// A patient's summary, made when her chart is folded (the chart is not kept): the IPS
/// document as JSON, its `Bundle.timestamp` and `Composition.date` the time of that fold.
#[derive(Debug, Clone)]
pub enum Summary {
    /// The document, with `BASE` where the gateway's base URL goes.
    Made(Box<RawValue>),
    /// The chart has no Patient record to summarise (404).
    NoPatient,
    /// It could not be made (503).
    Failed,
    /// None was asked for ([`PatientIndex::build`]).
    NotMade,
}

impl Summary {
    /// The summary of `chart` (the practice's records of `patient`) as the gateway serves it,
    /// made `now`; `served_id` is each record's gateway id. A summary that does not pass
    /// [`ips::check_summary`] (a record held as text only is not coded) is still served: it
    /// is the chart. The warning names the rule, never the record.
    pub(crate) fn of(
        chart: &Chart,
        patient: &PublicKey,
        served_id: &dyn Fn(&RecordKey) -> String,
        author: &SummaryAuthor,
        now: Timestamp,
    ) -> Self {
        let mut options = SummaryOptions::new(now, &author.practice_name);
        options.practice_key = Some(author.practice_key);
        let mut bundle = match ips::patient_summary(chart, &options) {
            Ok(bundle) => bundle,
            Err(IpsError::NoPatient) => return Self::NoPatient,
            Err(_) => return Self::Failed,
        };
        served_view(&mut bundle, chart, patient, served_id);
        if let Err(error) = ips::check_summary(&bundle) {
            tracing::warn!(%error, "a $summary does not pass the IPS checks; served as the chart is");
        }
        serde_json::value::to_raw_value(&bundle).map_or(Self::Failed, Self::Made)
    }
}

/// The patient's summary as the gateway serves it, with its base URL.
fn document(state: &GatewayState, patient: &PatientIndex) -> Result<Box<RawValue>, GatewayError> {
    match &patient.summary {
        Summary::Made(json) => {
            let base = serde_json::to_string(&state.base)
                .map_err(|_| GatewayError::Unavailable("the summary could not be built"))?;
            let base = base
                .get(1..base.len().saturating_sub(1))
                .unwrap_or_default();
            let placeholder = serde_json::to_string(BASE)
                .map_err(|_| GatewayError::Unavailable("the summary could not be built"))?;
            let placeholder = placeholder
                .get(1..placeholder.len().saturating_sub(1))
                .unwrap_or_default();
            RawValue::from_string(json.get().replace(placeholder, base))
                .map_err(|_| GatewayError::Unavailable("the summary could not be built"))
        }
        Summary::NoPatient => Err(GatewayError::NotFound(
            "the patient has no Patient record to summarise",
        )),
        Summary::Failed | Summary::NotMade => {
            Err(GatewayError::Unavailable("the summary could not be built"))
        }
    }
}

/// Make each record of the document the resource the gateway serves (its gateway id, `meta`,
/// nothing internal), with the URL it is read at as its `fullUrl`, and point the document's
/// references at those URLs. The Composition and the practice's Organization keep their
/// `urn:uuid:`s: they are not resources of the gateway.
fn served_view(
    bundle: &mut Value,
    chart: &Chart,
    patient: &PublicKey,
    served_id: &dyn Fn(&RecordKey) -> String,
) {
    let mut moved: HashMap<String, String> = HashMap::new();
    let Some(entries) = bundle.get_mut("entry").and_then(Value::as_array_mut) else {
        return;
    };
    for entry in entries.iter_mut() {
        let Some(key) = record_key(entry) else {
            continue;
        };
        let Some(record) = chart.get(&key) else {
            continue;
        };
        let served_id = served_id(&key);
        let last_updated = i64::try_from(record.updated_at.as_secs()).unwrap_or(i64::MAX);
        if let Some(resource) = entry.get_mut("resource") {
            prepare(resource, patient, &served_id, record.version, last_updated);
        }
        let url = format!("{BASE}/{}/{served_id}", key.resource_type.as_str());
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
