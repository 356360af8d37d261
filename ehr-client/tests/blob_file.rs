//! The blob file pipeline both Blossom ends use: what is written is exactly what was given, its
//! hash is right, nothing is left behind on failure, and ranges read back exactly.
#![cfg(feature = "blob-file")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use ehr_client::blob_file::{FileSource, HashingWriter};
use futures_util::StreamExt;
use sha2::{Digest, Sha256};

/// Bytes that differ at every position, so a misplaced block shows.
fn pattern(len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u64).wrapping_mul(2_654_435_761).to_le_bytes()[1])
        .collect()
}

async fn write_in_pieces(path: &std::path::Path, data: &[u8], piece: usize) -> (String, u64) {
    let mut writer = HashingWriter::create(path).await.unwrap();
    for part in data.chunks(piece.max(1)) {
        writer.write(part).await.unwrap();
    }
    assert_eq!(writer.size(), data.len() as u64);
    writer.finish().await.unwrap()
}

async fn read_range(source: FileSource, offset: u64, length: u64) -> Vec<u8> {
    let mut out = Vec::new();
    let mut chunks = std::pin::pin!(source.chunks(offset, length));
    while let Some(chunk) = chunks.next().await {
        out.extend_from_slice(&chunk.unwrap());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn written_files_are_exact_at_every_size_around_the_block_and_buffer_edges() {
    let dir = tempfile::tempdir().unwrap();
    let sizes = [
        0usize,
        1,
        4095,
        4096,
        4097,
        (2 << 20) - 1,
        2 << 20,
        (2 << 20) + 1,
        (9 << 20) + 123,
    ];
    for (n, size) in sizes.into_iter().enumerate() {
        let data = pattern(size);
        let path = dir.path().join(format!("blob-{n}"));
        // Odd piece sizes, as the network hands them over.
        let (sha, written) = write_in_pieces(&path, &data, 65_537).await;
        assert_eq!(written, size as u64);
        assert_eq!(sha, hex::encode(Sha256::digest(&data)), "size {size}");
        assert_eq!(std::fs::read(&path).unwrap(), data, "size {size}");
        // Both readers give the whole file back.
        let cached = read_range(FileSource::open(&path).unwrap(), 0, size as u64).await;
        assert_eq!(cached, data, "cached read of size {size}");
        let direct = read_range(FileSource::open_direct(&path).unwrap(), 0, size as u64).await;
        assert_eq!(direct, data, "direct read of size {size}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ranges_read_exactly_the_bytes_asked_for_even_off_the_block_grid() {
    let dir = tempfile::tempdir().unwrap();
    let data = pattern((5 << 20) + 777);
    let path = dir.path().join("blob");
    write_in_pieces(&path, &data, 1 << 20).await;
    let len = data.len() as u64;
    for (offset, length) in [
        (0, 1),
        (1, 4095),
        (4095, 2),
        (4096, 4096),
        (12_345, (2 << 20) + 5),
        ((2 << 20) - 1, 3),
        (len - 1, 1),
        (len - 5000, 5000),
        (3, len - 3),
    ] {
        let want = &data[offset as usize..(offset + length) as usize];
        let direct = read_range(FileSource::open_direct(&path).unwrap(), offset, length).await;
        assert_eq!(direct, want, "direct {offset}+{length}");
        let cached = read_range(FileSource::open(&path).unwrap(), offset, length).await;
        assert_eq!(cached, want, "cached {offset}+{length}");
    }
    // Asking past the end gives what there is, and no more.
    let tail = read_range(FileSource::open_direct(&path).unwrap(), len - 10, 1000).await;
    assert_eq!(tail, &data[data.len() - 10..]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_abandoned_or_dropped_writer_leaves_no_file_and_an_existing_file_is_never_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    let abandoned = dir.path().join("abandoned");
    let mut writer = HashingWriter::create(&abandoned).await.unwrap();
    writer.write(&pattern(5 << 20)).await.unwrap();
    writer.abandon().await;
    assert!(!abandoned.exists());

    // A cancelled request drops its writer mid-way.
    let dropped = dir.path().join("dropped");
    let mut writer = HashingWriter::create(&dropped).await.unwrap();
    writer.write(&pattern(3 << 20)).await.unwrap();
    drop(writer);
    assert!(!dropped.exists());

    let existing = dir.path().join("existing");
    std::fs::write(&existing, b"keep me").unwrap();
    let error = HashingWriter::create(&existing).await.unwrap_err();
    assert_eq!(error.kind(), std::io::ErrorKind::AlreadyExists);
    assert_eq!(std::fs::read(&existing).unwrap(), b"keep me");
}
