//! The independent JavaScript checks under `tests/node` (nostr-tools, blossom-client-sdk, ajv),
//! run with node: the npm packages `scripts/test` installs must be there.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use anyhow::{Context, ensure};
use serde_json::Value;

/// `tests/node`, after checking that `package` is installed there.
pub fn node_dir(package: &str) -> anyhow::Result<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("node");
    ensure!(
        dir.join("node_modules").join(package).is_dir(),
        "node dependencies missing: run `npm ci --prefix tests/node` (scripts/test does)"
    );
    Ok(dir)
}

/// Run `script` (in `tests/node`, needing `package`) with `input` as JSON on stdin; its stdout,
/// one JSON value per line. A failing script is an error carrying its output.
pub fn run_json_lines(script: &str, package: &str, input: &Value) -> anyhow::Result<Vec<Value>> {
    let mut child = Command::new("node")
        .arg(script)
        .current_dir(node_dir(package)?)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("node must be installed")?;
    child
        .stdin
        .take()
        .context("node's stdin")?
        .write_all(input.to_string().as_bytes())?;
    let output = child.wait_with_output()?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    ensure!(
        output.status.success(),
        "{script} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
        .lines()
        .map(|line| serde_json::from_str(line).with_context(|| format!("{script} printed {line}")))
        .collect()
}
