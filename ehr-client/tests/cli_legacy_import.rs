#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! `ehr import nostrehr` from the command line, as README's "Coming from Nostr EHR" runs it:
//! a new practice whose first admin is the old practice key, a dry run that changes nothing, the
//! import, and a second run that publishes nothing. The legacy practice is the dataset of
//! `shared/vectors/nostrehr-legacy/` (read in place) on a relay and Blossom server of its own.

use std::path::{Path, PathBuf};
use std::process::Command;

use ehr_client::blossom::BlossomClient;
use ehr_client::keys::Identity;
use serde_json::Value;

const PASSWORD_ENV: &str = "EHR_TEST_PASSPHRASE";

fn dataset() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/vectors/nostrehr-legacy"
    ))
}

fn old_practice() -> Identity {
    let keys: Value =
        serde_json::from_str(&std::fs::read_to_string(dataset().join("keys.json")).unwrap())
            .unwrap();
    Identity::parse(keys["keys"]["practice"]["nsec"].as_str().unwrap(), None).unwrap()
}

fn ehr(dir: &Path, key: Option<&str>, args: &[&str]) -> Value {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ehr"));
    command
        .arg("--home")
        .arg(dir.join("clinic"))
        .env(PASSWORD_ENV, "correct horse battery staple")
        .env_remove("EHR_KEY_FILE")
        .env_remove("EHR_HOME")
        .env_remove("EHR_BLOSSOM_URL")
        .args(["--password-env", PASSWORD_ENV]);
    if let Some(key) = key {
        command.arg("--key").arg(dir.join(key));
    }
    let out = command.args(args).output().unwrap();
    assert!(
        out.status.success(),
        "ehr {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[path = "common/blossom.rs"]
mod blossom_server;

type Task<E> = (
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<Result<(), E>>,
);

async fn relay(
    listener: tokio::net::TcpListener,
    config: ehr_relay::RelayConfig,
) -> Task<ehr_relay::RelayError> {
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(ehr_relay::serve(listener, config, async move {
        let _ = stopped.await;
    }));
    (stop, task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_practice_imports_from_the_cli_and_a_second_run_publishes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let old = old_practice();

    // The old practice: its events restored into a relay whose root is the old key, its blobs
    // on a Blossom server of that relay.
    let old_dir = dir.path().join("old");
    std::fs::create_dir_all(&old_dir).unwrap();
    let old_db = format!("sqlite://{}", old_dir.join("relay.db").display());
    let old_config = ehr_relay::RelayConfig::new(old.public_key(), old_db.clone());
    let events = std::fs::File::open(dataset().join("events.jsonl")).unwrap();
    ehr_relay::tools::import(&old_config, std::io::BufReader::new(events))
        .await
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let old_relay_url = format!("ws://{}", listener.local_addr().unwrap());
    let old_relay = relay(listener, old_config).await;
    let (old_blossom_url, old_blossom) =
        blossom_server::serve(old.public_key(), old_db, &old_dir).await;
    for file in std::fs::read_dir(dataset().join("blobs")).unwrap() {
        let path = file.unwrap().path();
        let sha = path.file_name().unwrap().to_str().unwrap().to_owned();
        BlossomClient::new(&old_blossom_url)
            .unwrap()
            .upload(&old, &path, &sha)
            .await
            .unwrap();
    }

    // The new practice, its first admin the old practice key.
    std::fs::write(dir.path().join("old.nsec"), old.nsec().as_str()).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let new_relay_url = format!("ws://{}", listener.local_addr().unwrap());
    let root_file = dir.path().join("root.ncryptsec");
    let init = ehr(
        dir.path(),
        None,
        &[
            "--offline",
            "practice",
            "init",
            "--relay",
            &new_relay_url,
            "--root-key-out",
            root_file.to_str().unwrap(),
            "--admin",
            &old.npub(),
            "--log-n",
            "8",
        ],
    );
    let root = ehr_client::keys::parse_public_key(init["practice_npub"].as_str().unwrap()).unwrap();
    let new_dir = dir.path().join("new");
    std::fs::create_dir_all(&new_dir).unwrap();
    let new_db = format!("sqlite://{}", new_dir.join("relay.db").display());
    let new_relay = relay(listener, ehr_relay::RelayConfig::new(root, new_db.clone())).await;
    let sent = ehr(dir.path(), Some("root.ncryptsec"), &["publish"]);
    assert_eq!(sent["refused"], serde_json::json!([]), "{sent}");
    let (new_blossom_url, new_blossom) = blossom_server::serve(root, new_db, &new_dir).await;

    let import = |dry_run: bool| {
        let mut args = vec![
            "import",
            "nostrehr",
            "--relay",
            &old_relay_url,
            "--blossom",
            &new_blossom_url,
            "--legacy-blossom",
            &old_blossom_url,
        ];
        if dry_run {
            args.push("--dry-run");
        }
        ehr(dir.path(), Some("old.nsec"), &args)
    };

    let dry = import(true);
    assert_eq!(dry["dry_run"], true);
    assert_eq!(dry["legacy_events"], 117);
    assert_eq!(dry["unreadable"], serde_json::json!([]));
    assert_eq!(dry["skipped"].as_array().unwrap().len(), 8);
    assert_eq!(dry["patients_enrolled"], 3);
    assert_eq!(dry["complete"], false);

    let done = import(false);
    assert_eq!(done["complete"], true, "{done}");
    assert_eq!(done["documents_moved"], 3);
    assert!(!done["published"].as_object().unwrap().is_empty());

    let again = import(false);
    assert_eq!(again["complete"], true);
    assert_eq!(again["published"], serde_json::json!({}), "{again}");

    // The imported chart reads like any other.
    let noah = "npub12axu75s4n7tnez89f5unmljfvw5v6w68p4gkng3r76dc0an6hzqs5wjcpc";
    let bundle = ehr(
        dir.path(),
        Some("old.nsec"),
        &["chart", "show", "--patient", noah, "--format", "bundle"],
    );
    let types: Vec<&str> = bundle["entry"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["resource"]["resourceType"].as_str())
        .collect();
    assert!(types.contains(&"Encounter") && types.contains(&"DiagnosticReport"));

    for (stop, task) in [old_relay, new_relay] {
        let _ = stop.send(());
        task.await.unwrap().unwrap();
    }
    for (stop, task) in [old_blossom, new_blossom] {
        let _ = stop.send(());
        task.await.unwrap().unwrap();
    }
}
