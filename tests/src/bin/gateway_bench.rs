//! `gateway-bench`: the FHIR gateway against a relay holding many consented charts (issue 6).
//!
//! It builds a practice (root, a doctor, the `fhir-gateway` agent), seeds the relay's SQLite
//! store directly through its write path with signed, doubly encrypted events generated on
//! every core (one patient's chart also goes through the relay's WebSocket admission, as a
//! check that the events are what the relay accepts), then measures:
//!
//! - the cold start: `Gateway::start` until it has caught up, as events/s and decrypts/s,
//!   against this machine's single-core NIP-44 rate with a cached conversation key;
//! - warm serving over HTTP keep-alive: `$everything` and `Observation?patient=..&_count=50`
//!   p50/p99, and requests/s for concurrent searches;
//! - a connect-per-request mode (the reference's approach, done with `ehr-client`): a new
//!   authenticated WebSocket per request, fetch, unwrap, decrypt, fold, the same Bundle.
//!
//! `scripts/bench-gateway` builds it in release mode and runs it. Figures are printed, never
//! asserted.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use clap::Parser;
use ehr_client::access::PracticeView;
use ehr_client::crypto;
use ehr_client::event::ClinicalEventBuilder;
use ehr_client::fhir as f;
use ehr_client::grants::{self, WrapRecipient};
use ehr_client::keys::{ChartKey, Identity};
use ehr_client::kinds::{self, ClinicalKind};
use ehr_client::net::{PublishOutcome, RelayClient};
use ehr_client::roster::Role;
use ehr_client::rotation::{self, RosterChange};
use ehr_fhir_gateway::served::{self, PatientIndex, ServedResource};
use ehr_fhir_gateway::{Config as GatewayConfig, Gateway};
use ehr_relay::store::{Store as RelayStore, WriteJob, WriteOutcome};
use nostr::prelude::{Event, Filter, Keys, Kind, PublicKey, SecretKey, Timestamp};
use serde_json::{Value, json};

/// Bump when the seeded data changes, so an old cached database is not reused.
const SEED_FORMAT: u32 = 1;
/// The relay's default `max_limit`, and the page the gateway asks for.
const PAGE: usize = 5000;
/// Events per store transaction while seeding (the relay's writer commits up to 1,024).
const WRITE_BATCH: usize = 1024;
/// The facility the API key is issued to (the consents name `*`).
const CLIENT_ID: &str = "bench-hospital";

#[derive(Parser, Clone)]
#[command(name = "gateway-bench")]
struct Cli {
    /// Consenting patients.
    #[arg(long, default_value_t = 2000)]
    patients: usize,
    /// Clinical events per patient (Patient and Consent included).
    #[arg(long, default_value_t = 1000)]
    events_per_patient: usize,
    /// Approximate size of each record's FHIR JSON (Observations carry a note as padding).
    #[arg(long, default_value_t = 2000)]
    record_bytes: usize,
    /// Timed requests per warm-serving figure (and per concurrency level).
    #[arg(long, default_value_t = 1000)]
    requests: usize,
    /// Timed requests in connect-per-request mode.
    #[arg(long, default_value_t = 50)]
    direct_requests: usize,
    /// Timed cross-patient searches (every served resource is scanned).
    #[arg(long, default_value_t = 10)]
    scan_requests: usize,
    /// Threads generating events (default: every core).
    #[arg(long)]
    threads: Option<usize>,
    /// Where the relay database goes (about 8 KiB per event with 2 KB records: ~16 GB at the
    /// default size). Given, the seeded database is kept there, keyed by the parameters, and
    /// reused by the next run; without it, a temporary directory is used and removed.
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Run even if the gateway's memory (measured at ~31 KiB per event held) will not fit in
    /// this machine's available memory.
    #[arg(long)]
    ignore_memory_check: bool,
}

/// What the gateway held per clinical event after catch-up in this bench's runs (2 KB records).
const GATEWAY_KIB_PER_EVENT: f64 = 31.0;

/// The practice's keys and patients (kept beside a cached database).
struct Practice {
    root: Identity,
    doctor: Identity,
    gateway: Identity,
    patients: Vec<PublicKey>,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    ensure!(cli.patients >= 1, "--patients must be at least 1");
    ensure!(
        cli.events_per_patient >= 3,
        "--events-per-patient must be at least 3 (Patient, Consent and one record)"
    );
    ensure!(
        cli.events_per_patient + 2 < PAGE,
        "--events-per-patient must stay below {} (the connect-per-request mode reads a chart in one REQ)",
        PAGE - 2
    );
    ensure!(cli.requests >= 16, "--requests must be at least 16");
    let events = (cli.patients * cli.events_per_patient) as f64;
    let needed_gib = events * GATEWAY_KIB_PER_EVENT * (cli.record_bytes as f64 / 2000.0).max(0.5)
        / f64::from(1u32 << 20);
    if let Some(available_gib) = available_memory_gib()
        && needed_gib > available_gib
        && !cli.ignore_memory_check
    {
        bail!(
            "the gateway would hold about {needed_gib:.0} GiB for {events} events (~{GATEWAY_KIB_PER_EVENT} KiB each as measured), and this machine has {available_gib:.0} GiB available: use fewer --patients or --events-per-patient, or --ignore-memory-check"
        );
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(run(cli))
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    let cores = cores();
    let total_events = cli.patients * cli.events_per_patient;

    // Where the data lives: a cache keyed by the parameters, or a temporary directory.
    let (temporary, work) = match &cli.dir {
        Some(dir) => {
            let work = dir.join(format!(
                "gateway-bench-v{SEED_FORMAT}-p{}-e{}-b{}",
                cli.patients, cli.events_per_patient, cli.record_bytes
            ));
            (None, work)
        }
        None => {
            let temporary = tempfile::Builder::new()
                .prefix("gateway-bench-")
                .tempdir()?;
            let work = temporary.path().to_path_buf();
            (Some(temporary), work)
        }
    };
    std::fs::create_dir_all(&work)?;
    let relay_db = work.join("relay.db");
    let manifest_path = work.join("manifest.json");

    writeln!(
        out,
        "gateway-bench: {} patients x {} events = {} clinical events, records ~{} B of FHIR JSON; {cores} cores; data in {}",
        cli.patients,
        cli.events_per_patient,
        total_events,
        cli.record_bytes,
        work.display()
    )?;
    out.flush()?;

    let (practice, seeding, held_back) = match load_manifest(&manifest_path)? {
        Some(practice) => (practice, None, Vec::new()),
        None => {
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(work.join(format!("relay.db{suffix}")));
            }
            let started = Instant::now();
            let (practice, stored, held_back) = seed(&cli, &relay_db).await?;
            let seconds = started.elapsed().as_secs_f64();
            if temporary.is_none() {
                save_manifest(&manifest_path, &cli, &practice)?;
            }
            (practice, Some((stored, seconds)), held_back)
        }
    };
    match seeding {
        Some((stored, seconds)) => writeln!(
            out,
            "seeding: {stored} events generated on {} threads and stored through the relay's write path in {seconds:.1} s ({:.0} events/s){}",
            cli.threads.unwrap_or(cores),
            stored as f64 / seconds,
            if temporary.is_none() {
                "; kept for the next run with the same parameters"
            } else {
                ""
            }
        )?,
        None => writeln!(
            out,
            "seeding: skipped, reusing the database seeded earlier with these parameters ({})",
            relay_db.display()
        )?,
    }
    writeln!(
        out,
        "relay database: {:.2} GiB",
        dir_bytes(&work) as f64 / f64::from(1u32 << 30)
    )?;
    out.flush()?;

    // The relay, in this process.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let relay_url = format!("ws://{}", listener.local_addr()?);
    let mut relay_config = ehr_relay::RelayConfig::new(
        practice.root.public_key(),
        format!("sqlite://{}", relay_db.display()),
    );
    relay_config.limits.messages_per_minute = 10_000_000;
    let (stop_relay, relay_stopped) = tokio::sync::oneshot::channel::<()>();
    let relay_task = tokio::spawn(ehr_relay::serve(listener, relay_config, async move {
        let _ = relay_stopped.await;
    }));

    let result = measure(
        &mut out, &cli, &work, &practice, &relay_url, held_back, cores,
    )
    .await;
    let _ = stop_relay.send(());
    relay_task.await??;
    drop(temporary);
    result
}

/// Everything after the relay is up.
async fn measure(
    out: &mut impl Write,
    cli: &Cli,
    work: &Path,
    practice: &Practice,
    relay_url: &str,
    held_back: Vec<Event>,
    cores: usize,
) -> anyhow::Result<()> {
    let root = practice.root.public_key();
    let patient_count = cli.patients;
    let per_patient = cli.events_per_patient;
    let clinical_total = patient_count * per_patient;

    // One chart through the relay's own admission: the doctor publishes it over WebSocket.
    if !held_back.is_empty() {
        let client =
            RelayClient::connect(relay_url, &practice.doctor, Duration::from_secs(60)).await?;
        let outcomes = client.publish(&held_back).await;
        client.disconnect().await;
        for (event, outcome) in held_back.iter().zip(outcomes?) {
            if let PublishOutcome::Refused { message } = outcome {
                bail!(
                    "the relay refused a seeded event of kind {}: {message}",
                    event.kind.as_u16()
                );
            }
        }
        writeln!(
            out,
            "admission check: the first patient's {} events published over WebSocket as the doctor, all accepted",
            held_back.len()
        )?;
    }

    // Cold start.
    let gateway_db = work.join("gateway.db");
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let _ = std::fs::remove_file(work.join(format!("gateway.db{suffix}")));
    }
    let mut config = GatewayConfig::new(
        root,
        relay_url.to_owned(),
        practice.gateway.clone(),
        format!("sqlite://{}", gateway_db.display()),
    );
    // One page holds a whole chart, so `$everything` can answer everything at once.
    config.max_count = config.max_count.max(per_patient + 10);
    let max_count = config.max_count;
    reset_peak_rss();
    let rss_before = memory_mib("VmRSS:")?;
    let cpu_before = cpu_seconds()?;
    let started = Instant::now();
    let gateway = Gateway::start(config).await?;
    let catch_up = started.elapsed().as_secs_f64();
    let catch_up_cpu = cpu_seconds()? - cpu_before;
    let peak_rss = memory_mib("VmHWM:")?;
    let rss_after = memory_mib("VmRSS:")?;
    let served = gateway.snapshots().borrow().patients.len();
    ensure!(
        served == patient_count,
        "the gateway serves {served} patients, expected {patient_count}"
    );
    let catch_up_rate = clinical_total as f64 / catch_up;

    // This machine's NIP-44 and signature speeds, one core.
    let speeds = single_core_speeds(cli.record_bytes, &sample_event(practice, relay_url).await?)?;
    let all_cores_rate = cores as f64 * speeds.decrypts_per_sec;

    // Where catch-up time goes: the calls sync.rs makes, on a sample, one task.
    let sample = (50_000 / per_patient).clamp(1, patient_count);
    let breakdown = breakdown(practice, relay_url, sample).await?;

    // Warm serving.
    let store = gateway.store().clone();
    let now = i64::try_from(Timestamp::now().as_secs())?;
    let token = store
        .add_api_key(CLIENT_ID, &["system/*.read".to_owned()], now, now + 86_400)
        .await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}/fhir", listener.local_addr()?);
    let (stop_gateway, gateway_stopped) = tokio::sync::oneshot::channel::<()>();
    let gateway_task = tokio::spawn(gateway.serve(listener, async move {
        let _ = gateway_stopped.await;
    }));
    let serving = serve_figures(cli, practice, &base, &token).await;
    let database = match &serving {
        Ok(_) => database_figures(&store, &token, cli.requests.min(300)).await,
        Err(_) => Err(anyhow::anyhow!("skipped")),
    };
    let direct = match &serving {
        Ok(_) => direct_figures(cli, practice, relay_url, &base).await,
        Err(_) => Err(anyhow::anyhow!("skipped")),
    };
    let _ = stop_gateway.send(());
    gateway_task.await??;
    let serving = serving?;
    let database = database?;
    let direct = direct?;

    // The report.
    let ms = |v: f64| format!("{v:.2} ms");
    writeln!(out)?;
    writeln!(out, "=== gateway-bench report ===")?;
    writeln!(
        out,
        "parameters: {patient_count} patients x {per_patient} clinical events ({clinical_total} events, {} wraps), records ~{} B JSON, {cores} cores (relay, gateway and client in one process)",
        2 * patient_count,
        cli.record_bytes
    )?;
    writeln!(
        out,
        "one core: NIP-44 decrypt of {} B with a cached conversation key {:.0}/s ({:.2} us); ConversationKey::derive {:.1} us = {:.1} decrypts; event id+signature check {:.0}/s ({:.1} us, event of {} B); event JSON out and back in {:.1} us",
        cli.record_bytes,
        speeds.decrypts_per_sec,
        1e6 / speeds.decrypts_per_sec,
        speeds.derive_us,
        speeds.derive_us * speeds.decrypts_per_sec / 1e6,
        speeds.verifies_per_sec,
        1e6 / speeds.verifies_per_sec,
        speeds.event_bytes,
        1e6 / speeds.round_trips_per_sec
    )?;
    writeln!(
        out,
        "cold start: Gateway::start caught up with {clinical_total} clinical events ({served} patients served) in {catch_up:.2} s (and {served} wraps opened, one derivation each) = {catch_up_rate:.0} events/s = {catch_up_rate:.0} decrypts/s = {:.4} x the NIP-44 rate of {cores} cores ({all_cores_rate:.0}/s), {:.4} x one core's",
        catch_up_rate / all_cores_rate,
        catch_up_rate / speeds.decrypts_per_sec
    )?;
    writeln!(
        out,
        "CPU during catch-up: {catch_up_cpu:.1} s for {catch_up:.1} s = {:.2} of {cores} cores busy (the relay's share included)",
        catch_up_cpu / catch_up
    )?;
    writeln!(
        out,
        "memory: RSS {rss_before:.0} MiB before the start, {rss_after:.0} MiB after catch-up ({:.1} KiB per clinical event held); peak RSS during catch-up {peak_rss:.0} MiB (VmHWM; the relay runs in this process too)",
        (rss_after - rss_before) * 1024.0 / clinical_total as f64
    )?;
    breakdown.report(out)?;
    writeln!(
        out,
        "warm serving over HTTP keep-alive, {} requests each, random patients (each request checks its API key, seals a kind 2107 audit copy per disclosed patient and commits it with an AuditEvent row before answering):",
        cli.requests
    )?;
    for (label, l) in [
        (
            "$everything, default page (_count 50)",
            &serving.everything_page,
        ),
        (
            "$everything, whole chart in one page",
            &serving.everything_all,
        ),
        ("Observation?patient=..&_count=50", &serving.search),
    ] {
        writeln!(
            out,
            "  {label:<40} p50 {:>10}  p99 {:>10}  ({:.0} KiB per answer)",
            ms(l.p50),
            ms(l.p99),
            l.bytes / 1024.0
        )?;
    }
    for c in &serving.concurrent {
        writeln!(
            out,
            "  concurrent Observation searches, {:>2} clients: {:>8.0} requests/s  (p50 {}, p99 {})",
            c.clients,
            c.per_sec,
            ms(c.latency.p50),
            ms(c.latency.p99)
        )?;
    }
    writeln!(
        out,
        "  Observation?code=8867-4&_count=50 over all patients ({} requests): p50 {}  p99 {}",
        cli.scan_requests.max(1),
        ms(serving.scan.p50),
        ms(serving.scan.p99)
    )?;
    writeln!(
        out,
        "  per-request database work alone ({} each, no HTTP): check_api_key p50 {} p99 {}; record_access (one transaction: the AuditEvent row, no sealed copy) p50 {} p99 {}; the same from 16 tasks at once p50 {} p99 {}",
        database.0.count,
        ms(database.0.latency.p50),
        ms(database.0.latency.p99),
        ms(database.1.latency.p50),
        ms(database.1.latency.p99),
        ms(database.2.latency.p50),
        ms(database.2.latency.p99)
    )?;
    writeln!(
        out,
        "connect-per-request ({} requests: new WebSocket + NIP-42, one REQ for rosters, wraps and the chart, unwrap, verify, decrypt, fold, the same Bundle):",
        cli.direct_requests.max(1)
    )?;
    writeln!(
        out,
        "  $everything, whole chart                  p50 {:>10}  p99 {:>10}  ({:.0} KiB per answer)",
        ms(direct.p50),
        ms(direct.p99),
        direct.bytes / 1024.0
    )?;
    writeln!(
        out,
        "  ratio connect-per-request / warm gateway (whole chart): p50 {:.1}x, p99 {:.1}x; against the default page: p50 {:.1}x, p99 {:.1}x",
        direct.p50 / serving.everything_all.p50,
        direct.p99 / serving.everything_all.p99,
        direct.p50 / serving.everything_page.p50,
        direct.p99 / serving.everything_page.p99
    )?;
    writeln!(
        out,
        "gateway max_count set to {max_count} for the whole-chart page"
    )?;
    writeln!(out)?;
    writeln!(
        out,
        "README: `$everything` p99 {:.1} ms for a whole {per_patient}-event chart, {:.1} ms for the default page (goal < 50 ms); Observation search p99 {:.1} ms; {:.0} searches/s at 16 clients; catch-up {catch_up_rate:.0} events/s = {:.1} % of {cores} cores' NIP-44 rate ({patient_count} x {per_patient} events in {catch_up:.1} s, peak RSS {peak_rss:.0} MiB); connect-per-request {:.0}x slower at p50 ({:.0} ms vs {:.1} ms)",
        serving.everything_all.p99,
        serving.everything_page.p99,
        serving.search.p99,
        serving
            .concurrent
            .iter()
            .find(|c| c.clients == 16)
            .map_or(f64::NAN, |c| c.per_sec),
        100.0 * catch_up_rate / all_cores_rate,
        direct.p50 / serving.everything_all.p50,
        direct.p50,
        serving.everything_all.p50
    )?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Seeding

/// Build the practice and seed the relay database; returns the practice, the number of events
/// stored, and the first patient's events (held back for the WebSocket admission check).
async fn seed(cli: &Cli, relay_db: &Path) -> anyhow::Result<(Practice, usize, Vec<Event>)> {
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
        let view = PracticeView::load(&root.public_key(), organisation.iter(), &root);
        let change = RosterChange::Add {
            pubkey: who,
            role,
            name: None,
        };
        organisation.extend(rotation::change_roster(&view, &root, &change, at)?);
    }
    let view = PracticeView::load(&root.public_key(), organisation.iter(), &root);
    organisation.extend(rotation::missing_epoch_grants(&view, &root, at)?);
    let doctor_view = PracticeView::load(&root.public_key(), organisation.iter(), &doctor);
    let (epoch, epoch_key) = doctor_view
        .roster()
        .current_epoch()
        .context("no epoch in the roster")?;
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
    let mut stored = store_all(&store, organisation).await?;

    let shared = Arc::new(Shared {
        doctor: doctor.clone(),
        gateway: gateway.public_key(),
        epoch,
        epoch_key,
        patients: patients.clone(),
        events_per_patient: cli.events_per_patient,
        record_bytes: cli.record_bytes,
        start: opened + 86_400,
        end: now - 3_600,
        next: AtomicUsize::new(0),
    });
    let threads = cli.threads.unwrap_or_else(cores).max(1);
    let (sender, mut receiver) =
        tokio::sync::mpsc::channel::<anyhow::Result<(usize, Vec<Event>)>>(4 * threads);
    let workers: Vec<_> = (0..threads)
        .map(|_| {
            let shared = Arc::clone(&shared);
            let sender = sender.clone();
            std::thread::spawn(move || generate(&shared, &sender))
        })
        .collect();
    drop(sender);

    let mut held_back = Vec::new();
    let mut jobs: Vec<WriteJob> = Vec::with_capacity(WRITE_BATCH + cli.events_per_patient + 2);
    let mut done = 0usize;
    let received_at = Timestamp::now();
    let started = Instant::now();
    while let Some(chart) = receiver.recv().await {
        let (index, events) = chart?;
        done += 1;
        if index == 0 {
            held_back = events;
        } else {
            jobs.extend(events.into_iter().map(|event| WriteJob {
                raw: event.as_json(),
                event,
                received_at,
            }));
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
    stored += held_back.len();
    Ok((
        Practice {
            root,
            doctor,
            gateway,
            patients,
        },
        stored,
        held_back,
    ))
}

async fn store_all(store: &RelayStore, events: Vec<Event>) -> anyhow::Result<usize> {
    let received_at = Timestamp::now();
    let jobs: Vec<WriteJob> = events
        .into_iter()
        .map(|event| WriteJob {
            raw: event.as_json(),
            event,
            received_at,
        })
        .collect();
    write(store, &jobs).await
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

/// What the generator threads share.
struct Shared {
    doctor: Identity,
    gateway: PublicKey,
    epoch: u64,
    epoch_key: PublicKey,
    patients: Vec<PublicKey>,
    events_per_patient: usize,
    record_bytes: usize,
    /// The span of event times, Unix seconds.
    start: u64,
    end: u64,
    next: AtomicUsize,
}

/// Take patients one by one and send each one's chart.
fn generate(
    shared: &Shared,
    sender: &tokio::sync::mpsc::Sender<anyhow::Result<(usize, Vec<Event>)>>,
) {
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

/// One patient's events: the chart key wrapped to the epoch, the Patient record, a Consent
/// sharing with every facility (`*`), the wrap to the gateway that consent calls for, then
/// Encounters, Observations and Conditions spread over the years.
fn chart_events(shared: &Shared, index: usize, patient: &PublicKey) -> anyhow::Result<Vec<Event>> {
    let mut rng = Rng::new(index as u64);
    let doctor = &shared.doctor;
    let key = ChartKey::generate(1);
    let span = shared.end.saturating_sub(shared.start).max(86_400);
    let enrolled = shared.start + rng.below(span / 2);
    let logical = ehr_client::demo::new_id();
    let mut events = Vec::with_capacity(shared.events_per_patient + 2);
    events.push(grants::wrap_chart_key(
        doctor,
        patient,
        &key,
        &[],
        WrapRecipient::Epoch(shared.epoch),
        Some(&shared.epoch_key),
        Timestamp::from_secs(enrolled),
    )?);
    let sign = |kind: ClinicalKind, resource: f::Resource, at: u64| -> anyhow::Result<Event> {
        Ok(ClinicalEventBuilder::new(kind, resource, *patient)?
            .created_at(Timestamp::from_secs(at))
            .sign(doctor, &key)?
            .event()
            .clone())
    };
    events.push(sign(
        ClinicalKind::Patient,
        patient_resource(&logical, &mut rng),
        enrolled + 1,
    )?);
    events.push(sign(
        ClinicalKind::Consent,
        ehr_client::demo::fhir_sharing_consent(&logical, &[served::ANY_FACILITY]),
        enrolled + 2,
    )?);
    events.push(grants::wrap_chart_key(
        doctor,
        patient,
        &key,
        &[],
        WrapRecipient::Gateway(shared.gateway),
        Some(&shared.epoch_key),
        Timestamp::from_secs(enrolled + 3),
    )?);
    let records = shared.events_per_patient - 2;
    let first = enrolled + 4;
    let mut times: Vec<u64> = (0..records)
        .map(|_| first + rng.below(shared.end.saturating_sub(first).max(1)))
        .collect();
    times.sort_unstable();
    let mut encounter = String::new();
    for (j, at) in times.into_iter().enumerate() {
        let (kind, resource) = if j % 10 == 0 {
            let (id, resource) = encounter_resource(&logical, at, &mut rng, shared.record_bytes);
            encounter = id;
            (ClinicalKind::Encounter, resource)
        } else if j % 20 == 5 {
            (
                ClinicalKind::Condition,
                condition_resource(&logical, &encounter, at, &mut rng, shared.record_bytes),
            )
        } else {
            (
                ClinicalKind::Observation,
                observation_resource(&logical, &encounter, at, &mut rng, shared.record_bytes),
            )
        };
        events.push(sign(kind, resource, at)?);
    }
    Ok(events)
}

/// splitmix64: reproducible content per patient without another dependency.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0x2545_f491_4f6c_dd1d)
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next() % n }
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> Option<&'a T> {
        items.get(self.below(items.len() as u64) as usize)
    }

    /// A value in `[low, high)` rounded to `decimals`.
    fn value(&mut self, low: f64, high: f64, decimals: i32) -> f64 {
        let unit = (self.next() >> 11) as f64 / (1u64 << 53) as f64;
        let scale = 10f64.powi(decimals);
        ((low + unit * (high - low)) * scale).round() / scale
    }
}

const LOINC: &str = "http://loinc.org";
const SNOMED: &str = "http://snomed.info/sct";
const UCUM: &str = "http://unitsofmeasure.org";
const CATEGORY: &str = "http://terminology.hl7.org/CodeSystem/observation-category";

/// (LOINC code, display, unit, low, high, decimals, vital sign?)
const ANALYTES: [(&str, &str, &str, f64, f64, i32, bool); 18] = [
    ("8867-4", "Heart rate", "/min", 52.0, 110.0, 0, true),
    (
        "8480-6",
        "Systolic blood pressure",
        "mm[Hg]",
        100.0,
        170.0,
        0,
        true,
    ),
    (
        "8462-4",
        "Diastolic blood pressure",
        "mm[Hg]",
        60.0,
        105.0,
        0,
        true,
    ),
    ("8310-5", "Body temperature", "Cel", 36.0, 38.6, 1, true),
    ("9279-1", "Respiratory rate", "/min", 11.0, 22.0, 0, true),
    (
        "59408-5",
        "Oxygen saturation in Arterial blood by Pulse oximetry",
        "%",
        90.0,
        100.0,
        0,
        true,
    ),
    ("29463-7", "Body weight", "kg", 48.0, 130.0, 1, true),
    ("8302-2", "Body height", "cm", 150.0, 195.0, 1, true),
    (
        "39156-5",
        "Body mass index (BMI) [Ratio]",
        "kg/m2",
        18.0,
        38.0,
        1,
        true,
    ),
    (
        "2345-7",
        "Glucose [Mass/volume] in Serum or Plasma",
        "mg/dL",
        70.0,
        210.0,
        0,
        false,
    ),
    (
        "4548-4",
        "Hemoglobin A1c/Hemoglobin.total in Blood",
        "%",
        4.6,
        10.5,
        1,
        false,
    ),
    (
        "2093-3",
        "Cholesterol [Mass/volume] in Serum or Plasma",
        "mg/dL",
        130.0,
        290.0,
        0,
        false,
    ),
    ("2085-9", "HDL Cholesterol", "mg/dL", 30.0, 90.0, 0, false),
    (
        "2571-8",
        "Triglyceride [Mass/volume] in Serum or Plasma",
        "mg/dL",
        50.0,
        400.0,
        0,
        false,
    ),
    (
        "2160-0",
        "Creatinine [Mass/volume] in Serum or Plasma",
        "mg/dL",
        0.5,
        2.2,
        2,
        false,
    ),
    (
        "718-7",
        "Hemoglobin [Mass/volume] in Blood",
        "g/dL",
        10.0,
        17.5,
        1,
        false,
    ),
    (
        "2823-3",
        "Potassium [Moles/volume] in Serum or Plasma",
        "mmol/L",
        3.2,
        5.6,
        1,
        false,
    ),
    (
        "2951-2",
        "Sodium [Moles/volume] in Serum or Plasma",
        "mmol/L",
        131.0,
        148.0,
        0,
        false,
    ),
];

/// (SNOMED CT code, display)
const CONDITIONS: [(&str, &str); 8] = [
    ("38341003", "Hypertensive disorder"),
    ("44054006", "Diabetes mellitus type 2"),
    ("55822004", "Hyperlipidemia"),
    ("195967001", "Asthma"),
    ("35489007", "Depressive disorder"),
    ("13645005", "Chronic obstructive lung disease"),
    ("69896004", "Rheumatoid arthritis"),
    ("40055000", "Chronic sinusitis"),
];

const ENCOUNTER_TYPES: [(&str, &str); 4] = [
    ("185349003", "Encounter for check up"),
    ("390906007", "Follow-up encounter"),
    ("185345009", "Encounter for symptom"),
    ("439740005", "Postoperative follow-up visit"),
];

const WORDS: [&str; 24] = [
    "patient",
    "reports",
    "no",
    "new",
    "symptoms",
    "since",
    "last",
    "visit",
    "values",
    "reviewed",
    "with",
    "the",
    "patient",
    "trend",
    "stable",
    "over",
    "past",
    "months",
    "continue",
    "current",
    "plan",
    "recheck",
    "at",
    "follow-up",
];

/// Free text of about `len` characters.
fn filler(rng: &mut Rng, len: usize) -> String {
    let mut text = String::with_capacity(len + 16);
    while text.len() < len {
        if !text.is_empty() {
            text.push(' ');
        }
        text.push_str(rng.pick(&WORDS).copied().unwrap_or("note"));
    }
    text.truncate(len);
    text
}

/// What padding a resource needs to reach `target` bytes of JSON.
fn padding(resource: &f::Resource, target: usize, overhead: usize) -> usize {
    target.saturating_sub(resource.to_json().len() + overhead)
}

fn synthetic_meta() -> Option<f::Meta> {
    Some(f::Meta {
        version_id: Some("1".to_owned()),
        security: vec![f::Coding::new(
            "http://terminology.hl7.org/CodeSystem/v3-ActReason",
            "HTEST",
            "test health data",
        )],
        ..f::Meta::default()
    })
}

/// `YYYY-MM-DDThh:mm:ssZ` from Unix seconds (civil-from-days, proleptic Gregorian).
fn date_time(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rest = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

fn patient_resource(logical: &str, rng: &mut Rng) -> f::Resource {
    const FAMILY: [&str; 8] = [
        "Testperson",
        "Sample",
        "Example",
        "Synthetic",
        "Demo",
        "Fictive",
        "Placeholder",
        "Mock",
    ];
    const GIVEN: [&str; 8] = [
        "Synthia", "Alex", "Jordan", "Robin", "Casey", "Morgan", "Riley", "Sam",
    ];
    let birth = 1930 + rng.below(75);
    f::Patient {
        id: Some(logical.to_owned()),
        meta: synthetic_meta(),
        active: Some(true),
        name: vec![f::HumanName {
            use_: Some("official".to_owned()),
            family: rng.pick(&FAMILY).map(|s| (*s).to_owned()),
            given: rng
                .pick(&GIVEN)
                .map(|s| (*s).to_owned())
                .into_iter()
                .collect(),
            ..f::HumanName::default()
        }],
        gender: Some(if rng.below(2) == 0 {
            f::AdministrativeGender::Female
        } else {
            f::AdministrativeGender::Male
        }),
        birth_date: Some(format!(
            "{birth:04}-{:02}-{:02}",
            1 + rng.below(12),
            1 + rng.below(28)
        )),
        ..f::Patient::default()
    }
    .into()
}

fn encounter_resource(
    logical: &str,
    at: u64,
    rng: &mut Rng,
    target: usize,
) -> (String, f::Resource) {
    let id = ehr_client::demo::new_id();
    let (code, display) = rng
        .pick(&ENCOUNTER_TYPES)
        .copied()
        .unwrap_or(("185349003", "Encounter for check up"));
    let (reason, reason_display) = rng
        .pick(&CONDITIONS)
        .copied()
        .unwrap_or(("38341003", "Hypertensive disorder"));
    let mut encounter = f::Encounter {
        id: Some(id.clone()),
        meta: synthetic_meta(),
        status: f::EncounterStatus::Finished,
        class: f::Coding::new(
            "http://terminology.hl7.org/CodeSystem/v3-ActCode",
            "AMB",
            "ambulatory",
        ),
        type_: vec![f::CodeableConcept::coded(SNOMED, code, display)],
        subject: Some(f::Reference::to("Patient", logical)),
        period: Some(f::Period {
            start: Some(date_time(at)),
            end: Some(date_time(at + 1800)),
        }),
        reason_code: vec![f::CodeableConcept::coded(SNOMED, reason, reason_display)],
        ..f::Encounter::default()
    };
    // The visit summary as the narrative.
    let wrapper = r#","text":{"status":"generated","div":"<div xmlns=\"http://www.w3.org/1999/xhtml\"></div>"}"#;
    let pad = padding(&encounter.clone().into(), target, wrapper.len());
    if pad > 0 {
        encounter.text = Some(f::Narrative {
            status: "generated".to_owned(),
            div: format!(
                "<div xmlns=\"http://www.w3.org/1999/xhtml\">{}</div>",
                filler(rng, pad)
            ),
        });
    }
    (id, encounter.into())
}

fn condition_resource(
    logical: &str,
    encounter: &str,
    at: u64,
    rng: &mut Rng,
    target: usize,
) -> f::Resource {
    let (code, display) = rng
        .pick(&CONDITIONS)
        .copied()
        .unwrap_or(("38341003", "Hypertensive disorder"));
    let active = rng.below(4) != 0;
    let mut condition = f::Condition {
        id: Some(ehr_client::demo::new_id()),
        meta: synthetic_meta(),
        clinical_status: Some(f::CodeableConcept::coded(
            "http://terminology.hl7.org/CodeSystem/condition-clinical",
            if active { "active" } else { "resolved" },
            if active { "Active" } else { "Resolved" },
        )),
        verification_status: Some(f::CodeableConcept::coded(
            "http://terminology.hl7.org/CodeSystem/condition-ver-status",
            "confirmed",
            "Confirmed",
        )),
        category: vec![f::CodeableConcept::coded(
            "http://terminology.hl7.org/CodeSystem/condition-category",
            "problem-list-item",
            "Problem List Item",
        )],
        code: Some(f::CodeableConcept::coded(SNOMED, code, display)),
        subject: f::Reference::to("Patient", logical),
        encounter: (!encounter.is_empty()).then(|| f::Reference::to("Encounter", encounter)),
        onset_date_time: Some(date_time(at).get(..10).unwrap_or_default().to_owned()),
        recorded_date: Some(date_time(at)),
        ..f::Condition::default()
    };
    let pad = padding(
        &condition.clone().into(),
        target,
        r#","note":[{"text":""}]"#.len(),
    );
    if pad > 0 {
        condition.note = vec![f::Annotation {
            text: filler(rng, pad),
            ..f::Annotation::default()
        }];
    }
    condition.into()
}

fn observation_resource(
    logical: &str,
    encounter: &str,
    at: u64,
    rng: &mut Rng,
    target: usize,
) -> f::Resource {
    let (code, display, unit, low, high, decimals, vital) = rng
        .pick(&ANALYTES)
        .copied()
        .unwrap_or(("8867-4", "Heart rate", "/min", 52.0, 110.0, 0, true));
    let (category, category_display) = if vital {
        ("vital-signs", "Vital Signs")
    } else {
        ("laboratory", "Laboratory")
    };
    let value = rng.value(low, high, decimals);
    let mut observation = f::Observation {
        id: Some(ehr_client::demo::new_id()),
        meta: synthetic_meta(),
        status: f::ObservationStatus::Final,
        category: vec![f::CodeableConcept::coded(
            CATEGORY,
            category,
            category_display,
        )],
        code: f::CodeableConcept::coded(LOINC, code, display),
        subject: Some(f::Reference::to("Patient", logical)),
        encounter: (!encounter.is_empty()).then(|| f::Reference::to("Encounter", encounter)),
        effective_date_time: Some(date_time(at)),
        issued: Some(date_time(at + 600)),
        value_quantity: Some(f::Quantity {
            value: Some(value),
            unit: Some(unit.to_owned()),
            system: Some(UCUM.to_owned()),
            code: Some(unit.to_owned()),
            ..f::Quantity::default()
        }),
        reference_range: vec![f::ReferenceRange {
            low: Some(f::Quantity::ucum(low, unit, unit)),
            high: Some(f::Quantity::ucum(high, unit, unit)),
            text: None,
        }],
        ..f::Observation::default()
    };
    let pad = padding(
        &observation.clone().into(),
        target,
        r#","note":[{"text":""}]"#.len(),
    );
    if pad > 0 {
        observation.note = vec![f::Annotation {
            text: filler(rng, pad),
            ..f::Annotation::default()
        }];
    }
    observation.into()
}

// ---------------------------------------------------------------------------------------------
// The cache of a seeded database

fn save_manifest(path: &Path, cli: &Cli, practice: &Practice) -> anyhow::Result<()> {
    // Synthetic keys of a throwaway practice, kept so that the cached database can be read again.
    let manifest = json!({
        "format": SEED_FORMAT,
        "patients": cli.patients,
        "events_per_patient": cli.events_per_patient,
        "record_bytes": cli.record_bytes,
        "root": practice.root.secret_key().to_secret_hex(),
        "doctor": practice.doctor.secret_key().to_secret_hex(),
        "gateway": practice.gateway.secret_key().to_secret_hex(),
        "patient_keys": practice.patients.iter().map(PublicKey::to_hex).collect::<Vec<_>>(),
    });
    let partial = path.with_extension("partial");
    std::fs::write(&partial, manifest.to_string())?;
    std::fs::rename(&partial, path)?;
    Ok(())
}

fn load_manifest(path: &Path) -> anyhow::Result<Option<Practice>> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Ok(None);
    };
    let manifest: Value = serde_json::from_str(&text)?;
    if manifest.get("format").and_then(Value::as_u64) != Some(u64::from(SEED_FORMAT)) {
        return Ok(None);
    }
    let identity = |name: &str| -> anyhow::Result<Identity> {
        let hex = manifest
            .get(name)
            .and_then(Value::as_str)
            .with_context(|| format!("no {name} in {}", path.display()))?;
        Ok(Identity::parse(hex, None)?)
    };
    let patients = manifest
        .get("patient_keys")
        .and_then(Value::as_array)
        .context("no patient keys in the manifest")?
        .iter()
        .map(|v| {
            v.as_str()
                .and_then(|hex| PublicKey::from_hex(hex).ok())
                .context("a malformed patient key in the manifest")
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(Some(Practice {
        root: identity("root")?,
        doctor: identity("doctor")?,
        gateway: identity("gateway")?,
        patients,
    }))
}

fn dir_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter_map(|e| e.metadata().ok())
                .filter(std::fs::Metadata::is_file)
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

// ---------------------------------------------------------------------------------------------
// Single-core figures and the catch-up breakdown

/// Resident memory figures of this process from /proc, in MiB (`VmRSS:`, `VmHWM:`).
fn memory_mib(field: &str) -> anyhow::Result<f64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .with_context(|| format!("no {field} in /proc/self/status"))?;
    Ok(kib / 1024.0)
}

/// User and system CPU time of this process so far, in seconds (/proc/self/stat, USER_HZ 100).
fn cpu_seconds() -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat")?;
    // Fields after the command name (which is in parentheses and may hold spaces).
    let rest = stat.rsplit_once(") ").map(|(_, r)| r).unwrap_or_default();
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line, 12 and 13 after the name.
    let ticks = |i: usize| -> anyhow::Result<f64> {
        Ok(fields
            .get(i)
            .context("short /proc/self/stat")?
            .parse::<f64>()?)
    };
    Ok((ticks(11)? + ticks(12)?) / 100.0)
}

/// `MemAvailable` from /proc/meminfo, in GiB.
fn available_memory_gib() -> Option<f64> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
    let kib: f64 = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemAvailable:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib / f64::from(1u32 << 20))
}

/// Start the peak-RSS mark afresh (Linux: `5` in `clear_refs`), so seeding does not count.
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

struct Speeds {
    decrypts_per_sec: f64,
    derive_us: f64,
    verifies_per_sec: f64,
    round_trips_per_sec: f64,
    event_bytes: usize,
}

/// One clinical event to time signature checks on: the first patient's, from the relay.
async fn sample_event(practice: &Practice, relay_url: &str) -> anyhow::Result<Event> {
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
fn single_core_speeds(record_bytes: usize, event: &Event) -> anyhow::Result<Speeds> {
    let secret = SecretKey::generate();
    let public = Keys::generate().public_key();
    let key = crypto::conversation_key(&secret, &public)?;
    let plaintext: Vec<u8> = (0..record_bytes.max(1))
        .map(|i| b'a' + (i % 26) as u8)
        .collect();
    let payload = crypto::encrypt_with_conversation_key(&key, &plaintext)?;
    let decrypts_per_sec = rate(|| {
        crypto::decrypt_with_conversation_key(&key, &payload).map(|p| {
            std::hint::black_box(p);
        })
    })?;
    let derive_per_sec = rate(|| {
        crypto::conversation_key(&secret, &public).map(|k| {
            std::hint::black_box(k);
        })
    })?;
    let verifies_per_sec = rate(|| event.verify().map_err(|e| anyhow::anyhow!("{e}")))?;
    // What net.rs does to every fetched event to cross from nostr-sdk's nostr 0.44 to 0.45.
    let json = event.as_json();
    let round_trips_per_sec = rate(|| {
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

/// Operations per second of `op` on this thread, over about a second.
fn rate<E: Into<anyhow::Error>>(mut op: impl FnMut() -> Result<(), E>) -> anyhow::Result<f64> {
    for _ in 0..100 {
        op().map_err(Into::into)?;
    }
    let started = Instant::now();
    let mut done = 0u64;
    loop {
        for _ in 0..100 {
            op().map_err(Into::into)?;
        }
        done += 100;
        let elapsed = started.elapsed().as_secs_f64();
        if elapsed >= 1.0 {
            return Ok(done as f64 / elapsed);
        }
    }
}

/// The catch-up's steps, timed apart on a sample of patients (one task, as the follower runs).
struct Breakdown {
    patients: usize,
    events: usize,
    fetch: f64,
    verify_again: f64,
    open: f64,
    index: f64,
}

impl Breakdown {
    fn report(&self, out: &mut impl Write) -> anyhow::Result<()> {
        let per = |s: f64| 1e6 * s / self.events as f64;
        writeln!(
            out,
            "catch-up steps, timed apart ({} patients, {} events, the calls sync.rs makes, one task): \
             fetch_all {:.2} s ({:.1} us/event: relay query, WebSocket, nostr-sdk parse+verify, JSON to nostr 0.45, verify again); \
             PracticeView::open {:.2} s ({:.1} us/event: parse+verify a third time, decrypt, FHIR parse+validate; of which the signature check alone {:.1} us); \
             PatientIndex::build {:.2} s ({:.1} us/event: fold, to JSON, rewrite)",
            self.patients,
            self.events,
            self.fetch,
            per(self.fetch),
            self.open,
            per(self.open),
            per(self.verify_again),
            self.index,
            per(self.index)
        )?;
        Ok(())
    }
}

fn clinical_filter() -> Filter {
    Filter::new().kinds(ClinicalKind::ALL.iter().map(|k| Kind::Custom(k.as_u16())))
}

async fn breakdown(
    practice: &Practice,
    relay_url: &str,
    sample: usize,
) -> anyhow::Result<Breakdown> {
    let gateway = &practice.gateway;
    let patients: Vec<PublicKey> = practice.patients.iter().take(sample).copied().collect();
    let client = RelayClient::connect(relay_url, gateway, Duration::from_secs(60)).await?;
    let organisation = client
        .fetch(vec![
            Filter::new().kind(Kind::Custom(kinds::ROSTER)),
            Filter::new()
                .kind(Kind::Custom(kinds::CHART_KEY_WRAP))
                .pubkeys(patients.iter().copied()),
        ])
        .await;
    let started = Instant::now();
    let events = client
        .fetch_all(clinical_filter().pubkeys(patients.iter().copied()), PAGE)
        .await;
    let fetch = started.elapsed().as_secs_f64();
    client.disconnect().await;
    let (organisation, events) = (organisation?, events?);
    let view = PracticeView::load(&practice.root.public_key(), organisation.iter(), gateway);

    let started = Instant::now();
    for event in &events {
        event.verify()?;
    }
    let verify_again = started.elapsed().as_secs_f64();

    let started = Instant::now();
    let opened = view.open(events.iter(), None);
    let open = started.elapsed().as_secs_f64();
    ensure!(
        opened.refused.is_empty() && opened.records.len() == events.len(),
        "the gateway's view refused {} of {} events",
        opened.refused.len(),
        events.len()
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
        events: events.len(),
        fetch,
        verify_again,
        open,
        index,
    })
}

// ---------------------------------------------------------------------------------------------
// Warm serving

/// Latencies in ms and the mean answer size.
#[derive(Clone, Copy)]
struct Latency {
    p50: f64,
    p99: f64,
    bytes: f64,
}

impl Latency {
    fn of(mut times: Vec<f64>, bytes: usize) -> Self {
        times.sort_by(f64::total_cmp);
        let pick = |q: f64| {
            times
                .get(((times.len() as f64 - 1.0) * q).round() as usize)
                .copied()
                .unwrap_or(f64::NAN)
        };
        Self {
            p50: pick(0.50),
            p99: pick(0.99),
            bytes: bytes as f64 / times.len().max(1) as f64,
        }
    }
}

struct Concurrent {
    clients: usize,
    per_sec: f64,
    latency: Latency,
}

struct Serving {
    everything_page: Latency,
    everything_all: Latency,
    search: Latency,
    concurrent: Vec<Concurrent>,
    scan: Latency,
}

/// One GET: the time to the whole body, and its size. Anything but 200 is an error.
async fn timed_get(http: &reqwest::Client, url: &str, token: &str) -> anyhow::Result<(f64, usize)> {
    let started = Instant::now();
    let response = http.get(url).bearer_auth(token).send().await?;
    let status = response.status();
    let body = response.bytes().await?;
    let ms = started.elapsed().as_secs_f64() * 1e3;
    if !status.is_success() {
        bail!(
            "GET {url}: {status}: {}",
            String::from_utf8_lossy(body.get(..body.len().min(300)).unwrap_or_default())
        );
    }
    Ok((ms, body.len()))
}

async fn get_json(http: &reqwest::Client, url: &str, token: &str) -> anyhow::Result<Value> {
    let response = http.get(url).bearer_auth(token).send().await?;
    let status = response.status();
    let body: Value = response.json().await?;
    ensure!(status.is_success(), "GET {url}: {status}: {body}");
    Ok(body)
}

/// Time `count` requests, one at a time, to the URLs `url` makes for random patients.
async fn sequential(
    http: &reqwest::Client,
    token: &str,
    ids: &[String],
    count: usize,
    seed: u64,
    url: impl Fn(&str) -> String,
) -> anyhow::Result<Latency> {
    let mut rng = Rng::new(seed);
    let mut times = Vec::with_capacity(count);
    let mut bytes = 0;
    for _ in 0..count {
        let id = rng.pick(ids).context("no patients")?;
        let (ms, size) = timed_get(http, &url(id), token).await?;
        times.push(ms);
        bytes += size;
    }
    Ok(Latency::of(times, bytes))
}

async fn serve_figures(
    cli: &Cli,
    practice: &Practice,
    base: &str,
    token: &str,
) -> anyhow::Result<Serving> {
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .build()?;
    let ids: Vec<String> = practice.patients.iter().map(served::patient_id).collect();
    let first = ids.first().context("no patients")?;
    let per_patient = cli.events_per_patient;

    // Sanity: every patient is served and a chart is whole (the Consent stays inside).
    let count = get_json(&http, &format!("{base}/Patient?_summary=count"), token).await?;
    ensure!(
        count.get("total").and_then(Value::as_u64) == Some(cli.patients as u64),
        "Patient?_summary=count answered {count}"
    );
    let everything = get_json(
        &http,
        &format!("{base}/Patient/{first}/$everything?_count={per_patient}"),
        token,
    )
    .await?;
    let entries = everything
        .get("entry")
        .and_then(Value::as_array)
        .map_or(0, Vec::len);
    ensure!(
        entries == per_patient - 1
            && everything.get("total").and_then(Value::as_u64) == Some(per_patient as u64 - 1),
        "$everything returned {entries} entries, expected {}",
        per_patient - 1
    );

    // Warm up the connection pool and the allocator.
    let _ = sequential(&http, token, &ids, 50, 99, |id| {
        format!("{base}/Observation?patient={id}&_count=50")
    })
    .await?;

    let everything_page = sequential(&http, token, &ids, cli.requests, 1, |id| {
        format!("{base}/Patient/{id}/$everything")
    })
    .await?;
    let everything_all = sequential(&http, token, &ids, cli.requests, 2, |id| {
        format!("{base}/Patient/{id}/$everything?_count={per_patient}")
    })
    .await?;
    let search = sequential(&http, token, &ids, cli.requests, 3, |id| {
        format!("{base}/Observation?patient={id}&_count=50")
    })
    .await?;

    let mut concurrent = Vec::new();
    let ids = Arc::new(ids);
    for clients in [1usize, 4, 16] {
        let per_client = (cli.requests / clients).max(1);
        let started = Instant::now();
        let tasks: Vec<_> = (0..clients)
            .map(|c| {
                let http = http.clone();
                let token = token.to_owned();
                let ids = Arc::clone(&ids);
                let base = base.to_owned();
                tokio::spawn(async move {
                    let mut rng = Rng::new(1000 + c as u64);
                    let mut times = Vec::with_capacity(per_client);
                    for _ in 0..per_client {
                        let id = rng.pick(&ids).context("no patients")?;
                        let url = format!("{base}/Observation?patient={id}&_count=50");
                        times.push(timed_get(&http, &url, &token).await?.0);
                    }
                    anyhow::Ok(times)
                })
            })
            .collect();
        let mut times = Vec::new();
        for task in tasks {
            times.extend(task.await??);
        }
        let elapsed = started.elapsed().as_secs_f64();
        concurrent.push(Concurrent {
            clients,
            per_sec: times.len() as f64 / elapsed,
            latency: Latency::of(times, 0),
        });
    }

    let mut times = Vec::new();
    let mut bytes = 0;
    for _ in 0..cli.scan_requests.max(1) {
        let (ms, size) = timed_get(
            &http,
            &format!("{base}/Observation?code=8867-4&_count=50"),
            token,
        )
        .await?;
        times.push(ms);
        bytes += size;
    }
    let scan = Latency::of(times, bytes);

    Ok(Serving {
        everything_page,
        everything_all,
        search,
        concurrent,
        scan,
    })
}

struct Timed {
    count: usize,
    latency: Latency,
}

/// What each request costs the gateway's database, without HTTP: the API-key lookup, and the
/// AuditEvent insert (an access is never answered unlogged).
async fn database_figures(
    store: &ehr_fhir_gateway::store::Store,
    token: &str,
    count: usize,
) -> anyhow::Result<(Timed, Timed, Timed)> {
    let mut checks = Vec::with_capacity(count);
    for _ in 0..count {
        let now = i64::try_from(Timestamp::now().as_secs())?;
        let started = Instant::now();
        let client = store.check_api_key(token, now).await?;
        checks.push(started.elapsed().as_secs_f64() * 1e3);
        ensure!(client.is_some(), "the bench's API key was refused");
    }
    let event = json!({"resourceType": "AuditEvent", "outcome": "0", "note": "gateway-bench"});
    let mut audits = Vec::with_capacity(count);
    for _ in 0..count {
        let now = i64::try_from(Timestamp::now().as_secs())?;
        let started = Instant::now();
        store
            .record_access(
                &ehr_fhir_gateway::store::audit::Access {
                    recorded_at: now,
                    client_id: CLIENT_ID,
                    patient_id: Some("gateway-bench"),
                    outcome: "0",
                    audit_event: &event,
                },
                &[],
            )
            .await?;
        audits.push(started.elapsed().as_secs_f64() * 1e3);
    }
    // The same from 16 tasks at once, as 16 concurrent requests would.
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let store = store.clone();
            let event = event.clone();
            let each = count.div_ceil(16);
            tokio::spawn(async move {
                let mut times = Vec::with_capacity(each);
                for _ in 0..each {
                    let now = i64::try_from(Timestamp::now().as_secs())?;
                    let started = Instant::now();
                    store
                        .record_access(
                            &ehr_fhir_gateway::store::audit::Access {
                                recorded_at: now,
                                client_id: CLIENT_ID,
                                patient_id: Some("gateway-bench"),
                                outcome: "0",
                                audit_event: &event,
                            },
                            &[],
                        )
                        .await?;
                    times.push(started.elapsed().as_secs_f64() * 1e3);
                }
                anyhow::Ok(times)
            })
        })
        .collect();
    let mut concurrent = Vec::new();
    for task in tasks {
        concurrent.extend(task.await??);
    }
    Ok((
        Timed {
            count,
            latency: Latency::of(checks, 0),
        },
        Timed {
            count,
            latency: Latency::of(audits, 0),
        },
        Timed {
            count: concurrent.len(),
            latency: Latency::of(concurrent, 0),
        },
    ))
}

// ---------------------------------------------------------------------------------------------
// Connect-per-request

async fn direct_figures(
    cli: &Cli,
    practice: &Practice,
    relay_url: &str,
    base: &str,
) -> anyhow::Result<Latency> {
    let mut rng = Rng::new(4);
    // One untimed run, which also checks the answer against the chart size.
    let first = practice.patients.first().context("no patients")?;
    let (_, entries) = direct_everything(practice, relay_url, first, base).await?;
    ensure!(
        entries == cli.events_per_patient - 1,
        "connect-per-request built {entries} entries, expected {}",
        cli.events_per_patient - 1
    );
    let mut times = Vec::new();
    let mut bytes = 0;
    for _ in 0..cli.direct_requests.max(1) {
        let patient = rng.pick(&practice.patients).context("no patients")?;
        let started = Instant::now();
        let (body, _) = direct_everything(practice, relay_url, patient, base).await?;
        times.push(started.elapsed().as_secs_f64() * 1e3);
        bytes += body.len();
    }
    Ok(Latency::of(times, bytes))
}

/// `$everything` as the reference answers it: a new authenticated WebSocket, one REQ for the
/// rosters, the patient's wraps and chart, the chart key unwrapped, every event verified and
/// decrypted, the chart folded and served as the gateway would, the connection closed.
/// Returns the Bundle as sent, and its number of entries.
async fn direct_everything(
    practice: &Practice,
    relay_url: &str,
    patient: &PublicKey,
    base: &str,
) -> anyhow::Result<(String, usize)> {
    let gateway = &practice.gateway;
    let client = RelayClient::connect(relay_url, gateway, Duration::from_secs(60)).await?;
    let fetched = client
        .fetch(vec![
            Filter::new().kind(Kind::Custom(kinds::ROSTER)),
            Filter::new()
                .kind(Kind::Custom(kinds::CHART_KEY_WRAP))
                .pubkey(*patient),
            clinical_filter().pubkey(*patient).limit(PAGE),
        ])
        .await;
    client.disconnect().await;
    let events = fetched?;
    let view = PracticeView::load(&practice.root.public_key(), events.iter(), gateway);
    let opened = view.open(events.iter(), Some(patient));
    let index = PatientIndex::build(patient, &opened.records);
    let newest = view.newest_version(patient);
    let held = view.latest_chart_key(patient).map(ChartKey::version);
    ensure!(
        held.is_some() && held == newest && index.sharing.allows(CLIENT_ID),
        "connect-per-request: the patient is not served"
    );
    // The Patient first, then the rest newest first, as routes.rs answers.
    let everything: Vec<&Arc<ServedResource>> = index
        .resources
        .iter()
        .filter(|r| r.resource_type == f::ResourceType::Patient)
        .chain(
            index
                .resources
                .iter()
                .filter(|r| r.resource_type != f::ResourceType::Patient),
        )
        .collect();
    let entries: Vec<Value> = everything
        .iter()
        .map(|r| {
            json!({
                "fullUrl": format!("{base}/{}/{}", r.resource_type.as_str(), r.id),
                "resource": r.json,
                "search": {"mode": "match"},
            })
        })
        .collect();
    let count = entries.len();
    let bundle = json!({
        "resourceType": "Bundle",
        "type": "searchset",
        "total": count,
        "link": [{"relation": "self", "url": format!("{base}/Patient/{}/$everything", index.id)}],
        "entry": entries,
    });
    Ok((bundle.to_string(), count))
}
