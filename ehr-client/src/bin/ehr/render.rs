//! How `ehr chart show` prints a chart for people (programs get `Chart::to_bundle`).

use ehr_client::chart::{self, Chart, ChartEntry};
use ehr_client::keys;
use serde_json::Value;

use crate::terminal;

/// A plain-text table, one line per visible entry.
pub fn table(chart: &Chart) -> String {
    // Cells are cleaned one by one: the widths count what is printed, and nothing in one cell
    // can reach into the next.
    let rows: Vec<[String; 6]> = chart
        .entries()
        .map(|entry| row(entry).map(|cell| terminal::clean(&cell, false)))
        .collect();
    let headers = ["TYPE", "ID", "V", "UPDATED", "SUMMARY", "FLAGS"].map(str::to_owned);
    let mut widths = headers.clone().map(|h| h.len());
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in std::iter::once(&headers).chain(&rows) {
        let cells: Vec<String> = row
            .iter()
            .zip(widths)
            .map(|(cell, width)| format!("{cell:width$}"))
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out.push_str(&format!("{} entries\n", rows.len()));
    out
}

fn row(entry: &ChartEntry) -> [String; 6] {
    let resource: Value = serde_json::from_str(&entry.resource.to_json()).unwrap_or(Value::Null);
    let mut flags = Vec::new();
    if entry.patient_reported {
        flags.push("patient-reported".to_owned());
    }
    if entry.corrected {
        flags.push("corrected".to_owned());
    }
    let shared = chart::has_origin(&resource, chart::SHARED_BY_PATIENT);
    if shared {
        flags.push("shared-by-patient".to_owned());
    }
    flags.push(format!(
        "by {}",
        keys::to_npub(&entry.author)
            .chars()
            .take(16)
            .collect::<String>()
    ));
    [
        entry.key.resource_type.as_str().to_owned(),
        entry.key.id.clone(),
        entry.version.to_string(),
        utc_minute(entry.updated_at.as_secs()),
        summary(&resource),
        flags.join(", "),
    ]
}

/// The most telling text of a resource: its code, then its status.
fn summary(resource: &Value) -> String {
    let concept = [
        "code",
        "vaccineCode",
        "medicationCodeableConcept",
        "type",
        "class",
    ]
    .iter()
    .find_map(|field| concept_text(resource.get(field)?));
    let status = resource.get("status").and_then(Value::as_str);
    let mut text = match (concept, status) {
        (Some(concept), Some(status)) => format!("{concept} ({status})"),
        (Some(concept), None) => concept,
        (None, Some(status)) => status.to_owned(),
        (None, None) => String::new(),
    };
    if text.chars().count() > 60 {
        text = text.chars().take(57).collect::<String>() + "...";
    }
    text
}

fn concept_text(value: &Value) -> Option<String> {
    // `type` is a list on some resources, `class` a bare Coding on Encounter.
    let value = value.as_array().and_then(|a| a.first()).unwrap_or(value);
    value
        .get("text")
        .and_then(Value::as_str)
        .or_else(|| value.get("display").and_then(Value::as_str))
        .or_else(|| {
            value
                .get("coding")?
                .as_array()?
                .first()?
                .get("display")?
                .as_str()
        })
        .map(str::to_owned)
}

/// `YYYY-MM-DD HH:MM` (UTC) of a Unix time.
fn utc_minute(secs: u64) -> String {
    let minute_of_day = secs % 86_400 / 60;
    format!(
        "{} {:02}:{:02}",
        utc_date(secs),
        minute_of_day / 60,
        minute_of_day % 60
    )
}

/// `YYYY-MM-DD` (UTC) of a Unix time, by the days-to-civil algorithm.
pub fn utc_date(secs: u64) -> String {
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}
