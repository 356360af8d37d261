//! What one reader can verify and open in a practice (DESIGN.md §2, §6 invariants 3, 4, 7).
//!
//! [`PracticeView::load`] follows the roster chain from the root key, opens the epoch grants
//! and chart-key wraps addressed to the reader, and keeps only what an authorised key signed
//! at its `created_at`. Clinical events then pass the same test before they are decrypted and
//! folded: a forged roster, a wrap by a stranger or an event by a revoked member changes nothing.

use std::collections::{BTreeMap, BTreeSet};

use nostr::prelude::{Event, EventId, PublicKey, Timestamp};

use crate::chart::{self, FoldOptions};
use crate::event::{ClinicalEvent, ClinicalEventBuilder, ClinicalRecord, EventError};
use crate::grants::{
    ChartKeyWrap, EpochGrant, EpochKey, GrantError, Guardianship, GuardianshipStatus, WrapRecipient,
};
use crate::keys::{ChartKey, Identity};
use crate::kinds::{self, ClinicalKind, Domain};
use crate::roster::{Role, RosterChain, verify_roster_chain};

mod opening;
mod patient;
mod signer;

use opening::{open_events, select_events};
pub use patient::{open_as_patient, open_as_patient_with, patient_chart, patient_chart_with};
use signer::ReaderKey;

/// How far ahead of the reader's clock a guardianship may be dated and still count now.
pub const CLOCK_SKEW_SECS: u64 = 120;

/// Why an event was not used. No variant carries PHI or key material.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum AccessError {
    /// The signer was not authorised for this at `created_at`.
    #[error("signer not authorised for this event at its created_at")]
    NotAuthorised,
    /// A grant or wrap was malformed or could not be opened.
    #[error(transparent)]
    Grant(#[from] GrantError),
    /// A clinical event was malformed or could not be opened.
    #[error(transparent)]
    Event(#[from] EventError),
    /// The reader holds no key for this event.
    #[error("no key for this event")]
    NoKey,
    /// The newest chart key is not readable, or not yet wrapped under the current epoch.
    #[error("chart key rotation pending for this patient")]
    RotationPending,
    /// The roster chain has no valid roster.
    #[error("no valid roster for this practice")]
    NoRoster,
}

// The write rule lives with the kinds; re-exported here for older paths.
pub use crate::kinds::patient_may_write;

/// Whether `event`'s signer was authorised by `roster` to write it at its `created_at`:
/// the patient for the kinds of [`patient_may_write`], a member whose role may write the kind.
pub fn authorise(roster: &RosterChain, event: &ClinicalEvent) -> Result<(), AccessError> {
    let author = event.author();
    let allowed = if author == event.patient() {
        patient_may_write(event.kind())
    } else {
        roster
            .role_at(&author, event.event().created_at)
            .is_some_and(|role| role.may_write(event.kind()))
    };
    if allowed {
        Ok(())
    } else {
        Err(AccessError::NotAuthorised)
    }
}

/// For an office copy, whether the original it names was written by a key authorised for it at
/// its own time (the copier was checked by [`authorise`]): a copy cannot put words in another
/// author's mouth that she was never allowed to write.
pub fn authorise_original(
    roster: &RosterChain,
    record: &ClinicalRecord,
) -> Result<(), AccessError> {
    if record.copied_by.is_none() {
        return Ok(());
    }
    let allowed = if record.author == record.patient {
        patient_may_write(record.kind)
    } else {
        roster
            .role_at(&record.author, record.created_at)
            .is_some_and(|role| role.may_write(record.kind))
    };
    if allowed {
        Ok(())
    } else {
        Err(AccessError::NotAuthorised)
    }
}

/// Records opened from a set of events, and the events refused with a reason.
#[derive(Debug, Clone, Default)]
pub struct Opened {
    /// Verified, authorised, decrypted records.
    pub records: Vec<ClinicalRecord>,
    /// Events that were refused, and why.
    pub refused: Vec<(EventId, AccessError)>,
}

/// The NIP-44 conversation keys of the epoch keys the reader holds with the members who wrapped
/// under them (secrets: never printed).
#[derive(Clone, Default)]
struct Conversations(
    std::collections::HashMap<(Domain, u64, PublicKey), crate::crypto::ConversationKey>,
);

impl std::fmt::Debug for Conversations {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Conversations(<{} redacted>)", self.0.len())
    }
}

/// A practice as one reader sees it: the verified roster chain and the keys the reader holds.
#[derive(Debug, Clone)]
pub struct PracticeView {
    root: PublicKey,
    reader: PublicKey,
    roster: RosterChain,
    epochs: BTreeMap<(Domain, u64), EpochKey>,
    chart_keys: BTreeMap<(PublicKey, Domain), BTreeMap<u32, Vec<ChartKey>>>,
    wraps: Vec<ChartKeyWrap>,
    granted: BTreeSet<(PublicKey, Domain, u64)>,
    conversations: Conversations,
    guardianships: BTreeMap<(PublicKey, PublicKey), Vec<Guardianship>>,
    refused: Vec<(EventId, AccessError)>,
}

impl PracticeView {
    /// Build the view of `reader` from every organisational event at hand (other kinds are
    /// skipped, so a whole relay dump may be passed).
    pub fn load<'a>(
        root: &PublicKey,
        events: impl IntoIterator<Item = &'a Event> + Clone,
        reader: &Identity,
    ) -> Self {
        Self::load_as(root, events, &ReaderKey::Held(reader))
    }

    fn load_as<'a>(
        root: &PublicKey,
        events: impl IntoIterator<Item = &'a Event> + Clone,
        reader: &ReaderKey<'_>,
    ) -> Self {
        let roster = verify_roster_chain(root, events.clone());
        let mut view = Self {
            root: *root,
            reader: reader.public_key(),
            roster,
            epochs: BTreeMap::new(),
            chart_keys: BTreeMap::new(),
            wraps: Vec::new(),
            granted: BTreeSet::new(),
            conversations: Conversations::default(),
            guardianships: BTreeMap::new(),
            refused: Vec::new(),
        };
        let mut seen = BTreeSet::new();
        let mut grants = Vec::new();
        let mut wraps = Vec::new();
        for event in events {
            if !seen.insert(event.id) {
                continue;
            }
            match event.kind.as_u16() {
                kinds::EPOCH_GRANT => grants.push(event),
                kinds::CHART_KEY_WRAP | kinds::GUARDIAN_GRANT => wraps.push(event),
                kinds::GUARDIANSHIP => view.add_guardianship(event),
                _ => {}
            }
        }
        // Epoch keys first: the wraps under them depend on them.
        for event in grants {
            view.add_epoch_grant(event, reader);
        }
        for event in wraps {
            view.add_wrap(event, reader);
        }
        view
    }

    /// Add one organisational event that arrived after [`PracticeView::load`] (a chart-key
    /// wrap, guardian grant, guardianship or epoch grant), checked as `load` checks it, without
    /// verifying everything again. Returns `false` for a roster (or any other kind): a roster
    /// changes the chain, and the view must be loaded again. So must it when an epoch grant
    /// arrives after wraps under that epoch.
    pub fn add(&mut self, event: &Event, reader: &Identity) -> bool {
        let reader = &ReaderKey::Held(reader);
        match event.kind.as_u16() {
            kinds::EPOCH_GRANT => self.add_epoch_grant(event, reader),
            kinds::CHART_KEY_WRAP | kinds::GUARDIAN_GRANT => self.add_wrap(event, reader),
            kinds::GUARDIANSHIP => self.add_guardianship(event),
            _ => return false,
        }
        true
    }

    fn authorised(&self, signer: &PublicKey, at: Timestamp, check: impl Fn(Role) -> bool) -> bool {
        *signer == self.root || self.roster.role_at(signer, at).is_some_and(check)
    }

    fn add_epoch_grant(&mut self, event: &Event, reader: &ReaderKey<'_>) {
        let grant = match EpochGrant::parse(event) {
            Ok(grant) => grant,
            Err(error) => return self.refused.push((event.id, error.into())),
        };
        if !self.authorised(&grant.granter, grant.created_at, Role::is_admin) {
            return self.refused.push((event.id, AccessError::NotAuthorised));
        }
        self.granted
            .insert((grant.member, grant.domain, grant.epoch));
        if grant.member != reader.public_key() {
            return;
        }
        match reader.open_grant(&grant) {
            Ok(keys) => {
                for key in keys {
                    let announced = self.roster.epoch_public_key_of(grant.domain, key.number);
                    if announced == Some(key.public_key()) {
                        self.epochs.insert((grant.domain, key.number), key);
                    } else {
                        self.refused
                            .push((event.id, GrantError::WrongEpochKey.into()));
                    }
                }
            }
            Err(error) => self.refused.push((event.id, error.into())),
        }
    }

    fn add_wrap(&mut self, event: &Event, reader: &ReaderKey<'_>) {
        let wrap = match ChartKeyWrap::parse(event) {
            Ok(wrap) => wrap,
            Err(error) => return self.refused.push((event.id, error.into())),
        };
        if !self.authorised(&wrap.author, wrap.created_at, Role::may_wrap_chart_keys) {
            return self.refused.push((event.id, AccessError::NotAuthorised));
        }
        // A staff or agent key holds keys by its role, which a revocation takes back; a guardian
        // grant would outlive that. Such a grant is never opened, but stays listed as a holding,
        // so maintenance sees it and rotates the key away from it.
        let staff_guardian = matches!(wrap.recipient,
            WrapRecipient::Guardian(guardian) if self.is_practice_key(&guardian));
        if staff_guardian {
            self.refused.push((event.id, AccessError::NotAuthorised));
        }
        let opened = match wrap.recipient {
            _ if staff_guardian => None,
            WrapRecipient::Epoch(number) => self.epochs.get(&(wrap.domain, number)).map(|epoch| {
                // One key exchange per epoch and author, not one per wrap: a practice has
                // thousands of wraps from a handful of members.
                let slot = (wrap.domain, number, wrap.author);
                let conversation = match self.conversations.0.get(&slot) {
                    Some(known) => *known,
                    None => {
                        let derived = crate::crypto::conversation_key(&epoch.secret, &wrap.author)
                            .map_err(GrantError::from)?;
                        self.conversations.0.insert(slot, derived);
                        derived
                    }
                };
                wrap.open_with_conversation(&conversation)
            }),
            WrapRecipient::Gateway(to) | WrapRecipient::Guardian(to) if to == self.reader => {
                Some(reader.open_direct_wrap(&wrap))
            }
            _ => None,
        };
        match opened {
            Some(Ok(keys)) => {
                let line = self
                    .chart_keys
                    .entry((wrap.patient, wrap.domain))
                    .or_default();
                for key in keys {
                    let same_version = line.entry(key.version()).or_default();
                    if !same_version.iter().any(|k| k.to_bytes() == key.to_bytes()) {
                        same_version.push(key);
                    }
                }
            }
            Some(Err(error)) => self.refused.push((event.id, error.into())),
            None => {}
        }
        self.wraps.push(wrap);
    }

    /// Add one guardianship record (kind 2106) that arrived after [`PracticeView::load`],
    /// checked as `load` checks it (an author who may wrap chart keys); no key is involved.
    pub fn add_guardianship(&mut self, event: &Event) {
        let record = match Guardianship::parse(event) {
            Ok(record) => record,
            Err(error) => return self.refused.push((event.id, error.into())),
        };
        if !self.authorised(&record.author, record.created_at, Role::may_wrap_chart_keys) {
            return self.refused.push((event.id, AccessError::NotAuthorised));
        }
        let records = self
            .guardianships
            .entry((record.ward, record.guardian))
            .or_default();
        if !records.iter().any(|r| r.id == record.id) {
            records.push(record);
        }
    }

    /// Whether `key` is the root or was ever named in the roster chain (staff or agent, current,
    /// past or future): such a key is never a guardian.
    pub fn is_practice_key(&self, key: &PublicKey) -> bool {
        *key == self.root || self.roster.ever_named(key)
    }

    /// The guardianship record of `guardian` over `ward` in force at `now`: the newest created
    /// at or before it (a record dated more than [`CLOCK_SKEW_SECS`] ahead counts only once
    /// its time comes), ties broken by id. As recorded: a practice key is not filtered out.
    pub fn guardianship_at(
        &self,
        ward: &PublicKey,
        guardian: &PublicKey,
        now: Timestamp,
    ) -> Option<&Guardianship> {
        let horizon = now.as_secs().saturating_add(CLOCK_SKEW_SECS);
        self.guardianships
            .get(&(*ward, *guardian))?
            .iter()
            .filter(|r| r.created_at.as_secs() <= horizon)
            .max_by_key(|r| (r.created_at, r.id))
    }

    /// The wards whose recorded guardianship by `guardian` is active at `now`, whether or not
    /// `guardian` is a practice key (what a staff revocation must end).
    pub fn recorded_wards_of(&self, guardian: &PublicKey, now: Timestamp) -> BTreeSet<PublicKey> {
        self.guardianships
            .keys()
            .filter(|(_, g)| g == guardian)
            .filter_map(|(ward, g)| self.guardianship_at(ward, g, now))
            .filter(|r| r.status == GuardianshipStatus::Active)
            .map(|r| r.ward)
            .collect()
    }

    /// The practice root key.
    pub fn root(&self) -> &PublicKey {
        &self.root
    }

    /// The verified roster chain.
    pub fn roster(&self) -> &RosterChain {
        &self.roster
    }

    /// Organisational events that were refused, and why.
    pub fn refused(&self) -> &[(EventId, AccessError)] {
        &self.refused
    }

    /// The clinical epoch keys the reader holds.
    pub fn epoch_keys(&self) -> impl Iterator<Item = &EpochKey> {
        self.epoch_keys_in(Domain::Clinical)
    }

    /// The epoch keys of `domain` the reader holds, oldest first.
    pub fn epoch_keys_in(&self, domain: Domain) -> impl Iterator<Item = &EpochKey> {
        self.epochs
            .iter()
            .filter(move |((d, _), _)| *d == domain)
            .map(|(_, key)| key)
    }

    /// The reader's key for the roster's current clinical epoch.
    pub fn current_epoch_key(&self) -> Option<&EpochKey> {
        self.current_epoch_key_in(Domain::Clinical)
    }

    /// The reader's key for the roster's current epoch of `domain`.
    pub fn current_epoch_key_in(&self, domain: Domain) -> Option<&EpochKey> {
        let (number, _) = self.roster.current_epoch_of(domain)?;
        self.epochs.get(&(domain, number))
    }

    /// Whether an authorised grant of clinical epoch `number` to `member` exists.
    pub fn has_epoch_grant(&self, member: &PublicKey, number: u64) -> bool {
        self.has_epoch_grant_in(member, Domain::Clinical, number)
    }

    /// Whether an authorised grant of `domain`'s epoch `number` to `member` exists.
    pub fn has_epoch_grant_in(&self, member: &PublicKey, domain: Domain, number: u64) -> bool {
        self.granted.contains(&(*member, domain, number))
    }

    /// Every patient with an authorised wrap of either domain.
    pub fn patients(&self) -> BTreeSet<PublicKey> {
        self.wraps.iter().map(|w| w.patient).collect()
    }

    /// Whether `patient` has an authorised wrap of either domain.
    pub fn is_enrolled(&self, patient: &PublicKey) -> bool {
        self.wraps.iter().any(|w| w.patient == *patient)
    }

    /// The authorised wraps of `patient`'s chart keys (the clinical domain).
    pub fn wraps_of(&self, patient: &PublicKey) -> impl Iterator<Item = &ChartKeyWrap> {
        self.wraps_in(patient, Domain::Clinical)
    }

    /// The authorised wraps of `patient`'s keys of `domain`.
    pub fn wraps_in(
        &self,
        patient: &PublicKey,
        domain: Domain,
    ) -> impl Iterator<Item = &ChartKeyWrap> {
        let patient = *patient;
        self.wraps
            .iter()
            .filter(move |w| w.patient == patient && w.domain == domain)
    }

    /// The highest chart-key version any authorised wrap announces for `patient`.
    pub fn newest_version(&self, patient: &PublicKey) -> Option<u32> {
        self.newest_version_in(patient, Domain::Clinical)
    }

    /// The highest version of `patient`'s key of `domain` that any authorised wrap announces.
    pub fn newest_version_in(&self, patient: &PublicKey, domain: Domain) -> Option<u32> {
        self.wraps_in(patient, domain).map(|w| w.version).max()
    }

    /// The chart keys the reader holds for `patient`, one per version (oldest first).
    pub fn chart_keys(&self, patient: &PublicKey) -> Vec<ChartKey> {
        self.keys_in(patient, Domain::Clinical)
    }

    /// The keys of `domain` the reader holds for `patient`, one per version (oldest first).
    pub fn keys_in(&self, patient: &PublicKey, domain: Domain) -> Vec<ChartKey> {
        self.chart_keys
            .get(&(*patient, domain))
            .map(|line| {
                line.values()
                    .filter_map(|keys| keys.first().cloned())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The newest chart key the reader holds for `patient`.
    pub fn latest_chart_key(&self, patient: &PublicKey) -> Option<&ChartKey> {
        self.latest_key_in(patient, Domain::Clinical)
    }

    /// The newest key of `domain` the reader holds for `patient`.
    pub fn latest_key_in(&self, patient: &PublicKey, domain: Domain) -> Option<&ChartKey> {
        self.chart_keys
            .get(&(*patient, domain))?
            .values()
            .next_back()?
            .first()
    }

    /// The key a member writes `patient`'s new clinical events under: the newest version,
    /// which must be wrapped under the current epoch. Otherwise a revoked member could still
    /// read new events.
    pub fn write_key(&self, patient: &PublicKey) -> Result<&ChartKey, AccessError> {
        self.write_key_in(patient, Domain::Clinical)
    }

    /// [`Self::write_key`] for `domain`: the newest key of that line, wrapped under the current
    /// epoch of that domain.
    pub fn write_key_in(
        &self,
        patient: &PublicKey,
        domain: Domain,
    ) -> Result<&ChartKey, AccessError> {
        let key = self
            .latest_key_in(patient, domain)
            .ok_or(AccessError::NoKey)?;
        let (epoch, _) = self
            .roster
            .current_epoch_of(domain)
            .ok_or(AccessError::NoRoster)?;
        let newest = self.newest_version_in(patient, domain);
        let under_current_epoch = self
            .wraps_in(patient, domain)
            .any(|w| w.version == key.version() && w.recipient == WrapRecipient::Epoch(epoch));
        if newest != Some(key.version()) || !under_current_epoch {
            return Err(AccessError::RotationPending);
        }
        Ok(key)
    }

    /// The domain a new record of `kind` is written in: its own once the practice is split,
    /// clinical before (there is no office key yet).
    pub fn write_domain(&self, kind: ClinicalKind) -> Domain {
        if self.roster.is_split() {
            kind.domain()
        } else {
            Domain::Clinical
        }
    }

    /// Sign a new record about `patient` as `author` under the right key: the office key for
    /// demographics and messages in a split practice, the chart key for everything else.
    pub fn sign_record(
        &self,
        author: &Identity,
        builder: ClinicalEventBuilder,
    ) -> Result<ClinicalEvent, AccessError> {
        let domain = self.write_domain(builder.kind());
        let key = self.write_key_in(&builder.patient(), domain)?;
        Ok(builder.sign_in(author, domain, key)?)
    }

    /// Guardians whose guardianship of `ward` is in force at `now` ([`Self::guardianship_at`]),
    /// never a practice key ([`Self::is_practice_key`]).
    pub fn guardians_of(&self, ward: &PublicKey, now: Timestamp) -> BTreeSet<PublicKey> {
        self.guardianships
            .keys()
            .filter(|(w, guardian)| w == ward && !self.is_practice_key(guardian))
            .filter_map(|(w, guardian)| self.guardianship_at(w, guardian, now))
            .filter(|r| r.status == GuardianshipStatus::Active)
            .map(|r| r.guardian)
            .collect()
    }

    /// Whether `event`'s signer was authorised to write it at its `created_at` (invariant 7).
    pub fn authorise(&self, event: &ClinicalEvent) -> Result<(), AccessError> {
        authorise(&self.roster, event)
    }

    /// Sign `resource` about `ward` as her `guardian`, under the ward's key (a guardian holds
    /// both): only what the patient herself may write, an appointment only as a request or a
    /// cancellation, and only with a guardianship in force at `created_at`. Readers take it as
    /// the ward's ([`Self::writing_guardian`]).
    pub fn sign_for_ward(
        &self,
        guardian: &Identity,
        ward: &PublicKey,
        resource: crate::fhir::Resource,
        created_at: Timestamp,
    ) -> Result<ClinicalEvent, AccessError> {
        let kind = ClinicalKind::for_resource(&resource);
        let appointment_ok = resource
            .as_appointment()
            .is_none_or(|a| crate::schedule::booking::patient_may_set(a.status));
        if !self
            .guardians_of(ward, created_at)
            .contains(&guardian.public_key())
            || !patient_may_write(kind)
            || !appointment_ok
        {
            return Err(AccessError::NotAuthorised);
        }
        let builder = ClinicalEventBuilder::new(kind, resource, *ward)?
            .created_at(created_at)
            .from_patient_side();
        self.sign_record(guardian, builder)
    }

    /// The guardian who wrote `event` for her ward, if that is what it is: what the patient
    /// herself may write ([`patient_may_write`]), under the ward's key (a guardian holds both
    /// of her keys), by a key that is no practice key, whose guardianship of the ward was in
    /// force at the event's time. The relay accepts the same (DESIGN.md §5).
    pub fn writing_guardian(&self, event: &ClinicalEvent) -> Option<PublicKey> {
        let author = event.author();
        let at = event.event().created_at;
        let in_force = self
            .guardianship_at(&event.patient(), &author, at)
            .is_some_and(|r| r.status == GuardianshipStatus::Active);
        (author != event.patient()
            && patient_may_write(event.kind())
            && !event.practice_key().is_epoch()
            && !self.is_practice_key(&author)
            && in_force)
            .then_some(author)
    }

    /// The patients whose chart the FHIR gateway may read at `now`, from one pass over the
    /// consent events at hand: her newest Consent permits sharing
    /// ([`crate::fhir::Consent::permits_fhir_sharing`]), or her newest emergency-access
    /// decision opts her in ([`crate::fhir::Consent::permits_emergency_access`]; the gateway
    /// then serves her only its emergency summary).
    pub fn gateway_patients<'a>(
        &self,
        events: impl IntoIterator<Item = &'a Event>,
        now: Timestamp,
    ) -> BTreeSet<PublicKey> {
        let consents = events
            .into_iter()
            .filter(|e| e.kind.as_u16() == ClinicalKind::Consent.as_u16());
        let mut by_patient: BTreeMap<PublicKey, Vec<ClinicalRecord>> = BTreeMap::new();
        for record in self.open(consents, None).records {
            by_patient.entry(record.patient).or_default().push(record);
        }
        by_patient
            .into_iter()
            .filter(|(_, records)| {
                let chart = chart::fold(records, FoldOptions::default());
                let sharing = chart
                    .newest_consent()
                    .and_then(|entry| entry.resource.as_consent())
                    .is_some_and(|consent| consent.permits_fhir_sharing(now));
                let emergency = chart
                    .newest_emergency_consent()
                    .and_then(|entry| entry.resource.as_consent())
                    .is_some_and(|consent| consent.permits_emergency_access(now));
                sharing || emergency
            })
            .map(|(patient, _)| patient)
            .collect()
    }
}
