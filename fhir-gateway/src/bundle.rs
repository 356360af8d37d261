//! The searchset Bundle: a page of matches and what `_include` and `_revinclude` brought, with
//! `self` and `next` links, written as it is sent. Whole resources are copied in as the bytes
//! they are served as; a view (`_elements`, `_summary`: [`crate::subset`]) rewrites only the
//! matches it shows in part.

use std::borrow::Cow;
use std::sync::Arc;

use serde_json::value::RawValue;

use crate::error::GatewayError;
use crate::served::{ServedResource, patient_of};
use crate::subset::View;

/// A resource an answer lists: one the gateway serves, or one built for the answer from what it
/// serves (a Provenance, [`crate::provenance`]), never stored.
#[derive(Debug, Clone)]
pub enum Listed {
    /// A served resource.
    Served(Arc<ServedResource>),
    /// A resource built for this answer.
    Built {
        /// Its `resourceType`.
        resource_type: &'static str,
        /// Its id (its patient's id first, as every gateway id).
        id: String,
        /// Its JSON.
        json: Box<RawValue>,
    },
}

impl Listed {
    /// The patient whose record it is (or is about).
    pub fn patient(&self) -> &str {
        patient_of(self.id())
    }
}

/// What a Bundle entry needs of a resource.
pub trait Entry {
    /// Its `resourceType`.
    fn type_name(&self) -> &str;
    /// Its id.
    fn id(&self) -> &str;
    /// Its JSON (inflated, for a served resource).
    fn json(&self) -> Cow<'_, RawValue>;
}

impl Entry for Arc<ServedResource> {
    fn type_name(&self) -> &str {
        self.resource_type.as_str()
    }
    fn id(&self) -> &str {
        &self.id
    }
    fn json(&self) -> Cow<'_, RawValue> {
        Cow::Owned(ServedResource::json(self))
    }
}

impl Entry for Listed {
    fn type_name(&self) -> &str {
        match self {
            Self::Served(resource) => resource.type_name(),
            Self::Built { resource_type, .. } => resource_type,
        }
    }
    fn id(&self) -> &str {
        match self {
            Self::Served(resource) => &resource.id,
            Self::Built { id, .. } => id,
        }
    }
    fn json(&self) -> Cow<'_, RawValue> {
        match self {
            Self::Served(resource) => Cow::Owned(ServedResource::json(resource)),
            Self::Built { json, .. } => Cow::Borrowed(json),
        }
    }
}

fn link(base: &str, path: &str, params: &[(String, String)], offset: Option<usize>) -> String {
    let mut encoder = form_urlencoded::Serializer::new(String::new());
    for (name, value) in params {
        encoder.append_pair(name, value);
    }
    if let Some(offset) = offset {
        encoder.append_pair("_offset", &offset.to_string());
    }
    let query = encoder.finish();
    if query.is_empty() {
        format!("{base}/{path}")
    } else {
        format!("{base}/{path}?{query}")
    }
}

/// The links of a page: `self`, and `next` while there is more. Both are the query as the
/// server took it (`_sort`, `_elements`, ... included), with the page's `_offset`.
pub fn page_links(
    base: &str,
    path: &str,
    params: &[(String, String)],
    offset: usize,
    shown: usize,
    total: usize,
) -> Vec<(&'static str, String)> {
    let mut links = vec![("self", link(base, path, params, Some(offset)))];
    if shown > 0 && offset + shown < total {
        links.push(("next", link(base, path, params, Some(offset + shown))));
    }
    links
}

/// A searchset Bundle: the page's matches, then what `_include` and `_revinclude` brought.
/// Written as it is sent: the resources' own JSON is copied in, never parsed or serialised
/// again unless a view shows them in part ([`SearchSet::viewed`]).
#[derive(Debug, serde::Serialize)]
pub struct SearchSet<'a> {
    #[serde(rename = "resourceType")]
    resource_type: &'static str,
    #[serde(rename = "type")]
    bundle_type: &'static str,
    total: usize,
    link: Vec<BundleLink>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    entry: Vec<BundleEntry<'a>>,
}

#[derive(Debug, serde::Serialize)]
struct BundleLink {
    relation: &'static str,
    url: String,
}

#[derive(Debug, serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct BundleEntry<'a> {
    full_url: String,
    resource: Cow<'a, RawValue>,
    search: EntrySearch,
}

#[derive(Debug, serde::Serialize)]
struct EntrySearch {
    mode: &'static str,
}

/// The searchset Bundle of a page ([`SearchSet`]).
pub fn bundle<'a>(
    base: &str,
    total: usize,
    links: Vec<(&'static str, String)>,
    matches: &'a [Arc<ServedResource>],
    included: &'a [Arc<ServedResource>],
) -> SearchSet<'a> {
    searchset(base, total, links, matches, included)
}

/// The searchset Bundle of a page whose matches and included resources are of any kind: served
/// ones, or ones built for the answer ([`Listed`]). Paging counts the matches only (`total`).
pub fn searchset<'a, M: Entry, I: Entry>(
    base: &str,
    total: usize,
    links: Vec<(&'static str, String)>,
    matches: &'a [M],
    included: &'a [I],
) -> SearchSet<'a> {
    fn entry<'a>(base: &str, resource: &'a impl Entry, mode: &'static str) -> BundleEntry<'a> {
        BundleEntry {
            full_url: format!("{base}/{}/{}", resource.type_name(), resource.id()),
            resource: resource.json(),
            search: EntrySearch { mode },
        }
    }
    let entries = matches
        .iter()
        .map(|r| entry(base, r, "match"))
        .chain(included.iter().map(|r| entry(base, r, "include")))
        .collect();
    SearchSet {
        resource_type: "Bundle",
        bundle_type: "searchset",
        total,
        link: links
            .into_iter()
            .map(|(relation, url)| BundleLink { relation, url })
            .collect(),
        entry: entries,
    }
}

impl SearchSet<'_> {
    /// The matches as `view` shows them (`_elements`, `_summary`). What `_include` and
    /// `_revinclude` brought is left whole: the view names elements of the searched type.
    pub fn viewed(mut self, view: &View) -> Result<Self, GatewayError> {
        if *view == View::Full {
            return Ok(self);
        }
        self.entry = std::mem::take(&mut self.entry)
            .into_iter()
            .map(|mut entry| {
                if entry.search.mode == "match" {
                    entry.resource = view.show(entry.resource)?;
                }
                Ok(entry)
            })
            .collect::<Result<_, GatewayError>>()?;
        Ok(self)
    }
}
