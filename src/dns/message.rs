//! DNS messages in and out, without sockets: a query's bytes, who sent it and where, to the
//! reply's bytes or the decision to forward it. Uses hickory-proto for the wire format only.

use std::net::IpAddr;

use hickory_proto::op::{Edns, Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA, PTR};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};

use super::store::{normalize, Answer, Question, Resolver};

/// TTL of the network's own records (Docker's embedded DNS uses 600 s too).
pub const TTL: u32 = 600;
/// The UDP payload size berth advertises in its EDNS answers (the DNS flag day's value).
pub const EDNS_PAYLOAD: u16 = 1232;
/// Largest message over TCP.
pub const TCP_MAX: usize = 65535;

/// How the query came.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Udp,
    Tcp,
}

/// What the server does with a query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Send these bytes back.
    Reply(Vec<u8>),
    /// Send the query, unchanged, to these servers in turn; if none answers, send `failure`.
    /// `max_udp`: the largest answer the client takes over UDP.
    Forward {
        upstreams: Vec<std::net::SocketAddr>,
        max_udp: usize,
        failure: Vec<u8>,
    },
    /// Not a query (or not even a header): no answer at all.
    Drop,
}

/// Handles one query.
pub fn handle(
    resolver: &mut Resolver,
    local: IpAddr,
    peer: IpAddr,
    bytes: &[u8],
    transport: Transport,
) -> Action {
    // Outsiders learn nothing, not even whether their query parsed.
    if !resolver.store().serves(local, peer) {
        return match header_only_reply(bytes, ResponseCode::Refused) {
            Some(r) => Action::Reply(r),
            None => Action::Drop,
        };
    }
    let query = match Message::from_vec(bytes) {
        Ok(m) => m,
        Err(_) => {
            return match header_only_reply(bytes, ResponseCode::FormErr) {
                Some(r) => Action::Reply(r),
                None => Action::Drop,
            }
        }
    };
    if query.metadata.message_type != MessageType::Query {
        return Action::Drop;
    }
    let max = match transport {
        Transport::Udp => usize::from(query.max_payload()),
        Transport::Tcp => TCP_MAX,
    };
    if query.metadata.op_code != OpCode::Query {
        return reply(&query, ResponseCode::NotImp, Vec::new(), max);
    }
    let [q] = query.queries.as_slice() else {
        return reply(&query, ResponseCode::FormErr, Vec::new(), max);
    };
    let name = normalize(&q.name().to_ascii());
    let question = if q.query_class() != DNSClass::IN {
        Question::Other { name: &name }
    } else {
        match q.query_type() {
            RecordType::A => Question::Address {
                name: &name,
                v6: false,
            },
            RecordType::AAAA => Question::Address {
                name: &name,
                v6: true,
            },
            RecordType::PTR => match host_of_arpa(q.name()) {
                Some(addr) => Question::Pointer { addr },
                None => Question::Other { name: &name },
            },
            _ => Question::Other { name: &name },
        }
    };
    let owner = q.name().clone();
    match resolver.answer(local, peer, &question) {
        Answer::Refused | Answer::NotForwarded => {
            reply(&query, ResponseCode::Refused, Vec::new(), max)
        }
        Answer::Addresses(addrs) => {
            let records = addrs
                .into_iter()
                .map(|a| {
                    let data = match a {
                        IpAddr::V4(v4) => RData::A(A(v4)),
                        IpAddr::V6(v6) => RData::AAAA(AAAA(v6)),
                    };
                    Record::from_rdata(owner.clone(), TTL, data)
                })
                .collect();
            reply(&query, ResponseCode::NoError, records, max)
        }
        Answer::Names(names) => {
            let records = names
                .iter()
                .filter_map(|n| Name::from_ascii(format!("{n}.")).ok())
                .map(|n| Record::from_rdata(owner.clone(), TTL, RData::PTR(PTR(n))))
                .collect();
            reply(&query, ResponseCode::NoError, records, max)
        }
        Answer::Forward(upstreams) => {
            let failure = encode(&response(&query, ResponseCode::ServFail, Vec::new()), max);
            if upstreams.is_empty() {
                return Action::Reply(failure);
            }
            Action::Forward {
                upstreams,
                max_udp: usize::from(query.max_payload()),
                failure,
            }
        }
    }
}

/// The address a reverse name stands for, when it names one host (not a whole prefix).
fn host_of_arpa(name: &Name) -> Option<IpAddr> {
    let mut fqdn = name.clone();
    fqdn.set_fqdn(true);
    let net = fqdn.parse_arpa_name().ok()?;
    (net.prefix_len() == net.max_prefix_len()).then(|| net.addr())
}

fn response(query: &Message, code: ResponseCode, answers: Vec<Record>) -> Message {
    let mut m = Message::response(query.metadata.id, query.metadata.op_code);
    m.metadata.recursion_desired = query.metadata.recursion_desired;
    m.metadata.checking_disabled = query.metadata.checking_disabled;
    m.metadata.recursion_available = true;
    m.metadata.authoritative = code == ResponseCode::NoError;
    m.metadata.response_code = code;
    m.add_queries(query.queries.iter().cloned());
    m.add_answers(answers);
    if query.edns.is_some() {
        let mut e = Edns::new();
        e.set_max_payload(EDNS_PAYLOAD);
        m.set_edns(e);
    }
    m
}

fn reply(query: &Message, code: ResponseCode, answers: Vec<Record>, max: usize) -> Action {
    Action::Reply(encode(&response(query, code, answers), max))
}

/// Encodes a response, truncated (TC set, answers dropped) when it is larger than `max`.
fn encode(m: &Message, max: usize) -> Vec<u8> {
    match m.to_vec() {
        Ok(b) if b.len() <= max => b,
        _ => m.truncate().to_vec().unwrap_or_default(),
    }
}

/// A reply made of the query's header alone: its id, the response bit and `code`. For queries
/// we do not parse (from outsiders, or malformed).
fn header_only_reply(bytes: &[u8], code: ResponseCode) -> Option<Vec<u8>> {
    if bytes.len() < 12 || bytes[2] & 0x80 != 0 {
        // too short for a header, or already a response: answering could start a loop
        return None;
    }
    let mut r = vec![0u8; 12];
    r[..2].copy_from_slice(&bytes[..2]);
    // QR, the query's opcode and RD
    r[2] = 0x80 | (bytes[2] & 0x79);
    r[3] = code.low();
    Some(r)
}

/// Whether `bytes` is a response to the query whose first bytes are `query` (same id).
pub fn answers(query: &[u8], bytes: &[u8]) -> bool {
    bytes.len() >= 12 && query.len() >= 2 && bytes[..2] == query[..2] && bytes[2] & 0x80 != 0
}

/// Whether a response has TC set.
pub fn truncated(bytes: &[u8]) -> bool {
    bytes.len() >= 3 && bytes[2] & 0x02 != 0
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::collections::BTreeMap;

    use hickory_proto::op::Query;

    use super::*;
    use crate::dns::records::{ContainerRecord, LoadedNetwork, NetworkRecord};
    use crate::dns::store::Store;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn resolver(internal: bool, replicas: usize) -> Resolver {
        let containers = (0..replicas)
            .map(|i| ContainerRecord {
                name: format!("app-web-{}", i + 1),
                addresses: vec![ip(&format!("10.251.0.{}", i + 2))],
                names: vec!["web".into()],
                links: BTreeMap::new(),
                upstreams: vec![],
            })
            .collect();
        let net = LoadedNetwork {
            network: NetworkRecord {
                name: "n".into(),
                gateways: vec![ip("10.251.0.1")],
                subnets: vec!["10.251.0.0/16".parse().unwrap()],
                internal,
            },
            containers,
        };
        Resolver::new(Store::new(&[net]), vec!["127.0.0.1:53".parse().unwrap()])
    }

    fn query(name: &str, t: RecordType) -> Vec<u8> {
        let mut m = Message::query();
        m.metadata.id = 4242;
        m.metadata.recursion_desired = true;
        m.add_query(Query::query(Name::from_ascii(name).unwrap(), t));
        m.to_vec().unwrap()
    }

    fn ask(r: &mut Resolver, peer: &str, bytes: &[u8]) -> Message {
        match handle(r, ip("10.251.0.1"), ip(peer), bytes, Transport::Udp) {
            Action::Reply(b) => Message::from_vec(&b).unwrap(),
            other => panic!("not a reply: {other:?}"),
        }
    }

    fn addrs(m: &Message) -> Vec<IpAddr> {
        m.answers
            .iter()
            .filter_map(|r| match &r.data {
                RData::A(a) => Some(IpAddr::V4(a.0)),
                RData::AAAA(a) => Some(IpAddr::V6(a.0)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn answers_a_service_name_keeping_the_asked_case() {
        let mut r = resolver(false, 2);
        let m = ask(&mut r, "10.251.0.2", &query("WeB.", RecordType::A));
        assert_eq!(m.metadata.id, 4242);
        assert_eq!(m.metadata.message_type, MessageType::Response);
        assert_eq!(m.metadata.response_code, ResponseCode::NoError);
        assert!(m.metadata.recursion_desired && m.metadata.authoritative);
        assert_eq!(addrs(&m), [ip("10.251.0.2"), ip("10.251.0.3")]);
        assert_eq!(m.answers[0].name.to_ascii(), "WeB.");
        assert_eq!(m.queries.len(), 1);
        let m = ask(&mut r, "10.251.0.2", &query("web", RecordType::A));
        assert_eq!(addrs(&m), [ip("10.251.0.3"), ip("10.251.0.2")]);
    }

    #[test]
    fn pointer_of_a_container() {
        let mut r = resolver(false, 2);
        let m = ask(
            &mut r,
            "10.251.0.2",
            &query("3.0.251.10.in-addr.arpa.", RecordType::PTR),
        );
        let names: Vec<String> = m
            .answers
            .iter()
            .filter_map(|r| match &r.data {
                RData::PTR(p) => Some(p.0.to_ascii()),
                _ => None,
            })
            .collect();
        assert_eq!(names, ["app-web-2."]);
    }

    #[test]
    fn outsiders_refused_unknown_forwarded_internal_refused() {
        let mut r = resolver(false, 1);
        let m = ask(&mut r, "10.99.0.2", &query("web", RecordType::A));
        assert_eq!(m.metadata.response_code, ResponseCode::Refused);
        assert_eq!(m.metadata.id, 4242);
        assert!(m.answers.is_empty());
        // even garbage from an outsider gets only a header
        let mut junk = query("web", RecordType::A);
        junk.truncate(14);
        let m = ask(&mut r, "10.99.0.2", &junk);
        assert_eq!(m.metadata.response_code, ResponseCode::Refused);
        let m = ask(&mut r, "10.251.0.2", &junk);
        assert_eq!(m.metadata.response_code, ResponseCode::FormErr);

        let q = query("example.org", RecordType::A);
        match handle(
            &mut r,
            ip("10.251.0.1"),
            ip("10.251.0.2"),
            &q,
            Transport::Udp,
        ) {
            Action::Forward {
                upstreams,
                max_udp,
                failure,
            } => {
                assert_eq!(upstreams, ["127.0.0.1:53".parse().unwrap()]);
                assert_eq!(max_udp, 512);
                let f = Message::from_vec(&failure).unwrap();
                assert_eq!(f.metadata.response_code, ResponseCode::ServFail);
                assert_eq!(f.metadata.id, 4242);
            }
            other => panic!("{other:?}"),
        }
        let mut internal = resolver(true, 1);
        let m = ask(&mut internal, "10.251.0.2", &q);
        assert_eq!(m.metadata.response_code, ResponseCode::Refused);
        // its own names still answered
        let m = ask(&mut internal, "10.251.0.9", &query("web", RecordType::A));
        assert_eq!(addrs(&m), [ip("10.251.0.2")]);
    }

    #[test]
    fn too_many_replicas_for_udp_set_tc() {
        let mut r = resolver(false, 60);
        let q = query("web", RecordType::A);
        let m = ask(&mut r, "10.251.0.2", &q);
        assert!(m.metadata.truncation && m.answers.is_empty());
        match handle(
            &mut r,
            ip("10.251.0.1"),
            ip("10.251.0.2"),
            &q,
            Transport::Tcp,
        ) {
            Action::Reply(b) => assert_eq!(addrs(&Message::from_vec(&b).unwrap()).len(), 60),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn responses_are_never_answered() {
        let mut r = resolver(false, 1);
        let mut q = query("web", RecordType::A);
        q[2] |= 0x80;
        assert_eq!(
            handle(
                &mut r,
                ip("10.251.0.1"),
                ip("10.251.0.2"),
                &q,
                Transport::Udp
            ),
            Action::Drop
        );
        assert_eq!(
            handle(
                &mut r,
                ip("10.251.0.1"),
                ip("10.99.0.2"),
                &q,
                Transport::Udp
            ),
            Action::Drop
        );
        assert!(answers(&[1, 2], &[1, 2, 0x81, 0, 0, 0, 0, 0, 0, 0, 0, 0]));
        assert!(!answers(&[1, 3], &[1, 2, 0x81, 0, 0, 0, 0, 0, 0, 0, 0, 0]));
        assert!(truncated(&[0, 0, 0x83]));
    }
}
