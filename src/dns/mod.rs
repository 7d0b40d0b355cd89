//! Service discovery: the DNS server that answers a network's service names, container names,
//! aliases, hostnames and links to the containers on it, and forwards every other name to the
//! container's `dns:` servers or the host's resolvers.
//!
//! One server process per berth run directory serves every network (see [`server`]): berth
//! execs itself as `berth __dns-server <run_dir>` (caught in main.rs before clap), it listens on
//! UDP and TCP port 53 of each network's gateway addresses, and answers only clients whose
//! source address is in that network's subnets: with that network's names and, for a known
//! container, the names of the other networks it is on (as Docker's embedded DNS does, so one
//! `nameserver` line serves a container on several networks); a client of another network is
//! REFUSED, and so is an unknown name on an internal network (nothing is forwarded from it).
//! Its records are files berth writes (see
//! [`records`] for the layout and formats); [`ensure`] starts the server or makes it reload,
//! and it exits by itself once no network directory is left.
//!
//! The pure parts ([`store`]: who is answered what; [`message`]: the wire format; [`upstream`]:
//! the host's resolvers) are tested without sockets. Knows nothing of compose, containerd or
//! netlink: `app` decides names and addresses and passes them in as records.

pub mod message;
pub mod records;
pub mod server;
pub mod store;
pub mod upstream;

use std::fs;
use std::io::{self, Read};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

pub use records::{
    remove_container, remove_network, write_container, write_network, ContainerRecord,
    NetworkRecord,
};
pub use server::run_if_invoked;

/// The argv[1] that makes `berth` the DNS server.
pub const SERVER_ARG: &str = "__dns-server";
/// `<run_dir>/dns/server.pid`: the server's pid, and the file it holds a lock on while it runs.
pub const PID_FILE: &str = "server.pid";
/// `<run_dir>/dns/server.sock`: a connection asks the server to reload and is answered "ok"
/// once it has (SIGHUP asks the same without waiting).
pub const CONTROL_SOCKET: &str = "server.sock";
/// `<run_dir>/dns/server.log`: the server's stdout and stderr.
pub const LOG_FILE: &str = "server.log";

/// How long [`ensure`] waits for a server that another berth is starting at the same time.
const START_WAIT: Duration = Duration::from_secs(15);

#[derive(Debug, thiserror::Error)]
pub enum DnsError {
    #[error("invalid {what} name {name:?} for DNS records: {reason}")]
    InvalidName {
        what: &'static str,
        name: String,
        reason: &'static str,
    },
    #[error("{what} {}: {source}", path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(transparent)]
    State(#[from] crate::state::StateError),
    #[error("start the DNS server {}: {detail} (see {})", exe.display(), log.display())]
    Start {
        exe: PathBuf,
        log: PathBuf,
        detail: String,
    },
    #[error("signal the DNS server (pid {pid}): {}", errno.desc())]
    Signal { pid: i32, errno: Errno },
}

fn io_err<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> DnsError + 'a {
    move |source| DnsError::Io {
        what,
        path: path.to_path_buf(),
        source,
    }
}

/// The run directory as the server sees it (it changes directory to /): absolute, and with
/// symbolic links resolved when it exists, so the pid check compares like with like.
fn absolute(run_dir: &Path) -> PathBuf {
    fs::canonicalize(run_dir)
        .or_else(|_| std::path::absolute(run_dir))
        .unwrap_or_else(|_| run_dir.to_path_buf())
}

/// The pid of the DNS server of `run_dir`, when one runs: the pid file names a live process
/// (not a zombie) whose command line is `__dns-server <run_dir>` (a recycled pid is not it).
pub fn server_pid(run_dir: &Path) -> Option<i32> {
    let run_dir = absolute(run_dir);
    let text = fs::read_to_string(records::dns_dir(&run_dir).join(PID_FILE)).ok()?;
    let pid: i32 = text.trim().parse().ok()?;
    is_server(pid, &run_dir).then_some(pid)
}

/// Whether `pid` is a live DNS server of `run_dir`.
pub fn is_server(pid: i32, run_dir: &Path) -> bool {
    let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    // The state follows the parenthesised command name, which may itself hold ") ".
    let state = stat
        .rsplit_once(") ")
        .and_then(|(_, rest)| rest.chars().next());
    if matches!(state, None | Some('Z') | Some('X') | Some('x')) {
        return false;
    }
    let Ok(cmdline) = fs::read(format!("/proc/{pid}/cmdline")) else {
        return false;
    };
    let args: Vec<&[u8]> = cmdline.split(|&b| b == 0).collect();
    let run_dir = run_dir.as_os_str().as_encoded_bytes();
    args.windows(2)
        .any(|w| w[0] == SERVER_ARG.as_bytes() && w[1] == run_dir)
}

/// Makes the DNS server of `run_dir` serve the records on disk now: starts it when none runs
/// (`exe __dns-server <run_dir>`, detached in a session of its own, its output in
/// `<run_dir>/dns/server.log`, so no caller — not even runc waiting on a hook — is kept
/// waiting), else asks it to reload through its control socket. Either way it returns once the
/// server serves the records as they were when it was called. Blocking (call it from
/// `spawn_blocking` in async code).
pub fn ensure(run_dir: &Path, exe: &Path) -> Result<(), DnsError> {
    let run_dir = absolute(run_dir);
    let dir = records::dns_dir(&run_dir);
    fs::create_dir_all(&dir).map_err(io_err("create DNS directory", &dir))?;
    let log = dir.join(LOG_FILE);
    let deadline = Instant::now() + START_WAIT;
    loop {
        if server_pid(&run_dir).is_some() {
            // Refused or cut: it is on its way out (it starts a successor if records appeared
            // meanwhile); try again until it is gone or answers.
            if reload(&dir.join(CONTROL_SOCKET)).is_ok() {
                return Ok(());
            }
        } else {
            match launch(&run_dir, exe, &log)? {
                Launched::Ready => return Ok(()),
                // Another berth is starting one right now: wait for its pid file, then signal
                // it, since it may have read the records before ours were written.
                Launched::AlreadyRunning => {}
            }
        }
        if Instant::now() > deadline {
            return Err(DnsError::Start {
                exe: exe.to_path_buf(),
                log,
                detail: format!(
                    "another server holds {} but did not become ready in {}s",
                    dir.join(PID_FILE).display(),
                    START_WAIT.as_secs()
                ),
            });
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Asks the server at `socket` to reload and waits for it to say it has.
fn reload(socket: &Path) -> io::Result<()> {
    let mut s = UnixStream::connect(socket)?;
    s.set_read_timeout(Some(START_WAIT))?;
    let mut answer = String::new();
    s.read_to_string(&mut answer)?;
    if answer == "ok\n" {
        Ok(())
    } else {
        Err(io::Error::other(format!("unexpected answer {answer:?}")))
    }
}

enum Launched {
    Ready,
    AlreadyRunning,
}

/// Runs `exe __dns-server <run_dir>` and waits for it: it forks the real server and exits 0
/// once that is ready, [`server::EXIT_RUNNING`] when a server holds the pid file's lock.
fn launch(run_dir: &Path, exe: &Path, log: &Path) -> Result<Launched, DnsError> {
    let out = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .map_err(io_err("open DNS server log", log))?;
    let err = out
        .try_clone()
        .map_err(io_err("open DNS server log", log))?;
    let status = Command::new(exe)
        .arg(SERVER_ARG)
        .arg(run_dir)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .status()
        .map_err(|e| DnsError::Start {
            exe: exe.to_path_buf(),
            log: log.to_path_buf(),
            detail: e.to_string(),
        })?;
    match status.code() {
        Some(0) => Ok(Launched::Ready),
        Some(server::EXIT_RUNNING) => Ok(Launched::AlreadyRunning),
        _ => {
            let text = fs::read_to_string(log).unwrap_or_default();
            let last = text.lines().last().unwrap_or("").to_string();
            Err(DnsError::Start {
                exe: exe.to_path_buf(),
                log: log.to_path_buf(),
                detail: format!("{status}: {last}"),
            })
        }
    }
}

fn signal(run_dir: &Path, sig: Signal) -> Result<bool, DnsError> {
    let Some(pid) = server_pid(run_dir) else {
        return Ok(false);
    };
    match kill(Pid::from_raw(pid), sig) {
        Ok(()) => Ok(true),
        Err(Errno::ESRCH) => Ok(false),
        Err(errno) => Err(DnsError::Signal { pid, errno }),
    }
}

/// Makes the running server, if any, reload and waits until it has (after records were
/// removed: it exits when no network is left). False when none runs; never starts one.
pub fn notify(run_dir: &Path) -> Result<bool, DnsError> {
    let run_dir = absolute(run_dir);
    if server_pid(&run_dir).is_none() {
        return Ok(false);
    }
    if reload(&records::dns_dir(&run_dir).join(CONTROL_SOCKET)).is_ok() {
        return Ok(true);
    }
    // On its way out, or not answering: a signal is all we can give it.
    signal(&run_dir, Signal::SIGHUP)
}

/// Stops the running server, if any (SIGTERM); it removes its pid file on the way out.
pub fn stop(run_dir: &Path) -> Result<bool, DnsError> {
    signal(run_dir, Signal::SIGTERM)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!(
            "berth-dns-mod-{}-{name}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn a_pid_file_naming_another_process_is_no_server() {
        let run = scratch("pid");
        assert_eq!(server_pid(&run), None);
        assert!(!notify(&run).unwrap());
        assert!(!stop(&run).unwrap());
        let dir = records::dns_dir(&run);
        fs::create_dir_all(&dir).unwrap();
        // this test process: alive, but not `__dns-server <run>`
        fs::write(dir.join(PID_FILE), format!("{}\n", std::process::id())).unwrap();
        assert_eq!(server_pid(&run), None);
        fs::write(dir.join(PID_FILE), "garbage").unwrap();
        assert_eq!(server_pid(&run), None);
        fs::remove_dir_all(&run).unwrap();
    }

    #[test]
    fn a_server_that_fails_to_start_is_an_error_naming_the_log() {
        let run = scratch("fail");
        let e = ensure(&run, Path::new("/bin/false"))
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("start the DNS server /bin/false: exit status: 1")
                && e.ends_with("server.log)"),
            "{e}"
        );
        let e = ensure(&run, Path::new("/nonexistent/berth"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("No such file or directory"), "{e}");
        fs::remove_dir_all(&run).unwrap();
    }
}
