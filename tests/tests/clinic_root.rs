#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! Root operations in the clinic app (headless Chromium, the demo practice): only the root key
//! adds or removes an administrator. The admin opens the root's `ncryptsec` file in the page;
//! a wrong password and another key's file change nothing; the right one adds an
//! administrator, then removes her. The page stores no key.

mod clinic_common;
mod demo_common;

use clinic_common::{
    CHROMIUM, assert_browser_ready, assert_own_origins, roster_row as row, run_node, screenshot_dir,
};
use demo_common::{Seeded, start_seeded};
use ehr_client::keys::{self, Identity};
use serde_json::{Value, json};

const NEW_ADMIN: &str = "Admin Two (synthetic)";
const PASSWORD: &str = "correct horse battery staple";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_root_key_file_opened_in_the_app_adds_and_removes_an_administrator() {
    assert_browser_ready();
    let home = tempfile::tempdir().unwrap();
    let Seeded {
        mut stack, keys, ..
    } = start_seeded(home.path()).await;
    let clinic = stack.urls().clinic.clone().unwrap();
    let relay = stack.urls().relay.clone();
    let fhir = stack.urls().fhir.clone().unwrap();
    // The root's file as `ehr init` writes one (a lower work factor, for the test's speed), and
    // a file of another key with the same password.
    let write = |name: &str, identity: &Identity| {
        let path = home.path().join(name);
        let ncryptsec = keys::to_ncryptsec(identity.secret_key(), PASSWORD, 14).unwrap();
        std::fs::write(&path, format!("{}\n", ncryptsec.as_str())).unwrap();
        path
    };
    let root_file = write("root.ncryptsec", &keys.root);
    let other_file = write("other.ncryptsec", &keys.doctor);
    let newcomer = Identity::generate();
    let input = json!({
        "clinic": clinic,
        "chromium": CHROMIUM,
        "nsec": keys.admin.nsec().as_str(),
        "rootFile": root_file,
        "otherFile": other_file,
        "password": PASSWORD,
        "add": { "npub": newcomer.npub(), "name": NEW_ADMIN },
        "screenshot": screenshot_dir().join("administration-root-1280px.png"),
    });
    let result = run_node("clinic-root.mjs", input).await;
    assert_eq!(result["failure"], Value::Null, "{result}");
    assert_own_origins(&result, &clinic, &relay, &[&fhir]);
    assert!(
        result["explained"].as_str().unwrap().contains("offline"),
        "{result}"
    );
    // Refused, and nothing changed.
    assert!(
        result["wrongPassword"].to_string().contains("password"),
        "{result}"
    );
    assert_eq!(result["rosterAfterWrong"], result["before"]);
    assert!(
        result["otherKey"]
            .to_string()
            .contains("not this practice's root key"),
        "{result}"
    );
    assert!(row(&result["before"], NEW_ADMIN).is_none());
    // Added, then removed.
    assert!(
        result["added"].to_string().contains("was added"),
        "{result}"
    );
    let added = row(&result["afterAdd"], NEW_ADMIN).unwrap();
    assert_eq!((added[1].as_str(), added[3].as_str()), ("admin", "active"));
    assert!(
        result["removed"]
            .to_string()
            .contains("no longer an administrator"),
        "{result}"
    );
    let removed = row(&result["afterRemove"], NEW_ADMIN).unwrap();
    assert_eq!(removed[3], "ended", "{result}");
    // No key was kept in the page's storage.
    let stored = result["stored"].as_str().unwrap();
    assert!(
        !stored.contains("ncryptsec") && !stored.contains("nsec1"),
        "{stored}"
    );
    stack.stop().await;
}
