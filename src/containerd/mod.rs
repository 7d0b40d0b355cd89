//! The only gRPC edge of berth: connects to containerd over its unix socket and wraps the
//! generated `containerd-client` calls in small typed methods with errors that say what failed
//! and where. No other module imports tonic, prost or the generated types; everything that
//! leaves this module is plain Rust data. Knows nothing of Compose.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use containerd_client::services::v1::introspection_client::IntrospectionClient;
use containerd_client::services::v1::version_client::VersionClient;
use containerd_client::services::v1::PluginsRequest;
use containerd_client::tonic::metadata::{Ascii, MetadataValue};
use containerd_client::tonic::transport::Channel;
use containerd_client::tonic::{self, Request};

mod containers;
mod content;
mod events;
mod images;
mod leases;
mod snapshots;
mod tasks;

pub use containers::{Container, NewContainer, RUNC_RUNTIME};
pub use content::{ContentInfo, ContentWriter, Ingest};
pub use events::{Event, EventStream, Payload};
pub use images::Image;
pub use leases::Lease;
pub use snapshots::{Mount, SnapshotInfo, SnapshotKind};
pub use tasks::{ExitStatus, Stdio, TaskInfo, TaskStatus};

/// Where containerd listens unless told otherwise (as for `ctr` and nerdctl).
pub const DEFAULT_ADDRESS: &str = "/run/containerd/containerd.sock";

/// The namespace used unless told otherwise (as for `ctr` and nerdctl).
pub const DEFAULT_NAMESPACE: &str = "default";

/// The gRPC metadata header that carries the namespace of every namespaced call.
const NAMESPACE_HEADER: &str = "containerd-namespace";

/// The gRPC metadata header that puts a call's new resources under a lease.
const LEASE_HEADER: &str = "containerd-lease";

/// How long `connect` waits for the socket and a first answer. A containerd that is up answers
/// in milliseconds; a wedged one (or some other program on the socket) must not hang berth.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// containerd's own limit on a namespace name (`namespaces.Validate`).
const NAMESPACE_MAX_LEN: usize = 76;

/// What went wrong talking to containerd. Every variant names the socket.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Nothing (or nothing that speaks containerd's API) answers on the socket.
    #[error(
        "containerd does not answer at {}: {reason}; start it with `systemctl start containerd` or `containerd &`",
        address.display()
    )]
    NotAnswering { address: PathBuf, reason: String },
    /// The socket is there but this user may not open it (containerd's socket is root's).
    #[error(
        "no permission to use the containerd socket at {}; run berth as root, or give your user access to the socket",
        address.display()
    )]
    NoAccess { address: PathBuf },
    /// The namespace name is one containerd would refuse.
    #[error("invalid containerd namespace {namespace:?}: {reason}")]
    InvalidNamespace {
        namespace: String,
        reason: &'static str,
    },
    /// containerd answered a call with an error status.
    #[error("containerd at {}: {call}: {code}: {message}", address.display())]
    Call {
        address: PathBuf,
        call: &'static str,
        code: Code,
        message: String,
    },
}

impl Error {
    /// The status code when containerd answered with an error, so callers can tell
    /// "already there" or "not found" from a real failure without seeing gRPC types.
    pub fn code(&self) -> Option<Code> {
        match self {
            Error::Call { code, .. } => Some(*code),
            _ => None,
        }
    }
}

pub type Result<T> = std::result::Result<T, Error>;

/// The gRPC status codes berth acts on; the rest are `Other`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    NotFound,
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    PermissionDenied,
    Unimplemented,
    DeadlineExceeded,
    Canceled,
    /// A content ingest another writer holds right now.
    Locked,
    Other,
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Code::NotFound => "not found",
            Code::AlreadyExists => "already exists",
            Code::FailedPrecondition => "failed precondition",
            Code::InvalidArgument => "invalid argument",
            Code::PermissionDenied => "permission denied",
            Code::Unimplemented => "not implemented by this containerd",
            Code::DeadlineExceeded => "deadline exceeded",
            Code::Canceled => "canceled",
            Code::Locked => "in use by another writer",
            Code::Other => "error",
        })
    }
}

/// A connection to one containerd, bound to one namespace. Cheap to clone: clones share the
/// underlying HTTP/2 connection, and calls on clones run concurrently.
#[derive(Clone)]
pub struct Client {
    channel: Channel,
    address: PathBuf,
    namespace: String,
    namespace_header: MetadataValue<Ascii>,
    /// The lease every call of this client runs under (`with_lease`), if any.
    lease_header: Option<MetadataValue<Ascii>>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("address", &self.address)
            .field("namespace", &self.namespace)
            .finish()
    }
}

/// A content descriptor as containerd stores it (the target of an image record, a blob to
/// apply): plain data, so callers never see the generated type.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Descriptor {
    pub media_type: String,
    /// `sha256:<hex>`
    pub digest: String,
    pub size: i64,
    pub annotations: BTreeMap<String, String>,
}

impl Descriptor {
    fn into_proto(self) -> containerd_client::types::Descriptor {
        containerd_client::types::Descriptor {
            media_type: self.media_type,
            digest: self.digest,
            size: self.size,
            annotations: self.annotations.into_iter().collect(),
        }
    }

    fn from_proto(d: containerd_client::types::Descriptor) -> Descriptor {
        Descriptor {
            media_type: d.media_type,
            digest: d.digest,
            size: d.size,
            annotations: d.annotations.into_iter().collect(),
        }
    }
}

/// What the Version service reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerVersion {
    /// e.g. `1.6.20~ds1` (Debian 12) or `v1.7.24`.
    pub version: String,
    /// The git revision or package release it was built from.
    pub revision: String,
}

impl ServerVersion {
    /// Major and minor release, e.g. `(1, 6)` for `1.6.20~ds1` or `v1.6.20`; `None` when the
    /// string does not start with two dotted numbers.
    pub fn release(&self) -> Option<(u32, u32)> {
        let v = self.version.strip_prefix('v').unwrap_or(&self.version);
        let mut parts = v.split('.');
        let major = parts.next()?.parse().ok()?;
        let minor_digits: String = parts
            .next()?
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        Some((major, minor_digits.parse().ok()?))
    }
}

/// One plugin as Introspection lists it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Plugin {
    /// e.g. `io.containerd.runtime.v2`.
    pub kind: String,
    /// e.g. `task`.
    pub id: String,
    pub requires: Vec<String>,
    pub capabilities: Vec<String>,
    pub exports: BTreeMap<String, String>,
    /// Why the plugin failed to load or was skipped; `None` when it is in service.
    pub init_error: Option<String>,
}

impl Plugin {
    /// Loaded and in service.
    pub fn is_ok(&self) -> bool {
        self.init_error.is_none()
    }
}

/// The plugins a containerd reports, with look-ups for the features berth depends on.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Plugins(pub Vec<Plugin>);

/// Plugin type and id of the runc v2 task runtime (`io.containerd.runc.v2` shims).
pub const TASK_RUNTIME_V2: (&str, &str) = ("io.containerd.runtime.v2", "task");
/// The restart monitor that restarts containers labelled `containerd.io/restart.status`
/// (1.6 and 1.7; 2.x registers it as [`RESTART_MONITOR_2`]).
pub const RESTART_MONITOR: (&str, &str) = ("io.containerd.internal.v1", "restart");
/// The restart monitor as containerd 2.x registers it.
pub const RESTART_MONITOR_2: (&str, &str) = ("io.containerd.monitor.container.v1", "restart");
/// The Transfer gRPC service (containerd 1.7 and later).
pub const TRANSFER_SERVICE: (&str, &str) = ("io.containerd.grpc.v1", "transfer");
/// The overlayfs snapshotter, the one berth unpacks images into.
pub const OVERLAYFS_SNAPSHOTTER: (&str, &str) = ("io.containerd.snapshotter.v1", "overlayfs");

impl Plugins {
    /// The plugin of this type and id, loaded or not.
    pub fn find(&self, kind: &str, id: &str) -> Option<&Plugin> {
        self.0.iter().find(|p| p.kind == kind && p.id == id)
    }

    /// True when the plugin `(type, id)` is listed and loaded without error.
    pub fn has(&self, (kind, id): (&str, &str)) -> bool {
        self.find(kind, id).is_some_and(Plugin::is_ok)
    }
}

/// The features berth chooses between, read off a containerd's version and plugins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Features {
    /// Containers can run (the v2 task runtime loaded).
    pub task_runtime_v2: bool,
    /// Images can be unpacked into overlayfs.
    pub overlayfs: bool,
    /// The restart monitor is there (`containerd.io/restart.status`).
    pub restart_monitor: bool,
    /// The restart monitor also reads `containerd.io/restart.policy` and friends (1.7+).
    pub restart_policies: bool,
    /// The Transfer service exists (1.7+); berth pulls client-side either way.
    pub transfer_service: bool,
}

impl Features {
    pub fn detect(version: &ServerVersion, plugins: &Plugins) -> Features {
        let restart_monitor = plugins.has(RESTART_MONITOR) || plugins.has(RESTART_MONITOR_2);
        Features {
            task_runtime_v2: plugins.has(TASK_RUNTIME_V2),
            overlayfs: plugins.has(OVERLAYFS_SNAPSHOTTER),
            restart_monitor,
            restart_policies: restart_monitor && version.release().is_some_and(|r| r >= (1, 7)),
            transfer_service: plugins.has(TRANSFER_SERVICE),
        }
    }
}

/// Checks a namespace name as containerd does: dot-, dash- or underscore-separated runs of
/// ASCII letters and digits, at most 76 characters.
pub fn validate_namespace(namespace: &str) -> Result<()> {
    let invalid = |reason| {
        Err(Error::InvalidNamespace {
            namespace: namespace.to_owned(),
            reason,
        })
    };
    if namespace.is_empty() {
        return invalid("it is empty");
    }
    if namespace.len() > NAMESPACE_MAX_LEN {
        return invalid("it is longer than 76 characters");
    }
    let mut after_separator = true;
    for c in namespace.chars() {
        if c.is_ascii_alphanumeric() {
            after_separator = false;
        } else if matches!(c, '.' | '_' | '-') {
            if after_separator {
                return invalid("a '.', '-' or '_' must stand between letters or digits");
            }
            after_separator = true;
        } else {
            return invalid("only ASCII letters, digits, '.', '-' and '_' are allowed");
        }
    }
    if after_separator {
        return invalid("a '.', '-' or '_' must stand between letters or digits");
    }
    Ok(())
}

impl Client {
    /// Connects to the containerd listening on unix socket `address` and checks that it answers
    /// (a Version call), so a missing or wedged containerd is reported here, once, with how to
    /// start it. Every namespaced call made through the client carries `namespace`.
    pub async fn connect(address: &Path, namespace: &str) -> Result<Client> {
        validate_namespace(namespace)?;
        let namespace_header = MetadataValue::try_from(namespace).map_err(|_| {
            // Unreachable after validate_namespace (ASCII only), but kept as an error, not a panic.
            Error::InvalidNamespace {
                namespace: namespace.to_owned(),
                reason: "not a valid header value",
            }
        })?;
        let attempt = async {
            let channel = containerd_client::connect(address)
                .await
                .map_err(|e| connect_error(address, &e))?;
            let client = Client {
                channel,
                address: address.to_owned(),
                namespace: namespace.to_owned(),
                namespace_header,
                lease_header: None,
            };
            client.version().await?;
            Ok(client)
        };
        tokio::time::timeout(CONNECT_TIMEOUT, attempt)
            .await
            .map_err(|_| Error::NotAnswering {
                address: address.to_owned(),
                reason: format!("no answer within {} s", CONNECT_TIMEOUT.as_secs()),
            })?
    }

    /// A client on the same connection whose calls all run under lease `id`, so what they
    /// create is kept from garbage collection until the lease is deleted (or expires).
    pub fn with_lease(&self, id: &str) -> Result<Client> {
        let header = MetadataValue::try_from(id).map_err(|_| Error::Call {
            address: self.address.clone(),
            call: "lease",
            code: Code::InvalidArgument,
            message: format!("lease id {id:?} is not a valid header value"),
        })?;
        Ok(Client {
            lease_header: Some(header),
            ..self.clone()
        })
    }

    /// The socket this client talks to.
    pub fn address(&self) -> &Path {
        &self.address
    }

    /// The namespace every namespaced call is made in.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The server's version and revision.
    pub async fn version(&self) -> Result<ServerVersion> {
        let reply = VersionClient::new(self.channel.clone())
            .version(Request::new(()))
            .await
            .map_err(|s| self.status_error("version", s))?
            .into_inner();
        Ok(ServerVersion {
            version: reply.version,
            revision: reply.revision,
        })
    }

    /// Every plugin the server knows, loaded or not (Introspection.Plugins with no filter).
    pub async fn introspection_plugins(&self) -> Result<Plugins> {
        let reply = IntrospectionClient::new(self.channel.clone())
            .plugins(Request::new(PluginsRequest { filters: vec![] }))
            .await
            .map_err(|s| self.status_error("introspection plugins", s))?
            .into_inner();
        Ok(Plugins(
            reply
                .plugins
                .into_iter()
                .map(|p| Plugin {
                    kind: p.r#type,
                    id: p.id,
                    requires: p.requires,
                    capabilities: p.capabilities,
                    exports: p.exports.into_iter().collect(),
                    init_error: p.init_err.map(|s| {
                        if s.message.is_empty() {
                            format!("status code {}", s.code)
                        } else {
                            s.message
                        }
                    }),
                })
                .collect(),
        ))
    }

    /// Version and plugins read together into the feature set berth chooses by.
    pub async fn features(&self) -> Result<Features> {
        let version = self.version().await?;
        let plugins = self.introspection_plugins().await?;
        Ok(Features::detect(&version, &plugins))
    }

    /// Wraps a request message with the client's namespace header. Every namespaced call
    /// (containers, images, content, snapshots, tasks, leases, events) goes through here.
    fn request<T>(&self, message: T) -> Request<T> {
        let mut request = namespaced(&self.namespace_header, message);
        if let Some(lease) = &self.lease_header {
            request.metadata_mut().insert(LEASE_HEADER, lease.clone());
        }
        request
    }

    /// Maps a gRPC status of call `call` to an `Error`. `Unavailable` means the connection is
    /// gone (containerd stopped or restarted mid-session): that is "does not answer", not a
    /// refusal.
    fn status_error(&self, call: &'static str, status: tonic::Status) -> Error {
        use tonic::Code as G;
        let code = match status.code() {
            // containerd reports a content ingest held by another writer as Unavailable too
            G::Unavailable if status.message().contains("locked") => Code::Locked,
            G::Unavailable => {
                return Error::NotAnswering {
                    address: self.address.clone(),
                    reason: status.message().to_owned(),
                }
            }
            G::NotFound => Code::NotFound,
            G::AlreadyExists => Code::AlreadyExists,
            G::FailedPrecondition => Code::FailedPrecondition,
            G::InvalidArgument => Code::InvalidArgument,
            G::PermissionDenied | G::Unauthenticated => Code::PermissionDenied,
            G::Unimplemented => Code::Unimplemented,
            G::DeadlineExceeded => Code::DeadlineExceeded,
            G::Cancelled => Code::Canceled,
            _ => Code::Other,
        };
        Error::Call {
            address: self.address.clone(),
            call,
            code,
            message: status.message().to_owned(),
        }
    }
}

fn namespaced<T>(namespace: &MetadataValue<Ascii>, message: T) -> Request<T> {
    let mut request = Request::new(message);
    request
        .metadata_mut()
        .insert(NAMESPACE_HEADER, namespace.clone());
    request
}

/// The error for a socket that could not be connected to: no access, or no answer with the
/// operating system's reason.
fn connect_error(address: &Path, error: &(dyn std::error::Error + 'static)) -> Error {
    let mut cause = Some(error);
    while let Some(c) = cause {
        if c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::PermissionDenied)
        {
            return Error::NoAccess {
                address: address.to_owned(),
            };
        }
        cause = c.source();
    }
    Error::NotAnswering {
        address: address.to_owned(),
        reason: innermost_cause(error),
    }
}

/// The deepest cause in an error's source chain: for a failed connect that is the OS error
/// ("No such file or directory", "Connection refused"), where tonic's own text says only
/// "transport error".
fn innermost_cause(error: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = error;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plugin(kind: &str, id: &str, init_error: Option<&str>) -> Plugin {
        Plugin {
            kind: kind.into(),
            id: id.into(),
            init_error: init_error.map(Into::into),
            ..Plugin::default()
        }
    }

    fn version(v: &str) -> ServerVersion {
        ServerVersion {
            version: v.into(),
            revision: String::new(),
        }
    }

    #[test]
    fn namespaces_containerd_accepts() {
        for ns in ["default", "k8s.io", "berth-test_1", "a", &"x".repeat(76)] {
            assert!(validate_namespace(ns).is_ok(), "{ns}");
        }
    }

    #[test]
    fn namespaces_containerd_refuses() {
        for (ns, why) in [
            ("", "empty"),
            ("-a", "between"),
            ("a-", "between"),
            ("a..b", "between"),
            ("a b", "only ASCII"),
            ("é", "only ASCII"),
            ("a/b", "only ASCII"),
        ] {
            let err = validate_namespace(ns).unwrap_err().to_string();
            assert!(err.contains(why), "{ns:?}: {err}");
            assert!(err.starts_with("invalid containerd namespace"), "{err}");
        }
        assert!(validate_namespace(&"x".repeat(77))
            .unwrap_err()
            .to_string()
            .contains("longer than 76"));
    }

    #[test]
    fn release_reads_debian_and_upstream_versions() {
        assert_eq!(version("1.6.20~ds1").release(), Some((1, 6)));
        assert_eq!(version("v1.7.24").release(), Some((1, 7)));
        assert_eq!(version("2.0.0-rc.1").release(), Some((2, 0)));
        assert_eq!(version("1.7").release(), Some((1, 7)));
        assert_eq!(version("dev").release(), None);
        assert_eq!(version("").release(), None);
    }

    #[test]
    fn features_of_a_debian_12_containerd() {
        let plugins = Plugins(vec![
            plugin("io.containerd.runtime.v2", "task", None),
            plugin("io.containerd.internal.v1", "restart", None),
            plugin("io.containerd.snapshotter.v1", "overlayfs", None),
            plugin(
                "io.containerd.snapshotter.v1",
                "devmapper",
                Some("devmapper not configured"),
            ),
        ]);
        let f = Features::detect(&version("1.6.20~ds1"), &plugins);
        assert!(f.task_runtime_v2 && f.overlayfs && f.restart_monitor);
        assert!(!f.restart_policies, "1.6 knows only restart.status");
        assert!(!f.transfer_service);
        assert!(!plugins.has(("io.containerd.snapshotter.v1", "devmapper")));
        assert!(plugins
            .find("io.containerd.snapshotter.v1", "devmapper")
            .is_some());
    }

    #[test]
    fn features_of_a_1_7_containerd_and_a_failed_plugin() {
        let plugins = Plugins(vec![
            plugin("io.containerd.internal.v1", "restart", None),
            plugin("io.containerd.grpc.v1", "transfer", None),
            plugin(
                "io.containerd.snapshotter.v1",
                "overlayfs",
                Some("no overlay"),
            ),
        ]);
        let f = Features::detect(&version("v1.7.24"), &plugins);
        assert!(f.restart_policies && f.transfer_service);
        let two = Plugins(vec![plugin(
            "io.containerd.monitor.container.v1",
            "restart",
            None,
        )]);
        let f = Features::detect(&version("2.0.0"), &two);
        assert!(
            f.restart_monitor && f.restart_policies,
            "2.x moved the plugin"
        );
        assert!(
            !f.overlayfs,
            "a plugin that failed to load is not a feature"
        );
        assert!(!f.task_runtime_v2);
    }

    #[test]
    fn not_answering_says_where_and_how_to_start() {
        let e = Error::NotAnswering {
            address: "/run/x.sock".into(),
            reason: "No such file or directory (os error 2)".into(),
        };
        assert_eq!(
            e.to_string(),
            "containerd does not answer at /run/x.sock: No such file or directory (os error 2); \
             start it with `systemctl start containerd` or `containerd &`"
        );
        assert_eq!(e.code(), None);
    }

    #[test]
    fn call_errors_carry_the_call_and_code() {
        let e = Error::Call {
            address: "/run/x.sock".into(),
            call: "images get",
            code: Code::NotFound,
            message: "image \"x\": not found".into(),
        };
        assert_eq!(
            e.to_string(),
            "containerd at /run/x.sock: images get: not found: image \"x\": not found"
        );
        assert_eq!(e.code(), Some(Code::NotFound));
    }

    #[test]
    fn namespace_travels_in_the_containerd_header() {
        let header = MetadataValue::try_from("berth-test").unwrap();
        let request = namespaced(&header, ());
        assert_eq!(
            request.metadata().get("containerd-namespace").unwrap(),
            "berth-test"
        );
    }

    #[derive(Debug, thiserror::Error)]
    #[error("transport error")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn innermost_cause_skips_wrappers() {
        let e = Outer(std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
        assert_eq!(innermost_cause(&e), "connection refused");
    }

    #[test]
    fn connect_errors_tell_no_access_from_no_answer() {
        let denied = Outer(std::io::Error::from(std::io::ErrorKind::PermissionDenied));
        let e = connect_error(Path::new("/run/c.sock"), &denied);
        assert!(matches!(e, Error::NoAccess { .. }), "{e:?}");
        assert!(e.to_string().contains("run berth as root"), "{e}");

        let refused = Outer(std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
        let e = connect_error(Path::new("/run/c.sock"), &refused);
        assert!(
            e.to_string()
                .starts_with("containerd does not answer at /run/c.sock: connection refused;"),
            "{e}"
        );
    }
}
