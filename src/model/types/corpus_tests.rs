//! Round trips of the corpus's expected outputs: each printed project is decoded into the typed
//! model and printed again; key order, omitted fields and scalar types must come out the same.

use std::path::Path;

use super::test_yaml::{first_diff, normalize, ordered_out, parse};
use super::*;
use crate::model::field::{Field, Fmt};
use crate::model::node::KeyPath;

const CORPUS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../shared/compose-corpus/cases"
);

/// Decodes `file` of `case` and prints it back in `fmt`; returns the first difference.
fn round_trip(case: &str, file: &str, fmt: Fmt) -> Option<String> {
    let path = Path::new(CORPUS).join(case).join(file);
    let text = std::fs::read_to_string(&path).ok()?;
    let node = parse(&text);
    // not a project (--services, --images, ...)
    node.get("services")?;
    let project = match Project::decode(&node, &KeyPath::root()) {
        Ok(p) => p,
        Err(e) => return Some(format!("{case}/{file}: decode: {e}")),
    };
    let got = normalize(&project.to_out(fmt));
    let want = ordered_out(&node);
    first_diff("", &got, &want).map(|d| format!("{case}/{file}: {d}"))
}

/// Cases whose output does not come from the typed model (`--no-interpolate` prints the raw
/// tree) or that need more than the model (ssh keys in random order).
fn typed_output(case: &str) -> bool {
    let cmd = std::fs::read_to_string(Path::new(CORPUS).join(case).join("cmd")).unwrap_or_default();
    !cmd.contains("--no-interpolate")
}

fn check_cases(cases: &[&str]) {
    if !Path::new(CORPUS).exists() {
        return;
    }
    let mut failures = Vec::new();
    for case in cases {
        failures.extend(round_trip(case, "expected.yaml", Fmt::Yaml));
        failures.extend(round_trip(case, "expected.json", Fmt::Json));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn full_example_round_trips() {
    // ports, volumes (bind/volume/tmpfs), depends_on, healthcheck, deploy.resources, build,
    // networks with null, environment, secrets/configs, ipam, durations, byte sizes, x-*
    check_cases(&[
        "cg-full-example--nc",
        "spec-model-1",
        "cg-blkio-config",
        "cg-gpus",
    ]);
}

#[test]
fn json_specifics_round_trip() {
    // "command": null, "entrypoint": null, "ipam": {}, watch exec always printed in JSON
    check_cases(&["cg-gw-priority", "dc-watch-rebuild", "dc-configs"]);
}

#[test]
fn every_corpus_project_round_trips() {
    if !Path::new(CORPUS).exists() {
        return;
    }
    let mut cases: Vec<String> = std::fs::read_dir(CORPUS)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .filter(|c| typed_output(c))
        .collect();
    cases.sort();
    let mut failures = Vec::new();
    for case in &cases {
        failures.extend(round_trip(case, "expected.yaml", Fmt::Yaml));
        failures.extend(round_trip(case, "expected.json", Fmt::Json));
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn service_json_has_command_and_entrypoint_null() {
    let node = parse("services:\n  a:\n    image: alpine\n");
    let p = Project::decode(&node, &KeyPath::root()).unwrap();
    let svc = &p.services["a"];
    assert_eq!(svc.name, "a");
    let out = svc.encode(Fmt::Json);
    assert_eq!(
        out,
        crate::model::field::Out::Map(vec![
            ("command".into(), crate::model::field::Out::Null),
            ("entrypoint".into(), crate::model::field::Out::Null),
            (
                "image".into(),
                crate::model::field::Out::Str("alpine".into())
            ),
        ])
    );
}

#[test]
fn secret_content_is_hidden_and_config_content_from_env_too() {
    let node = parse(
        "services: {}\nsecrets:\n  s:\n    content: hush\nconfigs:\n  c:\n    environment: X\n    content: val\n  d:\n    content: inline\n",
    );
    let mut p = Project::decode(&node, &KeyPath::root()).unwrap();
    let yaml = p.to_out(Fmt::Yaml);
    let want = parse("services: {}\nsecrets:\n  s: {}\nconfigs:\n  c:\n    environment: X\n  d:\n    content: inline\n");
    assert_eq!(first_diff("", &yaml, &ordered_out(&want)), None);
    p.secrets["s"].marshal_content = true;
    let json = p.to_out(Fmt::Json);
    let want = parse(
        r#"{"configs": {"c": {"environment": "X"}, "d": {"content": "inline"}}, "name": "", "secrets": {"s": {"content": "hush"}}, "services": {}}"#,
    );
    assert_eq!(first_diff("", &json, &ordered_out(&want)), None);
}

#[test]
fn struct_values_print_empty_in_json_only() {
    let node = parse("services:\n  a:\n    deploy:\n      replicas: 2\nnetworks:\n  n: {}\n");
    let p = Project::decode(&node, &KeyPath::root()).unwrap();
    let yaml = p.to_out(Fmt::Yaml);
    let want = parse("services:\n  a:\n    deploy:\n      replicas: 2\nnetworks:\n  n: {}\n");
    assert_eq!(first_diff("", &yaml, &ordered_out(&want)), None);
    let json = p.to_out(Fmt::Json);
    let want = parse(
        r#"{"name": "", "networks": {"n": {"ipam": {}}}, "services": {"a": {"command": null, "deploy": {"replicas": 2, "resources": {}, "placement": {}}, "entrypoint": null}}}"#,
    );
    assert_eq!(first_diff("", &json, &ordered_out(&want)), None);
}

#[test]
fn unknown_keys_are_left_to_the_schema() {
    // as compose's mapstructure decoding, the typed model ignores keys it does not hold
    let node = parse(
        "services:\n  a:\n    image: x\n    ports:\n      - target: 80\n        hostip: 1.2.3.4\n",
    );
    let p = Project::decode(&node, &KeyPath::root()).unwrap();
    assert_eq!(p.services["a"].ports[0].target, 80);
    assert_eq!(p.services["a"].ports[0].host_ip, "");
}
