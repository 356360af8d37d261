//! The portal's files (DESIGN.md §11): its page and its own modules under `portal/web`
//! (compiled in, so they always match this server), served with the shared browser modules
//! and the WebAssembly by `ehr-web`.

use ehr_web::App;

/// Where `scripts/build-web` writes by default (`web/assets` of the source tree).
pub const DEFAULT_DIR: &str = ehr_web::DEFAULT_ASSETS_DIR;

/// The app page; `{{connection}}` becomes the practice's connection string, escaped, and
/// `{{lock_after_secs}}` the session lock time.
const INDEX_HTML: &str = include_str!("../web/index.html");

/// The portal's own files, served at `/<name>` beside the shared ones.
const OWN: &[(&str, &str)] = &[
    ("/app.js", include_str!("../web/app.js")),
    ("/appointments.js", include_str!("../web/appointments.js")),
    ("/guardians.js", include_str!("../web/guardians.js")),
    ("/records.js", include_str!("../web/records.js")),
    ("/share.js", include_str!("../web/share.js")),
    ("/ips.js", include_str!("../web/ips.js")),
    ("/summary.js", include_str!("../web/summary.js")),
    ("/links.js", include_str!("../web/links.js")),
    ("/emergency.js", include_str!("../web/emergency.js")),
    ("/viewer.js", include_str!("../web/viewer.js")),
];

/// The SMART Health Link viewer (DESIGN.md §11), served at [`VIEWER_PATH`] with its own
/// `connect-src`: a link names its manifest URL, on this practice's gateway or anywhere else.
pub const VIEWER_HTML: &str = include_str!("../web/viewer.html");

/// Where the viewer is served; a link shown in the portal is `<origin>/viewer#shlink:/…`.
pub const VIEWER_PATH: &str = "/viewer";

/// The viewer's `connect-src` beside `'self'` and the configured origins (the gateway's):
/// any HTTPS manifest URL, since a link may come from any practice.
pub const VIEWER_CONNECT_SRC: &[&str] = &["https:"];

const NOT_BUILT_HTML: &str = "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
     <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
     <title>Patient portal</title></head><body><main>\
     <h1>Patient portal</h1>\
     <p>The portal's browser app has not been built on this server. The administrator runs \
     <code>scripts/build-web</code> and restarts the portal.</p>\
     <p>Your records are readable meanwhile with any NIP-44 client and the <code>ehr</code> \
     command line: <code>ehr practice connect</code>, then <code>ehr chart show</code>.</p>\
     </main></body></html>";

/// The portal app.
pub const APP: App<'static> = App {
    index_html: INDEX_HTML,
    own: OWN,
    not_built_html: NOT_BUILT_HTML,
    service_worker: None,
};
