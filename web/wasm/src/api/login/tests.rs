#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use ehr_client::keys::{self, Identity};
use ehr_client::nostr::nips::nip46::{NostrConnectMessage, NostrConnectResponse, ResponseResult};
use ehr_client::nostr::prelude::{EventBuilder, FinalizeEvent, Kind, Tag, Timestamp};
use serde_json::Value;

use super::*;

#[test]
fn an_ncryptsec_opens_with_its_password_only() {
    let patient = Identity::generate();
    let ncryptsec = keys::to_ncryptsec(patient.secret_key(), "correct horse", 8).unwrap();
    let opened = unlock(&ncryptsec, Some("correct horse")).unwrap();
    assert_eq!(opened.public_key(), patient.public_key());
    assert_eq!(
        unlock(&ncryptsec, Some("wrong")).unwrap_err(),
        LoginError::WrongPassword
    );
    assert_eq!(
        unlock(&ncryptsec, None).unwrap_err(),
        LoginError::PasswordRequired
    );
    assert_eq!(
        unlock(&ncryptsec, Some("")).unwrap_err(),
        LoginError::PasswordRequired
    );
    let nsec = patient.nsec();
    assert_eq!(
        unlock(&nsec, None).unwrap().public_key(),
        patient.public_key()
    );
    let error = unlock("nsec1definitelynotakey", Some("x")).unwrap_err();
    assert!(!error.to_string().contains("definitely"));
    assert_eq!(export_nsec(&opened).as_str(), nsec.as_str());
}

/// What a remote signer holding `user` sends back: a response to `to`.
fn answer(signer: &Identity, to: &str, id: &str, result: ResponseResult) -> String {
    let to = keys::parse_public_key(to).unwrap();
    let message = NostrConnectMessage::response(id, NostrConnectResponse::with_result(result));
    let content = crypto::nip44_encrypt(
        signer.secret_key(),
        &to,
        &serde_json::to_string(&message).unwrap(),
    )
    .unwrap();
    let event = EventBuilder::new(Kind::NostrConnect, content)
        .tag(Tag::public_key(to))
        .finalize(signer.keys())
        .unwrap();
    serde_json::to_string(&event).unwrap()
}

#[test]
fn a_bunker_session_sends_encrypted_requests_and_takes_only_the_signers_answers() {
    let signer = Identity::generate();
    let mut session = Nip46Session::new();
    let uri = format!(
        "bunker://{}?relay=ws%3A%2F%2F127.0.0.1%3A7447&secret=s3cret",
        signer.public_key().to_hex()
    );
    let info: Value = serde_json::from_str(&session.bunker(&uri).unwrap()).unwrap();
    assert_eq!(info["signer"], signer.public_key().to_hex());
    assert_eq!(info["connect"][1], "s3cret");
    assert_eq!(info["relays"][0], "ws://127.0.0.1:7447");

    let now = Timestamp::now().as_secs() as f64;
    let request: Value =
        serde_json::from_str(&session.request("get_public_key", "[]", now).unwrap()).unwrap();
    let event: Event = serde_json::from_value(request["event"].clone()).unwrap();
    assert_eq!(event.kind, Kind::NostrConnect);
    assert_ne!(event.pubkey, signer.public_key(), "an ephemeral client key");
    // Only the signer reads it.
    let plain = crypto::nip44_decrypt(signer.secret_key(), &event.pubkey, &event.content).unwrap();
    assert!(plain.contains("get_public_key"));
    let id = request["id"].as_str().unwrap();

    let client = session.client().public_key().to_hex();
    let user = Identity::generate();
    let reply = answer(
        &signer,
        &client,
        id,
        ResponseResult::GetPublicKey(user.public_key()),
    );
    let opened: Value = serde_json::from_str(&session.open(&reply).unwrap()).unwrap();
    assert_eq!(opened["id"], id);
    let checked = session
        .check("get_public_key", opened["result"].as_str().unwrap(), None)
        .unwrap();
    assert_eq!(checked, user.public_key().to_hex());

    // A stranger answering, a forged signature, a request: refused.
    let stranger = Identity::generate();
    let forged = answer(&stranger, &client, id, ResponseResult::Pong);
    assert_eq!(session.open(&forged).unwrap_err(), LoginError::WrongSigner);
    let mut tampered: Value = serde_json::from_str(&reply).unwrap();
    tampered["content"] = Value::from("AAAA");
    assert_eq!(
        session.open(&tampered.to_string()).unwrap_err(),
        LoginError::NotForUs
    );

    // A signed event from someone other than the user is not accepted as the user's.
    let other = EventBuilder::new(Kind::TextNote, "x")
        .finalize(stranger.keys())
        .unwrap();
    let result = serde_json::to_string(&other).unwrap();
    let user_hex = user.public_key().to_hex();
    assert!(
        session
            .check("sign_event", &result, Some(&user_hex))
            .is_err()
    );
    assert!(
        session
            .check("sign_event", &result, Some(&stranger.public_key().to_hex()))
            .is_ok()
    );
    assert!(session.check("sign_event", "not json", None).is_err());
    assert!(session.request("no_such_method", "[]", now).is_err());
    assert_eq!(
        Nip46Session::new().request("ping", "[]", now).unwrap_err(),
        LoginError::NotPaired
    );
}

#[test]
fn a_nostrconnect_pairing_takes_the_key_that_echoes_the_secret() {
    let mut session = Nip46Session::new();
    let uri = session
        .nostrconnect_uri("ws://127.0.0.1:7447", "Patient portal")
        .unwrap();
    assert!(uri.starts_with("nostrconnect://"));
    let parsed = NostrConnectUri::parse(&uri).unwrap();
    let secret = parsed.secret().unwrap().to_owned();
    let client = session.client().public_key().to_hex();
    assert_eq!(session.signer(), None);

    // Someone who saw only the client key cannot pair: the secret is missing.
    let phisher = Identity::generate();
    let wrong = answer(
        &phisher,
        &client,
        "1",
        ResponseResult::ConnectSecret("guess".into()),
    );
    assert_eq!(session.open(&wrong).unwrap_err(), LoginError::WrongSigner);
    assert_eq!(session.signer(), None);

    let signer = Identity::generate();
    let echo = answer(
        &signer,
        &client,
        "1",
        ResponseResult::ConnectSecret(secret.clone()),
    );
    let paired: Value = serde_json::from_str(&session.open(&echo).unwrap()).unwrap();
    assert_eq!(paired["paired"], true);
    assert_eq!(session.signer(), Some(signer.public_key().to_hex()));
    // Once paired, the phisher's echo of the same secret is another key's message.
    let late = answer(
        &phisher,
        &client,
        "1",
        ResponseResult::ConnectSecret(secret),
    );
    assert_eq!(session.open(&late).unwrap_err(), LoginError::WrongSigner);
    assert!(session.bunker("nostrconnect://abc").is_err());
    assert!(session.bunker("https://example.com").is_err());
}
