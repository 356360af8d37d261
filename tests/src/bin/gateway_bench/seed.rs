//! Seeding: the practice (root, a doctor, the `fhir-gateway` agent) and every patient's chart,
//! generated on every core and stored through the relay's write path; the first chart is held
//! back and published over WebSocket instead, through the relay's admission.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use ehr_client::access::PracticeView;
use ehr_client::event::ClinicalEventBuilder;
use ehr_client::fhir as f;
use ehr_client::grants::{self, WrapRecipient};
use ehr_client::keys::{ChartKey, Identity};
use ehr_client::kinds::{ClinicalKind, Domain};
use ehr_client::net::{PublishOutcome, RelayClient};
use ehr_client::practice;
use ehr_client::roster::Role;
use ehr_client::rotation::{self, RosterChange};
use ehr_fhir_gateway::served;
use ehr_relay::store::{Store as RelayStore, WriteJob, WriteOutcome};
use ehr_tests::bench::Rng;
use nostr::prelude::{Event, Keys, PublicKey, Timestamp};

use crate::{Cli, Practice, synthetic};

/// Events per store transaction while seeding (the relay's writer commits up to 1,024).
const WRITE_BATCH: usize = 1024;

/// A seeded relay database, but for the first patient's chart.
pub struct Seeded {
    pub practice: Practice,
    /// Events stored: the organisation's and every chart but the first.
    pub stored: usize,
    /// The first patient's chart, for [`admit`].
    pub held_back: Vec<Event>,
}

/// Build the practice and seed the relay database at `relay_db` (which must be new).
pub async fn seed(cli: &Cli, relay_db: &Path) -> anyhow::Result<Seeded> {
    let root = Identity::generate();
    let doctor = Identity::generate();
    let gateway = Identity::generate();
    let now = Timestamp::now().as_secs();
    // The practice opened eleven years ago; charts span the years since.
    let opened = now - 11 * 365 * 86_400;
    let at = Timestamp::from_secs(opened);
    let (mut organisation, _) = rotation::genesis(&root, None, at)?;
    for (who, role) in [
        (doctor.public_key(), Role::Doctor),
        (gateway.public_key(), Role::FhirGateway),
    ] {
        let change = RosterChange::Add {
            pubkey: who,
            role,
            name: None,
        };
        let state = practice::State {
            root: root.public_key(),
            events: &organisation,
            actor: &root,
            now: at,
        };
        let plan = practice::change_roster(&state, &change)?;
        organisation.extend(plan.into_events());
    }
    let doctor_view = PracticeView::load(&root.public_key(), organisation.iter(), &doctor);
    let (epoch, epoch_key) = doctor_view
        .roster()
        .current_epoch()
        .context("no epoch in the roster")?;
    // The practice has its two key domains: demographics go under each patient's office key.
    let (office_epoch, office_epoch_key) = doctor_view
        .roster()
        .current_epoch_of(Domain::Office)
        .context("no office epoch in the roster")?;
    ensure!(
        doctor_view.current_epoch_key().is_some(),
        "the doctor did not receive the epoch key"
    );
    let patients: Vec<PublicKey> = (0..cli.patients)
        .map(|_| Keys::generate().public_key())
        .collect();

    let mut config = ehr_relay::RelayConfig::new(
        root.public_key(),
        format!("sqlite://{}", relay_db.display()),
    )
    .database;
    // Seeding is a bulk load: fsync at checkpoints only. The relay serves it as configured.
    config.sqlite_synchronous = ehr_relay::config::SqliteSync::Normal;
    let store = RelayStore::open(&config).await?;
    let received_at = Timestamp::now();
    let job = |event: Event| WriteJob {
        raw: event.as_json(),
        event,
        received_at,
    };
    let organisation: Vec<WriteJob> = organisation.into_iter().map(job).collect();
    let mut stored = write(&store, &organisation).await?;

    let shared = Arc::new(Shared {
        doctor: doctor.clone(),
        gateway: gateway.public_key(),
        epoch,
        epoch_key,
        office_epoch,
        office_epoch_key,
        patients: patients.clone(),
        events_per_patient: cli.events_per_patient,
        record_bytes: cli.record_bytes,
        start: opened + 86_400,
        end: now - 3_600,
        next: AtomicUsize::new(0),
    });
    let threads = cli.threads.unwrap_or_else(crate::cores).max(1);
    let (sender, mut receiver) = tokio::sync::mpsc::channel::<Chart>(4 * threads);
    let workers: Vec<_> = (0..threads)
        .map(|_| {
            let shared = Arc::clone(&shared);
            let sender = sender.clone();
            std::thread::spawn(move || generate(&shared, &sender))
        })
        .collect();
    drop(sender);

    let mut held_back = Vec::new();
    let mut jobs: Vec<WriteJob> = Vec::with_capacity(WRITE_BATCH + cli.events_per_patient + 4);
    let mut done = 0usize;
    let started = Instant::now();
    while let Some(chart) = receiver.recv().await {
        let (index, events) = chart?;
        done += 1;
        if index == 0 {
            held_back = events;
        } else {
            jobs.extend(events.into_iter().map(job));
        }
        if jobs.len() >= WRITE_BATCH {
            stored += write(&store, &jobs).await?;
            jobs.clear();
        }
        if done.is_multiple_of((cli.patients / 10).max(1)) {
            eprintln!(
                "gateway-bench: seeded {done}/{} patients ({:.0} s)",
                cli.patients,
                started.elapsed().as_secs_f64()
            );
        }
    }
    stored += write(&store, &jobs).await?;
    for worker in workers {
        worker
            .join()
            .map_err(|_| anyhow::anyhow!("a generator thread panicked"))?;
    }
    ensure!(
        done == cli.patients,
        "generated {done} of {} charts",
        cli.patients
    );
    Ok(Seeded {
        practice: Practice {
            root,
            doctor,
            gateway,
            patients,
        },
        stored,
        held_back,
    })
}

/// Publish the held-back chart over WebSocket as the doctor: every event must be accepted.
pub async fn admit(practice: &Practice, relay_url: &str, chart: &[Event]) -> anyhow::Result<()> {
    let client = RelayClient::connect(relay_url, &practice.doctor, Duration::from_secs(60)).await?;
    let outcomes = client.publish(chart).await;
    client.disconnect().await;
    for (event, outcome) in chart.iter().zip(outcomes?) {
        if let PublishOutcome::Refused { message } = outcome {
            bail!(
                "the relay refused a seeded event of kind {}: {message}",
                event.kind.as_u16()
            );
        }
    }
    Ok(())
}

/// Store one batch; every event must be new.
async fn write(store: &RelayStore, jobs: &[WriteJob]) -> anyhow::Result<usize> {
    if jobs.is_empty() {
        return Ok(0);
    }
    let outcomes = store.write_batch(jobs).await?;
    if let Some(other) = outcomes.iter().find(|o| **o != WriteOutcome::Stored) {
        bail!("the relay store did not take a seeded event: {other:?}");
    }
    Ok(outcomes.len())
}

/// One patient's chart by the patient's index, or why it could not be made.
type Chart = anyhow::Result<(usize, Vec<Event>)>;

/// What the generator threads share.
struct Shared {
    doctor: Identity,
    gateway: PublicKey,
    epoch: u64,
    epoch_key: PublicKey,
    office_epoch: u64,
    office_epoch_key: PublicKey,
    patients: Vec<PublicKey>,
    events_per_patient: usize,
    record_bytes: usize,
    /// The span of event times, Unix seconds.
    start: u64,
    end: u64,
    next: AtomicUsize,
}

/// Take patients one by one and send each one's chart.
fn generate(shared: &Shared, sender: &tokio::sync::mpsc::Sender<Chart>) {
    loop {
        let index = shared.next.fetch_add(1, Ordering::Relaxed);
        let Some(patient) = shared.patients.get(index) else {
            return;
        };
        let chart = chart_events(shared, index, patient).map(|events| (index, events));
        let failed = chart.is_err();
        if sender.blocking_send(chart).is_err() || failed {
            return;
        }
    }
}

/// One patient's events: the chart and office keys wrapped to their epochs, the Patient record
/// (under the office key: the practice has its two key domains), a Consent sharing with every
/// facility (`*`), the wraps to the gateway that consent calls for, then Encounters,
/// Observations and Conditions spread over the years.
fn chart_events(shared: &Shared, index: usize, patient: &PublicKey) -> anyhow::Result<Vec<Event>> {
    let mut rng = Rng::new(index as u64);
    let doctor = &shared.doctor;
    let key = ChartKey::generate(1);
    let office = ChartKey::generate(1);
    let span = shared.end.saturating_sub(shared.start).max(86_400);
    let enrolled = shared.start + rng.below(span / 2);
    let logical = ehr_client::demo::new_id();
    let wrap = |recipient: WrapRecipient, at: u64| {
        grants::wrap_chart_key(
            doctor,
            patient,
            &key,
            &[],
            recipient,
            Some(&shared.epoch_key),
            Timestamp::from_secs(at),
        )
    };
    let wrap_office = |recipient: WrapRecipient, at: u64| {
        let line = grants::KeyLine {
            patient,
            domain: Domain::Office,
            current: &office,
            previous: &[],
        };
        grants::wrap_key(
            doctor,
            &line,
            recipient,
            Some(&shared.office_epoch_key),
            Timestamp::from_secs(at),
        )
    };
    let sign = |kind: ClinicalKind, resource: f::Resource, at: u64| -> anyhow::Result<Event> {
        let (domain, key) = match kind.domain() {
            Domain::Office => (Domain::Office, &office),
            Domain::Clinical => (Domain::Clinical, &key),
        };
        Ok(ClinicalEventBuilder::new(kind, resource, *patient)?
            .created_at(Timestamp::from_secs(at))
            .sign_in(doctor, domain, key)?
            .event()
            .clone())
    };
    let mut events = Vec::with_capacity(shared.events_per_patient + 4);
    events.push(wrap(WrapRecipient::Epoch(shared.epoch), enrolled)?);
    events.push(wrap_office(
        WrapRecipient::Epoch(shared.office_epoch),
        enrolled,
    )?);
    let resource = synthetic::patient(&logical, &mut rng);
    events.push(sign(ClinicalKind::Patient, resource, enrolled + 1)?);
    let consent = ehr_client::demo::fhir_sharing_consent(&logical, &[served::ANY_FACILITY]);
    events.push(sign(ClinicalKind::Consent, consent, enrolled + 2)?);
    events.push(wrap(WrapRecipient::Gateway(shared.gateway), enrolled + 3)?);
    events.push(wrap_office(
        WrapRecipient::Gateway(shared.gateway),
        enrolled + 3,
    )?);
    let records = shared.events_per_patient - 2;
    let first = enrolled + 4;
    let mut times: Vec<u64> = (0..records)
        .map(|_| first + rng.below(shared.end.saturating_sub(first).max(1)))
        .collect();
    times.sort_unstable();
    let size = shared.record_bytes;
    let mut encounter = String::new();
    for (j, at) in times.into_iter().enumerate() {
        let (kind, resource) = if j % 10 == 0 {
            let (id, resource) = synthetic::encounter(&logical, at, &mut rng, size);
            encounter = id;
            (ClinicalKind::Encounter, resource)
        } else if j % 20 == 5 {
            let resource = synthetic::condition(&logical, &encounter, at, &mut rng, size);
            (ClinicalKind::Condition, resource)
        } else {
            let resource = synthetic::observation(&logical, &encounter, at, &mut rng, size);
            (ClinicalKind::Observation, resource)
        };
        events.push(sign(kind, resource, at)?);
    }
    Ok(events)
}
