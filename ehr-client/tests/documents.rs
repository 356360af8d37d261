//! Document encryption: both layouts round-trip, and every kind of tampering is caught.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use ehr_client::document::{
    DocumentError, FileKey, Layout, SEGMENT_SIZE, open, open_single, open_stream, seal_single,
    seal_stream, sha256_hex,
};

fn sample(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 % 251) as u8).collect()
}

fn seal(key: &FileKey, plain: &[u8]) -> Vec<u8> {
    let mut blob = Vec::new();
    seal_stream(key, plain, &mut blob).unwrap();
    blob
}

#[test]
fn the_single_layout_round_trips_and_refuses_tampering() {
    let key = FileKey::generate().unwrap();
    let plain = sample(5000);
    let blob = seal_single(&key, &plain).unwrap();
    assert_eq!(blob.len(), 12 + plain.len() + 16, "iv || ciphertext || tag");
    assert_eq!(
        open_single(&key, &blob).unwrap().as_slice(),
        plain.as_slice()
    );
    let mut tampered = blob.clone();
    tampered[20] ^= 1;
    assert!(matches!(
        open_single(&key, &tampered),
        Err(DocumentError::Decrypt)
    ));
    let other = FileKey::generate().unwrap();
    assert!(matches!(
        open_single(&other, &blob),
        Err(DocumentError::Decrypt)
    ));
    assert!(open_single(&key, &blob[..20]).is_err());
}

#[test]
fn the_stream_layout_round_trips_at_every_segment_boundary() {
    let key = FileKey::generate().unwrap();
    for len in [
        0,
        1,
        SEGMENT_SIZE - 1,
        SEGMENT_SIZE,
        SEGMENT_SIZE + 1,
        3 * SEGMENT_SIZE + 17,
    ] {
        let plain = sample(len);
        let mut blob = Vec::new();
        let sealed = seal_stream(&key, plain.as_slice(), &mut blob).unwrap();
        let segments = len.div_ceil(SEGMENT_SIZE).max(1);
        assert_eq!(blob.len(), 16 + len + 16 * segments, "length {len}");
        assert_eq!(sealed.layout, Layout::Stream);
        assert_eq!(sealed.plaintext_size, len as u64);
        assert_eq!(sealed.ciphertext_size, blob.len() as u64);
        assert_eq!(sealed.ciphertext_sha256, sha256_hex(&blob));
        assert_eq!(sealed.plaintext_sha256, sha256_hex(&plain));
        let mut back = Vec::new();
        assert_eq!(
            open(&key, Layout::Stream, blob.as_slice(), &mut back).unwrap(),
            len as u64
        );
        assert!(back == plain, "length {len} did not round-trip");
    }
}

#[test]
fn streams_that_were_truncated_reordered_extended_or_altered_do_not_open() {
    let key = FileKey::generate().unwrap();
    let plain = sample(3 * SEGMENT_SIZE + 100);
    let blob = seal(&key, &plain);
    let seg = SEGMENT_SIZE + 16;
    let fails = |bytes: &[u8]| open_stream(&key, bytes, &mut Vec::new()).is_err();

    // Dropping the last segment leaves a stream that ends on a non-final segment.
    assert!(
        fails(&blob[..16 + 3 * seg]),
        "truncated at a segment boundary"
    );
    assert!(
        fails(&blob[..blob.len() - 1]),
        "truncated inside the last segment"
    );
    // Swapping two segments breaks their counters.
    let mut swapped = blob[..16].to_vec();
    swapped.extend_from_slice(&blob[16 + seg..16 + 2 * seg]);
    swapped.extend_from_slice(&blob[16..16 + seg]);
    swapped.extend_from_slice(&blob[16 + 2 * seg..]);
    assert!(fails(&swapped), "reordered");
    // Anything after the final segment.
    let mut extended = blob.clone();
    extended.extend_from_slice(&[0u8; 40]);
    assert!(fails(&extended), "extended");
    // The header is authenticated with every segment.
    let mut header = blob.clone();
    header[15] = 1;
    assert!(fails(&header), "reserved header byte changed");
    let mut body = blob.clone();
    body[16 + seg + 5] ^= 0x80;
    assert!(fails(&body), "ciphertext bit flipped");
    let other = FileKey::generate().unwrap();
    assert!(
        open_stream(&other, blob.as_slice(), &mut Vec::new()).is_err(),
        "wrong key"
    );
    // A single-layout blob is not mistaken for a stream.
    let single = seal_single(&key, &plain[..100]).unwrap();
    assert!(matches!(
        open_stream(&key, single.as_slice(), &mut Vec::new()),
        Err(DocumentError::Layout(_))
    ));
}

#[test]
fn keys_are_hex_on_the_wire_and_redacted_in_debug() {
    let key = FileKey::generate().unwrap();
    let again = FileKey::from_hex(&key.to_hex()).unwrap();
    let blob = seal(&key, b"scan");
    let mut back = Vec::new();
    open_stream(&again, blob.as_slice(), &mut back).unwrap();
    assert_eq!(back, b"scan");
    assert!(!format!("{key:?}").contains(key.to_hex().as_str()));
    assert!(FileKey::from_hex("abcd").is_err());
    assert_eq!(Layout::parse(Layout::Stream.as_str()), Some(Layout::Stream));
    assert_eq!(Layout::parse(Layout::Single.as_str()), Some(Layout::Single));
}
