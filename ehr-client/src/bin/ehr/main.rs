//! `ehr`: the nostr-ehr command line for practices, staff and patients.
//!
//! This first version has key generation and a relay-free demonstration of the wire format.

use std::io::{Read, Write};

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use ehr_client::event::{ClinicalEvent, ClinicalEventBuilder};
use ehr_client::keys::{self, ChartKey, Identity};
use ehr_client::kinds::ClinicalKind;
use ehr_client::{demo, fhir};
use serde_json::json;

#[derive(Debug, Parser)]
#[command(
    name = "ehr",
    version,
    about = "nostr-ehr: practice, staff and patient operations"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Generate a keypair and print it as JSON (npub, hex, and the secret as nsec or ncryptsec).
    Keygen {
        /// Encrypt the secret with NIP-49 using the password in this environment variable.
        #[arg(long, value_name = "ENV_VAR")]
        password_env: Option<String>,
        /// scrypt work factor for NIP-49 (16 interactive, 20+ for keys kept offline).
        #[arg(long, default_value_t = 16)]
        log_n: u8,
    },
    /// Show the event format end to end without a relay.
    #[command(subcommand)]
    Demo(DemoCommand),
}

#[derive(Debug, Subcommand)]
enum DemoCommand {
    /// Print one JSON document: a signed, dual-encrypted Encounter for a fresh synthetic
    /// patient, that patient's nsec and the practice's npub.
    Encrypt,
    /// Read an event (or the document `demo encrypt` prints) on stdin and open the patient copy.
    Decrypt {
        /// The patient's secret key: nsec, hex or ncryptsec. Read from the environment variable
        /// named here, so it stays out of shell history.
        #[arg(long, value_name = "ENV_VAR", default_value = "EHR_PATIENT_NSEC")]
        nsec_env: String,
        /// Environment variable holding the ncryptsec password, if the key is an ncryptsec.
        #[arg(long, value_name = "ENV_VAR")]
        password_env: Option<String>,
    },
    /// Encrypt, then decrypt as the patient, and show both: the whole format in one command.
    Roundtrip,
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let output = match cli.command {
        Command::Keygen {
            password_env,
            log_n,
        } => keygen(password_env.as_deref(), log_n)?,
        Command::Demo(DemoCommand::Encrypt) => demo_encrypt()?.0,
        Command::Demo(DemoCommand::Decrypt {
            nsec_env,
            password_env,
        }) => {
            let mut input = String::new();
            std::io::stdin()
                .take(ehr_client::event::MAX_EVENT_JSON as u64 + 1)
                .read_to_string(&mut input)
                .context("reading the event from stdin")?;
            let secret = std::env::var(&nsec_env)
                .with_context(|| format!("set {nsec_env} to the patient's nsec"))?;
            let password = password_env
                .map(|name| std::env::var(&name).with_context(|| format!("{name} is not set")))
                .transpose()?;
            let patient = Identity::parse(&secret, password.as_deref())
                .context("the patient key is not valid")?;
            demo_decrypt(&input, &patient)?
        }
        Command::Demo(DemoCommand::Roundtrip) => {
            let (document, patient) = demo_encrypt()?;
            let opened = demo_decrypt(&document.to_string(), &patient)?;
            json!({ "encrypted": document, "decrypted_by_patient": opened })
        }
    };
    let mut stdout = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut stdout, &output)?;
    writeln!(stdout)?;
    Ok(())
}

fn keygen(password_env: Option<&str>, log_n: u8) -> Result<serde_json::Value> {
    let identity = Identity::generate();
    let secret = match password_env {
        Some(name) => {
            let password = std::env::var(name).with_context(|| format!("{name} is not set"))?;
            if password.is_empty() {
                bail!("{name} is empty; a NIP-49 password must not be empty");
            }
            json!({ "ncryptsec": keys::to_ncryptsec(identity.secret_key(), &password, log_n)?.as_str() })
        }
        None => json!({ "nsec": identity.nsec().as_str() }),
    };
    Ok(json!({
        "npub": identity.npub(),
        "hex": identity.public_key().to_hex(),
        "secret": secret,
    }))
}

/// Returns the printed document and the patient, so `roundtrip` can open it.
fn demo_encrypt() -> Result<(serde_json::Value, Identity)> {
    let practice_member = Identity::generate();
    let patient = Identity::generate();
    let chart_key = ChartKey::generate(1);
    let encounter = demo::encounter(&demo::new_id());
    let event =
        ClinicalEventBuilder::new(ClinicalKind::Encounter, encounter, patient.public_key())?
            .sign(&practice_member, &chart_key)?;
    let document = json!({
        "note": "Synthetic demo data. The chart key is discarded: only the patient can read this.",
        "event": serde_json::from_str::<serde_json::Value>(&event.to_json())?,
        "patient_nsec": patient.nsec().as_str(),
        "patient_npub": patient.npub(),
        "practice_npub": practice_member.npub(),
    });
    Ok((document, patient))
}

fn demo_decrypt(input: &str, patient: &Identity) -> Result<serde_json::Value> {
    let value: serde_json::Value = serde_json::from_str(input).context("stdin is not JSON")?;
    // Accept the whole `demo encrypt` document or a bare event.
    let event_json = value.get("event").unwrap_or(&value).to_string();
    let event = ClinicalEvent::from_json(&event_json).context("not a valid clinical event")?;
    let record = event
        .decrypt_with_patient_key(patient)
        .context("cannot open the patient copy with this key")?;
    let resource: serde_json::Value = serde_json::from_str(&record.resource.to_json())?;
    Ok(json!({
        "verified_author_npub": keys::to_npub(&record.author),
        "kind": record.kind.as_u16(),
        "resource_type": fhir::Resource::resource_type(&record.resource).as_str(),
        "resource": resource,
    }))
}
