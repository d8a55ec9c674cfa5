//! The OpenAPI document says what the server does: Schemathesis (a fuzzer
//! driven by `/openapi.json`, from PyPI) sends the served API ~1,500
//! generated requests, valid and invalid by the document, and checks every
//! answer against it with its default checks. Any mismatch fails the test.
//!
//! Schemathesis runs from a Python virtual environment this test makes
//! under cargo's target directory on first use (pip needs PyPI then).
#![cfg(feature = "server")]

mod support;

#[path = "support/fill.rs"]
mod fill;

use std::path::{Path, PathBuf};
use std::process::Command;

use fill::Fixture;
use support::http::Served;

/// The Schemathesis release the document is checked with.
const SCHEMATHESIS: &str = "schemathesis==4.32.5";
const TOKEN: &str = "fuzzing token";

/// The `st` command of a virtual environment with Schemathesis, made if
/// missing; why not, if it cannot be made.
fn schemathesis() -> Result<PathBuf, String> {
    let venv = Path::new(env!("CARGO_TARGET_TMPDIR")).join("schemathesis-venv");
    let st = venv.join("bin").join("st");
    let marker = venv.join(SCHEMATHESIS);
    if st.exists() && marker.exists() {
        return Ok(st);
    }
    let run = |command: &mut Command, what: &str| -> Result<(), String> {
        let output = command
            .output()
            .map_err(|e| format!("{what}: cannot run it: {e}"))?;
        if !output.status.success() {
            return Err(format!(
                "{what} failed: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            ));
        }
        Ok(())
    };
    run(
        Command::new("python3").args(["-m", "venv"]).arg(&venv),
        "python3 -m venv",
    )?;
    run(
        Command::new(venv.join("bin").join("pip")).args(["install", "--quiet", SCHEMATHESIS]),
        "pip install schemathesis",
    )?;
    std::fs::write(&marker, "").map_err(|e| e.to_string())?;
    Ok(st)
}

#[test]
fn schemathesis_finds_no_mismatch_between_the_document_and_the_server() {
    let st = match schemathesis() {
        Ok(st) => st,
        Err(why) => return support::skip(format!("Schemathesis: {why}")),
    };
    let fx = Fixture::new();
    let served = Served::from_environment(&fx.db.path, TOKEN);
    let output = Command::new(&st)
        .arg("run")
        .arg(format!("http://{}/openapi.json", served.addr))
        .args(["--header", &format!("Authorization: Bearer {TOKEN}")])
        .env("NO_COLOR", "1")
        .output()
        .expect("run schemathesis");
    let report = String::from_utf8_lossy(&output.stdout);
    let log = served.stop();
    assert!(
        output.status.success(),
        "{report}\n{}\nserver log:\n{log}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(report.contains(" passed"), "{report}");
    assert!(!log.contains("panicked"), "{log}");
}
