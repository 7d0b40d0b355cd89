//! The harness the integration tests share: where the test bed's containerd and registry are
//! (tests/testbed.sh exports their addresses), and the rule for a missing bed: a developer's run
//! skips with a message, a CI run (`CI=true`) fails.

// A test harness: panicking is how every helper here reports a broken set-up.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

pub mod stack;

use std::env;
use std::path::PathBuf;

pub const DEFAULT_CONTAINERD_ADDRESS: &str = "/run/containerd/containerd.sock";

pub fn in_ci() -> bool {
    env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// Skips the calling test with `why` on a developer's machine, fails it in CI.
/// Returns `None` so callers can write `let Some(x) = ... else { return };`.
pub fn missing<T>(why: &str) -> Option<T> {
    let msg = format!(
        "{why}; run the tests through tests/run.sh, or `eval \"$(tests/testbed.sh up)\"` first"
    );
    if in_ci() {
        panic!("{msg} (CI=true: a missing test bed fails the run)");
    }
    eprintln!("SKIPPED: {msg}");
    None
}

/// The test bed's containerd socket: `BERTH_TEST_CONTAINERD_ADDRESS`, else the default socket.
/// When neither is set up, skips (developer) or fails (CI) through [`missing`].
pub fn containerd_address() -> Option<PathBuf> {
    match env::var_os("BERTH_TEST_CONTAINERD_ADDRESS") {
        Some(a) if !a.is_empty() => Some(PathBuf::from(a)),
        _ => {
            let default = PathBuf::from(DEFAULT_CONTAINERD_ADDRESS);
            if default.exists() || in_ci() {
                // In CI the connect itself fails, with berth's own message.
                Some(default)
            } else {
                missing("BERTH_TEST_CONTAINERD_ADDRESS is not set and no containerd socket is at /run/containerd/containerd.sock")
            }
        }
    }
}

/// The test bed's plain-HTTP registry as `host:port`, from `BERTH_TEST_REGISTRY`.
pub fn registry() -> Option<String> {
    match env::var("BERTH_TEST_REGISTRY") {
        Ok(r) if !r.is_empty() => Some(r),
        _ => missing("BERTH_TEST_REGISTRY is not set"),
    }
}

/// A path in a fresh directory of its own under the system's temp dir.
pub fn scratch_path(name: &str) -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let dir = env::temp_dir().join(format!("berth-test-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}
