#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! Billing runs: twice, concurrently, or after a crash halfway, every payer has exactly one
//! invoice per month and every invoice exactly one message (and the bot's copy); no invoice of
//! zero; family plans, per-visit charges billed the next month; reminders on their schedule.

mod common;

use std::sync::Arc;

use common::{Billing, MID_MARCH, config};
use ehr_billing_bot::billing::Billed;
use ehr_billing_bot::store::ledger::InvoiceFilter;
use ehr_billing_bot::{Bot, ManualClock};
use ehr_client::keys::Identity;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_twice_concurrently_or_after_a_crash_make_no_duplicate() {
    let billing = Billing::quiet(MID_MARCH, |_| {}).await;
    let plan = billing.plan("monthly", 10000).await;
    let mut members = Vec::new();
    for _ in 0..6 {
        members.push(
            billing
                .member(&Identity::generate(), Some(plan), "2025-01-01")
                .await,
        );
    }
    let march = "2025-03".parse().unwrap();
    // A run that died after billing half the payers...
    for id in &members[..3] {
        assert!(matches!(
            billing.bot.bill_member(*id, march).await.unwrap(),
            Billed::Created(_)
        ));
    }
    // ...and a restarted bot on the same database, running twice at once, then again.
    let clock = ManualClock::at(MID_MARCH);
    let restarted = Bot::start(
        config(&billing.practice, &billing.key, &billing.database_url),
        Arc::new(clock),
    )
    .await
    .unwrap();
    let (a, b) = tokio::join!(restarted.run_billing(march), billing.bot.run_billing(march));
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.created.len() + b.created.len(), 3, "{a:?} {b:?}");
    let again = restarted.run_billing(march).await.unwrap();
    assert!(again.created.is_empty());
    assert_eq!(again.already_billed, 6);

    let invoices = billing
        .bot
        .store()
        .invoices(&InvoiceFilter::default())
        .await
        .unwrap();
    assert_eq!(invoices.len(), 6);
    let mut billed: Vec<i64> = invoices.iter().map(|i| i.member_id).collect();
    billed.sort_unstable();
    assert_eq!(billed, members);
    // Six distinct addresses, indexes 0..6 with no gap.
    let mut indexes: Vec<i64> = invoices.iter().map(|i| i.address_index).collect();
    indexes.sort_unstable();
    assert_eq!(indexes, (0..6).collect::<Vec<_>>());
    // One message and one copy per invoice.
    let deliveries = billing.bot.store().deliveries(None).await.unwrap();
    assert_eq!(deliveries.len(), 12);
    for invoice in &invoices {
        let mine: Vec<_> = deliveries
            .iter()
            .filter(|d| d.invoice_id == Some(invoice.id))
            .collect();
        assert_eq!(mine.len(), 2);
        assert_eq!(mine.iter().filter(|d| d.copy).count(), 1);
    }
    restarted.relays().close().await;
    billing.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_owed_makes_no_invoice_and_households_pay_together() {
    let billing = Billing::quiet(MID_MARCH, |_| {}).await;
    let march = "2025-03".parse().unwrap();
    let per_visit = billing.plan("per-visit", 7500).await;
    let tiny = billing.plan("monthly", 1).await;
    let family = billing.plan_with("family", 20000, 5000).await;

    // Per-visit without visits, a fee prorated to zero, a member who joins in April.
    let visitor = billing
        .member(&Identity::generate(), Some(per_visit), "2025-01-01")
        .await;
    let late = billing
        .member(&Identity::generate(), Some(tiny), "2025-03-31")
        .await;
    let april = billing
        .member(&Identity::generate(), Some(tiny), "2025-04-02")
        .await;
    // A guardian on a family plan with two children (one joined mid-month).
    let guardian = billing
        .member(&Identity::generate(), Some(family), "2025-01-01")
        .await;
    let household = billing
        .bot
        .store()
        .member(guardian)
        .await
        .unwrap()
        .unwrap()
        .household_id;
    billing
        .member_in(&Identity::generate(), None, Some(household), "2025-01-01")
        .await;
    billing
        .member_in(&Identity::generate(), None, Some(household), "2025-03-17")
        .await;

    let report = billing.bot.run_billing(march).await.unwrap();
    assert_eq!(report.created.len(), 1, "{report:?}");
    assert_eq!(report.nothing_owed, 2, "{report:?}");
    for member in [visitor, late, april] {
        assert_eq!(
            billing.bot.bill_member(member, march).await.unwrap(),
            Billed::NothingOwed
        );
    }
    let invoice = billing
        .bot
        .store()
        .invoice(report.created[0])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(invoice.member_id, guardian);
    // 200.00 + 50.00 + 50.00 * 15/31 (24.19)
    let amounts: Vec<i64> = invoice.lines.iter().map(|l| l.amount_minor).collect();
    assert_eq!(amounts, vec![20000, 5000, 2419], "{:?}", invoice.lines);
    assert_eq!(invoice.amount_minor, 27419);

    // Visits in March are billed on the April invoice, once.
    let day = |d| ehr_billing_bot::money::parse_date("visit_on", d).unwrap();
    billing
        .bot
        .store()
        .add_visit(visitor, day("2025-03-03"), None, 0)
        .await
        .unwrap();
    billing
        .bot
        .store()
        .add_visit(visitor, day("2025-03-20"), Some(5000), 0)
        .await
        .unwrap();
    let april_run = billing
        .bot
        .run_billing("2025-04".parse().unwrap())
        .await
        .unwrap();
    let of_visitor = InvoiceFilter {
        member_id: Some(visitor),
        ..Default::default()
    };
    let visitor_invoices = || billing.bot.store().invoices(&of_visitor);
    let visitor_invoice = visitor_invoices().await.unwrap();
    assert_eq!(visitor_invoice.len(), 1);
    assert_eq!(visitor_invoice[0].amount_minor, 12500);
    assert_eq!(visitor_invoice[0].period, "2025-04");
    assert!(april_run.created.contains(&visitor_invoice[0].id));
    let lines: Vec<&str> = visitor_invoice[0]
        .lines
        .iter()
        .map(|l| l.description.as_str())
        .collect();
    assert_eq!(lines, ["Visit on 2025-03-03", "Visit on 2025-03-20"]);
    let may = billing
        .bot
        .run_billing("2025-05".parse().unwrap())
        .await
        .unwrap();
    let visitor_may = visitor_invoices().await.unwrap();
    assert_eq!(visitor_may.len(), 1, "visits are billed once ({may:?})");
    billing.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reminders_follow_their_schedule() {
    let billing = Billing::quiet(MID_MARCH, |c| c.invoices.reminder_days = vec![3, 10, 30]).await;
    let plan = billing.plan("monthly", 10000).await;
    let payer = billing
        .member(&Identity::generate(), Some(plan), "2025-01-01")
        .await;
    let id = match billing
        .bot
        .bill_member(payer, "2025-03".parse().unwrap())
        .await
        .unwrap()
    {
        Billed::Created(id) => id,
        other => panic!("{other:?}"),
    };
    let reminders = || async {
        billing
            .bot
            .store()
            .deliveries(Some(id))
            .await
            .unwrap()
            .iter()
            .filter(|d| d.purpose == "reminder" && !d.copy)
            .count()
    };
    let due = billing
        .bot
        .store()
        .invoice(id)
        .await
        .unwrap()
        .unwrap()
        .due_at;
    assert_eq!(due, MID_MARCH + 14 * 86_400);
    billing.clock.set(due + 2 * 86_400);
    assert_eq!(billing.bot.send_reminders().await.unwrap(), 0);
    billing.clock.set(due + 3 * 86_400);
    assert_eq!(billing.bot.send_reminders().await.unwrap(), 1);
    assert_eq!(
        billing.bot.send_reminders().await.unwrap(),
        0,
        "once per step"
    );
    assert_eq!(reminders().await, 1);
    // Down for weeks: one reminder for the missed steps, not two.
    billing.clock.set(due + 31 * 86_400);
    assert_eq!(billing.bot.send_reminders().await.unwrap(), 1);
    assert_eq!(reminders().await, 2);
    assert_eq!(
        billing
            .bot
            .store()
            .invoice(id)
            .await
            .unwrap()
            .unwrap()
            .reminders_sent,
        3
    );
    billing.clock.set(due + 90 * 86_400);
    assert_eq!(
        billing.bot.send_reminders().await.unwrap(),
        0,
        "the schedule is over"
    );
    billing.stop().await;
}
