#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use super::*;
use crate::fhir::{Coding, Meta};

const CLINICAL: &str = "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical";
const VERIFICATION: &str = "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification";
const RXNORM: &str = "http://www.nlm.nih.gov/research/umls/rxnorm";

fn allergy(id: &str, text: &str) -> AllergyIntolerance {
    AllergyIntolerance {
        id: Some(id.to_owned()),
        clinical_status: Some(CodeableConcept::coded(CLINICAL, "active", "Active")),
        verification_status: Some(CodeableConcept::coded(
            VERIFICATION,
            "confirmed",
            "Confirmed",
        )),
        criticality: Some(AllergyIntoleranceCriticality::High),
        code: Some(CodeableConcept {
            coding: vec![],
            text: Some(text.to_owned()),
        }),
        ..AllergyIntolerance::default()
    }
}

fn reasons(allergies: &[AllergyIntolerance], ingredients: &[&str]) -> Vec<AlertReason> {
    medication_alerts(allergies, ingredients)
        .into_iter()
        .map(|a| a.reason)
        .collect()
}

#[test]
fn penicillin_allergy_alerts_on_amoxicillin() {
    let alerts = medication_alerts(&[allergy("a1", "Penicillin")], &["amoxicillin"]);
    assert_eq!(alerts.len(), 1);
    assert_eq!(
        alerts[0].reason,
        AlertReason::SameClass(DrugClass::Penicillins)
    );
    assert_eq!(alerts[0].allergy_id.as_deref(), Some("a1"));
    assert_eq!(alerts[0].substance, "Penicillin");
    assert_eq!(alerts[0].ingredient, "amoxicillin");
    assert_eq!(alerts[0].severity, AlertSeverity::High);
}

#[test]
fn penicillin_allergy_does_not_alert_on_azithromycin() {
    assert!(medication_alerts(&[allergy("a1", "Penicillin")], &["azithromycin"]).is_empty());
}

#[test]
fn amoxicillin_allergy_alerts_on_ampicillin_as_same_class() {
    let got = reasons(&[allergy("a1", "amoxicillin")], &["ampicillin"]);
    assert_eq!(got, [AlertReason::SameClass(DrugClass::Penicillins)]);
}

#[test]
fn the_allergen_itself_is_same_ingredient() {
    let got = reasons(
        &[allergy("a1", "Amoxicillin")],
        &["amoxicillin", "clavulanate"],
    );
    assert_eq!(got, [AlertReason::SameIngredient]);
}

#[test]
fn penicillin_allergy_warns_on_cefalexin_as_cross_reactive_of_lower_severity() {
    let alerts = medication_alerts(&[allergy("a1", "Penicillin")], &["cefalexin"]);
    assert_eq!(alerts.len(), 1);
    assert_eq!(
        alerts[0].reason,
        AlertReason::CrossReactive(DrugClass::Cephalosporins)
    );
    assert_eq!(alerts[0].severity, AlertSeverity::Low);
}

#[test]
fn cephalosporin_allergy_does_not_alert_on_penicillins() {
    // Only the penicillin-to-cephalosporin direction is in the table.
    assert!(medication_alerts(&[allergy("a1", "cephalexin")], &["amoxicillin"]).is_empty());
}

#[test]
fn entered_in_error_allergy_never_alerts() {
    let mut a = allergy("a1", "Penicillin");
    a.verification_status = Some(CodeableConcept::coded(
        VERIFICATION,
        "entered-in-error",
        "Entered in Error",
    ));
    assert!(medication_alerts(&[a], &["amoxicillin"]).is_empty());
}

#[test]
fn a_deleted_record_never_alerts() {
    let mut a = allergy("a1", "Penicillin");
    a.meta = Some(Meta {
        tag: vec![Coding::new(crate::fhir::ACTION_SYSTEM, "deletion", "")],
        ..Meta::default()
    });
    assert!(medication_alerts(&[a], &["amoxicillin"]).is_empty());
}

#[test]
fn refuted_allergy_never_alerts() {
    let mut a = allergy("a1", "Penicillin");
    a.verification_status = Some(CodeableConcept::coded(VERIFICATION, "refuted", "Refuted"));
    assert!(medication_alerts(&[a], &["amoxicillin"]).is_empty());
}

#[test]
fn inactive_or_resolved_allergy_never_alerts() {
    for status in ["inactive", "resolved"] {
        let mut a = allergy("a1", "Penicillin");
        a.clinical_status = Some(CodeableConcept::coded(CLINICAL, status, status));
        assert!(
            medication_alerts(&[a], &["amoxicillin"]).is_empty(),
            "{status}"
        );
    }
}

#[test]
fn unconfirmed_allergy_still_alerts() {
    let mut a = allergy("a1", "Penicillin");
    a.verification_status = Some(CodeableConcept::coded(
        VERIFICATION,
        "unconfirmed",
        "Unconfirmed",
    ));
    assert_eq!(medication_alerts(&[a], &["amoxicillin"]).len(), 1);
}

#[test]
fn sulfa_allergy_alerts_on_sulfamethoxazole_trimethoprim() {
    let got = reasons(
        &[allergy("a1", "Sulfa drugs")],
        &["sulfamethoxazole", "trimethoprim"],
    );
    assert_eq!(
        got,
        [AlertReason::SameClass(DrugClass::SulfonamideAntibiotics)]
    );
}

#[test]
fn sulfa_allergy_does_not_alert_on_sulfonamide_non_antibiotics() {
    // Strom et al. 2003: no cross-reactivity with furosemide or hydrochlorothiazide.
    assert!(medication_alerts(&[allergy("a1", "Sulfa")], &["furosemide"]).is_empty());
    assert!(medication_alerts(&[allergy("a1", "Sulfa")], &["hydrochlorothiazide"]).is_empty());
}

#[test]
fn ibuprofen_allergy_alerts_on_naproxen_as_nsaid() {
    let got = reasons(&[allergy("a1", "ibuprofen")], &["naproxen"]);
    assert_eq!(got, [AlertReason::SameClass(DrugClass::Nsaids)]);
}

#[test]
fn nsaid_allergy_alerts_on_aspirin() {
    let got = reasons(&[allergy("a1", "NSAIDs")], &["aspirin"]);
    assert_eq!(got, [AlertReason::SameClass(DrugClass::Nsaids)]);
}

#[test]
fn rxnorm_coding_display_is_matched_without_text() {
    let mut a = allergy("a1", "");
    a.code = Some(CodeableConcept {
        coding: vec![Coding::new(RXNORM, "7980", "Penicillin G")],
        text: None,
    });
    let alerts = medication_alerts(&[a], &["ampicillin"]);
    assert_eq!(
        alerts[0].reason,
        AlertReason::SameClass(DrugClass::Penicillins)
    );
    assert_eq!(alerts[0].substance, "Penicillin G");
}

#[test]
fn salt_words_of_an_ingredient_are_ignored() {
    let got = reasons(&[allergy("a1", "Doxycycline")], &["doxycycline hyclate"]);
    assert_eq!(got, [AlertReason::SameIngredient]);
}

#[test]
fn a_word_inside_another_word_does_not_match() {
    // "statin" is not a word of "nystatin".
    assert!(medication_alerts(&[allergy("a1", "Nystatin")], &["atorvastatin"]).is_empty());
}

#[test]
fn severity_follows_criticality() {
    let mut low = allergy("a1", "codeine");
    low.criticality = Some(AllergyIntoleranceCriticality::Low);
    let mut unknown = allergy("a2", "codeine");
    unknown.criticality = None;
    let alerts = medication_alerts(&[low, unknown], &["morphine"]);
    let severities: Vec<_> = alerts.iter().map(|a| a.severity).collect();
    assert_eq!(severities, [AlertSeverity::Low, AlertSeverity::Unassessed]);
}

#[test]
fn one_alert_per_allergy_with_the_strongest_reason() {
    let got = reasons(&[allergy("a1", "cefalexin")], &["cefalexin", "cefazolin"]);
    assert_eq!(got, [AlertReason::SameIngredient]);
}

#[test]
fn classes_of_knows_the_table() {
    assert_eq!(classes_of("amoxicillin"), [DrugClass::Penicillins]);
    assert_eq!(
        classes_of("penicillin v potassium"),
        [DrugClass::Penicillins]
    );
    assert!(classes_of("acetaminophen").is_empty());
}
