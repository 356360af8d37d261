//! Key maintenance: roster changes, epoch grants and chart-key rotation (DESIGN.md §2).
//!
//! Every function here is a pure plan: it reads a [`PracticeView`] and returns the signed
//! events that bring the practice to the state the roster, the guardianships and the consents
//! ask for. Nothing is planned for what is already in place, so a plan computed again after its
//! events are stored is empty (idempotent), and a plan interrupted half-way is completed by
//! planning again from what did arrive (resumable). The caller stores a plan as a whole before
//! it publishes any of it.

use std::collections::BTreeSet;

use nostr::prelude::{Event, PublicKey, Timestamp};

use crate::access::{AccessError, PracticeView};
use crate::grants::{
    self, EpochKey, GrantError, Guardianship, GuardianshipStatus, KeyLine, WrapRecipient,
};
use crate::keys::{ChartKey, Identity};
use crate::kinds::Domain;
use crate::roster::{Member, Role, RosterContent, RosterError};

/// Why a plan could not be made.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum PlanError {
    /// A roster could not be built.
    #[error(transparent)]
    Roster(#[from] RosterError),
    /// A grant could not be built.
    #[error(transparent)]
    Grant(#[from] GrantError),
    /// The actor lacks a key or an authority the plan needs.
    #[error(transparent)]
    Access(#[from] AccessError),
    /// The actor may not make this change.
    #[error("{0}")]
    Refused(&'static str),
}

/// What a patient's chart keys must reach, besides the members (through the epoch).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PatientPolicy {
    /// Patients whose newest Consent permits FHIR sharing.
    pub consenting: BTreeSet<PublicKey>,
}

/// A change to the roster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RosterChange {
    /// Add a member, valid from the roster's time.
    Add {
        /// The member's key.
        pubkey: PublicKey,
        /// The role.
        role: Role,
        /// A display name.
        name: Option<String>,
    },
    /// End a member's authority at the roster's time. Ending a staff member starts a new epoch.
    Revoke {
        /// The member's key.
        pubkey: PublicKey,
    },
}

/// The genesis roster of a practice, signed by the root: clinical epoch 0 and office epoch 0
/// (shared DESIGN §2), and the first admin if one is named. Returns the events (epoch grants
/// first, then the roster) and the clinical epoch key.
pub fn genesis(
    root: &Identity,
    first_admin: Option<(PublicKey, Option<String>)>,
    now: Timestamp,
) -> Result<(Vec<Event>, EpochKey), PlanError> {
    genesis_of(root, first_admin, true, now)
}

/// The genesis roster as practices were created before the two key domains: one epoch, held
/// by every staff role. For tests and tools that exercise the migration ([`split_domains`]).
pub fn genesis_before_split(
    root: &Identity,
    first_admin: Option<(PublicKey, Option<String>)>,
    now: Timestamp,
) -> Result<(Vec<Event>, EpochKey), PlanError> {
    genesis_of(root, first_admin, false, now)
}

fn genesis_of(
    root: &Identity,
    first_admin: Option<(PublicKey, Option<String>)>,
    split: bool,
    now: Timestamp,
) -> Result<(Vec<Event>, EpochKey), PlanError> {
    let epoch = EpochKey::generate(0);
    let office = split.then(|| EpochKey::generate(0));
    let content = RosterContent {
        practice: root.public_key(),
        sequence: 0,
        previous: None,
        epoch: 0,
        epoch_public_key: epoch.public_key(),
        office_epoch: office.as_ref().map(|key| (0, key.public_key())),
        members: first_admin
            .into_iter()
            .map(|(pubkey, name)| Member {
                pubkey,
                role: Role::Admin,
                name,
                valid_from: now,
                valid_until: None,
            })
            .collect(),
    };
    let roster = content.sign(root, now)?;
    // The grants go first: whoever sees the roster must be able to find its epoch keys.
    let mut events = Vec::new();
    let keys = [
        (Domain::Clinical, Some(&epoch)),
        (Domain::Office, office.as_ref()),
    ];
    for (domain, key) in keys {
        let Some(key) = key else { continue };
        for recipient in epoch_recipients(&content, domain, now) {
            events.push(grants::grant_epoch_in(
                domain,
                root,
                &recipient,
                key,
                &[],
                now,
            )?);
        }
    }
    events.push(roster);
    Ok((events, epoch))
}

/// Bring a practice created before the two key domains to the new layout (shared DESIGN §2),
/// signed by the root or an admin: a roster that adds office epoch 0 and starts a new clinical
/// epoch, which the front desk does not receive (so nothing clinical written afterwards opens
/// with a key it held), and the grants of both. Chart-key maintenance then rotates every chart
/// key under the new clinical epoch and gives each patient an office key; the practice module
/// adds the office copies of what was written before ([`crate::practice::maintain`]). Nothing
/// when the practice is already split.
pub fn split_domains(
    view: &PracticeView,
    actor: &Identity,
    now: Timestamp,
) -> Result<Vec<Event>, PlanError> {
    let current = view.roster().current().ok_or(AccessError::NoRoster)?;
    if current.content.is_split() {
        return Ok(Vec::new());
    }
    let is_root = actor.public_key() == current.content.practice;
    if !is_root && view.roster().role_at(&actor.public_key(), now) != Some(Role::Admin) {
        return Err(PlanError::Refused(
            "only an admin or the root key may split the practice's keys",
        ));
    }
    let mut content = current.content.clone();
    let office = EpochKey::generate(0);
    content.office_epoch = Some((0, office.public_key()));
    let clinical = advance_epoch(&mut content, Domain::Clinical);
    content.sequence += 1;
    content.previous = Some(current.id);
    let roster = content.sign(actor, now)?;
    let mut events = epoch_grants(view, actor, &content, Domain::Clinical, &clinical, now)?;
    events.extend(epoch_grants(
        view,
        actor,
        &content,
        Domain::Office,
        &office,
        now,
    )?);
    events.push(roster);
    Ok(events)
}

/// Start the next epoch of `domain` in `content`; returns its key.
fn advance_epoch(content: &mut RosterContent, domain: Domain) -> EpochKey {
    let number = content.epoch_of(domain).map_or(0, |(n, _)| n + 1);
    let key = EpochKey::generate(number);
    match domain {
        Domain::Clinical => {
            content.epoch = number;
            content.epoch_public_key = key.public_key();
        }
        Domain::Office => content.office_epoch = Some((number, key.public_key())),
    }
    key
}

/// Grants of a new epoch `key` of `domain`, with every earlier epoch of that domain the actor
/// holds, to each member of `content` who holds that domain. The actor must hold them all.
fn epoch_grants(
    view: &PracticeView,
    actor: &Identity,
    content: &RosterContent,
    domain: Domain,
    key: &EpochKey,
    now: Timestamp,
) -> Result<Vec<Event>, PlanError> {
    let previous: Vec<EpochKey> = view
        .epoch_keys_in(domain)
        .filter(|k| k.number < key.number)
        .cloned()
        .collect();
    if previous.len() as u64 != key.number {
        return Err(PlanError::Refused(
            "the actor does not hold every earlier epoch key; an admin who does must revoke",
        ));
    }
    epoch_recipients(content, domain, now)
        .into_iter()
        .map(|recipient| {
            grants::grant_epoch_in(domain, actor, &recipient, key, &previous, now)
                .map_err(PlanError::from)
        })
        .collect()
}

/// Plan a roster change signed by `actor` (the root, or an admin for non-admin members).
/// Returns nothing when the roster already says so. Revoking a staff member starts epoch
/// `n+1` and grants it, with every earlier epoch, to each remaining staff member; revoking any
/// member also ends the guardianships it holds ([`end_guardianships_of`]).
pub fn change_roster(
    view: &PracticeView,
    actor: &Identity,
    change: &RosterChange,
    now: Timestamp,
) -> Result<Vec<Event>, PlanError> {
    let current = view.roster().current().ok_or(AccessError::NoRoster)?;
    let mut content = current.content.clone();
    let mut new_epochs = Vec::new();
    // Refuse here what the chain rule would reject, rather than publish a roster nobody follows.
    if actor.public_key() != content.practice {
        if view.roster().role_at(&actor.public_key(), now) != Some(Role::Admin) {
            return Err(PlanError::Refused(
                "only an admin or the root key may change the roster",
            ));
        }
        let touches_admin = match change {
            RosterChange::Add { role, .. } => role.is_admin(),
            RosterChange::Revoke { pubkey } => {
                content.member(pubkey).is_some_and(|m| m.role.is_admin())
            }
        };
        if touches_admin {
            return Err(PlanError::Refused(
                "only the root key may add or revoke an admin",
            ));
        }
    }
    match change {
        RosterChange::Add { pubkey, role, name } => {
            if let Some(existing) = content.member(pubkey) {
                if existing.role == *role && existing.is_valid_at(now) {
                    return Ok(Vec::new());
                }
                return Err(PlanError::Refused(
                    "this key is already on the roster with another role or has been revoked; use a new key",
                ));
            }
            content.members.push(Member {
                pubkey: *pubkey,
                role: *role,
                name: name.clone(),
                valid_from: now,
                valid_until: None,
            });
        }
        RosterChange::Revoke { pubkey } => {
            let member = content
                .members
                .iter_mut()
                .find(|m| &m.pubkey == pubkey)
                .ok_or(PlanError::Refused("this key is not on the roster"))?;
            if member.valid_until.is_some_and(|until| until <= now) {
                // Already revoked; finish what an interrupted revocation left.
                return end_guardianships_of(view, actor, pubkey, now);
            }
            member.valid_until = Some(now);
            let role = member.role;
            // A new epoch of each domain the member held, and only those: revoking the front
            // desk rotates the office line alone.
            for domain in Domain::ALL {
                if content.role_holds(role, domain) && content.epoch_of(domain).is_some() {
                    new_epochs.push((domain, advance_epoch(&mut content, domain)));
                }
            }
        }
    }
    content.sequence += 1;
    content.previous = Some(current.id);
    let roster = content.sign(actor, now)?;
    let mut events = Vec::new();
    for (domain, epoch) in &new_epochs {
        events.extend(epoch_grants(view, actor, &content, *domain, epoch, now)?);
    }
    events.push(roster);
    if let RosterChange::Revoke { pubkey } = change {
        events.extend(end_guardianships_of(view, actor, pubkey, now)?);
    }
    Ok(events)
}

/// Grants of the current epoch of each domain (with every earlier one of that domain) to each
/// current member who holds that domain and has none yet: a new member, or one whose grant
/// never arrived.
pub fn missing_epoch_grants(
    view: &PracticeView,
    actor: &Identity,
    now: Timestamp,
) -> Result<Vec<Event>, PlanError> {
    let roster = view.roster().current().ok_or(AccessError::NoRoster)?;
    let mut events = Vec::new();
    for domain in Domain::ALL {
        if roster.content.epoch_of(domain).is_none() {
            continue;
        }
        let Some(current) = view.current_epoch_key_in(domain) else {
            return Err(AccessError::NoKey.into());
        };
        let previous: Vec<EpochKey> = view
            .epoch_keys_in(domain)
            .filter(|k| k.number < current.number)
            .cloned()
            .collect();
        for recipient in epoch_recipients(&roster.content, domain, now) {
            if !view.has_epoch_grant_in(&recipient, domain, current.number) {
                events.push(grants::grant_epoch_in(
                    domain, actor, &recipient, current, &previous, now,
                )?);
            }
        }
    }
    Ok(events)
}

/// Who holds `domain`'s epoch keys: the staff members in force whose role holds the domain
/// ([`RosterContent::role_holds`]), and the root (which may read everything, DESIGN.md §5, and
/// must be able to hand every epoch on after it revokes an admin).
fn epoch_recipients(
    content: &RosterContent,
    domain: Domain,
    now: Timestamp,
) -> BTreeSet<PublicKey> {
    content
        .members
        .iter()
        .filter(|m| content.role_holds(m.role, domain) && m.is_valid_at(now))
        .map(|m| m.pubkey)
        .chain([content.practice])
        .collect()
}

/// Bring every patient key in line with the roster, guardianships and consents, in each
/// domain the roster has (the chart keys, and the office keys once the practice is split):
/// - a patient whose newest key is not under the current epoch of its domain, or is held by a
///   gateway or guardian that should no longer hold it, gets a new version (carrying the
///   earlier ones), wrapped under the current epoch and to whoever should hold it;
/// - otherwise, whoever should hold the newest key and has no wrap of it gets one.
///
/// The gateway and guardians receive both keys of a patient they may read. `patients` lists
/// the charts to maintain; `None` means every patient the view knows.
pub fn maintain_chart_keys(
    view: &PracticeView,
    actor: &Identity,
    policy: &PatientPolicy,
    patients: Option<&BTreeSet<PublicKey>>,
    now: Timestamp,
) -> Result<Vec<Event>, PlanError> {
    let gateways: BTreeSet<PublicKey> = view
        .roster()
        .members_at(now)
        .into_iter()
        .filter(|m| m.role == Role::FhirGateway)
        .map(|m| m.pubkey)
        .collect();
    let all = view.patients();
    let mut events = Vec::new();
    for domain in Domain::ALL {
        let Some(epoch) = view.roster().current_epoch_of(domain) else {
            continue;
        };
        for patient in patients.unwrap_or(&all) {
            let mut wanted: BTreeSet<WrapRecipient> = BTreeSet::new();
            wanted.insert(WrapRecipient::Epoch(epoch.0));
            if policy.consenting.contains(patient) {
                wanted.extend(gateways.iter().map(|g| WrapRecipient::Gateway(*g)));
            }
            wanted.extend(
                view.guardians_of(patient, now)
                    .into_iter()
                    .map(WrapRecipient::Guardian),
            );
            let line = PatientLine {
                view,
                patient,
                domain,
                epoch,
            };
            events.extend(line.maintain(actor, &wanted, now)?);
        }
    }
    Ok(events)
}

/// One patient's keys of one domain, as the actor's view sees them.
struct PatientLine<'a> {
    view: &'a PracticeView,
    patient: &'a PublicKey,
    domain: Domain,
    epoch: (u64, PublicKey),
}

impl PatientLine<'_> {
    /// The wraps that bring this line to `wanted`: a new version for all of them when the
    /// newest is missing, stale or held by someone unwanted; otherwise the missing wraps.
    fn maintain(
        &self,
        actor: &Identity,
        wanted: &BTreeSet<WrapRecipient>,
        now: Timestamp,
    ) -> Result<Vec<Event>, PlanError> {
        let (view, patient, domain) = (self.view, self.patient, self.domain);
        let newest = view.newest_version_in(patient, domain);
        let held = view.latest_key_in(patient, domain);
        if newest.is_some() && held.map(ChartKey::version) != newest {
            return Err(AccessError::RotationPending.into());
        }
        let holders: BTreeSet<WrapRecipient> = match held {
            Some(key) => view
                .wraps_in(patient, domain)
                .filter(|w| w.version == key.version())
                .map(|w| w.recipient)
                .collect(),
            None => BTreeSet::new(),
        };
        let epoch = WrapRecipient::Epoch(self.epoch.0);
        let stale = holders.iter().any(|h| match h {
            WrapRecipient::Epoch(_) => *h != epoch,
            other => !wanted.contains(other),
        });
        let rotate = held.is_none() || stale || !holders.contains(&epoch);
        let earlier = view.keys_in(patient, domain);
        let (key, missing) = if rotate {
            let version = newest.map_or(1, |v| v + 1);
            (ChartKey::generate(version), wanted.clone())
        } else {
            let key = held.cloned().ok_or(AccessError::NoKey)?;
            let missing = wanted.difference(&holders).copied().collect();
            (key, missing)
        };
        let line = KeyLine {
            patient,
            domain,
            current: &key,
            previous: &earlier,
        };
        missing
            .into_iter()
            .map(|recipient| {
                grants::wrap_key(actor, &line, recipient, Some(&self.epoch.1), now)
                    .map_err(PlanError::from)
            })
            .collect()
    }
}

/// The first chart key of a newly enrolled patient, wrapped under the current epoch.
pub fn enrol_patient(
    view: &PracticeView,
    actor: &Identity,
    patient: &PublicKey,
    now: Timestamp,
) -> Result<Vec<Event>, PlanError> {
    if view.is_enrolled(patient) {
        // Already enrolled: enrolment never rotates (that would drop the gateway's wrap).
        return Ok(Vec::new());
    }
    let one: BTreeSet<PublicKey> = [*patient].into();
    maintain_chart_keys(view, actor, &PatientPolicy::default(), Some(&one), now)
}

/// Start or end a guardianship. Ending it rotates the ward's chart key away from the guardian
/// (the caller then runs [`maintain_chart_keys`] on the updated view).
pub fn set_guardianship(
    view: &PracticeView,
    actor: &Identity,
    ward: &PublicKey,
    guardian: &PublicKey,
    status: GuardianshipStatus,
    now: Timestamp,
) -> Result<Vec<Event>, PlanError> {
    let wanted = status == GuardianshipStatus::Active;
    if wanted && view.is_practice_key(guardian) {
        return Err(PlanError::Refused(
            "a staff or agent key cannot be a guardian; use the person's own key",
        ));
    }
    let current = view.guardianship_at(ward, guardian, now);
    let active = current.is_some_and(|g| g.status == GuardianshipStatus::Active);
    if active == wanted {
        return Ok(Vec::new());
    }
    Ok(vec![Guardianship::sign(
        actor,
        ward,
        guardian,
        status,
        after(current, now),
    )?])
}

/// End every guardianship `guardian` holds as recorded (a member being revoked: one who was a
/// guardian before joining the staff loses it with the staff role).
pub fn end_guardianships_of(
    view: &PracticeView,
    actor: &Identity,
    guardian: &PublicKey,
    now: Timestamp,
) -> Result<Vec<Event>, PlanError> {
    let mut events = Vec::new();
    for ward in view.recorded_wards_of(guardian, now) {
        let current = view.guardianship_at(&ward, guardian, now);
        events.push(Guardianship::sign(
            actor,
            &ward,
            guardian,
            GuardianshipStatus::Ended,
            after(current, now),
        )?);
    }
    Ok(events)
}

/// `now`, or one second after `current` if that is later: a new guardianship record must be
/// the newest, and records of the same second are ordered by id alone.
fn after(current: Option<&Guardianship>, now: Timestamp) -> Timestamp {
    let floor = current.map_or(0, |g| g.created_at.as_secs().saturating_add(1));
    Timestamp::from_secs(now.as_secs().max(floor))
}

/// The practice's record of each patient's own newest Consent (DESIGN.md §6, "Who is served").
///
/// A Consent the patient signs (from the portal) has its practice copy under the epoch key,
/// which the FHIR gateway never holds, so the gateway only trusts consents the practice
/// recorded under the chart key. For each patient (of `patients`, or all) whose newest Consent
/// — by event time, over both origins — is her own, this plans the practice's copy of it:
/// the same resource, signed by `actor` under the patient's write key, one second after hers
/// at the earliest so it is newer. Once recorded the newest is the practice's, so planning
/// again is empty. Patients whose key is not writable yet (a rotation pending) are left for
/// the next run; an actor whose role may not write consents plans nothing.
pub fn record_patient_consents<'a>(
    view: &PracticeView,
    actor: &Identity,
    events: impl IntoIterator<Item = &'a Event>,
    patients: Option<&BTreeSet<PublicKey>>,
    now: Timestamp,
) -> Result<Vec<Event>, PlanError> {
    use crate::chart::{self, FoldOptions};
    use crate::kinds::ClinicalKind;

    // Readers authorise clinical events by roster role only, so the root's copy would be
    // ignored (and planned again at every run).
    let may_write = view
        .roster()
        .role_at(&actor.public_key(), now)
        .is_some_and(|role| role.may_write(ClinicalKind::Consent));
    if !may_write {
        return Ok(Vec::new());
    }
    let consents = events
        .into_iter()
        .filter(|e| e.kind.as_u16() == ClinicalKind::Consent.as_u16())
        .filter(|e| {
            patients.is_none_or(|wanted| e.tags.public_keys().any(|p| wanted.contains(&p)))
        });
    let mut by_patient: std::collections::BTreeMap<PublicKey, Vec<_>> =
        std::collections::BTreeMap::new();
    for record in view.open(consents, None).records {
        by_patient.entry(record.patient).or_default().push(record);
    }
    let mut plan = Vec::new();
    for (patient, records) in by_patient {
        let chart = chart::fold(&records, FoldOptions::default());
        // Sharing and emergency access are separate decisions, each recorded on its own.
        for newest in [chart.newest_consent(), chart.newest_emergency_consent()]
            .into_iter()
            .flatten()
            .filter(|newest| newest.patient_reported)
        {
            let Ok(key) = view.write_key(&patient) else {
                continue;
            };
            plan.push(practice_copy(&chart, newest, patient, key, actor, now)?);
        }
    }
    Ok(plan)
}

/// The practice's copy of the patient's own consent `newest`: the same resource, above any
/// version the practice already holds of it, at least one second after hers.
fn practice_copy(
    chart: &crate::chart::Chart,
    newest: &crate::chart::ChartEntry,
    patient: PublicKey,
    key: &ChartKey,
    actor: &Identity,
    now: Timestamp,
) -> Result<Event, PlanError> {
    let mut resource = newest.resource.clone();
    let practice_version = chart
        .entries()
        .filter(|e| !e.patient_reported && e.key.id == newest.key.id)
        .map(|e| e.version)
        .max()
        .unwrap_or(0);
    if resource.version() <= practice_version {
        resource.set_version(practice_version + 1, resource.action());
    }
    let at = Timestamp::from_secs(now.as_secs().max(newest.updated_at.as_secs() + 1));
    let event = crate::event::ClinicalEventBuilder::new(
        crate::kinds::ClinicalKind::Consent,
        resource,
        patient,
    )
    .map_err(|_| PlanError::Refused("the patient's consent is not a valid Consent"))?
    .created_at(at)
    .sign(actor, key)
    .map_err(|_| PlanError::Refused("the practice's copy of a consent could not be signed"))?;
    Ok(event.event().clone())
}
