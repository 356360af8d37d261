//! `ehr-billing-bot`: serve the billing admin API and webhook and run the billing scheduler, or
//! run one billing round and exit (for cron).

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};
use ehr_billing_bot::{Bot, Config, SystemClock, serve};

#[derive(Parser)]
#[command(
    name = "ehr-billing-bot",
    version,
    about = "The nostr-ehr billing bot: memberships, invoices and NIP-17 invoice messages"
)]
struct Cli {
    /// Configuration file (see ehr-billing-bot.example.toml).
    #[arg(
        long,
        short,
        env = "EHR_BILLING_BOT_CONFIG",
        default_value = "ehr-billing-bot.toml"
    )]
    config: PathBuf,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the admin API and the webhook, and run the scheduler (the default).
    Serve,
    /// Check the configuration and exit.
    CheckConfig,
    /// Run one round (billing for a month, invoice and appointment reminders, chain polling,
    /// deliveries) and exit.
    Run {
        /// The month to bill, YYYY-MM (default: the current one).
        #[arg(long)]
        period: Option<String>,
    },
}

fn main() -> anyhow::Result<()> {
    ehr_service::init_tracing();
    let cli = Cli::parse();
    let config = Config::load(&cli.config)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let mut out = std::io::stdout().lock();
    match cli.command.unwrap_or(Command::Serve) {
        Command::CheckConfig => writeln!(out, "configuration is valid: {config:?}")?,
        Command::Run { period } => {
            let report = runtime.block_on(async {
                let bot = Bot::start(config, Arc::new(SystemClock)).await?;
                let period = match period {
                    Some(text) => text.parse()?,
                    None => ehr_billing_bot::money::Period::containing(bot.now()),
                };
                let run = bot.run_billing(period).await?;
                let reminders = bot.send_reminders().await?;
                let appointments = bot.send_appointment_reminders().await?;
                let paid = bot.poll_chain().await?;
                let delivery = bot.deliver_due().await?;
                bot.relays().close().await;
                anyhow::Ok(serde_json::json!({
                    "run": run, "reminders": reminders, "appointment_reminders": appointments,
                    "paid": paid, "delivery": delivery,
                }))
            })?;
            writeln!(out, "{}", serde_json::to_string_pretty(&report)?)?;
        }
        Command::Serve => runtime.block_on(async {
            drop(out);
            let listener = ehr_service::listen("ehr-billing-bot", "http", config.listen).await?;
            serve(listener, config, ehr_service::shutdown_signal())
                .await
                .context("the billing bot stopped")
        })?,
    }
    Ok(())
}
