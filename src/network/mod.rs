//! berth's networks: address management (pure), the named network namespaces containers run in
//! (`netns`) and the bridges, veth pairs, addresses and routes that connect them (`netlink`, the
//! only module that talks netlink); the firewall's rules (`firewall`, pure), the one module that
//! runs `nft` (`nft`) and the kernel settings they need (`sysctl`); each network as a CNI
//! conflist for other tools to read (`cni`, pure rendering).
//! Knows nothing of compose or containerd: `app` decides names, subnets and addresses and passes
//! them in as plain data.

pub mod cni;
pub mod firewall;
pub mod ipam;
pub mod netlink;
pub mod netns;
pub mod nft;
pub mod sysctl;
