//! The cold start's figures: the catch-up itself, this machine's single-core crypto rates to
//! judge it by, and its steps timed apart on a sample of patients.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use ehr_client::access::PracticeView;
use ehr_client::crypto;
use ehr_client::kinds::{self, ClinicalKind};
use ehr_client::net::RelayClient;
use ehr_fhir_gateway::served::PatientIndex;
use ehr_tests::bench::per_second;
use nostr::prelude::{Event, Filter, Keys, Kind, PublicKey, SecretKey};

use crate::{PAGE, Practice, clinical_filter};

/// `Gateway::start` until it had caught up.
pub struct ColdStart {
    pub seconds: f64,
    /// CPU time of the whole process meanwhile (the relay's included).
    pub cpu_seconds: f64,
    /// Resident memory, MiB.
    pub rss_before: f64,
    pub rss_after: f64,
    pub peak_rss: f64,
    /// Whether the peak was reset before the start (else it includes seeding).
    pub peak_reset: bool,
    /// Patients served after the catch-up.
    pub served: usize,
    pub events_per_sec: f64,
}

/// This machine's single-core rates.
pub struct Speeds {
    /// NIP-44 decryptions of one record with a cached conversation key.
    pub decrypts_per_sec: f64,
    /// One conversation-key derivation, microseconds.
    pub derive_us: f64,
    /// Event id and signature checks.
    pub verifies_per_sec: f64,
    /// Event JSON out and back in.
    pub round_trips_per_sec: f64,
    /// The size of the event those were timed on.
    pub event_bytes: usize,
}

/// One clinical event to time signature checks on: the first patient's, from the relay.
pub async fn sample_event(practice: &Practice, relay_url: &str) -> anyhow::Result<Event> {
    let patient = practice.patients.first().context("no patients")?;
    let client =
        RelayClient::connect(relay_url, &practice.gateway, Duration::from_secs(60)).await?;
    let events = client
        .fetch(vec![
            Filter::new()
                .kind(Kind::Custom(ClinicalKind::Observation.as_u16()))
                .pubkey(*patient)
                .limit(1),
        ])
        .await;
    client.disconnect().await;
    events?
        .into_iter()
        .next()
        .context("the first patient has no Observation")
}

/// This machine's single-core NIP-44 decrypt rate for `record_bytes` with a cached conversation
/// key, the cost of one conversation-key derivation, and the rate of event id+signature checks.
pub fn single_core_speeds(record_bytes: usize, event: &Event) -> anyhow::Result<Speeds> {
    let secret = SecretKey::generate();
    let public = Keys::generate().public_key();
    let key = crypto::conversation_key(&secret, &public)?;
    let plaintext: Vec<u8> = (0..record_bytes.max(1))
        .map(|i| b'a' + (i % 26) as u8)
        .collect();
    let payload = crypto::encrypt_with_conversation_key(&key, &plaintext)?;
    let decrypts_per_sec = per_second(|| {
        crypto::decrypt_with_conversation_key(&key, &payload).map(|p| {
            std::hint::black_box(p);
        })
    })?;
    let derive_per_sec = per_second(|| {
        crypto::conversation_key(&secret, &public).map(|k| {
            std::hint::black_box(k);
        })
    })?;
    let verifies_per_sec = per_second(|| event.verify().map_err(|e| anyhow::anyhow!("{e}")))?;
    // What net.rs does to every fetched event to cross from nostr-sdk's nostr 0.44 to 0.45.
    let json = event.as_json();
    let round_trips_per_sec = per_second(|| {
        Event::from_json(&json).map(|e| {
            std::hint::black_box(e.as_json());
        })
    })?;
    Ok(Speeds {
        decrypts_per_sec,
        derive_us: 1e6 / derive_per_sec,
        verifies_per_sec,
        round_trips_per_sec,
        event_bytes: json.len(),
    })
}

/// The catch-up's steps, timed apart on a sample of patients (one task, as the follower runs).
pub struct Breakdown {
    pub patients: usize,
    pub events: usize,
    /// Seconds.
    pub fetch: f64,
    /// What a signature check would add per event if it were done again (it is not).
    pub verify_again: f64,
    pub open: f64,
    pub index: f64,
}

/// The calls sync.rs makes for the first `sample` patients, each timed.
pub async fn breakdown(
    practice: &Practice,
    relay_url: &str,
    sample: usize,
) -> anyhow::Result<Breakdown> {
    let gateway = &practice.gateway;
    let patients: Vec<PublicKey> = practice.patients.iter().take(sample).copied().collect();
    let client = RelayClient::connect(relay_url, gateway, Duration::from_secs(60)).await?;
    let fetched = async {
        // In pages: two wraps per patient can pass the relay's cap on one request.
        let rosters = Filter::new().kind(Kind::Custom(kinds::ROSTER));
        let mut organisation = client.fetch_all(rosters, PAGE).await?;
        let wraps = Filter::new()
            .kind(Kind::Custom(kinds::CHART_KEY_WRAP))
            .pubkeys(patients.iter().copied());
        organisation.extend(client.fetch_all(wraps, PAGE).await?);
        let started = Instant::now();
        let filter = clinical_filter().pubkeys(patients.iter().copied());
        let mut pages = client.pages(filter, PAGE).await;
        let mut events = Vec::new();
        while let Some(page) = pages.next(&client).await? {
            events.extend(page);
        }
        anyhow::Ok((organisation, events, started.elapsed().as_secs_f64()))
    }
    .await;
    client.disconnect().await;
    let (organisation, events, fetch) = fetched?;
    let view = PracticeView::load(&practice.root.public_key(), organisation.iter(), gateway);

    let started = Instant::now();
    for event in &events {
        event.event().verify()?;
    }
    let verify_again = started.elapsed().as_secs_f64();

    let count = events.len();
    let started = Instant::now();
    let opened = view.open_verified(events, None);
    let open = started.elapsed().as_secs_f64();
    ensure!(
        opened.refused.is_empty() && opened.records.len() == count,
        "the gateway's view refused {} of {} events",
        opened.refused.len(),
        count
    );

    let mut by_patient: BTreeMap<PublicKey, Vec<_>> = BTreeMap::new();
    for record in opened.records {
        by_patient.entry(record.patient).or_default().push(record);
    }
    let started = Instant::now();
    for (patient, records) in &by_patient {
        std::hint::black_box(PatientIndex::build(patient, records));
    }
    let index = started.elapsed().as_secs_f64();
    Ok(Breakdown {
        patients: patients.len(),
        events: count,
        fetch,
        verify_again,
        open,
        index,
    })
}
