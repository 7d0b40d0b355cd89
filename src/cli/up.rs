//! `berth up` and `berth down`.

use std::time::Duration;

use clap::Args;

use super::GlobalArgs;
use crate::app::down::{self as app_down, DownOptions};
use crate::app::up::{self as app_up, UpOptions};
use crate::plan::RemoveImages;

#[derive(Args, Debug)]
pub struct UpArgs {
    #[arg(value_name = "SERVICE")]
    pub services: Vec<String>,
    /// Detached mode: Run containers in the background
    #[arg(short, long)]
    pub detach: bool,
    /// Don't start the services after creating them
    #[arg(long)]
    pub no_start: bool,
    /// Recreate containers even if their configuration and image haven't changed
    #[arg(long, conflicts_with = "no_recreate")]
    pub force_recreate: bool,
    /// If containers already exist, don't recreate them
    #[arg(long)]
    pub no_recreate: bool,
    /// Remove containers for services not defined in the Compose file
    #[arg(long)]
    pub remove_orphans: bool,
    /// Use this timeout in seconds for container shutdown when attached or when containers are already running
    #[arg(short, long, allow_negative_numbers = true)]
    pub timeout: Option<i64>,
    /// Scale SERVICE to NUM instances. Overrides the `scale` setting in the Compose file if present.
    #[arg(long, value_name = "SERVICE=NUM")]
    pub scale: Vec<String>,
    /// Don't start linked services
    #[arg(long)]
    pub no_deps: bool,
    /// Recreate dependent containers. Incompatible with --no-recreate.
    #[arg(long)]
    pub always_recreate_deps: bool,
    /// Pull image before running ("always"|"missing"|"never")
    #[arg(long, value_name = "policy")]
    pub pull: Option<String>,
    /// Wait for services to be running|healthy. Implies detached mode.
    #[arg(long)]
    pub wait: bool,
    /// Maximum duration to wait for the project to be running|healthy
    #[arg(long, allow_negative_numbers = true)]
    pub wait_timeout: Option<i64>,
    /// Stops all containers if any container was stopped. Incompatible with -d
    #[arg(long)]
    pub abort_on_container_exit: bool,
    /// Return the exit code of the selected service container. Implies --abort-on-container-exit
    #[arg(long, value_name = "SERVICE")]
    pub exit_code_from: Option<String>,
    /// Restrict attaching to the specified services. Incompatible with --attach-dependencies.
    #[arg(long, value_name = "SERVICE")]
    pub attach: Vec<String>,
    /// Do not attach (stream logs) to the specified services
    #[arg(long, value_name = "SERVICE")]
    pub no_attach: Vec<String>,
    /// Produce monochrome output
    #[arg(long)]
    pub no_color: bool,
    /// Don't print prefix in logs
    #[arg(long)]
    pub no_log_prefix: bool,
}

#[derive(Args, Debug)]
pub struct DownArgs {
    #[arg(value_name = "SERVICES")]
    pub services: Vec<String>,
    /// Remove named volumes declared in the "volumes" section of the Compose file and anonymous volumes attached to containers
    #[arg(short, long)]
    pub volumes: bool,
    /// Remove containers for services not defined in the Compose file
    #[arg(long)]
    pub remove_orphans: bool,
    /// Remove images used by services. "local" remove only images that don't have a custom tag ("local"|"all")
    #[arg(long, value_name = "type")]
    pub rmi: Option<String>,
    /// Specify a shutdown timeout in seconds
    #[arg(short, long, allow_negative_numbers = true)]
    pub timeout: Option<i64>,
}

/// compose's `--rmi` values; anything else is its error (exit 1, as compose).
fn parse_rmi(v: &str) -> Result<RemoveImages, String> {
    match v {
        "local" => Ok(RemoveImages::Local),
        "all" => Ok(RemoveImages::All),
        other => Err(format!("invalid value for --rmi: {other:?}")),
    }
}

pub(crate) fn timeout(t: Option<i64>) -> Option<Duration> {
    t.map(|s| Duration::from_secs(u64::try_from(s).unwrap_or(0)))
}

pub fn run_up(global: &GlobalArgs, args: &UpArgs) -> i32 {
    // compose: --wait implies detached mode
    let detach = args.detach || args.wait;
    if detach
        && (args.abort_on_container_exit
            || args.exit_code_from.is_some()
            || !args.attach.is_empty())
    {
        eprintln!("--detach cannot be combined with --abort-on-container-exit, --attach or --attach-dependencies");
        return 1;
    }
    let mut scale = std::collections::BTreeMap::new();
    for spec in &args.scale {
        match spec.split_once('=').map(|(s, n)| (s, n.parse::<i64>())) {
            Some((service, Ok(n))) if !service.is_empty() && n >= 0 => {
                scale.insert(service.to_owned(), n);
            }
            _ => {
                eprintln!("invalid --scale option {spec:?}. Should be SERVICE=NUM");
                return 1;
            }
        }
    }
    if let Some(p) = args.pull.as_deref() {
        if !matches!(p, "always" | "missing" | "never") {
            eprintln!("invalid --pull option {p:?}");
            return 1;
        }
    }
    if args.always_recreate_deps && args.no_recreate {
        eprintln!("--always-recreate-deps and --no-recreate are incompatible");
        return 1;
    }
    let opts = UpOptions {
        project: global.project_options(),
        engine: global.engine_options(),
        services: args.services.clone(),
        scale,
        no_deps: args.no_deps,
        always_recreate_deps: args.always_recreate_deps,
        pull: args.pull.clone(),
        no_start: args.no_start,
        force_recreate: args.force_recreate,
        no_recreate: args.no_recreate,
        remove_orphans: args.remove_orphans,
        timeout: timeout(args.timeout),
        wait: args.wait,
        // compose: 0 (the default) means no limit.
        wait_timeout: timeout(args.wait_timeout).filter(|d| !d.is_zero()),
    };
    let Some(mode) = super::progress_mode_or_report(global) else {
        return 1;
    };
    if !detach && !args.no_start {
        return super::attached::run(global, args, opts, mode);
    }
    let opts = &opts;
    super::run_with_progress(mode, "Running", |reporter| async move {
        let mut warnings = Vec::new();
        let result = app_up::run(opts, &reporter, &mut warnings).await;
        (result, warnings)
    })
}

pub fn run_down(global: &GlobalArgs, args: &DownArgs) -> i32 {
    let rmi = match args.rmi.as_deref().map(parse_rmi).transpose() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("{e}");
            return 1;
        }
    };
    let opts = DownOptions {
        project: global.project_options(),
        engine: global.engine_options(),
        services: args.services.clone(),
        volumes: args.volumes,
        remove_orphans: args.remove_orphans,
        rmi,
        timeout: timeout(args.timeout),
    };
    let Some(mode) = super::progress_mode_or_report(global) else {
        return 1;
    };
    let opts = &opts;
    super::run_with_progress(mode, "Running", |reporter| async move {
        let mut warnings = Vec::new();
        let result = app_down::run(opts, &reporter, &mut warnings).await;
        (result, warnings)
    })
}
