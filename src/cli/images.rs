//! `berth images`: list images used by the created containers.

use std::io::Write;

use clap::Args;

use super::{print_warnings, table, GlobalArgs};
use crate::app::images::{self as app, ImageSummary, ImagesOptions};

#[derive(Args, Debug)]
pub struct ImagesArgs {
    #[arg(value_name = "SERVICE")]
    pub services: Vec<String>,
    /// Format the output. Values: [table | json]
    #[arg(long, default_value = "table")]
    pub format: String,
    /// Only display IDs
    #[arg(short, long)]
    pub quiet: bool,
}

pub fn run(global: &GlobalArgs, args: &ImagesArgs) -> i32 {
    let opts = ImagesOptions {
        project: global.project_options(),
        engine: global.engine_options(),
        services: args.services.clone(),
    };
    let format = args.format.to_lowercase();
    if !matches!(format.as_str(), "table" | "pretty" | "" | "json") {
        eprintln!(
            "format value {:?} could not be parsed: parsing failed",
            args.format
        );
        return 1;
    }
    super::with_runtime(|| async {
        let mut warnings = Vec::new();
        let result = app::run(&opts, &mut warnings).await;
        print_warnings(&warnings);
        let rows = match result {
            Ok(r) => r,
            Err(e) => {
                eprintln!("{e}");
                return e.exit_code();
            }
        };
        let text = if args.quiet {
            quiet(&rows)
        } else if format == "json" {
            match serde_json::to_string(&rows) {
                Ok(s) => format!("{s}\n"),
                Err(e) => {
                    eprintln!("{e}");
                    return 1;
                }
            }
        } else {
            render_table(&rows)
        };
        let _ = std::io::stdout().write_all(text.as_bytes());
        0
    })
}

/// `-q`: each image ID once, without its algorithm, in container order.
fn quiet(rows: &[ImageSummary]) -> String {
    let mut seen: Vec<&str> = Vec::new();
    for r in rows {
        let id = r.id.split_once(':').map_or(r.id.as_str(), |(_, h)| h);
        if !seen.contains(&id) {
            seen.push(id);
        }
    }
    seen.iter().map(|id| format!("{id}\n")).collect()
}

/// The table compose prints: IDs cut to 12 digits, sizes with three significant digits.
pub fn render_table(rows: &[ImageSummary]) -> String {
    let mut lines = vec![["CONTAINER", "REPOSITORY", "TAG", "IMAGE ID", "SIZE"]
        .map(String::from)
        .to_vec()];
    for r in rows {
        let id = r.id.split_once(':').map_or(r.id.as_str(), |(_, h)| h);
        let none = |s: &str| {
            if s.is_empty() {
                "<none>".to_owned()
            } else {
                s.to_owned()
            }
        };
        lines.push(vec![
            r.container_name.clone(),
            none(&r.repository),
            none(&r.tag),
            id.chars().take(12).collect(),
            human_size3(u64::try_from(r.size).unwrap_or(0)),
        ]);
    }
    table::render(&lines)
}

/// Docker's `units.HumanSizeWithPrecision(size, 3)`, as compose prints image sizes.
fn human_size3(bytes: u64) -> String {
    crate::progress::human_size_precision(bytes, 3)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(name: &str, id: &str, tag: &str, size: i64) -> ImageSummary {
        ImageSummary {
            id: id.into(),
            container_name: name.into(),
            repository: "busybox".into(),
            tag: tag.into(),
            size,
        }
    }

    #[test]
    fn table_as_compose_prints_it() {
        let id = format!("sha256:{}", "ab".repeat(32));
        let t = render_table(&[
            row("p-web-1", &id, "latest", 4_261_234),
            row("p-db-1", &id, "", 999),
        ]);
        assert_eq!(
            t,
            "CONTAINER           REPOSITORY          TAG                 IMAGE ID            SIZE\n\
             p-web-1             busybox             latest              abababababab        4.26MB\n\
             p-db-1              busybox             <none>              abababababab        999B\n"
        );
    }

    #[test]
    fn sizes_have_three_significant_digits() {
        assert_eq!(human_size3(0), "0B");
        assert_eq!(human_size3(999), "999B");
        assert_eq!(human_size3(4_261_234), "4.26MB");
        assert_eq!(human_size3(1_000), "1kB");
        assert_eq!(human_size3(123_456_789), "123MB");
        assert_eq!(human_size3(999_600), "1e+03kB");
    }

    #[test]
    fn quiet_lists_each_id_once_without_algorithm() {
        let a = format!("sha256:{}", "a".repeat(64));
        let b = format!("sha256:{}", "b".repeat(64));
        let q = quiet(&[
            row("1", &a, "", 0),
            row("2", &b, "", 0),
            row("3", &a, "", 0),
        ]);
        assert_eq!(q, format!("{}\n{}\n", "a".repeat(64), "b".repeat(64)));
    }

    #[test]
    fn json_has_compose_field_names() {
        let s = serde_json::to_string(&[row("p-web-1", "sha256:x", "1", 5)]).unwrap();
        assert_eq!(
            s,
            r#"[{"ID":"sha256:x","ContainerName":"p-web-1","Repository":"busybox","Tag":"1","Size":5}]"#
        );
    }
}
