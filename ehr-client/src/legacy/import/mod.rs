//! Running an import (feature `relay-client`, DESIGN.md §10): read the old relay, plan, and
//! bring the new practice up to the plan, stage by stage, each stage planned again from what
//! the new relay holds. So a run that stops anywhere is resumed by running it again, and a run
//! after a complete one publishes nothing:
//!
//! 1. members: the legacy staff and the FHIR agent on the roster (and their epoch grants);
//! 2. patients: a first chart key for each, under their own legacy key;
//! 3. guardianships, and the wraps that let each guardian read the ward's chart;
//! 4. the relay admits patients and guardians (NIP-86), so they read their records;
//! 5. records: every version not on the relay yet (documents re-encrypted and uploaded first);
//! 6. the check: every legacy event imported, skipped with a reason, or unreadable with one.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use nostr::prelude::{Event, EventId, Filter, Kind, PublicKey, Timestamp};
use serde_json::Value;

use super::convert::LegacyFile;
use super::keyring::LegacyKeyring;
use super::plan::{self, Analysis, OutputKey, PlannedRecord};
use super::source;
use crate::access::{AccessError, PracticeView};
use crate::blossom::{self, BlossomClient, BlossomError};
use crate::document::{self, DocumentError, FileKey, SEGMENT_SIZE, Sealed};
use crate::event::{ClinicalEventBuilder, EventError};
use crate::fhir::Resource;
use crate::keys::Identity;
use crate::management::{ManagementClient, ManagementError};
use crate::net::{NetError, PublishOutcome, RelayClient};
use crate::practice::{self, Plan};
use crate::rotation::{PlanError, RosterChange};

mod report;

pub use report::{EventNote, ImportReport, KindTally};
use report::{dry_run, finish};

/// Events per relay page and per publish batch.
const PAGE: usize = 5000;
const BATCH: usize = 200;

/// Why an import stopped. Messages carry no PHI.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ImportError {
    /// The old and the new relay are one: the practice's own events would be read as legacy.
    #[error("the legacy relay and the practice relay must differ")]
    SameRelay,
    /// A relay could not be reached or answered wrongly.
    #[error(transparent)]
    Net(#[from] NetError),
    /// A Blossom server could not be reached or refused.
    #[error(transparent)]
    Blossom(#[from] BlossomError),
    /// The relay's management API refused.
    #[error(transparent)]
    Management(#[from] ManagementError),
    /// A roster, grant or wrap could not be planned (the actor's role, a missing key).
    #[error(transparent)]
    Plan(#[from] PlanError),
    /// The actor cannot write a patient's chart yet.
    #[error(transparent)]
    Access(#[from] AccessError),
    /// An event could not be built.
    #[error(transparent)]
    Event(#[from] EventError),
    /// A document could not be opened or sealed.
    #[error("document of legacy event {event}: {reason}")]
    Document {
        /// The legacy event.
        event: EventId,
        /// Why.
        reason: String,
    },
    /// The relay refused an event.
    #[error("the practice relay refused a kind {kind} event: {message}")]
    Refused {
        /// The kind.
        kind: u16,
        /// The relay's message.
        message: String,
    },
    /// Documents to import, and no Blossom server to put them on.
    #[error("the legacy practice has documents: name the new Blossom server (--blossom)")]
    NoBlossom,
    /// Local scratch files.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
}

/// Where things are, and what to do.
#[derive(Debug, Clone)]
pub struct ImportConfig {
    /// The old relay (the reference's).
    pub legacy_relay: String,
    /// The new practice's relay.
    pub practice_relay: String,
    /// The new practice's root key.
    pub root: PublicKey,
    /// The new practice's Blossom server, for documents.
    pub blossom: Option<String>,
    /// Where the legacy blobs are (by default the server named in each attachment URL).
    pub legacy_blossom: Option<String>,
    /// Plan and report only.
    pub dry_run: bool,
    /// Relay round trips.
    pub timeout: Duration,
}

/// What the new practice already holds.
pub(super) struct State {
    events: Vec<Event>,
    view: PracticeView,
    present: BTreeSet<OutputKey>,
}

async fn state(
    client: &RelayClient,
    root: &PublicKey,
    actor: &Identity,
) -> Result<State, ImportError> {
    let events = client
        .fetch_all(Filter::new().kinds(crate::kinds::practice_kinds()), PAGE)
        .await?;
    let view = PracticeView::load(root, events.iter(), actor);
    let present = view
        .open(events.iter(), None)
        .records
        .iter()
        .filter_map(|r| OutputKey::of(&r.resource))
        .collect();
    Ok(State {
        events,
        view,
        present,
    })
}

impl State {
    /// What a practice operation plans from.
    fn planning<'a>(
        &'a self,
        actor: &'a Identity,
        root: PublicKey,
        now: Timestamp,
    ) -> practice::State<'a> {
        practice::State {
            root,
            events: &self.events,
            actor,
            now,
        }
    }
}

/// Publish `plan`, and return the state after it (`state` itself when there was nothing).
async fn publish_plan(
    client: &RelayClient,
    plan: Plan,
    report: &mut ImportReport,
    state: State,
    config: &ImportConfig,
    actor: &Identity,
) -> Result<State, ImportError> {
    if plan.is_empty() {
        return Ok(state);
    }
    publish(client, plan.events(), report).await?;
    self::state(client, &config.root, actor).await
}

async fn publish(
    client: &RelayClient,
    events: &[Event],
    report: &mut ImportReport,
) -> Result<(), ImportError> {
    for batch in events.chunks(BATCH) {
        for (event, outcome) in batch.iter().zip(client.publish(batch).await?) {
            let kind = event.kind.as_u16();
            match outcome {
                PublishOutcome::Accepted => *report.published.entry(kind).or_insert(0) += 1,
                PublishOutcome::Refused { message } if message.starts_with("duplicate:") => {}
                PublishOutcome::Refused { message } => {
                    return Err(ImportError::Refused { kind, message });
                }
            }
        }
    }
    Ok(())
}

/// Read every legacy event from the old relay, authenticating as `legacy`.
pub async fn read_legacy(
    config: &ImportConfig,
    legacy: &Identity,
) -> Result<Vec<Event>, ImportError> {
    if crate::connection::same_relay_url(&config.legacy_relay, &config.practice_relay) {
        return Err(ImportError::SameRelay);
    }
    let client = RelayClient::connect(&config.legacy_relay, legacy, config.timeout).await?;
    let kinds: Vec<Kind> = source::legacy_kinds().into_iter().map(Kind::from).collect();
    let events = client.fetch_all(Filter::new().kinds(kinds), PAGE).await;
    client.disconnect().await;
    Ok(events?)
}

/// Run the import. `legacy` authenticates to the old relay and Blossom server and opens the
/// legacy events: as the legacy practice key itself (`legacy_practice` `None` or equal to it),
/// or as a legacy staff member through her grants (`legacy_practice` names the practice).
/// `actor`, an admin of the new practice, signs everything new.
pub async fn run(
    config: &ImportConfig,
    legacy: &Identity,
    legacy_practice: Option<PublicKey>,
    actor: &Identity,
) -> Result<ImportReport, ImportError> {
    let legacy_events = read_legacy(config, legacy).await?;
    let keyring = match legacy_practice {
        Some(practice) if practice != legacy.public_key() => {
            LegacyKeyring::from_staff_grants(practice, legacy, legacy_events.iter())
        }
        _ => LegacyKeyring::from_practice_key(legacy),
    };
    let analysis = plan::analyse(&legacy_events, &keyring);
    let client = RelayClient::connect(&config.practice_relay, actor, config.timeout).await?;
    let result = run_plan(config, &analysis, legacy, actor, &client).await;
    client.disconnect().await;
    result
}

async fn run_plan(
    config: &ImportConfig,
    analysis: &Analysis,
    legacy: &Identity,
    actor: &Identity,
    client: &RelayClient,
) -> Result<ImportReport, ImportError> {
    let mut report = ImportReport {
        dry_run: config.dry_run,
        ..ImportReport::default()
    };
    let state = state(client, &config.root, actor).await?;
    if config.dry_run {
        dry_run(analysis, &state, &mut report);
        finish(analysis, &state, &mut report);
        return Ok(report);
    }

    let state = organise(config, analysis, actor, client, state, &mut report).await?;

    // 4. Patients and guardians may use the new relay.
    admit(config, analysis, actor).await?;

    // 5. Records.
    let blossom = config
        .blossom
        .as_deref()
        .map(BlossomClient::new)
        .transpose()?;
    let mut events = Vec::new();
    for record in analysis.missing(&state.present) {
        let mut resource = record.resource.clone();
        if let Some(file) = &record.file {
            // What is signed goes out first: a document's move is the slow, fallible part.
            publish(client, &events, &mut report).await?;
            events.clear();
            let target = blossom.as_ref().ok_or(ImportError::NoBlossom)?;
            move_document(config, record, file, &mut resource, legacy, actor, target).await?;
            report.documents_moved += 1;
        }
        let builder = ClinicalEventBuilder::new(record.kind, resource, record.patient)?;
        let event = state.view.sign_record(actor, builder)?.event().clone();
        events.push(event);
        if events.len() >= BATCH {
            publish(client, &events, &mut report).await?;
            events.clear();
        }
    }
    publish(client, &events, &mut report).await?;

    // 6. The check, against what the relay holds now.
    let state = self::state(client, &config.root, actor).await?;
    finish(analysis, &state, &mut report);
    Ok(report)
}

/// Stages 1 to 3: members, patients' first chart keys, guardianships. Each is one practice
/// operation, so each ends with the full key maintenance.
async fn organise(
    config: &ImportConfig,
    analysis: &Analysis,
    actor: &Identity,
    client: &RelayClient,
    mut state: State,
    report: &mut ImportReport,
) -> Result<State, ImportError> {
    // 1. Members, one roster change each (with the epoch grants and maintenance that follow).
    for member in &analysis.members {
        let now = Timestamp::now();
        if on_roster(&state.view, &member.pubkey, now) {
            continue;
        }
        let change = RosterChange::Add {
            pubkey: member.pubkey,
            role: member.role,
            name: member.name.clone(),
        };
        let plan = practice::change_roster(&state.planning(actor, config.root, now), &change)?;
        publish(client, plan.events(), report).await?;
        report
            .members_added
            .push((member.pubkey.to_hex(), member.role.as_str().to_owned()));
        state = self::state(client, &config.root, actor).await?;
    }
    // Whatever an interrupted run left pending.
    let plan = practice::maintain(&state.planning(actor, config.root, Timestamp::now()))?;
    state = publish_plan(client, plan, report, state, config, actor).await?;

    // 2. Patients: a first chart key each.
    report.patients_enrolled += analysis
        .patients
        .keys()
        .filter(|patient| state.view.newest_version(patient).is_none())
        .count();
    let plan = practice::enrol_patients(
        &state.planning(actor, config.root, Timestamp::now()),
        analysis.patients.keys(),
    )?;
    state = publish_plan(client, plan, report, state, config, actor).await?;

    // 3. Guardianships, and the wards' keys wrapped to their guardians. A staff or agent key
    // is never a guardian here (it stays pending in the report).
    let pairs = analysis
        .guardianships
        .iter()
        .filter(|(_, guardian)| !state.view.is_practice_key(guardian));
    let plan = practice::set_guardianships(
        &state.planning(actor, config.root, Timestamp::now()),
        pairs.map(|(ward, guardian)| (ward, guardian)),
        crate::grants::GuardianshipStatus::Active,
    )?;
    report.guardianships_recorded += plan
        .events()
        .iter()
        .filter(|e| e.kind.as_u16() == crate::kinds::GUARDIANSHIP)
        .count();
    state = publish_plan(client, plan, report, state, config, actor).await?;
    Ok(state)
}

pub(super) fn on_roster(view: &PracticeView, pubkey: &PublicKey, at: Timestamp) -> bool {
    view.roster()
        .members_at(at)
        .iter()
        .any(|m| m.pubkey == *pubkey)
}

/// NIP-86: patients as `patient`, guardians (a patient too, perhaps) as `guardian`; keys that
/// already have the role are left alone.
async fn admit(
    config: &ImportConfig,
    analysis: &Analysis,
    actor: &Identity,
) -> Result<(), ImportError> {
    let management = ManagementClient::for_relay(&config.practice_relay)?;
    let listed = management
        .call(actor, "listallowedpubkeys", Vec::new())
        .await?;
    let mut roles: BTreeMap<String, String> = BTreeMap::new();
    for entry in listed.as_array().into_iter().flatten() {
        if let (Some(key), Some(reason)) = (
            entry.get("pubkey").and_then(Value::as_str),
            entry.get("reason").and_then(Value::as_str),
        ) {
            roles.insert(key.to_owned(), reason.to_owned());
        }
    }
    let has = |key: &PublicKey, role: &str| {
        roles
            .get(&key.to_hex())
            .is_some_and(|r| r.split(',').any(|x| x == role))
    };
    for patient in analysis.patients.keys() {
        if !has(patient, "patient") {
            management
                .call(actor, "allowpubkey", vec![Value::String(patient.to_hex())])
                .await?;
        }
    }
    let guardians: BTreeSet<PublicKey> = analysis.guardianships.iter().map(|(_, g)| *g).collect();
    for guardian in guardians {
        if !has(&guardian, "guardian") {
            management
                .call(
                    actor,
                    "assignrole",
                    vec![
                        Value::String(guardian.to_hex()),
                        Value::String("guardian".into()),
                    ],
                )
                .await?;
        }
    }
    Ok(())
}

/// A scratch file, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(label: &str) -> Self {
        Self(std::env::temp_dir().join(format!("ehr-import-{label}-{}", crate::demo::new_id())))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Fetch a legacy blob by hash, open it with its legacy key, seal it under a new key, upload
/// it to the new server and point the DocumentReference at it.
async fn move_document(
    config: &ImportConfig,
    record: &PlannedRecord,
    file: &LegacyFile,
    resource: &mut Resource,
    legacy: &Identity,
    actor: &Identity,
    target: &BlossomClient,
) -> Result<(), ImportError> {
    let failed = |reason: &str| ImportError::Document {
        event: record.source,
        reason: reason.to_owned(),
    };
    let server = config
        .legacy_blossom
        .clone()
        .or_else(|| {
            file.url
                .as_deref()
                .and_then(|u| u.rsplit_once('/'))
                .map(|(base, _)| base.to_owned())
        })
        .ok_or_else(|| failed("no legacy Blossom server: name it with --legacy-blossom"))?;
    let source = BlossomClient::new(&server)?;
    let downloaded = Scratch::new("legacy");
    source.download(legacy, &file.sha256, &downloaded.0).await?;
    let blob = tokio::fs::read(&downloaded.0).await?;
    let plain = document::open_single(&file.key, &blob)
        .map_err(|e: DocumentError| failed(&e.to_string()))?;
    if file.size.is_some_and(|size| size != plain.len() as u64) {
        return Err(failed(
            "the file's size differs from the size the record gives",
        ));
    }
    let key = FileKey::generate().map_err(|e| failed(&e.to_string()))?;
    let sealed_file = Scratch::new("sealed");
    let sealed = seal(&key, &plain, &sealed_file.0).map_err(|e| failed(&e.to_string()))?;
    let descriptor = target
        .upload(actor, &sealed_file.0, &sealed.ciphertext_sha256)
        .await?;
    if descriptor.sha256 != sealed.ciphertext_sha256 {
        return Err(failed(
            "the Blossom server stored different bytes than were sent",
        ));
    }
    if let Resource::DocumentReference(document) = resource {
        blossom::attach_file(document, &sealed, &key, &descriptor);
    }
    Ok(())
}

fn seal(key: &FileKey, plain: &[u8], out: &Path) -> Result<Sealed, DocumentError> {
    if plain.len() <= SEGMENT_SIZE {
        let (blob, sealed) = document::seal_single_described(key, plain)?;
        std::fs::write(out, &blob)?;
        return Ok(sealed);
    }
    let writer = std::io::BufWriter::new(std::fs::File::create_new(out)?);
    document::seal_stream(key, plain, writer)
}
