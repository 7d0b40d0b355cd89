//! The process of `exec`: the container's own process spec with the command, environment,
//! user, working directory, terminal and privileges changed as Docker's daemon changes them for
//! an exec (moby `daemon/exec.go`, `ReplaceOrAppendEnvValues`). Pure: the image's passwd and
//! group text come in as data.

use oci_spec::runtime::{LinuxCapabilitiesBuilder, Process, Spec, User, UserBuilder};

use super::security::{to_capabilities, ALL_CAPABILITIES};
use super::user::resolve_user;

/// What an exec changes in the container's process.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExecEdits {
    pub args: Vec<String>,
    /// `-e` entries: `KEY=VALUE` sets or replaces; a bare `KEY` removes the variable.
    pub env: Vec<String>,
    /// `-u`: a user as `user:` takes it (name, uid, `name:group`, `uid:gid`).
    pub user: Option<String>,
    /// `-w`: must be absolute.
    pub cwd: Option<String>,
    pub tty: bool,
    pub privileged: bool,
    /// The capability bounding set berth itself runs with (`CapBnd` of /proc/self/status), when
    /// known: `--privileged` grants every capability in it. runc cannot grant one berth lacks
    /// (as inside a container that dropped some).
    pub host_caps: Option<u64>,
    /// The local terminal's size (columns, rows), for the first frame of a TTY exec.
    pub console_size: Option<(u32, u32)>,
}

/// Why an exec process cannot be made.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ExecSpecError {
    #[error("the container's spec has no process to exec from")]
    NoProcess,
    #[error("the container's spec cannot be read: {0}")]
    BadSpec(String),
    /// Docker's text.
    #[error("the working directory '{0}' is invalid, it needs to be an absolute path")]
    RelativeCwd(String),
    /// Docker's text from the user lookup (e.g. `unable to find user x: no matching entries in
    /// passwd file`).
    #[error("{0}")]
    User(String),
    #[error("no command given")]
    NoCommand,
}

/// The container's spec from its JSON record.
pub fn parse_spec(json: &[u8]) -> Result<Spec, ExecSpecError> {
    serde_json::from_slice(json).map_err(|e| ExecSpecError::BadSpec(e.to_string()))
}

/// The process to exec in a container whose spec is `spec`; `passwd` and `group` are the
/// container's /etc/passwd and /etc/group (only read for `-u`).
pub fn exec_process(
    spec: &Spec,
    edits: &ExecEdits,
    passwd: Option<&str>,
    group: Option<&str>,
) -> Result<Process, ExecSpecError> {
    let mut p = spec.process().clone().ok_or(ExecSpecError::NoProcess)?;
    if edits.args.is_empty() {
        return Err(ExecSpecError::NoCommand);
    }
    p.set_args(Some(edits.args.clone()));
    let mut env = p.env().clone().unwrap_or_default();
    if edits.tty {
        // moby `CreateDaemonEnvironment`: TERM=xterm for a TTY unless the container names one
        replace_or_append(&mut env, &[String::from("TERM=xterm")], false);
    }
    replace_or_append(&mut env, &edits.env, true);
    p.set_env(Some(env));
    if let Some(cwd) = &edits.cwd {
        if !cwd.starts_with('/') {
            return Err(ExecSpecError::RelativeCwd(cwd.clone()));
        }
        p.set_cwd(cwd.into());
    }
    if let Some(u) = edits.user.as_deref().filter(|u| !u.is_empty()) {
        let r = resolve_user(u, &[], passwd, group).map_err(ExecSpecError::User)?;
        let user: User = UserBuilder::default()
            .uid(r.uid)
            .gid(r.gid)
            .additional_gids(r.additional_gids)
            .build()
            .map_err(|e| ExecSpecError::User(e.to_string()))?;
        p.set_user(user);
    }
    p.set_terminal(Some(edits.tty));
    p.set_console_size(None);
    if edits.tty {
        if let Some((w, h)) = edits.console_size {
            p.set_console_size(
                oci_spec::runtime::BoxBuilder::default()
                    .width(w)
                    .height(h)
                    .build()
                    .ok(),
            );
        }
    }
    if edits.privileged {
        let names = caps_in_mask(edits.host_caps.unwrap_or(u64::MAX));
        let all = to_capabilities(&names).map_err(|e| ExecSpecError::BadSpec(format!("{e:?}")))?;
        let caps = LinuxCapabilitiesBuilder::default()
            .bounding(all.clone())
            .effective(all.clone())
            .permitted(all.clone())
            .inheritable(all.clone())
            .ambient(all)
            .build()
            .map_err(|e| ExecSpecError::BadSpec(e.to_string()))?;
        p.set_capabilities(Some(caps));
        p.set_no_new_privileges(Some(false));
    }
    Ok(p)
}

/// The capabilities whose bits are set in `mask` (bit N is capability number N; ALL_CAPABILITIES
/// is in that order).
pub fn caps_in_mask(mask: u64) -> Vec<String> {
    ALL_CAPABILITIES
        .iter()
        .enumerate()
        .filter(|(i, _)| *i < 64 && mask & (1u64 << i) != 0)
        .map(|(_, c)| c.to_string())
        .collect()
}

/// The `CapBnd` mask of a /proc/<pid>/status text.
pub fn bounding_mask(status: &str) -> Option<u64> {
    let hex = status
        .lines()
        .find_map(|l| l.strip_prefix("CapBnd:"))?
        .trim();
    u64::from_str_radix(hex, 16).ok()
}

/// moby `ReplaceOrAppendEnvValues`: each `KEY=VALUE` of `new` replaces the entry with that key
/// or is appended; with `removals`, a bare `KEY` deletes the entry.
fn replace_or_append(env: &mut Vec<String>, new: &[String], removals: bool) {
    for e in new {
        match e.split_once('=') {
            Some((k, _)) => {
                match env
                    .iter_mut()
                    .find(|x| x.split_once('=').map_or(x.as_str(), |(xk, _)| xk) == k)
                {
                    Some(slot) => *slot = e.clone(),
                    None => env.push(e.clone()),
                }
            }
            None if removals => {
                env.retain(|x| x.split_once('=').map_or(x.as_str(), |(k, _)| k) != e)
            }
            None => {}
        }
    }
}

/// An exec id for containerd: `berth-exec-` and 16 hex digits of `random`.
pub fn exec_id(random: &[u8; 8]) -> String {
    format!("berth-exec-{}", hex(random))
}

/// Docker Compose's name for a one-off container: `<project>-<service>-run-<slug[:12]>`
/// (compose `run.go` `prepareRun`, `stringid.TruncateID`).
pub fn oneoff_name(project: &str, service: &str, slug: &str) -> String {
    let short: String = slug.chars().take(12).collect();
    format!("{project}-{service}-run-{short}")
}

/// Lower-case hex of `bytes` (a compose slug is 32 random bytes in hex).
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::{Capability, ProcessBuilder};

    fn spec() -> Spec {
        let mut s = Spec::default();
        let p = ProcessBuilder::default()
            .args(vec!["sleep".to_string(), "100".to_string()])
            .env(vec![
                "PATH=/bin".to_string(),
                "A=1".to_string(),
                "B=2".to_string(),
            ])
            .cwd("/srv")
            .user(UserBuilder::default().uid(5u32).gid(6u32).build().unwrap())
            .terminal(false)
            .build()
            .unwrap();
        s.set_process(Some(p));
        s
    }

    fn edits(args: &[&str]) -> ExecEdits {
        ExecEdits {
            args: args.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn command_replaces_args_and_keeps_the_rest() {
        let p = exec_process(&spec(), &edits(&["id", "-u"]), None, None).unwrap();
        assert_eq!(p.args().as_deref().unwrap(), ["id", "-u"]);
        assert_eq!(p.cwd().to_str(), Some("/srv"));
        assert_eq!(p.user().uid(), 5);
        assert_eq!(p.terminal(), Some(false));
        assert_eq!(p.env().as_deref().unwrap(), ["PATH=/bin", "A=1", "B=2"]);
    }

    #[test]
    fn env_entries_replace_append_and_remove() {
        let mut e = edits(&["env"]);
        e.env = vec!["A=x".into(), "C=3".into(), "B".into()];
        let p = exec_process(&spec(), &e, None, None).unwrap();
        assert_eq!(p.env().as_deref().unwrap(), ["PATH=/bin", "A=x", "C=3"]);
    }

    #[test]
    fn tty_sets_terminal_term_and_size() {
        let mut e = edits(&["sh"]);
        e.tty = true;
        e.console_size = Some((120, 40));
        let p = exec_process(&spec(), &e, None, None).unwrap();
        assert_eq!(p.terminal(), Some(true));
        assert!(p
            .env()
            .as_ref()
            .unwrap()
            .contains(&"TERM=xterm".to_string()));
        let size = p.console_size().unwrap();
        assert_eq!((size.width(), size.height()), (120, 40));
    }

    #[test]
    fn workdir_must_be_absolute() {
        let mut e = edits(&["pwd"]);
        e.cwd = Some("tmp".into());
        assert_eq!(
            exec_process(&spec(), &e, None, None)
                .unwrap_err()
                .to_string(),
            "the working directory 'tmp' is invalid, it needs to be an absolute path"
        );
        e.cwd = Some("/tmp".into());
        let p = exec_process(&spec(), &e, None, None).unwrap();
        assert_eq!(p.cwd().to_str(), Some("/tmp"));
    }

    #[test]
    fn user_names_resolve_against_the_containers_passwd() {
        let passwd = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65533:nobody:/:/bin/false\n";
        let group = "root:x:0:\nnogroup:x:65533:\nextra:x:7:nobody\n";
        let mut e = edits(&["id"]);
        e.user = Some("nobody".into());
        let p = exec_process(&spec(), &e, Some(passwd), Some(group)).unwrap();
        assert_eq!((p.user().uid(), p.user().gid()), (65534, 65533));
        assert!(p.user().additional_gids().as_ref().unwrap().contains(&7));
        e.user = Some("ghost".into());
        let err = exec_process(&spec(), &e, Some(passwd), Some(group)).unwrap_err();
        assert!(
            err.to_string().contains("unable to find user ghost"),
            "{err}"
        );
        e.user = Some("1234".into());
        let p = exec_process(&spec(), &e, Some(passwd), None).unwrap();
        assert_eq!(p.user().uid(), 1234);
    }

    #[test]
    fn privileged_grants_every_capability() {
        let mut e = edits(&["sh"]);
        e.privileged = true;
        let p = exec_process(&spec(), &e, None, None).unwrap();
        let caps = p.capabilities().as_ref().unwrap();
        assert!(caps
            .effective()
            .as_ref()
            .unwrap()
            .contains(&Capability::SysAdmin));
        assert_eq!(
            caps.bounding().as_ref().unwrap().len(),
            ALL_CAPABILITIES.len()
        );
    }

    #[test]
    fn privileged_stays_within_berths_own_bounding_set() {
        let status = "Name:\tberth\nCapBnd:\t000001fffeffffff\nCapAmb:\t0\n";
        let mask = bounding_mask(status).unwrap();
        let names = caps_in_mask(mask);
        assert!(!names.contains(&"CAP_SYS_RESOURCE".to_string()));
        assert!(names.contains(&"CAP_SYS_ADMIN".to_string()));
        assert_eq!(names.len(), ALL_CAPABILITIES.len() - 1);
        assert_eq!(caps_in_mask(1), ["CAP_CHOWN"]);
        assert_eq!(ALL_CAPABILITIES[24], "CAP_SYS_RESOURCE");
        let mut e = edits(&["sh"]);
        e.privileged = true;
        e.host_caps = Some(mask);
        let p = exec_process(&spec(), &e, None, None).unwrap();
        let caps = p.capabilities().as_ref().unwrap();
        assert!(!caps
            .effective()
            .as_ref()
            .unwrap()
            .contains(&Capability::SysResource));
        assert_eq!(bounding_mask("nothing"), None);
    }

    #[test]
    fn no_process_or_command_is_an_error() {
        assert_eq!(
            exec_process(&Spec::default(), &edits(&[]), None, None).unwrap_err(),
            ExecSpecError::NoCommand
        );
        let mut s = Spec::default();
        s.set_process(None);
        assert_eq!(
            exec_process(&s, &edits(&["x"]), None, None).unwrap_err(),
            ExecSpecError::NoProcess
        );
    }

    #[test]
    fn names_follow_compose() {
        let slug = hex(&[0xab; 32]);
        assert_eq!(slug.len(), 64);
        assert_eq!(
            oneoff_name("proj", "web", &slug),
            "proj-web-run-abababababab"
        );
        assert_eq!(
            exec_id(&[1, 2, 3, 4, 5, 6, 7, 8]),
            "berth-exec-0102030405060708"
        );
    }
}
