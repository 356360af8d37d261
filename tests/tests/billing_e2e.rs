#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! The billing bot end to end, on the project's relay: a patient is added with a plan, the
//! month is run, the invoice arrives as a NIP-17 gift wrap that the patient reads
//! (authenticated) and nostr-tools opens independently, while another patient can neither fetch
//! nor open it; the payment is confirmed on chain (an Esplora stand-in), and a receipt arrives.
//! It stays here because nostr-tools runs under node (tests/node); the bot's delivery tests,
//! which need only the relay and the bot, are in billing-bot/tests/delivery.rs.

#[path = "../../billing-bot/tests/common/mod.rs"]
mod billing_common;

use std::time::Duration;

use billing_common::{APRIL_1, Billing, Esplora, MID_MARCH, RECEIVE_0, messages_for, wraps_for};
use ehr_client::dm;
use ehr_client::net::RelayClient;
use nostr::prelude::{Filter, Kind};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

fn node_check(cases: &[Value]) {
    let lines = ehr_tests::node::run_json_lines(
        "billing-dm.mjs",
        "nostr-tools",
        &json!({ "cases": cases }),
    )
    .unwrap();
    assert_eq!(lines.len(), cases.len() + 1);
    for line in &lines[..cases.len()] {
        assert_eq!(line["checks"].as_object().unwrap().len(), 5, "{line}");
    }
    assert_eq!(lines[cases.len()]["failed"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_patient_is_invoiced_pays_on_chain_and_gets_a_receipt() {
    let esplora = Esplora::default();
    let esplora_url = esplora.start().await;
    let billing = Billing::start(MID_MARCH, |c| {
        c.bitcoin.esplora_url = Some(esplora_url.clone());
    })
    .await;
    let doctor = billing.practice.doctor.clone();
    let (status, plan) = billing
        .admin(
            &doctor,
            Method::POST,
            "/admin/plans",
            Some(json!({"name": "Adult membership", "kind": "monthly", "amount_minor": 15000})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{plan}");
    let patient = billing.patient().await;
    // She joins on 15 March: 17 of 31 days, 15000 * 17 / 31 = 8225.8 -> 8226 cents.
    let (status, member) = billing
        .admin(
            &doctor,
            Method::POST,
            "/admin/members",
            Some(json!({"npub": patient.npub(), "plan_id": plan["id"], "joined_on": "2025-03-15"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{member}");
    assert_eq!(member["role"], "payer");

    let (status, run) = billing.run(&doctor, Some("2025-03")).await;
    assert_eq!(status, StatusCode::OK, "{run}");
    assert_eq!(run["run"]["created"], json!([1]), "{run}");

    // The patient reads the invoice through the relay, authenticated with her own key.
    let received = messages_for(&billing.practice.relay_url, &patient, 1).await;
    let (wrap, invoice_dm) = &received[0];
    assert_eq!(invoice_dm.sender, billing.key.public_key());
    assert_eq!(invoice_dm.subject.as_deref(), Some("Invoice 1 for 2025-03"));
    for part in [
        "82.26 USD",
        "17 of 31 days",
        RECEIVE_0,
        "bitcoin:",
        "https://pay.example/1?amount=8226",
    ] {
        assert!(
            invoice_dm.text.contains(part),
            "{part} in {}",
            invoice_dm.text
        );
    }
    // Another patient of the practice can neither fetch nor open it, nor the bot's copy.
    let other = billing.patient().await;
    let client = RelayClient::connect(&billing.practice.relay_url, &other, Duration::from_secs(10))
        .await
        .unwrap();
    for filter in [
        Filter::new().kind(Kind::GiftWrap),
        Filter::new()
            .kind(Kind::GiftWrap)
            .pubkey(patient.public_key()),
        Filter::new().kind(Kind::GiftWrap).author(wrap.pubkey),
        Filter::new().id(wrap.id),
        Filter::new().pubkey(billing.key.public_key()),
    ] {
        let seen = client.fetch(vec![filter.clone()]).await.unwrap();
        assert!(seen.is_empty(), "{filter:?}: {} events", seen.len());
    }
    client.disconnect().await;
    assert!(dm::open(&other, wrap).is_err());
    // nostr-tools opens the same wrap on its own.
    node_check(&[json!({
        "wrap": serde_json::from_str::<Value>(&wrap.as_json()).unwrap(),
        "recipient_secret_hex": patient.secret_key().to_secret_hex(),
        "sender": billing.key.public_key().to_hex(),
        "subject": "Invoice 1 for 2025-03",
        "contains": RECEIVE_0,
    })]);

    // The invoice as staff see it: the lines, the first BIP84 address, both copies sent.
    let (status, detail) = billing
        .admin(&doctor, Method::GET, "/admin/invoices/1", None)
        .await;
    assert_eq!(status, StatusCode::OK, "{detail}");
    let invoice = &detail["invoice"];
    assert_eq!(invoice["amount_minor"], 8226);
    assert_eq!(invoice["address"], RECEIVE_0);
    assert_eq!(invoice["recipient"], patient.public_key().to_hex());
    // 8226 cents at 6,500,000 cents per bitcoin: 126,554 sats (rounded up).
    assert_eq!(invoice["amount_sat"], 126_554);
    assert_eq!(
        invoice["bip21"],
        format!("bitcoin:{RECEIVE_0}?amount=0.00126554&label=Invoice%201")
    );
    let messages = detail["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 2);
    assert!(
        messages.iter().all(|m| m["delivery"]["status"] == "sent"),
        "{detail}"
    );
    // The copy for the record: the bot opens its own wrap, the same rumor.
    let own = wraps_for(&billing.practice.relay_url, &billing.key).await;
    assert_eq!(own.len(), 1);
    assert_eq!(dm::open(&billing.key, &own[0]).unwrap().id, invoice_dm.id);

    // Payment: too little, then enough but unconfirmed, then confirmed.
    *esplora.tip.lock().unwrap() = 100;
    esplora.pay(RECEIVE_0, 126_000, Some(90));
    assert!(billing.bot.poll_chain().await.unwrap().is_empty());
    esplora.pay(RECEIVE_0, 554, None);
    assert!(billing.bot.poll_chain().await.unwrap().is_empty());
    esplora.pay(RECEIVE_0, 554, Some(100));
    assert_eq!(billing.bot.poll_chain().await.unwrap(), vec![1]);
    assert!(
        billing.bot.poll_chain().await.unwrap().is_empty(),
        "paid once"
    );

    // The receipt arrives (the scheduler delivers it when the payment wakes it).
    let received = messages_for(&billing.practice.relay_url, &patient, 2).await;
    let receipt = received
        .iter()
        .find(|(_, m)| m.subject.as_deref() == Some("Receipt for invoice 1"))
        .expect("a receipt");
    assert!(receipt.1.text.contains("82.26 USD"), "{}", receipt.1.text);

    // Reports: nothing outstanding, 82.26 paid in March by bitcoin.
    let (_, outstanding) = billing
        .admin(&doctor, Method::GET, "/admin/reports/outstanding", None)
        .await;
    assert_eq!(outstanding["open_invoices"], 0, "{outstanding}");
    let (_, paid) = billing
        .admin(
            &doctor,
            Method::GET,
            "/admin/reports/paid?month=2025-03",
            None,
        )
        .await;
    assert_eq!(paid["paid_minor"], 8226, "{paid}");
    assert_eq!(paid["by_method"][0]["method"], "bitcoin");

    // April: the full fee, a fresh address; March is not billed again.
    billing.clock.set(APRIL_1 + 3600);
    let (_, run) = billing.run(&doctor, None).await;
    assert_eq!(run["run"]["period"], "2025-04");
    assert_eq!(run["run"]["created"], json!([2]));
    let (_, again) = billing.run(&doctor, Some("2025-03")).await;
    assert_eq!(again["run"]["created"], json!([]));
    let (_, april) = billing
        .admin(&doctor, Method::GET, "/admin/invoices/2", None)
        .await;
    assert_eq!(april["invoice"]["amount_minor"], 15000);
    assert_eq!(april["invoice"]["address_index"], 1);
    assert_ne!(april["invoice"]["address"], RECEIVE_0);
    billing.stop().await;
}
