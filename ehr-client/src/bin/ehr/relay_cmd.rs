//! `ehr relay ...`: patients, guardians and bans on the practice relay, through its NIP-86
//! management API (staff and agents come from the roster instead).

use anyhow::Result;
use clap::Subcommand;
use serde_json::{Value, json};

use crate::secrets::KeyArgs;
use crate::session::Session;

#[derive(Debug, Subcommand)]
pub enum RelayCommand {
    /// Let a patient (or a guardian) read and write their own records on the relay.
    #[command(
        after_help = "Example: ehr --key frontdesk.ncryptsec relay allow --npub npub1pt... --role patient"
    )]
    Allow {
        #[arg(long, value_name = "NPUB")]
        npub: String,
        /// patient or guardian.
        #[arg(long, default_value = "patient")]
        role: String,
    },
    /// Take a patient's or guardian's access away (every role, or just `--role`).
    #[command(after_help = "Example: ehr --key frontdesk.ncryptsec relay remove --npub npub1pt...")]
    Remove {
        #[arg(long, value_name = "NPUB")]
        npub: String,
        #[arg(long)]
        role: Option<String>,
    },
    /// Who may use the relay: roster members and NIP-86 patients and guardians.
    #[command(after_help = "Example: ehr --key admin.ncryptsec relay list")]
    List,
    /// Bar a key from the relay entirely (admins).
    #[command(
        after_help = "Example: ehr --key admin.ncryptsec relay ban --npub npub1... --reason \"lost device\""
    )]
    Ban {
        #[arg(long, value_name = "NPUB")]
        npub: String,
        #[arg(long, default_value = "")]
        reason: String,
    },
    /// Lift a ban (admins).
    #[command(after_help = "Example: ehr --key admin.ncryptsec relay unban --npub npub1...")]
    Unban {
        #[arg(long, value_name = "NPUB")]
        npub: String,
    },
}

pub fn run(s: &mut Session, key: &KeyArgs, command: RelayCommand) -> Result<Value> {
    let identity = key.identity()?;
    let hex =
        |npub: &str| -> Result<String> { Ok(ehr_client::keys::parse_public_key(npub)?.to_hex()) };
    let (method, params) = match command {
        RelayCommand::Allow { npub, role } => ("assignrole", vec![json!(hex(&npub)?), json!(role)]),
        RelayCommand::Remove {
            npub,
            role: Some(role),
        } => ("unassignrole", vec![json!(hex(&npub)?), json!(role)]),
        RelayCommand::Remove { npub, role: None } => ("unallowpubkey", vec![json!(hex(&npub)?)]),
        RelayCommand::List => ("listallowedpubkeys", vec![]),
        RelayCommand::Ban { npub, reason } => {
            ("banpubkey", vec![json!(hex(&npub)?), json!(reason)])
        }
        RelayCommand::Unban { npub } => ("unbanpubkey", vec![json!(hex(&npub)?)]),
    };
    let result = s.manage(&identity, method, params)?;
    Ok(json!({ "method": method, "result": result }))
}
