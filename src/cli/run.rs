//! `berth run`, with Docker Compose 2.26's flags. `-p` after `run` stays berth's global
//! `--project-name` (clap cannot let a subcommand's short flag shadow a global one); publishing
//! is `--publish`. A TTY is allocated unless `-T` is given or berth's stdin or stdout is not a
//! terminal.

use clap::Args;

use super::GlobalArgs;
use crate::app::run::{self as app_run, Outcome, RunOptions};
use crate::app::stdio;

#[derive(Args, Debug)]
pub struct RunArgs {
    #[arg(value_name = "SERVICE")]
    pub service: String,
    #[arg(
        value_name = "COMMAND",
        num_args = 0..,
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    pub command: Vec<String>,
    /// Run container in background and print container ID
    #[arg(short, long)]
    pub detach: bool,
    /// Set environment variables
    #[arg(short, long = "env", value_name = "KEY=VAL")]
    pub env: Vec<String>,
    /// Add or override a label
    #[arg(short, long = "label", alias = "labels", value_name = "KEY=VAL")]
    pub label: Vec<String>,
    /// Automatically remove the container when it exits
    #[arg(long)]
    pub rm: bool,
    /// Disable pseudo-TTY allocation (default: auto-detected)
    #[arg(short = 'T', long = "no-TTY")]
    pub no_tty: bool,
    /// Allocate a pseudo-TTY
    #[arg(short = 't', long, hide = true, conflicts_with = "no_tty")]
    pub tty: bool,
    /// Keep STDIN open even if not attached (always on)
    #[arg(short, long, hide = true)]
    pub interactive: bool,
    /// Assign a name to the container
    #[arg(long)]
    pub name: Option<String>,
    /// Run as specified username or uid
    #[arg(short, long)]
    pub user: Option<String>,
    /// Working directory inside the container
    #[arg(short, long = "workdir")]
    pub workdir: Option<String>,
    /// Override the entrypoint of the image
    #[arg(long)]
    pub entrypoint: Option<String>,
    /// Don't start linked services
    #[arg(long)]
    pub no_deps: bool,
    /// Bind mount a volume
    #[arg(short, long = "volume", alias = "volumes")]
    pub volume: Vec<String>,
    /// Publish a container's port(s) to the host
    #[arg(long = "publish", conflicts_with = "service_ports")]
    pub publish: Vec<String>,
    /// Use the service's network useAliases in the network(s) the container connects to
    #[arg(long)]
    pub use_aliases: bool,
    /// Run command with all service's ports enabled and mapped to the host
    #[arg(short = 'P', long)]
    pub service_ports: bool,
}

pub fn run(global: &GlobalArgs, args: &RunArgs) -> i32 {
    let terminal = stdio::stdin_is_terminal() && stdio::stdout_is_terminal();
    let tty = !args.no_tty && (args.tty || terminal) && !args.detach;
    let opts = RunOptions {
        project: global.project_options(),
        engine: global.engine_options(),
        service: args.service.clone(),
        command: args.command.clone(),
        entrypoint: args.entrypoint.clone(),
        env: args.env.clone(),
        labels: args.label.clone(),
        rm: args.rm,
        detach: args.detach,
        tty,
        interactive: true,
        name: args.name.clone(),
        user: args.user.clone(),
        workdir: args.workdir.clone(),
        no_deps: args.no_deps,
        volumes: args.volume.clone(),
        publish: args.publish.clone(),
        service_ports: args.service_ports,
        use_aliases: args.use_aliases,
    };
    let Some(mode) = super::progress_mode_or_report(global) else {
        return 1;
    };
    let opts = &opts;
    super::with_runtime(|| async move {
        let (reporter, handle) = crate::progress::start(mode, "Running");
        let mut warnings = Vec::new();
        let prepared = app_run::prepare(opts, &reporter, &mut warnings).await;
        let _ = handle.finish();
        super::print_warnings(&warnings);
        let result = match prepared {
            Ok(p) => app_run::finish(p).await,
            Err(e) => Err(e),
        };
        match result {
            Ok(Outcome::Detached(name)) => {
                println!("{name}");
                0
            }
            Ok(Outcome::Exited(code)) => code,
            Err(e) => {
                eprintln!("{e}");
                e.exit_code()
            }
        }
    })
}
