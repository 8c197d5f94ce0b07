//! schemathesis (PyPI) in a virtualenv under `target/fuzz-venv`, created on first use, and
//! `tests/fuzz/run_fuzz.sh` run with it: the fuzz run of security issue 12, as a test.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The pinned schemathesis the script's options are written against.
pub const SCHEMATHESIS: &str = "schemathesis==4.32.5";

/// The venv's `schemathesis` executable. Created once per test process.
pub fn schemathesis() -> PathBuf {
    static EXECUTABLE: OnceLock<PathBuf> = OnceLock::new();
    EXECUTABLE
        .get_or_init(|| {
            crate::python_venv::ensure("fuzz-venv", SCHEMATHESIS)
                .join("bin")
                .join("schemathesis")
        })
        .clone()
}

/// What one run of the script printed, and how it ended.
pub struct FuzzRun {
    pub passed: bool,
    /// stdout and stderr together (schemathesis reports on stdout).
    pub output: String,
    pub elapsed: Duration,
}

impl FuzzRun {
    /// The lines of schemathesis's summary worth keeping in a test log: operations selected
    /// and tested, test cases generated (one request each) and failures found, the seed and
    /// the closing line.
    pub fn summary(&self) -> Vec<&str> {
        self.output
            .lines()
            .map(str::trim)
            .filter(|line| {
                line.starts_with("Selected:")
                    || line.starts_with("Tested:")
                    || line.starts_with("Seed:")
                    || (line.contains(" generated")
                        && line.chars().next().is_some_and(|c| c.is_ascii_digit()))
                    || (line.starts_with('=') && line.contains(" in "))
            })
            .collect()
    }
}

/// Runs `tests/fuzz/run_fuzz.sh <base_url> <token> <extra...>` with the venv's schemathesis;
/// `env` adds variables (e.g. `FUZZ_MAX_EXAMPLES`).
pub async fn run_fuzz(
    base_url: &str,
    token: &str,
    extra: &[&str],
    env: &[(&str, &str)],
) -> FuzzRun {
    let executable = tokio::task::spawn_blocking(schemathesis).await.unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz")
        .join("run_fuzz.sh");
    let mut command = tokio::process::Command::new("bash");
    command
        .arg(script)
        .arg(base_url)
        .arg(token)
        .args(extra)
        .env("SCHEMATHESIS", executable)
        .kill_on_drop(true);
    for (name, value) in env {
        command.env(name, value);
    }
    let started = Instant::now();
    let output = command.output().await.unwrap();
    let elapsed = started.elapsed();
    let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&output.stderr));
    FuzzRun {
        passed: output.status.success(),
        output: text,
        elapsed,
    }
}
