//! Key material in transit (DESIGN.md §2): epoch grants (2101), chart-key wraps (2100 to the
//! epoch or to the FHIR gateway, 2104 to a guardian) and guardianships (2106).
//!
//! Every payload is a standard NIP-44 v2 message from the signer to the recipient key, and names
//! inside the ciphertext what its tags say in the clear, so a re-tagged copy is refused. Each
//! payload also carries the earlier keys of the same line (`previous`): whoever holds the newest
//! key reads the whole history, and a revoked holder, who never gets the newest, reads nothing new.

use nostr::prelude::{
    Event, EventBuilder, EventId, FinalizeEvent, Kind, PublicKey, SecretKey, Tag, Timestamp,
};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::crypto::{self, CryptoError};
use crate::keys::{ChartKey, Identity};
use crate::kinds::{self, Domain};

// The tag names live in the lowest module; re-exported here for older paths.
use crate::tags::{
    FORMAT_VERSION, TAG_CHART_KEY, TAG_DOMAIN, TAG_EPOCH, TAG_FORMAT, TAG_PATIENT, TagError, Tags,
};
pub use crate::tags::{TAG_GRANTEE, TAG_STATUS};

/// Why a grant or wrap was refused.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum GrantError {
    /// The id or signature does not verify.
    #[error("invalid grant id or signature")]
    InvalidSignature,
    /// Not the kind expected here.
    #[error("unexpected kind {0}")]
    WrongKind(u16),
    /// A tag is missing, repeated or malformed.
    #[error("malformed grant: {0}")]
    Malformed(&'static str),
    /// The grant is addressed to someone else.
    #[error("this grant is addressed to another key")]
    NotForThisKey,
    /// The plaintext disagrees with the tags.
    #[error("grant payload does not match its tags")]
    PayloadMismatch,
    /// The key in the payload is not the key the roster announced.
    #[error("epoch secret does not match the roster's epoch public key")]
    WrongEpochKey,
    /// NIP-44 failed (wrong key, altered payload).
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    /// Signing failed.
    #[error("signing failed")]
    Signing,
}

impl From<TagError> for GrantError {
    fn from(error: TagError) -> Self {
        Self::Malformed(error.as_str())
    }
}

/// An epoch secret and its number.
#[derive(Clone)]
pub struct EpochKey {
    /// Epoch number `n`.
    pub number: u64,
    /// The secret `E_n`.
    pub secret: SecretKey,
}

impl std::fmt::Debug for EpochKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EpochKey")
            .field("number", &self.number)
            .field("secret", &"<redacted>")
            .finish()
    }
}

impl EpochKey {
    /// A fresh epoch key.
    pub fn generate(number: u64) -> Self {
        Self {
            number,
            secret: SecretKey::generate(),
        }
    }

    /// The public key `E_n` announced in the roster.
    pub fn public_key(&self) -> PublicKey {
        nostr::prelude::Keys::new(self.secret.clone()).public_key()
    }
}

/// Who a chart-key wrap is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum WrapRecipient {
    /// Every member holding epoch `n` (kind 2100 with an `epoch` tag).
    Epoch(u64),
    /// The FHIR gateway agent (kind 2100 with a `P` tag).
    Gateway(PublicKey),
    /// A guardian (kind 2104).
    Guardian(PublicKey),
}

/// The facts of a chart-key wrap, readable without opening it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChartKeyWrap {
    /// Event id.
    pub id: EventId,
    /// Signer.
    pub author: PublicKey,
    /// Signed at.
    pub created_at: Timestamp,
    /// The patient whose chart key this is.
    pub patient: PublicKey,
    /// The key's version.
    pub version: u32,
    /// Which line of keys: the chart key `K_{p,v}` (clinical) or the office key `O_{p,v}`.
    pub domain: Domain,
    /// Who can open it (for [`WrapRecipient::Epoch`], the epoch of `domain`).
    pub recipient: WrapRecipient,
    content: String,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct WireChartKeys {
    patient: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    domain: Option<String>,
    version: u32,
    key: String,
    #[serde(default)]
    previous: Vec<WireVersionedKey>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct WireVersionedKey {
    version: u64,
    key: String,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct WireEpochKeys {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    domain: Option<String>,
    epoch: u64,
    secret: String,
    #[serde(default)]
    previous: Vec<WireVersionedKey>,
}

/// Wrap `current` (and the earlier versions in `previous`) of `patient`'s chart key for
/// `recipient`. For [`WrapRecipient::Epoch`], `epoch_public_key` is the roster's `E_n`.
pub fn wrap_chart_key(
    author: &Identity,
    patient: &PublicKey,
    current: &ChartKey,
    previous: &[ChartKey],
    recipient: WrapRecipient,
    epoch_public_key: Option<&PublicKey>,
    created_at: Timestamp,
) -> Result<Event, GrantError> {
    let keys = KeyLine {
        patient,
        domain: Domain::Clinical,
        current,
        previous,
    };
    wrap_key(author, &keys, recipient, epoch_public_key, created_at)
}

/// One patient's key of one domain, with the earlier versions a wrap carries along.
#[derive(Debug, Clone, Copy)]
pub struct KeyLine<'a> {
    /// The patient.
    pub patient: &'a PublicKey,
    /// Chart key (clinical) or office key.
    pub domain: Domain,
    /// The version wrapped.
    pub current: &'a ChartKey,
    /// Earlier versions (only those below `current` are carried).
    pub previous: &'a [ChartKey],
}

/// Wrap a patient's key of either domain for `recipient` ([`wrap_chart_key`] for both
/// domains). For [`WrapRecipient::Epoch`], `epoch_public_key` is the roster's key of that
/// domain's epoch (`E_n` or `F_n`).
pub fn wrap_key(
    author: &Identity,
    keys: &KeyLine<'_>,
    recipient: WrapRecipient,
    epoch_public_key: Option<&PublicKey>,
    created_at: Timestamp,
) -> Result<Event, GrantError> {
    let KeyLine {
        patient,
        domain,
        current,
        previous,
    } = *keys;
    let wire = WireChartKeys {
        patient: patient.to_hex(),
        domain: domain.tag_value().map(str::to_owned),
        version: current.version(),
        key: hex_secret(current.secret_key()).to_string(),
        previous: previous
            .iter()
            .filter(|k| k.version() < current.version())
            .map(|k| WireVersionedKey {
                version: u64::from(k.version()),
                key: hex_secret(k.secret_key()).to_string(),
            })
            .collect(),
    };
    let plaintext = Zeroizing::new(
        serde_json::to_string(&wire).map_err(|_| GrantError::Malformed("unserialisable"))?,
    );
    let (kind, to, recipient_tag) = match recipient {
        WrapRecipient::Epoch(number) => {
            let to = epoch_public_key.ok_or(GrantError::Malformed("epoch public key"))?;
            (
                kinds::CHART_KEY_WRAP,
                *to,
                Tag::custom(TAG_EPOCH, [number.to_string()]),
            )
        }
        WrapRecipient::Gateway(to) => (
            kinds::CHART_KEY_WRAP,
            to,
            Tag::custom(TAG_GRANTEE, [to.to_hex()]),
        ),
        WrapRecipient::Guardian(to) => (
            kinds::GUARDIAN_GRANT,
            to,
            Tag::custom(TAG_GRANTEE, [to.to_hex()]),
        ),
    };
    let content = crypto::nip44_encrypt(author.secret_key(), &to, &plaintext)?;
    let mut tags = vec![
        Tag::public_key(*patient),
        recipient_tag,
        Tag::custom(TAG_CHART_KEY, [current.version().to_string()]),
        Tag::custom(TAG_FORMAT, [FORMAT_VERSION]),
    ];
    tags.extend(domain_tag(domain));
    EventBuilder::new(Kind::from(kind), content)
        .tags(tags)
        .custom_created_at(created_at)
        .finalize(author.keys())
        .map_err(|_| GrantError::Signing)
}

impl ChartKeyWrap {
    /// Verify and parse a kind 2100 or 2104 event.
    pub fn parse(event: &Event) -> Result<Self, GrantError> {
        let kind = event.kind.as_u16();
        if kind != kinds::CHART_KEY_WRAP && kind != kinds::GUARDIAN_GRANT {
            return Err(GrantError::WrongKind(kind));
        }
        event.verify().map_err(|_| GrantError::InvalidSignature)?;
        let tags = Tags::read(event)?;
        let patient = tags.public_key(TAG_PATIENT)?;
        let version = tags.number(TAG_CHART_KEY)?;
        let version = u32::try_from(version).map_err(|_| GrantError::Malformed(TAG_CHART_KEY))?;
        let recipient = match (kind, tags.get(TAG_EPOCH), tags.get(TAG_GRANTEE)) {
            (kinds::CHART_KEY_WRAP, Some(_), None) => WrapRecipient::Epoch(tags.number(TAG_EPOCH)?),
            (kinds::CHART_KEY_WRAP, None, Some(_)) => {
                WrapRecipient::Gateway(tags.public_key(TAG_GRANTEE)?)
            }
            (kinds::GUARDIAN_GRANT, None, Some(_)) => {
                WrapRecipient::Guardian(tags.public_key(TAG_GRANTEE)?)
            }
            _ => return Err(GrantError::Malformed("recipient")),
        };
        tags.only(&[
            TAG_PATIENT,
            TAG_CHART_KEY,
            TAG_EPOCH,
            TAG_GRANTEE,
            TAG_FORMAT,
            TAG_DOMAIN,
        ])?;
        let domain = read_domain(&tags)?;
        Ok(Self {
            id: event.id,
            author: event.pubkey,
            created_at: event.created_at,
            patient,
            version,
            domain,
            recipient,
            content: event.content.clone(),
        })
    }

    /// Open an epoch wrap with the epoch secret. Returns the wrapped key first, then the
    /// earlier versions it carries.
    pub fn open_with_epoch(&self, epoch: &EpochKey) -> Result<Vec<ChartKey>, GrantError> {
        match self.recipient {
            WrapRecipient::Epoch(number) if number == epoch.number => self.open(&epoch.secret),
            _ => Err(GrantError::NotForThisKey),
        }
    }

    /// Open a direct wrap (gateway, guardian) as its grantee.
    pub fn open_as_grantee(&self, grantee: &Identity) -> Result<Vec<ChartKey>, GrantError> {
        match self.recipient {
            WrapRecipient::Gateway(to) | WrapRecipient::Guardian(to)
                if to == grantee.public_key() =>
            {
                self.open(grantee.secret_key())
            }
            _ => Err(GrantError::NotForThisKey),
        }
    }

    fn open(&self, secret: &SecretKey) -> Result<Vec<ChartKey>, GrantError> {
        let conversation = crypto::conversation_key(secret, &self.author)?;
        self.open_with_conversation(&conversation)
    }

    /// The NIP-44 payload a direct wrap's grantee decrypts (from [`Self::author`]): what a
    /// grantee whose key sits in a signer hands it ([`Self::open_decrypted`] then reads it).
    pub fn ciphertext(&self) -> &str {
        &self.content
    }

    /// Open a direct wrap from its plaintext, decrypted by the grantee's signer.
    pub fn open_decrypted(&self, plaintext: &str) -> Result<Vec<ChartKey>, GrantError> {
        self.parse_plaintext(plaintext)
    }

    /// Open the wrap with the NIP-44 conversation key of its recipient and its author, derived
    /// once by a reader that opens many wraps from one author ([`crate::access::PracticeView`]).
    pub(crate) fn open_with_conversation(
        &self,
        conversation: &crypto::ConversationKey,
    ) -> Result<Vec<ChartKey>, GrantError> {
        let bytes = crypto::decrypt_with_conversation_key(conversation, &self.content)?;
        let plaintext = Zeroizing::new(String::from_utf8(bytes).map_err(|_| CryptoError::NotUtf8)?);
        self.parse_plaintext(&plaintext)
    }

    fn parse_plaintext(&self, plaintext: &str) -> Result<Vec<ChartKey>, GrantError> {
        let wire: WireChartKeys =
            serde_json::from_str(plaintext).map_err(|_| GrantError::PayloadMismatch)?;
        if wire.patient != self.patient.to_hex()
            || wire.version != self.version
            || Domain::from_tag(wire.domain.as_deref()) != Some(self.domain)
        {
            return Err(GrantError::PayloadMismatch);
        }
        let mut keys = vec![chart_key(u64::from(wire.version), &wire.key)?];
        for earlier in &wire.previous {
            if earlier.version >= u64::from(self.version) {
                return Err(GrantError::PayloadMismatch);
            }
            keys.push(chart_key(earlier.version, &earlier.key)?);
        }
        Ok(keys)
    }
}

/// Seal clinical epoch `current` (and the earlier epochs in `previous`) to `member` (kind 2101).
pub fn grant_epoch(
    granter: &Identity,
    member: &PublicKey,
    current: &EpochKey,
    previous: &[EpochKey],
    created_at: Timestamp,
) -> Result<Event, GrantError> {
    grant_epoch_in(
        Domain::Clinical,
        granter,
        member,
        current,
        previous,
        created_at,
    )
}

/// Seal epoch `current` of `domain` (and the earlier epochs of that domain in `previous`) to
/// `member` (kind 2101, tagged `["domain","office"]` for the office epoch).
pub fn grant_epoch_in(
    domain: Domain,
    granter: &Identity,
    member: &PublicKey,
    current: &EpochKey,
    previous: &[EpochKey],
    created_at: Timestamp,
) -> Result<Event, GrantError> {
    let wire = WireEpochKeys {
        domain: domain.tag_value().map(str::to_owned),
        epoch: current.number,
        secret: hex_secret(&current.secret).to_string(),
        previous: previous
            .iter()
            .filter(|k| k.number < current.number)
            .map(|k| WireVersionedKey {
                version: k.number,
                key: hex_secret(&k.secret).to_string(),
            })
            .collect(),
    };
    let plaintext = Zeroizing::new(
        serde_json::to_string(&wire).map_err(|_| GrantError::Malformed("unserialisable"))?,
    );
    let content = crypto::nip44_encrypt(granter.secret_key(), member, &plaintext)?;
    let mut tags = vec![
        Tag::public_key(*member),
        Tag::custom(TAG_EPOCH, [current.number.to_string()]),
        Tag::custom(TAG_FORMAT, [FORMAT_VERSION]),
    ];
    tags.extend(domain_tag(domain));
    EventBuilder::new(Kind::from(kinds::EPOCH_GRANT), content)
        .tags(tags)
        .custom_created_at(created_at)
        .finalize(granter.keys())
        .map_err(|_| GrantError::Signing)
}

/// The facts of an epoch grant (kind 2101), readable without opening it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EpochGrant {
    /// Event id.
    pub id: EventId,
    /// Signer.
    pub granter: PublicKey,
    /// Signed at.
    pub created_at: Timestamp,
    /// The member it is sealed to.
    pub member: PublicKey,
    /// The domain of the epoch it grants.
    pub domain: Domain,
    /// The epoch it grants.
    pub epoch: u64,
    content: String,
}

impl EpochGrant {
    /// Verify and parse a kind 2101 event.
    pub fn parse(event: &Event) -> Result<Self, GrantError> {
        if event.kind.as_u16() != kinds::EPOCH_GRANT {
            return Err(GrantError::WrongKind(event.kind.as_u16()));
        }
        event.verify().map_err(|_| GrantError::InvalidSignature)?;
        let tags = Tags::read(event)?;
        tags.only(&[TAG_PATIENT, TAG_EPOCH, TAG_FORMAT, TAG_DOMAIN])?;
        Ok(Self {
            id: event.id,
            granter: event.pubkey,
            created_at: event.created_at,
            domain: read_domain(&tags)?,
            member: tags.public_key(TAG_PATIENT)?,
            epoch: tags.number(TAG_EPOCH)?,
            content: event.content.clone(),
        })
    }

    /// Open the grant as its member: the granted epoch first, then the earlier ones. The
    /// caller checks the granter's authority and each key against the roster.
    pub fn open(&self, member: &Identity) -> Result<Vec<EpochKey>, GrantError> {
        if member.public_key() != self.member {
            return Err(GrantError::NotForThisKey);
        }
        let plaintext = Zeroizing::new(crypto::nip44_decrypt(
            member.secret_key(),
            &self.granter,
            &self.content,
        )?);
        self.open_decrypted(&plaintext)
    }

    /// The NIP-44 payload the member decrypts (from [`Self::granter`]): what a member whose
    /// key sits in a signer (NIP-07, NIP-46) hands it.
    pub fn ciphertext(&self) -> &str {
        &self.content
    }

    /// Open the grant from its plaintext, decrypted by the member's signer. The checks are
    /// [`Self::open`]'s.
    pub fn open_decrypted(&self, plaintext: &str) -> Result<Vec<EpochKey>, GrantError> {
        let wire: WireEpochKeys =
            serde_json::from_str(plaintext).map_err(|_| GrantError::PayloadMismatch)?;
        if wire.epoch != self.epoch || Domain::from_tag(wire.domain.as_deref()) != Some(self.domain)
        {
            return Err(GrantError::PayloadMismatch);
        }
        let mut keys = vec![epoch_key(self.epoch, &wire.secret)?];
        for earlier in &wire.previous {
            if earlier.version >= self.epoch {
                return Err(GrantError::PayloadMismatch);
            }
            keys.push(epoch_key(earlier.version, &earlier.key)?);
        }
        Ok(keys)
    }
}

/// Whether a guardianship is in force.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GuardianshipStatus {
    /// The guardian may read the ward's chart.
    Active,
    /// The guardianship ended; the ward's chart key has rotated away from the guardian.
    Ended,
}

impl GuardianshipStatus {
    fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Ended => "ended",
        }
    }
}

/// A guardianship record (kind 2106): plaintext, because the relay needs it to decide what a
/// guardian may read. It holds no key; the key travels in a guardian grant (2104).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Guardianship {
    /// Event id.
    pub id: EventId,
    /// Signer.
    pub author: PublicKey,
    /// Signed at.
    pub created_at: Timestamp,
    /// The ward (patient).
    pub ward: PublicKey,
    /// The guardian.
    pub guardian: PublicKey,
    /// In force or ended.
    pub status: GuardianshipStatus,
}

impl Guardianship {
    /// Sign a guardianship record.
    pub fn sign(
        author: &Identity,
        ward: &PublicKey,
        guardian: &PublicKey,
        status: GuardianshipStatus,
        created_at: Timestamp,
    ) -> Result<Event, GrantError> {
        EventBuilder::new(Kind::from(kinds::GUARDIANSHIP), "")
            .tags([
                Tag::public_key(*ward),
                Tag::custom(TAG_GRANTEE, [guardian.to_hex()]),
                Tag::custom(TAG_STATUS, [status.as_str()]),
                Tag::custom(TAG_FORMAT, [FORMAT_VERSION]),
            ])
            .custom_created_at(created_at)
            .finalize(author.keys())
            .map_err(|_| GrantError::Signing)
    }

    /// Verify and parse a kind 2106 event.
    pub fn parse(event: &Event) -> Result<Self, GrantError> {
        if event.kind.as_u16() != kinds::GUARDIANSHIP {
            return Err(GrantError::WrongKind(event.kind.as_u16()));
        }
        event.verify().map_err(|_| GrantError::InvalidSignature)?;
        let tags = Tags::read(event)?;
        tags.only(&[TAG_PATIENT, TAG_GRANTEE, TAG_STATUS, TAG_FORMAT])?;
        let status = match tags.get(TAG_STATUS) {
            Some("active") => GuardianshipStatus::Active,
            Some("ended") => GuardianshipStatus::Ended,
            _ => return Err(GrantError::Malformed(TAG_STATUS)),
        };
        Ok(Self {
            id: event.id,
            author: event.pubkey,
            created_at: event.created_at,
            ward: tags.public_key(TAG_PATIENT)?,
            guardian: tags.public_key(TAG_GRANTEE)?,
            status,
        })
    }
}

/// The `["domain","office"]` tag of an office grant or wrap; none for clinical.
fn domain_tag(domain: Domain) -> Option<Tag> {
    domain
        .tag_value()
        .map(|value| Tag::custom(TAG_DOMAIN, [value]))
}

fn read_domain(tags: &Tags<'_>) -> Result<Domain, GrantError> {
    Domain::from_tag(tags.get(TAG_DOMAIN)).ok_or(GrantError::Malformed(TAG_DOMAIN))
}

fn hex_secret(secret: &SecretKey) -> Zeroizing<String> {
    Zeroizing::new(secret.to_secret_hex())
}

fn chart_key(version: u64, hex: &str) -> Result<ChartKey, GrantError> {
    let version = u32::try_from(version).map_err(|_| GrantError::PayloadMismatch)?;
    let bytes = Zeroizing::new(hex::decode(hex).map_err(|_| GrantError::PayloadMismatch)?);
    ChartKey::from_bytes(version, &bytes).map_err(|_| GrantError::PayloadMismatch)
}

fn epoch_key(number: u64, hex: &str) -> Result<EpochKey, GrantError> {
    let secret = SecretKey::from_hex(hex).map_err(|_| GrantError::PayloadMismatch)?;
    Ok(EpochKey { number, secret })
}
