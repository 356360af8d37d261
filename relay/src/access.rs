//! Who may write and read what: the role table of DESIGN.md §5.
//!
//! Staff and agent roles come from the practice's roster chain, verified with `ehr-client`;
//! patients and guardians from NIP-86 calls; wards from guardianship records (kind 2106).
//! One [`Access`] value holds all three and is shared by every connection, so a change takes
//! effect on live connections at once.

use std::collections::{BTreeMap, BTreeSet};

use ehr_client::access::patient_may_write;
use ehr_client::grants::{Guardianship, GuardianshipStatus};
use ehr_client::kinds::{self, ClinicalKind, Domain};
use ehr_client::roster::{Role, Roster, RosterChain, verify_roster_chain};
use ehr_client::tags::{
    DOMAIN_OFFICE, TAG_DOMAIN, TAG_OFFICE_KEY, TAG_PATIENT, first_value, tag_values,
};
use nostr::prelude::{Event, EventId, Kind, PublicKey, Timestamp};

use crate::error::Reject;

/// Kind 1059, the NIP-59 gift wrap (as a number, for SQL and matches).
pub const GIFT_WRAP: u16 = Kind::GiftWrap.as_u16();

/// Whether `kind` is one of the practice's own kinds (append-only, role-gated): defined once,
/// in `ehr_client::kinds`.
pub use ehr_client::kinds::is_practice_kind;

/// Whether an event of `kind` changes who may do what (rosters and guardianships): it commits
/// alone, and is applied to [`Access`].
pub fn changes_access(kind: u16) -> bool {
    matches!(
        kind,
        kinds::ROSTER | kinds::GUARDIANSHIP | kinds::SLOT_HOLD | kinds::APPOINTMENT
    )
}

pub use ehr_service::membership::{AssignedRole, Roles};

/// What a connection may read, the same rule in SQL ([`crate::store`]) and per event
/// ([`ReadScope::allows`]). Kind 1059 is always served only to its one `p` recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadScope {
    /// The authenticated key.
    pub reader: PublicKey,
    /// The same, as the hex `p` tags carry (computed once: `allows` runs per event).
    pub reader_hex: String,
    /// Every event (but other people's gift wraps).
    pub everything: bool,
    /// Kinds readable whoever wrote them or whoever they are about.
    pub kinds: BTreeSet<u16>,
    /// Events with a `p` tag naming one of these keys, in hex (the reader, and a guardian's
    /// wards).
    pub tagged: BTreeSet<String>,
    /// The practice's profile (kind 0 by the practice key).
    pub practice_profile: Option<PublicKey>,
}

impl ReadScope {
    /// Whether this scope may see `event`.
    pub fn allows(&self, event: &Event) -> bool {
        let kind = event.kind.as_u16();
        if kind == GIFT_WRAP || kind == crate::signer_messages::NOSTR_CONNECT {
            return p_tags(event).any(|p| p == self.reader_hex);
        }
        if self.everything || event.pubkey == self.reader || self.kinds.contains(&kind) {
            return true;
        }
        if p_tags(event).any(|p| self.tagged.contains(p)) {
            return true;
        }
        self.practice_profile
            .is_some_and(|practice| kind == 0 && event.pubkey == practice)
    }
}

/// The values of an event's patient (`p`) tags.
pub fn p_tags(event: &Event) -> impl Iterator<Item = &str> + '_ {
    tag_values(event, TAG_PATIENT)
}

/// The relay's view of the practice's members.
#[derive(Debug, Clone)]
pub struct Access {
    practice: PublicKey,
    rosters: Vec<Event>,
    chain: RosterChain,
    assigned: BTreeMap<PublicKey, BTreeSet<AssignedRole>>,
    bans: BTreeSet<PublicKey>,
    /// Newest record per (ward, guardian): (created_at, id, status).
    guardianships: BTreeMap<(PublicKey, PublicKey), (Timestamp, EventId, GuardianshipStatus)>,
    /// Bumped on every change, so connections know when to recompute their read scope.
    generation: u64,
    /// Slot holds and waiting appointment requests (not part of anyone's read scope).
    scheduling: crate::scheduling::Scheduling,
}

impl Access {
    /// An empty view of the practice whose root key is `practice`.
    pub fn new(practice: PublicKey) -> Self {
        Self {
            practice,
            rosters: Vec::new(),
            chain: verify_roster_chain(&practice, []),
            assigned: BTreeMap::new(),
            bans: BTreeSet::new(),
            guardianships: BTreeMap::new(),
            generation: 0,
            scheduling: crate::scheduling::Scheduling::default(),
        }
    }

    /// Changes so far; a connection's cached scope is stale when this moved.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// The practice root key.
    pub fn practice(&self) -> PublicKey {
        self.practice
    }

    /// Replace the NIP-86 roles and bans with what the database holds.
    pub fn set_assigned(
        &mut self,
        assigned: BTreeMap<PublicKey, BTreeSet<AssignedRole>>,
        bans: BTreeSet<PublicKey>,
    ) {
        self.assigned = assigned;
        self.bans = bans;
        self.generation += 1;
    }

    /// Take a stored event into account: rosters extend the chain, guardianship records
    /// change wards. Other kinds change nothing.
    pub fn apply(&mut self, event: &Event) {
        match event.kind.as_u16() {
            kinds::ROSTER if self.rosters.iter().all(|r| r.id != event.id) => {
                self.rosters.push(event.clone());
                self.chain = verify_roster_chain(&self.practice, &self.rosters);
                self.generation += 1;
            }
            kinds::GUARDIANSHIP => {
                if let Ok(record) = Guardianship::parse(event) {
                    let key = (record.ward, record.guardian);
                    let newer = self
                        .guardianships
                        .get(&key)
                        .is_none_or(|(at, id, _)| (record.created_at, record.id) > (*at, *id));
                    if newer {
                        self.guardianships
                            .insert(key, (record.created_at, record.id, record.status));
                        self.generation += 1;
                    }
                }
            }
            kinds::SLOT_HOLD | kinds::APPOINTMENT => self.scheduling.apply(&self.chain, event),
            _ => {}
        }
    }

    /// Whether a slot hold or an appointment may be stored now (checked in the writer, where
    /// they commit one at a time): no second hold of a held time, no fourth waiting request.
    pub fn check_scheduling(&self, event: &Event) -> Result<(), Reject> {
        self.scheduling.check(&self.chain, event)
    }

    /// Whether a roster event would be accepted into the chain.
    ///
    /// It must name the current tip as its predecessor and become the new tip: a roster that
    /// competes for an earlier place could otherwise displace rosters already accepted,
    /// root-signed ones included, and bring back revoked admins or old epochs.
    pub fn check_roster(&self, event: &Event) -> Result<(), Reject> {
        const NOT_NEXT: Reject =
            Reject::restricted("roster is not a valid next link of the practice's roster chain");
        let roster = Roster::parse(event).map_err(|_| Reject::invalid("malformed roster"))?;
        let tip = self.chain.current().map(|r| r.id);
        if roster.content.previous != tip {
            return Err(NOT_NEXT);
        }
        let mut candidates = self.rosters.clone();
        candidates.push(event.clone());
        let chain = verify_roster_chain(&self.practice, &candidates);
        if chain.current().map(|r| r.id) != Some(event.id) {
            return Err(NOT_NEXT);
        }
        Ok(())
    }

    /// What `pubkey` is at `now`.
    pub fn roles(&self, pubkey: &PublicKey, now: Timestamp) -> Roles {
        Roles::resolve(
            &self.practice,
            &self.chain,
            &self.assigned,
            &self.bans,
            pubkey,
            now,
        )
    }

    /// Whether `pubkey` is the root or is, or ever was, in a roster of the chain (staff or
    /// agent): such a key is never also a patient or guardian, so a revoked staff key cannot
    /// come back through NIP-86 or a guardianship.
    pub fn ever_staff(&self, pubkey: &PublicKey) -> bool {
        *pubkey == self.practice
            || self
                .chain
                .rosters()
                .iter()
                .any(|roster| roster.content.member(pubkey).is_some())
    }

    /// Whether `pubkey` may receive gift wraps here: any current member.
    pub fn is_member(&self, pubkey: &PublicKey, now: Timestamp) -> bool {
        self.roles(pubkey, now).is_member()
    }

    /// The NIP-86 roles, for `listallowedpubkeys`.
    pub fn assigned(&self) -> &BTreeMap<PublicKey, BTreeSet<AssignedRole>> {
        &self.assigned
    }

    /// Current roster members and their roles.
    pub fn staff_at(&self, now: Timestamp) -> Vec<(PublicKey, Role)> {
        self.chain
            .members_at(now)
            .into_iter()
            .map(|m| (m.pubkey, m.role))
            .collect()
    }

    /// Banned keys.
    pub fn bans(&self) -> &BTreeSet<PublicKey> {
        &self.bans
    }

    /// The wards whose guardianship by `guardian` is in force.
    pub fn wards_of(&self, guardian: &PublicKey) -> BTreeSet<PublicKey> {
        self.guardianships
            .iter()
            .filter(|((_, g), (_, _, status))| {
                g == guardian && *status == GuardianshipStatus::Active
            })
            .map(|((ward, _), _)| *ward)
            .collect()
    }

    /// What an authenticated `reader` may read now, or why it may read nothing.
    pub fn read_scope(&self, reader: &PublicKey, now: Timestamp) -> Result<ReadScope, Reject> {
        let roles = self.roles(reader, now);
        if roles.banned {
            return Err(Reject::blocked("this key is banned from the relay"));
        }
        if !roles.is_member() {
            return Err(Reject::restricted(
                "this key is not a member of the practice",
            ));
        }
        let mut scope = ReadScope {
            reader: *reader,
            everything: roles.is_clinical_staff(),
            kinds: BTreeSet::new(),
            reader_hex: reader.to_hex(),
            tagged: BTreeSet::from([reader.to_hex()]),
            practice_profile: None,
        };
        match roles.staff {
            Some(Role::Frontdesk) => {
                scope.kinds.extend([
                    kinds::ROSTER,
                    kinds::CHART_KEY_WRAP,
                    ClinicalKind::Patient.as_u16(),
                    ClinicalKind::Message.as_u16(),
                    ClinicalKind::Appointment.as_u16(),
                    kinds::SCHEDULE,
                    kinds::SLOT_HOLD,
                    // Who is whose guardian (no key in it): a guardian's request for her ward
                    // is the ward's, and the desk deals with parents all day.
                    kinds::GUARDIANSHIP,
                ]);
            }
            Some(Role::FhirGateway) => {
                // Every chart-key wrap, though it opens only its own: a wrap of a newer version
                // to the epoch alone is how it learns a consent was withdrawn.
                scope.kinds.extend([kinds::ROSTER, kinds::CHART_KEY_WRAP]);
                scope
                    .kinds
                    .extend(ClinicalKind::ALL.iter().map(|k| k.as_u16()));
            }
            Some(Role::BillingBot) => {
                // Rosters, and inbox relay lists (NIP-17 kind 10050): where to deliver a DM.
                scope
                    .kinds
                    .extend([kinds::ROSTER, Kind::InboxRelays.as_u16()]);
            }
            _ => {}
        }
        if !roles.assigned.is_empty() {
            // Schedules and holds name no patient: what a patient books from.
            scope
                .kinds
                .extend([kinds::ROSTER, kinds::SCHEDULE, kinds::SLOT_HOLD]);
            scope.practice_profile = Some(self.practice);
            if roles.assigned.contains(&AssignedRole::Guardian) {
                scope
                    .tagged
                    .extend(self.wards_of(reader).iter().map(PublicKey::to_hex));
            }
        }
        Ok(scope)
    }

    /// Whether `author` may have `event` stored now (gift wraps and deletions have further
    /// rules, applied by the caller).
    pub fn check_author(&self, event: &Event, now: Timestamp) -> Result<(), Reject> {
        let roles = self.roles(&event.pubkey, now);
        if roles.banned {
            return Err(Reject::blocked("the author is banned from the relay"));
        }
        if !roles.is_member() {
            return Err(Reject::restricted(
                "the author is not a member of the practice",
            ));
        }
        if roles.root {
            return self.check_guardianship(event);
        }
        let kind = event.kind.as_u16();
        if roles.staff == Some(Role::BillingBot) && kind != GIFT_WRAP {
            return Err(Reject::restricted(
                "the billing bot may publish only gift wraps",
            ));
        }
        if !is_practice_kind(kind) {
            // The rest of the practice's range is reserved: stored free of quota, it would be
            // a way to fill the relay.
            if kinds::PRACTICE_RANGE.contains(&kind) {
                return Err(Reject::invalid(
                    "this kind is reserved by the practice and not in use",
                ));
            }
            return Ok(());
        }
        let staff = roles.staff;
        let allowed = match kind {
            kinds::ROSTER | kinds::EPOCH_GRANT | kinds::SERVICE_AGENT => {
                staff.is_some_and(Role::is_admin)
            }
            kinds::CHART_KEY_WRAP | kinds::GUARDIAN_GRANT | kinds::GUARDIANSHIP => {
                staff.is_some_and(Role::may_wrap_chart_keys)
            }
            kinds::AUDIT_EVENT => staff == Some(Role::FhirGateway),
            kinds::SCHEDULE | kinds::SLOT_HOLD => {
                staff.is_some_and(|r| r.may_write(ClinicalKind::Appointment))
            }
            // Sealed to the reminder agent: it must name the practice's agent, and only it.
            kinds::REMINDER => {
                staff.is_some_and(|r| r.may_write(ClinicalKind::Appointment))
                    && p_tags(event).count() == 1
                    && ehr_client::schedule::reminder::reminder_agent(&self.chain, now).is_some_and(
                        |agent| p_tags(event).eq([agent.to_hex()].iter().map(String::as_str)),
                    )
            }
            kinds::PRACTICE_PHRASE => staff.is_some_and(ehr_client::phrases::may_define),
            // Only the patient herself shares her records with this practice (a guardian's
            // ward shares when she can hold her own key).
            kinds::SHARED_RECORDS => {
                roles.assigned.contains(&AssignedRole::Patient)
                    && p_tags(event).eq([event.pubkey.to_hex()].iter().map(String::as_str))
            }
            _ => match ClinicalKind::from_u16(kind) {
                Some(clinical) => {
                    staff.is_some_and(|r| r.may_write(clinical))
                        || (!roles.assigned.is_empty()
                            && patient_may_write(clinical)
                            && self.writes_about_self(event, &roles))
                }
                None => false,
            },
        };
        if allowed {
            self.check_guardianship(event)?;
            self.check_domain(event)
        } else {
            Err(Reject::restricted(
                "the author's role may not write this kind",
            ))
        }
    }

    /// Once the practice has its two key domains (shared DESIGN §2), demographics and messages
    /// must be written in the office domain (an office key, or the office epoch for a
    /// patient's message): one under a chart key or the clinical epoch would be closed to the
    /// front desk. Whether a clinical kind sits under an office key is the parser's refusal.
    fn check_domain(&self, event: &Event) -> Result<(), Reject> {
        let office_kind = ClinicalKind::from_u16(event.kind.as_u16())
            .is_some_and(|kind| kind.domain() == Domain::Office);
        if !office_kind || !self.chain.is_split() {
            return Ok(());
        }
        let in_office = first_value(event, TAG_OFFICE_KEY).is_some()
            || first_value(event, TAG_DOMAIN) == Some(DOMAIN_OFFICE);
        if in_office {
            Ok(())
        } else {
            Err(Reject::invalid(
                "demographics and messages are written in the office key domain",
            ))
        }
    }

    /// A guardianship that makes a current or past staff or agent key a guardian is refused
    /// (ending one is not: that only takes access away).
    fn check_guardianship(&self, event: &Event) -> Result<(), Reject> {
        if event.kind.as_u16() != kinds::GUARDIANSHIP {
            return Ok(());
        }
        let record = Guardianship::parse(event)
            .map_err(|_| Reject::invalid("malformed guardianship record"))?;
        if record.status == GuardianshipStatus::Active && self.ever_staff(&record.guardian) {
            return Err(Reject::restricted(
                "a current or past staff or agent key cannot be a guardian",
            ));
        }
        Ok(())
    }

    /// A patient's or guardian's entry names exactly one patient: the author, or (for a
    /// guardian, as for reads) a ward.
    fn writes_about_self(&self, event: &Event, roles: &Roles) -> bool {
        let mut patients = p_tags(event);
        let (Some(patient), None) = (patients.next(), patients.next()) else {
            return false;
        };
        let Ok(patient) = PublicKey::from_hex(patient) else {
            return false;
        };
        patient == event.pubkey
            || (roles.assigned.contains(&AssignedRole::Guardian)
                && self.wards_of(&event.pubkey).contains(&patient))
    }
}
