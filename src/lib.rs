//! berth: Docker Compose for machines that run containerd and no Docker daemon.
//!
//! The library holds every layer; `main.rs` only sets up logging and maps errors to exit codes.

pub mod model;
