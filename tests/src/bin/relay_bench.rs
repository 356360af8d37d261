//! `relay-bench`: load generator for the practice relay, and a side-by-side run against
//! nostr-rs-relay on the same machine (`scripts/bench-relay` installs it and calls `compare`).
//!
//! It authenticates as a whitelisted key, publishes N signed events (about `--event-bytes` of JSON
//! each) over C connections with a window of events in flight per connection, then times REQ by
//! `#p` for patients holding about 1,000 events each, and prints events/s, REQ p50/p99 and, for
//! a relay it started, the relay's CPU time per event served (`/proc/<pid>/stat`).

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream as StdTcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use ehr_tests::bench::Percentiles;
use futures_util::{SinkExt, StreamExt};
use nostr::prelude::*;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

#[derive(Parser)]
#[command(name = "relay-bench")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(clap::Args, Clone, Copy)]
struct Load {
    /// Events to publish.
    #[arg(long, default_value_t = 20_000)]
    events: usize,
    /// Connections publishing (and querying) at once.
    #[arg(long, default_value_t = 4)]
    connections: usize,
    /// Events per patient chart.
    #[arg(long, default_value_t = 1_000)]
    per_patient: usize,
    /// REQs to time.
    #[arg(long, default_value_t = 400)]
    reqs: usize,
    /// Events in flight per connection while publishing.
    #[arg(long, default_value_t = 64)]
    window: usize,
    /// Size of each event's JSON, roughly (the content is padded to it).
    #[arg(long, default_value_t = 1024)]
    event_bytes: usize,
}

#[derive(Subcommand)]
enum Cmd {
    /// Load one running relay.
    Run {
        /// ws:// URL.
        #[arg(long)]
        url: String,
        /// Secret key (hex) of a whitelisted key; the relay is expected to challenge (NIP-42).
        #[arg(long, env = "RELAY_BENCH_SECRET")]
        secret: String,
        #[command(flatten)]
        load: Load,
    },
    /// Start ehr-relay and nostr-rs-relay on fresh data, load both, print the ratio.
    Compare {
        /// The ehr-relay binary.
        #[arg(long)]
        ours: PathBuf,
        /// The nostr-rs-relay binary (without it, ehr-relay alone is measured).
        #[arg(long)]
        peer: Option<PathBuf>,
        #[command(flatten)]
        load: Load,
    },
}

/// What one run measured.
struct Figures {
    ingest_per_sec: f64,
    accepted: usize,
    /// REQs from one client, one at a time.
    alone: Latency,
    /// REQs from every connection at once.
    loaded: Latency,
}

/// REQ round trips: sent to EOSE.
struct Latency {
    p50_ms: f64,
    p99_ms: f64,
    events_per_req: usize,
    missing_eose: usize,
    /// The relay's CPU time (user + system, all threads) per event served, when its pid is known.
    cpu_us_per_event: Option<f64>,
}

/// What a batch of REQs returned.
struct Served {
    times: Vec<f64>,
    missing_eose: usize,
    events_per_req: usize,
    events: usize,
}

impl Latency {
    fn of(served: Served, cpu_seconds: Option<f64>) -> Self {
        let p = Percentiles::of(served.times);
        Self {
            p50_ms: p.p50,
            p99_ms: p.p99,
            events_per_req: served.events_per_req,
            missing_eose: served.missing_eose,
            cpu_us_per_event: cpu_seconds.map(|s| s * 1e6 / served.events.max(1) as f64),
        }
    }
}

/// CPU seconds process `pid` has used so far, when measuring one.
fn cpu_of(pid: Option<u32>) -> anyhow::Result<Option<f64>> {
    pid.map(|pid| ehr_tests::bench::process_cpu_seconds(&pid.to_string()))
        .transpose()
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let mut out = std::io::stdout().lock();
        match cli.command {
            Cmd::Run { url, secret, load } => {
                let keys = Keys::parse(&secret)?;
                let figures = run(&url, &keys, true, load, None).await?;
                report(&mut out, "relay", &figures)?;
            }
            Cmd::Compare { ours, peer, load } => {
                compare(&mut out, &ours, peer.as_deref(), load).await?
            }
        }
        anyhow::Ok(())
    })
}

fn report(out: &mut impl Write, name: &str, f: &Figures) -> anyhow::Result<()> {
    writeln!(
        out,
        "{name:<16} ingest {:>8.0} events/s ({} accepted)",
        f.ingest_per_sec, f.accepted
    )?;
    for (label, l) in [("1 client", &f.alone), ("all connections", &f.loaded)] {
        let cpu = l
            .cpu_us_per_event
            .map(|us| format!("  relay CPU {us:.1} µs/event"))
            .unwrap_or_default();
        writeln!(
            out,
            "{name:<16} REQ #p, {label:<15} ({} events): p50 {:>6.2} ms  p99 {:>6.2} ms  missing EOSE {}{cpu}",
            l.events_per_req, l.p50_ms, l.p99_ms, l.missing_eose
        )?;
    }
    Ok(())
}

async fn compare(
    out: &mut impl Write,
    ours: &Path,
    peer: Option<&Path>,
    load: Load,
) -> anyhow::Result<()> {
    let keys = Keys::generate();
    let dir = std::env::temp_dir().join(format!("relay-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    writeln!(
        out,
        "relay-bench: {} events of ~{} bytes over {} connections, {} per patient, {} REQs; signatures verified by the relays",
        load.events, load.event_bytes, load.connections, load.per_patient, load.reqs
    )?;

    let ours_dir = dir.join("ehr-relay");
    std::fs::create_dir_all(&ours_dir)?;
    let config = ours_dir.join("ehr-relay.toml");
    std::fs::write(
        &config,
        format!(
            "[relay]\nlisten = \"127.0.0.1:0\"\npractice = \"{}\"\n\n[database]\nurl = \"sqlite://{}\"\n\n[limits]\nmessages_per_minute = 10000000\nmax_limit = 5000\n",
            keys.public_key().to_hex(),
            ours_dir.join("relay.db").display()
        ),
    )?;
    let mut child = Command::new(ours)
        .args(["--config", &config.display().to_string(), "serve"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .context("cannot start ehr-relay")?;
    let mut line = String::new();
    BufReader::new(child.stdout.take().context("no stdout")?).read_line(&mut line)?;
    let url = line
        .trim()
        .strip_prefix("ehr-relay listening on ")
        .context("ehr-relay did not start")?
        .to_owned();
    let ours_figures = run(&url, &keys, true, load, Some(child.id())).await;
    stop(&mut child);
    let ours_figures = ours_figures?;
    report(out, "ehr-relay", &ours_figures)?;
    let Some(peer) = peer else {
        let _ = std::fs::remove_dir_all(&dir);
        return Ok(());
    };

    let peer_dir = dir.join("nostr-rs-relay");
    std::fs::create_dir_all(&peer_dir)?;
    let port = free_port()?;
    std::fs::write(
        peer_dir.join("config.toml"),
        format!(
            "[info]\nrelay_url = \"ws://127.0.0.1:{port}/\"\nname = \"bench\"\n\n[database]\ndata_directory = \"{}\"\n\n[network]\naddress = \"127.0.0.1\"\nport = {port}\n\n[limits]\nmax_event_bytes = 131072\n\n[authorization]\npubkey_whitelist = [\"{}\"]\n",
            peer_dir.display(),
            keys.public_key().to_hex()
        ),
    )?;
    let mut peer_child = Command::new(peer)
        .args([
            "--config",
            &peer_dir.join("config.toml").display().to_string(),
            "--db",
            &peer_dir.display().to_string(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("cannot start nostr-rs-relay")?;
    let ready = wait_for_port(port);
    let peer_figures = match ready {
        Ok(()) => run(&format!("ws://127.0.0.1:{port}/"), &keys, false, load, None).await,
        Err(e) => Err(e),
    };
    stop(&mut peer_child);
    let peer_figures = peer_figures?;
    report(out, "nostr-rs-relay", &peer_figures)?;
    writeln!(
        out,
        "ratio ehr-relay / nostr-rs-relay: ingest {:.1}x; REQ p99 {:.1}x lower alone, {:.1}x lower under load",
        ours_figures.ingest_per_sec / peer_figures.ingest_per_sec,
        peer_figures.alone.p99_ms / ours_figures.alone.p99_ms,
        peer_figures.loaded.p99_ms / ours_figures.loaded.p99_ms,
    )?;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

fn stop(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

/// nostr-rs-relay prints nothing machine-readable when ready: poll its port (benchmark only).
fn wait_for_port(port: u16) -> anyhow::Result<()> {
    for _ in 0..600 {
        if StdTcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    bail!("nostr-rs-relay did not open port {port}")
}

/// Element `i` of a relay message (`Null` when absent; relay messages are arrays).
fn at(value: &Value, i: usize) -> &Value {
    value.get(i).unwrap_or(&Value::Null)
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(url: &str, keys: &Keys, auth: bool) -> anyhow::Result<Ws> {
    // TCP_NODELAY on the client too: a REQ right after a CLOSE must not wait for a delayed ACK.
    let (mut ws, _) = tokio_tungstenite::connect_async_with_config(url, None, true).await?;
    if auth {
        let challenge = loop {
            let message = next_text(&mut ws).await?;
            let value: Value = serde_json::from_str(&message)?;
            if at(&value, 0) == "AUTH" {
                break at(&value, 1).as_str().context("challenge")?.to_owned();
            }
        };
        let event = EventBuilder::new(Kind::Authentication, "")
            .tags([
                Tag::custom("relay", [url]),
                Tag::custom("challenge", [challenge]),
            ])
            .finalize(keys)?;
        ws.send(Message::Text(json!(["AUTH", event]).to_string().into()))
            .await?;
        loop {
            let value: Value = serde_json::from_str(&next_text(&mut ws).await?)?;
            if at(&value, 0) == "OK" {
                if at(&value, 2) != true {
                    bail!("AUTH refused: {}", at(&value, 3));
                }
                break;
            }
        }
    }
    Ok(ws)
}

async fn next_text(ws: &mut Ws) -> anyhow::Result<String> {
    loop {
        match tokio::time::timeout(Duration::from_secs(30), ws.next()).await {
            Err(_) => bail!("timed out"),
            Ok(None) => bail!("connection closed"),
            Ok(Some(message)) => {
                if let Message::Text(text) = message? {
                    return Ok(text.as_str().to_owned());
                }
            }
        }
    }
}

async fn run(
    url: &str,
    keys: &Keys,
    auth: bool,
    load: Load,
    pid: Option<u32>,
) -> anyhow::Result<Figures> {
    let patients: Vec<PublicKey> = (0..load.events.div_ceil(load.per_patient))
        .map(|_| Keys::generate().public_key())
        .collect();
    // Sign everything first: the benchmark times the relay, not the client.
    let base = Timestamp::now().as_secs() - 86_400;
    let payload = "A".repeat(padding(keys, load.event_bytes)?);
    let events: Vec<String> = (0..load.events)
        .map(|i| {
            let patient = patients
                .get(i % patients.len())
                .copied()
                .context("no patients")?;
            let event = EventBuilder::new(Kind::from(2113), format!("{payload}{i}"))
                .tags([Tag::public_key(patient), Tag::custom("v", ["1"])])
                .custom_created_at(Timestamp::from_secs(base + i as u64))
                .finalize(keys)
                .map_err(anyhow::Error::from)?;
            Ok(json!(["EVENT", event]).to_string())
        })
        .collect::<anyhow::Result<_>>()?;

    let mut connections = Vec::new();
    for _ in 0..load.connections {
        connections.push(connect(url, keys, auth).await?);
    }
    let chunks: Vec<Vec<String>> = events
        .chunks(load.events.div_ceil(load.connections))
        .map(<[String]>::to_vec)
        .collect();
    let started = Instant::now();
    let mut tasks = Vec::new();
    for (ws, chunk) in connections.into_iter().zip(chunks) {
        tasks.push(tokio::spawn(publish(ws, chunk, load.window)));
    }
    let mut accepted = 0;
    let mut connections = Vec::new();
    for task in tasks {
        let (ws, ok) = task.await??;
        accepted += ok;
        connections.push(ws);
    }
    let elapsed = started.elapsed().as_secs_f64();

    // One client alone, then every connection at once.
    let mut connections = connections.into_iter();
    let first = connections.next().context("no connection")?;
    let cpu = cpu_of(pid)?;
    let (first, served) = query(first, patients.clone(), 0, load.reqs, load.per_patient).await?;
    let cpu = cpu_of(pid)?.zip(cpu).map(|(after, before)| after - before);
    let alone = Latency::of(served, cpu);
    let cpu = cpu_of(pid)?;
    let per_connection = load.reqs.div_ceil(load.connections);
    let mut tasks = Vec::new();
    for (c, ws) in std::iter::once(first).chain(connections).enumerate() {
        tasks.push(tokio::spawn(query(
            ws,
            patients.clone(),
            c,
            per_connection,
            load.per_patient,
        )));
    }
    let mut all = Served {
        times: Vec::new(),
        missing_eose: 0,
        events_per_req: 0,
        events: 0,
    };
    for task in tasks {
        let (_, served) = task.await??;
        all.times.extend(served.times);
        all.missing_eose += served.missing_eose;
        all.events_per_req = all.events_per_req.max(served.events_per_req);
        all.events += served.events;
    }
    let cpu = cpu_of(pid)?.zip(cpu).map(|(after, before)| after - before);
    Ok(Figures {
        ingest_per_sec: accepted as f64 / elapsed,
        accepted,
        alone,
        loaded: Latency::of(all, cpu),
    })
}

/// Content padding that makes an event of this benchmark about `event_bytes` of JSON.
fn padding(keys: &Keys, event_bytes: usize) -> anyhow::Result<usize> {
    let bare = EventBuilder::new(Kind::from(2113), "0")
        .tags([Tag::public_key(keys.public_key()), Tag::custom("v", ["1"])])
        .finalize(keys)?
        .as_json()
        .len();
    // The index appended to the content adds a few digits.
    Ok(event_bytes.saturating_sub(bare + 4))
}

async fn publish(mut ws: Ws, events: Vec<String>, window: usize) -> anyhow::Result<(Ws, usize)> {
    let (mut sent, mut answered, mut accepted) = (0, 0, 0);
    while answered < events.len() {
        while let Some(event) = events.get(sent).filter(|_| sent - answered < window) {
            ws.send(Message::Text(event.clone().into())).await?;
            sent += 1;
        }
        let text = next_text(&mut ws).await?;
        if text.starts_with("[\"OK\"") {
            answered += 1;
            if text.contains(",true,") {
                accepted += 1;
            }
        }
    }
    Ok((ws, accepted))
}

async fn query(
    mut ws: Ws,
    patients: Vec<PublicKey>,
    c: usize,
    reqs: usize,
    limit: usize,
) -> anyhow::Result<(Ws, Served)> {
    let mut times = Vec::with_capacity(reqs);
    let (mut missing, mut most, mut events) = (0, 0, 0);
    for i in 0..reqs {
        let patient = patients
            .get((c * reqs + i) % patients.len())
            .copied()
            .context("no patients")?;
        let sub = format!("q{c}-{i}");
        let started = Instant::now();
        ws.send(Message::Text(
            json!(["REQ", sub, {"#p": [patient.to_hex()], "limit": limit}])
                .to_string()
                .into(),
        ))
        .await?;
        let mut seen = 0;
        let eose = format!("[\"EOSE\",\"{sub}\"]");
        loop {
            let text = match tokio::time::timeout(Duration::from_secs(5), next_text(&mut ws)).await
            {
                Ok(text) => text?,
                Err(_) => {
                    missing += 1;
                    break;
                }
            };
            if text.starts_with("[\"EVENT\"") {
                seen += 1;
            } else if text.replace(' ', "") == eose || text.starts_with("[\"CLOSED\"") {
                times.push(started.elapsed().as_secs_f64() * 1000.0);
                break;
            }
        }
        most = most.max(seen);
        events += seen;
        ws.send(Message::Text(json!(["CLOSE", sub]).to_string().into()))
            .await?;
    }
    let served = Served {
        times,
        missing_eose: missing,
        events_per_req: most,
        events,
    };
    Ok((ws, served))
}
