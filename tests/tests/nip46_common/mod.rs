//! A NIP-46 remote signer for the browser tests (portal and clinic logins): a small signer over
//! rust-nostr's NIP-46 types, on the practice relay, holding a user's key under its own key.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::BTreeMap;

use ehr_client::crypto;
use futures_util::{SinkExt as _, StreamExt as _};
use nostr::nips::nip46::{
    NostrConnectMessage, NostrConnectRequest, NostrConnectResponse, NostrConnectUri, ResponseResult,
};
use nostr::prelude::*;
use serde_json::{Value, json};
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Message;

/// How a test signer behaves.
#[derive(Clone)]
pub enum Mode {
    /// Serves a `bunker://` link with this secret.
    Bunker(String),
    /// Answers every request with an error (the person said no).
    Refusing,
    /// Answers a `nostrconnect://` URI the portal showed.
    Pair(String),
}

/// A relay message as JSON (`Null` for a non-text frame), `None` once the socket is gone.
fn text(message: Option<Result<Message, tokio_tungstenite::tungstenite::Error>>) -> Option<Value> {
    match message {
        Some(Ok(Message::Text(text))) => Some(serde_json::from_str(&text).unwrap()),
        Some(Ok(_)) => Some(Value::Null),
        _ => None,
    }
}

/// A NIP-46 remote signer holding `user`'s key under its own `signer` key, on `relay`:
/// what it was asked, by method, when `stop` fires.
pub async fn run_signer(
    relay: String,
    signer: Keys,
    user: Keys,
    mode: Mode,
    mut stop: watch::Receiver<bool>,
) -> BTreeMap<String, u32> {
    let (mut ws, _) = tokio_tungstenite::connect_async(relay.as_str())
        .await
        .unwrap();
    let mut asked = BTreeMap::new();
    let send = |value: Value| Message::Text(value.to_string().into());
    // NIP-42 as the signer key (not a member of the practice).
    let challenge = text(ws.next().await).unwrap();
    assert_eq!(challenge[0], "AUTH");
    let auth = EventBuilder::new(Kind::Authentication, "")
        .tags([
            Tag::custom("relay", [relay.as_str()]),
            Tag::custom("challenge", [challenge[1].as_str().unwrap()]),
        ])
        .finalize(&signer)
        .unwrap();
    ws.send(send(json!(["AUTH", auth]))).await.unwrap();
    let filter = json!({"kinds": [24133], "#p": [signer.public_key().to_hex()]});
    ws.send(send(json!(["REQ", "signer", filter])))
        .await
        .unwrap();
    let seal = |to: &PublicKey, message: &NostrConnectMessage| {
        let content = crypto::nip44_encrypt(
            signer.secret_key(),
            to,
            &serde_json::to_string(message).unwrap(),
        )
        .unwrap();
        let event = EventBuilder::new(Kind::NostrConnect, content)
            .tag(Tag::public_key(*to))
            .finalize(&signer)
            .unwrap();
        json!(["EVENT", event])
    };
    if let Mode::Pair(uri) = &mode {
        let NostrConnectUri::Client {
            public_key, secret, ..
        } = NostrConnectUri::parse(uri).unwrap()
        else {
            panic!("not a nostrconnect URI: {uri}");
        };
        let echo = NostrConnectMessage::response(
            "pair",
            NostrConnectResponse::with_result(ResponseResult::ConnectSecret(secret)),
        );
        ws.send(send(seal(&public_key, &echo))).await.unwrap();
    }
    loop {
        let message = tokio::select! {
            _ = stop.changed() => break,
            message = ws.next() => match text(message) { Some(m) => m, None => break },
        };
        if message[0] == "OK" && message[2] == false {
            panic!("the relay refused the signer: {message}");
        }
        if message[0] != "EVENT" {
            continue;
        }
        let event: Event = serde_json::from_value(message[2].clone()).unwrap();
        let plain =
            crypto::nip44_decrypt(signer.secret_key(), &event.pubkey, &event.content).unwrap();
        let message: NostrConnectMessage = serde_json::from_str(&plain).unwrap();
        let id = message.id().to_owned();
        let request = message.to_request().unwrap();
        *asked.entry(request.method().to_string()).or_insert(0) += 1;
        let response = match (&mode, request) {
            (Mode::Refusing, _) => NostrConnectResponse::with_error("the user refused"),
            (Mode::Bunker(expected), NostrConnectRequest::Connect { secret, .. }) => {
                if secret.as_deref() == Some(expected.as_str()) {
                    NostrConnectResponse::with_result(ResponseResult::Ack)
                } else {
                    NostrConnectResponse::with_error("wrong secret")
                }
            }
            (_, NostrConnectRequest::Connect { .. }) => {
                NostrConnectResponse::with_result(ResponseResult::Ack)
            }
            (_, NostrConnectRequest::GetPublicKey) => {
                NostrConnectResponse::with_result(ResponseResult::GetPublicKey(user.public_key()))
            }
            (_, NostrConnectRequest::SignEvent(unsigned)) => {
                assert_eq!(unsigned.pubkey, user.public_key());
                let signed = unsigned.finalize(&user).unwrap();
                NostrConnectResponse::with_result(ResponseResult::SignEvent(Box::new(signed)))
            }
            (
                _,
                NostrConnectRequest::Nip44Decrypt {
                    public_key,
                    ciphertext,
                },
            ) => {
                let plaintext =
                    crypto::nip44_decrypt(user.secret_key(), &public_key, &ciphertext).unwrap();
                NostrConnectResponse::with_result(ResponseResult::Nip44Decrypt { plaintext })
            }
            (_, NostrConnectRequest::Nip44Encrypt { public_key, text }) => {
                let ciphertext =
                    crypto::nip44_encrypt(user.secret_key(), &public_key, &text).unwrap();
                NostrConnectResponse::with_result(ResponseResult::Nip44Encrypt { ciphertext })
            }
            (_, NostrConnectRequest::Ping) => {
                NostrConnectResponse::with_result(ResponseResult::Pong)
            }
            (_, other) => panic!("unexpected request {:?}", other.method()),
        };
        let answer = NostrConnectMessage::response(id, response);
        ws.send(send(seal(&event.pubkey, &answer))).await.unwrap();
    }
    asked
}
