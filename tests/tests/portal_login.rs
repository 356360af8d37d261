#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! Every way into the patient portal, in headless Chromium on the demo practice
//! (`tests/node/portal-login.mjs`): nsec; NIP-49 ncryptsec with a wrong and the right
//! password; a key the practice does not know; a NIP-07 extension (nostr-tools in Node: the
//! key never enters the page); no extension or one without NIP-44; NIP-46 remote signers (a
//! small signer over rust-nostr's NIP-46 types, here) by bunker link, refusing, and by
//! nostrconnect pairing; a passkey (CDP virtual authenticator, with and without PRF); and the
//! inactivity lock. Each login must show the same chart as the nsec, and nothing else.
//!
//! Needs `scripts/build-web`, Chromium and `npm ci --prefix tests/node` (`scripts/test`).

mod demo_common;
mod nip46_common;

use std::collections::BTreeMap;
use std::io::{BufRead as _, Write as _};
use std::path::Path;
use std::process::{Command, Stdio};

use demo_common::{Seeded, start_seeded};
use ehr_client::keys::{self, Identity};
use nip46_common::{Mode, run_signer};
use nostr::prelude::*;
use serde_json::{Value, json};
use tokio::sync::{mpsc, watch};

const CHROMIUM: &str = "/usr/bin/chromium";

/// A portal on `localhost` (WebAuthn takes no IP address as its RP id), locking after
/// `lock_after_secs`; its URL.
async fn portal(connection: &str, lock_after_secs: Option<u64>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let config = ehr_portal::Config {
        listen: listener.local_addr().unwrap(),
        connection: Some(connection.to_owned()),
        assets: None,
        lock_after_secs,
        gateway: None,
        blossom: Vec::new(),
        // The relay's NIP-11 document (the portal's page size), as the launcher allows it.
        relays: vec![
            ehr_client::connection::Connection::parse(connection)
                .unwrap()
                .relay
                .replacen("ws://", "http://", 1)
                .trim_end_matches('/')
                .to_owned(),
        ],
    };
    tokio::spawn(ehr_portal::serve(listener, config, std::future::pending()));
    format!("http://localhost:{port}")
}

fn origin(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let host = rest.split(['/', '?']).next().unwrap_or_default();
    format!("{scheme}://{host}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_login_opens_the_same_chart_and_the_session_locks() {
    let wasm = Path::new(ehr_portal::assets::DEFAULT_DIR).join("ehr_web_wasm_bg.wasm");
    assert!(wasm.is_file(), "run scripts/build-web first");
    assert!(Path::new(CHROMIUM).is_file(), "Chromium is missing");
    let home = tempfile::tempdir().unwrap();
    let Seeded {
        mut stack,
        keys,
        connection,
        ..
    } = start_seeded(home.path()).await;
    let relay = stack.urls().relay.clone();
    let maria = &keys.patients[0];
    let password = "a long passphrase for the test";
    let ncryptsec = keys::to_ncryptsec(maria.secret_key(), password, 16).unwrap();
    let user = maria.keys().clone();
    let portal_url = portal(&connection, None).await;
    let lock_url = portal(&connection, Some(5)).await;

    // Two bunkers (one refusing) with their own signer keys, which are not members.
    let (stop, stopped) = watch::channel(false);
    let bunker_key = Keys::generate();
    let refusing_key = Keys::generate();
    let link = |key: &Keys, secret: &str| {
        format!(
            "bunker://{}?relay={}&secret={secret}",
            key.public_key().to_hex(),
            relay
        )
    };
    let bunker = tokio::spawn(run_signer(
        relay.clone(),
        bunker_key.clone(),
        user.clone(),
        Mode::Bunker("bunker-secret".into()),
        stopped.clone(),
    ));
    let refusing = tokio::spawn(run_signer(
        relay.clone(),
        refusing_key.clone(),
        user.clone(),
        Mode::Refusing,
        stopped.clone(),
    ));

    let screenshot = home.path().join("login.png");
    let input = json!({
        "portal": portal_url,
        "portalLock": lock_url,
        "chromium": CHROMIUM,
        "connection": connection,
        "maria": { "nsec": maria.nsec().as_str(), "ncryptsec": ncryptsec.as_str(), "password": password },
        "strangerNsec": Identity::generate().nsec().as_str(),
        "bunker": link(&bunker_key, "bunker-secret"),
        "refusingBunker": link(&refusing_key, "whatever"),
        "screenshot": screenshot,
        // To look at the login screen: PORTAL_LOGIN_SCREENSHOT=/path/login.png
        "screenshotCopy": std::env::var("PORTAL_LOGIN_SCREENSHOT").ok(),
    });

    // Node's lines as they come: the pairing URI needs a signer while the page waits.
    let (lines_tx, mut lines) = mpsc::unbounded_channel::<Value>();
    let node = tokio::task::spawn_blocking(move || {
        let mut child = Command::new("node")
            .arg("portal-login.mjs")
            .current_dir(ehr_tests::node::node_dir("playwright-core").unwrap())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.to_string().as_bytes())
            .unwrap();
        for line in std::io::BufReader::new(child.stdout.take().unwrap()).lines() {
            let line = line.unwrap();
            let value = serde_json::from_str(&line)
                .unwrap_or_else(|_| panic!("portal-login.mjs printed {line}"));
            let _ = lines_tx.send(value);
        }
        assert!(child.wait().unwrap().success(), "portal-login.mjs failed");
    });
    let mut results = BTreeMap::new();
    let mut pairing = None;
    while let Some(line) = lines.recv().await {
        if let Some(uri) = line["nostrconnect"].as_str() {
            pairing = Some(tokio::spawn(run_signer(
                relay.clone(),
                Keys::generate(),
                user.clone(),
                Mode::Pair(uri.to_owned()),
                stopped.clone(),
            )));
            continue;
        }
        results.insert(line["name"].as_str().unwrap().to_owned(), line);
    }
    node.await.unwrap();
    stop.send(true).unwrap();
    let bunker_asked = bunker.await.unwrap();
    let refusing_asked = refusing.await.unwrap();
    let pairing_asked = pairing.expect("no pairing URI shown").await.unwrap();
    stack.stop().await;

    if std::env::var_os("PORTAL_LOGIN_DEBUG").is_some() {
        for (name, r) in &results {
            eprintln!(
                "{name}: rows {} status {} error {} session {} extra {}",
                r["rows"].as_array().map_or(0, Vec::len),
                r["status"],
                r["error"],
                r["session"],
                r["setUp"]
            );
        }
        eprintln!("bunker {bunker_asked:?} refusing {refusing_asked:?} pairing {pairing_asked:?}");
    }
    // The nsec login is the reference chart.
    let nsec = &results["nsec"];
    let reference = &nsec["before"]["rows"];
    let count = reference.as_array().unwrap().len();
    assert!(count > 10, "{nsec}");
    assert!(reference.to_string().contains("Maria Demo-Alvarez"));
    assert_eq!(nsec["passwordShownForNsec"], false);
    assert_eq!(nsec["secretLeftInForm"], "");
    assert_eq!(nsec["passkeyOffered"], true, "{nsec}");
    assert_eq!(nsec["rows"], json!([]), "logout leaves the chart: {nsec}");
    assert_eq!(nsec["chartVisible"], false);

    // ncryptsec: a wrong password opens nothing and says so; the fields are cleared.
    let ncrypt = &results["ncryptsec"];
    assert_eq!(
        ncrypt["wrong"]["error"], "The password does not open this encrypted key (ncryptsec).",
        "{ncrypt}"
    );
    assert_eq!(ncrypt["wrong"]["rows"], json!([]));
    assert_eq!(ncrypt["wrong"]["chartVisible"], false);
    assert_eq!(ncrypt["wrong"]["secretLeft"], "");
    assert_eq!(ncrypt["wrong"]["passwordLeft"], "");
    assert_eq!(&ncrypt["rows"], reference, "{ncrypt}");
    assert_eq!(ncrypt["passwordLeft"], "");

    // A key the practice does not know: a plain refusal, no chart.
    let stranger = &results["stranger"];
    assert!(
        stranger["error"]
            .as_str()
            .unwrap()
            .starts_with("This key is not registered with this practice"),
        "{stranger}"
    );
    assert_eq!(stranger["rows"], json!([]));
    assert_eq!(stranger["chartVisible"], false);

    // NIP-07: the same chart, decrypted by the extension.
    let nip07 = &results["nip07"];
    assert_eq!(&nip07["rows"], reference, "{nip07}");
    assert!(nip07["asked"]["decrypt"].as_u64().unwrap() >= count as u64);
    assert!(
        nip07["asked"]["signEvent"].as_u64().unwrap() >= 1,
        "NIP-42 by the extension"
    );
    for name in ["no-extension", "no-nip44"] {
        let r = &results[name];
        let error = r["error"].as_str().unwrap();
        assert!(
            error.contains("log in with your secret key or a remote signer"),
            "{r}"
        );
        assert_eq!(r["chartVisible"], false);
    }
    assert!(
        results["no-extension"]["error"]
            .as_str()
            .unwrap()
            .starts_with("No Nostr browser extension (NIP-07) was found")
    );
    assert!(
        results["no-nip44"]["error"]
            .as_str()
            .unwrap()
            .contains("cannot do NIP-44 encryption")
    );

    // NIP-46: bunker and pairing open the same chart through the signer; a refusal is clear.
    let bunker_result = &results["bunker"];
    assert_eq!(
        &bunker_result["before"]["rows"], reference,
        "{bunker_result}"
    );
    // The signer's channel and the session's relay connection stayed open for the session,
    // and both closed with the logout.
    assert_eq!(bunker_result["socketsOpenAtChart"], 2, "{bunker_result}");
    assert_eq!(bunker_result["socketsOpenAfterLogout"], 0);
    assert_eq!(bunker_result["rows"], json!([]));
    assert_eq!(bunker_result["bunkerLeft"], "");
    assert_eq!(bunker_asked["connect"], 1, "{bunker_asked:?}");
    assert!(
        bunker_asked["nip44_decrypt"] >= count as u32,
        "{bunker_asked:?}"
    );
    assert!(bunker_asked["sign_event"] >= 1, "NIP-42 through the signer");
    let refused = &results["bunker-refusing"];
    assert!(
        refused["error"]
            .as_str()
            .unwrap()
            .starts_with("Your signer refused the request"),
        "{refused}"
    );
    assert_eq!(refused["chartVisible"], false);
    assert_eq!(refusing_asked["connect"], 1);
    let paired = &results["nostrconnect"];
    assert_eq!(&paired["rows"], reference, "{paired}");
    assert!(
        paired["uri"]
            .as_str()
            .unwrap()
            .starts_with("nostrconnect://")
    );
    assert!(paired["uri"].as_str().unwrap().contains("secret="));
    assert_eq!(paired["pairingVisible"], false);
    assert!(
        pairing_asked["nip44_decrypt"] >= count as u32,
        "{pairing_asked:?}"
    );

    // Passkey: sealed (no nsec stored), then the chart from the passkey alone.
    let passkey = &results["passkey"];
    assert_eq!(passkey["setUp"]["error"], "", "{passkey}");
    let stored = passkey["stored"].as_str().unwrap();
    assert!(
        stored.contains("ciphertext") && !stored.contains("nsec1"),
        "{stored}"
    );
    assert!(!stored.contains(&maria.secret_key().to_secret_hex()));
    assert_eq!(passkey["passkeyButton"], true);
    assert_eq!(&passkey["rows"], reference, "{passkey}");
    let no_prf = &results["passkey-no-prf"];
    assert!(
        no_prf["setUp"]["error"]
            .as_str()
            .unwrap()
            .contains("has no PRF support"),
        "{no_prf}"
    );
    assert_eq!(no_prf["stored"], Value::Null);
    assert_eq!(no_prf["passkeyButton"], false);

    // The lock: chart and decrypted text gone from the DOM and storage; login back.
    let lock = &results["lock"];
    assert_eq!(&lock["before"]["rows"], reference);
    assert_eq!(lock["session"], "locked");
    assert_eq!(lock["rows"], json!([]));
    assert_eq!(lock["chartVisible"], false);
    let after = &lock["after"];
    for secret_text in ["Maria", "Demo-Alvarez", "Hypertension", "amoxicillin"] {
        assert!(
            !after["html"].as_str().unwrap().contains(secret_text),
            "{secret_text} left in the DOM"
        );
        assert!(
            !after["localStorage"]
                .as_str()
                .unwrap()
                .contains(secret_text)
        );
    }
    assert_eq!(after["sessionStorage"], 0);
    assert_eq!(after["loginVisible"], true);
    assert_eq!(after["focused"], "secret");
    assert!(lock["status"].as_str().unwrap().contains("locked"));

    for (name, result) in &results {
        for url in result["requests"].as_array().unwrap() {
            let url = url.as_str().unwrap();
            let expected = if name == "lock" {
                &lock_url
            } else {
                &portal_url
            };
            // The portal's own files, and the relay's NIP-11 document (its page size).
            assert!(
                &origin(url) == expected || origin(url) == relay.replacen("ws://", "http://", 1),
                "{name}: {url}"
            );
        }
        for url in result["websockets"].as_array().unwrap() {
            assert_eq!(origin(url.as_str().unwrap()), relay, "{name}");
        }
        assert_eq!(result["violations"], json!([]), "{name}: CSP violated");
        assert_eq!(result["errors"], json!([]), "{name}: console errors");
    }

    let png = std::fs::read(&screenshot).unwrap();
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"));
    assert!(png.len() > 10_000, "screenshot of {} bytes", png.len());
}
