//! The files the portal serves (DESIGN.md §11): the app's own HTML, JavaScript and CSS from
//! `portal/web` (compiled in, so they always match this server), and the WebAssembly with its
//! wasm-bindgen glue, which `scripts/build-portal` writes to an assets directory read at start.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use axum::body::Bytes;
use sha2::{Digest, Sha256};

/// Where `scripts/build-portal` writes by default: `portal/assets` of the source tree this
/// server was built from (a deployment names its own directory with `assets`).
pub const DEFAULT_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/assets");

/// The wasm-bindgen output the app imports, by file name.
const BUILT: [&str; 2] = ["ehr_portal_wasm.js", "ehr_portal_wasm_bg.wasm"];

/// The app page; `{{connection}}` becomes the practice's connection string, escaped.
const INDEX_HTML: &str = include_str!("../web/index.html");

/// The app's own files, served at `/<name>`.
const WEB: &[(&str, &str)] = &[
    ("/app.js", include_str!("../web/app.js")),
    ("/relay.js", include_str!("../web/relay.js")),
    ("/dom.js", include_str!("../web/dom.js")),
    ("/session.js", include_str!("../web/session.js")),
    ("/protocol.js", include_str!("../web/protocol.js")),
    ("/signers.js", include_str!("../web/signers.js")),
    ("/chart.js", include_str!("../web/chart.js")),
    ("/chart-view.js", include_str!("../web/chart-view.js")),
    ("/chart-tabs.js", include_str!("../web/chart-tabs.js")),
    ("/vitals.js", include_str!("../web/vitals.js")),
    ("/documents.js", include_str!("../web/documents.js")),
    ("/access-log.js", include_str!("../web/access-log.js")),
    ("/practices.js", include_str!("../web/practices.js")),
    ("/guardians.js", include_str!("../web/guardians.js")),
    ("/records.js", include_str!("../web/records.js")),
    ("/share.js", include_str!("../web/share.js")),
    ("/login.js", include_str!("../web/login.js")),
    ("/nip46.js", include_str!("../web/nip46.js")),
    ("/passkey.js", include_str!("../web/passkey.js")),
    ("/style.css", include_str!("../web/style.css")),
    ("/icon.svg", include_str!("../web/icon.svg")),
];

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

/// Every file the portal serves, by URL path.
#[derive(Debug, Clone)]
pub struct Assets {
    files: HashMap<String, Asset>,
    /// Set when the WebAssembly was not built: the directory looked in.
    missing: Option<PathBuf>,
}

impl Assets {
    /// The app with the practice's `connection` string, and the built files under `dir`.
    /// Missing built files are not an error: the portal then says how to build them.
    pub fn load(dir: &Path, connection: Option<&str>) -> Self {
        let mut files = HashMap::new();
        let index = INDEX_HTML.replace("{{connection}}", &escape(connection.unwrap_or("")));
        files.insert("/".to_owned(), Asset::new(index, "index.html"));
        for &(path, text) in WEB {
            files.insert(path.to_owned(), Asset::new(text, path));
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
            files.insert(
                "/".to_owned(),
                Asset::new(not_built_page(), "not-built.html"),
            );
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

    /// The file at `path`.
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
        Some("wasm") => "application/wasm",
        Some("svg") => "image/svg+xml",
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

fn not_built_page() -> String {
    "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
     <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
     <title>Patient portal</title></head><body><main>\
     <h1>Patient portal</h1>\
     <p>The portal's browser app has not been built on this server. The administrator runs \
     <code>scripts/build-portal</code> and restarts the portal.</p>\
     <p>Your records are readable meanwhile with any NIP-44 client and the <code>ehr</code> \
     command line: <code>ehr practice connect</code>, then <code>ehr chart show</code>.</p>\
     </main></body></html>"
        .to_owned()
}
