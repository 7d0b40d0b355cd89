//! `start`, `stop`, `restart`, `kill`, `rm`, `pause`, `unpause`, `create` and `wait`.

use std::io::{BufRead, Write};

use clap::Args;

use super::up::timeout;
use super::{print_warnings, GlobalArgs};
use crate::app::control::{self as app, VerbOptions};
use crate::app::{kill as app_kill, wait as app_wait};

#[derive(Args, Debug)]
pub struct ServicesArgs {
    #[arg(value_name = "SERVICE")]
    pub services: Vec<String>,
}

#[derive(Args, Debug)]
pub struct StopArgs {
    #[arg(value_name = "SERVICE")]
    pub services: Vec<String>,
    /// Specify a shutdown timeout in seconds
    #[arg(short, long, allow_negative_numbers = true)]
    pub timeout: Option<i64>,
}

#[derive(Args, Debug)]
pub struct RestartArgs {
    #[arg(value_name = "SERVICE")]
    pub services: Vec<String>,
    /// Specify a shutdown timeout in seconds
    #[arg(short, long, allow_negative_numbers = true)]
    pub timeout: Option<i64>,
    /// Don't restart dependent services
    #[arg(long)]
    pub no_deps: bool,
}

#[derive(Args, Debug)]
pub struct KillArgs {
    #[arg(value_name = "SERVICE")]
    pub services: Vec<String>,
    /// SIGNAL to send to the container
    #[arg(short, long, default_value = "SIGKILL")]
    pub signal: String,
    /// Remove containers for services not defined in the Compose file
    #[arg(long)]
    pub remove_orphans: bool,
}

#[derive(Args, Debug)]
pub struct RmArgs {
    #[arg(value_name = "SERVICE")]
    pub services: Vec<String>,
    /// Don't ask to confirm removal (`-f` after `rm`; see `logs::follow_short_flag`)
    #[arg(long)]
    pub force: bool,
    /// Stop the containers, if required, before removing
    #[arg(short, long)]
    pub stop: bool,
    /// Remove any anonymous volumes attached to containers
    #[arg(short, long)]
    pub volumes: bool,
}

#[derive(Args, Debug)]
pub struct CreateArgs {
    #[arg(value_name = "SERVICE")]
    pub services: Vec<String>,
    /// Recreate containers even if their configuration and image haven't changed
    #[arg(long, conflicts_with = "no_recreate")]
    pub force_recreate: bool,
    /// If containers already exist, don't recreate them. Incompatible with --force-recreate.
    #[arg(long)]
    pub no_recreate: bool,
    /// Remove containers for services not defined in the Compose file
    #[arg(long)]
    pub remove_orphans: bool,
}

#[derive(Args, Debug)]
pub struct WaitArgs {
    #[arg(value_name = "SERVICE", required = true)]
    pub services: Vec<String>,
    /// Drops project when the first container stops
    #[arg(long)]
    pub down_project: bool,
}

fn verb_options(global: &GlobalArgs, services: &[String], t: Option<i64>) -> VerbOptions {
    VerbOptions {
        project: global.project_options(),
        engine: global.engine_options(),
        services: services.to_vec(),
        timeout: timeout(t),
    }
}

/// Runs one of the progress-reporting verbs.
macro_rules! with_progress {
    ($global:expr, $title:expr, |$opts:ident, $reporter:ident, $warnings:ident| $body:expr) => {{
        let Some(mode) = super::progress_mode_or_report($global) else {
            return 1;
        };
        super::run_with_progress(mode, $title, |$reporter| async move {
            let mut $warnings = Vec::new();
            let result = $body.await;
            (result, $warnings)
        })
    }};
}

pub fn run_start(global: &GlobalArgs, args: &ServicesArgs) -> i32 {
    let opts = &verb_options(global, &args.services, None);
    with_progress!(global, "Running", |opts, reporter, warnings| app::start(
        opts,
        &reporter,
        &mut warnings
    ))
}

pub fn run_stop(global: &GlobalArgs, args: &StopArgs) -> i32 {
    let opts = &verb_options(global, &args.services, args.timeout);
    with_progress!(global, "Stopping", |opts, reporter, warnings| app::stop(
        opts,
        &reporter,
        &mut warnings
    ))
}

pub fn run_restart(global: &GlobalArgs, args: &RestartArgs) -> i32 {
    let opts = &verb_options(global, &args.services, args.timeout);
    let no_deps = args.no_deps;
    with_progress!(global, "Restarting", |opts, reporter, warnings| {
        app::restart(opts, no_deps, &reporter, &mut warnings)
    })
}

pub fn run_pause(global: &GlobalArgs, args: &ServicesArgs, resume: bool) -> i32 {
    let opts = &verb_options(global, &args.services, None);
    let title = if resume { "Unpausing" } else { "Pausing" };
    with_progress!(global, title, |opts, reporter, warnings| app::pause(
        opts,
        resume,
        &reporter,
        &mut warnings
    ))
}

pub fn run_kill(global: &GlobalArgs, args: &KillArgs) -> i32 {
    let opts = &verb_options(global, &args.services, None);
    let Some(mode) = super::progress_mode_or_report(global) else {
        return 1;
    };
    let mut none = false;
    let none_ref = &mut none;
    let code = super::run_with_progress(mode, "Killing", |reporter| async move {
        let mut warnings = Vec::new();
        let result = app_kill::run(
            opts,
            &args.signal,
            args.remove_orphans,
            &reporter,
            &mut warnings,
        )
        .await
        .map(|found| *none_ref = !found);
        (result, warnings)
    });
    if code == 0 && none {
        // compose prints this without a newline
        eprint!("no container to kill");
    }
    code
}

pub fn run_create(global: &GlobalArgs, args: &CreateArgs) -> i32 {
    let opts = crate::app::up::UpOptions {
        project: global.project_options(),
        engine: global.engine_options(),
        services: args.services.clone(),
        no_start: true,
        force_recreate: args.force_recreate,
        no_recreate: args.no_recreate,
        remove_orphans: args.remove_orphans,
        timeout: None,
        wait: false,
        wait_timeout: None,
        ..Default::default()
    };
    let opts = &opts;
    with_progress!(global, "Creating", |opts, reporter, warnings| {
        crate::app::up::run(opts, &reporter, &mut warnings)
    })
}

/// compose's prompt: `msg [y/N] `, yes only for an answer starting with y or Y.
fn confirm(msg: &str) -> bool {
    let mut out = std::io::stdout().lock();
    let _ = write!(out, "{msg} [y/N] ");
    let _ = out.flush();
    let mut answer = String::new();
    let _ = std::io::stdin().lock().read_line(&mut answer);
    matches!(answer.trim_start().chars().next(), Some('y' | 'Y'))
}

pub fn run_rm(global: &GlobalArgs, args: &RmArgs) -> i32 {
    let opts = verb_options(global, &args.services, None);
    let Some(mode) = super::progress_mode_or_report(global) else {
        return 1;
    };
    super::with_runtime(|| async {
        let mut warnings = Vec::new();
        let planned = if args.stop {
            let (reporter, handle) = crate::progress::start(mode, "Stopping");
            let r = app::rm_plan(&opts, true, args.volumes, &reporter, &mut warnings).await;
            let _ = handle.finish();
            r
        } else {
            app::rm_plan(
                &opts,
                false,
                args.volumes,
                &crate::progress::Progress::disabled(),
                &mut warnings,
            )
            .await
        };
        print_warnings(&warnings);
        warnings.clear();
        let planned = match planned {
            Ok(p) => p,
            Err(e) => {
                eprintln!("{e}");
                return e.exit_code();
            }
        };
        if planned.names.is_empty() {
            eprintln!("No stopped containers");
            return 0;
        }
        let msg = format!("Going to remove {}", planned.names.join(", "));
        if args.force {
            println!("{msg}");
        } else if !confirm(&msg) {
            return 0;
        }
        let (reporter, handle) = crate::progress::start(mode, "Removing");
        let r = app::rm_execute(planned, &reporter, &mut warnings).await;
        let _ = handle.finish();
        print_warnings(&warnings);
        match r {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("{e}");
                e.exit_code()
            }
        }
    })
}

pub fn run_wait(global: &GlobalArgs, args: &WaitArgs) -> i32 {
    let opts = verb_options(global, &args.services, None);
    super::with_runtime(|| async {
        let mut warnings = Vec::new();
        let report = |s: app_wait::Stopped| {
            println!("container {:?} exited with status code {}", s.id, s.code);
        };
        let r = app_wait::run(&opts, &mut warnings, &report).await;
        print_warnings(&warnings);
        let code = match r {
            Ok(c) => c,
            Err(e) => {
                eprintln!("{e}");
                return e.exit_code();
            }
        };
        if args.down_project {
            let down = crate::app::down::DownOptions {
                project: opts.project.clone(),
                engine: opts.engine.clone(),
                remove_orphans: true,
                ..Default::default()
            };
            let Some(mode) = super::progress_mode_or_report(global) else {
                return 1;
            };
            let (reporter, handle) = crate::progress::start(mode, "Running");
            let mut warnings = Vec::new();
            let r = crate::app::down::run(&down, &reporter, &mut warnings).await;
            let _ = handle.finish();
            print_warnings(&warnings);
            if let Err(e) = r {
                eprintln!("{e}");
                return e.exit_code();
            }
        }
        i32::try_from(code).unwrap_or(1)
    })
}
