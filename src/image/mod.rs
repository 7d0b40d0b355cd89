//! Images: references, registries, storing and unpacking into containerd.

pub mod auth;
pub mod hosts;
pub mod local;
pub mod pull;
pub mod reference;
pub mod registry;
pub mod store;
