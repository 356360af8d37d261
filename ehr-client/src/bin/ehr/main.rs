//! `ehr`: the nostr-ehr command line for practices, staff and patients.
//!
//! Secrets come from a key file (`--key`, ncryptsec or nsec), an environment variable
//! (`--nsec-env`) or a passphrase prompt, never from argv. `--offline` keeps every signed event
//! in the outbox for `ehr publish` on an online machine.

mod demo_cmd;
mod doc_cmd;
mod import_cmd;
mod practice;
mod relay_cmd;
mod render;
mod schedule_cmd;
mod secrets;
mod session;
mod shared_cmd;
mod terminal;

use std::io::{Read, Write};
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use ehr_client::keys::{self, Identity};
use ehr_client::nostr::prelude::PublicKey;
use ehr_client::rotation::RosterChange;
use serde_json::{Value, json};

use crate::secrets::KeyArgs;
use crate::session::{PracticeConfig, Session, SessionArgs};

#[derive(Debug, Parser)]
#[command(
    name = "ehr",
    version,
    about = "nostr-ehr: practice, staff and patient operations",
    after_help = "Example: ehr --home ./clinic --key admin.ncryptsec staff list"
)]
struct Cli {
    #[command(flatten)]
    session: SessionArgs,
    #[command(flatten)]
    key: KeyArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Generate a keypair and print it as JSON (npub, hex, and the secret as nsec or ncryptsec).
    #[command(
        after_help = "Example: ehr --password-env EHR_PW keygen --log-n 20 --out doctor.ncryptsec"
    )]
    Keygen {
        /// scrypt work factor for NIP-49 (16 interactive, 20+ for keys kept offline).
        #[arg(long, default_value_t = 16)]
        log_n: u8,
        /// Write the key as ncryptsec to this new file instead of printing the secret.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Create or join a practice.
    #[command(subcommand)]
    Practice(PracticeCommand),
    /// Staff members: admin, doctor, nurse, ma, frontdesk.
    #[command(subcommand)]
    Staff(MemberCommand),
    /// Service agents: fhir-gateway, billing-bot.
    #[command(subcommand)]
    Agent(MemberCommand),
    /// Enrol patients.
    #[command(subcommand)]
    Patient(PatientCommand),
    /// Write records.
    #[command(subcommand)]
    Record(RecordCommand),
    /// Read charts.
    #[command(subcommand)]
    Chart(ChartCommand),
    /// A patient's consent to share the chart through the FHIR gateway.
    #[command(subcommand)]
    Consent(ConsentCommand),
    /// Guardians who read a ward's chart.
    #[command(subcommand)]
    Guardian(GuardianCommand),
    /// Encrypted documents on the practice's Blossom server.
    #[command(subcommand)]
    Doc(doc_cmd::DocCommand),
    /// Bring a practice over from another EHR (its records, keys and roster).
    #[command(subcommand)]
    Import(import_cmd::ImportCommand),
    /// Patients, guardians and bans on the practice relay (NIP-86).
    #[command(subcommand)]
    Relay(relay_cmd::RelayCommand),
    /// Clinicians' schedules: hours, visit types and time off.
    #[command(subcommand)]
    Schedule(schedule_cmd::ScheduleCommand),
    /// Finish pending key maintenance (grants, chart-key rotation). Safe to run any time.
    #[command(after_help = "Example: ehr --key admin.ncryptsec rotate")]
    Rotate,
    /// Send the outbox (or a carried outbox file) to the relay.
    #[command(
        after_help = "Example: ehr --key admin.ncryptsec publish --from /media/usb/outbox.jsonl"
    )]
    Publish {
        /// An outbox file from an offline machine; acknowledged events are removed from it.
        #[arg(long, value_name = "FILE")]
        from: Option<PathBuf>,
    },
    /// Fetch the practice's events into the local mirror, or move them by file.
    #[command(
        after_help = "Example: ehr --key admin.ncryptsec sync --export /media/usb/events.jsonl"
    )]
    Sync {
        /// Merge events from this file instead of the relay (for an offline machine).
        #[arg(long, value_name = "FILE", conflicts_with = "export")]
        import: Option<PathBuf>,
        /// After fetching, write every known event to this file.
        #[arg(long, value_name = "FILE")]
        export: Option<PathBuf>,
    },
    /// Show the event format end to end without a relay.
    #[command(subcommand)]
    Demo(DemoCommand),
}

#[derive(Debug, Subcommand)]
enum PracticeCommand {
    /// Create the practice root key (stored only as ncryptsec) and the genesis roster.
    #[command(
        after_help = "Example: ehr --home ./clinic practice init --relay wss://relay.example.org --root-key-out /secure/root.ncryptsec --admin npub1..."
    )]
    Init {
        /// The practice relay URL.
        #[arg(long)]
        relay: String,
        /// Where to write the root key (a new file).
        #[arg(long, value_name = "FILE")]
        root_key_out: PathBuf,
        /// The first admin's npub.
        #[arg(long, value_name = "NPUB")]
        admin: Option<String>,
        /// scrypt work factor for the root key's NIP-49 encryption.
        #[arg(long, default_value_t = 20)]
        log_n: u8,
    },
    /// Point this directory at an existing practice, from its connection string.
    #[command(
        after_help = "Example: ehr --home ./laptop practice connect 'nostr-ehr:npub1...?relay=wss://relay.example.org'"
    )]
    Connect {
        /// `nostr-ehr:<npub>?relay=<url>`
        connection: String,
    },
    /// Print the practice npub and connection string.
    Show,
    /// Sign the connection string with the practice root key (`--key` is the root key), naming
    /// this directory's relay and, optionally, the Blossom server and the practice's name: the
    /// patient portal accepts only signed strings, so a changed relay or Blossom is detected.
    #[command(
        after_help = "Example: ehr --home ./clinic --key /secure/root.ncryptsec practice connection --blossom https://blobs.example.org --name 'Example Clinic'"
    )]
    Connection {
        /// The practice's Blossom server (documents), http(s)://.
        #[arg(long, value_name = "URL")]
        blossom: Option<String>,
        /// The practice's name, as patients should see it.
        #[arg(long)]
        name: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
enum MemberCommand {
    /// Add a member (signed by an admin; admins only by the root key).
    #[command(
        after_help = "Example: ehr --key admin.ncryptsec staff add --npub npub1... --role nurse --name 'N. Lee'"
    )]
    Add {
        #[arg(long, value_name = "NPUB")]
        npub: String,
        /// admin, doctor, nurse, ma, frontdesk (staff); fhir-gateway, billing-bot (agent).
        #[arg(long)]
        role: String,
        #[arg(long)]
        name: Option<String>,
    },
    /// End a member's authority now. Revoking staff starts a new epoch and rotates every chart
    /// key; revoking the gateway rotates the charts it could read.
    #[command(after_help = "Example: ehr --key admin.ncryptsec staff revoke --npub npub1...")]
    Revoke {
        #[arg(long, value_name = "NPUB")]
        npub: String,
    },
    /// List the current roster.
    #[command(after_help = "Example: ehr --key admin.ncryptsec staff list")]
    List,
}

#[derive(Debug, Subcommand)]
enum PatientCommand {
    /// Generate a patient key (the nsec is shown once) and enrol the patient.
    #[command(
        after_help = "Example: ehr --key doctor.ncryptsec patient create --nsec-out handover.nsec"
    )]
    Create {
        /// Write the patient's nsec to this new file instead of printing it.
        #[arg(long, value_name = "FILE")]
        nsec_out: Option<PathBuf>,
    },
    /// Enrol a patient who brings their own npub.
    #[command(after_help = "Example: ehr --key doctor.ncryptsec patient import --npub npub1...")]
    Import {
        #[arg(long, value_name = "NPUB")]
        npub: String,
    },
}

#[derive(Debug, Subcommand)]
enum RecordCommand {
    /// Validate a FHIR R4 resource and publish it into a patient's chart.
    #[command(
        after_help = "Example: ehr --key doctor.ncryptsec record add --patient npub1... encounter.json"
    )]
    Add {
        #[arg(long, value_name = "NPUB")]
        patient: String,
        /// A FHIR R4 resource as JSON.
        file: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum ChartCommand {
    /// Print the folded chart (as a member, a guardian, the gateway, or the patient).
    #[command(
        after_help = "Example: ehr --key doctor.ncryptsec chart show --patient npub1... --format bundle"
    )]
    Show {
        #[arg(long, value_name = "NPUB")]
        patient: String,
        #[arg(long, value_enum, default_value = "table")]
        format: ChartFormat,
        /// Leave out entries the patient reported.
        #[arg(long)]
        practice_only: bool,
    },
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum ChartFormat {
    Table,
    Bundle,
}

#[derive(Debug, Subcommand)]
enum ConsentCommand {
    /// Record consent to share through the FHIR gateway with the named facilities.
    #[command(
        after_help = "Example: ehr --key nurse.ncryptsec consent grant --patient npub1... --facility st-marys"
    )]
    Grant {
        #[arg(long, value_name = "NPUB")]
        patient: String,
        /// A facility's FHIR client id; repeat for several.
        #[arg(long = "facility", value_name = "CLIENT_ID")]
        facilities: Vec<String>,
    },
    /// Withdraw the consent: the chart key rotates away from the gateway.
    #[command(
        after_help = "Example: ehr --key nurse.ncryptsec consent withdraw --patient npub1..."
    )]
    Withdraw {
        #[arg(long, value_name = "NPUB")]
        patient: String,
    },
    /// Record the patient's opt-in to emergency access (purpose ETREAT): a facility with the
    /// emergency permission may then have her summary, stating a reason; she is told.
    #[command(
        after_help = "Example: ehr --key nurse.ncryptsec consent emergency --patient npub1..."
    )]
    Emergency {
        #[arg(long, value_name = "NPUB")]
        patient: String,
    },
    /// Withdraw the opt-in to emergency access.
    #[command(
        after_help = "Example: ehr --key nurse.ncryptsec consent withdraw-emergency --patient npub1..."
    )]
    WithdrawEmergency {
        #[arg(long, value_name = "NPUB")]
        patient: String,
    },
}

#[derive(Debug, Subcommand)]
enum GuardianCommand {
    /// Let a guardian read the ward's chart.
    #[command(
        after_help = "Example: ehr --key doctor.ncryptsec guardian grant --ward npub1... --guardian npub1..."
    )]
    Grant {
        #[arg(long, value_name = "NPUB")]
        ward: String,
        #[arg(long, value_name = "NPUB")]
        guardian: String,
    },
    /// End a guardianship: the ward's chart key rotates away from the guardian.
    #[command(
        after_help = "Example: ehr --key doctor.ncryptsec guardian revoke --ward npub1... --guardian npub1..."
    )]
    Revoke {
        #[arg(long, value_name = "NPUB")]
        ward: String,
        #[arg(long, value_name = "NPUB")]
        guardian: String,
    },
}

#[derive(Debug, Subcommand)]
enum DemoCommand {
    /// Print one JSON document: a signed, dual-encrypted Encounter for a fresh synthetic
    /// patient, that patient's nsec and the practice's npub.
    Encrypt,
    /// Read an event (or the document `demo encrypt` prints) on stdin and open the patient copy
    /// with the key given by --nsec-env (default EHR_PATIENT_NSEC) or --key.
    Decrypt,
    /// Encrypt, then decrypt as the patient, and show both: the whole format in one command.
    Roundtrip,
}

enum Output {
    Json(Value),
    Text(String),
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let output = run(cli)?;
    let mut stdout = std::io::stdout().lock();
    match output {
        // Records and names are other people's text: nothing in them reaches the terminal raw.
        Output::Json(value) => writeln!(stdout, "{}", terminal::json(&value)?)?,
        Output::Text(text) => stdout.write_all(terminal::clean(&text, true).as_bytes())?,
    }
    Ok(())
}

fn npub(input: &str) -> Result<PublicKey> {
    keys::parse_public_key(input).context("not a valid npub or hex public key")
}

fn run(cli: Cli) -> Result<Output> {
    let key = &cli.key;
    let json = Output::Json;
    // Commands that need no practice directory.
    match &cli.command {
        Command::Keygen { log_n, out } => {
            return demo_cmd::keygen(key, *log_n, out.as_deref()).map(json);
        }
        Command::Demo(DemoCommand::Encrypt) => return Ok(json(demo_cmd::demo_encrypt()?.0)),
        Command::Demo(DemoCommand::Decrypt) => {
            let mut input = String::new();
            std::io::stdin()
                .take(ehr_client::event::MAX_EVENT_JSON as u64 + 1)
                .read_to_string(&mut input)
                .context("reading the event from stdin")?;
            let mut key = key.clone();
            if key.key.is_none() && key.nsec_env.is_none() {
                key.nsec_env = Some("EHR_PATIENT_NSEC".to_owned());
            }
            let patient = key.identity().context("the patient key")?;
            return Ok(json(demo_cmd::demo_decrypt(&input, &patient)?));
        }
        Command::Demo(DemoCommand::Roundtrip) => {
            let (document, patient) = demo_cmd::demo_encrypt()?;
            let opened = demo_cmd::demo_decrypt(&document.to_string(), &patient)?;
            return Ok(json(
                json!({ "encrypted": document, "decrypted_by_patient": opened }),
            ));
        }
        _ => {}
    }

    let mut session = Session::open(&cli.session)?;
    let s = &mut session;
    Ok(match cli.command {
        Command::Practice(PracticeCommand::Init {
            relay,
            root_key_out,
            admin,
            log_n,
        }) => {
            let admin = admin.as_deref().map(npub).transpose()?;
            json(practice::init(s, key, &relay, &root_key_out, admin, log_n)?)
        }
        Command::Practice(PracticeCommand::Connect { connection }) => {
            let config = PracticeConfig::from_connection_string(&connection)?;
            s.set_config(config.clone())?;
            json(json!({ "practice_npub": config.practice, "relay": config.relay }))
        }
        Command::Practice(PracticeCommand::Connection { blossom, name }) => json(
            practice::signed_connection(s, &key.identity()?, blossom, name)?,
        ),
        Command::Practice(PracticeCommand::Show) => {
            let config = s.config()?;
            json(json!({
                "practice_npub": config.practice,
                "relay": config.relay,
                "connection_string": config.connection_string()?,
            }))
        }
        Command::Staff(command) => json(member(s, key, command, false)?),
        Command::Agent(command) => json(member(s, key, command, true)?),
        Command::Patient(PatientCommand::Create { nsec_out }) => json(practice::create_patient(
            s,
            &key.identity()?,
            nsec_out.as_deref(),
        )?),
        Command::Patient(PatientCommand::Import { npub: patient }) => json(
            practice::import_patient(s, &key.identity()?, &npub(&patient)?)?,
        ),
        Command::Record(RecordCommand::Add { patient, file }) => json(practice::add_record(
            s,
            &key.identity()?,
            &npub(&patient)?,
            &file,
        )?),
        Command::Chart(ChartCommand::Show {
            patient,
            format,
            practice_only,
        }) => Output::Text(practice::show_chart(
            s,
            &key.identity()?,
            &npub(&patient)?,
            matches!(format, ChartFormat::Bundle),
            !practice_only,
        )?),
        Command::Consent(ConsentCommand::Grant {
            patient,
            facilities,
        }) => json(practice::grant_consent(
            s,
            &key.identity()?,
            &npub(&patient)?,
            &facilities,
        )?),
        Command::Consent(ConsentCommand::Withdraw { patient }) => json(practice::withdraw_consent(
            s,
            &key.identity()?,
            &npub(&patient)?,
        )?),
        Command::Consent(ConsentCommand::Emergency { patient }) => json(
            practice::emergency_access(s, &key.identity()?, &npub(&patient)?, true)?,
        ),
        Command::Consent(ConsentCommand::WithdrawEmergency { patient }) => json(
            practice::emergency_access(s, &key.identity()?, &npub(&patient)?, false)?,
        ),
        Command::Guardian(GuardianCommand::Grant { ward, guardian }) => json(
            practice::set_guardian(s, &key.identity()?, &npub(&ward)?, &npub(&guardian)?, true)?,
        ),
        Command::Guardian(GuardianCommand::Revoke { ward, guardian }) => json(
            practice::set_guardian(s, &key.identity()?, &npub(&ward)?, &npub(&guardian)?, false)?,
        ),
        Command::Relay(command) => json(relay_cmd::run(s, key, command)?),
        Command::Schedule(command) => json(schedule_cmd::run(s, key, command)?),
        Command::Doc(command) => json(doc_cmd::run(s, key, command)?),
        Command::Import(command) => json(import_cmd::run(s, key, command)?),
        Command::Rotate => json(practice::rotate(s, &key.identity()?)?),
        Command::Publish { from } => {
            let identity = key.identity()?;
            let published = match from {
                Some(path) => s.publish_file(&identity, &path)?,
                None => s.publish(&identity)?,
            };
            json(practice::report(&published))
        }
        Command::Sync { import, export } => {
            let added = match import {
                Some(path) => s.import_file(&path)?,
                None => s.sync(&key.identity()?)?,
            };
            if let Some(path) = export {
                s.export_file(&path)?;
            }
            json(json!({ "new_events": added, "known_events": s.events().len() }))
        }
        Command::Keygen { .. } | Command::Demo(_) => unreachable!("handled above"),
    })
}

fn member(s: &mut Session, key: &KeyArgs, command: MemberCommand, agent: bool) -> Result<Value> {
    let actor: Identity = key.identity()?;
    match command {
        MemberCommand::Add {
            npub: who,
            role,
            name,
        } => {
            let change = RosterChange::Add {
                pubkey: npub(&who)?,
                role: practice::parse_role(&role, agent)?,
                name,
            };
            practice::change_roster(s, &actor, change)
        }
        MemberCommand::Revoke { npub: who } => practice::change_roster(
            s,
            &actor,
            RosterChange::Revoke {
                pubkey: npub(&who)?,
            },
        ),
        MemberCommand::List => practice::list_roster(s, &actor),
    }
}

/// Add a field to a JSON object being built.
fn set_field(object: Option<&mut serde_json::Map<String, Value>>, key: &str, value: Value) {
    if let Some(object) = object {
        object.insert(key.to_owned(), value);
    }
}
