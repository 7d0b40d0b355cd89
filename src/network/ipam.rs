//! Address management for berth's bridge networks, as plain data: which subnet a new network
//! gets (Docker's default pools, skipping what the host routes and what other networks use),
//! and which address each container gets inside it. Pure: the caller reads the host's routes
//! and the other networks' subnets, keeps a [`Subnet`] in its state file under the lock, and
//! writes it back after every change.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net};

/// A pool of subnets of one size: Docker's `default-address-pools` entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pool {
    pub base: Ipv4Net,
    /// The prefix length of the subnets handed out.
    pub size: u8,
}

/// Docker's default pools: 172.17.0.0/16 through 172.31.0.0/16, then 192.168.0.0/16 in /20s.
pub fn default_pools() -> Vec<Pool> {
    let mut pools: Vec<Pool> = (17..=31)
        .map(|b| Pool {
            base: Ipv4Net::new_assert(Ipv4Addr::new(172, b, 0, 0), 16),
            size: 16,
        })
        .collect();
    pools.push(Pool {
        base: Ipv4Net::new_assert(Ipv4Addr::new(192, 168, 0, 0), 16),
        size: 20,
    });
    pools
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum IpamError {
    #[error("all predefined address pools have been fully subnetted")]
    PoolsExhausted,
    #[error("no available IP addresses in {0}")]
    Full(IpNet),
    #[error("address {addr} is not in subnet {subnet}")]
    OutOfSubnet { addr: IpAddr, subnet: IpNet },
    #[error("address {0} is already in use")]
    InUse(IpAddr),
    #[error("ip_range {range} is not inside subnet {subnet}")]
    RangeOutside { range: IpNet, subnet: IpNet },
    #[error("gateway {gateway} is not in subnet {subnet}")]
    GatewayOutside { gateway: IpAddr, subnet: IpNet },
    #[error("subnet {subnet} overlaps with {other}")]
    Overlap { subnet: IpNet, other: IpNet },
}

/// The first subnet of `pools` that overlaps none of `taken` (the host's routes and the
/// subnets of other networks), as Docker picks one for a network without `ipam.config`.
pub fn choose_subnet(pools: &[Pool], taken: &[IpNet]) -> Result<IpNet, IpamError> {
    for pool in pools {
        let Ok(subnets) = pool.base.subnets(pool.size) else {
            continue;
        };
        for s in subnets {
            let s = IpNet::V4(s);
            if !taken.iter().any(|t| overlaps(&s, t)) {
                return Ok(s);
            }
        }
    }
    Err(IpamError::PoolsExhausted)
}

/// Whether two networks share an address.
pub fn overlaps(a: &IpNet, b: &IpNet) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

/// Checks a subnet the user asked for against the ones in use (Docker refuses overlaps).
pub fn check_free(subnet: &IpNet, taken: &[IpNet]) -> Result<(), IpamError> {
    match taken.iter().find(|t| overlaps(subnet, t)) {
        Some(other) => Err(IpamError::Overlap {
            subnet: *subnet,
            other: *other,
        }),
        None => Ok(()),
    }
}

/// One network's addresses: its subnet, gateway, the range containers are given addresses
/// from, and the addresses handed out. Serialized in the network's state file.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Subnet {
    pub subnet: IpNet,
    pub gateway: IpAddr,
    /// `ipam.config[].ip_range`; the whole subnet when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub range: Option<IpNet>,
    #[serde(default)]
    pub allocated: BTreeSet<IpAddr>,
}

impl Subnet {
    /// A subnet with `gateway` (default: its first host address, as Docker) and `range`.
    pub fn new(
        subnet: IpNet,
        gateway: Option<IpAddr>,
        range: Option<IpNet>,
    ) -> Result<Subnet, IpamError> {
        let subnet = subnet.trunc();
        if let Some(r) = range {
            if !subnet.contains(&r) {
                return Err(IpamError::RangeOutside { range: r, subnet });
            }
        }
        let gateway = match gateway {
            Some(g) if !subnet.contains(&g) => {
                return Err(IpamError::GatewayOutside { gateway: g, subnet })
            }
            Some(g) => g,
            None => nth(&subnet, 1).ok_or(IpamError::Full(subnet))?,
        };
        Ok(Subnet {
            subnet,
            gateway,
            range,
            allocated: BTreeSet::new(),
        })
    }

    /// Hands out `wanted` (`ipv4_address`/`ipv6_address`) or else the lowest free address of
    /// the range, never the network address, the gateway or (IPv4) the broadcast address.
    pub fn allocate(&mut self, wanted: Option<IpAddr>) -> Result<IpAddr, IpamError> {
        if let Some(a) = wanted {
            if !self.subnet.contains(&a) {
                return Err(IpamError::OutOfSubnet {
                    addr: a,
                    subnet: self.subnet,
                });
            }
            if !self.usable(a) || self.allocated.contains(&a) {
                return Err(IpamError::InUse(a));
            }
            self.allocated.insert(a);
            return Ok(a);
        }
        let range = self.range.unwrap_or(self.subnet);
        // Walk the range by offset; a /64 is far too big to walk whole, but allocations are
        // dense from the bottom, so the first free one is near `allocated.len()`.
        let limit = (self.allocated.len() as u128) + 3;
        for i in 0..=limit {
            let Some(a) = nth(&range, i) else { break };
            if self.usable(a) && !self.allocated.contains(&a) {
                self.allocated.insert(a);
                return Ok(a);
            }
        }
        Err(IpamError::Full(range))
    }

    /// Gives `addr` back; releasing an address not handed out is harmless.
    pub fn release(&mut self, addr: IpAddr) {
        self.allocated.remove(&addr);
    }

    fn usable(&self, a: IpAddr) -> bool {
        if a == self.gateway || a == self.subnet.network() {
            return false;
        }
        match self.subnet {
            // /31 and /32 have no broadcast address to keep free
            IpNet::V4(n) if n.prefix_len() < 31 => a != IpAddr::V4(n.broadcast()),
            _ => true,
        }
    }
}

/// The `i`-th address of `net` (0 is the network address), if inside it.
fn nth(net: &IpNet, i: u128) -> Option<IpAddr> {
    let a = match net.network() {
        IpAddr::V4(a) => {
            let v = u128::from(u32::from(a)).checked_add(i)?;
            IpAddr::V4(Ipv4Addr::from(u32::try_from(v).ok()?))
        }
        IpAddr::V6(a) => IpAddr::V6(Ipv6Addr::from(u128::from(a).checked_add(i)?)),
    };
    net.contains(&a).then_some(a)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }
    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn subnets_come_from_dockers_pools_skipping_what_is_taken() {
        let pools = default_pools();
        assert_eq!(choose_subnet(&pools, &[]).unwrap(), net("172.17.0.0/16"));
        // docker0 and a host route inside 172.18/16 push the choice on
        let taken = [net("172.17.0.0/16"), net("172.18.5.0/24")];
        assert_eq!(choose_subnet(&pools, &taken).unwrap(), net("172.19.0.0/16"));
        // a route covering all of 172.16/12 leaves the 192.168 /20s
        let taken = [net("172.16.0.0/12"), net("192.168.0.0/20")];
        assert_eq!(
            choose_subnet(&pools, &taken).unwrap(),
            net("192.168.16.0/20")
        );
        // a default route is not "taken": only specific routes are passed in by the caller,
        // but if everything is, that is Docker's error
        let all = [net("0.0.0.0/0")];
        assert_eq!(choose_subnet(&pools, &all), Err(IpamError::PoolsExhausted));
    }

    #[test]
    fn requested_subnets_must_not_overlap() {
        let taken = [net("10.10.0.0/16")];
        assert!(check_free(&net("10.11.0.0/24"), &taken).is_ok());
        assert_eq!(
            check_free(&net("10.10.3.0/24"), &taken),
            Err(IpamError::Overlap {
                subnet: net("10.10.3.0/24"),
                other: net("10.10.0.0/16")
            })
        );
    }

    #[test]
    fn addresses_skip_network_gateway_and_broadcast_and_are_reused() {
        let mut s = Subnet::new(net("10.89.0.0/29"), None, None).unwrap();
        assert_eq!(s.gateway, ip("10.89.0.1"));
        let got: Vec<IpAddr> = (0..5).map(|_| s.allocate(None).unwrap()).collect();
        assert_eq!(
            got,
            [
                "10.89.0.2",
                "10.89.0.3",
                "10.89.0.4",
                "10.89.0.5",
                "10.89.0.6"
            ]
            .map(ip)
        );
        assert_eq!(s.allocate(None), Err(IpamError::Full(net("10.89.0.0/29"))));
        s.release(ip("10.89.0.4"));
        assert_eq!(s.allocate(None).unwrap(), ip("10.89.0.4"));
    }

    #[test]
    fn fixed_addresses_ranges_and_gateways() {
        let mut s = Subnet::new(
            net("10.89.1.0/24"),
            Some(ip("10.89.1.254")),
            Some(net("10.89.1.128/25")),
        )
        .unwrap();
        // the range's first address is an ordinary host address of the subnet
        assert_eq!(s.allocate(None).unwrap(), ip("10.89.1.128"));
        assert_eq!(
            s.allocate(Some(ip("10.89.1.10"))).unwrap(),
            ip("10.89.1.10")
        );
        assert_eq!(
            s.allocate(Some(ip("10.89.1.10"))),
            Err(IpamError::InUse(ip("10.89.1.10")))
        );
        assert_eq!(
            s.allocate(Some(ip("10.89.1.254"))),
            Err(IpamError::InUse(ip("10.89.1.254")))
        );
        assert!(matches!(
            s.allocate(Some(ip("10.90.0.1"))),
            Err(IpamError::OutOfSubnet { .. })
        ));
        assert!(matches!(
            Subnet::new(net("10.89.1.0/24"), Some(ip("10.1.1.1")), None),
            Err(IpamError::GatewayOutside { .. })
        ));
        assert!(matches!(
            Subnet::new(net("10.89.1.0/24"), None, Some(net("10.89.2.0/25"))),
            Err(IpamError::RangeOutside { .. })
        ));
        // host bits in the subnet are dropped, as Docker does
        assert_eq!(
            Subnet::new(net("10.89.1.7/24"), None, None).unwrap().subnet,
            net("10.89.1.0/24")
        );
    }

    #[test]
    fn ipv6_allocates_from_the_bottom_of_a_huge_subnet() {
        let mut s = Subnet::new(net("fd00:b:e:1::/64"), None, None).unwrap();
        assert_eq!(s.gateway, ip("fd00:b:e:1::1"));
        assert_eq!(s.allocate(None).unwrap(), ip("fd00:b:e:1::2"));
        assert_eq!(s.allocate(None).unwrap(), ip("fd00:b:e:1::3"));
    }

    #[test]
    fn a_thousand_cycles_leak_nothing() {
        let mut s = Subnet::new(net("10.89.2.0/24"), None, None).unwrap();
        for _ in 0..1000 {
            let a: Vec<IpAddr> = (0..3).map(|_| s.allocate(None).unwrap()).collect();
            for x in a {
                s.release(x);
            }
        }
        assert!(s.allocated.is_empty());
        assert_eq!(s.allocate(None).unwrap(), ip("10.89.2.2"));
    }

    #[test]
    fn state_round_trips_as_json() {
        let mut s = Subnet::new(net("10.89.3.0/24"), None, None).unwrap();
        s.allocate(None).unwrap();
        let text = serde_json::to_string(&s).unwrap();
        assert_eq!(
            text,
            r#"{"subnet":"10.89.3.0/24","gateway":"10.89.3.1","allocated":["10.89.3.2"]}"#
        );
        assert_eq!(serde_json::from_str::<Subnet>(&text).unwrap(), s);
    }
}
