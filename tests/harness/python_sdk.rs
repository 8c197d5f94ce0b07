//! The official Python SDK (`cloro` on PyPI) in a virtualenv under `target/sdk-venv`,
//! created on first use, for tests that drive the simulator or the gateway with it.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The pinned SDK version the checks are written against.
pub const SDK: &str = "cloro==0.2.0";

/// The venv's python, with the SDK installed. Created once per test process: tests running
/// in parallel wait for the first one instead of racing to build the same venv.
pub fn python() -> PathBuf {
    static PYTHON: OnceLock<PathBuf> = OnceLock::new();
    PYTHON.get_or_init(prepare_venv).clone()
}

fn prepare_venv() -> PathBuf {
    crate::python_venv::ensure("sdk-venv", SDK)
        .join("bin")
        .join("python")
}

/// Runs `tests/sdk/<script>` with the given environment; panics with its output on failure.
pub async fn run_script(script: &str, env: &[(&str, &str)]) -> String {
    let python = tokio::task::spawn_blocking(python).await.unwrap();
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("sdk")
        .join(script);
    let mut command = tokio::process::Command::new(python);
    command.arg(path);
    for (name, value) in env {
        command.env(name, value);
    }
    let output = command.output().await.unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{script} failed:\n--- stdout\n{stdout}\n--- stderr\n{stderr}"
    );
    stdout
}
