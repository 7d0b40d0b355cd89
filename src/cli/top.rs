//! `berth top`, `berth ls` and `berth port`.

use std::io::Write;

use clap::Args;

use super::{print_warnings, GlobalArgs};
use crate::app::control::VerbOptions;
use crate::app::top::{ContainerTop, TITLES};

#[derive(Args, Debug)]
pub struct TopArgs {
    #[arg(value_name = "SERVICES")]
    pub services: Vec<String>,
}

#[derive(Args, Debug)]
pub struct LsArgs {
    /// Show all stopped Compose projects
    #[arg(short, long)]
    pub all: bool,
    /// Only display IDs
    #[arg(short, long)]
    pub quiet: bool,
    /// Format the output. Values: [table | json]
    #[arg(long, default_value = "table")]
    pub format: String,
}

#[derive(Args, Debug)]
pub struct PortArgs {
    #[arg(value_name = "SERVICE")]
    pub service: String,
    #[arg(value_name = "PRIVATE_PORT")]
    pub private_port: u16,
    /// tcp or udp
    #[arg(long, default_value = "tcp")]
    pub protocol: String,
    /// Index of the container if service has multiple replicas
    #[arg(long, default_value_t = 0)]
    pub index: i64,
}

fn verb_options(global: &GlobalArgs, services: &[String]) -> VerbOptions {
    VerbOptions {
        project: global.project_options(),
        engine: global.engine_options(),
        services: services.to_vec(),
        timeout: None,
    }
}

/// Go's tabwriter as `docker top` sets it up (min width 5, padding 3, spaces): the header's
/// last title is not a column, every process cell is (so rows carry trailing padding), and the
/// blank line that ends the table ends the columns.
pub fn top_table(c: &ContainerTop) -> String {
    let mut widths = [0usize; 8];
    let header: Vec<&str> = TITLES.to_vec();
    for (i, t) in header.iter().enumerate().take(7) {
        widths[i] = widths[i].max(t.chars().count());
    }
    for row in &c.processes {
        for (i, cell) in row.iter().enumerate().take(8) {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let width = |i: usize| (widths[i] + 3).max(5);
    let mut out = format!("{}\n", c.name);
    for (i, t) in header.iter().enumerate() {
        out.push_str(t);
        if i < 7 {
            out.push_str(&" ".repeat(width(i) - t.chars().count()));
        }
    }
    out.push('\n');
    for row in &c.processes {
        for (i, cell) in row.iter().enumerate().take(8) {
            out.push_str(cell);
            out.push_str(&" ".repeat(width(i) - cell.chars().count()));
        }
        out.push('\n');
    }
    out.push('\n');
    out
}

pub fn run_top(global: &GlobalArgs, args: &TopArgs) -> i32 {
    let opts = verb_options(global, &args.services);
    super::with_runtime(|| async {
        let mut warnings = Vec::new();
        let r = crate::app::top::run(&opts, &mut warnings).await;
        print_warnings(&warnings);
        match r {
            Ok(tops) => {
                let mut out = std::io::stdout().lock();
                for t in &tops {
                    let _ = out.write_all(top_table(t).as_bytes());
                }
                0
            }
            Err(e) => {
                eprintln!("{e}");
                e.exit_code()
            }
        }
    })
}

pub fn run_ls(global: &GlobalArgs, args: &LsArgs) -> i32 {
    let engine = global.engine_options();
    super::with_runtime(|| async {
        let stacks = match crate::app::ls::run(&engine, args.all).await {
            Ok(s) => s,
            Err(e) => {
                eprintln!("{e}");
                return e.exit_code();
            }
        };
        let text =
            if args.quiet {
                stacks.iter().map(|s| format!("{}\n", s.name)).collect()
            } else {
                match args.format.to_lowercase().as_str() {
                    "json" => serde_json::to_string(&stacks).unwrap_or_default() + "\n",
                    "table" | "pretty" | "" => {
                        let mut rows = vec![vec![
                            "NAME".to_owned(),
                            "STATUS".to_owned(),
                            "CONFIG FILES".to_owned(),
                        ]];
                        rows.extend(stacks.iter().map(|s| {
                            vec![s.name.clone(), s.status.clone(), s.config_files.clone()]
                        }));
                        super::table::render(&rows)
                    }
                    other => {
                        eprintln!("format value {other:?} could not be parsed: parsing failed");
                        return 1;
                    }
                }
            };
        let _ = std::io::stdout().lock().write_all(text.as_bytes());
        0
    })
}

pub fn run_port(global: &GlobalArgs, args: &PortArgs) -> i32 {
    let opts = verb_options(global, &[]);
    super::with_runtime(|| async {
        let mut warnings = Vec::new();
        let r = crate::app::port::run(
            &opts,
            &args.service,
            args.private_port,
            &args.protocol,
            (args.index > 0).then_some(args.index),
            &mut warnings,
        )
        .await;
        print_warnings(&warnings);
        match r {
            Ok((ip, port)) => {
                println!("{ip}:{port}");
                0
            }
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

    #[test]
    fn top_is_laid_out_as_docker_top() {
        let c = ContainerTop {
            name: "p-web-1".into(),
            processes: vec![[
                "root",
                "4242",
                "4200",
                "0",
                "10:00",
                "?",
                "00:00:00",
                "sleep 100",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect()],
        };
        assert_eq!(
            top_table(&c),
            "p-web-1\n\
             UID    PID    PPID   C    STIME   TTY   TIME       CMD\n\
             root   4242   4200   0    10:00   ?     00:00:00   sleep 100   \n\n"
        );
    }
}
