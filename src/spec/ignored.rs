//! Which Compose service keys this module translates, which other layers handle, and warnings for
//! the ones berth does not implement yet.
//!
//! | Key | Where |
//! |---|---|
//! | `annotations` | here: spec annotations (Docker puts them in the spec too) |
//! | `cap_add`, `cap_drop`, `privileged` | here: capabilities, devices, masked paths, /sys |
//! | `cgroup`, `ipc`, `pid`, `uts`, `network_mode`, `net` | here: namespaces (paths from [`Facts`]) |
//! | `command`, `entrypoint`, `init`, `environment`, `working_dir`, `user`, `group_add`, `tty` | here: process |
//! | `hostname`, `domainname` | here (`domainname` as the `kernel.domainname` sysctl, as Docker) |
//! | `mem_limit`, `mem_reservation`, `memswap_limit`, `mem_swappiness`, `oom_kill_disable` | here: memory (the last two discarded with a warning on cgroup v2, as Docker) |
//! | `cpus`, `cpu_shares`, `cpu_period`, `cpu_quota`, `cpuset`, `cpu_rt_period`, `cpu_rt_runtime` | here: cpu (real-time only on cgroup v1) |
//! | `pids_limit`, `deploy.resources.limits.{cpus,memory,pids}`, `deploy.resources.reservations.memory` | here |
//! | `devices`, `device_cgroup_rules` | here (host device numbers from [`Facts`]) |
//! | `oom_score_adj`, `read_only`, `security_opt`, `shm_size`, `sysctls`, `tmpfs`, `ulimits` | here |
//! | `stop_signal`, `stop_grace_period` | here: [`crate::spec::stop_settings`] (not in the OCI spec) |
//! | `stdin_open` | here: passed through in [`crate::spec::Built`] (the spec has no stdin) |
//! | `userns_mode` | here: `host` or empty is the default; anything else is warned |
//! | `volumes`, `secrets`, `configs`, `volumes_from` | app resolves sources into [`ResolvedMount`]s (helpers here); `bind.selinux` is warned here |
//! | `cgroup_parent` | app, into [`Facts::cgroups_path`] |
//! | `env_file` | model (merged into `environment`) |
//! | `dns`, `dns_opt`, `dns_search`, `extra_hosts`, `links`, `external_links` | network/app: the /etc files in [`Facts`] |
//! | `networks`, `ports`, `expose`, `mac_address` | network |
//! | `image`, `build`, `dockerfile`, `platform`, `pull_policy` | image/app |
//! | `healthcheck`, `restart`, `deploy.restart_policy`, `post_start`, `pre_stop`, `logging`, `log_driver`, `log_opt` | app |
//! | `container_name`, `labels`, `label_file`, `scale`, `deploy.replicas`, `depends_on`, `profiles`, `attach`, `develop`, `extends` | model/plan/app (labels go on the containerd container, not in the spec, as Docker) |
//! | `deploy.{mode,labels,placement,update_config,rollback_config,endpoint_mode}`, `deploy.resources.reservations.cpus` | ignored, as Docker Compose ignores them (Swarm only) |
//! | `blkio_config`, `cpu_count`, `cpu_percent`, `credential_spec`, `gpus`, `deploy.resources.*.devices`, `deploy.resources.*.generic_resources`, `isolation`, `runtime`, `storage_opt`, `volume_driver` | warned: not implemented |
//! | `security_opt` `seccomp=unconfined`, Docker's default seccomp filter | here ([`super::seccomp`]) |
//! | `security_opt` `label=…`, `seccomp=<profile>` | warned: not applied |

use super::Notes;
#[cfg(doc)]
use super::{Facts, ResolvedMount};
use crate::model::types::ServiceConfig;

fn warn(notes: &mut Notes, key: &str, what: &str) {
    notes.push((key.to_string(), what.to_string()));
}

/// Warnings for the keys of `service` berth does not implement yet (see the table above).
pub(crate) fn unsupported(service: &ServiceConfig, notes: &mut Notes) {
    const NOT_YET: &str = "not supported yet; ignored";
    if service
        .blkio_config
        .as_ref()
        .is_some_and(|b| *b != Default::default())
    {
        warn(notes, "blkio_config", NOT_YET);
    }
    if service.cpu_count != 0 {
        warn(
            notes,
            "cpu_count",
            "applies to Windows containers only; ignored",
        );
    }
    if service.cpu_percent.0 != 0.0 {
        warn(
            notes,
            "cpu_percent",
            "applies to Windows containers only; ignored",
        );
    }
    if service.credential_spec.is_some() {
        warn(
            notes,
            "credential_spec",
            "applies to Windows containers only; ignored",
        );
    }
    if !service.gpus.is_empty() {
        warn(notes, "gpus", NOT_YET);
    }
    if let Some(d) = &service.deploy {
        for (which, r) in [
            ("limits", &d.resources.limits),
            ("reservations", &d.resources.reservations),
        ] {
            let Some(r) = r else { continue };
            if !r.devices.is_empty() {
                warn(notes, &format!("deploy.resources.{which}.devices"), NOT_YET);
            }
            if !r.generic_resources.is_empty() {
                warn(
                    notes,
                    &format!("deploy.resources.{which}.generic_resources"),
                    NOT_YET,
                );
            }
        }
    }
    if !service.isolation.is_empty() && service.isolation != "default" {
        warn(
            notes,
            "isolation",
            "applies to Windows containers only; ignored",
        );
    }
    if !service.runtime.is_empty() {
        warn(notes, "runtime", NOT_YET);
    }
    if !service.storage_opt.is_empty() {
        warn(notes, "storage_opt", NOT_YET);
    }
    if !service.volume_driver.is_empty() && service.volume_driver != "local" {
        warn(notes, "volume_driver", NOT_YET);
    }
    if !service.userns_mode.is_empty() && service.userns_mode != "host" {
        warn(notes, "userns_mode", NOT_YET);
    }
    for v in &service.volumes {
        if v.bind.as_ref().is_some_and(|b| !b.selinux.is_empty()) {
            warn(
                notes,
                &format!("volumes {:?} bind.selinux", v.target),
                "SELinux relabelling is not supported yet; ignored",
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::types::{DeviceRequest, ServiceVolumeBind, ServiceVolumeConfig};

    #[test]
    fn plain_service_has_no_warnings() {
        let mut notes = Notes::new();
        unsupported(&ServiceConfig::default(), &mut notes);
        assert!(notes.is_empty());
    }

    #[test]
    fn each_unsupported_key_is_named() {
        let s = ServiceConfig {
            runtime: "runsc".into(),
            gpus: vec![DeviceRequest::default()],
            userns_mode: "keep-id".into(),
            isolation: "default".into(),
            volumes: vec![ServiceVolumeConfig {
                target: "/x".into(),
                bind: Some(ServiceVolumeBind {
                    selinux: "z".into(),
                    ..Default::default()
                }),
                ..Default::default()
            }],
            ..Default::default()
        };
        let mut notes = Notes::new();
        unsupported(&s, &mut notes);
        let keys: Vec<&str> = notes.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            keys,
            vec![
                "gpus",
                "runtime",
                "userns_mode",
                "volumes \"/x\" bind.selinux"
            ]
        );
    }
}
