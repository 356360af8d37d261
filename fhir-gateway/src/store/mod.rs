//! The gateway's own database (sqlx's `Any` driver over `migrations/gateway/{sqlite,postgres}`):
//! facilities' API keys and access tokens, kept only as hashes ([`Store::add_api_key`]), SMART
//! clients ([`smart`]), and the access log with its relay outbox ([`audit`]).

pub mod audit;
pub mod shl;
pub mod smart;

use ehr_service::database::AnyDatabase;
use sqlx::Row;

use crate::error::GatewayError;

/// Prefix of the API keys this gateway issues.
const KEY_PREFIX: &str = "ehrfhir";

/// A facility, as its credentials say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Client {
    /// The FHIR client id consents name.
    pub client_id: String,
    /// SMART scopes (`system/*.read`, `system/Observation.rs`, ...).
    pub scopes: Vec<String>,
}

/// What a request does, for scopes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interaction {
    /// Read by id.
    Read,
    /// Search (and `$everything`, `$export`).
    Search,
}

/// One API key as listed (never the secret).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ApiKeyInfo {
    /// Key id (the part of the key before the secret).
    pub key_id: String,
    /// The facility.
    pub client_id: String,
    /// Scopes.
    pub scopes: Vec<String>,
    /// Unix seconds.
    pub expires_at: i64,
    /// Unix seconds, when revoked.
    pub revoked_at: Option<i64>,
}

/// What a stored bearer credential is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CredentialKind {
    /// A static API key an administrator issued.
    ApiKey,
    /// A short-lived SMART access token from the token endpoint.
    AccessToken,
}

impl CredentialKind {
    fn as_str(self) -> &'static str {
        match self {
            Self::ApiKey => "api-key",
            Self::AccessToken => "access-token",
        }
    }
}

/// The database.
#[derive(Debug, Clone)]
pub struct Store {
    database: AnyDatabase,
    /// The access-log writer's queue ([`audit::AccessLogWriter`]).
    access_log: tokio::sync::mpsc::Sender<audit::PendingAccess>,
}

/// Whether space-separated registered scopes hold the emergency permission.
fn has_emergency(registered: &str) -> bool {
    registered
        .split(' ')
        .any(|s| s == crate::scopes::EMERGENCY_SCOPE)
}

pub(crate) fn random_hex(bytes: usize) -> Result<String, GatewayError> {
    let mut buffer = vec![0u8; bytes];
    getrandom::fill(&mut buffer)
        .map_err(|_| GatewayError::Config("no randomness available".into()))?;
    Ok(hex::encode(buffer))
}

fn hash(secret: &str) -> String {
    ehr_client::document::sha256_hex(secret.as_bytes())
}

impl Store {
    /// Connect and migrate.
    pub async fn open(database_url: &str) -> Result<Self, GatewayError> {
        let database = AnyDatabase::connect(database_url).await?;
        if database.postgres {
            sqlx::migrate!("../migrations/gateway/postgres")
                .run(&database.pool)
                .await?;
        } else {
            sqlx::migrate!("../migrations/gateway/sqlite")
                .run(&database.pool)
                .await?;
        }
        let access_log = audit::AccessLogWriter::spawn(database.clone());
        Ok(Self {
            database,
            access_log,
        })
    }

    fn sql<'a>(&self, sql: &'a str) -> std::borrow::Cow<'a, str> {
        self.database.sql(sql)
    }

    /// Issue an API key for `client_id`, a registered, live SMART client (else `NotFound`, and
    /// nothing is written); the key itself is returned once and never stored.
    pub async fn add_api_key(
        &self,
        client_id: &str,
        scopes: &[String],
        now: i64,
        expires_at: i64,
    ) -> Result<String, GatewayError> {
        self.add_credential(CredentialKind::ApiKey, client_id, scopes, now, expires_at)
            .await?
            .ok_or(GatewayError::NotFound(
                "no registered, live client with this id; register it first",
            ))
    }

    /// Store a bearer credential of `kind`; the credential is returned once and never stored.
    /// It is stored only while its SMART client is registered and live, in the same statement,
    /// so a revocation can never be overtaken by a credential issued from an earlier look, and
    /// no credential names a facility the practice never registered (`Ok(None)`).
    async fn add_credential(
        &self,
        kind: CredentialKind,
        client_id: &str,
        scopes: &[String],
        now: i64,
        expires_at: i64,
    ) -> Result<Option<String>, GatewayError> {
        crate::scopes::check_client_id(client_id)?;
        crate::scopes::check_credential_scopes(scopes)?;
        if scopes.iter().any(|s| s == crate::scopes::EMERGENCY_SCOPE)
            && !self
                .smart_client(client_id)
                .await?
                .is_some_and(|c| c.scopes.iter().any(|s| s == crate::scopes::EMERGENCY_SCOPE))
        {
            return Err(GatewayError::Forbidden(
                "this client is not registered with the emergency permission",
            ));
        }
        let key_id = random_hex(8)?;
        let secret = random_hex(32)?;
        let sql = self.sql(
            "INSERT INTO api_keys (key_id, client_id, secret_sha256, scopes, created_at, expires_at, kind) SELECT ?, ?, ?, ?, ?, ?, ? \
             WHERE EXISTS (SELECT 1 FROM smart_clients WHERE client_id = ? AND revoked_at IS NULL)",
        );
        let done = sqlx::query(&sql)
            .bind(&key_id)
            .bind(client_id)
            .bind(hash(&secret))
            .bind(scopes.join(" "))
            .bind(now)
            .bind(expires_at)
            .bind(kind.as_str())
            .bind(client_id)
            .execute(&self.database.pool)
            .await?;
        Ok((done.rows_affected() > 0).then(|| format!("{KEY_PREFIX}_{key_id}_{secret}")))
    }

    /// The facility a credential belongs to, if the credential is valid at `now` and its client
    /// is registered and live, and was so when the credential was issued: a row naming a client
    /// never registered (older databases allowed that), revoked, or registered again since,
    /// reads nothing, so a consent to any facility reaches registered, live clients only.
    pub async fn check_api_key(&self, key: &str, now: i64) -> Result<Option<Client>, GatewayError> {
        let mut parts = key.split('_');
        let (Some(KEY_PREFIX), Some(key_id), Some(secret), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Ok(None);
        };
        let sql = self.sql(
            "SELECT k.client_id, k.secret_sha256, k.scopes, k.expires_at, k.revoked_at, c.scopes AS registered FROM api_keys k \
             JOIN smart_clients c ON c.client_id = k.client_id AND c.revoked_at IS NULL AND c.created_at <= k.created_at \
             WHERE k.key_id = ?",
        );
        let Some(row) = sqlx::query(&sql)
            .bind(key_id)
            .fetch_optional(&self.database.pool)
            .await?
        else {
            return Ok(None);
        };
        let stored: String = row.try_get("secret_sha256")?;
        let expires_at: i64 = row.try_get("expires_at")?;
        let revoked_at: Option<i64> = row.try_get("revoked_at")?;
        if stored != hash(secret) || expires_at <= now || revoked_at.is_some() {
            return Ok(None);
        }
        let scopes: String = row.try_get("scopes")?;
        let client = Client {
            client_id: row.try_get("client_id")?,
            scopes: scopes.split(' ').map(str::to_owned).collect(),
        };
        // The emergency permission is the registration's: a credential carrying it reads only
        // while the client is still registered with it.
        let registered: String = row.try_get("registered")?;
        if client.is_emergency() && !has_emergency(&registered) {
            return Ok(None);
        }
        Ok(Some(client))
    }

    /// Revoke an API key; `false` when there is no such key.
    pub async fn revoke_api_key(&self, key_id: &str, now: i64) -> Result<bool, GatewayError> {
        let sql = self.sql(
            "UPDATE api_keys SET revoked_at = ? WHERE key_id = ? AND kind = 'api-key' AND revoked_at IS NULL",
        );
        let done = sqlx::query(&sql)
            .bind(now)
            .bind(key_id)
            .execute(&self.database.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Every API key, newest first.
    pub async fn api_keys(&self) -> Result<Vec<ApiKeyInfo>, GatewayError> {
        let rows = sqlx::query(
            "SELECT key_id, client_id, scopes, expires_at, revoked_at FROM api_keys WHERE kind = 'api-key' ORDER BY created_at DESC",
        )
        .fetch_all(&self.database.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let scopes: String = row.try_get("scopes")?;
                Ok(ApiKeyInfo {
                    key_id: row.try_get("key_id")?,
                    client_id: row.try_get("client_id")?,
                    scopes: scopes.split(' ').map(str::to_owned).collect(),
                    expires_at: row.try_get("expires_at")?,
                    revoked_at: row.try_get("revoked_at")?,
                })
            })
            .collect()
    }
}
