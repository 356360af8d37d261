//! A REQ filter run against the relay's SQLite store, as `conn.rs` runs it: the scoped query,
//! COUNT and negentropy fingerprints. The answer is checked against the same filter applied
//! in memory (`Filter::match_event`, `ReadScope::allows`, NIP-40 expiry) over the fixture's
//! events: a stored query must return exactly what live delivery would have sent.
//!
//! Input: a mode byte (which reader), then a filter's JSON.
#![no_main]

use std::collections::BTreeSet;

use ehr_relay::access::ReadScope;
use ehr_relay::store::row_visible;
use futures_util::StreamExt;
use libfuzzer_sys::fuzz_target;
use nostr::filter::MatchEventOptions;
use nostr::prelude::{EventId, Filter};
use nostr_ehr_fuzz::relay::{Fixture, fixture};

fuzz_target!(|data: &[u8]| {
    let [mode, rest @ ..] = data else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let Ok(filter) = Filter::from_json(text) else {
        return;
    };
    let f = fixture();
    let Some(scope) = f.scopes.get(usize::from(*mode) % f.scopes.len()) else {
        return;
    };
    let limit = filter.limit.map_or(500, |l| l.min(500));
    let Some(found) = query(f, &filter, scope, limit) else {
        return;
    };
    let count = f
        .runtime
        .block_on(f.store.count(&filter, scope, f.now))
        .ok();
    let fingerprints = f
        .runtime
        .block_on(f.store.fingerprints(&filter, scope, 500, f.now))
        .ok();
    // The relay refuses NIP-50 search before querying; nothing to compare.
    if filter.search.is_some() {
        return;
    }
    let expected = expected(f, &filter, scope);
    if limit >= f.stored.len() {
        assert_eq!(found, expected, "a stored query differs from live matching");
    }
    if let Some(count) = count {
        // COUNT counts what the reader may see by the SQL rule (gift wraps to others excluded).
        assert_eq!(
            count,
            expected.len() as u64,
            "COUNT differs from live matching"
        );
    }
    if let Some(fingerprints) = fingerprints {
        assert_eq!(fingerprints.len(), expected.len(), "NEG-OPEN items differ");
    }
});

/// The ids the relay would send for `filter`, or `None` when the query failed.
fn query(
    f: &Fixture,
    filter: &Filter,
    scope: &ReadScope,
    limit: usize,
) -> Option<BTreeSet<EventId>> {
    let statement = f.store.events_query(filter, scope, limit, f.now);
    f.runtime.block_on(async {
        let mut rows = f.store.stream_events(&statement).take(limit);
        let mut found = BTreeSet::new();
        while let Some(row) = rows.next().await {
            let row = match row {
                Ok(row) => row,
                Err(error) => {
                    report_once(&error.to_string());
                    return None;
                }
            };
            if row_visible(scope, &row) {
                let event = ehr_relay::store::parse_stored(&row.raw, 0).ok()?;
                found.insert(event.id);
            }
        }
        Some(found)
    })
}

/// What live matching allows: the filter (an empty list matching nothing, as the relay reads
/// NIP-01), the reader's scope, and not expired.
fn expected(f: &Fixture, filter: &Filter, scope: &ReadScope) -> BTreeSet<EventId> {
    let empty_list = filter.ids.as_ref().is_some_and(|v| v.is_empty())
        || filter.authors.as_ref().is_some_and(|v| v.is_empty())
        || filter.kinds.as_ref().is_some_and(|v| v.is_empty());
    if empty_list {
        return BTreeSet::new();
    }
    (f.stored.iter())
        .filter(|e| filter.match_event(e, MatchEventOptions::new()))
        .filter(|e| scope.allows(e) && !e.is_expired_at(f.now))
        .map(|e| e.id)
        .collect()
}

/// A query error is not a panic but is worth knowing: print each distinct one once.
fn report_once(message: &str) {
    use std::sync::Mutex;
    static SEEN: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());
    let mut seen = SEEN
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if seen.insert(message.to_owned()) {
        eprintln!("relay_query: query error: {message}");
    }
}
