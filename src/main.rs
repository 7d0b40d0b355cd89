//! The `berth` binary: run the command line and exit with its code.

fn main() {
    std::process::exit(berth::cli::run());
}
