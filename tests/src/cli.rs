//! The `ehr` command line, as the end-to-end tests run it.

use std::path::{Path, PathBuf};

/// The `ehr` binary, built beside the test executables by `cargo test --workspace` (the
/// `ehr-client` package's own tests need it).
pub fn ehr_binary() -> anyhow::Result<PathBuf> {
    let test = std::env::current_exe()?;
    let bin = test
        .parent()
        .and_then(Path::parent)
        .ok_or_else(|| anyhow::anyhow!("no target directory above {}", test.display()))?
        .join(format!("ehr{}", std::env::consts::EXE_SUFFIX));
    if !bin.exists() {
        anyhow::bail!(
            "{} is missing: build it with `cargo build -p ehr-client --bin ehr` (cargo test --workspace does)",
            bin.display()
        );
    }
    Ok(bin)
}
