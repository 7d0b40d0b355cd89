//! Capabilities (`cap_add`, `cap_drop`, `privileged`) and `security_opt`, as the Docker daemon
//! reads them (moby `oci/caps` and `parseSecurityOpt`).

use std::str::FromStr;

use oci_spec::runtime::{Capabilities, Capability};

use super::error::{Fail, Result};
use crate::model::types::ServiceConfig;

/// Docker's default capability set (moby `caps.DefaultCapabilities`).
pub const DEFAULT_CAPABILITIES: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// Every capability Linux defines (0 to 40), which is what `privileged` and `cap_add: [ALL]`
/// grant. Docker asks the running kernel; a kernel older than 5.9 lacks the last three and
/// runc drops capabilities the kernel does not know.
pub const ALL_CAPABILITIES: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

/// Upper-cases and adds `CAP_`; `ALL` stays `ALL`. Unknown names are Docker's error.
fn normalize(option: &str, caps: &[String]) -> Result<Vec<String>> {
    caps.iter()
        .map(|c| {
            let c = c.to_ascii_uppercase();
            if c == "ALL" {
                return Ok(c);
            }
            let c = if c.starts_with("CAP_") {
                c
            } else {
                format!("CAP_{c}")
            };
            if ALL_CAPABILITIES.contains(&c.as_str()) {
                Ok(c)
            } else {
                Err(Fail::new(option, format!("unknown capability: {c:?}")))
            }
        })
        .collect()
}

/// The capability names (`CAP_*`) of the container, as moby `TweakCapabilities`: privileged gets
/// all; `cap_add: [ALL]` all but the dropped ones; `cap_drop: [ALL]` only the added ones;
/// otherwise the defaults minus the dropped plus the added.
pub(crate) fn capability_names(service: &ServiceConfig) -> Result<Vec<String>> {
    let all = || ALL_CAPABILITIES.iter().map(|s| s.to_string()).collect();
    if service.privileged {
        return Ok(all());
    }
    let drop = normalize("cap_drop", &service.cap_drop)?;
    let add = normalize("cap_add", &service.cap_add)?;
    let has_all = |v: &[String]| v.iter().any(|c| c == "ALL");
    let mut caps: Vec<String> = if has_all(&add) {
        ALL_CAPABILITIES
            .iter()
            .filter(|c| !drop.iter().any(|d| d == *c))
            .map(|s| s.to_string())
            .collect()
    } else if has_all(&drop) {
        add
    } else {
        DEFAULT_CAPABILITIES
            .iter()
            .filter(|c| !drop.iter().any(|d| d == *c))
            .map(|s| s.to_string())
            .chain(add)
            .collect()
    };
    let mut seen = std::collections::HashSet::new();
    caps.retain(|c| seen.insert(c.clone()));
    Ok(caps)
}

/// `CAP_NET_ADMIN` → [`Capability::NetAdmin`].
pub(crate) fn to_capabilities(names: &[String]) -> Result<Capabilities> {
    names
        .iter()
        .filter(|n| *n != "ALL")
        .map(|n| {
            let bare = n.strip_prefix("CAP_").unwrap_or(n);
            Capability::from_str(bare)
                .map_err(|_| Fail::new("capabilities", format!("unknown capability: {n:?}")))
        })
        .collect()
}

/// What `security_opt` asks for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SecurityOpts {
    pub no_new_privileges: bool,
    /// `seccomp=unconfined`.
    pub seccomp_unconfined: bool,
    /// `seccomp=<profile>`: a profile berth does not apply yet.
    pub seccomp_profile: Option<String>,
    /// `apparmor=<name>`; `unconfined` is kept as such.
    pub apparmor: Option<String>,
    /// `label=...` / `label:...` entries (SELinux), not applied.
    pub labels: Vec<String>,
    /// `systempaths=unconfined`: no masked or read-only paths.
    pub systempaths_unconfined: bool,
    /// `writable-cgroups=<bool>`.
    pub writable_cgroups: Option<bool>,
}

/// Go's `strconv.ParseBool`.
fn parse_go_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// Parses `security_opt` as moby `parseSecurityOpt` does, with its error texts. `key:value` is
/// the deprecated form Docker still reads.
pub(crate) fn security_opts(opts: &[String]) -> Result<SecurityOpts> {
    let mut out = SecurityOpts::default();
    for opt in opts {
        let option = format!("security_opt {opt:?}");
        match opt.as_str() {
            "systempaths=unconfined" => {
                out.systempaths_unconfined = true;
                continue;
            }
            "no-new-privileges" => {
                out.no_new_privileges = true;
                continue;
            }
            "disable" => {
                out.labels.push("disable".into());
                continue;
            }
            _ => {}
        }
        let kv = if opt.contains('=') {
            opt.split_once('=')
        } else {
            opt.split_once(':')
        };
        let Some((k, v)) = kv else {
            return Err(Fail::new(
                option,
                format!("invalid --security-opt 1: {opt:?}"),
            ));
        };
        match k {
            "label" => out.labels.push(v.to_string()),
            "apparmor" => out.apparmor = Some(v.to_string()),
            "seccomp" if v == "unconfined" => out.seccomp_unconfined = true,
            "seccomp" => out.seccomp_profile = Some(v.to_string()),
            "no-new-privileges" => {
                out.no_new_privileges = parse_go_bool(v).ok_or_else(|| {
                    Fail::new(&option, format!("invalid --security-opt 2: {opt:?}"))
                })?
            }
            "writable-cgroups" => {
                out.writable_cgroups = Some(parse_go_bool(v).ok_or_else(|| {
                    Fail::new(&option, format!("invalid --security-opt 2: {opt:?}"))
                })?)
            }
            _ => {
                return Err(Fail::new(
                    option,
                    format!("invalid --security-opt 2: {opt:?}"),
                ))
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caps(add: &[&str], drop: &[&str], privileged: bool) -> Result<Vec<String>> {
        let s = ServiceConfig {
            cap_add: add.iter().map(|s| s.to_string()).collect(),
            cap_drop: drop.iter().map(|s| s.to_string()).collect(),
            privileged,
            ..Default::default()
        };
        capability_names(&s)
    }

    #[test]
    fn defaults_and_tweaks() {
        assert_eq!(
            caps(&[], &[], false).unwrap(),
            DEFAULT_CAPABILITIES.to_vec()
        );
        let c = caps(
            &["net_admin", "CAP_SYS_TIME"],
            &["mknod", "cap_net_raw"],
            false,
        )
        .unwrap();
        assert!(c.contains(&"CAP_NET_ADMIN".to_string()));
        assert!(c.contains(&"CAP_SYS_TIME".to_string()));
        assert!(!c.contains(&"CAP_MKNOD".to_string()));
        assert!(!c.contains(&"CAP_NET_RAW".to_string()));
        assert_eq!(c.len(), DEFAULT_CAPABILITIES.len());
    }

    #[test]
    fn all_in_add_or_drop() {
        assert_eq!(caps(&["all"], &["SYS_ADMIN"], false).unwrap().len(), 40);
        assert_eq!(
            caps(&["NET_BIND_SERVICE"], &["ALL"], false).unwrap(),
            vec!["CAP_NET_BIND_SERVICE"]
        );
        assert_eq!(caps(&[], &["ALL"], true).unwrap().len(), 41);
    }

    #[test]
    fn unknown_capability_is_dockers_error() {
        match caps(&["FLY"], &[], false).unwrap_err() {
            Fail::Option { option, message } => {
                assert_eq!(option, "cap_add");
                assert_eq!(message, "unknown capability: \"CAP_FLY\"");
            }
            Fail::Builder(_) => panic!(),
        }
    }

    #[test]
    fn every_name_maps_to_an_oci_capability() {
        let names: Vec<String> = ALL_CAPABILITIES.iter().map(|s| s.to_string()).collect();
        assert_eq!(
            to_capabilities(&names).unwrap().len(),
            ALL_CAPABILITIES.len()
        );
    }

    #[test]
    fn security_opt_forms() {
        let o = |v: &[&str]| security_opts(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        let s = o(&[
            "no-new-privileges:true",
            "seccomp=unconfined",
            "apparmor=my-profile",
            "label=disable",
            "systempaths=unconfined",
        ])
        .unwrap();
        assert!(s.no_new_privileges && s.seccomp_unconfined && s.systempaths_unconfined);
        assert_eq!(s.apparmor.as_deref(), Some("my-profile"));
        assert_eq!(s.labels, vec!["disable"]);
        assert!(o(&["no-new-privileges"]).unwrap().no_new_privileges);
        assert!(!o(&["no-new-privileges=false"]).unwrap().no_new_privileges);
        assert_eq!(
            o(&["seccomp=/x.json"]).unwrap().seccomp_profile.as_deref(),
            Some("/x.json")
        );
        assert!(o(&["bogus"]).is_err());
        assert!(o(&["foo=bar"]).is_err());
        assert!(o(&["no-new-privileges=maybe"]).is_err());
    }
}
