//! `config`: load the project and render it, or one of its listings, as `docker compose config`.

use std::io::Read;

use crate::model::emit;
use crate::model::error::{Error, ErrorKind, Result};
use crate::model::field::{node_to_out, Fmt};
use crate::model::loader::{self, RealFs};
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
    let mut load = resolved.load.clone();
    load.interpolate = opts.interpolate;
    load.normalize = opts.normalize;
    load.resolve_paths = opts.resolve_paths;

    let loaded = loader::load(&load, &RealFs, warnings)?;
    let fmt = match opts.format {
        Format::Yaml => Fmt::Yaml,
        Format::Json => Fmt::Json,
    };

    if !opts.interpolate && opts.listing.is_none() {
        // the raw model, as a Go map: keys sorted, `$` left alone
        let out = node_to_out(&loaded.model, fmt);
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
}
