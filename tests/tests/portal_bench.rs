#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::print_stdout
)]
//! The portal benchmark (issue 9: under 2 s from login to a rendered chart of 5,000 events,
//! under 1 MB of compressed JS and wasm). Ignored in the suite; run it with
//! `scripts/bench-portal` (or `cargo test -p ehr-tests --release --test portal_bench --
//! --ignored --nocapture`). It seeds one chart to 5,000 clinical events on the in-process demo
//! practice, drives headless Chromium through the nsec login a few times, and prints the
//! median time from submitting the form to the rendered chart, its phases, and the sizes.
//! Timings are printed, never asserted.

mod demo_common;

use std::path::Path;
use std::time::{Duration, Instant};

use demo_common::{Seeded, start_seeded};
use ehr_client::access::PracticeView;
use ehr_client::demo::{new_id, synthetic_meta};
use ehr_client::event::ClinicalEventBuilder;
use ehr_client::fhir::{
    CodeableConcept, Observation, ObservationStatus, Quantity, Reference, Resource,
};
use ehr_client::kinds::{ClinicalKind, practice_kinds};
use ehr_client::net::{PublishOutcome, RelayClient};
use ehr_client::nostr::prelude::{Filter, Kind, Timestamp};
use serde_json::{Value, json};

const TARGET_EVENTS: usize = 5_000;
const RUNS: usize = 5;

/// The size of `file` compressed by `command args file` (to stdout); `None` if not installed.
fn compressed(file: &Path, command: &str, args: &[&str]) -> Option<usize> {
    let out = std::process::Command::new(command)
        .args(args)
        .arg(file)
        .output()
        .ok()?;
    out.status.success().then_some(out.stdout.len())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a benchmark: scripts/bench-portal"]
async fn portal_bench() {
    let home = tempfile::tempdir().unwrap();
    let Seeded {
        mut stack,
        keys,
        connection,
        ..
    } = start_seeded(home.path()).await;
    let relay = stack.urls().relay.clone();
    let portal = stack.urls().portal.clone().unwrap();
    let maria = &keys.patients[0];

    // The doctor writes heart rates until her chart holds 5,000 clinical events, ten per
    // second from now on: after his membership began (earlier ones would be refused), within
    // the relay's 15 minutes of future, and far fewer per second than a page.
    let doctor = RelayClient::connect(&relay, &keys.doctor, Duration::from_secs(30))
        .await
        .unwrap();
    let org = doctor
        .fetch_all(Filter::new().kinds(practice_kinds()), 5000)
        .await
        .unwrap();
    let view = PracticeView::load(&keys.root.public_key(), &org, &keys.doctor);
    let key = view.write_key(&maria.public_key()).unwrap().clone();
    let existing = doctor
        .fetch_all(
            Filter::new()
                .kinds(ClinicalKind::ALL.iter().map(|k| Kind::from(k.as_u16())))
                .pubkey(maria.public_key()),
            5000,
        )
        .await
        .unwrap()
        .len();
    let start = Timestamp::now().as_secs();
    let seeding = Instant::now();
    let mut batch = Vec::new();
    for i in existing..TARGET_EVENTS {
        let observation = Observation {
            id: Some(new_id()),
            meta: synthetic_meta(),
            status: ObservationStatus::Final,
            code: CodeableConcept::coded("http://loinc.org", "8867-4", "Heart rate"),
            subject: Some(Reference::to("Patient", "bench")),
            effective_date_time: Some(format!("2020-01-01T00:{:02}:00Z", i % 60)),
            value_quantity: Some(Quantity::ucum(60.0 + (i % 30) as f64, "/min", "/min")),
            ..Observation::default()
        };
        let event = ClinicalEventBuilder::new(
            ClinicalKind::Observation,
            Resource::Observation(observation),
            maria.public_key(),
        )
        .unwrap()
        .created_at(Timestamp::from_secs(start + i as u64 / 10))
        .sign(&keys.doctor, &key)
        .unwrap();
        batch.push(event.event().clone());
        if batch.len() == 250 || i + 1 == TARGET_EVENTS {
            let outcomes = doctor.publish(&batch).await.unwrap();
            assert!(
                outcomes
                    .iter()
                    .all(|o| matches!(o, PublishOutcome::Accepted)),
                "the relay refused seeded events: {:?}",
                outcomes
                    .iter()
                    .find(|o| !matches!(o, PublishOutcome::Accepted))
            );
            batch.clear();
        }
    }
    println!(
        "seeded {} events for one patient in {:.1} s",
        TARGET_EVENTS - existing,
        seeding.elapsed().as_secs_f64()
    );

    let input = json!({
        "portal": portal,
        "chromium": "/usr/bin/chromium",
        "connection": connection,
        "nsec": maria.nsec().as_str(),
        "runs": RUNS,
    });
    let results = tokio::task::spawn_blocking(move || {
        ehr_tests::node::run_json_lines("portal-bench.mjs", "playwright-core", &input)
    })
    .await
    .unwrap()
    .unwrap();
    stack.stop().await;

    let mut runs: Vec<&Value> = results.iter().collect();
    runs.sort_by(|a, b| {
        a["total"]
            .as_f64()
            .partial_cmp(&b["total"].as_f64())
            .unwrap()
    });
    let median = runs[runs.len() / 2];
    for run in &results {
        println!("run: {run}");
    }
    println!(
        "login submit -> rendered chart: median {:.0} ms of {} runs (goal < 2000 ms); {} records shown",
        median["total"].as_f64().unwrap(),
        runs.len(),
        median["records"]
    );
    println!(
        "  phases of the median run (ms): connect+auth+fetch {:.0}, verify+decrypt+fold (wasm) {:.0}, render {:.0}",
        median["fetch"].as_f64().unwrap_or(f64::NAN),
        median["open"].as_f64().unwrap_or(f64::NAN),
        median["render"].as_f64().unwrap_or(f64::NAN)
    );

    // What a browser downloads: the app's JS, the glue and the wasm.
    let assets = Path::new(ehr_portal::assets::DEFAULT_DIR);
    let mut all = Vec::new();
    for name in ["ehr_web_wasm.js", "ehr_web_wasm_bg.wasm"] {
        all.extend(std::fs::read(assets.join(name)).unwrap());
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let entries = ["portal/web", "web/shared"]
        .iter()
        .flat_map(|dir| std::fs::read_dir(root.join(dir)).unwrap());
    for entry in entries {
        let path = entry.unwrap().path();
        if path
            .extension()
            .is_some_and(|e| e == "js" || e == "css" || e == "html")
        {
            all.extend(std::fs::read(path).unwrap());
        }
    }
    let bundle = home.path().join("downloaded.bin");
    std::fs::write(&bundle, &all).unwrap();
    let gzip = compressed(&bundle, "gzip", &["-9c"]);
    let brotli = compressed(&bundle, "brotli", &["-c", "-q", "11"]);
    println!(
        "JS + wasm + HTML + CSS: {} bytes raw, gzip -9 {}, brotli {} (goal < 1 MB compressed)",
        all.len(),
        gzip.map_or("n/a".to_owned(), |n| n.to_string()),
        brotli.map_or("not installed".to_owned(), |n| n.to_string())
    );
}
