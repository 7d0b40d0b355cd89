//! berth's networks: address management (pure) for now; bridges over netlink, the firewall and
//! service-name DNS join it as issue 5 lands. Knows nothing of containerd.

pub mod ipam;
