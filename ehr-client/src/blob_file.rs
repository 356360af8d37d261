//! Blob bytes to and from files at disk speed, with memory bounded whatever the size.
//!
//! Both ends of a Blossom transfer hash what they write: the server while it receives an upload,
//! the client while it downloads. [`HashingWriter`] splits that work over three stages so they
//! overlap: the caller's task copies incoming chunks into page-aligned buffers, one blocking
//! thread hashes them, and another writes them with `O_DIRECT` where the filesystem allows it,
//! so the bytes go to the device without a second copy through the page cache.
//! [`FileSource`] reads a file on a blocking thread in large chunks, ready for an HTTP body.

use std::fs::File;
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use bytes::Bytes;
use futures_util::Stream;
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// Alignment and granularity of direct I/O (a page; covers 512- and 4096-byte sectors).
const BLOCK: usize = 4096;
/// One buffer of the write pipeline: large writes are what a device does fastest.
const BUFFER: usize = 2 << 20;
/// Buffers per writer (16 MiB in all): one filling, one hashing, one writing, and spares so a
/// write that stalls for a moment does not starve the hasher, the stage uploads are bound by.
const BUFFERS: usize = 8;
/// Bytes per chunk read by [`FileSource::chunks`].
const READ_CHUNK: usize = 2 << 20;
/// Reads in flight while streaming a file out.
const READERS: usize = 2;

/// A buffer whose `filled()` part starts on a [`BLOCK`] boundary, as `O_DIRECT` requires.
#[derive(Debug)]
struct Aligned {
    storage: Vec<u8>,
    start: usize,
    len: usize,
    last: bool,
}

impl Aligned {
    fn new() -> Self {
        let storage = vec![0u8; BUFFER + BLOCK];
        // Always below BLOCK for bytes; clamped so a surprise only costs direct I/O.
        let start = storage.as_ptr().align_offset(BLOCK).min(BLOCK);
        Self {
            storage,
            start,
            len: 0,
            last: false,
        }
    }

    fn filled(&self) -> &[u8] {
        self.storage
            .get(self.start..self.start + self.len)
            .unwrap_or_default()
    }

    /// The filled part rounded up to whole blocks (the tail beyond `len` is cut off later).
    fn padded(&self) -> &[u8] {
        let len = self.len.div_ceil(BLOCK) * BLOCK;
        self.storage
            .get(self.start..self.start + len)
            .unwrap_or_default()
    }

    /// Copy as much of `data` as fits; returns how much.
    fn fill(&mut self, data: &[u8]) -> usize {
        let room = BUFFER - self.len;
        let n = room.min(data.len());
        let at = self.start + self.len;
        if let (Some(to), Some(from)) = (self.storage.get_mut(at..at + n), data.get(..n)) {
            to.copy_from_slice(from);
            self.len += n;
            n
        } else {
            0
        }
    }
}

/// Writes a new file while hashing it with sha256; see the module documentation.
///
/// Call [`HashingWriter::finish`] to make the file durable and learn its hash, or
/// [`HashingWriter::abandon`] to remove it. Dropped unfinished (a cancelled request), it
/// removes the file too.
#[derive(Debug)]
pub struct HashingWriter {
    path: PathBuf,
    current: Option<Aligned>,
    allocated: usize,
    size: u64,
    to_hasher: Option<mpsc::Sender<Aligned>>,
    free: mpsc::UnboundedReceiver<Aligned>,
    hasher: Option<JoinHandle<[u8; 32]>>,
    writer: Option<JoinHandle<std::io::Result<()>>>,
    finished: bool,
}

impl HashingWriter {
    /// Create the new file `path` (it must not exist).
    pub async fn create(path: &Path) -> std::io::Result<Self> {
        let owned = path.to_owned();
        let (file, direct) = tokio::task::spawn_blocking(move || open_new(&owned))
            .await
            .map_err(std::io::Error::other)??;
        let (to_hasher, mut hasher_rx) = mpsc::channel::<Aligned>(BUFFERS);
        let (to_writer, writer_rx) = std::sync::mpsc::sync_channel::<Aligned>(BUFFERS);
        let (free_tx, free) = mpsc::unbounded_channel();
        let hasher = tokio::task::spawn_blocking(move || {
            let mut hash = Sha256::new();
            while let Some(buffer) = hasher_rx.blocking_recv() {
                hash.update(buffer.filled());
                if to_writer.send(buffer).is_err() {
                    break;
                }
            }
            hash.finalize().into()
        });
        let target = path.to_owned();
        let writer = tokio::task::spawn_blocking(move || {
            write_all(file, direct, &target, &writer_rx, &free_tx)
        });
        Ok(Self {
            path: path.to_owned(),
            current: None,
            allocated: 0,
            size: 0,
            to_hasher: Some(to_hasher),
            free,
            hasher: Some(hasher),
            writer: Some(writer),
            finished: false,
        })
    }

    /// Bytes written so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Append `data`.
    pub async fn write(&mut self, mut data: &[u8]) -> std::io::Result<()> {
        while !data.is_empty() {
            let mut buffer = match self.current.take() {
                Some(buffer) => buffer,
                None => self.empty_buffer().await?,
            };
            let n = buffer.fill(data);
            data = data.get(n..).unwrap_or_default();
            self.size += n as u64;
            if buffer.len == BUFFER {
                self.send(buffer).await?;
            } else {
                self.current = Some(buffer);
            }
        }
        Ok(())
    }

    /// Flush, truncate to the exact size and `fsync`; the file's sha256 (hex) and size.
    pub async fn finish(mut self) -> std::io::Result<(String, u64)> {
        let mut last = match self.current.take() {
            Some(buffer) => buffer,
            None => self.empty_buffer().await?,
        };
        last.last = true;
        self.send(last).await?;
        self.to_hasher = None;
        let (Some(writer), Some(hasher)) = (self.writer.take(), self.hasher.take()) else {
            return Err(std::io::Error::other("the blob writer stopped early"));
        };
        writer.await.map_err(std::io::Error::other)??;
        let hash = hasher.await.map_err(std::io::Error::other)?;
        self.finished = true;
        Ok((hex::encode(hash), self.size))
    }

    /// Stop and remove the file.
    pub async fn abandon(mut self) {
        self.to_hasher = None;
        if let Some(writer) = self.writer.take() {
            let _ = writer.await;
        }
        // Drop removes the file.
    }

    async fn empty_buffer(&mut self) -> std::io::Result<Aligned> {
        if let Ok(mut buffer) = self.free.try_recv() {
            buffer.len = 0;
            return Ok(buffer);
        }
        if self.allocated < BUFFERS {
            self.allocated += 1;
            return Ok(Aligned::new());
        }
        match self.free.recv().await {
            Some(mut buffer) => {
                buffer.len = 0;
                Ok(buffer)
            }
            None => Err(self.failure().await),
        }
    }

    async fn send(&mut self, buffer: Aligned) -> std::io::Result<()> {
        let sent = match &self.to_hasher {
            Some(to_hasher) => to_hasher.send(buffer).await.is_ok(),
            None => false,
        };
        if sent {
            Ok(())
        } else {
            Err(self.failure().await)
        }
    }

    /// Why the pipeline stopped early (the writer's error, when it has one).
    async fn failure(&mut self) -> std::io::Error {
        self.to_hasher = None;
        match self.writer.take() {
            Some(writer) => match writer.await {
                Ok(Err(error)) => error,
                Ok(Ok(())) => std::io::Error::other("the blob writer stopped early"),
                Err(join) => std::io::Error::other(join),
            },
            None => std::io::Error::other("the blob writer stopped early"),
        }
    }
}

impl Drop for HashingWriter {
    fn drop(&mut self) {
        if !self.finished {
            // Unlinking is safe while the writer thread still holds the file open.
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Open a new file for direct I/O where the filesystem supports it; `(file, direct)`.
fn open_new(path: &Path) -> std::io::Result<(File, bool)> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::fs::OpenOptionsExt;
        let mut direct = options.clone();
        direct.custom_flags(libc::O_DIRECT);
        match direct.open(path) {
            Ok(file) => return Ok((file, true)),
            // tmpfs and some network filesystems refuse O_DIRECT: write through the cache.
            Err(error) if error.raw_os_error() == Some(libc::EINVAL) => {}
            Err(error) => return Err(error),
        }
    }
    Ok((options.open(path)?, false))
}

/// The writer stage: write each buffer in order, hand it back, and on the last one cut the
/// file to size and make it durable. Without a last buffer (abandoned) it just stops.
fn write_all(
    mut file: File,
    mut direct: bool,
    path: &Path,
    buffers: &std::sync::mpsc::Receiver<Aligned>,
    free: &mpsc::UnboundedSender<Aligned>,
) -> std::io::Result<()> {
    let mut size = 0u64;
    while let Ok(buffer) = buffers.recv() {
        if direct {
            match file.write_all(buffer.padded()) {
                Ok(()) => {}
                Err(error) if error.raw_os_error() == Some(EINVAL) => {
                    // Alignment the device will not take after all: reopen through the cache.
                    direct = false;
                    file = std::fs::OpenOptions::new().write(true).open(path)?;
                    file.seek(SeekFrom::Start(size))?;
                    file.write_all(buffer.filled())?;
                }
                Err(error) => return Err(error),
            }
        } else {
            file.write_all(buffer.filled())?;
        }
        size += buffer.len as u64;
        if buffer.last {
            file.set_len(size)?;
            file.sync_all()?;
            return Ok(());
        }
        // The writer side may be gone already (abandoned); nothing to hand back to then.
        let _ = free.send(buffer);
    }
    Err(std::io::Error::other("the blob upload was abandoned"))
}

#[cfg(target_os = "linux")]
const EINVAL: i32 = libc::EINVAL;
#[cfg(not(target_os = "linux"))]
const EINVAL: i32 = 22;

/// A file opened to be streamed out, as an HTTP body for instance.
#[derive(Debug)]
pub struct FileSource {
    file: File,
    direct: bool,
}

impl FileSource {
    /// Read through the page cache: right for a file just written, whose pages are still there.
    pub fn open(path: &Path) -> std::io::Result<Self> {
        Ok(Self {
            file: File::open(path)?,
            direct: false,
        })
    }

    /// Read with `O_DIRECT` where the filesystem allows it: right for a stored blob, which is
    /// read into the buffers that go out without a copy through the page cache.
    pub fn open_direct(path: &Path) -> std::io::Result<Self> {
        #[cfg(target_os = "linux")]
        {
            use std::os::unix::fs::OpenOptionsExt;
            match std::fs::OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_DIRECT)
                .open(path)
            {
                Ok(file) => return Ok(Self { file, direct: true }),
                Err(error) if error.raw_os_error() == Some(libc::EINVAL) => {}
                Err(error) => return Err(error),
            }
        }
        Self::open(path)
    }

    /// The file's size.
    pub fn len(&self) -> std::io::Result<u64> {
        Ok(self.file.metadata()?.len())
    }

    /// Whether the file is empty.
    pub fn is_empty(&self) -> std::io::Result<bool> {
        Ok(self.len()? == 0)
    }

    /// `length` bytes from `offset`, as a stream of chunks read by two blocking threads
    /// in turn, so the device always has the next read queued; at most a few chunks are in
    /// memory at once. A file shorter than that ends the stream early.
    pub fn chunks(
        self,
        offset: u64,
        length: u64,
    ) -> impl Stream<Item = std::io::Result<Bytes>> + Send + 'static {
        let source = std::sync::Arc::new(self);
        let mut receivers = Vec::with_capacity(READERS);
        for reader in 0..READERS {
            let (tx, rx) = mpsc::channel(1);
            let source = std::sync::Arc::clone(&source);
            tokio::task::spawn_blocking(move || {
                let mut index = reader as u64;
                loop {
                    match source.read_chunk(offset, length, index) {
                        Ok(Some(chunk)) => {
                            let full = chunk.len() as u64 == Self::chunk_len(length, index);
                            if tx.blocking_send(Ok(chunk)).is_err() || !full {
                                break;
                            }
                        }
                        Ok(None) => break,
                        Err(error) => {
                            let _ = tx.blocking_send(Err(error));
                            break;
                        }
                    }
                    index += READERS as u64;
                }
            });
            receivers.push(rx);
        }
        futures_util::stream::unfold((receivers, 0usize), |(mut receivers, next)| async move {
            let item = receivers.get_mut(next % READERS)?.recv().await?;
            Some((item, (receivers, next + 1)))
        })
    }

    /// How many bytes chunk `index` of the range should hold.
    fn chunk_len(length: u64, index: u64) -> u64 {
        let from = index.saturating_mul(READ_CHUNK as u64);
        length.saturating_sub(from).min(READ_CHUNK as u64)
    }

    /// Chunk `index` of the range `offset..offset + length`; `None` past its end or the file's.
    fn read_chunk(&self, offset: u64, length: u64, index: u64) -> std::io::Result<Option<Bytes>> {
        let wanted = Self::chunk_len(length, index);
        if wanted == 0 {
            return Ok(None);
        }
        let first = offset + index * READ_CHUNK as u64;
        let align = if self.direct { BLOCK as u64 } else { 1 };
        // Direct reads start and end on block boundaries; the bytes around the chunk are cut.
        let position = first - first % align;
        let skip = usize::try_from(first - position).map_err(std::io::Error::other)?;
        let request = usize::try_from((first + wanted - position).div_ceil(align) * align)
            .map_err(std::io::Error::other)?;
        let mut storage = vec![0u8; request + BLOCK];
        let start = if self.direct {
            storage.as_ptr().align_offset(BLOCK).min(BLOCK)
        } else {
            0
        };
        let mut got = 0;
        while got < request {
            let Some(space) = storage.get_mut(start + got..start + request) else {
                break;
            };
            match read_at(&self.file, space, position + got as u64) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(error) if error.kind() == std::io::ErrorKind::Interrupted => {}
                Err(error) => return Err(error),
            }
        }
        let end = got.min(skip + usize::try_from(wanted).map_err(std::io::Error::other)?);
        if end <= skip {
            return Ok(None);
        }
        Ok(Some(Bytes::from(storage).slice(start + skip..start + end)))
    }
}

#[cfg(unix)]
fn read_at(file: &File, buf: &mut [u8], position: u64) -> std::io::Result<usize> {
    std::os::unix::fs::FileExt::read_at(file, buf, position)
}

#[cfg(windows)]
fn read_at(file: &File, buf: &mut [u8], position: u64) -> std::io::Result<usize> {
    std::os::windows::fs::FileExt::seek_read(file, buf, position)
}
