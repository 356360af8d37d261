#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! Appointment reminders on the project's relay: the records the front desk seals to the bot
//! (kind 2126) become NIP-17 messages to the patient's inbox relays 24 h and 2 h before, each
//! exactly once; a cancelled appointment is not reminded, a moved one is reminded of its new
//! time; records from anyone who may not schedule are ignored. Where email is configured, a
//! record carrying the patient's address is also emailed, once per reminder, to an SMTP sink
//! (Python's aiosmtpd, from `scripts/python-tools`).

mod common;

use std::io::BufRead as _;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Billing, config, messages_for, wraps_for};
use ehr_billing_bot::appointments::SUBJECT;
use ehr_billing_bot::config::{EmailReminders, SmtpTls};
use ehr_billing_bot::{Bot, ManualClock};
use ehr_client::keys::Identity;
use ehr_client::net::{PublishOutcome, RelayClient};
use ehr_client::roster::Role;
use ehr_client::schedule::reminder::{
    ReminderRecord, reminder_email, reminder_event, reminder_text,
};
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
        email: None,
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

/// An SMTP server on 127.0.0.1 that keeps every message it is given (aiosmtpd), refusing the
/// first `refuse` with a transient error.
struct SmtpSink {
    port: u16,
    child: Child,
    mails: Arc<Mutex<Vec<serde_json::Value>>>,
}

const SINK: &str = r#"
import asyncio, json, sys
from aiosmtpd.smtp import SMTP

refuse = int(sys.argv[1])

class Sink:
    async def handle_DATA(self, server, session, envelope):
        global refuse
        if refuse > 0:
            refuse -= 1
            return "451 4.3.0 try again later"
        print(json.dumps({
            "from": envelope.mail_from,
            "to": envelope.rcpt_tos,
            "data": envelope.content.decode("utf-8", "replace"),
        }), flush=True)
        return "250 OK"

async def main():
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: SMTP(Sink()), "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    await asyncio.Event().wait()

asyncio.run(main())
"#;

impl SmtpSink {
    fn start(refuse: u32) -> Self {
        let mut child = Command::new("python3")
            .args(["-c", SINK, &refuse.to_string()])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("python3 with aiosmtpd: run eval \"$(scripts/python-tools)\" first");
        let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
        let port = lines
            .next()
            .and_then(Result::ok)
            .and_then(|line| line.trim().parse().ok())
            .expect("the SMTP sink did not start: is aiosmtpd installed (scripts/python-tools)?");
        let mails = Arc::new(Mutex::new(Vec::new()));
        let kept = Arc::clone(&mails);
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                kept.lock()
                    .unwrap()
                    .push(serde_json::from_str(&line).unwrap());
            }
        });
        Self { port, child, mails }
    }

    /// The bot's email settings for this sink.
    fn settings(&self) -> EmailReminders {
        EmailReminders {
            smtp_host: "127.0.0.1".to_owned(),
            smtp_port: self.port,
            from: "Maple Street Pediatrics <reminders@example.org>".to_owned(),
            username: None,
            password: None,
            tls: SmtpTls::None,
        }
    }

    /// The messages received, once `count` have come (or five seconds have passed), and after a
    /// moment more for any unexpected one.
    async fn mails(&self, count: usize) -> Vec<serde_json::Value> {
        for _ in 0..50 {
            if self.mails.lock().unwrap().len() >= count {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        self.mails.lock().unwrap().clone()
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `record` with the patient's address, as the desk writes it when her demographics have one.
fn with_email(record: ReminderRecord) -> ReminderRecord {
    ReminderRecord {
        email: Some("ana@example.org".to_owned()),
        ..record
    }
}

/// A message's text with quoted-printable soft line breaks undone.
fn unfolded(data: &str) -> String {
    data.replace("=\r\n", "").replace("=\n", "")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reminder_is_emailed_once_to_her_address_with_the_practice_and_her_local_time() {
    let sink = SmtpSink::start(0);
    let settings = sink.settings();
    let p = Practice::start(|c| c.reminders.email = Some(settings)).await;
    let patient = p.billing.patient().await;
    let now = wall_now();
    let start = now + 3 * DAY;
    let record = with_email(booked("appt-1", &patient, start));
    p.desk_writes(&record, now).await;
    // Another appointment, booked and then cancelled: no message and no email.
    let other = with_email(booked("appt-2", &patient, start + HOUR));
    p.desk_writes(&other, now).await;
    p.desk_writes(
        &ReminderRecord {
            cancelled: true,
            email: None,
            ..other.clone()
        },
        now + 1,
    )
    .await;
    // And one whose patient has no address: a message only.
    p.desk_writes(&booked("appt-3", &patient, start), now).await;

    assert_eq!(p.run_at(start - DAY - 1).await, 0);
    assert!(sink.mails(0).await.is_empty());
    // 24 h before: the messages, and one email.
    assert_eq!(p.run_at(start - DAY).await, 2);
    let mails = sink.mails(1).await;
    assert_eq!(mails.len(), 1, "{mails:?}");
    let mail = &mails[0];
    assert_eq!(mail["to"], serde_json::json!(["ana@example.org"]));
    assert_eq!(mail["from"], "reminders@example.org");
    let data = unfolded(mail["data"].as_str().unwrap());
    assert!(data.contains("To: ana@example.org"), "{data}");
    assert!(
        data.contains("Subject: Appointment reminder from Maple Street Pediatrics"),
        "{data}"
    );
    // Her local time: the practice's wall clock is UTC-05:00.
    let local = start - 5 * HOUR;
    let hh_mm = format!("{:02}:{:02}", local % DAY / HOUR, local % HOUR / 60);
    assert!(
        data.contains(&format!("at {hh_mm} (UTC-05:00)")),
        "{hh_mm}: {data}"
    );
    let expected = reminder_email(&record);
    assert!(
        data.replace("\r\n", "\n")
            .contains(expected.body.trim_end()),
        "{data}"
    );
    // Nothing else of the appointment or of her: not its id, not her key, nothing clinical.
    for absent in [
        "appt-1",
        patient.public_key().to_hex().as_str(),
        "visit type",
        "reason",
        "Fever",
    ] {
        assert!(!data.contains(absent), "{absent}: {data}");
    }

    // Another run at the same time sends nothing more, by either channel.
    assert_eq!(p.run_at(start - DAY).await, 0);
    assert_eq!(sink.mails(2).await.len(), 1);
    // 2 h before, the second reminder, once.
    assert_eq!(p.run_at(start - 2 * HOUR).await, 2);
    assert_eq!(p.run_at(start - 2 * HOUR).await, 0);
    let mails = sink.mails(2).await;
    assert_eq!(mails.len(), 2, "{mails:?}");
    assert!(
        mails
            .iter()
            .all(|m| m["to"] == serde_json::json!(["ana@example.org"]))
    );
    p.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_email_leaves_the_message_alone_and_is_sent_next_run() {
    let sink = SmtpSink::start(1);
    let settings = sink.settings();
    let p = Practice::start(|c| c.reminders.email = Some(settings)).await;
    let patient = p.billing.patient().await;
    let now = wall_now();
    let start = now + 3 * DAY;
    p.desk_writes(&with_email(booked("appt-1", &patient, start)), now)
        .await;

    // The server refuses the email: the message is queued all the same.
    assert_eq!(p.run_at(start - DAY).await, 1);
    assert!(sink.mails(1).await.is_empty());
    let store = p.billing.bot.store();
    let failed = store.appointment_emails("appt-1").await.unwrap();
    assert_eq!(
        failed,
        [(
            u64::try_from(start).unwrap(),
            86_400,
            "failed".to_owned(),
            1
        )]
    );
    // The next run sends it, and no second message.
    assert_eq!(p.run_at(start - DAY + 60).await, 0);
    assert_eq!(sink.mails(1).await.len(), 1);
    let sent = store.appointment_emails("appt-1").await.unwrap();
    assert_eq!(sent[0].2, "sent");
    assert_eq!(p.run_at(start - DAY + 120).await, 0);
    assert_eq!(sink.mails(2).await.len(), 1);
    assert_eq!(p.queued_to_patients().await, 1);
    p.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_email_configured_a_record_with_an_address_is_messaged_only() {
    let sink = SmtpSink::start(0);
    let p = Practice::start(|_| {}).await;
    let patient = p.billing.patient().await;
    let now = wall_now();
    let start = now + 3 * DAY;
    p.desk_writes(&with_email(booked("appt-1", &patient, start)), now)
        .await;
    assert_eq!(p.run_at(start - DAY).await, 1);
    assert!(sink.mails(0).await.is_empty());
    assert!(
        p.billing
            .bot
            .store()
            .appointment_emails("appt-1")
            .await
            .unwrap()
            .is_empty()
    );
    p.stop().await;
}
