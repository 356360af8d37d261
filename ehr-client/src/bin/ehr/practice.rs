//! The practice life cycle: init, staff and agents, patients, records, charts, consent,
//! guardians, rotation. Each command plans from a verified view, stores the whole plan, then
//! publishes it (see `session`).

use std::path::Path;

use anyhow::{Context, Result, anyhow, bail};
use ehr_client::access::{AccessError, PracticeView, patient_chart};
use ehr_client::chart::{Chart, FoldOptions};
use ehr_client::connection::Connection;
use ehr_client::event::ClinicalEventBuilder;
use ehr_client::fhir::Resource;
use ehr_client::grants::GuardianshipStatus;
use ehr_client::keys::{self, Identity};
use ehr_client::kinds::ClinicalKind;
use ehr_client::nostr::prelude::{Event, PublicKey, Timestamp};
use ehr_client::practice::{self, Plan};
use ehr_client::roster::Role;
use ehr_client::rotation::{self, RosterChange};
use serde_json::{Value, json};

use crate::render;
use crate::secrets::{self, KeyArgs};
use crate::session::{PracticeConfig, Published, Session};

/// `ehr practice init`: a new root key (ncryptsec only) and the genesis roster.
pub fn init(
    session: &mut Session,
    keys_args: &KeyArgs,
    relay: &str,
    root_key_out: &Path,
    first_admin: Option<PublicKey>,
    log_n: u8,
) -> Result<Value> {
    if session.config().is_ok() {
        bail!("this directory already holds a practice; use another --home");
    }
    let root = Identity::generate();
    let config = PracticeConfig {
        practice: root.npub(),
        relay: relay.to_owned(),
    };
    let password = keys_args.new_passphrase()?;
    secrets::write_ncryptsec(root_key_out, &root, &password, log_n)?;
    session.set_config(config.clone())?;
    let (events, _) = rotation::genesis(&root, first_admin.map(|pk| (pk, None)), Timestamp::now())?;
    let published = session.commit(&root, events)?;
    let signed = Connection::new(root.public_key(), relay)?.sign(&root)?;
    Ok(json!({
        "practice_npub": root.npub(),
        "connection_string": config.connection_string()?,
        "signed_connection_string": signed.to_string(),
        "root_key_file": root_key_out.display().to_string(),
        "note": "Keep the root key file offline. It signs only changes to admins.",
        "publish": report(&published),
    }))
}

/// `ehr practice connection`: the connection string signed by the root key.
pub fn signed_connection(
    session: &mut Session,
    root: &Identity,
    blossom: Option<String>,
    name: Option<String>,
) -> Result<Value> {
    let config = session.config()?.clone();
    let mut connection = Connection::new(config.root()?, config.relay.clone())?;
    if root.public_key() != connection.practice {
        bail!("only the practice root key signs the connection string (--key is not it)");
    }
    if let Some(blossom) = blossom {
        connection = connection.with_blossom(blossom)?;
    }
    if let Some(name) = name {
        connection = connection.with_name(name);
    }
    let signed = connection.sign(root)?;
    Ok(json!({
        "practice_npub": config.practice,
        "relay": signed.relay,
        "blossom": signed.blossom,
        "name": signed.name,
        "connection_string": signed.to_string(),
    }))
}

/// `ehr staff|agent add|revoke`.
pub fn change_roster(
    session: &mut Session,
    actor: &Identity,
    change: RosterChange,
) -> Result<Value> {
    session.sync(actor)?;
    let plan = practice::change_roster(&state(session, actor)?, &change)?;
    commit_plan(session, actor, plan)
}

/// The verified state an operation plans from: what the session holds, at this moment.
fn state<'a>(session: &'a Session, actor: &'a Identity) -> Result<practice::State<'a>> {
    Ok(practice::State {
        root: session.root()?,
        events: session.events(),
        actor,
        now: Timestamp::now(),
    })
}

/// Store and publish a whole plan.
fn commit_plan(session: &mut Session, actor: &Identity, plan: Plan) -> Result<Value> {
    let planned = plan.len();
    let published = session.commit(actor, plan.into_events())?;
    Ok(json!({ "planned_events": planned, "publish": report(&published) }))
}

/// `ehr staff list`.
pub fn list_roster(session: &mut Session, reader: &Identity) -> Result<Value> {
    session.sync(reader)?;
    let view = session.view(reader)?;
    let roster = view.roster().current().ok_or(AccessError::NoRoster)?;
    let members: Vec<Value> = roster
        .content
        .members
        .iter()
        .map(|m| {
            json!({
                "npub": keys::to_npub(&m.pubkey),
                "role": m.role.as_str(),
                "name": m.name,
                "valid_from": m.valid_from.as_secs(),
                "valid_until": m.valid_until.map(|t| t.as_secs()),
                "active": m.is_valid_at(Timestamp::now()),
            })
        })
        .collect();
    Ok(json!({
        "sequence": roster.content.sequence,
        "epoch": roster.content.epoch,
        "members": members,
        "rejected_rosters": view.roster().rejected().len(),
    }))
}

/// `ehr patient create`: a new patient key, shown once, and the patient's first chart key.
pub fn create_patient(
    session: &mut Session,
    actor: &Identity,
    nsec_out: Option<&Path>,
) -> Result<Value> {
    let patient = Identity::generate();
    let published = enrol(session, actor, &patient.public_key())?;
    let mut out = json!({
        "patient_npub": patient.npub(),
        "publish": report(&published),
    });
    match nsec_out {
        Some(path) => {
            secrets::write_secret_file(path, &patient.nsec())?;
            crate::set_field(
                out.as_object_mut(),
                "nsec_file",
                json!(path.display().to_string()),
            );
        }
        None => {
            crate::set_field(
                out.as_object_mut(),
                "patient_nsec",
                json!(patient.nsec().as_str()),
            );
            crate::set_field(
                out.as_object_mut(),
                "note",
                json!("Hand this nsec to the patient now. The practice does not keep it."),
            );
        }
    }
    Ok(out)
}

/// `ehr patient import`: enrol a patient who brings their own npub.
pub fn import_patient(
    session: &mut Session,
    actor: &Identity,
    patient: &PublicKey,
) -> Result<Value> {
    let published = enrol(session, actor, patient)?;
    Ok(json!({ "patient_npub": keys::to_npub(patient), "publish": report(&published) }))
}

fn enrol(session: &mut Session, actor: &Identity, patient: &PublicKey) -> Result<Published> {
    session.sync(actor)?;
    let plan = practice::enrol_patient(&state(session, actor)?, patient)?;
    session.commit(actor, plan.into_events())
}

/// `ehr record add`: validate a FHIR resource and publish it into a patient's chart.
pub fn add_record(
    session: &mut Session,
    actor: &Identity,
    patient: &PublicKey,
    file: &Path,
) -> Result<Value> {
    let json =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let resource =
        Resource::from_json(&json).context("the file is not a valid FHIR R4 resource")?;
    add_resource(session, actor, patient, resource)
}

/// Publish `resource` into `patient`'s chart.
pub fn add_resource(
    session: &mut Session,
    actor: &Identity,
    patient: &PublicKey,
    resource: Resource,
) -> Result<Value> {
    session.sync(actor)?;
    let event = write(&session.view(actor)?, actor, patient, resource)?;
    let published = session.commit(actor, vec![event.clone()])?;
    Ok(
        json!({ "event_id": event.id.to_hex(), "kind": event.kind.as_u16(), "publish": report(&published) }),
    )
}

pub(crate) fn write(
    view: &PracticeView,
    actor: &Identity,
    patient: &PublicKey,
    resource: Resource,
) -> Result<Event> {
    let kind = ClinicalKind::for_resource(&resource);
    let builder = ClinicalEventBuilder::new(kind, resource, *patient)?;
    // The office key for demographics and messages, the chart key for the rest.
    let event = view
        .sign_record(actor, builder)
        .map_err(|error| match error {
            AccessError::RotationPending => anyhow!("{error}: run `ehr rotate` first"),
            AccessError::NoKey => {
                anyhow!("no key for this patient: enrol them with `ehr patient create|import`")
            }
            other => anyhow!(other),
        })?;
    Ok(event.event().clone())
}

/// `ehr chart show`: the folded chart, as the reader may see it.
pub fn show_chart(
    session: &mut Session,
    reader: &Identity,
    patient: &PublicKey,
    bundle: bool,
    include_patient_reported: bool,
) -> Result<String> {
    let options = FoldOptions {
        include_patient_reported,
    };
    let (chart, unreadable) = read_chart(session, reader, patient, options)?;
    if bundle {
        // Escaped rather than cleaned: a program reading the Bundle gets the records as written.
        Ok(crate::terminal::json(&serde_json::to_value(chart.to_bundle())?)? + "\n")
    } else {
        let mut out = render::table(&chart);
        if unreadable > 0 {
            out.push_str(&format!(
                "{unreadable} events could not be opened or were refused\n"
            ));
        }
        Ok(out)
    }
}

/// The chart of `patient` as `reader` may read it (the patient with their own key, anyone
/// else through the practice view), and how many events could not be opened.
pub fn read_chart(
    session: &mut Session,
    reader: &Identity,
    patient: &PublicKey,
    options: FoldOptions,
) -> Result<(Chart, usize)> {
    session.sync(reader)?;
    let (chart, refused) = if reader.public_key() == *patient {
        // The patient reads the patient copies with their own key.
        patient_chart(&session.root()?, reader, session.events(), options)
    } else {
        session
            .view(reader)?
            .chart(patient, session.events(), options)
    };
    Ok((chart, refused.len()))
}

/// `ehr consent grant`: record the patient's consent to FHIR sharing, and wrap the chart key
/// to the gateway.
pub fn grant_consent(
    session: &mut Session,
    actor: &Identity,
    patient: &PublicKey,
    facilities: &[String],
) -> Result<Value> {
    if facilities.is_empty() {
        bail!("name at least one facility (--facility CLIENT_ID)");
    }
    session.sync(actor)?;
    let facilities: Vec<&str> = facilities.iter().map(String::as_str).collect();
    let state = state(session, actor)?;
    let plan = practice::grant_consent(&state, patient, &facilities, &today())?;
    commit_consent(session, actor, patient, plan)
}

/// `ehr consent withdraw`: a new version of the consent, inactive; the chart key rotates away
/// from the gateway.
pub fn withdraw_consent(
    session: &mut Session,
    actor: &Identity,
    patient: &PublicKey,
) -> Result<Value> {
    session.sync(actor)?;
    let plan = practice::withdraw_consent(&state(session, actor)?, patient)?;
    commit_consent(session, actor, patient, plan)
}

/// `ehr consent emergency` (`opt_in`) and `ehr consent withdraw-emergency`: the patient's
/// decision on emergency access, and the key maintenance it calls for.
pub fn emergency_access(
    session: &mut Session,
    actor: &Identity,
    patient: &PublicKey,
    opt_in: bool,
) -> Result<Value> {
    session.sync(actor)?;
    let state = state(session, actor)?;
    let plan = if opt_in {
        practice::opt_in_emergency_access(&state, patient, &today())?
    } else {
        practice::withdraw_emergency_access(&state, patient)?
    };
    commit_consent(session, actor, patient, plan)
}

fn commit_consent(
    session: &mut Session,
    actor: &Identity,
    patient: &PublicKey,
    plan: Plan,
) -> Result<Value> {
    let consents = practice::shares_with_gateway(&state(session, actor)?, &plan, patient);
    let planned = plan.len();
    let published = session.commit(actor, plan.into_events())?;
    Ok(
        json!({ "fhir_sharing": consents, "planned_events": planned, "publish": report(&published) }),
    )
}

/// `ehr guardian grant|revoke`.
pub fn set_guardian(
    session: &mut Session,
    actor: &Identity,
    ward: &PublicKey,
    guardian: &PublicKey,
    active: bool,
) -> Result<Value> {
    session.sync(actor)?;
    let status = if active {
        GuardianshipStatus::Active
    } else {
        GuardianshipStatus::Ended
    };
    let plan = practice::set_guardianship(&state(session, actor)?, ward, guardian, status)?;
    commit_plan(session, actor, plan)
}

/// `ehr rotate`: finish whatever key maintenance is pending (after an interruption, or after a
/// change made elsewhere). Publishes nothing when all is in place.
pub fn rotate(session: &mut Session, actor: &Identity) -> Result<Value> {
    session.sync(actor)?;
    let plan = practice::maintain(&state(session, actor)?)?;
    commit_plan(session, actor, plan)
}

pub(crate) fn practice_chart(session: &Session, view: &PracticeView, patient: &PublicKey) -> Chart {
    let options = FoldOptions {
        include_patient_reported: true,
    };
    view.chart(patient, session.events(), options).0
}

/// A role given on the command line for staff or agents.
pub fn parse_role(input: &str, agent: bool) -> Result<Role> {
    let role: Role = input
        .parse()
        .map_err(|_| anyhow!("unknown role `{input}`"))?;
    if role.is_agent() != agent {
        let expected = if agent {
            "fhir-gateway or billing-bot"
        } else {
            "admin, doctor, nurse, ma or frontdesk"
        };
        bail!("role `{input}` is not valid here: use {expected}");
    }
    Ok(role)
}

pub fn report(published: &Published) -> Value {
    json!({
        "accepted": published.accepted,
        "refused": published.refused,
        "pending_in_outbox": published.pending,
    })
}

fn today() -> String {
    // FHIR dateTime at day precision is enough for a consent's date.
    render::utc_date(Timestamp::now().as_secs())
}
