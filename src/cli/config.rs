//! `berth config`: parse, resolve and render the Compose project in canonical form.

use std::io::Write;

use clap::Args;

use super::{print_warnings, GlobalArgs};
use crate::app::config::{self as app, ConfigOptions, Format, Listing};

#[derive(Args, Debug)]
pub struct ConfigArgs {
    /// Services to render (and their dependencies)
    #[arg(value_name = "SERVICE")]
    pub services: Vec<String>,
    /// Format the output. Values: [yaml | json]
    #[arg(long, default_value = "yaml", value_parser = ["yaml", "json"])]
    pub format: String,
    /// Pin image tags to digests
    #[arg(long)]
    pub resolve_image_digests: bool,
    /// Only validate the configuration, don't print anything
    #[arg(short, long)]
    pub quiet: bool,
    /// Don't interpolate environment variables
    #[arg(long)]
    pub no_interpolate: bool,
    /// Don't normalize compose model
    #[arg(long)]
    pub no_normalize: bool,
    /// Don't resolve file paths
    #[arg(long)]
    pub no_path_resolution: bool,
    /// Don't check model consistency - warning: may produce invalid Compose output
    #[arg(long)]
    pub no_consistency: bool,
    /// Print the service names, one per line.
    #[arg(long = "services")]
    pub list_services: bool,
    /// Print the volume names, one per line.
    #[arg(long)]
    pub volumes: bool,
    /// Print the profile names, one per line.
    #[arg(long)]
    pub profiles: bool,
    /// Print the image names, one per line.
    #[arg(long)]
    pub images: bool,
    /// Print the service config hash, one per line ("*" for all services).
    #[arg(long, value_name = "SERVICES")]
    pub hash: Option<String>,
    /// Save to file (default to stdout)
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<String>,
}

pub fn run(global: &GlobalArgs, args: &ConfigArgs) -> i32 {
    let listing = if args.list_services {
        Some(Listing::Services)
    } else if args.volumes {
        Some(Listing::Volumes)
    } else if let Some(h) = &args.hash {
        Some(Listing::Hash(h.clone()))
    } else if args.profiles {
        Some(Listing::Profiles)
    } else if args.images {
        Some(Listing::Images)
    } else {
        None
    };
    if args.resolve_image_digests {
        let _ = writeln!(
            std::io::stderr(),
            "berth: '--resolve-image-digests' is not implemented yet"
        );
        return 2;
    }
    let opts = ConfigOptions {
        project: global.project_options(),
        services: args.services.clone(),
        format: if args.format == "json" {
            Format::Json
        } else {
            Format::Yaml
        },
        interpolate: !args.no_interpolate,
        normalize: !args.no_normalize && !global.compatibility,
        resolve_paths: !args.no_path_resolution,
        consistency: !args.no_consistency,
        listing,
    };
    let mut warnings = Vec::new();
    let result = app::run(&opts, &mut warnings);
    print_warnings(&warnings);
    match result {
        Ok(text) => {
            if args.quiet {
                return 0;
            }
            if let Some(path) = &args.output {
                if !text.is_empty() {
                    if let Err(e) = std::fs::write(path, &text) {
                        let _ = writeln!(std::io::stderr(), "open {path}: {e}");
                        return 1;
                    }
                }
                return 0;
            }
            let mut out = std::io::stdout().lock();
            if out.write_all(text.as_bytes()).is_err() {
                return 1;
            }
            0
        }
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "{e}");
            e.exit_code()
        }
    }
}
