//! The roster (kind 2102) and its chain rule (DESIGN.md §2).
//!
//! A roster is a plaintext, signed list of members with a role and a validity interval, plus
//! the current epoch number and epoch public key. Rosters form a chain: each names the event id
//! and sequence number of the one before. Roster 0 must be signed by the practice root key; any
//! later roster is valid if the root signed it, or if an admin of the previous valid roster
//! signed it and it changes only non-admin members. [`verify_roster_chain`] follows that chain
//! and answers who was authorised for what at any timestamp.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use nostr::prelude::{
    Event, EventBuilder, EventId, FinalizeEvent, Kind, PublicKey, Tag, Timestamp,
};
use serde::{Deserialize, Serialize};

use crate::keys::{Identity, parse_hex_public_key};
use crate::kinds::{self, ClinicalKind, Domain};
use crate::tags::{FORMAT_VERSION, TAG_FORMAT};

/// Largest roster content this library reads (a practice has hundreds of members, not millions).
pub const MAX_ROSTER_JSON: usize = 1024 * 1024;

/// Why a roster event was refused. No variant carries key material.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum RosterError {
    /// The id or signature does not verify.
    #[error("invalid roster id or signature")]
    InvalidSignature,
    /// Not kind 2102.
    #[error("not a roster event")]
    WrongKind,
    /// The content is not a roster of this format.
    #[error("malformed roster: {0}")]
    Malformed(&'static str),
    /// The roster belongs to another practice.
    #[error("roster of another practice")]
    OtherPractice,
    /// No root-signed roster 0 was found.
    #[error("no root-signed genesis roster")]
    NoGenesis,
    /// The roster does not follow the previous valid roster.
    #[error("roster is not the successor of the previous valid roster")]
    OutOfChain,
    /// The signer was neither the root nor an admin of the previous roster at `created_at`.
    #[error("roster signed by a key that may not change the roster")]
    UnauthorisedSigner,
    /// An admin (not the root) changed an admin entry.
    #[error("only the root key may change admin members")]
    AdminChangedAdmins,
    /// The epoch must stay, or advance by one with a new public key.
    #[error("invalid epoch transition")]
    BadEpoch,
    /// Another roster won the same place in the chain.
    #[error("a competing roster took this place in the chain")]
    Superseded,
    /// Signing failed.
    #[error("signing failed")]
    Signing,
}

/// A member's role (DESIGN.md §2, §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// Practice administrator: changes non-admin members, grants epochs.
    Admin,
    /// Physician.
    Doctor,
    /// Nurse.
    Nurse,
    /// Medical assistant.
    Ma,
    /// Front desk: demographics and messages only.
    Frontdesk,
    /// The FHIR gateway agent: reads charts wrapped to it by consent.
    FhirGateway,
    /// The billing bot agent: no clinical access at all.
    BillingBot,
}

impl Role {
    /// Every role.
    pub const ALL: [Self; 7] = [
        Self::Admin,
        Self::Doctor,
        Self::Nurse,
        Self::Ma,
        Self::Frontdesk,
        Self::FhirGateway,
        Self::BillingBot,
    ];

    /// The role's name on the wire and in the CLI.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Doctor => "doctor",
            Self::Nurse => "nurse",
            Self::Ma => "ma",
            Self::Frontdesk => "frontdesk",
            Self::FhirGateway => "fhir-gateway",
            Self::BillingBot => "billing-bot",
        }
    }

    /// Service agents never receive an epoch key.
    pub fn is_agent(self) -> bool {
        matches!(self, Self::FhirGateway | Self::BillingBot)
    }

    /// Whether this role receives the epoch keys of `domain` in a practice with two key domains:
    /// every staff role the office epoch, the clinical roles (not the front desk) the clinical
    /// one. Before the split ([`RosterContent::is_split`]) every staff role holds the one epoch.
    pub fn holds(self, domain: Domain) -> bool {
        match domain {
            Domain::Clinical => self.may_wrap_chart_keys(),
            Domain::Office => !self.is_agent(),
        }
    }

    /// Whether this role may sign a clinical event of `kind`.
    pub fn may_write(self, kind: ClinicalKind) -> bool {
        match self {
            Self::Admin | Self::Doctor | Self::Nurse | Self::Ma => true,
            Self::Frontdesk => matches!(
                kind,
                ClinicalKind::Patient | ClinicalKind::Message | ClinicalKind::Appointment
            ),
            Self::FhirGateway | Self::BillingBot => false,
        }
    }

    /// Whether this role may wrap chart keys and record guardianships.
    pub fn may_wrap_chart_keys(self) -> bool {
        matches!(self, Self::Admin | Self::Doctor | Self::Nurse | Self::Ma)
    }

    /// Whether this role may hand out epoch keys and change non-admin members.
    pub fn is_admin(self) -> bool {
        self == Self::Admin
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = RosterError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|role| role.as_str() == s)
            .ok_or(RosterError::Malformed("unknown role"))
    }
}

/// One roster entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// The member's own key.
    pub pubkey: PublicKey,
    /// What the member may do.
    pub role: Role,
    /// A display name for staff lists (staff names are not PHI).
    pub name: Option<String>,
    /// First second of authority.
    pub valid_from: Timestamp,
    /// First second without authority; `None` while the membership is open.
    pub valid_until: Option<Timestamp>,
}

impl Member {
    /// Whether the entry grants authority at `at`.
    pub fn is_valid_at(&self, at: Timestamp) -> bool {
        self.valid_from <= at && self.valid_until.is_none_or(|until| at < until)
    }
}

/// The content of a roster, as signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RosterContent {
    /// The practice root public key.
    pub practice: PublicKey,
    /// Position in the chain; 0 is the genesis roster.
    pub sequence: u64,
    /// Event id of the previous roster (`None` only for the genesis roster).
    pub previous: Option<EventId>,
    /// The current epoch number `n`.
    pub epoch: u64,
    /// The epoch public key `E_n`.
    pub epoch_public_key: PublicKey,
    /// The office epoch number and public key `F_n`; `None` in a practice created before the
    /// two key domains, until `ehr rotate` migrates it.
    pub office_epoch: Option<(u64, PublicKey)>,
    /// Members, each pubkey once.
    pub members: Vec<Member>,
}

impl RosterContent {
    /// Whether the practice has its two key domains (an office epoch).
    pub fn is_split(&self) -> bool {
        self.office_epoch.is_some()
    }

    /// The epoch number and public key of `domain`, if the roster announces one.
    pub fn epoch_of(&self, domain: Domain) -> Option<(u64, PublicKey)> {
        match domain {
            Domain::Clinical => Some((self.epoch, self.epoch_public_key)),
            Domain::Office => self.office_epoch,
        }
    }

    /// Whether `role` receives `domain`'s epoch keys under this roster: by [`Role::holds`] once
    /// the practice is split; before, every staff role holds the clinical epoch.
    pub fn role_holds(&self, role: Role, domain: Domain) -> bool {
        if self.is_split() {
            role.holds(domain)
        } else {
            domain == Domain::Clinical && !role.is_agent()
        }
    }

    /// The entry for `pubkey`, if any.
    pub fn member(&self, pubkey: &PublicKey) -> Option<&Member> {
        self.members.iter().find(|m| &m.pubkey == pubkey)
    }

    /// Sign this content as a roster event.
    pub fn sign(&self, signer: &Identity, created_at: Timestamp) -> Result<Event, RosterError> {
        let json = serde_json::to_string(&WireRoster::from(self))
            .map_err(|_| RosterError::Malformed("unserialisable"))?;
        EventBuilder::new(Kind::from(kinds::ROSTER), json)
            .tags([Tag::custom(TAG_FORMAT, [FORMAT_VERSION])])
            .custom_created_at(created_at)
            .finalize(signer.keys())
            .map_err(|_| RosterError::Signing)
    }
}

/// A parsed, signature-checked roster event (not yet placed in a chain).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Roster {
    /// Event id.
    pub id: EventId,
    /// Signer.
    pub signer: PublicKey,
    /// When it takes effect.
    pub created_at: Timestamp,
    /// What it says.
    pub content: RosterContent,
}

impl Roster {
    /// Verify and parse a roster event.
    pub fn parse(event: &Event) -> Result<Self, RosterError> {
        if event.kind.as_u16() != kinds::ROSTER {
            return Err(RosterError::WrongKind);
        }
        event.verify().map_err(|_| RosterError::InvalidSignature)?;
        if event.content.len() > MAX_ROSTER_JSON {
            return Err(RosterError::Malformed("too large"));
        }
        let wire: WireRoster = serde_json::from_str(&event.content)
            .map_err(|_| RosterError::Malformed("not roster JSON"))?;
        Ok(Self {
            id: event.id,
            signer: event.pubkey,
            created_at: event.created_at,
            content: wire.into_content()?,
        })
    }
}

/// The verified chain of rosters of one practice, and what was refused on the way.
#[derive(Debug, Clone, Default)]
pub struct RosterChain {
    rosters: Vec<Roster>,
    rejected: Vec<(EventId, RosterError)>,
}

impl RosterChain {
    /// Roster events that were refused, with the reason.
    pub fn rejected(&self) -> &[(EventId, RosterError)] {
        &self.rejected
    }

    /// Every valid roster of the chain, oldest first (what a reader needs to verify it again).
    pub fn rosters(&self) -> &[Roster] {
        &self.rosters
    }

    /// The newest valid roster.
    pub fn current(&self) -> Option<&Roster> {
        self.rosters.last()
    }

    /// The roster in effect at `at`: the newest valid roster created at or before it.
    pub fn roster_at(&self, at: Timestamp) -> Option<&Roster> {
        self.rosters.iter().rev().find(|r| r.created_at <= at)
    }

    /// The role `pubkey` held at `at`, if it was an authorised member then.
    pub fn role_at(&self, pubkey: &PublicKey, at: Timestamp) -> Option<Role> {
        self.roster_at(at)?
            .content
            .member(pubkey)
            .filter(|m| m.is_valid_at(at))
            .map(|m| m.role)
    }

    /// Members authorised at `at`.
    pub fn members_at(&self, at: Timestamp) -> Vec<&Member> {
        self.roster_at(at)
            .map(|r| {
                r.content
                    .members
                    .iter()
                    .filter(|m| m.is_valid_at(at))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Whether any roster of the chain names `pubkey`, in any role and at any time.
    pub fn ever_named(&self, pubkey: &PublicKey) -> bool {
        self.rosters
            .iter()
            .any(|r| r.content.member(pubkey).is_some())
    }

    /// The clinical epoch public key of epoch `number`, as the chain announced it.
    pub fn epoch_public_key(&self, number: u64) -> Option<PublicKey> {
        self.epoch_public_key_of(Domain::Clinical, number)
    }

    /// The public key of `domain`'s epoch `number`, as the chain announced it.
    pub fn epoch_public_key_of(&self, domain: Domain, number: u64) -> Option<PublicKey> {
        self.rosters
            .iter()
            .filter_map(|r| r.content.epoch_of(domain))
            .find(|(n, _)| *n == number)
            .map(|(_, key)| key)
    }

    /// The current clinical epoch number and public key.
    pub fn current_epoch(&self) -> Option<(u64, PublicKey)> {
        self.current_epoch_of(Domain::Clinical)
    }

    /// The current epoch number and public key of `domain`.
    pub fn current_epoch_of(&self, domain: Domain) -> Option<(u64, PublicKey)> {
        self.current()?.content.epoch_of(domain)
    }

    /// Whether the current roster has the two key domains.
    pub fn is_split(&self) -> bool {
        self.current().is_some_and(|r| r.content.is_split())
    }

    /// The domain and epoch a patient seals a new entry of `kind` to: the office epoch `F_n`
    /// for an office kind once the practice is split, the clinical epoch `E_n` otherwise.
    pub fn patient_seal_target(&self, kind: ClinicalKind) -> Option<SealTarget> {
        let current = &self.current()?.content;
        let domain = match current.office_epoch {
            Some(_) => kind.domain(),
            None => Domain::Clinical,
        };
        let (number, public_key) = current.epoch_of(domain)?;
        Some(SealTarget {
            domain,
            number,
            public_key,
        })
    }
}

/// The epoch a patient-authored entry's practice copy is sealed to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SealTarget {
    /// The epoch's domain.
    pub domain: Domain,
    /// The epoch number.
    pub number: u64,
    /// The epoch public key (`E_n` or `F_n`).
    pub public_key: PublicKey,
}

/// Follow the roster chain of the practice whose root key is `root`.
///
/// Events that are not rosters of this practice, forged, out of chain or unauthorised are
/// listed in [`RosterChain::rejected`] and ignored. When two valid rosters claim the same place,
/// the root-signed one wins, then the earlier, then the smaller event id; the loser is rejected
/// as [`RosterError::Superseded`]. The result is independent of the order of `events`.
pub fn verify_roster_chain<'a>(
    root: &PublicKey,
    events: impl IntoIterator<Item = &'a Event>,
) -> RosterChain {
    let mut chain = RosterChain::default();
    let mut candidates = Vec::new();
    let mut seen = BTreeSet::new();
    for event in events {
        if event.kind.as_u16() != kinds::ROSTER || !seen.insert(event.id) {
            continue;
        }
        match Roster::parse(event) {
            Ok(roster) if &roster.content.practice != root => {
                chain.rejected.push((roster.id, RosterError::OtherPractice));
            }
            Ok(roster) => candidates.push(roster),
            Err(error) => chain.rejected.push((event.id, error)),
        }
    }
    // Deterministic preference among competitors for one place in the chain.
    candidates.sort_by_key(|r| (r.signer != *root, r.created_at, r.id));

    let mut placed = BTreeSet::new();
    loop {
        let previous = chain.rosters.last();
        let mut winner = None;
        for candidate in &candidates {
            if placed.contains(&candidate.id) {
                continue;
            }
            let expected_sequence = previous.map_or(0, |p| p.content.sequence + 1);
            if candidate.content.sequence != expected_sequence {
                continue;
            }
            match check_successor(root, previous, candidate) {
                Ok(()) if winner.is_none() => winner = Some(candidate.clone()),
                Ok(()) => chain.rejected.push((candidate.id, RosterError::Superseded)),
                Err(error) => chain.rejected.push((candidate.id, error)),
            }
            placed.insert(candidate.id);
        }
        match winner {
            Some(roster) => chain.rosters.push(roster),
            None => break,
        }
    }
    for candidate in candidates {
        if !placed.contains(&candidate.id) {
            let error = if chain.rosters.is_empty() {
                RosterError::NoGenesis
            } else {
                RosterError::OutOfChain
            };
            chain.rejected.push((candidate.id, error));
        }
    }
    chain
}

fn check_successor(
    root: &PublicKey,
    previous: Option<&Roster>,
    candidate: &Roster,
) -> Result<(), RosterError> {
    let Some(previous) = previous else {
        // Genesis: root-signed, no predecessor.
        if candidate.signer != *root {
            return Err(RosterError::UnauthorisedSigner);
        }
        return match candidate.content.previous {
            None => Ok(()),
            Some(_) => Err(RosterError::OutOfChain),
        };
    };
    if candidate.content.previous != Some(previous.id) || candidate.created_at < previous.created_at
    {
        return Err(RosterError::OutOfChain);
    }
    let (old, new) = (&previous.content, &candidate.content);
    let follows = |old: (u64, PublicKey), new: (u64, PublicKey)| {
        new == old || (new.0 == old.0 + 1 && new.1 != old.1)
    };
    // Each domain alone: the office epoch first appears as 0 (the migration), then never goes.
    let office_follows = match (old.office_epoch, new.office_epoch) {
        (None, None) => true,
        (None, Some((number, _))) => number == 0,
        (Some(_), None) => false,
        (Some(old), Some(new)) => follows(old, new),
    };
    let clinical_follows = follows(
        (old.epoch, old.epoch_public_key),
        (new.epoch, new.epoch_public_key),
    );
    if !clinical_follows || !office_follows {
        return Err(RosterError::BadEpoch);
    }
    if candidate.signer == *root {
        return Ok(());
    }
    let signer_is_admin = old
        .member(&candidate.signer)
        .is_some_and(|m| m.role.is_admin() && m.is_valid_at(candidate.created_at));
    if !signer_is_admin {
        return Err(RosterError::UnauthorisedSigner);
    }
    let admins = |content: &RosterContent| -> Vec<Member> {
        let mut admins: Vec<Member> = content
            .members
            .iter()
            .filter(|m| m.role.is_admin())
            .cloned()
            .collect();
        admins.sort_by_key(|m| m.pubkey);
        admins
    };
    // Also catches promoting someone to admin, or demoting an admin: the admin set differs.
    if admins(old) != admins(new) {
        return Err(RosterError::AdminChangedAdmins);
    }
    Ok(())
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct WireRoster {
    practice: String,
    sequence: u64,
    previous: Option<String>,
    epoch: u64,
    epoch_pubkey: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    office_epoch: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    office_epoch_pubkey: Option<String>,
    members: Vec<WireMember>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct WireMember {
    pubkey: String,
    role: Role,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    valid_from: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    valid_until: Option<u64>,
}

impl From<&RosterContent> for WireRoster {
    fn from(content: &RosterContent) -> Self {
        Self {
            practice: content.practice.to_hex(),
            sequence: content.sequence,
            previous: content.previous.map(|id| id.to_hex()),
            epoch: content.epoch,
            epoch_pubkey: content.epoch_public_key.to_hex(),
            office_epoch: content.office_epoch.map(|(number, _)| number),
            office_epoch_pubkey: content.office_epoch.map(|(_, key)| key.to_hex()),
            members: content
                .members
                .iter()
                .map(|m| WireMember {
                    pubkey: m.pubkey.to_hex(),
                    role: m.role,
                    name: m.name.clone(),
                    valid_from: m.valid_from.as_secs(),
                    valid_until: m.valid_until.map(|t| t.as_secs()),
                })
                .collect(),
        }
    }
}

impl WireRoster {
    fn into_content(self) -> Result<RosterContent, RosterError> {
        let key = |hex: &str, what: &'static str| {
            parse_hex_public_key(hex).map_err(|_| RosterError::Malformed(what))
        };
        let previous = match self.previous {
            Some(hex) => {
                Some(EventId::from_hex(&hex).map_err(|_| RosterError::Malformed("previous id"))?)
            }
            None => None,
        };
        if (self.sequence == 0) != previous.is_none() {
            return Err(RosterError::Malformed("sequence and previous disagree"));
        }
        let mut seen = BTreeSet::new();
        let mut members = Vec::with_capacity(self.members.len());
        for wire in self.members {
            let pubkey = key(&wire.pubkey, "member pubkey")?;
            if !seen.insert(pubkey) {
                return Err(RosterError::Malformed("member listed twice"));
            }
            if wire
                .valid_until
                .is_some_and(|until| until < wire.valid_from)
            {
                return Err(RosterError::Malformed(
                    "validity interval ends before it starts",
                ));
            }
            if wire.name.as_ref().is_some_and(|n| n.len() > 200) {
                return Err(RosterError::Malformed("member name too long"));
            }
            members.push(Member {
                pubkey,
                role: wire.role,
                name: wire.name,
                valid_from: Timestamp::from_secs(wire.valid_from),
                valid_until: wire.valid_until.map(Timestamp::from_secs),
            });
        }
        let office_epoch = match (self.office_epoch, self.office_epoch_pubkey) {
            (None, None) => None,
            (Some(number), Some(hex)) => Some((number, key(&hex, "office epoch pubkey")?)),
            _ => return Err(RosterError::Malformed("office epoch without its key")),
        };
        let epoch_public_key = key(&self.epoch_pubkey, "epoch pubkey")?;
        if office_epoch.is_some_and(|(_, office)| office == epoch_public_key) {
            return Err(RosterError::Malformed("one key for both epochs"));
        }
        Ok(RosterContent {
            practice: key(&self.practice, "practice pubkey")?,
            sequence: self.sequence,
            previous,
            epoch: self.epoch,
            epoch_public_key,
            office_epoch,
            members,
        })
    }
}
