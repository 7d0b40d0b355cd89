//! The Compose specification's structural rules, written in berth's rule language: which keys a
//! compose file may hold at each level and what kind of value each takes. Also the two path tables
//! compose consults around validation: the fields it casts from strings while interpolating, and
//! the lists it de-duplicates before validating.
//!
//! The rules are those the reference Docker Compose build enforces (its behaviour matches the
//! compose-go 2.4.8 specification, not 2.0.2: e.g. `gw_priority`, `gpus`, `label_file`,
//! `build.entitlements` and the `sync+exec` watch action are accepted, unknown keys in watch items
//! are rejected). That specification declares no string formats, so durations, ports and
//! subnets are left to the later parsing phases.

use super::dsl::{list, obj, of, one_of, one_str_of, Pat, BOOL, INT, MAP, NULL, NUM, S, STR, T};

// ----- small shared shapes -------------------------------------------------------------------

const STR_OR_BOOL: S = of(&[T::Bool, T::Str]);
const INT_OR_STR: S = of(&[T::Int, T::Str]);
const NUM_OR_STR: S = of(&[T::Num, T::Str]);
const STR_OR_INT: S = of(&[T::Str, T::Int]);
const STR_OR_NUM: S = of(&[T::Str, T::Num]);

const STRINGS: S = list(&STR);

/// A list of distinct strings.
const LIST_OF_STRINGS: S = list(&STR).unique();

/// A single string or a list of distinct strings.
const STRING_OR_LIST: S = one_of(&[STR, LIST_OF_STRINGS]);

/// `KEY: value` mapping with scalar values, or a list of distinct `KEY=value` strings.
const LIST_OR_DICT: S = one_of(&[
    MAP.pats(&[(Pat::Some, of(&[T::Str, T::Num, T::Bool, T::Null]))])
        .closed(),
    LIST_OF_STRINGS,
]);

/// `host: ip` (or `host: [ip, ...]`) mapping, or a list of distinct `host=ip` strings.
const EXTRA_HOSTS: S = one_of(&[
    MAP.pats(&[(Pat::Some, one_of(&[STR, STRINGS]))]).closed(),
    LIST_OF_STRINGS,
]);

/// Driver options: any non-empty key, string or number values.
const DRIVER_OPTS: S = MAP.pats(&[(Pat::Line, STR_OR_NUM)]);

/// `command`, `entrypoint`: null, a shell string, or a list of arguments.
const COMMAND: S = one_of(&[NULL, STR, STRINGS]);

const ENV_FILE: S = one_of(&[
    STR,
    list(&one_of(&[
        STR,
        obj(&[("path", STR), ("format", STR), ("required", STR_OR_BOOL)])
            .closed()
            .required(&["path"]),
    ])),
]);

const LABEL_FILE: S = one_of(&[STR, STRINGS]);

const ULIMITS: S = MAP.pats(&[(
    Pat::Lower,
    one_of(&[
        INT_OR_STR,
        obj(&[("hard", INT_OR_STR), ("soft", INT_OR_STR)])
            .closed_ext()
            .required(&["soft", "hard"]),
    ]),
)]);

/// Service `secrets` / `configs`: a name, or a long-form mount.
const SERVICE_CONFIG_OR_SECRET: S = list(&one_of(&[
    STR,
    obj(&[
        ("source", STR),
        ("target", STR),
        ("uid", STR),
        ("gid", STR),
        ("mode", NUM_OR_STR),
    ])
    .closed_ext(),
]));

const BLKIO_LIMIT: S = obj(&[("path", STR), ("rate", INT_OR_STR)]).closed();
const BLKIO_WEIGHT: S = obj(&[("path", STR), ("weight", INT_OR_STR)]).closed();

const SERVICE_HOOK: S = obj(&[
    ("command", COMMAND),
    ("user", STR),
    ("privileged", STR_OR_BOOL),
    ("working_dir", STR),
    ("environment", LIST_OR_DICT),
])
.closed_ext();

// ----- service ---------------------------------------------------------------------------------

const BUILD: S = one_of(&[
    STR,
    obj(&[
        ("context", STR),
        ("dockerfile", STR),
        ("dockerfile_inline", STR),
        ("entitlements", STRINGS),
        ("args", LIST_OR_DICT),
        ("ssh", LIST_OR_DICT),
        ("labels", LIST_OR_DICT),
        ("cache_from", STRINGS),
        ("cache_to", STRINGS),
        ("no_cache", STR_OR_BOOL),
        ("additional_contexts", LIST_OR_DICT),
        ("network", STR),
        ("pull", STR_OR_BOOL),
        ("target", STR),
        ("shm_size", INT_OR_STR),
        ("extra_hosts", EXTRA_HOSTS),
        ("isolation", STR),
        ("privileged", STR_OR_BOOL),
        ("secrets", SERVICE_CONFIG_OR_SECRET),
        ("tags", STRINGS),
        ("ulimits", ULIMITS),
        ("platforms", STRINGS),
    ])
    .closed_ext(),
]);

const BLKIO_CONFIG: S = obj(&[
    ("device_read_bps", list(&BLKIO_LIMIT)),
    ("device_read_iops", list(&BLKIO_LIMIT)),
    ("device_write_bps", list(&BLKIO_LIMIT)),
    ("device_write_iops", list(&BLKIO_LIMIT)),
    ("weight", INT_OR_STR),
    ("weight_device", list(&BLKIO_WEIGHT)),
])
.closed();

const DEPENDS_ON: S = one_of(&[
    LIST_OF_STRINGS,
    MAP.pats(&[(
        Pat::Name,
        obj(&[
            ("restart", STR_OR_BOOL),
            ("required", BOOL),
            (
                "condition",
                one_str_of(&[
                    "service_started",
                    "service_healthy",
                    "service_completed_successfully",
                ]),
            ),
        ])
        .closed_ext()
        .required(&["condition"]),
    )])
    .closed(),
]);

const DEVICES: S = list(&one_of(&[
    STR,
    obj(&[("source", STR), ("target", STR), ("permissions", STR)])
        .closed_ext()
        .required(&["source"]),
]));

const EXTENDS: S = one_of(&[
    STR,
    obj(&[("service", STR), ("file", STR)])
        .closed()
        .required(&["service"]),
]);

const LOGGING: S = obj(&[
    ("driver", STR),
    (
        "options",
        MAP.pats(&[(Pat::Line, of(&[T::Str, T::Num, T::Null]))]),
    ),
])
.closed_ext();

const SERVICE_NETWORKS: S = one_of(&[
    LIST_OF_STRINGS,
    MAP.pats(&[(
        Pat::Name,
        one_of(&[
            obj(&[
                ("aliases", LIST_OF_STRINGS),
                ("ipv4_address", STR),
                ("ipv6_address", STR),
                ("link_local_ips", LIST_OF_STRINGS),
                ("mac_address", STR),
                ("driver_opts", DRIVER_OPTS),
                ("priority", NUM),
                ("gw_priority", NUM),
            ])
            .closed_ext(),
            NULL,
        ]),
    )])
    .closed(),
]);

const PORTS: S = list(&one_of(&[
    NUM,
    STR,
    obj(&[
        ("name", STR),
        ("mode", STR),
        ("host_ip", STR),
        ("target", INT_OR_STR),
        ("published", STR_OR_INT),
        ("protocol", STR),
        ("app_protocol", STR),
    ])
    .closed_ext(),
]))
.unique();

const SERVICE_VOLUMES: S = list(&one_of(&[
    STR,
    obj(&[
        ("type", STR),
        ("source", STR),
        ("target", STR),
        ("read_only", STR_OR_BOOL),
        ("consistency", STR),
        (
            "bind",
            obj(&[
                ("propagation", STR),
                ("create_host_path", STR_OR_BOOL),
                (
                    "recursive",
                    one_str_of(&["enabled", "disabled", "writable", "readonly"]),
                ),
                ("selinux", one_str_of(&["z", "Z"])),
            ])
            .closed_ext(),
        ),
        (
            "volume",
            obj(&[("nocopy", STR_OR_BOOL), ("subpath", STR)]).closed_ext(),
        ),
        (
            "tmpfs",
            obj(&[("size", one_of(&[INT.min(0), STR])), ("mode", NUM_OR_STR)]).closed_ext(),
        ),
    ])
    .closed_ext()
    .required(&["type"]),
]))
.unique();

const HEALTHCHECK: S = obj(&[
    ("disable", STR_OR_BOOL),
    ("interval", STR),
    ("retries", NUM_OR_STR),
    ("test", one_of(&[STR, STRINGS])),
    ("timeout", STR),
    ("start_period", STR),
    ("start_interval", STR),
])
.closed_ext();

const DEVELOPMENT: S = obj(&[(
    "watch",
    list(
        &obj(&[
            ("ignore", STRINGS),
            ("path", STR),
            (
                "action",
                one_str_of(&["rebuild", "sync", "restart", "sync+restart", "sync+exec"]),
            ),
            ("target", STR),
            ("exec", SERVICE_HOOK),
        ])
        .closed_ext()
        .required(&["path", "action"]),
    ),
)])
.types(&[T::Map, T::Null])
.closed_ext();

const ROLLOUT_CONFIG: S = obj(&[
    ("parallelism", INT_OR_STR),
    ("delay", STR),
    ("failure_action", STR),
    ("monitor", STR),
    ("max_failure_ratio", NUM_OR_STR),
    ("order", one_str_of(&["start-first", "stop-first"])),
])
.closed_ext();

/// Device requests (`deploy.resources.reservations.devices`).
const DEVICE_REQUESTS: S = list(
    &obj(&[
        ("capabilities", LIST_OF_STRINGS),
        ("count", STR_OR_INT),
        ("device_ids", LIST_OF_STRINGS),
        ("driver", STR),
        ("options", LIST_OR_DICT),
    ])
    .closed_ext()
    .required(&["capabilities"]),
);

const GENERIC_RESOURCES: S = list(
    &obj(&[(
        "discrete_resource_spec",
        obj(&[("kind", STR), ("value", NUM_OR_STR)]).closed_ext(),
    )])
    .closed_ext(),
);

const DEPLOYMENT: S = obj(&[
    ("mode", STR),
    ("endpoint_mode", STR),
    ("replicas", INT_OR_STR),
    ("labels", LIST_OR_DICT),
    ("rollback_config", ROLLOUT_CONFIG),
    ("update_config", ROLLOUT_CONFIG),
    (
        "resources",
        obj(&[
            (
                "limits",
                obj(&[("cpus", NUM_OR_STR), ("memory", STR), ("pids", INT_OR_STR)]).closed_ext(),
            ),
            (
                "reservations",
                obj(&[
                    ("cpus", NUM_OR_STR),
                    ("memory", STR),
                    ("generic_resources", GENERIC_RESOURCES),
                    ("devices", DEVICE_REQUESTS),
                ])
                .closed_ext(),
            ),
        ])
        .closed_ext(),
    ),
    (
        "restart_policy",
        obj(&[
            ("condition", STR),
            ("delay", STR),
            ("max_attempts", INT_OR_STR),
            ("window", STR),
        ])
        .closed_ext(),
    ),
    (
        "placement",
        obj(&[
            ("constraints", STRINGS),
            ("preferences", list(&obj(&[("spread", STR)]).closed_ext())),
            ("max_replicas_per_node", INT_OR_STR),
        ])
        .closed_ext(),
    ),
])
.types(&[T::Map, T::Null])
.closed_ext();

/// `gpus: all`, or a list of device requests (whose items, unlike deploy's, accept any key).
const GPUS: S = one_of(&[
    one_str_of(&["all"]),
    list(&obj(&[
        ("capabilities", LIST_OF_STRINGS),
        ("count", STR_OR_INT),
        ("device_ids", LIST_OF_STRINGS),
        ("driver", STR),
        ("options", LIST_OR_DICT),
    ])),
]);

const SERVICE: S = obj(&[
    ("develop", DEVELOPMENT),
    ("deploy", DEPLOYMENT),
    ("annotations", LIST_OR_DICT),
    ("attach", STR_OR_BOOL),
    ("build", BUILD),
    ("blkio_config", BLKIO_CONFIG),
    ("cap_add", LIST_OF_STRINGS),
    ("cap_drop", LIST_OF_STRINGS),
    ("cgroup", one_str_of(&["host", "private"])),
    ("cgroup_parent", STR),
    ("command", COMMAND),
    ("configs", SERVICE_CONFIG_OR_SECRET),
    ("container_name", STR),
    ("cpu_count", one_of(&[STR, INT.min(0)])),
    ("cpu_percent", one_of(&[STR, INT.min(0).max(100)])),
    ("cpu_shares", NUM_OR_STR),
    ("cpu_quota", NUM_OR_STR),
    ("cpu_period", NUM_OR_STR),
    ("cpu_rt_period", NUM_OR_STR),
    ("cpu_rt_runtime", NUM_OR_STR),
    ("cpus", NUM_OR_STR),
    ("cpuset", STR),
    (
        "credential_spec",
        obj(&[("config", STR), ("file", STR), ("registry", STR)]).closed_ext(),
    ),
    ("depends_on", DEPENDS_ON),
    ("device_cgroup_rules", LIST_OF_STRINGS),
    ("devices", DEVICES),
    ("dns", STRING_OR_LIST),
    ("dns_opt", LIST_OF_STRINGS),
    ("dns_search", STRING_OR_LIST),
    ("domainname", STR),
    ("entrypoint", COMMAND),
    ("env_file", ENV_FILE),
    ("label_file", LABEL_FILE),
    ("environment", LIST_OR_DICT),
    ("expose", list(&STR_OR_NUM).unique()),
    ("extends", EXTENDS),
    ("external_links", LIST_OF_STRINGS),
    ("extra_hosts", EXTRA_HOSTS),
    ("gpus", GPUS),
    ("group_add", list(&STR_OR_NUM).unique()),
    ("healthcheck", HEALTHCHECK),
    ("hostname", STR),
    ("image", STR),
    ("init", STR_OR_BOOL),
    ("ipc", STR),
    ("isolation", STR),
    ("labels", LIST_OR_DICT),
    ("links", LIST_OF_STRINGS),
    ("logging", LOGGING),
    ("mac_address", STR),
    ("mem_limit", NUM_OR_STR),
    ("mem_reservation", STR_OR_INT),
    ("mem_swappiness", INT_OR_STR),
    ("memswap_limit", NUM_OR_STR),
    ("network_mode", STR),
    ("networks", SERVICE_NETWORKS),
    ("oom_kill_disable", STR_OR_BOOL),
    ("oom_score_adj", one_of(&[STR, INT.min(-1000).max(1000)])),
    ("pid", of(&[T::Str, T::Null])),
    ("pids_limit", NUM_OR_STR),
    ("platform", STR),
    ("ports", PORTS),
    ("post_start", list(&SERVICE_HOOK)),
    ("pre_stop", list(&SERVICE_HOOK)),
    ("privileged", STR_OR_BOOL),
    ("profiles", LIST_OF_STRINGS),
    (
        "pull_policy",
        one_str_of(&["always", "never", "if_not_present", "build", "missing"]),
    ),
    ("read_only", STR_OR_BOOL),
    ("restart", STR),
    ("runtime", STR),
    ("scale", INT_OR_STR),
    ("security_opt", LIST_OF_STRINGS),
    ("shm_size", NUM_OR_STR),
    ("secrets", SERVICE_CONFIG_OR_SECRET),
    ("sysctls", LIST_OR_DICT),
    ("stdin_open", STR_OR_BOOL),
    ("stop_grace_period", STR),
    ("stop_signal", STR),
    ("storage_opt", MAP),
    ("tmpfs", STRING_OR_LIST),
    ("tty", STR_OR_BOOL),
    ("ulimits", ULIMITS),
    ("user", STR),
    ("uts", STR),
    ("userns_mode", STR),
    ("volumes", SERVICE_VOLUMES),
    ("volumes_from", LIST_OF_STRINGS),
    ("working_dir", STR),
])
.closed_ext();

// ----- top-level resources ---------------------------------------------------------------------

/// `external:` of networks and volumes: a flag, or the legacy `{name: ...}` form.
const EXTERNAL_CLOSED: S = obj(&[("name", STR)])
    .types(&[T::Bool, T::Str, T::Map])
    .closed_ext();
/// `external:` of secrets and configs, where the legacy form accepts any other key.
const EXTERNAL_OPEN: S = obj(&[("name", STR)]).types(&[T::Bool, T::Str, T::Map]);

const NETWORK: S = obj(&[
    ("name", STR),
    ("driver", STR),
    ("driver_opts", DRIVER_OPTS),
    (
        "ipam",
        obj(&[
            ("driver", STR),
            (
                "config",
                list(
                    &obj(&[
                        ("subnet", STR),
                        ("ip_range", STR),
                        ("gateway", STR),
                        ("aux_addresses", MAP.pats(&[(Pat::Line, STR)]).closed()),
                    ])
                    .closed_ext(),
                ),
            ),
            ("options", MAP.pats(&[(Pat::Line, STR)]).closed()),
        ])
        .closed_ext(),
    ),
    ("external", EXTERNAL_CLOSED),
    ("internal", STR_OR_BOOL),
    ("enable_ipv4", STR_OR_BOOL),
    ("enable_ipv6", STR_OR_BOOL),
    ("attachable", STR_OR_BOOL),
    ("labels", LIST_OR_DICT),
])
.types(&[T::Map, T::Null])
.closed_ext();

const VOLUME: S = obj(&[
    ("name", STR),
    ("driver", STR),
    ("driver_opts", DRIVER_OPTS),
    ("external", EXTERNAL_CLOSED),
    ("labels", LIST_OR_DICT),
])
.types(&[T::Map, T::Null])
.closed_ext();

const SECRET: S = obj(&[
    ("name", STR),
    ("environment", STR),
    ("file", STR),
    ("external", EXTERNAL_OPEN),
    ("labels", LIST_OR_DICT),
    ("driver", STR),
    ("driver_opts", DRIVER_OPTS),
    ("template_driver", STR),
])
.closed_ext();

const CONFIG: S = obj(&[
    ("name", STR),
    ("content", STR),
    ("environment", STR),
    ("file", STR),
    ("external", EXTERNAL_OPEN),
    ("labels", LIST_OR_DICT),
    ("template_driver", STR),
])
.closed_ext();

const INCLUDE: S = one_of(&[
    STR,
    obj(&[
        ("path", STRING_OR_LIST),
        ("env_file", STRING_OR_LIST),
        ("project_directory", STR),
    ])
    .closed(),
]);

/// The whole compose file.
pub const PROJECT: S = obj(&[
    ("version", STR),
    ("name", STR),
    ("include", list(&INCLUDE)),
    ("services", MAP.pats(&[(Pat::Name, SERVICE)]).closed()),
    // Unlike the other sections, networks whose name does not match are not checked at all.
    ("networks", MAP.pats(&[(Pat::Name, NETWORK)])),
    ("volumes", MAP.pats(&[(Pat::Name, VOLUME)]).closed()),
    ("secrets", MAP.pats(&[(Pat::Name, SECRET)]).closed()),
    ("configs", MAP.pats(&[(Pat::Name, CONFIG)]).closed()),
])
.closed_ext();

// ----- what compose does around validation ----------------------------------------------------

/// Lists compose de-duplicates (by key) right after merging, before validating: they never hold
/// repeated items by the time the uniqueness rule is checked, so it is not checked there.
pub const DEDUPED: &[&str] = &[
    "networks.*.labels",
    "networks.*.ipam.options",
    "services.*.annotations",
    "services.*.build.args",
    "services.*.build.additional_contexts",
    "services.*.build.platform",
    "services.*.build.tags",
    "services.*.build.labels",
    "services.*.cap_add",
    "services.*.cap_drop",
    "services.*.devices",
    "services.*.configs",
    "services.*.deploy.labels",
    "services.*.dns",
    "services.*.dns_opt",
    "services.*.dns_search",
    "services.*.environment",
    "services.*.env_file",
    "services.*.expose",
    "services.*.labels",
    "services.*.links",
    "services.*.networks.*.aliases",
    "services.*.networks.*.link_local_ips",
    "services.*.ports",
    "services.*.profiles",
    "services.*.secrets",
    "services.*.sysctls",
    "services.*.tmpfs",
    "services.*.volumes",
];
