#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! The billing database on both engines (SQLite, and PostgreSQL from `scripts/test`): every
//! statement of the catalog, the run, the ledger, the outbox and the replay guards.

mod common;

use std::borrow::Cow;
use std::sync::Arc;

use common::{MID_MARCH, config};
use ehr_billing_bot::billing::Billed;
use ehr_billing_bot::config::{EmailReminders, SmtpTls};
use ehr_billing_bot::money::parse_date;
use ehr_billing_bot::store::catalog::{HouseholdRole, NewPlan, PlanKind};
use ehr_billing_bot::store::ledger::{InvoiceFilter, NewPayment, PaymentOutcome};
use ehr_billing_bot::store::outbox::Attempt;
use ehr_billing_bot::{BillingError, Bot, ManualClock};
use ehr_client::keys::Identity;
use ehr_client::roster::Role;
use ehr_client::schedule::reminder::{ReminderRecord, reminder_event};
use ehr_service::database::AnyDatabase;
use ehr_tests::database::fresh_database;
use ehr_tests::practice::TestPractice;
use nostr::prelude::Timestamp;
use sqlx::migrate::Migrator;

async fn every_query_works(engine: &str) {
    let dir = tempfile::tempdir().unwrap();
    let Some(url) = fresh_database(engine, dir.path(), "billing").await.unwrap() else {
        return;
    };
    let practice = TestPractice::start().await.unwrap();
    let key = Identity::generate();
    practice
        .add_member(&key.public_key(), Role::BillingBot)
        .await
        .unwrap();
    let clock = ManualClock::at(MID_MARCH);
    // Reminder emails to a port where nothing listens: each send fails, and is recorded so.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let smtp_port = closed.local_addr().unwrap().port();
    drop(closed);
    let mut with_email = config(&practice, &key, &url);
    with_email.reminders.email = Some(EmailReminders {
        smtp_host: "127.0.0.1".into(),
        smtp_port,
        from: "reminders@example.org".into(),
        username: None,
        password: None,
        tls: SmtpTls::None,
    });
    with_email.delivery.max_attempts = 2;
    let bot = Bot::start(with_email, Arc::new(clock.clone()))
        .await
        .unwrap();
    let store = bot.store();
    let day = |d| parse_date("day", d).unwrap();

    // Catalog.
    let plan = |kind, amount, per| NewPlan {
        name: "p".into(),
        kind,
        amount_minor: amount,
        per_dependant_minor: per,
    };
    let family = store
        .create_plan(&plan(PlanKind::Family, 20000, 5000), 1)
        .await
        .unwrap();
    let visits = store
        .create_plan(&plan(PlanKind::PerVisit, 7000, 0), 1)
        .await
        .unwrap();
    assert!(matches!(
        store.create_plan(&plan(PlanKind::Monthly, 0, 0), 1).await,
        Err(BillingError::Unprocessable(_))
    ));
    assert_eq!(store.plans().await.unwrap().len(), 2);
    assert_eq!(store.plan(family.id).await.unwrap().unwrap(), family);
    let guardian = Identity::generate();
    let payer = store
        .add_member(
            &guardian.public_key(),
            Some(family.id),
            None,
            day("2025-02-01"),
            1,
        )
        .await
        .unwrap();
    assert_eq!(payer.role, HouseholdRole::Payer);
    let child = store
        .add_member(
            &Identity::generate().public_key(),
            Some(visits.id),
            Some(payer.household_id),
            day("2025-02-01"),
            1,
        )
        .await
        .unwrap();
    assert_eq!(child.role, HouseholdRole::Dependant);
    assert!(matches!(
        store
            .add_member(&guardian.public_key(), None, None, day("2025-02-01"), 1)
            .await,
        Err(BillingError::Conflict(_))
    ));
    assert!(matches!(
        store
            .add_member(
                &Identity::generate().public_key(),
                None,
                Some(999),
                day("2025-02-01"),
                1
            )
            .await,
        Err(BillingError::NotFound(_))
    ));
    assert_eq!(store.members().await.unwrap().len(), 2);
    store
        .add_visit(child.id, day("2025-02-20"), None, 1)
        .await
        .unwrap();
    assert!(matches!(
        store.add_visit(payer.id, day("2025-02-20"), None, 1).await,
        Err(BillingError::Conflict(_))
    ));

    // The run: one invoice for the household, once.
    let march = "2025-03".parse().unwrap();
    let Billed::Created(id) = bot.bill_member(payer.id, march).await.unwrap() else {
        panic!()
    };
    assert_eq!(
        bot.bill_member(payer.id, march).await.unwrap(),
        Billed::AlreadyBilled
    );
    assert!(matches!(
        bot.bill_member(child.id, "2025-04".parse().unwrap()).await,
        Err(BillingError::Conflict(_))
    ));
    let invoice = store.invoice(id).await.unwrap().unwrap();
    assert_eq!(invoice.amount_minor, 20000 + 5000 + 7000);
    assert_eq!(invoice.lines.len(), 3);
    let filtered = store
        .invoices(&InvoiceFilter {
            status: Some("open".into()),
            member_id: Some(payer.id),
            period: Some(march),
        })
        .await
        .unwrap();
    assert_eq!(filtered, vec![invoice.clone()]);
    assert!(
        store
            .invoices(&InvoiceFilter {
                status: Some("paid".into()),
                ..Default::default()
            })
            .await
            .unwrap()
            .is_empty()
    );

    // Outbox: due, a round recorded, attempts listed.
    let due = store.due_deliveries(MID_MARCH, 10).await.unwrap();
    assert_eq!(due.len(), 2);
    let attempt = Attempt {
        relay: "ws://x".into(),
        at: MID_MARCH,
        outcome: "error".into(),
        message: "m".into(),
    };
    store
        .finish_round(
            due[0].id,
            std::slice::from_ref(&attempt),
            "pending",
            MID_MARCH + 30,
            MID_MARCH,
        )
        .await
        .unwrap();
    assert_eq!(store.due_deliveries(MID_MARCH, 10).await.unwrap().len(), 1);
    assert_eq!(store.attempts(due[0].id).await.unwrap(), vec![attempt]);

    // Ledger: a partial payment, a duplicate, the rest, a payment on a paid invoice.
    let pay = |amount, reference| NewPayment {
        invoice_id: id,
        amount_minor: amount,
        method: "cash",
        reference,
        recorded_by: "t",
    };
    assert!(matches!(
        bot.record_payment(pay(10000, "a")).await.unwrap(),
        PaymentOutcome::Recorded { paid: false, .. }
    ));
    assert_eq!(
        bot.record_payment(pay(10000, "a")).await.unwrap(),
        PaymentOutcome::Duplicate
    );
    assert!(matches!(
        bot.record_payment(pay(22000, "b")).await.unwrap(),
        PaymentOutcome::Recorded { paid: true, .. }
    ));
    assert!(matches!(
        bot.record_payment(pay(1, "c")).await,
        Err(BillingError::Conflict(_))
    ));
    assert!(matches!(
        bot.record_payment(NewPayment {
            invoice_id: 999,
            ..pay(1, "d")
        })
        .await,
        Err(BillingError::NotFound(_))
    ));
    let paid = store.invoice(id).await.unwrap().unwrap();
    assert_eq!((paid.status.as_str(), paid.paid_minor), ("paid", 32000));
    assert_eq!(
        store
            .payments_between(MID_MARCH, MID_MARCH + 1)
            .await
            .unwrap(),
        vec![("cash".to_owned(), 2, 32000)]
    );
    assert!(store.open_invoices().await.unwrap().is_empty());
    assert_eq!(
        store
            .deliveries(Some(id))
            .await
            .unwrap()
            .iter()
            .filter(|d| d.purpose == "receipt")
            .count(),
        2
    );
    assert_eq!(bot.send_reminders().await.unwrap(), 0);

    // Appointment reminders: claimed and queued once, with no invoice.
    let patient = Identity::generate();
    let start = u64::try_from(MID_MARCH + 3600).unwrap();
    let record = ReminderRecord {
        appointment: "appt".into(),
        patient: patient.public_key().to_hex(),
        start,
        practice: "P".into(),
        utc_offset_minutes: 0,
        cancelled: false,
        email: None,
    };
    let sealed = reminder_event(
        &practice.doctor,
        &key.public_key(),
        &record,
        Timestamp::now(),
    )
    .unwrap();
    let records = std::slice::from_ref(&sealed);
    assert_eq!(bot.remind_appointments(records).await.unwrap(), 1);
    assert_eq!(bot.remind_appointments(records).await.unwrap(), 0);
    let claimed = store
        .appointment_reminders_claimed(u64::try_from(MID_MARCH).unwrap())
        .await
        .unwrap();
    assert_eq!(
        claimed.into_iter().collect::<Vec<_>>(),
        vec![("appt".to_owned(), start, 7200)]
    );
    let appointment: Vec<_> = store
        .deliveries(None)
        .await
        .unwrap()
        .into_iter()
        .filter(|d| d.purpose == "appointment")
        .collect();
    assert_eq!(appointment.len(), 2, "the patient's and the bot's copy");
    assert!(appointment.iter().all(|d| d.invoice_id.is_none()));

    // Appointment reminder emails: claimed, failed, claimed again, given up.
    let emailed = ReminderRecord {
        appointment: "appt-mail".into(),
        email: Some("ana@example.org".into()),
        ..record.clone()
    };
    let now = u64::try_from(MID_MARCH).unwrap();
    let records = std::slice::from_ref(&emailed);
    assert_eq!(store.appointment_emails("appt-mail").await.unwrap(), []);
    for attempts in [1, 2] {
        assert_eq!(
            bot.email_appointment_reminders(records, now).await.unwrap(),
            0
        );
        assert_eq!(
            store.appointment_emails("appt-mail").await.unwrap(),
            [(start, 7200, "failed".to_owned(), attempts)]
        );
    }
    assert_eq!(
        store
            .appointment_emails_done(now, 2)
            .await
            .unwrap()
            .into_iter()
            .collect::<Vec<_>>(),
        vec![("appt-mail".to_owned(), start, 7200)]
    );
    assert!(
        store
            .appointment_emails_done(now, 3)
            .await
            .unwrap()
            .is_empty()
    );
    // Spent: not tried again.
    bot.email_appointment_reminders(records, now).await.unwrap();
    assert_eq!(store.appointment_emails("appt-mail").await.unwrap()[0].3, 2);

    // Leaving, and the replay guard.
    let left = store
        .end_membership(child.id, day("2025-03-31"))
        .await
        .unwrap();
    assert_eq!(left.left_on.as_deref(), Some("2025-03-31"));
    assert!(matches!(
        store.end_membership(child.id, day("2025-01-01")).await,
        Err(BillingError::Unprocessable(_))
    ));
    assert!(store.claim_nip98("e1", 100, 10).await.unwrap());
    assert!(!store.claim_nip98("e1", 100, 10).await.unwrap());
    assert!(
        store.claim_nip98("e1", 200, 101).await.unwrap(),
        "forgotten once expired"
    );
    bot.relays().close().await;
    practice.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_query_works_on_sqlite() {
    every_query_works("sqlite").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_query_works_on_postgres() {
    every_query_works("postgres").await;
}

/// A database made by the first migration, with an invoice's message and its attempt, then
/// opened by this bot: the messages and attempts are kept, and the tables take appointment
/// messages, which have no invoice, and only those.
async fn an_old_database_keeps_its_messages_when_upgraded(engine: &str) {
    let dir = tempfile::tempdir().unwrap();
    let Some(url) = fresh_database(engine, dir.path(), "billing").await.unwrap() else {
        return;
    };
    let database = AnyDatabase::connect(&url).await.unwrap();
    let all = if database.postgres {
        sqlx::migrate!("../migrations/billing/postgres")
    } else {
        sqlx::migrate!("../migrations/billing/sqlite")
    };
    let first = Migrator {
        migrations: Cow::Owned(all.migrations[..1].to_vec()),
        ..all
    };
    first.run(&database.pool).await.unwrap();
    let run = |sql: &'static str| {
        let pool = database.pool.clone();
        async move { sqlx::query(sql).execute(&pool).await }
    };
    for sql in [
        "INSERT INTO households (created_at) VALUES (1)",
        "INSERT INTO members (pubkey, household_id, role, joined_on, created_at) VALUES ('k', 1, 'payer', '2025-01-01', 1)",
        "INSERT INTO invoices (member_id, period, amount_minor, amount_sat, address, address_index, status, issued_at, due_at) VALUES (1, '2025-03', 100, 10, 'a', 0, 'open', 1, 2)",
        "INSERT INTO deliveries (invoice_id, purpose, recipient, copy, rumor_id, wrap, status, next_attempt_at, created_at) VALUES (1, 'invoice', 'k', 0, 'r', '{}', 'pending', 1, 1)",
        "INSERT INTO delivery_attempts (delivery_id, relay, at, outcome, message) VALUES (1, 'ws://x', 1, 'error', 'm')",
    ] {
        run(sql).await.unwrap();
    }

    let store = ehr_billing_bot::store::Store::open(&url, 0).await.unwrap();
    let kept = store.deliveries(None).await.unwrap();
    assert_eq!(
        kept.iter()
            .map(|d| (d.id, d.invoice_id, d.purpose.as_str()))
            .collect::<Vec<_>>(),
        vec![(1, Some(1), "invoice")]
    );
    assert_eq!(store.attempts(1).await.unwrap().len(), 1);
    run("INSERT INTO deliveries (invoice_id, purpose, recipient, copy, rumor_id, wrap, status, next_attempt_at, created_at) VALUES (NULL, 'appointment', 'k', 0, 'r2', '{}', 'pending', 1, 1)")
        .await
        .unwrap();
    assert_eq!(store.deliveries(None).await.unwrap().len(), 2);
    // New ids follow the old ones; an invoice message needs its invoice, an appointment's has
    // none; an attempt still needs its message.
    assert_eq!(store.deliveries(None).await.unwrap()[1].id, 2);
    for refused in [
        "INSERT INTO deliveries (invoice_id, purpose, recipient, copy, rumor_id, wrap, status, next_attempt_at, created_at) VALUES (NULL, 'invoice', 'k', 0, 'r3', '{}', 'pending', 1, 1)",
        "INSERT INTO deliveries (invoice_id, purpose, recipient, copy, rumor_id, wrap, status, next_attempt_at, created_at) VALUES (1, 'appointment', 'k', 0, 'r4', '{}', 'pending', 1, 1)",
        "INSERT INTO delivery_attempts (delivery_id, relay, at, outcome, message) VALUES (999, 'ws://x', 1, 'error', 'm')",
    ] {
        assert!(run(refused).await.is_err(), "{refused}");
    }
    database.pool.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_old_database_keeps_its_messages_when_upgraded_on_sqlite() {
    an_old_database_keeps_its_messages_when_upgraded("sqlite").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_old_database_keeps_its_messages_when_upgraded_on_postgres() {
    an_old_database_keeps_its_messages_when_upgraded("postgres").await;
}
