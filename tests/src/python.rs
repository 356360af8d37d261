//! The independent Python checks (`tests/python/fhir_third_party.py`: fhirclient, fhir.resources
//! and the R4 JSON schema; `tests/python/shl_client.py`: a SMART Health Links client with
//! jwcrypto), run with the python3 that `scripts/python-tools` puts on PATH.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context, bail, ensure};
use serde_json::Value;

/// The official FHIR R4 JSON schema (the shared folder, read in place).
pub fn r4_schema() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/fhir/fhir.r4.schema.json")
}

/// Run `fhir_third_party.py` with `args`; the one line of JSON it prints last. An error when
/// the Python tools are missing, the script fails, or its answer names an error.
pub fn fhir_third_party(args: &[&str]) -> anyhow::Result<Value> {
    run(
        "fhir_third_party.py",
        "import fhirclient, fhir.resources, jsonschema, jwt",
        args,
    )
}

/// Run `shl_client.py` (a SMART Health Links client written from the specification, with
/// jwcrypto's JWE) with `args`, as [`fhir_third_party`] runs its script.
pub fn shl_client(args: &[&str]) -> anyhow::Result<Value> {
    run("shl_client.py", "import jwcrypto", args)
}

fn run(script: &str, imports: &str, args: &[&str]) -> anyhow::Result<Value> {
    let ready = Command::new("python3")
        .args(["-c", imports])
        .status()
        .is_ok_and(|s| s.success());
    ensure!(
        ready,
        "python3 with the test tools is needed ({imports}): eval \"$(scripts/python-tools)\" first (scripts/test does)"
    );
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("python")
        .join(script);
    let output = Command::new("python3")
        .arg(script)
        .args(args)
        .output()
        .context("python3 could not be run")?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let Some(answer) = stdout
        .lines()
        .last()
        .and_then(|l| serde_json::from_str::<Value>(l).ok())
    else {
        bail!("no JSON from the Python side: {stdout}\n{stderr}");
    };
    ensure!(
        output.status.success() && answer.get("error").is_none(),
        "{answer}\n{stderr}"
    );
    Ok(answer)
}
