//! Host ports on this machine: whether a published port is free ([`check_free`], called before
//! any container starts) and which port a range or random binding gets ([`pick`],
//! [`resolve`]). A port counts as taken when a socket of ours cannot be bound on it the way a
//! server would bind it: TCP with `SO_REUSEADDR` (so only a listener, not a connection in
//! TIME_WAIT, holds it), UDP without. Nothing listens: the socket is closed at once.
//!
//! "All addresses" is tested with one dual-stack socket on `::`, which conflicts with any IPv4 or
//! IPv6 user of the port; on a host without IPv6 with one on `0.0.0.0`.
//!
//! berth's own published ports are DNAT rules, not sockets, so a bind test does not see them:
//! [`published_by_berth`] reads them from the network records' endpoints, [`check_unpublished`]
//! refuses a binding one of them holds, and [`pick`] / [`resolve`] take them as `avoid`.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use socket2::{Domain, Protocol, Socket, Type};

use crate::plan::ports::{HostBinding, HostPort, PortRecord, Proto, Publish};
use crate::state::networks::{Network, Published};

/// How many times a random port that berth already handed out is drawn again.
const RANDOM_TRIES: usize = 64;

#[derive(Debug, thiserror::Error)]
pub enum HostPortError {
    /// Docker's engine says `Error starting userland proxy: listen tcp4 0.0.0.0:8080: bind:
    /// address already in use` when it tries; berth says it before anything starts.
    #[error("host port {binding} is already in use by another program on this host (bind {}: address already in use)", binding.addr())]
    Taken { binding: HostBinding },
    /// libnetwork `portallocator.ErrAllPortsAllocated` for a range.
    #[error("no free host port in {first}-{last} on {}/{proto}: all ports are allocated", ip_text(*ip))]
    RangeFull {
        ip: Option<IpAddr>,
        first: u16,
        last: u16,
        proto: Proto,
    },
    /// Docker's engine: libnetwork `portallocator.ErrPortAlreadyAllocated`.
    #[error("host port {binding} is already published by container {owner}: Bind for {} failed: port is already allocated", binding.addr())]
    Published { binding: HostBinding, owner: String },
    #[error("no free host port on {}/{proto}: all ports are allocated", ip_text(*ip))]
    NoneFree { ip: Option<IpAddr>, proto: Proto },
    #[error("host port {binding}: cannot bind {}: {source}", binding.addr())]
    Bind {
        binding: HostBinding,
        source: io::Error,
    },
}

fn ip_text(ip: Option<IpAddr>) -> String {
    match ip {
        None => "0.0.0.0".into(),
        Some(ip) => ip.to_string(),
    }
}

/// Fails on the first binding another program holds, naming its address, port and protocol.
pub fn check_free(bindings: &[HostBinding]) -> Result<(), HostPortError> {
    for b in bindings {
        if try_bind(*b)?.is_none() {
            return Err(HostPortError::Taken { binding: *b });
        }
    }
    Ok(())
}

/// The host port for one published port: a fixed one if free, the first free one of a range,
/// or one the kernel hands out; never one that overlaps `avoid` (ports berth has already
/// given to other containers of this run).
pub fn pick(
    ip: Option<IpAddr>,
    port: HostPort,
    proto: Proto,
    avoid: &[HostBinding],
) -> Result<u16, HostPortError> {
    let taken_by_us = |b: &HostBinding| avoid.iter().any(|a| a.overlaps(b));
    match port {
        HostPort::Fixed(port) => {
            let binding = HostBinding { ip, port, proto };
            if taken_by_us(&binding) || try_bind(binding)?.is_none() {
                return Err(HostPortError::Taken { binding });
            }
            Ok(port)
        }
        HostPort::Range(first, last) => {
            for port in first..=last {
                let binding = HostBinding { ip, port, proto };
                if !taken_by_us(&binding) && try_bind(binding)?.is_some() {
                    return Ok(port);
                }
            }
            Err(HostPortError::RangeFull {
                ip,
                first,
                last,
                proto,
            })
        }
        HostPort::Random => {
            let any = HostBinding { ip, port: 0, proto };
            for _ in 0..RANDOM_TRIES {
                let Some(port) = try_bind(any)? else {
                    break;
                };
                if !taken_by_us(&HostBinding { ip, port, proto }) {
                    return Ok(port);
                }
            }
            Err(HostPortError::NoneFree { ip, proto })
        }
    }
}

/// The records of one container's ports: each published port gets its host port from
/// [`pick`], which is then added to `avoid` for the next ones.
pub fn resolve(
    ports: &[Publish],
    avoid: &mut Vec<HostBinding>,
) -> Result<Vec<PortRecord>, HostPortError> {
    let mut out = Vec::with_capacity(ports.len());
    for p in ports {
        match p.host {
            None => out.push(p.resolve(0)),
            Some(h) => {
                let port = pick(h.ip, h.port, p.proto, avoid)?;
                let r = p.resolve(port);
                if let Some(b) = r.binding() {
                    avoid.push(b);
                }
                out.push(r);
            }
        }
    }
    Ok(out)
}

/// The host ports berth publishes, from the endpoints of the network records, each with the
/// endpoint's key (`<namespace>/<container>`) to name its owner.
pub fn published_by_berth<'a>(
    networks: impl IntoIterator<Item = &'a Network>,
) -> Vec<(String, HostBinding)> {
    let mut out = Vec::new();
    for n in networks {
        for (key, e) in &n.endpoints {
            for p in &e.ports {
                let proto = match p.proto.as_str() {
                    "tcp" => Proto::Tcp,
                    "udp" => Proto::Udp,
                    _ => continue,
                };
                out.push((
                    key.clone(),
                    HostBinding {
                        ip: p.host_ip,
                        port: p.host_port,
                        proto,
                    },
                ));
            }
        }
    }
    out
}

/// Fails on the first binding that overlaps one berth already publishes for another container
/// (`published` as [`published_by_berth`] gives it, without the containers being replaced).
pub fn check_unpublished(
    bindings: &[HostBinding],
    published: &[(String, HostBinding)],
) -> Result<(), HostPortError> {
    for b in bindings {
        if let Some((owner, _)) = published.iter().find(|(_, p)| p.overlaps(b)) {
            return Err(HostPortError::Published {
                binding: *b,
                owner: owner.clone(),
            });
        }
    }
    Ok(())
}

/// The published ones of a container's records, as the network records keep them.
pub fn to_published(records: &[PortRecord]) -> Vec<Published> {
    records
        .iter()
        .filter_map(|r| {
            Some(Published {
                host_ip: r.host_ip,
                host_port: r.host_port?,
                container_port: r.container_port,
                proto: r.proto.as_str().to_owned(),
            })
        })
        .collect()
}

/// Binds (and closes) a socket as a server would: `Some(port)` when it could (the port the
/// kernel chose for port 0), `None` when the address is in use.
fn try_bind(b: HostBinding) -> Result<Option<u16>, HostPortError> {
    let attempt = |addr: SocketAddr, dual_stack: bool| -> io::Result<u16> {
        let (ty, protocol) = match b.proto {
            Proto::Tcp => (Type::STREAM, Protocol::TCP),
            Proto::Udp => (Type::DGRAM, Protocol::UDP),
        };
        let s = Socket::new(Domain::for_address(addr), ty, Some(protocol))?;
        if b.proto == Proto::Tcp {
            s.set_reuse_address(true)?;
        }
        // all addresses: one socket for both families; `::` given: IPv6 only, as Docker binds it
        if addr.is_ipv6() {
            s.set_only_v6(!dual_stack)?;
        }
        s.bind(&addr.into())?;
        let local = s.local_addr()?;
        Ok(local.as_socket().map_or(addr.port(), |a| a.port()))
    };
    let result = match b.ip {
        Some(ip) => attempt(SocketAddr::new(ip, b.port), false),
        None => match attempt(SocketAddr::new(Ipv6Addr::UNSPECIFIED.into(), b.port), true) {
            // no IPv6 on this host: all addresses are the IPv4 ones
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::EAFNOSUPPORT) | Some(libc::EADDRNOTAVAIL)
                ) =>
            {
                attempt(SocketAddr::new(Ipv4Addr::UNSPECIFIED.into(), b.port), false)
            }
            r => r,
        },
    };
    match result {
        Ok(port) => Ok(Some(port)),
        Err(e) if e.kind() == io::ErrorKind::AddrInUse => Ok(None),
        Err(source) => Err(HostPortError::Bind { binding: b, source }),
    }
}

#[cfg(test)]
mod tests {
    //! Loopback only: every socket here is on 127.0.0.1, except the "all addresses" probes,
    //! which bind (never listen on) a port a loopback listener of the test already holds.
    use super::*;
    use std::net::{TcpListener, UdpSocket};

    fn lo() -> Option<IpAddr> {
        Some(Ipv4Addr::LOCALHOST.into())
    }

    fn binding(ip: Option<IpAddr>, port: u16, proto: Proto) -> HostBinding {
        HostBinding { ip, port, proto }
    }

    /// A TCP listener on a loopback port the kernel chose (high, and free when taken).
    fn listener() -> (TcpListener, u16) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        (l, port)
    }

    #[test]
    fn a_listener_is_reported_with_address_port_and_protocol() {
        let (_l, port) = listener();
        let err = check_free(&[binding(lo(), port, Proto::Tcp)]).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("host port 127.0.0.1:{port}/tcp is already in use by another program on this host (bind 127.0.0.1:{port}: address already in use)")
        );
        // "all addresses" includes loopback
        let err = check_free(&[binding(None, port, Proto::Tcp)]).unwrap_err();
        assert!(
            matches!(err, HostPortError::Taken { binding: b } if b.ip.is_none() && b.port == port),
            "{err}"
        );
        // the same port in UDP is another port
        check_free(&[binding(lo(), port, Proto::Udp)]).unwrap();
    }

    #[test]
    fn udp_sockets_are_seen_too() {
        let s = UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = s.local_addr().unwrap().port();
        assert!(matches!(
            check_free(&[binding(lo(), port, Proto::Udp)]),
            Err(HostPortError::Taken { .. })
        ));
        drop(s);
        check_free(&[binding(lo(), port, Proto::Udp)]).unwrap();
    }

    #[test]
    fn a_closed_listener_frees_its_port() {
        let (l, port) = listener();
        drop(l);
        check_free(&[binding(lo(), port, Proto::Tcp)]).unwrap();
        assert_eq!(
            pick(lo(), HostPort::Fixed(port), Proto::Tcp, &[]).unwrap(),
            port
        );
    }

    #[test]
    fn a_range_gives_its_first_free_port() {
        // hold two adjacent ports if the kernel lets us; retry with another pair otherwise
        let (first, _held) = (0..50)
            .find_map(|_| {
                let (a, port) = listener();
                let b = TcpListener::bind(("127.0.0.1", port.checked_add(1)?)).ok()?;
                Some((port, (a, b)))
            })
            .unwrap();
        let free = first + 2;
        let got = pick(lo(), HostPort::Range(first, free), Proto::Tcp, &[]);
        // the third port may itself be taken by some other program; then the range is full
        match got {
            Ok(p) => assert_eq!(p, free),
            Err(e) => assert!(matches!(e, HostPortError::RangeFull { .. }), "{e}"),
        }
        let full = pick(lo(), HostPort::Range(first, first + 1), Proto::Tcp, &[]).unwrap_err();
        assert_eq!(
            full.to_string(),
            format!(
                "no free host port in {first}-{} on 127.0.0.1/tcp: all ports are allocated",
                first + 1
            )
        );
    }

    #[test]
    fn ports_berth_handed_out_are_avoided() {
        let (l, port) = listener();
        drop(l);
        let avoid = [binding(None, port, Proto::Tcp)];
        assert!(matches!(
            pick(lo(), HostPort::Fixed(port), Proto::Tcp, &avoid),
            Err(HostPortError::Taken { .. })
        ));
        let p = pick(lo(), HostPort::Random, Proto::Tcp, &avoid).unwrap();
        assert_ne!(p, port);
        assert!(p > 0);
    }

    #[test]
    fn resolve_records_each_port_and_avoids_repeats() {
        let publish = |port: HostPort, c: u16| Publish {
            container_port: c,
            proto: Proto::Udp,
            host: Some(crate::plan::ports::HostSide { ip: lo(), port }),
        };
        let ports = [
            publish(HostPort::Random, 53),
            publish(HostPort::Random, 54),
            Publish {
                container_port: 80,
                proto: Proto::Tcp,
                host: None,
            },
        ];
        let mut avoid = Vec::new();
        let got = resolve(&ports, &mut avoid).unwrap();
        assert_eq!(got.len(), 3);
        assert_ne!(got[0].host_port, got[1].host_port);
        assert_eq!(got[2].host_port, None);
        assert_eq!(avoid.len(), 2);
        assert!(got.iter().take(2).all(|r| r.host_ip == lo()));
    }

    #[test]
    fn ports_in_the_network_records_are_berth_s() {
        use crate::state::networks::Endpoint;
        let records = [
            PortRecord {
                host_ip: None,
                host_port: Some(8080),
                container_port: 80,
                proto: Proto::Tcp,
                count: 1,
            },
            PortRecord {
                host_ip: None,
                host_port: None,
                container_port: 9000,
                proto: Proto::Tcp,
                count: 1,
            },
        ];
        let mut net: Network = serde_json::from_value(serde_json::json!({
            "name": "shop_default", "id": "0", "driver": "bridge", "bridge": "br-0", "subnets": []
        }))
        .unwrap();
        net.endpoints.insert(
            "ns1/shop-web-1".to_string(),
            Endpoint {
                addrs: vec![],
                ports: to_published(&records),
            },
        );
        let published = published_by_berth([&net]);
        assert_eq!(
            published,
            vec![(
                "ns1/shop-web-1".to_string(),
                binding(None, 8080, Proto::Tcp)
            )]
        );
        let err = check_unpublished(&[binding(lo(), 8080, Proto::Tcp)], &published).unwrap_err();
        assert_eq!(
            err.to_string(),
            "host port 127.0.0.1:8080/tcp is already published by container ns1/shop-web-1: Bind for 127.0.0.1:8080 failed: port is already allocated"
        );
        check_unpublished(&[binding(lo(), 8080, Proto::Udp)], &published).unwrap();
    }

    #[test]
    fn an_address_not_on_the_host_is_an_error() {
        // 192.0.2.0/24 is TEST-NET-1, never assigned to a host
        let b = binding(Some("192.0.2.1".parse().unwrap()), 40000, Proto::Tcp);
        let err = check_free(&[b]).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("host port 192.0.2.1:40000/tcp: cannot bind 192.0.2.1:40000: "),
            "{err}"
        );
    }
}
