//! `ehr-clinic`: the clinic app's server (DESIGN.md §12). Staff log in with their own key, the
//! app loads `ehr-client`'s core as WebAssembly, follows the role the verified roster gives the
//! key, and reads and writes charts in the browser; the server never sees a key or a plaintext
//! record. It runs on its own origin, apart from the patient portal: separate storage, its own
//! CSP. The server only hands out files, through `ehr-web`.

use std::future::Future;

use ehr_web::App;
use tokio::net::TcpListener;

pub use ehr_web::{AppConfig as Config, DEFAULT_LOCK_AFTER_SECS};

/// The app page; `{{connection}}`, `{{lock_after_secs}}` and `{{gateway}}` are filled in at start.
const INDEX_HTML: &str = include_str!("../web/index.html");

/// The clinic app's own files, served at `/<name>` beside the shared ones.
const OWN: &[(&str, &str)] = &[
    ("/app.js", include_str!("../web/app.js")),
    ("/patients.js", include_str!("../web/patients.js")),
    ("/clinic-tabs.js", include_str!("../web/clinic-tabs.js")),
    ("/clinic.css", include_str!("../web/clinic.css")),
    ("/writing.js", include_str!("../web/writing.js")),
    ("/notes.js", include_str!("../web/notes.js")),
    ("/phrases.js", include_str!("../web/phrases.js")),
    ("/printouts.js", include_str!("../web/printouts.js")),
    ("/summary.js", include_str!("../web/summary.js")),
    (
        "/emergency-access.js",
        include_str!("../web/emergency-access.js"),
    ),
    ("/admin.js", include_str!("../web/admin.js")),
    ("/sharing.js", include_str!("../web/sharing.js")),
    ("/guardianships.js", include_str!("../web/guardianships.js")),
    ("/facilities.js", include_str!("../web/facilities.js")),
    ("/health.js", include_str!("../web/health.js")),
    ("/enrolment.js", include_str!("../web/enrolment.js")),
    ("/root.js", include_str!("../web/root.js")),
    ("/schedule.js", include_str!("../web/schedule.js")),
    (
        "/schedule-editor.js",
        include_str!("../web/schedule-editor.js"),
    ),
    ("/offline.js", include_str!("../web/offline.js")),
    ("/outbox-view.js", include_str!("../web/outbox-view.js")),
    (
        "/manifest.webmanifest",
        include_str!("../web/manifest.webmanifest"),
    ),
    (
        "/documents-entry.js",
        include_str!("../web/documents-entry.js"),
    ),
    ("/vitals-entry.js", include_str!("../web/vitals-entry.js")),
    ("/orders-entry.js", include_str!("../web/orders-entry.js")),
    ("/orders-common.js", include_str!("../web/orders-common.js")),
    (
        "/orders-problems.js",
        include_str!("../web/orders-problems.js"),
    ),
    (
        "/orders-medications.js",
        include_str!("../web/orders-medications.js"),
    ),
    (
        "/orders-immunizations.js",
        include_str!("../web/orders-immunizations.js"),
    ),
    ("/orders-labs.js", include_str!("../web/orders-labs.js")),
    // Public reference data (clinic/data/SOURCES.md), loaded by the app when a form needs it.
    ("/data/growth.json", include_str!("../data/growth.json")),
    (
        "/data/conditions.json",
        include_str!("../data/conditions.json"),
    ),
    (
        "/data/medications.json",
        include_str!("../data/medications.json"),
    ),
    ("/data/vaccines.json", include_str!("../data/vaccines.json")),
    (
        "/data/lab-panels.json",
        include_str!("../data/lab-panels.json"),
    ),
];

const NOT_BUILT_HTML: &str = "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
     <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
     <title>Clinic</title></head><body><main>\
     <h1>Clinic</h1>\
     <p>The clinic app has not been built on this server. The administrator runs \
     <code>scripts/build-web</code> and restarts the stack.</p>\
     </main></body></html>";

/// The clinic app.
pub const APP: App<'static> = App {
    index_html: INDEX_HTML,
    own: OWN,
    not_built_html: NOT_BUILT_HTML,
    service_worker: Some(include_str!("../web/sw.js")),
};

/// Why the clinic app's server could not run.
#[derive(Debug, thiserror::Error)]
pub enum ClinicError {
    /// Serving failed, or a `[clinic] blossom` or `relays` entry is not an origin.
    #[error("clinic: {0}")]
    Web(#[from] ehr_web::WebError),
}

/// Serve the clinic app on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ClinicError> {
    Ok(ehr_web::serve(listener, config, APP, "clinic", shutdown).await?)
}

#[cfg(test)]
mod tests;
