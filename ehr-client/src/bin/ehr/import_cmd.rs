//! `ehr import nostrehr`: bring a practice over from the TypeScript Nostr EHR reference
//! (`ehr_client::legacy`, DESIGN.md §10). Safe to repeat: every run plans again from what the
//! new relay holds, and a run after a complete one publishes nothing.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use ehr_client::legacy::import::{self, ImportConfig};
use serde_json::Value;

use crate::secrets::KeyArgs;
use crate::session::Session;

#[derive(Debug, Subcommand)]
pub enum ImportCommand {
    /// Import a Nostr EHR practice: records, keys and roster, from its relay. Run it with the
    /// practice's old key; that key must be an admin of this practice (`practice init --admin`).
    #[command(
        after_help = "Example: ehr --key old-practice.nsec import nostrehr --relay wss://old-relay.example.org --blossom https://blobs.clinic.example --dry-run"
    )]
    Nostrehr(NostrehrArgs),
    /// Import the records a patient shared with this practice from another one (her portal's
    /// "Share with a new practice"); they are marked as shared by the patient.
    #[command(after_help = "Example: ehr --key doctor.ncryptsec import shared --patient npub1...")]
    Shared {
        /// The patient who shared her records.
        #[arg(long, value_name = "NPUB")]
        patient: String,
        /// Print what would be imported; change nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

/// `ehr import nostrehr`'s arguments.
#[derive(Debug, Args)]
pub struct NostrehrArgs {
    /// The old practice's relay.
    #[arg(long, value_name = "URL")]
    relay: String,
    /// This practice's Blossom server, where documents are re-encrypted to.
    #[arg(long, env = "EHR_BLOSSOM_URL", value_name = "URL")]
    blossom: Option<String>,
    /// The old Blossom server (default: the server each attachment URL names).
    #[arg(long, value_name = "URL")]
    legacy_blossom: Option<String>,
    /// The key that opens the legacy events, if not --key: the old practice key, or a legacy
    /// staff member's key (then name the old practice with --legacy-practice).
    #[arg(long, value_name = "FILE")]
    legacy_key: Option<PathBuf>,
    /// The old practice's npub, when --legacy-key is a staff member's key.
    #[arg(long, value_name = "NPUB")]
    legacy_practice: Option<String>,
    /// Print what would be done (counts per kind, unreadable events and why); change nothing.
    #[arg(long)]
    dry_run: bool,
}

pub fn run(s: &mut Session, key: &KeyArgs, command: ImportCommand) -> Result<Value> {
    match command {
        ImportCommand::Nostrehr(args) => nostrehr(s, key, args),
        ImportCommand::Shared { patient, dry_run } => {
            crate::shared_cmd::import_shared(s, &key.identity()?, &crate::npub(&patient)?, dry_run)
        }
    }
}

fn nostrehr(s: &mut Session, key: &KeyArgs, args: NostrehrArgs) -> Result<Value> {
    let NostrehrArgs {
        relay,
        blossom,
        legacy_blossom,
        legacy_key,
        legacy_practice,
        dry_run,
    } = args;
    if s.is_offline() {
        bail!("an import reads the old relay: drop --offline");
    }
    let actor = key.identity()?;
    let legacy = match legacy_key {
        Some(path) => KeyArgs {
            key: Some(path),
            nsec_env: None,
            password_env: key.password_env.clone(),
        }
        .identity()
        .context("the legacy key")?,
        None => actor.clone(),
    };
    let legacy_practice = legacy_practice.as_deref().map(crate::npub).transpose()?;
    let config = s.config()?;
    let config = ImportConfig {
        legacy_relay: relay,
        practice_relay: config.relay.clone(),
        root: config.root()?,
        blossom,
        legacy_blossom,
        dry_run,
        timeout: s.timeout(),
    };
    let report = s
        .block_on(import::run(&config, &legacy, legacy_practice, &actor))
        .context("importing from the Nostr EHR relay")?;
    if !dry_run {
        // Bring the local mirror up to date with what was published.
        s.sync(&actor)?;
    }
    Ok(serde_json::to_value(report)?)
}
