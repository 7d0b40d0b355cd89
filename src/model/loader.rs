//! Loading a Compose project into one tree, in Compose's order: for each file and document,
//! interpolate, apply `extends` and `include`, drop what `!reset` names, merge; then canonical
//! forms, defaults, checks, absolute paths and normalization. Files are read through [`Fs`], so
//! the loader stays pure and tests can hand it files from memory.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use indexmap::IndexMap;

use super::error::{Error, ErrorKind, Result};
use super::merge::Resets;
use super::node::{KeyPath, Map, Node, Value};
use super::paths::{self, dir_of};
use super::{canonical, checks, dotenv, interpolate, merge, normalize, schema, yaml};

/// The environment a project is interpolated with.
pub type Env = IndexMap<String, String>;

/// What the loader may ask of the file system.
pub trait Fs {
    fn read(&self, path: &Path) -> io::Result<String>;
    fn is_file(&self, path: &Path) -> bool;
    fn is_dir(&self, path: &Path) -> bool;
}

/// The real file system.
pub struct RealFs;

impl Fs for RealFs {
    fn read(&self, path: &Path) -> io::Result<String> {
        std::fs::read_to_string(path)
    }
    fn is_file(&self, path: &Path) -> bool {
        path.is_file()
    }
    fn is_dir(&self, path: &Path) -> bool {
        path.is_dir()
    }
}

/// A compose file: its absolute path (or `-`) and, when already read, its content.
#[derive(Clone, Debug)]
pub struct ConfigFile {
    pub path: PathBuf,
    pub content: Option<String>,
}

/// What to load and how.
#[derive(Clone, Debug)]
pub struct LoadOptions {
    pub working_dir: PathBuf,
    pub files: Vec<ConfigFile>,
    pub env: Env,
    /// `-p` or COMPOSE_PROJECT_NAME: must already be a valid name.
    pub project_name: Option<String>,
    pub interpolate: bool,
    pub normalize: bool,
    pub resolve_paths: bool,
    /// Resolve bare `environment` entries, build args and `environment`-sourced secrets and
    /// configs against `env`. Off, they see only COMPOSE_PROJECT_NAME, as in the model compose
    /// prints for `config --no-interpolate`.
    pub resolve_from_env: bool,
}

impl LoadOptions {
    pub fn new(working_dir: PathBuf, files: Vec<ConfigFile>, env: Env) -> Self {
        LoadOptions {
            working_dir,
            files,
            env,
            project_name: None,
            interpolate: true,
            normalize: true,
            resolve_paths: true,
            resolve_from_env: true,
        }
    }
}

/// The part of `env` the model's environment resolution sees (see `resolve_from_env`).
fn resolution_env(env: &Env, from_env: bool) -> std::borrow::Cow<'_, Env> {
    if from_env {
        return std::borrow::Cow::Borrowed(env);
    }
    std::borrow::Cow::Owned(
        env.iter()
            .filter(|(k, _)| *k == "COMPOSE_PROJECT_NAME")
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
    )
}

/// The loaded tree, its project name and the warnings met on the way.
#[derive(Debug)]
pub struct Loaded {
    pub model: Node,
    pub name: String,
    /// The project environment, with COMPOSE_PROJECT_NAME set to the project's name.
    pub env: Env,
}

/// Which phases one `load_files` call runs (extends and include files skip some).
#[derive(Clone, Copy)]
struct Phases {
    interpolate: bool,
    extends: bool,
    include: bool,
    validate: bool,
    defaults: bool,
    resolve_paths: bool,
    resolve_from_env: bool,
}

struct Loader<'a> {
    fs: &'a dyn Fs,
    /// Files are named relative to it in messages.
    project_dir: PathBuf,
    home: Option<String>,
    warnings: Vec<String>,
    /// Files already parsed, so a file named twice (extends) is read once.
    parsed: IndexMap<PathBuf, Vec<Node>>,
}

/// Loads a project into its normalized tree. Warnings met on the way are added to `warnings`,
/// also when loading fails (Compose prints them before the error).
pub fn load(opts: &LoadOptions, fs: &dyn Fs, warnings: &mut Vec<String>) -> Result<Loaded> {
    let mut l = Loader {
        fs,
        project_dir: opts.working_dir.clone(),
        home: opts.env.get("HOME").cloned(),
        warnings: Vec::new(),
        parsed: IndexMap::new(),
    };
    let loaded = l.load(opts);
    warnings.append(&mut l.warnings);
    loaded
}

impl Loader<'_> {
    fn load(&mut self, opts: &LoadOptions) -> Result<Loaded> {
        if opts.files.is_empty() {
            return Err(Error::not_found(
                "no configuration file provided: not found",
            ));
        }
        for f in &opts.files {
            if let Some(c) = &f.content {
                let docs = yaml::parse(c, &display_name(&f.path, &opts.working_dir))?;
                self.parsed.insert(f.path.clone(), docs);
            }
        }

        let name = self.project_name(opts)?;
        let mut env = opts.env.clone();
        env.insert("COMPOSE_PROJECT_NAME".into(), name.clone());

        let phases = Phases {
            interpolate: opts.interpolate,
            extends: true,
            include: true,
            validate: true,
            defaults: true,
            resolve_paths: opts.resolve_paths,
            resolve_from_env: opts.resolve_from_env,
        };
        let files: Vec<PathBuf> = opts.files.iter().map(|f| f.path.clone()).collect();
        let mut model = self.load_files(
            &opts.working_dir,
            &opts.working_dir,
            &files,
            &env,
            phases,
            &[],
        )?;

        if model.as_map().is_none_or(|m| m.is_empty()) {
            return Err(Error::invalid("empty compose file"));
        }
        if name.is_empty() {
            return Err(Error::invalid("project name must not be empty"));
        }
        if opts.normalize {
            if let Some(m) = model.as_map_mut() {
                // `name` goes first, as Compose prints it
                m.shift_insert(0, "name".into(), Node::str(name.clone()));
            }
            normalize::normalize(&mut model, &resolution_env(&env, opts.resolve_from_env));
        }
        Ok(Loaded { model, name, env })
    }
}

/// Compose's project name normalization: lowercase, keep `[a-z0-9_-]`, trim leading `_`/`-`.
pub fn normalize_project_name(s: &str) -> String {
    let kept: String = s
        .to_lowercase()
        .chars()
        .filter(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_' || *c == '-')
        .collect();
    kept.trim_start_matches(['_', '-']).to_string()
}

/// The error for a `-p` or COMPOSE_PROJECT_NAME that is not a valid name.
pub fn invalid_project_name(name: &str) -> Error {
    Error::invalid(format!(
        "invalid project name {name:?}: must consist only of lowercase alphanumeric characters, \
         hyphens, and underscores as well as start with a letter or number"
    ))
}

/// How a file is named in messages: relative to the project directory when inside it.
fn display_name(path: &Path, working_dir: &Path) -> Arc<str> {
    let shown = path
        .strip_prefix(working_dir)
        .ok()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(path);
    Arc::from(shown.to_string_lossy().as_ref())
}

impl Loader<'_> {
    /// A directory that may be relative (to the project directory) made absolute.
    fn absolute(&self, dir: &Path) -> PathBuf {
        if dir.is_absolute() {
            dir.to_path_buf()
        } else {
            PathBuf::from(paths::join_clean(&self.project_dir, &dir.to_string_lossy()))
        }
    }

    /// Reads and parses `path` unless already done.
    fn ensure_parsed(&mut self, path: &Path) -> Result<()> {
        if self.parsed.contains_key(path) {
            return Ok(());
        }
        let content = self
            .fs
            .read(path)
            .map_err(|e| Error::other(format!("failed to read {}: {e}", path.display())))?;
        let docs = yaml::parse(&content, &display_name(path, &self.project_dir))?;
        self.parsed.insert(path.to_path_buf(), docs);
        Ok(())
    }

    /// The documents of `path`, handed over: a file read again later is parsed again (only
    /// `extends` does that), which is cheaper than copying every tree up front.
    fn docs(&mut self, path: &Path) -> Result<Vec<Node>> {
        self.ensure_parsed(path)?;
        Ok(self.parsed.shift_remove(path).unwrap_or_default())
    }

    fn project_name(&mut self, opts: &LoadOptions) -> Result<String> {
        if let Some(n) = &opts.project_name {
            if normalize_project_name(n) != *n {
                return Err(invalid_project_name(n));
            }
            return Ok(n.clone());
        }
        let mut from_files = String::new();
        for f in &opts.files {
            self.ensure_parsed(&f.path)?;
            for doc in self.parsed.get(&f.path).into_iter().flatten() {
                if let Some(n) = doc.get("name").and_then(Node::as_str) {
                    if !n.is_empty() {
                        from_files = n.to_string();
                    }
                }
            }
        }
        if opts.interpolate && !from_files.is_empty() {
            let mut n = Node::str(from_files);
            let env = &opts.env;
            interpolate::interpolate(&mut n, &|k: &str| env.get(k).cloned(), &mut self.warnings)?;
            from_files = n.as_str().unwrap_or_default().to_string();
        }
        let from_files = normalize_project_name(&from_files);
        if !from_files.is_empty() {
            return Ok(from_files);
        }
        let base = opts
            .working_dir
            .file_name()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        Ok(normalize_project_name(&base))
    }

    /// Loads and merges `files` (Compose's loadYamlModel). `base_dir` resolves relative paths;
    /// `loader_dir` resolves `extends.file` and `include` paths.
    fn load_files(
        &mut self,
        base_dir: &Path,
        loader_dir: &Path,
        files: &[PathBuf],
        env: &Env,
        phases: Phases,
        included: &[PathBuf],
    ) -> Result<Node> {
        let mut dict = Node::map(Map::new());
        for file in files {
            let (d, _) = self.load_file(file, dict, base_dir, loader_dir, env, phases, included)?;
            dict = d;
        }
        if phases.defaults {
            canonical::set_defaults(&mut dict)?;
        }
        if phases.validate {
            checks::check(&dict)?;
        }
        if phases.resolve_paths {
            paths::resolve(&mut dict, base_dir, self.home.as_deref())?;
        }
        resolve_environment(&mut dict, &resolution_env(env, phases.resolve_from_env));
        Ok(dict)
    }

    /// Loads one file's documents on top of `dict` (Compose's loadYamlFile); returns the result
    /// and the resets of the file's last document.
    #[allow(clippy::too_many_arguments)]
    fn load_file(
        &mut self,
        file: &Path,
        mut dict: Node,
        base_dir: &Path,
        loader_dir: &Path,
        env: &Env,
        phases: Phases,
        included: &[PathBuf],
    ) -> Result<(Node, Resets)> {
        // each include branch sees the files above it, not its siblings'
        let mut included = included.to_vec();
        let mut last = Resets::default();
        for mut doc in self.docs(file)? {
            if doc.as_map().is_none() {
                return Err(Error::at(
                    &doc,
                    &KeyPath::root(),
                    "Top-level object must be a mapping",
                ));
            }
            let resets = Resets::take(&mut doc);
            if phases.interpolate {
                interpolate::interpolate(
                    &mut doc,
                    &|k: &str| env.get(k).cloned(),
                    &mut self.warnings,
                )?;
            }
            if phases.extends {
                self.apply_extends(&mut doc, file, loader_dir, env, phases, &resets)?;
            }
            resets.apply(&mut dict);
            if phases.include {
                included.push(file.to_path_buf());
                self.apply_include(&mut doc, base_dir, loader_dir, env, phases, &included)?;
            }
            dict = merge::merge(dict, doc)?;
            merge::enforce_unicity(&mut dict)?;
            if phases.validate {
                if phases.interpolate {
                    schema::validate(&dict)?;
                } else {
                    schema::validate_uninterpolated(&dict)?;
                }
                if let Some(m) = dict.as_map_mut() {
                    if m.shift_remove("version").is_some() {
                        self.warnings.push(format!(
                            "{}: the attribute `version` is obsolete, it will be ignored, \
                             please remove it to avoid potential confusion",
                            file.display()
                        ));
                    }
                }
            }
            canonical::canonical_with(&mut dict, &mut self.warnings, !phases.interpolate)?;
            omit_empty_dns(&mut dict);
            merge::enforce_unicity(&mut dict)?;
            last = resets;
        }
        Ok((dict, last))
    }

    fn apply_extends(
        &mut self,
        doc: &mut Node,
        file: &Path,
        loader_dir: &Path,
        env: &Env,
        phases: Phases,
        resets: &Resets,
    ) -> Result<()> {
        let Some(services) = doc.get_mut("services") else {
            return Ok(());
        };
        let path = KeyPath::root().key("services");
        let Some(map) = services.as_map_mut() else {
            if services.is_null() {
                return Ok(());
            }
            return Err(Error::at(services, &path, "must be a mapping"));
        };
        let names: Vec<String> = map.keys().cloned().collect();
        let ctx = ExtendsCtx {
            file: file.to_path_buf(),
            loader_dir: loader_dir.to_path_buf(),
            env,
            phases,
        };
        for name in names {
            let post = vec![resets.clone()];
            if let Some(merged) = self.service_extends(&name, map, &ctx, Vec::new(), post)? {
                map.insert(name, merged);
            }
        }
        Ok(())
    }

    /// Resolves `extends` for one service of `services`, recursively; returns the service with
    /// its bases merged in, or None when it is null. `post` holds the resets of every document
    /// on the way, which also apply to the base.
    fn service_extends(
        &mut self,
        name: &str,
        services: &mut Map,
        ctx: &ExtendsCtx<'_>,
        chain: Vec<(PathBuf, String)>,
        mut post: Vec<Resets>,
    ) -> Result<Option<Node>> {
        let path = KeyPath::root().key("services").key(name);
        let Some(svc) = services.get(name) else {
            return Ok(None);
        };
        if svc.is_null() {
            return Ok(None);
        }
        if svc.as_map().is_none() {
            return Err(Error::at(svc, &path, "must be a mapping"));
        }
        let Some(ext) = svc.get("extends") else {
            return Ok(Some(svc.clone()));
        };
        let ext_path = path.key("extends");
        let (base_name, base_file) = match &ext.v {
            Value::Str(s) => (s.clone(), None),
            Value::Map(m) => {
                let Some(s) = m.get("service").and_then(Node::as_str) else {
                    return Err(Error::at(ext, &ext_path, "service is required"));
                };
                let file = match m.get("file") {
                    Some(f) => Some(
                        f.as_str()
                            .ok_or_else(|| Error::at(f, &ext_path.key("file"), "must be a string"))?
                            .to_string(),
                    ),
                    None => None,
                };
                (s.to_string(), file)
            }
            _ => return Err(Error::at(ext, &ext_path, "must be a string or a mapping")),
        };
        let ext_pos = ext.pos.clone();

        let base = match base_file {
            Some(f) => {
                let (mut base_services, resets, local) =
                    self.extends_file_services(name, &base_name, &f, ctx, &ext_pos, &ext_path)?;
                post.push(resets);
                let chain = track(chain, &local, name)?;
                self.service_extends(&base_name, &mut base_services, ctx, chain, post.clone())?
            }
            None => {
                if !services.contains_key(&base_name) {
                    return Err(Error::at_pos(
                        &ext_pos,
                        &ext_path,
                        format!(
                            "cannot extend service {name:?} in {}: service {base_name:?} not found",
                            ctx.file.display()
                        ),
                    ));
                }
                let chain = track(chain, &ctx.file, name)?;
                self.service_extends(&base_name, services, ctx, chain, post.clone())?
            }
        };
        let Some(svc) = services.get(name).cloned() else {
            return Ok(None);
        };
        let Some(mut base) = base else {
            return Ok(Some(svc));
        };
        for r in &post {
            r.apply_service(name, &mut base);
        }
        let merged = merge::merge_service(&base, &svc, &path)?;
        services.insert(name.to_string(), merged.clone());
        Ok(Some(merged))
    }

    /// The services of the file named by `extends.file`, loaded raw (no extends, include,
    /// validation or defaults), with paths made relative to the loader directory; also the
    /// file's resets and its absolute path.
    fn extends_file_services(
        &mut self,
        name: &str,
        base_name: &str,
        ref_path: &str,
        ctx: &ExtendsCtx<'_>,
        pos: &super::node::Pos,
        path: &KeyPath,
    ) -> Result<(Map, Resets, PathBuf)> {
        let local = if Path::new(ref_path).is_absolute() {
            PathBuf::from(paths::clean(Path::new(ref_path)))
        } else {
            PathBuf::from(paths::join_clean(&ctx.loader_dir, ref_path))
        };
        if !self.fs.is_file(&local) {
            // compose fails on the open(2) of the file: a path error, exit 14
            return Err(Error {
                kind: ErrorKind::NotFound,
                ..Error::at_pos(pos, path, format!("cannot read {ref_path}"))
            });
        }
        let local_dir = dir_of(&local);
        let rel_dir = rel_path(&ctx.loader_dir, &local_dir);
        let phases = Phases {
            interpolate: ctx.phases.interpolate,
            extends: false,
            include: false,
            validate: false,
            defaults: false,
            resolve_paths: false,
            resolve_from_env: ctx.phases.resolve_from_env,
        };
        let (mut source, resets) = self.load_file(
            &local,
            Node::map(Map::new()),
            &rel_dir,
            &local_dir,
            ctx.env,
            phases,
            &[],
        )?;
        let shown = local.display();
        match source.get("services") {
            None => {
                return Err(Error::at_pos(
                    pos,
                    path,
                    format!("cannot extend service {name:?} in {shown}: no services section"),
                ))
            }
            Some(s) if s.as_map().is_none() => {
                return Err(Error::at_pos(
                    pos,
                    path,
                    format!("cannot extend service {name:?} in {shown}: services must be a mapping"),
                ))
            }
            Some(s) if s.get(base_name).is_none() => {
                return Err(Error::at_pos(
                    pos,
                    path,
                    format!(
                        "cannot extend service {name:?} in {}: service {base_name:?} not found in {ref_path}",
                        ctx.file.display()
                    ),
                ))
            }
            Some(_) => {}
        }
        paths::resolve(&mut source, &rel_dir, self.home.as_deref())?;
        let services = source
            .get("services")
            .and_then(Node::as_map)
            .cloned()
            .unwrap_or_default();
        Ok((services, resets, local))
    }

    fn apply_include(
        &mut self,
        doc: &mut Node,
        base_dir: &Path,
        loader_dir: &Path,
        env: &Env,
        phases: Phases,
        included: &[PathBuf],
    ) -> Result<()> {
        let Some(m) = doc.as_map_mut() else {
            return Ok(());
        };
        let Some(inc) = m.shift_remove("include") else {
            return Ok(());
        };
        let path = KeyPath::root().key("include");
        let Some(items) = inc.as_seq() else {
            if inc.is_null() {
                return Ok(());
            }
            return Err(Error::at(&inc, &path, "must be an array"));
        };
        for (i, item) in items.iter().enumerate() {
            let ipath = path.index(i);
            let spec = IncludeSpec::from_node(item, &ipath)?;
            let mut files = Vec::new();
            // where the included files' relative paths resolve (`rel_base`, relative to the
            // loader directory as Compose computes it) and the directory their own includes,
            // extends and `.env` are relative to (`project_dir`)
            let mut dirs: Option<(PathBuf, PathBuf)> = None;
            for (j, p) in spec.paths.iter().enumerate() {
                let abs = PathBuf::from(if Path::new(p).is_absolute() {
                    paths::clean(Path::new(p))
                } else {
                    paths::join_clean(loader_dir, p)
                });
                if !self.fs.is_file(&abs) {
                    return Err(Error {
                        kind: ErrorKind::NotFound,
                        ..Error::at(
                            item,
                            &ipath,
                            format!("included file {} not found", abs.display()),
                        )
                    });
                }
                if j == 0 {
                    dirs = Some(match &spec.project_directory {
                        None => (rel_path(loader_dir, &dir_of(&abs)), dir_of(&abs)),
                        Some(pd) if Path::new(pd).is_absolute() => {
                            (PathBuf::from(pd), PathBuf::from(pd))
                        }
                        Some(pd) => {
                            // the loader's Dir: the directory itself when it exists, else
                            // its parent
                            let as_dir = PathBuf::from(paths::join_clean(loader_dir, pd));
                            let abs_parent = if self.fs.is_dir(&as_dir) {
                                as_dir
                            } else {
                                let parent = dir_of(Path::new(pd));
                                PathBuf::from(paths::join_clean(
                                    loader_dir,
                                    &parent.to_string_lossy(),
                                ))
                            };
                            (
                                rel_path(loader_dir, &abs_parent),
                                PathBuf::from(paths::join_clean(&self.absolute(base_dir), pd)),
                            )
                        }
                    });
                    if included.contains(&abs) {
                        let mut chain: Vec<String> =
                            included.iter().map(|p| p.display().to_string()).collect();
                        chain.push(abs.display().to_string());
                        return Err(Error::at(
                            item,
                            &ipath,
                            format!(
                                "include cycle detected:\n{}\n include {}",
                                chain[0],
                                chain[1..].join("\n include ")
                            ),
                        ));
                    }
                }
                files.push(abs);
            }
            let Some((rel_base, project_dir)) = dirs else {
                continue;
            };

            let mut env_files = Vec::new();
            if spec.env_files.is_empty() {
                let f = project_dir.join(".env");
                if self.fs.is_file(&f) {
                    env_files.push(f);
                }
            } else {
                for f in &spec.env_files {
                    let p = if Path::new(f).is_absolute() {
                        PathBuf::from(f)
                    } else {
                        let p = PathBuf::from(paths::join_clean(&self.absolute(base_dir), f));
                        if self.fs.is_dir(&p) {
                            return Err(Error::at(
                                item,
                                &ipath,
                                format!("{} is not a file", p.display()),
                            ));
                        }
                        if !self.fs.is_file(&p) {
                            return Err(Error {
                                kind: ErrorKind::NotFound,
                                ..Error::at(
                                    item,
                                    &ipath,
                                    format!("env file {} not found", p.display()),
                                )
                            });
                        }
                        p
                    };
                    env_files.push(p);
                }
            }
            let mut inc_env = env.clone();
            for (k, v) in env_from_files(self.fs, env, &env_files, &mut self.warnings)? {
                inc_env.entry(k).or_insert(v);
            }
            let inc_phases = Phases {
                resolve_paths: true,
                ..phases
            };
            let imported = self.load_files(
                &rel_base,
                &project_dir,
                &files,
                &inc_env,
                inc_phases,
                included,
            )?;
            import_resources(&imported, doc, item, &ipath)?;
        }
        Ok(())
    }
}

struct ExtendsCtx<'a> {
    file: PathBuf,
    loader_dir: PathBuf,
    env: &'a Env,
    phases: Phases,
}

/// `filepath.Rel(base, target)` for clean absolute paths.
fn rel_path(base: &Path, target: &Path) -> PathBuf {
    let b: Vec<_> = base.components().collect();
    let t: Vec<_> = target.components().collect();
    let common = b.iter().zip(&t).take_while(|(x, y)| x == y).count();
    let mut out = PathBuf::new();
    for _ in common..b.len() {
        out.push("..");
    }
    for c in &t[common..] {
        out.push(c);
    }
    if out.as_os_str().is_empty() {
        out.push(".");
    }
    out
}

/// Records that `service` of `file` is being extended; a repeat is a cycle.
fn track(
    mut chain: Vec<(PathBuf, String)>,
    file: &Path,
    service: &str,
) -> Result<Vec<(PathBuf, String)>> {
    let entry = (file.to_path_buf(), service.to_string());
    if chain.contains(&entry) {
        let mut lines = vec![
            "Circular reference:".to_string(),
            format!("  {} in {}", chain[0].1, chain[0].0.display()),
        ];
        for (f, s) in chain[1..].iter().chain(std::iter::once(&entry)) {
            lines.push(format!("  extends {s} in {}", f.display()));
        }
        return Err(Error::invalid(lines.join("\n")));
    }
    chain.push(entry);
    Ok(chain)
}

struct IncludeSpec {
    paths: Vec<String>,
    project_directory: Option<String>,
    env_files: Vec<String>,
}

impl IncludeSpec {
    fn from_node(n: &Node, path: &KeyPath) -> Result<Self> {
        let strings = |n: &Node, p: &KeyPath| -> Result<Vec<String>> {
            match &n.v {
                Value::Str(s) => Ok(vec![s.clone()]),
                Value::Seq(items) => items
                    .iter()
                    .enumerate()
                    .map(|(i, s)| {
                        s.as_str()
                            .map(str::to_string)
                            .ok_or_else(|| Error::at(s, &p.index(i), "must be a string"))
                    })
                    .collect(),
                _ => Err(Error::at(n, p, "must be a string or a list of strings")),
            }
        };
        match &n.v {
            Value::Str(s) => Ok(IncludeSpec {
                paths: vec![s.clone()],
                project_directory: None,
                env_files: Vec::new(),
            }),
            Value::Map(m) => {
                let paths = match m.get("path") {
                    Some(p) => strings(p, &path.key("path"))?,
                    None => return Err(Error::at(n, path, "path is required")),
                };
                let env_files = match m.get("env_file") {
                    Some(e) => strings(e, &path.key("env_file"))?,
                    None => Vec::new(),
                };
                Ok(IncludeSpec {
                    paths,
                    project_directory: m
                        .get("project_directory")
                        .and_then(Node::as_str)
                        .map(str::to_string),
                    env_files,
                })
            }
            _ => Err(Error::at(n, path, "must be a string or a mapping")),
        }
    }
}

/// Reads `.env`-style files in order; each may use the variables of `env` and of the files
/// before it (Compose's GetEnvFromFile).
pub fn env_from_files(
    fs: &dyn Fs,
    env: &Env,
    files: &[PathBuf],
    warnings: &mut Vec<String>,
) -> Result<Env> {
    let mut out = Env::new();
    for f in files {
        if fs.is_dir(f) {
            return Err(Error::other(format!("{} is a directory", f.display())));
        }
        let content = fs
            .read(f)
            .map_err(|_| Error::other(format!("Couldn't find env file: {}", f.display())))?;
        let lookup = |k: &str| env.get(k).or_else(|| out.get(k)).cloned();
        let vars = dotenv::parse(&content, &f.display().to_string(), &lookup, warnings)?;
        for (k, v) in vars {
            out.insert(k, v);
        }
    }
    Ok(out)
}

/// Adds what an included project defines to the including document; the same name defined
/// differently in both is an error.
fn import_resources(imported: &Node, doc: &mut Node, at: &Node, path: &KeyPath) -> Result<()> {
    let Some(target) = doc.as_map_mut() else {
        return Ok(());
    };
    for kind in ["services", "volumes", "networks", "secrets", "configs"] {
        let Some(from) = imported.get(kind).and_then(Node::as_map) else {
            continue;
        };
        let to = target
            .entry(kind.to_string())
            .or_insert_with(|| Node::map(Map::new()));
        if to.is_null() {
            *to = Node::map(Map::new());
        }
        let Some(to) = to.as_map_mut() else { continue };
        for (name, v) in from {
            if let Some(existing) = to.get(name) {
                if same(existing, v) {
                    continue;
                }
                return Err(Error::at(
                    at,
                    path,
                    format!("{kind}.{name} conflicts with imported resource"),
                ));
            }
            to.insert(name.clone(), v.clone());
        }
    }
    Ok(())
}

/// Structural equality, ignoring where values were written.
pub fn same(a: &Node, b: &Node) -> bool {
    match (&a.v, &b.v) {
        (Value::Seq(x), Value::Seq(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b))
        }
        (Value::Map(x), Value::Map(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        (x, y) => x == y,
    }
}

/// `environment` list entries naming a variable without a value take it from the project
/// environment when it has one; secrets and configs read from the environment get their value
/// (Compose's ResolveEnvironment).
fn resolve_environment(root: &mut Node, env: &Env) {
    let Some(top) = root.as_map_mut() else { return };
    if let Some(services) = top.get_mut("services").and_then(Node::as_map_mut) {
        for svc in services.values_mut() {
            let Some(items) = svc.get_mut("environment").and_then(Node::as_seq_mut) else {
                continue;
            };
            items.retain(|i| matches!(i.v, Value::Str(_)));
            for item in items {
                if let Value::Str(s) = &item.v {
                    if let Some(v) = env.get(s.as_str()) {
                        item.v = Value::Str(format!("{s}={v}"));
                    }
                }
            }
        }
    }
    for (kind, key) in [("secrets", "x-#value"), ("configs", "content")] {
        let Some(objs) = top.get_mut(kind).and_then(Node::as_map_mut) else {
            continue;
        };
        for obj in objs.values_mut() {
            let Some(var) = obj.get("environment").and_then(Node::as_str) else {
                continue;
            };
            if let Some(v) = env.get(var).cloned() {
                if let Some(m) = obj.as_map_mut() {
                    m.insert(key.into(), Node::str(v));
                }
            }
        }
    }
}

/// Empty entries of `services.*.dns` are dropped (Compose's OmitEmpty).
fn omit_empty_dns(root: &mut Node) {
    let Some(services) = root.get_mut("services").and_then(Node::as_map_mut) else {
        return;
    };
    for svc in services.values_mut() {
        if let Some(dns) = svc.get_mut("dns").and_then(Node::as_seq_mut) {
            dns.retain(|d| !(d.is_null() || d.as_str() == Some("")));
        }
    }
}

/// Test helpers: a file system in memory and a loader over it.
#[cfg(test)]
pub(crate) mod testfs {
    use super::*;

    use crate::model::memfs::MemFs;

    /// Loads `/p/compose.yaml` from the given files (paths relative to `/p`).
    pub(crate) fn load_mem(files: &[(&str, &str)]) -> Result<Loaded> {
        let fs = mem_fs(files);
        let main = ConfigFile {
            path: PathBuf::from("/p/compose.yaml"),
            content: None,
        };
        let opts = LoadOptions::new(PathBuf::from("/p"), vec![main], Env::new());
        load(&opts, &fs, &mut Vec::new())
    }

    /// The files under `/p`.
    pub(crate) fn mem_fs(files: &[(&str, &str)]) -> MemFs {
        files.iter().fold(MemFs::default(), |fs, (p, c)| {
            fs.with(&Path::new("/p").join(p).to_string_lossy(), c)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::testfs::load_mem;
    use super::*;

    fn at<'a>(n: &'a Node, path: &[&str]) -> &'a Node {
        path.iter().fold(n, |n, k| match n.as_seq() {
            Some(s) => &s[k.parse::<usize>().unwrap()],
            None => n.get(k).unwrap_or_else(|| panic!("no {k}")),
        })
    }

    #[test]
    fn missing_extended_or_included_files_exit_14() {
        let e = load_mem(&[(
            "compose.yaml",
            "services:\n  a:\n    extends:\n      file: base.yaml\n      service: b\n",
        )])
        .unwrap_err();
        assert_eq!(e.exit_code(), 14);
        assert!(
            e.to_string()
                .starts_with("compose.yaml:3: services.a.extends"),
            "{e}"
        );
        let e = load_mem(&[("compose.yaml", "include:\n  - other.yaml\n")]).unwrap_err();
        assert_eq!(e.exit_code(), 14);
        let e = load_mem(&[
            (
                "compose.yaml",
                "include:\n  - path: o.yaml\n    env_file: x.env\n",
            ),
            ("o.yaml", "services:\n  a:\n    image: x\n"),
        ])
        .unwrap_err();
        assert_eq!(e.exit_code(), 14);
    }

    #[test]
    fn bind_mount_without_source_fails_when_paths_resolve() {
        let compose = "services:\n  a:\n    image: x\n    volumes:\n      - type: bind\n        target: /app\n";
        let e = load_mem(&[("compose.yaml", compose)]).unwrap_err();
        assert_eq!(e.exit_code(), 15);
        assert!(
            e.to_string()
                .starts_with("compose.yaml:5: services.a.volumes[0]"),
            "{e}"
        );
        let with_source = compose.replace("target: /app", "target: /app\n        source: \"\"");
        assert!(load_mem(&[("compose.yaml", &with_source)]).is_ok());
    }

    #[test]
    fn include_project_directory_that_exists_is_the_working_dir() {
        let l = load_mem(&[
            (
                "compose.yaml",
                "include:\n  - path: inc/c.yaml\n    project_directory: sub\n",
            ),
            (
                "inc/c.yaml",
                "services:\n  a:\n    build: .\n    env_file: e.env\n",
            ),
            ("sub/e.env", "A=1\n"),
        ])
        .unwrap();
        let a = at(&l.model, &["services", "a"]);
        assert_eq!(at(a, &["build", "context"]).as_str(), Some("/p/sub"));
        assert_eq!(
            at(a, &["env_file", "0", "path"]).as_str(),
            Some("/p/sub/e.env")
        );
    }

    #[test]
    fn project_names_normalize_as_compose() {
        assert_eq!(normalize_project_name(".docker"), "docker");
        assert_eq!(
            normalize_project_name("UNNORMALIZED PATH"),
            "unnormalizedpath"
        );
        assert_eq!(normalize_project_name("_-my_app"), "my_app");
        assert_eq!(normalize_project_name("-my_project"), "my_project");
    }

    #[test]
    fn display_names_are_relative_to_the_project() {
        let d = display_name(Path::new("/p/compose.yaml"), Path::new("/p"));
        assert_eq!(&*d, "compose.yaml");
        let d = display_name(Path::new("/q/base.yaml"), Path::new("/p"));
        assert_eq!(&*d, "/q/base.yaml");
    }
}
