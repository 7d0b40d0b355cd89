//! `top`: the processes of each running container, as `docker top` shows them by default
//! (`ps -ef` columns: UID PID PPID C STIME TTY TIME CMD), read from /proc for the pids
//! containerd reports for the task. The /proc parsing is pure and unit-tested.

use std::collections::BTreeMap;

use super::control::VerbOptions;
use super::{lifecycle, AppError};
use crate::plan::ContainerState;

/// Docker's default titles.
pub const TITLES: [&str; 8] = ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"];

/// One container's processes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerTop {
    pub name: String,
    pub processes: Vec<Vec<String>>,
}

pub async fn run(
    opts: &VerbOptions,
    warnings: &mut Vec<String>,
) -> Result<Vec<ContainerTop>, AppError> {
    let name = super::images::project_name(&opts.project, warnings)?.to_lowercase();
    let client = opts.engine.connect().await?;
    let users = passwd_names(&std::fs::read_to_string("/etc/passwd").unwrap_or_default());
    let host = Host::read();
    let mut out = Vec::new();
    for (c, o, _) in lifecycle::observe_containers(&client, &name).await? {
        if !matches!(o.state, ContainerState::Running | ContainerState::Paused)
            || (!opts.services.is_empty() && !opts.services.iter().any(|s| s == o.service()))
        {
            continue;
        }
        let mut pids = client.task_pids(&c.id).await?;
        pids.sort_unstable();
        let processes = pids
            .into_iter()
            .filter_map(|pid| process_row(pid, &users, &host))
            .collect();
        out.push(ContainerTop {
            name: c.id.clone(),
            processes,
        });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// What `ps` needs of the host: boot time, clock ticks, now.
#[derive(Debug, Clone, Copy)]
pub struct Host {
    pub boot_time: i64,
    pub ticks: u64,
    pub now: chrono::DateTime<chrono::Local>,
}

impl Host {
    fn read() -> Host {
        let boot_time = std::fs::read_to_string("/proc/stat")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("btime ").map(|v| v.trim().parse().ok()))
                    .flatten()
            })
            .unwrap_or(0);
        Host {
            boot_time,
            // USER_HZ is 100 on every Linux architecture berth runs on
            ticks: 100,
            now: chrono::Local::now(),
        }
    }
}

fn process_row(pid: u32, users: &BTreeMap<u32, String>, host: &Host) -> Option<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    ps_row(pid, &stat, &status, &cmdline, users, host)
}

/// The fields of /proc/<pid>/stat after the `(comm)`, with comm.
fn split_stat(stat: &str) -> Option<(String, Vec<&str>)> {
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let comm = stat.get(open + 1..close)?.to_owned();
    let rest: Vec<&str> = stat.get(close + 1..)?.split_whitespace().collect();
    Some((comm, rest))
}

/// One `ps -ef` row from a process's /proc files.
pub fn ps_row(
    pid: u32,
    stat: &str,
    status: &str,
    cmdline: &[u8],
    users: &BTreeMap<u32, String>,
    host: &Host,
) -> Option<Vec<String>> {
    let (comm, f) = split_stat(stat)?;
    // after comm: state(0) ppid(1) ... utime(11) stime(12) ... tty_nr(4) ... starttime(19)
    let ppid = f.get(1)?.to_string();
    let tty_nr: i64 = f.get(4)?.parse().ok()?;
    let utime: u64 = f.get(11)?.parse().ok()?;
    let stime: u64 = f.get(12)?.parse().ok()?;
    let start_ticks: u64 = f.get(19)?.parse().ok()?;
    let uid: u32 = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())?;
    let user = users.get(&uid).cloned().unwrap_or_else(|| uid.to_string());
    let cpu_secs = (utime + stime) / host.ticks;
    let start = host.boot_time + i64::try_from(start_ticks / host.ticks).ok()?;
    let elapsed = (host.now.timestamp() - start).max(0) as u64;
    // procps: percent of the time since start spent on a CPU, rounded down
    let c = ((utime + stime) * 100 / host.ticks)
        .checked_div(elapsed)
        .unwrap_or(0);
    let started = chrono::DateTime::from_timestamp(start, 0)?.with_timezone(&chrono::Local);
    let stime_col = if host.now.timestamp() - start < 24 * 3600 {
        started.format("%H:%M").to_string()
    } else if started.format("%Y").to_string() == host.now.format("%Y").to_string() {
        started.format("%b%d").to_string()
    } else {
        started.format("%Y").to_string()
    };
    let tty = if tty_nr == 0 {
        "?".to_owned()
    } else {
        tty_name(tty_nr)
    };
    let time = format!(
        "{:02}:{:02}:{:02}",
        cpu_secs / 3600,
        (cpu_secs / 60) % 60,
        cpu_secs % 60
    );
    let args: Vec<String> = cmdline
        .split(|b| *b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    let cmd = if args.is_empty() {
        format!("[{comm}]")
    } else {
        args.join(" ")
    };
    Some(vec![
        user,
        pid.to_string(),
        ppid,
        c.to_string(),
        stime_col,
        tty,
        time,
        cmd,
    ])
}

/// `pts/N` for a pseudo-terminal (major 136-143), else the raw device number.
fn tty_name(nr: i64) -> String {
    let major = (nr >> 8) & 0xfff;
    let minor = (nr & 0xff) | ((nr >> 12) & 0xfff00);
    if (136..=143).contains(&major) {
        format!("pts/{}", (major - 136) * 256 + minor)
    } else {
        format!("{major}:{minor}")
    }
}

/// uid → name from an /etc/passwd text.
pub fn passwd_names(text: &str) -> BTreeMap<u32, String> {
    text.lines()
        .filter_map(|l| {
            let mut f = l.split(':');
            let name = f.next()?;
            let uid = f.nth(1)?.parse().ok()?;
            Some((uid, name.to_owned()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn a_row_like_ps_ef() {
        let users = passwd_names("root:x:0:0:root:/root:/bin/sh\nbob:x:1000:1000::/:/bin/sh\n");
        let now = chrono::Local.timestamp_opt(1_000_000 + 3600, 0).unwrap();
        let host = Host {
            boot_time: 1_000_000,
            ticks: 100,
            now,
        };
        // started 600 s after boot, 30 s of CPU
        let stat =
            "42 (sleep x) S 7 42 42 0 -1 4194560 100 0 0 0 2000 1000 0 0 20 0 1 0 60000 1000 100";
        let row = ps_row(
            42,
            stat,
            "Name:\tsleep\nUid:\t1000\t1000\t1000\t1000\n",
            b"sleep\x001000\x00",
            &users,
            &host,
        )
        .unwrap();
        let started = chrono::Local
            .timestamp_opt(1_000_600, 0)
            .unwrap()
            .format("%H:%M")
            .to_string();
        assert_eq!(
            row,
            [
                "bob",
                "42",
                "7",
                "1",
                started.as_str(),
                "?",
                "00:00:30",
                "sleep 1000"
            ]
        );
        let kernel = ps_row(43, stat, "Uid:\t5\t5\t5\t5\n", b"", &users, &host).unwrap();
        assert_eq!(kernel[0], "5");
        assert_eq!(kernel[7], "[sleep x]");
    }
}
