//! The record store behind the server, pure and tested without sockets: who may ask at a
//! listening address, what a name resolves to for that asker, and where an unknown name goes.
//! The server builds a new [`Store`] on each reload and swaps it into its [`Resolver`], which
//! keeps the per-name rotation counters across reloads.

use std::collections::{BTreeSet, HashMap};
use std::net::{IpAddr, SocketAddr};

use ipnet::IpNet;

use super::records::LoadedNetwork;

/// What is asked, with the name already lower-cased and without its trailing dot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Question<'a> {
    /// A (`v6` false) or AAAA (`v6` true).
    Address { name: &'a str, v6: bool },
    /// PTR of an address (the name was an in-addr.arpa / ip6.arpa one).
    Pointer { addr: IpAddr },
    /// Any other type (MX, TXT, ANY, PTR of a non-host name...).
    Other { name: &'a str },
}

/// What to do with a question.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// The asker is on no network this address serves: it gets REFUSED and nothing else.
    Refused,
    /// A name of the asker's network: its addresses of the asked family, rotated (none: the
    /// name exists without records of this type, NOERROR with no answer).
    Addresses(Vec<IpAddr>),
    /// The names of an address of the network (PTR).
    Names(Vec<String>),
    /// Not the network's: forward to these servers, in order (empty: none known, SERVFAIL).
    Forward(Vec<SocketAddr>),
    /// Not the network's, and the network is internal: nothing leaves it (REFUSED).
    NotForwarded,
}

#[derive(Debug)]
struct Container {
    name: String,
    addresses: Vec<IpAddr>,
    /// lower-cased alias → lower-cased target name
    links: HashMap<String, String>,
    upstreams: Vec<SocketAddr>,
}

#[derive(Debug)]
struct Network {
    name: String,
    gateways: Vec<IpAddr>,
    subnets: Vec<IpNet>,
    internal: bool,
    containers: Vec<Container>,
    /// lower-cased name → indices into `containers`, in container-name order
    names: HashMap<String, Vec<usize>>,
}

/// Lower-cases a name and drops one trailing dot: the form every name is compared in.
pub fn normalize(name: &str) -> String {
    name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase()
}

impl Network {
    fn from_loaded(l: &LoadedNetwork) -> Network {
        let mut records: Vec<_> = l.containers.iter().collect();
        records.sort_by(|a, b| a.name.cmp(&b.name));
        let mut names: HashMap<String, Vec<usize>> = HashMap::new();
        for (idx, c) in records.iter().enumerate() {
            for n in std::iter::once(&c.name).chain(&c.names) {
                let n = normalize(n);
                if n.is_empty() {
                    continue;
                }
                let v = names.entry(n).or_default();
                if !v.contains(&idx) {
                    v.push(idx);
                }
            }
        }
        let containers = records
            .iter()
            .map(|c| Container {
                name: c.name.clone(),
                addresses: c.addresses.clone(),
                links: c
                    .links
                    .iter()
                    .map(|(alias, target)| (normalize(alias), normalize(target)))
                    .collect(),
                upstreams: c.upstreams.clone(),
            })
            .collect();
        Network {
            name: l.network.name.clone(),
            gateways: l.network.gateways.clone(),
            subnets: l.network.subnets.clone(),
            internal: l.network.internal,
            containers,
            names,
        }
    }

    fn serves(&self, local: IpAddr, asker: IpAddr) -> bool {
        self.gateways.contains(&local) && self.subnets.iter().any(|s| s.contains(&asker))
    }

    fn asker(&self, asker: IpAddr) -> Option<&Container> {
        self.containers
            .iter()
            .find(|c| c.addresses.contains(&asker))
    }
}

/// Every network's records, as loaded at one moment.
#[derive(Debug, Default)]
pub struct Store {
    networks: Vec<Network>,
}

impl Store {
    pub fn new(networks: &[LoadedNetwork]) -> Store {
        Store {
            networks: networks.iter().map(Network::from_loaded).collect(),
        }
    }

    /// The addresses to listen on: every network's gateways.
    pub fn listen_addresses(&self) -> BTreeSet<IpAddr> {
        self.networks
            .iter()
            .flat_map(|n| n.gateways.iter().copied())
            .collect()
    }

    /// Whether `asker` may be answered at `local` (the network it is on is served there).
    pub fn serves(&self, local: IpAddr, asker: IpAddr) -> bool {
        self.networks.iter().any(|n| n.serves(local, asker))
    }

    /// The network that answers `asker` at `local`, if any.
    fn network(&self, local: IpAddr, asker: IpAddr) -> Option<&Network> {
        self.networks.iter().find(|n| n.serves(local, asker))
    }
}

/// The store and the rotation counters: answers questions.
#[derive(Debug, Default)]
pub struct Resolver {
    store: Store,
    host_upstreams: Vec<SocketAddr>,
    /// (network, name, v6) → how many times the name was answered
    turns: HashMap<(String, String, bool), usize>,
}

impl Resolver {
    pub fn new(store: Store, host_upstreams: Vec<SocketAddr>) -> Resolver {
        Resolver {
            store,
            host_upstreams,
            turns: HashMap::new(),
        }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Swaps in a freshly loaded store and host resolvers. Rotation counters of names that still
    /// exist are kept, the others dropped (so the map never outgrows the records).
    pub fn replace(&mut self, store: Store, host_upstreams: Vec<SocketAddr>) {
        self.turns.retain(|(net, name, _), _| {
            store
                .networks
                .iter()
                .any(|n| &n.name == net && n.names.contains_key(name))
        });
        self.store = store;
        self.host_upstreams = host_upstreams;
    }

    /// Answers `q`, asked by `asker` at the listening address `local`: from the records of the
    /// network served there and, when the asker is a known container, of every other network
    /// that container is on (as Docker does: a service on a front and a back network resolves
    /// the names of both through one nameserver). The network served at `local` comes first.
    pub fn answer(&mut self, local: IpAddr, asker: IpAddr, q: &Question<'_>) -> Answer {
        let Some(net) = self.store.network(local, asker) else {
            return Answer::Refused;
        };
        let me = net.asker(asker);
        let mut nets: Vec<&Network> = vec![net];
        if let Some(me) = me {
            nets.extend(self.store.networks.iter().filter(|n| {
                !std::ptr::eq(*n, net) && n.containers.iter().any(|c| c.name == me.name)
            }));
        }
        match *q {
            Question::Address { name, v6 } => {
                // A link of the asking container comes first; only it sees the alias.
                let target = me
                    .and_then(|c| c.links.get(name))
                    .filter(|t| nets.iter().any(|n| n.names.contains_key(t.as_str())))
                    .map(String::as_str)
                    .unwrap_or(name);
                if let Some((n, idxs)) = nets
                    .iter()
                    .find_map(|n| n.names.get(target).map(|idxs| (n, idxs)))
                {
                    let mut addrs: Vec<IpAddr> = idxs
                        .iter()
                        .flat_map(|&i| n.containers[i].addresses.iter().copied())
                        .filter(|a| a.is_ipv6() == v6)
                        .collect();
                    if addrs.len() > 1 {
                        let key = (n.name.clone(), target.to_string(), v6);
                        let turn = self.turns.entry(key).or_insert(0);
                        let k = *turn % addrs.len();
                        *turn = turn.wrapping_add(1);
                        addrs.rotate_left(k);
                    }
                    return Answer::Addresses(addrs);
                }
            }
            Question::Pointer { addr, .. } => {
                let names: Vec<String> = nets
                    .iter()
                    .flat_map(|n| n.containers.iter())
                    .filter(|c| c.addresses.contains(&addr))
                    .map(|c| c.name.clone())
                    .collect();
                if !names.is_empty() {
                    return Answer::Names(names);
                }
            }
            Question::Other { name } => {
                let linked = me.is_some_and(|c| c.links.contains_key(name));
                if linked || nets.iter().any(|n| n.names.contains_key(name)) {
                    return Answer::Addresses(Vec::new());
                }
            }
        }
        if net.internal {
            return Answer::NotForwarded;
        }
        let chosen = match me {
            Some(c) if !c.upstreams.is_empty() => &c.upstreams,
            _ => &self.host_upstreams,
        };
        // Never forward to ourselves: a `dns:` naming a gateway would loop.
        let ours = self.store.listen_addresses();
        Answer::Forward(
            chosen
                .iter()
                .filter(|u| !(u.port() == 53 && ours.contains(&u.ip())))
                .copied()
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::collections::BTreeMap;

    use super::*;
    use crate::dns::records::{ContainerRecord, NetworkRecord};

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn ctr(name: &str, addrs: &[&str], names: &[&str]) -> ContainerRecord {
        ContainerRecord {
            name: name.into(),
            addresses: addrs.iter().map(|a| ip(a)).collect(),
            names: names.iter().map(|n| n.to_string()).collect(),
            links: BTreeMap::new(),
            upstreams: Vec::new(),
        }
    }

    /// front: web x3 (one dual-stack), db with a link alias from web-1; back: db2, internal.
    fn resolver() -> Resolver {
        let mut web1 = ctr(
            "app-web-1",
            &["10.251.0.2", "fd00:b51::2"],
            &["web", "app-web-1", "WWW", "host1"],
        );
        web1.links.insert("Database".into(), "db".into());
        web1.upstreams = vec!["127.0.0.1:5300".parse().unwrap()];
        let front = LoadedNetwork {
            network: NetworkRecord {
                name: "app_front".into(),
                gateways: vec![ip("10.251.0.1"), ip("fd00:b51::1")],
                subnets: vec![
                    "10.251.0.0/24".parse().unwrap(),
                    "fd00:b51::/64".parse().unwrap(),
                ],
                internal: false,
            },
            containers: vec![
                ctr("app-web-3", &["10.251.0.4"], &["web", "app-web-3"]),
                web1,
                ctr("app-web-2", &["10.251.0.3"], &["web.", "app-web-2"]),
                ctr("app-db-1", &["10.251.0.9"], &["db", "app-db-1"]),
            ],
        };
        let back = LoadedNetwork {
            network: NetworkRecord {
                name: "app_back".into(),
                gateways: vec![ip("10.251.1.1")],
                subnets: vec!["10.251.1.0/24".parse().unwrap()],
                internal: true,
            },
            containers: vec![ctr("app-db2-1", &["10.251.1.2"], &["db2"])],
        };
        Resolver::new(
            Store::new(&[front, back]),
            vec![
                "192.0.2.53:53".parse().unwrap(),
                "10.251.0.1:53".parse().unwrap(),
            ],
        )
    }

    fn a(name: &str) -> Question<'_> {
        Question::Address { name, v6: false }
    }

    fn addrs(list: &[&str]) -> Answer {
        Answer::Addresses(list.iter().map(|a| ip(a)).collect())
    }

    const GW: &str = "10.251.0.1";
    const WEB1: &str = "10.251.0.2";
    const WEB2: &str = "10.251.0.3";

    #[test]
    fn service_name_gives_every_replica_rotated() {
        let mut r = resolver();
        let (gw, me) = (ip(GW), ip(WEB2));
        let order = ["10.251.0.2", "10.251.0.3", "10.251.0.4"];
        assert_eq!(r.answer(gw, me, &a("web")), addrs(&order));
        assert_eq!(
            r.answer(gw, me, &a("web")),
            addrs(&["10.251.0.3", "10.251.0.4", "10.251.0.2"])
        );
        // AAAA queries have a counter of their own, so A/AAAA pairs do not skip orders
        let v6 = Question::Address {
            name: "web",
            v6: true,
        };
        assert_eq!(r.answer(gw, me, &v6), addrs(&["fd00:b51::2"]));
        assert_eq!(
            r.answer(gw, me, &a("web")),
            addrs(&["10.251.0.4", "10.251.0.2", "10.251.0.3"])
        );
        assert_eq!(r.answer(gw, me, &a("web")), addrs(&order));
        // the counter survives a reload that keeps the name
        r.answer(gw, me, &a("web"));
        let loaded = {
            let r2 = resolver();
            r2.store.networks.len()
        };
        assert_eq!(loaded, 2);
        let fresh = resolver();
        r.replace(fresh.store, vec![]);
        assert_eq!(
            r.answer(gw, me, &a("web")),
            addrs(&["10.251.0.4", "10.251.0.2", "10.251.0.3"])
        );
    }

    #[test]
    fn container_names_aliases_hostnames_case_and_no_data() {
        let mut r = resolver();
        let (gw, me) = (ip(GW), ip(WEB2));
        for n in ["app-web-1", "www", "host1"] {
            assert_eq!(r.answer(gw, me, &a(n)), addrs(&[WEB1]), "{n}");
        }
        assert_eq!(normalize("WWW."), "www");
        assert_eq!(normalize("App-Web-2"), "app-web-2");
        // a name that exists with no address of the family: no data, not forwarded
        let v6 = Question::Address {
            name: "app-db-1",
            v6: true,
        };
        assert_eq!(r.answer(gw, me, &v6), Answer::Addresses(vec![]));
        assert_eq!(
            r.answer(gw, me, &Question::Other { name: "db" }),
            Answer::Addresses(vec![])
        );
        // served on the IPv6 gateway too, to IPv6 askers
        let v6gw = ip("fd00:b51::1");
        assert_eq!(
            r.answer(v6gw, ip("fd00:b51::3"), &a("db")),
            addrs(&["10.251.0.9"])
        );
    }

    #[test]
    fn links_are_seen_only_by_the_linking_container() {
        let mut r = resolver();
        let gw = ip(GW);
        assert_eq!(
            r.answer(gw, ip(WEB1), &a("database")),
            addrs(&["10.251.0.9"])
        );
        assert_eq!(
            r.answer(gw, ip("fd00:b51::2"), &a("database")),
            addrs(&["10.251.0.9"]),
            "from the container's IPv6 address too"
        );
        // web-1 uses its own upstreams for names that are not the network's
        assert_eq!(
            r.answer(gw, ip(WEB1), &a("example.org")),
            Answer::Forward(vec!["127.0.0.1:5300".parse().unwrap()])
        );
        // another container does not see the alias: forwarded like any unknown name,
        // to the host's resolvers minus our own address
        assert_eq!(
            r.answer(gw, ip(WEB2), &a("database")),
            Answer::Forward(vec!["192.0.2.53:53".parse().unwrap()])
        );
    }

    #[test]
    fn askers_outside_the_network_are_refused() {
        let mut r = resolver();
        // a client of the back network asking at the front gateway
        assert_eq!(
            r.answer(ip(GW), ip("10.251.1.2"), &a("web")),
            Answer::Refused
        );
        // an address in no subnet at all
        assert_eq!(
            r.answer(ip(GW), ip("192.0.2.7"), &a("web")),
            Answer::Refused
        );
        // at an address that is no gateway
        assert_eq!(
            r.answer(ip("10.251.0.5"), ip(WEB2), &a("web")),
            Answer::Refused
        );
        // names of another network are not answered
        let back = ip("10.251.1.1");
        assert_eq!(
            r.answer(back, ip("10.251.1.2"), &a("web")),
            Answer::NotForwarded
        );
        assert_eq!(
            r.answer(back, ip("10.251.1.2"), &a("db2")),
            addrs(&["10.251.1.2"])
        );
        assert_eq!(
            r.answer(ip(GW), ip(WEB2), &a("db2")),
            Answer::Forward(vec!["192.0.2.53:53".parse().unwrap()])
        );
        assert!(r.store().serves(back, ip("10.251.1.77")));
        assert!(!r.store().serves(back, ip(WEB2)));
    }

    #[test]
    fn a_container_on_two_networks_resolves_the_names_of_both() {
        let mut r = resolver();
        // app-db-1 is on front; put it on back too, with an address there
        let mut loaded = Vec::new();
        for (net, gw, sub, ctrs) in [
            (
                "app_front",
                "10.251.0.1",
                "10.251.0.0/24",
                vec![
                    ctr("app-web-1", &[WEB1], &["web"]),
                    ctr("app-db-1", &["10.251.0.9"], &["db"]),
                ],
            ),
            (
                "app_back",
                "10.251.1.1",
                "10.251.1.0/24",
                vec![
                    ctr("app-db-1", &["10.251.1.9"], &["db"]),
                    ctr("app-cache-1", &["10.251.1.5"], &["cache"]),
                ],
            ),
        ] {
            loaded.push(LoadedNetwork {
                network: NetworkRecord {
                    name: net.into(),
                    gateways: vec![ip(gw)],
                    subnets: vec![sub.parse().unwrap()],
                    internal: false,
                },
                containers: ctrs,
            });
        }
        r.replace(Store::new(&loaded), vec![]);
        // db asks the front nameserver for a name only on back: answered from back
        assert_eq!(
            r.answer(ip(GW), ip("10.251.0.9"), &a("cache")),
            addrs(&["10.251.1.5"])
        );
        // its own network first: db on front is the front address
        assert_eq!(
            r.answer(ip("10.251.1.1"), ip("10.251.1.9"), &a("db")),
            addrs(&["10.251.1.9"])
        );
        // web is only on front: back's names stay hidden from it
        assert_eq!(
            r.answer(ip(GW), ip(WEB1), &a("cache")),
            Answer::Forward(vec![])
        );
    }

    #[test]
    fn pointers() {
        let mut r = resolver();
        let q = Question::Pointer { addr: ip(WEB1) };
        assert_eq!(
            r.answer(ip(GW), ip(WEB2), &q),
            Answer::Names(vec!["app-web-1".into()])
        );
        // the address of a container of another network is not told
        let q = Question::Pointer {
            addr: ip("10.251.1.2"),
        };
        assert!(matches!(r.answer(ip(GW), ip(WEB2), &q), Answer::Forward(_)));
    }

    #[test]
    fn listen_addresses_are_every_gateway() {
        let r = resolver();
        let l: Vec<IpAddr> = r.store().listen_addresses().into_iter().collect();
        assert_eq!(l, [ip("10.251.0.1"), ip("10.251.1.1"), ip("fd00:b51::1")]);
    }
}
