//! Who may use the Blossom server: exactly the relay's members, read-only from the relay's own
//! database (roster chain, NIP-86 roles, bans) through `ehr_service::membership`, which names the
//! few tables and columns it reads. There is no second list to keep. Each request first asks the
//! relay's database for its access generation (one small query) and reloads the view only when
//! it changed, so a member added or revoked a moment ago counts at once.

use ehr_service::membership::{Generation, Members, MembershipSource};
use nostr::prelude::{PublicKey, Timestamp};
use tokio::sync::RwLock;

use crate::error::BlossomError;

/// The relay's members, cached with the database's access generation they were read at.
#[derive(Debug)]
pub struct Membership {
    relay: MembershipSource,
    practice: PublicKey,
    view: RwLock<(Members, Generation)>,
    /// One reload at a time: the requests that find the view stale wait for it, not repeat it.
    reloading: tokio::sync::Mutex<()>,
}

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

impl Membership {
    /// Open the relay's database (which the relay has created) and load its members.
    pub async fn open(relay_database_url: &str, practice: PublicKey) -> Result<Self, BlossomError> {
        let relay = MembershipSource::open(relay_database_url).await?;
        let generation = relay.access_generation().await?;
        let members = relay.members(practice).await?;
        Ok(Self {
            relay,
            practice,
            view: RwLock::new((members, generation)),
            reloading: tokio::sync::Mutex::new(()),
        })
    }

    /// Reload the view if the relay's members changed since it was read (one small query), once
    /// however many requests ask at the same time.
    async fn refresh(&self) -> Result<(), BlossomError> {
        let now = self.relay.access_generation().await?;
        if self.view.read().await.1 == now {
            return Ok(());
        }
        let _reloading = self.reloading.lock().await;
        let now = self.relay.access_generation().await?;
        if self.view.read().await.1 == now {
            return Ok(());
        }
        let members = self.relay.members(self.practice).await?;
        *self.view.write().await = (members, now);
        Ok(())
    }

    /// What `pubkey` may do now: a member added or removed a moment ago counts at once.
    pub async fn standing(&self, pubkey: &PublicKey) -> Result<Standing, BlossomError> {
        self.refresh().await?;
        Ok(self.read_standing(pubkey).await)
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
