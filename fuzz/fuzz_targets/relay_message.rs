//! What the relay does with a WebSocket text frame (relay/src/conn.rs): `ClientMessage::from_json`,
//! then for REQ, COUNT and NEG-OPEN the filter checks, live matching (`Filter::match_event`
//! against fixed events) and the SQL a filter becomes; for EVENT and AUTH the read rules, the
//! roster and guardianship bookkeeping and the author check; NEG-OPEN and NEG-MSG go through a
//! negentropy session.
#![no_main]

use ehr_relay::negentropy::NegSessions;
use libfuzzer_sys::fuzz_target;
use nostr::filter::MatchEventOptions;
use nostr::prelude::{ClientMessage, Event, Filter};
use nostr_ehr_fuzz::relay::{Fixture, fixture};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let f = fixture();
    let Ok(message) = ClientMessage::from_json(text) else {
        return;
    };
    match message {
        ClientMessage::Event(event) | ClientMessage::Auth(event) => event_checks(f, &event),
        ClientMessage::Req { filters, .. } => {
            for filter in filters.iter() {
                filter_checks(f, filter);
            }
        }
        ClientMessage::Count { filter, .. } => filter_checks(f, &filter),
        ClientMessage::NegOpen {
            filter,
            initial_message,
            ..
        } => {
            filter_checks(f, &filter);
            negentropy(f, &initial_message, None);
        }
        ClientMessage::NegMsg { message, .. } => negentropy(f, "", Some(&message)),
        ClientMessage::Close(_) | ClientMessage::NegClose { .. } => {}
    }
});

/// Live delivery's match, and the statement a stored query runs, for every reader.
fn filter_checks(f: &Fixture, filter: &Filter) {
    let options = MatchEventOptions::new();
    for event in f.stored.iter().chain(&f.unstored) {
        let _ = filter.match_event(event, options);
    }
    for scope in &f.scopes {
        let limit = filter.limit.map_or(500, |l| l.min(500));
        let _ = f.store.events_query(filter, scope, limit, f.now);
    }
}

/// What admission and bookkeeping read from an event, signed or not.
fn event_checks(f: &Fixture, event: &Event) {
    let _ = event.verify_id();
    let _ = event.is_expired_at(f.now);
    for scope in &f.scopes {
        let _ = scope.allows(event);
    }
    let _ = ehr_relay::signer_messages::is_signer_message(event);
    let _ = ehr_relay::access::p_tags(event).count();
    let mut access = f.access.clone();
    let _ = access.check_roster(event);
    let _ = access.check_author(event, f.now);
    access.apply(event);
    let _ = access.read_scope(&event.pubkey, f.now);
    let _ = access.roles(&event.pubkey, f.now);
}

/// A session over the stored events' fingerprints, opened with `initial` and, when given,
/// answering `next`.
fn negentropy(f: &Fixture, initial: &str, next: Option<&str>) {
    let items = (f.stored.iter())
        .map(|e| (e.created_at.as_secs(), e.id.to_bytes().to_vec()))
        .collect();
    let mut sessions = NegSessions::default();
    let _ = sessions.open("s", items, initial, 4);
    if let Some(next) = next {
        let _ = sessions.message("s", next);
    }
    let _ = sessions.message("other", initial);
}
