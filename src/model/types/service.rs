//! The typed service of a Compose project and all its parts, in compose-go's field order with
//! its YAML keys and print rules.

use indexmap::IndexMap;

use super::duration::Duration;
use super::values::{
    DeviceCount, EnvFile, HealthCheckTest, HostsList, Labels, Mapping, MappingWithEquals, NanoCpus,
    Options, ShellCommand, SshConfig, StringList, StringOrNumberList, ThrottleDevice,
    UlimitsConfig, UnitBytes, WeightDevice,
};
use crate::compose_struct;
use crate::model::field::{Omit, F32};

compose_struct! {
    /// One service. `name` is the key in `services` and is never printed.
    pub struct ServiceConfig {
        name: String = "name" [Omit::Skip],
        profiles: Vec<String> = "profiles",
        annotations: Mapping = "annotations",
        attach: Option<bool> = "attach",
        build: Option<BuildConfig> = "build",
        develop: Option<DevelopConfig> = "develop",
        blkio_config: Option<BlkioConfig> = "blkio_config",
        cap_add: Vec<String> = "cap_add",
        cap_drop: Vec<String> = "cap_drop",
        cgroup_parent: String = "cgroup_parent",
        cgroup: String = "cgroup",
        cpu_count: i64 = "cpu_count",
        cpu_percent: F32 = "cpu_percent",
        cpu_period: i64 = "cpu_period",
        cpu_quota: i64 = "cpu_quota",
        cpu_rt_period: i64 = "cpu_rt_period",
        cpu_rt_runtime: i64 = "cpu_rt_runtime",
        cpus: F32 = "cpus",
        cpuset: String = "cpuset",
        cpu_shares: i64 = "cpu_shares",
        command: ShellCommand = "command" [Omit::YamlOnly],
        configs: Vec<ServiceConfigObjConfig> = "configs",
        container_name: String = "container_name",
        credential_spec: Option<CredentialSpecConfig> = "credential_spec",
        depends_on: IndexMap<String, ServiceDependency> = "depends_on",
        deploy: Option<DeployConfig> = "deploy",
        device_cgroup_rules: Vec<String> = "device_cgroup_rules",
        devices: Vec<DeviceMapping> = "devices",
        dns: StringList = "dns",
        dns_opt: Vec<String> = "dns_opt",
        dns_search: StringList = "dns_search",
        dockerfile: String = "dockerfile",
        domainname: String = "domainname",
        entrypoint: ShellCommand = "entrypoint" [Omit::YamlOnly],
        environment: MappingWithEquals = "environment",
        env_file: Vec<EnvFile> = "env_file",
        expose: StringOrNumberList = "expose",
        extends: Option<ExtendsConfig> = "extends",
        external_links: Vec<String> = "external_links",
        extra_hosts: HostsList = "extra_hosts",
        group_add: Vec<String> = "group_add",
        gpus: Vec<DeviceRequest> = "gpus",
        hostname: String = "hostname",
        healthcheck: Option<HealthCheckConfig> = "healthcheck",
        image: String = "image",
        init: Option<bool> = "init",
        ipc: String = "ipc",
        isolation: String = "isolation",
        labels: Labels = "labels",
        label_file: Vec<String> = "label_file",
        links: Vec<String> = "links",
        logging: Option<LoggingConfig> = "logging",
        log_driver: String = "log_driver",
        log_opt: IndexMap<String, String> = "log_opt",
        mem_limit: UnitBytes = "mem_limit",
        mem_reservation: UnitBytes = "mem_reservation",
        memswap_limit: UnitBytes = "memswap_limit",
        mem_swappiness: UnitBytes = "mem_swappiness",
        mac_address: String = "mac_address",
        net: String = "net",
        network_mode: String = "network_mode",
        /// A null entry (`default: null`) is attached with no options.
        networks: IndexMap<String, Option<ServiceNetworkConfig>> = "networks",
        oom_kill_disable: bool = "oom_kill_disable",
        oom_score_adj: i64 = "oom_score_adj",
        pid: String = "pid",
        pids_limit: i64 = "pids_limit",
        platform: String = "platform",
        ports: Vec<ServicePortConfig> = "ports",
        privileged: bool = "privileged",
        pull_policy: String = "pull_policy",
        read_only: bool = "read_only",
        restart: String = "restart",
        runtime: String = "runtime",
        scale: Option<i64> = "scale",
        secrets: Vec<ServiceSecretConfig> = "secrets",
        security_opt: Vec<String> = "security_opt",
        shm_size: UnitBytes = "shm_size",
        stdin_open: bool = "stdin_open",
        stop_grace_period: Option<Duration> = "stop_grace_period",
        stop_signal: String = "stop_signal",
        storage_opt: IndexMap<String, String> = "storage_opt",
        sysctls: Mapping = "sysctls",
        tmpfs: StringList = "tmpfs",
        tty: bool = "tty",
        ulimits: IndexMap<String, Option<UlimitsConfig>> = "ulimits",
        user: String = "user",
        userns_mode: String = "userns_mode",
        uts: String = "uts",
        volume_driver: String = "volume_driver",
        volumes: Vec<ServiceVolumeConfig> = "volumes",
        volumes_from: Vec<String> = "volumes_from",
        working_dir: String = "working_dir",
        post_start: Vec<ServiceHook> = "post_start",
        pre_stop: Vec<ServiceHook> = "pre_stop",
    }
}

compose_struct! {
    /// `build:` of a service.
    pub struct BuildConfig {
        context: String = "context",
        dockerfile: String = "dockerfile",
        dockerfile_inline: String = "dockerfile_inline",
        entitlements: Vec<String> = "entitlements",
        args: MappingWithEquals = "args",
        ssh: SshConfig = "ssh",
        labels: Labels = "labels",
        cache_from: StringList = "cache_from",
        cache_to: StringList = "cache_to",
        no_cache: bool = "no_cache",
        additional_contexts: Mapping = "additional_contexts",
        pull: bool = "pull",
        extra_hosts: HostsList = "extra_hosts",
        isolation: String = "isolation",
        network: String = "network",
        target: String = "target",
        secrets: Vec<ServiceSecretConfig> = "secrets",
        shm_size: UnitBytes = "shm_size",
        tags: StringList = "tags",
        ulimits: IndexMap<String, Option<UlimitsConfig>> = "ulimits",
        platforms: StringList = "platforms",
        privileged: bool = "privileged",
    }
}

compose_struct! {
    /// `blkio_config:` of a service.
    pub struct BlkioConfig {
        weight: u16 = "weight",
        weight_device: Vec<WeightDevice> = "weight_device",
        device_read_bps: Vec<ThrottleDevice> = "device_read_bps",
        device_read_iops: Vec<ThrottleDevice> = "device_read_iops",
        device_write_bps: Vec<ThrottleDevice> = "device_write_bps",
        device_write_iops: Vec<ThrottleDevice> = "device_write_iops",
    }
}

compose_struct! {
    /// One `devices:` entry in long form.
    pub struct DeviceMapping {
        source: String = "source",
        target: String = "target",
        permissions: String = "permissions",
    }
}

compose_struct! {
    /// `logging:` of a service.
    pub struct LoggingConfig {
        driver: String = "driver",
        options: Options = "options",
    }
}

compose_struct! {
    /// `deploy:` of a service.
    pub struct DeployConfig {
        mode: String = "mode",
        replicas: Option<i64> = "replicas",
        labels: Labels = "labels",
        update_config: Option<UpdateConfig> = "update_config",
        rollback_config: Option<UpdateConfig> = "rollback_config",
        /// A Go struct value: YAML omits it when zero, JSON always prints it.
        resources: Resources = "resources",
        restart_policy: Option<RestartPolicy> = "restart_policy",
        placement: Placement = "placement",
        endpoint_mode: String = "endpoint_mode",
    }
}

compose_struct! {
    /// `deploy.update_config` / `deploy.rollback_config`.
    pub struct UpdateConfig {
        parallelism: Option<u64> = "parallelism",
        delay: Duration = "delay",
        failure_action: String = "failure_action",
        monitor: Duration = "monitor",
        max_failure_ratio: F32 = "max_failure_ratio",
        order: String = "order",
    }
}

compose_struct! {
    /// `deploy.resources`.
    pub struct Resources {
        limits: Option<Resource> = "limits",
        reservations: Option<Resource> = "reservations",
    }
}

compose_struct! {
    /// `deploy.resources.limits` / `.reservations`.
    pub struct Resource {
        cpus: NanoCpus = "cpus",
        memory: UnitBytes = "memory",
        pids: i64 = "pids",
        devices: Vec<DeviceRequest> = "devices",
        generic_resources: Vec<GenericResource> = "generic_resources",
    }
}

compose_struct! {
    /// A device reservation (`deploy.resources.reservations.devices`, `gpus`).
    pub struct DeviceRequest {
        capabilities: Vec<String> = "capabilities",
        driver: String = "driver",
        count: DeviceCount = "count",
        device_ids: Vec<String> = "device_ids",
        options: Mapping = "options",
    }
}

compose_struct! {
    /// A user-defined resource.
    pub struct GenericResource {
        discrete_resource_spec: Option<DiscreteGenericResource> = "discrete_resource_spec",
    }
}

compose_struct! {
    /// An integer-valued user-defined resource (no omitempty on either key).
    pub struct DiscreteGenericResource {
        kind: String = "kind" [Omit::Never],
        value: i64 = "value" [Omit::Never],
    }
}

compose_struct! {
    /// `deploy.restart_policy`.
    pub struct RestartPolicy {
        condition: String = "condition",
        delay: Option<Duration> = "delay",
        max_attempts: Option<u64> = "max_attempts",
        window: Option<Duration> = "window",
    }
}

compose_struct! {
    /// `deploy.placement`.
    pub struct Placement {
        constraints: Vec<String> = "constraints",
        preferences: Vec<PlacementPreferences> = "preferences",
        max_replicas_per_node: u64 = "max_replicas_per_node",
    }
}

compose_struct! {
    /// One `deploy.placement.preferences` entry.
    pub struct PlacementPreferences {
        spread: String = "spread",
    }
}

compose_struct! {
    /// A service's attachment to a network. `gw_priority` is accepted (the schema of the
    /// reference build allows it) but, as there, not kept in the output.
    pub struct ServiceNetworkConfig {
        priority: i64 = "priority",
        gw_priority: i64 = "gw_priority" [Omit::Skip],
        aliases: Vec<String> = "aliases",
        ipv4_address: String = "ipv4_address",
        ipv6_address: String = "ipv6_address",
        link_local_ips: Vec<String> = "link_local_ips",
        mac_address: String = "mac_address",
        driver_opts: Options = "driver_opts",
    }
}

compose_struct! {
    /// One `ports:` entry in long form.
    pub struct ServicePortConfig {
        name: String = "name",
        mode: String = "mode",
        host_ip: String = "host_ip",
        target: u32 = "target",
        published: String = "published",
        protocol: String = "protocol",
        app_protocol: String = "app_protocol",
    }
}

compose_struct! {
    /// One `volumes:` entry of a service in long form.
    pub struct ServiceVolumeConfig {
        r#type: String = "type",
        source: String = "source",
        target: String = "target",
        read_only: bool = "read_only",
        consistency: String = "consistency",
        bind: Option<ServiceVolumeBind> = "bind",
        volume: Option<ServiceVolumeVolume> = "volume",
        tmpfs: Option<ServiceVolumeTmpfs> = "tmpfs",
    }
}

compose_struct! {
    /// Bind mount options.
    pub struct ServiceVolumeBind {
        selinux: String = "selinux",
        propagation: String = "propagation",
        create_host_path: bool = "create_host_path",
        recursive: String = "recursive",
    }
}

compose_struct! {
    /// Volume mount options.
    pub struct ServiceVolumeVolume {
        nocopy: bool = "nocopy",
        subpath: String = "subpath",
    }
}

compose_struct! {
    /// tmpfs mount options.
    pub struct ServiceVolumeTmpfs {
        size: UnitBytes = "size",
        mode: u32 = "mode",
    }
}

compose_struct! {
    /// A service's reference to a secret or config (compose-go `FileReferenceConfig`).
    pub struct FileReferenceConfig {
        source: String = "source",
        target: String = "target",
        uid: String = "uid",
        gid: String = "gid",
        mode: Option<u32> = "mode",
    }
}

/// A service's `configs:` entry.
pub type ServiceConfigObjConfig = FileReferenceConfig;
/// A service's `secrets:` entry (also `build.secrets`).
pub type ServiceSecretConfig = FileReferenceConfig;

compose_struct! {
    /// `credential_spec:` (Windows).
    pub struct CredentialSpecConfig {
        config: String = "config",
        file: String = "file",
        registry: String = "registry",
    }
}

compose_struct! {
    /// One `depends_on` entry; `required` is always printed.
    pub struct ServiceDependency {
        condition: String = "condition",
        restart: bool = "restart",
        required: bool = "required" [Omit::Never],
    }
}

compose_struct! {
    /// `extends:` (resolved away before printing in a normal run).
    pub struct ExtendsConfig {
        file: String = "file",
        service: String = "service",
    }
}

compose_struct! {
    /// `healthcheck:` of a service.
    pub struct HealthCheckConfig {
        test: HealthCheckTest = "test",
        timeout: Option<Duration> = "timeout",
        interval: Option<Duration> = "interval",
        retries: Option<u64> = "retries",
        start_period: Option<Duration> = "start_period",
        start_interval: Option<Duration> = "start_interval",
        disable: bool = "disable",
    }
}

compose_struct! {
    /// `develop:` of a service.
    pub struct DevelopConfig {
        watch: Vec<Trigger> = "watch",
    }
}

compose_struct! {
    /// One `develop.watch` rule. `exec` is a struct value: always in JSON.
    pub struct Trigger {
        path: String = "path" [Omit::Never],
        action: String = "action" [Omit::Never],
        target: String = "target",
        exec: ServiceHook = "exec",
        ignore: Vec<String> = "ignore",
    }
}

compose_struct! {
    /// A lifecycle hook (`post_start`, `pre_stop`, watch `exec`).
    pub struct ServiceHook {
        command: ShellCommand = "command" [Omit::YamlOnly],
        user: String = "user",
        privileged: bool = "privileged",
        working_dir: String = "working_dir",
        environment: MappingWithEquals = "environment",
    }
}

impl ServiceConfig {
    /// Network names by descending priority, then name (compose-go `NetworksByPriority`).
    pub fn networks_by_priority(&self) -> Vec<String> {
        let mut keys: Vec<(&String, i64)> = self
            .networks
            .iter()
            .map(|(k, v)| (k, v.as_ref().map_or(0, |c| c.priority)))
            .collect();
        keys.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
        keys.into_iter().map(|(k, _)| k.clone()).collect()
    }

    /// The number of containers: `scale`, else `deploy.replicas`, else 1.
    pub fn get_scale(&self) -> i64 {
        self.scale
            .or_else(|| self.deploy.as_ref().and_then(|d| d.replicas))
            .unwrap_or(1)
    }
}
