#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! What a patient writes in the portal, in a real browser (headless Chromium, 375 px), on the
//! demo practice, and what the practice sees of it with `ehr`:
//!
//! - a supplement she takes: in her chart after the reload, and in the doctor's `ehr chart
//!   show` marked patient-reported;
//! - messages: her reply in her thread and a new thread reach the doctor; the doctor's answer
//!   (`ehr record add`) appears in her thread, named from the roster;
//! - consent: her grant counts once staff run `ehr rotate` (the facility's API key then reads
//!   her `$everything`); her withdrawal stops the gateway at once, before staff act, and the
//!   next `ehr rotate` rotates her chart key away from the gateway.
//!
//! Needs `scripts/build-web`, Chromium and `npm ci --prefix tests/node` (`scripts/test`).

mod demo_common;

use std::path::Path;
use std::time::Duration;

use demo_common::{Seeded, ehr, everything, start_seeded, until_status};
use ehr_client::access::PracticeView;
use ehr_client::net::RelayClient;
use ehr_client::nostr::prelude::{Filter, Kind};
use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::{Value, json};
use tokio::sync::Mutex;

const CHROMIUM: &str = "/usr/bin/chromium";
const SUPPLEMENT: &str = "Vitamin D3 (test)";
const REPLY: &str = "Thank you, noted. (test reply)";
const SUBJECT: &str = "Question about vitamin D";
const MESSAGE: &str = "Should I keep taking vitamin D in summer? (test)";
const ANSWER: &str = "Yes, keep the same dose all year. (test answer)";
const FACILITY: &str = "demo-hospital";

fn origin(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let host = rest.split(['/', '?']).next().unwrap_or_default();
    format!("{scheme}://{host}")
}

fn run_phase(input: Value) -> Value {
    let results =
        ehr_tests::node::run_json_lines("portal-records.mjs", "playwright-core", &input).unwrap();
    let result = results.into_iter().next().unwrap();
    assert!(result.get("failure").is_none(), "{result}");
    result
}

/// No failed step, no request to another origin, sockets only to `relays`, no CSP violation.
fn check_page(result: &Value, portal: &str, relays: &[&str]) {
    assert_eq!(result["loginError"], "", "{result}");
    for step in result["steps"].as_array().unwrap() {
        assert_eq!(step["error"], json!([]), "{step}");
    }
    // The portal's own files, and its practice relay's NIP-11 document (the page size).
    for url in result["requests"].as_array().unwrap() {
        let from = origin(url.as_str().unwrap());
        assert!(
            from == portal
                || relays
                    .first()
                    .is_some_and(|r| from == r.replacen("ws://", "http://", 1)),
            "{url}"
        );
    }
    for url in result["websockets"].as_array().unwrap() {
        assert!(
            relays.contains(&origin(url.as_str().unwrap()).as_str()),
            "{url}"
        );
    }
    assert_eq!(result["violations"], json!([]), "CSP violated: {result}");
    assert_eq!(result["errors"], json!([]), "console errors: {result}");
}

fn thread<'a>(threads: &'a Value, topic: &str) -> &'a Vec<Value> {
    threads
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["topic"] == topic)
        .unwrap_or_else(|| panic!("no thread {topic}: {threads}"))["messages"]
        .as_array()
        .unwrap()
}

/// `value` with every number as an f64, so 120 and 120.0 compare equal.
fn numbers_as_f64(value: &Value) -> Value {
    match value {
        Value::Number(n) => json!(n.as_f64()),
        Value::Array(items) => Value::Array(items.iter().map(numbers_as_f64).collect()),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), numbers_as_f64(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Her own relay: a minimal NIP-01 relay that keeps every event whose signature verifies,
/// exactly as it arrived, and answers `OK` (false, `invalid:`, for the rest). Its URL and store.
async fn her_relay() -> (String, std::sync::Arc<Mutex<Vec<String>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}", listener.local_addr().unwrap());
    let stored = std::sync::Arc::new(Mutex::new(Vec::new()));
    let store = std::sync::Arc::clone(&stored);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let store = std::sync::Arc::clone(&store);
            tokio::spawn(async move {
                let Ok(mut socket) = tokio_tungstenite::accept_async(stream).await else {
                    return;
                };
                while let Some(Ok(message)) = socket.next().await {
                    let Ok(text) = message.into_text() else {
                        continue;
                    };
                    let Ok(raw_parts) =
                        serde_json::from_str::<Vec<Box<serde_json::value::RawValue>>>(&text)
                    else {
                        continue;
                    };
                    let Ok(Value::Array(parts)) = serde_json::from_str::<Value>(&text) else {
                        continue;
                    };
                    let answer = match parts.first().and_then(Value::as_str) {
                        Some("EVENT") => {
                            // Kept byte for byte as it arrived.
                            let raw = raw_parts[1].get().to_owned();
                            let valid =
                                serde_json::from_value::<ehr_client::nostr::prelude::Event>(
                                    parts[1].clone(),
                                )
                                .is_ok_and(|event| event.verify().is_ok());
                            if valid {
                                store.lock().await.push(raw);
                            }
                            let reason = if valid { "" } else { "invalid: signature" };
                            json!(["OK", parts[1]["id"], valid, reason])
                        }
                        Some("REQ") => json!(["EOSE", parts[1]]),
                        _ => continue,
                    };
                    let reply = tokio_tungstenite::tungstenite::Message::text(answer.to_string());
                    if socket.send(reply).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    (url, stored)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_patient_writes_messages_and_consent_in_the_browser_and_the_practice_sees_them() {
    let wasm = Path::new(ehr_portal::assets::DEFAULT_DIR).join("ehr_web_wasm_bg.wasm");
    assert!(wasm.is_file(), "run scripts/build-web first");
    assert!(Path::new(CHROMIUM).is_file(), "Chromium is missing");
    let home = tempfile::tempdir().unwrap();
    let Seeded {
        mut stack,
        keys,
        info,
        connection,
        ..
    } = start_seeded(home.path()).await;
    let portal = stack.urls().portal.clone().unwrap();
    let relay = stack.urls().relay.clone();
    let fhir = stack.urls().fhir.clone().unwrap();
    let maria = &keys.patients[0];
    let npub = maria.npub();
    let maria_fhir = ehr_fhir_gateway::served::patient_id(&maria.public_key());
    let doctor_home = home.path().join("doctor");
    ehr(
        &doctor_home,
        &keys.doctor,
        &["practice", "connect", &connection],
    );
    let base = json!({
        "portal": portal,
        "chromium": CHROMIUM,
        "connection": connection,
        "nsec": maria.nsec().as_str(),
    });

    // She adds a supplement, replies in her thread, starts another, and consents to sharing.
    let mut input = base.clone();
    input["phase"] = json!("write");
    input["supplement"] = json!(SUPPLEMENT);
    input["dose"] = json!("1000 IU daily");
    input["thread"] = json!("Lab results");
    input["reply"] = json!(REPLY);
    input["subject"] = json!(SUBJECT);
    input["message"] = json!(MESSAGE);
    input["facility"] = json!(FACILITY);
    let written = tokio::task::spawn_blocking(move || run_phase(input))
        .await
        .unwrap();
    check_page(&written, &portal, &[&relay]);
    let rows = written["chartRows"].to_string();
    assert!(rows.contains(SUPPLEMENT), "not in her chart: {written}");
    assert!(
        written["reported"][0]
            .as_str()
            .unwrap()
            .starts_with(SUPPLEMENT)
    );
    let lab = thread(&written["threadsAfter"], "Lab results");
    assert_eq!(
        lab.len(),
        thread(&written["threadsBefore"], "Lab results").len() + 1
    );
    let last = lab.last().unwrap();
    assert_eq!(last["text"], REPLY);
    assert_eq!(last["from"], "You");
    assert!(
        lab.iter()
            .any(|m| m["from"] == "Dr. Demo Rivera (synthetic)" && m["mine"] == false)
    );
    assert_eq!(
        thread(&written["threadsAfter"], SUBJECT)[0]["text"],
        MESSAGE
    );
    assert!(
        written["sharing"].as_str().unwrap().contains(FACILITY),
        "{written}"
    );

    // The doctor sees all of it, her entries marked as hers.
    let table = demo_common::ehr_output(
        &doctor_home,
        &keys.doctor,
        &["chart", "show", "--patient", &npub],
    );
    let table = String::from_utf8(table.stdout).unwrap();
    let line = table.lines().find(|l| l.contains(SUPPLEMENT)).unwrap();
    assert!(
        line.starts_with("MedicationRequest") && line.contains("patient-reported"),
        "{line}"
    );
    let bundle = ehr(
        &doctor_home,
        &keys.doctor,
        &["chart", "show", "--patient", &npub, "--format", "bundle"],
    );
    let resources: Vec<&Value> = bundle["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["resource"])
        .collect();
    let marked = |r: &Value| r["meta"]["tag"].to_string().contains("patient-reported");
    let supplement = resources
        .iter()
        .find(|r| r["medicationCodeableConcept"]["text"] == SUPPLEMENT)
        .unwrap();
    assert!(marked(supplement) && supplement["reportedBoolean"] == true);
    let text_of = |r: &Value| r["payload"][0]["contentString"].clone();
    let reply = resources.iter().find(|r| text_of(r) == REPLY).unwrap();
    let answered = reply["inResponseTo"][0]["reference"].as_str().unwrap();
    let answered_id = answered.strip_prefix("Communication/").unwrap();
    assert!(
        resources.iter().any(|r| r["id"] == answered_id
            && !marked(r)
            && text_of(r).to_string().contains("same dose")),
        "her reply answers the doctor's last message"
    );
    let question = resources.iter().find(|r| text_of(r) == MESSAGE).unwrap();
    assert!(marked(reply) && marked(question));
    assert_eq!(question["topic"]["text"], SUBJECT);
    // Practice records are not marked.
    assert!(
        resources
            .iter()
            .any(|r| r["resourceType"] == "Encounter" && !marked(r))
    );

    // The doctor answers her new thread with `ehr`.
    let answer = json!({
        "resourceType": "Communication",
        "id": "c0ffee00-0000-4000-8000-000000000001",
        "meta": { "versionId": "1" },
        "status": "completed",
        "subject": question["subject"],
        "inResponseTo": [{ "reference": format!("Communication/{}", question["id"].as_str().unwrap()) }],
        "sent": "2026-11-21T12:00:00Z",
        "payload": [{ "contentString": ANSWER }],
    });
    let answer_file = home.path().join("answer.json");
    std::fs::write(&answer_file, answer.to_string()).unwrap();
    ehr(
        &doctor_home,
        &keys.doctor,
        &[
            "record",
            "add",
            "--patient",
            &npub,
            answer_file.to_str().unwrap(),
        ],
    );

    // Her consent counts once staff run the key maintenance, which records it for the gateway.
    assert_ne!(
        everything(&fhir, &info.fhir_api_key, &maria_fhir).await,
        200
    );
    ehr(&doctor_home, &keys.doctor, &["rotate"]);
    until_status(&fhir, &info.fhir_api_key, &maria_fhir, |s| s == 200).await;

    // She reads the answer in her thread, and withdraws her consent.
    let screenshot = home.path().join("messages.png");
    let bundle_file = home.path().join("chart.fhir.json");
    let events_file = home.path().join("events.jsonl");
    let (mirror_url, mirrored) = her_relay().await;
    let mut input = base.clone();
    input["bundleFile"] = json!(bundle_file);
    input["eventsFile"] = json!(events_file);
    input["mirror"] = json!(mirror_url);
    input["phase"] = json!("read");
    input["withdraw"] = json!(true);
    input["screenshot"] = json!(screenshot);
    let read = tokio::task::spawn_blocking(move || run_phase(input))
        .await
        .unwrap();
    // Her own relay is the one other socket: the mirror.
    check_page(&read, &portal, &[&relay, &mirror_url]);
    let question_thread = thread(&read["threads"], SUBJECT);
    assert_eq!(question_thread.len(), 2, "{read}");
    assert_eq!(question_thread[1]["text"], ANSWER);
    assert_eq!(question_thread[1]["from"], "Dr. Demo Rivera (synthetic)");
    assert!(read["sharingBefore"].as_str().unwrap().contains(FACILITY));
    assert!(
        read["sharing"].as_str().unwrap().contains("do not share"),
        "{read}"
    );

    // Her exports: the folded chart as the CLI folds it for her, valid FHIR R4 entry by entry;
    // her raw events, each signed and verifying, rosters first; the mirror has each of them.
    let maria_home = home.path().join("maria");
    ehr(&maria_home, maria, &["practice", "connect", &connection]);
    let cli = ehr(
        &maria_home,
        maria,
        &["chart", "show", "--patient", &npub, "--format", "bundle"],
    );
    let exported: Value = serde_json::from_slice(&std::fs::read(&bundle_file).unwrap()).unwrap();
    // JavaScript writes 120.0 as 120: the same JSON number, compared as numbers.
    assert_eq!(numbers_as_f64(&exported), numbers_as_f64(&cli));
    assert_eq!(exported["resourceType"], "Bundle");
    for entry in exported["entry"].as_array().unwrap() {
        let resource = entry["resource"].to_string();
        ehr_client::fhir::Resource::from_json(&resource)
            .unwrap_or_else(|e| panic!("not FHIR R4 ({e}): {resource}"));
    }
    assert!(exported.to_string().contains(SUPPLEMENT));
    let lines: Vec<String> = std::fs::read_to_string(&events_file)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    let events: Vec<ehr_client::nostr::prelude::Event> = lines
        .iter()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert!(events.iter().all(|e| e.verify().is_ok()));
    assert_eq!(events[0].kind.as_u16(), 2102, "rosters first");
    let maria_hex = maria.public_key().to_hex();
    for event in events.iter().filter(|e| e.kind.as_u16() != 2102) {
        assert!(
            event
                .tags
                .iter()
                .any(|t| t.as_slice() == ["p", maria_hex.as_str()])
        );
    }
    assert!(
        events
            .iter()
            .any(|e| e.kind.as_u16() == 2112 && e.pubkey == maria.public_key())
    );
    assert!(
        read["badMirror"]
            .as_str()
            .unwrap()
            .contains("must start with wss://"),
        "{read}"
    );
    assert_eq!(
        read["mirrorStatus"],
        format!("{n} of {n} events accepted, 0 refused.", n = events.len()),
        "{read}"
    );
    let arrived = mirrored.lock().await.clone();
    assert_eq!(arrived.len(), lines.len());
    assert_eq!(
        arrived, lines,
        "the mirror received other bytes than her export"
    );

    // The gateway stops serving her before any staff action.
    until_status(&fhir, &info.fhir_api_key, &maria_fhir, |s| s != 200).await;
    // Only hers: the patient the practice recorded a consent for is still served.
    assert_eq!(
        everything(&fhir, &info.fhir_api_key, &info.consenting_patient_fhir_id).await,
        200
    );
    // The demo has her opted in to emergency access, which keeps her keys at the gateway (for
    // `$summary` only): staff record her withdrawal of that too, then maintenance rotates her
    // chart key away from the gateway.
    let maria_npub = maria.npub();
    ehr(
        &doctor_home,
        &keys.doctor,
        &["consent", "withdraw-emergency", "--patient", &maria_npub],
    );
    ehr(&doctor_home, &keys.doctor, &["rotate"]);
    let gateway = RelayClient::connect(&relay, &keys.gateway, Duration::from_secs(10))
        .await
        .unwrap();
    let organisation = gateway
        .fetch_all(
            Filter::new().kinds([Kind::Custom(2102), Kind::Custom(2100)]),
            500,
        )
        .await
        .unwrap();
    gateway.disconnect().await;
    let view = PracticeView::load(&stack.config().practice, &organisation, &keys.gateway);
    let held = view
        .latest_chart_key(&maria.public_key())
        .unwrap()
        .version();
    let newest = view.newest_version(&maria.public_key()).unwrap();
    assert!(
        held < newest,
        "the gateway holds version {held} of {newest}"
    );
    assert_ne!(
        everything(&fhir, &info.fhir_api_key, &maria_fhir).await,
        200
    );
    stack.stop().await;

    if let Ok(keep) = std::env::var("EHR_KEEP_SCREENSHOTS") {
        std::fs::copy(&screenshot, Path::new(&keep).join("portal-messages.png")).unwrap();
    }
    let png = std::fs::read(&screenshot).unwrap();
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"));
    assert!(png.len() > 10_000, "screenshot of {} bytes", png.len());
}

/// The wasm's `signPatientEvent` with a NIP-07-shaped signer on nostr-tools: the practice opens
/// what it signed as a patient-reported entry; a refusing or cheating signer is a clear error.
#[test]
fn an_independent_signer_writes_what_the_practice_opens() {
    use ehr_client::access::PracticeView;
    use ehr_client::chart::FoldOptions;
    use ehr_client::keys::Identity;
    use ehr_client::nostr::prelude::{Event, Timestamp};
    use ehr_client::rotation;

    let root = Identity::generate();
    let doctor = Identity::generate();
    let patient = Identity::generate();
    let now = Timestamp::now();
    let (mut events, _) = rotation::genesis(&root, Some((doctor.public_key(), None)), now).unwrap();
    let view = PracticeView::load(&root.public_key(), &events, &doctor);
    events.extend(rotation::enrol_patient(&view, &doctor, &patient.public_key(), now).unwrap());
    let input = json!({
        "assets": ehr_portal::assets::DEFAULT_DIR,
        "practice": root.public_key().to_hex(),
        "nsec": patient.nsec().as_str(),
        "events": events,
    });
    let out = ehr_tests::node::run_json_lines("portal-records-signer.mjs", "nostr-tools", &input)
        .unwrap()
        .remove(0);

    let event: Event = serde_json::from_value(out["honest"]["event"].clone()).unwrap();
    assert_eq!(event.pubkey, patient.public_key());
    events.push(event);
    let view = PracticeView::load(&root.public_key(), &events, &doctor);
    let (chart, refused) = view.chart(&patient.public_key(), &events, FoldOptions::default());
    assert!(refused.is_empty(), "{refused:?}");
    let entry = chart.entries().next().unwrap();
    assert!(entry.patient_reported);
    assert!(entry.resource.to_json().contains("Omega-3 (test)"));

    for (mode, message) in [
        (
            "refuse",
            "the record was not written: the signer refused the request",
        ),
        (
            "alter",
            "the record was not written: the signer returned a different or invalid event",
        ),
    ] {
        assert_eq!(out[mode]["isError"], true, "{out}");
        assert_eq!(out[mode]["message"], message, "{out}");
    }
}
