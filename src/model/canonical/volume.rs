//! Short volume syntax (`./data:/data:ro`, `named:/data:nocopy`, `/anon`, `C:\x:/x`): compose's
//! platform-neutral parser, and the rewrite of `services.*.volumes.*` into long syntax.

use super::Ctx;
use crate::model::error::{Error, Result};
use crate::model::node::{KeyPath, Map, Node, Value};

/// A parsed short volume spec, holding what compose's `ServiceVolumeConfig` would.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VolumeSpec {
    /// "bind" or "volume".
    pub kind: &'static str,
    pub source: String,
    /// As written (not yet cleaned; the transform cleans it as a slash path).
    pub target: String,
    pub read_only: bool,
    pub bind: Option<BindOptions>,
    pub volume: Option<VolumeOptions>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BindOptions {
    pub selinux: String,
    pub propagation: String,
    pub create_host_path: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VolumeOptions {
    pub nocopy: bool,
}

/// Parses a short volume spec without knowledge of the target platform. Sections are split on
/// ':' except the one after a lone drive letter (`C:`). Errors carry compose's wording.
pub fn parse_volume_spec(spec: &str) -> std::result::Result<VolumeSpec, String> {
    let mut vol = VolumeSpec {
        kind: "volume",
        ..VolumeSpec::default()
    };
    match spec.len() {
        0 => return Err("invalid empty volume spec".into()),
        // too short to hold a colon-separated pair: taken as an anonymous volume's target
        1 | 2 => {
            vol.target = spec.to_string();
            return Ok(vol);
        }
        _ => {}
    }
    let mut buffer: Vec<char> = Vec::new();
    let chars = spec.chars().map(Some).chain(std::iter::once(None));
    for c in chars {
        match c {
            Some(':') if is_windows_drive(&buffer) => buffer.push(':'),
            Some(':') | None => {
                if let Err(e) = populate_field(c.is_none(), &buffer, &mut vol) {
                    return Err(format!("invalid spec: {spec}: {e}"));
                }
                buffer.clear();
            }
            Some(ch) => buffer.push(ch),
        }
    }
    populate_type(&mut vol);
    Ok(vol)
}

fn is_windows_drive(buffer: &[char]) -> bool {
    buffer.len() == 1 && buffer[0].is_alphabetic()
}

fn populate_field(
    at_end: bool,
    buffer: &[char],
    vol: &mut VolumeSpec,
) -> std::result::Result<(), String> {
    if buffer.is_empty() {
        return Err("empty section between colons".into());
    }
    let section: String = buffer.iter().collect();
    if vol.source.is_empty() && at_end {
        // a single section: an anonymous volume
        vol.target = section;
        return Ok(());
    }
    if vol.source.is_empty() {
        vol.source = section;
        return Ok(());
    }
    if vol.target.is_empty() {
        vol.target = section;
        return Ok(());
    }
    if !at_end {
        return Err("too many colons".into());
    }
    for option in section.split(',') {
        match option {
            "ro" => vol.read_only = true,
            "rw" => vol.read_only = false,
            "nocopy" => vol.volume = Some(VolumeOptions { nocopy: true }),
            "rprivate" | "private" | "rshared" | "shared" | "rslave" | "slave" => {
                vol.bind
                    .get_or_insert_with(BindOptions::default)
                    .propagation = option.into();
            }
            "z" | "Z" => {
                vol.bind.get_or_insert_with(BindOptions::default).selinux = option.into();
            }
            // compose ignores options it does not know
            _ => {}
        }
    }
    Ok(())
}

fn populate_type(vol: &mut VolumeSpec) {
    if is_file_path(&vol.source) {
        vol.kind = "bind";
        // short syntax keeps docker-compose v1's habit of creating a missing host path
        vol.bind
            .get_or_insert_with(BindOptions::default)
            .create_host_path = true;
    } else {
        vol.kind = "volume";
        vol.volume.get_or_insert_with(VolumeOptions::default);
    }
}

fn is_file_path(source: &str) -> bool {
    let Some(first) = source.chars().next() else {
        return false;
    };
    if matches!(first, '.' | '/' | '~') || source.starts_with(r"\\") {
        return true;
    }
    // a drive letter followed by ':'
    source.as_bytes().get(first.len_utf8()) == Some(&b':') && first.is_alphabetic()
}

/// Go's `path.Clean`: the shortest slash path naming the same place.
pub fn clean_path(p: &str) -> String {
    if p.is_empty() {
        return ".".into();
    }
    let rooted = p.starts_with('/');
    let mut out: Vec<&str> = Vec::new();
    for seg in p.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                if out.last().is_some_and(|l| *l != "..") {
                    out.pop();
                } else if !rooted {
                    out.push("..");
                }
            }
            s => out.push(s),
        }
    }
    let joined = out.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".into(),
        (false, false) => joined,
    }
}

/// The long-syntax mapping compose encodes from a parsed spec (empty fields left out).
pub fn volume_node(vol: &VolumeSpec, at: &Node) -> Node {
    let s = |v: &str| Node::str(v).at(&at.pos);
    let b = |v: bool| Node::synth(Value::Bool(v)).at(&at.pos);
    let mut m = Map::new();
    m.insert("type".into(), s(vol.kind));
    if !vol.source.is_empty() {
        m.insert("source".into(), s(&vol.source));
    }
    if !vol.target.is_empty() {
        m.insert("target".into(), s(&clean_path(&vol.target)));
    }
    if vol.read_only {
        m.insert("read_only".into(), b(true));
    }
    if let Some(bind) = &vol.bind {
        let mut bm = Map::new();
        if !bind.selinux.is_empty() {
            bm.insert("selinux".into(), s(&bind.selinux));
        }
        if !bind.propagation.is_empty() {
            bm.insert("propagation".into(), s(&bind.propagation));
        }
        if bind.create_host_path {
            bm.insert("create_host_path".into(), b(true));
        }
        m.insert("bind".into(), Node::map(bm).at(&at.pos));
    }
    if let Some(v) = &vol.volume {
        let mut vm = Map::new();
        if v.nocopy {
            vm.insert("nocopy".into(), b(true));
        }
        m.insert("volume".into(), Node::map(vm).at(&at.pos));
    }
    Node::map(m).at(&at.pos)
}

/// `services.*.volumes.*`: a string becomes its long syntax; a mapping must name a target.
pub(super) fn transform_volume(node: &mut Node, path: &KeyPath, ctx: &mut Ctx) -> Result<()> {
    match &node.v {
        Value::Map(m) => {
            // compose's de-duplication pass, which always follows this one, rejects it
            if !matches!(m.get("target").map(|t| &t.v), Some(Value::Str(_))) {
                return Err(Error::at(
                    node,
                    path,
                    "service volume is missing a mount target",
                ));
            }
            Ok(())
        }
        Value::Str(spec) => match parse_volume_spec(spec) {
            Ok(vol) => {
                *node = volume_node(&vol, node);
                Ok(())
            }
            // without interpolation `${DATA}:/data` may not parse; compose keeps it as written
            Err(_) if ctx.ignore_parse_errors => Ok(()),
            Err(e) => Err(Error::at(node, path, e)),
        },
        _ => Err(Error::at(
            node,
            path,
            format!(
                "invalid service volume: expected a string or a mapping, got {}",
                node.kind()
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bind(src: &str, target: &str) -> VolumeSpec {
        VolumeSpec {
            kind: "bind",
            source: src.into(),
            target: target.into(),
            bind: Some(BindOptions {
                create_host_path: true,
                ..BindOptions::default()
            }),
            ..VolumeSpec::default()
        }
    }

    fn named(src: &str, target: &str) -> VolumeSpec {
        VolumeSpec {
            kind: "volume",
            source: src.into(),
            target: target.into(),
            volume: Some(VolumeOptions::default()),
            ..VolumeSpec::default()
        }
    }

    #[test]
    fn binds_named_and_anonymous() {
        assert_eq!(
            parse_volume_spec("./data:/data").unwrap(),
            bind("./data", "/data")
        );
        assert_eq!(
            parse_volume_spec("/opt/data:/var/lib/data").unwrap(),
            bind("/opt/data", "/var/lib/data")
        );
        assert_eq!(
            parse_volume_spec("~/configs:/etc/configs").unwrap(),
            bind("~/configs", "/etc/configs")
        );
        assert_eq!(parse_volume_spec(".:/code").unwrap(), bind(".", "/code"));
        assert_eq!(
            parse_volume_spec("datavolume:/var/lib/volume").unwrap(),
            named("datavolume", "/var/lib/volume")
        );
        assert_eq!(
            parse_volume_spec("/var/lib/anonymous").unwrap(),
            named("", "/var/lib/anonymous")
        );
    }

    #[test]
    fn short_specs_have_no_volume_options() {
        let v = parse_volume_spec("/a").unwrap();
        assert_eq!(
            v,
            VolumeSpec {
                kind: "volume",
                target: "/a".into(),
                ..VolumeSpec::default()
            }
        );
    }

    #[test]
    fn options() {
        let mut want = bind("./data", "/data");
        want.read_only = true;
        assert_eq!(parse_volume_spec("./data:/data:ro").unwrap(), want);

        let mut want = named("vol", "/data");
        want.volume = Some(VolumeOptions { nocopy: true });
        assert_eq!(parse_volume_spec("vol:/data:rw,nocopy").unwrap(), want);

        let mut want = bind("./d", "/d");
        want.bind.as_mut().unwrap().selinux = "z".into();
        want.bind.as_mut().unwrap().propagation = "rshared".into();
        assert_eq!(parse_volume_spec("./d:/d:z,rshared,bogus").unwrap(), want);

        // selinux on a named volume gives it both sub-objects
        let v = parse_volume_spec("vol:/d:Z").unwrap();
        assert_eq!(v.kind, "volume");
        assert_eq!(v.bind.unwrap().selinux, "Z");
        assert_eq!(v.volume, Some(VolumeOptions::default()));

        // nocopy on a bind keeps the volume sub-object too
        let v = parse_volume_spec("./d:/d:nocopy").unwrap();
        assert_eq!(v.kind, "bind");
        assert_eq!(v.volume, Some(VolumeOptions { nocopy: true }));
    }

    #[test]
    fn windows_paths() {
        assert_eq!(
            parse_volume_spec(r"C:\data:/data").unwrap(),
            bind(r"C:\data", "/data")
        );
        assert_eq!(
            parse_volume_spec(r"c:\data:d:\target").unwrap(),
            bind(r"c:\data", r"d:\target")
        );
        assert_eq!(
            parse_volume_spec(r"\\.\pipe\docker_engine:\\.\pipe\docker_engine").unwrap(),
            bind(r"\\.\pipe\docker_engine", r"\\.\pipe\docker_engine")
        );
        // a one-letter first section is read as a drive: "a:b" is a host path
        assert_eq!(parse_volume_spec("a:b:c").unwrap(), bind("a:b", "c"));
    }

    #[test]
    fn errors() {
        assert_eq!(
            parse_volume_spec("").unwrap_err(),
            "invalid empty volume spec"
        );
        assert_eq!(
            parse_volume_spec("./a::/b").unwrap_err(),
            "invalid spec: ./a::/b: empty section between colons"
        );
        assert_eq!(
            parse_volume_spec("vol:").unwrap_err(),
            "invalid spec: vol:: empty section between colons"
        );
        assert_eq!(
            parse_volume_spec("vol:/b:ro:x").unwrap_err(),
            "invalid spec: vol:/b:ro:x: too many colons"
        );
        // after a drive-like first letter the same text parses
        assert_eq!(parse_volume_spec("a:/b:ro:x").unwrap(), bind("a:/b", "ro"));
    }

    #[test]
    fn clean_path_as_go() {
        assert_eq!(clean_path("/var/www/html/"), "/var/www/html");
        assert_eq!(clean_path("/a/./b/../c//d"), "/a/c/d");
        assert_eq!(clean_path("/.."), "/");
        assert_eq!(clean_path("../a/.."), "..");
        assert_eq!(clean_path("a/../.."), "..");
        assert_eq!(clean_path("./"), ".");
        assert_eq!(clean_path(r"C:\data"), r"C:\data");
    }
}
