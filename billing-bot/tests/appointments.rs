#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! Appointment reminders on the project's relay: the records the front desk seals to the bot
//! (kind 2126) become NIP-17 messages to the patient's inbox relays 24 h and 2 h before, each
//! exactly once; a cancelled appointment is not reminded, a moved one is reminded of its new
//! time; records from anyone who may not schedule are ignored.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{Billing, config, messages_for, wraps_for};
use ehr_billing_bot::appointments::SUBJECT;
use ehr_billing_bot::{Bot, ManualClock};
use ehr_client::keys::Identity;
use ehr_client::net::{PublishOutcome, RelayClient};
use ehr_client::roster::Role;
use ehr_client::schedule::reminder::{ReminderRecord, reminder_event, reminder_text};
use ehr_tests::practice::TestPractice;
use nostr::prelude::{Event, Timestamp};

const DAY: i64 = 86_400;
const HOUR: i64 = 3600;

/// Now by the wall clock: the roster (and so who may schedule) is written at real time.
fn wall_now() -> i64 {
    i64::try_from(Timestamp::now().as_secs()).unwrap()
}

/// A practice with the bot and a front desk member who books.
struct Practice {
    billing: Billing,
    desk: Identity,
}

impl Practice {
    async fn start(configure: impl FnOnce(&mut ehr_billing_bot::Config)) -> Self {
        let billing = Billing::quiet(wall_now(), configure).await;
        let desk = Identity::generate();
        billing
            .practice
            .add_member(&desk.public_key(), Role::Frontdesk)
            .await
            .unwrap();
        Self { billing, desk }
    }

    /// `author`'s reminder record for the bot, made at `created_at`.
    fn sealed(&self, author: &Identity, record: &ReminderRecord, created_at: i64) -> Event {
        let at = Timestamp::from_secs(u64::try_from(created_at).unwrap());
        reminder_event(author, &self.billing.key.public_key(), record, at).unwrap()
    }

    /// `author` publishes `event` on the practice relay; the relay's answer.
    async fn publish_as(&self, author: &Identity, event: Event) -> PublishOutcome {
        let client = RelayClient::connect(
            &self.billing.practice.relay_url,
            author,
            Duration::from_secs(10),
        )
        .await
        .unwrap();
        let outcome = client.publish(&[event]).await.unwrap().remove(0);
        client.disconnect().await;
        outcome
    }

    /// The desk books (or moves, or cancels): its record for the bot, accepted by the relay.
    async fn desk_writes(&self, record: &ReminderRecord, created_at: i64) {
        let event = self.sealed(&self.desk, record, created_at);
        assert_eq!(
            self.publish_as(&self.desk, event).await,
            PublishOutcome::Accepted
        );
    }

    /// A patient admitted to the practice relay, whose kind 10050 list names `inbox`.
    async fn patient_with_inbox(&self, inbox: &TestPractice) -> Identity {
        let patient = self.billing.patient().await;
        inbox.admit(&patient.public_key()).await.unwrap();
        self.billing
            .publish_inbox_list(&patient, &[&inbox.relay_url])
            .await;
        patient
    }

    /// Set the bot's clock to `at` and run the appointment reminders: how many were queued.
    async fn run_at(&self, at: i64) -> usize {
        self.billing.clock.set(at);
        self.billing.bot.send_appointment_reminders().await.unwrap()
    }

    /// The messages queued to the patient (not the bot's own copies).
    async fn queued_to_patients(&self) -> usize {
        let deliveries = self.billing.bot.store().deliveries(None).await.unwrap();
        deliveries
            .iter()
            .filter(|d| !d.copy && d.purpose == "appointment" && d.invoice_id.is_none())
            .count()
    }

    async fn stop(self) {
        self.billing.stop().await;
    }
}

/// A booked appointment of `patient` at `start`.
fn booked(appointment: &str, patient: &Identity, start: i64) -> ReminderRecord {
    ReminderRecord {
        appointment: appointment.to_owned(),
        patient: patient.public_key().to_hex(),
        start: u64::try_from(start).unwrap(),
        practice: "Maple Street Pediatrics".to_owned(),
        utc_offset_minutes: -300,
        cancelled: false,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_booking_is_reminded_24_and_2_hours_before_on_the_patients_inbox_relays() {
    let p = Practice::start(|_| {}).await;
    let inbox = TestPractice::start().await.unwrap();
    let patient = p.patient_with_inbox(&inbox).await;
    let now = wall_now();
    let start = now + 3 * DAY;
    let record = booked("appt-1", &patient, start);
    p.desk_writes(&record, now).await;

    // Booked three days ahead: nothing yet, nor a second before the 24 h mark.
    p.billing.bot.tick().await;
    assert_eq!(p.run_at(start - DAY - 1).await, 0);
    // 24 h before, a scheduler round queues and delivers it.
    p.billing.clock.set(start - DAY);
    p.billing.bot.tick().await;
    let first = messages_for(&inbox.relay_url, &patient, 1).await;
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].1.subject.as_deref(), Some(SUBJECT));
    assert_eq!(first[0].1.text, reminder_text(&record));
    assert!(
        first[0]
            .1
            .text
            .starts_with("Reminder from Maple Street Pediatrics"),
        "{}",
        first[0].1.text
    );
    // 2 h before, the second.
    p.billing.clock.set(start - 2 * HOUR);
    p.billing.bot.tick().await;
    let both = messages_for(&inbox.relay_url, &patient, 2).await;
    assert_eq!(both.len(), 2);
    assert!(both.iter().all(|(_, m)| m.text == reminder_text(&record)));
    // On the patient's inbox relay only; the practice relay keeps the bot's own copies.
    assert!(
        wraps_for(&p.billing.practice.relay_url, &patient)
            .await
            .is_empty()
    );
    assert_eq!(
        wraps_for(&p.billing.practice.relay_url, &p.billing.key)
            .await
            .len(),
        2
    );
    // Once it began, nothing more.
    assert_eq!(p.run_at(start + 60).await, 0);
    assert_eq!(p.queued_to_patients().await, 2);
    inbox.stop().await.unwrap();
    p.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_reminder_is_queued_once_across_runs_concurrent_bots_and_restarts() {
    let p = Practice::start(|_| {}).await;
    let patient = p.billing.patient().await;
    let now = wall_now();
    let start = now + 3 * DAY;
    p.desk_writes(&booked("appt-1", &patient, start), now).await;

    // A second bot on the same database, as after a restart, at the same time, running at
    // once with the first; then both again.
    p.billing.clock.set(start - DAY);
    let restarted = Bot::start(
        config(&p.billing.practice, &p.billing.key, &p.billing.database_url),
        Arc::new(ManualClock::at(start - DAY)),
    )
    .await
    .unwrap();
    let (a, b) = tokio::join!(
        p.billing.bot.send_appointment_reminders(),
        restarted.send_appointment_reminders()
    );
    assert_eq!(a.unwrap() + b.unwrap(), 1);
    assert_eq!(p.billing.bot.send_appointment_reminders().await.unwrap(), 0);
    assert_eq!(restarted.send_appointment_reminders().await.unwrap(), 0);
    assert_eq!(p.queued_to_patients().await, 1);
    // Delivered, the patient holds it once.
    p.billing.bot.deliver_due().await.unwrap();
    let messages = messages_for(&p.billing.practice.relay_url, &patient, 1).await;
    assert_eq!(messages.len(), 1);
    restarted.relays().close().await;
    p.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reminder_two_racing_runs_both_found_due_is_queued_by_one() {
    let p = Practice::start(|_| {}).await;
    let patient = p.billing.patient().await;
    let record = booked("appt-1", &patient, wall_now() + DAY);
    // Both runs read "not yet sent" before either claimed it: the claim decides.
    let bot = &p.billing.bot;
    let (a, b) = tokio::join!(
        bot.queue_appointment_reminder(&record, 86_400),
        bot.queue_appointment_reminder(&record, 86_400)
    );
    let mut outcomes = [a.unwrap(), b.unwrap()];
    outcomes.sort_unstable();
    assert_eq!(outcomes, [false, true]);
    assert_eq!(p.queued_to_patients().await, 1);
    // The other offset is a reminder of its own.
    assert!(bot.queue_appointment_reminder(&record, 7200).await.unwrap());
    p.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_appointment_is_not_reminded() {
    let p = Practice::start(|_| {}).await;
    let patient = p.billing.patient().await;
    let now = wall_now();
    let start = now + 3 * DAY;
    // One cancelled before any reminder, one after the first.
    let early = booked("appt-early", &patient, start);
    let late = booked("appt-late", &patient, start);
    p.desk_writes(&early, now).await;
    p.desk_writes(&late, now).await;
    let cancelled = |r: &ReminderRecord| ReminderRecord {
        cancelled: true,
        ..r.clone()
    };
    p.desk_writes(&cancelled(&early), now + 1).await;

    assert_eq!(p.run_at(start - DAY).await, 1, "only the one still booked");
    p.desk_writes(&cancelled(&late), now + 2).await;
    assert_eq!(p.run_at(start - 2 * HOUR).await, 0);
    assert_eq!(p.queued_to_patients().await, 1);
    p.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_moved_appointment_is_reminded_of_its_new_time_only() {
    let p = Practice::start(|_| {}).await;
    let patient = p.billing.patient().await;
    let now = wall_now();
    let first = now + 3 * DAY;
    let second = now + 5 * DAY;
    p.desk_writes(&booked("appt-1", &patient, first), now).await;
    let moved = booked("appt-1", &patient, second);
    p.desk_writes(&moved, now + 1).await;

    // Nothing at the old time's marks.
    assert_eq!(p.run_at(first - DAY).await, 0);
    assert_eq!(p.run_at(first - 2 * HOUR).await, 0);
    // The new time's, with the new time.
    assert_eq!(p.run_at(second - DAY).await, 1);
    p.billing.bot.deliver_due().await.unwrap();
    let messages = messages_for(&p.billing.practice.relay_url, &patient, 1).await;
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].1.text, reminder_text(&moved));
    assert_ne!(
        messages[0].1.text,
        reminder_text(&booked("x", &patient, first))
    );
    p.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moved_after_a_reminder_the_patient_is_told_the_new_time() {
    let p = Practice::start(|_| {}).await;
    let patient = p.billing.patient().await;
    let now = wall_now();
    let start = now + 3 * DAY;
    p.desk_writes(&booked("appt-1", &patient, start), now).await;
    assert_eq!(p.run_at(start - DAY).await, 1);
    // An hour later the desk moves it by an hour: the 24 h reminder of the new time is due.
    let moved = booked("appt-1", &patient, start + HOUR);
    p.desk_writes(&moved, now + 1).await;
    assert_eq!(p.run_at(start - DAY + HOUR).await, 1);
    assert_eq!(p.run_at(start - DAY + HOUR).await, 0);
    p.billing.bot.deliver_due().await.unwrap();
    let messages = messages_for(&p.billing.practice.relay_url, &patient, 2).await;
    assert_eq!(messages.len(), 2);
    assert!(
        messages
            .iter()
            .any(|(_, m)| m.text == reminder_text(&moved))
    );
    p.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_from_anyone_who_may_not_schedule_are_ignored() {
    let p = Practice::start(|_| {}).await;
    let patient = p.billing.patient().await;
    let now = wall_now();
    let start = now + 3 * DAY;
    let stranger = Identity::generate();
    let forged = [
        // A key not on the roster, the patient herself, and the bot (on the roster, but it
        // may not schedule).
        p.sealed(&stranger, &booked("appt-stranger", &patient, start), now),
        p.sealed(&patient, &booked("appt-patient", &patient, start), now),
        p.sealed(&p.billing.key, &booked("appt-bot", &patient, start), now),
    ];
    // The relay refuses them...
    for (author, event) in [&stranger, &patient, &p.billing.key]
        .into_iter()
        .zip(forged.clone())
    {
        assert!(matches!(
            p.publish_as(author, event).await,
            PublishOutcome::Refused { .. }
        ));
    }
    // ...and the bot, handed them directly beside the desk's own record, reminds of the desk's
    // appointment alone.
    let genuine = booked("appt-desk", &patient, start + HOUR);
    let mut events = forged.to_vec();
    events.push(p.sealed(&p.desk, &genuine, now));
    p.billing.clock.set(start - DAY + HOUR);
    assert_eq!(p.billing.bot.remind_appointments(&events).await.unwrap(), 1);
    p.billing.bot.deliver_due().await.unwrap();
    let messages = messages_for(&p.billing.practice.relay_url, &patient, 1).await;
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].1.text, reminder_text(&genuine));
    p.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_sealed_to_another_key_is_ignored() {
    let p = Practice::start(|_| {}).await;
    let patient = p.billing.patient().await;
    let now = wall_now();
    let start = now + 3 * DAY;
    // The desk's record for some other agent: the bot cannot open it.
    let other = Identity::generate();
    let at = Timestamp::from_secs(u64::try_from(now).unwrap());
    let elsewhere = reminder_event(
        &p.desk,
        &other.public_key(),
        &booked("appt-1", &patient, start),
        at,
    )
    .unwrap();
    p.billing.clock.set(start - DAY);
    assert_eq!(
        p.billing
            .bot
            .remind_appointments(&[elsewhere])
            .await
            .unwrap(),
        0
    );
    p.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reminders_turned_off_send_nothing() {
    let p = Practice::start(|c| c.reminders.enabled = false).await;
    let patient = p.billing.patient().await;
    let now = wall_now();
    let start = now + 3 * DAY;
    p.desk_writes(&booked("appt-1", &patient, start), now).await;
    assert_eq!(p.run_at(start - DAY).await, 0);
    assert_eq!(p.run_at(start - 2 * HOUR).await, 0);
    assert_eq!(p.queued_to_patients().await, 0);
    p.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_configured_offsets_are_the_ones_sent() {
    let p = Practice::start(|c| c.reminders.before = vec![3 * 3600]).await;
    let patient = p.billing.patient().await;
    let now = wall_now();
    let start = now + 3 * DAY;
    p.desk_writes(&booked("appt-1", &patient, start), now).await;
    assert_eq!(p.run_at(start - DAY).await, 0);
    assert_eq!(p.run_at(start - 3 * HOUR).await, 1);
    assert_eq!(p.run_at(start - 2 * HOUR).await, 0);
    p.stop().await;
}
