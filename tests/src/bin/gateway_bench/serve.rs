//! Warm serving over HTTP keep-alive, and what each request costs the gateway's database.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, bail, ensure};
use ehr_fhir_gateway::served;
use ehr_fhir_gateway::store::Store;
use ehr_fhir_gateway::store::audit::Access;
use ehr_tests::bench::{Percentiles, Rng};
use nostr::prelude::Timestamp;
use serde_json::{Value, json};

use crate::{CLIENT_ID, Cli, Practice};

/// Timed answers: latencies in ms, and the mean answer size in bytes.
pub struct Answers {
    pub latency: Percentiles,
    pub mean_bytes: f64,
}

impl Answers {
    pub fn of(times: Vec<f64>, total_bytes: usize) -> Self {
        let mean_bytes = total_bytes as f64 / times.len().max(1) as f64;
        Self {
            latency: Percentiles::of(times),
            mean_bytes,
        }
    }
}

/// Searches from several clients at once.
pub struct Concurrent {
    pub clients: usize,
    pub per_sec: f64,
    pub latency: Percentiles,
}

pub struct Serving {
    pub everything_page: Answers,
    pub everything_all: Answers,
    pub search: Answers,
    pub concurrent: Vec<Concurrent>,
    pub scan: Percentiles,
}

/// One GET: the time to the whole body in ms, and its size. Anything but 200 is an error.
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
) -> anyhow::Result<Answers> {
    let mut rng = Rng::new(seed);
    let mut times = Vec::with_capacity(count);
    let mut bytes = 0;
    for _ in 0..count {
        let id = rng.pick(ids).context("no patients")?;
        let (ms, size) = timed_get(http, &url(id), token).await?;
        times.push(ms);
        bytes += size;
    }
    Ok(Answers::of(times, bytes))
}

/// `clients` tasks each searching `per_client` random patients' Observations; returns every
/// latency and the seconds the whole round took.
async fn round(
    http: &reqwest::Client,
    token: &str,
    ids: &Arc<Vec<String>>,
    base: &str,
    clients: usize,
    per_client: usize,
) -> anyhow::Result<(Vec<f64>, f64)> {
    let started = Instant::now();
    let tasks: Vec<_> = (0..clients)
        .map(|c| {
            let (http, ids) = (http.clone(), Arc::clone(ids));
            let (token, base) = (token.to_owned(), base.to_owned());
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
    Ok((times, started.elapsed().as_secs_f64()))
}

pub async fn serve_figures(
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
    let url = format!("{base}/Patient/{first}/$everything?_count={per_patient}");
    let everything = get_json(&http, &url, token).await?;
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
    let search = |id: &str| format!("{base}/Observation?patient={id}&_count=50");
    sequential(&http, token, &ids, 50, 99, search).await?;

    let everything_page = sequential(&http, token, &ids, cli.requests, 1, |id| {
        format!("{base}/Patient/{id}/$everything")
    })
    .await?;
    let everything_all = sequential(&http, token, &ids, cli.requests, 2, |id| {
        format!("{base}/Patient/{id}/$everything?_count={per_patient}")
    })
    .await?;
    let search = sequential(&http, token, &ids, cli.requests, 3, search).await?;

    let mut concurrent = Vec::new();
    let ids = Arc::new(ids);
    for clients in [1usize, 4, 16] {
        let per_client = (cli.requests / clients).max(1);
        // Untimed first, so that opening this level's new connections stays out of its p99.
        round(&http, token, &ids, base, clients, per_client.min(20)).await?;
        let (times, seconds) = round(&http, token, &ids, base, clients, per_client).await?;
        concurrent.push(Concurrent {
            clients,
            per_sec: times.len() as f64 / seconds,
            latency: Percentiles::of(times),
        });
    }

    let mut times = Vec::new();
    let url = format!("{base}/Observation?code=8867-4&_count=50");
    for _ in 0..cli.scan_requests.max(1) {
        times.push(timed_get(&http, &url, token).await?.0);
    }

    Ok(Serving {
        everything_page,
        everything_all,
        search,
        concurrent,
        scan: Percentiles::of(times),
    })
}

/// What each request costs the gateway's database, without HTTP, in ms.
pub struct Database {
    /// The API-key lookup.
    pub check_api_key: Percentiles,
    /// The access log's transaction (no sealed copy), one at a time.
    pub record_access: Percentiles,
    /// The same from 16 tasks at once, as 16 concurrent requests would.
    pub record_access_16: Percentiles,
}

/// Time `count` API-key checks and `count` access-log commits (an access is never answered
/// unlogged), one at a time and then from 16 tasks.
pub async fn database_figures(
    store: &Store,
    token: &str,
    count: usize,
) -> anyhow::Result<Database> {
    let mut checks = Vec::with_capacity(count);
    for _ in 0..count {
        let now = i64::try_from(Timestamp::now().as_secs())?;
        let started = Instant::now();
        let client = store.check_api_key(token, now).await?;
        checks.push(started.elapsed().as_secs_f64() * 1e3);
        ensure!(client.is_some(), "the bench's API key was refused");
    }
    let record_access = record_accesses(store.clone(), count).await?;
    let tasks: Vec<_> = (0..16)
        .map(|_| tokio::spawn(record_accesses(store.clone(), count.div_ceil(16))))
        .collect();
    let mut concurrent = Vec::new();
    for task in tasks {
        concurrent.extend(task.await??);
    }
    Ok(Database {
        check_api_key: Percentiles::of(checks),
        record_access: Percentiles::of(record_access),
        record_access_16: Percentiles::of(concurrent),
    })
}

/// Log `count` accesses to one patient, each timed in ms.
async fn record_accesses(store: Store, count: usize) -> anyhow::Result<Vec<f64>> {
    let event = json!({"resourceType": "AuditEvent", "outcome": "0", "note": "gateway-bench"});
    let patients = BTreeSet::from(["gateway-bench".to_owned()]);
    let mut times = Vec::with_capacity(count);
    for _ in 0..count {
        let access = Access {
            recorded_at: i64::try_from(Timestamp::now().as_secs())?,
            client_id: CLIENT_ID,
            patients: &patients,
            outcome: "0",
            purpose: None,
            audit_event: &event,
        };
        let started = Instant::now();
        store.record_access(&access, &[]).await?;
        times.push(started.elapsed().as_secs_f64() * 1e3);
    }
    Ok(times)
}
