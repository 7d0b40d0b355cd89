//! The Compose model: load, interpolate, merge, normalize and validate a project exactly as
//! Docker Compose v2 does, and print it as `docker compose config` does. Pure: it reads files and
//! environment only through what the caller passes in, and knows nothing of containerd, OCI or
//! netlink.

pub mod canonical;
pub mod checks;
pub mod dotenv;
pub mod emit;
pub mod error;
pub mod field;
pub mod interpolate;
pub mod loader;
#[cfg(test)]
mod loader_tests;
pub mod memfs;
pub mod merge;
pub mod node;
pub mod normalize;
pub mod paths;
pub mod project;
pub mod schema;
pub mod template;
pub mod types;
pub mod yaml;

/// The fuzzer's entry point: loads `data` as a project's only compose file, builds the typed
/// project and prints it in both formats. It must never panic, whatever the bytes.
pub fn fuzz_load(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let fs = memfs::MemFs::default().with("/fuzz/compose.yaml", text);
    let opts = loader::LoadOptions::new(
        std::path::PathBuf::from("/fuzz"),
        vec![loader::ConfigFile {
            path: std::path::PathBuf::from("/fuzz/compose.yaml"),
            content: None,
        }],
        loader::Env::new(),
    );
    let Ok(loaded) = loader::load(&opts, &fs, &mut Vec::new()) else {
        return;
    };
    let settings = project::ProjectSettings {
        consistency: true,
        resolve_environment: true,
        discard_env_files: true,
        ..project::ProjectSettings::default()
    };
    let env = loaded.env.clone();
    if let Ok(p) = project::build(&loaded, &env, &fs, &settings, &mut Vec::new()) {
        let _ = emit::to_yaml(&p.to_out(field::Fmt::Yaml));
        let _ = emit::to_json(&p.to_out(field::Fmt::Json), true);
        for s in p.services.values() {
            let _ = project::service_hash(s);
        }
    }
}
