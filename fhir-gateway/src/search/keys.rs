//! What a served resource is searched by: its values of every search parameter of its type,
//! taken once when the resource is built. Searches compare against these keys and never walk
//! the resource's JSON, so a served resource can be kept as the bytes it is sent as.

use serde_json::Value;

use super::{ParamKind, Range, Wanted, date_matches, date_range, params_of, reference_id};
use ehr_client::fhir::ResourceType;

/// One value of a search parameter, in the form it is compared in.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Key {
    /// A code, a Coding or an Identifier: its system and code (or value).
    Token {
        system: Option<Box<str>>,
        code: Option<Box<str>>,
    },
    /// A date, dateTime, instant or Period.
    Date(Range),
    /// One string within the element, lowercased.
    Text(Box<str>),
    /// The id a Reference points at.
    Reference(Box<str>),
}

/// Every search key of one resource, by parameter name; parameters without a value are left
/// out, and nothing keeps spare capacity (the gateway holds one per served resource).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SearchKeys(Box<[ParamKeys]>);

/// One search parameter's name and its values.
type ParamKeys = (&'static str, Box<[Key]>);

impl SearchKeys {
    /// The keys of `json`, a resource of `resource_type` as served.
    pub fn of(resource_type: ResourceType, json: &Value) -> Self {
        Self(
            params_of(resource_type)
                .iter()
                .filter_map(|def| {
                    let mut keys = Vec::new();
                    for found in values_at(json, def.paths) {
                        keys_of(def.kind, found, &mut keys);
                    }
                    (!keys.is_empty()).then(|| (def.name, keys.into_boxed_slice()))
                })
                .collect(),
        )
    }

    /// The ids the references of parameter `name` point at (`_include` follows them).
    pub fn references<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> {
        self.0
            .iter()
            .filter(move |(param, _)| *param == name)
            .flat_map(|(_, keys)| keys.iter())
            .filter_map(|key| match key {
                Key::Reference(id) => Some(&**id),
                _ => None,
            })
    }

    /// The instant `_sort` places the resource at by date parameter `name`: the start of its
    /// first date, or the last second of one with only an end; `None` without either.
    pub(super) fn sort_instant(&self, name: &str) -> Option<i64> {
        self.0
            .iter()
            .filter(|(param, _)| *param == name)
            .flat_map(|(_, keys)| keys.iter())
            .find_map(|key| match key {
                Key::Date(range) if range.start != i64::MIN => Some(range.start),
                Key::Date(range) if range.end != i64::MAX => Some(range.end.saturating_sub(1)),
                _ => None,
            })
    }

    /// Whether any key of parameter `name` matches `wanted`.
    pub(super) fn matches(&self, name: &str, wanted: &Wanted) -> bool {
        self.0
            .iter()
            .filter(|(param, _)| *param == name)
            .flat_map(|(_, keys)| keys.iter())
            .any(|key| key_matches(wanted, key))
    }
}

/// Every value at any of `paths`, arrays walked through.
fn values_at<'a>(json: &'a Value, paths: &[&str]) -> Vec<&'a Value> {
    let mut out = Vec::new();
    for path in paths {
        let mut current = vec![json];
        for step in path.split('.') {
            let mut next = Vec::new();
            for value in current {
                match value.get(step) {
                    Some(Value::Array(items)) => next.extend(items.iter()),
                    Some(found) => next.push(found),
                    None => {}
                }
            }
            current = next;
        }
        out.extend(current);
    }
    out
}

fn keys_of(kind: ParamKind, found: &Value, keys: &mut Vec<Key>) {
    let text = |v: &Value| v.as_str().map(Box::from);
    match kind {
        ParamKind::Token => match found {
            Value::String(code) => keys.push(Key::Token {
                system: None,
                code: Some(code.as_str().into()),
            }),
            Value::Object(map) => keys.push(Key::Token {
                system: map.get("system").and_then(text),
                code: map.get("code").or_else(|| map.get("value")).and_then(text),
            }),
            _ => {}
        },
        ParamKind::Date => {
            let range = match found {
                Value::String(text) => date_range(text),
                Value::Object(map) => {
                    let bound =
                        |name: &str| map.get(name).and_then(Value::as_str).and_then(date_range);
                    Some(Range {
                        start: bound("start").map_or(i64::MIN, |r| r.start),
                        end: bound("end").map_or(i64::MAX, |r| r.end),
                    })
                }
                _ => None,
            };
            keys.extend(range.map(Key::Date));
        }
        ParamKind::String => {
            let mut texts = Vec::new();
            collect_strings(found, &mut texts);
            keys.extend(
                texts
                    .into_iter()
                    .map(|t| Key::Text(t.to_lowercase().into())),
            );
        }
        ParamKind::Reference => {
            if let Some(reference) = found.get("reference").and_then(Value::as_str) {
                keys.push(Key::Reference(reference_id(reference).into()));
            }
        }
    }
}

fn collect_strings<'a>(value: &'a Value, out: &mut Vec<&'a str>) {
    match value {
        Value::String(s) => out.push(s),
        Value::Array(items) => items.iter().for_each(|i| collect_strings(i, out)),
        Value::Object(map) => map.values().for_each(|v| collect_strings(v, out)),
        _ => {}
    }
}

fn key_matches(wanted: &Wanted, key: &Key) -> bool {
    match (wanted, key) {
        (
            Wanted::Token { system, code },
            Key::Token {
                system: found_system,
                code: found_code,
            },
        ) => {
            let system_ok = match system.as_deref() {
                None => true,
                Some("") => found_system.is_none(),
                Some(s) => found_system.as_deref() == Some(s),
            };
            system_ok
                && code
                    .as_deref()
                    .is_none_or(|c| found_code.as_deref() == Some(c))
        }
        (Wanted::Date(..), Key::Date(range)) => date_matches(wanted, *range),
        (Wanted::Text(prefix), Key::Text(text)) => text.starts_with(prefix.as_str()),
        (Wanted::Reference(id), Key::Reference(found)) => **found == **id,
        _ => false,
    }
}
