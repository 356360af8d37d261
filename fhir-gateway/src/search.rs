//! FHIR search: the parameters each served type supports (`params`), how a query is parsed,
//! how a resource matches, and how the matches are ordered ([`sort`]) and shown
//! ([`crate::subset`]).
//!
//! Values of one parameter separated by commas are alternatives; repeated parameters must all
//! match. Any parameter, modifier or prefix not listed here is refused with 400, never ignored.

mod keys;
mod params;
pub mod sort;

pub use keys::SearchKeys;
pub use params::{
    IncludeDef, ParamDef, ParamKind, REVINCLUDE_PROVENANCE, include_defs, includes_of, params_of,
};
pub use sort::SortKey;

use ehr_client::fhir::ResourceType;

use crate::error::GatewayError;
use crate::served::{ServedResource, patient_of};
use crate::subset::View;

/// A time range `[start, end)` in Unix seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range {
    /// First second.
    pub start: i64,
    /// One past the last second.
    pub end: i64,
}

/// The range a FHIR date, dateTime or instant covers, by its precision. Dates without a zone
/// are read as UTC.
pub fn date_range(text: &str) -> Option<Range> {
    let ymd = |y: i32, m: u8, d: u8| {
        time::Date::from_calendar_date(y, time::Month::try_from(m).ok()?, d)
            .ok()
            .map(|date| date.midnight().assume_utc().unix_timestamp())
    };
    let number = |s: Option<&str>| s.and_then(|s| s.parse::<u16>().ok());
    let mut parts = text.splitn(3, '-');
    match text.len() {
        4 => {
            let year = i32::from(number(parts.next())?);
            Some(Range {
                start: ymd(year, 1, 1)?,
                end: ymd(year + 1, 1, 1)?,
            })
        }
        7 => {
            let year = i32::from(number(parts.next())?);
            let month = u8::try_from(number(parts.next())?).ok()?;
            let (next_year, next_month) = if month == 12 {
                (year + 1, 1)
            } else {
                (year, month + 1)
            };
            Some(Range {
                start: ymd(year, month, 1)?,
                end: ymd(next_year, next_month, 1)?,
            })
        }
        10 => {
            let year = i32::from(number(parts.next())?);
            let month = u8::try_from(number(parts.next())?).ok()?;
            let day = u8::try_from(number(parts.next())?).ok()?;
            let start = ymd(year, month, day)?;
            Some(Range {
                start,
                end: start + 86_400,
            })
        }
        _ => {
            use time::format_description::well_known::Rfc3339;
            let parsed = time::OffsetDateTime::parse(text, &Rfc3339).or_else(|_| {
                // `2024-05-01T10:00Z` (no seconds) is a valid search value.
                let (date_time, zone) = split_zone(text);
                time::OffsetDateTime::parse(&format!("{date_time}:00{zone}"), &Rfc3339)
            });
            let at = parsed.ok()?.unix_timestamp();
            Some(Range {
                start: at,
                end: at + 1,
            })
        }
    }
}

fn split_zone(text: &str) -> (&str, &str) {
    let time_part = text.find('T').map_or(0, |t| t + 1);
    let zone_at = text
        .get(time_part..)
        .and_then(|t| t.find(['Z', '+', '-']))
        .map_or(text.len(), |z| z + time_part);
    (
        text.get(..zone_at).unwrap_or(text),
        text.get(zone_at..).unwrap_or(""),
    )
}

/// A date comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Prefix {
    Eq,
    Gt,
    Ge,
    Lt,
    Le,
}

/// One parsed value of a parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Wanted {
    Token {
        system: Option<String>,
        code: Option<String>,
    },
    Date(Prefix, Range),
    Text(String),
    /// A gateway id (of a patient or of a record).
    Reference(String),
}

/// A search: type-specific and common filters, paging and the result options.
#[derive(Debug, Clone)]
pub struct Search {
    filters: Vec<(Filter, Vec<Wanted>)>,
    /// Page size.
    pub count: usize,
    /// Matches skipped (paging).
    pub offset: usize,
    /// `_summary=count`.
    pub summary_count: bool,
    /// The `_include` values asked for, each once ([`crate::include`]).
    pub includes: Vec<&'static IncludeDef>,
    /// `_revinclude=Provenance:target`: each match's Provenance ([`crate::provenance`]).
    pub revinclude_provenance: bool,
    /// `_sort`: the order of the matches (none: newest `lastUpdated` first, then id).
    pub sort: Vec<SortKey>,
    /// `_elements` or `_summary=true|data`: what each match shows.
    pub view: View,
    /// A patient the search is limited to (`patient`, `subject`, or Patient `_id`).
    pub patient: Option<String>,
    /// The query, normalised, without `_offset`: paging links are built from it.
    pub canonical: Vec<(String, String)>,
}

#[derive(Debug, Clone, Copy)]
enum Filter {
    Id,
    LastUpdated,
    Param(&'static ParamDef),
}

/// Limits a search is parsed with.
#[derive(Debug, Clone, Copy)]
pub struct Paging {
    /// Page size without `_count`.
    pub default_count: usize,
    /// Largest `_count` honoured.
    pub max_count: usize,
}

impl Search {
    /// Parse the parameters of a search of `resource_type`.
    pub fn parse(
        resource_type: ResourceType,
        query: &[(String, String)],
        paging: Paging,
    ) -> Result<Self, GatewayError> {
        let mut search = Self {
            filters: Vec::new(),
            count: paging.default_count,
            offset: 0,
            summary_count: false,
            includes: Vec::new(),
            revinclude_provenance: false,
            sort: Vec::new(),
            view: View::Full,
            patient: None,
            canonical: Vec::new(),
        };
        for (name, value) in query {
            let bad = |what: &str| {
                GatewayError::BadRequest(format!("{what} in search parameter `{}`", name))
            };
            if value.is_empty() {
                return Err(bad("an empty value"));
            }
            if name != "_offset" {
                search.canonical.push((name.clone(), value.clone()));
            }
            if search.result_param(resource_type, name, value, paging)? {
                continue;
            }
            match name.as_str() {
                "_id" => {
                    let values = split(value)
                        .map(|v| Wanted::Reference(v.to_owned()))
                        .collect();
                    if resource_type == ResourceType::Patient {
                        search.narrow_to(value)?;
                    }
                    search.filters.push((Filter::Id, values));
                }
                "_lastUpdated" => {
                    let values = split(value)
                        .map(|v| parse_date(v).ok_or_else(|| bad("an invalid date")))
                        .collect::<Result<_, _>>()?;
                    search.filters.push((Filter::LastUpdated, values));
                }
                _ => {
                    if name.contains(':') {
                        return Err(bad("an unsupported modifier"));
                    }
                    let def = params_of(resource_type)
                        .iter()
                        .find(|d| d.name == name)
                        .ok_or_else(|| bad("an unknown parameter"))?;
                    let values = split(value)
                        .map(|v| parse_value(def.kind, v).ok_or_else(|| bad("an invalid value")))
                        .collect::<Result<Vec<_>, _>>()?;
                    if matches!(def.name, "patient" | "subject") {
                        search.narrow_to(value)?;
                    }
                    search.filters.push((Filter::Param(def), values));
                }
            }
        }
        Ok(search)
    }

    /// Take a parameter that shapes the result rather than filtering it (paging, `_summary`,
    /// `_elements`, `_sort`, `_include`, `_revinclude`, `_format`); `false` when `name` is not
    /// one.
    fn result_param(
        &mut self,
        resource_type: ResourceType,
        name: &str,
        value: &str,
        paging: Paging,
    ) -> Result<bool, GatewayError> {
        let bad =
            |what: &str| GatewayError::BadRequest(format!("{what} in search parameter `{name}`"));
        match name {
            "_count" => {
                let count: usize = value.parse().map_err(|_| bad("a non-numeric value"))?;
                // `_count=0` asks for the total only.
                self.summary_count |= count == 0;
                self.count = count.min(paging.max_count);
            }
            "_offset" => {
                self.offset = value.parse().map_err(|_| bad("a non-numeric value"))?;
            }
            "_summary" if value == "count" => self.summary_count = true,
            "_summary" => {
                let view = match value {
                    "true" => View::Summary,
                    "data" => View::Data,
                    "false" => View::Full,
                    _ => return Err(bad("an unsupported value (true, false, data or count)")),
                };
                if self.view != View::Full {
                    return Err(bad(
                        "a second view (`_summary` once, and not with `_elements`)",
                    ));
                }
                self.view = view;
            }
            "_elements" => {
                let mut names = match std::mem::take(&mut self.view) {
                    View::Full => Vec::new(),
                    View::Elements(names) => names,
                    View::Summary | View::Data => {
                        return Err(bad("a second view (not with `_summary`)"));
                    }
                };
                names.extend(View::elements(resource_type, value));
                self.view = View::Elements(names);
            }
            "_sort" if self.sort.is_empty() => self.sort = sort::parse(resource_type, value)?,
            "_sort" => return Err(bad("a second sort (one `_sort`, keys comma-separated)")),
            "_format" if value.contains("json") => {}
            "_format" => return Err(bad("an unsupported format (only JSON)")),
            "_include" => {
                let def = crate::include::parse_include(resource_type, value)
                    .ok_or_else(|| bad("an unsupported include"))?;
                if !self.includes.contains(&def) {
                    self.includes.push(def);
                }
            }
            "_revinclude" => {
                if !crate::include::parse_revinclude(resource_type, value) {
                    return Err(bad("an unsupported revinclude (only Provenance:target)"));
                }
                self.revinclude_provenance = true;
            }
            _ if name.starts_with("_include:") || name.starts_with("_revinclude:") => {
                return Err(bad(
                    "an unsupported modifier (`:iterate` is not supported: includes reach one level)",
                ));
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// Limit the search to one patient when a single value names one.
    fn narrow_to(&mut self, value: &str) -> Result<(), GatewayError> {
        let mut patients = split(value).map(|v| patient_of(reference_id(v)).to_owned());
        if let Some(first) = patients.next()
            && patients.all(|p| p == first)
        {
            if self.patient.as_ref().is_some_and(|p| p != &first) {
                return Err(GatewayError::BadRequest(
                    "two different patients in one search".to_owned(),
                ));
            }
            self.patient = Some(first);
        }
        Ok(())
    }

    /// Whether a resource of this search's type matches every filter.
    pub fn matches(&self, resource: &ServedResource) -> bool {
        self.filters.iter().all(|(filter, wanted)| match filter {
            Filter::Id => wanted
                .iter()
                .any(|w| matches!(w, Wanted::Reference(id) if *id == resource.id)),
            Filter::LastUpdated => wanted.iter().any(|w| {
                date_matches(
                    w,
                    Range {
                        start: resource.last_updated,
                        // A created_at past i64 is served as i64::MAX (served.rs).
                        end: resource.last_updated.saturating_add(1),
                    },
                )
            }),
            Filter::Param(def) => wanted.iter().any(|w| resource.keys.matches(def.name, w)),
        })
    }
}

fn split(value: &str) -> impl Iterator<Item = &str> {
    value.split(',').map(str::trim).filter(|v| !v.is_empty())
}

/// `Patient/abc` or `abc` (or an absolute URL ending in either): the id.
fn reference_id(value: &str) -> &str {
    value.rsplit('/').next().unwrap_or(value)
}

fn parse_date(value: &str) -> Option<Wanted> {
    let (prefix, rest) = match value.get(..2) {
        Some("eq") => (Prefix::Eq, value.get(2..)?),
        Some("gt") => (Prefix::Gt, value.get(2..)?),
        Some("ge") => (Prefix::Ge, value.get(2..)?),
        Some("lt") => (Prefix::Lt, value.get(2..)?),
        Some("le") => (Prefix::Le, value.get(2..)?),
        Some(p) if p.chars().all(|c| c.is_ascii_alphabetic()) => return None,
        _ => (Prefix::Eq, value),
    };
    Some(Wanted::Date(prefix, date_range(rest)?))
}

fn parse_value(kind: ParamKind, value: &str) -> Option<Wanted> {
    match kind {
        ParamKind::Token => {
            let (system, code) = match value.split_once('|') {
                Some((system, code)) => (Some(system.to_owned()), code),
                None => (None, value),
            };
            Some(Wanted::Token {
                system,
                code: (!code.is_empty()).then(|| code.to_owned()),
            })
        }
        ParamKind::Date => parse_date(value),
        ParamKind::String => Some(Wanted::Text(value.to_lowercase())),
        ParamKind::Reference => Some(Wanted::Reference(reference_id(value).to_owned())),
    }
}

/// FHIR date search semantics over ranges.
fn date_matches(wanted: &Wanted, found: Range) -> bool {
    let Wanted::Date(prefix, asked) = wanted else {
        return false;
    };
    match prefix {
        Prefix::Eq => asked.start <= found.start && found.end <= asked.end,
        Prefix::Gt => found.end > asked.end,
        Prefix::Ge => found.end > asked.start,
        Prefix::Lt => found.start < asked.start,
        Prefix::Le => found.start < asked.end,
    }
}

/// `_since` of `$everything` and `$export`: the instant's start, in Unix seconds.
pub fn since_param(name: &str, value: &str) -> Result<i64, GatewayError> {
    date_range(value).map(|range| range.start).ok_or_else(|| {
        GatewayError::BadRequest(format!("an invalid instant in parameter `{name}`"))
    })
}

/// `_type` of `$everything` and `$export`: served types, comma-separated, each once.
pub fn types_param(name: &str, value: &str) -> Result<Vec<ResourceType>, GatewayError> {
    let mut types = Vec::new();
    for type_name in value.split(',') {
        let resource_type = crate::served::served_type(type_name.trim()).ok_or_else(|| {
            GatewayError::BadRequest(format!(
                "a type this server does not serve in parameter `{name}`"
            ))
        })?;
        if !types.contains(&resource_type) {
            types.push(resource_type);
        }
    }
    Ok(types)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use super::*;

    fn search(query: &[(&str, &str)]) -> Result<Search, GatewayError> {
        let query: Vec<(String, String)> = query
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Search::parse(
            ResourceType::Observation,
            &query,
            Paging {
                default_count: 50,
                max_count: 100,
            },
        )
    }

    fn observation(json: serde_json::Value) -> ServedResource {
        ServedResource::new(
            ResourceType::Observation,
            "aaa-bbb".to_owned(),
            date_range("2024-05-01T12:00:00Z").unwrap().start,
            &json,
        )
        .unwrap()
    }

    #[test]
    fn date_precision_and_prefixes_follow_the_fhir_rules() {
        let day = date_range("2024-05-01").unwrap();
        assert_eq!(day.end - day.start, 86_400);
        let month = date_range("2024-02").unwrap();
        assert_eq!(month.end - month.start, 29 * 86_400);
        assert_eq!(
            date_range("2024-05-01T10:00Z").unwrap(),
            date_range("2024-05-01T10:00:00Z").unwrap()
        );
        assert!(date_range("2024-13").is_none());
        let obs =
            observation(serde_json::json!({"effectiveDateTime": "2024-05-01T10:30:00+00:00"}));
        for (query, expected) in [
            ("2024-05-01", true),
            ("2024-05", true),
            ("2024-04", false),
            ("ge2024-05-01", true),
            ("gt2024-05-01", false),
            ("lt2024-05-01", false),
            ("le2024-05-01", true),
            ("lt2024-05-02", true),
            ("gt2024-04-30", true),
        ] {
            let s = search(&[("date", query)]).unwrap();
            assert_eq!(s.matches(&obs), expected, "date={query}");
        }
        assert!(search(&[("date", "ap2024")]).is_err());
        assert!(search(&[("date", "yesterday")]).is_err());
    }

    #[test]
    fn tokens_match_code_system_or_both_and_commas_are_alternatives() {
        let obs = observation(serde_json::json!({
            "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
            "status": "final"
        }));
        for (query, expected) in [
            ("8867-4", true),
            ("http://loinc.org|8867-4", true),
            ("http://snomed.info/sct|8867-4", false),
            ("http://loinc.org|", true),
            ("|8867-4", false),
            ("1234-5,8867-4", true),
        ] {
            assert_eq!(
                search(&[("code", query)]).unwrap().matches(&obs),
                expected,
                "{query}"
            );
        }
        assert!(search(&[("status", "final")]).unwrap().matches(&obs));
        assert!(
            !search(&[("status", "final"), ("code", "x")])
                .unwrap()
                .matches(&obs)
        );
    }

    #[test]
    fn unknown_parameters_modifiers_and_values_are_refused() {
        for query in [
            ("colour", "red"),
            ("code:text", "pulse"),
            ("_summary", "text"),
            ("_sort", "code"),
            ("_count", "many"),
            ("_include", "Observation:performer"),
            ("_include", "Observation:subject:Encounter"),
            ("_include", "*"),
            ("_include:iterate", "Observation:patient"),
            ("_revinclude", "Observation:patient"),
            ("_revinclude:iterate", "Provenance:target"),
            ("_format", "xml"),
            ("code", ""),
        ] {
            let error = search(&[query]).unwrap_err();
            assert!(matches!(error, GatewayError::BadRequest(_)), "{query:?}");
        }
        let s = search(&[("_count", "1000"), ("patient", "Patient/abc")]).unwrap();
        assert_eq!(s.count, 100);
        assert_eq!(s.patient.as_deref(), Some("abc"));
        assert!(search(&[("patient", "a"), ("subject", "b")]).is_err());
    }

    #[test]
    fn views_and_sorts_are_taken_once_and_never_together() {
        let s = search(&[
            ("_elements", "code"),
            ("_elements", "value[x]"),
            ("_sort", "-date"),
        ])
        .unwrap();
        assert_eq!(s.view, View::Elements(vec!["code".into(), "value".into()]));
        assert_eq!(s.sort.len(), 1);
        assert_eq!(search(&[("_summary", "true")]).unwrap().view, View::Summary);
        assert_eq!(search(&[("_summary", "false")]).unwrap().view, View::Full);
        for query in [
            &[("_summary", "true"), ("_elements", "code")][..],
            &[("_elements", "code"), ("_summary", "data")],
            &[("_summary", "true"), ("_summary", "data")],
            &[("_sort", "date"), ("_sort", "-date")],
        ] {
            assert!(
                matches!(search(query), Err(GatewayError::BadRequest(_))),
                "{query:?}"
            );
        }
    }

    /// Found by fuzzing (fuzz/fuzz_targets/fhir_search.rs): `_lastUpdated` overflowed on a
    /// resource whose event time is past i64 (served as i64::MAX).
    #[test]
    fn last_updated_at_the_end_of_time_matches_without_overflow() {
        let mut obs = observation(serde_json::json!({}));
        obs.last_updated = i64::MAX;
        assert!(search(&[("_lastUpdated", "gt2020")]).unwrap().matches(&obs));
        assert!(!search(&[("_lastUpdated", "lt2020")]).unwrap().matches(&obs));
    }
}
