//! Runs the shared compose-config oracle corpus against the `berth` binary and holds it to a pass
//! ratio. The corpus lives outside the repository (`../shared/compose-corpus`, or the directory
//! named by `BERTH_CORPUS_DIR`, e.g. a held-out half with the same layout); its runner
//! (`run.sh`, python3 with PyYAML) prints one `PASS <case>` / `FAIL <case>: <why>` line per case.
//! Without the corpus the test is skipped on a developer's machine but fails under `CI=true`.

// A test harness: panicking is how every helper here reports a broken set-up.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::env;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{SystemTime, UNIX_EPOCH};

/// Share of all cases that must pass.
const MIN_PASS_RATIO: f64 = 0.97;

fn in_ci() -> bool {
    env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// The shared corpus, which also holds the runner: `../shared/compose-corpus` beside the
/// checkout (as CI lays it out), or beside a folder further up (a git worktree under `wt/`).
fn shared_corpus() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest
        .ancestors()
        .skip(1)
        .map(|dir| dir.join("shared/compose-corpus"))
        .find(|dir| dir.join("run.sh").is_file())
        .unwrap_or_else(|| manifest.join("../shared/compose-corpus"))
}

/// Case names (directories with a `cmd` file) under `<corpus>/cases`.
fn case_names(corpus: &Path) -> BTreeSet<String> {
    let dir = corpus.join("cases");
    let entries =
        std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()));
    entries
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("cmd").is_file())
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect()
}

/// A run directory of its own, so concurrent runs (and other users) never share case copies.
struct RunRoot(PathBuf);

impl RunRoot {
    fn new() -> Self {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let dir = env::temp_dir().join(format!(
            "berth-corpus-{}-{nanos}/corpus-run",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        RunRoot(dir)
    }
}

impl Drop for RunRoot {
    fn drop(&mut self) {
        if let Some(parent) = self.0.parent() {
            let _ = std::fs::remove_dir_all(parent);
        }
    }
}

#[derive(Debug, Default)]
struct Outcome {
    passed: BTreeSet<String>,
    /// case name → the runner's reason
    failed: Vec<(String, String)>,
    /// the runner's closing `N passed, M failed` line
    summary: Option<(usize, usize)>,
}

fn parse_runner_output(stdout: &str) -> Outcome {
    let mut out = Outcome::default();
    for line in stdout.lines() {
        if let Some(name) = line.strip_prefix("PASS ") {
            out.passed.insert(name.trim().to_string());
        } else if let Some(rest) = line.strip_prefix("FAIL ") {
            let (name, why) = rest.split_once(": ").unwrap_or((rest, ""));
            out.failed.push((name.trim().to_string(), why.to_string()));
        } else if let Some((p, f)) = line.split_once(" passed, ") {
            if let (Ok(p), Some(Ok(f))) = (
                p.trim().parse(),
                f.strip_suffix(" failed").map(|f| f.trim().parse()),
            ) {
                out.summary = Some((p, f));
            }
        }
    }
    out
}

#[test]
fn compose_corpus() {
    let shared = shared_corpus();
    let corpus = env::var_os("BERTH_CORPUS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| shared.clone());
    // A held-out corpus may come without a runner: use the shared one then.
    let runner = [corpus.join("run.sh"), shared.join("run.sh")]
        .into_iter()
        .find(|p| p.is_file());
    let (runner, has_cases) = (runner, corpus.join("cases").is_dir());
    let Some(runner) = runner.filter(|_| has_cases) else {
        let msg = format!(
            "compose corpus not found: need {}/cases and a run.sh (set BERTH_CORPUS_DIR)",
            corpus.display()
        );
        if in_ci() {
            panic!("{msg}; CI must run the corpus");
        }
        eprintln!("SKIPPED: {msg}");
        return;
    };

    let all_cases = case_names(&corpus);
    let error_cases: BTreeSet<String> = all_cases
        .iter()
        .filter(|c| corpus.join("cases").join(c).join("expected.err").is_file())
        .cloned()
        .collect();

    let run_root = RunRoot::new();
    let berth = env!("CARGO_BIN_EXE_berth");
    let output = Command::new("bash")
        .arg(&runner)
        .arg(berth)
        .arg(&corpus)
        .env("CORPUS_RUN_ROOT", &run_root.0)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", runner.display()));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    // The runner exits 1 when any case failed (judged below), 2 when it cannot run at all.
    assert!(
        matches!(output.status.code(), Some(0) | Some(1)),
        "corpus runner {} failed ({}):\n{stderr}",
        runner.display(),
        output.status
    );

    let outcome = parse_runner_output(&stdout);
    let ran: BTreeSet<String> = outcome
        .passed
        .iter()
        .cloned()
        .chain(outcome.failed.iter().map(|(n, _)| n.clone()))
        .collect();
    let total = ran.len();
    assert!(
        total > 0,
        "the corpus runner ran no case:\n{stdout}\n{stderr}"
    );
    assert_eq!(
        outcome.summary,
        Some((outcome.passed.len(), outcome.failed.len())),
        "the runner's closing line does not match its PASS/FAIL lines"
    );
    if env::var_os("CORPUS_ONLY").is_none() {
        let missing: Vec<_> = all_cases.difference(&ran).collect();
        assert!(
            missing.is_empty(),
            "cases the runner never reported: {missing:?}"
        );
    }

    for (name, why) in &outcome.failed {
        let kind = if error_cases.contains(name) {
            " [error case]"
        } else {
            ""
        };
        eprintln!("FAIL {name}{kind}: {why}");
    }
    let passed = outcome.passed.len();
    let ratio = passed as f64 / total as f64;
    eprintln!(
        "corpus {}: {passed}/{total} passed ({:.1}%), {} failed",
        corpus.display(),
        ratio * 100.0,
        outcome.failed.len()
    );

    let error_failures: Vec<&str> = outcome
        .failed
        .iter()
        .filter(|(n, _)| error_cases.contains(n))
        .map(|(n, _)| n.as_str())
        .collect();
    assert!(
        error_failures.is_empty(),
        "{} error case(s) were not rejected as Docker Compose rejects them: {error_failures:?}",
        error_failures.len()
    );
    assert!(
        ratio >= MIN_PASS_RATIO,
        "pass ratio {:.1}% is below {:.0}% ({passed}/{total})",
        ratio * 100.0,
        MIN_PASS_RATIO * 100.0
    );
}

#[test]
fn reads_runner_pass_fail_and_summary_lines() {
    let out = parse_runner_output(
        "PASS a\nFAIL b: $.services.web: missing (expected {})\nPASS c\n2 passed, 1 failed\n",
    );
    assert_eq!(out.passed.len(), 2);
    assert_eq!(
        out.failed,
        vec![(
            "b".to_string(),
            "$.services.web: missing (expected {})".to_string()
        )]
    );
    assert_eq!(out.summary, Some((2, 1)));
}
