#![allow(clippy::expect_used, clippy::indexing_slicing)]
//! `ehr_client::practice` under random sequences of operations (DESIGN.md §2): whatever the
//! order of roster changes, enrolments, consents, withdrawals and records, a revoked key reads
//! nothing written after its revocation, every current staff member reads every record of the
//! key domains its role holds and the front desk no clinical record (shared DESIGN §2), and
//! maintenance planned again after a plan is empty.

use std::collections::BTreeSet;

use ehr_client::access::PracticeView;
use ehr_client::event::ClinicalEventBuilder;
use ehr_client::keys::Identity;
use ehr_client::kinds::{ClinicalKind, Domain};
use ehr_client::practice::{self, Plan, State};
use ehr_client::roster::Role;
use ehr_client::rotation::{self, PlanError, RosterChange};
use nostr::prelude::{Event, EventId, Timestamp};
use proptest::prelude::*;

/// The staff and agents of the cast, by index.
const ROLES: [Role; 5] = [
    Role::Admin,
    Role::Doctor,
    Role::Nurse,
    Role::FhirGateway,
    Role::Frontdesk,
];
const PATIENTS: usize = 2;

#[derive(Debug, Clone, Copy)]
enum Op {
    Add(usize),
    Revoke(usize),
    Enrol(usize),
    Consent(usize),
    Withdraw(usize),
    Write(usize),
    Message(usize),
}

fn op() -> impl Strategy<Value = Op> {
    let member = 0..ROLES.len();
    let patient = 0..PATIENTS;
    prop_oneof![
        3 => member.clone().prop_map(Op::Add),
        2 => member.prop_map(Op::Revoke),
        2 => patient.clone().prop_map(Op::Enrol),
        2 => patient.clone().prop_map(Op::Consent),
        1 => patient.clone().prop_map(Op::Withdraw),
        3 => patient.clone().prop_map(Op::Write),
        2 => patient.prop_map(Op::Message),
    ]
}

/// Whether a role reads the records of `domain` (agents read by consent, not by role).
fn reads(role: Role, domain: Domain) -> bool {
    !role.is_agent() && role.holds(domain)
}

struct World {
    root: Identity,
    members: Vec<Identity>,
    patients: Vec<Identity>,
    events: Vec<Event>,
    now: u64,
    added: [bool; ROLES.len()],
    revoked_at: [Option<Timestamp>; ROLES.len()],
    enrolled: [bool; PATIENTS],
    consented: [bool; PATIENTS],
}

impl World {
    fn new() -> Self {
        let root = Identity::generate();
        let now = 1_700_000_000;
        let (events, _) =
            rotation::genesis(&root, None, Timestamp::from_secs(now)).expect("genesis");
        Self {
            root,
            members: ROLES.iter().map(|_| Identity::generate()).collect(),
            patients: (0..PATIENTS).map(|_| Identity::generate()).collect(),
            events,
            now,
            added: [false; ROLES.len()],
            revoked_at: [None; ROLES.len()],
            enrolled: [false; PATIENTS],
            consented: [false; PATIENTS],
        }
    }

    fn current(&self, member: usize) -> bool {
        self.added[member] && self.revoked_at[member].is_none()
    }

    /// Who runs the practice's operations: the admin while there is one, else the root.
    fn operator(&self) -> &Identity {
        if self.current(0) {
            &self.members[0]
        } else {
            &self.root
        }
    }

    fn state<'a>(&'a self, actor: &'a Identity) -> State<'a> {
        State {
            root: self.root.public_key(),
            events: &self.events,
            actor,
            now: Timestamp::from_secs(self.now),
        }
    }

    fn apply(&mut self, plan: Plan) {
        self.events.extend(plan.into_events());
    }

    /// Run one operation, unless the cast's state makes it meaningless (then nothing happens).
    fn step(&mut self, op: Op) -> Result<(), PlanError> {
        self.now += 10;
        let plan = match op {
            Op::Add(i) if !self.added[i] => {
                self.added[i] = true;
                self.roster_change(i, |pubkey| RosterChange::Add {
                    pubkey,
                    role: ROLES[i],
                    name: None,
                })?
            }
            Op::Revoke(i) if self.current(i) => {
                self.revoked_at[i] = Some(Timestamp::from_secs(self.now));
                self.roster_change(i, |pubkey| RosterChange::Revoke { pubkey })?
            }
            Op::Enrol(p) => {
                self.enrolled[p] = true;
                let patient = self.patients[p].public_key();
                practice::enrol_patient(&self.state(self.operator()), &patient)?
            }
            Op::Consent(p) if self.enrolled[p] => {
                let Some(clinician) = self.clinician() else {
                    return Ok(());
                };
                self.consented[p] = true;
                let patient = self.patients[p].public_key();
                let state = self.state(&self.members[clinician]);
                practice::grant_consent(&state, &patient, &["hospital"], "2020-01-01")?
            }
            Op::Withdraw(p) if self.consented[p] => {
                let Some(clinician) = self.clinician() else {
                    return Ok(());
                };
                let patient = self.patients[p].public_key();
                practice::withdraw_consent(&self.state(&self.members[clinician]), &patient)?
            }
            Op::Write(p) if self.enrolled[p] => {
                self.write(p, ClinicalKind::Encounter);
                return Ok(());
            }
            Op::Message(p) if self.enrolled[p] => {
                self.write(p, ClinicalKind::Message);
                return Ok(());
            }
            _ => return Ok(()),
        };
        self.apply(plan);
        Ok(())
    }

    /// The root changes admins; the admin, while there is one, everyone else.
    fn roster_change(
        &self,
        member: usize,
        change: impl FnOnce(nostr::prelude::PublicKey) -> RosterChange,
    ) -> Result<Plan, PlanError> {
        let actor = if ROLES[member].is_admin() {
            &self.root
        } else {
            self.operator()
        };
        practice::change_roster(
            &self.state(actor),
            &change(self.members[member].public_key()),
        )
    }

    /// The first current member who may write clinical records (the root may not).
    fn clinician(&self) -> Option<usize> {
        (0..ROLES.len()).find(|&i| self.current(i) && ROLES[i].may_write(ClinicalKind::Consent))
    }

    /// A record of `kind` by the last current member who may write it (the front desk, when
    /// there is one, writes the messages), if any.
    fn write(&mut self, patient: usize, kind: ClinicalKind) {
        let Some(writer) = (0..ROLES.len()).rfind(|&i| self.current(i) && ROLES[i].may_write(kind))
        else {
            return;
        };
        let author = &self.members[writer];
        let patient = self.patients[patient].public_key();
        let view = PracticeView::load(&self.root.public_key(), &self.events, author);
        let resource = match kind {
            ClinicalKind::Message => ehr_client::demo::message(&patient.to_hex(), "hello"),
            _ => ehr_client::demo::encounter(&patient.to_hex()),
        };
        let builder = ClinicalEventBuilder::new(kind, resource, patient)
            .expect("a record")
            .created_at(Timestamp::from_secs(self.now));
        let event = view
            .sign_record(author, builder)
            .expect("a current member can write");
        self.events.push(event.event().clone());
    }

    fn clinical(&self) -> impl Iterator<Item = &Event> {
        self.events
            .iter()
            .filter(|e| ClinicalKind::from_u16(e.kind.as_u16()).is_some())
    }

    /// The clinical events `reader` opens with its own view.
    fn read_by(&self, reader: &Identity) -> BTreeSet<EventId> {
        let view = PracticeView::load(&self.root.public_key(), &self.events, reader);
        view.open(self.clinical(), None)
            .records
            .into_iter()
            .map(|r| r.event_id)
            .collect()
    }
}

fn check(world: &World) -> Result<(), TestCaseError> {
    for (i, member) in world.members.iter().enumerate() {
        if let Some(revoked) = world.revoked_at[i] {
            let read = world.read_by(member);
            let late = world
                .clinical()
                .filter(|e| e.created_at > revoked && read.contains(&e.id))
                .count();
            prop_assert_eq!(late, 0, "a revoked {:?} reads later records", ROLES[i]);
        } else if world.current(i) && !ROLES[i].is_agent() {
            let read = world.read_by(member);
            for event in world.clinical() {
                let domain = ClinicalKind::from_u16(event.kind.as_u16())
                    .map_or(Domain::Clinical, ClinicalKind::domain);
                prop_assert_eq!(
                    read.contains(&event.id),
                    reads(ROLES[i], domain),
                    "a current {:?} and a {} record",
                    ROLES[i],
                    domain
                );
            }
        }
    }
    for actor in [world.operator(), &world.root] {
        let again = practice::maintain(&world.state(actor))
            .map_err(|e| TestCaseError::fail(format!("maintain: {e}")))?;
        prop_assert!(again.is_empty(), "maintenance again plans {}", again.len());
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn random_operations_keep_revocation_sound_and_maintenance_idempotent(
        ops in prop::collection::vec(op(), 6..=12)
    ) {
        let mut world = World::new();
        for op in ops {
            world
                .step(op)
                .map_err(|e| TestCaseError::fail(format!("{op:?}: {e}")))?;
            check(&world)?;
        }
    }
}
