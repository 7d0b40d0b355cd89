//! Images: references, where a registry is reached (hosts.toml, certs.d), credentials,
//! resolving and fetching manifests, configs and layers, and storing and unpacking them into
//! containerd. Only `store`, `local` and `pull` talk to containerd; the registry side (`reference`, `hosts`, `auth`,
//! `registry`) must not import it.

pub mod auth;
pub mod hosts;
pub mod local;
pub mod pull;
pub mod reference;
pub mod registry;
pub mod store;

pub use reference::{ImageRef, RefError};
