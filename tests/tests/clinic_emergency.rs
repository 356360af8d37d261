#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! The patient summary and emergency access in the clinic app (issue 23; headless Chromium,
//! the demo practice): the doctor's "Summary (IPS)" of Maria lists exactly her active
//! allergies, medications and problems, downloads as a valid IPS document and prints alone;
//! the doctor records Maria's opt-in to emergency access (an ETREAT Consent, her keys wrapped
//! to the gateway) and its withdrawal, and records the opt-in she made herself; the demo's
//! emergency room then gets her summary, and the admin's practice health lists that access.

mod clinic_common;
mod demo_common;

use clinic_common::{
    CHROMIUM, assert_browser_ready, assert_own_origins, assert_same_origin, pdf_text, run_node,
    screenshot_dir,
};
use demo_common::{Seeded, start_seeded};
use ehr_client::access::PracticeView;
use ehr_client::chart::{Chart, FoldOptions};
use ehr_client::fhir::ResourceType;
use ehr_client::nostr::prelude::{PublicKey, Timestamp};
use serde_json::{Value, json};

const ALLERGIES: &str = "48765-2";
const MEDICATIONS: &str = "10160-0";
const PROBLEMS: &str = "11450-4";

async fn phase(seeded: &Seeded, nsec: &str, phase: &str) -> Value {
    variant(seeded, nsec, phase, "live").await
}

/// [`phase`], the gateway's answer to the health view replaced when `variant` says so.
async fn variant(seeded: &Seeded, nsec: &str, phase: &str, variant: &str) -> Value {
    let urls = seeded.stack.urls();
    run_node(
        "clinic-emergency.mjs",
        json!({
            "clinic": urls.clinic.clone().unwrap(),
            "chromium": CHROMIUM,
            "nsec": nsec,
            "search": "maria demo-alvarez",
            "phase": phase,
            "variant": variant,
            "screenshots": screenshot_dir(),
        }),
    )
    .await
}

/// Maria's chart as the admin folds it from everything on the relay now, with the events.
async fn chart_now(
    seeded: &Seeded,
    maria: &PublicKey,
) -> (Chart, Vec<ehr_client::nostr::prelude::Event>) {
    let events = demo_common::every_event(&seeded.stack.urls().relay, &seeded.keys).await;
    let view = PracticeView::load(
        &seeded.stack.config().practice,
        events.iter(),
        &seeded.keys.admin,
    );
    let chart = view.chart(maria, events.iter(), FoldOptions::default()).0;
    (chart, events)
}

/// A coded concept's words: its text, else its first display.
fn words(concept: &Value) -> String {
    concept["text"]
        .as_str()
        .or_else(|| concept["coding"][0]["display"].as_str())
        .unwrap_or_default()
        .to_owned()
}

fn status_code(resource: &Value, field: &str) -> String {
    resource[field]["coding"][0]["code"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// The names of the chart's active allergies, medications and problems, by the rules a
/// clinician reads a chart by (not the summary builder's code).
fn active_in(chart: &Chart) -> [(&'static str, Vec<String>); 3] {
    let of = |t: ResourceType| -> Vec<Value> {
        chart
            .of_type(t)
            .map(|e| serde_json::to_value(&e.resource).unwrap())
            .collect()
    };
    let unconfirmed = |r: &Value| {
        ["refuted", "entered-in-error"].contains(&status_code(r, "verificationStatus").as_str())
    };
    let allergies = of(ResourceType::AllergyIntolerance)
        .into_iter()
        .filter(|a| !["inactive", "resolved"].contains(&status_code(a, "clinicalStatus").as_str()))
        .filter(|a| !unconfirmed(a))
        .map(|a| words(&a["code"]))
        .collect();
    let medications = of(ResourceType::MedicationRequest)
        .into_iter()
        .filter(|m| m["status"] == "active")
        .map(|m| words(&m["medicationCodeableConcept"]))
        .collect();
    let problems = of(ResourceType::Condition)
        .into_iter()
        .filter(|c| {
            !["inactive", "remission", "resolved"]
                .contains(&status_code(c, "clinicalStatus").as_str())
        })
        .filter(|c| !unconfirmed(c))
        .map(|c| words(&c["code"]))
        .collect();
    [
        (ALLERGIES, allergies),
        (MEDICATIONS, medications),
        (PROBLEMS, problems),
    ]
}

fn items<'a>(sections: &'a Value, code: &str) -> Vec<&'a str> {
    sections[code]["items"]
        .as_array()
        .unwrap_or_else(|| panic!("no section {code}: {sections}"))
        .iter()
        .map(|i| i.as_str().unwrap())
        .collect()
}

/// The doctor's page in `phase` (opt-in, withdraw, record-hers), checked to have failed at
/// nothing, said no error and talked to its own origins only.
async fn decide(seeded: &Seeded, doctor: &str, which: &str) -> Value {
    let result = phase(seeded, doctor, which).await;
    assert_eq!(result["failure"], Value::Null, "{result}");
    assert_eq!(result["error"], "", "{result}");
    let urls = seeded.stack.urls();
    assert_same_origin(&result, urls.clinic.as_ref().unwrap(), &urls.relay, None);
    result
}

/// The patients the gateway may read now, by the core's rule (a sharing or an emergency
/// decision that permits it).
fn gateway_reads(
    seeded: &Seeded,
    events: &[ehr_client::nostr::prelude::Event],
) -> std::collections::BTreeSet<PublicKey> {
    let view = PracticeView::load(
        &seeded.stack.config().practice,
        events.iter(),
        &seeded.keys.admin,
    );
    view.gateway_patients(events.iter(), Timestamp::now())
}

/// What the page said of a withdrawal, and what the relay now holds: her newest emergency
/// decision, the doctor's, permits nothing, and the gateway no longer reads her chart.
async fn assert_withdrawn(seeded: &Seeded, maria: &PublicKey, withdrawn: &Value) {
    assert!(
        withdrawn["after"]
            .as_str()
            .unwrap()
            .starts_with("Not opted in (withdrawn on "),
        "{withdrawn}"
    );
    assert_eq!(
        withdrawn["buttons"],
        json!(["Record opt-in"]),
        "{withdrawn}"
    );
    let (chart, events) = chart_now(seeded, maria).await;
    let newest = chart.newest_emergency_consent().unwrap();
    assert_eq!(newest.author, seeded.keys.doctor.public_key());
    let consent = newest.resource.as_consent().unwrap();
    assert!(consent.is_emergency_access());
    assert!(!consent.permits_emergency_access(Timestamp::now()));
    assert!(!gateway_reads(seeded, &events).contains(maria));
}

/// Maria's own ETREAT opt-in, signed with her key and published on her connection (what the
/// portal does), at least a second after the practice's newest decision (a decision made in the
/// same second as the doctor's would lose to its higher version).
async fn her_own_opt_in(seeded: &Seeded) {
    use ehr_client::event::ClinicalEventBuilder;
    use ehr_client::kinds::ClinicalKind;
    let maria = &seeded.keys.patients[0];
    let relay = &seeded.stack.urls().relay;
    let (chart, events) = chart_now(seeded, &maria.public_key()).await;
    let roster = ehr_client::roster::verify_roster_chain(&seeded.stack.config().practice, &events);
    let target = roster.patient_seal_target(ClinicalKind::Consent).unwrap();
    let after = chart
        .newest_emergency_consent()
        .map_or(0, |e| e.updated_at.as_secs() + 1);
    let at = Timestamp::from_secs(Timestamp::now().as_secs().max(after));
    let patient_id = chart
        .of_type(ResourceType::Patient)
        .next()
        .unwrap()
        .key
        .id
        .clone();
    let today = utc_date(at.as_secs());
    let resource = ehr_client::fhir::Consent::emergency_access(&patient_id, &today);
    let event = ClinicalEventBuilder::new(ClinicalKind::Consent, resource, maria.public_key())
        .unwrap()
        .created_at(at)
        .sign_as_patient_to(maria, &target)
        .unwrap();
    let client =
        ehr_client::net::RelayClient::connect(relay, maria, std::time::Duration::from_secs(30))
            .await
            .unwrap();
    client
        .publish(std::slice::from_ref(event.event()))
        .await
        .unwrap();
    client.disconnect().await;
}

/// The UTC date (YYYY-MM-DD) of Unix `seconds` (the civil-from-days algorithm).
fn utc_date(seconds: u64) -> String {
    let z = i64::try_from(seconds / 86_400).unwrap() + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

/// The demo emergency room asks the gateway for the summary of `patient_id` with `reason`,
/// until it answers (the gateway follows the relay live).
async fn break_glass(seeded: &Seeded, patient_id: &str, reason: &str) {
    let base = seeded.stack.urls().fhir.clone().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let status = reqwest::Client::new()
            .get(format!("{base}/Patient/{patient_id}/$summary"))
            .query(&[("reason", reason)])
            .bearer_auth(&seeded.info.emergency_api_key)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16();
        if status == 200 {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the emergency summary still answers {status}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

#[test]
fn utc_dates_are_civil_dates() {
    assert_eq!(utc_date(0), "1970-01-01");
    assert_eq!(utc_date(951_782_400), "2000-02-29");
    assert_eq!(utc_date(1_796_601_600), "2026-12-07");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_summary_lists_her_active_records_and_her_emergency_opt_in_is_recorded_and_withdrawn() {
    assert_browser_ready();
    let home = tempfile::tempdir().unwrap();
    let mut seeded = start_seeded(home.path()).await;
    let urls = seeded.stack.urls().clone();
    let clinic = urls.clinic.clone().unwrap();
    let fhir = urls.fhir.clone().unwrap();
    let maria = seeded.keys.patients[0].public_key();
    let doctor = seeded.keys.doctor.nsec().as_str().to_owned();

    // The summary: exactly her active allergies, medications and problems, section by section.
    let summary = phase(&seeded, &doctor, "summary").await;
    assert_eq!(summary["failure"], Value::Null, "{summary}");
    assert_eq!(summary["alert"], "", "{summary}");
    assert_same_origin(&summary, &clinic, &urls.relay, None);
    let (chart, _) = chart_now(&seeded, &maria).await;
    let sections = &summary["sections"];
    for (code, expected) in active_in(&chart) {
        let shown = items(sections, code);
        assert_eq!(
            shown.len(),
            expected.len(),
            "{code}: {shown:?} vs {expected:?}"
        );
        for name in &expected {
            assert!(
                shown.iter().any(|line| line.starts_with(name.as_str())),
                "{code}: {name} not in {shown:?}"
            );
        }
        if expected.is_empty() {
            assert!(
                sections[code]["empty"]
                    .as_str()
                    .unwrap()
                    .contains("No information")
            );
        }
    }
    assert!(
        !sections.to_string().contains("reported by the patient"),
        "{sections}"
    );
    // With her own entries: the practice's, and hers marked.
    let with_reported = &summary["withReported"];
    for code in [ALLERGIES, MEDICATIONS, PROBLEMS] {
        let mine: Vec<&str> = items(with_reported, code)
            .into_iter()
            .filter(|line| !line.ends_with("reported by the patient"))
            .collect();
        assert_eq!(mine, items(sections, code), "{with_reported}");
    }
    assert!(
        summary["scope"]
            .as_str()
            .unwrap()
            .contains("reported herself")
    );
    // The FHIR JSON downloaded is an IPS document of her, checked by the core's IPS rules.
    let bundle = &summary["bundle"];
    assert_eq!(bundle["type"], "document");
    assert_eq!(
        bundle["entry"][0]["resource"]["type"]["coding"][0]["code"],
        "60591-5"
    );
    ehr_client::ips::check_summary(bundle).unwrap();
    assert!(
        summary["fileName"]
            .as_str()
            .unwrap()
            .starts_with("patient-summary-maria")
    );
    // Printed, the summary is alone on the page: no tabs, no buttons.
    let printed = pdf_text(std::path::Path::new(summary["pdf"].as_str().unwrap()));
    assert!(
        printed.contains("International Patient Summary"),
        "{printed}"
    );
    assert!(printed.contains("Allergies and Intolerances"), "{printed}");
    assert!(!printed.contains("Download FHIR JSON"), "{printed}");
    assert!(!printed.contains("Timeline"), "{printed}");

    // Emergency access. The demo has Maria opted in: the doctor records her withdrawal first.
    let initially = chart
        .newest_emergency_consent()
        .and_then(|e| e.resource.as_consent())
        .is_some_and(|c| c.permits_emergency_access(Timestamp::now()));
    if initially {
        let withdrawn = decide(&seeded, &doctor, "withdraw").await;
        assert!(
            withdrawn["before"]
                .as_str()
                .unwrap()
                .starts_with("Opted in since "),
            "{withdrawn}"
        );
        assert_withdrawn(&seeded, &maria, &withdrawn).await;
    }

    // Opted in by the doctor (by keyboard): an ETREAT Consent she signed, her chart wrapped to
    // the gateway, her sharing decision untouched.
    let opted = decide(&seeded, &doctor, "opt-in").await;
    assert!(
        opted["before"]
            .as_str()
            .unwrap()
            .starts_with("Not opted in"),
        "{opted}"
    );
    assert!(
        opted["after"]
            .as_str()
            .unwrap()
            .starts_with("Opted in since "),
        "{opted}"
    );
    assert!(
        opted["help"]
            .as_str()
            .unwrap()
            .contains("must give a reason")
    );
    assert!(opted["help"].as_str().unwrap().contains("she is told"));
    assert_eq!(opted["buttons"], json!(["Withdraw opt-in"]), "{opted}");
    let (chart, events) = chart_now(&seeded, &maria).await;
    let now = Timestamp::now();
    let newest = chart
        .newest_emergency_consent()
        .expect("an emergency consent");
    assert_eq!(newest.author, seeded.keys.doctor.public_key());
    assert!(!newest.patient_reported);
    let consent = newest.resource.as_consent().unwrap();
    assert!(consent.is_emergency_access());
    assert!(consent.permits_emergency_access(now));
    let resource = serde_json::to_value(&newest.resource).unwrap();
    assert_eq!(
        resource["provision"]["purpose"][0]["code"], "ETREAT",
        "{resource}"
    );
    assert!(resource["provision"]["actor"].is_null(), "{resource}");
    assert!(
        chart
            .newest_consent()
            .and_then(|e| e.resource.as_consent())
            .is_none_or(|c| c.fhir_recipients(now).is_empty()),
        "her sharing decision changed"
    );
    assert!(gateway_reads(&seeded, &events).contains(&maria));

    // Withdrawn again in the app.
    let withdrawn = decide(&seeded, &doctor, "withdraw").await;
    assert!(
        withdrawn["before"]
            .as_str()
            .unwrap()
            .starts_with("Opted in since "),
        "{withdrawn}"
    );
    assert_withdrawn(&seeded, &maria, &withdrawn).await;

    // She opts in herself (as the portal does: her own ETREAT Consent); the page says so and the
    // doctor records it: the practice's copy, and her chart wrapped to the gateway again.
    her_own_opt_in(&seeded).await;
    let recorded = decide(&seeded, &doctor, "record-hers").await;
    assert!(
        recorded["pending"]
            .as_str()
            .unwrap()
            .starts_with("She opted in herself in the patient portal on "),
        "{recorded}"
    );
    assert_eq!(
        recorded["before"], "Recorded by the practice: not opted in.",
        "{recorded}"
    );
    assert!(
        recorded["after"]
            .as_str()
            .unwrap()
            .starts_with("Opted in since "),
        "{recorded}"
    );
    let (chart, events) = chart_now(&seeded, &maria).await;
    let newest = chart.newest_emergency_consent().unwrap();
    assert!(
        !newest.patient_reported,
        "the practice's copy is the newest"
    );
    assert!(
        newest
            .resource
            .as_consent()
            .unwrap()
            .permits_emergency_access(Timestamp::now())
    );
    assert!(gateway_reads(&seeded, &events).contains(&maria));

    // A break-glass access by the demo's emergency room, then the admin's practice health
    // view lists it: when, the facility, Maria by name, the reason, the result.
    let reason = "found unresponsive (clinic_emergency test)";
    break_glass(&seeded, &seeded.info.emergency_patient_fhir_id, reason).await;
    let admin = seeded.keys.admin.nsec().as_str().to_owned();
    let health = phase(&seeded, &admin, "health").await;
    assert_eq!(health["failure"], Value::Null, "{health}");
    assert_own_origins(&health, &clinic, &urls.relay, &[&fhir]);
    let emergency = health["emergency"].as_str().unwrap();
    assert!(
        emergency.contains("Emergency (break-glass) accesses"),
        "{health}"
    );
    assert!(
        emergency.contains("1 emergency access, newest first."),
        "{health}"
    );
    assert!(emergency.contains("facility demo-er"), "{health}");
    assert!(
        emergency.contains("Patient: Maria Demo-Alvarez"),
        "{health}"
    );
    assert!(
        emergency.contains(&format!("Reason given: {reason}")),
        "{health}"
    );
    assert!(
        emergency.contains("Answered: her summary was given"),
        "{health}"
    );
    // No access at all is said plainly; a gateway that cannot be reached too.
    let empty = variant(&seeded, &admin, "health", "empty").await;
    assert_eq!(empty["failure"], Value::Null, "{empty}");
    assert!(
        empty["emergency"]
            .as_str()
            .unwrap()
            .contains("None: no facility has used emergency access for any patient"),
        "{empty}"
    );
    let down = variant(&seeded, &admin, "health", "unreachable").await;
    assert_eq!(down["failure"], Value::Null, "{down}");
    let said = down["emergency"].as_str().unwrap();
    assert!(
        said.contains("could not be reached from this browser"),
        "{down}"
    );
    assert!(said.contains("the gateway keeps every access"), "{down}");
    seeded.stack.stop().await;
}
