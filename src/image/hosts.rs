//! Where to reach a registry: containerd's `hosts.toml` (`<dir>/<host>/hosts.toml`, then
//! `<dir>/_default/hosts.toml`), Docker's certs.d layout (`*.crt`, `*.cert` + `*.key`), and the
//! defaults (Docker Hub's real host, loopback registries tried over https then plain http).
//! The parser is pure; [`load`] is the thin layer over the filesystem. No network, no containerd.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use thiserror::Error;

use super::reference::DOCKER_HUB;

/// The host `docker.io` is served from.
pub const DOCKER_HUB_HOST: &str = "registry-1.docker.io";
/// The directories searched when the caller names none, in order (as nerdctl does).
pub const DEFAULT_DIRS: [&str; 2] = ["/etc/containerd/certs.d", "/etc/docker/certs.d"];
const HOSTS_FILE: &str = "hosts.toml";
const DEFAULT_HOST_DIR: &str = "_default";

#[derive(Debug, Error)]
pub enum HostsError {
    /// toml's message carries the line and column and names the key.
    #[error("{}: {message}", path.display())]
    Parse { path: PathBuf, message: String },
    #[error("{}: {key}: {message}", path.display())]
    Value {
        path: PathBuf,
        key: String,
        message: String,
    },
    #[error("read {}: {source}", path.display())]
    Read { path: PathBuf, source: io::Error },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Http,
    Https,
}

/// What an endpoint may be used for (containerd's `capabilities`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capabilities {
    /// Fetch manifests and blobs by digest.
    pub pull: bool,
    /// Turn a tag into a digest.
    pub resolve: bool,
    pub push: bool,
}

impl Capabilities {
    /// A mirror's default.
    pub const MIRROR: Self = Self {
        pull: true,
        resolve: true,
        push: false,
    };
    /// The upstream server's default.
    pub const SERVER: Self = Self {
        pull: true,
        resolve: true,
        push: true,
    };
}

/// One place to try, in the order [`endpoints`] returns them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub scheme: Scheme,
    /// `host[:port]`, as in the URL.
    pub host: String,
    /// The API root's path: `/v2` unless `override_path` says otherwise.
    pub path: String,
    pub override_path: bool,
    pub capabilities: Capabilities,
    pub skip_verify: bool,
    /// CA certificates (PEM) to trust besides the system's.
    pub ca: Vec<PathBuf>,
    /// Client certificates: (certificate, key); the key is `None` when the certificate file
    /// holds both.
    pub client: Vec<(PathBuf, Option<PathBuf>)>,
    /// Extra request headers, in file order.
    pub headers: Vec<(String, Vec<String>)>,
    pub dial_timeout: Option<Duration>,
    /// False for the upstream server, true for a `[host."…"]` mirror.
    pub mirror: bool,
}

impl Endpoint {
    /// A plain endpoint at `scheme://host/v2`.
    pub fn new(scheme: Scheme, host: &str, mirror: bool) -> Self {
        Self {
            scheme,
            host: host.to_string(),
            path: "/v2".to_string(),
            override_path: false,
            capabilities: if mirror {
                Capabilities::MIRROR
            } else {
                Capabilities::SERVER
            },
            skip_verify: false,
            ca: Vec::new(),
            client: Vec::new(),
            headers: Vec::new(),
            dial_timeout: None,
            mirror,
        }
    }

    pub fn url(&self) -> String {
        let scheme = match self.scheme {
            Scheme::Http => "http",
            Scheme::Https => "https",
        };
        format!("{scheme}://{}{}", self.host, self.path)
    }
}

/// The `https://<host>` server a registry name means when nothing configures it.
pub fn default_server(registry: &str) -> Endpoint {
    let host = if registry == DOCKER_HUB {
        DOCKER_HUB_HOST
    } else {
        registry
    };
    Endpoint::new(Scheme::Https, host, false)
}

/// The endpoints for `registry` when no file configures it: the https server, and for a
/// loopback registry a second try over plain http (Docker treats loopback registries as
/// insecure: certificate errors are ignored, and http is the fallback).
pub fn default_endpoints(registry: &str) -> Vec<Endpoint> {
    let mut server = default_server(registry);
    if is_loopback(registry) {
        server.skip_verify = true;
        let mut plain = server.clone();
        plain.scheme = Scheme::Http;
        plain.skip_verify = false;
        vec![server, plain]
    } else {
        vec![server]
    }
}

/// `localhost`, 127.0.0.0/8 and ::1, with or without a port.
pub fn is_loopback(registry: &str) -> bool {
    let host = if let Some(rest) = registry.strip_prefix('[') {
        rest.split_once(']').map_or(rest, |(h, _)| h)
    } else {
        registry.split_once(':').map_or(registry, |(h, _)| h)
    };
    if host == "localhost" {
        return true;
    }
    host.parse::<std::net::IpAddr>()
        .is_ok_and(|ip| ip.is_loopback())
}

// ---- hosts.toml ---------------------------------------------------------------------------

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Settings {
    capabilities: Option<Vec<String>>,
    skip_verify: Option<bool>,
    ca: Option<OneOrMany>,
    client: Option<ClientCerts>,
    header: Option<BTreeMap<String, OneOrMany>>,
    override_path: Option<bool>,
    dial_timeout: Option<String>,
}

// The top level holds the server's settings beside `server` and `host`. serde's `flatten` would
// lose toml's positions (and `deny_unknown_fields`), so the fields are listed again.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HostsFile {
    server: Option<String>,
    #[serde(default)]
    host: BTreeMap<toml::Spanned<String>, Settings>,
    capabilities: Option<Vec<String>>,
    skip_verify: Option<bool>,
    ca: Option<OneOrMany>,
    client: Option<ClientCerts>,
    header: Option<BTreeMap<String, OneOrMany>>,
    override_path: Option<bool>,
    dial_timeout: Option<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    fn into_vec(self) -> Vec<String> {
        match self {
            Self::One(s) => vec![s],
            Self::Many(v) => v,
        }
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum ClientCerts {
    One(String),
    Many(Vec<ClientCert>),
}

#[derive(Deserialize)]
#[serde(untagged)]
enum ClientCert {
    Cert(String),
    Pair(Vec<String>),
}

/// Parses the contents of a hosts.toml for `registry`. `path` names the file in errors, and its
/// directory is what relative `ca` and `client` paths are relative to. Returns the endpoints in
/// try order: the `[host."…"]` mirrors in file order, then the server.
pub fn parse_hosts_toml(
    registry: &str,
    path: &Path,
    contents: &str,
) -> Result<Vec<Endpoint>, HostsError> {
    let file: HostsFile = toml::from_str(contents).map_err(|e| HostsError::Parse {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    let base = path.parent().unwrap_or(Path::new("/"));

    let mut hosts: Vec<(toml::Spanned<String>, Settings)> = file.host.into_iter().collect();
    hosts.sort_by_key(|(k, _)| k.span().start);
    let mut out = Vec::with_capacity(hosts.len() + 1);
    for (key, settings) in hosts {
        let key_name = format!("host.\"{}\"", key.get_ref());
        let mut ep = endpoint_from_url(key.get_ref(), true)
            .map_err(|message| value_err(path, &key_name, message))?;
        apply(&mut ep, settings, base, path, &key_name)?;
        out.push(ep);
    }

    let mut server = match &file.server {
        Some(url) => endpoint_from_url(url, false).map_err(|m| value_err(path, "server", m))?,
        None => default_server(registry),
    };
    apply(
        &mut server,
        Settings {
            capabilities: file.capabilities,
            skip_verify: file.skip_verify,
            ca: file.ca,
            client: file.client,
            header: file.header,
            override_path: file.override_path,
            dial_timeout: file.dial_timeout,
        },
        base,
        path,
        "",
    )?;
    out.push(server);
    Ok(out)
}

fn value_err(path: &Path, key: &str, message: String) -> HostsError {
    HostsError::Value {
        path: path.to_path_buf(),
        key: key.to_string(),
        message,
    }
}

/// `scheme://host[:port][/path]`; a URL without a scheme is https, as containerd reads it.
fn endpoint_from_url(url: &str, mirror: bool) -> Result<Endpoint, String> {
    let (scheme, rest) = match url.split_once("://") {
        Some(("http", rest)) => (Scheme::Http, rest),
        Some(("https", rest)) => (Scheme::Https, rest),
        Some((other, _)) => return Err(format!("unsupported scheme {other:?} in {url:?}")),
        None => (Scheme::Https, url),
    };
    let (host, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    if host.is_empty() || host.contains(['?', '#', '@', ' ']) {
        return Err(format!("invalid host in {url:?}"));
    }
    let mut ep = Endpoint::new(scheme, host, mirror);
    ep.path = path.trim_end_matches('/').to_string();
    Ok(ep)
}

fn apply(
    ep: &mut Endpoint,
    s: Settings,
    base: &Path,
    path: &Path,
    key: &str,
) -> Result<(), HostsError> {
    let name = |k: &str| {
        if key.is_empty() {
            k.to_string()
        } else {
            format!("{key}.{k}")
        }
    };
    let rel = |p: String| {
        let p = PathBuf::from(p);
        if p.is_absolute() {
            p
        } else {
            base.join(p)
        }
    };
    if let Some(caps) = s.capabilities {
        let mut c = Capabilities {
            pull: false,
            resolve: false,
            push: false,
        };
        for cap in caps {
            match cap.as_str() {
                "pull" => c.pull = true,
                "resolve" => c.resolve = true,
                "push" => c.push = true,
                other => {
                    return Err(value_err(
                        path,
                        &name("capabilities"),
                        format!("unknown capability {other:?} (want pull, resolve or push)"),
                    ))
                }
            }
        }
        ep.capabilities = c;
    }
    if let Some(skip) = s.skip_verify {
        ep.skip_verify = skip;
    }
    if let Some(ca) = s.ca {
        ep.ca = ca.into_vec().into_iter().map(rel).collect();
    }
    if let Some(client) = s.client {
        ep.client = match client {
            ClientCerts::One(cert) => vec![(rel(cert), None)],
            ClientCerts::Many(list) => {
                let mut out = Vec::new();
                for c in list {
                    match c {
                        ClientCert::Cert(cert) => out.push((rel(cert), None)),
                        ClientCert::Pair(pair) => match <[String; 2]>::try_from(pair) {
                            Ok([cert, key]) if key.is_empty() => out.push((rel(cert), None)),
                            Ok([cert, key]) => out.push((rel(cert), Some(rel(key)))),
                            Err(pair) => {
                                return Err(value_err(
                                    path,
                                    &name("client"),
                                    format!(
                                        "a client pair is [certificate, key], got {} entries",
                                        pair.len()
                                    ),
                                ))
                            }
                        },
                    }
                }
                out
            }
        };
    }
    if let Some(headers) = s.header {
        ep.headers = headers
            .into_iter()
            .map(|(k, v)| (k, v.into_vec()))
            .collect();
    }
    if let Some(o) = s.override_path {
        ep.override_path = o;
    }
    if !ep.override_path && !ep.path.ends_with("/v2") {
        ep.path.push_str("/v2");
    }
    if let Some(t) = s.dial_timeout {
        ep.dial_timeout = Some(parse_duration(&t).ok_or_else(|| {
            value_err(
                path,
                &name("dial_timeout"),
                format!("invalid duration {t:?}"),
            )
        })?);
    }
    Ok(())
}

/// Go's duration syntax, for the units a timeout needs: `500ms`, `10s`, `1m30s`.
fn parse_duration(s: &str) -> Option<Duration> {
    let mut total = Duration::ZERO;
    let mut rest = s;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let n: f64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "ms" => 0.001,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total += Duration::from_secs_f64(n * scale);
    }
    Some(total)
}

// ---- Docker's certs.d ---------------------------------------------------------------------

/// A Docker-style host directory (no hosts.toml): `*.crt` are CAs, each `X.cert` pairs with
/// `X.key`. `files` are the directory's file names; `dir` is where they are. Returns the https
/// server configured with them, or an error for a certificate without its key.
pub fn docker_certs_dir(
    registry: &str,
    dir: &Path,
    files: &[String],
) -> Result<Endpoint, HostsError> {
    let mut server = default_server(registry);
    let mut names: Vec<&String> = files.iter().collect();
    names.sort();
    for name in names {
        if name.ends_with(".crt") {
            server.ca.push(dir.join(name));
        } else if let Some(stem) = name.strip_suffix(".cert") {
            let key = format!("{stem}.key");
            if !files.contains(&key) {
                return Err(value_err(
                    &dir.join(name),
                    "client certificate",
                    format!("missing key {key}"),
                ));
            }
            server.client.push((dir.join(name), Some(dir.join(key))));
        } else if let Some(stem) = name.strip_suffix(".key") {
            if !files.contains(&format!("{stem}.cert")) {
                return Err(value_err(
                    &dir.join(name),
                    "client key",
                    format!("missing certificate {stem}.cert"),
                ));
            }
        }
    }
    Ok(server)
}

// ---- the filesystem -----------------------------------------------------------------------

/// The endpoints for `registry`, searching `dirs` in order (an empty slice means
/// [`DEFAULT_DIRS`]): the first `<dir>/<registry>/` that exists wins (its hosts.toml, else its
/// Docker-style certificates); then the first `<dir>/_default/hosts.toml`; else the defaults.
pub fn load(registry: &str, dirs: &[PathBuf]) -> Result<Vec<Endpoint>, HostsError> {
    let defaults: Vec<PathBuf>;
    let dirs = if dirs.is_empty() {
        defaults = DEFAULT_DIRS.iter().map(PathBuf::from).collect();
        &defaults[..]
    } else {
        dirs
    };
    for dir in dirs {
        let host_dir = dir.join(registry);
        if !host_dir.is_dir() {
            continue;
        }
        let file = host_dir.join(HOSTS_FILE);
        if let Some(contents) = read_if_exists(&file)? {
            return parse_hosts_toml(registry, &file, &contents);
        }
        let entries = fs::read_dir(&host_dir).map_err(|source| HostsError::Read {
            path: host_dir.clone(),
            source,
        })?;
        let mut files = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|source| HostsError::Read {
                path: host_dir.clone(),
                source,
            })?;
            if let Some(name) = entry.file_name().to_str() {
                files.push(name.to_string());
            }
        }
        return Ok(vec![docker_certs_dir(registry, &host_dir, &files)?]);
    }
    for dir in dirs {
        let file = dir.join(DEFAULT_HOST_DIR).join(HOSTS_FILE);
        if let Some(contents) = read_if_exists(&file)? {
            return parse_hosts_toml(registry, &file, &contents);
        }
    }
    Ok(default_endpoints(registry))
}

fn read_if_exists(path: &Path) -> Result<Option<String>, HostsError> {
    match fs::read_to_string(path) {
        Ok(s) => Ok(Some(s)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(HostsError::Read {
            path: path.to_path_buf(),
            source,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(registry: &str, s: &str) -> Result<Vec<Endpoint>, HostsError> {
        parse_hosts_toml(
            registry,
            Path::new("/etc/containerd/certs.d/r.example/hosts.toml"),
            s,
        )
    }

    fn urls(eps: &[Endpoint]) -> Vec<String> {
        eps.iter().map(Endpoint::url).collect()
    }

    #[test]
    fn mirrors_in_file_order_then_the_server() {
        let eps = parse(
            "docker.io",
            r#"
server = "https://registry-1.docker.io"
[host."https://z.example"]
  capabilities = ["pull"]
[host."http://a.example:5000"]
[host."m.example/prefix"]
"#,
        )
        .unwrap();
        assert_eq!(
            urls(&eps),
            [
                "https://z.example/v2",
                "http://a.example:5000/v2",
                "https://m.example/prefix/v2",
                "https://registry-1.docker.io/v2"
            ]
        );
        assert!(eps[0].mirror && !eps[3].mirror);
        assert_eq!(
            eps[0].capabilities,
            Capabilities {
                pull: true,
                resolve: false,
                push: false
            }
        );
        assert_eq!(eps[1].capabilities, Capabilities::MIRROR);
        assert_eq!(eps[3].capabilities, Capabilities::SERVER);
    }

    #[test]
    fn server_defaults_to_the_registry_and_docker_hub_host() {
        assert_eq!(
            urls(&parse("r.example:5000", "").unwrap()),
            ["https://r.example:5000/v2"]
        );
        assert_eq!(
            urls(&parse("docker.io", "").unwrap()),
            ["https://registry-1.docker.io/v2"]
        );
        assert_eq!(
            urls(&parse("x", "server = \"http://x:80/\"").unwrap()),
            ["http://x:80/v2"]
        );
    }

    #[test]
    fn tls_settings_with_relative_paths() {
        let eps = parse(
            "r.example",
            r#"
ca = "ca.pem"
client = [["c.cert", "c.key"], "both.pem", ["only.pem", ""]]
skip_verify = true
[host."https://m.example"]
  ca = ["/abs/ca1.pem", "sub/ca2.pem"]
  client = "m.pem"
  header = { X-A = "1", X-B = ["2", "3"] }
"#,
        )
        .unwrap();
        let dir = Path::new("/etc/containerd/certs.d/r.example");
        let m = &eps[0];
        assert_eq!(
            m.ca,
            [PathBuf::from("/abs/ca1.pem"), dir.join("sub/ca2.pem")]
        );
        assert_eq!(m.client, [(dir.join("m.pem"), None)]);
        assert_eq!(
            m.headers,
            [
                ("X-A".to_string(), vec!["1".to_string()]),
                ("X-B".to_string(), vec!["2".to_string(), "3".to_string()])
            ]
        );
        assert!(!m.skip_verify);
        let s = &eps[1];
        assert!(s.skip_verify);
        assert_eq!(s.ca, [dir.join("ca.pem")]);
        assert_eq!(
            s.client,
            [
                (dir.join("c.cert"), Some(dir.join("c.key"))),
                (dir.join("both.pem"), None),
                (dir.join("only.pem"), None)
            ]
        );
    }

    #[test]
    fn override_path_keeps_the_path() {
        let eps = parse(
            "r",
            r#"
[host."https://m.example/custom/api"]
  override_path = true
  dial_timeout = "1m30s"
"#,
        )
        .unwrap();
        assert_eq!(eps[0].url(), "https://m.example/custom/api");
        assert!(eps[0].override_path);
        assert_eq!(eps[0].dial_timeout, Some(Duration::from_secs(90)));
    }

    #[test]
    fn errors_name_the_file_key_and_line() {
        let e = parse("r", "server = \"https://x\"\nskip_verify = \"yes\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("/etc/containerd/certs.d/r.example/hosts.toml: "),
            "{e}"
        );
        assert!(e.contains("line 2"), "{e}");
        let e = parse(
            "r",
            "[host.\"https://m\"]\ncapabilities = [\"pull\", \"fly\"]\n",
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("host.\"https://m\".capabilities: unknown capability \"fly\""),
            "{e}"
        );
        let e = parse("r", "[host.\"https://m\"]\nskip-verify = true\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("skip-verify") && e.contains("line 2"), "{e}");
        let e = parse("r", "sever = \"https://x\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("unknown field `sever`") && e.contains("line 1"),
            "{e}"
        );
        let e = parse("r", "server = \"ftp://x\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("server: unsupported scheme"), "{e}");
        let e = parse("r", "client = [[\"a\", \"b\", \"c\"]]\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("client: a client pair"), "{e}");
        let e = parse("r", "dial_timeout = \"soon\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("dial_timeout: invalid duration"), "{e}");
        let e = parse("r", "server = \n").unwrap_err().to_string();
        assert!(e.contains("line 1"), "{e}");
    }

    #[test]
    fn loopback_registries_fall_back_to_http() {
        assert_eq!(
            urls(&default_endpoints("127.0.0.1:5055")),
            ["https://127.0.0.1:5055/v2", "http://127.0.0.1:5055/v2"]
        );
        assert!(default_endpoints("localhost:5000")[0].skip_verify);
        assert_eq!(default_endpoints("[::1]:5000").len(), 2);
        assert_eq!(default_endpoints("127.1.2.3").len(), 2);
        assert_eq!(
            urls(&default_endpoints("r.example")),
            ["https://r.example/v2"]
        );
        assert_eq!(
            urls(&default_endpoints("docker.io")),
            ["https://registry-1.docker.io/v2"]
        );
        assert!(!is_loopback("10.0.0.1:5000"));
    }

    #[test]
    fn docker_certs_directory() {
        let dir = Path::new("/etc/docker/certs.d/r:5000");
        let files = ["ca.crt", "client.cert", "client.key", "README"].map(String::from);
        let ep = docker_certs_dir("r:5000", dir, &files).unwrap();
        assert_eq!(ep.url(), "https://r:5000/v2");
        assert_eq!(ep.ca, [dir.join("ca.crt")]);
        assert_eq!(
            ep.client,
            [(dir.join("client.cert"), Some(dir.join("client.key")))]
        );
        let e = docker_certs_dir("r", dir, &["c.cert".to_string()])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("c.cert") && e.contains("missing key c.key"),
            "{e}"
        );
    }

    #[test]
    fn load_searches_dirs_then_default() {
        let base = std::env::temp_dir().join(format!("berth-hosts-{}", std::process::id()));
        let (d1, d2) = (base.join("one"), base.join("two"));
        fs::create_dir_all(d1.join("other")).unwrap();
        fs::create_dir_all(d2.join("r:5000")).unwrap();
        fs::create_dir_all(d2.join("docker-style")).unwrap();
        fs::create_dir_all(d2.join("_default")).unwrap();
        fs::write(d2.join("r:5000/hosts.toml"), "[host.\"http://m:1\"]\n").unwrap();
        fs::write(d2.join("docker-style/ca.crt"), "x").unwrap();
        fs::write(d2.join("_default/hosts.toml"), "skip_verify = true\n").unwrap();
        let dirs = [d1.clone(), d2.clone()];

        assert_eq!(
            urls(&load("r:5000", &dirs).unwrap()),
            ["http://m:1/v2", "https://r:5000/v2"]
        );
        let ep = load("docker-style", &dirs).unwrap();
        assert_eq!(ep[0].ca, [d2.join("docker-style/ca.crt")]);
        let ep = load("elsewhere", &dirs).unwrap();
        assert_eq!(urls(&ep), ["https://elsewhere/v2"]);
        assert!(ep[0].skip_verify);
        // An empty host directory in an earlier dir still wins over a later one.
        assert_eq!(load("other", &dirs).unwrap()[0].ca, Vec::<PathBuf>::new());
        // Without _default, loopback defaults apply.
        assert_eq!(
            load("127.0.0.1:9", std::slice::from_ref(&d1))
                .unwrap()
                .len(),
            2
        );
        fs::write(d1.join("other/hosts.toml"), "skip_verify = 1\n").unwrap();
        let e = load("other", &dirs).unwrap_err().to_string();
        assert!(
            e.contains(&d1.join("other/hosts.toml").display().to_string()),
            "{e}"
        );
        fs::remove_dir_all(&base).unwrap();
    }
}
