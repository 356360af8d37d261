//! What the billing bot's tests share: a practice relay with the bot on its roster, the bot on
//! 127.0.0.1:0 with a settable clock, NIP-98 admin calls, patients reading their gift wraps,
//! and an Esplora stand-in. (Also `tests/tests/billing_e2e.rs` in `ehr-tests`, through
//! `#[path]`.)
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, State};
use ehr_billing_bot::address::Account;
use ehr_billing_bot::{Bot, Config, ManualClock};
use ehr_client::dm::{self, DirectMessage};
use ehr_client::keys::Identity;
use ehr_client::net::{PublishOutcome, RelayClient};
use ehr_client::roster::Role;
use ehr_tests::practice::TestPractice;
use nostr::prelude::{Event, Filter, Kind};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// BIP84 test vector account (m/84'/0'/0' of "abandon ... about").
pub const ZPUB: &str = "zpub6rFR7y4Q2AijBEqTUquhVz398htDFrtymD9xYYfG1m4wAcvPhXNfE3EfH1r1ADqtfSdVCToUG868RvUUkgDKf31mGDtKsAYz2oz2AGutZYs";
/// Its first receive address.
pub const RECEIVE_0: &str = "bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu";

/// 2025-03-15 12:00:00 UTC.
pub const MID_MARCH: i64 = 1_742_040_000;
/// 2025-04-01 00:00:00 UTC.
pub const APRIL_1: i64 = 1_743_465_600;

pub const WEBHOOK_SECRET: &[u8] = b"test-webhook-secret-0123456789";

pub struct Billing {
    pub practice: TestPractice,
    pub key: Identity,
    pub bot: Arc<Bot>,
    pub clock: ManualClock,
    pub url: String,
    pub http: reqwest::Client,
    pub database_url: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<Result<(), ehr_billing_bot::BillingError>>>,
    _data: tempfile::TempDir,
}

/// A config for `practice` with the bot's key and a database in `dir`.
pub fn config(practice: &TestPractice, key: &Identity, database_url: &str) -> Config {
    let mut config = Config::new(
        practice.root.public_key(),
        practice.relay_url.clone(),
        key.clone(),
        database_url,
        Account::parse(ZPUB, ehr_billing_bot::address::Network::Bitcoin).unwrap(),
    );
    config.webhook_secret = Some(ehr_billing_bot::config::WebhookSecret(
        WEBHOOK_SECRET.to_vec(),
    ));
    config.invoices.pay_link = Some("https://pay.example/{invoice}?amount={amount_minor}".into());
    config.relay_timeout = Duration::from_secs(10);
    // The tests' inbox relays run on 127.0.0.1 (`ws://`), which the bot refuses by default.
    config.delivery.allow_private_dm_relays = true;
    config
}

impl Billing {
    /// A practice, the bot on its roster, and the bot serving (admin API, webhook, and the
    /// scheduler delivering whenever woken) with the clock at `now`.
    pub async fn start(now: i64, configure: impl FnOnce(&mut Config)) -> Self {
        Self::start_with(now, configure, true).await
    }

    /// The same without serving: nothing runs unless the test calls it.
    pub async fn quiet(now: i64, configure: impl FnOnce(&mut Config)) -> Self {
        Self::start_with(now, configure, false).await
    }

    async fn start_with(now: i64, configure: impl FnOnce(&mut Config), serve: bool) -> Self {
        let practice = TestPractice::start().await.unwrap();
        let key = Identity::generate();
        practice
            .add_member(&key.public_key(), Role::BillingBot)
            .await
            .unwrap();
        let data = tempfile::tempdir().unwrap();
        let database_url = format!("sqlite://{}", data.path().join("billing.db").display());
        let mut config = config(&practice, &key, &database_url);
        configure(&mut config);
        let clock = ManualClock::at(now);
        let bot = Bot::start(config, Arc::new(clock.clone())).await.unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = serve.then(|| {
            tokio::spawn(Arc::clone(&bot).serve(listener, async move {
                let _ = stopped.await;
            }))
        });
        Self {
            practice,
            key,
            bot,
            clock,
            url,
            http: reqwest::Client::new(),
            database_url,
            stop: Some(stop),
            task,
            _data: data,
        }
    }

    /// Call the admin API: NIP-98 signed by `signer`, once.
    pub async fn admin(
        &self,
        signer: &Identity,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let url = format!("{}{path}", self.url);
        let bytes = body.map(|b| b.to_string()).unwrap_or_default();
        self.admin_raw(signer, method, &url, bytes).await
    }

    /// Call the admin API with a raw body.
    pub async fn admin_raw(
        &self,
        signer: &Identity,
        method: reqwest::Method,
        url: &str,
        body: String,
    ) -> (StatusCode, Value) {
        let auth =
            ehr_client::http_auth::authorization(signer, url, method.as_str(), body.as_bytes())
                .unwrap();
        self.send(method, url, Some(&auth), body).await
    }

    /// Send a request with a ready `Authorization` value (or none).
    pub async fn send(
        &self,
        method: reqwest::Method,
        url: &str,
        auth: Option<&str>,
        body: String,
    ) -> (StatusCode, Value) {
        let mut request = self
            .http
            .request(method, url)
            .header("content-type", "application/json")
            .body(body);
        if let Some(auth) = auth {
            request = request.header("authorization", auth);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        if !status.is_success() {
            assert!(
                response.headers().contains_key("x-reason"),
                "an error without X-Reason: {status}"
            );
        }
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// `POST /admin/runs`, signed by `signer`, for `period` (default: the bot's month).
    pub async fn run(&self, signer: &Identity, period: Option<&str>) -> (StatusCode, Value) {
        let body = period.map(|p| json!({ "period": p }));
        self.admin(signer, reqwest::Method::POST, "/admin/runs", body)
            .await
    }

    /// `who` publishes a kind 10050 inbox list naming `relays`, on the practice relay.
    pub async fn publish_inbox_list(&self, who: &Identity, relays: &[&str]) {
        let list = dm::inbox_relay_list(who, relays).unwrap();
        let client = RelayClient::connect(&self.practice.relay_url, who, Duration::from_secs(10))
            .await
            .unwrap();
        assert_eq!(
            client.publish(&[list]).await.unwrap(),
            vec![PublishOutcome::Accepted]
        );
        client.disconnect().await;
    }

    /// A plan, straight into the store; its id.
    pub async fn plan(&self, kind: &str, amount: i64) -> i64 {
        self.plan_with(kind, amount, 0).await
    }

    pub async fn plan_with(&self, kind: &str, amount: i64, per_dependant: i64) -> i64 {
        let plan = serde_json::from_value(json!({
            "name": format!("{kind} plan"), "kind": kind, "amount_minor": amount,
            "per_dependant_minor": per_dependant,
        }))
        .unwrap();
        self.bot
            .store()
            .create_plan(&plan, self.bot.now())
            .await
            .unwrap()
            .id
    }

    /// A member, straight into the store (a dependant with `household`); its id.
    pub async fn member(&self, who: &Identity, plan: Option<i64>, joined_on: &str) -> i64 {
        self.member_in(who, plan, None, joined_on).await
    }

    pub async fn member_in(
        &self,
        who: &Identity,
        plan: Option<i64>,
        household: Option<i64>,
        joined_on: &str,
    ) -> i64 {
        let day = ehr_billing_bot::money::parse_date("joined_on", joined_on).unwrap();
        self.bot
            .store()
            .add_member(&who.public_key(), plan, household, day, self.bot.now())
            .await
            .unwrap()
            .id
    }

    /// A patient admitted to the relay (so gift wraps to her are accepted).
    pub async fn patient(&self) -> Identity {
        let patient = Identity::generate();
        self.practice.admit(&patient.public_key()).await.unwrap();
        patient
    }

    pub async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        if let Some(task) = self.task.take() {
            task.await.unwrap().unwrap();
        }
        self.practice.stop().await.unwrap();
    }
}

/// Gift wraps addressed to `who` on `relay_url`, read as `who` (NIP-42 authenticated).
pub async fn wraps_for(relay_url: &str, who: &Identity) -> Vec<Event> {
    let client = RelayClient::connect(relay_url, who, Duration::from_secs(10))
        .await
        .unwrap();
    let events = client
        .fetch(vec![
            Filter::new().kind(Kind::GiftWrap).pubkey(who.public_key()),
        ])
        .await
        .unwrap();
    client.disconnect().await;
    events
}

/// [`ehr_tests::inbox::messages_for`], which must succeed.
pub async fn messages_for(
    relay_url: &str,
    who: &Identity,
    count: usize,
) -> Vec<(Event, DirectMessage)> {
    ehr_tests::inbox::messages_for(relay_url, who, count)
        .await
        .unwrap()
}

/// An Esplora-compatible stand-in: a tip height and the transactions of each address.
#[derive(Clone, Default)]
pub struct Esplora {
    pub tip: Arc<Mutex<u64>>,
    pub txs: Arc<Mutex<HashMap<String, Vec<Value>>>>,
}

impl Esplora {
    /// Serve on 127.0.0.1:0; its base URL.
    pub async fn start(&self) -> String {
        let app = axum::Router::new()
            .route(
                "/blocks/tip/height",
                axum::routing::get(|State(s): State<Esplora>| async move {
                    s.tip.lock().unwrap().to_string()
                }),
            )
            .route(
                "/address/{address}/txs",
                axum::routing::get(
                    |State(s): State<Esplora>, Path(address): Path<String>| async move {
                        let txs = s
                            .txs
                            .lock()
                            .unwrap()
                            .get(&address)
                            .cloned()
                            .unwrap_or_default();
                        axum::Json(Value::Array(txs))
                    },
                ),
            )
            .with_state(self.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        url
    }

    /// A transaction paying `sats` to `address`, confirmed at `height` (or unconfirmed).
    pub fn pay(&self, address: &str, sats: u64, height: Option<u64>) {
        let tx = json!({
            "txid": format!("{:064x}", sats + height.unwrap_or(0)),
            "status": {"confirmed": height.is_some(), "block_height": height},
            "vout": [
                {"scriptpubkey_address": "bc1qothers0000000000000000000000000000000", "value": 1000},
                {"scriptpubkey_address": address, "value": sats},
            ],
        });
        self.txs
            .lock()
            .unwrap()
            .entry(address.to_owned())
            .or_default()
            .push(tx);
    }
}
