#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! Least privilege in the key hierarchy: a guardianship dated in the future, a guardian who is
//! (or was) a staff key, and a consent whose period ended. Every test holds the whole event
//! store and plants what an authorised but misbehaving member could sign.

use ehr_client::access::AccessError;
use ehr_client::demo;
use ehr_client::fhir::{Period, Resource};
use ehr_client::grants::{self, ChartKeyWrap, Guardianship, GuardianshipStatus, WrapRecipient};
use ehr_client::keys::Identity;
use ehr_client::kinds::{self, ClinicalKind};
use ehr_client::nostr::prelude::Timestamp;
use ehr_client::roster::Role;
use ehr_client::rotation::{self, RosterChange};

#[path = "common/practice.rs"]
mod practice;
use practice::{Practice, any_key_opens, can_open};

const YEAR: u64 = 365 * 86_400;

#[test]
fn a_future_dated_active_guardianship_does_not_outrank_a_later_end() {
    let mut p = Practice::new();
    let ward = p.enrol();
    let guardian = Identity::generate();
    let doctor = p.doctor.clone();
    let now = p.tick();
    // Active, dated a year ahead; then the real end, now.
    let planted = Guardianship::sign(
        &doctor,
        &ward.public_key(),
        &guardian.public_key(),
        GuardianshipStatus::Active,
        Timestamp::from_secs(now.as_secs() + YEAR),
    )
    .unwrap();
    let ended = Guardianship::sign(
        &doctor,
        &ward.public_key(),
        &guardian.public_key(),
        GuardianshipStatus::Ended,
        now,
    )
    .unwrap();
    p.store.extend([planted, ended]);

    assert!(
        p.view(&doctor)
            .guardians_of(&ward.public_key(), now)
            .is_empty()
    );
    p.maintain();
    let after = p.encounter(&doctor, &ward.public_key());
    let view = p.view(&guardian);
    assert!(!can_open(&view, &after));
    assert!(!any_key_opens(&view, &after));
}

#[test]
fn a_guardianship_naming_a_staff_key_puts_no_guardian_in_force() {
    let mut p = Practice::new();
    let ward = p.enrol();
    let (doctor, nurse) = (p.doctor.clone(), p.nurse.clone());
    let now = p.tick();
    let refused = rotation::set_guardianship(
        &p.view(&doctor),
        &doctor,
        &ward.public_key(),
        &nurse.public_key(),
        GuardianshipStatus::Active,
        now,
    );
    assert!(matches!(refused, Err(rotation::PlanError::Refused(_))));
    // Signed anyway, outside the planner: the readers still ignore it.
    let planted = Guardianship::sign(
        &doctor,
        &ward.public_key(),
        &nurse.public_key(),
        GuardianshipStatus::Active,
        now,
    )
    .unwrap();
    p.store.push(planted);
    let view = p.view(&doctor);
    assert!(view.guardians_of(&ward.public_key(), now).is_empty());
    assert_eq!(p.maintain(), 0, "no wrap to the nurse as a guardian");
}

#[test]
fn a_guardian_grant_to_a_past_staff_key_is_never_opened_and_is_rotated_away() {
    let mut p = Practice::new();
    let ward = p.enrol();
    let (admin, doctor, nurse) = (p.admin.clone(), p.doctor.clone(), p.nurse.clone());
    p.change(
        &admin,
        RosterChange::Revoke {
            pubkey: nurse.public_key(),
        },
    );
    p.maintain();
    // A doctor makes the revoked nurse a guardian and wraps her the current chart key.
    let now = p.tick();
    let view = p.view(&doctor);
    let key = view.write_key(&ward.public_key()).unwrap().clone();
    let guardianship = Guardianship::sign(
        &doctor,
        &ward.public_key(),
        &nurse.public_key(),
        GuardianshipStatus::Active,
        now,
    )
    .unwrap();
    let grant = grants::wrap_chart_key(
        &doctor,
        &ward.public_key(),
        &key,
        &view.chart_keys(&ward.public_key()),
        WrapRecipient::Guardian(nurse.public_key()),
        None,
        now,
    )
    .unwrap();
    p.store.extend([guardianship, grant.clone()]);

    let hers = p.view(&nurse);
    assert!(
        hers.refused()
            .contains(&(grant.id, AccessError::NotAuthorised))
    );
    assert!(hers.guardians_of(&ward.public_key(), now).is_empty());
    // Maintenance sees the holding and rotates the key away from it.
    assert!(p.maintain() >= 1);
    let after = p.encounter(&doctor, &ward.public_key());
    let planted_keys = ChartKeyWrap::parse(&grant)
        .unwrap()
        .open_as_grantee(&nurse)
        .unwrap();
    assert!(
        planted_keys
            .iter()
            .all(|k| k.decrypt(&after.content).is_err())
    );
    assert!(!any_key_opens(&p.view(&nurse), &after));
}

#[test]
fn revoking_a_member_ends_the_guardianships_it_held() {
    let mut p = Practice::new();
    let ward = p.enrol();
    let person = Identity::generate();
    let (admin, doctor) = (p.admin.clone(), p.doctor.clone());
    let now = p.tick();
    let link = rotation::set_guardianship(
        &p.view(&doctor),
        &doctor,
        &ward.public_key(),
        &person.public_key(),
        GuardianshipStatus::Active,
        now,
    )
    .unwrap();
    p.store.extend(link);
    p.maintain();
    // The guardian joins the staff, then leaves it.
    p.change(
        &admin,
        RosterChange::Add {
            pubkey: person.public_key(),
            role: Role::Nurse,
            name: None,
        },
    );
    let now = p.tick();
    let plan = rotation::change_roster(
        &p.view(&admin),
        &admin,
        &RosterChange::Revoke {
            pubkey: person.public_key(),
        },
        now,
    )
    .unwrap();
    let ended: Vec<Guardianship> = plan
        .iter()
        .filter(|e| e.kind.as_u16() == kinds::GUARDIANSHIP)
        .map(|e| Guardianship::parse(e).unwrap())
        .collect();
    assert_eq!(ended.len(), 1);
    assert_eq!(
        (ended[0].ward, ended[0].guardian, ended[0].status),
        (
            ward.public_key(),
            person.public_key(),
            GuardianshipStatus::Ended
        )
    );
    p.store.extend(plan);
    let view = p.view(&admin);
    assert!(view.recorded_wards_of(&person.public_key(), now).is_empty());
    let record = view
        .guardianship_at(&ward.public_key(), &person.public_key(), now)
        .unwrap();
    assert_eq!(record.status, GuardianshipStatus::Ended);
}

/// `consent` limited to `period`.
fn with_period(consent: Resource, start: Option<&str>, end: Option<&str>) -> Resource {
    let mut consent = consent.as_consent().unwrap().clone();
    consent.provision.as_mut().unwrap().period = Some(Period {
        start: start.map(str::to_owned),
        end: end.map(str::to_owned),
    });
    consent.into()
}

#[test]
fn a_consent_whose_period_ended_rotates_the_key_away_from_the_gateway() {
    let mut p = Practice::new();
    let patient = p.enrol();
    let doctor = p.doctor.clone();
    // The practice clock starts on 2023-11-14 (UTC); sharing ends with the 15th.
    let consent = with_period(
        demo::fhir_sharing_consent("pt", &["st-marys"]),
        None,
        Some("2023-11-15"),
    );
    p.write(
        &doctor,
        &patient.public_key(),
        ClinicalKind::Consent,
        consent,
    );
    p.maintain();
    let before = p.encounter(&doctor, &patient.public_key());
    assert!(can_open(&p.view(&p.gateway), &before));

    p.clock = 1_700_200_000; // 2023-11-17
    assert!(p.maintain() >= 1, "a new chart key version");
    let after = p.encounter(&doctor, &patient.public_key());
    assert!(!any_key_opens(&p.view(&p.gateway), &after));
}
