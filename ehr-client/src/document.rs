//! Document encryption (DESIGN.md §4): files are encrypted in the client before they reach the
//! Blossom server, which stores only ciphertext addressed by its sha256.
//!
//! Two layouts, both AES-256-GCM under a fresh random 32-byte key per file:
//!
//! - [`Layout::Single`]: `iv(12) || ciphertext || tag(16)`, the Nostr EHR layout, kept for
//!   migration and used for files of at most one segment.
//! - [`Layout::Stream`], named `ehr-aes256gcm-stream-v1`: the STREAM construction (big-endian
//!   32-bit segment counter and a last-segment flag in the nonce) from the `aead` crate, so
//!   memory stays bounded for files of any size, segments cannot be reordered, dropped or
//!   truncated unnoticed. A 16-byte header — `"EHRS"`, version `1`, `log2(segment size)`,
//!   7-byte nonce prefix, 3 zero bytes — is the associated data of every segment. Then each
//!   segment: up to 1 MiB of plaintext encrypted, plus its 16-byte tag; the last segment (possibly
//!   empty) is sealed with the last-segment flag.
//!
//! No I/O happens here beyond the caller's `Read` and `Write`.

use std::io::{self, Read, Write};

use aes_gcm::aead::stream::{DecryptorBE32, EncryptorBE32};
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

/// Plaintext bytes per segment of the stream layout (1 MiB).
pub const SEGMENT_SIZE: usize = 1 << SEGMENT_LOG2;
const SEGMENT_LOG2: u8 = 20;
const TAG: usize = 16;
const IV: usize = 12;
const MAGIC: &[u8; 4] = b"EHRS";
const VERSION: u8 = 1;
const HEADER: usize = 16;
const NONCE_PREFIX: usize = 7;

/// Why a document could not be encrypted or decrypted. No message carries content.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DocumentError {
    /// The key is not 32 bytes.
    #[error("a document key is 32 bytes")]
    BadKey,
    /// Wrong key, or the ciphertext was altered, reordered or truncated.
    #[error("the document does not decrypt with this key (altered, truncated or wrong key)")]
    Decrypt,
    /// The blob is not in the layout named.
    #[error("the document is not in the {0} layout")]
    Layout(&'static str),
    /// The system random source failed.
    #[error("no randomness available")]
    Random,
    /// Reading the plaintext or writing the ciphertext (or the reverse) failed.
    #[error("i/o: {0}")]
    Io(#[from] io::Error),
}

/// How a file is encrypted; recorded (encrypted) in its DocumentReference.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// `iv || ciphertext || tag`, one GCM message.
    Single,
    /// `ehr-aes256gcm-stream-v1`.
    Stream,
}

impl Layout {
    /// The name stored in the DocumentReference.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Single => "aes-256-gcm",
            Self::Stream => "ehr-aes256gcm-stream-v1",
        }
    }

    /// Parse a stored layout name.
    pub fn parse(name: &str) -> Option<Self> {
        [Self::Single, Self::Stream]
            .into_iter()
            .find(|l| l.as_str() == name)
    }
}

/// A file's key. Zeroized on drop; shown only as hex for the encrypted DocumentReference.
pub struct FileKey(Zeroizing<[u8; 32]>);

impl std::fmt::Debug for FileKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FileKey([redacted])")
    }
}

impl FileKey {
    /// A fresh random key.
    pub fn generate() -> Result<Self, DocumentError> {
        let mut key = Zeroizing::new([0u8; 32]);
        getrandom::fill(key.as_mut_slice()).map_err(|_| DocumentError::Random)?;
        Ok(Self(key))
    }

    /// A key from its 32 bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, DocumentError> {
        let array: [u8; 32] = bytes.try_into().map_err(|_| DocumentError::BadKey)?;
        Ok(Self(Zeroizing::new(array)))
    }

    /// A key from hex.
    pub fn from_hex(text: &str) -> Result<Self, DocumentError> {
        let bytes = Zeroizing::new(hex::decode(text).map_err(|_| DocumentError::BadKey)?);
        Self::from_bytes(&bytes)
    }

    /// The key as hex, for the (encrypted) DocumentReference only.
    pub fn to_hex(&self) -> Zeroizing<String> {
        Zeroizing::new(hex::encode(self.0.as_slice()))
    }

    fn cipher(&self) -> Aes256Gcm {
        Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(self.0.as_slice()))
    }
}

/// What encrypting a file produced, besides the ciphertext.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealed {
    /// The layout used.
    pub layout: Layout,
    /// Plaintext size in bytes.
    pub plaintext_size: u64,
    /// sha256 of the plaintext, hex.
    pub plaintext_sha256: String,
    /// Ciphertext size in bytes (what the Blossom server stores).
    pub ciphertext_size: u64,
    /// sha256 of the ciphertext, hex: the Blossom address.
    pub ciphertext_sha256: String,
}

/// Encrypt one in-memory file in the single-message layout.
pub fn seal_single(key: &FileKey, plaintext: &[u8]) -> Result<Vec<u8>, DocumentError> {
    let mut iv = [0u8; IV];
    getrandom::fill(&mut iv).map_err(|_| DocumentError::Random)?;
    let ciphertext = key
        .cipher()
        .encrypt(Nonce::from_slice(&iv), plaintext)
        .map_err(|_| DocumentError::Decrypt)?;
    let mut blob = Vec::with_capacity(IV + ciphertext.len());
    blob.extend_from_slice(&iv);
    blob.extend_from_slice(&ciphertext);
    Ok(blob)
}

/// [`seal_single`], with what the sealing produced (sizes and hashes) for the DocumentReference.
pub fn seal_single_described(
    key: &FileKey,
    plaintext: &[u8],
) -> Result<(Vec<u8>, Sealed), DocumentError> {
    let blob = seal_single(key, plaintext)?;
    let sealed = Sealed {
        layout: Layout::Single,
        plaintext_size: plaintext.len() as u64,
        plaintext_sha256: sha256_hex(plaintext),
        ciphertext_size: blob.len() as u64,
        ciphertext_sha256: sha256_hex(&blob),
    };
    Ok((blob, sealed))
}

/// Decrypt a single-message blob (`iv || ciphertext || tag`).
pub fn open_single(key: &FileKey, blob: &[u8]) -> Result<Zeroizing<Vec<u8>>, DocumentError> {
    if blob.len() < IV + TAG {
        return Err(DocumentError::Layout(Layout::Single.as_str()));
    }
    let (iv, ciphertext) = blob.split_at(IV);
    key.cipher()
        .decrypt(Nonce::from_slice(iv), ciphertext)
        .map(Zeroizing::new)
        .map_err(|_| DocumentError::Decrypt)
}

/// Read until `buf` is full or the input ends; the number of bytes read.
fn read_full(reader: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(buf.get_mut(filled..).unwrap_or_default()) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Reads fixed-size chunks and knows whether a chunk is the last one (one byte of look-ahead).
struct Chunks<R> {
    reader: R,
    carry: Option<u8>,
}

impl<R: Read> Chunks<R> {
    /// Fill `buf` with the next chunk; returns its length and whether it is the last.
    fn next(&mut self, buf: &mut [u8]) -> io::Result<(usize, bool)> {
        let mut filled = 0;
        if let (Some(byte), Some(first)) = (self.carry.take(), buf.first_mut()) {
            *first = byte;
            filled = 1;
        }
        filled += read_full(&mut self.reader, buf.get_mut(filled..).unwrap_or_default())?;
        if filled < buf.len() {
            return Ok((filled, true));
        }
        let mut peek = [0u8; 1];
        if read_full(&mut self.reader, &mut peek)? == 0 {
            return Ok((filled, true));
        }
        self.carry = Some(peek[0]);
        Ok((filled, false))
    }
}

/// Hashes what passes through to the inner writer and counts it.
struct Tee<W> {
    inner: W,
    hash: Sha256,
    size: u64,
}

impl<W: Write> Tee<W> {
    fn put(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.hash.update(bytes);
        self.size += bytes.len() as u64;
        self.inner.write_all(bytes)
    }
}

fn stream_header(prefix: &[u8; NONCE_PREFIX]) -> [u8; HEADER] {
    let mut header = [0u8; HEADER];
    let (head, rest) = header.split_at_mut(6);
    head.copy_from_slice(&[
        MAGIC[0],
        MAGIC[1],
        MAGIC[2],
        MAGIC[3],
        VERSION,
        SEGMENT_LOG2,
    ]);
    if let Some(slot) = rest.get_mut(..NONCE_PREFIX) {
        slot.copy_from_slice(prefix);
    }
    header
}

/// Encrypt `plaintext` to `out` in the stream layout, with bounded memory (two segments).
pub fn seal_stream(
    key: &FileKey,
    plaintext: impl Read,
    out: impl Write,
) -> Result<Sealed, DocumentError> {
    let mut prefix = [0u8; NONCE_PREFIX];
    getrandom::fill(&mut prefix).map_err(|_| DocumentError::Random)?;
    let header = stream_header(&prefix);
    let mut sink = Tee {
        inner: out,
        hash: Sha256::new(),
        size: 0,
    };
    sink.put(&header)?;
    let mut encryptor = EncryptorBE32::from_aead(key.cipher(), (&prefix).into());
    let mut chunks = Chunks {
        reader: plaintext,
        carry: None,
    };
    let mut buf = Zeroizing::new(vec![0u8; SEGMENT_SIZE]);
    let (mut plain_hash, mut plain_size) = (Sha256::new(), 0u64);
    loop {
        let (n, last) = chunks.next(&mut buf)?;
        let segment = buf.get(..n).unwrap_or_default();
        plain_hash.update(segment);
        plain_size += n as u64;
        let payload = Payload {
            msg: segment,
            aad: &header,
        };
        if last {
            let sealed = encryptor
                .encrypt_last(payload)
                .map_err(|_| DocumentError::Decrypt)?;
            sink.put(&sealed)?;
            break;
        }
        let sealed = encryptor
            .encrypt_next(payload)
            .map_err(|_| DocumentError::Decrypt)?;
        sink.put(&sealed)?;
    }
    sink.inner.flush()?;
    Ok(Sealed {
        layout: Layout::Stream,
        plaintext_size: plain_size,
        plaintext_sha256: hex::encode(plain_hash.finalize()),
        ciphertext_size: sink.size,
        ciphertext_sha256: hex::encode(sink.hash.finalize()),
    })
}

/// Decrypt a stream-layout blob from `blob` to `out`; returns the plaintext size. Nothing is
/// written for a segment that fails to authenticate, but segments before it were: callers write
/// to a temporary file and keep it only on success.
pub fn open_stream(
    key: &FileKey,
    mut blob: impl Read,
    out: impl Write,
) -> Result<u64, DocumentError> {
    let mut header = [0u8; HEADER];
    if read_full(&mut blob, &mut header)? != HEADER
        || header.get(..4) != Some(MAGIC.as_slice())
        || header.get(4) != Some(&VERSION)
        || header.get(5) != Some(&SEGMENT_LOG2)
        || header.get(13..) != Some([0u8; 3].as_slice())
    {
        return Err(DocumentError::Layout(Layout::Stream.as_str()));
    }
    let prefix: [u8; NONCE_PREFIX] = header
        .get(6..13)
        .and_then(|p| p.try_into().ok())
        .ok_or(DocumentError::Layout(Layout::Stream.as_str()))?;
    let mut decryptor = DecryptorBE32::from_aead(key.cipher(), (&prefix).into());
    let mut chunks = Chunks {
        reader: blob,
        carry: None,
    };
    let mut buf = vec![0u8; SEGMENT_SIZE + TAG];
    let mut out = out;
    let mut size = 0u64;
    loop {
        let (n, last) = chunks.next(&mut buf)?;
        let payload = Payload {
            msg: buf.get(..n).unwrap_or_default(),
            aad: &header,
        };
        if last {
            let plain = Zeroizing::new(
                decryptor
                    .decrypt_last(payload)
                    .map_err(|_| DocumentError::Decrypt)?,
            );
            out.write_all(&plain)?;
            size += plain.len() as u64;
            break;
        }
        let plain = Zeroizing::new(
            decryptor
                .decrypt_next(payload)
                .map_err(|_| DocumentError::Decrypt)?,
        );
        out.write_all(&plain)?;
        size += plain.len() as u64;
    }
    out.flush()?;
    Ok(size)
}

/// Decrypt a blob in `layout` from `blob` to `out`; returns the plaintext size.
pub fn open(
    key: &FileKey,
    layout: Layout,
    mut blob: impl Read,
    mut out: impl Write,
) -> Result<u64, DocumentError> {
    match layout {
        Layout::Stream => open_stream(key, blob, out),
        Layout::Single => {
            // One GCM message: bounded by the single-layout size limit of the caller.
            let mut all = Vec::new();
            blob.read_to_end(&mut all)?;
            let plain = open_single(key, &all)?;
            out.write_all(&plain)?;
            Ok(plain.len() as u64)
        }
    }
}

/// sha256 of `bytes`, hex (the Blossom address of a blob).
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}
