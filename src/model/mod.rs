//! The Compose model: load, interpolate, merge, normalize and validate a project exactly as
//! Docker Compose v2 does, and print it as `docker compose config` does. Pure: it reads files and
//! environment only through what the caller passes in, and knows nothing of containerd, OCI or
//! netlink.

pub mod emit;
pub mod error;
pub mod field;
pub mod node;
pub mod yaml;
