//! The command line, following `docker compose`: clap structs, one file per verb that is built.
//! Handlers fill an options struct, call `app`, and are the only place that prints.

mod attached;
mod config;
mod control;
mod exec;
mod images;
mod logs;
mod ps;
mod pull;
mod run;
mod table;
mod top;
mod up;
mod version;

use std::io::Write;

use clap::{Args, Parser, Subcommand};

use crate::app::ProjectOptions;

/// Docker Compose for machines that run containerd and no Docker daemon.
#[derive(Parser, Debug)]
#[command(name = "berth", version, about, long_about = None)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Flags every command takes, as `docker compose` names them.
#[derive(Args, Debug, Default, Clone)]
pub struct GlobalArgs {
    /// Compose configuration files ("-" reads standard input)
    #[arg(short = 'f', long = "file", global = true, value_name = "FILE")]
    pub file: Vec<String>,
    /// Project name
    #[arg(
        short = 'p',
        long = "project-name",
        global = true,
        value_name = "NAME",
        allow_hyphen_values = true
    )]
    pub project_name: Option<String>,
    /// Specify an alternate working directory (default: the path of the first compose file)
    #[arg(long = "project-directory", global = true, value_name = "DIR")]
    pub project_directory: Option<String>,
    /// Specify alternate environment files
    #[arg(long = "env-file", global = true, value_name = "FILE")]
    pub env_file: Vec<String>,
    /// Specify a profile to enable
    #[arg(long = "profile", global = true, value_name = "PROFILE")]
    pub profile: Vec<String>,
    /// Set type of progress output (auto, tty, plain, json, quiet)
    #[arg(long, global = true, default_value = "auto", value_parser = ["auto", "tty", "plain", "json", "quiet"])]
    pub progress: String,
    /// Control when to print ANSI control characters ("never"|"always"|"auto")
    #[arg(long, global = true, default_value = "auto", value_parser = ["never", "always", "auto"])]
    pub ansi: String,
    /// Control max parallelism, -1 for unlimited
    #[arg(long, global = true, default_value_t = -1, allow_negative_numbers = true)]
    pub parallel: i64,
    /// Run compose in backward compatibility mode
    #[arg(long, global = true)]
    pub compatibility: bool,
    /// containerd's socket
    #[arg(long, global = true, env = "CONTAINERD_ADDRESS", value_name = "PATH",
          default_value = crate::containerd::DEFAULT_ADDRESS)]
    pub address: String,
    /// containerd namespace berth works in
    #[arg(long, global = true, env = "CONTAINERD_NAMESPACE", value_name = "NAME",
          default_value = crate::containerd::DEFAULT_NAMESPACE)]
    pub namespace: String,
    /// Directories of registry hosts.toml files (default /etc/containerd/certs.d, /etc/docker/certs.d)
    #[arg(long = "hosts-dir", global = true, value_name = "DIR")]
    pub hosts_dir: Vec<String>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Attach local standard input, output, and error streams to a service's running container
    Attach(NotYet),
    /// Build or rebuild services
    Build(NotYet),
    /// Parse, resolve and render compose file in canonical format
    #[command(alias = "convert")]
    Config(config::ConfigArgs),
    /// Copy files/folders between a service container and the local filesystem
    Cp(NotYet),
    /// Creates containers for a service
    Create(control::CreateArgs),
    /// Stop and remove containers, networks
    Down(up::DownArgs),
    /// Receive real time events from containers
    Events(NotYet),
    /// Execute a command in a running container
    Exec(exec::ExecArgs),
    /// List images used by the created containers
    Images(images::ImagesArgs),
    /// Force stop service containers
    Kill(control::KillArgs),
    /// View output from containers
    Logs(logs::LogsArgs),
    /// List running compose projects
    Ls(top::LsArgs),
    /// Pause services
    Pause(control::ServicesArgs),
    /// Print the public port for a port binding
    Port(top::PortArgs),
    /// List containers
    Ps(ps::PsArgs),
    /// Pull service images
    Pull(pull::PullArgs),
    /// Push service images
    Push(NotYet),
    /// Restart service containers
    Restart(control::RestartArgs),
    /// Removes stopped service containers
    Rm(control::RmArgs),
    /// Run a one-off command on a service
    Run(run::RunArgs),
    /// Scale services
    Scale(NotYet),
    /// Start services
    Start(control::ServicesArgs),
    /// Display a live stream of container(s) resource usage statistics
    Stats(NotYet),
    /// Stop services
    Stop(control::StopArgs),
    /// Display the running processes
    Top(top::TopArgs),
    /// Unpause services
    Unpause(control::ServicesArgs),
    /// Create and start containers
    Up(up::UpArgs),
    /// Show the berth version information
    Version(version::VersionArgs),
    /// Block until the first service container stops
    Wait(control::WaitArgs),
    /// Watch build context for service and rebuild/refresh containers when files are updated
    Watch(NotYet),
}

/// A verb that is not built yet: takes any arguments and says so.
#[derive(Args, Debug)]
pub struct NotYet {
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, hide = true)]
    pub args: Vec<String>,
}

impl Command {
    fn name(&self) -> &'static str {
        match self {
            Command::Attach(_) => "attach",
            Command::Build(_) => "build",
            Command::Config(_) => "config",
            Command::Cp(_) => "cp",
            Command::Create(_) => "create",
            Command::Down(_) => "down",
            Command::Events(_) => "events",
            Command::Exec(_) => "exec",
            Command::Images(_) => "images",
            Command::Kill(_) => "kill",
            Command::Logs(_) => "logs",
            Command::Ls(_) => "ls",
            Command::Pause(_) => "pause",
            Command::Port(_) => "port",
            Command::Ps(_) => "ps",
            Command::Pull(_) => "pull",
            Command::Push(_) => "push",
            Command::Restart(_) => "restart",
            Command::Rm(_) => "rm",
            Command::Run(_) => "run",
            Command::Scale(_) => "scale",
            Command::Start(_) => "start",
            Command::Stats(_) => "stats",
            Command::Stop(_) => "stop",
            Command::Top(_) => "top",
            Command::Unpause(_) => "unpause",
            Command::Up(_) => "up",
            Command::Version(_) => "version",
            Command::Wait(_) => "wait",
            Command::Watch(_) => "watch",
        }
    }
}

impl GlobalArgs {
    /// The project options the app layer needs, with COMPOSE_* variables read from `env`.
    pub fn project_options(&self) -> ProjectOptions {
        ProjectOptions {
            files: self.file.clone(),
            project_name: self.project_name.clone(),
            project_directory: self.project_directory.clone(),
            env_files: self.env_file.clone(),
            profiles: self.profile.clone(),
            compatibility: self.compatibility,
        }
    }
}

impl GlobalArgs {
    /// Where containerd is and where registry settings are read from.
    pub fn engine_options(&self) -> crate::app::engine::EngineOptions {
        let mut engine = crate::app::engine::EngineOptions {
            address: self.address.clone().into(),
            namespace: self.namespace.clone(),
            ..Default::default()
        };
        if !self.hosts_dir.is_empty() {
            engine.hosts_dirs = self.hosts_dir.iter().map(Into::into).collect();
        }
        engine
    }

    /// The progress mode from `--progress` and `--ansi` (COMPOSE_ANSI when `--ansi` is not
    /// given).
    pub fn progress_mode(&self) -> Result<crate::progress::Mode, crate::progress::ProgressError> {
        let ansi_given = std::env::args().any(|a| a == "--ansi" || a.starts_with("--ansi="));
        let env = std::env::var("COMPOSE_ANSI").ok();
        let ansi = crate::progress::effective_ansi(
            ansi_given.then_some(self.ansi.as_str()),
            env.as_deref(),
        );
        crate::progress::Mode::from_flags(&self.progress, &ansi)
    }
}

/// The progress mode from the global flags, or `None` after saying why they are refused.
pub(crate) fn progress_mode_or_report(global: &GlobalArgs) -> Option<crate::progress::Mode> {
    match global.progress_mode() {
        Ok(m) => Some(m),
        Err(e) => {
            eprintln!("{e}");
            None
        }
    }
}

/// Runs an app verb that reports progress: starts the renderer with `title`, runs `f` on the
/// async runtime, finishes the renderer, prints the warnings and then the error, and returns
/// the exit code.
pub(crate) fn run_with_progress<F, Fut>(mode: crate::progress::Mode, title: &str, f: F) -> i32
where
    F: FnOnce(crate::progress::Progress) -> Fut,
    Fut: std::future::Future<Output = (Result<(), crate::app::AppError>, Vec<String>)>,
{
    with_runtime(|| async {
        let (reporter, handle) = crate::progress::start(mode, title);
        let (result, warnings) = f(reporter).await;
        let _ = handle.finish();
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

/// Runs `f` on a multi-threaded tokio runtime and returns its exit code.
pub(crate) fn with_runtime<F, Fut>(f: F) -> i32
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = i32>,
{
    match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt.block_on(f()),
        Err(e) => {
            eprintln!("berth: cannot start the async runtime: {e}");
            1
        }
    }
}

/// Runs the command line and returns the process exit code.
pub fn run() -> i32 {
    let cli = match Cli::try_parse_from(logs::follow_short_flag(std::env::args_os().collect())) {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return code;
        }
    };
    match &cli.command {
        Command::Config(args) => config::run(&cli.global, args),
        Command::Pull(args) => pull::run(&cli.global, args),
        Command::Images(args) => images::run(&cli.global, args),
        Command::Up(args) => up::run_up(&cli.global, args),
        Command::Down(args) => up::run_down(&cli.global, args),
        Command::Ps(args) => ps::run(&cli.global, args),
        Command::Logs(args) => logs::run(&cli.global, args),
        Command::Start(args) => control::run_start(&cli.global, args),
        Command::Stop(args) => control::run_stop(&cli.global, args),
        Command::Restart(args) => control::run_restart(&cli.global, args),
        Command::Kill(args) => control::run_kill(&cli.global, args),
        Command::Rm(args) => control::run_rm(&cli.global, args),
        Command::Pause(args) => control::run_pause(&cli.global, args, false),
        Command::Unpause(args) => control::run_pause(&cli.global, args, true),
        Command::Create(args) => control::run_create(&cli.global, args),
        Command::Wait(args) => control::run_wait(&cli.global, args),
        Command::Top(args) => top::run_top(&cli.global, args),
        Command::Ls(args) => top::run_ls(&cli.global, args),
        Command::Port(args) => top::run_port(&cli.global, args),
        Command::Exec(args) => exec::run(&cli.global, args),
        Command::Run(args) => run::run(&cli.global, args),
        Command::Version(args) => version::run(args),
        other => {
            let _ = writeln!(
                std::io::stderr(),
                "berth: '{}' is not implemented yet",
                other.name()
            );
            2
        }
    }
}

/// Prints warnings the way compose's logrus does on a terminal-less stderr.
pub(crate) fn print_warnings(warnings: &[String]) {
    let mut err = std::io::stderr().lock();
    for w in warnings {
        let _ = writeln!(err, "WARN[0000] {w}");
    }
}
