//! SMART Health Links at rest (DESIGN.md §15): each link's owner, label, expiry, passcode
//! (scrypt, never the passcode itself), wrong attempts left, the JWE file (ciphertext under a key
//! only the link and the patient hold), the key sealed to the patient, and its use; plus the
//! short-lived file locations handed out in manifests. Every change that a concurrent request
//! could race (a wrong passcode, a revocation, a refresh) is one conditional statement.

use ehr_client::shl::{LinkListing, NewLink, PASSCODE_ATTEMPTS};
use sqlx::Row;
use sqlx::any::AnyRow;
use subtle::ConstantTimeEq;

use super::{Store, random_hex};
use crate::error::GatewayError;

/// Active links one patient may hold at once.
pub const LINKS_PER_PATIENT: i64 = 50;

/// How long a file location in a manifest stays valid (the specification's bound).
pub const LOCATION_SECONDS: i64 = 3600;

/// scrypt's cost for passcodes (2^14 rounds, 16 MiB): an online guess is limited by the
/// attempt count anyway; this slows guessing from a stolen database copy.
const SCRYPT_LOG_N: u8 = 14;

/// One link as stored.
#[derive(Debug, Clone)]
pub struct LinkRow {
    /// Its id (the last segment of the manifest URL).
    pub link_id: String,
    /// Its owner, hex.
    pub patient: String,
    /// Its label.
    pub label: String,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds.
    pub expires_at: Option<i64>,
    passcode_hash: Option<String>,
    /// Wrong passcodes it still takes.
    pub attempts_left: Option<i64>,
    /// Kept current by her portal.
    pub latest: bool,
    /// The JWE.
    pub file: String,
    /// Unix seconds.
    pub file_updated_at: i64,
    /// Sealed to her.
    pub sealed_key: String,
    /// Revoked or disabled, Unix seconds.
    pub ended_at: Option<i64>,
    /// Manifest answers given.
    pub accesses: i64,
    /// Unix seconds.
    pub last_access_at: Option<i64>,
}

/// Why a manifest request cannot have the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Unknown, expired, revoked or disabled: nothing to say.
    Inactive,
    /// A wrong or missing passcode; this many attempts are left (0: now disabled).
    Passcode(u32),
}

const COLUMNS: &str = "link_id, patient, label, created_at, expires_at, passcode_hash, attempts_left, latest, file, file_updated_at, sealed_key, ended_at, accesses, last_access_at";

impl LinkRow {
    fn from_row(row: &AnyRow) -> Result<Self, sqlx::Error> {
        Ok(Self {
            link_id: row.try_get("link_id")?,
            patient: row.try_get("patient")?,
            label: row.try_get("label")?,
            created_at: row.try_get("created_at")?,
            expires_at: row.try_get("expires_at")?,
            passcode_hash: row.try_get("passcode_hash")?,
            attempts_left: row.try_get("attempts_left")?,
            latest: row.try_get::<i64, _>("latest")? != 0,
            file: row.try_get("file")?,
            file_updated_at: row.try_get("file_updated_at")?,
            sealed_key: row.try_get("sealed_key")?,
            ended_at: row.try_get("ended_at")?,
            accesses: row.try_get("accesses")?,
            last_access_at: row.try_get("last_access_at")?,
        })
    }

    /// Whether the link answers at `now`: not ended, not expired.
    pub fn is_active(&self, now: i64) -> bool {
        self.ended_at.is_none() && self.expires_at.is_none_or(|at| at > now)
    }

    /// Whether it asks for a passcode.
    pub fn has_passcode(&self) -> bool {
        self.passcode_hash.is_some()
    }

    /// The link as its owner's list shows it; `url` is its manifest URL.
    pub fn listing(&self, url: String) -> LinkListing {
        let unsigned = |v: i64| u64::try_from(v).unwrap_or_default();
        LinkListing {
            id: self.link_id.clone(),
            url,
            label: self.label.clone(),
            created_at: unsigned(self.created_at),
            expires_at: self.expires_at.map(unsigned),
            passcode: self.has_passcode(),
            remaining_attempts: self
                .attempts_left
                .map(|n| u32::try_from(n).unwrap_or_default()),
            latest: self.latest,
            file_updated_at: unsigned(self.file_updated_at),
            ended_at: self.ended_at.map(unsigned),
            accesses: unsigned(self.accesses),
            last_access_at: self.last_access_at.map(unsigned),
            sealed_key: self.sealed_key.clone(),
        }
    }
}

/// Passcode hashes computed at once, at most (each takes 16 MiB and a core for a while): a
/// flood of manifest requests waits here instead of exhausting memory.
static SCRYPT_SLOTS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(2);

/// `scrypt$<salt hex>$<hash hex>` of a passcode, off the async threads.
async fn hash_passcode(passcode: String) -> Result<String, GatewayError> {
    let salt = random_hex(16)?;
    let _slot = SCRYPT_SLOTS
        .acquire()
        .await
        .map_err(|_| GatewayError::Unavailable("the passcode could not be hashed"))?;
    tokio::task::spawn_blocking(move || {
        let digest = scrypt_hex(&passcode, &salt)?;
        Ok(format!("scrypt${salt}${digest}"))
    })
    .await
    .map_err(|_| GatewayError::Unavailable("the passcode could not be hashed"))?
}

fn scrypt_hex(passcode: &str, salt: &str) -> Result<String, GatewayError> {
    let params = scrypt::Params::new(SCRYPT_LOG_N, 8, 1, 32)
        .map_err(|_| GatewayError::Unavailable("the passcode could not be hashed"))?;
    let mut out = [0u8; 32];
    scrypt::scrypt(passcode.as_bytes(), salt.as_bytes(), &params, &mut out)
        .map_err(|_| GatewayError::Unavailable("the passcode could not be hashed"))?;
    Ok(hex::encode(out))
}

/// Whether `passcode` is the one `stored` hashes, compared in constant time.
async fn passcode_matches(stored: String, passcode: String) -> Result<bool, GatewayError> {
    let _slot = SCRYPT_SLOTS
        .acquire()
        .await
        .map_err(|_| GatewayError::Unavailable("the passcode could not be checked"))?;
    tokio::task::spawn_blocking(move || {
        let mut parts = stored.splitn(3, '$');
        let (Some("scrypt"), Some(salt), Some(expected)) =
            (parts.next(), parts.next(), parts.next())
        else {
            return Ok(false);
        };
        let digest = scrypt_hex(&passcode, salt)?;
        Ok(bool::from(digest.as_bytes().ct_eq(expected.as_bytes())))
    })
    .await
    .map_err(|_| GatewayError::Unavailable("the passcode could not be checked"))?
}

impl Store {
    /// Store a new link of `patient` (hex) with a fresh random id; `None` when she already holds
    /// [`LINKS_PER_PATIENT`] active links.
    pub async fn create_link(
        &self,
        patient: &str,
        link: &NewLink,
        now: i64,
    ) -> Result<Option<LinkRow>, GatewayError> {
        // 32 random bytes, as the specification asks of a manifest URL.
        let mut id = [0u8; 32];
        getrandom::fill(&mut id)
            .map_err(|_| GatewayError::Config("no randomness available".into()))?;
        let link_id = {
            use base64::Engine as _;
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(id)
        };
        let passcode_hash = match &link.passcode {
            Some(passcode) => Some(hash_passcode(passcode.clone()).await?),
            None => None,
        };
        let attempts = link
            .passcode
            .as_ref()
            .map(|_| i64::from(link.passcode_attempts.unwrap_or(PASSCODE_ATTEMPTS)));
        let expires_at = link
            .expires_at
            .map(|at| i64::try_from(at).unwrap_or(i64::MAX));
        let sql = self.sql(
            "INSERT INTO shl_links (link_id, patient, label, created_at, expires_at, passcode_hash, attempts_left, latest, file, file_updated_at, sealed_key) \
             SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ? WHERE (SELECT COUNT(*) FROM shl_links WHERE patient = ? AND ended_at IS NULL AND (expires_at IS NULL OR expires_at > ?)) < ?",
        );
        let done = sqlx::query(&sql)
            .bind(&link_id)
            .bind(patient)
            .bind(&link.label)
            .bind(now)
            .bind(expires_at)
            .bind(passcode_hash)
            .bind(attempts)
            .bind(i64::from(link.latest))
            .bind(&link.file)
            .bind(now)
            .bind(&link.sealed_key)
            .bind(patient)
            .bind(now)
            .bind(LINKS_PER_PATIENT)
            .execute(&self.database.pool)
            .await?;
        if done.rows_affected() == 0 {
            return Ok(None);
        }
        self.link(&link_id).await
    }

    /// One link by id.
    pub async fn link(&self, link_id: &str) -> Result<Option<LinkRow>, GatewayError> {
        let text = format!("SELECT {COLUMNS} FROM shl_links WHERE link_id = ?");
        let sql = self.sql(&text);
        let row = sqlx::query(&sql)
            .bind(link_id)
            .fetch_optional(&self.database.pool)
            .await?;
        Ok(row.as_ref().map(LinkRow::from_row).transpose()?)
    }

    /// Her links, newest first.
    pub async fn links_of(&self, patient: &str) -> Result<Vec<LinkRow>, GatewayError> {
        let text = format!(
            "SELECT {COLUMNS} FROM shl_links WHERE patient = ? ORDER BY created_at DESC, link_id"
        );
        let sql = self.sql(&text);
        let rows = sqlx::query(&sql)
            .bind(patient)
            .fetch_all(&self.database.pool)
            .await?;
        Ok(rows
            .iter()
            .map(LinkRow::from_row)
            .collect::<Result<_, _>>()?)
    }

    /// Revoke her link (once; a revoked link stays revoked). `None`: not hers, or no such link.
    pub async fn revoke_link(
        &self,
        patient: &str,
        link_id: &str,
        now: i64,
    ) -> Result<Option<LinkRow>, GatewayError> {
        let sql = self.sql(
            "UPDATE shl_links SET ended_at = COALESCE(ended_at, ?) WHERE link_id = ? AND patient = ?",
        );
        let done = sqlx::query(&sql)
            .bind(now)
            .bind(link_id)
            .bind(patient)
            .execute(&self.database.pool)
            .await?;
        if done.rows_affected() == 0 {
            return Ok(None);
        }
        self.delete_locations(link_id).await?;
        self.link(link_id).await
    }

    /// Replace the file of her active `latest` link. `None`: not hers, no such link, a
    /// snapshot, ended or expired.
    pub async fn replace_file(
        &self,
        patient: &str,
        link_id: &str,
        file: &str,
        now: i64,
    ) -> Result<Option<LinkRow>, GatewayError> {
        let sql = self.sql(
            "UPDATE shl_links SET file = ?, file_updated_at = ? WHERE link_id = ? AND patient = ? AND latest = 1 \
             AND ended_at IS NULL AND (expires_at IS NULL OR expires_at > ?)",
        );
        let done = sqlx::query(&sql)
            .bind(file)
            .bind(now)
            .bind(link_id)
            .bind(patient)
            .bind(now)
            .execute(&self.database.pool)
            .await?;
        if done.rows_affected() == 0 {
            return Ok(None);
        }
        self.link(link_id).await
    }

    /// Let a manifest request have `link`'s file, or say why not. Each passcode check first
    /// takes an attempt (one conditional statement), then compares; a right passcode gives it
    /// back. So concurrent guesses never get more tries than the link allows, and a wrong one
    /// that leaves none disables the link.
    pub async fn admit(
        &self,
        link: &LinkRow,
        passcode: Option<&str>,
        now: i64,
    ) -> Result<Result<(), Refusal>, GatewayError> {
        if !link.is_active(now) {
            return Ok(Err(Refusal::Inactive));
        }
        let Some(stored) = &link.passcode_hash else {
            return Ok(Ok(()));
        };
        let take = self.sql(
            "UPDATE shl_links SET attempts_left = attempts_left - 1 \
             WHERE link_id = ? AND ended_at IS NULL AND attempts_left > 0 RETURNING attempts_left",
        );
        let left: Option<i64> = sqlx::query(&take)
            .bind(&link.link_id)
            .fetch_optional(&self.database.pool)
            .await?
            .map(|row| row.try_get("attempts_left"))
            .transpose()?;
        let Some(left) = left else {
            // Ended, or every attempt is being checked by other requests right now.
            return Ok(Err(match self.link(&link.link_id).await? {
                Some(current) if current.is_active(now) => Refusal::Passcode(0),
                _ => Refusal::Inactive,
            }));
        };
        let matches = match passcode {
            Some(given) => passcode_matches(stored.clone(), given.to_owned()).await?,
            None => false,
        };
        if matches {
            let give_back = self.sql(
                "UPDATE shl_links SET attempts_left = attempts_left + 1 WHERE link_id = ? AND ended_at IS NULL",
            );
            let done = sqlx::query(&give_back)
                .bind(&link.link_id)
                .execute(&self.database.pool)
                .await?;
            return Ok(if done.rows_affected() == 1 {
                Ok(())
            } else {
                Err(Refusal::Inactive)
            });
        }
        if left == 0 {
            let disable = self.sql(
                "UPDATE shl_links SET ended_at = ? WHERE link_id = ? AND ended_at IS NULL AND attempts_left <= 0",
            );
            sqlx::query(&disable)
                .bind(now)
                .bind(&link.link_id)
                .execute(&self.database.pool)
                .await?;
        }
        Ok(Err(Refusal::Passcode(
            u32::try_from(left).unwrap_or_default(),
        )))
    }

    /// Count an answered manifest request.
    pub async fn count_access(&self, link_id: &str, now: i64) -> Result<(), GatewayError> {
        let sql = self.sql(
            "UPDATE shl_links SET accesses = accesses + 1, last_access_at = ? WHERE link_id = ?",
        );
        sqlx::query(&sql)
            .bind(now)
            .bind(link_id)
            .execute(&self.database.pool)
            .await?;
        Ok(())
    }

    /// A new location for `link_id`'s file, valid for [`LOCATION_SECONDS`]; expired ones are
    /// forgotten as new ones are made.
    pub async fn new_location(&self, link_id: &str, now: i64) -> Result<String, GatewayError> {
        let token = random_hex(32)?;
        let sql = self.sql("DELETE FROM shl_file_tokens WHERE expires_at <= ?");
        sqlx::query(&sql)
            .bind(now)
            .execute(&self.database.pool)
            .await?;
        let sql =
            self.sql("INSERT INTO shl_file_tokens (token, link_id, expires_at) VALUES (?, ?, ?)");
        sqlx::query(&sql)
            .bind(&token)
            .bind(link_id)
            .bind(now + LOCATION_SECONDS)
            .execute(&self.database.pool)
            .await?;
        Ok(token)
    }

    /// The link a live location belongs to.
    pub async fn location(&self, token: &str, now: i64) -> Result<Option<LinkRow>, GatewayError> {
        let sql =
            self.sql("SELECT link_id FROM shl_file_tokens WHERE token = ? AND expires_at > ?");
        let link_id: Option<String> = sqlx::query(&sql)
            .bind(token)
            .bind(now)
            .fetch_optional(&self.database.pool)
            .await?
            .map(|row| row.try_get("link_id"))
            .transpose()?;
        match link_id {
            Some(id) => Ok(self.link(&id).await?.filter(|link| link.is_active(now))),
            None => Ok(None),
        }
    }

    async fn delete_locations(&self, link_id: &str) -> Result<(), GatewayError> {
        let sql = self.sql("DELETE FROM shl_file_tokens WHERE link_id = ?");
        sqlx::query(&sql)
            .bind(link_id)
            .execute(&self.database.pool)
            .await?;
        Ok(())
    }
}
