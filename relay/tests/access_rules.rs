//! Attacks on the role table of DESIGN.md §5: each test fails if its rule breaks.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::time::Duration;

use common::{Client, Db, Practice, clinical, member, nip86};
use ehr_client::grants::{Guardianship, GuardianshipStatus};
use ehr_client::roster::{Role, Roster};
use negentropy::{Id, Negentropy, NegentropyStorageVector};
use nostr::prelude::*;
use serde_json::{Value, json};

const OBSERVATION: u16 = 2113;
const MESSAGE: u16 = 2117;

/// Every filter shape an attacker might try for `victim`'s events.
fn probing_filters(victim: &PublicKey, victim_event: &EventId) -> Vec<Value> {
    vec![
        json!({}),
        json!({ "ids": [victim_event.to_hex()] }),
        json!({ "#p": [victim.to_hex()] }),
        json!({ "authors": [victim.to_hex()] }),
        json!({ "kinds": [OBSERVATION, MESSAGE] }),
    ]
}

/// Run negentropy from an empty set; returns the ids the relay offered.
async fn negentropy_ids(
    client: &mut Client,
    sub: &str,
    filter: Value,
) -> Result<Vec<EventId>, String> {
    let mut storage = NegentropyStorageVector::new();
    storage.seal().unwrap();
    let mut session = Negentropy::owned(storage, 0).unwrap();
    let first = session.initiate().unwrap();
    client
        .send(json!(["NEG-OPEN", sub, filter, hex::encode(first)]))
        .await;
    let mut need = Vec::new();
    loop {
        let answer = client.recv().await;
        if answer[1] != sub {
            continue;
        }
        match answer[0].as_str().unwrap() {
            "NEG-MSG" => {
                let bytes = hex::decode(answer[2].as_str().unwrap()).unwrap();
                let mut have: Vec<Id> = Vec::new();
                let mut ids: Vec<Id> = Vec::new();
                let next = session
                    .reconcile_with_ids(&bytes, &mut have, &mut ids)
                    .unwrap();
                need.extend(
                    ids.iter()
                        .map(|id| EventId::from_slice(id.as_bytes()).unwrap()),
                );
                match next {
                    Some(message) => {
                        client
                            .send(json!(["NEG-MSG", sub, hex::encode(message)]))
                            .await
                    }
                    None => {
                        client.send(json!(["NEG-CLOSE", sub])).await;
                        return Ok(need);
                    }
                }
            }
            "NEG-ERR" => return Err(answer[2].as_str().unwrap().to_owned()),
            other => panic!("unexpected {other}"),
        }
    }
}

async fn unauthenticated_clients_get_auth_required_and_nothing_else(db: Db) {
    let practice = Practice::new();
    let relay = practice.relay(db).await;
    let patient = Keys::generate();
    let mut doctor = relay.client(&practice.doctor).await;
    doctor
        .publish_ok(&clinical(
            &practice.doctor,
            OBSERVATION,
            &patient.public_key(),
        ))
        .await;

    let mut anonymous = Client::connect(&relay.url).await;
    for (i, filter) in [
        json!({}),
        json!({"kinds": [OBSERVATION]}),
        json!({"#p": [patient.public_key().to_hex()]}),
    ]
    .into_iter()
    .enumerate()
    {
        let closed = anonymous
            .req(&format!("anon-{i}"), std::slice::from_ref(&filter))
            .await
            .unwrap_err();
        assert!(closed.starts_with("auth-required:"), "{closed}");
        let closed = anonymous
            .count(&format!("count-{i}"), filter.clone())
            .await
            .unwrap_err();
        assert!(closed.starts_with("auth-required:"), "{closed}");
    }
    let err = negentropy_ids(&mut anonymous, "neg", json!({}))
        .await
        .unwrap_err();
    assert!(err.starts_with("auth-required:"), "{err}");
    let (ok, message) = anonymous
        .publish(&clinical(
            &practice.doctor,
            OBSERVATION,
            &patient.public_key(),
        ))
        .await;
    assert!(!ok && message.starts_with("auth-required:"), "{message}");

    // An AUTH for another relay or another challenge does not count.
    let (ok, message) = anonymous.auth(&practice.doctor, "ws://other.example").await;
    assert!(!ok && message.starts_with("invalid:"), "{message}");
    let closed = anonymous.req("still-anon", &[json!({})]).await.unwrap_err();
    assert!(closed.starts_with("auth-required:"), "{closed}");

    // A key outside the practice authenticates but reads nothing.
    let stranger = relay.client(&Keys::generate()).await;
    let mut stranger = stranger;
    let closed = stranger.req("stranger", &[json!({})]).await.unwrap_err();
    assert!(closed.starts_with("restricted:"), "{closed}");
    relay.stop().await;
}

async fn a_patient_cannot_read_count_or_sync_another_patients_events(db: Db) {
    let practice = Practice::new();
    let relay = practice.relay(db).await;
    let (alice, bob) = (Keys::generate(), Keys::generate());
    for patient in [&alice, &bob] {
        let (status, body) = nip86(
            &relay,
            &practice.frontdesk,
            "allowpubkey",
            json!([patient.public_key().to_hex()]),
        )
        .await;
        assert_eq!(status, 200, "{body}");
    }
    let mut doctor = relay.client(&practice.doctor).await;
    let alice_obs = clinical(&practice.doctor, OBSERVATION, &alice.public_key());
    let bob_obs = clinical(&practice.doctor, OBSERVATION, &bob.public_key());
    doctor.publish_ok(&alice_obs).await;
    doctor.publish_ok(&bob_obs).await;
    let mut bob_client = relay.client(&bob).await;
    let bob_message = clinical(&bob, MESSAGE, &bob.public_key());
    bob_client.publish_ok(&bob_message).await;
    let bob_ids = [bob_obs.id, bob_message.id];

    let mut alice_client = relay.client(&alice).await;
    let mut live = relay.client(&alice).await;
    let stored: Vec<EventId> = live
        .req("live", &[json!({})])
        .await
        .unwrap()
        .iter()
        .map(|e| e.id)
        .collect();
    for (i, filter) in probing_filters(&bob.public_key(), &bob_obs.id)
        .into_iter()
        .enumerate()
    {
        let seen = alice_client
            .req(&format!("probe-{i}"), std::slice::from_ref(&filter))
            .await
            .unwrap();
        assert!(
            seen.iter().all(|e| !bob_ids.contains(&e.id)),
            "filter {filter} leaked bob's events"
        );
        let count = alice_client
            .count(&format!("count-{i}"), filter.clone())
            .await
            .unwrap();
        let visible = seen.len() as u64;
        assert_eq!(
            count, visible,
            "COUNT with {filter} counts events Alice cannot read"
        );
        let offered = negentropy_ids(&mut alice_client, &format!("neg-{i}"), filter.clone())
            .await
            .unwrap();
        assert!(
            offered.iter().all(|id| !bob_ids.contains(id)),
            "negentropy with {filter} offered bob's ids"
        );
    }
    // Alice still reads her own record.
    let own = alice_client
        .req("own", &[json!({"#p": [alice.public_key().to_hex()]})])
        .await
        .unwrap();
    assert_eq!(
        own.iter().map(|e| e.id).collect::<Vec<_>>(),
        vec![alice_obs.id]
    );

    // Live delivery applies the same rule.
    let late_bob = clinical(&practice.doctor, OBSERVATION, &bob.public_key());
    let late_alice = clinical(&practice.doctor, OBSERVATION, &alice.public_key());
    doctor.publish_ok(&late_bob).await;
    doctor.publish_ok(&late_alice).await;
    // What she could read before may come once more live (stored just before this connection
    // subscribed, broadcast just after: on PostgreSQL the broadcast is a NOTIFY, which may
    // lag); Bob's never may.
    loop {
        let delivered = live
            .next_event("live", Duration::from_secs(10))
            .await
            .unwrap();
        assert!(
            !bob_ids.contains(&delivered.id) && delivered.id != late_bob.id,
            "live delivery leaked another patient's event"
        );
        if delivered.id == late_alice.id {
            break;
        }
        assert!(
            delivered.id == alice_obs.id || stored.contains(&delivered.id),
            "an event nobody published"
        );
    }

    // Alice cannot write into Bob's chart either.
    let forged_entry = clinical(&alice, OBSERVATION, &bob.public_key());
    let (ok, message) = alice_client.publish(&forged_entry).await;
    assert!(!ok && message.starts_with("restricted:"), "{message}");
    relay.stop().await;
}

async fn frontdesk_reads_demographics_and_messages_but_no_clinical_kinds(db: Db) {
    let practice = Practice::new();
    let relay = practice.relay(db).await;
    let patient = Keys::generate().public_key();
    let mut doctor = relay.client(&practice.doctor).await;
    let observation = clinical(&practice.doctor, OBSERVATION, &patient);
    let demographics = clinical(&practice.doctor, 2110, &patient);
    doctor.publish_ok(&observation).await;
    doctor.publish_ok(&demographics).await;

    let mut frontdesk = relay.client(&practice.frontdesk).await;
    let seen = frontdesk
        .req(
            "all",
            &[
                json!({}),
                json!({"ids": [observation.id.to_hex()]}),
                json!({"kinds": [OBSERVATION]}),
            ],
        )
        .await
        .unwrap();
    assert!(
        seen.iter().all(|e| e.id != observation.id),
        "frontdesk read an observation"
    );
    assert!(
        seen.iter().any(|e| e.id == demographics.id),
        "frontdesk must read demographics"
    );
    assert!(
        seen.iter().any(|e| e.kind == Kind::from(2102)),
        "frontdesk must read the roster"
    );
    assert_eq!(
        frontdesk
            .count("c", json!({"kinds": [OBSERVATION]}))
            .await
            .unwrap(),
        0
    );

    // Frontdesk writes messages and demographics, not observations.
    frontdesk
        .publish_ok(&clinical(&practice.frontdesk, MESSAGE, &patient))
        .await;
    let (ok, message) = frontdesk
        .publish(&clinical(&practice.frontdesk, OBSERVATION, &patient))
        .await;
    assert!(!ok && message.starts_with("restricted:"), "{message}");
    // Agents do not write clinical kinds; the billing bot reads none.
    let mut billing = relay.client(&practice.billing).await;
    let (ok, message) = billing
        .publish(&clinical(&practice.billing, OBSERVATION, &patient))
        .await;
    assert!(!ok && message.starts_with("restricted:"), "{message}");
    let seen = billing.req("b", &[json!({})]).await.unwrap();
    assert!(
        seen.iter().all(|e| e.kind == Kind::from(2102)),
        "the billing bot read a clinical event"
    );
    relay.stop().await;
}

async fn a_revoked_staff_key_can_no_longer_write_or_read(db: Db) {
    let practice = Practice::new();
    let relay = practice.relay(db).await;
    let patient = Keys::generate().public_key();
    let mut nurse = relay.client(&practice.nurse).await;
    nurse
        .publish_ok(&clinical(&practice.nurse, OBSERVATION, &patient))
        .await;
    nurse
        .req("live", &[json!({"kinds": [OBSERVATION]})])
        .await
        .unwrap();

    // The admin revokes the nurse: the next roster ends the nurse's membership now.
    let mut content = practice.genesis_content();
    let now = Timestamp::now();
    content.sequence = 1;
    content.previous = Some(practice.genesis.id);
    content.epoch = 1;
    content.epoch_public_key = Keys::generate().public_key();
    for m in &mut content.members {
        if m.pubkey == practice.nurse.public_key() {
            m.valid_until = Some(now);
        }
    }
    let admin_identity =
        ehr_client::keys::Identity::from_secret_key(practice.admin.secret_key().clone());
    let revocation = content.sign(&admin_identity, now).unwrap();
    let mut admin = relay.client(&practice.admin).await;
    admin.publish_ok(&revocation).await;

    // The same live connection: writes refused, reads refused, live delivery ended.
    let (ok, message) = nurse
        .publish(&clinical(&practice.nurse, OBSERVATION, &patient))
        .await;
    assert!(!ok && message.starts_with("restricted:"), "{message}");
    let closed = nurse.req("after", &[json!({})]).await.unwrap_err();
    assert!(closed.starts_with("restricted:"), "{closed}");
    let mut doctor = relay.client(&practice.doctor).await;
    doctor
        .publish_ok(&clinical(&practice.doctor, OBSERVATION, &patient))
        .await;
    assert!(
        nurse
            .next_event("live", Duration::from_millis(500))
            .await
            .is_none(),
        "a revoked key still gets live events"
    );
    // A fresh connection does no better, and a backdated event is judged at receipt.
    let mut again = relay.client(&practice.nurse).await;
    let backdated = EventBuilder::new(Kind::from(OBSERVATION), "x")
        .tags([Tag::public_key(patient)])
        .custom_created_at(Timestamp::from_secs(now.as_secs() - 600))
        .finalize(&practice.nurse)
        .unwrap();
    let (ok, message) = again.publish(&backdated).await;
    assert!(!ok && message.starts_with("restricted:"), "{message}");
    // Nor may the doctor relay the nurse's event.
    let (ok, message) = doctor.publish(&backdated).await;
    assert!(!ok && message.starts_with("restricted:"), "{message}");

    // An admin cannot fork history: a roster competing for an earlier place (backdated, naming
    // the genesis as its predecessor, bringing the nurse back) is refused, and the nurse stays out.
    let mut fork = practice.genesis_content();
    fork.sequence = 1;
    fork.previous = Some(practice.genesis.id);
    fork.epoch = 1;
    fork.epoch_public_key = Keys::generate().public_key();
    let fork = fork
        .sign(
            &admin_identity,
            Timestamp::from_secs(practice.genesis.created_at.as_secs() + 1),
        )
        .unwrap();
    let (ok, message) = admin.publish(&fork).await;
    assert!(!ok && message.starts_with("restricted:"), "{message}");
    let (ok, message) = again
        .publish(&clinical(&practice.nurse, OBSERVATION, &patient))
        .await;
    assert!(
        !ok && message.starts_with("restricted:"),
        "the fork brought the nurse back: {message}"
    );

    // A roster that is not a valid link (signed by a doctor) is refused.
    let mut bogus = Roster::parse(&revocation).unwrap().content;
    bogus.sequence = 2;
    bogus.previous = Some(revocation.id);
    bogus
        .members
        .push(member(&Keys::generate(), Role::Admin, now));
    let doctor_identity =
        ehr_client::keys::Identity::from_secret_key(practice.doctor.secret_key().clone());
    let (ok, message) = doctor
        .publish(&bogus.sign(&doctor_identity, now).unwrap())
        .await;
    assert!(!ok && message.starts_with("restricted:"), "{message}");
    relay.stop().await;
}

async fn gift_wraps_follow_the_recipient_rules(db: Db) {
    let practice = Practice::new();
    let relay = practice.relay(db).await;
    let patient = Keys::generate();
    nip86(
        &relay,
        &practice.doctor,
        "allowpubkey",
        json!([patient.public_key().to_hex()]),
    )
    .await;
    let ephemeral = Keys::generate();
    let wrap = |recipients: &[PublicKey], backdate: u64| {
        EventBuilder::new(Kind::GiftWrap, "AgIC-sealed")
            .tags(recipients.iter().map(|p| Tag::public_key(*p)))
            .custom_created_at(Timestamp::from_secs(Timestamp::now().as_secs() - backdate))
            .finalize(&ephemeral)
            .unwrap()
    };
    let mut anonymous = Client::connect(&relay.url).await;
    // Two recipients: refused.
    let (ok, message) = anonymous
        .publish(&wrap(
            &[patient.public_key(), practice.doctor.public_key()],
            0,
        ))
        .await;
    assert!(!ok && message.starts_with("invalid:"), "{message}");
    // A stranger as recipient: see tests/hardening.rs (the answer must not tell).
    // To a member, backdated by up to two days (NIP-59): accepted without AUTH.
    let to_patient = wrap(&[patient.public_key()], 2 * 24 * 3600 - 60);
    anonymous.publish_ok(&to_patient).await;

    // Served to the recipient only, even to staff who read everything else.
    let mut doctor = relay.client(&practice.doctor).await;
    let seen = doctor
        .req(
            "d",
            &[
                json!({"kinds": [1059]}),
                json!({"ids": [to_patient.id.to_hex()]}),
            ],
        )
        .await
        .unwrap();
    assert!(seen.is_empty(), "a gift wrap was served to someone else");
    assert_eq!(
        doctor.count("dc", json!({"kinds": [1059]})).await.unwrap(),
        0
    );
    let mut recipient = relay.client(&patient).await;
    let seen = recipient
        .req("p", &[json!({"kinds": [1059]})])
        .await
        .unwrap();
    assert_eq!(
        seen.iter().map(|e| e.id).collect::<Vec<_>>(),
        vec![to_patient.id]
    );

    // Rate limit for unknown senders, per address.
    let mut refused = None;
    for _ in 0..40 {
        let (ok, message) = anonymous.publish(&wrap(&[patient.public_key()], 0)).await;
        if !ok {
            refused = Some(message);
            break;
        }
    }
    let refused = refused.expect("the per-IP gift-wrap limit never applied");
    assert!(refused.starts_with("rate-limited:"), "{refused}");
    relay.stop().await;
}

async fn forged_signatures_and_foreign_protected_events_are_refused(db: Db) {
    let practice = Practice::new();
    let relay = practice.relay(db).await;
    let mut doctor = relay.client(&practice.doctor).await;
    let patient = Keys::generate().public_key();
    let genuine = clinical(&practice.doctor, OBSERVATION, &patient);
    let mut forged: Value = serde_json::from_str(&genuine.as_json()).unwrap();
    // Same id and signature, different content: the signature no longer matches.
    forged["content"] = json!("tampered");
    doctor.send(json!(["EVENT", forged])).await;
    let (ok, message) = doctor.ok_for(&genuine.id).await;
    assert!(!ok && message.starts_with("invalid:"), "{message}");
    // A signature by another key over the right id.
    let mut stolen: Value = serde_json::from_str(&genuine.as_json()).unwrap();
    let other = clinical(&practice.nurse, OBSERVATION, &patient);
    stolen["sig"] = json!(other.sig.to_string());
    doctor.send(json!(["EVENT", stolen])).await;
    let (ok, message) = doctor.ok_for(&genuine.id).await;
    assert!(!ok && message.starts_with("invalid:"), "{message}");
    assert!(
        doctor
            .req("check", &[json!({"ids": [genuine.id.to_hex()]})])
            .await
            .unwrap()
            .is_empty()
    );

    // NIP-70: a protected event only from its authenticated author.
    let protected = EventBuilder::new(Kind::TextNote, "mine")
        .tags([Tag::protected()])
        .finalize(&practice.nurse)
        .unwrap();
    let (ok, message) = doctor.publish(&protected).await;
    assert!(!ok && message.starts_with("restricted:"), "{message}");
    let mut nurse = relay.client(&practice.nurse).await;
    nurse.publish_ok(&protected).await;
    relay.stop().await;
}

/// The doctor's record that `guardian` is `ward`'s guardian, from now.
fn guardianship(practice: &Practice, ward: &Keys, guardian: &Keys) -> Event {
    let doctor = ehr_client::keys::Identity::from_secret_key(practice.doctor.secret_key().clone());
    Guardianship::sign(
        &doctor,
        &ward.public_key(),
        &guardian.public_key(),
        GuardianshipStatus::Active,
        Timestamp::now(),
    )
    .unwrap()
}

/// The desk sees who is whose guardian (a guardian's request is the ward's), nothing clinical
/// about the ward.
async fn frontdesk_reads_guardianship_records_but_not_the_wards_chart(db: Db) {
    let practice = Practice::new();
    let relay = practice.relay(db).await;
    let (ward, guardian) = (Keys::generate(), Keys::generate());
    let mut doctor = relay.client(&practice.doctor).await;
    let ward_obs = clinical(&practice.doctor, OBSERVATION, &ward.public_key());
    doctor.publish_ok(&ward_obs).await;
    let record = guardianship(&practice, &ward, &guardian);
    doctor.publish_ok(&record).await;
    let mut frontdesk = relay.client(&practice.frontdesk).await;
    let seen = frontdesk
        .req("all", &[json!({"#p": [ward.public_key().to_hex()]})])
        .await
        .unwrap();
    assert!(
        seen.iter().any(|e| e.id == record.id),
        "the desk must read it"
    );
    assert!(
        seen.iter().all(|e| e.id != ward_obs.id),
        "the desk read the ward's observation"
    );
    relay.stop().await;
}

async fn guardians_read_their_wards_and_no_one_else(db: Db) {
    let practice = Practice::new();
    let relay = practice.relay(db).await;
    let (ward, other, guardian) = (Keys::generate(), Keys::generate(), Keys::generate());
    let (status, _) = nip86(
        &relay,
        &practice.nurse,
        "assignrole",
        json!([guardian.public_key().to_hex(), "guardian"]),
    )
    .await;
    assert_eq!(status, 200);
    let mut doctor = relay.client(&practice.doctor).await;
    let ward_obs = clinical(&practice.doctor, OBSERVATION, &ward.public_key());
    let other_obs = clinical(&practice.doctor, OBSERVATION, &other.public_key());
    doctor.publish_ok(&ward_obs).await;
    doctor.publish_ok(&other_obs).await;
    let mut guardian_client = relay.client(&guardian).await;
    assert!(
        guardian_client
            .req("before", &[json!({"#p": [ward.public_key().to_hex()]})])
            .await
            .unwrap()
            .is_empty()
    );

    let record = guardianship(&practice, &ward, &guardian);
    doctor.publish_ok(&record).await;
    let seen = guardian_client.req("after", &[json!({})]).await.unwrap();
    assert!(
        seen.iter().any(|e| e.id == ward_obs.id),
        "the guardian must read the ward's chart"
    );
    assert!(
        seen.iter().all(|e| e.id != other_obs.id),
        "the guardian read another patient's chart"
    );
    relay.stop().await;
}

on_both_backends!(
    unauthenticated_clients_get_auth_required_and_nothing_else,
    a_patient_cannot_read_count_or_sync_another_patients_events,
    frontdesk_reads_demographics_and_messages_but_no_clinical_kinds,
    a_revoked_staff_key_can_no_longer_write_or_read,
    gift_wraps_follow_the_recipient_rules,
    forged_signatures_and_foreign_protected_events_are_refused,
    guardians_read_their_wards_and_no_one_else,
    frontdesk_reads_guardianship_records_but_not_the_wards_chart,
);
