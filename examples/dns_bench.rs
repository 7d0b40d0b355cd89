//! Measures DNS lookup latency from inside a network namespace, for benches/dns.sh: sends
//! `count` A queries for `name`, one after the other over UDP, to `server` from a thread that
//! entered the namespace at `netns` (a file under /run/netns, /run/berth/netns or
//! /proc/<pid>/ns/net), and prints the latency percentiles and the answers of the first query.
//!
//!   usage: dns_bench <netns-path> <server-ip[:port]> <name> [count] [warm-up]

#![allow(clippy::unwrap_used, clippy::expect_used)] // a measuring tool: failing loudly is fine

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::path::Path;
use std::time::{Duration, Instant};

use berth::network::netns::Netns;
use hickory_proto::op::{Message, Query, ResponseCode};
use hickory_proto::rr::{Name, RData, RecordType};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 3 {
        eprintln!("usage: dns_bench <netns-path> <server-ip[:port]> <name> [count] [warm-up]");
        std::process::exit(2);
    }
    let server: SocketAddr = args[1]
        .parse()
        .or_else(|_| args[1].parse::<IpAddr>().map(|ip| SocketAddr::new(ip, 53)))
        .expect("server address");
    let name = Name::from_ascii(&args[2]).expect("name");
    let count: usize = args.get(3).map_or(2000, |c| c.parse().expect("count"));
    let warm: usize = args.get(4).map_or(100, |c| c.parse().expect("warm-up"));
    let ns = Netns::open_path(Path::new(&args[0])).expect("network namespace");
    let (mut times, first, failures) = ns
        .run_in(move || {
            let any = if server.is_ipv4() {
                "0.0.0.0:0"
            } else {
                "[::]:0"
            };
            let sock = UdpSocket::bind(any).unwrap();
            sock.connect(server).unwrap();
            sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let mut buf = [0u8; 4096];
            let mut times = Vec::with_capacity(count);
            let mut first = None;
            let mut failures = 0usize;
            for i in 0..warm + count {
                let mut q = Message::query();
                q.metadata.recursion_desired = true;
                q.add_query(Query::query(name.clone(), RecordType::A));
                let bytes = q.to_vec().unwrap();
                let start = Instant::now();
                sock.send(&bytes).unwrap();
                let reply = loop {
                    let n = match sock.recv(&mut buf) {
                        Ok(n) => n,
                        Err(e) => panic!("query {i}: {e}"),
                    };
                    let m = Message::from_vec(&buf[..n]).unwrap();
                    if m.metadata.id == q.metadata.id {
                        break m;
                    }
                };
                let took = start.elapsed();
                if reply.metadata.response_code != ResponseCode::NoError || reply.answers.is_empty()
                {
                    failures += 1;
                }
                if first.is_none() {
                    first = Some(
                        reply
                            .answers
                            .iter()
                            .filter_map(|r| match &r.data {
                                RData::A(a) => Some(a.0.to_string()),
                                _ => None,
                            })
                            .collect::<Vec<_>>(),
                    );
                }
                if i >= warm {
                    times.push(took);
                }
            }
            (times, first.unwrap_or_default(), failures)
        })
        .expect("enter the namespace");
    times.sort();
    let pct = |p: f64| {
        let i = ((times.len() as f64 * p).ceil() as usize).clamp(1, times.len()) - 1;
        times[i].as_secs_f64() * 1e6
    };
    let mean = times.iter().map(Duration::as_secs_f64).sum::<f64>() / times.len() as f64 * 1e6;
    println!(
        "queries: {} (after {warm} warm-up), failed: {failures}",
        times.len()
    );
    println!("answers of the first: {}", first.join(" "));
    println!(
        "latency us: p50 {:.0}  p90 {:.0}  p99 {:.0}  max {:.0}  mean {:.0}",
        pct(0.50),
        pct(0.90),
        pct(0.99),
        pct(1.0),
        mean
    );
}
