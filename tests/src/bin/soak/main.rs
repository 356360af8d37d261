//! `soak`: many authenticated connections on the relay for a long while (issue 18 §6).
//!
//! It starts the relay in this process on 127.0.0.1 (or uses `--url`, loopback only), opens N
//! NIP-42-authenticated connections, each with a live subscription, publishing an event every
//! `--publish-every-ms` and running a small REQ every `--req-every-ms`; beside them a slow reader
//! that never reads and a client sending oversized messages. Every 30 s it prints throughput,
//! publish-to-OK p99 and RSS; at the end, how many events answered `OK true` the relay does
//! not return when asked for them by id (must be 0; the exit status says so).
//!
//! `scripts/soak` builds it in release mode, raises the open-file limit and runs it. Every
//! loop ends by itself: clients stop sending at the deadline and wait at most 30 s more.

mod client;
mod stats;

use std::io::Write;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use clap::Parser;
use ehr_tests::bench::{Percentiles, status_mib};
use ehr_tests::practice::TestPractice;
use futures_util::StreamExt;
use nostr::prelude::{Keys, PublicKey};
use tokio::task::JoinSet;
use tokio::time::Instant as Deadline;

use crate::client::{Plan, Ws};
use crate::stats::Stats;

#[derive(Parser, Debug)]
#[command(name = "soak")]
struct Cli {
    /// Steady connections.
    #[arg(long, default_value_t = 1000)]
    connections: usize,
    /// How long they publish and read, seconds.
    #[arg(long, default_value_t = 600)]
    seconds: u64,
    /// Each connection publishes one event this often (1,000 connections: 100 events/s).
    #[arg(long, default_value_t = 10_000)]
    publish_every_ms: u64,
    /// Each connection runs a REQ (limit 10) this often.
    #[arg(long, default_value_t = 30_000)]
    req_every_ms: u64,
    /// Approximate size of each event's JSON.
    #[arg(long, default_value_t = 512)]
    event_bytes: usize,
    /// Seconds between progress lines.
    #[arg(long, default_value_t = 30)]
    report_every: u64,
    /// A running relay (ws://127.0.0.1:port or ws://localhost:port) instead of one in-process.
    #[arg(long, requires = "secret")]
    url: Option<String>,
    /// With --url: the hex secret key of a member the relay admits.
    #[arg(long, env = "SOAK_SECRET")]
    secret: Option<String>,
    /// With --url: its `max_event_bytes`, for the oversized client.
    #[arg(long, default_value_t = 128 * 1024)]
    max_event_bytes: usize,
    /// With --url: the relay's pid, for its RSS.
    #[arg(long)]
    relay_pid: Option<u32>,
}

/// Where the relay is, and whose memory to watch.
struct Target {
    url: String,
    keys: Keys,
    /// `self` (relay and load generator in one process) or the relay's pid.
    rss_of: Option<String>,
    practice: Option<TestPractice>,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    ensure!(cli.connections > 0 && cli.seconds > 0, "nothing to do");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let missing = runtime.block_on(run(cli))?;
    if missing > 0 {
        bail!("{missing} events answered OK true are missing from the relay");
    }
    Ok(())
}

async fn run(cli: Cli) -> anyhow::Result<usize> {
    let mut out = std::io::stdout().lock();
    let target = target(&cli).await?;
    writeln!(
        out,
        "soak: {} connections for {} s on {}, an event every {} ms and a REQ every {} ms each, ~{} bytes per event; a slow reader and an oversized sender beside them",
        cli.connections,
        cli.seconds,
        target.url,
        cli.publish_every_ms,
        cli.req_every_ms,
        cli.event_bytes
    )?;
    let stats = Arc::new(Stats::default());
    let opened = Instant::now();
    let sockets = open(&target, cli.connections, &stats).await;
    writeln!(
        out,
        "soak: {} connections authenticated in {:.1} s ({} failed)",
        sockets.len(),
        opened.elapsed().as_secs_f64(),
        cli.connections - sockets.len()
    )?;
    let deadline = Deadline::now() + Duration::from_secs(cli.seconds);
    let slow = tokio::spawn({
        let (url, keys) = (target.url.clone(), target.keys.clone());
        async move { client::slow_reader(&url, &keys, deadline).await }
    });
    let oversized = tokio::spawn({
        let (url, keys, max) = (target.url.clone(), target.keys.clone(), cli.max_event_bytes);
        async move { client::oversized(&url, &keys, max, deadline).await }
    });
    let clients = start_clients(&cli, &target, sockets, deadline, &stats);
    watch(
        &mut out,
        clients,
        &stats,
        &target,
        cli.report_every,
        deadline,
    )
    .await?;
    // Clients send only before the deadline: rates are over that window.
    let elapsed = cli.seconds as f64;
    let slow = slow.await?.unwrap_or_else(|e| format!("failed: {e:#}"));
    let oversized = oversized.await?;
    let accepted = stats.accepted_ids();
    let missing = client::missing(&target.url, &target.keys, &accepted).await?;
    report(
        &mut out, &stats, elapsed, &target, &slow, &oversized, missing,
    )?;
    if let Some(practice) = target.practice {
        practice.stop().await?;
    }
    Ok(missing)
}

/// The in-process relay (its per-address connection limit raised for one client machine), or
/// the `--url` one if it is on this machine.
async fn target(cli: &Cli) -> anyhow::Result<Target> {
    if let Some(url) = &cli.url {
        ensure!(
            is_loopback(url),
            "--url must be a loopback address (127.0.0.0/8, ::1, localhost)"
        );
        let secret = cli
            .secret
            .as_deref()
            .context("--secret is required with --url")?;
        return Ok(Target {
            url: url.clone(),
            keys: Keys::parse(secret)?,
            rss_of: cli.relay_pid.map(|pid| pid.to_string()),
            practice: None,
        });
    }
    let room = cli.connections + 64;
    let practice = TestPractice::start_with(|config| {
        config.limits.connections_per_ip = room;
    })
    .await?;
    Ok(Target {
        url: practice.relay_url.clone(),
        keys: practice.root.keys().clone(),
        rss_of: Some("self".to_owned()),
        practice: Some(practice),
    })
}

fn is_loopback(url: &str) -> bool {
    let rest = url
        .strip_prefix("ws://")
        .or_else(|| url.strip_prefix("wss://"))
        .unwrap_or(url);
    let authority = rest.split('/').next().unwrap_or_default();
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => authority.split(':').next().unwrap_or_default(),
    };
    host == "localhost" || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Open and authenticate `n` connections, 32 at a time.
async fn open(target: &Target, n: usize, stats: &Stats) -> Vec<Ws> {
    let sockets: Vec<anyhow::Result<Ws>> = futures_util::stream::iter(0..n)
        .map(|_| client::connect(&target.url, &target.keys))
        .buffer_unordered(32)
        .collect()
        .await;
    let failed = sockets.iter().filter(|s| s.is_err()).count();
    stats
        .failed_clients
        .fetch_add(failed as u64, std::sync::atomic::Ordering::Relaxed);
    sockets.into_iter().flatten().collect()
}

/// One task per connection. Connection `i` writes for patient `i mod P` and follows patient
/// `i + 1 mod P`, with P half the connections: every event reaches two live subscriptions.
fn start_clients(
    cli: &Cli,
    target: &Target,
    sockets: Vec<Ws>,
    deadline: Deadline,
    stats: &Arc<Stats>,
) -> JoinSet<anyhow::Result<()>> {
    let patients: Vec<PublicKey> = (0..sockets.len().div_ceil(2).max(1))
        .map(|_| Keys::generate().public_key())
        .collect();
    let content = "a".repeat(cli.event_bytes.saturating_sub(300));
    let mut clients = JoinSet::new();
    for (i, ws) in sockets.into_iter().enumerate() {
        let pick = |k: usize| patients.get(k % patients.len()).copied();
        let (Some(writes_for), Some(follows)) = (pick(i), pick(i + 1)) else {
            continue;
        };
        let plan = Plan {
            keys: target.keys.clone(),
            writes_for,
            follows,
            publish_every: Duration::from_millis(cli.publish_every_ms.max(1)),
            req_every: Duration::from_millis(cli.req_every_ms.max(1)),
            content: content.clone(),
            deadline,
        };
        let seed = (i as u64).wrapping_mul(7919);
        clients.spawn(client::steady(ws, plan, stats.clone(), seed));
    }
    clients
}

/// Wait for the clients, printing progress every `every` seconds.
async fn watch(
    out: &mut impl Write,
    mut clients: JoinSet<anyhow::Result<()>>,
    stats: &Stats,
    target: &Target,
    every: u64,
    deadline: Deadline,
) -> anyhow::Result<()> {
    let every = Duration::from_secs(every.max(1));
    let mut tick = tokio::time::interval_at(Deadline::now() + every, every);
    let started = Instant::now();
    let mut accepted_before = 0;
    // Clients end by themselves 30 s after the deadline at most; this is a second guard.
    let give_up = deadline + Duration::from_secs(120);
    loop {
        tokio::select! {
            done = clients.join_next() => match done {
                None => return Ok(()),
                Some(Ok(Ok(()))) => {}
                Some(Ok(Err(error))) => {
                    stats.failed_clients.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    writeln!(out, "soak: a client failed: {error:#}")?;
                }
                Some(Err(error)) => bail!("a client task panicked: {error}"),
            },
            _ = tick.tick() => {
                let accepted = stats.accepted.load(std::sync::atomic::Ordering::Relaxed);
                let p = Percentiles::of(stats.take_interval());
                writeln!(
                    out,
                    "t={:>5.0}s  {:>7.1} events/s OK  publish-to-OK p50 {:>7.2} ms {} {:>7.2} ms  live {:>8}  RSS {}",
                    started.elapsed().as_secs_f64(),
                    (accepted - accepted_before) as f64 / every.as_secs_f64(),
                    p.p50,
                    p.tail_label(),
                    p.p99,
                    stats.live.load(std::sync::atomic::Ordering::Relaxed),
                    rss(target)
                )?;
                accepted_before = accepted;
            }
            _ = tokio::time::sleep_until(give_up) => {
                clients.abort_all();
                bail!("clients still running 120 s after the deadline");
            }
        }
    }
}

fn rss(target: &Target) -> String {
    match target.rss_of.as_deref().map(|pid| status_mib(pid, "VmRSS")) {
        Some(Ok(mib)) => format!("{mib:.0} MiB"),
        Some(Err(_)) | None => "n/a".to_owned(),
    }
}

fn report(
    out: &mut impl Write,
    stats: &Stats,
    elapsed: f64,
    target: &Target,
    slow: &str,
    oversized: &anyhow::Result<client::Oversized>,
    missing: usize,
) -> anyhow::Result<()> {
    use std::sync::atomic::Ordering::Relaxed;
    let ok = Percentiles::of(stats.all_latencies());
    let reads = Percentiles::of(stats.read_latencies());
    let accepted = stats.accepted.load(Relaxed);
    writeln!(
        out,
        "soak: {} sent, {accepted} OK true ({:.1}/s over {elapsed:.0} s), {} OK false, {} unanswered; publish-to-OK p50 {:.2} ms {} {:.2} ms",
        stats.sent.load(Relaxed),
        accepted as f64 / elapsed,
        stats.refused.load(Relaxed),
        stats.unanswered.load(Relaxed),
        ok.p50,
        ok.tail_label(),
        ok.p99
    )?;
    writeln!(
        out,
        "soak: {} live deliveries; {} REQs, REQ-to-EOSE p50 {:.2} ms {} {:.2} ms; {} CLOSED, {} NOTICE to steady clients; {} clients failed",
        stats.live.load(Relaxed),
        stats.reads.load(Relaxed),
        reads.p50,
        reads.tail_label(),
        reads.p99,
        stats.closed.load(Relaxed),
        stats.notices.load(Relaxed),
        stats.failed_clients.load(Relaxed)
    )?;
    let peak = match target.rss_of.as_deref().map(|pid| status_mib(pid, "VmHWM")) {
        Some(Ok(mib)) => format!("{mib:.0} MiB"),
        _ => "n/a".to_owned(),
    };
    writeln!(
        out,
        "soak: RSS now {}, peak {peak}{}",
        rss(target),
        match target.rss_of.as_deref() {
            Some("self") => " (relay and load generator in one process)",
            _ => "",
        }
    )?;
    writeln!(out, "soak: slow reader: {slow}")?;
    match oversized {
        Ok(o) => writeln!(
            out,
            "soak: oversized sender: {} events over the limit refused (OK false), {} over-size frames ended the connection, {} unexpected answers",
            o.refused, o.dropped, o.unexpected
        )?,
        Err(error) => writeln!(out, "soak: oversized sender failed: {error:#}")?,
    }
    writeln!(
        out,
        "soak: missing = {missing} of {} events answered OK true (queried by id afterwards)",
        stats.accepted_ids().len()
    )?;
    Ok(())
}
