//! `ehr-blossom`: serve the practice's Blossom server.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use ehr_blossom_server::{Config, serve};

#[derive(Parser)]
#[command(
    name = "ehr-blossom",
    version,
    about = "The nostr-ehr Blossom server for encrypted documents"
)]
struct Cli {
    /// Configuration file (see ehr-blossom.example.toml).
    #[arg(
        long,
        short,
        env = "EHR_BLOSSOM_CONFIG",
        default_value = "ehr-blossom.toml"
    )]
    config: PathBuf,
    /// Check the configuration and exit.
    #[arg(long)]
    check: bool,
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let config = Config::load(&cli.config)?;
    if cli.check {
        writeln!(
            std::io::stdout().lock(),
            "configuration is valid: {config:?}"
        )?;
        return Ok(());
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("cannot listen on {}", config.listen))?;
        let mut out = std::io::stdout().lock();
        writeln!(
            out,
            "ehr-blossom listening on http://{}",
            listener.local_addr()?
        )?;
        out.flush()?;
        drop(out);
        serve(listener, config, async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
        anyhow::Ok(())
    })
}
