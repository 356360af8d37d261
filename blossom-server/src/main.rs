//! `ehr-blossom`: serve the practice's Blossom server.

use std::io::Write;
use std::path::PathBuf;

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
    ehr_service::init_tracing();
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
        let listener = ehr_service::listen("ehr-blossom", "http", config.listen).await?;
        serve(listener, config, ehr_service::shutdown_signal()).await?;
        anyhow::Ok(())
    })
}
