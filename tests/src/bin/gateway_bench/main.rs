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

mod cache;
mod cold;
mod direct;
mod report;
mod seed;
mod serve;
mod synthetic;

use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, ensure};
use clap::Parser;
use ehr_client::keys::Identity;
use ehr_client::kinds::ClinicalKind;
use ehr_fhir_gateway::Gateway;
use ehr_tests::bench;
use nostr::prelude::{Filter, Kind, PublicKey, Timestamp};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

/// Every allocation of the process, counted: what the gateway keeps after its catch-up is
/// the heap that remains allocated (the relay's SQLite allocates outside Rust's allocator).
#[global_allocator]
static GLOBAL: &StatsAlloc<std::alloc::System> = &INSTRUMENTED_SYSTEM;

/// The relay's default `max_limit`, and the page the gateway asks for.
const PAGE: usize = 5000;
/// The facility the API key is issued to (the consents name `*`).
const CLIENT_ID: &str = "bench-hospital";
/// What the gateway held per clinical event after catch-up in this bench's runs (2 KB records).
const GATEWAY_KIB_PER_EVENT: f64 = 12.0;

/// The FHIR gateway against a relay seeded with consented charts (issue 6). The defaults, 2,000
/// patients x 100 events, need about 2.5 GiB of memory; the full size, 2,000 x 1,000
/// (`--events-per-patient 1000`), needs about 23 GiB.
#[derive(Parser)]
#[command(name = "gateway-bench")]
struct Cli {
    /// Consenting patients.
    #[arg(long, default_value_t = 2000)]
    patients: usize,
    /// Clinical events per patient (Patient and Consent included). The full size is
    /// 1,000 (2,000 x 1,000 events), which needs about 23 GiB of memory (~12 KiB per event held,
    /// the relay in this process included).
    #[arg(long, default_value_t = 100)]
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
    /// Where the relay database goes (about 8 KiB per event with 2 KB records: ~1.6 GB at the
    /// default size, ~16 GB at the full size). Given, the seeded database is kept there,
    /// keyed by the parameters, and reused by the next run; without it, a temporary directory
    /// is used and removed.
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Run even if the gateway's memory (measured at ~12 KiB per event held) will not fit in
    /// this machine's available memory.
    #[arg(long)]
    ignore_memory_check: bool,
}

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
        cli.events_per_patient + 4 < PAGE,
        "--events-per-patient must stay below {} (the connect-per-request mode reads a chart in one REQ)",
        PAGE - 4
    );
    ensure!(cli.requests >= 16, "--requests must be at least 16");
    let events = (cli.patients * cli.events_per_patient) as f64;
    let needed_gib = events * GATEWAY_KIB_PER_EVENT * (cli.record_bytes as f64 / 2000.0).max(0.5)
        / f64::from(1u32 << 20);
    if let Some(available_gib) = bench::meminfo_mib("MemAvailable").map(|mib| mib / 1024.0)
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

fn clinical_filter() -> Filter {
    Filter::new().kinds(ClinicalKind::ALL.iter().map(|k| Kind::Custom(k.as_u16())))
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    let cores = cores();
    let work = cache::Work::new(&cli)?;
    writeln!(
        out,
        "gateway-bench: {} patients x {} events = {} clinical events, records ~{} B of FHIR JSON; {cores} cores; data in {}",
        cli.patients,
        cli.events_per_patient,
        cli.patients * cli.events_per_patient,
        cli.record_bytes,
        work.dir.display()
    )?;
    out.flush()?;

    // A complete cached database, or a new one (its first chart held back for the relay's
    // admission, and the manifest saved only once that chart is in too).
    let (practice, held_back) = match work.load()? {
        Some(practice) => {
            writeln!(
                out,
                "seeding: skipped, reusing the database seeded earlier with these parameters ({})",
                work.relay_db.display()
            )?;
            (practice, None)
        }
        None => {
            work.remove_relay_db();
            let started = Instant::now();
            let seeded = seed::seed(&cli, &work.relay_db).await?;
            let seconds = started.elapsed().as_secs_f64();
            writeln!(
                out,
                "seeding: {} events generated on {} threads and stored through the relay's write path in {seconds:.1} s ({:.0} events/s); the first patient's {} held back for the admission check",
                seeded.stored,
                cli.threads.unwrap_or(cores),
                seeded.stored as f64 / seconds,
                seeded.held_back.len()
            )?;
            (seeded.practice, Some(seeded.held_back))
        }
    };
    out.flush()?;

    // The relay, in this process.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let relay_url = format!("ws://{}", listener.local_addr()?);
    let mut relay_config = ehr_relay::RelayConfig::new(
        practice.root.public_key(),
        format!("sqlite://{}", work.relay_db.display()),
    );
    relay_config.limits.messages_per_minute = 10_000_000;
    let (stop_relay, relay_stopped) = tokio::sync::oneshot::channel::<()>();
    let relay_task = tokio::spawn(ehr_relay::serve(listener, relay_config, async move {
        let _ = relay_stopped.await;
    }));

    let result = async {
        if let Some(held_back) = held_back {
            seed::admit(&practice, &relay_url, &held_back).await?;
            writeln!(
                out,
                "admission check: the first patient's {} events published over WebSocket as the doctor, all accepted",
                held_back.len()
            )?;
            if work.is_kept() {
                work.save(&cli, &practice)?;
                writeln!(
                    out,
                    "the seeded database is kept for the next run with the same parameters"
                )?;
            }
        }
        writeln!(
            out,
            "relay database: {:.2} GiB",
            work.relay_db_bytes() as f64 / f64::from(1u32 << 30)
        )?;
        out.flush()?;
        measure(&mut out, &cli, &work, &practice, &relay_url, cores).await
    }
    .await;
    let _ = stop_relay.send(());
    relay_task.await??;
    drop(work);
    result
}

/// Everything after the relay is up and holds every chart.
async fn measure(
    out: &mut impl Write,
    cli: &Cli,
    work: &cache::Work,
    practice: &Practice,
    relay_url: &str,
    cores: usize,
) -> anyhow::Result<()> {
    let clinical_total = cli.patients * cli.events_per_patient;

    // Cold start.
    work.remove_gateway_db();
    let mut config = ehr_fhir_gateway::Config::new(
        practice.root.public_key(),
        relay_url.to_owned(),
        practice.gateway.clone(),
        format!("sqlite://{}", work.gateway_db().display()),
    );
    // One page holds a whole chart, so `$everything` can answer everything at once.
    config.max_count = config.max_count.max(cli.events_per_patient + 10);
    let max_count = config.max_count;
    let peak_reset = bench::reset_peak_rss();
    let rss_before = bench::status_mib("self", "VmRSS")?;
    let cpu_before = bench::cpu_seconds()?;
    let heap = Region::new(GLOBAL);
    let started = Instant::now();
    let gateway = Gateway::start(config).await?;
    let catch_up = started.elapsed().as_secs_f64();
    let kept = heap.change();
    // A reallocation counts its growth as allocated and its shrinking as freed.
    let kept_bytes = kept.bytes_allocated as f64 - kept.bytes_deallocated as f64;
    let cold = cold::ColdStart {
        seconds: catch_up,
        cpu_seconds: bench::cpu_seconds()? - cpu_before,
        rss_before,
        rss_after: bench::status_mib("self", "VmRSS")?,
        peak_rss: bench::status_mib("self", "VmHWM")?,
        peak_reset,
        served: gateway.snapshots().borrow().patients.len(),
        events_per_sec: clinical_total as f64 / catch_up,
    };
    writeln!(
        out,
        "memory after catch-up: RssAnon {:.0} MiB, RssFile {:.0} MiB (the relay's SQLite maps its database)",
        bench::status_mib("self", "RssAnon")?,
        bench::status_mib("self", "RssFile")?
    )?;
    writeln!(
        out,
        "heap the gateway keeps after catch-up: {:.0} MiB = {:.2} KiB per clinical event held (Rust allocations still live; the relay's SQLite cache is not among them)",
        kept_bytes / 1_048_576.0,
        kept_bytes / 1024.0 / clinical_total as f64
    )?;
    ensure!(
        cold.served == cli.patients,
        "the gateway serves {} patients, expected {}",
        cold.served,
        cli.patients
    );

    // This machine's NIP-44 and signature speeds, one core.
    let sample = cold::sample_event(practice, relay_url).await?;
    let speeds = cold::single_core_speeds(cli.record_bytes, &sample)?;

    // Where catch-up time goes: the calls sync.rs makes, on a sample, one task.
    let sample = (50_000 / cli.events_per_patient).clamp(1, cli.patients);
    let breakdown = cold::breakdown(practice, relay_url, sample).await?;

    // Warm serving.
    let store = gateway.store().clone();
    let now = i64::try_from(Timestamp::now().as_secs())?;
    // API keys are issued to registered clients only (this one uses no token endpoint).
    store
        .register_client(
            CLIENT_ID,
            &ehr_fhir_gateway::smart::no_keys(),
            &["system/*.read".to_owned()],
            "gateway-bench",
            now,
        )
        .await?;
    let token = store
        .add_api_key(CLIENT_ID, &["system/*.read".to_owned()], now, now + 86_400)
        .await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}/fhir", listener.local_addr()?);
    let (stop_gateway, gateway_stopped) = tokio::sync::oneshot::channel::<()>();
    let gateway_task = tokio::spawn(gateway.serve(listener, async move {
        let _ = gateway_stopped.await;
    }));
    let figures = async {
        let serving = serve::serve_figures(cli, practice, &base, &token).await?;
        let database = serve::database_figures(&store, &token, cli.requests.min(300)).await?;
        let direct = direct::direct_figures(cli, practice, relay_url, &base).await?;
        anyhow::Ok((serving, database, direct))
    }
    .await;
    let _ = stop_gateway.send(());
    gateway_task.await??;
    let (serving, database, direct) = figures?;

    report::Report {
        cli,
        cores,
        max_count,
        speeds,
        cold,
        breakdown,
        serving,
        database,
        direct,
    }
    .write(out)
}
