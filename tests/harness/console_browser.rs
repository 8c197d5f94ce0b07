//! A real browser for the web console's test: Debian's headless Chromium (`/usr/bin/chromium`,
//! installed with apt-get when missing and running as root) driven by Playwright for Python
//! (PyPI, in a virtualenv under `target/console-venv`), running `tests/console/<script>`
//! against a live gateway. Playwright's own browser downloads are never used.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The pinned Playwright the scripts are written against.
pub const PLAYWRIGHT: &str = "playwright==1.65.2";

/// Debian's Chromium, the only browser the scripts launch.
pub const CHROMIUM: &str = "/usr/bin/chromium";

/// How long one script may run before it is killed.
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(180);

/// `/usr/bin/chromium`, installed first (`apt-get install chromium`) when it is missing and
/// this process is root; without root, a panic saying how to install it.
pub fn chromium() -> PathBuf {
    static CHROMIUM_PATH: OnceLock<PathBuf> = OnceLock::new();
    CHROMIUM_PATH
        .get_or_init(|| crate::debian_package::ensure(CHROMIUM, "chromium"))
        .clone()
}

/// The venv's python, with Playwright installed. Created once per test process.
pub fn python() -> PathBuf {
    static PYTHON: OnceLock<PathBuf> = OnceLock::new();
    PYTHON
        .get_or_init(|| {
            crate::python_venv::ensure("console-venv", PLAYWRIGHT)
                .join("bin")
                .join("python")
        })
        .clone()
}

/// What a script printed (stdout and stderr together) and how long it took.
pub struct BrowserRun {
    pub output: String,
    pub elapsed: Duration,
}

/// Runs `tests/console/<script>` with `env` (and `CHROMIUM`); panics with its output when it
/// fails or outlives [`SCRIPT_TIMEOUT`].
pub async fn run_script(script: &str, env: &[(&str, &str)]) -> BrowserRun {
    let (python, chromium) = tokio::task::spawn_blocking(|| (python(), chromium()))
        .await
        .expect("preparing the browser");
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("console")
        .join(script);
    let mut command = tokio::process::Command::new(python);
    command
        .arg(path)
        .env("CHROMIUM", chromium)
        .kill_on_drop(true);
    for (name, value) in env {
        command.env(name, value);
    }
    let started = Instant::now();
    let output = tokio::time::timeout(SCRIPT_TIMEOUT, command.output())
        .await
        .unwrap_or_else(|_| panic!("{script} ran longer than {SCRIPT_TIMEOUT:?}"))
        .expect("running the browser script");
    let elapsed = started.elapsed();
    let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&output.stderr));
    assert!(
        output.status.success(),
        "{script} failed after {elapsed:.1?}:\n{text}"
    );
    BrowserRun {
        output: text,
        elapsed,
    }
}
