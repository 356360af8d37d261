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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// A fresh agent key in `dir/agent.nsec` with permission bits `mode`.
    #[cfg(unix)]
    fn write_key(dir: &Path, mode: u32) -> Identity {
        use std::os::unix::fs::PermissionsExt as _;
        let key = Identity::generate();
        let path = dir.join("agent.nsec");
        std::fs::write(&path, ehr_client::keys::to_nsec(key.secret_key()).as_str()).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        key
    }

    #[cfg(unix)]
    #[test]
    fn an_agent_key_file_group_or_others_may_open_is_refused_naming_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        for mode in [0o644, 0o640, 0o604, 0o660, 0o602] {
            write_key(dir.path(), mode);
            let error = read_agent_key(dir.path(), Path::new("agent.nsec")).unwrap_err();
            assert!(
                error.contains("agent.nsec") && error.contains("chmod 600"),
                "{mode:o}: {error}"
            );
        }
        let key = write_key(dir.path(), 0o600);
        let read = read_agent_key(dir.path(), Path::new("agent.nsec")).unwrap();
        assert_eq!(read.public_key(), key.public_key());
    }
}
