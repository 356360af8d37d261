//! The relay fixture: a practice (root, doctor, patient, stranger), read scopes as the relay
//! computes them for staff and for a patient, a roster chain, and an in-memory SQLite store
//! holding a handful of events of every shape a filter can pick out.

use std::collections::BTreeSet;
use std::sync::OnceLock;

use ehr_client::keys::Identity;
use ehr_relay::access::{Access, GIFT_WRAP, ReadScope};
use ehr_relay::config::{DatabaseConfig, SqliteSync};
use ehr_relay::store::{Store, WriteJob, WriteOutcome};
use nostr::prelude::{Event, Keys, Tag, Timestamp};

use crate::{keys, sign};

/// Built once per fuzzing process.
#[derive(Debug)]
pub struct Fixture {
    /// Runs the store's queries.
    pub runtime: tokio::runtime::Runtime,
    /// Holds [`Fixture::stored`].
    pub store: Store,
    /// Events in the store (and more to match against: ephemeral ones).
    pub stored: Vec<Event>,
    /// Events never stored (ephemeral), matched against filters only.
    pub unstored: Vec<Event>,
    /// What a doctor, a patient and a front-desk clerk read.
    pub scopes: Vec<ReadScope>,
    /// The practice's members, with a genesis roster.
    pub access: Access,
    /// When the fixture was built: every query uses this `now`.
    pub now: Timestamp,
}

/// The practice root, a doctor, a patient and a key that is nobody.
pub fn cast() -> [Keys; 4] {
    [keys(1), keys(2), keys(3), keys(4)]
}

/// The fixture, built on first use.
pub fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(build)
}

fn build() -> Fixture {
    let [root, doctor, patient, stranger] = cast();
    let now = Timestamp::now();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let config = DatabaseConfig {
        url: "sqlite::memory:".to_owned(),
        sqlite_synchronous: SqliteSync::Normal,
        max_connections: 1,
    };
    let store = runtime
        .block_on(Store::open(&config))
        .expect("an in-memory store");
    let p = |k: &Keys| Tag::parse(["p".to_owned(), k.public_key().to_hex()]).expect("p tag");
    let tag = |fields: &[&str]| Tag::parse(fields.iter().copied()).expect("tag");
    let at = |back: u64| Timestamp::from_secs(now.as_secs() - back);
    let expired = (now.as_secs() - 10).to_string();
    let later = (now.as_secs() + 86_400).to_string();
    let stored: Vec<Event> = [
        sign(
            &doctor,
            2113,
            at(100),
            vec![p(&patient), tag(&["ehr", "1"])],
            "c",
        ),
        sign(
            &doctor,
            1,
            at(200),
            vec![tag(&["t", "flu"]), tag(&["e", &"ab".repeat(32)])],
            "n",
        ),
        sign(
            &patient,
            1,
            at(300),
            vec![tag(&["expiration", &expired])],
            "gone",
        ),
        sign(
            &patient,
            1,
            at(301),
            vec![tag(&["expiration", &later])],
            "kept",
        ),
        sign(&stranger, GIFT_WRAP, at(400), vec![p(&patient)], "wrap"),
        sign(&stranger, GIFT_WRAP, at(401), vec![p(&doctor)], "wrap2"),
        sign(&root, 0, at(500), vec![], "{\"name\":\"practice\"}"),
        sign(
            &doctor,
            30_000,
            at(600),
            vec![tag(&["d", "list"]), tag(&["P", "x"])],
            "r",
        ),
        sign(
            &stranger,
            7,
            at(700),
            vec![tag(&["T", "Up"]), tag(&["x"]), tag(&["pp", "a"])],
            "+",
        ),
        sign(
            &doctor,
            2110,
            at(800),
            vec![p(&stranger), p(&patient)],
            "two",
        ),
    ]
    .into_iter()
    .map(|e| e.expect("a fixture event"))
    .collect();
    let jobs: Vec<WriteJob> = (stored.iter())
        .map(|event| WriteJob {
            event: event.clone(),
            raw: event.as_json(),
            received_at: now,
        })
        .collect();
    let outcomes = runtime
        .block_on(store.write_batch(&jobs))
        .expect("the fixture batch commits");
    // Only what the store kept is expected back from a query.
    let stored = (stored.into_iter().zip(outcomes))
        .filter(|(_, outcome)| *outcome == WriteOutcome::Stored)
        .map(|(event, _)| event)
        .collect();
    let unstored = [
        sign(&patient, 24_133, now, vec![p(&doctor)], "signer"),
        sign(&doctor, 20_001, now, vec![tag(&["t", "typing"])], ""),
    ]
    .into_iter()
    .map(|e| e.expect("a fixture event"))
    .collect();
    let root_identity = Identity::from_secret_key(root.secret_key().clone());
    let (genesis, _) =
        ehr_client::rotation::genesis(&root_identity, None, at(1_000)).expect("a genesis roster");
    let mut access = Access::new(root.public_key());
    for event in &genesis {
        access.apply(event);
    }
    Fixture {
        runtime,
        store,
        stored,
        unstored,
        scopes: scopes(&root, &doctor, &patient),
        access,
        now,
    }
}

fn scopes(root: &Keys, doctor: &Keys, patient: &Keys) -> Vec<ReadScope> {
    let scope = |reader: &Keys, everything: bool, kinds: &[u16]| ReadScope {
        reader: reader.public_key(),
        reader_hex: reader.public_key().to_hex(),
        everything,
        kinds: kinds.iter().copied().collect(),
        tagged: BTreeSet::from([reader.public_key().to_hex()]),
        practice_profile: None,
    };
    let mut patient_scope = scope(patient, false, &[ehr_client::kinds::ROSTER]);
    patient_scope.practice_profile = Some(root.public_key());
    vec![
        scope(doctor, true, &[]),
        patient_scope,
        scope(doctor, false, &[2110, 2117]),
    ]
}
