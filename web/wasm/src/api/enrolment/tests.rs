#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

use std::collections::BTreeSet;

use ehr_client::access;
use ehr_client::chart::FoldOptions;
use ehr_client::fhir::ResourceType;
use ehr_client::nostr::prelude::{Event, Timestamp};
use ehr_client::rotation;
use serde_json::json;

use super::*;

struct Practice {
    root: Identity,
    admin: Identity,
    events: Vec<Event>,
    connection: String,
}

fn practice() -> Practice {
    let (root, admin) = (Identity::generate(), Identity::generate());
    let now = Timestamp::from_secs(1_800_000_000);
    let (events, _) = rotation::genesis(&root, Some((admin.public_key(), None)), now).unwrap();
    let connection = Connection::new(root.public_key(), "wss://relay.example.org")
        .unwrap()
        .with_name("Example Clinic")
        .sign(&root)
        .unwrap()
        .to_string();
    Practice {
        root,
        admin,
        events,
        connection,
    }
}

fn enrolled(p: &Practice, npub: &str) -> Result<Value, ApiError> {
    let form = json!({
        "details": { "given": "Nova", "family": "Handover", "birthDate": "2020-02-02" },
        "npub": npub,
    });
    enrol(
        &p.admin,
        &p.root.public_key().to_hex(),
        &p.connection,
        &serde_json::to_string(&p.events).unwrap(),
        &form.to_string(),
        1_800_000_100.0,
    )
    .map(|json| serde_json::from_str(&json).unwrap())
}

/// What a phone's camera reads from the QR code as the page draws it (`path` at 4 px a module).
fn read_qr(qr: &Value) -> String {
    let size = usize::try_from(qr["size"].as_u64().unwrap()).unwrap();
    let dark: BTreeSet<(usize, usize)> = qr["path"]
        .as_str()
        .unwrap()
        .split('M')
        .filter(|m| !m.is_empty())
        .map(|m| {
            let (x, rest) = m.split_once(' ').unwrap();
            let y = rest.split_once('h').unwrap().0;
            (x.parse().unwrap(), y.parse().unwrap())
        })
        .collect();
    let scale = 4;
    let mut image = rqrr::PreparedImage::prepare_from_bitmap(size * scale, size * scale, |x, y| {
        dark.contains(&(x / scale, y / scale))
    });
    let grids = image.detect_grids();
    assert_eq!(grids.len(), 1);
    grids[0].decode().unwrap().1
}

#[test]
fn a_new_patient_opens_her_chart_with_the_handover_sheets_key_and_password() {
    let p = practice();
    let out = enrolled(&p, "").unwrap();
    let handover = &out["handover"];
    let password = handover["password"].as_str().unwrap();
    let ncryptsec = handover["ncryptsec"].as_str().unwrap();
    let secret = keys::parse_secret_key(ncryptsec, Some(password)).unwrap();
    let patient = Identity::from_secret_key(secret);
    assert_eq!(patient.public_key().to_hex(), out["patient"]);
    let mut events = p.events.clone();
    events.extend(serde_json::from_value::<Vec<Event>>(out["events"].clone()).unwrap());
    let (chart, _) = access::patient_chart(
        &p.root.public_key(),
        &patient,
        &events,
        FoldOptions::default(),
    );
    let details = chart.of_type(ResourceType::Patient).next().unwrap();
    let json = serde_json::to_value(&details.resource).unwrap();
    assert_eq!(json["name"][0]["family"], "Handover");
    assert_eq!(json["birthDate"], "2020-02-02");
}

#[test]
fn the_handover_sheets_qr_codes_read_back_as_the_connection_string_and_the_ncryptsec() {
    let p = practice();
    let out = enrolled(&p, "").unwrap();
    let handover = &out["handover"];
    assert_eq!(read_qr(&handover["connection_qr"]), p.connection);
    assert_eq!(
        read_qr(&handover["ncryptsec_qr"]),
        handover["ncryptsec"].as_str().unwrap()
    );
    // The sheet never carries the plaintext key, in any form.
    let secret = keys::parse_secret_key(
        handover["ncryptsec"].as_str().unwrap(),
        handover["password"].as_str(),
    )
    .unwrap();
    let patient = Identity::from_secret_key(secret);
    let text = out.to_string();
    assert!(!text.contains("nsec1"));
    assert!(!text.contains(&patient.secret_key().to_secret_hex()));
    assert!(!text.contains(patient.nsec().as_str()));
}

#[test]
fn a_patient_who_brings_her_own_npub_gets_no_handover() {
    let p = practice();
    let own = Identity::generate();
    let out = enrolled(&p, &own.npub()).unwrap();
    assert_eq!(out["patient"], own.public_key().to_hex());
    assert_eq!(out["handover"], Value::Null);
}

#[test]
fn another_practices_connection_string_or_a_form_without_a_name_is_refused() {
    let mut p = practice();
    let other = practice();
    p.connection = other.connection;
    assert!(matches!(
        enrolled(&p, ""),
        Err(ApiError::Field("connection string", _))
    ));
    let p = practice();
    let form = json!({ "details": { "given": "", "family": "" } });
    let refused = enrol(
        &p.admin,
        &p.root.public_key().to_hex(),
        &p.connection,
        &serde_json::to_string(&p.events).unwrap(),
        &form.to_string(),
        1_800_000_100.0,
    );
    assert!(refused.is_err());
}
