//! From the loaded tree to the typed project as `docker compose` sees it: profiles, the
//! consistency checks, env and label files merged in, services selected on the command line,
//! unused resources dropped. Also the config hash Compose labels containers with.

use std::collections::BTreeSet;
use std::path::Path;

use indexmap::IndexMap;
use sha2::{Digest, Sha256};

use super::emit;
use super::error::{Error, Result};
use super::field::{Field, Fmt};
use super::loader::{Env, Fs, Loaded};
use super::node::{KeyPath, Node};
use super::types::{Project, ServiceConfig};
use super::{dotenv, types};

/// How to turn a loaded tree into a project.
#[derive(Clone, Debug, Default)]
pub struct ProjectSettings {
    /// Active profiles (`--profile`, COMPOSE_PROFILES); `*` enables all.
    pub profiles: Vec<String>,
    /// Run Compose's consistency checks (off with `--no-consistency`).
    pub consistency: bool,
    /// Merge `env_file` contents into `environment`.
    pub resolve_environment: bool,
    /// Drop `env_file` and `label_file` once merged, as `config` prints them.
    pub discard_env_files: bool,
    /// Services named on the command line: their profiles are enabled and only they and their
    /// dependencies are kept.
    pub services: Vec<String>,
}

/// A project with the services its profiles leave out.
struct Staged {
    project: Project,
    disabled: IndexMap<String, ServiceConfig>,
    profiles: Vec<String>,
}

/// Builds the typed project from a loaded tree.
pub fn build(
    loaded: &Loaded,
    env: &Env,
    fs: &dyn Fs,
    settings: &ProjectSettings,
    warnings: &mut Vec<String>,
) -> Result<Project> {
    build_with_disabled(loaded, env, fs, settings, warnings).map(|(p, _)| p)
}

/// [`build`], also returning the services left out (by profiles, or by not being among the
/// services named and their dependencies) with their profiles: compose's `DisabledServices`,
/// whose containers are not orphans.
pub fn build_with_disabled(
    loaded: &Loaded,
    env: &Env,
    fs: &dyn Fs,
    settings: &ProjectSettings,
    warnings: &mut Vec<String>,
) -> Result<(Project, IndexMap<String, Vec<String>>)> {
    let mut model = loaded.model.clone();
    if let Some(m) = model.as_map_mut() {
        m.shift_remove("name");
    }
    park_network_extensions(&mut model);
    let mut project = Project::decode(&model, &KeyPath::root())?;
    project.name = loaded.name.clone();

    let mut st = with_profiles(project, IndexMap::new(), &settings.profiles);
    if settings.consistency {
        check_consistency(&mut st, &loaded.model)?;
    }
    if settings.resolve_environment {
        resolve_env_files(
            &mut st.project,
            env,
            fs,
            settings.discard_env_files,
            warnings,
        )?;
    }
    resolve_label_files(&mut st.project, fs, settings.discard_env_files, warnings)?;

    if !settings.services.is_empty() {
        // naming a service enables its profiles
        let mut profiles = st.profiles.clone();
        for name in &settings.services {
            if st.project.services.contains_key(name) {
                continue;
            }
            if let Some(s) = st.disabled.get(name) {
                profiles.extend(s.profiles.iter().cloned());
            }
        }
        let disabled = std::mem::take(&mut st.disabled);
        st = with_profiles(st.project, disabled, &profiles);
        resolve_env_files(&mut st.project, env, fs, true, warnings)?;
    }
    without_unnecessary_resources(&mut st.project);
    select_services(&mut st, &settings.services)?;
    let disabled = st
        .disabled
        .iter()
        .map(|(n, s)| (n.clone(), s.profiles.clone()))
        .collect();
    Ok((st.project, disabled))
}

/// Compose moves `x-*` keys found below a service into an `#extensions` entry before decoding;
/// in a service's `networks` (a map, not an object) that entry stays as a network named
/// `#extensions`, with the `x-*` networks gone.
fn park_network_extensions(model: &mut super::node::Node) {
    use super::node::{Map, Node};
    let Some(services) = model.get_mut("services").and_then(Node::as_map_mut) else {
        return;
    };
    for svc in services.values_mut() {
        let Some(nets) = svc.get_mut("networks").and_then(Node::as_map_mut) else {
            continue;
        };
        let ext: Vec<String> = nets
            .keys()
            .filter(|k| k.starts_with("x-"))
            .cloned()
            .collect();
        if ext.is_empty() {
            continue;
        }
        for k in ext {
            nets.shift_remove(&k);
        }
        nets.insert("#extensions".into(), Node::map(Map::new()));
    }
}

fn has_profile(s: &ServiceConfig, profiles: &[String]) -> bool {
    s.profiles.is_empty()
        || profiles
            .iter()
            .any(|p| p == "*" || s.profiles.iter().any(|sp| sp == p))
}

fn with_profiles(
    mut project: Project,
    mut disabled: IndexMap<String, ServiceConfig>,
    profiles: &[String],
) -> Staged {
    let mut all = std::mem::take(&mut project.services);
    all.extend(std::mem::take(&mut disabled));
    for (name, s) in all {
        if has_profile(&s, profiles) {
            project.services.insert(name, s);
        } else {
            disabled.insert(name, s);
        }
    }
    Staged {
        project,
        disabled,
        profiles: profiles.to_vec(),
    }
}

fn invalid(msg: String) -> Error {
    Error::invalid(format!("{msg}: invalid compose project"))
}

/// Places a consistency error at the deepest node of `segs` the loaded tree has, so the message
/// names the file and line as well as Compose's text.
fn place(model: &Node, segs: &[&str], mut e: Error) -> Error {
    let mut node = model;
    let mut path = KeyPath::root();
    for seg in segs {
        match node.get(seg) {
            Some(child) => {
                node = child;
                path = path.key(seg);
            }
            None => break,
        }
    }
    if !node.pos.is_synthetic() {
        e.pos = node.pos.clone();
        e.path = path;
    }
    e
}

/// Compose's checkConsistency, then the dependency-cycle check.
fn check_consistency(st: &mut Staged, model: &Node) -> Result<()> {
    let p = &mut st.project;
    let names: Vec<String> = p.services.keys().cloned().collect();
    for name in &names {
        let s = &p.services[name];
        if s.build.is_none() && s.image.is_empty() {
            return Err(place(
                model,
                &["services", name],
                invalid(format!(
                    "service {name:?} has neither an image nor a build context specified"
                )),
            ));
        }
        if let Some(b) = &s.build {
            if !b.dockerfile_inline.is_empty() && !b.dockerfile.is_empty() {
                return Err(place(
                    model,
                    &["services", name, "build"],
                    invalid(format!(
                    "service {name:?} declares mutualy exclusive dockerfile and dockerfile_inline"
                )),
                ));
            }
            for (add, c) in &b.additional_contexts.0 {
                if let Some(target) = c.strip_prefix("service:") {
                    match p.services.get(target) {
                        None => {
                            return Err(Error::invalid(format!(
                                "service {name:?} declares unknown service {target:?} as additional contexts {add}"
                            )))
                        }
                        Some(t) if t.build.is_none() => {
                            return Err(Error::invalid(format!(
                                "service {name:?} declares non-buildable service {target:?} as additional contexts {add}"
                            )))
                        }
                        Some(_) => {}
                    }
                }
            }
            if !b.platforms.0.is_empty()
                && !s.platform.is_empty()
                && !b.platforms.0.contains(&s.platform)
            {
                return Err(place(
                    model,
                    &["services", name, "build", "platforms"],
                    invalid(format!(
                        "service.build.platforms MUST include service.platform {:?}",
                        s.platform
                    )),
                ));
            }
        }
        if !s.network_mode.is_empty() && !s.networks.is_empty() {
            return Err(place(
                model,
                &["services", name, "network_mode"],
                invalid(format!(
                    "service {name} declares mutually exclusive `network_mode` and `networks`"
                )),
            ));
        }
        for net in s.networks.keys() {
            if !p.networks.contains_key(net) {
                return Err(place(
                    model,
                    &["services", name, "networks", net],
                    invalid(format!(
                        "service {name:?} refers to undefined network {net}"
                    )),
                ));
            }
        }
        if let Some(h) = &s.healthcheck {
            if let Some(first) = h.test.0.first() {
                if !matches!(first.as_str(), "CMD" | "CMD-SHELL" | "NONE") {
                    return Err(Error::invalid(
                        "healthcheck.test must start either by \"CMD\", \"CMD-SHELL\" or \"NONE\"",
                    ));
                }
            }
        }
        for (dep, cfg) in &s.depends_on {
            if !p.services.contains_key(dep) {
                if st.disabled.contains_key(dep) && !cfg.required {
                    continue;
                }
                return Err(place(
                    model,
                    &["services", name, "depends_on", dep],
                    invalid(format!(
                        "service {name:?} depends on undefined service {dep:?}"
                    )),
                ));
            }
        }
        if let Some(shared) = s.network_mode.strip_prefix("service:") {
            if !p.services.contains_key(shared) {
                return Err(Error::invalid(format!(
                    "service {shared:?} not found for network_mode 'service:{shared}'"
                )));
            }
        }
        for v in &s.volumes {
            if v.r#type == "volume" && !v.source.is_empty() && !p.volumes.contains_key(&v.source) {
                return Err(place(
                    model,
                    &["services", name, "volumes"],
                    invalid(format!(
                        "service {name:?} refers to undefined volume {}",
                        v.source
                    )),
                ));
            }
        }
        if let Some(b) = &s.build {
            for sec in &b.secrets {
                if !p.secrets.contains_key(&sec.source) {
                    return Err(place(
                        model,
                        &["services", name, "build", "secrets"],
                        invalid(format!(
                            "service {name:?} refers to undefined build secret {}",
                            sec.source
                        )),
                    ));
                }
            }
        }
        for c in &s.configs {
            if !p.configs.contains_key(&c.source) {
                return Err(place(
                    model,
                    &["services", name, "configs"],
                    invalid(format!(
                        "service {name:?} refers to undefined config {}",
                        c.source
                    )),
                ));
            }
        }
        for sec in &s.secrets {
            if !p.secrets.contains_key(&sec.source) {
                return Err(place(
                    model,
                    &["services", name, "secrets"],
                    invalid(format!(
                        "service {name:?} refers to undefined secret {}",
                        sec.source
                    )),
                ));
            }
        }
        let s = p
            .services
            .get_mut(name)
            .ok_or_else(|| Error::invalid("lost service"))?;
        if let (Some(scale), Some(deploy)) = (s.scale, s.deploy.as_mut()) {
            if deploy.replicas.is_some_and(|r| r != scale) {
                return Err(place(
                    model,
                    &["services", name, "scale"],
                    invalid(format!(
                    "services.{name}: can't set distinct values on 'scale' and 'deploy.replicas'"
                )),
                ));
            }
            deploy.replicas = Some(scale);
        }
        let s = &p.services[name];
        if let Some(limits) = s.deploy.as_ref().and_then(|d| d.resources.limits.as_ref()) {
            if s.cpus.0 != 0.0 && limits.cpus.0 != s.cpus.0 {
                return Err(place(model, &["services", name, "cpus"], invalid(format!(
                    "services.{name}: can't set distinct values on 'cpus' and 'deploy.resources.limits.cpus'"
                ))));
            }
            if s.mem_limit.0 != 0 && limits.memory.0 != s.mem_limit.0 {
                return Err(place(model, &["services", name, "mem_limit"], invalid(format!(
                    "services.{name}: can't set distinct values on 'mem_limit' and 'deploy.resources.limits.memory'"
                ))));
            }
            if s.pids_limit != 0 && limits.pids != s.pids_limit {
                return Err(place(model, &["services", name, "pids_limit"], invalid(format!(
                    "services.{name}: can't set distinct values on 'pids_limit' and 'deploy.resources.limits.pids'"
                ))));
            }
        }
        if let Some(res) = s
            .deploy
            .as_ref()
            .and_then(|d| d.resources.reservations.as_ref())
        {
            if s.mem_reservation.0 != 0 && res.memory.0 != s.mem_reservation.0 {
                return Err(place(model, &["services", name, "mem_reservation"], invalid(format!(
                    "services.{name}: can't set distinct values on 'mem_reservation' and 'deploy.resources.reservations.memory'"
                ))));
            }
        }
        if s.get_scale() > 1 && !s.container_name.is_empty() {
            let attr = if s.scale.is_none() {
                "deploy.replicas"
            } else {
                "scale"
            };
            return Err(place(model, &["services", name, "container_name"], invalid(format!(
                "services.{name}: can't set container_name and {attr} as container name must be unique"
            ))));
        }
        if let Some(d) = &s.develop {
            for w in &d.watch {
                if w.target.is_empty() && w.action != "rebuild" && w.action != "restart" {
                    return Err(place(
                        model,
                        &["services", name, "develop", "watch"],
                        invalid(format!(
                        "services.{name}.develop.watch: target is required for non-rebuild actions"
                    )),
                    ));
                }
            }
        }
    }
    for (name, sec) in &p.secrets {
        if sec.external {
            continue;
        }
        if sec.file.is_empty() && sec.environment.is_empty() {
            return Err(place(
                model,
                &["secrets", name],
                invalid(format!(
                    "secret {name:?} must declare either `file` or `environment`"
                )),
            ));
        }
    }
    check_cycles(st)
}

/// The dependency graph must have no cycle, and a required dependency must be enabled.
fn check_cycles(st: &Staged) -> Result<()> {
    let p = &st.project;
    for (name, s) in &p.services {
        for (dep, cfg) in &s.depends_on {
            if !p.services.contains_key(dep) && cfg.required {
                if let Some(ds) = st.disabled.get(dep) {
                    return Err(Error::invalid(format!(
                        "service {dep:?} is required by {name:?} but is disabled. Can be enabled by profiles [{}]",
                        ds.profiles.join(" ")
                    )));
                }
                return Err(Error::invalid(format!(
                    "service {name:?} depends on unknown service {dep:?}"
                )));
            }
        }
    }
    // depth-first search with three colours: linear in services and dependencies
    let mut names: Vec<&String> = p.services.keys().collect();
    names.sort();
    let mut state: IndexMap<&str, Visit> = IndexMap::new();
    for name in names {
        let mut path = Vec::new();
        search_cycle(p, name, &mut state, &mut path)?;
    }
    Ok(())
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Visit {
    /// On the current path.
    Open,
    /// Fully explored: no cycle through it.
    Done,
}

fn search_cycle<'a>(
    p: &'a Project,
    name: &'a str,
    state: &mut IndexMap<&'a str, Visit>,
    path: &mut Vec<&'a str>,
) -> Result<()> {
    match state.get(name) {
        Some(Visit::Done) => return Ok(()),
        Some(Visit::Open) => {
            let start = path.iter().position(|x| *x == name).unwrap_or(0);
            return Err(Error::invalid(format!(
                "dependency cycle detected: {} -> {name}",
                path[start..].join(" -> ")
            )));
        }
        None => {}
    }
    let Some(s) = p.services.get(name) else {
        return Ok(());
    };
    state.insert(name, Visit::Open);
    path.push(name);
    let mut deps: Vec<&String> = s
        .depends_on
        .keys()
        .filter(|d| p.services.contains_key(*d))
        .collect();
    deps.sort();
    for d in deps {
        search_cycle(p, d, state, path)?;
    }
    path.pop();
    state.insert(name, Visit::Done);
    Ok(())
}

/// Reads a `.env`-style file for a service, with `lookup` for its variables.
fn read_mapping_file(
    fs: &dyn Fs,
    path: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    warnings: &mut Vec<String>,
) -> Result<IndexMap<String, String>> {
    let content = fs
        .read(Path::new(path))
        // a file that cannot be read is a path error for compose: exit 14
        .map_err(|e| Error::not_found(format!("failed to read {path}: {e}")))?;
    dotenv::parse(&content, path, lookup, warnings)
}

/// Compose's WithServicesEnvironmentResolved: `env_file` values under `environment`, which wins.
fn resolve_env_files(
    p: &mut Project,
    env: &Env,
    fs: &dyn Fs,
    discard: bool,
    warnings: &mut Vec<String>,
) -> Result<()> {
    for s in p.services.values_mut() {
        for (k, v) in s.environment.0.iter_mut() {
            if v.is_none() {
                if let Some(val) = env.get(k) {
                    *v = Some(val.clone());
                }
            }
        }
        let mut merged: IndexMap<String, Option<String>> = IndexMap::new();
        for f in &s.env_file {
            let p = Path::new(&f.path);
            if !fs.is_file(p) && !fs.is_dir(p) {
                if f.required {
                    return Err(Error::not_found(format!(
                        "env file {} not found: stat {}: no such file or directory",
                        f.path, f.path
                    )));
                }
                continue;
            }
            // the format is looked at only once the file is known to exist
            if !f.format.is_empty() {
                return Err(Error::invalid(format!(
                    "unsupported env_file format {:?}",
                    f.format
                )));
            }
            let vars = {
                let lookup = |k: &str| -> Option<String> {
                    match merged.get(k) {
                        Some(Some(v)) => Some(v.clone()),
                        _ => env.get(k).cloned(),
                    }
                };
                read_mapping_file(fs, &f.path, &lookup, warnings)?
            };
            for (k, v) in vars {
                merged.insert(k, Some(v));
            }
        }
        for (k, v) in std::mem::take(&mut s.environment.0) {
            merged.insert(k, v);
        }
        s.environment.0 = merged;
        if discard {
            s.env_file.clear();
        }
    }
    Ok(())
}

/// Compose's WithServicesLabelsResolved: `label_file` values under `labels`, which win.
fn resolve_label_files(
    p: &mut Project,
    fs: &dyn Fs,
    discard: bool,
    warnings: &mut Vec<String>,
) -> Result<()> {
    for s in p.services.values_mut() {
        let mut labels: IndexMap<String, String> = IndexMap::new();
        for f in &s.label_file {
            if !fs.is_file(Path::new(f)) {
                return Err(Error::not_found(format!(
                    "label file {f} not found: stat {f}: no such file or directory"
                )));
            }
            let vars = {
                let lookup = |k: &str| labels.get(k).cloned();
                read_mapping_file(fs, f, &lookup, warnings)?
            };
            labels.extend(vars);
        }
        if !labels.is_empty() {
            for (k, v) in std::mem::take(&mut s.labels.0) {
                labels.insert(k, v);
            }
            s.labels.0 = labels;
        }
        if discard {
            s.label_file.clear();
        }
    }
    Ok(())
}

/// Drops networks, volumes, secrets and configs no enabled service uses.
fn without_unnecessary_resources(p: &mut Project) {
    let mut nets = BTreeSet::new();
    let mut vols = BTreeSet::new();
    let mut secrets = BTreeSet::new();
    let mut configs = BTreeSet::new();
    for s in p.services.values() {
        nets.extend(s.networks.keys().cloned());
        for v in &s.volumes {
            if v.r#type == "volume" && !v.source.is_empty() {
                vols.insert(v.source.clone());
            }
        }
        secrets.extend(s.secrets.iter().map(|x| x.source.clone()));
        if let Some(b) = &s.build {
            secrets.extend(b.secrets.iter().map(|x| x.source.clone()));
        }
        configs.extend(s.configs.iter().map(|x| x.source.clone()));
    }
    p.networks.retain(|k, _| nets.contains(k));
    p.volumes.retain(|k, _| vols.contains(k));
    p.secrets.retain(|k, _| secrets.contains(k));
    p.configs.retain(|k, _| configs.contains(k));
}

/// Keeps only the named services and their dependencies (Compose's WithSelectedServices).
fn select_services(st: &mut Staged, names: &[String]) -> Result<()> {
    if names.is_empty() {
        return Ok(());
    }
    let mut set: BTreeSet<String> = BTreeSet::new();
    collect_with_deps(&st.project, names, &mut set, None)?;
    let p = &mut st.project;
    let removed: Vec<String> = p
        .services
        .keys()
        .filter(|n| !set.contains(*n))
        .cloned()
        .collect();
    for s in p.services.values_mut() {
        s.depends_on.retain(|d, _| set.contains(d));
    }
    for n in removed {
        if let Some(s) = p.services.shift_remove(&n) {
            st.disabled.insert(n, s);
        }
    }
    Ok(())
}

fn collect_with_deps(
    p: &Project,
    names: &[String],
    set: &mut BTreeSet<String>,
    deps: Option<&IndexMap<String, types::ServiceDependency>>,
) -> Result<()> {
    for n in names {
        let Some(s) = p.services.get(n) else {
            let optional = deps.and_then(|d| d.get(n)).is_some_and(|d| !d.required);
            if optional {
                continue;
            }
            return Err(Error::other(format!("no such service: {n}")));
        };
        if !set.insert(n.clone()) {
            continue;
        }
        let dep_names: Vec<String> = s.depends_on.keys().cloned().collect();
        collect_with_deps(p, &dep_names, set, Some(&s.depends_on))?;
    }
    Ok(())
}

/// Compose cannot print a project as JSON when a build `ssh` entry names a path: its encoder
/// writes `"id": path`, which is not a JSON value, and the command fails (exit 1).
pub fn check_json_encodable(p: &Project) -> Result<()> {
    for (name, s) in &p.services {
        let Some(b) = &s.build else { continue };
        if let Some(k) = b.ssh.iter().find(|k| !k.path.is_empty()) {
            return Err(Error::other(format!(
                "json: error calling MarshalJSON for type types.SSHKey (service {name}, key {}): \
                 invalid character ':' after top-level value",
                k.id
            )));
        }
    }
    Ok(())
}

/// Every enabled service with its dependencies first, as `config --services` walks them; a
/// required dependency that is not there is an error.
pub fn services_in_order(p: &Project) -> Result<Vec<String>> {
    let mut names: Vec<String> = p.services.keys().cloned().collect();
    names.sort();
    let mut set = BTreeSet::new();
    collect_with_deps(p, &names, &mut set, None)?;
    Ok(names)
}

/// The profiles of every service, enabled or not, as `config --profiles` lists them.
pub fn all_profiles(loaded: &Loaded, project: &Project) -> Vec<String> {
    let mut out: Vec<String> = project
        .services
        .values()
        .flat_map(|s| s.profiles.iter().cloned())
        .collect();
    if let Some(services) = loaded.model.get("services").and_then(|s| s.as_map()) {
        for svc in services.values() {
            if let Some(ps) = svc.get("profiles").and_then(|p| p.as_seq()) {
                out.extend(ps.iter().filter_map(|p| p.as_str().map(str::to_string)));
            }
        }
    }
    out
}

/// The image a service runs: its `image`, else `<project>-<service>` as Compose names builds.
pub fn image_name(project: &str, service: &str, s: &ServiceConfig) -> String {
    if s.image.is_empty() {
        format!("{project}-{service}")
    } else {
        s.image.clone()
    }
}

/// The config hash Compose puts in `com.docker.compose.config-hash`: SHA-256 of the service's
/// JSON without build, pull policy, scale and replicas.
pub fn service_hash(s: &ServiceConfig) -> String {
    let mut s = s.clone();
    s.build = None;
    s.pull_policy.clear();
    s.scale = None;
    if let Some(d) = s.deploy.as_mut() {
        d.replicas = None;
    }
    let json = emit::to_json(&s.encode(Fmt::Json), false);
    let digest = Sha256::digest(json.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::super::loader::testfs::{load_mem, mem_fs};
    use super::*;

    fn build_mem(files: &[(&str, &str)]) -> Result<Project> {
        let l = load_mem(files)?;
        let settings = ProjectSettings {
            consistency: true,
            resolve_environment: true,
            discard_env_files: true,
            ..Default::default()
        };
        build(&l, &l.env, &mem_fs(files), &settings, &mut Vec::new())
    }

    #[test]
    fn env_file_format_is_checked_only_when_the_file_exists() {
        let compose = "services:\n  a:\n    image: x\n    env_file:\n      - path: e.env\n        required: false\n        format: raw\n";
        assert!(build_mem(&[("compose.yaml", compose)]).is_ok());
        let e = build_mem(&[("compose.yaml", compose), ("e.env", "A=1\n")]).unwrap_err();
        assert_eq!(e.exit_code(), 15);
    }

    #[test]
    fn env_file_that_is_a_directory_fails_even_when_optional() {
        let compose = "services:\n  a:\n    image: x\n    env_file:\n      - path: d\n        required: false\n";
        let e = build_mem(&[("compose.yaml", compose), ("d/x", "")]).unwrap_err();
        assert_eq!(e.exit_code(), 14);
    }

    #[test]
    fn ssh_paths_cannot_be_printed_as_json() {
        let ssh = |v: &str| {
            format!("services:\n  a:\n    build:\n      context: .\n      ssh:\n        - {v}\n")
        };
        let p = build_mem(&[("compose.yaml", &ssh("default"))]).unwrap();
        assert!(check_json_encodable(&p).is_ok());
        let p = build_mem(&[("compose.yaml", &ssh("k=./id_rsa"))]).unwrap();
        assert_eq!(check_json_encodable(&p).unwrap_err().exit_code(), 1);
    }
}
