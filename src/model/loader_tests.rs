//! The loader end to end on files held in memory: extends (same file and another file),
//! include, several files, `!reset`/`!override`, multi-document files, project names.

use std::path::PathBuf;

use super::field::{Field, Fmt};
use super::loader::{load, ConfigFile, Env, LoadOptions, Loaded};
use super::memfs::MemFs;
use super::node::KeyPath;
use super::project::{build, ProjectSettings};
use super::types::Project;
use super::{emit, field};

fn options(files: &[&str]) -> LoadOptions {
    let mut env = Env::new();
    env.insert("HOME".into(), "/root".into());
    LoadOptions::new(
        PathBuf::from("/p"),
        files
            .iter()
            .map(|f| ConfigFile {
                path: PathBuf::from(f),
                content: None,
            })
            .collect(),
        env,
    )
}

fn project(fs: &MemFs, files: &[&str]) -> (Project, Loaded) {
    let loaded = load(&options(files), fs, &mut Vec::new()).expect("load");
    let settings = ProjectSettings {
        consistency: true,
        resolve_environment: true,
        discard_env_files: true,
        ..ProjectSettings::default()
    };
    let p = build(&loaded, &loaded.env, fs, &settings, &mut Vec::new()).expect("build");
    (p, loaded)
}

fn yaml(p: &Project) -> String {
    emit::to_yaml(&p.to_out(Fmt::Yaml))
}

#[test]
fn extends_in_the_same_file_merges_the_base() {
    let fs = MemFs::default().with(
        "/p/compose.yaml",
        "services:\n  base:\n    image: busybox\n    environment: [A=1, B=2]\n  web:\n    extends: base\n    environment:\n      B: \"3\"\n",
    );
    let (p, _) = project(&fs, &["/p/compose.yaml"]);
    let web = &p.services["web"];
    assert_eq!(web.image, "busybox");
    assert_eq!(web.environment.0["A"].as_deref(), Some("1"));
    assert_eq!(web.environment.0["B"].as_deref(), Some("3"));
    assert!(web.extends.is_none());
}

#[test]
fn extends_another_file_resolves_its_paths_there() {
    let fs = MemFs::default()
        .with(
            "/p/compose.yaml",
            "services:\n  web:\n    extends:\n      file: common/base.yaml\n      service: app\n",
        )
        .with(
            "/p/common/base.yaml",
            "services:\n  app:\n    build: ./src\n    volumes: [\"./data:/data\"]\n",
        );
    let (p, _) = project(&fs, &["/p/compose.yaml"]);
    let web = &p.services["web"];
    assert_eq!(
        web.build.as_ref().map(|b| b.context.as_str()),
        Some("/p/common/src")
    );
    assert_eq!(web.volumes[0].source, "/p/common/data");
}

#[test]
fn extends_cycle_is_an_error() {
    let fs = MemFs::default().with(
        "/p/compose.yaml",
        "services:\n  a:\n    image: x\n    extends: b\n  b:\n    image: x\n    extends: a\n",
    );
    let e = load(&options(&["/p/compose.yaml"]), &fs, &mut Vec::new()).unwrap_err();
    assert!(e.to_string().contains("Circular reference"), "{e}");
}

#[test]
fn include_imports_services_with_their_own_paths_and_env() {
    let fs = MemFs::default()
        .with(
            "/p/compose.yaml",
            "include:\n  - sub/compose.yaml\nservices:\n  web:\n    image: nginx\n    depends_on: [db]\n",
        )
        .with(
            "/p/sub/compose.yaml",
            "services:\n  db:\n    image: \"postgres:${PG}\"\n    env_file: db.env\n",
        )
        .with("/p/sub/.env", "PG=16\n")
        .with("/p/sub/db.env", "POSTGRES_PASSWORD=secret\n");
    let (p, _) = project(&fs, &["/p/compose.yaml"]);
    let db = &p.services["db"];
    assert_eq!(db.image, "postgres:16");
    assert_eq!(
        db.environment.0["POSTGRES_PASSWORD"].as_deref(),
        Some("secret")
    );
}

#[test]
fn include_conflict_is_an_error() {
    let fs = MemFs::default()
        .with(
            "/p/compose.yaml",
            "include: [other.yaml]\nservices:\n  db:\n    image: mysql\n",
        )
        .with("/p/other.yaml", "services:\n  db:\n    image: postgres\n");
    let e = load(&options(&["/p/compose.yaml"]), &fs, &mut Vec::new()).unwrap_err();
    assert!(
        e.to_string()
            .contains("services.db conflicts with imported resource"),
        "{e}"
    );
}

#[test]
fn override_file_merges_and_resets() {
    let fs = MemFs::default()
        .with(
            "/p/compose.yaml",
            "services:\n  web:\n    image: nginx\n    ports: [\"80:80\"]\n    labels: {a: \"1\"}\n    command: [run, a]\n",
        )
        .with(
            "/p/override.yaml",
            "services:\n  web:\n    ports: !reset []\n    labels: !override {b: \"2\"}\n    command: [run, b]\n",
        );
    let (p, _) = project(&fs, &["/p/compose.yaml", "/p/override.yaml"]);
    let web = &p.services["web"];
    assert!(web.ports.is_empty());
    assert_eq!(web.labels.0.keys().collect::<Vec<_>>(), ["b"]);
    assert_eq!(
        web.command.0.as_deref(),
        Some(&["run".to_string(), "b".to_string()][..])
    );
}

#[test]
fn documents_of_one_file_merge_in_order() {
    let fs = MemFs::default().with(
        "/p/compose.yaml",
        "services:\n  web:\n    image: a\n---\nservices:\n  web:\n    image: b\n",
    );
    let (p, _) = project(&fs, &["/p/compose.yaml"]);
    assert_eq!(p.services["web"].image, "b");
}

#[test]
fn project_name_comes_from_the_file_then_the_directory() {
    let fs = MemFs::default().with(
        "/p/compose.yaml",
        "name: My_App\nservices:\n  web:\n    image: x\n",
    );
    let (_, loaded) = project(&fs, &["/p/compose.yaml"]);
    assert_eq!(loaded.name, "my_app");
    assert_eq!(loaded.env["COMPOSE_PROJECT_NAME"], "my_app");
    let fs = MemFs::default().with("/p/compose.yaml", "services:\n  web:\n    image: x\n");
    let (_, loaded) = project(&fs, &["/p/compose.yaml"]);
    assert_eq!(loaded.name, "p");
}

#[test]
fn imperative_name_must_be_valid() {
    let fs = MemFs::default().with("/p/compose.yaml", "services:\n  web:\n    image: x\n");
    let mut opts = options(&["/p/compose.yaml"]);
    opts.project_name = Some("Bad Name".into());
    let e = load(&opts, &fs, &mut Vec::new()).unwrap_err();
    assert!(e.to_string().starts_with("invalid project name"), "{e}");
    assert_eq!(e.exit_code(), 15);
}

#[test]
fn empty_file_is_an_error() {
    let fs = MemFs::default().with("/p/compose.yaml", "# nothing\n");
    let e = load(&options(&["/p/compose.yaml"]), &fs, &mut Vec::new()).unwrap_err();
    assert_eq!(e.to_string(), "empty compose file");
}

#[test]
fn printed_project_decodes_to_the_same_project() {
    // what `config` prints is itself a valid compose file that loads to the same model
    let fs = MemFs::default().with(
        "/p/compose.yaml",
        "services:\n  web:\n    build: .\n    ports: [\"127.0.0.1:8080:80/udp\"]\n    volumes: [\"data:/data:ro\"]\n    healthcheck:\n      test: curl -f http://localhost\n      interval: 90s\n    mem_limit: 512m\n    depends_on:\n      db: {condition: service_healthy}\n  db:\n    image: postgres\nvolumes:\n  data: {}\n",
    );
    let (p, _) = project(&fs, &["/p/compose.yaml"]);
    let printed = yaml(&p);
    assert!(printed.contains("interval: 1m30s"), "{printed}");
    assert!(printed.contains("mem_limit: \"536870912\""), "{printed}");
    let fs2 = MemFs::default().with("/p/compose.yaml", &printed);
    let (p2, _) = project(&fs2, &["/p/compose.yaml"]);
    assert_eq!(yaml(&p2), printed);
    // and the typed model round-trips through its own encoding
    let node = super::yaml::parse(&printed, &std::sync::Arc::from("x"))
        .expect("parse")
        .remove(0);
    let again = Project::decode(&node, &KeyPath::root()).expect("decode");
    assert_eq!(
        field::Field::encode(&again.services["web"], Fmt::Json),
        field::Field::encode(&p.services["web"], Fmt::Json)
    );
}

#[test]
fn model_without_env_resolution_sees_only_the_project_name() {
    let fs = MemFs::default().with(
        "/p/compose.yaml",
        "services:\n  s:\n    image: x\n    environment: [DEBUG, COMPOSE_PROJECT_NAME]\n    build: {context: ., args: [DEBUG, COMPOSE_PROJECT_NAME]}\nsecrets:\n  t: {environment: DEBUG}\n",
    );
    let env: Env = [("DEBUG".to_string(), "1".to_string())]
        .into_iter()
        .collect();
    let mut opts = LoadOptions::new(
        "/p".into(),
        vec![ConfigFile {
            path: "/p/compose.yaml".into(),
            content: None,
        }],
        env,
    );
    opts.interpolate = false;
    opts.resolve_from_env = false;
    let out = emit::to_yaml(&field::node_to_out(
        &load(&opts, &fs, &mut Vec::new()).unwrap().model,
        Fmt::Yaml,
    ));
    assert!(out.contains("- DEBUG\n"), "{out}");
    assert!(out.contains("- COMPOSE_PROJECT_NAME=p\n"), "{out}");
    assert!(!out.contains("DEBUG=1"), "{out}");
    assert!(!out.contains("x-#value"), "{out}");
    opts.resolve_from_env = true;
    let out = emit::to_yaml(&field::node_to_out(
        &load(&opts, &fs, &mut Vec::new()).unwrap().model,
        Fmt::Yaml,
    ));
    assert!(out.contains("DEBUG=1"), "{out}");
}
