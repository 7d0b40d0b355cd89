//! berth: Docker Compose for machines that run containerd and no Docker daemon.
//!
//! The library holds every layer; `main.rs` only runs the command line and exits with its code.

pub mod app;
pub mod cli;
pub mod containerd;
pub mod dns;
pub mod health;
pub mod image;
pub mod logs;
pub mod model;
pub mod network;
pub mod plan;
pub mod progress;
pub mod spec;
pub mod state;
