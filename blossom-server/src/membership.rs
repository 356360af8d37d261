//! Who may use the Blossom server: exactly the relay's members, read from the relay's own
//! database (roster chain, NIP-86 roles, bans) with `ehr_relay::hub::load_access`. There is no
//! second list to keep. The view is refreshed every few seconds, and at once (at most once a
//! second) when an unknown key asks, so a patient added a moment ago is not turned away.

use std::time::{Duration, Instant};

use ehr_relay::access::Access;
use ehr_relay::store::Store as RelayStore;
use nostr::prelude::{PublicKey, Timestamp};
use tokio::sync::RwLock;

use crate::error::BlossomError;

/// How old the view may get.
const REFRESH: Duration = Duration::from_secs(5);
/// How often an unknown key may force a refresh.
const MISS_REFRESH: Duration = Duration::from_secs(1);

/// What a key may do here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Standing {
    /// Staff (any roster role but the agents), root, or a patient or guardian: may upload.
    pub may_upload: bool,
    /// Any member: may read blobs.
    pub may_read: bool,
    /// Root or admin: may list anyone's blobs.
    pub is_admin: bool,
}

/// The relay's members, cached.
#[derive(Debug)]
pub struct Membership {
    relay: RelayStore,
    practice: PublicKey,
    view: RwLock<(Access, Instant)>,
    /// One reload at a time: the requests that find the view stale wait for it, not repeat it.
    reloading: tokio::sync::Mutex<()>,
}

impl Membership {
    /// Open the relay's database and load its members.
    pub async fn open(relay_database_url: &str, practice: PublicKey) -> Result<Self, BlossomError> {
        let config = ehr_relay::RelayConfig::new(practice, relay_database_url);
        let relay = RelayStore::open(&config.database).await?;
        let access = ehr_relay::hub::load_access(&relay, practice).await?;
        Ok(Self {
            relay,
            practice,
            view: RwLock::new((access, Instant::now())),
            reloading: tokio::sync::Mutex::new(()),
        })
    }

    /// Reload the view if it is older than `max_age`, once however many requests ask at the
    /// same time (an unknown key cannot make every request reload).
    async fn refresh_if_older(&self, max_age: Duration) -> Result<(), BlossomError> {
        if self.view.read().await.1.elapsed() <= max_age {
            return Ok(());
        }
        let _reloading = self.reloading.lock().await;
        if self.view.read().await.1.elapsed() <= max_age {
            return Ok(());
        }
        let access = ehr_relay::hub::load_access(&self.relay, self.practice).await?;
        *self.view.write().await = (access, Instant::now());
        Ok(())
    }

    /// What `pubkey` may do now.
    pub async fn standing(&self, pubkey: &PublicKey) -> Result<Standing, BlossomError> {
        self.refresh_if_older(REFRESH).await?;
        let mut standing = self.read_standing(pubkey).await;
        if !standing.may_read {
            self.refresh_if_older(MISS_REFRESH).await?;
            standing = self.read_standing(pubkey).await;
        }
        Ok(standing)
    }

    async fn read_standing(&self, pubkey: &PublicKey) -> Standing {
        let view = self.view.read().await;
        let roles = view.0.roles(pubkey, Timestamp::now());
        Standing {
            may_upload: roles.is_staff() || (!roles.banned && !roles.assigned.is_empty()),
            may_read: roles.is_member(),
            is_admin: roles.is_admin(),
        }
    }
}
