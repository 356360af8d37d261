//! `ehr-relay`: serve the practice relay, or back it up, export or import its events.

use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use ehr_relay::{RelayConfig, serve, tools};
use ehr_service as service;

#[derive(Parser)]
#[command(name = "ehr-relay", version, about = "The nostr-ehr practice relay")]
struct Cli {
    /// Configuration file (see ehr-relay.example.toml).
    #[arg(
        long,
        short,
        env = "EHR_RELAY_CONFIG",
        default_value = "ehr-relay.toml",
        global = true
    )]
    config: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the relay.
    Serve,
    /// Check the configuration and exit.
    CheckConfig,
    /// Write an online, consistent snapshot of the SQLite database.
    Backup {
        /// The snapshot file to create.
        #[arg(long)]
        out: PathBuf,
    },
    /// Write every stored event as JSONL (to stdout without --out).
    Export {
        /// The file to create.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Store the events of a JSONL file (signatures are checked).
    Import {
        /// The JSONL file.
        #[arg(long)]
        from: PathBuf,
    },
}

fn main() -> anyhow::Result<()> {
    service::init_tracing();
    let cli = Cli::parse();
    let config = RelayConfig::load(&cli.config)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(run(cli.command, config))
}

async fn run(command: Command, config: RelayConfig) -> anyhow::Result<()> {
    match command {
        Command::Serve => {
            let listener = service::listen("ehr-relay", "ws", config.listen).await?;
            serve(listener, config, service::shutdown_signal()).await?;
        }
        Command::CheckConfig => {
            let mut out = std::io::stdout().lock();
            writeln!(out, "configuration is valid: {config:?}")?;
        }
        Command::Backup { out } => {
            tools::backup(&config, &out).await?;
            eprintln!("snapshot written to {}", out.display());
        }
        Command::Export { out } => {
            let count = match out {
                Some(path) => {
                    let file = File::create_new(&path)
                        .with_context(|| format!("cannot create {}", path.display()))?;
                    tools::export(&config, &mut BufWriter::new(file)).await?
                }
                None => tools::export(&config, &mut std::io::stdout().lock()).await?,
            };
            eprintln!("exported {count} events");
        }
        Command::Import { from } => {
            let file =
                File::open(&from).with_context(|| format!("cannot open {}", from.display()))?;
            let report = tools::import(&config, BufReader::new(file)).await?;
            eprintln!(
                "imported {} events ({} already present, {} refused)",
                report.stored, report.duplicates, report.refused
            );
        }
    }
    Ok(())
}
