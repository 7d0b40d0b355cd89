//! The process: args (entrypoint/command against the image, `init`), environment and working
//! directory, following the Docker daemon's merge of container and image config.

use indexmap::IndexMap;
use oci_spec::image::Config as ImageConfig;

use super::error::{Fail, Result};
use crate::model::types::ServiceConfig;

/// Docker's default `PATH` (moby `oci.DefaultPathEnv`).
pub const DEFAULT_PATH_ENV: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Where Docker puts the init binary in the container.
pub const INIT_PATH_IN_CONTAINER: &str = "/sbin/docker-init";

/// The command line, as the Docker daemon merges container and image config: an empty (unset or
/// `[]`) service entrypoint takes the image's Cmd when the service command is empty too, and an
/// unset one takes the image's Entrypoint. A non-empty service entrypoint drops the image's Cmd.
/// So `command: []` alone keeps the image's Cmd, exactly as with Docker.
pub(crate) fn args(service: &ServiceConfig, image: Option<&ImageConfig>) -> Result<Vec<String>> {
    let image_ep = image.and_then(|c| c.entrypoint().clone());
    let image_cmd = image.and_then(|c| c.cmd().clone());
    let mut entrypoint = service.entrypoint.0.clone();
    let mut cmd = service.command.0.clone();
    if entrypoint.as_ref().is_none_or(Vec::is_empty) {
        if cmd.as_ref().is_none_or(Vec::is_empty) {
            cmd = image_cmd;
        }
        if entrypoint.is_none() {
            entrypoint = image_ep;
        }
    }
    let args: Vec<String> = entrypoint
        .unwrap_or_default()
        .into_iter()
        .chain(cmd.unwrap_or_default())
        .collect();
    if args.is_empty() {
        return Err(Fail::new("command", "no command specified"));
    }
    Ok(args)
}

/// `args` behind the init binary: `/sbin/docker-init -- args...`.
pub(crate) fn with_init(args: Vec<String>) -> Vec<String> {
    let mut out = vec![INIT_PATH_IN_CONTAINER.to_string(), "--".to_string()];
    out.extend(args);
    out
}

fn env_key(e: &str) -> &str {
    e.split_once('=').map_or(e, |(k, _)| k)
}

/// The environment: `PATH` (Docker's default), `HOSTNAME`, `TERM=xterm` with a tty and
/// `extra` first, each replaced in place by a later value; then the service's `environment` in
/// its order, then the image's `Env` entries the service does not name. A service variable
/// without a value (`KEY`, or `KEY: null` after interpolation) removes the key altogether,
/// including the image's value and the defaults, as Docker does with `KEY` entries.
pub(crate) fn env(
    service: &ServiceConfig,
    image: Option<&ImageConfig>,
    hostname: &str,
    extra: &[String],
) -> Vec<String> {
    // The container config's env: the service's, then the image's that it does not override.
    let mut config: Vec<String> = service
        .environment
        .iter()
        .map(|(k, v)| match v {
            Some(v) => format!("{k}={v}"),
            None => k.clone(),
        })
        .collect();
    for e in image.and_then(|c| c.env().as_ref()).into_iter().flatten() {
        let key = env_key(e);
        if !service.environment.contains_key(key) {
            config.push(e.clone());
        }
    }

    let mut defaults = vec![
        format!("PATH={DEFAULT_PATH_ENV}"),
        format!("HOSTNAME={hostname}"),
    ];
    if service.tty {
        defaults.push("TERM=xterm".to_string());
    }
    defaults.extend(extra.iter().cloned());
    replace_or_append(defaults, config)
}

/// moby `ReplaceOrAppendEnvValues`: an override replaces a default with the same key in place or
/// is appended; an override without `=` removes the default. Later duplicates win.
fn replace_or_append(defaults: Vec<String>, overrides: Vec<String>) -> Vec<String> {
    let mut out: IndexMap<String, Option<String>> = IndexMap::new();
    for d in defaults {
        out.insert(env_key(&d).to_string(), Some(d));
    }
    for o in overrides {
        if o.contains('=') {
            out.insert(env_key(&o).to_string(), Some(o));
        } else if let Some(slot) = out.get_mut(&o) {
            *slot = None;
        }
    }
    out.into_values().flatten().collect()
}

/// `working_dir`, else the image's `WorkingDir`, else `/`. Docker refuses a relative
/// `working_dir`; a relative image value is taken from `/`.
pub(crate) fn cwd(service: &ServiceConfig, image: Option<&ImageConfig>) -> Result<String> {
    if !service.working_dir.is_empty() {
        if !service.working_dir.starts_with('/') {
            return Err(Fail::new(
                format!("working_dir {:?}", service.working_dir),
                format!(
                    "the working directory '{}' is invalid, it needs to be an absolute path",
                    service.working_dir
                ),
            ));
        }
        return Ok(service.working_dir.clone());
    }
    match image.and_then(|c| c.working_dir().as_deref()) {
        Some(w) if !w.is_empty() && w.starts_with('/') => Ok(w.to_string()),
        Some(w) if !w.is_empty() => Ok(format!("/{w}")),
        _ => Ok("/".to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::types::{MappingWithEquals, ShellCommand};
    use oci_spec::image::ConfigBuilder;

    fn v(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| x.to_string()).collect()
    }

    fn image(ep: Option<&[&str]>, cmd: Option<&[&str]>) -> ImageConfig {
        let mut b = ConfigBuilder::default();
        if let Some(ep) = ep {
            b = b.entrypoint(v(ep));
        }
        if let Some(cmd) = cmd {
            b = b.cmd(v(cmd));
        }
        b.build().unwrap()
    }

    fn svc(ep: Option<&[&str]>, cmd: Option<&[&str]>) -> ServiceConfig {
        ServiceConfig {
            entrypoint: ShellCommand(ep.map(v)),
            command: ShellCommand(cmd.map(v)),
            ..Default::default()
        }
    }

    #[test]
    fn args_follow_dockers_merge() {
        let img = image(Some(&["/entry.sh"]), Some(&["serve"]));
        let a = |ep, cmd| args(&svc(ep, cmd), Some(&img));
        assert_eq!(a(None, None).unwrap(), v(&["/entry.sh", "serve"]));
        assert_eq!(a(None, Some(&["run"])).unwrap(), v(&["/entry.sh", "run"]));
        // a service entrypoint drops the image's Cmd
        assert_eq!(a(Some(&["sh", "-c"]), None).unwrap(), v(&["sh", "-c"]));
        assert_eq!(
            a(Some(&["sh", "-c"]), Some(&["echo"])).unwrap(),
            v(&["sh", "-c", "echo"])
        );
        // `entrypoint: []` clears the image's entrypoint but keeps its Cmd
        assert_eq!(a(Some(&[]), None).unwrap(), v(&["serve"]));
        assert_eq!(a(Some(&[]), Some(&["ls"])).unwrap(), v(&["ls"]));
        // `command: []` alone keeps the image's Cmd (Docker's daemon treats empty as unset)
        assert_eq!(a(None, Some(&[])).unwrap(), v(&["/entry.sh", "serve"]));
    }

    #[test]
    fn no_command_is_an_error() {
        let img = image(None, None);
        let e = args(&svc(None, None), Some(&img)).unwrap_err();
        assert!(matches!(e, Fail::Option { ref message, .. } if message == "no command specified"));
        assert!(args(&svc(Some(&[]), Some(&[])), None).is_err());
    }

    #[test]
    fn init_goes_first() {
        assert_eq!(
            with_init(v(&["nginx"])),
            v(&["/sbin/docker-init", "--", "nginx"])
        );
    }

    #[test]
    fn env_order_defaults_and_unset() {
        let img = ConfigBuilder::default()
            .env(v(&["PATH=/opt/bin:/bin", "LANG=C", "DEBUG=1"]))
            .build()
            .unwrap();
        let mut environment = MappingWithEquals::default();
        environment.insert("A".into(), Some("x=y".into()));
        environment.insert("DEBUG".into(), None);
        environment.insert("LANG".into(), Some("en".into()));
        let s = ServiceConfig {
            environment,
            tty: true,
            ..Default::default()
        };
        assert_eq!(
            env(&s, Some(&img), "web-1", &[]),
            v(&[
                "PATH=/opt/bin:/bin",
                "HOSTNAME=web-1",
                "TERM=xterm",
                "A=x=y",
                "LANG=en"
            ])
        );
    }

    #[test]
    fn env_default_path_and_unsetting_defaults() {
        let mut environment = MappingWithEquals::default();
        environment.insert("HOSTNAME".into(), None);
        let s = ServiceConfig {
            environment,
            ..Default::default()
        };
        assert_eq!(
            env(&s, None, "h", &v(&["LINKED=1"])),
            v(&[&format!("PATH={DEFAULT_PATH_ENV}"), "LINKED=1"])
        );
    }

    #[test]
    fn cwd_precedence() {
        let img = ConfigBuilder::default()
            .working_dir("/srv".to_string())
            .build()
            .unwrap();
        let mut s = ServiceConfig::default();
        assert_eq!(cwd(&s, Some(&img)).unwrap(), "/srv");
        assert_eq!(cwd(&s, None).unwrap(), "/");
        s.working_dir = "/app".into();
        assert_eq!(cwd(&s, Some(&img)).unwrap(), "/app");
        s.working_dir = "app".into();
        assert!(cwd(&s, None).is_err());
    }
}
