//! The endpoints: BUD-01 (`GET`/`HEAD /<sha256>[.ext]` with ranges), BUD-02 (`PUT /upload`),
//! BUD-06 (`HEAD /upload`), BUD-12 (`GET /list/<pubkey>`, `DELETE /<sha256>`).

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use ehr_client::blob_file::HashingWriter;
use futures_util::StreamExt;
use nostr::prelude::Timestamp;
use serde::Deserialize;

use crate::BlossomState;
use crate::auth::{self, Verb};
use crate::error::BlossomError;
use crate::store::{Added, BlobMeta, is_sha256};

/// A path segment `<sha256>[.ext]`, checked: nothing else ever becomes a file path.
fn sha_of(name: &str) -> Result<String, BlossomError> {
    let sha = name.split_once('.').map_or(name, |(sha, _)| sha);
    if is_sha256(sha) {
        Ok(sha.to_owned())
    } else {
        Err(BlossomError::BadRequest(
            "the path is not a lowercase hex sha256",
        ))
    }
}

fn extension(mime: &str) -> &'static str {
    match mime {
        "application/pdf" => "pdf",
        "image/png" => "png",
        "image/jpeg" => "jpg",
        "text/plain" => "txt",
        "application/json" => "json",
        "application/dicom" => "dcm",
        _ => "bin",
    }
}

/// The BUD-02 blob descriptor.
fn descriptor(state: &BlossomState, meta: &BlobMeta) -> serde_json::Value {
    serde_json::json!({
        "url": format!("{}/{}.{}", state.base_url, meta.sha256, extension(&meta.mime)),
        "sha256": meta.sha256,
        "size": meta.size,
        "type": meta.mime,
        "uploaded": meta.uploaded,
    })
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// A single byte range of a blob of `size` bytes: `None` for the whole blob (no header, a
/// malformed one, or several ranges, which RFC 9110 lets a server ignore).
fn range(headers: &HeaderMap, size: u64) -> Result<Option<(u64, u64)>, BlossomError> {
    let Some(spec) = header_str(headers, "range").and_then(|r| r.strip_prefix("bytes=")) else {
        return Ok(None);
    };
    if spec.contains(',') {
        return Ok(None);
    }
    let Some((start, end)) = spec.trim().split_once('-') else {
        return Ok(None);
    };
    let (first, last) = match (start.parse::<u64>().ok(), end.parse::<u64>().ok()) {
        (Some(first), Some(last)) if first <= last => (first, last.min(size.saturating_sub(1))),
        (Some(first), None) if end.is_empty() => (first, size.saturating_sub(1)),
        (None, Some(suffix)) if start.is_empty() => {
            if suffix == 0 {
                return Err(BlossomError::Range(size));
            }
            (size.saturating_sub(suffix), size.saturating_sub(1))
        }
        _ => return Ok(None),
    };
    if first >= size {
        return Err(BlossomError::Range(size));
    }
    Ok(Some((first, last)))
}

/// `GET`/`HEAD /<sha256>[.ext]` (axum routes HEAD here; it gets the headers without a read).
pub async fn get_blob(
    State(state): State<Arc<BlossomState>>,
    Path(name): Path<String>,
    method: axum::http::Method,
    headers: HeaderMap,
) -> Result<Response, BlossomError> {
    let sha = sha_of(&name)?;
    if state.config.reads_need_auth {
        let token = auth::required(&headers, Verb::Get, &state.rules)?;
        token.covers(&sha, false)?;
        if !state.members.standing(&token.pubkey).await?.may_read {
            return Err(BlossomError::Forbidden(
                "only members of the practice may read blobs",
            ));
        }
    }
    let meta = state.store.get(&sha).await?.ok_or(BlossomError::NotFound)?;
    let part = range(&headers, meta.size)?;
    let (status, length) = match part {
        Some((first, last)) => (StatusCode::PARTIAL_CONTENT, last - first + 1),
        None => (StatusCode::OK, meta.size),
    };
    let body = if method == axum::http::Method::HEAD {
        Body::empty()
    } else {
        state.bytes.read(&sha, part, meta.size).await?
    };
    let mut response = (status, body).into_response();
    let h = response.headers_mut();
    let set = |h: &mut HeaderMap, name: header::HeaderName, value: String| {
        if let Ok(value) = HeaderValue::from_str(&value) {
            h.insert(name, value);
        }
    };
    set(h, header::CONTENT_TYPE, meta.mime.clone());
    set(h, header::CONTENT_LENGTH, length.to_string());
    set(h, header::ETAG, format!("\"{sha}\""));
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    // A blob read with a token is for that reader only: no shared cache may keep it.
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(if state.config.reads_need_auth {
            "private, max-age=31536000, immutable"
        } else {
            "public, max-age=31536000, immutable"
        }),
    );
    if let Some((first, last)) = part {
        set(
            h,
            header::CONTENT_RANGE,
            format!("bytes {first}-{last}/{}", meta.size),
        );
    }
    Ok(response)
}

/// Check who uploads, and how much they may still store.
async fn upload_allowance(
    state: &BlossomState,
    headers: &HeaderMap,
) -> Result<(auth::Token, u64), BlossomError> {
    let token = auth::required(headers, Verb::Upload, &state.rules)?;
    if !state.members.standing(&token.pubkey).await?.may_upload {
        return Err(BlossomError::Forbidden(
            "only staff and patients of the practice may upload",
        ));
    }
    let used = state.store.usage(&token.pubkey.to_hex()).await?;
    let room = state
        .config
        .quota_bytes
        .saturating_sub(used)
        .min(state.config.max_blob_bytes);
    Ok((token, room))
}

fn announced_sha(headers: &HeaderMap) -> Result<Option<String>, BlossomError> {
    match header_str(headers, "x-sha-256") {
        None => Ok(None),
        Some(sha) if is_sha256(sha) => Ok(Some(sha.to_owned())),
        Some(_) => Err(BlossomError::BadRequest(
            "X-SHA-256 is not a lowercase hex sha256",
        )),
    }
}

/// `HEAD /upload` (BUD-06): would this upload be accepted?
pub async fn preflight(
    State(state): State<Arc<BlossomState>>,
    headers: HeaderMap,
) -> Result<StatusCode, BlossomError> {
    let (token, room) = upload_allowance(&state, &headers).await?;
    let sha = announced_sha(&headers)?.ok_or(BlossomError::BadRequest("X-SHA-256 is required"))?;
    token.covers(&sha, true)?;
    let length = header_str(&headers, "x-content-length")
        .ok_or(BlossomError::BadRequest("X-Content-Length is required"))?
        .parse::<u64>()
        .map_err(|_| BlossomError::BadRequest("X-Content-Length is not a number"))?;
    if length > room {
        return Err(BlossomError::TooLarge("over the size limit or the quota"));
    }
    Ok(StatusCode::OK)
}

/// `PUT /upload` (BUD-02): stream to a temporary file while hashing and counting; keep it only
/// when the hash is the announced one and the size within limits.
pub async fn upload(
    State(state): State<Arc<BlossomState>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, BlossomError> {
    let (token, room) = upload_allowance(&state, &headers).await?;
    let announced = announced_sha(&headers)?;
    if let Some(sha) = &announced {
        token.covers(sha, true)?;
    }
    if header_str(&headers, "content-length")
        .and_then(|l| l.parse::<u64>().ok())
        .is_some_and(|l| l > room)
    {
        return Err(BlossomError::TooLarge("over the size limit or the quota"));
    }
    let mime = header_str(&headers, "content-type")
        .filter(|m| !m.is_empty() && m.len() < 128)
        .unwrap_or("application/octet-stream")
        .to_owned();
    let temp = state.bytes.temp_path()?;
    let received = receive(body, &temp, room).await;
    let (sha, size) = match received {
        Ok(done) => done,
        Err(error) => {
            let _ = tokio::fs::remove_file(&temp).await;
            return Err(error);
        }
    };
    let verdict = match &announced {
        Some(expected) if *expected != sha => Err(BlossomError::HashMismatch(
            "the body's sha256 is not X-SHA-256",
        )),
        _ => token.covers(&sha, true).map_err(BlossomError::from),
    };
    if let Err(error) = verdict {
        let _ = tokio::fs::remove_file(&temp).await;
        return Err(error);
    }
    let meta = BlobMeta {
        sha256: sha,
        size,
        mime,
        uploaded: Timestamp::now().as_secs(),
    };
    let (status, meta) = record(&state, &temp, meta, &token.pubkey.to_hex()).await?;
    Ok((status, axum::Json(descriptor(&state, &meta))).into_response())
}

/// Keep the verified upload `temp` and record `owner` as an owner of it, within the quota:
/// 201 and `meta` for a new blob, 200 and the stored metadata for a known one.
async fn record(
    state: &BlossomState,
    temp: &std::path::Path,
    meta: BlobMeta,
    owner: &str,
) -> Result<(StatusCode, BlobMeta), BlossomError> {
    const OVER: BlossomError = BlossomError::TooLarge("over the size limit or the quota");
    let quota = state.config.quota_bytes;
    if let Some(existing) = state.store.get(&meta.sha256).await? {
        let _ = tokio::fs::remove_file(temp).await;
        if state.store.add(&existing, owner, quota).await? == Added::OverQuota {
            return Err(OVER);
        }
        return Ok((StatusCode::OK, existing));
    }
    state.bytes.keep(temp, &meta.sha256).await?;
    if state.store.add(&meta, owner, quota).await? == Added::OverQuota {
        // Concurrent uploads passed the first check together; this one lost. Its bytes go
        // unless another owner recorded the same blob meanwhile.
        if state.store.get(&meta.sha256).await?.is_none() {
            state.bytes.remove(&meta.sha256).await?;
        }
        return Err(OVER);
    }
    Ok((StatusCode::CREATED, meta))
}

/// Write the body to `temp`, hashing it and stopping past `room` bytes; `(sha256, size)`.
/// The file is durable when this returns, and removed when it fails.
async fn receive(
    body: Body,
    temp: &std::path::Path,
    room: u64,
) -> Result<(String, u64), BlossomError> {
    let mut file = HashingWriter::create(temp).await?;
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let Ok(chunk) = chunk else {
            file.abandon().await;
            return Err(BlossomError::BadRequest("the upload was cut off"));
        };
        if file.size() + chunk.len() as u64 > room {
            file.abandon().await;
            return Err(BlossomError::TooLarge("over the size limit or the quota"));
        }
        file.write(&chunk).await?;
    }
    Ok(file.finish().await?)
}

/// `DELETE /<sha256>` (BUD-12): an owner gives up the blob; the bytes go with the last owner.
pub async fn delete(
    State(state): State<Arc<BlossomState>>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Result<StatusCode, BlossomError> {
    let sha = sha_of(&name)?;
    let token = auth::required(&headers, Verb::Delete, &state.rules)?;
    token.covers(&sha, true)?;
    // A key the practice removed or banned keeps nothing here, not even the power to delete.
    if !state.members.standing(&token.pubkey).await?.may_read {
        return Err(BlossomError::Forbidden(
            "only members of the practice may delete blobs",
        ));
    }
    if state.store.get(&sha).await?.is_none() {
        return Err(BlossomError::NotFound);
    }
    if !state.store.owns(&sha, &token.pubkey.to_hex()).await? {
        return Err(BlossomError::Forbidden(
            "only an owner of the blob may delete it",
        ));
    }
    if state.store.remove(&sha, &token.pubkey.to_hex()).await? {
        state.bytes.remove(&sha).await?;
    }
    Ok(StatusCode::NO_CONTENT)
}

/// Query of `GET /list/<pubkey>`.
#[derive(Debug, Deserialize)]
pub struct ListQuery {
    cursor: Option<String>,
    limit: Option<u32>,
}

/// `GET /list/<pubkey>` (BUD-12): a key's own blobs (admins may list anyone's).
pub async fn list(
    State(state): State<Arc<BlossomState>>,
    Path(pubkey): Path<String>,
    Query(query): Query<ListQuery>,
    headers: HeaderMap,
) -> Result<Response, BlossomError> {
    if !is_sha256(&pubkey) {
        return Err(BlossomError::BadRequest("the path is not a hex public key"));
    }
    if query.cursor.as_deref().is_some_and(|c| !is_sha256(c)) {
        return Err(BlossomError::BadRequest("cursor must be a sha256"));
    }
    let token = auth::required(&headers, Verb::List, &state.rules)?;
    let standing = state.members.standing(&token.pubkey).await?;
    if !standing.may_read || (token.pubkey.to_hex() != pubkey && !standing.is_admin) {
        return Err(BlossomError::Forbidden("a key may list only its own blobs"));
    }
    let limit = query.limit.unwrap_or(100).clamp(1, 1000);
    let blobs = state
        .store
        .list(&pubkey, query.cursor.as_deref(), limit)
        .await?;
    let list: Vec<_> = blobs.iter().map(|b| descriptor(&state, b)).collect();
    Ok(axum::Json(list).into_response())
}
