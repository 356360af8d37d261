#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! The key hierarchy under attack (DESIGN.md §2, §6 invariants 3, 4 and 7). Every test holds
//! the whole event store, as an attacker with a copy of the relay database would.

use std::collections::BTreeSet;

use ehr_client::access::{AccessError, open_as_patient};
use ehr_client::chart::FoldOptions;
use ehr_client::crypto;
use ehr_client::demo;
use ehr_client::event::{ClinicalEvent, ClinicalEventBuilder, VerifiedEvent};
use ehr_client::fhir::{Resource, ResourceType};
use ehr_client::grants::{self, EpochKey, GuardianshipStatus, WrapRecipient};
use ehr_client::keys::{ChartKey, Identity};
use ehr_client::kinds::ClinicalKind;
use ehr_client::nostr::prelude::Timestamp;
use ehr_client::roster::{Role, RosterError, verify_roster_chain};
use ehr_client::rotation::{self, RosterChange};

#[path = "common/practice.rs"]
mod practice;
use practice::{Practice, any_key_opens, can_open};

#[test]
fn roster_chain_answers_who_was_authorised_when() {
    let mut p = Practice::new();
    let before = Timestamp::from_secs(p.clock);
    let nurse = p.nurse.public_key();
    let admin = p.admin.clone();
    p.change(&admin, RosterChange::Revoke { pubkey: nurse });
    let after = Timestamp::from_secs(p.clock);

    let chain = verify_roster_chain(&p.root.public_key(), &p.store);
    assert!(chain.rejected().is_empty(), "{:?}", chain.rejected());
    assert_eq!(chain.role_at(&nurse, before), Some(Role::Nurse));
    assert_eq!(chain.role_at(&nurse, after), None);
    assert_eq!(
        chain.role_at(&p.doctor.public_key(), after),
        Some(Role::Doctor)
    );
    assert_eq!(
        chain.role_at(&p.doctor.public_key(), Timestamp::from_secs(1)),
        None
    );
    // Revoking a staff member started a new epoch.
    assert_eq!(chain.current_epoch().unwrap().0, 1);
    // The order events arrive in changes nothing.
    let mut reversed = p.store.clone();
    reversed.reverse();
    let again = verify_roster_chain(&p.root.public_key(), &reversed);
    assert_eq!(again.current().unwrap().id, chain.current().unwrap().id);
}

#[test]
fn forged_and_out_of_chain_rosters_are_rejected() {
    let mut p = Practice::new();
    let root = p.root.public_key();
    let chain = verify_roster_chain(&root, &p.store);
    let current = chain.current().unwrap().clone();
    let now = p.tick();

    // A doctor may not change the roster at all.
    let mut content = current.content.clone();
    content.sequence += 1;
    content.previous = Some(current.id);
    content.members.retain(|m| m.role != Role::Nurse);
    let by_doctor = content.sign(&p.doctor, now).unwrap();
    // An admin may not promote anyone to admin.
    let mut promote = current.content.clone();
    promote.sequence += 1;
    promote.previous = Some(current.id);
    promote
        .members
        .iter_mut()
        .filter(|m| m.role == Role::Doctor)
        .for_each(|m| m.role = Role::Admin);
    let admin_promotes = promote.sign(&p.admin, now).unwrap();
    // A roster that skips a place in the chain.
    let mut skip = current.content.clone();
    skip.sequence += 2;
    skip.previous = Some(current.id);
    let skipping = skip.sign(&p.root, now).unwrap();
    // A roster of another practice, and a genesis signed by someone who is not the root.
    let other_root = Identity::generate();
    let mut other = current.content.clone();
    other.practice = other_root.public_key();
    let foreign = other.sign(&other_root, now).unwrap();
    // A forged signature: the admin's roster with its content changed afterwards.
    let honest = {
        let mut c = current.content.clone();
        c.sequence += 1;
        c.previous = Some(current.id);
        c.sign(&p.admin, now).unwrap()
    };
    let mut forged = honest.clone();
    forged.content = forged.content.replace("\"nurse\"", "\"admin\"");
    assert_ne!(forged.content, honest.content);

    let mut store = p.store.clone();
    store.extend([
        by_doctor.clone(),
        admin_promotes.clone(),
        skipping.clone(),
        foreign.clone(),
    ]);
    store.push(forged.clone());
    let chain = verify_roster_chain(&root, &store);
    assert_eq!(
        chain.current().unwrap().id,
        current.id,
        "no attack changed the roster"
    );
    let reason = |id| {
        chain
            .rejected()
            .iter()
            .find(|(r, _)| *r == id)
            .map(|(_, e)| e.clone())
    };
    assert_eq!(reason(by_doctor.id), Some(RosterError::UnauthorisedSigner));
    assert_eq!(
        reason(admin_promotes.id),
        Some(RosterError::AdminChangedAdmins)
    );
    assert_eq!(reason(skipping.id), Some(RosterError::OutOfChain));
    assert_eq!(reason(foreign.id), Some(RosterError::OtherPractice));
    assert_eq!(reason(forged.id), Some(RosterError::InvalidSignature));
    // The planner refuses what the chain would reject: an admin adding an admin, a doctor
    // changing the roster at all.
    let newcomer = Identity::generate().public_key();
    let add_admin = RosterChange::Add {
        pubkey: newcomer,
        role: Role::Admin,
        name: None,
    };
    assert!(rotation::change_roster(&p.view(&p.admin), &p.admin, &add_admin, now).is_err());
    let add_ma = RosterChange::Add {
        pubkey: newcomer,
        role: Role::Ma,
        name: None,
    };
    assert!(rotation::change_roster(&p.view(&p.doctor), &p.doctor, &add_ma, now).is_err());
    assert!(
        !rotation::change_roster(&p.view(&p.root), &p.root, &add_admin, now)
            .unwrap()
            .is_empty()
    );
    // With a genesis by a non-root key, nothing is authorised at all.
    let no_root = verify_roster_chain(&Identity::generate().public_key(), &p.store);
    assert!(no_root.current().is_none());
}

#[test]
fn a_revoked_nurse_cannot_decrypt_what_is_written_after_her_revocation() {
    let mut p = Practice::new();
    let patient = p.enrol();
    let doctor = p.doctor.clone();
    let before = p.encounter(&doctor, &patient.public_key());
    assert!(can_open(&p.view(&p.nurse), &before));

    let admin = p.admin.clone();
    p.change(
        &admin,
        RosterChange::Revoke {
            pubkey: p.nurse.public_key(),
        },
    );
    // Until the chart keys rotate, nobody may write under the old key.
    assert_eq!(
        p.view(&doctor)
            .write_key(&patient.public_key())
            .unwrap_err(),
        AccessError::RotationPending
    );
    assert!(p.maintain() > 0);
    let after = p.encounter(&doctor, &patient.public_key());

    let nurse_view = p.view(&p.nurse);
    assert!(
        can_open(&nurse_view, &before),
        "past reads stay readable to her"
    );
    assert!(!can_open(&nurse_view, &after));
    assert!(!any_key_opens(&nurse_view, &after));
    // The remaining staff, and the patient, read both.
    assert!(can_open(&p.view(&doctor), &after) && can_open(&p.view(&doctor), &before));
    let roster = verify_roster_chain(&p.root.public_key(), &p.store);
    assert_eq!(
        open_as_patient(&roster, &patient, [&before, &after])
            .records
            .len(),
        2
    );
    // Another patient of the practice, with every event in hand, reads none of this chart
    // (invariant 6): her reader skips it, and her key opens neither copy.
    let other = p.enrol();
    assert!(
        open_as_patient(&roster, &other, &p.store)
            .records
            .is_empty()
    );
    for event in [&before, &after] {
        let copy = ClinicalEvent::parse((*event).clone()).unwrap();
        for payload in [event.content.as_str(), copy.patient_content()] {
            assert!(crypto::nip44_decrypt(other.secret_key(), &event.pubkey, payload).is_err());
        }
    }
}

#[test]
fn the_gateway_cannot_decrypt_a_non_consenting_chart_even_with_every_event() {
    let mut p = Practice::new();
    let consenting = p.enrol();
    let private = p.enrol();
    p.consent(&consenting.public_key());
    assert!(p.maintain() > 0, "the consent is wrapped to the gateway");
    let doctor = p.doctor.clone();
    let shared = p.encounter(&doctor, &consenting.public_key());
    let secret = p.encounter(&doctor, &private.public_key());

    let gateway_view = p.view(&p.gateway);
    assert!(
        gateway_view.epoch_keys().next().is_none(),
        "agents never get the epoch"
    );
    assert!(can_open(&gateway_view, &shared));
    assert_eq!(
        gateway_view.open([&secret], None).refused[0].1,
        AccessError::NoKey
    );
    assert!(!any_key_opens(&gateway_view, &secret));
    // No grant or wrap in the store opens with the gateway key except its own wraps.
    for event in &p.store {
        let opens =
            crypto::nip44_decrypt(p.gateway.secret_key(), &event.pubkey, &event.content).is_ok();
        let addressed = grants::ChartKeyWrap::parse(event)
            .is_ok_and(|w| w.recipient == WrapRecipient::Gateway(p.gateway.public_key()));
        assert_eq!(opens, addressed, "kind {}", event.kind.as_u16());
        if addressed {
            assert_eq!(
                grants::ChartKeyWrap::parse(event).unwrap().patient,
                consenting.public_key()
            );
        }
    }
}

#[test]
fn the_billing_bot_decrypts_nothing_clinical() {
    let mut p = Practice::new();
    let patient = p.enrol();
    p.consent(&patient.public_key());
    p.maintain();
    let doctor = p.doctor.clone();
    p.encounter(&doctor, &patient.public_key());
    let bot = p.billing.clone();
    let view = p.view(&bot);
    assert!(view.epoch_keys().next().is_none());
    assert!(
        view.patients()
            .iter()
            .all(|pt| view.chart_keys(pt).is_empty())
    );
    assert!(view.open(&p.store, None).records.is_empty());
    // Neither the content nor any tag of any event opens with the bot's key.
    for event in &p.store {
        let mut payloads = vec![event.content.clone()];
        payloads.extend(
            event
                .tags
                .iter()
                .filter_map(|t| t.as_slice().get(1).cloned()),
        );
        for payload in payloads {
            for counterparty in [event.pubkey, patient.public_key()] {
                assert!(crypto::nip44_decrypt(bot.secret_key(), &counterparty, &payload).is_err());
            }
        }
    }
}

#[test]
fn chart_folding_refuses_events_by_non_members_and_members_outside_their_interval() {
    let mut p = Practice::new();
    let patient = p.enrol();
    let pk = patient.public_key();
    let doctor = p.doctor.clone();
    let good = p.encounter(&doctor, &pk);
    let nurse = p.nurse.clone();
    let by_nurse_in_time = p.encounter(&nurse, &pk);
    let chart_key = p.view(&nurse).write_key(&pk).unwrap().clone();

    // A stranger who somehow holds the chart key.
    let stranger = Identity::generate();
    let sign = |author: &Identity, at: u64, kind: ClinicalKind, resource: Resource| {
        ClinicalEventBuilder::new(kind, resource, pk)
            .unwrap()
            .created_at(Timestamp::from_secs(at))
            .sign(author, &chart_key)
            .unwrap()
            .event()
            .clone()
    };
    let by_stranger = sign(
        &stranger,
        p.clock,
        ClinicalKind::Encounter,
        demo::encounter("pt"),
    );
    // The front desk may write demographics and messages, not encounters.
    let by_frontdesk = sign(
        &p.frontdesk,
        p.clock,
        ClinicalKind::Encounter,
        demo::encounter("pt"),
    );
    // The nurse, revoked, keeps her old chart key and signs after her revocation.
    let admin = p.admin.clone();
    p.change(
        &admin,
        RosterChange::Revoke {
            pubkey: nurse.public_key(),
        },
    );
    let after_revocation = sign(
        &nurse,
        p.clock + 10,
        ClinicalKind::Encounter,
        demo::encounter("pt"),
    );
    // The patient may write a message, not an encounter.
    let (epoch, epoch_pk) = verify_roster_chain(&p.root.public_key(), &p.store)
        .current_epoch()
        .unwrap();
    let message = demo::one_of_each_kind("pt")
        .into_iter()
        .find(|(k, _)| *k == ClinicalKind::Message)
        .unwrap()
        .1;
    let patient_message = ClinicalEventBuilder::new(ClinicalKind::Message, message, pk)
        .unwrap()
        .sign_as_patient(&patient, epoch, &epoch_pk)
        .unwrap()
        .event()
        .clone();
    let patient_encounter =
        ClinicalEventBuilder::new(ClinicalKind::Encounter, demo::encounter("pt"), pk)
            .unwrap()
            .sign_as_patient(&patient, epoch, &epoch_pk)
            .unwrap()
            .event()
            .clone();

    let view = p.view(&doctor);
    let events = [
        &good,
        &by_nurse_in_time,
        &by_stranger,
        &by_frontdesk,
        &after_revocation,
        &patient_message,
        &patient_encounter,
    ];
    let opened = view.open(events, Some(&pk));
    let accepted: BTreeSet<_> = opened.records.iter().map(|r| r.event_id).collect();
    assert_eq!(
        accepted,
        [good.id, by_nurse_in_time.id, patient_message.id]
            .into_iter()
            .collect()
    );
    for refused in [
        &by_stranger,
        &by_frontdesk,
        &after_revocation,
        &patient_encounter,
    ] {
        assert!(
            opened
                .refused
                .contains(&(refused.id, AccessError::NotAuthorised)),
            "{:?}",
            opened.refused
        );
    }
    // Events whose signatures the transport checked meet the same rule: verified is not
    // authorised.
    let verified = events
        .iter()
        .map(|e| VerifiedEvent::verify((*e).clone()).unwrap());
    let opened_verified = view.open_verified(verified, Some(&pk));
    assert_eq!(opened_verified.records, opened.records);
    assert_eq!(opened_verified.refused, opened.refused);
    // The folded chart shows only what was authorised.
    let (chart, _) = view.chart(
        &pk,
        events,
        FoldOptions {
            include_patient_reported: true,
        },
    );
    assert_eq!(chart.of_type(ResourceType::Encounter).count(), 2);
    // The patient's own reader applies the same rule to the patient copies.
    let roster = verify_roster_chain(&p.root.public_key(), &p.store);
    let mine = open_as_patient(&roster, &patient, events);
    assert_eq!(mine.records.len(), 3);
}

#[test]
fn a_guardian_reads_her_wards_chart_and_loses_new_entries_after_revocation() {
    let mut p = Practice::new();
    let ward = p.enrol();
    let guardian = Identity::generate();
    let doctor = p.doctor.clone();
    let now = p.tick();
    let link = rotation::set_guardianship(
        &p.view(&doctor),
        &doctor,
        &ward.public_key(),
        &guardian.public_key(),
        GuardianshipStatus::Active,
        now,
    )
    .unwrap();
    p.store.extend(link);
    assert_eq!(
        p.maintain(),
        2,
        "one wrap of each key (chart and office) to the guardian, no rotation"
    );
    let before = p.encounter(&doctor, &ward.public_key());
    assert!(can_open(&p.view(&guardian), &before));
    // Her wrap carries the history: an entry from before she was linked is readable too.

    let now = p.tick();
    let end = rotation::set_guardianship(
        &p.view(&doctor),
        &doctor,
        &ward.public_key(),
        &guardian.public_key(),
        GuardianshipStatus::Ended,
        now,
    )
    .unwrap();
    p.store.extend(end);
    p.maintain();
    let after = p.encounter(&doctor, &ward.public_key());
    let view = p.view(&guardian);
    assert!(can_open(&view, &before));
    assert!(!can_open(&view, &after));
    assert!(!any_key_opens(&view, &after));
    assert!(can_open(&p.view(&p.nurse), &after), "members keep reading");
}

#[test]
fn withdrawing_consent_or_removing_the_gateway_rotates_only_the_affected_charts() {
    let mut p = Practice::new();
    let a = p.enrol();
    let b = p.enrol();
    let c = p.enrol();
    let consent_a = p.consent(&a.public_key());
    p.consent(&b.public_key());
    p.maintain();
    let version =
        |p: &Practice, who: &Identity| p.view(&p.admin).newest_version(&who.public_key()).unwrap();
    assert_eq!(
        (version(&p, &a), version(&p, &b), version(&p, &c)),
        (1, 1, 1)
    );

    // A withdraws: only A's chart key rotates, and the gateway loses A's new entries.
    let doctor = p.doctor.clone();
    let withdrawal = consent_a.as_consent().unwrap().withdrawal();
    p.write(&doctor, &a.public_key(), ClinicalKind::Consent, withdrawal);
    assert_eq!(
        p.maintain(),
        2,
        "one new epoch wrap of each of A's keys, for A only"
    );
    assert_eq!(
        (version(&p, &a), version(&p, &b), version(&p, &c)),
        (2, 1, 1)
    );
    let a_after = p.encounter(&doctor, &a.public_key());
    let b_after = p.encounter(&doctor, &b.public_key());
    let gateway = p.view(&p.gateway);
    assert!(!can_open(&gateway, &a_after));
    assert!(can_open(&gateway, &b_after));

    // Removing the gateway from the roster rotates B's key (it held it), not C's; no new epoch.
    let admin = p.admin.clone();
    p.change(
        &admin,
        RosterChange::Revoke {
            pubkey: p.gateway.public_key(),
        },
    );
    assert_eq!(
        verify_roster_chain(&p.root.public_key(), &p.store)
            .current_epoch()
            .unwrap()
            .0,
        0
    );
    assert_eq!(p.maintain(), 2, "B's chart key and office key");
    assert_eq!(
        (version(&p, &a), version(&p, &b), version(&p, &c)),
        (2, 2, 1)
    );
    let b_later = p.encounter(&doctor, &b.public_key());
    assert!(!can_open(&p.view(&p.gateway), &b_later));
}

#[test]
fn rotation_resumes_after_an_interruption_and_never_publishes_twice() {
    let mut p = Practice::new();
    let patients: Vec<Identity> = (0..6).map(|_| p.enrol()).collect();
    p.consent(&patients[0].public_key());
    p.maintain();
    let admin = p.admin.clone();
    p.change(
        &admin,
        RosterChange::Revoke {
            pubkey: p.nurse.public_key(),
        },
    );

    // Plan the whole rotation, but only half of it reaches the relay.
    let now = p.tick();
    let policy = p.policy();
    let plan = rotation::maintain_chart_keys(&p.view(&admin), &admin, &policy, None, now).unwrap();
    assert_eq!(
        plan.len(),
        14,
        "in each domain, six epoch wraps and one gateway wrap"
    );
    p.store.extend(plan[..3].iter().cloned());

    // Planning again from what arrived completes the rest, and only the rest.
    let rest = rotation::maintain_chart_keys(&p.view(&admin), &admin, &policy, None, now).unwrap();
    assert_eq!(rest.len(), 11);
    p.store.extend(rest);
    assert_eq!(p.maintain(), 0, "a re-run publishes nothing");
    assert!(
        rotation::missing_epoch_grants(&p.view(&admin), &admin, now)
            .unwrap()
            .is_empty()
    );
    assert!(
        rotation::change_roster(
            &p.view(&admin),
            &admin,
            &RosterChange::Revoke {
                pubkey: p.nurse.public_key()
            },
            now
        )
        .unwrap()
        .is_empty()
    );

    // Every patient ends with exactly one key version 2, under the new epoch.
    let view = p.view(&p.doctor);
    for patient in &patients {
        let wraps: Vec<_> = view
            .wraps_of(&patient.public_key())
            .filter(|w| w.version == 2 && w.recipient == WrapRecipient::Epoch(1))
            .collect();
        assert_eq!(wraps.len(), 1);
        assert!(view.write_key(&patient.public_key()).is_ok());
    }
}

#[test]
fn wraps_and_grants_from_unauthorised_keys_are_ignored() {
    let mut p = Practice::new();
    let patient = p.enrol();
    let pk = patient.public_key();
    let chain = verify_roster_chain(&p.root.public_key(), &p.store);
    let (epoch, epoch_pk) = chain.current_epoch().unwrap();
    let now = p.tick();

    // A stranger wraps a key of her choosing, at a higher version, under the public epoch key:
    // if staff adopted it, she would read every new entry.
    let stranger = Identity::generate();
    let planted = ChartKey::generate(7);
    let wrap = grants::wrap_chart_key(
        &stranger,
        &pk,
        &planted,
        &[],
        WrapRecipient::Epoch(epoch),
        Some(&epoch_pk),
        now,
    )
    .unwrap();
    // The billing bot hands out a fake epoch key to the doctor.
    let fake_epoch = EpochKey {
        number: epoch,
        secret: EpochKey::generate(epoch).secret,
    };
    let grant =
        grants::grant_epoch(&p.billing, &p.doctor.public_key(), &fake_epoch, &[], now).unwrap();
    p.store.extend([wrap.clone(), grant.clone()]);

    let view = p.view(&p.doctor);
    assert!(
        view.refused()
            .contains(&(wrap.id, AccessError::NotAuthorised))
    );
    assert!(
        view.refused()
            .contains(&(grant.id, AccessError::NotAuthorised))
    );
    assert_eq!(view.newest_version(&pk), Some(1));
    assert_ne!(view.write_key(&pk).unwrap().to_bytes(), planted.to_bytes());
}
