#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! Importing a Nostr EHR practice (DESIGN.md §10) from its dataset
//! (`../shared/vectors/nostrehr-legacy/`, read in place): the legacy events on a relay of
//! their own, the legacy blobs on a Blossom server of their own, and a new practice (relay and
//! Blossom) whose admin is the legacy practice key. The folded charts must equal
//! `expected.json`, each patient must open her records with her legacy key through standard
//! NIP-44, and a second run must publish nothing.

#[path = "../../ehr-client/tests/common/blossom.rs"]
mod blossom_server;
mod legacy_import_view;

use std::collections::{BTreeMap, BTreeSet};
use std::io::BufReader;
use std::time::Duration;

use ehr_client::access::open_as_patient;
use ehr_client::blossom::{self, BlossomClient};
use ehr_client::chart::{self, FoldOptions};
use ehr_client::document;
use ehr_client::fhir::Resource;
use ehr_client::keys::Identity;
use ehr_client::legacy::import::{self, ImportConfig, ImportError, ImportReport};
use ehr_client::legacy::plan::{self, Fate, OutputKey};
use ehr_client::legacy::{LegacyKeyring, source};
use ehr_client::net::RelayClient;
use ehr_client::nostr::prelude::{
    Event, EventBuilder, Filter, FinalizeEvent, Kind, PublicKey, Tag, Timestamp,
};
use ehr_client::roster::{Role, verify_roster_chain};
use ehr_tests::practice::TestPractice;
use legacy_import_view as view;
use serde_json::Value;

const TIMEOUT: Duration = Duration::from_secs(30);

fn identity(name: &str) -> Identity {
    Identity::parse(view::keys()[name]["nsec"].as_str().unwrap(), None).unwrap()
}

fn legacy_events() -> Vec<Event> {
    view::dataset_file("events.jsonl")
        .lines()
        .map(|line| Event::from_json(line).unwrap())
        .collect()
}

/// A server task and the sender that stops it.
type Served<E> = (
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<Result<(), E>>,
);

/// The old practice: its relay (an `ehr-relay` whose root is the legacy practice key, so that
/// key reads everything, loaded with `events.jsonl` the way an operator restores an export:
/// `ehr-relay import`, because its write rules would refuse the reference's rosters and staff
/// events over the wire) and its Blossom server holding `blobs/`.
struct OldPractice {
    relay_url: String,
    blossom_url: String,
    relay: Served<ehr_relay::RelayError>,
    blossom: blossom_server::Served,
    _dir: tempfile::TempDir,
}

impl OldPractice {
    async fn start() -> Self {
        let practice = identity("practice");
        let dir = tempfile::tempdir().unwrap();
        let database = format!("sqlite://{}", dir.path().join("legacy.db").display());
        let config = ehr_relay::RelayConfig::new(practice.public_key(), database.clone());
        let file = std::fs::File::open(view::dataset_dir().join("events.jsonl")).unwrap();
        let loaded = ehr_relay::tools::import(&config, BufReader::new(file))
            .await
            .unwrap();
        assert_eq!(loaded.stored, 117);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let relay_url = format!("ws://{}", listener.local_addr().unwrap());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(ehr_relay::serve(listener, config, async move {
            let _ = stopped.await;
        }));
        let blobs = dir.path().join("blossom");
        std::fs::create_dir_all(&blobs).unwrap();
        let (blossom_url, blossom) =
            blossom_server::serve(practice.public_key(), database, &blobs).await;
        let client = BlossomClient::new(&blossom_url).unwrap();
        for file in std::fs::read_dir(view::dataset_dir().join("blobs")).unwrap() {
            let path = file.unwrap().path();
            let sha = path.file_name().unwrap().to_str().unwrap().to_owned();
            let stored = client.upload(&practice, &path, &sha).await.unwrap();
            assert_eq!(stored.sha256, sha);
        }
        Self {
            relay_url,
            blossom_url,
            relay: (stop, task),
            blossom,
            _dir: dir,
        }
    }

    async fn stop(self) {
        let _ = self.relay.0.send(());
        let _ = self.blossom.0.send(());
        self.relay.1.await.unwrap().unwrap();
        self.blossom.1.await.unwrap().unwrap();
    }
}

/// The new practice: its relay (with the legacy practice key as an admin) and Blossom server.
struct NewPractice {
    practice: TestPractice,
    blossom_url: String,
    blossom: blossom_server::Served,
    _dir: tempfile::TempDir,
}

impl NewPractice {
    async fn start() -> Self {
        let practice = TestPractice::start().await.unwrap();
        practice
            .add_member(&identity("practice").public_key(), Role::Admin)
            .await
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let (blossom_url, blossom) = blossom_server::serve(
            practice.root.public_key(),
            practice.database_url(),
            dir.path(),
        )
        .await;
        Self {
            practice,
            blossom_url,
            blossom,
            _dir: dir,
        }
    }

    fn config(&self, old: &OldPractice, dry_run: bool, blossom: bool) -> ImportConfig {
        ImportConfig {
            legacy_relay: old.relay_url.clone(),
            practice_relay: self.practice.relay_url.clone(),
            root: self.practice.root.public_key(),
            blossom: blossom.then(|| self.blossom_url.clone()),
            legacy_blossom: Some(old.blossom_url.clone()),
            dry_run,
            timeout: TIMEOUT,
        }
    }

    async fn import(
        &self,
        old: &OldPractice,
        dry_run: bool,
        blossom: bool,
    ) -> Result<ImportReport, ImportError> {
        let key = identity("practice");
        import::run(&self.config(old, dry_run, blossom), &key, None, &key).await
    }

    async fn stop(self) {
        let _ = self.blossom.0.send(());
        self.blossom.1.await.unwrap().unwrap();
        self.practice.stop().await.unwrap();
    }
}

fn expected_patients() -> BTreeMap<PublicKey, Value> {
    view::expected()["patients"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (PublicKey::from_hex(k).unwrap(), v.clone()))
        .collect()
}

fn legacy_blob_size(sha: &str) -> Option<u64> {
    std::fs::metadata(view::dataset_dir().join("blobs").join(sha))
        .ok()
        .map(|m| m.len())
}

/// Compare a patient's view with `expected.json`, field by field.
fn assert_matches_expected(patient: &PublicKey, actual: &Value, expected: &Value, who: &str) {
    let times = view::legacy_times();
    let actual = view::normalise(actual, &times);
    let expected = view::normalise(expected, &times);
    for (field, want) in expected.as_object().unwrap() {
        assert_eq!(
            actual.get(field).unwrap_or(&Value::Null),
            want,
            "{who}: patient {} field `{field}`",
            &patient.to_hex()[..8]
        );
    }
}

/// Every record version (with its provenance) the relay holds, as the doctor opens them.
async fn practice_records(
    practice: &TestPractice,
) -> (Vec<ehr_client::event::ClinicalRecord>, Vec<Event>) {
    let (view, events) = practice.doctor_view().await.unwrap();
    let opened = view.open(events.iter(), None);
    assert!(opened.refused.is_empty(), "{:?}", opened.refused);
    (opened.records, events)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nostr_ehr_practice_comes_over_whole_and_a_second_run_publishes_nothing() {
    let old = OldPractice::start().await;
    let new = NewPractice::start().await;
    let expected = view::expected();

    // The dry run says what it would do, and does nothing.
    let before = new.practice.events().await.unwrap().len();
    let dry = new.import(&old, true, true).await.unwrap();
    assert!(dry.dry_run);
    assert_eq!(new.practice.events().await.unwrap().len(), before);
    assert_eq!(dry.legacy_events, 117);
    assert!(dry.unreadable.is_empty(), "{:?}", dry.unreadable);
    assert_eq!(dry.members_added.len(), 2);
    assert_eq!(dry.patients_enrolled, 3);
    assert_eq!(dry.guardianships_recorded, 1);
    assert_eq!(dry.documents_moved, 3);
    // Key grants are skipped, with the reason.
    assert_eq!(dry.skipped.len(), 8, "{:?}", dry.skipped);
    assert!(
        dry.skipped.iter().all(|s| [2100, 2101].contains(&s.kind)
            && s.reason.contains("epoch grants and chart-key wraps"))
    );
    // Records per kind: one per legacy record, plus encounter notes (2121) and lab analytes
    // (2113).
    assert_eq!(dry.published.get(&2110), Some(&4));
    assert_eq!(dry.published.get(&2117), Some(&9));
    assert_eq!(dry.published.get(&2119), Some(&3));
    assert_eq!(dry.published.get(&2113), Some(&(30 + 14 + 4 + 1)));
    assert!(!dry.complete);

    // The import.
    let report = new.import(&old, false, true).await.unwrap();
    assert!(report.complete, "{report:#?}");
    assert!(report.unreadable.is_empty() && report.pending.is_empty());
    assert_eq!(report.documents_moved, 3);
    for (kind, count) in expected["event_counts"].as_object().unwrap() {
        let tally = report.legacy_kinds[&kind.parse::<u16>().unwrap()];
        assert_eq!(tally.total as u64, count.as_u64().unwrap(), "kind {kind}");
        assert_eq!(tally.imported + tally.skipped, tally.total, "kind {kind}");
    }

    // The roster: the nurse and the FHIR agent, with their legacy keys.
    let events = new.practice.events().await.unwrap();
    let roster = verify_roster_chain(&new.practice.root.public_key(), events.iter());
    let current = roster.current().unwrap();
    for staff in expected["staff"].as_array().unwrap() {
        let member = current
            .content
            .member(&PublicKey::from_hex(staff["pubkey"].as_str().unwrap()).unwrap())
            .unwrap();
        assert_eq!(member.role.as_str(), staff["role"].as_str().unwrap());
        assert_eq!(member.name.as_deref(), staff["name"].as_str());
    }
    for agent in expected["service_agents"].as_array().unwrap() {
        let member = current
            .content
            .member(&PublicKey::from_hex(agent["pubkey"].as_str().unwrap()).unwrap())
            .unwrap();
        assert_eq!(member.role, Role::FhirGateway);
    }

    // Every chart, folded as another member (the doctor) reads it, equals expected.json.
    let (records, events) = practice_records(&new.practice).await;
    let (doctor_view, _) = new.practice.doctor_view().await.unwrap();
    let practice_key = identity("practice").public_key();
    for guardianship in expected["guardianships"].as_array().unwrap() {
        let ward = PublicKey::from_hex(guardianship["child_pubkey"].as_str().unwrap()).unwrap();
        let guardian =
            PublicKey::from_hex(guardianship["guardian_pubkey"].as_str().unwrap()).unwrap();
        assert!(
            doctor_view
                .guardians_of(&ward, Timestamp::now())
                .contains(&guardian)
        );
    }
    for (patient, want) in expected_patients() {
        let mine: Vec<_> = records
            .iter()
            .filter(|r| r.patient == patient)
            .cloned()
            .collect();
        let chart = chart::fold(&mine, FoldOptions::default());
        let got = view::view(&chart, &mine, &practice_key, &legacy_blob_size);
        assert_matches_expected(&patient, &got, &want, "practice view");
    }

    // Each patient, with her legacy key: standard NIP-44 opens every patient copy, and her own
    // fold equals expected.json too; the documents she finds there (key and blob address from
    // her own copy) decrypt to the original files.
    let patient_keys: Vec<Identity> = ["patient:maria", "patient:leo", "patient:noah"]
        .iter()
        .map(|n| identity(n))
        .collect();
    let expected_by_patient = expected_patients();
    for patient in &patient_keys {
        let client = RelayClient::connect(&new.practice.relay_url, patient, TIMEOUT)
            .await
            .unwrap();
        let mine = client
            .fetch_all(
                Filter::new()
                    .pubkey(patient.public_key())
                    .kinds((2110..=2121).map(Kind::from)),
                5000,
            )
            .await
            .unwrap();
        let clinical: Vec<&Event> = mine
            .iter()
            .filter(|e| {
                e.tags
                    .iter()
                    .any(|t| t.as_slice().first().map(String::as_str) == Some("patient-content"))
            })
            .collect();
        assert!(!clinical.is_empty());
        for event in &clinical {
            let copy = event
                .tags
                .iter()
                .find_map(|t| match t.as_slice() {
                    [name, value] if name == "patient-content" => Some(value.clone()),
                    _ => None,
                })
                .unwrap();
            let json =
                ehr_client::nostr::nips::nip44::decrypt(patient.secret_key(), &event.pubkey, &copy)
                    .unwrap();
            assert!(Resource::from_json(&json).is_ok());
        }
        let roster = verify_roster_chain(&new.practice.root.public_key(), events.iter());
        let opened = open_as_patient(&roster, patient, mine.iter());
        assert!(opened.refused.is_empty(), "{:?}", opened.refused);
        assert_eq!(opened.records.len(), clinical.len());
        let chart = chart::fold(&opened.records, FoldOptions::default());
        let got = view::view(&chart, &opened.records, &practice_key, &legacy_blob_size);
        let want = &expected_by_patient[&patient.public_key()];
        assert_matches_expected(&patient.public_key(), &got, want, "patient's own view");
        for entry in chart.of_type(ehr_client::fhir::ResourceType::DocumentReference) {
            let Resource::DocumentReference(doc) = &entry.resource else {
                continue;
            };
            let Ok(file) = blossom::encrypted_file(doc) else {
                continue;
            };
            let out = new._dir.path().join(format!("{}.blob", entry.key.id));
            // The patient fetches her own document, admitted by the import a moment ago.
            BlossomClient::new(&new.blossom_url)
                .unwrap()
                .download(patient, &file.ciphertext_sha256, &out)
                .await
                .unwrap();
            let mut plain = Vec::new();
            document::open(
                &file.key,
                file.layout,
                std::fs::File::open(&out).unwrap(),
                &mut plain,
            )
            .unwrap();
            let legacy_id = plan::legacy_event_of(&entry.resource).unwrap().to_hex();
            let listed = want["documents"]
                .as_array()
                .unwrap()
                .iter()
                .find(|d| d["id"] == legacy_id.as_str())
                .unwrap();
            assert_eq!(document::sha256_hex(&plain), listed["plaintext_sha256"]);
            // The new blob is not the legacy one: the file was re-encrypted.
            assert_ne!(file.ciphertext_sha256, listed["blob_sha256"]);
        }
        client.disconnect().await;
    }

    // Running it again publishes nothing.
    let count = new.practice.events().await.unwrap().len();
    let again = new.import(&old, false, true).await.unwrap();
    assert!(again.complete);
    assert!(again.published.is_empty(), "{:?}", again.published);
    assert!(again.members_added.is_empty());
    assert_eq!(again.documents_moved, 0);
    assert_eq!(new.practice.events().await.unwrap().len(), count);

    new.stop().await;
    old.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_import_resumes_without_duplicates() {
    let old = OldPractice::start().await;
    let new = NewPractice::start().await;

    // Without the new Blossom server the run stops at the first document, after members,
    // patients, guardianships and the records before it.
    let stopped = new.import(&old, false, false).await;
    assert!(
        matches!(stopped, Err(ImportError::NoBlossom)),
        "{stopped:?}"
    );
    let (partial, _) = practice_records(&new.practice).await;
    assert!(!partial.is_empty());

    let report = new.import(&old, false, true).await.unwrap();
    assert!(report.complete, "{report:#?}");
    assert_eq!(report.members_added.len(), 0);
    assert_eq!(report.patients_enrolled, 0);

    // Every version of every record is on the relay exactly once, as planned.
    let (records, _) = practice_records(&new.practice).await;
    let mut seen: BTreeMap<OutputKey, usize> = BTreeMap::new();
    for record in &records {
        *seen
            .entry(OutputKey::of(&record.resource).unwrap())
            .or_default() += 1;
    }
    assert!(seen.values().all(|n| *n == 1), "duplicates after resuming");
    let planned = plan::analyse(
        &legacy_events(),
        &LegacyKeyring::from_practice_key(&identity("practice")),
    );
    let planned: BTreeSet<OutputKey> = planned.records.iter().map(|r| r.key.clone()).collect();
    assert_eq!(seen.keys().cloned().collect::<BTreeSet<_>>(), planned);

    new.stop().await;
    old.stop().await;
}

/// The plan alone, without relays.
mod plan_only {
    use super::*;

    fn analyse(events: &[Event]) -> plan::Analysis {
        plan::analyse(
            events,
            &LegacyKeyring::from_practice_key(&identity("practice")),
        )
    }

    #[test]
    fn every_legacy_event_is_imported_or_skipped_with_a_reason() {
        let analysis = analyse(&legacy_events());
        assert_eq!(analysis.fates.len(), 117);
        for (id, fate) in &analysis.fates {
            match &fate.fate {
                Fate::Unreadable(reason) => panic!("{id} unreadable: {reason}"),
                Fate::Skipped(reason) => assert!([2100, 2101].contains(&fate.kind), "{reason}"),
                _ => {}
            }
        }
        assert_eq!(analysis.patients.len(), 3);
        assert_eq!(analysis.members.len(), 2);
        assert_eq!(analysis.guardianships.len(), 1);
    }

    #[test]
    fn a_legacy_staff_key_reads_what_its_grants_cover() {
        let events = legacy_events();
        let nurse = identity("staff");
        let keyring = LegacyKeyring::from_staff_grants(
            identity("practice").public_key(),
            &nurse,
            events.iter(),
        );
        assert!(!keyring.has_practice_secret());
        let by_staff = plan::analyse(&events, &keyring);
        let by_practice = analyse(&events);
        let keys = |a: &plan::Analysis| {
            a.records
                .iter()
                .map(|r| r.key.clone())
                .collect::<BTreeSet<_>>()
        };
        assert_eq!(keys(&by_staff), keys(&by_practice));
    }

    #[test]
    fn old_kind_numbers_are_read_as_their_new_numbers() {
        let signers: Vec<Identity> = ["practice", "staff", "patient:maria", "patient:noah"]
            .iter()
            .map(|n| identity(n))
            .collect();
        let old = |kind: u16| match kind {
            2110..=2121 => kind - 1110,
            2100..=2102 => kind - 1088,
            other => other,
        };
        // Re-signing changes ids: links follow their targets (in publish order, targets first).
        let mut ids: BTreeMap<String, String> = BTreeMap::new();
        let mut renumbered = Vec::new();
        for e in legacy_events() {
            let signer = signers.iter().find(|s| s.public_key() == e.pubkey).unwrap();
            let tags: Vec<Tag> = e
                .tags
                .iter()
                .map(|t| {
                    let mut values = t.as_slice().to_vec();
                    if values.first().map(String::as_str) == Some("e")
                        && let Some(new_id) = values.get(1).and_then(|id| ids.get(id))
                    {
                        values[1] = new_id.clone();
                    }
                    Tag::parse(values).unwrap()
                })
                .collect();
            let event = EventBuilder::new(Kind::from(old(e.kind.as_u16())), e.content.clone())
                .tags(tags)
                .custom_created_at(e.created_at)
                .finalize(signer.keys())
                .unwrap();
            ids.insert(e.id.to_hex(), event.id.to_hex());
            renumbered.push(event);
        }
        assert!(renumbered.iter().any(|e| e.kind.as_u16() == 1013));
        let before = analyse(&legacy_events());
        let after = analyse(&renumbered);
        let tally = |a: &plan::Analysis| {
            let mut t: BTreeMap<u16, (usize, usize)> = BTreeMap::new();
            for f in a.fates.values() {
                let e = t
                    .entry(source::canonical_kind(f.kind).unwrap())
                    .or_default();
                match f.fate {
                    Fate::Skipped(_) | Fate::Unreadable(_) => e.1 += 1,
                    _ => e.0 += 1,
                }
            }
            t
        };
        assert_eq!(tally(&after), tally(&before));
        assert_eq!(after.records.len(), before.records.len());
    }

    #[test]
    fn a_tampered_or_forged_event_is_unreadable_with_its_reason() {
        let mut events = legacy_events();
        // Another event's content under a valid signature of the nurse: authentic, but its
        // ciphertext is not the nurse's to give; and a forged copy with a bad signature.
        let nurse = identity("staff");
        let original = events
            .iter()
            .find(|e| e.pubkey == nurse.public_key())
            .unwrap()
            .clone();
        let flip = |text: &str| {
            let mut bytes = text.as_bytes().to_vec();
            bytes[60] = if bytes[60] == b'A' { b'B' } else { b'A' };
            String::from_utf8(bytes).unwrap()
        };
        // Both copies altered: the practice copy and the patient copy it would fall back to.
        let tags: Vec<Tag> = original
            .tags
            .iter()
            .map(|t| match t.as_slice() {
                [name, value] if name == "patient-content" => {
                    Tag::custom("patient-content", [flip(value)])
                }
                _ => t.clone(),
            })
            .collect();
        let altered = EventBuilder::new(original.kind, flip(&original.content))
            .tags(tags)
            .finalize(nurse.keys())
            .unwrap();
        let mut forged: Value = serde_json::from_str(&original.as_json()).unwrap();
        forged["content"] = Value::String(altered.content.clone());
        let forged = Event::from_json(forged.to_string()).unwrap();
        events.push(altered.clone());
        events.retain(|e| e.id != original.id);
        events.push(forged.clone());
        let analysis = analyse(&events);
        match &analysis.fates[&altered.id].fate {
            Fate::Unreadable(reason) => assert!(reason.contains("authentication"), "{reason}"),
            other => panic!("{other:?}"),
        }
        assert!(
            matches!(&analysis.fates[&forged.id].fate, Fate::Unreadable(r) if r.contains("signature"))
        );
    }
}
