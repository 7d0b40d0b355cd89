//! `berth logs`, and the printer attached `up` shares: lines behind compose's coloured
//! `name  | ` prefixes.

use std::io::{IsTerminal, Write};
use std::sync::Mutex;

use clap::Args;

use super::{print_warnings, GlobalArgs};
use crate::app::follow::LogOutput;
use crate::app::logs::{self as app, LogsOptions};
use crate::logs::prefix::LogFormatter;
use crate::logs::Stream;

#[derive(Args, Debug)]
pub struct LogsArgs {
    #[arg(value_name = "SERVICE")]
    pub services: Vec<String>,
    /// Follow log output (`-f` after `logs`; see [`follow_short_flag`])
    #[arg(long)]
    pub follow: bool,
    /// index of the container if service has multiple replicas
    #[arg(long, default_value_t = 0)]
    pub index: i64,
    /// Show logs since timestamp (e.g. 2013-01-02T13:23:37Z) or relative (e.g. 42m for 42 minutes)
    #[arg(long)]
    pub since: Option<String>,
    /// Show logs before a timestamp (e.g. 2013-01-02T13:23:37Z) or relative (e.g. 42m for 42 minutes)
    #[arg(long)]
    pub until: Option<String>,
    /// Produce monochrome output
    #[arg(long)]
    pub no_color: bool,
    /// Don't print prefix in logs
    #[arg(long)]
    pub no_log_prefix: bool,
    /// Show timestamps
    #[arg(short, long)]
    pub timestamps: bool,
    /// Number of lines to show from the end of the logs for each container
    #[arg(short = 'n', long, default_value = "all")]
    pub tail: String,
}

/// The global options that take a value in the next argument, for finding the verb.
const VALUED_GLOBALS: [&str; 13] = [
    "-f",
    "--file",
    "-p",
    "--project-name",
    "--project-directory",
    "--env-file",
    "--profile",
    "--progress",
    "--ansi",
    "--parallel",
    "--address",
    "--namespace",
    "--hosts-dir",
];

/// `logs -f` means `--follow`, `rm -f` `--force` and `version -f` `--format`, while `-f` before the verb is the global
/// `--file` (compose's cobra lets a subcommand's flag shadow a persistent one; clap does not):
/// after those verbs, `-f` (alone or in a cluster of short flags such as `-ft`) is rewritten
/// to the long flag.
pub fn follow_short_flag(args: Vec<std::ffi::OsString>) -> Vec<std::ffi::OsString> {
    let mut out = Vec::with_capacity(args.len());
    let mut iter = args.into_iter();
    if let Some(program) = iter.next() {
        out.push(program);
    }
    // the verb's long name for -f, and the short flags that may share a cluster with it
    let mut verb: Option<(&str, &str)> = None;
    let mut skip_value = false;
    while let Some(a) = iter.next() {
        let s = a.to_str().unwrap_or("").to_owned();
        if let Some((long, cluster)) = verb {
            if s == "--" {
                verb = None;
            } else if s.len() > 1
                && s.starts_with('-')
                && !s.starts_with("--")
                && s.contains('f')
                && s[1..].chars().all(|c| cluster.contains(c))
            {
                out.push(long.into());
                let rest: String = s[1..].chars().filter(|c| *c != 'f').collect();
                if !rest.is_empty() {
                    out.push(format!("-{rest}").into());
                }
                continue;
            }
            out.push(a);
            continue;
        }
        if skip_value {
            skip_value = false;
        } else if VALUED_GLOBALS.contains(&s.as_str()) {
            skip_value = true;
        } else if !s.starts_with('-') {
            // the verb
            verb = match s.as_str() {
                "logs" => Some(("--follow", "ft")),
                "rm" => Some(("--force", "fsv")),
                "version" => Some(("--format", "f")),
                _ => None,
            };
            if verb.is_none() {
                out.push(a);
                out.extend(iter.by_ref());
                return out;
            }
        }
        out.push(a);
    }
    out
}

/// Whether log prefixes are coloured: compose's `--ansi` (or COMPOSE_ANSI), `auto` meaning
/// stdout is a terminal, and NO_COLOR turning colours off.
pub(crate) fn colors(global: &GlobalArgs) -> bool {
    let ansi_given = std::env::args().any(|a| a == "--ansi" || a.starts_with("--ansi="));
    let env = std::env::var("COMPOSE_ANSI").ok();
    let ansi =
        crate::progress::effective_ansi(ansi_given.then_some(global.ansi.as_str()), env.as_deref());
    let no_color = std::env::var("NO_COLOR").is_ok_and(|v| !v.is_empty());
    let on = match ansi.as_str() {
        "always" => true,
        "never" => false,
        _ => std::io::stdout().is_terminal(),
    };
    on && !no_color
}

/// Formats and prints [`LogOutput`]s as they come. `split_stderr`: a container's stderr lines
/// go to berth's stderr (attached `up`), else everything to stdout (`logs`).
pub(crate) struct Printer {
    formatter: Mutex<LogFormatter>,
    split_stderr: bool,
}

impl Printer {
    pub(crate) fn new(color: bool, prefix: bool, split_stderr: bool) -> Printer {
        Printer {
            formatter: Mutex::new(LogFormatter::new(color, prefix)),
            split_stderr,
        }
    }

    pub(crate) fn print(&self, o: LogOutput) {
        // a poisoned lock only means another print panicked; the formatter is still whole
        let mut f = self
            .formatter
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match o {
            LogOutput::Register(name) => f.register(&name),
            LogOutput::Attaching(names) => {
                let _ = writeln!(
                    std::io::stdout().lock(),
                    "Attaching to {}",
                    names.join(", ")
                );
            }
            LogOutput::Line {
                container,
                stream,
                text,
            } => {
                let line = f.line(&container, &text);
                if self.split_stderr && stream == Stream::Stderr {
                    let _ = std::io::stderr().lock().write_all(line.as_bytes());
                } else {
                    let _ = std::io::stdout().lock().write_all(line.as_bytes());
                }
            }
            LogOutput::Status { container, message } => {
                let line = f.status(&container, &message);
                let _ = std::io::stdout().lock().write_all(line.as_bytes());
            }
        }
    }
}

pub fn run(global: &GlobalArgs, args: &LogsArgs) -> i32 {
    let opts = LogsOptions {
        project: global.project_options(),
        engine: global.engine_options(),
        services: args.services.clone(),
        follow: args.follow,
        tail: crate::logs::read::parse_tail(&args.tail),
        since: args.since.clone(),
        until: args.until.clone(),
        timestamps: args.timestamps,
        index: (args.index > 0).then_some(args.index),
    };
    let printer = Printer::new(colors(global) && !args.no_color, !args.no_log_prefix, false);
    super::with_runtime(|| async {
        let mut warnings = Vec::new();
        let sink = |o| printer.print(o);
        let result = app::run(&opts, &mut warnings, &sink).await;
        print_warnings(&warnings);
        match result {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("{e}");
                e.exit_code()
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rewrite(args: &[&str]) -> Vec<String> {
        follow_short_flag(args.iter().map(Into::into).collect())
            .into_iter()
            .map(|a| a.into_string().unwrap_or_default())
            .collect()
    }

    #[test]
    fn dash_f_follows_after_logs_only() {
        assert_eq!(
            rewrite(&["berth", "-f", "c.yaml", "logs", "-f", "web"]),
            ["berth", "-f", "c.yaml", "logs", "--follow", "web"]
        );
        assert_eq!(
            rewrite(&["berth", "logs", "-tf"]),
            ["berth", "logs", "--follow", "-t"]
        );
        assert_eq!(rewrite(&["berth", "up", "-f"]), ["berth", "up", "-f"]);
        assert_eq!(
            rewrite(&["berth", "rm", "-fs", "web"]),
            ["berth", "rm", "--force", "-s", "web"]
        );
        // `-f logs`: the file is named logs, no verb yet
        assert_eq!(
            rewrite(&["berth", "-f", "logs", "ps", "-f"]),
            ["berth", "-f", "logs", "ps", "-f"]
        );
    }
}
