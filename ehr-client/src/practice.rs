//! The practice's operations, once (DESIGN.md §2): enrol a patient, change the roster, grant or
//! withdraw consent, start or end a guardianship, and key maintenance.
//!
//! Revocation stays sound only if every change is followed by the same sequence: the roster
//! change, the epoch grants it calls for, chart-key maintenance with the consent policy at
//! `now`, and the practice's record of the consents patients signed themselves. Each operation
//! here returns that whole sequence as one [`Plan`], computed from the verified state the caller
//! has, so no caller composes the steps (and none can forget one). A step that depends on an
//! earlier one is computed from the events plus the plan so far, so everything stays pure: no
//! I/O, no clock (the caller passes `now`). Applying a plan and planning [`maintain`] again
//! yields an empty plan.
//!
//! [`maintain`] also migrates a practice created before the two key domains (shared DESIGN
//! §2): the split of its epochs ([`rotation::split_domains`]), an office key per patient, and an
//! office copy of every demographics and message record written before, so the front desk keeps
//! reading them with the office keys alone.

use nostr::prelude::{Event, PublicKey, Timestamp};

use crate::access::{AccessError, PracticeView};
use crate::chart::FoldOptions;
use crate::event::{ClinicalEvent, ClinicalEventBuilder};
use crate::fhir::{Consent, Resource, ResourceType};
use crate::grants::GuardianshipStatus;
use crate::keys::Identity;
use crate::kinds::{self, ClinicalKind, Domain};
use crate::rotation::{self, PatientPolicy, PlanError, RosterChange};
use crate::tags;

/// The verified state an operation plans from.
#[derive(Debug, Clone, Copy)]
pub struct State<'a> {
    /// The practice root key.
    pub root: PublicKey,
    /// Every event the caller has (a whole relay dump may be passed).
    pub events: &'a [Event],
    /// Who signs the plan: the root, or a member who may wrap chart keys.
    pub actor: &'a Identity,
    /// The time the plan is made at (and its events are dated).
    pub now: Timestamp,
}

impl State<'_> {
    /// The actor's view of the events plus `planned`.
    pub fn view(&self, planned: &[Event]) -> PracticeView {
        PracticeView::load(&self.root, self.events.iter().chain(planned), self.actor)
    }
}

/// The signed events of one operation, in publication order: epoch grants, then the roster,
/// then guardianship records, then chart-key wraps and guardian grants, then clinical events
/// (consents). Whoever sees a roster can then find its epoch key, and whoever sees a new
/// consent the key to write under; a plan cut short after the roster leaves the grants
/// published, so another admin can resume with [`maintain`]. Store it whole before publishing
/// any of it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan(Vec<Event>);

impl Plan {
    fn ordered(mut events: Vec<Event>) -> Self {
        // A stable sort: each step already emits its own events in a valid order.
        events.sort_by_key(|event| publication_rank(event.kind.as_u16()));
        Self(events)
    }

    /// The events, in publication order.
    pub fn events(&self) -> &[Event] {
        &self.0
    }

    /// The events, in publication order.
    pub fn into_events(self) -> Vec<Event> {
        self.0
    }

    /// Whether there is nothing to publish.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// How many events there are.
    pub fn len(&self) -> usize {
        self.0.len()
    }
}

impl From<Plan> for Vec<Event> {
    fn from(plan: Plan) -> Self {
        plan.0
    }
}

fn publication_rank(kind: u16) -> u8 {
    match kind {
        kinds::EPOCH_GRANT => 0,
        kinds::ROSTER => 1,
        kinds::GUARDIANSHIP => 2,
        kinds::CHART_KEY_WRAP | kinds::GUARDIAN_GRANT => 3,
        _ => 4,
    }
}

/// Rotate or resume: the missing epoch grants, chart-key maintenance with the consent policy
/// at `now`, and the patients' own consents recorded. In a practice created before the two key
/// domains, run by the root or an admin, it first splits them (see the module), and it adds the
/// office copies still missing. Empty when all is in place.
pub fn maintain(state: &State<'_>) -> Result<Plan, PlanError> {
    let view = state.view(&[]);
    let mut plan = Vec::new();
    if !view.roster().is_split() && may_grant_epochs(state, &view) {
        plan = rotation::split_domains(&view, state.actor, state.now)?;
    }
    let mut plan = finish(state, plan)?.into_events();
    plan.extend(office_copies(state, &plan)?);
    Ok(Plan::ordered(plan))
}

/// The office copies still missing, once `plan` is applied: for each demographics or message
/// record written before the split (under a chart key, or a patient's under the clinical
/// epoch), a copy under the patient's office key by the actor ([`ClinicalEvent::office_copy`]).
/// Only a member whose role may write the kind signs them (readers authorise by roster role);
/// a patient whose office key is not writable yet is left for the next run.
fn office_copies(state: &State<'_>, plan: &[Event]) -> Result<Vec<Event>, PlanError> {
    let view = state.view(plan);
    if !view.roster().is_split() {
        return Ok(Vec::new());
    }
    let Some(role) = view.roster().role_at(&state.actor.public_key(), state.now) else {
        return Ok(Vec::new());
    };
    let office_events: Vec<&Event> = state
        .events
        .iter()
        .filter(|event| {
            ClinicalKind::from_u16(event.kind.as_u16())
                .is_some_and(|kind| kind.domain() == Domain::Office)
        })
        .collect();
    // Events already in the office domain (an office key, or the office epoch) need no copy.
    let in_office: std::collections::BTreeSet<_> = office_events
        .iter()
        .filter(|event| {
            tags::first_value(event, tags::TAG_OFFICE_KEY).is_some()
                || tags::first_value(event, tags::TAG_DOMAIN).is_some()
        })
        .map(|event| event.id)
        .collect();
    let records = view.open(office_events.iter().copied(), None).records;
    let copied: std::collections::BTreeSet<_> = records
        .iter()
        .filter(|record| record.copied_by.is_some())
        .map(|record| record.event_id)
        .collect();
    let originals = records
        .iter()
        .filter(|record| record.copied_by.is_none() && !in_office.contains(&record.event_id));
    let mut copies = Vec::new();
    for record in originals {
        if copied.contains(&record.event_id) || !role.may_write(record.kind) {
            continue;
        }
        let Ok(key) = view.write_key_in(&record.patient, Domain::Office) else {
            continue;
        };
        let copy = ClinicalEvent::office_copy(state.actor, record, key, state.now)
            .map_err(|_| PlanError::Refused("an office copy could not be signed"))?;
        copies.push(copy.event().clone());
    }
    Ok(copies)
}

/// Record the consents patients signed themselves (from the portal) under the chart key, so
/// the FHIR gateway acts on them. Every operation ends with this; it is [`maintain`] by name.
pub fn record_patient_consents(state: &State<'_>) -> Result<Plan, PlanError> {
    maintain(state)
}

/// Add, change or revoke a staff member or agent, then maintain (a staff revocation starts a
/// new epoch, so every chart key rotates).
pub fn change_roster(state: &State<'_>, change: &RosterChange) -> Result<Plan, PlanError> {
    let plan = rotation::change_roster(&state.view(&[]), state.actor, change, state.now)?;
    finish(state, plan)
}

/// Enrol a patient (a new key or an imported npub alike): a first chart key under the current
/// epoch, then maintain. Enrolling an enrolled patient adds nothing.
pub fn enrol_patient(state: &State<'_>, patient: &PublicKey) -> Result<Plan, PlanError> {
    enrol_patients(state, [patient])
}

/// [`enrol_patient`] for several patients, maintained once.
pub fn enrol_patients<'p>(
    state: &State<'_>,
    patients: impl IntoIterator<Item = &'p PublicKey>,
) -> Result<Plan, PlanError> {
    let view = state.view(&[]);
    let mut plan = Vec::new();
    for patient in patients {
        plan.extend(rotation::enrol_patient(
            &view,
            state.actor,
            patient,
            state.now,
        )?);
    }
    finish(state, plan)
}

/// Enrol a new patient and register her details (`details`, a FHIR Patient: the record's first
/// version) in the same plan, written by the actor under her new key (the office key in a split
/// practice), so the practice's list names her from the start. A key already enrolled is
/// refused: her details are changed as the next version of the record she has.
pub fn enrol_patient_with_details(
    state: &State<'_>,
    patient: &PublicKey,
    details: Resource,
) -> Result<Plan, PlanError> {
    if details.resource_type() != ResourceType::Patient {
        return Err(PlanError::Refused("a patient's details are a FHIR Patient"));
    }
    let before = state.view(&[]);
    if before.latest_key_in(patient, Domain::Clinical).is_some() {
        return Err(PlanError::Refused("this key is already enrolled"));
    }
    let may_write = before
        .roster()
        .role_at(&state.actor.public_key(), state.now)
        .is_some_and(|role| role.may_write(ClinicalKind::Patient) && role.may_wrap_chart_keys());
    if !may_write {
        return Err(PlanError::Refused(
            "this key may not enrol a patient; use an admin, doctor, nurse or ma key",
        ));
    }
    let mut plan = enrol_patient(state, patient)?.into_events();
    let builder = ClinicalEventBuilder::new(ClinicalKind::Patient, details, *patient)
        .map_err(|_| PlanError::Refused("the details are not a valid Patient"))?
        .created_at(state.now);
    let event = state
        .view(&plan)
        .sign_record(state.actor, builder)
        .map_err(|_| PlanError::Refused("the details could not be signed"))?;
    plan.push(event.event().clone());
    Ok(Plan::ordered(plan))
}

/// Start or end a guardianship, then maintain (ending one rotates the ward's chart key away
/// from the guardian).
pub fn set_guardianship(
    state: &State<'_>,
    ward: &PublicKey,
    guardian: &PublicKey,
    status: GuardianshipStatus,
) -> Result<Plan, PlanError> {
    set_guardianships(state, [(ward, guardian)], status)
}

/// [`set_guardianship`] for several `(ward, guardian)` pairs, maintained once.
pub fn set_guardianships<'p>(
    state: &State<'_>,
    pairs: impl IntoIterator<Item = (&'p PublicKey, &'p PublicKey)>,
    status: GuardianshipStatus,
) -> Result<Plan, PlanError> {
    let view = state.view(&[]);
    let mut plan = Vec::new();
    for (ward, guardian) in pairs {
        plan.extend(rotation::set_guardianship(
            &view,
            state.actor,
            ward,
            guardian,
            status,
            state.now,
        )?);
    }
    finish(state, plan)
}

/// Record the patient's consent to FHIR sharing with `facilities` (FHIR client ids), dated
/// `date` (a FHIR dateTime), then maintain: the chart key is wrapped to the gateway.
pub fn grant_consent(
    state: &State<'_>,
    patient: &PublicKey,
    facilities: &[&str],
    date: &str,
) -> Result<Plan, PlanError> {
    grant_consent_until(state, patient, facilities, date, None)
}

/// [`grant_consent`] in force until `until` (a FHIR date, inclusive), or with no end.
pub fn grant_consent_until(
    state: &State<'_>,
    patient: &PublicKey,
    facilities: &[&str],
    date: &str,
    until: Option<&str>,
) -> Result<Plan, PlanError> {
    if facilities.is_empty() {
        return Err(PlanError::Refused("a consent names at least one facility"));
    }
    let view = state.view(&[]);
    let patient_id = practice_chart(state, &view, patient)
        .of_type(ResourceType::Patient)
        .next()
        .map(|entry| entry.key.id.clone())
        .unwrap_or_else(crate::demo::new_id);
    consent(
        state,
        patient,
        Consent::fhir_sharing_until(&patient_id, facilities, date, until),
    )
}

/// Withdraw the patient's newest consent (a new, inactive version), then maintain: the chart
/// key rotates away from the gateway.
pub fn withdraw_consent(state: &State<'_>, patient: &PublicKey) -> Result<Plan, PlanError> {
    let view = state.view(&[]);
    let withdrawal = practice_chart(state, &view, patient)
        .newest_consent()
        .and_then(|entry| entry.resource.as_consent())
        .map(|consent| consent.withdrawal())
        .ok_or(PlanError::Refused("this patient has no consent on record"))?;
    consent(state, patient, withdrawal)
}

/// Record the patient's opt-in to emergency access, dated `date` (a FHIR date or dateTime),
/// then maintain: her chart keys are wrapped to the gateway, which serves her only its
/// emergency summary (DESIGN.md §15).
pub fn opt_in_emergency_access(
    state: &State<'_>,
    patient: &PublicKey,
    date: &str,
) -> Result<Plan, PlanError> {
    let view = state.view(&[]);
    let chart = practice_chart(state, &view, patient);
    if chart
        .newest_emergency_consent()
        .and_then(|entry| entry.resource.as_consent())
        .is_some_and(|c| c.permits_emergency_access(state.now))
    {
        return Err(PlanError::Refused(
            "this patient has already opted in to emergency access",
        ));
    }
    let patient_id = chart
        .of_type(ResourceType::Patient)
        .next()
        .map(|entry| entry.key.id.clone())
        .unwrap_or_else(crate::demo::new_id);
    consent(state, patient, Consent::emergency_access(&patient_id, date))
}

/// Withdraw the patient's opt-in to emergency access, then maintain: unless her sharing
/// consent still names a facility, the chart key rotates away from the gateway.
pub fn withdraw_emergency_access(
    state: &State<'_>,
    patient: &PublicKey,
) -> Result<Plan, PlanError> {
    let view = state.view(&[]);
    let withdrawal = practice_chart(state, &view, patient)
        .newest_emergency_consent()
        .and_then(|entry| entry.resource.as_consent())
        .filter(|c| c.status == crate::fhir::ConsentState::Active)
        .map(|consent| consent.withdrawal())
        .ok_or(PlanError::Refused(
            "this patient has not opted in to emergency access",
        ))?;
    consent(state, patient, withdrawal)
}

/// Write `resource` (a FHIR Consent) into the patient's chart, then maintain with the policy
/// it sets. Pending maintenance comes first, so the consent is written under the key the
/// members hold; a withdrawal is thus still readable by the gateway it turns away.
pub fn consent(
    state: &State<'_>,
    patient: &PublicKey,
    resource: Resource,
) -> Result<Plan, PlanError> {
    if resource.as_consent().is_none() {
        return Err(PlanError::Refused("a consent must be a FHIR Consent"));
    }
    let mut plan = maintain(state)?.into_events();
    let view = state.view(&plan);
    // Readers authorise clinical events by roster role: the root's would be ignored.
    let may_write = view
        .roster()
        .role_at(&state.actor.public_key(), state.now)
        .is_some_and(|role| role.may_write(ClinicalKind::Consent));
    if !may_write {
        return Err(PlanError::Refused(
            "this key may not write a consent; use an admin, doctor, nurse or ma key",
        ));
    }
    let key = view.write_key(patient)?;
    // A decision is newer than the one it replaces by its time first: one made in the same
    // second as the last (a new opt-in right after a withdrawal) is dated a second later.
    let latest = practice_chart(state, &view, patient)
        .of_type(ResourceType::Consent)
        .map(|entry| entry.updated_at.as_secs())
        .max();
    let at = latest.map_or(state.now, |latest| {
        Timestamp::from_secs(state.now.as_secs().max(latest + 1))
    });
    let event = ClinicalEventBuilder::new(ClinicalKind::Consent, resource, *patient)
        .map_err(|_| PlanError::Refused("the consent is not a valid Consent"))?
        .created_at(at)
        .sign(state.actor, key)
        .map_err(|_| PlanError::Refused("the consent could not be signed"))?;
    plan.push(event.event().clone());
    finish(state, plan)
}

/// Whether `patient`'s newest consent permits FHIR sharing at `now`, once `plan` is applied.
pub fn shares_with_gateway(state: &State<'_>, plan: &Plan, patient: &PublicKey) -> bool {
    state
        .view(plan.events())
        .gateway_patients(state.events.iter().chain(plan.events()), state.now)
        .contains(patient)
}

/// The patient's chart as the actor reads it, patient-reported entries included.
fn practice_chart(
    state: &State<'_>,
    view: &PracticeView,
    patient: &PublicKey,
) -> crate::chart::Chart {
    let options = FoldOptions {
        include_patient_reported: true,
    };
    view.chart(patient, state.events.iter(), options).0
}

/// Only keys whose wraps readers accept may plan: anything else would publish wraps that are
/// ignored, and planning again would never be empty.
fn check_actor(state: &State<'_>, view: &PracticeView) -> Result<(), PlanError> {
    let actor = state.actor.public_key();
    if actor == state.root {
        return Ok(());
    }
    match view.roster().role_at(&actor, state.now) {
        Some(role) if role.may_wrap_chart_keys() => Ok(()),
        Some(_) => Err(PlanError::Refused(
            "this role may not maintain chart keys; use an admin, doctor, nurse or ma key",
        )),
        None => Err(AccessError::NotAuthorised.into()),
    }
}

/// End `plan` with the full maintenance: the missing epoch grants (when the actor may sign
/// them), chart-key maintenance for every patient with the consent policy at `now`, and the
/// patients' own consents recorded under the key the plan leaves writable.
fn finish(state: &State<'_>, mut plan: Vec<Event>) -> Result<Plan, PlanError> {
    let mut view = state.view(&plan);
    check_actor(state, &view)?;
    if may_grant_epochs(state, &view) {
        let grants = rotation::missing_epoch_grants(&view, state.actor, state.now)?;
        if !grants.is_empty() {
            plan.extend(grants);
            view = state.view(&plan);
        }
    }
    let policy = PatientPolicy {
        consenting: view.gateway_patients(state.events.iter().chain(&plan), state.now),
    };
    let wraps = rotation::maintain_chart_keys(&view, state.actor, &policy, None, state.now)?;
    if !wraps.is_empty() {
        plan.extend(wraps);
        view = state.view(&plan);
    }
    let recorded = rotation::record_patient_consents(
        &view,
        state.actor,
        state.events.iter().chain(&plan),
        None,
        state.now,
    )?;
    plan.extend(recorded);
    Ok(Plan::ordered(plan))
}

/// Epoch grants count only from the root or an admin; anyone else leaves them to one.
fn may_grant_epochs(state: &State<'_>, view: &PracticeView) -> bool {
    let actor = state.actor.public_key();
    actor == state.root
        || view
            .roster()
            .role_at(&actor, state.now)
            .is_some_and(|role| role.is_admin())
}
