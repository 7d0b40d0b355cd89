//! Restart policies (`restart:` and `deploy.restart_policy`) as labels for containerd's restart
//! monitor, which keeps them working with no berth process alive. Pure: what the running
//! containerd can do comes in as [`MonitorSupport`] (app reads it through Introspection).
//!
//! The monitor (containerd's `restart` plugin) polls every `interval` (10 s by default) for
//! containers labelled `containerd.io/restart.status`; with `running` it makes a new task for a
//! container whose task is missing or not running, its output going to
//! `containerd.io/restart.loguri` (a `binary://` URI: berth's log driver, so the restarted task
//! keeps writing the json-file log). 1.6 already reads `loguri` (since 1.5; the older
//! `restart.logpath` is a plain file without berth's format, so berth never sets it).
//! 1.7 and later also read `containerd.io/restart.policy` (`always`, `on-failure[:N]`,
//! `unless-stopped`, `no`), count restarts in `containerd.io/restart.count`, and honour
//! `containerd.io/restart.explicitly-stopped` for `unless-stopped`.
//!
//! What containerd 1.6 cannot do: it restarts a container whatever its exit code and without
//! limit (the status label alone means "always"). So on 1.6:
//! - `always` and `unless-stopped` are honoured. (They differ only after a manual stop, and
//!   berth's stop removes the labels first, so a stopped container stays stopped under both.)
//! - `on-failure[:N]` gets no labels: the container is not restarted, with a warning naming
//!   the service. Restarting a job that finished well, forever and ignoring N, would be a
//!   worse surprise than not restarting one that failed.
//!
//! Neither version waits between restarts as Docker does (backoff from 100 ms): the monitor's
//! interval is the only delay. `deploy.restart_policy.delay` and `.window` are not honoured.
//!
//! Imports only `model`.

use std::collections::BTreeMap;

use crate::model::types::ServiceConfig;

pub const STATUS: &str = "containerd.io/restart.status";
pub const LOG_URI: &str = "containerd.io/restart.loguri";
/// 1.6's deprecated log label; berth never sets it, but clears it with the rest.
pub const LOG_PATH: &str = "containerd.io/restart.logpath";
pub const POLICY: &str = "containerd.io/restart.policy";
pub const COUNT: &str = "containerd.io/restart.count";
pub const EXPLICITLY_STOPPED: &str = "containerd.io/restart.explicitly-stopped";

/// Every label the monitor reads, cleared together.
pub const ALL: [&str; 6] = [STATUS, LOG_URI, LOG_PATH, POLICY, COUNT, EXPLICITLY_STOPPED];

/// A service's restart policy, as Docker's engine knows them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Policy {
    No,
    Always,
    /// `on-failure[:N]`; `None` means no limit.
    OnFailure(Option<u64>),
    UnlessStopped,
}

/// What the running containerd's restart monitor understands.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MonitorSupport {
    /// The `restart` plugin is loaded (`restart.status`).
    pub monitor: bool,
    /// It also reads `restart.policy` and friends (1.7+).
    pub policies: bool,
}

/// The service's policy: `deploy.restart_policy` wins over `restart`, as in Docker Compose
/// (`create.go` getRestartPolicy); both go through compose's mapping, in which `none` is `no`
/// and `any` is `always`, and an empty `condition` means no restart. A retry count that is not
/// a number counts as none, as compose reads it. Errors are the engine's refusals, naming the
/// service and the option.
pub fn policy(service: &str, s: &ServiceConfig) -> Result<Policy, String> {
    if let Some(rp) = s.deploy.as_ref().and_then(|d| d.restart_policy.as_ref()) {
        return build(&rp.condition, rp.max_attempts.filter(|n| *n > 0)).map_err(|e| {
            format!("service {service:?}: deploy.restart_policy: invalid restart policy: {e}")
        });
    }
    let mut parts = s.restart.split(':');
    let name = parts.next().unwrap_or_default();
    let max = parts
        .next()
        .and_then(|n| n.parse::<u64>().ok())
        .filter(|n| *n > 0);
    build(name, max)
        .map_err(|e| format!("service {service:?}: restart: invalid restart policy: {e}"))
}

fn build(name: &str, max: Option<u64>) -> Result<Policy, String> {
    let p = match name {
        "" | "no" | "none" => Policy::No,
        "always" | "any" => Policy::Always,
        "unless-stopped" => Policy::UnlessStopped,
        "on-failure" => return Ok(Policy::OnFailure(max)),
        other => {
            return Err(format!(
                "unknown policy {other:?}; use one of \"no\", \"always\", \"on-failure\" or \"unless-stopped\""
            ))
        }
    };
    if max.is_some() {
        return Err(format!(
            "maximum retry count can only be used with \"on-failure\", not {name:?}"
        ));
    }
    Ok(p)
}

/// The label changes for a container started with `policy`, whose task logs to `log_uri`:
/// `Some` sets, `None` removes (for [`crate::containerd`]'s label update). A policy the monitor
/// cannot honour gets no labels and a warning naming the service.
pub fn start_labels(
    service: &str,
    policy: Policy,
    support: MonitorSupport,
    log_uri: &str,
) -> (BTreeMap<String, Option<String>>, Option<String>) {
    let mut labels = cleared();
    let policy_name = match policy {
        Policy::No => return (labels, None),
        Policy::Always => "always".to_owned(),
        Policy::UnlessStopped => "unless-stopped".to_owned(),
        Policy::OnFailure(None) => "on-failure".to_owned(),
        Policy::OnFailure(Some(n)) => format!("on-failure:{n}"),
    };
    if !support.monitor {
        return (
            labels,
            Some(format!(
                "service {service:?}: restart: {policy_name} is not honoured: containerd's restart monitor plugin is not loaded"
            )),
        );
    }
    if !support.policies && matches!(policy, Policy::OnFailure(_)) {
        return (
            labels,
            Some(format!(
                "service {service:?}: restart: {policy_name} is not honoured: containerd 1.6's restart monitor restarts whatever the exit code, so the container will not be restarted (containerd 1.7 or later can)"
            )),
        );
    }
    labels.insert(STATUS.into(), Some("running".into()));
    labels.insert(LOG_URI.into(), Some(log_uri.into()));
    if support.policies {
        labels.insert(POLICY.into(), Some(policy_name));
    }
    (labels, None)
}

/// Removes every restart-monitor label: before a stop, so the monitor does not bring the
/// container back (nor kill it mid-grace-period, as `status=stopped` would make it do), and
/// on a start whose policy is `no`. The count goes too, so `on-failure:N` starts afresh.
pub fn cleared() -> BTreeMap<String, Option<String>> {
    ALL.iter().map(|k| ((*k).to_owned(), None)).collect()
}

/// True when the container carries labels the monitor acts on.
pub fn is_monitored(labels: &BTreeMap<String, String>) -> bool {
    labels.contains_key(STATUS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::types::{DeployConfig, RestartPolicy};

    fn svc(restart: &str) -> ServiceConfig {
        ServiceConfig {
            restart: restart.into(),
            ..Default::default()
        }
    }

    fn deploy(condition: &str, max: Option<u64>) -> ServiceConfig {
        ServiceConfig {
            restart: "always".into(),
            deploy: Some(DeployConfig {
                restart_policy: Some(RestartPolicy {
                    condition: condition.into(),
                    max_attempts: max,
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    const V16: MonitorSupport = MonitorSupport {
        monitor: true,
        policies: false,
    };
    const V17: MonitorSupport = MonitorSupport {
        monitor: true,
        policies: true,
    };

    #[test]
    fn restart_values() {
        assert_eq!(policy("a", &svc("")), Ok(Policy::No));
        assert_eq!(policy("a", &svc("no")), Ok(Policy::No));
        assert_eq!(policy("a", &svc("always")), Ok(Policy::Always));
        assert_eq!(
            policy("a", &svc("unless-stopped")),
            Ok(Policy::UnlessStopped)
        );
        assert_eq!(policy("a", &svc("on-failure")), Ok(Policy::OnFailure(None)));
        assert_eq!(
            policy("a", &svc("on-failure:3")),
            Ok(Policy::OnFailure(Some(3)))
        );
        assert_eq!(
            policy("a", &svc("on-failure:0")),
            Ok(Policy::OnFailure(None))
        );
    }

    #[test]
    fn bad_restart_values_name_service_and_option() {
        let e = policy("web", &svc("sometimes")).unwrap_err();
        assert!(
            e.starts_with("service \"web\": restart: invalid restart policy"),
            "{e}"
        );
        assert!(e.contains("\"sometimes\""), "{e}");
        let e = policy("web", &svc("always:2")).unwrap_err();
        assert!(e.contains("only be used with \"on-failure\""), "{e}");
        assert_eq!(
            policy("web", &svc("on-failure:x")),
            Ok(Policy::OnFailure(None)),
            "compose reads a count that is not a number as none"
        );
        let e = policy("web", &deploy("any", Some(3))).unwrap_err();
        assert!(
            e.starts_with("service \"web\": deploy.restart_policy:"),
            "{e}"
        );
    }

    #[test]
    fn deploy_restart_policy_wins_over_restart() {
        assert_eq!(policy("a", &deploy("none", None)), Ok(Policy::No));
        assert_eq!(policy("a", &deploy("any", None)), Ok(Policy::Always));
        assert_eq!(policy("a", &deploy("", None)), Ok(Policy::No));
        assert_eq!(policy("a", &svc("any")), Ok(Policy::Always));
        assert_eq!(
            policy("a", &deploy("on-failure", Some(5))),
            Ok(Policy::OnFailure(Some(5)))
        );
        assert_eq!(
            policy("a", &deploy("on-failure", None)),
            Ok(Policy::OnFailure(None))
        );
    }

    fn set(labels: &BTreeMap<String, Option<String>>) -> Vec<(&str, &str)> {
        labels
            .iter()
            .filter_map(|(k, v)| Some((k.as_str(), v.as_deref()?)))
            .collect()
    }

    #[test]
    fn always_on_1_6_sets_status_and_log_uri_only() {
        let (l, w) = start_labels("a", Policy::Always, V16, "binary:///b?x=1");
        assert_eq!(w, None);
        assert_eq!(set(&l), [(LOG_URI, "binary:///b?x=1"), (STATUS, "running")]);
        // the others are removed in the same update
        assert_eq!(l.get(COUNT), Some(&None));
        assert_eq!(l.get(POLICY), Some(&None));
    }

    #[test]
    fn policies_on_1_7() {
        for (p, name) in [
            (Policy::Always, "always"),
            (Policy::UnlessStopped, "unless-stopped"),
            (Policy::OnFailure(None), "on-failure"),
            (Policy::OnFailure(Some(4)), "on-failure:4"),
        ] {
            let (l, w) = start_labels("a", p, V17, "binary:///b");
            assert_eq!(w, None);
            assert_eq!(
                set(&l),
                [
                    (LOG_URI, "binary:///b"),
                    (POLICY, name),
                    (STATUS, "running")
                ]
            );
        }
    }

    #[test]
    fn unless_stopped_on_1_6_is_honoured_as_always() {
        let (l, w) = start_labels("a", Policy::UnlessStopped, V16, "u");
        assert_eq!(w, None);
        assert_eq!(set(&l), [(LOG_URI, "u"), (STATUS, "running")]);
    }

    #[test]
    fn on_failure_on_1_6_is_not_restarted_and_warned() {
        let (l, w) = start_labels("job", Policy::OnFailure(Some(2)), V16, "u");
        assert!(set(&l).is_empty());
        let w = w.unwrap();
        assert!(
            w.starts_with("service \"job\": restart: on-failure:2 is not honoured"),
            "{w}"
        );
        assert!(w.contains("1.6"), "{w}");
    }

    #[test]
    fn no_monitor_means_no_labels_and_a_warning() {
        let (l, w) = start_labels("a", Policy::Always, MonitorSupport::default(), "u");
        assert!(set(&l).is_empty());
        assert!(w.unwrap().contains("plugin is not loaded"));
    }

    #[test]
    fn no_clears_everything_without_warning() {
        let (l, w) = start_labels("a", Policy::No, V17, "u");
        assert_eq!(w, None);
        assert_eq!(l, cleared());
        assert_eq!(l.len(), ALL.len());
        assert!(l.values().all(Option::is_none));
    }

    #[test]
    fn monitored_is_the_status_label() {
        assert!(is_monitored(&BTreeMap::from([(
            STATUS.into(),
            "running".into()
        )])));
        assert!(!is_monitored(&BTreeMap::from([(
            LOG_URI.into(),
            "u".into()
        )])));
    }
}
