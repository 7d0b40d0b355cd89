//! `config`: load the project and render it, or one of its listings, as `docker compose config`.

use std::io::Read;

use crate::model::emit;
use crate::model::error::{Error, ErrorKind, Result};
use crate::model::field::{node_to_out, Fmt, Out};
use crate::model::loader::{self, RealFs};
use crate::model::node::{Node, Value};
use crate::model::project::{self, ProjectSettings};

use super::ProjectOptions;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Yaml,
    Json,
}

/// The one-per-line listings `config` can print instead of the model.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Listing {
    Services,
    Volumes,
    /// `--hash`: `*` or a comma-separated list of services.
    Hash(String),
    Profiles,
    Images,
}

#[derive(Clone, Debug)]
pub struct ConfigOptions {
    pub project: ProjectOptions,
    pub services: Vec<String>,
    pub format: Format,
    pub interpolate: bool,
    pub normalize: bool,
    pub resolve_paths: bool,
    pub consistency: bool,
    pub listing: Option<Listing>,
}

/// Renders what `config` prints; warnings are collected for the CLI to show.
pub fn run(opts: &ConfigOptions, warnings: &mut Vec<String>) -> Result<String> {
    render(opts, warnings).map_err(|e| classify(opts, e))
}

/// Compose prints the uninterpolated model (`--no-interpolate` without a listing) through a
/// path that does not classify its errors: whatever fails there exits 1.
fn classify(opts: &ConfigOptions, e: Error) -> Error {
    if !opts.interpolate && opts.listing.is_none() {
        Error {
            kind: ErrorKind::Other,
            ..e
        }
    } else {
        e
    }
}

fn render(opts: &ConfigOptions, warnings: &mut Vec<String>) -> Result<String> {
    let cwd = std::env::current_dir().map_err(|e| Error::other(format!("getwd: {e}")))?;
    let os_env: loader::Env = std::env::vars().collect();
    let mut stdin = || {
        let mut s = String::new();
        std::io::stdin().read_to_string(&mut s).map(|_| s)
    };
    let resolved = opts
        .project
        .resolve(os_env, &cwd, &RealFs, &mut stdin, warnings)?;
    let load = load_options(opts, &resolved.load);

    let loaded = loader::load(&load, &RealFs, warnings)?;
    let fmt = match opts.format {
        Format::Yaml => Fmt::Yaml,
        Format::Json => Fmt::Json,
    };

    if !opts.interpolate && opts.listing.is_none() {
        // the raw model, as a Go map: keys sorted, `$` left alone
        let out = raw_model_out(&loaded.model, fmt, opts.normalize);
        return Ok(match fmt {
            Fmt::Yaml => emit::to_yaml(&out),
            Fmt::Json => emit::to_json(&out, true),
        });
    }

    let settings = ProjectSettings {
        profiles: resolved.profiles.clone(),
        consistency: opts.consistency,
        resolve_environment: opts.listing.is_none(),
        discard_env_files: true,
        services: if opts.listing.is_none() || opts.listing == Some(Listing::Images) {
            opts.services.clone()
        } else {
            Vec::new()
        },
    };
    let project = project::build(&loaded, &loaded.env, &RealFs, &settings, warnings)?;

    let text = match &opts.listing {
        Some(Listing::Services) => lines(project::services_in_order(&project)?),
        Some(Listing::Volumes) => lines(project.volumes.keys().cloned()),
        Some(Listing::Profiles) => {
            let mut all: Vec<String> = project::all_profiles(&loaded, &project);
            all.sort();
            all.dedup();
            lines(all)
        }
        Some(Listing::Images) => lines(
            project
                .services
                .iter()
                .map(|(name, s)| project::image_name(&project.name, name, s)),
        ),
        Some(Listing::Hash(which)) => {
            let mut names: Vec<String> = if which == "*" {
                project.services.keys().cloned().collect()
            } else {
                which.split(',').map(str::to_string).collect()
            };
            names.sort();
            let mut out = String::new();
            for n in names {
                let svc = project
                    .services
                    .get(&n)
                    .ok_or_else(|| Error::invalid(format!("no such service: {n}")))?;
                out.push_str(&format!("{n} {}\n", project::service_hash(svc)));
            }
            out
        }
        None => {
            if fmt == Fmt::Json {
                project::check_json_encodable(&project)?;
            }
            let out = project.to_out(fmt);
            let text = match fmt {
                Fmt::Yaml => emit::to_yaml(&out),
                Fmt::Json => emit::to_json(&out, true),
            };
            text.replace('$', "$$")
        }
    };
    Ok(text)
}

/// The loader options `config` uses. In the raw model (`--no-interpolate` without a listing)
/// compose resolves bare `environment` entries, build args and `environment`-sourced secrets
/// and configs against nothing but the project name.
fn load_options(opts: &ConfigOptions, base: &loader::LoadOptions) -> loader::LoadOptions {
    let mut load = base.clone();
    load.interpolate = opts.interpolate;
    load.normalize = opts.normalize;
    load.resolve_paths = opts.resolve_paths;
    if !opts.interpolate && opts.listing.is_none() {
        load.resolve_from_env = false;
    }
    load
}

/// Lists of the raw model that compose-go rebuilds, after dropping empty values, as non-nil
/// slices (its uniqueness pass, the same table the schema uses), so they print `[]` in JSON when
/// empty. Every other empty list of the raw model is a Go nil slice and prints `null` (YAML
/// prints `[]` either way).
use crate::model::schema::rules::DEDUPED as KEPT_EMPTY_LISTS;

/// Lists that normalization resolves into a fresh slice, nil when nothing is left.
const NORMALIZED_LISTS: &[&str] = &["services.*.environment", "services.*.build.args"];

fn path_matches(path: &[&str], pattern: &str) -> bool {
    let pat: Vec<&str> = pattern.split('.').collect();
    pat.len() == path.len() && pat.iter().zip(path).all(|(p, k)| *p == "*" || p == k)
}

/// The raw (uninterpolated) model as compose prints it: a Go map, where an empty list is `null`
/// in JSON unless it sits at a path compose rebuilds as a non-nil slice.
fn raw_model_out(n: &Node, f: Fmt, normalize: bool) -> Out {
    if f == Fmt::Yaml {
        return node_to_out(n, f);
    }
    let mut path = Vec::new();
    raw_json_out(n, &mut path, normalize)
}

fn raw_json_out<'a>(n: &'a Node, path: &mut Vec<&'a str>, normalize: bool) -> Out {
    match &n.v {
        Value::Seq(s) if s.is_empty() => {
            let kept = KEPT_EMPTY_LISTS.iter().any(|p| path_matches(path, p))
                && !(normalize && NORMALIZED_LISTS.iter().any(|p| path_matches(path, p)));
            if kept {
                Out::Seq(Vec::new())
            } else {
                Out::Null
            }
        }
        Value::Seq(s) => Out::Seq(
            s.iter()
                .map(|v| {
                    path.push("[]");
                    let o = raw_json_out(v, path, normalize);
                    path.pop();
                    o
                })
                .collect(),
        ),
        Value::Map(m) => Out::sorted_map_for(
            m.iter()
                .map(|(k, v)| {
                    path.push(k.as_str());
                    let o = raw_json_out(v, path, normalize);
                    path.pop();
                    (k.clone(), o)
                })
                .collect(),
            Fmt::Json,
        ),
        _ => node_to_out(n, Fmt::Json),
    }
}

fn lines(items: impl IntoIterator<Item = String>) -> String {
    let mut out = String::new();
    for i in items {
        out.push_str(&i);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_model_errors_exit_1() {
        let mut opts = ConfigOptions {
            project: ProjectOptions::default(),
            services: Vec::new(),
            format: Format::Yaml,
            interpolate: false,
            normalize: true,
            resolve_paths: true,
            consistency: true,
            listing: None,
        };
        let e = || Error::invalid("bad");
        assert_eq!(classify(&opts, e()).exit_code(), 1);
        assert_eq!(classify(&opts, Error::not_found("x")).exit_code(), 1);
        opts.listing = Some(Listing::Services);
        assert_eq!(classify(&opts, e()).exit_code(), 15);
        opts.listing = None;
        opts.interpolate = true;
        assert_eq!(classify(&opts, e()).exit_code(), 15);
    }

    #[test]
    fn raw_model_is_loaded_without_the_environment() {
        let mut opts = ConfigOptions {
            project: ProjectOptions::default(),
            services: Vec::new(),
            format: Format::Yaml,
            interpolate: false,
            normalize: true,
            resolve_paths: true,
            consistency: true,
            listing: None,
        };
        let env: loader::Env = [("DEBUG".to_string(), "1".to_string())]
            .into_iter()
            .collect();
        let base = loader::LoadOptions::new("/p".into(), Vec::new(), env);
        assert!(!load_options(&opts, &base).resolve_from_env);
        // a listing, or interpolation, resolves from the environment
        opts.listing = Some(Listing::Services);
        assert!(load_options(&opts, &base).resolve_from_env);
        opts.listing = None;
        opts.interpolate = true;
        assert!(load_options(&opts, &base).resolve_from_env);
    }

    fn raw_json(src: &str, normalize: bool) -> String {
        let doc = crate::model::yaml::parse(src, &"compose.yaml".into())
            .unwrap()
            .remove(0);
        emit::to_json(&raw_model_out(&doc, Fmt::Json, normalize), false)
    }

    #[test]
    fn raw_model_empty_lists_are_null_in_json_unless_rebuilt() {
        let src = "services:\n  s:\n    entrypoint: []\n    cap_add: []\n    environment: []\n    healthcheck: {test: []}\n    x-a: [[]]\nnetworks:\n  n: {labels: [], ipam: {config: []}}\n";
        let out = raw_json(src, true);
        assert!(out.contains(r#""entrypoint":null"#), "{out}");
        assert!(out.contains(r#""cap_add":[]"#), "{out}");
        assert!(out.contains(r#""environment":null"#), "{out}");
        assert!(out.contains(r#""test":null"#), "{out}");
        assert!(out.contains(r#""x-a":[null]"#), "{out}");
        assert!(out.contains(r#""labels":[]"#), "{out}");
        assert!(out.contains(r#""config":null"#), "{out}");
        // without normalization the environment list stays a non-nil slice
        assert!(raw_json(src, false).contains(r#""environment":[]"#));
        // YAML prints `[]` for both
        let doc = crate::model::yaml::parse(src, &"compose.yaml".into())
            .unwrap()
            .remove(0);
        let y = emit::to_yaml(&raw_model_out(&doc, Fmt::Yaml, true));
        assert!(y.contains("entrypoint: []"), "{y}");
    }
}
