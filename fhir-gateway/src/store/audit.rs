//! The access log (FHIR `AuditEvent`s, one row per access) and the outbox of sealed kind 2107
//! events the follower publishes to the relay.

use std::collections::BTreeSet;

use nostr::prelude::Event;
use serde_json::Value;
use sqlx::Row;

use super::Store;
use crate::error::GatewayError;

/// One access, as it is written.
#[derive(Debug)]
pub struct Access<'a> {
    /// Unix seconds.
    pub recorded_at: i64,
    /// The facility.
    pub client_id: &'a str,
    /// The gateway ids of the patients whose records it disclosed.
    pub patients: &'a BTreeSet<String>,
    /// FHIR AuditEvent outcome code (`0`, `4`, `8`).
    pub outcome: &'a str,
    /// The whole AuditEvent.
    pub audit_event: &'a Value,
}

/// What the access log is filtered by.
#[derive(Debug, Default, Clone)]
pub struct LogFilter {
    /// One facility.
    pub client_id: Option<String>,
    /// One patient (gateway id).
    pub patient_id: Option<String>,
    /// At or after (unix seconds).
    pub since: Option<i64>,
}

impl Store {
    /// Append an access to the log and queue its sealed relay copies, in one transaction: an
    /// access is never logged here and lost for the relay, or the reverse.
    pub async fn record_access(
        &self,
        access: &Access<'_>,
        sealed: &[Event],
    ) -> Result<(), GatewayError> {
        let mut transaction = self.database.pool.begin().await?;
        // The single patient's id stays in its column too: the common case needs no join.
        let single = (access.patients.len() == 1)
            .then(|| access.patients.iter().next())
            .flatten();
        let sql = self.sql(
            "INSERT INTO audit_events (recorded_at, client_id, patient_id, outcome, audit_event) VALUES (?, ?, ?, ?, ?) RETURNING seq",
        );
        let seq: i64 = sqlx::query(&sql)
            .bind(access.recorded_at)
            .bind(access.client_id)
            .bind(single)
            .bind(access.outcome)
            .bind(access.audit_event.to_string())
            .fetch_one(&mut *transaction)
            .await?
            .try_get("seq")?;
        let sql = self.sql("INSERT INTO audit_event_patients (seq, patient_id) VALUES (?, ?)");
        for patient in access.patients {
            sqlx::query(&sql)
                .bind(seq)
                .bind(patient)
                .execute(&mut *transaction)
                .await?;
        }
        let sql = self.sql(
            "INSERT INTO audit_outbox (event_id, event_json, created_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
        );
        for event in sealed {
            sqlx::query(&sql)
                .bind(event.id.to_hex())
                .bind(event.as_json())
                .bind(access.recorded_at)
                .execute(&mut *transaction)
                .await?;
        }
        transaction.commit().await?;
        Ok(())
    }

    /// The newest `limit` AuditEvents matching `filter`.
    pub async fn audit_log(
        &self,
        filter: &LogFilter,
        limit: i64,
    ) -> Result<Vec<Value>, GatewayError> {
        let mut sql = "SELECT audit_event FROM audit_events WHERE 1 = 1".to_owned();
        if filter.client_id.is_some() {
            sql.push_str(" AND client_id = ?");
        }
        if filter.patient_id.is_some() {
            sql.push_str(
                " AND EXISTS (SELECT 1 FROM audit_event_patients p WHERE p.seq = audit_events.seq AND p.patient_id = ?)",
            );
        }
        if filter.since.is_some() {
            sql.push_str(" AND recorded_at >= ?");
        }
        sql.push_str(" ORDER BY seq DESC LIMIT ?");
        let sql = self.sql(&sql);
        let mut query = sqlx::query(&sql);
        if let Some(client) = &filter.client_id {
            query = query.bind(client);
        }
        if let Some(patient) = &filter.patient_id {
            query = query.bind(patient);
        }
        if let Some(since) = filter.since {
            query = query.bind(since);
        }
        let rows = query.bind(limit).fetch_all(&self.database.pool).await?;
        rows.iter()
            .map(|row| {
                let text: String = row.try_get("audit_event")?;
                Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
            })
            .collect()
    }

    /// Sealed audit events the relay has not accepted yet, oldest first. A row that no longer
    /// parses (it never should) is dropped with an error in the log, so it cannot block the rest.
    pub async fn outbox(&self, limit: i64) -> Result<Vec<Event>, GatewayError> {
        let sql = self.sql(
            "SELECT event_id, event_json FROM audit_outbox ORDER BY created_at, event_id LIMIT ?",
        );
        let rows = sqlx::query(&sql)
            .bind(limit)
            .fetch_all(&self.database.pool)
            .await?;
        let mut events = Vec::with_capacity(rows.len());
        for row in rows {
            let json: String = row.try_get("event_json")?;
            match Event::from_json(json) {
                Ok(event) => events.push(event),
                Err(_) => {
                    let id: String = row.try_get("event_id")?;
                    tracing::error!(%id, "an unreadable audit event left the outbox");
                    let sql = self.sql("DELETE FROM audit_outbox WHERE event_id = ?");
                    sqlx::query(&sql)
                        .bind(id)
                        .execute(&self.database.pool)
                        .await?;
                }
            }
        }
        Ok(events)
    }

    /// Drop an outbox entry the relay accepted (or refused for good).
    pub async fn outbox_done(&self, event: &Event) -> Result<(), GatewayError> {
        let sql = self.sql("DELETE FROM audit_outbox WHERE event_id = ?");
        sqlx::query(&sql)
            .bind(event.id.to_hex())
            .execute(&self.database.pool)
            .await?;
        Ok(())
    }
}
