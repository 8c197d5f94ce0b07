//! Tools from Debian's packages that some tests drive (promtool, Chromium): found where the
//! package puts them, or installed with apt-get when missing and this process is root.

use std::path::PathBuf;
use std::process::Command;

/// `binary` (an absolute path the package `package` installs), installed first when it is
/// missing and this process is root; without root, a panic saying how to install it.
/// Blocking: call it from a `OnceLock` so parallel tests do not race apt-get.
pub fn ensure(binary: &str, package: &str) -> PathBuf {
    let path = PathBuf::from(binary);
    if path.exists() {
        return path;
    }
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "0");
    assert!(
        root,
        "{binary} is missing and this test is not running as root: install it with \
         `sudo apt-get install -y --no-install-recommends {package}`"
    );
    let install = || {
        Command::new("apt-get")
            .args(["install", "-y", "--no-install-recommends", package])
            .env("DEBIAN_FRONTEND", "noninteractive")
            .output()
            .expect("running apt-get")
    };
    let mut output = install();
    if !output.status.success() {
        // A machine that never ran `apt-get update` has no package lists yet.
        let _ = Command::new("apt-get").args(["update", "-qq"]).status();
        output = install();
    }
    assert!(
        output.status.success() && path.exists(),
        "apt-get install {package} failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    path
}
