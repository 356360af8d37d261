//! `_sort`: the order of a search's matches by date, applied to all of them before paging so
//! every page of one search is a slice of one order (and `next` links carry `_sort`).
//!
//! Each key is a date parameter of the type (`date`, `birthdate`, `onset-date`, `authoredon`,
//! ...) or `_lastUpdated`, with `-` for newest first; keys are comma-separated and compared in
//! turn. A resource is placed by the start of the parameter's first date (the element listed
//! first in the parameter's paths, e.g. a ServiceRequest's `occurrenceDateTime` before its
//! `authoredOn`; a Period by its start, or its end when it has no start). Resources without that
//! date come last in either direction. Ties keep the default order (newest `lastUpdated` first,
//! then id): the sort is stable.

use std::cmp::Ordering;
use std::sync::Arc;

use ehr_client::fhir::ResourceType;

use super::{ParamKind, params_of};
use crate::error::GatewayError;
use crate::served::ServedResource;

/// One key of `_sort`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SortKey {
    /// The date parameter, or `None` for `_lastUpdated`.
    param: Option<&'static str>,
    /// `-name`: newest first.
    descending: bool,
}

impl SortKey {
    /// The instant `resource` is placed by, if it has one.
    fn instant(&self, resource: &ServedResource) -> Option<i64> {
        match self.param {
            Some(name) => resource.keys.sort_instant(name),
            None => Some(resource.last_updated),
        }
    }
}

/// Parse a `_sort` value for a search of `resource_type`.
pub fn parse(resource_type: ResourceType, value: &str) -> Result<Vec<SortKey>, GatewayError> {
    value
        .split(',')
        .map(str::trim)
        .map(|item| {
            let (descending, name) = match item.strip_prefix('-') {
                Some(name) => (true, name),
                None => (false, item),
            };
            let param = if name == "_lastUpdated" {
                None
            } else {
                let def = params_of(resource_type)
                    .iter()
                    .find(|d| d.name == name && d.kind == ParamKind::Date)
                    .ok_or_else(|| {
                        GatewayError::BadRequest(
                            "an unsupported sort in search parameter `_sort` (the type's date parameters and _lastUpdated, each optionally with -)"
                                .to_owned(),
                        )
                    })?;
                Some(def.name)
            };
            Ok(SortKey { param, descending })
        })
        .collect()
}

/// Order `matches` by `keys` (nothing to do without keys).
pub fn sort(keys: &[SortKey], matches: &mut [&Arc<ServedResource>]) {
    if keys.is_empty() {
        return;
    }
    let mut keyed: Vec<(Vec<Option<i64>>, &Arc<ServedResource>)> = matches
        .iter()
        .map(|resource| {
            (
                keys.iter().map(|k| k.instant(resource)).collect(),
                *resource,
            )
        })
        .collect();
    // `sort_by` is stable: ties keep the order the matches came in.
    keyed.sort_by(|(a, _), (b, _)| compare(keys, a, b));
    for (slot, (_, resource)) in matches.iter_mut().zip(keyed) {
        *slot = resource;
    }
}

fn compare(keys: &[SortKey], a: &[Option<i64>], b: &[Option<i64>]) -> Ordering {
    keys.iter()
        .zip(a.iter().zip(b))
        .map(|(key, pair)| match pair {
            (Some(x), Some(y)) if key.descending => y.cmp(x),
            (Some(x), Some(y)) => x.cmp(y),
            // Undated last, whichever the direction.
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => Ordering::Equal,
        })
        .find(|order| order.is_ne())
        .unwrap_or(Ordering::Equal)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use super::*;
    use serde_json::json;

    fn observation(id: &str, last_updated: i64, json: serde_json::Value) -> Arc<ServedResource> {
        Arc::new(
            ServedResource::new(
                ResourceType::Observation,
                id.to_owned(),
                last_updated,
                &json,
            )
            .unwrap(),
        )
    }

    fn order(value: &str, resources: &[Arc<ServedResource>]) -> Vec<String> {
        let keys = parse(ResourceType::Observation, value).unwrap();
        let mut matches: Vec<&Arc<ServedResource>> = resources.iter().collect();
        sort(&keys, &mut matches);
        matches.iter().map(|r| r.id.clone()).collect()
    }

    #[test]
    fn dates_sort_both_ways_with_the_undated_last_and_ties_kept_in_order() {
        let resources = [
            observation("undated", 50, json!({})),
            observation("may", 10, json!({"effectiveDateTime": "2024-05-01"})),
            observation(
                "period",
                20,
                json!({"effectivePeriod": {"start": "2023-01-01"}}),
            ),
            observation(
                "june-a",
                30,
                json!({"effectiveDateTime": "2024-06-01T10:00:00Z"}),
            ),
            observation(
                "june-b",
                40,
                json!({"effectiveDateTime": "2024-06-01T10:00:00Z"}),
            ),
        ];
        assert_eq!(
            order("date", &resources),
            ["period", "may", "june-a", "june-b", "undated"]
        );
        assert_eq!(
            order("-date", &resources),
            ["june-a", "june-b", "may", "period", "undated"]
        );
        assert_eq!(
            order("-_lastUpdated", &resources),
            ["undated", "june-b", "june-a", "period", "may"]
        );
        assert_eq!(
            order("date,-_lastUpdated", &resources),
            ["period", "may", "june-b", "june-a", "undated"]
        );
    }

    #[test]
    fn only_date_parameters_of_the_type_sort() {
        assert!(parse(ResourceType::Observation, "code").is_err());
        assert!(parse(ResourceType::Observation, "birthdate").is_err());
        assert!(parse(ResourceType::Observation, "date,").is_err());
        assert!(parse(ResourceType::Observation, "+date").is_err());
        assert!(parse(ResourceType::Patient, "-birthdate").is_ok());
        assert!(parse(ResourceType::Condition, "onset-date,-recorded-date").is_ok());
        assert!(parse(ResourceType::Condition, "date").is_err());
    }
}
