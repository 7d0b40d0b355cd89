//! The Linux part: namespaces (`network_mode`, `pid`, `ipc`, `uts`, `cgroup`), cgroup resources,
//! devices, sysctls and rlimits, as the Docker daemon derives them from a container's config.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use oci_spec::runtime::{
    LinuxCpuBuilder, LinuxDevice, LinuxDeviceBuilder, LinuxDeviceCgroup, LinuxDeviceCgroupBuilder,
    LinuxDeviceType, LinuxMemoryBuilder, LinuxNamespace, LinuxNamespaceBuilder, LinuxNamespaceType,
    LinuxPidsBuilder, LinuxResources, LinuxResourcesBuilder, PosixRlimit, PosixRlimitBuilder,
    PosixRlimitType,
};

use super::error::{Fail, Result};
use super::{CgroupVersion, DeviceKind, Facts, HostDevice, Notes};
use crate::model::types::ServiceConfig;

/// How the service's namespaces came out, for the parts that depend on them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct NamespaceModes {
    pub net_host: bool,
    /// A network namespace of the container's own (not host, not another container's).
    pub net_private: bool,
    pub ipc_host: bool,
    pub ipc_none: bool,
    pub pid_private: bool,
    pub uts_host: bool,
}

fn ns(typ: LinuxNamespaceType, path: Option<&Path>) -> Result<LinuxNamespace> {
    let b = LinuxNamespaceBuilder::default().typ(typ);
    Ok(match path {
        Some(p) => b.path(p).build()?,
        None => b.build()?,
    })
}

fn joined<'a>(option: &str, value: &str, path: Option<&'a Path>) -> Result<&'a Path> {
    path.ok_or_else(|| {
        Fail::new(
            format!("{option} {value:?}"),
            "the namespace to join was not resolved",
        )
    })
}

/// The effective network mode: `network_mode`, else the legacy `net`.
pub fn network_mode(service: &ServiceConfig) -> &str {
    if service.network_mode.is_empty() {
        &service.net
    } else {
        &service.network_mode
    }
}

/// Namespaces in Docker's order (mount, network, uts, pid, ipc, cgroup), each left out when
/// shared with the host and given a path when joining another container's (from [`Facts`]).
pub(crate) fn namespaces(
    service: &ServiceConfig,
    facts: &Facts,
) -> Result<(Vec<LinuxNamespace>, NamespaceModes)> {
    use LinuxNamespaceType as T;
    let mut out = vec![ns(T::Mount, None)?];
    let mut modes = NamespaceModes::default();

    let net = network_mode(service);
    let joins = |v: &str| v.starts_with("service:") || v.starts_with("container:");
    if net == "host" {
        modes.net_host = true;
    } else if joins(net) {
        out.push(ns(
            T::Network,
            Some(joined("network_mode", net, facts.netns.as_deref())?),
        )?);
    } else {
        // bridge networks (the netns app made), `none` (a new empty one)
        modes.net_private = true;
        out.push(ns(T::Network, facts.netns.as_deref())?);
    }

    match service.uts.as_str() {
        "" => out.push(ns(T::Uts, None)?),
        "host" => modes.uts_host = true,
        other => {
            return Err(Fail::new(
                format!("uts {other:?}"),
                format!("invalid UTS mode: {other}"),
            ))
        }
    }

    match service.pid.as_str() {
        "" => {
            modes.pid_private = true;
            out.push(ns(T::Pid, None)?);
        }
        "host" => {}
        p if joins(p) => out.push(ns(
            T::Pid,
            Some(joined("pid", p, facts.pid_ns.as_deref())?),
        )?),
        other => {
            return Err(Fail::new(
                format!("pid {other:?}"),
                format!("invalid PID mode: {other}"),
            ))
        }
    }

    match service.ipc.as_str() {
        "" | "private" | "shareable" => out.push(ns(T::Ipc, None)?),
        "none" => {
            modes.ipc_none = true;
            out.push(ns(T::Ipc, None)?);
        }
        "host" => modes.ipc_host = true,
        p if joins(p) => out.push(ns(
            T::Ipc,
            Some(joined("ipc", p, facts.ipc_ns.as_deref())?),
        )?),
        other => {
            return Err(Fail::new(
                format!("ipc {other:?}"),
                format!("invalid IPC mode: {other}"),
            ))
        }
    }

    // Docker's default cgroup namespace mode: private on cgroup v2, host on v1.
    let private = match service.cgroup.as_str() {
        "" => facts.cgroup_version == CgroupVersion::V2,
        "private" => true,
        "host" => false,
        other => {
            return Err(Fail::new(
                format!("cgroup {other:?}"),
                format!("invalid cgroup namespace mode: {other}"),
            ))
        }
    };
    if private {
        out.push(ns(T::Cgroup, None)?);
    }
    Ok((out, modes))
}

/// Go `float32(cpus) * 1e9`, truncated, as Docker Compose computes NanoCPUs.
fn nano_cpus(cpus: f32) -> i64 {
    (cpus * 1e9_f32) as i64
}

const MIN_MEMORY: i64 = 6 * 1024 * 1024;

/// Memory, CPU and pids limits: the service keys, overridden by `deploy.resources` as Docker
/// Compose does, then checked and defaulted as the Docker daemon does.
pub(crate) fn resources(
    service: &ServiceConfig,
    cgroup: CgroupVersion,
    notes: &mut Notes,
) -> Result<LinuxResources> {
    let mut memory = service.mem_limit.0;
    let mut reservation = service.mem_reservation.0;
    let mut swap = service.memswap_limit.0;
    let mut nano = nano_cpus(service.cpus.0);
    let mut pids = (service.pids_limit != 0).then_some(service.pids_limit);
    if let Some(d) = &service.deploy {
        if let Some(l) = &d.resources.limits {
            if l.memory.0 != 0 {
                memory = l.memory.0;
            }
            if l.cpus.0 != 0.0 {
                nano = nano_cpus(l.cpus.0);
            }
            if l.pids > 0 {
                pids = Some(l.pids);
            }
        }
        if let Some(r) = &d.resources.reservations {
            if r.memory.0 != 0 {
                reservation = r.memory.0;
            }
        }
    }

    // the daemon's checks and defaults (moby verifyPlatformContainerResources)
    if memory > 0 && memory < MIN_MEMORY {
        return Err(Fail::new(
            "mem_limit",
            "Minimum memory limit allowed is 6MB",
        ));
    }
    if memory == 0 && swap > 0 {
        return Err(Fail::new(
            "memswap_limit",
            "You should always set the Memory limit when using Memoryswap limit, see usage",
        ));
    }
    if memory > 0 && swap == 0 {
        swap = memory * 2;
    }
    if memory > 0 && swap > 0 && swap < memory {
        return Err(Fail::new(
            "memswap_limit",
            "Minimum memoryswap limit should be larger than memory limit, see usage",
        ));
    }
    if memory > 0 && reservation > 0 && memory < reservation {
        return Err(Fail::new(
            "mem_reservation",
            "Minimum memory limit can not be less than memory reservation limit, see usage",
        ));
    }

    let mut mem = LinuxMemoryBuilder::default();
    let mut any_mem = false;
    if memory > 0 {
        mem = mem.limit(memory);
        any_mem = true;
    }
    if reservation > 0 {
        mem = mem.reservation(reservation);
        any_mem = true;
    }
    if swap > 0 {
        mem = mem.swap(swap);
        any_mem = true;
    }
    let swappiness = service.mem_swappiness.0;
    if swappiness != 0 && swappiness != -1 {
        if !(0..=100).contains(&swappiness) {
            return Err(Fail::new(
                "mem_swappiness",
                format!("Invalid value: {swappiness}, valid memory swappiness range is 0-100"),
            ));
        }
        if cgroup == CgroupVersion::V1 {
            mem = mem.swappiness(swappiness as u64);
            any_mem = true;
        } else {
            notes.push((
                "mem_swappiness".into(),
                "cgroup v2 has no memory swappiness; the value is discarded".into(),
            ));
        }
    }
    if service.oom_kill_disable {
        if cgroup == CgroupVersion::V1 {
            mem = mem.disable_oom_killer(true);
            any_mem = true;
        } else {
            notes.push((
                "oom_kill_disable".into(),
                "cgroup v2 cannot disable the OOM killer; the value is discarded".into(),
            ));
        }
    }

    if service.cpu_shares < 0 {
        return Err(Fail::new(
            "cpu_shares",
            format!(
                "invalid CPU shares ({}): value must be a positive integer",
                service.cpu_shares
            ),
        ));
    }
    if nano > 0 && service.cpu_period != 0 {
        return Err(Fail::new(
            "cpus",
            "Conflicting options: Nano CPUs and CPU Period cannot both be set",
        ));
    }
    if nano > 0 && service.cpu_quota != 0 {
        return Err(Fail::new(
            "cpus",
            "Conflicting options: Nano CPUs and CPU Quota cannot both be set",
        ));
    }
    if nano < 0 {
        return Err(Fail::new(
            "cpus",
            "Range of CPUs is from 0.01 to the number of CPUs available on the system",
        ));
    }
    let mut cpu = LinuxCpuBuilder::default();
    let mut any_cpu = false;
    if service.cpu_shares > 0 {
        cpu = cpu.shares(service.cpu_shares as u64);
        any_cpu = true;
    }
    if !service.cpuset.is_empty() {
        cpu = cpu.cpus(service.cpuset.clone());
        any_cpu = true;
    }
    if nano > 0 {
        let period: u64 = 100_000;
        cpu = cpu
            .period(period)
            .quota(nano * period as i64 / 1_000_000_000);
        any_cpu = true;
    }
    if service.cpu_period > 0 {
        cpu = cpu.period(service.cpu_period as u64);
        any_cpu = true;
    }
    if service.cpu_quota != 0 {
        cpu = cpu.quota(service.cpu_quota);
        any_cpu = true;
    }
    if service.cpu_rt_period != 0 || service.cpu_rt_runtime != 0 {
        if cgroup == CgroupVersion::V1 {
            if service.cpu_rt_period != 0 {
                cpu = cpu.realtime_period(service.cpu_rt_period as u64);
            }
            if service.cpu_rt_runtime != 0 {
                cpu = cpu.realtime_runtime(service.cpu_rt_runtime);
            }
            any_cpu = true;
        } else {
            notes.push((
                "cpu_rt_runtime".into(),
                "cgroup v2 has no real-time CPU scheduling limits; cpu_rt_period and cpu_rt_runtime are discarded".into(),
            ));
        }
    }

    let mut r = LinuxResourcesBuilder::default();
    if any_mem {
        r = r.memory(mem.build()?);
    }
    if any_cpu {
        r = r.cpu(cpu.build()?);
    }
    if let Some(p) = pids {
        r = r.pids(
            LinuxPidsBuilder::default()
                .limit(if p <= 0 { -1 } else { p })
                .build()?,
        );
    }
    Ok(r.build()?)
}

fn cgroup_rule(
    allow: bool,
    typ: Option<LinuxDeviceType>,
    major: Option<i64>,
    minor: Option<i64>,
    access: &str,
) -> Result<LinuxDeviceCgroup> {
    let mut b = LinuxDeviceCgroupBuilder::default()
        .allow(allow)
        .access(access);
    if let Some(t) = typ {
        b = b.typ(t);
    }
    if let Some(m) = major {
        b = b.major(m);
    }
    if let Some(m) = minor {
        b = b.minor(m);
    }
    Ok(b.build()?)
}

/// Docker's device cgroup defaults (moby `oci.DefaultLinuxSpec`): deny all, allow /dev/zero,
/// null, urandom, random, tty, console; deny /dev/fuse. runc adds its own allow list for the
/// devices it creates (pts, ptmx, ...).
fn default_device_rules() -> Result<Vec<LinuxDeviceCgroup>> {
    let c = Some(LinuxDeviceType::C);
    let mut out = vec![cgroup_rule(false, None, None, None, "rwm")?];
    for (major, minor) in [(1, 5), (1, 3), (1, 9), (1, 8), (5, 0), (5, 1)] {
        out.push(cgroup_rule(true, c, Some(major), Some(minor), "rwm")?);
    }
    out.push(cgroup_rule(false, c, Some(10), Some(229), "rwm")?);
    Ok(out)
}

fn device_type(k: DeviceKind) -> LinuxDeviceType {
    match k {
        DeviceKind::Char => LinuxDeviceType::C,
        DeviceKind::Block => LinuxDeviceType::B,
    }
}

fn linux_device(d: &HostDevice, path: &Path) -> Result<LinuxDevice> {
    Ok(LinuxDeviceBuilder::default()
        .path(path)
        .typ(device_type(d.kind))
        .major(d.major)
        .minor(d.minor)
        .file_mode(d.file_mode)
        .uid(d.uid)
        .gid(d.gid)
        .build()?)
}

/// Where a host device lands: the mapping's target, or for a directory mapping the device's
/// path below the source placed below the target (moby `DevicesFromPath`).
fn container_path(d: &HostDevice, source: &str, target: &str) -> PathBuf {
    match d.path.strip_prefix(source) {
        Ok(rest) if rest.as_os_str().is_empty() => PathBuf::from(target),
        Ok(rest) => Path::new(target).join(rest),
        Err(_) => PathBuf::from(target),
    }
}

/// One `device_cgroup_rules` entry: `type major:minor access`.
fn parse_cgroup_rule(rule: &str) -> Option<LinuxDeviceCgroup> {
    let mut f = rule.split(' ');
    let (t, mm, access) = (f.next()?, f.next()?, f.next()?);
    if f.next().is_some() {
        return None;
    }
    let typ = match t {
        "a" => LinuxDeviceType::A,
        "b" => LinuxDeviceType::B,
        "c" => LinuxDeviceType::C,
        _ => return None,
    };
    let (maj, min) = mm.split_once(':')?;
    let num = |s: &str| -> Option<Option<i64>> {
        if s == "*" {
            Some(None)
        } else if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
            s.parse().ok().map(Some)
        } else {
            None
        }
    };
    let (maj, min) = (num(maj)?, num(min)?);
    if !valid_access(access) {
        return None;
    }
    cgroup_rule(true, Some(typ), maj, min, access).ok()
}

fn valid_access(a: &str) -> bool {
    !a.is_empty() && a.len() <= 3 && a.chars().all(|c| matches!(c, 'r' | 'w' | 'm'))
}

/// Devices to create and the device cgroup rules, as moby `WithDevices`: privileged gets every
/// host device and no restriction.
pub(crate) fn devices(
    service: &ServiceConfig,
    facts: &Facts,
    notes: &mut Notes,
) -> Result<(Vec<LinuxDevice>, Vec<LinuxDeviceCgroup>)> {
    let mut devs = Vec::new();
    let mut rules = default_device_rules()?;
    let resolved = |source: &str| {
        facts.devices.get(source).ok_or_else(|| {
            Fail::new(
                format!("devices {source:?}"),
                "error gathering device information: the device was not resolved on the host",
            )
        })
    };
    if service.privileged {
        for d in &facts.host_devices {
            devs.push(linux_device(d, &d.path)?);
        }
        for m in &service.devices {
            let target = if m.target.is_empty() {
                &m.source
            } else {
                &m.target
            };
            if !m.permissions.is_empty() && m.permissions != "rwm" {
                notes.push((
                    "devices".into(),
                    format!(
                        "custom {} permissions for device {} are ignored in privileged mode",
                        m.permissions, m.source
                    ),
                ));
            }
            if *target == m.source {
                continue;
            }
            for d in resolved(&m.source)? {
                devs.push(linux_device(d, &container_path(d, &m.source, target))?);
            }
        }
        rules = vec![cgroup_rule(true, None, None, None, "rwm")?];
        return Ok((devs, rules));
    }
    for m in &service.devices {
        let target = if m.target.is_empty() {
            &m.source
        } else {
            &m.target
        };
        let access = if m.permissions.is_empty() {
            "rwm"
        } else {
            &m.permissions
        };
        if !valid_access(access) {
            return Err(Fail::new(
                format!("devices {:?}", m.source),
                format!("invalid device mode: {access}"),
            ));
        }
        for d in resolved(&m.source)? {
            devs.push(linux_device(d, &container_path(d, &m.source, target))?);
            rules.push(cgroup_rule(
                true,
                Some(device_type(d.kind)),
                Some(d.major),
                Some(d.minor),
                access,
            )?);
        }
    }
    for rule in &service.device_cgroup_rules {
        rules.push(parse_cgroup_rule(rule).ok_or_else(|| {
            Fail::new(
                format!("device_cgroup_rules {rule:?}"),
                format!("invalid device cgroup rule format: '{rule}'"),
            )
        })?);
    }
    Ok((devs, rules))
}

const IPC_SYSCTLS: &[&str] = &[
    "kernel.msgmax",
    "kernel.msgmnb",
    "kernel.msgmni",
    "kernel.sem",
    "kernel.shmall",
    "kernel.shmmax",
    "kernel.shmmni",
    "kernel.shm_rmid_forced",
];

/// Sysctls: Docker's two defaults for a private network namespace (unprivileged ping and low
/// ports), `kernel.domainname` for `domainname`, then the service's, each checked against the
/// namespaces as runc checks them.
pub(crate) fn sysctls(
    service: &ServiceConfig,
    modes: &NamespaceModes,
) -> Result<HashMap<String, String>> {
    let mut out = HashMap::new();
    if modes.net_private {
        out.insert(
            "net.ipv4.ping_group_range".to_string(),
            "0 2147483647".to_string(),
        );
        out.insert(
            "net.ipv4.ip_unprivileged_port_start".to_string(),
            "0".to_string(),
        );
    }
    if !service.domainname.is_empty() {
        out.insert("kernel.domainname".into(), service.domainname.clone());
    }
    for (k, v) in service.sysctls.iter() {
        let option = format!("sysctls {k:?}");
        if IPC_SYSCTLS.contains(&k.as_str()) || k.starts_with("fs.mqueue.") {
            if modes.ipc_host {
                return Err(Fail::new(
                    option,
                    format!("sysctl {k:?} is not allowed as it conflicts with the \"ipc: host\" setting"),
                ));
            }
        } else if k.starts_with("net.") {
            if modes.net_host {
                return Err(Fail::new(
                    option,
                    format!("sysctl {k:?} not allowed in host network namespace"),
                ));
            }
        } else if k == "kernel.domainname" || k == "kernel.hostname" {
            if modes.uts_host {
                return Err(Fail::new(
                    option,
                    format!("sysctl {k:?} is not allowed as it conflicts with the \"uts: host\" setting"),
                ));
            }
        } else {
            return Err(Fail::new(
                option,
                format!("sysctl {k:?} is not in a separate kernel namespace"),
            ));
        }
        out.insert(k.clone(), v.clone());
    }
    Ok(out)
}

/// `ulimits`, with the names Docker accepts (go-units): a single number sets soft and hard;
/// -1 is unlimited.
pub(crate) fn rlimits(service: &ServiceConfig) -> Result<Vec<PosixRlimit>> {
    use PosixRlimitType as R;
    let mut out = Vec::new();
    for (name, cfg) in &service.ulimits {
        let option = format!("ulimits {name:?}");
        let typ = match name.as_str() {
            "core" => R::RlimitCore,
            "cpu" => R::RlimitCpu,
            "data" => R::RlimitData,
            "fsize" => R::RlimitFsize,
            "locks" => R::RlimitLocks,
            "memlock" => R::RlimitMemlock,
            "msgqueue" => R::RlimitMsgqueue,
            "nice" => R::RlimitNice,
            "nofile" => R::RlimitNofile,
            "nproc" => R::RlimitNproc,
            "rss" => R::RlimitRss,
            "rtprio" => R::RlimitRtprio,
            "rttime" => R::RlimitRttime,
            "sigpending" => R::RlimitSigpending,
            "stack" => R::RlimitStack,
            _ => return Err(Fail::new(option, format!("invalid ulimit type: {name}"))),
        };
        let cfg = cfg.clone().unwrap_or_default();
        let (soft, hard) = if cfg.single != 0 {
            (cfg.single, cfg.single)
        } else {
            (cfg.soft, cfg.hard)
        };
        // Go's uint64(-1) is the kernel's RLIM_INFINITY
        let (soft_u, hard_u) = (soft as u64, hard as u64);
        if soft_u > hard_u {
            return Err(Fail::new(
                option,
                format!(
                    "ulimit soft limit must be less than or equal to hard limit: {soft} > {hard}"
                ),
            ));
        }
        out.push(
            PosixRlimitBuilder::default()
                .typ(typ)
                .soft(soft_u)
                .hard(hard_u)
                .build()?,
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::field::F32;
    use crate::model::types::{
        DeployConfig, DeviceMapping, Mapping, NanoCpus, Resource, Resources, UlimitsConfig,
        UnitBytes,
    };

    fn types(v: &[LinuxNamespace]) -> Vec<LinuxNamespaceType> {
        v.iter().map(|n| n.typ()).collect()
    }

    #[test]
    fn default_namespaces_by_cgroup_version() {
        use LinuxNamespaceType as T;
        let s = ServiceConfig::default();
        let f = Facts::default();
        let (v, m) = namespaces(&s, &f).unwrap();
        assert_eq!(
            types(&v),
            vec![T::Mount, T::Network, T::Uts, T::Pid, T::Ipc, T::Cgroup]
        );
        assert!(m.net_private && m.pid_private);
        let f = Facts {
            cgroup_version: CgroupVersion::V1,
            ..Facts::default()
        };
        let (v, _) = namespaces(&s, &f).unwrap();
        assert!(!types(&v).contains(&T::Cgroup));
    }

    #[test]
    fn host_and_joined_namespaces() {
        use LinuxNamespaceType as T;
        let s = ServiceConfig {
            network_mode: "service:db".into(),
            pid: "host".into(),
            ipc: "container:abc".into(),
            uts: "host".into(),
            cgroup: "host".into(),
            ..Default::default()
        };
        let f = Facts {
            netns: Some("/proc/42/ns/net".into()),
            ipc_ns: Some("/proc/42/ns/ipc".into()),
            ..Facts::default()
        };
        let (v, m) = namespaces(&s, &f).unwrap();
        assert_eq!(types(&v), vec![T::Mount, T::Network, T::Ipc]);
        assert_eq!(v[1].path().as_deref(), Some(Path::new("/proc/42/ns/net")));
        assert!(m.uts_host && !m.net_private && !m.pid_private);
        let e = namespaces(&s, &Facts::default()).unwrap_err();
        assert!(
            matches!(e, Fail::Option { ref option, .. } if option == "network_mode \"service:db\"")
        );
        let s = ServiceConfig {
            network_mode: "host".into(),
            ipc: "weird".into(),
            ..Default::default()
        };
        assert!(namespaces(&s, &Facts::default()).is_err());
    }

    #[test]
    fn resources_compose_and_deploy() {
        let s = ServiceConfig {
            mem_limit: UnitBytes(512 << 20),
            mem_reservation: UnitBytes(128 << 20),
            cpus: F32(1.5),
            cpu_shares: 512,
            cpuset: "0-1".into(),
            pids_limit: 100,
            ..Default::default()
        };
        let mut notes = Notes::new();
        let r = resources(&s, CgroupVersion::V2, &mut notes).unwrap();
        let mem = r.memory().unwrap();
        assert_eq!(mem.limit(), Some(512 << 20));
        assert_eq!(mem.swap(), Some(1024 << 20));
        assert_eq!(mem.reservation(), Some(128 << 20));
        let cpu = r.cpu().as_ref().unwrap();
        assert_eq!((cpu.quota(), cpu.period()), (Some(150_000), Some(100_000)));
        assert_eq!(cpu.shares(), Some(512));
        assert_eq!(cpu.cpus().as_deref(), Some("0-1"));
        assert_eq!(r.pids().unwrap().limit(), 100);

        let s = ServiceConfig {
            mem_limit: UnitBytes(512 << 20),
            memswap_limit: UnitBytes(-1),
            deploy: Some(DeployConfig {
                resources: Resources {
                    limits: Some(Resource {
                        cpus: NanoCpus(0.5),
                        memory: UnitBytes(256 << 20),
                        pids: 7,
                        ..Default::default()
                    }),
                    reservations: Some(Resource {
                        memory: UnitBytes(64 << 20),
                        ..Default::default()
                    }),
                    ..Default::default()
                },
                ..Default::default()
            }),
            ..Default::default()
        };
        let r = resources(&s, CgroupVersion::V2, &mut notes).unwrap();
        let mem = r.memory().unwrap();
        assert_eq!(mem.limit(), Some(256 << 20));
        assert_eq!(mem.swap(), None);
        assert_eq!(mem.reservation(), Some(64 << 20));
        assert_eq!(r.cpu().as_ref().unwrap().quota(), Some(50_000));
        assert_eq!(r.pids().unwrap().limit(), 7);
        assert!(notes.is_empty());
    }

    #[test]
    fn resource_errors_and_v2_discards() {
        let mut notes = Notes::new();
        let bad = [
            ServiceConfig {
                mem_limit: UnitBytes(1 << 20),
                ..Default::default()
            },
            ServiceConfig {
                memswap_limit: UnitBytes(1 << 30),
                ..Default::default()
            },
            ServiceConfig {
                mem_limit: UnitBytes(1 << 30),
                memswap_limit: UnitBytes(1 << 29),
                ..Default::default()
            },
            ServiceConfig {
                cpus: F32(1.0),
                cpu_quota: 5000,
                ..Default::default()
            },
            ServiceConfig {
                mem_swappiness: UnitBytes(101),
                ..Default::default()
            },
        ];
        for s in &bad {
            assert!(
                resources(s, CgroupVersion::V2, &mut notes).is_err(),
                "{s:?}"
            );
        }
        let s = ServiceConfig {
            oom_kill_disable: true,
            mem_swappiness: UnitBytes(10),
            cpu_rt_runtime: 950_000,
            pids_limit: -5,
            ..Default::default()
        };
        let r = resources(&s, CgroupVersion::V2, &mut notes).unwrap();
        assert_eq!(notes.len(), 3);
        assert!(r.memory().is_none());
        assert_eq!(r.pids().unwrap().limit(), -1);
        let r = resources(&s, CgroupVersion::V1, &mut notes).unwrap();
        assert_eq!(r.memory().unwrap().swappiness(), Some(10));
        assert_eq!(r.memory().unwrap().disable_oom_killer(), Some(true));
        assert_eq!(r.cpu().as_ref().unwrap().realtime_runtime(), Some(950_000));
    }

    fn fuse() -> HostDevice {
        HostDevice {
            path: "/dev/fuse".into(),
            kind: DeviceKind::Char,
            major: 10,
            minor: 229,
            file_mode: 0o666,
            uid: 0,
            gid: 0,
        }
    }

    #[test]
    fn device_mappings_and_rules() {
        let mut f = Facts::default();
        f.devices.insert("/dev/fuse".into(), vec![fuse()]);
        let s = ServiceConfig {
            devices: vec![DeviceMapping {
                source: "/dev/fuse".into(),
                target: "/dev/myfuse".into(),
                permissions: "rw".into(),
                ..Default::default()
            }],
            device_cgroup_rules: vec!["c 1:* rmw".into(), "b *:* m".into()],
            ..Default::default()
        };
        let mut notes = Notes::new();
        let (devs, rules) = devices(&s, &f, &mut notes).unwrap();
        assert_eq!(devs.len(), 1);
        assert_eq!(devs[0].path(), Path::new("/dev/myfuse"));
        let text: Vec<String> = rules.iter().map(|r| r.to_string()).collect();
        assert_eq!(text[0], "a *:* rwm");
        assert_eq!(&text[8..], ["c 10:229 rw", "c 1:* rmw", "b *:* m"]);
        assert!(!rules[0].allow() && rules[8].allow());

        let mut bad = s.clone();
        bad.device_cgroup_rules = vec!["x 1:2 r".into()];
        assert!(devices(&bad, &f, &mut notes).is_err());
        let mut bad = s.clone();
        bad.devices[0].permissions = "rwx".into();
        assert!(devices(&bad, &f, &mut notes).is_err());
        assert!(devices(&s, &Facts::default(), &mut notes).is_err());
    }

    #[test]
    fn privileged_devices() {
        let f = Facts {
            host_devices: vec![fuse()],
            ..Facts::default()
        };
        let s = ServiceConfig {
            privileged: true,
            devices: vec![DeviceMapping {
                source: "/dev/fuse".into(),
                permissions: "r".into(),
                ..Default::default()
            }],
            ..Default::default()
        };
        let mut notes = Notes::new();
        let (devs, rules) = devices(&s, &f, &mut notes).unwrap();
        assert_eq!(devs.len(), 1);
        assert_eq!(rules.len(), 1);
        assert!(rules[0].allow());
        assert_eq!(notes.len(), 1);
    }

    #[test]
    fn sysctls_checked_against_namespaces() {
        let mut m = Mapping::default();
        m.insert("net.core.somaxconn".into(), "1024".into());
        let s = ServiceConfig {
            sysctls: m,
            domainname: "example.org".into(),
            ..Default::default()
        };
        let modes = NamespaceModes {
            net_private: true,
            ..Default::default()
        };
        let out = sysctls(&s, &modes).unwrap();
        assert_eq!(out.len(), 4);
        assert_eq!(out["kernel.domainname"], "example.org");
        let host = NamespaceModes {
            net_host: true,
            ..Default::default()
        };
        assert!(sysctls(&s, &host).is_err());
        let mut m = Mapping::default();
        m.insert("vm.swappiness".into(), "1".into());
        let s = ServiceConfig {
            sysctls: m,
            ..Default::default()
        };
        assert!(sysctls(&s, &modes).is_err());
    }

    #[test]
    fn ulimits() {
        let mut s = ServiceConfig::default();
        s.ulimits.insert(
            "nofile".into(),
            Some(UlimitsConfig {
                soft: 1024,
                hard: 4096,
                ..Default::default()
            }),
        );
        s.ulimits.insert(
            "nproc".into(),
            Some(UlimitsConfig {
                single: 65535,
                ..Default::default()
            }),
        );
        s.ulimits.insert(
            "memlock".into(),
            Some(UlimitsConfig {
                soft: -1,
                hard: -1,
                ..Default::default()
            }),
        );
        let r = rlimits(&s).unwrap();
        assert_eq!((r[0].soft(), r[0].hard()), (1024, 4096));
        assert_eq!((r[1].soft(), r[1].hard()), (65535, 65535));
        assert_eq!(r[2].hard(), u64::MAX);
        s.ulimits.insert("bogus".into(), None);
        assert!(rlimits(&s).is_err());
        s.ulimits.shift_remove("bogus");
        s.ulimits.insert(
            "core".into(),
            Some(UlimitsConfig {
                soft: 10,
                hard: 5,
                ..Default::default()
            }),
        );
        assert!(rlimits(&s).is_err());
    }
}
