//! SMART Backend Services clients (public keys only), the replay guards of client assertions
//! and of NIP-98 admin events, and short-lived access tokens.

use serde::Serialize;
use serde_json::Value;
use sqlx::Row;

use super::{CredentialKind, Store};
use crate::error::GatewayError;

/// A registered SMART client.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SmartClient {
    /// The client id (`iss` and `sub` of its assertions; the id consents name).
    pub client_id: String,
    /// Its public keys, a JWKS.
    pub jwks: Value,
    /// The system scopes it may be granted.
    pub scopes: Vec<String>,
    /// Hex public key of the staff member who registered or last changed it.
    pub registered_by: String,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds.
    pub updated_at: i64,
    /// Unix seconds, when revoked.
    pub revoked_at: Option<i64>,
}

fn client_from(row: &sqlx::any::AnyRow) -> Result<SmartClient, GatewayError> {
    let jwks: String = row.try_get("jwks")?;
    let scopes: String = row.try_get("scopes")?;
    Ok(SmartClient {
        client_id: row.try_get("client_id")?,
        jwks: serde_json::from_str(&jwks).unwrap_or(Value::Null),
        scopes: scopes.split(' ').map(str::to_owned).collect(),
        registered_by: row.try_get("registered_by")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        revoked_at: row.try_get("revoked_at")?,
    })
}

const CLIENT_COLUMNS: &str =
    "client_id, jwks, scopes, registered_by, created_at, updated_at, revoked_at";

impl Store {
    /// Register a client, or register again one that was revoked (its old tokens stay
    /// revoked). `Conflict` when a live client already has this id (rotate it instead); one
    /// statement, so two registrations racing cannot both win.
    pub async fn register_client(
        &self,
        client_id: &str,
        jwks: &Value,
        scopes: &[String],
        registered_by: &str,
        now: i64,
    ) -> Result<SmartClient, GatewayError> {
        crate::scopes::check_client_id(client_id)?;
        crate::scopes::check_scopes(scopes)?;
        let sql = self.sql(
            "INSERT INTO smart_clients (client_id, jwks, scopes, registered_by, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?) \
             ON CONFLICT (client_id) DO UPDATE SET jwks = excluded.jwks, scopes = excluded.scopes, registered_by = excluded.registered_by, \
             created_at = excluded.created_at, updated_at = excluded.updated_at, revoked_at = NULL WHERE smart_clients.revoked_at IS NOT NULL",
        );
        let done = sqlx::query(&sql)
            .bind(client_id)
            .bind(jwks.to_string())
            .bind(scopes.join(" "))
            .bind(registered_by)
            .bind(now)
            .bind(now)
            .execute(&self.database.pool)
            .await?;
        if done.rows_affected() == 0 {
            return Err(GatewayError::Conflict(
                "a client with this id is registered; rotate or revoke it",
            ));
        }
        Ok(SmartClient {
            client_id: client_id.to_owned(),
            jwks: jwks.clone(),
            scopes: scopes.to_vec(),
            registered_by: registered_by.to_owned(),
            created_at: now,
            updated_at: now,
            revoked_at: None,
        })
    }

    /// Replace a live client's keys and, if given, its scopes. Tokens already issued stay valid
    /// until they expire (minutes); revoke the client to end them at once. `false` when there
    /// is no live client with this id.
    pub async fn rotate_client(
        &self,
        client_id: &str,
        jwks: &Value,
        scopes: Option<&[String]>,
        changed_by: &str,
        now: i64,
    ) -> Result<bool, GatewayError> {
        if let Some(scopes) = scopes {
            crate::scopes::check_scopes(scopes)?;
        }
        let done = match scopes {
            Some(scopes) => {
                let sql = self.sql(
                    "UPDATE smart_clients SET jwks = ?, scopes = ?, registered_by = ?, updated_at = ? WHERE client_id = ? AND revoked_at IS NULL",
                );
                sqlx::query(&sql)
                    .bind(jwks.to_string())
                    .bind(scopes.join(" "))
                    .bind(changed_by)
                    .bind(now)
                    .bind(client_id)
                    .execute(&self.database.pool)
                    .await?
            }
            None => {
                let sql = self.sql(
                    "UPDATE smart_clients SET jwks = ?, registered_by = ?, updated_at = ? WHERE client_id = ? AND revoked_at IS NULL",
                );
                sqlx::query(&sql)
                    .bind(jwks.to_string())
                    .bind(changed_by)
                    .bind(now)
                    .bind(client_id)
                    .execute(&self.database.pool)
                    .await?
            }
        };
        Ok(done.rows_affected() > 0)
    }

    /// Revoke a client and every credential issued to it (access tokens and API keys), at once.
    /// `false` when there is no live client with this id.
    pub async fn revoke_client(&self, client_id: &str, now: i64) -> Result<bool, GatewayError> {
        let mut transaction = self.database.pool.begin().await?;
        let sql = self.sql(
            "UPDATE smart_clients SET revoked_at = ?, updated_at = ? WHERE client_id = ? AND revoked_at IS NULL",
        );
        let done = sqlx::query(&sql)
            .bind(now)
            .bind(now)
            .bind(client_id)
            .execute(&mut *transaction)
            .await?;
        let sql = self
            .sql("UPDATE api_keys SET revoked_at = ? WHERE client_id = ? AND revoked_at IS NULL");
        sqlx::query(&sql)
            .bind(now)
            .bind(client_id)
            .execute(&mut *transaction)
            .await?;
        transaction.commit().await?;
        Ok(done.rows_affected() > 0)
    }

    /// One client, live or revoked.
    pub async fn smart_client(&self, client_id: &str) -> Result<Option<SmartClient>, GatewayError> {
        let sql = format!("SELECT {CLIENT_COLUMNS} FROM smart_clients WHERE client_id = ?");
        let sql = self.sql(&sql);
        sqlx::query(&sql)
            .bind(client_id)
            .fetch_optional(&self.database.pool)
            .await?
            .as_ref()
            .map(client_from)
            .transpose()
    }

    /// Every client, by id.
    pub async fn smart_clients(&self) -> Result<Vec<SmartClient>, GatewayError> {
        let sql = format!("SELECT {CLIENT_COLUMNS} FROM smart_clients ORDER BY client_id");
        sqlx::query(&sql)
            .fetch_all(&self.database.pool)
            .await?
            .iter()
            .map(client_from)
            .collect()
    }

    /// Claim an assertion id until it expires; `false` if it was used before.
    pub async fn claim_assertion(
        &self,
        client_id: &str,
        jti: &str,
        expires_at: i64,
        now: i64,
    ) -> Result<bool, GatewayError> {
        Ok(self
            .database
            .claim_once(
                "assertions_seen",
                &format!("{client_id} {jti}"),
                expires_at,
                now,
            )
            .await?)
    }

    /// Claim a NIP-98 event id until it leaves the window; `false` if it was used before.
    pub async fn claim_nip98(
        &self,
        event_id: &str,
        expires_at: i64,
        now: i64,
    ) -> Result<bool, GatewayError> {
        Ok(self
            .database
            .claim_once("nip98_seen", event_id, expires_at, now)
            .await?)
    }

    /// Issue a SMART access token; it is returned once and only its hash is kept. `None` when
    /// the client is not live at that moment.
    pub async fn issue_access_token(
        &self,
        client_id: &str,
        scopes: &[String],
        now: i64,
        expires_at: i64,
    ) -> Result<Option<String>, GatewayError> {
        // Expired tokens are of no use to anyone: forget them as new ones are issued.
        let sql = self.sql("DELETE FROM api_keys WHERE kind = 'access-token' AND expires_at < ?");
        sqlx::query(&sql)
            .bind(now)
            .execute(&self.database.pool)
            .await?;
        self.add_credential(
            CredentialKind::AccessToken,
            client_id,
            scopes,
            now,
            expires_at,
        )
        .await
    }
}
