//! The registry side of images: references, where a registry is reached (hosts.toml, certs.d),
//! credentials, and resolving and fetching manifests, configs and layers. Must not import
//! containerd: the caller writes what this module fetches into the content store.

pub mod auth;
pub mod hosts;
pub mod reference;
pub mod registry;

pub use reference::{ImageRef, RefError};
