//! The NIP-98 check every service makes (`ehr_client::http_auth::verify`): of a header as sent,
//! and of an event the fuzzer writes and the harness signs, so the checks after the signature
//! (window, `u`, `method`, `payload`) are fuzzed too.
//!
//! Input: a mode byte, a pick byte (the time offset and kind), then text.
//! - even mode: the text is the whole `Authorization` value, and also its base64 payload;
//! - odd mode: the text's first line is the event's tags (JSON), the rest the request body.
#![no_main]

use ehr_client::http_auth::{header, replay_expiry, verify};
use libfuzzer_sys::fuzz_target;
use nostr::prelude::Timestamp;
use nostr_ehr_fuzz::{Input, keys, near, sign, tags_and_rest};

const URLS: [&str; 2] = ["https://relay.example/", "https://relay.example"];

fuzz_target!(|data: &[u8]| {
    let Some(input) = Input::of(data) else {
        return;
    };
    let now = Timestamp::from_secs(1_700_000_000);
    let methods = ["POST", "GET", "post", ""];
    let method = methods[usize::from(input.mode >> 1) % methods.len()];
    if input.mode % 2 == 0 {
        let _ = verify(Some(input.text), &URLS, method, b"", now);
        let as_base64 = format!("Nostr {}", input.text);
        let _ = verify(Some(&as_base64), &URLS, method, input.text.as_bytes(), now);
        return;
    }
    let (Some(tags), body) = tags_and_rest(input.text) else {
        return;
    };
    // Mostly kind 27235; sometimes another, which must be refused.
    let kind = if input.pick % 16 == 0 { 24_242 } else { 27_235 };
    let Some(event) = sign(&keys(2), kind, near(now, input.pick), tags, "") else {
        return;
    };
    let value = header(&event);
    if let Ok(verified) = verify(Some(&value), &URLS, method, body.as_bytes(), now) {
        assert_eq!(verified.id, event.id);
        assert_eq!(verified.kind.as_u16(), 27_235);
        assert!(verified.created_at.as_secs().abs_diff(now.as_secs()) <= 60);
        let _ = replay_expiry(&verified);
    }
});
