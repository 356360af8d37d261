//! `blossom-bench`: upload and download a large blob through the real `ehr-blossom` binary with
//! the `ehr-client` Blossom client, and print throughput against this machine's single-core
//! sha256 speed, with the peak RSS of the server and of the client.
//!
//! `scripts/bench-blossom` builds both in release mode and runs this with a 1 GiB file.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context, bail};
use clap::Parser;
use ehr_client::blob_file::{FileSource, HashingWriter};
use ehr_client::blossom::BlossomClient;
use ehr_client::keys::Identity;
use ehr_client::roster::{Member, Role, RosterContent};
use ehr_relay::store::{Store as RelayStore, WriteJob};
use ehr_tests::bench::{self, median};
use futures_util::StreamExt;
use nostr::prelude::*;
use sha2::{Digest, Sha256};

#[derive(Parser)]
#[command(name = "blossom-bench")]
struct Cli {
    /// The ehr-blossom binary.
    #[arg(long)]
    server: PathBuf,
    /// Blob size in MiB.
    #[arg(long, default_value_t = 1024)]
    size_mib: u64,
    /// Where to put the data (needs four times the blob size).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Transfers to run; the medians are reported.
    #[arg(long, default_value_t = 3)]
    runs: usize,
}

/// Single-core sha256 throughput in MiB/s (an 8 MiB buffer hashed again and again).
fn sha256_speed() -> anyhow::Result<f64> {
    let buf = vec![0x5au8; 8 << 20];
    let mut hash = Sha256::new();
    let per_second = bench::per_second(|| {
        hash.update(&buf);
        anyhow::Ok(())
    })?;
    std::hint::black_box(hash.finalize());
    Ok(8.0 * per_second)
}

/// A file of `mib` MiB of varied bytes (different for each `seed`), and its sha256.
fn make_file(path: &Path, mib: u64, seed: u64) -> anyhow::Result<String> {
    let mut file = std::io::BufWriter::new(std::fs::File::create(path)?);
    let mut block = vec![0u8; 1 << 20];
    let mut state = 0x9e37_79b9_7f4a_7c15u64 ^ seed.wrapping_mul(0xff51_afd7_ed55_8ccd);
    let mut hash = Sha256::new();
    for _ in 0..mib {
        for chunk in block.chunks_mut(8) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let bytes = state.to_le_bytes();
            let n = chunk.len();
            chunk.copy_from_slice(bytes.get(..n).unwrap_or_default());
        }
        hash.update(&block);
        file.write_all(&block)?;
    }
    file.flush()?;
    // At rest before the clock starts: its writeback must not compete with the upload's.
    file.get_ref().sync_all()?;
    Ok(hex::encode(hash.finalize()))
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(run(cli))
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    let base = cli
        .dir
        .unwrap_or_else(std::env::temp_dir)
        .join(format!("blossom-bench-{}", std::process::id()));
    std::fs::create_dir_all(&base)?;

    // A practice whose roster holds the bench key, in the relay database the server reads.
    let root = Identity::generate();
    let uploader = Identity::generate();
    let start = Timestamp::from_secs(Timestamp::now().as_secs() - 60);
    let roster = RosterContent {
        practice: root.public_key(),
        sequence: 0,
        previous: None,
        epoch: 0,
        epoch_public_key: Keys::generate().public_key(),
        office_epoch: None,
        members: vec![Member {
            pubkey: uploader.public_key(),
            role: Role::Doctor,
            name: None,
            valid_from: start,
            valid_until: None,
        }],
    }
    .sign(&root, start)?;
    let relay_url = format!("sqlite://{}", base.join("relay.db").display());
    let relay = RelayStore::open(
        &ehr_relay::RelayConfig::new(root.public_key(), relay_url.clone()).database,
    )
    .await?;
    relay
        .write_batch(&[WriteJob {
            raw: roster.as_json(),
            event: roster,
            received_at: start,
        }])
        .await?;
    let config = base.join("blossom.toml");
    std::fs::write(
        &config,
        format!(
            "listen = \"127.0.0.1:0\"\npractice = \"{}\"\nrelay_database_url = \"{relay_url}\"\ndatabase_url = \"sqlite://{}\"\nblob_dir = \"{}\"\nmax_blob_bytes = {}\n",
            root.public_key().to_hex(),
            base.join("blobs.db").display(),
            base.join("blobs").display(),
            (cli.size_mib + 1) << 20,
        ),
    )?;
    let mut server = Command::new(&cli.server)
        .args(["--config", &config.display().to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .context("cannot start ehr-blossom")?;
    let mut line = String::new();
    BufReader::new(server.stdout.take().context("no stdout")?).read_line(&mut line)?;
    let url = line
        .trim()
        .strip_prefix("ehr-blossom listening on ")
        .context("ehr-blossom did not start")?
        .to_owned();
    let pid = server.id().to_string();

    let result = transfers(&mut out, &base, &url, &uploader, cli.size_mib, cli.runs).await;
    let server_rss = bench::status_mib(&pid, "VmHWM");
    let _ = server.kill();
    let _ = server.wait();
    let _ = std::fs::remove_dir_all(&base);
    result?;
    writeln!(out, "peak RSS, server:        {:>8.1} MiB", server_rss?)?;
    writeln!(
        out,
        "peak RSS, client:        {:>8.1} MiB",
        bench::status_mib("self", "VmHWM")?
    )?;
    Ok(())
}

/// The figures of one run, in MiB/s.
struct Run {
    sha256: f64,
    upload: f64,
    download: f64,
    disk: f64,
}

async fn transfers(
    out: &mut impl Write,
    base: &Path,
    url: &str,
    uploader: &Identity,
    mib: u64,
    runs: usize,
) -> anyhow::Result<()> {
    writeln!(
        out,
        "{:>4} {:>16} {:>16} {:>16} {:>22}",
        "run", "sha256 (1 core)", "upload", "download", "disk read+write"
    )?;
    let mut all = Vec::new();
    for number in 1..=runs.max(1) {
        let run = transfer(base, url, uploader, mib, number as u64).await?;
        writeln!(
            out,
            "{number:>4} {:>10.0} MiB/s {:>10.0} MiB/s {:>10.0} MiB/s {:>16.0} MiB/s",
            run.sha256, run.upload, run.download, run.disk
        )?;
        all.push(run);
    }
    let pick = |f: fn(&Run) -> f64| median(all.iter().map(f).collect());
    let (sha256, upload, download, disk) = (
        pick(|r| r.sha256),
        pick(|r| r.upload),
        pick(|r| r.download),
        pick(|r| r.disk),
    );
    writeln!(out, "medians of {} runs of {mib} MiB:", all.len())?;
    writeln!(
        out,
        "  upload   {upload:>6.0} MiB/s = {:.0} % of one core's sha256 ({sha256:.0} MiB/s); the server hashes, writes and fsyncs",
        100.0 * upload / sha256
    )?;
    writeln!(
        out,
        "  download {download:>6.0} MiB/s = {:.0} % of one core's sha256, {:.0} % of this disk reading and writing at once ({disk:.0} MiB/s); the client hashes, writes and fsyncs",
        100.0 * download / sha256,
        100.0 * download / disk
    )?;
    Ok(())
}

/// One upload and download of a fresh file, then the same disk traffic without the network:
/// the stored blob copied into a new file by the same reader and writer, for the ceiling that
/// both ends sharing one disk put on the download.
async fn transfer(
    base: &Path,
    url: &str,
    uploader: &Identity,
    mib: u64,
    seed: u64,
) -> anyhow::Result<Run> {
    let file = base.join("blob.bin");
    let sha = make_file(&file, mib, seed)?;
    let sha256 = sha256_speed()?;
    let client = BlossomClient::new(url)?;
    let started = Instant::now();
    let descriptor = client.upload(uploader, &file, &sha).await?;
    let upload = started.elapsed().as_secs_f64();
    std::fs::remove_file(&file)?;
    if descriptor.sha256 != sha {
        bail!("the server stored different bytes");
    }
    let back = base.join("back.bin");
    let started = Instant::now();
    client.download(uploader, &sha, &back).await?;
    let download = started.elapsed().as_secs_f64();
    std::fs::remove_file(&back)?;

    let stored = base
        .join("blobs")
        .join(sha.get(..2).unwrap_or_default())
        .join(&sha);
    let copy = base.join("copy.bin");
    let started = Instant::now();
    let source = FileSource::open_direct(&stored)?;
    let size = source.len()?;
    let mut chunks = std::pin::pin!(source.chunks(0, size));
    let mut writer = HashingWriter::create(&copy).await?;
    while let Some(chunk) = chunks.next().await {
        writer.write(&chunk?).await?;
    }
    let (copied, _) = writer.finish().await?;
    let disk = started.elapsed().as_secs_f64();
    std::fs::remove_file(&copy)?;
    if copied != sha {
        bail!("the stored blob is not what was uploaded");
    }
    client.delete(uploader, &sha).await?;
    let rate = |secs: f64| mib as f64 / secs;
    Ok(Run {
        sha256,
        upload: rate(upload),
        download: rate(download),
        disk: rate(disk),
    })
}
