//! `ehr-fhir-gateway`: serve FHIR R4 REST for outside facilities, and manage their API keys and
//! SMART clients on the gateway's host.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use ehr_fhir_gateway::{Config, now, serve, store::Store};

#[derive(Parser)]
#[command(
    name = "ehr-fhir-gateway",
    version,
    about = "The nostr-ehr FHIR R4 gateway for outside facilities"
)]
struct Cli {
    /// Configuration file (see ehr-fhir-gateway.example.toml).
    #[arg(
        long,
        short,
        env = "EHR_FHIR_GATEWAY_CONFIG",
        default_value = "ehr-fhir-gateway.toml"
    )]
    config: PathBuf,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve (the default).
    Serve,
    /// Check the configuration and exit.
    CheckConfig,
    /// Issue an API key for a facility; it is printed once and stored only as a hash.
    AddKey {
        /// The facility's FHIR client id (the one consents name); a registered, live client
        /// (`add-client` first).
        #[arg(long)]
        client: String,
        /// SMART system scopes.
        #[arg(long, default_value = "system/*.read")]
        scope: Vec<String>,
        /// Days until the key expires.
        #[arg(long, default_value_t = 90)]
        days: i64,
    },
    /// Revoke an API key by its id.
    RevokeKey {
        /// The key id (the part after `ehrfhir_`).
        key_id: String,
    },
    /// List API keys (never the secrets).
    ListKeys,
    /// Register a facility: a SMART Backend Services client with its public keys (a JWKS
    /// file), or without `--jwks` a client that reads with API keys only.
    AddClient {
        /// The facility's FHIR client id (the one consents name).
        #[arg(long)]
        client: String,
        /// JWKS file with the facility's public RS384 or ES384 keys.
        #[arg(long)]
        jwks: Option<PathBuf>,
        /// SMART system scopes it may be granted.
        #[arg(long, default_value = "system/*.read")]
        scope: Vec<String>,
    },
    /// Revoke a SMART client and its live tokens.
    RevokeClient {
        /// The client id.
        client: String,
    },
    /// List SMART clients.
    ListClients,
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
        Command::AddKey {
            client,
            scope,
            days,
        } => {
            let key = runtime.block_on(async {
                let store = Store::open(&config.database_url).await?;
                store
                    .add_api_key(&client, &scope, now(), now() + days * 86_400)
                    .await
            })?;
            writeln!(out, "{key}")?;
        }
        Command::RevokeKey { key_id } => {
            let revoked = runtime.block_on(async {
                Store::open(&config.database_url)
                    .await?
                    .revoke_api_key(&key_id, now())
                    .await
            })?;
            anyhow::ensure!(revoked, "no active key with that id");
            writeln!(out, "revoked {key_id}")?;
        }
        Command::ListKeys => {
            let keys = runtime
                .block_on(async { Store::open(&config.database_url).await?.api_keys().await })?;
            writeln!(out, "{}", serde_json::to_string_pretty(&keys)?)?;
        }
        Command::AddClient {
            client,
            jwks,
            scope,
        } => {
            let jwks = match jwks {
                Some(path) => {
                    let text = std::fs::read_to_string(&path)
                        .with_context(|| format!("cannot read {}", path.display()))?;
                    let jwks: serde_json::Value =
                        serde_json::from_str(&text).context("the JWKS file is not JSON")?;
                    ehr_fhir_gateway::smart::check_jwks(&jwks)?;
                    jwks
                }
                None => ehr_fhir_gateway::smart::no_keys(),
            };
            runtime.block_on(async {
                Store::open(&config.database_url)
                    .await?
                    .register_client(&client, &jwks, &scope, "ehr-fhir-gateway add-client", now())
                    .await
            })?;
            writeln!(out, "registered {client}")?;
        }
        Command::RevokeClient { client } => {
            let revoked = runtime.block_on(async {
                Store::open(&config.database_url)
                    .await?
                    .revoke_client(&client, now())
                    .await
            })?;
            anyhow::ensure!(revoked, "no live client with that id");
            writeln!(out, "revoked {client}")?;
        }
        Command::ListClients => {
            let clients = runtime.block_on(async {
                Store::open(&config.database_url)
                    .await?
                    .smart_clients()
                    .await
            })?;
            writeln!(out, "{}", serde_json::to_string_pretty(&clients)?)?;
        }
        Command::Serve => runtime.block_on(async {
            drop(out);
            let listener = ehr_service::listen("ehr-fhir-gateway", "http", config.listen).await?;
            serve(listener, config, ehr_service::shutdown_signal())
                .await
                .context("the gateway stopped")
        })?,
    }
    Ok(())
}
