//! The checks Compose makes on the canonical tree after the schema: external resources that also
//! set driver options, config and secret sources that are missing or ambiguous, blank watch paths.

use super::error::{Error, Result};
use super::node::{KeyPath, Node, Value};

pub fn check(root: &Node) -> Result<()> {
    let top = KeyPath::root();
    if let Some(objs) = root.get("volumes").and_then(Node::as_map) {
        for (name, obj) in objs {
            check_external(obj, &top.key("volumes").key(name))?;
        }
    }
    if let Some(objs) = root.get("configs").and_then(Node::as_map) {
        for (name, obj) in objs {
            let path = top.key("configs").key(name);
            check_file_object(obj, &path, &["file", "environment", "content"])?;
        }
    }
    if let Some(objs) = root.get("secrets").and_then(Node::as_map) {
        for (name, obj) in objs {
            let path = top.key("secrets").key(name);
            check_file_object(obj, &path, &["file", "environment"])?;
        }
    }
    if let Some(services) = root.get("services").and_then(Node::as_map) {
        for (name, svc) in services {
            let spath = top.key("services").key(name);
            let reservations = svc
                .get("deploy")
                .and_then(|d| d.get("resources"))
                .and_then(|r| r.get("reservations"))
                .and_then(|r| r.get("devices"))
                .and_then(Node::as_seq)
                .map(|d| {
                    (
                        d,
                        spath
                            .key("deploy")
                            .key("resources")
                            .key("reservations")
                            .key("devices"),
                    )
                });
            let gpus = svc
                .get("gpus")
                .and_then(Node::as_seq)
                .map(|d| (d, spath.key("gpus")));
            for (devices, dpath) in reservations.into_iter().chain(gpus) {
                for (i, d) in devices.iter().enumerate() {
                    if d.get("count").is_some() && d.get("device_ids").is_some() {
                        return Err(Error::at(
                            d,
                            &dpath.index(i),
                            "\"count\" and \"device_ids\" attributes are exclusive",
                        ));
                    }
                }
            }
            let Some(watch) = svc
                .get("develop")
                .and_then(|d| d.get("watch"))
                .and_then(Node::as_seq)
            else {
                continue;
            };
            for (i, w) in watch.iter().enumerate() {
                if let Some(p) = w.get("path") {
                    if p.as_str().is_some_and(str::is_empty) {
                        let path = top
                            .key("services")
                            .key(name)
                            .key("develop")
                            .key("watch")
                            .index(i)
                            .key("path");
                        return Err(Error::at(p, &path, "value can't be blank"));
                    }
                }
            }
        }
    }
    Ok(())
}

fn check_external(obj: &Node, path: &KeyPath) -> Result<()> {
    let Some(m) = obj.as_map() else { return Ok(()) };
    if !m.get("external").is_some_and(|e| e.v == Value::Bool(true)) {
        return Ok(());
    }
    for (k, v) in m {
        if k == "name" || k == "external" || k.starts_with("x-") {
            continue;
        }
        return Err(Error::at(
            v,
            path,
            format!("conflicting parameters \"external\" and {k:?} specified"),
        ));
    }
    Ok(())
}

fn check_file_object(obj: &Node, path: &KeyPath, keys: &[&str]) -> Result<()> {
    let Some(m) = obj.as_map() else { return Ok(()) };
    let count = keys.iter().filter(|k| m.contains_key(**k)).count();
    if count > 1 {
        return Err(Error::at(
            obj,
            path,
            format!("{} attributes are mutually exclusive", keys.join("|")),
        ));
    }
    if count == 0 && !m.contains_key("driver") && !m.contains_key("external") {
        return Err(Error::at(
            obj,
            path,
            format!("one of {} must be set", keys.join("|")),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::node::Map;

    fn map(entries: Vec<(&str, Node)>) -> Node {
        let mut m = Map::new();
        for (k, v) in entries {
            m.insert(k.to_string(), v);
        }
        Node::map(m)
    }

    #[test]
    fn external_with_driver_is_rejected() {
        let root = map(vec![(
            "volumes",
            map(vec![(
                "data",
                map(vec![
                    ("external", Node::synth(Value::Bool(true))),
                    ("driver", Node::str("local")),
                ]),
            )]),
        )]);
        let e = check(&root).unwrap_err();
        assert_eq!(
            e.to_string(),
            "volumes.data: conflicting parameters \"external\" and \"driver\" specified"
        );
    }

    #[test]
    fn secret_needs_a_source() {
        let root = map(vec![("secrets", map(vec![("s", map(vec![]))]))]);
        let e = check(&root).unwrap_err();
        assert_eq!(
            e.to_string(),
            "secrets.s: one of file|environment must be set"
        );
        let ok = map(vec![(
            "secrets",
            map(vec![("s", map(vec![("file", Node::str("./s.txt"))]))]),
        )]);
        assert!(check(&ok).is_ok());
    }
}
