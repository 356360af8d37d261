//! What the gateway's end-to-end tests share: a running gateway on 127.0.0.1:0 in front of a
//! test practice, and charts, consents and withdrawals written as the practice would. (Also
//! `tests/tests/fhir_third_party.rs` in `ehr-tests`, through `#[path]`.)
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::time::Duration;

use ehr_client::demo;
use ehr_client::fhir::ResourceType;
use ehr_client::keys::Identity;
use ehr_client::kinds::ClinicalKind;
use ehr_fhir_gateway::{Config, Gateway};
use ehr_tests::practice::TestPractice;
use nostr::prelude::PublicKey;
use reqwest::StatusCode;
use serde_json::Value;

pub struct Running {
    pub base: String,
    pub http: reqwest::Client,
    pub snapshots: tokio::sync::watch::Receiver<std::sync::Arc<ehr_fhir_gateway::sync::Snapshot>>,
    pub store: ehr_fhir_gateway::store::Store,
    pub links: tokio::sync::watch::Receiver<ehr_fhir_gateway::link::Link>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<Result<(), ehr_fhir_gateway::GatewayError>>,
    _data: tempfile::TempDir,
}

impl Running {
    pub async fn start(practice: &TestPractice) -> Self {
        Self::start_with(practice, &practice.relay_url, |_| {}).await
    }

    /// [`Running::start`] through `relay_url`, with the configuration changed by `configure`.
    pub async fn start_with(
        practice: &TestPractice,
        relay_url: &str,
        configure: impl FnOnce(&mut Config),
    ) -> Self {
        let data = tempfile::tempdir().unwrap();
        let mut config = Config::new(
            practice.root.public_key(),
            relay_url,
            practice.gateway.clone(),
            format!("sqlite://{}", data.path().join("gateway.db").display()),
        );
        configure(&mut config);
        let gateway = Gateway::start(config).await.unwrap();
        let snapshots = gateway.snapshots();
        let links = gateway.links();
        let store = gateway.store().clone();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}/fhir", listener.local_addr().unwrap());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(gateway.serve(listener, async move {
            let _ = stopped.await;
        }));
        Self {
            base,
            http: reqwest::Client::new(),
            snapshots,
            store,
            links,
            stop: Some(stop),
            task,
            _data: data,
        }
    }

    /// Register `client` in the store if no live client has its id: API keys are issued to
    /// registered clients only. An empty JWKS: the client uses API keys, never the token
    /// endpoint.
    pub async fn register(&self, client: &str) {
        let live = self
            .store
            .smart_client(client)
            .await
            .unwrap()
            .is_some_and(|c| c.revoked_at.is_none());
        if !live {
            self.store
                .register_client(
                    client,
                    &ehr_fhir_gateway::smart::no_keys(),
                    &["system/*.read".to_owned()],
                    "test harness",
                    now(),
                )
                .await
                .unwrap();
        }
    }

    /// An API key for `client`, registered first if need be.
    pub async fn key(&self, client: &str) -> String {
        self.register(client).await;
        let now = now();
        self.store
            .add_api_key(client, &["system/*.read".to_owned()], now, now + 3600)
            .await
            .unwrap()
    }

    /// The service root (the FHIR base without `/fhir`), where `/admin` lives.
    pub fn service_root(&self) -> String {
        self.base.trim_end_matches("/fhir").to_owned()
    }

    /// Call the admin API as a key holder would: NIP-98 signed by `signer`, once.
    pub async fn admin(
        &self,
        signer: &Identity,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> (StatusCode, Value) {
        let (status, _, body) = self.admin_answer(signer, method, path, body).await;
        (status, body)
    }

    /// [`Running::admin`], with the answer's `X-Reason` header.
    pub async fn admin_answer(
        &self,
        signer: &Identity,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> (StatusCode, Option<String>, Value) {
        let url = format!("{}{path}", self.service_root());
        let bytes = body.map(Value::to_string).unwrap_or_default();
        let auth =
            ehr_client::http_auth::authorization(signer, &url, method.as_str(), bytes.as_bytes())
                .unwrap();
        self.send_admin_answer(method, &url, &auth, bytes).await
    }

    /// Send an admin request with a ready `Authorization` value.
    pub async fn send_admin(
        &self,
        method: reqwest::Method,
        url: &str,
        auth: &str,
        body: String,
    ) -> (StatusCode, Value) {
        let (status, _, body) = self.send_admin_answer(method, url, auth, body).await;
        (status, body)
    }

    /// [`Running::send_admin`], with the answer's `X-Reason` header.
    pub async fn send_admin_answer(
        &self,
        method: reqwest::Method,
        url: &str,
        auth: &str,
        body: String,
    ) -> (StatusCode, Option<String>, Value) {
        let response = self
            .http
            .request(method, url)
            .header("authorization", auth)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        let status = response.status();
        let reason = response
            .headers()
            .get("x-reason")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        (status, reason, response.json().await.unwrap_or(Value::Null))
    }

    pub async fn get(&self, token: Option<&str>, path: &str) -> (StatusCode, Value) {
        let mut request = self.http.get(format!("{}/{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        assert_eq!(
            response.headers()["content-type"],
            "application/fhir+json",
            "{path}"
        );
        (status, response.json().await.unwrap())
    }

    /// Wait (bounded) until the served patients satisfy `done`: no sleeping, the gateway
    /// announces every new snapshot.
    pub async fn until(&mut self, done: impl Fn(&ehr_fhir_gateway::sync::Snapshot) -> bool) {
        tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                if done(&self.snapshots.borrow_and_update()) {
                    return;
                }
                self.snapshots.changed().await.unwrap();
            }
        })
        .await
        .expect("the gateway did not see the change within 10 s");
    }

    /// Wait (bounded) until the follower's link to the relay satisfies `done`.
    pub async fn until_link(&mut self, done: impl Fn(ehr_fhir_gateway::link::Link) -> bool) {
        tokio::time::timeout(Duration::from_secs(60), async {
            loop {
                if done(*self.links.borrow_and_update()) {
                    return;
                }
                self.links.changed().await.unwrap();
            }
        })
        .await
        .expect("the gateway's link did not change within 60 s");
    }

    pub async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        (&mut self.task).await.unwrap().unwrap();
    }
}

/// POST `body` to `url` over a raw connection and return the status, whether `X-Reason` was
/// set, and the JSON body. The body is written by its own task whose write errors are ignored:
/// a server may answer an oversized body before reading it all and close the socket, which
/// makes an HTTP client fail on the write instead of reporting the answer.
pub async fn post_raw(url: &str, bearer: Option<&str>, body: Vec<u8>) -> (StatusCode, bool, Value) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let rest = url.strip_prefix("http://").unwrap();
    let (host, path) = rest.split_at(rest.find('/').unwrap());
    let stream = tokio::net::TcpStream::connect(host).await.unwrap();
    let (mut reader, mut writer) = stream.into_split();
    let mut head = format!(
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    if let Some(token) = bearer {
        head.push_str(&format!("Authorization: Bearer {token}\r\n"));
    }
    head.push_str("\r\n");
    let sending = tokio::spawn(async move {
        if writer.write_all(head.as_bytes()).await.is_ok() {
            let _ = writer.write_all(&body).await;
        }
    });
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), reader.read_to_end(&mut answer))
        .await
        .expect("no answer within 30 s")
        .unwrap();
    sending.abort();
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut response = httparse::Response::new(&mut headers);
    let httparse::Status::Complete(at) = response.parse(&answer).unwrap() else {
        panic!("an incomplete HTTP answer");
    };
    let status = StatusCode::from_u16(response.code.unwrap()).unwrap();
    let has_reason = response
        .headers
        .iter()
        .any(|h| h.name.eq_ignore_ascii_case("x-reason"));
    // The gateway's error answers carry a Content-Length, so the rest is the JSON body.
    let json = serde_json::from_slice(&answer[at..]).unwrap();
    (status, has_reason, json)
}

pub fn now() -> i64 {
    i64::try_from(nostr::prelude::Timestamp::now().as_secs()).unwrap()
}

pub fn outcome(body: &Value) -> &str {
    assert_eq!(body["resourceType"], "OperationOutcome", "{body}");
    body["issue"][0]["code"].as_str().unwrap()
}

pub fn entries(bundle: &Value) -> Vec<&Value> {
    assert_eq!(bundle["resourceType"], "Bundle", "{bundle}");
    assert_eq!(bundle["type"], "searchset");
    bundle["entry"]
        .as_array()
        .map(|e| e.iter().collect())
        .unwrap_or_default()
}

pub fn types(bundle: &Value) -> Vec<String> {
    entries(bundle)
        .iter()
        .map(|e| e["resource"]["resourceType"].as_str().unwrap().to_owned())
        .collect()
}

/// A patient with a chart of every kind, enrolled and written by the doctor.
pub async fn patient_with_chart(practice: &TestPractice) -> (Identity, String) {
    let patient = Identity::generate();
    practice.enrol(&patient.public_key()).await.unwrap();
    let chart_id = demo::new_id();
    for (kind, resource) in demo::one_of_each_kind(&chart_id) {
        if kind != ClinicalKind::Consent {
            practice
                .write(&patient.public_key(), kind, resource)
                .await
                .unwrap();
        }
    }
    (patient, chart_id)
}

pub async fn consent(
    practice: &TestPractice,
    patient: &PublicKey,
    chart_id: &str,
    facilities: &[&str],
) {
    practice
        .write(
            patient,
            ClinicalKind::Consent,
            demo::fhir_sharing_consent(chart_id, facilities),
        )
        .await
        .unwrap();
    practice.maintain_keys().await.unwrap();
}

/// The patient withdraws: the next version of the consent, inactive, then the chart key
/// rotates away from the gateway.
pub async fn withdraw(practice: &TestPractice, patient: &PublicKey) {
    let (view, events) = practice.doctor_view().await.unwrap();
    let (chart, _) = view.chart(patient, events.iter(), Default::default());
    let withdrawal = chart
        .of_type(ResourceType::Consent)
        .find_map(|e| e.resource.as_consent().map(|c| c.withdrawal()))
        .unwrap();
    practice
        .write(patient, ClinicalKind::Consent, withdrawal)
        .await
        .unwrap();
    practice.maintain_keys().await.unwrap();
}

/// Follow `filter` on the relay as `who` until `count` events arrive; bounded, so an event the
/// gateway never publishes fails the test instead of hanging it.
pub async fn follow_until(
    practice: &TestPractice,
    who: &Identity,
    filter: nostr::prelude::Filter,
    count: usize,
) -> Vec<nostr::prelude::Event> {
    use ehr_client::net::{Followed, RelayClient};
    let relay = RelayClient::connect(&practice.relay_url, who, Duration::from_secs(10))
        .await
        .unwrap();
    let mut following = relay.follow(vec![filter]).unwrap();
    let mut events = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), async {
        while events.len() < count {
            if let Followed::Event(event) = following.next().await.unwrap() {
                events.push(event.into_event());
            }
        }
    })
    .await
    .expect("the gateway published what it queued");
    events
}
