//! berth's networks: address management (pure), the named network namespaces containers run in
//! (`netns`) and the bridges, veth pairs, addresses and routes that connect them (`netlink`, the
//! only module that talks netlink); the firewall and service-name DNS join as issue 5 lands.
//! Knows nothing of compose or containerd: `app` decides names, subnets and addresses and passes
//! them in as plain data.

pub mod cni;
pub mod ipam;
pub mod netlink;
pub mod netns;
