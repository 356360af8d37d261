//! `nostr-ehr`: run the practice stack (relay, Blossom, FHIR gateway, billing bot, portal) in
//! one process, optionally with a synthetic demo practice.

use std::collections::BTreeSet;
use std::io::Write as _;
use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use nostr_ehr::demo::{self, DemoInfo, DemoKeys};
use nostr_ehr::{Service, Stack, StackConfig};

#[derive(Parser)]
#[command(
    name = "nostr-ehr",
    version,
    about = "The nostr-ehr practice stack in one process"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start every enabled service (or those of --only) until Ctrl-C or SIGTERM.
    #[command(
        after_help = "Examples:\n  nostr-ehr up --demo\n  nostr-ehr up --config /etc/nostr-ehr/nostr-ehr.toml\n  nostr-ehr up --config nostr-ehr.toml --only relay,blossom"
    )]
    Up {
        /// The stack's configuration (written as an example on first run).
        #[arg(long, short, env = "NOSTR_EHR_CONFIG")]
        config: Option<PathBuf>,
        /// Run the synthetic demo practice (its keys, config and data live under --home).
        #[arg(long)]
        demo: bool,
        /// The demo's directory.
        #[arg(long, default_value = "nostr-ehr-demo", requires = "demo")]
        home: PathBuf,
        /// Run only these services (comma-separated: relay, blossom, fhir-gateway, billing-bot,
        /// portal), for a split deployment.
        #[arg(long, value_delimiter = ',')]
        only: Vec<String>,
    },
    /// Snapshot every SQLite database into a new directory, while the stack runs.
    Backup {
        #[arg(
            long,
            short,
            env = "NOSTR_EHR_CONFIG",
            default_value = "nostr-ehr.toml"
        )]
        config: PathBuf,
        /// The directory to create.
        #[arg(long)]
        out: PathBuf,
    },
    /// Check the configuration and exit.
    CheckConfig {
        #[arg(
            long,
            short,
            env = "NOSTR_EHR_CONFIG",
            default_value = "nostr-ehr.toml"
        )]
        config: PathBuf,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::CheckConfig { config } => {
            let stack = StackConfig::load(&config)?;
            let mut out = std::io::stdout().lock();
            writeln!(out, "configuration is valid: {stack:#?}")?;
            Ok(())
        }
        Command::Up {
            config,
            demo,
            home,
            only,
        } => up(config, demo, home, only),
        Command::Backup { config, out } => {
            let stack = StackConfig::load(&config)?;
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let report = runtime.block_on(nostr_ehr::backup(&stack, &out))?;
            let mut stdout = std::io::stdout().lock();
            for line in report {
                writeln!(stdout, "{line}")?;
            }
            Ok(())
        }
    }
}

fn up(config: Option<PathBuf>, demo: bool, home: PathBuf, only: Vec<String>) -> anyhow::Result<()> {
    let only: Option<BTreeSet<Service>> = if only.is_empty() {
        None
    } else {
        Some(
            only.iter()
                .map(|name| {
                    Service::parse(name).with_context(|| {
                        format!("--only: unknown service {name} (relay, blossom, fhir-gateway, billing-bot, portal, clinic)")
                    })
                })
                .collect::<anyhow::Result<_>>()?,
        )
    };
    let path = match (config, demo) {
        (Some(path), _) => path,
        (None, true) => {
            std::fs::create_dir_all(&home)
                .with_context(|| format!("cannot create {}", home.display()))?;
            demo::prepare(&home)?
        }
        (None, false) => PathBuf::from("nostr-ehr.toml"),
    };
    if !path.exists() {
        let agents = nostr_ehr::write_example(&path)?;
        let mut out = std::io::stdout().lock();
        writeln!(out, "Wrote an example configuration to {}.", path.display())?;
        writeln!(
            out,
            "1. Create the practice offline: ehr practice init --relay wss://... --root-key-out /media/vault/root.ncryptsec --admin npub1..."
        )?;
        writeln!(
            out,
            "2. Put the practice npub it prints in [practice] root."
        )?;
        for (role, npub) in agents {
            writeln!(
                out,
                "3. Its {role} key is {npub}: ehr agent add --npub {npub} --role {role}, then set enabled = true in its table."
            )?;
        }
        writeln!(
            out,
            "Then run nostr-ehr up again. Or try the demo: nostr-ehr up --demo"
        )?;
        bail!("edit {} and run again", path.display());
    }
    let config = StackConfig::load(&path)?;
    nostr_ehr::logging::init(config.log_format);
    let services = config.services(only.as_ref())?;
    let apps = [
        (Service::Portal, config.portal.as_ref()),
        (Service::Clinic, config.clinic.as_ref()),
    ];
    if let Some((_, Some(app))) = apps
        .into_iter()
        .find(|(service, app)| services.contains(service) && app.is_some())
    {
        nostr_ehr::build_web_assets_if_missing(app);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let mut stack = Stack::bind(config, services).await?;
        stack.start_storage().await?;
        let data_dir = stack.config().data_dir.clone();
        let info = if demo {
            match DemoInfo::load(&data_dir) {
                Some(info) => Some(info),
                None => {
                    let keys_dir = std::path::absolute(home.join("keys"))?;
                    let keys = DemoKeys::load(&keys_dir)?;
                    let gateway_db = stack
                        .config()
                        .fhir_gateway
                        .as_ref()
                        .map(|g| g.database_url.clone());
                    tracing::info!("seeding the demo practice (synthetic data)");
                    Some(
                        demo::seed(
                            stack.urls(),
                            &keys,
                            &keys_dir,
                            &data_dir,
                            gateway_db.as_deref(),
                        )
                        .await?,
                    )
                }
            }
        } else {
            None
        };
        if let Some(info) = &info {
            // The demo holds its root key: the apps offer the signed connection string.
            let connection = info.connection(stack.urls(), &stack.config().practice);
            stack.set_app_connection(connection);
        }
        stack.start_readers().await?;
        let mut out = std::io::stdout().lock();
        match &info {
            Some(info) => writeln!(
                out,
                "{}",
                info.banner(stack.urls(), &stack.config().practice)
            )?,
            None => writeln!(out, "{}", stack.urls().summary())?,
        }
        out.flush()?;
        drop(out);
        stack.run_until(ehr_service::shutdown_signal()).await?;
        anyhow::Ok(())
    })
}
