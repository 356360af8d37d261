//! Configuration helpers every service uses the same way: database URLs (which are accepted,
//! how they appear in logs), files a configuration names, and an agent's own key.

use std::path::Path;

use ehr_client::keys::{Identity, parse_secret_key};

/// A database URL with any password replaced, for logs and `Debug`.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let Some((userinfo, host)) = rest.split_once('@') else {
        return url.to_owned();
    };
    let user = userinfo.split(':').next().unwrap_or_default();
    format!("{scheme}://{user}:[redacted]@{host}")
}

/// Whether `url` names a database the services open: `sqlite:...` or `postgres(ql)://...`.
pub fn is_database_url(url: &str) -> bool {
    url.starts_with("sqlite:") || url.starts_with("postgres://") || url.starts_with("postgresql://")
}

pub use ehr_client::connection::same_relay_url;

/// Read a file a service's configuration names (`key` is its setting), relative to the
/// configuration file's folder `base`; the error names the setting and the path, never the
/// content.
pub fn read_config_file(base: &Path, path: &Path, key: &str) -> Result<String, String> {
    let full = base.join(path);
    std::fs::read_to_string(&full).map_err(|e| format!("{key} {}: {}", full.display(), e.kind()))
}

/// A service agent's own key from its `key_file` (nsec or hex, relative to `base`). A file that
/// group or others may read or write is refused, naming the fix: the secret is the agent's
/// whole identity.
pub fn read_agent_key(base: &Path, key_file: &Path) -> Result<Identity, String> {
    check_key_file_mode(&base.join(key_file))?;
    let secret = read_config_file(base, key_file, "key_file")?;
    let secret = parse_secret_key(secret.trim(), None)
        .map_err(|_| "key_file does not hold an nsec or hex secret key".to_owned())?;
    Ok(Identity::from_secret_key(secret))
}

/// Refuse a key file with any group or other permission bit (Unix). A file that cannot be read
/// at all is left to [`read_config_file`] to name.
#[cfg(unix)]
fn check_key_file_mode(path: &Path) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt as _;
    let Ok(metadata) = std::fs::metadata(path) else {
        return Ok(());
    };
    let mode = metadata.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(format!(
            "key_file {} is accessible to group or others (mode {mode:o}); run `chmod 600 {}`",
            path.display(),
            path.display()
        ));
    }
    Ok(())
}

/// Permission bits are a Unix matter.
#[cfg(not(unix))]
fn check_key_file_mode(_path: &Path) -> Result<(), String> {
    Ok(())
}
