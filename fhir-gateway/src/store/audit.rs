//! The access log (FHIR `AuditEvent`s, one row per access) and the outbox of sealed kind 2107
//! events the follower publishes to the relay.

use std::collections::BTreeSet;

use ehr_service::database::AnyDatabase;
use nostr::prelude::Event;
use serde_json::Value;
use sqlx::Row;
use tokio::sync::{mpsc, oneshot};

use super::Store;
use crate::error::GatewayError;

/// Accesses waiting for the writer; a full queue makes requests wait (back-pressure).
const QUEUE: usize = 1024;

/// Accesses committed together at most.
const GROUP: usize = 256;

/// An access handed to the writer, owned, with where to say it is committed.
#[derive(Debug)]
pub struct PendingAccess {
    recorded_at: i64,
    client_id: String,
    patients: Vec<String>,
    outcome: String,
    purpose: Option<String>,
    audit_event: String,
    /// `(event id, event JSON)` of the sealed relay copies.
    sealed: Vec<(String, String)>,
    reply: oneshot::Sender<Result<(), GatewayError>>,
}

/// The one task that writes the access log. Every request waits for its access to be
/// committed before it is answered; accesses that arrive while a commit is under way are
/// committed together in the next transaction (group commit), so many concurrent requests
/// cost one fsync instead of one each and never contend for SQLite's write lock.
#[derive(Debug)]
pub struct AccessLogWriter {
    database: AnyDatabase,
}

impl AccessLogWriter {
    /// Start the writer; it ends when every sender is gone.
    pub fn spawn(database: AnyDatabase) -> mpsc::Sender<PendingAccess> {
        let (sender, queue) = mpsc::channel(QUEUE);
        tokio::spawn(tracing::Instrument::in_current_span(
            Self { database }.run(queue),
        ));
        sender
    }

    async fn run(self, mut queue: mpsc::Receiver<PendingAccess>) {
        let mut batch = Vec::with_capacity(GROUP);
        while queue.recv_many(&mut batch, GROUP).await > 0 {
            match self.insert(&batch).await {
                Ok(()) => {
                    for pending in batch.drain(..) {
                        let _ = pending.reply.send(Ok(()));
                    }
                }
                Err(error) if batch.len() == 1 => {
                    if let Some(pending) = batch.pop() {
                        let _ = pending.reply.send(Err(error));
                    }
                }
                Err(_) => {
                    // One bad access must not fail the others: each gets its own transaction.
                    for pending in batch.drain(..) {
                        let result = self.insert(std::slice::from_ref(&pending)).await;
                        let _ = pending.reply.send(result);
                    }
                }
            }
        }
    }

    /// Write `batch` in one transaction.
    async fn insert(&self, batch: &[PendingAccess]) -> Result<(), GatewayError> {
        let database = &self.database;
        let mut transaction = database.pool.begin().await?;
        let event_sql = database.sql(
            "INSERT INTO audit_events (recorded_at, client_id, patient_id, outcome, purpose, audit_event) VALUES (?, ?, ?, ?, ?, ?) RETURNING seq",
        );
        let patient_sql =
            database.sql("INSERT INTO audit_event_patients (seq, patient_id) VALUES (?, ?)");
        let outbox_sql = database.sql(
            "INSERT INTO audit_outbox (event_id, event_json, created_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
        );
        for access in batch {
            // The single patient's id stays in its column too: the common case needs no join.
            let single = match access.patients.as_slice() {
                [only] => Some(only.as_str()),
                _ => None,
            };
            let seq: i64 = sqlx::query(&event_sql)
                .bind(access.recorded_at)
                .bind(access.client_id.as_str())
                .bind(single)
                .bind(access.outcome.as_str())
                .bind(access.purpose.as_deref())
                .bind(access.audit_event.as_str())
                .fetch_one(&mut *transaction)
                .await?
                .try_get("seq")?;
            for patient in &access.patients {
                sqlx::query(&patient_sql)
                    .bind(seq)
                    .bind(patient.as_str())
                    .execute(&mut *transaction)
                    .await?;
            }
            for (id, json) in &access.sealed {
                sqlx::query(&outbox_sql)
                    .bind(id.as_str())
                    .bind(json.as_str())
                    .bind(access.recorded_at)
                    .execute(&mut *transaction)
                    .await?;
            }
        }
        transaction.commit().await?;
        Ok(())
    }
}

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
    /// The purpose of use, when it is not plain treatment: `ETREAT` for emergency access.
    pub purpose: Option<&'a str>,
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
    /// One purpose of use (`ETREAT`: the emergency accesses).
    pub purpose: Option<String>,
}

impl Store {
    /// Append an access to the log and queue its sealed relay copies, in one transaction: an
    /// access is never logged here and lost for the relay, or the reverse. Returns once the
    /// transaction is committed; concurrent accesses share one commit ([`AccessLogWriter`]).
    pub async fn record_access(
        &self,
        access: &Access<'_>,
        sealed: &[Event],
    ) -> Result<(), GatewayError> {
        let (reply, committed) = oneshot::channel();
        let pending = PendingAccess {
            recorded_at: access.recorded_at,
            client_id: access.client_id.to_owned(),
            patients: access.patients.iter().cloned().collect(),
            outcome: access.outcome.to_owned(),
            purpose: access.purpose.map(str::to_owned),
            audit_event: access.audit_event.to_string(),
            sealed: sealed
                .iter()
                .map(|e| (e.id.to_hex(), e.as_json()))
                .collect(),
            reply,
        };
        self.access_log
            .send(pending)
            .await
            .map_err(|_| GatewayError::Unavailable("the access log is closed"))?;
        committed
            .await
            .map_err(|_| GatewayError::Unavailable("the access log is closed"))?
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
        if filter.purpose.is_some() {
            sql.push_str(" AND purpose = ?");
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
        if let Some(purpose) = &filter.purpose {
            query = query.bind(purpose);
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
