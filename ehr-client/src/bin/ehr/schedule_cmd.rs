//! `ehr schedule ...`: the practice's schedules (DESIGN.md §13): list those in force, or set
//! one from a JSON file (a new schedule, or the next version of one, by its id), checked by
//! the core's rules and signed by a member who may schedule.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Subcommand;
use ehr_client::keys;
use ehr_client::nostr::prelude::Timestamp;
use ehr_client::roster::verify_roster_chain;
use ehr_client::schedule::{ScheduleDefinition, may_schedule, schedule_event, schedules};
use serde_json::{Value, json};

use crate::practice::report;
use crate::secrets::KeyArgs;
use crate::session::Session;

#[derive(Debug, Subcommand)]
pub enum ScheduleCommand {
    /// Print the schedules in force (the newest version of each id, active or not) as JSON.
    #[command(after_help = "Example: ehr --key frontdesk.ncryptsec schedule list")]
    List,
    /// Check a schedule (JSON: id, clinician, name, utc_offset_minutes, step_minutes,
    /// visit_types, weekly, time_off, active), sign it and publish it: it replaces the
    /// schedule of its id. `ehr schedule list` prints the shape to start from.
    #[command(after_help = "Example: ehr --key frontdesk.ncryptsec schedule set rivera.json")]
    Set {
        /// The schedule definition, JSON (its clinician an npub or hex).
        file: PathBuf,
    },
}

pub fn run(s: &mut Session, key: &KeyArgs, command: ScheduleCommand) -> Result<Value> {
    let identity = key.identity()?;
    s.sync(&identity)?;
    let roster = verify_roster_chain(&s.root()?, s.events());
    match command {
        ScheduleCommand::List => Ok(json!({ "schedules": schedules(&roster, s.events()) })),
        ScheduleCommand::Set { file } => {
            let definition = read_definition(&file)?;
            let now = Timestamp::now();
            if !may_schedule(&roster, &identity.public_key(), now) {
                bail!(
                    "this key may not manage the schedule: the front desk and clinical staff may"
                );
            }
            let event = schedule_event(&identity, &definition, now)?;
            let published = s.commit(&identity, vec![event.clone()])?;
            Ok(json!({
                "event_id": event.id.to_hex(),
                "kind": event.kind.as_u16(),
                "schedule": definition.id,
                "publish": report(&published),
            }))
        }
    }
}

/// The schedule definition in `file`, checked.
fn read_definition(file: &Path) -> Result<ScheduleDefinition> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    parse_definition(&text)
}

/// A schedule definition from JSON text, its clinician as hex, checked by the core's rules.
fn parse_definition(text: &str) -> Result<ScheduleDefinition> {
    let mut definition: ScheduleDefinition =
        serde_json::from_str(text).context("the file is not a schedule definition")?;
    definition.clinician = keys::parse_public_key(definition.clinician.trim())
        .context("the clinician is not a valid npub or hex public key")?
        .to_hex();
    definition.check()?;
    Ok(definition)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use ehr_client::keys::Identity;
    use serde_json::json;

    use super::parse_definition;

    fn definition(clinician: &str, step: u32, end: &str) -> String {
        json!({
            "id": "dr-rivera",
            "clinician": clinician,
            "name": "Dr. Rivera",
            "utc_offset_minutes": 60,
            "step_minutes": step,
            "visit_types": [{ "code": "vaccine", "label": "Vaccine only", "minutes": 15 }],
            "weekly": [{ "days": [1, 2, 3], "start": "08:00", "end": end }],
            "time_off": [{ "from": "2030-01-07", "to": "2030-01-07", "reason": "Training" }],
        })
        .to_string()
    }

    #[test]
    fn a_definition_is_read_with_its_clinician_as_hex_and_checked() {
        let doctor = Identity::generate();
        let parsed = parse_definition(&definition(&doctor.npub(), 15, "17:00")).unwrap();
        assert_eq!(parsed.clinician, doctor.public_key().to_hex());
        assert!(parsed.active && parsed.visit_types[0].bookable_online);
        let hours = parse_definition(&definition(&doctor.npub(), 15, "07:00")).unwrap_err();
        assert!(
            format!("{hours:#}").contains("end after they start"),
            "{hours:#}"
        );
        let step = parse_definition(&definition(&doctor.npub(), 7, "17:00")).unwrap_err();
        assert!(
            format!("{step:#}").contains("multiple of the step"),
            "{step:#}"
        );
        assert!(parse_definition(&definition("nobody", 15, "17:00")).is_err());
        assert!(parse_definition("{}").is_err());
    }
}
