//! The only module that talks netlink (rtnetlink / netlink-packet-route): Linux bridges, veth
//! pairs, addresses, routes and link state, on the host or inside a network namespace.
//!
//! Every call is typed and async, and its error names what failed ("create bridge berth0: File
//! exists"). A [`Netlink`] is one netlink socket; [`Netlink::in_netns`] opens it from a thread
//! that entered the namespace (see `network::netns`), and the socket stays bound to that
//! namespace. Decisions (names, addresses, MTU) come from the caller as plain data; this module
//! only applies them.

use std::net::IpAddr;

use futures_util::TryStreamExt;
use ipnet::IpNet;
use netlink_packet_route::address::{AddressAttribute, AddressFlags, AddressHeaderFlags};
use netlink_packet_route::link::{
    InfoBridgePort, InfoData, InfoKind, InfoVeth, LinkAttribute, LinkFlags, LinkInfo, LinkMessage,
};
use nix::errno::Errno;
use rtnetlink::{
    Handle, LinkBridge, LinkBridgePort, LinkMessageBuilder, LinkUnspec, LinkVeth,
    RouteMessageBuilder,
};
use sha2::{Digest, Sha256};

use super::netns::{Netns, NetnsError};

/// Linux's IFNAMSIZ less the terminating NUL: the longest interface name.
pub const IFNAME_MAX: usize = 15;

/// Prefix of the host end of every veth berth makes.
pub const HOST_VETH_PREFIX: &str = "bveth";

#[derive(Debug, thiserror::Error)]
pub enum NetlinkError {
    /// A netlink request failed; `errno` is the kernel's error when it gave one.
    #[error("{what}: {detail}")]
    Request {
        what: String,
        errno: Option<Errno>,
        detail: String,
    },
    #[error("invalid interface name {name:?}: {reason}")]
    InvalidName { name: String, reason: &'static str },
    #[error("{what}: {reason}")]
    Conflict { what: String, reason: String },
    #[error(transparent)]
    Netns(#[from] NetnsError),
    #[error("open netlink socket in {place}: {source}")]
    Socket {
        place: String,
        #[source]
        source: std::io::Error,
    },
}

impl NetlinkError {
    /// The kernel's errno, when the failure was a netlink request the kernel refused.
    pub fn errno(&self) -> Option<Errno> {
        match self {
            NetlinkError::Request { errno, .. } => *errno,
            _ => None,
        }
    }
}

type Result<T> = std::result::Result<T, NetlinkError>;

/// Turns rtnetlink's error into ours, naming the operation. The kernel's errno is described the
/// way `ip` does ("File exists"), not as rtnetlink's debug dump of the message.
fn request_err(what: impl Into<String>) -> impl FnOnce(rtnetlink::Error) -> NetlinkError {
    let what = what.into();
    move |e| {
        let errno = match &e {
            rtnetlink::Error::NetlinkError(m) => m.code.map(|c| Errno::from_raw(-c.get())),
            _ => None,
        };
        let detail = match errno {
            Some(errno) => errno.desc().to_string(),
            None => e.to_string(),
        };
        NetlinkError::Request {
            what,
            errno,
            detail,
        }
    }
}

/// Checks an interface name as the kernel's dev_valid_name does: 1 to 15 bytes, not . or ..,
/// no '/', ':' or whitespace.
pub fn validate_ifname(name: &str) -> Result<()> {
    let bad = |reason| {
        Err(NetlinkError::InvalidName {
            name: name.to_string(),
            reason,
        })
    };
    if name.is_empty() {
        return bad("it is empty");
    }
    if name.len() > IFNAME_MAX {
        return bad("it is longer than 15 bytes (Linux's IFNAMSIZ)");
    }
    if name == "." || name == ".." {
        return bad("it is . or ..");
    }
    if name
        .chars()
        .any(|c| c == '/' || c == ':' || c.is_whitespace() || c.is_control())
    {
        return bad("it contains '/', ':', a space or a control character");
    }
    Ok(())
}

/// The host end's name of the veth that joins `container` to `network`: "bveth" and the first
/// 10 hex digits of a SHA-256 of both, so the same pair always gets the same name (a crashed
/// `up` is repaired, `down` can find it) and different pairs practically never collide.
pub fn host_veth_name(container: &str, network: &str) -> String {
    let mut h = Sha256::new();
    h.update(container.as_bytes());
    h.update([0]);
    h.update(network.as_bytes());
    let digest = h.finalize();
    let mut name = String::from(HOST_VETH_PREFIX);
    for b in digest.iter().take(5) {
        name.push_str(&format!("{b:02x}"));
    }
    name
}

/// The name of a container's `n`th interface (0-based): eth0, eth1, ...
pub fn container_ifname(n: usize) -> String {
    format!("eth{n}")
}

/// A link as the kernel reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub index: u32,
    pub name: String,
    /// "bridge", "veth", ...; None for devices with no rtnl kind (lo, physical NICs).
    pub kind: Option<String>,
    pub mtu: Option<u32>,
    /// Administratively up (IFF_UP).
    pub up: bool,
    /// The index of the bridge (or other controller) the link is attached to.
    pub controller: Option<u32>,
    pub mac: Option<Vec<u8>>,
}

impl Link {
    fn from_message(m: &LinkMessage) -> Link {
        let mut link = Link {
            index: m.header.index,
            name: String::new(),
            kind: None,
            mtu: None,
            up: m.header.flags.contains(LinkFlags::Up),
            controller: None,
            mac: None,
        };
        for attr in &m.attributes {
            match attr {
                LinkAttribute::IfName(n) => link.name = n.clone(),
                LinkAttribute::Mtu(mtu) => link.mtu = Some(*mtu),
                LinkAttribute::Controller(c) => link.controller = Some(*c),
                LinkAttribute::Address(a) => link.mac = Some(a.clone()),
                LinkAttribute::LinkInfo(infos) => {
                    for info in infos {
                        if let LinkInfo::Kind(k) = info {
                            link.kind = Some(k.to_string());
                        }
                    }
                }
                _ => {}
            }
        }
        link
    }
}

/// An address on a link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address {
    pub link_index: u32,
    pub addr: IpNet,
}

/// A Linux bridge berth wants to exist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BridgeConfig {
    pub name: String,
    pub mtu: Option<u32>,
    /// The gateway addresses with their prefix (10.1.2.1/24, fd00::1/64).
    pub addresses: Vec<IpNet>,
}

/// One container interface: a veth whose host end joins `bridge` and whose peer becomes
/// `ifname` inside the container's namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VethConfig {
    /// The host end; see [`host_veth_name`].
    pub host_name: String,
    pub bridge: String,
    /// eth0, eth1, ...; see [`container_ifname`].
    pub ifname: String,
    pub mtu: Option<u32>,
    pub mac: Option<[u8; 6]>,
    /// The container's addresses with their prefix (10.1.2.5/24).
    pub addresses: Vec<IpNet>,
    /// Default routes, at most one per family; none for an internal network.
    pub gateways: Vec<IpAddr>,
}

/// A netlink socket, on the host or inside one network namespace.
#[derive(Clone)]
pub struct Netlink {
    handle: Handle,
    /// "the host" or "network namespace <path>", for error messages.
    place: String,
}

impl std::fmt::Debug for Netlink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Netlink")
            .field("place", &self.place)
            .finish()
    }
}

impl Netlink {
    /// A socket in the calling thread's namespace (berth's own: the host). Must be called inside
    /// a tokio runtime, which drives the socket until the last clone is dropped.
    pub fn host() -> Result<Netlink> {
        let (conn, handle, _) =
            rtnetlink::new_connection().map_err(|source| NetlinkError::Socket {
                place: "the host".into(),
                source,
            })?;
        tokio::spawn(conn);
        Ok(Netlink {
            handle,
            place: "the host".into(),
        })
    }

    /// A socket inside `ns`: opened on a thread that entered `ns` and then ended, so no tokio
    /// worker changes namespace. Must be called inside a tokio runtime.
    pub async fn in_netns(ns: &Netns) -> Result<Netlink> {
        let place = format!("network namespace {}", ns.path().display());
        let rt = tokio::runtime::Handle::current();
        let (tx, rx) = tokio::sync::oneshot::channel();
        let thread = ns.spawn_in(move || {
            // The socket registers with the runtime's reactor, hence the runtime context.
            let _guard = rt.enter();
            let _ = tx.send(rtnetlink::new_connection());
        })?;
        let opened = match rx.await {
            Ok(opened) => opened,
            // The closure never ran: entering the namespace failed, and the thread has ended
            // (or is ending) with that error, so joining it does not wait.
            Err(_) => {
                return Err(match thread.join() {
                    Ok(Err(e)) => e.into(),
                    _ => NetlinkError::Socket {
                        place,
                        source: std::io::Error::other(
                            "the namespace thread ended without a socket",
                        ),
                    },
                })
            }
        };
        let (conn, handle, _) = opened.map_err(|source| NetlinkError::Socket {
            place: place.clone(),
            source,
        })?;
        tokio::spawn(conn);
        Ok(Netlink { handle, place })
    }

    /// Where this socket is, for messages: "the host" or "network namespace <path>".
    pub fn place(&self) -> &str {
        &self.place
    }

    fn on_host(&self) -> bool {
        self.place == "the host"
    }

    /// Names an interface for errors: on the host just its name, else with the namespace.
    fn what(&self, verb: &str, name: &str) -> String {
        if self.on_host() {
            format!("{verb} {name}")
        } else {
            format!("{verb} {name} in {}", self.place)
        }
    }

    /// Every link.
    pub async fn links(&self) -> Result<Vec<Link>> {
        let msgs: Vec<LinkMessage> = self
            .handle
            .link()
            .get()
            .execute()
            .try_collect()
            .await
            .map_err(request_err(format!("list links in {}", self.place)))?;
        Ok(msgs.iter().map(Link::from_message).collect())
    }

    /// The link called `name`, if there is one.
    pub async fn link(&self, name: &str) -> Result<Option<Link>> {
        validate_ifname(name)?;
        let got: std::result::Result<Vec<LinkMessage>, _> = self
            .handle
            .link()
            .get()
            .match_name(name.to_string())
            .execute()
            .try_collect()
            .await;
        match got {
            Ok(msgs) => Ok(msgs.first().map(Link::from_message)),
            Err(e) => {
                let e = request_err(self.what("look up link", name))(e);
                if e.errno() == Some(Errno::ENODEV) {
                    Ok(None)
                } else {
                    Err(e)
                }
            }
        }
    }

    async fn require_link(&self, verb: &str, name: &str) -> Result<Link> {
        self.link(name).await?.ok_or_else(|| NetlinkError::Request {
            what: self.what(verb, name),
            errno: Some(Errno::ENODEV),
            detail: "no such link".into(),
        })
    }

    /// Every address, on every link.
    pub async fn addresses(&self) -> Result<Vec<Address>> {
        let msgs: Vec<_> = self
            .handle
            .address()
            .get()
            .execute()
            .try_collect()
            .await
            .map_err(request_err(format!("list addresses in {}", self.place)))?;
        let mut out = Vec::new();
        for m in msgs {
            // IFA_LOCAL is the interface's own address on point-to-point links; IFA_ADDRESS is
            // it everywhere else. Prefer IFA_LOCAL as iproute2 does.
            let mut addr = None;
            for attr in &m.attributes {
                match attr {
                    AddressAttribute::Local(a) => addr = Some(*a),
                    AddressAttribute::Address(a) if addr.is_none() => addr = Some(*a),
                    _ => {}
                }
            }
            if let Some(a) = addr {
                if let Ok(net) = IpNet::new(a, m.header.prefix_len) {
                    out.push(Address {
                        link_index: m.header.index,
                        addr: net,
                    });
                }
            }
        }
        Ok(out)
    }

    /// Makes sure bridge `b.name` exists with `b`'s MTU and addresses and is up. An existing
    /// bridge of that name is reused (and given what it lacks); a link of another kind with
    /// that name is an error. Returns the bridge.
    pub async fn ensure_bridge(&self, b: &BridgeConfig) -> Result<Link> {
        validate_ifname(&b.name)?;
        let link = match self.link(&b.name).await? {
            Some(l) => l,
            None => {
                let mut msg = LinkBridge::new(&b.name);
                if let Some(mtu) = b.mtu {
                    msg = msg.mtu(mtu);
                }
                let added = self
                    .handle
                    .link()
                    .add(msg.build())
                    .execute()
                    .await
                    .map_err(request_err(self.what("create bridge", &b.name)));
                match added {
                    Ok(()) => {}
                    // Made meanwhile by someone else: checked below like any existing link.
                    Err(e) if e.errno() == Some(Errno::EEXIST) => {}
                    Err(e) => return Err(e),
                }
                self.require_link("create bridge", &b.name).await?
            }
        };
        if link.kind.as_deref() != Some("bridge") {
            return Err(NetlinkError::Conflict {
                what: self.what("create bridge", &b.name),
                reason: format!(
                    "a link of kind {} already has this name",
                    link.kind.as_deref().unwrap_or("(none)")
                ),
            });
        }
        if let Some(mtu) = b.mtu {
            if link.mtu != Some(mtu) {
                self.handle
                    .link()
                    .set(LinkUnspec::new_with_index(link.index).mtu(mtu).build())
                    .execute()
                    .await
                    .map_err(request_err(format!(
                        "{} to {mtu}",
                        self.what("set the MTU of bridge", &b.name)
                    )))?;
            }
        }
        for addr in &b.addresses {
            self.add_address_at(link.index, &b.name, *addr).await?;
        }
        self.set_up(&b.name).await?;
        self.require_link("create bridge", &b.name).await
    }

    /// Deletes link `name`. Returns false when there was none (nothing to do). Deleting either
    /// end of a veth deletes both.
    pub async fn delete_link(&self, name: &str) -> Result<bool> {
        let Some(link) = self.link(name).await? else {
            return Ok(false);
        };
        match self
            .handle
            .link()
            .del(link.index)
            .execute()
            .await
            .map_err(request_err(self.what("delete link", name)))
        {
            Ok(()) => Ok(true),
            Err(e) if e.errno() == Some(Errno::ENODEV) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Gives link `name` the MAC address `mac` (nothing to do when it has it). A bridge with an
    /// address of its own keeps it; otherwise Linux gives it the lowest address of its ports,
    /// which changes as containers come and go and leaves their ARP caches pointing at a
    /// gateway address no longer there.
    pub async fn set_mac(&self, name: &str, mac: [u8; 6]) -> Result<()> {
        let link = self.require_link("set the MAC address of", name).await?;
        if link.mac.as_deref() == Some(&mac[..]) {
            return Ok(());
        }
        self.handle
            .link()
            .set(
                LinkUnspec::new_with_index(link.index)
                    .address(mac.to_vec())
                    .build(),
            )
            .execute()
            .await
            .map_err(request_err(self.what("set the MAC address of", name)))
    }

    /// Sets link `name` up.
    pub async fn set_up(&self, name: &str) -> Result<()> {
        let link = self.require_link("set up", name).await?;
        self.handle
            .link()
            .set(LinkUnspec::new_with_index(link.index).up().build())
            .execute()
            .await
            .map_err(request_err(self.what("set up", name)))
    }

    /// Turns hairpin mode on (or off) on bridge port `name`, a veth's host end: the bridge may
    /// then send a frame back out of the port it came in by. A container reaching its own
    /// published port through a host address needs it when br_netfilter is loaded: the DNAT
    /// then happens as the frame enters the bridge, and the frame must go back where it came
    /// from (Docker sets it for the same reason when it runs without its userland proxy).
    pub async fn set_hairpin(&self, name: &str, on: bool) -> Result<()> {
        let link = self.require_link("set hairpin mode on", name).await?;
        // Port settings go by RTM_NEWLINK (`set_port`); RTM_SETLINK ignores them.
        self.handle
            .link()
            .set_port(
                LinkBridgePort::new(link.index)
                    .append_info_data(InfoBridgePort::HairpinMode(on))
                    .build(),
            )
            .execute()
            .await
            .map_err(request_err(self.what("set hairpin mode on", name)))
    }

    /// Adds `addr` to link `name`; an address already there is fine. IPv6 addresses skip
    /// duplicate address detection: berth's IPAM already made them unique, and DAD would leave
    /// them unusable for a second or more.
    pub async fn add_address(&self, name: &str, addr: IpNet) -> Result<()> {
        let link = self.require_link("add an address to", name).await?;
        self.add_address_at(link.index, name, addr).await
    }

    async fn add_address_at(&self, index: u32, name: &str, addr: IpNet) -> Result<()> {
        let mut req = self
            .handle
            .address()
            .add(index, addr.addr(), addr.prefix_len());
        if addr.addr().is_ipv6() {
            let m = req.message_mut();
            m.header.flags |= AddressHeaderFlags::Nodad;
            m.attributes
                .push(AddressAttribute::Flags(AddressFlags::Nodad));
        }
        match req
            .execute()
            .await
            .map_err(request_err(format!("{} {addr}", self.what("add to", name))))
        {
            Ok(()) => Ok(()),
            Err(e) if e.errno() == Some(Errno::EEXIST) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Sets the default route of `gateway`'s family to go through `gateway` on link `name`,
    /// replacing an existing default route of that family.
    pub async fn set_default_route(&self, name: &str, gateway: IpAddr) -> Result<()> {
        let what = format!("{} via {gateway}", self.what("add default route on", name));
        let link = self.require_link("add default route on", name).await?;
        let msg = match gateway {
            IpAddr::V4(gw) => RouteMessageBuilder::<std::net::Ipv4Addr>::new()
                .gateway(gw)
                .output_interface(link.index)
                .build(),
            IpAddr::V6(gw) => RouteMessageBuilder::<std::net::Ipv6Addr>::new()
                .gateway(gw)
                .output_interface(link.index)
                .build(),
        };
        self.handle
            .route()
            .add(msg)
            .replace()
            .execute()
            .await
            .map_err(request_err(what))
    }

    /// Creates the veth pair of `v`: the host end (this socket's namespace) attached to bridge
    /// `v.bridge` and up; the peer made directly inside `ns` under the name `v.ifname`, so no
    /// temporary name is ever seen on the host. A leftover host end of the same name (a crash)
    /// is deleted first. Does not configure the inside; see [`attach`].
    pub async fn create_veth(&self, v: &VethConfig, ns: &Netns) -> Result<Link> {
        validate_ifname(&v.host_name)?;
        validate_ifname(&v.ifname)?;
        let what = format!(
            "create veth {} (peer {} in {})",
            v.host_name,
            v.ifname,
            ns.path().display()
        );
        let bridge = self
            .require_link("attach a veth to bridge", &v.bridge)
            .await?;
        if bridge.kind.as_deref() != Some("bridge") {
            return Err(NetlinkError::Conflict {
                what,
                reason: format!("{} is not a bridge", v.bridge),
            });
        }
        self.delete_link(&v.host_name).await?;

        let mut peer =
            LinkUnspec::new_with_name(&v.ifname).setns_by_fd(std::os::fd::AsRawFd::as_raw_fd(ns));
        if let Some(mtu) = v.mtu {
            peer = peer.mtu(mtu);
        }
        if let Some(mac) = v.mac {
            peer = peer.address(mac.to_vec());
        }
        let mut host: LinkMessageBuilder<LinkVeth> =
            LinkMessageBuilder::<LinkVeth>::new_with_info_kind(InfoKind::Veth)
                .name(v.host_name.clone())
                .controller(bridge.index)
                .set_info_data(InfoData::Veth(InfoVeth::Peer(peer.build())));
        if let Some(mtu) = v.mtu {
            host = host.mtu(mtu);
        }
        self.handle
            .link()
            .add(host.up().build())
            .execute()
            .await
            .map_err(request_err(what))?;
        self.require_link("create veth", &v.host_name).await
    }
}

/// Joins a container to a bridge: creates the veth of `v` with `host` and configures the inside
/// of `ns` (lo up, `v.ifname` up with its addresses, default routes). When any step fails the
/// veth is deleted again, so nothing half-made is left; the error is the step's.
pub async fn attach(host: &Netlink, ns: &Netns, v: &VethConfig) -> Result<Link> {
    let link = host.create_veth(v, ns).await?;
    let inside = async {
        let nl = Netlink::in_netns(ns).await?;
        nl.set_up("lo").await?;
        for a in &v.addresses {
            nl.add_address(&v.ifname, *a).await?;
        }
        nl.set_up(&v.ifname).await?;
        for gw in &v.gateways {
            nl.set_default_route(&v.ifname, *gw).await?;
        }
        Ok::<(), NetlinkError>(())
    };
    if let Err(e) = inside.await {
        let _ = host.delete_link(&v.host_name).await;
        return Err(e);
    }
    Ok(link)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interface_names() {
        for ok in ["eth0", "berth0", "br-0123456789a", &"a".repeat(15)] {
            validate_ifname(ok).unwrap();
        }
        for bad in ["", ".", "..", "a/b", "a:b", "a b", "a\tb", &"a".repeat(16)] {
            let e = validate_ifname(bad).unwrap_err().to_string();
            assert!(e.starts_with("invalid interface name"), "{e}");
        }
        assert!(validate_ifname(&"a".repeat(16))
            .unwrap_err()
            .to_string()
            .contains("IFNAMSIZ"));
    }

    #[test]
    fn host_veth_names_are_stable_short_and_distinct() {
        let a = host_veth_name("proj-web-1", "proj_default");
        assert_eq!(a, host_veth_name("proj-web-1", "proj_default"));
        assert_eq!(a.len(), IFNAME_MAX);
        assert!(a.starts_with(HOST_VETH_PREFIX));
        validate_ifname(&a).unwrap();
        assert_ne!(a, host_veth_name("proj-web-2", "proj_default"));
        assert_ne!(a, host_veth_name("proj-web-1", "proj_back"));
        // The separator keeps ("ab", "c") and ("a", "bc") apart.
        assert_ne!(host_veth_name("ab", "c"), host_veth_name("a", "bc"));
        // Fixed value: the name must not change between berth versions, or `down` after an
        // upgrade could not find the veths an older berth made.
        assert_eq!(host_veth_name("c", "n"), "bveth75e29cc4f4");
        assert!(a[HOST_VETH_PREFIX.len()..]
            .chars()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
    }

    #[test]
    fn container_interface_names() {
        assert_eq!(container_ifname(0), "eth0");
        assert_eq!(container_ifname(3), "eth3");
    }

    #[test]
    fn errors_name_the_operation_and_describe_errno() {
        let e = NetlinkError::Request {
            what: "create bridge berth0".into(),
            errno: Some(Errno::EEXIST),
            detail: Errno::EEXIST.desc().into(),
        };
        assert_eq!(e.to_string(), "create bridge berth0: File exists");
        assert_eq!(e.errno(), Some(Errno::EEXIST));
    }
}
