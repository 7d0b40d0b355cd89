//! `berth ps`: list the project's containers.

use std::io::Write;
use std::time::SystemTime;

use clap::Args;

use super::{print_warnings, GlobalArgs};
use crate::app::ps::{self as app, command_column, human_duration, ContainerSummary, PsOptions};

#[derive(Args, Debug)]
pub struct PsArgs {
    #[arg(value_name = "SERVICE")]
    pub services: Vec<String>,
    /// Show all stopped containers (including those created by the run command)
    #[arg(short, long)]
    pub all: bool,
    /// Only display IDs
    #[arg(short, long)]
    pub quiet: bool,
    /// Display services
    #[arg(long = "services")]
    pub services_only: bool,
    /// Format the output. Values: [table | json]
    #[arg(long, default_value = "table")]
    pub format: String,
    /// Don't truncate output
    #[arg(long)]
    pub no_trunc: bool,
    /// Filter services by status. Values: [paused | restarting | removing | running | dead | created | exited]
    #[arg(long)]
    pub status: Vec<String>,
    /// Filter services by a property (supported filters: status)
    #[arg(long)]
    pub filter: Option<String>,
}

/// The statuses of `--status` and `--filter status=X` (compose `parseFilter`).
fn statuses(args: &PsArgs) -> Result<Vec<String>, String> {
    let mut out = args.status.clone();
    if let Some(f) = args.filter.as_deref().filter(|f| !f.is_empty()) {
        match f.split_once('=') {
            None => return Err("arguments to --filter should be in form KEY=VAL".into()),
            Some(("status", v)) => out.push(v.to_owned()),
            Some(("source", _)) => return Err("not implemented".into()),
            Some((k, _)) => return Err(format!("unknown filter {k}")),
        }
    }
    Ok(out)
}

pub fn run(global: &GlobalArgs, args: &PsArgs) -> i32 {
    let statuses = match statuses(args) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            return 1;
        }
    };
    let opts = PsOptions {
        project: global.project_options(),
        engine: global.engine_options(),
        services: args.services.clone(),
        all: args.all || !statuses.is_empty(),
    };
    // one thread is enough for a few concurrent calls on one connection, and starts faster
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("berth: cannot start the async runtime: {e}");
            return 1;
        }
    };
    rt.block_on(async {
        let mut warnings = Vec::new();
        let result = app::run(&opts, &mut warnings).await;
        print_warnings(&warnings);
        let rows = match result {
            Ok(r) if !statuses.is_empty() => r
                .into_iter()
                .filter(|r| statuses.contains(&r.state))
                .collect::<Vec<_>>(),
            Ok(r) => r,
            Err(e) => {
                eprintln!("{e}");
                return e.exit_code();
            }
        };
        let mut out = std::io::stdout().lock();
        let text = if args.quiet {
            rows.iter().map(|r| format!("{}\n", r.id)).collect()
        } else if args.services_only {
            let mut seen: Vec<&str> = Vec::new();
            for r in &rows {
                if !seen.contains(&r.service.as_str()) {
                    seen.push(&r.service);
                }
            }
            seen.iter().map(|s| format!("{s}\n")).collect()
        } else {
            match args.format.as_str() {
                "json" => json(&rows),
                "table" => table(&rows, !args.no_trunc, SystemTime::now()),
                other => {
                    eprintln!("unsupported format {other:?}; berth knows table and json");
                    return 1;
                }
            }
        };
        let _ = out.write_all(text.as_bytes());
        0
    })
}

/// One JSON object per line, as compose 2.26 prints `--format json`.
fn json(rows: &[ContainerSummary]) -> String {
    rows.iter()
        .filter_map(|r| serde_json::to_string(r).ok())
        .map(|l| l + "\n")
        .collect()
}

fn table(rows: &[ContainerSummary], trunc: bool, now: SystemTime) -> String {
    let mut t = vec![[
        "NAME", "IMAGE", "COMMAND", "SERVICE", "CREATED", "STATUS", "PORTS",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect::<Vec<_>>()];
    for r in rows {
        let age = r
            .created_at
            .and_then(|c| now.duration_since(c).ok())
            .unwrap_or_default();
        t.push(vec![
            r.name.clone(),
            r.image.clone(),
            command_column(&r.command, trunc),
            r.service.clone(),
            format!("{} ago", human_duration(age)),
            r.status.clone(),
            r.ports.clone(),
        ]);
    }
    super::table::render(&t)
}
