//! `berth exec`, with Docker Compose 2.26's flags. A TTY is allocated unless `-T` is given or
//! berth's stdin or stdout is not a terminal (compose looks at stdout only, and then fails on
//! a piped stdin with "the input device is not a TTY"; berth falls back to plain streams).

use clap::Args;

use super::GlobalArgs;
use crate::app::exec::{self as app_exec, ExecOptions};
use crate::app::stdio;

#[derive(Args, Debug)]
pub struct ExecArgs {
    #[arg(value_name = "SERVICE")]
    pub service: String,
    #[arg(
        value_name = "COMMAND",
        required = true,
        num_args = 1..,
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    pub command: Vec<String>,
    /// Detached mode: Run command in the background
    #[arg(short, long)]
    pub detach: bool,
    /// Set environment variables
    #[arg(short, long = "env", value_name = "KEY=VAL")]
    pub env: Vec<String>,
    /// Index of the container if service has multiple replicas
    #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
    pub index: i64,
    /// Give extended privileges to the process
    #[arg(long)]
    pub privileged: bool,
    /// Run the command as this user
    #[arg(short, long)]
    pub user: Option<String>,
    /// Disable pseudo-TTY allocation. By default `berth exec` allocates a TTY.
    #[arg(short = 'T', long = "no-TTY")]
    pub no_tty: bool,
    /// Path to workdir directory for this command
    #[arg(short, long = "workdir")]
    pub workdir: Option<String>,
    /// Keep STDIN open even if not attached (always on)
    #[arg(short, long, hide = true)]
    pub interactive: bool,
    /// Allocate a pseudo-TTY (the default when berth runs in a terminal)
    #[arg(short, long, hide = true)]
    pub tty: bool,
}

pub fn run(global: &GlobalArgs, args: &ExecArgs) -> i32 {
    let tty = !args.no_tty && stdio::stdin_is_terminal() && stdio::stdout_is_terminal();
    let opts = ExecOptions {
        project: global.project_options(),
        engine: global.engine_options(),
        service: args.service.clone(),
        command: args.command.clone(),
        env: args.env.clone(),
        user: args.user.clone(),
        workdir: args.workdir.clone(),
        privileged: args.privileged,
        index: args.index,
        detach: args.detach,
        tty,
        interactive: true,
    };
    super::with_runtime(|| async {
        let mut warnings = Vec::new();
        let r = app_exec::run(&opts, &mut warnings).await;
        super::print_warnings(&warnings);
        match r {
            Ok(code) => code,
            Err(e) => {
                eprintln!("{e}");
                e.exit_code()
            }
        }
    })
}
