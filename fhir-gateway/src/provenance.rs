//! Provenance: who wrote each served record, when, for which practice, and the Nostr signature
//! that proves it. Every record's current version was carried by one signed Nostr event; the
//! served index keeps that event's id, author, kind, version and BIP-340 Schnorr signature as
//! fixed-size bytes ([`Signed`], about 140 bytes a record), and a Provenance is built from them
//! when it is asked for (`GET /fhir/Provenance/[id]`, `GET /fhir/Provenance?target=|patient=`,
//! `_revinclude=Provenance:target`), never stored.
//!
//! A Provenance's id is its record's gateway id, `-v`, and the version it vouches for: only the
//! current version's event is kept, so an earlier version's Provenance is 404.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use base64::Engine as _;
use ehr_client::access::PracticeView;
use ehr_client::chart::ChartEntry;
use ehr_client::event::{ClinicalRecord, VerifiedEvent};
use ehr_client::roster::RosterChain;
use nostr::prelude::{Event, EventId, PublicKey, Signature, Timestamp};
use serde_json::{Value, json};

use crate::GatewayState;
use crate::bundle::{Entry as _, Listed, page_links, searchset};
use crate::error::GatewayError;
use crate::routes::{audited, fhir, patient_for};
use crate::served::{PatientIndex, SERVED_TYPES, ServedResource, instant, patient_of};
use crate::store::{Client, Interaction};
use crate::sync::Snapshot;

/// The resource type, as scopes and URLs name it.
pub const PROVENANCE: &str = "Provenance";

/// The identifier system of a Nostr public key (64 hex digits, BIP-340 x-only).
pub const PUBKEY_SYSTEM: &str = "urn:nostr-ehr:nostr-pubkey";

/// `policy`: the roster event (its id, hex) that authorised the author when the event was
/// signed, itself signed by the practice root or one of its admins.
pub const ROSTER_POLICY: &str = "urn:nostr-ehr:roster:";

/// `Signature.sigFormat`: `data` is a JSON object (below), base64.
pub const SIGNATURE_FORMAT: &str = "application/json";

const SIGNATURE_TYPE_SYSTEM: &str = "urn:iso-astm:E1762-95:2013";
const AUTHOR_SIGNATURE: &str = "1.2.840.10065.1.12.1.1";
const PARTICIPANT_TYPE: &str = "http://terminology.hl7.org/CodeSystem/provenance-participant-type";
const DATA_OPERATION: &str = "http://terminology.hl7.org/CodeSystem/v3-DataOperation";

/// What opening an event drops and a Provenance needs: the event's signature and kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seal {
    /// The BIP-340 Schnorr signature of the event id.
    pub sig: Signature,
    /// The event's kind.
    pub kind: u16,
}

impl Seal {
    /// The seal of `event`.
    pub fn of(event: &Event) -> Self {
        Self {
            sig: event.sig,
            kind: event.kind.as_u16(),
        }
    }
}

/// The signed event of a served record's current version, as fixed-size bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Signed {
    /// The event's id.
    pub event_id: EventId,
    /// Who signed it (the member who wrote the version).
    pub author: PublicKey,
    /// The record's version it carries.
    pub version: u32,
    /// Its signature and kind; `None` when the gateway opened the record from a copy without
    /// the original event (the Provenance then names the author and has no signature).
    pub seal: Option<Seal>,
}

impl Signed {
    /// The current version of a chart entry, sealed by `seal`.
    pub fn of(entry: &ChartEntry, seal: Option<Seal>) -> Self {
        Self {
            event_id: entry.event_id,
            author: entry.author,
            version: entry.version,
            seal,
        }
    }
}

/// An opened record and the seal of the event it came from, if known.
pub type Opened = (ClinicalRecord, Option<Seal>);

/// Open `events` (signatures verified by the transport), keeping the seal of each opened
/// record's event: an office copy's record names its original event, whose seal is kept only
/// if that event is among `events` (the copy's own signature is not the original's).
pub fn open_sealed(view: &PracticeView, events: Vec<VerifiedEvent>) -> Vec<Opened> {
    let mut seals: HashMap<EventId, Seal> = events
        .iter()
        .map(|e| (e.event().id, Seal::of(e.event())))
        .collect();
    view.open_verified(events, None)
        .records
        .into_iter()
        .map(|record| {
            let seal = seals.remove(&record.event_id);
            (record, seal)
        })
        .collect()
}

/// Who vouches for the authors: the practice root key (the roster chain starts at it), its
/// name, and the roster chain that says who was a member when.
#[derive(Debug, Clone, Copy)]
pub struct Voucher<'a> {
    /// The practice root key.
    pub practice: &'a PublicKey,
    /// The practice's name, if configured.
    pub practice_name: Option<&'a str>,
    /// The verified rosters.
    pub roster: &'a RosterChain,
}

impl<'a> Voucher<'a> {
    /// The voucher of this gateway's practice, with the snapshot's roster.
    pub fn of(state: &'a GatewayState, snapshot: &'a Snapshot) -> Self {
        Self {
            practice: &state.config.practice,
            practice_name: state.config.practice_name.as_deref(),
            roster: &snapshot.roster,
        }
    }
}

/// The id of the Provenance of `record`'s version `version`.
pub fn provenance_id(record: &str, version: u32) -> String {
    format!("{record}-v{version}")
}

/// A Provenance id: the record's gateway id and the version. (Gateway ids are hex digits and
/// dashes, so `-v` marks the version.)
fn parse_id(id: &str) -> Option<(&str, u32)> {
    let (record, version) = id.rsplit_once("-v")?;
    Some((record, version.parse().ok()?))
}

fn key_reference(key: &PublicKey, display: Option<&str>) -> Value {
    let mut reference = json!({"identifier": {"system": PUBKEY_SYSTEM, "value": key.to_hex()}});
    if let (Some(display), Some(map)) = (display, reference.as_object_mut()) {
        map.insert("display".to_owned(), Value::String(display.to_owned()));
    }
    reference
}

/// The Provenance of `resource`'s current version, if the gateway knows its event.
pub fn provenance(resource: &ServedResource, voucher: &Voucher<'_>) -> Option<Listed> {
    let signed = resource.signed?;
    let id = provenance_id(&resource.id, signed.version);
    let at = Timestamp::from_secs(u64::try_from(resource.last_updated).unwrap_or(0));
    let when = instant(resource.last_updated);
    let roster = voucher.roster.roster_at(at);
    let member = roster
        .and_then(|r| r.content.member(&signed.author))
        .filter(|m| m.is_valid_at(at));
    let author = key_reference(&signed.author, member.and_then(|m| m.name.as_deref()));
    let practice = key_reference(voucher.practice, voucher.practice_name);
    let mut agent = json!({
        "type": {"coding": [{"system": PARTICIPANT_TYPE, "code": "author", "display": "Author"}]},
        "who": author,
        "onBehalfOf": practice,
    });
    if let (Some(member), Some(map)) = (member, agent.as_object_mut()) {
        map.insert("role".to_owned(), json!([{"text": member.role.as_str()}]));
    }
    let (operation, display) = if signed.version <= 1 {
        ("CREATE", "create")
    } else {
        ("UPDATE", "revise")
    };
    let mut json = json!({
        "resourceType": PROVENANCE,
        "id": id,
        "meta": {"lastUpdated": when},
        "target": [{"reference": format!(
            "{}/{}/_history/{}", resource.resource_type.as_str(), resource.id, signed.version
        )}],
        "recorded": when,
        "activity": {"coding": [{"system": DATA_OPERATION, "code": operation, "display": display}]},
        "agent": [agent],
    });
    if let Some(map) = json.as_object_mut() {
        if let Some(roster) = roster {
            map.insert(
                "policy".to_owned(),
                json!([format!("{ROSTER_POLICY}{}", roster.id.to_hex())]),
            );
        }
        if let Some(seal) = signed.seal {
            map.insert(
                "signature".to_owned(),
                json!([signature(&signed, seal, at, &when, voucher)]),
            );
        }
    }
    Some(Listed::Built {
        resource_type: PROVENANCE,
        id,
        json: serde_json::value::to_raw_value(&json).ok()?,
    })
}

/// The author's signature: `data` is base64 of `{"id", "pubkey", "created_at", "kind", "sig"}`,
/// the signed Nostr event without its tags and content (ciphertext). The signature verifies
/// against the id with the author's key as it stands (BIP-340); the id commits to the content,
/// so anyone holding the event (the practice relay serves it by id) rebuilds and checks it
/// whole.
fn signature(
    signed: &Signed,
    seal: Seal,
    at: Timestamp,
    when: &str,
    voucher: &Voucher<'_>,
) -> Value {
    let event = json!({
        "id": signed.event_id.to_hex(),
        "pubkey": signed.author.to_hex(),
        "created_at": at.as_secs(),
        "kind": seal.kind,
        "sig": seal.sig.to_hex(),
    });
    json!({
        "type": [{"system": SIGNATURE_TYPE_SYSTEM, "code": AUTHOR_SIGNATURE, "display": "Author's Signature"}],
        "when": when,
        "who": key_reference(&signed.author, None),
        "onBehalfOf": key_reference(voucher.practice, voucher.practice_name),
        "sigFormat": SIGNATURE_FORMAT,
        "data": base64::engine::general_purpose::STANDARD.encode(event.to_string()),
    })
}

/// The served record with gateway id `record`, whatever its type.
fn record<'a>(patient: &'a PatientIndex, record: &str) -> Option<&'a Arc<ServedResource>> {
    SERVED_TYPES
        .iter()
        .find_map(|resource_type| patient.get(*resource_type, record))
}

/// `GET /fhir/Provenance/[id]`: the Provenance of a record's current version, for a client whose
/// scopes read Provenance and the record's type, of a patient whose consent names it.
pub async fn read(
    state: &GatewayState,
    id: &str,
    headers: &HeaderMap,
) -> Result<Response, GatewayError> {
    audited(state, headers, "read", &[], async |client, snapshot| {
        if !client.may(PROVENANCE, Interaction::Read) {
            return Err(GatewayError::Forbidden(
                "the token's scopes do not allow reading this type",
            ));
        }
        let (record_id, version) =
            parse_id(id).ok_or(GatewayError::NotFound("no such resource for this client"))?;
        let patient = patient_for(snapshot, client, patient_of(record_id))
            .ok_or(GatewayError::NotFound("no such resource for this client"))?;
        let found = record(patient, record_id)
            .filter(|r| client.may(r.resource_type.as_str(), Interaction::Read))
            .filter(|r| r.signed.is_some_and(|s| s.version == version))
            .and_then(|r| provenance(r, &Voucher::of(state, snapshot)))
            .ok_or(GatewayError::NotFound(
                "no such resource for this client (only the current version has a Provenance)",
            ))?;
        Ok((
            fhir(StatusCode::OK, &found.json()),
            BTreeSet::from([patient.id.clone()]),
        ))
    })
    .await
}

/// A parsed `GET /fhir/Provenance?...`.
#[derive(Debug, Default)]
struct Query {
    /// Each repeated parameter must match; within one, any value.
    filters: Vec<Filter>,
    count: usize,
    offset: usize,
    summary_count: bool,
    canonical: Vec<(String, String)>,
}

#[derive(Debug)]
enum Filter {
    /// `patient`: patient ids.
    Patient(Vec<String>),
    /// `target`: (type, record id, version), type and version optional.
    Target(Vec<(Option<String>, String, Option<u32>)>),
    /// `_id`: (record id, version).
    Id(Vec<(String, u32)>),
}

impl Query {
    fn parse(params: &[(String, String)], state: &GatewayState) -> Result<Self, GatewayError> {
        let mut query = Self {
            count: state.config.default_count,
            ..Self::default()
        };
        for (name, value) in params {
            let bad = |what: &str| {
                GatewayError::BadRequest(format!("{what} in search parameter `{name}`"))
            };
            if value.is_empty() {
                return Err(bad("an empty value"));
            }
            if name != "_offset" {
                query.canonical.push((name.clone(), value.clone()));
            }
            let values = value.split(',').map(str::trim).filter(|v| !v.is_empty());
            match name.as_str() {
                "patient" => query.filters.push(Filter::Patient(
                    values.map(|v| last_segment(v).to_owned()).collect(),
                )),
                "target" => query.filters.push(Filter::Target(
                    values
                        .map(|v| target_of(v).ok_or_else(|| bad("an invalid reference")))
                        .collect::<Result<_, _>>()?,
                )),
                "_id" => query.filters.push(Filter::Id(
                    values
                        .map(|v| parse_id(v).map(|(r, n)| (r.to_owned(), n)))
                        .collect::<Option<_>>()
                        .ok_or_else(|| bad("an invalid id"))?,
                )),
                "_count" => {
                    let count: usize = value.parse().map_err(|_| bad("a non-numeric value"))?;
                    query.summary_count |= count == 0;
                    query.count = count.min(state.config.max_count);
                }
                "_offset" => {
                    query.offset = value.parse().map_err(|_| bad("a non-numeric value"))?
                }
                "_summary" if value == "count" => query.summary_count = true,
                "_format" if value.contains("json") => {}
                _ => {
                    return Err(bad(
                        "an unknown parameter (Provenance: target, patient, _id)",
                    ));
                }
            }
        }
        Ok(query)
    }

    fn matches(&self, resource: &ServedResource, version: u32) -> bool {
        self.filters.iter().all(|filter| match filter {
            Filter::Patient(ids) => ids.iter().any(|id| id == patient_of(&resource.id)),
            Filter::Target(targets) => targets.iter().any(|(kind, id, at)| {
                *id == resource.id
                    && kind
                        .as_deref()
                        .is_none_or(|k| k == resource.resource_type.as_str())
                    && at.is_none_or(|at| at == version)
            }),
            Filter::Id(ids) => ids
                .iter()
                .any(|(id, at)| *id == resource.id && *at == version),
        })
    }

    /// The patients the filters confine the search to, if any does.
    fn patients(&self) -> Option<BTreeSet<&str>> {
        let mut confined: Option<BTreeSet<&str>> = None;
        for filter in &self.filters {
            let named: BTreeSet<&str> = match filter {
                Filter::Patient(ids) => ids.iter().map(String::as_str).collect(),
                Filter::Target(targets) => targets.iter().map(|t| patient_of(&t.1)).collect(),
                Filter::Id(ids) => ids.iter().map(|i| patient_of(&i.0)).collect(),
            };
            confined = Some(match confined {
                Some(before) => before.intersection(&named).copied().collect(),
                None => named,
            });
        }
        confined
    }
}

fn last_segment(value: &str) -> &str {
    value.rsplit('/').next().unwrap_or(value)
}

/// `Observation/[id]`, `Observation/[id]/_history/[n]`, `[id]` (or an absolute URL ending so).
fn target_of(value: &str) -> Option<(Option<String>, String, Option<u32>)> {
    let (path, version) = match value.rsplit_once("/_history/") {
        Some((path, version)) => (path, Some(version.parse().ok()?)),
        None => (value, None),
    };
    let mut segments = path.rsplit('/');
    let id = segments.next().filter(|id| !id.is_empty())?;
    let kind = segments.next().map(str::to_owned);
    Some((kind, id.to_owned(), version))
}

/// Every record whose Provenance `query` matches, among the patients `client` may see, for the
/// types its scopes let it search: newest first, then by id.
fn matches_of<'a>(
    snapshot: &'a Snapshot,
    client: &Client,
    query: &Query,
) -> Vec<&'a Arc<ServedResource>> {
    let confined = query.patients();
    let patients: Vec<&Arc<PatientIndex>> = match &confined {
        Some(ids) => ids
            .iter()
            .filter_map(|id| patient_for(snapshot, client, id))
            .collect(),
        None => snapshot
            .patients
            .values()
            .filter(|p| p.sharing.allows(&client.client_id))
            .collect(),
    };
    let mut matches: Vec<&Arc<ServedResource>> = patients
        .iter()
        .flat_map(|p| p.resources.iter())
        .filter(|r| client.may(r.resource_type.as_str(), Interaction::Search))
        .filter(|r| r.signed.is_some_and(|s| query.matches(r, s.version)))
        .collect();
    matches.sort_by(|a, b| {
        b.last_updated
            .cmp(&a.last_updated)
            .then_with(|| a.id.cmp(&b.id))
    });
    matches
}

/// `GET /fhir/Provenance?target=|patient=|_id=` (and `POST .../_search`), logged as
/// `interaction`: the Provenance of each matching record the client may see, paged.
pub async fn search(
    state: &GatewayState,
    params: &[(String, String)],
    headers: &HeaderMap,
    interaction: &str,
) -> Result<Response, GatewayError> {
    audited(
        state,
        headers,
        interaction,
        params,
        async |client, snapshot| {
            if !client.may(PROVENANCE, Interaction::Search) {
                return Err(GatewayError::Forbidden(
                    "the token's scopes do not allow searching this type",
                ));
            }
            let query = Query::parse(params, state)?;
            let matches = matches_of(snapshot, client, &query);
            let total = matches.len();
            let voucher = Voucher::of(state, snapshot);
            let page: Vec<Listed> = if query.summary_count {
                Vec::new()
            } else {
                matches
                    .iter()
                    .skip(query.offset)
                    .take(query.count)
                    .filter_map(|r| provenance(r, &voucher))
                    .collect()
            };
            let seen: BTreeSet<String> = if query.summary_count {
                // As for other counts (routes.rs): named only when the search named her.
                match query.patients() {
                    Some(ids) if ids.len() == 1 => ids.into_iter().map(str::to_owned).collect(),
                    _ => BTreeSet::new(),
                }
            } else {
                page.iter().map(|p| p.patient().to_owned()).collect()
            };
            let links = page_links(
                &state.base,
                PROVENANCE,
                &query.canonical,
                query.offset,
                page.len(),
                total,
            );
            let body = searchset::<Listed, Listed>(&state.base, total, links, &page, &[]);
            Ok((fhir(StatusCode::OK, &body), seen))
        },
    )
    .await
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

    use ehr_client::fhir::ResourceType;
    use nostr::prelude::{EventBuilder, FinalizeEvent, Keys, Kind};

    use super::*;

    #[test]
    fn ids_and_targets_parse_back() {
        let id = provenance_id("abc-def", 3);
        assert_eq!(parse_id(&id), Some(("abc-def", 3)));
        assert_eq!(parse_id("abc"), None);
        assert_eq!(parse_id("abc-vx"), None);
        assert_eq!(
            target_of("Observation/a-b/_history/2"),
            Some((Some("Observation".to_owned()), "a-b".to_owned(), Some(2)))
        );
        assert_eq!(target_of("a-b"), Some((None, "a-b".to_owned(), None)));
        assert_eq!(target_of("Observation/a-b/_history/x"), None);
        assert_eq!(target_of("Observation/"), None);
    }

    /// A Provenance's signature is the event's: rebuilt from `data` with the event's tags and
    /// content, it verifies; the author and the practice are named by key.
    #[test]
    fn a_provenance_carries_a_signature_that_rebuilds_the_event() {
        let author = Keys::generate();
        let practice = Keys::generate().public_key();
        let event = EventBuilder::new(Kind::Custom(2111), "ciphertext")
            .finalize(&author)
            .unwrap();
        let mut served = ServedResource::new(
            ResourceType::Observation,
            "p-r".to_owned(),
            i64::try_from(event.created_at.as_secs()).unwrap(),
            &json!({"resourceType": "Observation"}),
        )
        .unwrap();
        served.signed = Some(Signed {
            event_id: event.id,
            author: event.pubkey,
            version: 2,
            seal: Some(Seal::of(&event)),
        });
        let roster = RosterChain::default();
        let voucher = Voucher {
            practice: &practice,
            practice_name: Some("Clinic"),
            roster: &roster,
        };
        let Some(Listed::Built { id, json, .. }) = provenance(&served, &voucher) else {
            panic!("no Provenance");
        };
        assert_eq!(id, "p-r-v2");
        let json: Value = serde_json::from_str(json.get()).unwrap();
        assert_eq!(json["target"][0]["reference"], "Observation/p-r/_history/2");
        assert_eq!(json["activity"]["coding"][0]["code"], "UPDATE");
        let agent = &json["agent"][0];
        assert_eq!(
            agent["who"]["identifier"]["value"],
            author.public_key().to_hex()
        );
        assert_eq!(
            agent["onBehalfOf"]["identifier"]["value"],
            practice.to_hex()
        );
        assert_eq!(agent["onBehalfOf"]["display"], "Clinic");
        let data = base64::engine::general_purpose::STANDARD
            .decode(json["signature"][0]["data"].as_str().unwrap())
            .unwrap();
        let facts: Value = serde_json::from_slice(&data).unwrap();
        let rebuilt = Event::new(
            EventId::from_hex(facts["id"].as_str().unwrap()).unwrap(),
            PublicKey::from_hex(facts["pubkey"].as_str().unwrap()).unwrap(),
            Timestamp::from_secs(facts["created_at"].as_u64().unwrap()),
            Kind::from(u16::try_from(facts["kind"].as_u64().unwrap()).unwrap()),
            event.tags.clone(),
            event.content.clone(),
            Signature::from_hex(facts["sig"].as_str().unwrap()).unwrap(),
        );
        assert!(rebuilt.verify().is_ok());
        // Without a seal: the author, and no signature.
        served.signed = served.signed.map(|s| Signed { seal: None, ..s });
        let Some(Listed::Built { json, .. }) = provenance(&served, &voucher) else {
            panic!("no Provenance");
        };
        assert!(!json.get().contains("\"signature\""));
    }
}
