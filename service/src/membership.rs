//! Who belongs to the practice, read-only from the relay's own database, for services that admit
//! exactly the relay's members (the Blossom server) without depending on the relay crate.
//!
//! The relay's migrations (`migrations/relay/`) own the tables; this module reads only these
//! columns of them, the same on SQLite and PostgreSQL:
//!
//! - `events (seq, kind, created_at, id, raw)`: roster (kind 2102) and guardianship (2106)
//!   events, as their stored JSON `raw`; `seq` grows with every insert.
//! - `assigned_roles (pubkey, role, assigned_at)`: NIP-86 roles, `role` `patient` or `guardian`,
//!   `pubkey` the 32-byte key.
//! - `bans (pubkey, banned_at)`: NIP-86 bans.
//!
//! The relay runs the same statements ([`sql`]) and the same row decoding ([`decode_assigned`])
//! for its own view, so these queries have one definition.

use std::collections::{BTreeMap, BTreeSet};

use ehr_client::roster::{Role, RosterChain, verify_roster_chain};
use nostr::prelude::{Event, PublicKey, Timestamp};

use crate::database::AnyDatabase;

/// The statements, with `?` placeholders (numbered for PostgreSQL by the caller).
pub mod sql {
    /// The stored JSON of every event of one kind (bind the kind), oldest first.
    pub const EVENTS_OF_KIND: &str =
        "SELECT raw FROM events WHERE kind = ? ORDER BY created_at, id";
    /// Every NIP-86 role: `(pubkey, role)`.
    pub const ASSIGNED_ROLES: &str = "SELECT pubkey, role FROM assigned_roles";
    /// Every banned key.
    pub const BANS: &str = "SELECT pubkey FROM bans";
    /// Five integers that change whenever who may do what could have changed (bind the roster
    /// and guardianship kinds): the newest such event's `seq`, and the count and newest time of
    /// roles and of bans.
    pub const ACCESS_GENERATION: &str = concat!(
        "SELECT (SELECT COALESCE(MAX(seq), 0) FROM events WHERE kind = ? OR kind = ?),",
        " (SELECT COUNT(*) FROM assigned_roles), (SELECT COALESCE(MAX(assigned_at), 0) FROM assigned_roles),",
        " (SELECT COUNT(*) FROM bans), (SELECT COALESCE(MAX(banned_at), 0) FROM bans)"
    );
}

/// The value of [`sql::ACCESS_GENERATION`]: equal values mean nothing about members changed.
pub type Generation = [i64; 5];

/// NIP-86 roles by key.
pub type Assigned = BTreeMap<PublicKey, BTreeSet<AssignedRole>>;

/// Failures reading the relay's members.
#[derive(Debug, thiserror::Error)]
pub enum MembershipError {
    /// The relay's database refused or failed (or the relay has not created it yet).
    #[error("relay database: {0}")]
    Database(#[from] sqlx::Error),
    /// A stored roster is not valid Nostr JSON.
    #[error("relay database holds a roster that is not a Nostr event")]
    BadEvent,
}

/// A role given through the NIP-86 management API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AssignedRole {
    /// Reads and writes about themselves.
    Patient,
    /// Reads and writes about their wards (kind 2106) and themselves.
    Guardian,
}

impl AssignedRole {
    /// The role's name in NIP-86 calls and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Patient => "patient",
            Self::Guardian => "guardian",
        }
    }

    /// Parse a NIP-86 role name.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "patient" => Some(Self::Patient),
            "guardian" => Some(Self::Guardian),
            _ => None,
        }
    }
}

/// Everything a key is, right now.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Roles {
    /// The practice root key.
    pub root: bool,
    /// Its role in the current roster, if it is a member valid now.
    pub staff: Option<Role>,
    /// Roles given over NIP-86.
    pub assigned: BTreeSet<AssignedRole>,
    /// Banned over NIP-86: no access at all, whatever else it is.
    pub banned: bool,
}

impl Roles {
    /// Whether the key may use the relay at all.
    pub fn is_member(&self) -> bool {
        !self.banned && (self.root || self.staff.is_some() || !self.assigned.is_empty())
    }

    /// Root, admin, doctor, nurse or MA: may manage patients over NIP-86 and read everything.
    pub fn is_clinical_staff(&self) -> bool {
        !self.banned && (self.root || self.staff.is_some_and(Role::may_wrap_chart_keys))
    }

    /// Any staff role, or root: may add patients and guardians over NIP-86.
    pub fn is_staff(&self) -> bool {
        !self.banned && (self.root || self.staff.is_some_and(|r| !r.is_agent()))
    }

    /// Root or admin.
    pub fn is_admin(&self) -> bool {
        !self.banned && (self.root || self.staff.is_some_and(Role::is_admin))
    }
}

impl Roles {
    /// What `pubkey` is at `now` in a practice whose root is `practice`, given its roster chain,
    /// NIP-86 roles and bans.
    pub fn resolve(
        practice: &PublicKey,
        chain: &RosterChain,
        assigned: &Assigned,
        bans: &BTreeSet<PublicKey>,
        pubkey: &PublicKey,
        now: Timestamp,
    ) -> Self {
        Self {
            root: pubkey == practice,
            staff: chain.role_at(pubkey, now),
            assigned: assigned.get(pubkey).cloned().unwrap_or_default(),
            banned: bans.contains(pubkey),
        }
    }
}

/// Rows of [`sql::ASSIGNED_ROLES`] and [`sql::BANS`] as keys; rows naming no valid key or role
/// (none the relay writes) are skipped.
pub fn decode_assigned(
    roles: Vec<(Vec<u8>, String)>,
    bans: &[Vec<u8>],
) -> (Assigned, BTreeSet<PublicKey>) {
    let mut assigned = Assigned::new();
    for (pubkey, role) in roles {
        if let (Ok(pubkey), Some(role)) =
            (PublicKey::from_slice(&pubkey), AssignedRole::parse(&role))
        {
            assigned.entry(pubkey).or_default().insert(role);
        }
    }
    let bans = bans
        .iter()
        .filter_map(|p| PublicKey::from_slice(p).ok())
        .collect();
    (assigned, bans)
}

/// A read-only connection to the relay's database.
#[derive(Debug, Clone)]
pub struct MembershipSource {
    db: AnyDatabase,
}

impl MembershipSource {
    /// Connect to the relay's database (`sqlite:...` or `postgres://...`). The relay creates and
    /// migrates it; until it has, reads fail.
    pub async fn open(relay_database_url: &str) -> Result<Self, MembershipError> {
        Ok(Self {
            db: AnyDatabase::connect(relay_database_url).await?,
        })
    }

    /// [`sql::ACCESS_GENERATION`]: one cheap query telling whether a view is stale.
    pub async fn access_generation(&self) -> Result<Generation, MembershipError> {
        use sqlx::Row as _;
        let row = sqlx::query(&self.db.sql(sql::ACCESS_GENERATION))
            .bind(i64::from(ehr_client::kinds::ROSTER))
            .bind(i64::from(ehr_client::kinds::GUARDIANSHIP))
            .fetch_one(&self.db.pool)
            .await?;
        Ok([
            row.try_get(0)?,
            row.try_get(1)?,
            row.try_get(2)?,
            row.try_get(3)?,
            row.try_get(4)?,
        ])
    }

    /// The practice's members now: its roster chain from `practice`, NIP-86 roles and bans.
    pub async fn members(&self, practice: PublicKey) -> Result<Members, MembershipError> {
        let raws: Vec<String> = sqlx::query_scalar(&self.db.sql(sql::EVENTS_OF_KIND))
            .bind(i64::from(ehr_client::kinds::ROSTER))
            .fetch_all(&self.db.pool)
            .await?;
        let rosters = raws
            .iter()
            .map(|raw| serde_json::from_str::<Event>(raw).map_err(|_| MembershipError::BadEvent))
            .collect::<Result<Vec<_>, _>>()?;
        let roles: Vec<(Vec<u8>, String)> = sqlx::query_as(sql::ASSIGNED_ROLES)
            .fetch_all(&self.db.pool)
            .await?;
        let bans: Vec<Vec<u8>> = sqlx::query_scalar(sql::BANS)
            .fetch_all(&self.db.pool)
            .await?;
        let (assigned, bans) = decode_assigned(roles, &bans);
        Ok(Members {
            chain: verify_roster_chain(&practice, &rosters),
            practice,
            assigned,
            bans,
        })
    }
}

/// The practice's members as read by [`MembershipSource::members`]. Guardianships are not
/// read: who a guardian's wards are gives no standing of its own outside the relay.
#[derive(Debug, Clone)]
pub struct Members {
    practice: PublicKey,
    chain: RosterChain,
    assigned: Assigned,
    bans: BTreeSet<PublicKey>,
}

impl Members {
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
}
