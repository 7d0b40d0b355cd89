//! The typed Compose project: the Rust counterpart of compose-go's `types` package. Decodes the
//! canonical tree (long syntax everywhere) into typed values and encodes them back in the key
//! order and with the omit rules `docker compose config` prints.
//!
//! Field sets follow the compose-go that the reference `docker compose` build prints with (the
//! corpus shows `gpus`, `post_start`/`pre_stop`, `label_file`, long-form `devices`, watch `exec`,
//! service network `driver_opts`, bind `recursive`, build `entitlements`), a superset of v2.0.2.

pub mod duration;
pub mod project;
pub mod service;
pub mod values;

#[cfg(test)]
mod corpus_tests;
#[cfg(test)]
pub(crate) mod test_yaml;

pub use duration::{format_go_duration, parse_go_duration, Duration};
pub use project::{
    ConfigObjConfig, FileObjectConfig, IpamConfig, IpamPool, NetworkConfig, Project, SecretConfig,
    VolumeConfig,
};
pub use service::*;
pub use values::*;
