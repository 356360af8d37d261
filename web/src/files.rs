//! The files an app serves: its page (with `{{placeholders}}` filled), its own modules, the
//! shared modules ([`crate::SHARED`]) and the WebAssembly `scripts/build-web` wrote, read at
//! start. Without the WebAssembly the page explains how to build it instead.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use axum::body::Bytes;
use sha2::{Digest, Sha256};

/// The wasm-bindgen output the apps import, by file name.
const BUILT: [&str; 2] = ["ehr_web_wasm.js", "ehr_web_wasm_bg.wasm"];

/// One browser app, as its server describes it.
#[derive(Debug, Clone, Copy)]
pub struct App<'a> {
    /// The page served at `/`.
    pub index_html: &'a str,
    /// The app's own files, served at `/<name>` (they may replace a shared one).
    pub own: &'a [(&'a str, &'a str)],
    /// The page served at `/` when the WebAssembly is not built.
    pub not_built_html: &'a str,
    /// The app's service worker, served at `/sw.js` with `{{version}}` and `{{files}}`
    /// filled ([`Assets::add_service_worker`]); `None` for an app without one.
    pub service_worker: Option<&'a str>,
}

/// One file ready to send.
#[derive(Debug, Clone)]
pub struct Asset {
    /// The bytes.
    pub body: Bytes,
    /// Its `Content-Type`.
    pub content_type: &'static str,
    /// A strong validator (`"<sha256 prefix>"`), so a browser revalidates cheaply.
    pub etag: String,
}

impl Asset {
    fn new(body: impl Into<Bytes>, name: &str) -> Self {
        let body = body.into();
        let digest = Sha256::digest(&body);
        let etag = format!("\"{}\"", hex::encode(digest.get(..16).unwrap_or_default()));
        Self {
            body,
            content_type: content_type(name),
            etag,
        }
    }
}

/// Every file an app serves, by URL path.
#[derive(Debug, Clone)]
pub struct Assets {
    files: HashMap<String, Asset>,
    /// Set when the WebAssembly was not built: the directory looked in.
    missing: Option<PathBuf>,
}

impl Assets {
    /// `app` with the shared modules and the built files under `dir`. Missing built files are
    /// not an error: the app's page then says how to build them.
    pub fn load(app: &App<'_>, dir: &Path) -> Self {
        let mut files = HashMap::new();
        files.insert(
            "/".to_owned(),
            Asset::new(app.index_html.to_owned(), "index.html"),
        );
        for &(path, text) in crate::SHARED.iter().chain(app.own) {
            files.insert(path.to_owned(), Asset::new(text.to_owned(), path));
        }
        let mut missing = None;
        for name in BUILT {
            match std::fs::read(dir.join(name)) {
                Ok(body) => {
                    files.insert(format!("/assets/{name}"), Asset::new(body, name));
                }
                Err(_) => missing = Some(dir.to_path_buf()),
            }
        }
        if missing.is_some() {
            // Without the WebAssembly the app cannot start: serve the explanation instead.
            let page = Asset::new(app.not_built_html.to_owned(), "not-built.html");
            files.insert("/".to_owned(), page);
        }
        Self { files, missing }
    }

    /// Fill `{{name}}` in the app page with `value` (escaped), e.g. the session lock time.
    pub fn fill(&mut self, name: &str, value: &str) {
        if self.missing.is_some() {
            return;
        }
        let placeholder = format!("{{{{{name}}}}}");
        if let Some(page) = self.files.get("/") {
            let text = String::from_utf8_lossy(&page.body).replace(&placeholder, &escape(value));
            self.files
                .insert("/".to_owned(), Asset::new(text, "index.html"));
        }
    }

    /// Serve `template` as `/sw.js`, with `{{files}}` the paths of every file served (a JSON
    /// array, the page `/` first) and `{{version}}` a digest of them all, so a new build (or a
    /// new connection string in the page) is a new worker, which the browser installs. Call it
    /// after the page's placeholders are filled. Nothing without the WebAssembly: the page that
    /// says how to build it must not be cached.
    pub fn add_service_worker(&mut self, template: &str) {
        if self.missing.is_some() {
            return;
        }
        let mut paths: Vec<&String> = self.files.keys().collect();
        paths.sort_by_key(|path| (path.as_str() != "/", path.as_str()));
        let mut digest = Sha256::new();
        for path in &paths {
            digest.update(path.as_bytes());
            digest.update(
                self.files
                    .get(*path)
                    .map_or("", |a| a.etag.as_str())
                    .as_bytes(),
            );
        }
        let version = hex::encode(digest.finalize().get(..8).unwrap_or_default());
        // Paths are this server's own names (`/`, `/app.js`, `/assets/…`): nothing to escape.
        let files = paths
            .iter()
            .map(|path| format!("\"{path}\""))
            .collect::<Vec<_>>()
            .join(", ");
        let text = template
            .replace("{{version}}", &version)
            .replace("{{files}}", &format!("[{files}]"));
        self.files
            .insert("/sw.js".to_owned(), Asset::new(text, "sw.js"));
    }

    /// The file at `path`.
    /// Serve `html` as a page at `path` (an app's second page: the portal's link viewer).
    pub fn add_page(&mut self, path: &str, html: &str) {
        self.files
            .insert(path.to_owned(), Asset::new(html.to_owned(), "page.html"));
    }

    pub fn get(&self, path: &str) -> Option<&Asset> {
        self.files.get(path)
    }

    /// The directory the WebAssembly was expected in, when it was not found there.
    pub fn missing(&self) -> Option<&Path> {
        self.missing.as_deref()
    }
}

fn content_type(name: &str) -> &'static str {
    match name.rsplit_once('.').map(|(_, ext)| ext) {
        Some("html") => "text/html; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("json") => "application/json",
        Some("wasm") => "application/wasm",
        Some("svg") => "image/svg+xml",
        Some("webmanifest") => "application/manifest+json",
        _ => "application/octet-stream",
    }
}

/// Text for an HTML attribute or element.
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
