//! The driver's settings: compose `logging.options` in, the `binary://` log URI out, and that
//! URI's query back in as the argv the containerd shim gives the driver. Pure.
//!
//! How the shim runs a `binary://` logger (containerd 1.6 and 1.7 `pkg/process/io_util.go`
//! `NewBinaryCmd`, unchanged in 2.x): it execs the URI's path with, for each query key, the key
//! and then its first value as two arguments, in Go map order, which is random. The environment
//! holds only `CONTAINER_ID` and `CONTAINER_NAMESPACE`; stdin, stdout and stderr are /dev/null.
//! So `binary:///usr/local/bin/berth?_berth_log=1&dir=/x&max-file=3` may arrive as
//! `berth max-file 3 _berth_log 1 dir /x`: the driver reads its argv as unordered pairs.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

/// The query key that marks the driver's argv; its value is the argv format's version.
pub const MARKER: &str = "_berth_log";
/// The argv format this build writes and reads.
pub const MARKER_VERSION: &str = "1";

/// Where container logs live when the URI names no `dir`: `<root>/<namespace>/<id>/`.
pub const DEFAULT_ROOT: &str = "/var/lib/berth/containers";

/// berth's `max-size` when compose gives none: Docker's json-file would grow without bound,
/// which the issue rules out. 10 MB (Docker's decimal `10m`) in each of [`DEFAULT_MAX_FILE`]
/// files caps a container's logs at 30 MB.
pub const DEFAULT_MAX_SIZE: u64 = 10_000_000;
/// berth's `max-file` when compose gives neither `max-size` nor `max-file`.
pub const DEFAULT_MAX_FILE: u32 = 3;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum OptionsError {
    #[error("logging option max-size: invalid size {0:?}")]
    Size(String),
    #[error("logging option max-size must be a positive number")]
    SizeNotPositive,
    #[error("logging option max-file: {0:?} is not a number")]
    File(String),
    #[error("logging option max-file cannot be less than 1")]
    FileTooSmall,
    #[error("log driver arguments: {0}")]
    Args(String),
}

/// Rotation limits of one container's json-file logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rotation {
    /// Bytes after which the current file is rotated.
    pub max_size: u64,
    /// Files kept, the current one included (1: the current file is truncated on rotation).
    pub max_file: u32,
}

impl Default for Rotation {
    fn default() -> Self {
        Rotation {
            max_size: DEFAULT_MAX_SIZE,
            max_file: DEFAULT_MAX_FILE,
        }
    }
}

impl Rotation {
    /// Reads compose's `logging.options` for the json-file driver (`max-size`, `max-file`).
    /// Returns the rotation and the keys it does not implement, for the caller's warnings.
    ///
    /// Defaults: with no `max-size`, berth's 10 MB × `max-file` (default 3) instead of Docker's
    /// unbounded file; with a `max-size`, `max-file` defaults to Docker's 1, so a compose file
    /// that sets limits gets exactly Docker's.
    pub fn from_options<'a>(
        options: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<(Rotation, Vec<String>), OptionsError> {
        let mut size = None;
        let mut file = None;
        let mut ignored = Vec::new();
        for (k, v) in options {
            match k {
                "max-size" => size = Some(parse_size(v)?),
                "max-file" => file = Some(parse_max_file(v)?),
                other => ignored.push(other.to_owned()),
            }
        }
        let rotation = match size {
            None => Rotation {
                max_size: DEFAULT_MAX_SIZE,
                max_file: file.unwrap_or(DEFAULT_MAX_FILE),
            },
            Some(max_size) => Rotation {
                max_size,
                max_file: file.unwrap_or(1),
            },
        };
        Ok((rotation, ignored))
    }
}

/// Docker's `max-size` (go-units `FromHumanSize`): a decimal number, an optional space, and an
/// optional case-insensitive unit `b`, `k`, `m`, `g`, `t`, `p` (powers of 1000) optionally followed
/// by `b` or `ib` (`10m`, `10 MB`, `1.5KiB`, all decimal).
pub fn parse_size(s: &str) -> Result<u64, OptionsError> {
    let bad = || OptionsError::Size(s.to_owned());
    let split = s
        .char_indices()
        .rev()
        .find(|(_, c)| c.is_ascii_digit() || *c == '.' || *c == ' ')
        .map(|(i, _)| i)
        .ok_or_else(bad)?;
    let (num, sfx) = if s.as_bytes()[split] == b' ' {
        (&s[..split], &s[split + 1..])
    } else {
        (&s[..=split], &s[split + 1..])
    };
    let n: f64 = num.parse().map_err(|_| bad())?;
    if n.is_nan() || n < 0.0 {
        return Err(bad());
    }
    let sfx = sfx.to_ascii_lowercase();
    let mul: f64 = match sfx.as_bytes() {
        [] | [b'b'] => 1.0,
        [u] | [u, b'b'] | [u, b'i', b'b'] => match u {
            b'k' => 1e3,
            b'm' => 1e6,
            b'g' => 1e9,
            b't' => 1e12,
            b'p' => 1e15,
            _ => return Err(bad()),
        },
        _ => return Err(bad()),
    };
    // `as` saturates, like Go's int64 conversion of a huge float does not; both are absurd sizes.
    let bytes = (n * mul) as u64;
    if bytes == 0 {
        return Err(OptionsError::SizeNotPositive);
    }
    Ok(bytes)
}

fn parse_max_file(s: &str) -> Result<u32, OptionsError> {
    let n: i64 = s
        .trim()
        .parse()
        .map_err(|_| OptionsError::File(s.to_owned()))?;
    if n < 1 {
        return Err(OptionsError::FileTooSmall);
    }
    u32::try_from(n).map_err(|_| OptionsError::File(s.to_owned()))
}

/// What the driver needs, from the URI's query (all but the id and namespace, which the shim
/// gives in the environment).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DriverConfig {
    /// Directory of `<id>-json.log` and its rotated files; `None`: `<DEFAULT_ROOT>/<ns>/<id>`.
    pub dir: Option<PathBuf>,
    pub rotation: Rotation,
}

impl DriverConfig {
    /// The directory of this container's logs.
    pub fn dir_for(&self, namespace: &str, id: &str) -> PathBuf {
        match &self.dir {
            Some(d) => d.clone(),
            None => log_dir(Path::new(DEFAULT_ROOT), namespace, id),
        }
    }

    /// The stdout/stderr URI for `Tasks.Create` (and the restart monitor's
    /// `containerd.io/restart.loguri` label) that makes the shim run `binary` as this driver.
    /// `binary` must be an absolute path: the shim has no PATH.
    pub fn uri(&self, binary: &Path) -> String {
        let mut uri = String::from("binary://");
        uri.push_str(&escape(binary.as_os_str().as_bytes(), true));
        uri.push('?');
        uri.push_str(MARKER);
        uri.push('=');
        uri.push_str(MARKER_VERSION);
        if let Some(dir) = &self.dir {
            uri.push_str("&dir=");
            uri.push_str(&escape(dir.as_os_str().as_bytes(), false));
        }
        uri.push_str(&format!(
            "&max-size={}&max-file={}",
            self.rotation.max_size, self.rotation.max_file
        ));
        uri
    }

    /// Reads the driver's argv (program name excluded) when it is the driver's, that is when
    /// it pairs up and one key is [`MARKER`]; `None` otherwise, for the normal command line.
    pub fn from_args(args: &[OsString]) -> Option<Result<DriverConfig, OptionsError>> {
        if !args.len().is_multiple_of(2) || !args.chunks(2).any(|kv| kv[0] == MARKER) {
            return None;
        }
        Some(Self::parse_pairs(args))
    }

    fn parse_pairs(args: &[OsString]) -> Result<DriverConfig, OptionsError> {
        let pairs: BTreeMap<&[u8], &OsString> = args
            .chunks(2)
            .map(|kv| (kv[0].as_bytes(), &kv[1]))
            .collect();
        let text = |k: &str| -> Result<Option<&str>, OptionsError> {
            pairs
                .get(k.as_bytes())
                .map(|v| {
                    v.to_str()
                        .ok_or_else(|| OptionsError::Args(format!("{k} is not UTF-8")))
                })
                .transpose()
        };
        let version = text(MARKER)?.unwrap_or_default();
        if version != MARKER_VERSION {
            return Err(OptionsError::Args(format!(
                "{MARKER}={version}: this berth writes format {MARKER_VERSION}"
            )));
        }
        let mut rotation = Rotation::default();
        if let Some(s) = text("max-size")? {
            rotation.max_size = s
                .parse()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| OptionsError::Size(s.to_owned()))?;
        }
        if let Some(s) = text("max-file")? {
            rotation.max_file = parse_max_file(s)?;
        }
        let dir = pairs
            .get(b"dir".as_slice())
            .map(|d| PathBuf::from(OsString::from_vec(d.as_bytes().to_vec())));
        if let Some(d) = &dir {
            if !d.is_absolute() {
                return Err(OptionsError::Args(format!(
                    "dir {} is not absolute",
                    d.display()
                )));
            }
        }
        Ok(DriverConfig { dir, rotation })
    }
}

/// `<root>/<namespace>/<id>`: where berth keeps one container's log files.
pub fn log_dir(root: &Path, namespace: &str, id: &str) -> PathBuf {
    root.join(namespace).join(id)
}

/// `<dir>/<id>-json.log`, Docker's name for the current file; rotated ones add `.1`, `.2`, ...
pub fn log_file(dir: &Path, id: &str) -> PathBuf {
    dir.join(format!("{id}-json.log"))
}

/// Percent-encodes all but RFC 3986's unreserved characters (and `/` in a path), which Go's
/// `url.Parse` and `url.Query` decode back to the same bytes.
fn escape(bytes: &[u8], path: bool) -> String {
    let mut s = String::with_capacity(bytes.len());
    for &b in bytes {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) || (path && b == b'/') {
            s.push(char::from(b));
        } else {
            s.push_str(&format!("%{b:02X}"));
        }
    }
    s
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn sizes_parse_like_go_units() {
        assert_eq!(parse_size("10m"), Ok(10_000_000));
        assert_eq!(parse_size("10M"), Ok(10_000_000));
        assert_eq!(parse_size("10 MB"), Ok(10_000_000));
        assert_eq!(parse_size("1.5KiB"), Ok(1500));
        assert_eq!(parse_size("2k"), Ok(2000));
        assert_eq!(parse_size("100"), Ok(100));
        assert_eq!(parse_size("100b"), Ok(100));
        assert_eq!(parse_size("1g"), Ok(1_000_000_000));
        assert!(parse_size("10x").is_err());
        assert!(parse_size("10mbb").is_err());
        assert!(parse_size("m").is_err());
        assert!(parse_size("-1m").is_err());
        assert_eq!(parse_size("0"), Err(OptionsError::SizeNotPositive));
    }

    #[test]
    fn compose_options_and_defaults() {
        let (r, ignored) = Rotation::from_options([]).unwrap();
        assert_eq!(r, Rotation::default());
        assert!(ignored.is_empty());
        let (r, _) = Rotation::from_options([("max-size", "1m")]).unwrap();
        assert_eq!((r.max_size, r.max_file), (1_000_000, 1));
        let (r, _) = Rotation::from_options([("max-file", "5")]).unwrap();
        assert_eq!((r.max_size, r.max_file), (DEFAULT_MAX_SIZE, 5));
        let (r, ignored) =
            Rotation::from_options([("max-size", "2k"), ("max-file", "4"), ("compress", "true")])
                .unwrap();
        assert_eq!((r.max_size, r.max_file), (2000, 4));
        assert_eq!(ignored, ["compress"]);
        assert_eq!(
            Rotation::from_options([("max-file", "0")]).unwrap_err(),
            OptionsError::FileTooSmall
        );
        assert!(Rotation::from_options([("max-file", "x")]).is_err());
    }

    fn argv(s: &str) -> Vec<OsString> {
        s.split(' ').map(OsString::from).collect()
    }

    #[test]
    fn uri_and_argv_round_trip_in_any_order() {
        let cfg = DriverConfig {
            dir: Some("/var/lib/berth/containers/my ns/c&1".into()),
            rotation: Rotation {
                max_size: 2000,
                max_file: 3,
            },
        };
        assert_eq!(
            cfg.uri(Path::new("/usr/local/bin/berth")),
            "binary:///usr/local/bin/berth?_berth_log=1&dir=%2Fvar%2Flib%2Fberth%2Fcontainers%2Fmy%20ns%2Fc%261&max-size=2000&max-file=3"
        );
        // What the shim passes: decoded pairs, shuffled.
        let mut args = argv("max-file 3 _berth_log 1 max-size 2000 dir x");
        args[7] = "/var/lib/berth/containers/my ns/c&1".into();
        assert_eq!(DriverConfig::from_args(&args), Some(Ok(cfg)));

        let args = argv("_berth_log 1");
        let cfg = DriverConfig::from_args(&args).unwrap().unwrap();
        assert_eq!(cfg.rotation, Rotation::default());
        assert_eq!(
            cfg.dir_for("default", "c1"),
            PathBuf::from("/var/lib/berth/containers/default/c1")
        );
        assert_eq!(
            log_file(&cfg.dir_for("default", "c1"), "c1"),
            PathBuf::from("/var/lib/berth/containers/default/c1/c1-json.log")
        );
    }

    #[test]
    fn other_command_lines_are_not_the_drivers() {
        for s in ["pull", "logs -f", "-p _berth_log 1", "_berth_log"] {
            assert_eq!(DriverConfig::from_args(&argv(s)), None, "{s}");
        }
        assert!(DriverConfig::from_args(&argv("_berth_log 2"))
            .unwrap()
            .is_err());
        assert!(DriverConfig::from_args(&argv("_berth_log 1 dir rel"))
            .unwrap()
            .is_err());
        assert!(DriverConfig::from_args(&argv("_berth_log 1 max-size 0"))
            .unwrap()
            .is_err());
    }
}
