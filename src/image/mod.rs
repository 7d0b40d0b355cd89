//! Images: references, registries, storing and unpacking into containerd.

pub mod store;
