//! The typed model's value types with their own decode and print rules, each the counterpart of
//! a compose-go type with a mapstructure hook or a Marshal method: byte sizes, commands, string
//! lists, key/value mappings, extra hosts, SSH keys, env files, ulimits, device counts.

use std::ops::{Deref, DerefMut};

use indexmap::IndexMap;

use crate::model::error::{Error, Result};
use crate::model::field::{type_error, Field, Fmt, Out};
use crate::model::node::{KeyPath, Node, Value};

/// Go's `fmt.Sprint` of a scalar; `None` for a sequence or mapping.
fn sprint(n: &Node) -> Option<String> {
    n.scalar_string()
}

fn sprint_or_err(n: &Node, path: &KeyPath, want: &str) -> Result<String> {
    sprint(n).ok_or_else(|| type_error(n, path, want))
}

macro_rules! deref_to {
    ($name:ident, $target:ty) => {
        impl Deref for $name {
            type Target = $target;
            fn deref(&self) -> &$target {
                &self.0
            }
        }
        impl DerefMut for $name {
            fn deref_mut(&mut self) -> &mut $target {
                &mut self.0
            }
        }
    };
}

// ---------------------------------------------------------------------------------------------
// Byte sizes

/// docker/go-units `RAMInBytes`: a number with an optional binary suffix (`b`, `k`, `kb`, `kib`,
/// ... up to `p`, any case), with an optional space before the suffix. Fractions are truncated.
pub fn ram_in_bytes(s: &str) -> std::result::Result<i64, String> {
    let Some(sep) = s.rfind(|c: char| c.is_ascii_digit() || c == '.' || c == ' ') else {
        return Err(format!("invalid size: '{s}'"));
    };
    let (num, sfx) = if s.as_bytes()[sep] == b' ' {
        (&s[..sep], &s[sep + 1..])
    } else {
        (&s[..=sep], &s[sep + 1..])
    };
    let size: f64 = go_parse_float(num)
        .ok_or_else(|| format!("strconv.ParseFloat: parsing {num:?}: invalid syntax"))?;
    if size < 0.0 {
        return Err(format!("invalid size: '{s}'"));
    }
    if sfx.is_empty() {
        return Ok(size as i64);
    }
    let bad = || format!("invalid suffix: '{}'", sfx.to_lowercase());
    if sfx.len() > 3 {
        return Err(bad());
    }
    let lower = sfx.to_ascii_lowercase();
    let b = lower.as_bytes();
    if b[0] == b'b' {
        return if b.len() > 1 {
            Err(bad())
        } else {
            Ok(size as i64)
        };
    }
    let mul: f64 = match b[0] {
        b'k' => 1024.0,
        b'm' => 1024.0 * 1024.0,
        b'g' => 1024.0 * 1024.0 * 1024.0,
        b't' => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        b'p' => 1024.0 * 1024.0 * 1024.0 * 1024.0 * 1024.0,
        _ => return Err(bad()),
    };
    if (b.len() == 2 && b[1] != b'b') || (b.len() == 3 && &lower[1..] != "ib") {
        return Err(bad());
    }
    Ok((size * mul) as i64)
}

/// `strconv.ParseFloat` for the decimal forms compose files hold (Rust also accepts `inf`/`nan`
/// spellings Go spells differently, which a size can never reach here since it ends in a digit).
fn go_parse_float(s: &str) -> Option<f64> {
    if s.is_empty() || s.contains(|c: char| c.is_ascii_alphabetic() && c != 'e' && c != 'E') {
        return None;
    }
    s.parse().ok()
}

/// compose-go `UnitBytes`: a byte count, written as an integer or a size string (`512m`),
/// printed as a quoted decimal string in both formats.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UnitBytes(pub i64);

impl Field for UnitBytes {
    fn decode(n: &Node, path: &KeyPath) -> Result<Self> {
        match &n.v {
            Value::Int(i) => Ok(UnitBytes(*i)),
            Value::Str(s) => ram_in_bytes(s)
                .map(UnitBytes)
                .map_err(|e| Error::at(n, path, e)),
            // the Go hook ignores any other type, leaving zero
            Value::Seq(_) | Value::Map(_) => Err(type_error(n, path, "a byte size")),
            _ => Ok(UnitBytes(0)),
        }
    }
    fn encode(&self, _: Fmt) -> Out {
        Out::Str(self.0.to_string())
    }
    fn is_empty(&self, _: Fmt) -> bool {
        self.0 == 0
    }
}

// ---------------------------------------------------------------------------------------------
// CPUs and device counts

/// compose-go `NanoCPUs` (deploy `cpus`): a Go float32, written as a number or a string.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct NanoCpus(pub f32);

impl Field for NanoCpus {
    fn decode(n: &Node, path: &KeyPath) -> Result<Self> {
        match &n.v {
            Value::Int(i) => Ok(NanoCpus(*i as f32)),
            Value::Float(f) => Ok(NanoCpus(*f as f32)),
            Value::Str(s) => go_parse_float(s)
                .map(|f| NanoCpus(f as f32))
                .ok_or_else(|| {
                    Error::at(
                        n,
                        path,
                        format!("strconv.ParseFloat: parsing {s:?}: invalid syntax"),
                    )
                }),
            Value::Null => Ok(NanoCpus(0.0)),
            _ => Err(type_error(n, path, "a number")),
        }
    }
    fn encode(&self, _: Fmt) -> Out {
        Out::Float(f64::from(self.0), true)
    }
    fn is_empty(&self, _: Fmt) -> bool {
        self.0 == 0.0
    }
}

/// compose-go `DeviceCount`: a number of devices, or `all` (stored as -1).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DeviceCount(pub i64);

impl Field for DeviceCount {
    fn decode(n: &Node, path: &KeyPath) -> Result<Self> {
        match &n.v {
            Value::Int(i) => Ok(DeviceCount(*i)),
            Value::Str(s) if s.eq_ignore_ascii_case("all") => Ok(DeviceCount(-1)),
            Value::Str(s) => s.parse().map(DeviceCount).map_err(|_| {
                Error::at(
                    n,
                    path,
                    format!("invalid value {s:?}, the only value allowed is 'all' or a number"),
                )
            }),
            Value::Null => Ok(DeviceCount(0)),
            _ => Err(Error::at(
                n,
                path,
                format!("invalid type {} for device count", n.kind()),
            )),
        }
    }
    fn encode(&self, _: Fmt) -> Out {
        Out::Int(self.0)
    }
    fn is_empty(&self, _: Fmt) -> bool {
        self.0 == 0
    }
}

// ---------------------------------------------------------------------------------------------
// Commands and string lists

/// compose-go `ShellCommand` (`command`, `entrypoint`): `None` when unset, which YAML omits and
/// JSON prints as `null`; `Some(vec![])` clears the image's value and prints as `[]`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ShellCommand(pub Option<Vec<String>>);

impl Field for ShellCommand {
    fn decode(n: &Node, path: &KeyPath) -> Result<Self> {
        match &n.v {
            Value::Null => Ok(ShellCommand(None)),
            Value::Str(s) => shell_words::split(s)
                .map(|v| ShellCommand(Some(v)))
                .map_err(|e| Error::at(n, path, format!("invalid command {s:?}: {e}"))),
            Value::Seq(items) => items
                .iter()
                .enumerate()
                .map(|(i, it)| String::decode(it, &path.index(i)))
                .collect::<Result<Vec<_>>>()
                .map(|v| ShellCommand(Some(v))),
            // the Go hook ignores other types, leaving the command unset
            _ => Ok(ShellCommand(None)),
        }
    }
    fn encode(&self, f: Fmt) -> Out {
        match &self.0 {
            Some(v) => v.encode(f),
            None => Out::Null,
        }
    }
    /// yaml.v3 asks `IsZero`, which is true only for nil.
    fn is_empty(&self, _: Fmt) -> bool {
        self.0.is_none()
    }
}

/// compose-go `HealthCheckTest`: a list, or a string meaning `["CMD-SHELL", string]`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HealthCheckTest(pub Vec<String>);
deref_to!(HealthCheckTest, Vec<String>);

impl Field for HealthCheckTest {
    fn decode(n: &Node, path: &KeyPath) -> Result<Self> {
        match &n.v {
            Value::Str(s) => Ok(HealthCheckTest(vec!["CMD-SHELL".into(), s.clone()])),
            Value::Seq(_) => Vec::<String>::decode(n, path).map(HealthCheckTest),
            Value::Null => Ok(HealthCheckTest::default()),
            _ => Err(Error::at(
                n,
                path,
                format!("unexpected value type {} for healthcheck.test", n.kind()),
            )),
        }
    }
    fn encode(&self, f: Fmt) -> Out {
        self.0.encode(f)
    }
    fn is_empty(&self, _: Fmt) -> bool {
        self.0.is_empty()
    }
}

/// compose-go `StringList`: a list of strings, or one string.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StringList(pub Vec<String>);
deref_to!(StringList, Vec<String>);

impl Field for StringList {
    fn decode(n: &Node, path: &KeyPath) -> Result<Self> {
        match &n.v {
            Value::Str(s) => Ok(StringList(vec![s.clone()])),
            Value::Seq(items) => items
                .iter()
                .enumerate()
                .map(|(i, it)| match &it.v {
                    Value::Str(s) => Ok(s.clone()),
                    _ => Err(type_error(it, &path.index(i), "a string")),
                })
                .collect::<Result<Vec<_>>>()
                .map(StringList),
            Value::Null => Ok(StringList::default()),
            _ => Err(type_error(n, path, "a string or a list of strings")),
        }
    }
    fn encode(&self, f: Fmt) -> Out {
        self.0.encode(f)
    }
    fn is_empty(&self, _: Fmt) -> bool {
        self.0.is_empty()
    }
}

/// compose-go `StringOrNumberList` (`expose`): entries become strings.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StringOrNumberList(pub Vec<String>);
deref_to!(StringOrNumberList, Vec<String>);

impl Field for StringOrNumberList {
    fn decode(n: &Node, path: &KeyPath) -> Result<Self> {
        match &n.v {
            Value::Seq(items) => items
                .iter()
                .enumerate()
                .map(|(i, it)| sprint_or_err(it, &path.index(i), "a string or number"))
                .collect::<Result<Vec<_>>>()
                .map(StringOrNumberList),
            Value::Null => Ok(StringOrNumberList::default()),
            Value::Str(s) => Ok(StringOrNumberList(vec![s.clone()])),
            _ => Err(type_error(n, path, "a string or a list")),
        }
    }
    fn encode(&self, f: Fmt) -> Out {
        self.0.encode(f)
    }
    fn is_empty(&self, _: Fmt) -> bool {
        self.0.is_empty()
    }
}

// ---------------------------------------------------------------------------------------------
// Mappings

/// compose-go `Mapping`, `Labels` and `Options`: string to string, printed sorted. A mapping's
/// null value becomes `""`, other scalars their Go print form; the list form `K=V` (or `K`, meaning
/// `""`) is accepted too.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Mapping(pub IndexMap<String, String>);
deref_to!(Mapping, IndexMap<String, String>);

/// Labels are a [`Mapping`].
pub type Labels = Mapping;
/// Driver options are a [`Mapping`].
pub type Options = Mapping;

impl Field for Mapping {
    fn decode(n: &Node, path: &KeyPath) -> Result<Self> {
        let mut out = IndexMap::new();
        match &n.v {
            Value::Map(m) => {
                for (k, v) in m {
                    out.insert(k.clone(), sprint_or_err(v, &path.key(k), "a scalar")?);
                }
            }
            Value::Seq(items) => {
                for (i, it) in items.iter().enumerate() {
                    let s = sprint_or_err(it, &path.index(i), "a string")?;
                    let (k, v) = s.split_once('=').unwrap_or((&s, ""));
                    out.insert(k.to_string(), v.to_string());
                }
            }
            Value::Null => {}
            _ => return Err(type_error(n, path, "a mapping or a list")),
        }
        Ok(Mapping(out))
    }
    fn encode(&self, f: Fmt) -> Out {
        self.0.encode(f)
    }
    fn is_empty(&self, _: Fmt) -> bool {
        self.0.is_empty()
    }
}

/// compose-go `MappingWithEquals` (`environment`, build `args`): a value may be unset (`KEY`
/// without `=` in list form, or null), printed as `null`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MappingWithEquals(pub IndexMap<String, Option<String>>);
deref_to!(MappingWithEquals, IndexMap<String, Option<String>>);

impl Field for MappingWithEquals {
    fn decode(n: &Node, path: &KeyPath) -> Result<Self> {
        let mut out = IndexMap::new();
        match &n.v {
            Value::Map(m) => {
                for (k, v) in m {
                    let val = if v.is_null() {
                        None
                    } else {
                        Some(sprint_or_err(v, &path.key(k), "a scalar")?)
                    };
                    out.insert(k.clone(), val);
                }
            }
            Value::Seq(items) => {
                for (i, it) in items.iter().enumerate() {
                    let s = sprint_or_err(it, &path.index(i), "a string")?;
                    match s.split_once('=') {
                        Some((k, v)) => out.insert(k.to_string(), Some(v.to_string())),
                        None => out.insert(s, None),
                    };
                }
            }
            Value::Null => {}
            _ => return Err(type_error(n, path, "a mapping or a list")),
        }
        Ok(MappingWithEquals(out))
    }
    fn encode(&self, f: Fmt) -> Out {
        Out::sorted_map_for(
            self.0
                .iter()
                .map(|(k, v)| {
                    let o = match v {
                        Some(s) => Out::Str(s.clone()),
                        None => Out::Null,
                    };
                    (k.clone(), o)
                })
                .collect(),
            f,
        )
    }
    fn is_empty(&self, _: Fmt) -> bool {
        self.0.is_empty()
    }
}

/// compose-go `HostsList` (`extra_hosts`): host name to addresses. Decoded from a list of
/// `host=ip` / `host:ip` (several comma-separated addresses allowed) or a mapping whose value is
/// an address or a list of them; `[ip]` brackets are removed. Printed as a sorted `host=ip` list.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HostsList(pub IndexMap<String, Vec<String>>);
deref_to!(HostsList, IndexMap<String, Vec<String>>);

impl HostsList {
    /// The `host<sep>ip` entries, unsorted.
    pub fn as_list(&self, sep: &str) -> Vec<String> {
        self.0
            .iter()
            .flat_map(|(h, ips)| ips.iter().map(move |ip| format!("{h}{sep}{ip}")))
            .collect()
    }

    fn cleanup(&mut self, n: &Node, path: &KeyPath) -> Result<()> {
        for (host, ips) in self.0.iter_mut() {
            if host.is_empty() || host.contains([':', '=']) {
                return Err(Error::at(n, path, format!("bad host name '{host}'")));
            }
            for ip in ips.iter_mut() {
                if ip.len() > 2 && ip.starts_with('[') && ip.ends_with(']') {
                    *ip = ip[1..ip.len() - 1].to_string();
                }
            }
        }
        Ok(())
    }
}

impl Field for HostsList {
    fn decode(n: &Node, path: &KeyPath) -> Result<Self> {
        let mut list = HostsList::default();
        match &n.v {
            Value::Map(m) => {
                for (host, v) in m {
                    let ips = match &v.v {
                        Value::Seq(items) => items
                            .iter()
                            .enumerate()
                            .map(|(i, it)| sprint_or_err(it, &path.key(host).index(i), "a string"))
                            .collect::<Result<Vec<_>>>()?,
                        Value::Map(_) => {
                            return Err(Error::at(
                                v,
                                &path.key(host),
                                "unexpected value type for extra_hosts entry",
                            ))
                        }
                        _ => vec![v.scalar_string().unwrap_or_default()],
                    };
                    list.0.insert(host.clone(), ips);
                }
            }
            Value::Seq(items) => {
                for (i, it) in items.iter().enumerate() {
                    let s = sprint_or_err(it, &path.index(i), "a string")?;
                    let cut = s.split_once('=').or_else(|| s.split_once(':'));
                    let Some((host, ip)) = cut else {
                        return Err(Error::at(
                            it,
                            &path.index(i),
                            format!("invalid additional host, missing IP: {s}"),
                        ));
                    };
                    list.0
                        .entry(host.to_string())
                        .or_default()
                        .extend(ip.split(',').map(str::to_string));
                }
            }
            Value::Null => return Ok(list),
            _ => return Err(type_error(n, path, "a mapping or a list")),
        }
        list.cleanup(n, path)?;
        Ok(list)
    }
    fn encode(&self, _: Fmt) -> Out {
        let mut l = self.as_list("=");
        l.sort();
        Out::Seq(l.into_iter().map(Out::Str).collect())
    }
    fn is_empty(&self, _: Fmt) -> bool {
        self.0.is_empty()
    }
}

// ---------------------------------------------------------------------------------------------
// SSH keys, env files, ulimits

/// One `build.ssh` entry: an id and an optional path.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SshKey {
    pub id: String,
    pub path: String,
}

impl Field for SshKey {
    fn decode(n: &Node, path: &KeyPath) -> Result<Self> {
        let s = sprint_or_err(n, path, "a string")?;
        Ok(match s.split_once('=') {
            Some((id, p)) => SshKey {
                id: id.to_string(),
                path: p.to_string(),
            },
            None => SshKey {
                id: s,
                path: String::new(),
            },
        })
    }
    /// Printed `id` or `id: path` as one string. (Go's JSON form of the latter is not valid
    /// JSON and makes `config --format json` fail; berth prints the string.)
    fn encode(&self, _: Fmt) -> Out {
        if self.path.is_empty() {
            Out::Str(self.id.clone())
        } else {
            Out::Str(format!("{}: {}", self.id, self.path))
        }
    }
    fn is_empty(&self, _: Fmt) -> bool {
        false
    }
}

/// compose-go `SSHConfig` (`build.ssh`): canonically a mapping id → path (null for none); kept
/// in the order written (Go's order is random).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SshConfig(pub Vec<SshKey>);
deref_to!(SshConfig, Vec<SshKey>);

impl Field for SshConfig {
    fn decode(n: &Node, path: &KeyPath) -> Result<Self> {
        match &n.v {
            Value::Map(m) => Ok(SshConfig(
                m.iter()
                    .map(|(id, p)| SshKey {
                        id: id.clone(),
                        path: p.scalar_string().unwrap_or_default(),
                    })
                    .collect(),
            )),
            Value::Seq(_) => Vec::<SshKey>::decode(n, path).map(SshConfig),
            Value::Null => Ok(SshConfig::default()),
            _ => Err(Error::at(
                n,
                path,
                format!("invalid ssh config type {}", n.kind()),
            )),
        }
    }
    fn encode(&self, f: Fmt) -> Out {
        self.0.encode(f)
    }
    fn is_empty(&self, _: Fmt) -> bool {
        self.0.is_empty()
    }
}

/// compose-go `EnvFile`: printed as its path when required, else as `{path, required: false}`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnvFile {
    pub path: String,
    pub required: bool,
    pub format: String,
}

impl Default for EnvFile {
    fn default() -> Self {
        EnvFile {
            path: String::new(),
            required: true,
            format: String::new(),
        }
    }
}

impl Field for EnvFile {
    fn decode(n: &Node, path: &KeyPath) -> Result<Self> {
        match &n.v {
            Value::Map(m) => {
                let mut e = EnvFile {
                    required: false,
                    ..EnvFile::default()
                };
                for (k, v) in m {
                    match k.as_str() {
                        "path" => e.path = String::decode(v, &path.key(k))?,
                        "required" => e.required = bool::decode(v, &path.key(k))?,
                        "format" => e.format = String::decode(v, &path.key(k))?,
                        _ => {
                            return Err(Error::at(
                                v,
                                path,
                                format!("additional property {k:?} is not allowed"),
                            ))
                        }
                    }
                }
                Ok(e)
            }
            _ => Ok(EnvFile {
                path: sprint_or_err(n, path, "a string or a mapping")?,
                ..EnvFile::default()
            }),
        }
    }
    fn encode(&self, f: Fmt) -> Out {
        if self.required {
            return Out::Str(self.path.clone());
        }
        match f {
            // MarshalYAML builds a map[string]any: sorted keys, no format
            Fmt::Yaml => Out::Map(vec![
                ("path".into(), Out::Str(self.path.clone())),
                ("required".into(), Out::Bool(false)),
            ]),
            Fmt::Json => {
                let mut m = Vec::new();
                if !self.path.is_empty() {
                    m.push(("path".into(), Out::Str(self.path.clone())));
                }
                m.push(("required".into(), Out::Bool(false)));
                if !self.format.is_empty() {
                    m.push(("format".into(), Out::Str(self.format.clone())));
                }
                Out::Map(m)
            }
        }
    }
    fn is_empty(&self, _: Fmt) -> bool {
        false
    }
}

/// compose-go `UlimitsConfig`: one number (soft = hard) or `{soft, hard}`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UlimitsConfig {
    pub single: i64,
    pub soft: i64,
    pub hard: i64,
}

impl Field for UlimitsConfig {
    fn decode(n: &Node, path: &KeyPath) -> Result<Self> {
        match &n.v {
            Value::Map(m) => {
                let mut u = UlimitsConfig::default();
                for (k, v) in m {
                    match k.as_str() {
                        "soft" => u.soft = i64::decode(v, &path.key(k))?,
                        "hard" => u.hard = i64::decode(v, &path.key(k))?,
                        _ if k.starts_with("x-") => {}
                        _ => {
                            return Err(Error::at(
                                v,
                                path,
                                format!("additional property {k:?} is not allowed"),
                            ))
                        }
                    }
                }
                Ok(u)
            }
            Value::Int(_) | Value::Str(_) => Ok(UlimitsConfig {
                single: i64::decode(n, path)?,
                ..UlimitsConfig::default()
            }),
            Value::Null => Ok(UlimitsConfig::default()),
            _ => Err(Error::at(
                n,
                path,
                format!("unexpected value type {} for ulimit", n.kind()),
            )),
        }
    }
    fn encode(&self, f: Fmt) -> Out {
        if self.single != 0 {
            return Out::Int(self.single);
        }
        match f {
            // an untagged anonymous struct: both keys always
            Fmt::Yaml => Out::Map(vec![
                ("soft".into(), Out::Int(self.soft)),
                ("hard".into(), Out::Int(self.hard)),
            ]),
            Fmt::Json => {
                let mut m = Vec::new();
                if self.soft != 0 {
                    m.push(("soft".into(), Out::Int(self.soft)));
                }
                if self.hard != 0 {
                    m.push(("hard".into(), Out::Int(self.hard)));
                }
                Out::Map(m)
            }
        }
    }
    fn is_empty(&self, _: Fmt) -> bool {
        false
    }
}

// ---------------------------------------------------------------------------------------------
// blkio devices: untagged Go structs, so YAML keys are lower case and JSON keys capitalized

/// A blkio `weight_device` entry.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WeightDevice {
    pub path: String,
    pub weight: u16,
}

/// A blkio throttle entry (`device_read_bps`, ...).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ThrottleDevice {
    pub path: String,
    pub rate: UnitBytes,
}

fn device_keys<'a>(n: &'a Node, path: &KeyPath, second: &str) -> Result<Vec<(&'a str, &'a Node)>> {
    let Some(m) = n.as_map() else {
        if n.is_null() {
            return Ok(Vec::new());
        }
        return Err(type_error(n, path, "a mapping"));
    };
    let mut out = Vec::new();
    for (k, v) in m {
        // mapstructure matches untagged field names case-insensitively
        let lk = k.to_ascii_lowercase();
        if lk == "path" {
            out.push(("path", v));
        } else if lk == second {
            out.push((if second == "weight" { "weight" } else { "rate" }, v));
        } else if !k.starts_with("x-") {
            return Err(Error::at(
                v,
                path,
                format!("additional property {k:?} is not allowed"),
            ));
        }
    }
    Ok(out)
}

impl Field for WeightDevice {
    fn decode(n: &Node, path: &KeyPath) -> Result<Self> {
        let mut d = WeightDevice::default();
        for (k, v) in device_keys(n, path, "weight")? {
            match k {
                "path" => d.path = String::decode(v, &path.key("path"))?,
                _ => d.weight = u16::decode(v, &path.key("weight"))?,
            }
        }
        Ok(d)
    }
    fn encode(&self, f: Fmt) -> Out {
        let (p, w) = match f {
            Fmt::Yaml => ("path", "weight"),
            Fmt::Json => ("Path", "Weight"),
        };
        Out::Map(vec![
            (p.into(), Out::Str(self.path.clone())),
            (w.into(), Out::Int(i64::from(self.weight))),
        ])
    }
    fn is_empty(&self, _: Fmt) -> bool {
        false
    }
}

impl Field for ThrottleDevice {
    fn decode(n: &Node, path: &KeyPath) -> Result<Self> {
        let mut d = ThrottleDevice::default();
        for (k, v) in device_keys(n, path, "rate")? {
            match k {
                "path" => d.path = String::decode(v, &path.key("path"))?,
                _ => d.rate = UnitBytes::decode(v, &path.key("rate"))?,
            }
        }
        Ok(d)
    }
    fn encode(&self, f: Fmt) -> Out {
        let (p, r) = match f {
            Fmt::Yaml => ("path", "rate"),
            Fmt::Json => ("Path", "Rate"),
        };
        Out::Map(vec![
            (p.into(), Out::Str(self.path.clone())),
            (r.into(), self.rate.encode(f)),
        ])
    }
    fn is_empty(&self, _: Fmt) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(x: &str) -> Node {
        Node::str(x)
    }
    fn i(x: i64) -> Node {
        Node::synth(Value::Int(x))
    }
    fn seq(items: Vec<Node>) -> Node {
        Node::seq(items)
    }
    fn map(items: Vec<(&str, Node)>) -> Node {
        Node::map(items.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
    }
    fn root() -> KeyPath {
        KeyPath::root()
    }

    #[test]
    fn ram_in_bytes_matches_go_units() {
        assert_eq!(ram_in_bytes("512m"), Ok(536_870_912));
        assert_eq!(ram_in_bytes("1g"), Ok(1 << 30));
        assert_eq!(ram_in_bytes("1.5gb"), Ok(1_610_612_736));
        assert_eq!(ram_in_bytes("640k"), Ok(655_360));
        assert_eq!(ram_in_bytes("2GiB"), Ok(2 << 30));
        assert_eq!(ram_in_bytes("10000"), Ok(10_000));
        assert_eq!(ram_in_bytes("32 MB"), Ok(32 << 20));
        assert_eq!(ram_in_bytes("100b"), Ok(100));
        assert!(ram_in_bytes("1x")
            .unwrap_err()
            .contains("invalid suffix: 'x'"));
        assert!(ram_in_bytes("1mbb").is_err());
        assert!(ram_in_bytes("1kx").is_err());
        assert!(ram_in_bytes("abc").unwrap_err().contains("invalid size"));
        assert!(ram_in_bytes("-1").is_err());
    }

    #[test]
    fn unit_bytes_prints_quoted_count() {
        let u = UnitBytes::decode(&s("512m"), &root()).unwrap();
        assert_eq!(u.encode(Fmt::Yaml), Out::Str("536870912".into()));
        assert_eq!(
            UnitBytes::decode(&i(1024), &root()).unwrap(),
            UnitBytes(1024)
        );
        let e = UnitBytes::decode(&s("12q"), &KeyPath::parse("services.a.shm_size")).unwrap_err();
        assert_eq!(e.to_string(), "services.a.shm_size: invalid suffix: 'q'");
    }

    #[test]
    fn shell_command_nil_empty_and_split() {
        let c = ShellCommand::decode(&s("echo 'a b' c"), &root()).unwrap();
        assert_eq!(c.0, Some(vec!["echo".into(), "a b".into(), "c".into()]));
        let c = ShellCommand::decode(&seq(vec![]), &root()).unwrap();
        assert_eq!(c.0, Some(vec![]));
        assert!(!c.is_empty(Fmt::Yaml));
        assert_eq!(c.encode(Fmt::Yaml), Out::Seq(vec![]));
        let c = ShellCommand::decode(&Node::null(), &root()).unwrap();
        assert!(c.is_empty(Fmt::Yaml));
        assert_eq!(c.encode(Fmt::Json), Out::Null);
    }

    #[test]
    fn healthcheck_test_string_is_cmd_shell() {
        let t = HealthCheckTest::decode(&s("curl -f x"), &root()).unwrap();
        assert_eq!(t.0, vec!["CMD-SHELL", "curl -f x"]);
    }

    #[test]
    fn string_lists() {
        assert_eq!(
            StringList::decode(&s("8.8.8.8"), &root()).unwrap().0,
            vec!["8.8.8.8"]
        );
        assert!(StringList::decode(&seq(vec![i(1)]), &root()).is_err());
        let l = StringOrNumberList::decode(&seq(vec![i(3000), s("8000-8001")]), &root()).unwrap();
        assert_eq!(l.0, vec!["3000", "8000-8001"]);
    }

    #[test]
    fn mappings_decode_both_forms() {
        let m = Mapping::decode(
            &map(vec![
                ("b", i(42)),
                ("a", Node::null()),
                ("c", Node::synth(Value::Bool(true))),
            ]),
            &root(),
        )
        .unwrap();
        assert_eq!(m.get("a").map(String::as_str), Some(""));
        assert_eq!(m.get("b").map(String::as_str), Some("42"));
        assert_eq!(m.get("c").map(String::as_str), Some("true"));
        assert_eq!(
            m.encode(Fmt::Yaml),
            Out::Map(vec![
                ("a".into(), Out::Str("".into())),
                ("b".into(), Out::Str("42".into())),
                ("c".into(), Out::Str("true".into())),
            ])
        );
        let l = Labels::decode(&seq(vec![s("K=V=W"), s("EMPTY")]), &root()).unwrap();
        assert_eq!(l.get("K").map(String::as_str), Some("V=W"));
        assert_eq!(l.get("EMPTY").map(String::as_str), Some(""));
    }

    #[test]
    fn mapping_with_equals_keeps_null() {
        let m = MappingWithEquals::decode(&seq(vec![s("A=1"), s("B"), s("C=")]), &root()).unwrap();
        assert_eq!(m.get("A"), Some(&Some("1".into())));
        assert_eq!(m.get("B"), Some(&None));
        assert_eq!(m.get("C"), Some(&Some(String::new())));
        let m = MappingWithEquals::decode(&map(vec![("Z", Node::null()), ("N", i(1))]), &root())
            .unwrap();
        assert_eq!(
            m.encode(Fmt::Json),
            Out::Map(vec![
                ("N".into(), Out::Str("1".into())),
                ("Z".into(), Out::Null)
            ])
        );
    }

    #[test]
    fn hosts_list_decodes_and_prints_sorted() {
        let h = HostsList::decode(
            &seq(vec![
                s("zulu=127.0.0.2"),
                s("alpha:50.31.209.229"),
                s("zulu=[ff02::1]"),
            ]),
            &root(),
        )
        .unwrap();
        assert_eq!(
            h.encode(Fmt::Yaml),
            Out::Seq(vec![
                Out::Str("alpha=50.31.209.229".into()),
                Out::Str("zulu=127.0.0.2".into()),
                Out::Str("zulu=ff02::1".into()),
            ])
        );
        let h = HostsList::decode(&seq(vec![s("myhost=0.0.0.1,0.0.0.2")]), &root()).unwrap();
        assert_eq!(
            h.get("myhost").unwrap(),
            &vec!["0.0.0.1".to_string(), "0.0.0.2".into()]
        );
        let h = HostsList::decode(
            &map(vec![
                ("a", s("1.1.1.1")),
                ("b", seq(vec![s("2.2.2.2"), s("[::1]")])),
            ]),
            &root(),
        )
        .unwrap();
        assert_eq!(h.as_list("=").len(), 3);
        assert_eq!(h.get("b").unwrap()[1], "::1");
        let e = HostsList::decode(&seq(vec![s("nohost")]), &root()).unwrap_err();
        assert!(e.msg.contains("missing IP"));
    }

    #[test]
    fn ssh_prints_id_or_id_path() {
        let c = SshConfig::decode(
            &map(vec![("default", Node::null()), ("k", s("/p"))]),
            &root(),
        )
        .unwrap();
        assert_eq!(
            c.encode(Fmt::Yaml),
            Out::Seq(vec![Out::Str("default".into()), Out::Str("k: /p".into())])
        );
    }

    #[test]
    fn env_file_prints_path_when_required() {
        let e = EnvFile::decode(
            &map(vec![
                ("path", s("/a/.env")),
                ("required", Node::synth(Value::Bool(true))),
            ]),
            &root(),
        )
        .unwrap();
        assert_eq!(e.encode(Fmt::Yaml), Out::Str("/a/.env".into()));
        let e = EnvFile::decode(
            &map(vec![("path", s("/b")), ("required", s("false"))]),
            &root(),
        )
        .unwrap();
        assert_eq!(
            e.encode(Fmt::Yaml),
            Out::Map(vec![
                ("path".into(), Out::Str("/b".into())),
                ("required".into(), Out::Bool(false))
            ])
        );
    }

    #[test]
    fn ulimits_single_or_pair() {
        let u = UlimitsConfig::decode(&i(65535), &root()).unwrap();
        assert_eq!(u.encode(Fmt::Json), Out::Int(65535));
        let u = UlimitsConfig::decode(&map(vec![("soft", i(20000)), ("hard", i(40000))]), &root())
            .unwrap();
        assert_eq!(
            u.encode(Fmt::Yaml),
            Out::Map(vec![
                ("soft".into(), Out::Int(20000)),
                ("hard".into(), Out::Int(40000))
            ])
        );
        let u = UlimitsConfig::decode(&map(vec![("hard", i(5))]), &root()).unwrap();
        assert_eq!(
            u.encode(Fmt::Yaml),
            Out::Map(vec![
                ("soft".into(), Out::Int(0)),
                ("hard".into(), Out::Int(5))
            ])
        );
        assert_eq!(
            u.encode(Fmt::Json),
            Out::Map(vec![("hard".into(), Out::Int(5))])
        );
    }

    #[test]
    fn device_count_all_is_minus_one() {
        assert_eq!(
            DeviceCount::decode(&s("all"), &root()).unwrap(),
            DeviceCount(-1)
        );
        assert_eq!(
            DeviceCount::decode(&s("2"), &root()).unwrap(),
            DeviceCount(2)
        );
        assert!(DeviceCount::decode(&s("many"), &root()).is_err());
        assert_eq!(NanoCpus::decode(&s("0.5"), &root()).unwrap(), NanoCpus(0.5));
    }

    #[test]
    fn blkio_devices_capitalize_json_keys() {
        let d = ThrottleDevice::decode(
            &map(vec![("path", s("/dev/sda")), ("rate", s("1mb"))]),
            &root(),
        )
        .unwrap();
        assert_eq!(
            d.encode(Fmt::Json),
            Out::Map(vec![
                ("Path".into(), Out::Str("/dev/sda".into())),
                ("Rate".into(), Out::Str("1048576".into()))
            ])
        );
        let w = WeightDevice::decode(
            &map(vec![("path", s("/dev/sda")), ("weight", i(400))]),
            &root(),
        )
        .unwrap();
        assert_eq!(
            w.encode(Fmt::Yaml),
            Out::Map(vec![
                ("path".into(), Out::Str("/dev/sda".into())),
                ("weight".into(), Out::Int(400))
            ])
        );
    }
}
