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

use std::collections::{HashMap, HashSet};

use ehr_client::dm;
use ehr_client::schedule::reminder::{self, ReminderRecord};
use nostr::prelude::{Event, PublicKey, Timestamp};

use crate::Bot;
use crate::error::BillingError;
use crate::store::outbox::{Regarding, queue_in};
use crate::store::{Bind, execute};

/// The subject of every appointment reminder.
pub const SUBJECT: &str = "Appointment reminder";

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
    /// newest. How many were queued.
    pub async fn remind_appointments(&self, events: &[Event]) -> Result<usize, BillingError> {
        let config = self.config();
        let roster = self.relays().roster(config).await?;
        let records = reminder::reminders(&roster, &config.key, events);
        let now = u64::try_from(self.now()).unwrap_or(0);
        let claimed = self.store().appointment_reminders_claimed(now).await?;
        let starts: HashMap<&str, u64> = records
            .iter()
            .map(|r| (r.appointment.as_str(), r.start))
            .collect();
        let due = reminder::due(&records, &config.reminders.before, now, |id, before| {
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
}
