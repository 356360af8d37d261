//! What the fuzz targets share: fixed keys, and events signed from fuzzer-chosen parts.
//!
//! Random bytes almost never carry a valid signature, so a target that only parsed raw input
//! would stop at `verify()`. Each target therefore also has a mode where the fuzzer chooses the
//! parts of an event (kind, time, tags, content) and the harness signs them with a fixed key:
//! the checks after the signature get fuzzed too.

use nostr::prelude::{Event, EventBuilder, FinalizeEvent, Keys, Kind, SecretKey, Tag, Timestamp};

/// A fixed key: secret `[n; 32]` (`n` from 1 to 255).
pub fn keys(n: u8) -> Keys {
    let secret = SecretKey::from_slice(&[n; 32]).expect("a fixed valid secret key");
    Keys::new(secret)
}

/// An input as the targets read it: a mode byte, a pick byte, and the rest as text.
#[derive(Debug, Clone, Copy)]
pub struct Input<'a> {
    /// Which path of the target to take.
    pub mode: u8,
    /// A small choice within it (a kind, a time offset).
    pub pick: u8,
    /// The rest, UTF-8.
    pub text: &'a str,
}

impl<'a> Input<'a> {
    /// `None` when the input is shorter than two bytes or the rest is not UTF-8.
    pub fn of(data: &'a [u8]) -> Option<Self> {
        let [mode, pick, rest @ ..] = data else {
            return None;
        };
        Some(Self {
            mode: *mode,
            pick: *pick,
            text: std::str::from_utf8(rest).ok()?,
        })
    }
}

/// The first line of `text` as tags (a JSON array of arrays of strings; `None` when it is not
/// one), and the rest of the text. A value `now+N` or `now-N` becomes that Unix time, so seeds
/// with an `expiration` do not go stale.
pub fn tags_and_rest(text: &str) -> (Option<Vec<Tag>>, &str) {
    let (first, rest) = text.split_once('\n').unwrap_or((text, ""));
    let tags = serde_json::from_str::<Vec<Vec<String>>>(first)
        .ok()
        .map(|tags| {
            (tags.into_iter())
                .filter_map(|t| Tag::parse(t.into_iter().map(relative_time)).ok())
                .collect()
        });
    (tags, rest)
}

fn relative_time(value: String) -> String {
    let now = Timestamp::now().as_secs();
    let moved = match value.strip_prefix("now+").map(str::parse::<u64>) {
        Some(Ok(later)) => now.checked_add(later),
        _ => match value.strip_prefix("now-").map(str::parse::<u64>) {
            Some(Ok(earlier)) => now.checked_sub(earlier),
            _ => None,
        },
    };
    moved.map_or(value, |at| at.to_string())
}

/// `now` moved by `pick` (as a signed byte) times 2 s: within and beyond the 60 s windows.
pub fn near(now: Timestamp, pick: u8) -> Timestamp {
    let offset = i64::from(pick as i8) * 2;
    Timestamp::from_secs(now.as_secs().saturating_add_signed(offset))
}

/// An event of `kind` signed by `keys`; `None` when the builder refuses the parts.
pub fn sign(
    keys: &Keys,
    kind: u16,
    created_at: Timestamp,
    tags: Vec<Tag>,
    content: &str,
) -> Option<Event> {
    EventBuilder::new(Kind::from(kind), content)
        .tags(tags)
        .custom_created_at(created_at)
        .finalize(keys)
        .ok()
}

pub mod relay;
