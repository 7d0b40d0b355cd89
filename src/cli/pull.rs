//! `berth pull`: pull service images.

use clap::Args;

use super::GlobalArgs;
use crate::app::pull::{self as app, PullOptions};
use crate::progress;

#[derive(Args, Debug)]
pub struct PullArgs {
    #[arg(value_name = "SERVICE")]
    pub services: Vec<String>,
    /// Pull without printing progress information
    #[arg(short, long)]
    pub quiet: bool,
    /// Also pull services declared as dependencies
    #[arg(long)]
    pub include_deps: bool,
    /// Pull what it can and ignores images with pull failures
    #[arg(long)]
    pub ignore_pull_failures: bool,
    /// Ignore images that can be built
    #[arg(long)]
    pub ignore_buildable: bool,
    /// Apply pull policy ("missing"|"always")
    #[arg(long, value_parser = ["missing", "always"])]
    pub policy: Option<String>,
    /// DEPRECATED pull multiple images in parallel
    #[arg(long, hide = true)]
    pub no_parallel: bool,
}

pub fn run(global: &GlobalArgs, args: &PullArgs) -> i32 {
    if args.no_parallel {
        eprintln!("option '--no-parallel' is DEPRECATED and will be ignored.");
    }
    let opts = PullOptions {
        project: global.project_options(),
        engine: global.engine_options(),
        services: args.services.clone(),
        include_deps: args.include_deps,
        ignore_pull_failures: args.ignore_pull_failures,
        ignore_buildable: args.ignore_buildable,
        policy: args.policy.clone(),
        quiet: args.quiet,
        parallel: global.parallel,
    };
    let mode = if args.quiet {
        progress::Mode::Quiet
    } else {
        match super::progress_mode_or_report(global) {
            Some(m) => m,
            None => return 1,
        }
    };
    let opts = &opts;
    super::run_with_progress(mode, "Pulling", |reporter| async move {
        let mut warnings = Vec::new();
        let result = app::run(opts, &reporter, &mut warnings).await;
        (result, warnings)
    })
}
