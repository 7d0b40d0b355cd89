//! The `berth` binary: run the command line and exit with its code.

fn main() {
    // The containerd shim execs berth as a `binary://` log driver with the URI's query as
    // argv pairs: detect that before clap sees them (see `berth::logs::options`).
    let args: Vec<_> = std::env::args_os().skip(1).collect();
    if let Some(code) = berth::logs::driver::run_if_invoked(&args) {
        std::process::exit(code);
    }
    // runc runs berth as the OCI createRuntime hook that joins a task to its networks.
    if let Some(code) = berth::app::nethook::run_if_invoked(&args) {
        std::process::exit(code);
    }
    // `berth __dns-server <run_dir>`: the service-name DNS server that `dns::ensure` starts.
    if let Some(code) = berth::dns::run_if_invoked(&args) {
        std::process::exit(code);
    }
    std::process::exit(berth::cli::run());
}
