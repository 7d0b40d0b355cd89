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
pub mod merge;
pub mod node;
pub mod normalize;
pub mod paths;
pub mod project;
pub mod schema;
pub mod template;
pub mod types;
pub mod yaml;
