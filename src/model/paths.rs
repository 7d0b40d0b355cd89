//! Relative paths made absolute, as `docker compose config` prints them: build contexts, bind
//! sources, env files, extends and include files, config and secret files, local volume devices.
//! Works on the canonical tree; `~` expands with the HOME given by the caller.

use std::path::{Component, Path, PathBuf};

use super::error::{Error, Result};
use super::node::{KeyPath, Node, Value};

/// Resolves the relative paths of a canonical tree against `base`. Fails on a bind mount
/// without a source, which Compose finds while resolving.
pub fn resolve(root: &mut Node, base: &Path, home: Option<&str>) -> Result<()> {
    let r = Resolver { base, home };
    let Some(top) = root.as_map_mut() else {
        return Ok(());
    };
    if let Some(services) = top.get_mut("services").and_then(Node::as_map_mut) {
        for (name, svc) in services.iter_mut() {
            let path = KeyPath::root().key("services").key(name);
            r.service(svc, &path)?;
        }
    }
    for kind in ["configs", "secrets"] {
        if let Some(objs) = top.get_mut(kind).and_then(Node::as_map_mut) {
            for obj in objs.values_mut() {
                if let Some(f) = obj.get_mut("file") {
                    r.unix_path(f);
                }
            }
        }
    }
    if let Some(vols) = top.get_mut("volumes").and_then(Node::as_map_mut) {
        for vol in vols.values_mut() {
            r.volume_driver_opts(vol);
        }
    }
    if let Some(includes) = top.get_mut("include").and_then(Node::as_seq_mut) {
        for inc in includes {
            for key in ["path", "project_directory", "env_file"] {
                if let Some(p) = inc.get_mut(key) {
                    r.abs_any(p);
                }
            }
        }
    }
    Ok(())
}

struct Resolver<'a> {
    base: &'a Path,
    home: Option<&'a str>,
}

impl Resolver<'_> {
    fn service(&self, svc: &mut Node, path: &KeyPath) -> Result<()> {
        let Some(s) = svc.as_map_mut() else {
            return Ok(());
        };
        if let Some(build) = s.get_mut("build").and_then(Node::as_map_mut) {
            if let Some(ctx) = build.get_mut("context") {
                self.context(ctx);
            }
            if let Some(extra) = build
                .get_mut("additional_contexts")
                .and_then(Node::as_map_mut)
            {
                for ctx in extra.values_mut() {
                    self.context(ctx);
                }
            }
            if let Some(ssh) = build.get_mut("ssh").and_then(Node::as_map_mut) {
                for key in ssh.values_mut() {
                    self.unix_path(key);
                }
            }
        }
        if let Some(files) = s.get_mut("label_file").and_then(Node::as_seq_mut) {
            for f in files {
                self.abs_any(f);
            }
        }
        if let Some(files) = s.get_mut("env_file").and_then(Node::as_seq_mut) {
            for f in files {
                if let Some(p) = f.get_mut("path") {
                    self.abs_any(p);
                }
            }
        }
        if let Some(file) = s.get_mut("extends").and_then(|e| e.get_mut("file")) {
            self.abs_any(file);
        }
        if let Some(watch) = s
            .get_mut("develop")
            .and_then(|d| d.get_mut("watch"))
            .and_then(Node::as_seq_mut)
        {
            for w in watch {
                if let Some(p) = w.get_mut("path") {
                    self.abs_any(p);
                }
            }
        }
        if let Some(vols) = s.get_mut("volumes").and_then(Node::as_seq_mut) {
            for (i, v) in vols.iter_mut().enumerate() {
                if v.get("type").and_then(Node::as_str) == Some("bind") {
                    match v.get_mut("source") {
                        Some(src) => self.unix_path(src),
                        None => {
                            return Err(Error::at(
                                v,
                                &path.key("volumes").index(i),
                                "invalid mount config for type \"bind\": field Source must not be empty",
                            ))
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// A build context: URLs, `service:` references and remote contexts are left alone.
    fn context(&self, n: &mut Node) {
        if let Some(s) = n.as_str() {
            if s.contains("://") || s.starts_with("service:") || is_remote_context(s) {
                return;
            }
        }
        self.abs_any(n);
    }

    fn abs_any(&self, n: &mut Node) {
        match &mut n.v {
            Value::Str(s) => *s = self.abs(s),
            Value::Seq(items) => {
                for i in items {
                    self.abs_any(i);
                }
            }
            _ => {}
        }
    }

    fn unix_path(&self, n: &mut Node) {
        if let Value::Str(s) = &mut n.v {
            let expanded = expand_user(s, self.home);
            if expanded.starts_with('/') || is_windows_abs(&expanded) {
                *s = expanded;
            } else {
                *s = join_clean(self.base, &expanded);
            }
        }
    }

    fn abs(&self, s: &str) -> String {
        let s = expand_user(s, self.home);
        if s.is_empty() || s.starts_with('/') {
            s
        } else {
            join_clean(self.base, &s)
        }
    }

    fn volume_driver_opts(&self, vol: &mut Node) {
        if vol.get("driver").and_then(Node::as_str) != Some("local") {
            return;
        }
        let Some(opts) = vol.get_mut("driver_opts") else {
            return;
        };
        if opts.get("o").and_then(Node::as_str) != Some("bind") {
            return;
        }
        if let Some(dev) = opts.get_mut("device") {
            self.unix_path(dev);
        }
    }
}

/// Git and URL build contexts, which are not paths.
pub fn is_remote_context(s: &str) -> bool {
    [
        "https://",
        "http://",
        "git://",
        "ssh://",
        "github.com/",
        "git@",
    ]
    .iter()
    .any(|p| s.starts_with(p))
}

fn is_windows_abs(s: &str) -> bool {
    let b = s.as_bytes();
    (b.len() >= 3 && b[0].is_ascii_alphabetic() && b[1] == b':' && (b[2] == b'\\' || b[2] == b'/'))
        || s.starts_with("\\\\")
}

/// `~` at the start expands to HOME, as Compose's ExpandUser does.
pub fn expand_user(s: &str, home: Option<&str>) -> String {
    match (s.strip_prefix('~'), home) {
        (Some(rest), Some(home)) => join_clean(Path::new(home), rest),
        _ => s.to_string(),
    }
}

/// `filepath.Join(base, rel)`: joined and cleaned (`.`/`..` folded, trailing `/` dropped).
pub fn join_clean(base: &Path, rel: &str) -> String {
    clean(&base.join(rel.trim_start_matches('/')))
}

/// Go's `filepath.Clean` for absolute or relative unix paths.
pub fn clean(p: &Path) -> String {
    let mut out: Vec<String> = Vec::new();
    let abs = p.is_absolute();
    for c in p.components() {
        match c {
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
            Component::ParentDir => {
                if out.last().is_some_and(|l| l != "..") {
                    out.pop();
                } else if !abs {
                    out.push("..".into());
                }
            }
            Component::Normal(s) => out.push(s.to_string_lossy().into_owned()),
        }
    }
    let joined = out.join("/");
    match (abs, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".into(),
        (false, false) => joined,
    }
}

/// The directory of `file`, as an owned path.
pub fn dir_of(file: &Path) -> PathBuf {
    file.parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_folds_dots() {
        assert_eq!(clean(Path::new("/a/b/../c/./d/")), "/a/c/d");
        assert_eq!(clean(Path::new("/..")), "/");
        assert_eq!(clean(Path::new("a/../..")), "..");
    }

    #[test]
    fn join_and_home() {
        assert_eq!(join_clean(Path::new("/p"), "./data"), "/p/data");
        assert_eq!(join_clean(Path::new("/p"), "."), "/p");
        assert_eq!(expand_user("~/x", Some("/root")), "/root/x");
        assert_eq!(expand_user("~", Some("/root")), "/root");
        assert_eq!(expand_user("x", Some("/root")), "x");
    }

    #[test]
    fn remote_contexts_stay() {
        assert!(is_remote_context("https://github.com/a/b.git"));
        assert!(is_remote_context("git@github.com:a/b.git"));
        assert!(!is_remote_context("./app"));
    }
}
