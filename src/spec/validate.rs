//! The one place that checks a finished spec before it goes to containerd.

use std::collections::HashSet;

use oci_spec::runtime::{LinuxNamespaceType, Spec};

use super::error::SpecError;

/// Checks what runc would refuse later with a worse message, and what berth relies on: a root,
/// non-empty args, an absolute cwd, `KEY=VALUE` env, absolute mount destinations, bind sources,
/// unique namespace and rlimit types, a hostname only with a UTS namespace.
pub fn validate(spec: &Spec) -> Result<(), SpecError> {
    let mut problems = Vec::new();
    if spec.version().is_empty() {
        problems.push("ociVersion is empty".to_string());
    }
    match spec.root() {
        Some(r) if !r.path().as_os_str().is_empty() => {}
        _ => problems.push("root.path is empty".to_string()),
    }
    match spec.process() {
        None => problems.push("process is missing".to_string()),
        Some(p) => {
            if p.args()
                .as_ref()
                .is_none_or(|a| a.is_empty() || a[0].is_empty())
            {
                problems.push("process.args is empty".to_string());
            }
            if !p.cwd().is_absolute() {
                problems.push(format!(
                    "process.cwd {:?} is not absolute",
                    p.cwd().display()
                ));
            }
            for e in p.env().iter().flatten() {
                match e.split_once('=') {
                    Some((k, _)) if !k.is_empty() => {}
                    _ => problems.push(format!("process.env entry {e:?} is not KEY=VALUE")),
                }
            }
            let mut seen = HashSet::new();
            for r in p.rlimits().iter().flatten() {
                if !seen.insert(r.typ().to_string()) {
                    problems.push(format!("rlimit {:?} appears twice", r.typ()));
                }
            }
        }
    }
    for m in spec.mounts().iter().flatten() {
        if !m.destination().is_absolute() {
            problems.push(format!(
                "mount destination {:?} is not absolute",
                m.destination().display()
            ));
        }
        if m.typ().as_deref() == Some("bind") && m.source().is_none() {
            problems.push(format!(
                "bind mount at {:?} has no source",
                m.destination().display()
            ));
        }
    }
    match spec.linux() {
        None => problems.push("linux is missing".to_string()),
        Some(l) => {
            let mut seen = HashSet::new();
            for n in l.namespaces().iter().flatten() {
                if !seen.insert(n.typ()) {
                    problems.push(format!("namespace {} appears twice", n.typ()));
                }
            }
            let own_uts = l
                .namespaces()
                .iter()
                .flatten()
                .any(|n| n.typ() == LinuxNamespaceType::Uts && n.path().is_none());
            if spec.hostname().as_ref().is_some_and(|h| !h.is_empty()) && !own_uts {
                problems.push("hostname is set without a UTS namespace of its own".to_string());
            }
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(SpecError::Invalid(problems))
    }
}
