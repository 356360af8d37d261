//! The problem list (kind 2114, Condition): a problem from the ICD-10-CM picker or in free
//! text, then resolve, reactivate or entered-in-error, each the record's next version.

use ehr_client::fhir::{
    CodeableConcept, Condition, RecordAction, Reference, Resource, ResourceType,
};

use super::super::super::ApiError;
use super::super::super::records::{checked, first_version, patient_id};
use super::systems::ICD10CM;
use super::{Form, current, next_version, picked};

const CLINICAL: &str = "http://terminology.hl7.org/CodeSystem/condition-clinical";
const VERIFICATION: &str = "http://terminology.hl7.org/CodeSystem/condition-ver-status";
const CATEGORY: &str = "http://terminology.hl7.org/CodeSystem/condition-category";

fn clinical(code: &str) -> Option<CodeableConcept> {
    Some(CodeableConcept::coded(CLINICAL, code, &capitalised(code)))
}

fn verification(code: &str) -> Option<CodeableConcept> {
    Some(CodeableConcept::coded(
        VERIFICATION,
        code,
        &capitalised(code),
    ))
}

fn capitalised(code: &str) -> String {
    let mut chars = code.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect::<String>())
        .unwrap_or_default()
        .replace('-', " ")
}

/// Whether `code` has the shape of an ICD-10-CM code (letter, digit, alphanumeric, then an
/// optional dot and up to four alphanumerics).
fn is_icd10cm(code: &str) -> bool {
    let (head, tail) = code.split_once('.').unwrap_or((code, ""));
    let head: Vec<char> = head.chars().collect();
    matches!(head.as_slice(), [a, b, c] if a.is_ascii_uppercase() && b.is_ascii_digit() && c.is_ascii_alphanumeric())
        && tail.len() <= 4
        && tail.chars().all(|c| c.is_ascii_alphanumeric())
        && !(code.contains('.') && tail.is_empty())
}

/// A new problem: `{"icd10"?, "display"?, "text"?, "onset"?, "recorded"}`. With `icd10` (the
/// picker's choice) the code is ICD-10-CM with its display; without, `text` is the problem in
/// free text (`code.text` only). Active and confirmed, on the problem list.
pub fn problem(chart: &str, form: &str) -> Result<String, ApiError> {
    let form = Form::parse(form)?;
    let code = form.text("icd10", "ICD-10-CM code", true)?;
    if code.as_deref().is_some_and(|c| !is_icd10cm(c)) {
        return Err(ApiError::Field(
            "ICD-10-CM code",
            "is not an ICD-10-CM code",
        ));
    }
    let display = match &code {
        Some(_) => form.required("display", "problem")?,
        None => form.required("text", "problem")?,
    };
    let resource = Resource::Condition(Condition {
        id: Some(ehr_client::demo::new_id()),
        meta: first_version(),
        clinical_status: clinical("active"),
        verification_status: verification("confirmed"),
        category: vec![CodeableConcept::coded(
            CATEGORY,
            "problem-list-item",
            "Problem List Item",
        )],
        code: Some(picked(ICD10CM, code.as_deref(), &display)),
        subject: Reference::to("Patient", &patient_id(chart)?),
        onset_date_time: form.date("onset", "onset date", true)?,
        recorded_date: form.date("recorded", "date recorded", false)?,
        ..Condition::default()
    });
    checked(resource)
}

/// A change to a problem (`condition`, its current version from the chart): `action`
/// `resolve` (clinical status resolved, abatement `date`), `reactivate` (active again, no
/// abatement) or `entered-in-error` (verification status entered-in-error, no clinical status
/// as FHIR requires, hidden from the chart). The next version.
pub fn problem_change(condition: &str, action: &str, date: &str) -> Result<String, ApiError> {
    let mut resource = current(condition, ResourceType::Condition)?;
    let Resource::Condition(c) = &mut resource else {
        return Err(ApiError::Record("not a Condition".to_owned()));
    };
    let record_action = match action {
        "resolve" => {
            let date = super::date(date, "resolution date", false)?;
            c.clinical_status = clinical("resolved");
            c.abatement_date_time = date;
            RecordAction::StatusUpdate
        }
        "reactivate" => {
            c.clinical_status = clinical("active");
            c.abatement_date_time = None;
            RecordAction::StatusUpdate
        }
        "entered-in-error" => {
            c.clinical_status = None;
            c.verification_status = verification("entered-in-error");
            RecordAction::Deletion
        }
        _ => {
            return Err(ApiError::Field(
                "change",
                "must be resolve, reactivate or entered-in-error",
            ));
        }
    };
    checked(next_version(resource, record_action))
}

#[cfg(test)]
mod tests {
    use super::is_icd10cm;

    #[test]
    fn icd10cm_codes_are_recognised_by_shape() {
        for code in ["J45.909", "A09", "S52.501A", "Z00.129"] {
            assert!(is_icd10cm(code), "{code}");
        }
        for code in ["j45", "J4", "J45.", "123", "J45.90912", "J45-9"] {
            assert!(!is_icd10cm(code), "{code}");
        }
    }
}
