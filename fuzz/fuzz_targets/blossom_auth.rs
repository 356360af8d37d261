//! The Blossom server's BUD-11 token check (`ehr_blossom_server::auth::token`, kind 24242): of
//! an `Authorization` header as sent, and of a token the fuzzer writes and the harness signs,
//! so the checks after the signature (times, `t`, `server`, `x`) are fuzzed too.
//!
//! Input: a mode byte (the verb; odd: signed), a pick byte (the time offset), then text.
//! - even mode: the text is the whole `Authorization` value;
//! - odd mode: the text's first line is the token's tags (JSON), the rest a blob hash to cover.
#![no_main]

use ehr_blossom_server::auth::{Rules, Verb, token};
use http::{HeaderMap, HeaderValue, header::AUTHORIZATION};
use libfuzzer_sys::fuzz_target;
use nostr::prelude::Timestamp;
use nostr_ehr_fuzz::{Input, keys, near, sign, tags_and_rest};

fuzz_target!(|data: &[u8]| {
    let Some(input) = Input::of(data) else {
        return;
    };
    let rules = Rules {
        host: "blossom.example".to_owned(),
        skew: 60,
        max_lifetime: 3_600,
    };
    let verbs = [Verb::Get, Verb::Upload, Verb::List, Verb::Delete];
    let verb = verbs[usize::from(input.mode >> 1) % verbs.len()];
    let (value, blob) = if input.mode % 2 == 0 {
        (input.text.to_owned(), "")
    } else {
        let (Some(tags), blob) = tags_and_rest(input.text) else {
            return;
        };
        let kind = if input.pick % 16 == 0 { 27_235 } else { 24_242 };
        // `token` reads the clock itself: sign around it.
        let Some(event) = sign(&keys(3), kind, near(Timestamp::now(), input.pick), tags, "") else {
            return;
        };
        (ehr_client::http_auth::header(&event), blob)
    };
    // Header values the HTTP stack would refuse never reach the check.
    let Ok(value) = HeaderValue::from_str(&value) else {
        return;
    };
    let mut headers = HeaderMap::new();
    headers.insert(AUTHORIZATION, value);
    if let Ok(Some(token)) = token(&headers, verb, &rules) {
        let _ = token.covers(blob, true);
        let _ = token.covers(blob, false);
    }
});
