#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! The clinic app through a NIP-46 remote signer (the portal tests' signer, holding the doctor's
//! key), in headless Chromium: she logs in with the bunker link, answers Maria's message and
//! logs out. The signer is asked to decrypt her two epoch grants only, and signs the relay login
//! and the reply; the key never enters the page.

mod clinic_common;
mod demo_common;
mod nip46_common;

use clinic_common::{CHROMIUM, assert_browser_ready, assert_same_origin, run_node};
use demo_common::{Seeded, start_seeded};
use nip46_common::{Mode, run_signer};
use nostr::prelude::Keys;
use serde_json::{Value, json};
use tokio::sync::watch;

const REPLY: &str = "Answered through a remote signer. (synthetic)";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_doctor_logs_in_and_answers_through_a_remote_signer_that_decrypts_only_her_grants() {
    assert_browser_ready();
    let home = tempfile::tempdir().unwrap();
    let Seeded {
        mut stack, keys, ..
    } = start_seeded(home.path()).await;
    let clinic = stack.urls().clinic.clone().unwrap();
    let relay = stack.urls().relay.clone();
    let (stop, stopped) = watch::channel(false);
    let signer_key = Keys::generate();
    let signer = tokio::spawn(run_signer(
        relay.clone(),
        signer_key.clone(),
        keys.doctor.keys().clone(),
        Mode::Bunker("clinic-secret".into()),
        stopped,
    ));
    let input = json!({
        "clinic": clinic,
        "chromium": CHROMIUM,
        "bunker": format!(
            "bunker://{}?relay={relay}&secret=clinic-secret",
            signer_key.public_key().to_hex()
        ),
        "search": "maria demo-alvarez",
        "reply": REPLY,
    });
    let result = run_node("clinic-nip46.mjs", input).await;
    stop.send(true).unwrap();
    let asked = signer.await.unwrap();
    stack.stop().await;
    assert_eq!(result["failure"], Value::Null, "{result}");
    assert_eq!(result["error"], "", "{result}");
    assert!(
        result["member"].as_str().unwrap().contains("doctor"),
        "{result}"
    );
    assert_eq!(result["replyError"], "", "{result}");
    assert_eq!(result["replied"], true, "{result}");
    assert_same_origin(&result, &clinic, &relay, None);
    // Her two grants (clinical and office epoch) and nothing else were decrypted by the signer.
    assert_eq!(asked.get("nip44_decrypt"), Some(&2), "{asked:?}");
    // The relay's NIP-42 login and the reply.
    assert_eq!(asked.get("sign_event"), Some(&2), "{asked:?}");
    // The reply's patient copy, and this device's cache key sealed to herself (a first login
    // on this device; later logins decrypt it instead).
    assert_eq!(asked.get("nip44_encrypt"), Some(&2), "{asked:?}");
}
