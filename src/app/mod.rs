//! One method per verb. The app layer resolves what the pure layers need from the world (the
//! environment, which files to load, their content) and passes it in as data.

pub mod attach;
pub mod blocking;
pub mod config;
pub mod control;
pub mod converge_wait;
pub mod down;
pub mod engine;
pub mod exec;
pub mod facts;
pub mod follow;
pub mod health;
pub mod hostports;
pub mod images;
pub mod kill;
pub mod lifecycle;
pub mod logs;
pub mod ls;
pub mod nethook;
pub mod network;
pub mod port;
pub mod ps;
pub mod pull;
pub mod run;
pub mod run_volumes;
pub mod stdio;
pub mod storage;
pub mod top;
pub mod up;
pub mod wait;

use std::path::{Path, PathBuf};

use crate::model::error::{Error, ErrorKind, Result};
use crate::model::loader::{self, ConfigFile, Env, Fs, LoadOptions};

/// What a verb that works on containers and images can fail with; each kind has the exit code
/// Docker Compose gives it.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The Compose files (their own exit codes: 14 not found, 15 invalid, 1 other).
    #[error("{0}")]
    Model(#[from] Error),
    #[error("{0}")]
    Containerd(#[from] crate::containerd::Error),
    /// Pulling failed (exit 18, compose's PullFailure).
    #[error("{0}")]
    Pull(String),
    #[error("{0}")]
    Other(String),
}

impl AppError {
    pub fn exit_code(&self) -> i32 {
        match self {
            AppError::Model(e) => e.exit_code(),
            AppError::Pull(_) => 18,
            AppError::Containerd(_) | AppError::Other(_) => 1,
        }
    }
}

/// A loaded project and the environment it was resolved with.
pub struct Loaded {
    pub project: crate::model::types::Project,
    /// Services left out by profiles or by the selection, with their profiles: their
    /// containers are not orphans.
    pub disabled: crate::plan::Disabled,
    pub env: Env,
    /// The project directory (`com.docker.compose.project.working_dir`).
    pub working_dir: PathBuf,
    /// The Compose files read (`com.docker.compose.project.config_files`).
    pub config_files: Vec<PathBuf>,
}

/// Loads the project as every verb but `config` does: interpolated, normalized, consistent,
/// profiles enabled for the services named, and those services (with their dependencies)
/// selected. A name that is no service is compose's `no such service` error.
pub fn load_project(
    opts: &ProjectOptions,
    services: &[String],
    warnings: &mut Vec<String>,
) -> Result<Loaded> {
    use crate::model::loader::RealFs;
    use crate::model::project::{self, ProjectSettings};
    let cwd = std::env::current_dir().map_err(|e| Error::other(format!("getwd: {e}")))?;
    let os_env: Env = std::env::vars().collect();
    let mut stdin = || {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut s).map(|_| s)
    };
    let resolved = opts.resolve(os_env, &cwd, &RealFs, &mut stdin, warnings)?;
    let loaded = loader::load(&resolved.load, &RealFs, warnings)?;
    let working_dir = resolved.load.working_dir.clone();
    let config_files = resolved.load.files.iter().map(|f| f.path.clone()).collect();
    let settings = ProjectSettings {
        profiles: resolved.profiles.clone(),
        consistency: true,
        resolve_environment: true,
        discard_env_files: true,
        services: services.to_vec(),
    };
    let (project, disabled) =
        project::build_with_disabled(&loaded, &loaded.env, &RealFs, &settings, warnings)?;
    Ok(Loaded {
        project,
        disabled: disabled.into_iter().collect(),
        env: loaded.env,
        working_dir,
        config_files,
    })
}

/// compose's `projectOrName`: with `-p` and no `-f`, verbs that can work from what exists
/// (`down`, ...) use the name alone and never read a Compose file; otherwise the project is
/// loaded, and if that fails while COMPOSE_PROJECT_NAME names one, that name is used.
pub fn load_project_or_name(
    opts: &ProjectOptions,
    services: &[String],
    warnings: &mut Vec<String>,
) -> Result<ProjectOrName> {
    let given = opts.project_name.as_deref().filter(|p| !p.is_empty());
    if let (Some(name), true) = (given, opts.files.is_empty()) {
        return Ok(ProjectOrName::Name(name.to_lowercase()));
    }
    match load_project(opts, services, warnings) {
        Ok(l) => Ok(ProjectOrName::Project(Box::new(l))),
        Err(e) => match std::env::var("COMPOSE_PROJECT_NAME") {
            Ok(name) if !name.is_empty() => Ok(ProjectOrName::Name(name.to_lowercase())),
            _ => Err(e),
        },
    }
}

/// What [`load_project_or_name`] found.
pub enum ProjectOrName {
    Project(Box<Loaded>),
    Name(String),
}

/// The project flags every verb shares (`-f`, `-p`, `--project-directory`, ...).
#[derive(Clone, Debug, Default)]
pub struct ProjectOptions {
    pub files: Vec<String>,
    pub project_name: Option<String>,
    pub project_directory: Option<String>,
    pub env_files: Vec<String>,
    pub profiles: Vec<String>,
    pub compatibility: bool,
}

/// Where a project comes from, resolved: files, directory, environment, name and profiles.
#[derive(Clone, Debug)]
pub struct Resolved {
    pub load: LoadOptions,
    pub profiles: Vec<String>,
    /// The env files that were read (for the `com.docker.compose.project.environment_file` label).
    pub env_files: Vec<PathBuf>,
}

const DEFAULT_FILES: [&str; 4] = [
    "compose.yaml",
    "compose.yml",
    "docker-compose.yml",
    "docker-compose.yaml",
];
const OVERRIDE_FILES: [&str; 4] = [
    "compose.override.yml",
    "compose.override.yaml",
    "docker-compose.override.yml",
    "docker-compose.override.yaml",
];

impl ProjectOptions {
    /// Resolves the options against the process environment and current directory, as Compose
    /// does: `.env` (or `--env-file`, COMPOSE_ENV_FILES) can itself set COMPOSE_FILE,
    /// COMPOSE_PROFILES and COMPOSE_PROJECT_NAME, so resolution runs twice.
    pub fn resolve(
        &self,
        os_env: Env,
        cwd: &Path,
        fs: &dyn Fs,
        stdin: &mut dyn FnMut() -> std::io::Result<String>,
        warnings: &mut Vec<String>,
    ) -> Result<Resolved> {
        let first = self.pass(&os_env, cwd, fs, warnings, true)?;
        let mut env = os_env.clone();
        for (k, v) in project_env(fs, &os_env, &first.env_files, warnings)? {
            if !env.contains_key(&k) && (k.is_empty() || k.contains(['=', '\0'])) {
                // compose exports the project env files into its own process environment
                return Err(Error::other("setenv: invalid argument"));
            }
            env.entry(k).or_insert(v);
        }
        let second = self.pass(&env, cwd, fs, warnings, false)?;
        let mut full = env.clone();
        for (k, v) in project_env(fs, &env, &second.env_files, &mut Vec::new())? {
            full.entry(k).or_insert(v);
        }

        let mut files = Vec::new();
        for p in &second.config_paths {
            let content = if p.as_os_str() == "-" {
                Some(stdin().map_err(|e| Error::other(format!("read stdin: {e}")))?)
            } else {
                None
            };
            files.push(ConfigFile {
                path: p.clone(),
                content,
            });
        }
        let project_name = match &self.project_name {
            Some(n) => {
                // `-p` is checked by the command line itself (exit 1); a bad
                // COMPOSE_PROJECT_NAME is an invalid project (exit 15)
                if loader::normalize_project_name(n) != *n {
                    let mut e = loader::invalid_project_name(n);
                    e.kind = crate::model::error::ErrorKind::Other;
                    return Err(e);
                }
                Some(n.clone())
            }
            None => full
                .get("COMPOSE_PROJECT_NAME")
                .filter(|n| !n.is_empty())
                .cloned(),
        };
        let profiles = if self.profiles.is_empty() {
            match full.get("COMPOSE_PROFILES") {
                Some(p) => p.split(',').map(|s| s.trim().to_string()).collect(),
                None => Vec::new(),
            }
        } else {
            self.profiles.clone()
        };
        let mut load = LoadOptions::new(second.working_dir, files, full);
        load.project_name = project_name;
        Ok(Resolved {
            load,
            profiles,
            env_files: second.env_files,
        })
    }

    /// One resolution pass. The first one only finds the env files that may set COMPOSE_FILE:
    /// compose does not check the compose files then, and with none found it reads the `.env`
    /// of the project directory (`--project-directory`, else the current one).
    fn pass(
        &self,
        env: &Env,
        cwd: &Path,
        fs: &dyn Fs,
        warnings: &mut Vec<String>,
        first: bool,
    ) -> Result<Pass> {
        let project_dir = self.project_directory.as_ref().map(|d| absolute(cwd, d));
        let mut config_paths: Vec<PathBuf> = Vec::new();
        let given: Vec<String> = if !self.files.is_empty() {
            self.files.clone()
        } else if let Some(f) = env.get("COMPOSE_FILE").filter(|f| !f.is_empty()) {
            let sep = env
                .get("COMPOSE_PATH_SEPARATOR")
                .filter(|s| !s.is_empty())
                .map(String::as_str)
                .unwrap_or(":");
            f.split(sep).map(str::to_string).collect()
        } else {
            Vec::new()
        };
        for f in &given {
            if f == "-" {
                config_paths.push(PathBuf::from("-"));
                continue;
            }
            let p = absolute(cwd, f);
            if !first && !fs.is_file(&p) && !fs.is_dir(&p) {
                return Err(Error::not_found(format!(
                    "open {}: no such file or directory",
                    p.display()
                )));
            }
            config_paths.push(p);
        }
        if config_paths.is_empty() {
            let mut dir = project_dir.clone().unwrap_or_else(|| cwd.to_path_buf());
            loop {
                let found: Vec<PathBuf> = DEFAULT_FILES
                    .iter()
                    .map(|n| dir.join(n))
                    .filter(|p| fs.is_file(p))
                    .collect();
                if let Some(winner) = found.first() {
                    if found.len() > 1 {
                        warnings.push(format!(
                            "Found multiple config files with supported names: {}",
                            join_paths(&found)
                        ));
                        warnings.push(format!("Using {}", winner.display()));
                    }
                    config_paths.push(winner.clone());
                    let overrides: Vec<PathBuf> = OVERRIDE_FILES
                        .iter()
                        .map(|n| dir.join(n))
                        .filter(|p| fs.is_file(p))
                        .collect();
                    if let Some(o) = overrides.first() {
                        if overrides.len() > 1 {
                            warnings.push(format!(
                                "Found multiple override files with supported names: {}",
                                join_paths(&overrides)
                            ));
                            warnings.push(format!("Using {}", o.display()));
                        }
                        config_paths.push(o.clone());
                    }
                    break;
                }
                match dir.parent() {
                    Some(p) => dir = p.to_path_buf(),
                    None => break,
                }
            }
        }
        if config_paths.is_empty() && !first {
            return Err(Error::not_found(
                "no configuration file provided: not found",
            ));
        }
        let working_dir = match project_dir {
            Some(d) => d,
            None => config_paths
                .iter()
                .find(|p| p.as_os_str() != "-")
                .and_then(|p| p.parent().map(Path::to_path_buf))
                .unwrap_or_else(|| cwd.to_path_buf()),
        };

        let named: Vec<String> = if !self.env_files.is_empty() {
            self.env_files.clone()
        } else if let Some(f) = env.get("COMPOSE_ENV_FILES").filter(|f| !f.is_empty()) {
            f.split(',').map(str::to_string).collect()
        } else {
            Vec::new()
        };
        let mut env_files = Vec::new();
        if named.is_empty() {
            let disabled = match env.get("COMPOSE_DISABLE_ENV_FILE") {
                None => false,
                Some(v) => parse_go_bool(v)?,
            };
            let dot = working_dir.join(".env");
            if !disabled && fs.is_file(&dot) {
                env_files.push(dot);
            }
        } else {
            for f in named {
                let p = absolute(cwd, &f);
                if !fs.is_file(&p) && !fs.is_dir(&p) {
                    return Err(Error::other(format!(
                        "Couldn't find env file: {}",
                        p.display()
                    )));
                }
                env_files.push(p);
            }
        }
        Ok(Pass {
            config_paths,
            working_dir,
            env_files,
        })
    }
}

/// The variables of the project's env files (`.env`, `--env-file`, COMPOSE_ENV_FILES). Compose
/// reads them before loading anything, so a file it cannot parse fails the command (exit 1).
fn project_env(
    fs: &dyn Fs,
    env: &Env,
    files: &[PathBuf],
    warnings: &mut Vec<String>,
) -> Result<Env> {
    loader::env_from_files(fs, env, files, warnings).map_err(|e| {
        if e.kind != ErrorKind::Invalid {
            return e;
        }
        let inner = if e.pos.line > 0 {
            format!("line {}: {}", e.pos.line, e.msg)
        } else {
            e.msg.clone()
        };
        let file = if e.pos.file.is_empty() {
            String::new()
        } else {
            format!("failed to read {}: ", e.pos.file)
        };
        Error::other(format!("{file}{inner}"))
    })
}

/// Go's `strconv.ParseBool`, with its error.
fn parse_go_bool(v: &str) -> Result<bool> {
    match v {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Ok(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Ok(false),
        _ => Err(Error::other(format!(
            "strconv.ParseBool: parsing {v:?}: invalid syntax"
        ))),
    }
}

struct Pass {
    config_paths: Vec<PathBuf>,
    working_dir: PathBuf,
    env_files: Vec<PathBuf>,
}

fn absolute(cwd: &Path, p: &str) -> PathBuf {
    use crate::model::paths::{clean, join_clean};
    PathBuf::from(if p.starts_with('/') {
        clean(Path::new(p))
    } else {
        join_clean(cwd, p)
    })
}

fn join_paths(p: &[PathBuf]) -> String {
    p.iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::memfs::MemFs;

    fn resolve(opts: &ProjectOptions, fs: &MemFs) -> Result<Resolved> {
        let mut stdin = || Ok(String::new());
        opts.resolve(Env::new(), Path::new("/w"), fs, &mut stdin, &mut Vec::new())
    }

    #[test]
    fn local_dotenv_can_point_compose_file_elsewhere() {
        // no compose file in the current directory: its `.env` is still read and may set
        // COMPOSE_FILE; the project's own `.env` then fills in what the local one lacks
        let fs = MemFs::default()
            .with("/w/.env", "COMPOSE_FILE=proj/compose.yaml\nV=local\n")
            .with("/w/proj/compose.yaml", "services: {db: {image: x}}\n")
            .with("/w/proj/.env", "V=project\nONLY=p\n");
        let r = resolve(&ProjectOptions::default(), &fs).unwrap();
        assert_eq!(r.load.working_dir, PathBuf::from("/w/proj"));
        assert_eq!(r.load.env.get("V").map(String::as_str), Some("local"));
        assert_eq!(r.load.env.get("ONLY").map(String::as_str), Some("p"));
    }

    #[test]
    fn disable_env_file_must_be_a_go_bool() {
        let fs = MemFs::default()
            .with("/w/.env", "A=dot\n")
            .with("/w/compose.yaml", "services: {a: {image: x}}\n");
        let opts = ProjectOptions::default();
        let run = |v: &str| {
            let env: Env = [("COMPOSE_DISABLE_ENV_FILE".to_string(), v.to_string())]
                .into_iter()
                .collect();
            let mut stdin = || Ok(String::new());
            opts.resolve(env, Path::new("/w"), &fs, &mut stdin, &mut Vec::new())
        };
        assert!(!run("T").unwrap().load.env.contains_key("A"));
        assert_eq!(
            run("0").unwrap().load.env.get("A").map(String::as_str),
            Some("dot")
        );
        let e = run("maybe").unwrap_err();
        assert_eq!(
            e.to_string(),
            "strconv.ParseBool: parsing \"maybe\": invalid syntax"
        );
        assert_eq!(e.exit_code(), 1);
    }

    #[test]
    fn project_env_file_errors_exit_1() {
        let compose = "services: {a: {image: x}}\n";
        let run = |dotenv: &str| {
            let fs = MemFs::default()
                .with("/w/.env", dotenv)
                .with("/w/compose.yaml", compose);
            resolve(&ProjectOptions::default(), &fs)
        };
        let e = run("A=1\nINVALID LINE\n").unwrap_err();
        assert_eq!(e.exit_code(), 1);
        assert_eq!(
            e.to_string(),
            "failed to read /w/.env: line 2: key cannot contain a space"
        );
        let e = run("A=${UNSET_VAR:?Test error}\n").unwrap_err();
        assert_eq!(e.exit_code(), 1);
        assert!(e.to_string().starts_with("failed to read /w/.env: "), "{e}");
        assert!(
            e.to_string()
                .contains("required variable UNSET_VAR is missing a value: Test error"),
            "{e}"
        );
        // an empty name cannot be exported
        let e = run("=\"value\"\n").unwrap_err();
        assert_eq!(
            (e.exit_code(), e.to_string()),
            (1, "setenv: invalid argument".to_string())
        );
    }

    #[test]
    fn no_compose_file_anywhere_is_not_found() {
        let fs = MemFs::default().with("/w/.env", "V=1\n");
        let e = resolve(&ProjectOptions::default(), &fs).unwrap_err();
        assert!(
            e.to_string().contains("no configuration file provided"),
            "{e}"
        );
    }
}
