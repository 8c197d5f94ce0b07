//! The official Python SDK (cloro==0.2.0) against the simulator: tests/sdk/sim_sdk_check.py must pass.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use cloro_sim::{LatencySpec, SimConfig};

use crate::helpers::TestSim;

const SDK: &str = "cloro==0.2.0";

/// `target/sdk-venv`, created with the SDK installed if it is not there yet.
fn sdk_python() -> PathBuf {
    let target = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .unwrap()
        .to_path_buf();
    let venv = target.join("sdk-venv");
    let python = venv.join("bin").join("python");
    let ready = python.exists()
        && Command::new(&python)
            .args([
                "-c",
                "import cloro, sys; sys.exit(cloro.__version__ != '0.2.0')",
            ])
            .status()
            .is_ok_and(|s| s.success());
    if !ready {
        let created = Command::new("python3")
            .args(["-m", "venv"])
            .arg(&venv)
            .status()
            .unwrap();
        assert!(created.success(), "python3 -m venv failed");
        let installed = Command::new(venv.join("bin").join("pip"))
            .args(["install", "--quiet", SDK])
            .output()
            .unwrap();
        assert!(
            installed.status.success(),
            "pip install {SDK} failed:\n{}\n{}",
            String::from_utf8_lossy(&installed.stdout),
            String::from_utf8_lossy(&installed.stderr)
        );
    }
    python
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_official_python_sdk_works_against_the_simulator() {
    let python = tokio::task::spawn_blocking(sdk_python).await.unwrap();
    let t = TestSim::start(SimConfig {
        latency: LatencySpec::Fixed(Duration::from_millis(20)),
        ..SimConfig::default()
    })
    .await;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sdk/sim_sdk_check.py");
    let output = tokio::process::Command::new(python)
        .arg(script)
        .env("CLORO_SIM_BASE_URL", &t.base)
        .env("CLORO_SIM_API_KEY", &t.key)
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the SDK check failed:\n--- stdout\n{stdout}\n--- stderr\n{stderr}"
    );
    assert!(stdout.contains("sdk check ok"), "{stdout}");
    let stats = t.stats().await;
    assert!(stats.responses_429 >= 1, "the script saw a concurrency 429");
    t.stop().await;
}
