//! `berth version`: the version, as `docker compose version` prints its own.

use clap::Args;

#[derive(Args, Debug)]
pub struct VersionArgs {
    /// Format the output. Values: [pretty | json]. (Default: pretty)
    // `-f` is rewritten to `--format` before parsing (cli::logs::follow_short_flag): clap
    // cannot let it shadow the global `-f/--file`.
    #[arg(long, default_value = "pretty")]
    pub format: String,
    /// Shows only berth's version number
    #[arg(long)]
    pub short: bool,
}

/// The version berth reports: the package's, with a `v` as compose's `internal.Version`.
pub const VERSION: &str = concat!("v", env!("CARGO_PKG_VERSION"));

/// The line(s) `version` prints.
pub fn render(args: &VersionArgs) -> String {
    if args.short {
        return format!("{}\n", VERSION.trim_start_matches('v'));
    }
    if args.format == "json" {
        return format!("{{\"version\":{VERSION:?}}}\n");
    }
    format!("berth version {VERSION}\n")
}

pub fn run(args: &VersionArgs) -> i32 {
    print!("{}", render(args));
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_three_forms() {
        let v = env!("CARGO_PKG_VERSION");
        let args = |format: &str, short| VersionArgs {
            format: format.into(),
            short,
        };
        assert_eq!(
            render(&args("pretty", false)),
            format!("berth version v{v}\n")
        );
        assert_eq!(render(&args("pretty", true)), format!("{v}\n"));
        assert_eq!(
            render(&args("json", false)),
            format!("{{\"version\":\"v{v}\"}}\n")
        );
    }
}
