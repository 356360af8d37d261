//! Following the relay: one authenticated connection, a catch-up, then one live subscription.
//!
//! The gateway's view ([`PracticeView`] as its own agent key) holds only the chart keys wrapped
//! to it. A patient is served while the gateway holds the newest chart-key version anyone has
//! announced (in a wrap, or in a clinical event's `chart-key` tag) and the patient's newest
//! Consent names a facility: a withdrawal, or a rotation away from the gateway, takes the
//! patient out of the next snapshot. Decrypted records stay in this task's memory.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::num::NonZero;
use std::sync::Arc;
use std::time::Duration;

use ehr_client::access::PracticeView;
use ehr_client::event::VerifiedEvent;
use ehr_client::kinds::{self, ClinicalKind};
use ehr_client::net::{PublishOutcome, RelayClient};
use ehr_client::roster::{Role, RosterChain};
use ehr_client::tags::{TAG_CHART_KEY, TAG_PATIENT, first_value, parse_number, parse_public_key};
use nostr::prelude::{Event, EventId, Filter, Kind, PublicKey, Timestamp};
use tokio::sync::{Notify, watch};

use crate::config::Config;
use crate::error::GatewayError;
use crate::link::LinkSender;
use crate::provenance::open_sealed;
use crate::served::{PatientIndex, Sharing, SummaryAuthor};
use crate::store::Store;

mod live;
mod records;

use records::{CompactRecord, PatientRecords, Pending};

/// Events per page of the catch-up (the relay may cap it lower; `fetch_all` asks).
const PAGE: usize = 5000;

/// Audit events published per round.
const OUTBOX_BATCH: i64 = 200;

/// How long a deferred audit event waits before it is offered again.
const OUTBOX_RETRY: Duration = Duration::from_secs(5);

/// What requests are answered from: the served patients by their gateway id, and the roster
/// (who may administer the gateway, and the epoch audit events are sealed to).
#[derive(Debug, Default)]
pub struct Snapshot {
    /// Served patients (consenting, readable), by Patient id.
    pub patients: HashMap<String, Arc<PatientIndex>>,
    /// The verified roster chain.
    pub roster: Arc<RosterChain>,
    /// Clinical events the gateway has opened with its keys, served or not (its catch-up
    /// status for admins: events it cannot open are not counted).
    pub events: usize,
    /// The newest `created_at` of any clinical event the relay sent it (Unix seconds), opened
    /// or not; `None` before the first.
    pub last_event_at: Option<u64>,
    /// Every patient a clinical event names, served or not: the patients who may keep SMART
    /// Health Links here ([`crate::shl`]).
    pub known_patients: Arc<HashSet<PublicKey>>,
}

/// The follower's state.
pub struct Follower {
    config: Arc<Config>,
    organisation: HashMap<EventId, Event>,
    /// Shared with the catch-up's decryption workers.
    view: Arc<PracticeView>,
    records: HashMap<PublicKey, PatientRecords>,
    /// The highest chart-key version a clinical event was written under, per patient.
    referenced: HashMap<PublicKey, u32>,
    /// The newest Consent event each patient signed herself (Unix seconds). The gateway cannot
    /// open it (it is under the epoch key), so it cannot tell a grant from a withdrawal: a
    /// patient with one at or after the practice's newest recorded consent is not served until
    /// the practice records it (`ehr rotate`), so a withdrawal stops sharing at once.
    patient_consents: HashMap<PublicKey, u64>,
    indexes: HashMap<PublicKey, Arc<PatientIndex>>,
    /// Who the summaries made at each fold are authored by.
    author: Arc<SummaryAuthor>,
    /// Opened event ids are kept after indexing only from this time on (Unix seconds): the
    /// live subscription delivers nothing older again.
    keep_ids_from: u64,
    /// The newest `created_at` of a clinical event received (Unix seconds).
    last_event_at: Option<u64>,
    roster: Arc<RosterChain>,
    snapshot: watch::Sender<Arc<Snapshot>>,
    store: Store,
    outbox: Arc<Notify>,
    link: LinkSender,
}

impl std::fmt::Debug for Follower {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Follower")
            .field("patients", &self.indexes.len())
            .finish_non_exhaustive()
    }
}

fn clinical_filter() -> Filter {
    Filter::new().kinds(ClinicalKind::ALL.iter().map(|k| Kind::Custom(k.as_u16())))
}

fn organisation_filter() -> Filter {
    Filter::new().kinds([
        Kind::Custom(kinds::ROSTER),
        Kind::Custom(kinds::CHART_KEY_WRAP),
    ])
}

impl Follower {
    /// A follower that has seen nothing yet; its snapshots go to `snapshot`, and it publishes
    /// the audit events queued in `store` whenever `outbox` is notified.
    pub fn new(
        config: Arc<Config>,
        snapshot: watch::Sender<Arc<Snapshot>>,
        store: Store,
        outbox: Arc<Notify>,
        link: LinkSender,
    ) -> Self {
        let view = Arc::new(PracticeView::load(
            &config.practice,
            std::iter::empty(),
            &config.key,
        ));
        let author = Arc::new(SummaryAuthor {
            practice_name: config.practice_name.clone().unwrap_or_default(),
            practice_key: config.practice,
        });
        Self {
            author,
            keep_ids_from: 0,
            config,
            organisation: HashMap::new(),
            view,
            records: HashMap::new(),
            referenced: HashMap::new(),
            patient_consents: HashMap::new(),
            indexes: HashMap::new(),
            last_event_at: None,
            roster: Arc::default(),
            snapshot,
            store,
            outbox,
            link,
        }
    }

    /// Connect, authenticate and catch up; returns the connection and when the catch-up
    /// began (the live subscription starts a little before it, so nothing falls between).
    ///
    /// The clinical events come page by page: while the relay sends one page, the last one is
    /// decrypted on every core, and no page is held longer than it takes to open it. Signatures
    /// are checked once, by the transport ([`ehr_client::net`]).
    pub async fn catch_up(&mut self) -> Result<(RelayClient, Timestamp), GatewayError> {
        let client = RelayClient::connect(
            &self.config.relay_url,
            &self.config.key,
            self.config.relay_timeout,
        )
        .await?;
        let started = Timestamp::now();
        // The live subscription starts two minutes before this (`follow`): a margin more.
        self.keep_ids_from = started.as_secs().saturating_sub(180);
        let organisation = client.fetch_all(organisation_filter(), PAGE).await?;
        self.organisation = organisation.into_iter().map(|e| (e.id, e)).collect();
        self.reload_view();
        self.records.clear();
        self.referenced.clear();
        self.patient_consents.clear();
        let mut pages = client.pages(clinical_filter(), PAGE).await;
        let mut opening = Vec::new();
        let mut events = 0usize;
        loop {
            let (page, opened) = tokio::join!(
                pages.next(&client),
                opened_records(std::mem::take(&mut opening))
            );
            for opened in opened? {
                self.records
                    .entry(opened.patient)
                    .or_default()
                    .insert(opened);
            }
            let Some(page) = page? else {
                break;
            };
            events += page.len();
            let fresh: Vec<VerifiedEvent> = page
                .into_iter()
                .filter(|event| self.is_fresh(event.event(), &mut BTreeSet::new()))
                .collect();
            opening = self.open_in_parallel(fresh);
        }
        self.indexes.clear();
        self.build_all().await?;
        if self.named_in_roster() {
            self.link.following();
        } else {
            self.link.refused();
        }
        tracing::info!(
            events,
            served = self.snapshot.borrow().patients.len(),
            "caught up with the relay"
        );
        Ok((client, started))
    }

    /// Open `events` on every core: one blocking task per core, each with its share.
    fn open_in_parallel(
        &self,
        mut events: Vec<VerifiedEvent>,
    ) -> Vec<tokio::task::JoinHandle<Vec<CompactRecord>>> {
        let share = events.len().div_ceil(workers()).max(1);
        let mut tasks = Vec::new();
        while !events.is_empty() {
            let part = events.split_off(events.len().saturating_sub(share));
            let view = Arc::clone(&self.view);
            tasks.push(tokio::task::spawn_blocking(move || {
                open_sealed(&view, part)
                    .into_iter()
                    .map(CompactRecord::of)
                    .collect()
            }));
        }
        tasks
    }

    /// Build the index of every patient the gateway may serve, on every core, and publish.
    /// Each patient's records are dropped as soon as her index is built.
    async fn build_all(&mut self) -> Result<(), GatewayError> {
        let keep_from = self.keep_ids_from;
        let mut pending: Vec<(PublicKey, Pending)> = Vec::new();
        let patients: Vec<PublicKey> = self.records.keys().copied().collect();
        for patient in patients {
            let serve = self.holds_newest(&patient);
            if let Some(records) = self.records.get_mut(&patient) {
                let taken = records.take(keep_from);
                if serve {
                    pending.push((patient, taken));
                }
            }
        }
        let share = pending.len().div_ceil(workers()).max(1);
        let mut tasks = Vec::new();
        while !pending.is_empty() {
            let part = pending.split_off(pending.len().saturating_sub(share));
            let author = Arc::clone(&self.author);
            tasks.push(tokio::task::spawn_blocking(move || {
                part.into_iter()
                    .map(|(patient, records)| (patient, Arc::new(records.index(&patient, &author))))
                    .collect::<Vec<_>>()
            }));
        }
        let mut built = Vec::new();
        for task in tasks {
            built.push(task.await.map_err(|_| worker_failed())?);
        }
        self.indexes.extend(built.into_iter().flatten());
        self.publish();
        Ok(())
    }

    /// Does the verified roster name this gateway's key as the practice's FHIR gateway now?
    fn named_in_roster(&self) -> bool {
        self.roster
            .role_at(&self.config.key.public_key(), Timestamp::now())
            == Some(Role::FhirGateway)
    }

    fn reload_view(&mut self) {
        self.view = Arc::new(PracticeView::load(
            &self.config.practice,
            self.organisation.values(),
            &self.config.key,
        ));
        self.roster = Arc::new(self.view.roster().clone());
    }

    /// Publish one batch of queued audit events on this connection. Accepted ones, and ones
    /// the relay refuses for good (`invalid:`, `blocked:`, `restricted:`), leave the queue; a
    /// refusal for now (`rate-limited:`, `error:`, ...) keeps the rest queued and asks to be
    /// retried at the returned instant; a full batch wakes the publisher again.
    async fn publish_audit(
        &self,
        client: &RelayClient,
    ) -> Result<Option<tokio::time::Instant>, GatewayError> {
        let pending = self.store.outbox(OUTBOX_BATCH).await?;
        let outcomes = client.publish(&pending).await?;
        for (event, outcome) in pending.iter().zip(outcomes) {
            if let PublishOutcome::Refused { message } = outcome {
                let for_good = ["invalid:", "blocked:", "restricted:"]
                    .iter()
                    .any(|prefix| message.starts_with(prefix));
                if !for_good {
                    tracing::info!(%message, "the relay deferred an audit event; retrying later");
                    return Ok(Some(tokio::time::Instant::now() + OUTBOX_RETRY));
                }
                tracing::warn!(%message, "the relay refused an audit event; it stays in the local log only");
            }
            self.store.outbox_done(event).await?;
        }
        if i64::try_from(pending.len()).is_ok_and(|n| n == OUTBOX_BATCH) {
            self.outbox.notify_one();
        }
        Ok(None)
    }

    /// Open clinical events the transport verified (no second signature check) with the
    /// gateway's keys; the patients whose records or announced versions changed (an event seen
    /// before changes nothing and is not opened again).
    fn add_verified(&mut self, events: Vec<VerifiedEvent>) -> BTreeSet<PublicKey> {
        let mut patients = BTreeSet::new();
        let fresh: Vec<VerifiedEvent> = events
            .into_iter()
            .filter(|event| self.is_fresh(event.event(), &mut patients))
            .collect();
        for opened in open_sealed(&self.view, fresh) {
            let record = CompactRecord::of(opened);
            patients.insert(record.patient);
            self.records
                .entry(record.patient)
                .or_default()
                .insert(record);
        }
        patients
    }

    /// Whether `event` is about a patient and not opened before; notes a newer chart-key
    /// version it names, adding its patient to `patients`.
    fn is_fresh(&mut self, event: &Event, patients: &mut BTreeSet<PublicKey>) -> bool {
        let at = event.created_at.as_secs();
        self.last_event_at = Some(self.last_event_at.map_or(at, |last| last.max(at)));
        let Some(patient) = patient_of(event) else {
            return false;
        };
        if self
            .records
            .get(&patient)
            .is_some_and(|r| r.ids.contains(&event.id))
        {
            return false;
        }
        // The transport verified the signature: the patient herself signed a consent event.
        if event.kind.as_u16() == ClinicalKind::Consent.as_u16() && event.pubkey == patient {
            let newest = self.patient_consents.entry(patient).or_default();
            if event.created_at.as_secs() > *newest {
                *newest = event.created_at.as_secs();
                patients.insert(patient);
            }
        }
        if let Some(version) = chart_key_version(event) {
            let highest = self.referenced.entry(patient).or_default();
            if version > *highest {
                *highest = version;
                patients.insert(patient);
            }
        }
        true
    }

    /// Whether the gateway holds the newest chart key of `patient` anyone has announced.
    fn holds_newest(&self, patient: &PublicKey) -> bool {
        let Some(held) = self.view.latest_chart_key(patient).map(|k| k.version()) else {
            return false;
        };
        let announced = self.view.newest_version(patient).unwrap_or(0);
        let written = self.referenced.get(patient).copied().unwrap_or(0);
        held >= announced.max(written)
    }

    /// Rebuild the indexes of `changed` patients, judge `patients` again, and publish. A
    /// patient whose newest key the gateway no longer holds leaves the snapshot at once, and so
    /// do the `changed` ones when `hide_first`; the others are served as they were until their
    /// new index is built.
    async fn regate(
        &mut self,
        client: &RelayClient,
        patients: &BTreeSet<PublicKey>,
        changed: &BTreeSet<PublicKey>,
        hide_first: bool,
    ) -> Result<(), GatewayError> {
        let mut hidden = false;
        for patient in patients {
            if !self.holds_newest(patient) {
                hidden |= self.indexes.remove(patient).is_some();
            }
        }
        for patient in changed {
            hidden |= self.indexes.remove(patient).is_some() && hide_first;
        }
        if hidden {
            self.publish();
        }
        self.rebuild(client, patients).await
    }

    /// Index each of `patients` the gateway may serve and has no index of, from her events
    /// read again from the relay (records are not kept once indexed) and any opened since.
    async fn rebuild(
        &mut self,
        client: &RelayClient,
        patients: &BTreeSet<PublicKey>,
    ) -> Result<(), GatewayError> {
        for patient in patients {
            if !self.holds_newest(patient) {
                self.indexes.remove(patient);
                if let Some(records) = self.records.get_mut(patient) {
                    records.take(self.keep_ids_from);
                }
                continue;
            }
            if self.indexes.contains_key(patient) {
                continue;
            }
            let mut events = Vec::new();
            let mut pages = client.pages(clinical_filter().pubkey(*patient), PAGE).await;
            while let Some(page) = pages.next(client).await? {
                events.extend(page);
            }
            let view = Arc::clone(&self.view);
            let opened = tokio::task::spawn_blocking(move || {
                open_sealed(&view, events)
                    .into_iter()
                    .map(CompactRecord::of)
                    .collect::<Vec<_>>()
            })
            .await
            .map_err(|_| worker_failed())?;
            let keep_from = self.keep_ids_from;
            let records = self.records.entry(*patient).or_default();
            // What was opened before this read (a live event the relay may not list yet)
            // counts too, each event once.
            let mut pending = records.take(keep_from);
            let mut have: HashSet<EventId> = pending.metas.iter().map(|m| m.event_id).collect();
            for record in opened {
                let id = record.meta.event_id;
                if record.meta.created_at.as_secs() >= keep_from {
                    records.ids.insert(id);
                }
                if have.insert(id) {
                    pending.push(record);
                }
            }
            records.opened = have.len();
            let author = Arc::clone(&self.author);
            let who = *patient;
            let index = tokio::task::spawn_blocking(move || pending.index(&who, &author))
                .await
                .map_err(|_| worker_failed())?;
            self.indexes.insert(*patient, Arc::new(index));
        }
        self.publish();
        Ok(())
    }

    /// Publish the served patients as the new snapshot.
    fn publish(&self) {
        let served = self
            .indexes
            .values()
            .filter(|index| index.sharing != Sharing::Nobody || index.emergency)
            .filter(|index| {
                self.patient_consents
                    .get(&index.patient)
                    .is_none_or(|signed| *signed < index.consent_at)
            })
            .map(|index| (index.id.clone(), Arc::clone(index)))
            .collect();
        self.snapshot.send_replace(Arc::new(Snapshot {
            patients: served,
            roster: Arc::clone(&self.roster),
            events: self.records.values().map(|r| r.opened).sum(),
            last_event_at: self.last_event_at,
            known_patients: Arc::new(self.referenced.keys().copied().collect()),
        }));
    }
}

/// How many blocking tasks the catch-up spreads its work over: one per core.
fn workers() -> usize {
    std::thread::available_parallelism().map_or(1, NonZero::get)
}

fn worker_failed() -> GatewayError {
    GatewayError::Unavailable("a catch-up worker failed")
}

/// The records the catch-up's decryption workers opened.
async fn opened_records(
    tasks: Vec<tokio::task::JoinHandle<Vec<CompactRecord>>>,
) -> Result<Vec<CompactRecord>, GatewayError> {
    let mut records = Vec::new();
    for task in tasks {
        records.extend(task.await.map_err(|_| worker_failed())?);
    }
    Ok(records)
}

/// The patient an event names (`p`), unverified: used to route it, never to trust it.
fn patient_of(event: &Event) -> Option<PublicKey> {
    first_value(event, TAG_PATIENT).and_then(parse_public_key)
}

/// The chart-key version a clinical event names, unverified: used only to notice that a newer
/// version exists, which can only take a patient out.
fn chart_key_version(event: &Event) -> Option<u32> {
    first_value(event, TAG_CHART_KEY).and_then(parse_number)
}

/// Follow the relay for as long as the gateway runs: reconnect and catch up again after any
/// failure, waiting longer after each (up to a minute).
pub async fn run(mut follower: Follower, client: RelayClient, since: Timestamp) {
    let mut connection = Some((client, since));
    let mut delay = Duration::from_secs(1);
    loop {
        if let Some((client, since)) = connection.take() {
            match follower.follow(&client, since).await {
                Err(error) if crate::link::is_refusal(&error) => {
                    tracing::warn!(%error, "the relay refuses the gateway; serving nothing");
                    follower.link.refused();
                }
                Err(error) => {
                    tracing::warn!(%error, "lost the relay subscription; reconnecting");
                    follower.link.lost();
                }
                Ok(()) => follower.link.lost(),
            }
            client.disconnect().await;
        }
        tokio::time::sleep(delay).await;
        match follower.catch_up().await {
            Ok(next) => {
                delay = Duration::from_secs(1);
                connection = Some(next);
            }
            Err(error) => {
                if crate::link::is_refusal(&error) {
                    follower.link.refused();
                } else {
                    follower.link.lost();
                }
                tracing::warn!(%error, "cannot catch up with the relay");
                delay = (delay * 2).min(Duration::from_secs(60));
            }
        }
    }
}
