//! Where blob bytes live: the local filesystem (`<blob_dir>/<aa>/<sha256>`) or any
//! S3-compatible store through `object_store`. Uploads always land in a local temporary file
//! first (hashed and counted while written); only a verified blob is kept, by a rename or a
//! multipart upload that streams the file in parts.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::body::Body;
use ehr_client::blob_file::FileSource;
use futures_util::TryStreamExt;
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path as ObjectPath;
use object_store::{GetOptions, GetRange, ObjectStore, WriteMultipart};
use tokio::io::AsyncReadExt;

use crate::config::S3Config;
use crate::error::BlossomError;

/// Bytes per part of an S3 multipart upload (S3's minimum is 5 MiB).
const PART: usize = 8 << 20;

#[derive(Debug, Clone)]
enum Backend {
    Files,
    S3(Arc<AmazonS3>),
}

/// The blob bytes.
#[derive(Debug, Clone)]
pub struct BlobBytes {
    backend: Backend,
    dir: PathBuf,
}

impl BlobBytes {
    /// Files under `dir`, or the S3 bucket of `s3` (with `dir` for temporary files).
    pub async fn open(dir: &Path, s3: Option<&S3Config>) -> Result<Self, BlossomError> {
        tokio::fs::create_dir_all(dir.join("tmp")).await?;
        let temp = dir.join("tmp");
        tokio::task::spawn_blocking(move || remove_stale(&temp))
            .await
            .map_err(std::io::Error::other)??;
        let backend = match s3 {
            None => Backend::Files,
            Some(s3) => {
                let store = AmazonS3Builder::new()
                    .with_bucket_name(&s3.bucket)
                    .with_endpoint(&s3.endpoint)
                    .with_region(&s3.region)
                    .with_access_key_id(&s3.access_key_id)
                    .with_secret_access_key(&s3.secret_access_key)
                    .with_allow_http(s3.endpoint.starts_with("http://"))
                    .with_virtual_hosted_style_request(false)
                    .build()
                    .map_err(|e| BlossomError::Config(format!("s3: {e}")))?;
                Backend::S3(Arc::new(store))
            }
        };
        Ok(Self {
            backend,
            dir: dir.to_owned(),
        })
    }

    /// The file of a blob in filesystem mode. Only called with a checked hash.
    pub fn path_of(&self, sha256: &str) -> PathBuf {
        self.dir.join(sha256.get(..2).unwrap_or("00")).join(sha256)
    }

    /// A fresh temporary path beside the blobs (same filesystem: renames are atomic).
    pub fn temp_path(&self) -> Result<PathBuf, BlossomError> {
        let mut name = [0u8; 16];
        getrandom::fill(&mut name)
            .map_err(|_| BlossomError::Config("no randomness available".into()))?;
        Ok(self.dir.join("tmp").join(hex::encode(name)))
    }

    fn object(sha256: &str) -> ObjectPath {
        ObjectPath::from(sha256)
    }

    /// Keep the verified temporary file `temp` as blob `sha256`. The temporary file is gone
    /// afterwards, whatever happens.
    pub async fn keep(&self, temp: &Path, sha256: &str) -> Result<(), BlossomError> {
        let result = match &self.backend {
            Backend::Files => {
                let path = self.path_of(sha256);
                if let Some(parent) = path.parent() {
                    tokio::fs::create_dir_all(parent).await?;
                }
                tokio::fs::rename(temp, &path).await?;
                // The rename is durable only once the directory is.
                let parent = path.parent().map(Path::to_owned).unwrap_or_default();
                tokio::task::spawn_blocking(move || std::fs::File::open(parent)?.sync_all())
                    .await
                    .map_err(std::io::Error::other)?
                    .map_err(BlossomError::from)
            }
            Backend::S3(store) => upload(store, temp, sha256).await,
        };
        let _ = tokio::fs::remove_file(temp).await;
        result
    }

    /// The bytes `first..=last` of a blob of `size` bytes (all of them with `None`).
    pub async fn read(
        &self,
        sha256: &str,
        part: Option<(u64, u64)>,
        size: u64,
    ) -> Result<Body, BlossomError> {
        let (first, length) = part.map_or((0, size), |(first, last)| (first, last - first + 1));
        match &self.backend {
            Backend::Files => {
                let path = self.path_of(sha256);
                let file = tokio::task::spawn_blocking(move || FileSource::open_direct(&path))
                    .await
                    .map_err(std::io::Error::other)??;
                Ok(Body::from_stream(file.chunks(first, length)))
            }
            Backend::S3(store) => {
                let options = GetOptions {
                    range: part.map(|_| GetRange::Bounded(first..first + length)),
                    ..GetOptions::default()
                };
                let result = store
                    .get_opts(&Self::object(sha256), options)
                    .await
                    .map_err(|e| BlossomError::Io(std::io::Error::other(e)))?;
                Ok(Body::from_stream(
                    result.into_stream().map_err(std::io::Error::other),
                ))
            }
        }
    }

    /// Remove a blob's bytes (a missing blob is fine).
    pub async fn remove(&self, sha256: &str) -> Result<(), BlossomError> {
        match &self.backend {
            Backend::Files => match tokio::fs::remove_file(self.path_of(sha256)).await {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.into()),
                _ => Ok(()),
            },
            Backend::S3(store) => match store.delete(&Self::object(sha256)).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
                Err(e) => Err(BlossomError::Io(std::io::Error::other(e))),
            },
        }
    }
}

/// Remove temporary files a crash left behind (a cancelled upload removes its own). Only old
/// ones, so another server sharing the directory keeps the uploads it has in progress.
fn remove_stale(temp: &Path) -> std::io::Result<()> {
    const STALE: std::time::Duration = std::time::Duration::from_secs(24 * 3600);
    for entry in std::fs::read_dir(temp)? {
        let entry = entry?;
        let age = entry.metadata()?.modified()?.elapsed().unwrap_or_default();
        if age > STALE {
            std::fs::remove_file(entry.path())?;
        }
    }
    Ok(())
}

/// Stream a local file to S3 in parts: memory stays at a few parts whatever the size.
async fn upload(store: &Arc<AmazonS3>, temp: &Path, sha256: &str) -> Result<(), BlossomError> {
    let s3 = |e: object_store::Error| BlossomError::Io(std::io::Error::other(e));
    let upload = store
        .put_multipart(&BlobBytes::object(sha256))
        .await
        .map_err(s3)?;
    let mut writer = WriteMultipart::new_with_chunk_size(upload, PART);
    let mut file = tokio::fs::File::open(temp).await?;
    let mut buf = vec![0u8; PART];
    loop {
        let n = file.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        writer.wait_for_capacity(2).await.map_err(s3)?;
        writer.write(buf.get(..n).unwrap_or_default());
    }
    writer.finish().await.map_err(s3)?;
    Ok(())
}
