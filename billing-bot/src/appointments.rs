//! Appointment reminders: NIP-17 messages to a patient ahead of a booked appointment
//! (`reminders.before`, 24 and 2 hours by default), through the same queue, inbox relays and
//! retries as invoices ([`crate::delivery`]).
//!
//! The bot learns only what a reminder needs. When the desk books, moves or cancels an
//! appointment it seals a kind 2126 record to the bot's key alone: the patient's key, the time,
//! the practice's name and wall clock. The bot reads those records and nothing else of the
//! schedule ([`ehr_client::schedule::reminder`]: the newest per appointment, from a roster member
//! who may schedule, opened with the bot's key); a record from anyone else is ignored.
//!
//! Each reminder (appointment, time, offset) is claimed in `appointment_reminders` in the
//! transaction that queues its message, so it is queued exactly once, however many runs, bots
//! or restarts. The time is part of the claim: a moved appointment is reminded of its new time,
//! a cancelled one of nothing.
//!
//! Where `[reminders.email]` is configured and the desk's record carries the patient's email
//! address (copied from her demographics), the same reminder also goes by email
//! ([`crate::mailer`]), sent directly rather than queued: claimed in `appointment_reminder_emails`
//! before it is sent, so each (appointment, time, offset) is emailed once, apart from its message.
//! A failed send is logged without the address and tried again by the next run, up to
//! `delivery.max_attempts`; it never holds back the message.

use std::collections::{HashMap, HashSet};

use ehr_client::dm;
use ehr_client::schedule::reminder::{self, ReminderRecord};
use nostr::prelude::{Event, PublicKey, Timestamp};

use crate::Bot;
use crate::error::BillingError;
use crate::mailer::Mailer;
use crate::store::outbox::{Regarding, queue_in};
use crate::store::{Bind, execute};

/// The subject of every appointment reminder.
pub const SUBJECT: &str = "Appointment reminder";

/// How long a claimed email may stay `sending` before another run may take it over (the run
/// that claimed it stopped mid-send).
const STALE_SENDING_SECONDS: i64 = 600;

/// What became of one reminder email.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmailOutcome {
    /// Sent.
    Sent,
    /// Not sent: tried again by a later run (unless the address is not one, or the attempts
    /// are spent).
    Failed,
    /// Sent, claimed or given up by another run already.
    Claimed,
}

impl Bot {
    /// Read the reminder records addressed to the bot on the practice relay and queue every
    /// reminder that is due by the bot's clock; how many were queued. Nothing when
    /// `reminders.enabled` is off. Idempotent.
    pub async fn send_appointment_reminders(&self) -> Result<usize, BillingError> {
        if !self.config().reminders.enabled {
            return Ok(0);
        }
        let events = self.relays().reminder_records(self.config()).await?;
        self.remind_appointments(&events).await
    }

    /// Queue the reminders due now from `events` (kind 2126 records, wherever they were read):
    /// only records a member who may schedule sealed to the bot count, per appointment the
    /// newest. How many messages were queued. Where email is configured, the reminders due by
    /// email are sent too ([`Bot::email_appointment_reminders`]), whatever became of the
    /// messages.
    pub async fn remind_appointments(&self, events: &[Event]) -> Result<usize, BillingError> {
        let config = self.config();
        let roster = self.relays().roster(config).await?;
        let records = reminder::reminders(&roster, &config.key, events);
        let now = u64::try_from(self.now()).unwrap_or(0);
        let queued = self.message_appointment_reminders(&records, now).await;
        if let Err(e) = self.email_appointment_reminders(&records, now).await {
            tracing::error!(error = %e, "appointment reminder emails failed");
        }
        queued
    }

    /// Queue the NIP-17 reminders of `records` due at `now`; how many were queued.
    async fn message_appointment_reminders(
        &self,
        records: &[ReminderRecord],
        now: u64,
    ) -> Result<usize, BillingError> {
        let config = self.config();
        let claimed = self.store().appointment_reminders_claimed(now).await?;
        let starts: HashMap<&str, u64> = records
            .iter()
            .map(|r| (r.appointment.as_str(), r.start))
            .collect();
        let due = reminder::due(records, &config.reminders.before, now, |id, before| {
            starts
                .get(id)
                .is_some_and(|start| claimed.contains(&(id.to_owned(), *start, before)))
        });
        let mut queued = 0;
        let mut skipped = 0;
        for (record, before) in due {
            if self.queue_appointment_reminder(record, before).await? {
                queued += 1;
            } else {
                skipped += 1;
            }
        }
        if queued > 0 || skipped > 0 {
            tracing::info!(
                records = records.len(),
                queued,
                skipped,
                "appointment reminders"
            );
        }
        if queued > 0 {
            self.wake();
        }
        Ok(queued)
    }

    /// Email the reminders of `records` due at `now` whose record carries an address, when
    /// `[reminders.email]` is configured: each (appointment, time, offset) once; a failed one
    /// again next run. How many were sent.
    pub async fn email_appointment_reminders(
        &self,
        records: &[ReminderRecord],
        now: u64,
    ) -> Result<usize, BillingError> {
        let Some(mailer) = self.mailer() else {
            return Ok(0);
        };
        let with_address: Vec<ReminderRecord> = records
            .iter()
            .filter(|r| r.email.is_some())
            .cloned()
            .collect();
        if with_address.is_empty() {
            return Ok(0);
        }
        let max_attempts = self.config().delivery.max_attempts;
        let done = self
            .store()
            .appointment_emails_done(now, max_attempts)
            .await?;
        let starts: HashMap<&str, u64> = with_address
            .iter()
            .map(|r| (r.appointment.as_str(), r.start))
            .collect();
        let due = reminder::due(
            &with_address,
            &self.config().reminders.before,
            now,
            |id, before| {
                starts
                    .get(id)
                    .is_some_and(|start| done.contains(&(id.to_owned(), *start, before)))
            },
        );
        let (mut sent, mut failed) = (0, 0);
        for (record, before) in due {
            match self
                .email_appointment_reminder(mailer, record, before)
                .await?
            {
                EmailOutcome::Sent => sent += 1,
                EmailOutcome::Failed => failed += 1,
                EmailOutcome::Claimed => {}
            }
        }
        if sent > 0 || failed > 0 {
            tracing::info!(sent, failed, "appointment reminder emails");
        }
        Ok(sent)
    }

    /// Claim and send the email `before` seconds ahead of `record`'s appointment, then record
    /// whether it went.
    async fn email_appointment_reminder(
        &self,
        mailer: &Mailer,
        record: &ReminderRecord,
        before: u64,
    ) -> Result<EmailOutcome, BillingError> {
        let (Some(address), Ok(start), Ok(before_seconds)) = (
            record.email.as_deref(),
            i64::try_from(record.start),
            i64::try_from(before),
        ) else {
            return Ok(EmailOutcome::Claimed);
        };
        let store = self.store();
        let now = self.now();
        let max_attempts = self.config().delivery.max_attempts;
        let key = [
            Bind::Text(&record.appointment),
            Bind::Int(start),
            Bind::Int(before_seconds),
        ];
        let mut tx = store.begin().await?;
        let claimed = execute(
            store,
            &mut tx,
            "INSERT INTO appointment_reminder_emails (appointment, start_at, before_seconds, status, attempts, updated_at) VALUES (?, ?, ?, 'sending', 1, ?) \
             ON CONFLICT (appointment, start_at, before_seconds) DO UPDATE SET status = 'sending', attempts = appointment_reminder_emails.attempts + 1, updated_at = excluded.updated_at \
             WHERE (appointment_reminder_emails.status = 'failed' AND appointment_reminder_emails.attempts < ?) \
             OR (appointment_reminder_emails.status = 'sending' AND appointment_reminder_emails.updated_at < ?)",
            &[
                key[0],
                key[1],
                key[2],
                Bind::Int(now),
                Bind::Int(max_attempts),
                Bind::Int(now.saturating_sub(STALE_SENDING_SECONDS)),
            ],
        )
        .await?;
        tx.commit().await?;
        if claimed == 0 {
            return Ok(EmailOutcome::Claimed);
        }
        let at = u64::try_from(now).unwrap_or(0);
        let result = mailer
            .send(address, &reminder::reminder_email(record), at)
            .await;
        let (status, attempts) = match &result {
            Ok(()) => ("sent", None),
            // An address that is not one is given up at once.
            Err(e) if e.is_final() => ("failed", Some(max_attempts)),
            Err(_) => ("failed", None),
        };
        let mut tx = store.begin().await?;
        execute(
            store,
            &mut tx,
            "UPDATE appointment_reminder_emails SET status = ?, attempts = COALESCE(?, attempts), updated_at = ? WHERE appointment = ? AND start_at = ? AND before_seconds = ?",
            &[
                Bind::Text(status),
                Bind::OptInt(attempts),
                Bind::Int(self.now()),
                key[0],
                key[1],
                key[2],
            ],
        )
        .await?;
        tx.commit().await?;
        match result {
            Ok(()) => Ok(EmailOutcome::Sent),
            Err(e) => {
                // Neither the address nor the server's reply (which may quote it).
                let (kind, code) = e.kind();
                tracing::warn!(
                    kind,
                    code = code.as_deref().unwrap_or("-"),
                    before_seconds,
                    will_retry = !e.is_final(),
                    "an appointment reminder email was not sent"
                );
                Ok(EmailOutcome::Failed)
            }
        }
    }

    /// Claim and queue the reminder `before` seconds ahead of `record`'s appointment, in one
    /// transaction; `false` if it was claimed already (by a run that raced this one) or the
    /// record names no valid key.
    pub async fn queue_appointment_reminder(
        &self,
        record: &ReminderRecord,
        before: u64,
    ) -> Result<bool, BillingError> {
        let (Ok(patient), Ok(start), Ok(before_seconds)) = (
            PublicKey::from_hex(&record.patient),
            i64::try_from(record.start),
            i64::try_from(before),
        ) else {
            tracing::warn!("an appointment reminder record is malformed; skipped");
            return Ok(false);
        };
        let store = self.store();
        let now = self.now();
        let at = Timestamp::from_secs(u64::try_from(now).unwrap_or(0));
        let wrapped = dm::wrap(
            &self.config().key,
            &patient,
            SUBJECT,
            &reminder::reminder_text(record),
            at,
        )?;
        let mut tx = store.begin().await?;
        let claimed = execute(
            store,
            &mut tx,
            "INSERT INTO appointment_reminders (appointment, start_at, before_seconds, enqueued_at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
            &[
                Bind::Text(&record.appointment),
                Bind::Int(start),
                Bind::Int(before_seconds),
                Bind::Int(now),
            ],
        )
        .await?;
        if claimed == 0 {
            return Ok(false);
        }
        queue_in(store, &mut tx, Regarding::Appointment, &wrapped, now).await?;
        tx.commit().await?;
        Ok(true)
    }
}

impl crate::store::Store {
    /// The reminders claimed for appointments that start after `now`: (appointment, start,
    /// seconds before).
    pub async fn appointment_reminders_claimed(
        &self,
        now: u64,
    ) -> Result<HashSet<(String, u64, u64)>, BillingError> {
        let now = i64::try_from(now).unwrap_or(i64::MAX);
        self.all(
            "SELECT appointment, start_at, before_seconds FROM appointment_reminders WHERE start_at > ?",
            &[Bind::Int(now)],
            |row| {
                let number = |column| {
                    crate::store::int(row, column)
                        .map(|v| u64::try_from(v).unwrap_or(0))
                };
                Ok((
                    crate::store::text(row, "appointment")?,
                    number("start_at")?,
                    number("before_seconds")?,
                ))
            },
        )
        .await
        .map(|rows| rows.into_iter().collect())
    }

    /// The reminder emails for appointments that start after `now` that no run will send
    /// (again): sent, or given up after `max_attempts`; (appointment, start, seconds before).
    pub async fn appointment_emails_done(
        &self,
        now: u64,
        max_attempts: i64,
    ) -> Result<HashSet<(String, u64, u64)>, BillingError> {
        let now = i64::try_from(now).unwrap_or(i64::MAX);
        self.all(
            "SELECT appointment, start_at, before_seconds FROM appointment_reminder_emails WHERE start_at > ? AND (status = 'sent' OR (status = 'failed' AND attempts >= ?))",
            &[Bind::Int(now), Bind::Int(max_attempts)],
            |row| {
                let number = |column| {
                    crate::store::int(row, column).map(|v| u64::try_from(v).unwrap_or(0))
                };
                Ok((
                    crate::store::text(row, "appointment")?,
                    number("start_at")?,
                    number("before_seconds")?,
                ))
            },
        )
        .await
        .map(|rows| rows.into_iter().collect())
    }

    /// The reminder emails recorded for `appointment`: (start, seconds before, status,
    /// attempts), oldest first.
    pub async fn appointment_emails(
        &self,
        appointment: &str,
    ) -> Result<Vec<(u64, u64, String, i64)>, BillingError> {
        self.all(
            "SELECT start_at, before_seconds, status, attempts FROM appointment_reminder_emails WHERE appointment = ? ORDER BY start_at, before_seconds DESC",
            &[Bind::Text(appointment)],
            |row| {
                let number = |column| {
                    crate::store::int(row, column).map(|v| u64::try_from(v).unwrap_or(0))
                };
                Ok((
                    number("start_at")?,
                    number("before_seconds")?,
                    crate::store::text(row, "status")?,
                    crate::store::int(row, "attempts")?,
                ))
            },
        )
        .await
    }
}
