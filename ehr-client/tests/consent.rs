#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! FHIR R4 Consent as clinical kind 2105: the typed model, what it refuses, which facilities it
//! lets the FHIR gateway share the chart with, and withdrawal through the chart fold.

use ehr_client::chart::{FoldOptions, Origin, RecordKey, fold};
use ehr_client::demo;
use ehr_client::event::{ClinicalEvent, ClinicalEventBuilder, EventError, PracticeKeyRef};
use ehr_client::fhir::*;
use ehr_client::keys::{ChartKey, Identity};
use ehr_client::kinds::{self, ClinicalKind};
use ehr_client::nostr::prelude::{EventBuilder, FinalizeEvent, Kind, Tag, Timestamp};
use serde_json::{Value, json};

fn consent(facilities: &[&str]) -> Consent {
    demo::fhir_sharing_consent("pt-1", facilities)
        .as_consent()
        .cloned()
        .unwrap()
}

fn consent_json() -> Value {
    serde_json::from_str(&demo::fhir_sharing_consent("pt-1", &["fac-a"]).to_json()).unwrap()
}

fn refused(json: &Value) -> FhirError {
    Resource::from_json(&json.to_string()).unwrap_err()
}

fn invalid_reason(json: &Value) -> &'static str {
    match refused(json) {
        FhirError::Invalid {
            resource: ResourceType::Consent,
            reason,
        } => reason,
        other => panic!("expected an invalid Consent, got {other}"),
    }
}

#[test]
fn kind_2105_is_a_clinical_kind_carrying_consent() {
    assert_eq!(kinds::CONSENT, 2105);
    assert_eq!(ClinicalKind::Consent.as_u16(), 2105);
    assert_eq!(ClinicalKind::from_u16(2105), Some(ClinicalKind::Consent));
    assert_eq!(ClinicalKind::Consent.to_nostr(), Kind::from_u16(2105));
    assert_eq!(ClinicalKind::Consent.resource_type(), ResourceType::Consent);
    assert_eq!(ClinicalKind::Consent.to_string(), "2105 (Consent)");
    assert_eq!("Consent".parse::<ResourceType>(), Ok(ResourceType::Consent));

    // ALL is complete, in kind order, without repeats; the enum order is the kind order.
    let numbers: Vec<u16> = ClinicalKind::ALL.iter().map(|k| k.as_u16()).collect();
    let mut expected = vec![2105];
    expected.extend(2110..=2121);
    expected.push(2124);
    assert_eq!(numbers, expected);
    assert!(ClinicalKind::ALL.windows(2).all(|w| w[0] < w[1]));
    for kind in ClinicalKind::ALL {
        assert_eq!(ClinicalKind::from_u16(kind.as_u16()), Some(kind));
    }
    for organisational in [
        kinds::CHART_KEY_WRAP,
        kinds::EPOCH_GRANT,
        kinds::ROSTER,
        kinds::SERVICE_AGENT,
        kinds::GUARDIAN_GRANT,
        2106,
        2109,
        2122,
    ] {
        assert_eq!(ClinicalKind::from_u16(organisational), None);
    }

    let resource = demo::fhir_sharing_consent("pt-1", &["fac-a"]);
    assert_eq!(ClinicalKind::for_resource(&resource), ClinicalKind::Consent);
    assert!(ClinicalKind::Consent.check_resource(&resource).is_ok());
    assert!(demo::encounter("pt-1").as_consent().is_none());
}

#[test]
fn kind_and_resource_must_match_both_ways() {
    let resource = demo::fhir_sharing_consent("pt-1", &["fac-a"]);
    let encounter = demo::encounter("pt-1");
    assert_eq!(
        ClinicalKind::Consent.check_resource(&encounter),
        Err(FhirError::WrongResourceType {
            expected: ResourceType::Consent,
            found: ResourceType::Encounter,
        })
    );
    for kind in ClinicalKind::ALL
        .into_iter()
        .filter(|k| *k != ClinicalKind::Consent)
    {
        assert!(
            matches!(
                kind.check_resource(&resource),
                Err(FhirError::WrongResourceType {
                    found: ResourceType::Consent,
                    ..
                })
            ),
            "{kind} accepted a Consent"
        );
    }
    let patient = Identity::generate().public_key();
    assert!(matches!(
        ClinicalEventBuilder::new(ClinicalKind::Consent, encounter, patient),
        Err(EventError::Fhir(FhirError::WrongResourceType { .. }))
    ));
    assert!(matches!(
        ClinicalEventBuilder::new(ClinicalKind::Encounter, resource, patient),
        Err(EventError::Fhir(FhirError::WrongResourceType { .. }))
    ));
}

#[test]
fn consent_round_trips_as_standard_json() {
    let resource = demo::fhir_sharing_consent("pt-1", &["fac-a", "fac-b"]);
    resource.validate().unwrap();
    let json = resource.to_json();
    assert_eq!(Resource::from_json(&json).unwrap(), resource);

    let value: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(value["resourceType"], "Consent");
    assert_eq!(value["status"], "active");
    assert_eq!(value["scope"]["coding"][0]["code"], "patient-privacy");
    assert_eq!(
        value["scope"]["coding"][0]["system"],
        "http://terminology.hl7.org/CodeSystem/consentscope"
    );
    assert_eq!(value["category"][0]["coding"][0]["code"], "59284-0");
    assert_eq!(value["patient"]["reference"], "Patient/pt-1");
    assert_eq!(value["meta"]["security"][0]["code"], "HTEST");
    let provision = &value["provision"];
    assert_eq!(provision["type"], "permit");
    assert_eq!(provision["purpose"][0]["code"], "TREAT");
    assert_eq!(
        provision["purpose"][0]["system"],
        "http://terminology.hl7.org/CodeSystem/v3-ActReason"
    );
    let actors = provision["actor"].as_array().unwrap();
    assert_eq!(actors.len(), 2);
    assert_eq!(actors[0]["role"]["coding"][0]["code"], "IRCP");
    assert_eq!(
        actors[0]["role"]["coding"][0]["system"],
        "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
    );
    assert_eq!(
        actors[1]["reference"]["identifier"],
        json!({"system": "urn:nostr-ehr:fhir-client", "value": "fac-b"})
    );

    // Every standard element of the model survives a round trip, nested provisions included.
    let full = json!({
        "resourceType": "Consent",
        "id": "c-1",
        "meta": {"versionId": "3"},
        "identifier": [{"system": "urn:example", "value": "42"}],
        "status": "proposed",
        "scope": {"text": "privacy"},
        "category": [{"text": "consent"}],
        "patient": {"reference": "Patient/pt-1"},
        "dateTime": "2026-01-02",
        "performer": [{"reference": "Patient/pt-1"}],
        "organization": [{"display": "The practice"}],
        "sourceReference": {"reference": "DocumentReference/d-1"},
        "policy": [{"authority": "https://example.org", "uri": "https://example.org/policy"}],
        "verification": [{"verified": true, "verificationDate": "2026-01-03"}],
        "provision": {
            "type": "permit",
            "period": {"start": "2026-01-01", "end": "2027-01-01"},
            "actor": [{"role": {"text": "recipient"}, "reference": {"display": "someone"}}],
            "action": [{"text": "disclose"}],
            "securityLabel": [{"code": "N"}],
            "purpose": [{"code": "TREAT"}],
            "class": [{"code": "Observation"}],
            "code": [{"text": "labs"}],
            "dataPeriod": {"start": "2020"},
            "data": [{"meaning": "related", "reference": {"reference": "Encounter/e-1"}}],
            "provision": [{"type": "deny", "class": [{"code": "DocumentReference"}]}]
        }
    });
    let parsed = Resource::from_json(&full.to_string()).unwrap();
    let reparsed: Value = serde_json::from_str(&parsed.to_json()).unwrap();
    assert_eq!(reparsed, full);
    assert_eq!(parsed.version(), 3);
}

#[test]
fn malformed_consents_are_refused() {
    // scope is required: absent, or present but empty.
    let mut no_scope = consent_json();
    no_scope.as_object_mut().unwrap().remove("scope");
    assert!(matches!(refused(&no_scope), FhirError::Json { .. }));
    let mut empty_scope = consent_json();
    empty_scope["scope"] = json!({});
    assert_eq!(invalid_reason(&empty_scope), "scope is required");

    // Unknown elements, at the top and inside the provision, are named (never their values).
    let mut unknown = consent_json();
    unknown["facilities"] = json!(["fac-a"]);
    match refused(&unknown) {
        FhirError::Json { field, .. } => assert_eq!(field.as_deref(), Some("facilities")),
        other => panic!("expected unknown element, got {other}"),
    }
    let mut unknown_inside = consent_json();
    unknown_inside["provision"]["recipient"] = json!("fac-a");
    match refused(&unknown_inside) {
        FhirError::Json { field, .. } => assert_eq!(field.as_deref(), Some("recipient")),
        other => panic!("expected unknown element, got {other}"),
    }

    // Codes outside their required value sets.
    for (path, code) in [("status", "revoked"), ("status", "Active")] {
        let mut bad = consent_json();
        bad[path] = json!(code);
        assert!(matches!(refused(&bad), FhirError::Json { .. }), "{code}");
    }
    let mut bad_type = consent_json();
    bad_type["provision"]["type"] = json!("allow");
    assert!(matches!(refused(&bad_type), FhirError::Json { .. }));
    let mut no_status = consent_json();
    no_status.as_object_mut().unwrap().remove("status");
    assert!(matches!(refused(&no_status), FhirError::Json { .. }));

    // At least one category.
    let mut no_category = consent_json();
    no_category.as_object_mut().unwrap().remove("category");
    assert_eq!(
        invalid_reason(&no_category),
        "at least one category is required"
    );
    let mut empty_category = consent_json();
    empty_category["category"] = json!([]);
    assert_eq!(
        invalid_reason(&empty_category),
        "at least one category is required"
    );

    // The patient is required here (optional in R4).
    let mut no_patient = consent_json();
    no_patient.as_object_mut().unwrap().remove("patient");
    assert!(matches!(refused(&no_patient), FhirError::Json { .. }));
    let mut empty_patient = consent_json();
    empty_patient["patient"] = json!({});
    assert_eq!(invalid_reason(&empty_patient), "patient is required");

    // Dates anywhere in the resource.
    for pointer in [
        "/dateTime",
        "/provision/period/start",
        "/provision/dataPeriod/end",
    ] {
        let mut bad_date = consent_json();
        let (parent, name) = pointer.rsplit_once('/').unwrap();
        if bad_date.pointer(parent).is_none_or(Value::is_null) {
            let (grand, parent_name) = parent.rsplit_once('/').unwrap();
            bad_date.pointer_mut(grand).unwrap()[parent_name] = json!({});
        }
        bad_date.pointer_mut(parent).unwrap()[name] = json!("03/02/2026");
        assert_eq!(
            invalid_reason(&bad_date),
            "a date or dateTime element is not a valid FHIR date",
            "{pointer}"
        );
    }

    // R4 ppc-1: a policy or a policy rule.
    let mut no_policy = consent_json();
    no_policy.as_object_mut().unwrap().remove("policyRule");
    assert_eq!(
        invalid_reason(&no_policy),
        "policy or policyRule is required"
    );

    // Actors need a role and a reference; nested rules need a type.
    let mut actor_without_role = consent_json();
    actor_without_role["provision"]["actor"][0]["role"] = json!({});
    assert_eq!(
        invalid_reason(&actor_without_role),
        "every provision.actor needs a role and a reference"
    );
    let mut untyped_nested = consent_json();
    untyped_nested["provision"]["provision"] = json!([{"purpose": [{"code": "HMARKT"}]}]);
    assert_eq!(
        invalid_reason(&untyped_nested),
        "a nested provision needs a type"
    );

    // One source[x] at most.
    let mut two_sources = consent_json();
    two_sources["sourceAttachment"] = json!({"title": "signed form"});
    two_sources["sourceReference"] = json!({"reference": "DocumentReference/d-1"});
    assert_eq!(invalid_reason(&two_sources), "at most one source[x]");

    // The error message never carries the offending value.
    let mut leaky = consent_json();
    leaky["status"] = json!("secret-status-value");
    assert!(!refused(&leaky).to_string().contains("secret-status-value"));
}

#[test]
fn sharing_is_permitted_only_by_an_active_permit_naming_a_facility() {
    let granted = consent(&["fac-a", "fac-b", "fac-a"]);
    assert!(granted.permits_fhir_sharing(Timestamp::now()));
    assert_eq!(
        granted.fhir_recipients(Timestamp::now()),
        ["fac-a", "fac-b"]
    );

    // Withdrawn: a new version, inactive, tagged as a status update.
    let withdrawn = granted.withdrawal();
    assert_eq!(withdrawn.id(), Resource::from(granted.clone()).id());
    assert_eq!(withdrawn.version(), 2);
    assert_eq!(withdrawn.action(), RecordAction::StatusUpdate);
    withdrawn.validate().unwrap();
    let withdrawn = withdrawn.as_consent().unwrap();
    assert_eq!(withdrawn.status, ConsentState::Inactive);
    assert!(!withdrawn.permits_fhir_sharing(Timestamp::now()));
    assert!(withdrawn.fhir_recipients(Timestamp::now()).is_empty());

    // Any status but active.
    for status in [
        ConsentState::Draft,
        ConsentState::Proposed,
        ConsentState::Rejected,
        ConsentState::Inactive,
        ConsentState::EnteredInError,
    ] {
        let mut c = granted.clone();
        c.status = status;
        assert!(
            !c.permits_fhir_sharing(Timestamp::now()),
            "{}",
            status.code()
        );
        assert!(c.fhir_recipients(Timestamp::now()).is_empty());
    }

    // A deny rule, an untyped root rule, no rule at all.
    let mut deny = granted.clone();
    deny.provision.as_mut().unwrap().type_ = Some(ConsentProvisionType::Deny);
    assert!(!deny.permits_fhir_sharing(Timestamp::now()));
    assert!(deny.fhir_recipients(Timestamp::now()).is_empty());
    let mut untyped = granted.clone();
    untyped.provision.as_mut().unwrap().type_ = None;
    assert!(!untyped.permits_fhir_sharing(Timestamp::now()));
    let mut no_provision = granted.clone();
    no_provision.provision = None;
    assert!(!no_provision.permits_fhir_sharing(Timestamp::now()));

    // No facility named, or named in another role or another identifier system.
    assert!(!consent(&[]).permits_fhir_sharing(Timestamp::now()));
    let mut consenter = granted.clone();
    for actor in &mut consenter.provision.as_mut().unwrap().actor {
        actor.role = CodeableConcept::coded(PARTICIPATION_TYPE_SYSTEM, "CST", "custodian");
    }
    assert!(!consenter.permits_fhir_sharing(Timestamp::now()));
    let mut ircp_elsewhere = granted.clone();
    for actor in &mut ircp_elsewhere.provision.as_mut().unwrap().actor {
        actor.role = CodeableConcept::coded("urn:other", INFORMATION_RECIPIENT, "recipient");
    }
    assert!(!ircp_elsewhere.permits_fhir_sharing(Timestamp::now()));
    let mut other_system = granted.clone();
    for actor in &mut other_system.provision.as_mut().unwrap().actor {
        actor.reference.identifier.as_mut().unwrap().system = Some("urn:other".into());
    }
    assert!(!other_system.permits_fhir_sharing(Timestamp::now()));
    let mut literal_only = granted.clone();
    for actor in &mut literal_only.provision.as_mut().unwrap().actor {
        actor.reference = Reference::to("Organization", "fac-a");
    }
    assert!(!literal_only.permits_fhir_sharing(Timestamp::now()));
    let mut empty_value = consent(&[""]);
    assert!(!empty_value.permits_fhir_sharing(Timestamp::now()));
    // Only one of two actors qualifies.
    empty_value
        .provision
        .as_mut()
        .unwrap()
        .actor
        .extend(consent(&["fac-c"]).provision.unwrap().actor);
    assert_eq!(empty_value.fhir_recipients(Timestamp::now()), ["fac-c"]);

    // A nested deny removes the facilities it names, or all of them if it names none.
    let mut exception = granted.clone();
    let deny_b = ConsentProvision {
        type_: Some(ConsentProvisionType::Deny),
        actor: consent(&["fac-b"]).provision.unwrap().actor,
        ..ConsentProvision::default()
    };
    exception.provision.as_mut().unwrap().provision = vec![ConsentProvision {
        type_: Some(ConsentProvisionType::Permit),
        provision: vec![deny_b],
        ..ConsentProvision::default()
    }];
    Resource::from(exception.clone()).validate().unwrap();
    assert_eq!(exception.fhir_recipients(Timestamp::now()), ["fac-a"]);
    let mut deny_all = granted.clone();
    deny_all.provision.as_mut().unwrap().provision = vec![ConsentProvision {
        type_: Some(ConsentProvisionType::Deny),
        class: vec![Coding::new(
            "http://hl7.org/fhir/resource-types",
            "DocumentReference",
            "DocumentReference",
        )],
        ..ConsentProvision::default()
    }];
    assert!(!deny_all.permits_fhir_sharing(Timestamp::now()));
}

#[test]
fn a_consent_event_round_trips_through_both_copies() {
    let doctor = Identity::generate();
    let patient = Identity::generate();
    let chart_key = ChartKey::generate(1);
    let resource = demo::fhir_sharing_consent("pt-1", &["fac-a"]);

    let event = ClinicalEventBuilder::new(
        ClinicalKind::Consent,
        resource.clone(),
        patient.public_key(),
    )
    .unwrap()
    .sign(&doctor, &chart_key)
    .unwrap();
    let json: Value = serde_json::from_str(&event.to_json()).unwrap();
    assert_eq!(json["kind"], 2105);
    // Nothing about the consent is in cleartext (the ciphertexts are left out of the search).
    let mut cleartext = json.clone();
    cleartext["content"] = Value::Null;
    cleartext["tags"][1][1] = Value::Null;
    let text = cleartext.to_string();
    for needle in ["Consent", "fac-a", "IRCP", "permit", "pt-1"] {
        assert!(!text.contains(needle), "plaintext leaks {needle}");
    }

    let reparsed = ClinicalEvent::from_json(&event.to_json()).unwrap();
    assert_eq!(reparsed.kind(), ClinicalKind::Consent);
    assert_eq!(reparsed.practice_key(), PracticeKeyRef::Chart(1));
    let practice_copy = reparsed.decrypt_with_chart_key(&chart_key).unwrap();
    let patient_copy = reparsed.decrypt_with_patient_key(&patient).unwrap();
    assert_eq!(practice_copy.resource, resource);
    assert_eq!(patient_copy.resource, resource);
    assert_eq!(practice_copy.kind, ClinicalKind::Consent);
    assert!(
        practice_copy
            .resource
            .as_consent()
            .unwrap()
            .permits_fhir_sharing(Timestamp::now())
    );

    // The patient records a consent themselves: practice copy to the epoch key.
    let epoch = Identity::generate();
    let own = ClinicalEventBuilder::new(
        ClinicalKind::Consent,
        resource.clone(),
        patient.public_key(),
    )
    .unwrap()
    .sign_as_patient(&patient, 2, &epoch.public_key())
    .unwrap();
    let by_practice = ClinicalEvent::from_json(&own.to_json())
        .unwrap()
        .decrypt_with_epoch_key(epoch.secret_key())
        .unwrap();
    assert!(by_practice.is_patient_authored());
    assert_eq!(by_practice.resource, resource);
    assert_eq!(
        own.decrypt_with_patient_key(&patient).unwrap().resource,
        resource
    );
}

fn event_with_payload(
    doctor: &Identity,
    patient: &Identity,
    chart_key: &ChartKey,
    kind: u16,
    payload: &str,
) -> ClinicalEvent {
    let content = chart_key.encrypt(payload).unwrap();
    let patient_copy =
        ehr_client::crypto::nip44_encrypt(doctor.secret_key(), &patient.public_key(), payload)
            .unwrap();
    let json = EventBuilder::new(Kind::from_u16(kind), content)
        .tags([
            Tag::public_key(patient.public_key()),
            Tag::custom("patient-content", [patient_copy]),
            Tag::custom("chart-key", ["1"]),
            Tag::custom("ehr", ["1"]),
        ])
        .finalize(doctor.keys())
        .unwrap()
        .as_json();
    ClinicalEvent::from_json(&json).unwrap()
}

#[test]
fn wire_payloads_of_the_wrong_type_are_refused() {
    let doctor = Identity::generate();
    let patient = Identity::generate();
    let chart_key = ChartKey::generate(1);
    let consent = demo::fhir_sharing_consent("pt-1", &["fac-a"]).to_json();
    let encounter = demo::encounter("pt-1").to_json();

    // An Encounter in a consent event, a Consent in an encounter event.
    for (kind, payload) in [(2105, &encounter), (2111, &consent), (2110, &consent)] {
        let event = event_with_payload(&doctor, &patient, &chart_key, kind, payload);
        assert!(matches!(
            event.decrypt_with_chart_key(&chart_key),
            Err(EventError::Fhir(FhirError::WrongResourceType { .. }))
        ));
        assert!(matches!(
            event.decrypt_with_patient_key(&patient),
            Err(EventError::Fhir(FhirError::WrongResourceType { .. }))
        ));
    }
    // A Consent with an element that is not in R4.
    let mut extra: Value = serde_json::from_str(&consent).unwrap();
    extra["recipients"] = json!(["fac-a"]);
    let event = event_with_payload(&doctor, &patient, &chart_key, 2105, &extra.to_string());
    assert!(matches!(
        event.decrypt_with_chart_key(&chart_key),
        Err(EventError::Fhir(FhirError::Json { .. }))
    ));
    // The well-formed one opens.
    let event = event_with_payload(&doctor, &patient, &chart_key, 2105, &consent);
    assert_eq!(event.kind(), ClinicalKind::Consent);
    assert!(event.decrypt_with_chart_key(&chart_key).is_ok());
}

#[test]
fn a_withdrawal_is_what_the_chart_shows() {
    let doctor = Identity::generate();
    let patient = Identity::generate();
    let chart_key = ChartKey::generate(1);
    let granted = demo::fhir_sharing_consent("pt-1", &["fac-a"]);
    let withdrawn = granted.as_consent().unwrap().withdrawal();

    let record = |resource: &Resource, at: u64| {
        ClinicalEventBuilder::new(
            ClinicalKind::Consent,
            resource.clone(),
            patient.public_key(),
        )
        .unwrap()
        .created_at(Timestamp::from(at))
        .sign(&doctor, &chart_key)
        .unwrap()
        .decrypt_with_chart_key(&chart_key)
        .unwrap()
    };
    let first = record(&granted, 1_000);
    let second = record(&withdrawn, 2_000);
    let key = RecordKey {
        resource_type: ResourceType::Consent,
        id: granted.id().unwrap().to_owned(),
        origin: Origin::Practice,
    };

    // Whatever the arrival order, the inactive version is current and permits nothing.
    for records in [
        vec![first.clone(), second.clone()],
        vec![second.clone(), first.clone(), second.clone()],
    ] {
        let chart = fold(&records, FoldOptions::default());
        assert_eq!(chart.len(), 1);
        let entry = chart.get(&key).unwrap();
        assert_eq!(entry.version, 2);
        assert_eq!(entry.event_id, second.event_id);
        assert_eq!(entry.history, [first.event_id, second.event_id]);
        assert!(!entry.corrected);
        let current = entry.resource.as_consent().unwrap();
        assert_eq!(current.status, ConsentState::Inactive);
        assert!(!current.permits_fhir_sharing(Timestamp::now()));
        assert_eq!(chart.of_type(ResourceType::Consent).count(), 1);
    }
    // Before the withdrawal arrives, the consent is in force.
    let chart = fold(&[first], FoldOptions::default());
    assert!(
        chart
            .get(&key)
            .unwrap()
            .resource
            .as_consent()
            .unwrap()
            .permits_fhir_sharing(Timestamp::now())
    );
}

#[test]
fn the_demo_set_has_one_consent() {
    let samples = demo::one_of_each_kind("pt-1");
    let consents: Vec<&Resource> = samples
        .iter()
        .filter(|(k, _)| *k == ClinicalKind::Consent)
        .map(|(_, r)| r)
        .collect();
    assert_eq!(consents.len(), 1);
    let consent = consents[0].as_consent().unwrap();
    assert!(consent.permits_fhir_sharing(Timestamp::now()));
    assert_eq!(consent.patient, Reference::to("Patient", "pt-1"));
    // Every clinical kind appears, and every sample fits its kind.
    for kind in ClinicalKind::ALL {
        assert!(samples.iter().any(|(k, _)| *k == kind), "{kind} missing");
    }
    for (kind, resource) in &samples {
        kind.check_resource(resource).unwrap();
        resource.validate().unwrap();
    }
}

#[test]
fn the_production_constructor_is_the_demo_without_the_test_label() {
    let resource = Consent::fhir_sharing("pt-1", &["fac-a", "fac-b"], "2026-05-01");
    resource.validate().unwrap();
    ClinicalKind::Consent.check_resource(&resource).unwrap();
    assert_eq!(resource.version(), 1);
    assert_eq!(resource.action(), RecordAction::Create);
    let consent = resource.as_consent().unwrap();
    assert_eq!(consent.date_time.as_deref(), Some("2026-05-01"));
    assert_eq!(
        consent.fhir_recipients(Timestamp::now()),
        ["fac-a", "fac-b"]
    );
    assert!(resource.meta().unwrap().security.is_empty());

    let demo = demo::fhir_sharing_consent("pt-1", &["fac-a", "fac-b"]);
    assert_eq!(
        demo.meta().unwrap().security[0].code.as_deref(),
        Some("HTEST")
    );
    let mut same = demo.as_consent().unwrap().clone();
    same.id = consent.id.clone();
    same.meta = consent.meta.clone();
    same.date_time = consent.date_time.clone();
    assert_eq!(&same, consent);
}

/// The demo consent (active, permit, `fac-a`) with its root provision changed by `change`.
fn restricted(change: impl FnOnce(&mut ConsentProvision)) -> Consent {
    let mut c = consent(&["fac-a"]);
    change(c.provision.as_mut().unwrap());
    c
}

#[test]
fn each_root_restriction_the_gateway_cannot_honour_alone_shares_nothing() {
    let now = Timestamp::now();
    let concept = || CodeableConcept::coded("http://snomed.info/sct", "1", "something");
    let coding = || Coding::new("http://hl7.org/fhir/resource-types", "Observation", "obs");
    let cases: Vec<(&str, Consent)> = vec![
        ("class", restricted(|p| p.class = vec![coding()])),
        ("code", restricted(|p| p.code = vec![concept()])),
        (
            "data",
            restricted(|p| {
                p.data = vec![ConsentData {
                    meaning: ConsentDataMeaning::Instance,
                    reference: Reference::to("Observation", "o-1"),
                }]
            }),
        ),
        (
            "dataPeriod",
            restricted(|p| {
                p.data_period = Some(Period {
                    start: Some("2020".into()),
                    end: None,
                })
            }),
        ),
        (
            "securityLabel",
            restricted(|p| {
                p.security_label = vec![Coding::new(
                    "http://terminology.hl7.org/CodeSystem/v3-Confidentiality",
                    "R",
                    "restricted",
                )]
            }),
        ),
        (
            "purpose",
            restricted(|p| p.purpose = vec![Coding::new(ACT_REASON_SYSTEM, "HMARKT", "marketing")]),
        ),
        (
            "action",
            restricted(|p| {
                p.action = vec![CodeableConcept::coded(
                    CONSENT_ACTION_SYSTEM,
                    "access",
                    "Access",
                )]
            }),
        ),
        (
            "nested permit narrowing",
            restricted(|p| {
                p.provision = vec![ConsentProvision {
                    type_: Some(ConsentProvisionType::Permit),
                    class: vec![coding()],
                    ..ConsentProvision::default()
                }]
            }),
        ),
        (
            "nested deny of someone without a client id",
            restricted(|p| {
                p.provision = vec![ConsentProvision {
                    type_: Some(ConsentProvisionType::Deny),
                    actor: vec![ConsentActor {
                        role: concept(),
                        reference: Reference::to("Practitioner", "pr-1"),
                    }],
                    ..ConsentProvision::default()
                }]
            }),
        ),
    ];
    for (field, c) in cases {
        Resource::from(c.clone()).validate().unwrap();
        assert!(c.fhir_recipients(now).is_empty(), "{field} alone shared");
        assert!(!c.permits_fhir_sharing(now), "{field} alone shared");
    }
}

#[test]
fn a_consent_whose_period_has_ended_shares_nothing() {
    let now = Timestamp::from_secs(1_800_000_000); // 2027-01-15T08:00:00Z
    for end in ["2027-01-15T07:59:59Z", "2027-01-14", "2026-12", "2026"] {
        let c = restricted(|p| {
            p.period = Some(Period {
                start: Some("2026-01-01".into()),
                end: Some(end.into()),
            })
        });
        assert!(!c.permits_fhir_sharing(now), "ended {end}");
    }
}

#[test]
fn a_consent_whose_period_starts_later_shares_nothing_yet() {
    let now = Timestamp::from_secs(1_800_000_000); // 2027-01-15T08:00:00Z
    for start in ["2027-01-15T08:00:01Z", "2027-01-16", "2027-02", "2028"] {
        let c = restricted(|p| {
            p.period = Some(Period {
                start: Some(start.into()),
                end: None,
            })
        });
        assert!(!c.permits_fhir_sharing(now), "starts {start}");
    }
}

#[test]
fn a_plain_current_permit_shares() {
    let now = Timestamp::from_secs(1_800_000_000); // 2027-01-15T08:00:00Z
    // As the practice and the portal write it: disclosure, for treatment.
    assert_eq!(consent(&["fac-a"]).fhir_recipients(now), ["fac-a"]);
    // Within its period, the ends inclusive at their precision.
    for (start, end) in [
        ("2027-01-15T08:00:00Z", "2027-01-15T08:00:00Z"),
        ("2027-01-15T03:00:00-05:00", "2027-01-15"),
        ("2027", "2027-01"),
    ] {
        let c = restricted(|p| {
            p.period = Some(Period {
                start: Some(start.into()),
                end: Some(end.into()),
            })
        });
        assert_eq!(c.fhir_recipients(now), ["fac-a"], "{start} to {end}");
    }
}

/// A consent record as `author` signed it at `at`, with a given first byte of event id.
fn consent_record(
    resource: Resource,
    author: &Identity,
    patient: &Identity,
    at: u64,
    id_byte: u8,
) -> ehr_client::event::ClinicalRecord {
    ehr_client::event::ClinicalRecord {
        event_id: ehr_client::nostr::prelude::EventId::from_byte_array([id_byte; 32]),
        author: author.public_key(),
        created_at: Timestamp::from(at),
        kind: ClinicalKind::Consent,
        patient: patient.public_key(),
        resource,
        copied_by: None,
        guardian: None,
    }
}

#[test]
fn a_withdrawal_in_the_same_second_as_the_practice_copy_of_the_consent_it_ends_wins() {
    let patient = Identity::generate();
    let doctor = Identity::generate();
    let shared = demo::fhir_sharing_consent("pt-1", &["fac-a"]);
    let withdrawal = shared.as_consent().unwrap().withdrawal();
    // The practice's copy sorts after her withdrawal by event id: only the version decides.
    let records = [
        consent_record(shared.clone(), &patient, &patient, 100, 1),
        consent_record(shared, &doctor, &patient, 200, 0xff),
        consent_record(withdrawal, &patient, &patient, 200, 0),
    ];
    let chart = fold(&records, FoldOptions::default());
    let newest = chart.newest_consent().unwrap();
    assert!(newest.patient_reported);
    assert!(
        !newest
            .resource
            .as_consent()
            .unwrap()
            .permits_fhir_sharing(Timestamp::from(300))
    );
}

#[test]
fn a_consent_until_a_date_permits_sharing_through_that_day_and_not_after() {
    let until = Consent::fhir_sharing_until("pt-1", &["fac-a"], "2026-01-01", Some("2026-06-30"));
    let consent = until.as_consent().unwrap();
    // 2026-06-30T12:00:00Z, then 2026-07-02T00:00:00Z.
    assert!(consent.permits_fhir_sharing(Timestamp::from(1_782_820_800)));
    assert!(!consent.permits_fhir_sharing(Timestamp::from(1_782_950_400)));
    assert!(Resource::from_json(&until.to_json()).is_ok());
}

#[test]
fn sharing_and_emergency_access_each_have_their_own_newest_consent() {
    let patient = Identity::generate();
    let doctor = Identity::generate();
    let sharing = ehr_client::demo::fhir_sharing_consent("pt-1", &["fac-a"]);
    let emergency = Consent::emergency_access("pt-1", "2026-12-01");
    // The opt-in is newer; it must not end sharing, nor sharing end it.
    let records = [
        consent_record(sharing, &doctor, &patient, 100, 1),
        consent_record(emergency, &doctor, &patient, 200, 2),
    ];
    let chart = fold(&records, FoldOptions::default());
    let sharing = chart
        .newest_consent()
        .unwrap()
        .resource
        .as_consent()
        .unwrap();
    assert!(sharing.permits_fhir_sharing(Timestamp::from(1_800_000_000)));
    let emergency = chart
        .newest_emergency_consent()
        .unwrap()
        .resource
        .as_consent()
        .unwrap();
    assert!(emergency.permits_emergency_access(Timestamp::from(1_800_000_000)));
}
