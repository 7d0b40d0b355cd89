//! Health checks without a daemon. berth writes a service's resolved `healthcheck:` into the
//! container's own directory (`<lib>/containers/<ns>/<id>/healthcheck.json`, [`CONFIG_FILE`])
//! before it creates the task; the container's log driver (`logs::driver`, the shim's child,
//! which lives exactly as long as the task) runs [`prober::run`], which execs the probe into
//! the task on schedule and records Docker's health state in `health.json` ([`STATE_FILE`]),
//! atomically, for `ps`, `depends_on: service_healthy` and `up --wait` to read.
//!
//! The rules are moby's (`daemon/health.go`): defaults interval 30s, timeout 30s, start
//! period 0, start interval 5s, retries 3; a failure inside the start period does not count
//! while the container is still `starting`; the log keeps the last 5 results; output is cut at
//! 4096 bytes; a probe that runs out of time counts as exit code -1.
//!
//! This file is pure (data, transitions, schedule); only `prober` talks to containerd.

pub mod prober;

use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::model::types::HealthCheckConfig;

/// The probe settings, written by berth, read by the prober.
pub const CONFIG_FILE: &str = "healthcheck.json";
/// The health state, written by the prober (and by berth when it starts the task).
pub const STATE_FILE: &str = "health.json";

pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
pub const DEFAULT_START_INTERVAL: Duration = Duration::from_secs(5);
pub const DEFAULT_RETRIES: u32 = 3;
/// moby `maxLogEntries`.
pub const MAX_LOG_ENTRIES: usize = 5;
/// moby `maxOutputLen`.
pub const MAX_OUTPUT_LEN: usize = 4096;

pub const STARTING: &str = "starting";
pub const HEALTHY: &str = "healthy";
pub const UNHEALTHY: &str = "unhealthy";

/// `healthcheck.json`: what to run, how often, and where containerd is. Durations in
/// nanoseconds, 0 meaning the default.
///
/// ```json
/// {"address":"/run/containerd/containerd.sock","namespace":"default",
///  "test":["CMD-SHELL","test -f /ready"],"interval":1000000000,"timeout":0,
///  "start_period":0,"start_interval":0,"retries":3}
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Probe {
    pub address: String,
    pub namespace: String,
    /// `["CMD", args...]` or `["CMD-SHELL", command]`.
    pub test: Vec<String>,
    pub interval: u64,
    pub timeout: u64,
    pub start_period: u64,
    pub start_interval: u64,
    /// 0 means the default (3), as in moby.
    pub retries: u32,
}

/// An image's `HEALTHCHECK` (the `Healthcheck` object of its config), durations in ns.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ImageHealthcheck {
    #[serde(default)]
    pub test: Vec<String>,
    #[serde(default)]
    pub interval: i64,
    #[serde(default)]
    pub timeout: i64,
    #[serde(default)]
    pub start_period: i64,
    #[serde(default)]
    pub start_interval: i64,
    #[serde(default)]
    pub retries: i64,
}

/// The `config.Healthcheck` of an image config blob (Docker's image format; OCI's has no such
/// field).
pub fn image_healthcheck(config_json: &[u8]) -> Option<ImageHealthcheck> {
    let v: serde_json::Value = serde_json::from_slice(config_json).ok()?;
    let h = v.get("config")?.get("Healthcheck")?;
    serde_json::from_value(h.clone()).ok()
}

fn ns(d: Option<&crate::model::types::Duration>) -> u64 {
    d.map_or(0, |d| d.0.max(0) as u64)
}

/// moby's merge of a container's healthcheck over its image's: the service's test when it has
/// one, else the image's; each setting the service leaves at 0 comes from the image. `None`
/// when there is no test, or it is `NONE` (also what `disable: true` means).
pub fn resolve(
    service: Option<&HealthCheckConfig>,
    image: Option<&ImageHealthcheck>,
) -> Option<Probe> {
    if service.is_some_and(|s| s.disable) {
        return None;
    }
    let img = image.cloned().unwrap_or_default();
    let pick = |own: u64, theirs: i64| if own > 0 { own } else { theirs.max(0) as u64 };
    let (test, interval, timeout, start_period, start_interval, retries) = match service {
        Some(s) => (
            if s.test.is_empty() {
                img.test.clone()
            } else {
                s.test.0.clone()
            },
            pick(ns(s.interval.as_ref()), img.interval),
            pick(ns(s.timeout.as_ref()), img.timeout),
            pick(ns(s.start_period.as_ref()), img.start_period),
            pick(ns(s.start_interval.as_ref()), img.start_interval),
            pick(s.retries.unwrap_or(0), img.retries) as u32,
        ),
        None => (
            img.test.clone(),
            img.interval.max(0) as u64,
            img.timeout.max(0) as u64,
            img.start_period.max(0) as u64,
            img.start_interval.max(0) as u64,
            img.retries.max(0) as u32,
        ),
    };
    match test.first().map(String::as_str) {
        None | Some("NONE") => None,
        Some(_) => Some(Probe {
            address: String::new(),
            namespace: String::new(),
            test,
            interval,
            timeout,
            start_period,
            start_interval,
            retries,
        }),
    }
}

impl Probe {
    pub fn interval(&self) -> Duration {
        or_default(self.interval, DEFAULT_INTERVAL)
    }
    pub fn timeout(&self) -> Duration {
        or_default(self.timeout, DEFAULT_TIMEOUT)
    }
    pub fn start_period(&self) -> Duration {
        Duration::from_nanos(self.start_period)
    }
    pub fn start_interval(&self) -> Duration {
        or_default(self.start_interval, DEFAULT_START_INTERVAL)
    }
    pub fn retries(&self) -> u32 {
        if self.retries == 0 {
            DEFAULT_RETRIES
        } else {
            self.retries
        }
    }

    /// The process to exec: `CMD` runs its arguments, `CMD-SHELL` runs `/bin/sh -c`.
    pub fn args(&self) -> Result<Vec<String>, String> {
        match self.test.split_first() {
            Some((kind, rest)) if kind == "CMD" && !rest.is_empty() => Ok(rest.to_vec()),
            Some((kind, rest)) if kind == "CMD-SHELL" && !rest.is_empty() => {
                Ok(vec!["/bin/sh".into(), "-c".into(), rest.join(" ")])
            }
            _ => Err(format!("unknown healthcheck type {:?}", self.test)),
        }
    }

    /// moby `monitor`'s `getInterval`: the start interval while the container is `starting`
    /// and inside its start period, else the interval.
    pub fn next_delay(&self, since_start: Duration, status: &str) -> Duration {
        if since_start < self.start_period() && status == STARTING {
            self.start_interval()
        } else {
            self.interval()
        }
    }
}

fn or_default(ns: u64, d: Duration) -> Duration {
    if ns == 0 {
        d
    } else {
        Duration::from_nanos(ns)
    }
}

/// One probe's result, as Docker's `HealthcheckResult` (times RFC 3339).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ProbeResult {
    pub start: String,
    pub end: String,
    pub exit_code: i64,
    pub output: String,
}

/// `health.json`: Docker's `Health` object.
///
/// ```json
/// {"Status":"healthy","FailingStreak":0,"Log":[{"Start":"…","End":"…","ExitCode":0,"Output":""}]}
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Health {
    pub status: String,
    pub failing_streak: u32,
    #[serde(default)]
    pub log: Vec<ProbeResult>,
}

impl Default for Health {
    fn default() -> Self {
        Health {
            status: STARTING.into(),
            failing_streak: 0,
            log: Vec::new(),
        }
    }
}

impl Health {
    /// moby `handleProbeResult`: a pass makes the container healthy; a failure counts unless
    /// the container is still starting inside its start period; `retries` failures in a row
    /// make it unhealthy.
    pub fn record(&mut self, mut result: ProbeResult, in_start_period: bool, retries: u32) {
        if result.output.len() > MAX_OUTPUT_LEN {
            let mut cut = MAX_OUTPUT_LEN;
            while !result.output.is_char_boundary(cut) {
                cut -= 1;
            }
            result.output.truncate(cut);
        }
        let passed = result.exit_code == 0;
        self.log.push(result);
        if self.log.len() > MAX_LOG_ENTRIES {
            let extra = self.log.len() - MAX_LOG_ENTRIES;
            self.log.drain(..extra);
        }
        if passed {
            self.failing_streak = 0;
            self.status = HEALTHY.into();
            return;
        }
        if self.status == STARTING && in_start_period {
            return;
        }
        self.failing_streak += 1;
        if self.failing_streak >= retries {
            self.status = UNHEALTHY.into();
        }
    }

    /// `ps`'s suffix: `(healthy)`, `(unhealthy)`, `(health: starting)`.
    pub fn ps_suffix(&self) -> String {
        match self.status.as_str() {
            STARTING => "(health: starting)".into(),
            s => format!("({s})"),
        }
    }
}

/// The health state in container directory `dir`, if its container has a healthcheck.
pub fn read_state(dir: &Path) -> Option<Health> {
    let bytes = std::fs::read(dir.join(STATE_FILE)).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// Writes `health` atomically (readers never see half a file).
pub fn write_state(dir: &Path, health: &Health) -> Result<(), crate::state::StateError> {
    let bytes = serde_json::to_vec(health).unwrap_or_default();
    crate::state::write_atomic(&dir.join(STATE_FILE), &bytes, 0o644)
}

/// Before a task starts: the probe settings and a fresh `starting` state, or neither (a
/// state left by an earlier run of the container is removed).
pub fn prepare(dir: &Path, probe: Option<&Probe>) -> Result<(), crate::state::StateError> {
    for f in [CONFIG_FILE, STATE_FILE] {
        match std::fs::remove_file(dir.join(f)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(crate::state::StateError::Io {
                    what: "remove",
                    path: dir.join(f),
                    source: e,
                })
            }
            _ => {}
        }
    }
    if let Some(p) = probe {
        let bytes = serde_json::to_vec(p).unwrap_or_default();
        crate::state::write_atomic(&dir.join(CONFIG_FILE), &bytes, 0o644)?;
        write_state(dir, &Health::default())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::model::types::{Duration as GoDuration, HealthCheckTest};

    fn result(code: i64) -> ProbeResult {
        ProbeResult {
            start: "s".into(),
            end: "e".into(),
            exit_code: code,
            output: String::new(),
        }
    }

    #[test]
    fn passes_make_healthy_and_failures_count_up_to_retries() {
        let mut h = Health::default();
        h.record(result(1), false, 3);
        h.record(result(1), false, 3);
        assert_eq!((h.status.as_str(), h.failing_streak), (STARTING, 2));
        h.record(result(0), false, 3);
        assert_eq!((h.status.as_str(), h.failing_streak), (HEALTHY, 0));
        for _ in 0..2 {
            h.record(result(1), false, 3);
        }
        assert_eq!(h.status, HEALTHY);
        h.record(result(-1), false, 3);
        assert_eq!((h.status.as_str(), h.failing_streak), (UNHEALTHY, 3));
        assert_eq!(h.log.len(), MAX_LOG_ENTRIES);
        h.record(result(0), false, 3);
        assert_eq!(h.status, HEALTHY);
    }

    #[test]
    fn failures_in_the_start_period_do_not_count_while_starting() {
        let mut h = Health::default();
        for _ in 0..5 {
            h.record(result(1), true, 1);
        }
        assert_eq!((h.status.as_str(), h.failing_streak), (STARTING, 0));
        h.record(result(0), true, 1);
        h.record(result(1), true, 1);
        assert_eq!(h.status, UNHEALTHY);
    }

    #[test]
    fn output_is_cut_at_4096_bytes() {
        let mut h = Health::default();
        let mut r = result(0);
        r.output = "é".repeat(3000);
        h.record(r, false, 3);
        assert!(h.log[0].output.len() <= MAX_OUTPUT_LEN);
        assert!(h.log[0].output.len() > MAX_OUTPUT_LEN - 2);
    }

    #[test]
    fn schedule_uses_the_start_interval_only_while_starting_in_the_start_period() {
        let p = Probe {
            interval: 10_000_000_000,
            start_period: 60_000_000_000,
            ..Probe::default()
        };
        let s = Duration::from_secs;
        assert_eq!(p.next_delay(s(1), STARTING), DEFAULT_START_INTERVAL);
        assert_eq!(p.next_delay(s(1), HEALTHY), s(10));
        assert_eq!(p.next_delay(s(61), STARTING), s(10));
        let d = Probe::default();
        assert_eq!(d.next_delay(s(0), STARTING), DEFAULT_INTERVAL);
        assert_eq!((d.timeout(), d.retries()), (DEFAULT_TIMEOUT, 3));
    }

    #[test]
    fn service_settings_override_the_images_and_none_disables() {
        let img = ImageHealthcheck {
            test: vec!["CMD".into(), "true".into()],
            interval: 7,
            retries: 9,
            ..Default::default()
        };
        let svc = HealthCheckConfig {
            interval: Some(GoDuration(3)),
            ..Default::default()
        };
        let p = resolve(Some(&svc), Some(&img)).unwrap();
        assert_eq!((p.test[1].as_str(), p.interval, p.retries), ("true", 3, 9));
        let disabled = HealthCheckConfig {
            disable: true,
            ..Default::default()
        };
        assert_eq!(resolve(Some(&disabled), Some(&img)), None);
        let none = HealthCheckConfig {
            test: HealthCheckTest(vec!["NONE".into()]),
            ..Default::default()
        };
        assert_eq!(resolve(Some(&none), Some(&img)), None);
        assert_eq!(resolve(None, None), None);
        assert!(resolve(None, Some(&img)).is_some());
    }

    #[test]
    fn an_images_healthcheck_is_read_from_its_config() {
        let blob = br#"{"architecture":"amd64","config":{"Cmd":["x"],"Healthcheck":{"Test":["CMD-SHELL","true"],"Interval":2000000000,"Retries":4}}}"#;
        let h = image_healthcheck(blob).unwrap();
        assert_eq!(h.test, ["CMD-SHELL", "true"]);
        assert_eq!((h.interval, h.retries, h.timeout), (2_000_000_000, 4, 0));
        assert_eq!(image_healthcheck(br#"{"config":{"Cmd":["x"]}}"#), None);
    }

    #[test]
    fn cmd_shell_runs_through_sh() {
        let p = Probe {
            test: vec!["CMD-SHELL".into(), "test -f /x".into()],
            ..Probe::default()
        };
        assert_eq!(p.args().unwrap(), ["/bin/sh", "-c", "test -f /x"]);
        let p = Probe {
            test: vec!["CMD".into(), "true".into()],
            ..Probe::default()
        };
        assert_eq!(p.args().unwrap(), ["true"]);
        assert!(Probe::default().args().is_err());
    }

    #[test]
    fn ps_suffixes() {
        let mut h = Health::default();
        assert_eq!(h.ps_suffix(), "(health: starting)");
        h.status = UNHEALTHY.into();
        assert_eq!(h.ps_suffix(), "(unhealthy)");
    }
}
