//! Python virtualenvs under `target/`, each holding one pinned package from PyPI and created
//! on first use, for tests that drive the gateway with a Python tool (the official SDK,
//! schemathesis, Playwright, kubernetes-validate).

use std::path::{Path, PathBuf};
use std::process::Command;

/// `target/<name>`, a virtualenv with `requirement` (`package==version`) installed; created
/// (or re-created) unless that version is already there. Blocking: call it once per process,
/// from `spawn_blocking` or a `OnceLock`, so tests running in parallel do not race to build
/// the same venv.
pub fn ensure(name: &str, requirement: &str) -> PathBuf {
    let (package, version) = requirement
        .split_once("==")
        .unwrap_or_else(|| panic!("{requirement} is not pinned as package==version"));
    let ready_check = format!(
        "import importlib.metadata as m, sys; sys.exit(m.version('{package}') != '{version}')"
    );
    let venv = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../target")
        .join(name);
    let python = venv.join("bin").join("python");
    let ready = python.exists()
        && Command::new(&python)
            .args(["-c", &ready_check])
            .status()
            .is_ok_and(|s| s.success());
    if !ready {
        let created = Command::new("python3")
            .args(["-m", "venv", "--clear"])
            .arg(&venv)
            .status()
            .unwrap();
        assert!(
            created.success(),
            "python3 -m venv {} failed",
            venv.display()
        );
        let installed = Command::new(venv.join("bin").join("pip"))
            .args(["install", "--quiet", requirement])
            .output()
            .unwrap();
        assert!(
            installed.status.success(),
            "pip install {requirement} failed:\n{}\n{}",
            String::from_utf8_lossy(&installed.stdout),
            String::from_utf8_lossy(&installed.stderr)
        );
    }
    venv
}
