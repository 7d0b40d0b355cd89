//! The contents of a container's /etc/hosts and /etc/resolv.conf, from the service and the
//! host's files (moby `libnetwork/etchosts`, `resolvconf`). Pure: app reads the host's files,
//! passes their text in, and writes what comes out.

use crate::model::types::ServiceConfig;

/// Docker's /etc/hosts for a container with no network of its own (moby `etchosts.Build`).
pub const DEFAULT_HOSTS: &str = "127.0.0.1\tlocalhost\n\
::1\tlocalhost ip6-localhost ip6-loopback\n\
fe00::0\tip6-localnet\n\
ff00::0\tip6-mcastprefix\n\
ff02::1\tip6-allnodes\n\
ff02::2\tip6-allrouters\n";

/// `base` (Docker's defaults, or the host's file with the host's network) followed by the
/// service's `extra_hosts`, one `IP<tab>NAME` line each in the order written. `host-gateway`
/// means the gateway of a bridge network, which a container here does not have: such entries
/// are left out and named in the returned warnings.
pub fn hosts(base: &str, service: &ServiceConfig) -> (String, Vec<String>) {
    let mut out = base.to_owned();
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
    let mut warnings = Vec::new();
    for (host, ips) in service.extra_hosts.iter() {
        for ip in ips {
            if ip == "host-gateway" {
                warnings.push(format!(
                    "extra_hosts {host:?}: host-gateway needs a bridge network, which berth does not make yet; left out of /etc/hosts"
                ));
                continue;
            }
            // Docker writes IPv6 addresses bare; compose accepts them in brackets
            let ip = ip.trim_start_matches('[').trim_end_matches(']');
            out.push_str(&format!("{ip}\t{host}\n"));
        }
    }
    (out, warnings)
}

/// The container's resolv.conf. With the host's network, the host's file; otherwise the
/// host's without loopback nameservers (they would point into the container), Google's public
/// resolvers when none is left. `dns`, `dns_search` and `dns_opt` each replace their part,
/// and when any is set the file is rebuilt from the parts as Docker does.
pub fn resolv_conf(host: &str, host_net: bool, service: &ServiceConfig) -> String {
    let base = if host_net {
        host.to_owned()
    } else {
        without_loopback(host)
    };
    let (dns, search, opts) = (&service.dns, &service.dns_search, &service.dns_opt);
    if dns.is_empty() && search.is_empty() && opts.is_empty() {
        return base;
    }
    let pick = |given: &[String], key: &str| pick_field(&base, given, key);
    let servers = pick(dns, "nameserver");
    let domains = pick(search, "search");
    let options = pick(opts, "options");
    let mut out = String::new();
    if !domains.is_empty() {
        out.push_str(&format!("search {}\n", domains.join(" ")));
    }
    for s in servers {
        out.push_str(&format!("nameserver {s}\n"));
    }
    if !options.is_empty() {
        out.push_str(&format!("options {}\n", options.join(" ")));
    }
    out
}

/// `given` when the service sets it, else the words of every `key` line of resolv.conf `text`.
fn pick_field(text: &str, given: &[String], key: &str) -> Vec<String> {
    if !given.is_empty() {
        return given.to_vec();
    }
    text.lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            (w.next() == Some(key)).then(|| w.map(str::to_owned).collect::<Vec<_>>())
        })
        .flatten()
        .collect()
}

/// resolv.conf for a container on berth's networks: their gateways (where berth's DNS answers
/// and forwards the rest, to the service's `dns:` servers or the host's), the search domains
/// of `dns_search` or the host's, the options of `dns_opt` or the host's, and `ndots:0` when
/// no `ndots` is given (Docker's resolv.conf for its embedded DNS has the same shape).
pub fn resolv_conf_berth_dns(
    host: &str,
    nameservers: &[std::net::IpAddr],
    service: &ServiceConfig,
) -> String {
    let pick = |given: &[String], key: &str| pick_field(host, given, key);
    let domains = pick(&service.dns_search, "search");
    let mut options = pick(&service.dns_opt, "options");
    if !options.iter().any(|o| o.starts_with("ndots:")) {
        options.push("ndots:0".into());
    }
    let mut out = String::new();
    for s in nameservers {
        out.push_str(&format!("nameserver {s}\n"));
    }
    if !domains.is_empty() {
        out.push_str(&format!("search {}\n", domains.join(" ")));
    }
    out.push_str(&format!("options {}\n", options.join(" ")));
    out
}

/// The host's resolv.conf without loopback nameservers; Google's public resolvers when none is
/// left (moby `resolvconf.FilterResolvDNS`, `defaultIPv4Dns`).
pub fn without_loopback(host: &str) -> String {
    let mut out = String::new();
    let mut servers = 0;
    for line in host.lines() {
        let mut words = line.split_whitespace();
        if words.next() == Some("nameserver") {
            let addr = words.next().unwrap_or("");
            if addr.starts_with("127.") || addr == "::1" {
                continue;
            }
            servers += 1;
        }
        out.push_str(line);
        out.push('\n');
    }
    if servers == 0 {
        out.push_str("nameserver 8.8.8.8\nnameserver 8.8.4.4\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn berth_dns_resolv_conf_points_at_the_gateways() {
        let host = "nameserver 127.0.0.53\nsearch corp.example\noptions edns0\n";
        let gws = ["10.250.0.1".parse().unwrap(), "10.249.0.1".parse().unwrap()];
        let s = ServiceConfig::default();
        assert_eq!(
            resolv_conf_berth_dns(host, &gws, &s),
            "nameserver 10.250.0.1\nnameserver 10.249.0.1\nsearch corp.example\noptions edns0 ndots:0\n"
        );
        let s = ServiceConfig {
            dns_search: crate::model::types::StringList(vec!["a.test".into()]),
            dns_opt: vec!["ndots:2".into()],
            dns: crate::model::types::StringList(vec!["192.0.2.53".into()]),
            ..Default::default()
        };
        assert_eq!(
            resolv_conf_berth_dns(host, &gws[..1], &s),
            "nameserver 10.250.0.1\nsearch a.test\noptions ndots:2\n"
        );
    }
    use crate::model::types::{HostsList, StringList};

    fn service() -> ServiceConfig {
        ServiceConfig {
            name: "web".into(),
            ..Default::default()
        }
    }

    #[test]
    fn loopback_resolvers_are_dropped() {
        assert_eq!(
            without_loopback("search x\nnameserver 127.0.0.53\nnameserver 10.0.0.1\n"),
            "search x\nnameserver 10.0.0.1\n"
        );
        assert_eq!(
            without_loopback("nameserver 127.0.0.53\n"),
            "nameserver 8.8.8.8\nnameserver 8.8.4.4\n"
        );
    }

    #[test]
    fn extra_hosts_follow_the_defaults() {
        let mut s = service();
        s.extra_hosts = HostsList(
            [
                ("db".to_string(), vec!["10.0.0.5".to_string()]),
                (
                    "v6".to_string(),
                    vec!["[::1]".to_string(), "host-gateway".to_string()],
                ),
            ]
            .into_iter()
            .collect(),
        );
        let (text, warnings) = hosts(DEFAULT_HOSTS, &s);
        assert_eq!(text, format!("{DEFAULT_HOSTS}10.0.0.5\tdb\n::1\tv6\n"));
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].contains("host-gateway"), "{warnings:?}");
        assert_eq!(hosts("1.2.3.4 h", &service()).0, "1.2.3.4 h\n");
    }

    #[test]
    fn dns_settings_replace_their_part_only() {
        let host =
            "search corp.example\nnameserver 127.0.0.53\nnameserver 10.0.0.1\noptions edns0\n";
        assert_eq!(
            resolv_conf(host, false, &service()),
            "search corp.example\nnameserver 10.0.0.1\noptions edns0\n"
        );
        assert_eq!(resolv_conf(host, true, &service()), host);
        let mut s = service();
        s.dns = StringList(vec!["9.9.9.9".into(), "1.1.1.1".into()]);
        assert_eq!(
            resolv_conf(host, false, &s),
            "search corp.example\nnameserver 9.9.9.9\nnameserver 1.1.1.1\noptions edns0\n"
        );
        let mut s = service();
        s.dns_search = StringList(vec!["a.test".into(), "b.test".into()]);
        s.dns_opt = vec!["ndots:2".into()];
        assert_eq!(
            resolv_conf(host, false, &s),
            "search a.test b.test\nnameserver 10.0.0.1\noptions ndots:2\n"
        );
    }
}
