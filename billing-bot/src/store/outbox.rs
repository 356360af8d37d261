//! The queue of NIP-17 messages and the record of every delivery attempt. A message is wrapped
//! and signed once, when it is queued (in the transaction that made it necessary), so every
//! retry publishes the same gift wrap and a relay that has it already answers `duplicate`.

use std::collections::HashMap;

use ehr_client::dm::Wrapped;
use nostr::prelude::Event;
use serde::Serialize;
use sqlx::any::AnyRow;

use super::{Bind, Store, Tx, execute, int, opt_int, text};
use crate::error::BillingError;

/// Why a message was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Purpose {
    /// A new invoice.
    Invoice,
    /// An overdue invoice.
    Reminder,
    /// A payment received.
    Receipt,
}

/// What a queued message is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Regarding {
    /// An invoice, for `purpose`.
    Invoice(i64, Purpose),
    /// An upcoming appointment (no invoice; `appointment` as the stored purpose).
    Appointment,
}

impl Regarding {
    fn invoice_id(self) -> Option<i64> {
        match self {
            Self::Invoice(id, _) => Some(id),
            Self::Appointment => None,
        }
    }

    fn purpose(self) -> &'static str {
        match self {
            Self::Invoice(_, purpose) => purpose.as_str(),
            Self::Appointment => "appointment",
        }
    }
}

impl Purpose {
    /// The name stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Invoice => "invoice",
            Self::Reminder => "reminder",
            Self::Receipt => "receipt",
        }
    }
}

/// A queued gift wrap due for an attempt.
#[derive(Debug, Clone)]
pub struct Queued {
    /// The delivery's id.
    pub id: i64,
    /// The recipient (hex).
    pub recipient: String,
    /// Whether this is the bot's own copy.
    pub copy: bool,
    /// The signed gift wrap.
    pub wrap: Event,
    /// Attempts so far.
    pub attempts: i64,
}

/// A delivery as listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeliveryInfo {
    /// Its id.
    pub id: i64,
    /// The invoice it is about (none for an appointment reminder).
    pub invoice_id: Option<i64>,
    /// Invoice, reminder, receipt or appointment.
    pub purpose: String,
    /// The recipient (hex).
    pub recipient: String,
    /// Whether this is the bot's own copy.
    pub copy: bool,
    /// The kind 14 rumor's id (the same in the recipient's copy and the bot's).
    pub rumor_id: String,
    /// The gift wrap's event id.
    pub wrap_id: String,
    /// `pending`, `sent`, `rejected` (a relay refused it: not retried) or `failed` (gave up).
    pub status: String,
    /// Attempts so far.
    pub attempts: i64,
    /// Unix seconds of the next attempt, while pending.
    pub next_attempt_at: i64,
    /// Unix seconds, once a relay accepted it.
    pub sent_at: Option<i64>,
}

/// One attempt as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Attempt {
    /// The relay.
    pub relay: String,
    /// Unix seconds.
    pub at: i64,
    /// `accepted`, `rejected` or `error`.
    pub outcome: String,
    /// The relay's `OK` message or the transport error.
    pub message: String,
}

/// Queue a message and the bot's own copy (each to its wrap's `p`), inside `tx`, due at `now`.
pub(crate) async fn queue_in(
    store: &Store,
    tx: &mut Tx,
    regarding: Regarding,
    wrapped: &Wrapped,
    now: i64,
) -> Result<(), BillingError> {
    let rumor = wrapped.rumor_id.to_hex();
    for (copy, wrap) in [(0, &wrapped.to_recipient), (1, &wrapped.to_self)] {
        // A gift wrap names its one recipient in its `p` tag.
        let to = wrap
            .tags
            .public_keys()
            .next()
            .map(|key| key.to_hex())
            .unwrap_or_default();
        execute(
            store,
            tx,
            "INSERT INTO deliveries (invoice_id, purpose, recipient, copy, rumor_id, wrap, status, attempts, next_attempt_at, created_at) VALUES (?, ?, ?, ?, ?, ?, 'pending', 0, ?, ?)",
            &[
                Bind::OptInt(regarding.invoice_id()),
                Bind::Text(regarding.purpose()),
                Bind::Text(&to),
                Bind::Int(copy),
                Bind::Text(&rumor),
                Bind::Text(&wrap.as_json()),
                Bind::Int(now),
                Bind::Int(now),
            ],
        )
        .await?;
    }
    Ok(())
}

const DELIVERY_COLUMNS: &str = "id, invoice_id, purpose, recipient, copy, rumor_id, wrap, status, attempts, next_attempt_at, sent_at";

impl Store {
    /// Pending messages whose next attempt is due at `now`, oldest first.
    pub async fn due_deliveries(&self, now: i64, limit: i64) -> Result<Vec<Queued>, BillingError> {
        let rows = self
            .rows(
                &format!(
                    "SELECT {DELIVERY_COLUMNS} FROM deliveries WHERE status = 'pending' AND next_attempt_at <= ? ORDER BY id LIMIT ?"
                ),
                &[Bind::Int(now), Bind::Int(limit)],
            )
            .await?;
        rows.iter()
            .map(|row| {
                let wrap = Event::from_json(text(row, "wrap")?).map_err(|_| {
                    BillingError::Database(sqlx::Error::Decode(
                        "a stored wrap is not an event".into(),
                    ))
                })?;
                Ok(Queued {
                    id: int(row, "id")?,
                    recipient: text(row, "recipient")?,
                    copy: int(row, "copy")? != 0,
                    wrap,
                    attempts: int(row, "attempts")?,
                })
            })
            .collect()
    }

    /// Record the attempts of one round on a message and its new state, together.
    pub async fn finish_round(
        &self,
        id: i64,
        attempts: &[Attempt],
        status: &str,
        next_attempt_at: i64,
        now: i64,
    ) -> Result<(), BillingError> {
        let mut tx = self.begin().await?;
        let sent_at = (status == "sent").then_some(now);
        execute(
            self,
            &mut tx,
            "UPDATE deliveries SET status = ?, attempts = attempts + 1, next_attempt_at = ?, sent_at = ? WHERE id = ? AND status = 'pending'",
            &[
                Bind::Text(status),
                Bind::Int(next_attempt_at),
                Bind::OptInt(sent_at),
                Bind::Int(id),
            ],
        )
        .await?;
        for attempt in attempts {
            execute(
                self,
                &mut tx,
                "INSERT INTO delivery_attempts (delivery_id, relay, at, outcome, message) VALUES (?, ?, ?, ?, ?)",
                &[
                    Bind::Int(id),
                    Bind::Text(&attempt.relay),
                    Bind::Int(attempt.at),
                    Bind::Text(&attempt.outcome),
                    Bind::Text(&attempt.message),
                ],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The messages about an invoice (or every message, without one), oldest first.
    pub async fn deliveries(
        &self,
        invoice_id: Option<i64>,
    ) -> Result<Vec<DeliveryInfo>, BillingError> {
        let (only, binds) = match invoice_id {
            Some(id) => (" WHERE invoice_id = ?", vec![Bind::Int(id)]),
            None => ("", Vec::new()),
        };
        let sql = format!("SELECT {DELIVERY_COLUMNS} FROM deliveries{only} ORDER BY id");
        self.all(&sql, &binds, delivery_of).await
    }

    /// The attempts made on one message, in order.
    pub async fn attempts(&self, delivery_id: i64) -> Result<Vec<Attempt>, BillingError> {
        let sql = "SELECT delivery_id, relay, at, outcome, message FROM delivery_attempts WHERE delivery_id = ? ORDER BY id";
        let attempts = self.all(sql, &[Bind::Int(delivery_id)], attempt_of).await?;
        Ok(attempts.into_iter().map(|(_, attempt)| attempt).collect())
    }

    /// The messages about an invoice, each with its attempts: two queries, however many.
    pub async fn messages(
        &self,
        invoice_id: i64,
    ) -> Result<Vec<(DeliveryInfo, Vec<Attempt>)>, BillingError> {
        let deliveries = self.deliveries(Some(invoice_id)).await?;
        let sql = "SELECT a.delivery_id, a.relay, a.at, a.outcome, a.message FROM delivery_attempts a JOIN deliveries d ON d.id = a.delivery_id WHERE d.invoice_id = ? ORDER BY a.id";
        let mut attempts: HashMap<i64, Vec<Attempt>> = HashMap::new();
        for (delivery, attempt) in self.all(sql, &[Bind::Int(invoice_id)], attempt_of).await? {
            attempts.entry(delivery).or_default().push(attempt);
        }
        Ok(deliveries
            .into_iter()
            .map(|d| {
                let mine = attempts.remove(&d.id).unwrap_or_default();
                (d, mine)
            })
            .collect())
    }
}

fn delivery_of(row: &AnyRow) -> Result<DeliveryInfo, BillingError> {
    let wrap_id = Event::from_json(text(row, "wrap")?)
        .map(|e| e.id.to_hex())
        .unwrap_or_default();
    Ok(DeliveryInfo {
        id: int(row, "id")?,
        invoice_id: opt_int(row, "invoice_id")?,
        purpose: text(row, "purpose")?,
        recipient: text(row, "recipient")?,
        copy: int(row, "copy")? != 0,
        rumor_id: text(row, "rumor_id")?,
        wrap_id,
        status: text(row, "status")?,
        attempts: int(row, "attempts")?,
        next_attempt_at: int(row, "next_attempt_at")?,
        sent_at: opt_int(row, "sent_at")?,
    })
}

fn attempt_of(row: &AnyRow) -> Result<(i64, Attempt), BillingError> {
    Ok((
        int(row, "delivery_id")?,
        Attempt {
            relay: text(row, "relay")?,
            at: int(row, "at")?,
            outcome: text(row, "outcome")?,
            message: text(row, "message")?,
        },
    ))
}
