#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! The admin API and the payment webhook under attack: who may call the admin API (root and
//! staff; agents, patients and strangers refused; a NIP-98 header used once), unknown members,
//! households and invoices, malformed amounts, and webhooks unsigned, badly signed, stale or
//! replayed. Every refusal has a status and `X-Reason`, and changes nothing.

mod common;

use common::{Billing, MID_MARCH, WEBHOOK_SECRET};
use ehr_billing_bot::payments::{SIGNATURE_HEADER, TIMESTAMP_HEADER};
use ehr_client::keys::Identity;
use ehr_client::roster::Role;
use hmac::{Hmac, Mac};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sha2::Sha256;

/// Everything a refusal must leave as it was.
async fn snapshot(billing: &Billing) -> Value {
    let store = billing.bot.store();
    json!({
        "plans": store.plans().await.unwrap(),
        "members": store.members().await.unwrap(),
        "invoices": store.invoices(&Default::default()).await.unwrap(),
        "deliveries": store.deliveries(None).await.unwrap().len(),
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_root_and_staff_administer_and_bad_input_changes_nothing() {
    let billing = Billing::start(MID_MARCH, |_| {}).await;
    let doctor = billing.practice.doctor.clone();
    let patient = billing.patient().await;
    // Staff the bot has not seen yet (it read the roster when it started).
    let (staff, leaving) = (Identity::generate(), Identity::generate());
    for (who, role) in [(&staff, Role::Frontdesk), (&leaving, Role::Nurse)] {
        billing
            .practice
            .add_member(&who.public_key(), role)
            .await
            .unwrap();
    }

    // Root and any staff role: yes. Agents (the bot itself, the gateway), patients, strangers: 403.
    for who in [&billing.practice.root, &doctor, &staff] {
        let (status, _) = billing.admin(who, Method::GET, "/admin/plans", None).await;
        assert_eq!(status, StatusCode::OK);
    }
    for who in [
        &billing.key,
        &billing.practice.gateway,
        &patient,
        &Identity::generate(),
    ] {
        let (status, body) = billing.admin(who, Method::GET, "/admin/plans", None).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    }
    // A staff member taken off the roster: refused as soon as the bot looks at the roster
    // again, which a key it does not know makes it do at once (no restart, no waiting).
    let (status, _) = billing
        .admin(&leaving, Method::GET, "/admin/plans", None)
        .await;
    assert_eq!(status, StatusCode::OK);
    billing
        .practice
        .revoke_member(&leaving.public_key())
        .await
        .unwrap();
    let (status, _) = billing
        .admin(&Identity::generate(), Method::GET, "/admin/plans", None)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = billing
        .admin(&leaving, Method::GET, "/admin/members", None)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "revoked: {body}");
    // The practice's other staff are unaffected.
    let (status, _) = billing
        .admin(&staff, Method::GET, "/admin/members", None)
        .await;
    assert_eq!(status, StatusCode::OK);

    // No header, another URL, a header used twice.
    let url = format!("{}/admin/plans", billing.url);
    let (status, _) = billing.send(Method::GET, &url, None, String::new()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let other =
        ehr_client::http_auth::authorization(&doctor, "http://elsewhere/admin/plans", "GET", b"")
            .unwrap();
    let (status, _) = billing
        .send(Method::GET, &url, Some(&other), String::new())
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let url = format!("{}/admin/members", billing.url);
    let once = ehr_client::http_auth::authorization(&doctor, &url, "GET", b"").unwrap();
    assert_eq!(
        billing
            .send(Method::GET, &url, Some(&once), String::new())
            .await
            .0,
        StatusCode::OK
    );
    assert_eq!(
        billing
            .send(Method::GET, &url, Some(&once), String::new())
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );

    let plan = billing.plan("monthly", 10000).await;
    billing.member(&patient, Some(plan), "2025-03-01").await;
    let before = snapshot(&billing).await;

    // A header signed for one body, method or URL carries no other: each refusal names why.
    let plans = format!("{}/admin/plans", billing.url);
    let signed = json!({"name": "a", "kind": "monthly", "amount_minor": 100}).to_string();
    let auth =
        ehr_client::http_auth::authorization(&doctor, &plans, "POST", signed.as_bytes()).unwrap();
    for (method, url, body, reason) in [
        (
            Method::POST,
            plans.clone(),
            signed.replace("100", "100000"),
            "payload",
        ),
        (Method::GET, plans.clone(), signed.clone(), "method"),
        (
            Method::POST,
            format!("{}/admin/members", billing.url),
            signed.clone(),
            "u tag",
        ),
    ] {
        let (status, answer) = billing.send(method, &url, Some(&auth), body).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{answer}");
        let error = answer["error"].as_str().unwrap();
        assert!(error.contains(reason), "{reason}: {error}");
    }

    // Malformed amounts: decimals and strings are not JSON integers (400); zero, negative and
    // absurd amounts are out of range (422).
    for (amount, expected) in [
        (json!(12.5), StatusCode::BAD_REQUEST),
        (json!("100"), StatusCode::BAD_REQUEST),
        (json!(null), StatusCode::BAD_REQUEST),
        (json!(0), StatusCode::UNPROCESSABLE_ENTITY),
        (json!(-100), StatusCode::UNPROCESSABLE_ENTITY),
        (
            json!(10_000_000_000_000i64),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
    ] {
        let body = json!({"name": "x", "kind": "monthly", "amount_minor": amount});
        let (status, answer) = billing
            .admin(&doctor, Method::POST, "/admin/plans", Some(body))
            .await;
        assert_eq!(status, expected, "{amount}: {answer}");
        assert!(answer["error"].is_string());
    }
    // Unknown members, households, plans and invoices; bad keys, dates and ids; duplicates.
    for (method, path, body, expected) in [
        (
            Method::POST,
            "/admin/members",
            json!({"npub": "npub1nope"}),
            StatusCode::BAD_REQUEST,
        ),
        (
            Method::POST,
            "/admin/members",
            json!({"npub": patient.npub()}),
            StatusCode::CONFLICT,
        ),
        (
            Method::POST,
            "/admin/members",
            json!({"npub": Identity::generate().npub(), "plan_id": 999}),
            StatusCode::NOT_FOUND,
        ),
        (
            Method::POST,
            "/admin/members",
            json!({"npub": Identity::generate().npub(), "household": 999}),
            StatusCode::NOT_FOUND,
        ),
        (
            Method::POST,
            "/admin/members",
            json!({"npub": Identity::generate().npub(), "joined_on": "2025-02-30"}),
            StatusCode::BAD_REQUEST,
        ),
        (
            Method::POST,
            "/admin/members/999/visits",
            json!({}),
            StatusCode::NOT_FOUND,
        ),
        (
            Method::POST,
            "/admin/members/1/visits",
            json!({}),
            StatusCode::CONFLICT,
        ),
        (
            Method::POST,
            "/admin/members/abc/leave",
            json!({"left_on": "2025-03-01"}),
            StatusCode::BAD_REQUEST,
        ),
        (
            Method::POST,
            "/admin/invoices/999/payments",
            json!({"amount_minor": 100, "method": "cash", "reference": "r1"}),
            StatusCode::NOT_FOUND,
        ),
        (
            Method::POST,
            "/admin/runs",
            json!({"period": "2025-13"}),
            StatusCode::BAD_REQUEST,
        ),
    ] {
        let (status, answer) = billing
            .admin(&doctor, method, path, Some(body.clone()))
            .await;
        assert_eq!(status, expected, "{path} {body}: {answer}");
    }
    let (status, _) = billing
        .admin(&doctor, Method::GET, "/admin/members/999", None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = billing
        .admin(&doctor, Method::GET, "/admin/invoices?colour=red", None)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(snapshot(&billing).await, before);

    // Invoice 1 exists now: malformed payments change nothing; a good one is recorded once.
    let (_, run) = billing.run(&doctor, Some("2025-03")).await;
    assert_eq!(run["run"]["created"], json!([1]));
    let pay = |signer: Identity, body: Value| {
        let billing = &billing;
        async move {
            billing
                .admin(
                    &signer,
                    Method::POST,
                    "/admin/invoices/1/payments",
                    Some(body),
                )
                .await
        }
    };
    let before = snapshot(&billing).await;
    for (amount, expected) in [
        (json!(99.5), StatusCode::BAD_REQUEST),
        (json!("ten"), StatusCode::BAD_REQUEST),
        (json!(-1), StatusCode::UNPROCESSABLE_ENTITY),
        (json!(0), StatusCode::UNPROCESSABLE_ENTITY),
    ] {
        let body = json!({"amount_minor": amount, "method": "cash", "reference": "r1"});
        let (status, answer) = pay(doctor.clone(), body).await;
        assert_eq!(status, expected, "{amount}: {answer}");
    }
    let (status, _) = pay(
        doctor.clone(),
        json!({"amount_minor": 100, "method": "gold", "reference": "r1"}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(snapshot(&billing).await, before);
    let body = json!({"amount_minor": 4000, "method": "cash", "reference": "r1"});
    let (status, paid) = pay(doctor.clone(), body.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{paid}");
    assert_eq!(paid["invoice_paid"], false);
    let (status, _) = pay(billing.practice.root.clone(), body).await;
    assert_eq!(status, StatusCode::CONFLICT, "the same reference twice");
    let (_, outstanding) = billing
        .admin(&doctor, Method::GET, "/admin/reports/outstanding", None)
        .await;
    assert_eq!(outstanding["outstanding_minor"], 6000, "{outstanding}");
    billing.stop().await;
}

fn sign(timestamp: i64, body: &str) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(WEBHOOK_SECRET).unwrap();
    mac.update(format!("{timestamp}.{body}").as_bytes());
    format!("v1={}", hex::encode(mac.finalize().into_bytes()))
}

async fn webhook(billing: &Billing, headers: &[(&str, String)], body: &str) -> (StatusCode, Value) {
    let mut request = billing
        .http
        .post(format!("{}/webhook/payment", billing.url))
        .body(body.to_owned());
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    if !status.is_success() {
        assert!(response.headers().contains_key("x-reason"));
    }
    (status, response.json().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsigned_forged_stale_or_replayed_webhooks_change_nothing() {
    let billing = Billing::start(MID_MARCH, |_| {}).await;
    let plan = billing.plan("monthly", 10000).await;
    let patient = billing.patient().await;
    billing.member(&patient, Some(plan), "2025-03-01").await;
    billing
        .bot
        .run_billing("2025-03".parse().unwrap())
        .await
        .unwrap();
    let now = MID_MARCH;
    let body = json!({"id": "evt_1", "invoice": 1, "amount_minor": 10000, "reference": "pay_1"})
        .to_string();
    let signed = |ts: i64, body: &str| {
        vec![
            (TIMESTAMP_HEADER, ts.to_string()),
            (SIGNATURE_HEADER, sign(ts, body)),
        ]
    };
    let before = snapshot(&billing).await;

    let (status, _) = webhook(&billing, &[], &body).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "unsigned");
    let (status, _) = webhook(&billing, &[(TIMESTAMP_HEADER, now.to_string())], &body).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "no signature");
    let forged = body.replace("10000", "10001");
    let mut headers = signed(now, &body);
    let (status, _) = webhook(&billing, &headers, &forged).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "the body changed");
    headers[0].1 = (now + 1).to_string();
    let (status, _) = webhook(&billing, &headers, &body).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "the timestamp changed");
    let (status, _) = webhook(&billing, &signed(now - 301, &body), &body).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "stale");
    let (status, _) = webhook(&billing, &signed(now + 301, &body), &body).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "from the future");
    let (status, _) = webhook(&billing, &signed(now, &body), &format!("{body} ")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "a byte appended");
    let other_key = vec![
        (TIMESTAMP_HEADER, now.to_string()),
        (SIGNATURE_HEADER, format!("v1={}", "00".repeat(32))),
    ];
    let (status, _) = webhook(&billing, &other_key, &body).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // Signed, but an unknown invoice, malformed amounts, or a notice of another form.
    for (bad, expected) in [
        (
            json!({"id": "evt_1", "invoice": 99, "amount_minor": 100, "reference": "p"}),
            StatusCode::NOT_FOUND,
        ),
        (
            json!({"id": "evt_y", "invoice": 1, "amount_minor": 100.5, "reference": "p"}),
            StatusCode::BAD_REQUEST,
        ),
        (
            json!({"id": "evt_z", "invoice": 1, "amount_minor": -100, "reference": "p"}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json!({"id": "", "invoice": 1, "amount_minor": 100, "reference": "p"}),
            StatusCode::BAD_REQUEST,
        ),
        (
            json!({"id": "evt_w", "invoice": 1, "amount_minor": 100, "reference": "p", "paid": true}),
            StatusCode::BAD_REQUEST,
        ),
    ] {
        let text = bad.to_string();
        let (status, answer) = webhook(&billing, &signed(now, &text), &text).await;
        assert_eq!(status, expected, "{bad}: {answer}");
    }
    assert_eq!(snapshot(&billing).await, before);

    // The genuine one pays the invoice and queues a receipt (the refused notice with its id,
    // evt_1, did not use the id up).
    let (status, answer) = webhook(&billing, &signed(now, &body), &body).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["invoice_paid"], true);
    let after = snapshot(&billing).await;
    // Replayed as is, or re-signed later with the same id or the same payment reference.
    for (ts, text) in [
        (now, body.clone()),
        (now + 60, body.clone()),
        (
            now + 60,
            json!({"id": "evt_2", "invoice": 1, "amount_minor": 10000, "reference": "pay_1"})
                .to_string(),
        ),
    ] {
        let (status, answer) = webhook(&billing, &signed(ts, &text), &text).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        assert_eq!(answer["status"], "duplicate");
    }
    assert_eq!(snapshot(&billing).await, after);
    let receipts = billing
        .bot
        .store()
        .deliveries(Some(1))
        .await
        .unwrap()
        .into_iter()
        .filter(|d| d.purpose == "receipt")
        .count();
    assert_eq!(receipts, 2, "one receipt and the bot's copy");
    billing.stop().await;
}
