//! The probe loop, run inside the container's log driver process (see the module docs): waits
//! for the task to run, then execs the probe on schedule, each time as a new exec process of
//! the task with the container's own environment, user and working directory, its output going
//! to `<dir>/health-probe.out` through the shim's `file://` stdio. Every exec is deleted after it
//! ends (killed first when it runs out of time), so none is left behind. Returns when the task
//! is gone; the driver's exit ends it otherwise.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::{Probe, ProbeResult, CONFIG_FILE};
use crate::containerd::{Client, Stdio, TaskStatus};

const SIGKILL: u32 = 9;
/// Where a probe's output goes (host side); read after the exec is deleted, when the shim has
/// copied all of it.
const OUTPUT_FILE: &str = "health-probe.out";

/// Reads `<dir>/healthcheck.json` and probes container `id` until its task is gone. Does
/// nothing when the container has no healthcheck.
pub async fn run(dir: PathBuf, id: String) {
    let Ok(bytes) = std::fs::read(dir.join(CONFIG_FILE)) else {
        return;
    };
    let Ok(probe) = serde_json::from_slice::<Probe>(&bytes) else {
        eprintln!("berth health: {} is not a probe", CONFIG_FILE);
        return;
    };
    let client = loop {
        match Client::connect(Path::new(&probe.address), &probe.namespace).await {
            Ok(c) => break c,
            Err(e) => {
                eprintln!("berth health: {e}");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    };
    // The driver starts when the task is created; the clock starts when it runs.
    loop {
        match client.task_get(&id).await {
            Ok(Some(t)) if t.status == TaskStatus::Running => break,
            Ok(Some(t)) if t.status == TaskStatus::Stopped => return,
            Ok(_) | Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
    let started = Instant::now();
    let mut health = super::read_state(&dir).unwrap_or_default();
    let mut n: u64 = 0;
    loop {
        tokio::time::sleep(probe.next_delay(started.elapsed(), &health.status)).await;
        match client.task_get(&id).await {
            Ok(Some(t)) if t.status == TaskStatus::Running => {}
            // Paused: Docker skips probes of a paused container.
            Ok(Some(t)) if t.status == TaskStatus::Paused => continue,
            Ok(None) | Ok(Some(_)) => return,
            Err(_) => continue,
        }
        n += 1;
        let exec_id = format!("berth-health-{}-{n}", std::process::id());
        let result = once(&client, &id, &exec_id, &probe, &dir).await;
        let in_start_period = started.elapsed() < probe.start_period();
        health.record(result, in_start_period, probe.retries());
        if let Err(e) = super::write_state(&dir, &health) {
            eprintln!("berth health: {e}");
        }
    }
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

/// Runs the probe once and says how it went (exit -1 when it could not run or timed out).
async fn once(client: &Client, id: &str, exec_id: &str, probe: &Probe, dir: &Path) -> ProbeResult {
    let start = now();
    let out_path = dir.join(OUTPUT_FILE);
    let _ = std::fs::remove_file(&out_path);
    let (code, output) = match exec(client, id, exec_id, probe, &out_path).await {
        Ok(Some(code)) => {
            let output = std::fs::read(&out_path)
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .unwrap_or_default();
            (i64::from(code), output)
        }
        Ok(None) => (
            -1,
            format!(
                "Health check exceeded timeout ({})",
                crate::model::types::format_go_duration(probe.timeout().as_nanos() as i64)
            ),
        ),
        Err(e) => (-1, e),
    };
    let _ = std::fs::remove_file(&out_path);
    ProbeResult {
        start,
        end: now(),
        exit_code: code,
        output,
    }
}

/// The exec itself: `Ok(None)` when it ran out of time.
async fn exec(
    client: &Client,
    id: &str,
    exec_id: &str,
    probe: &Probe,
    out: &Path,
) -> Result<Option<u32>, String> {
    let args = probe.args()?;
    let container = client
        .container_get(id)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("container {id} is gone"))?;
    let spec: serde_json::Value =
        serde_json::from_slice(&container.spec_json).map_err(|e| e.to_string())?;
    let mut process = spec
        .get("process")
        .cloned()
        .ok_or_else(|| format!("container {id} has no process spec"))?;
    process["args"] = serde_json::json!(args);
    process["terminal"] = serde_json::json!(false);
    if let Some(p) = process.as_object_mut() {
        p.remove("consoleSize");
    }
    let spec_json = serde_json::to_vec(&process).map_err(|e| e.to_string())?;
    let stdio = Stdio {
        stdin: None,
        stdout: format!("file://{}", out.display()),
        stderr: format!("file://{}", out.display()),
        terminal: false,
    };
    client
        .exec(id, exec_id, spec_json, &stdio)
        .await
        .map_err(|e| e.to_string())?;
    if let Err(e) = client.exec_start(id, exec_id).await {
        let _ = client.exec_delete(id, exec_id).await;
        return Err(e.to_string());
    }
    let waited = tokio::time::timeout(probe.timeout(), client.exec_wait(id, exec_id)).await;
    let code = match waited {
        Ok(Ok(status)) => Some(status.code),
        Ok(Err(e)) => {
            let _ = client.exec_delete(id, exec_id).await;
            return Err(e.to_string());
        }
        Err(_) => {
            let _ = client.exec_kill(id, exec_id, SIGKILL).await;
            let _ =
                tokio::time::timeout(Duration::from_secs(5), client.exec_wait(id, exec_id)).await;
            None
        }
    };
    let _ = client.exec_delete(id, exec_id).await;
    Ok(code)
}
