//! The immunization forecast of a child's chart: `ehr_client::immunization::forecast` on her
//! Patient's birthDate and the doses of her Immunization records.

use ehr_client::fhir::Resource;
use ehr_client::immunization::{
    ForecastStatus, VaccineGroup, doses_from_immunizations, forecast, parse_date,
};
use serde_json::{Value, json};

use super::super::super::ApiError;
use super::{chart_resources, chart_value};

fn group_name(group: VaccineGroup) -> &'static str {
    match group {
        VaccineGroup::HepB => "Hepatitis B",
        VaccineGroup::Rv => "Rotavirus",
        VaccineGroup::DTaP => "DTaP (diphtheria, tetanus, pertussis)",
        VaccineGroup::Hib => "Hib",
        VaccineGroup::Pcv => "Pneumococcal conjugate (PCV)",
        VaccineGroup::Ipv => "Polio (IPV)",
        VaccineGroup::Influenza => "Influenza",
        VaccineGroup::Mmr => "MMR (measles, mumps, rubella)",
        VaccineGroup::Varicella => "Varicella",
        VaccineGroup::HepA => "Hepatitis A",
        VaccineGroup::Tdap => "Tdap",
        VaccineGroup::Hpv => "HPV",
        VaccineGroup::MenACWY => "Meningococcal ACWY",
        VaccineGroup::MenB => "Meningococcal B",
        VaccineGroup::Covid => "COVID-19",
    }
}

fn status_code(status: ForecastStatus) -> &'static str {
    match status {
        ForecastStatus::NotYet => "not-yet",
        ForecastStatus::UpToDate => "up-to-date",
        ForecastStatus::Due => "due",
        ForecastStatus::Overdue => "overdue",
        ForecastStatus::Complete => "complete",
        ForecastStatus::AgedOut => "aged-out",
    }
}

/// The forecast for the patient of `chart` on `today` (`YYYY-MM-DD`): `{"birthDate",
/// "groups": [{group, name, status, validDoses, dose, earliest, recommended, overdue}]}` in the
/// schedule's order; `groups` is empty without a birth date, or from 19 years (the childhood
/// schedule ends at 18).
pub fn immunization_forecast(chart: &str, today: &str) -> Result<String, ApiError> {
    let today = parse_date(today).ok_or(ApiError::Field("today", "must be a date (YYYY-MM-DD)"))?;
    let chart = chart_value(chart)?;
    let birth = chart_resources(&chart, "Patient")?
        .into_iter()
        .find_map(|r| match r {
            Resource::Patient(p) => p.birth_date,
            _ => None,
        });
    let Some((birth_text, birth)) = birth.and_then(|b| parse_date(&b).map(|d| (b, d))) else {
        return Ok(json!({ "birthDate": null, "groups": [] }).to_string());
    };
    let records: Vec<_> = chart_resources(&chart, "Immunization")?
        .into_iter()
        .filter_map(|r| match r {
            Resource::Immunization(i) => Some(i),
            _ => None,
        })
        .collect();
    let doses = doses_from_immunizations(&records);
    let groups: Vec<Value> = forecast(birth, today, &doses)
        .into_iter()
        .map(|g| {
            json!({
                "group": g.group,
                "name": group_name(g.group),
                "status": status_code(g.status),
                "validDoses": g.valid_doses,
                "dose": g.next.map(|n| n.dose),
                "earliest": g.next.map(|n| n.earliest.to_string()),
                "recommended": g.next.map(|n| n.recommended.to_string()),
                "overdue": g.next.and_then(|n| n.overdue).map(|d| d.to_string()),
            })
        })
        .collect();
    Ok(json!({ "birthDate": birth_text, "groups": groups }).to_string())
}
