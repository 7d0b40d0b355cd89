//! `port SERVICE PRIVATE_PORT`: the public address of a published port, read from the record
//! berth keeps on the container (`plan::ports::PORTS_LABEL`) as compose reads the engine's
//! `Ports` (`pkg/compose/port.go`): the first entry for that container port and protocol (on all
//! addresses, the IPv4 one: `0.0.0.0:8080`; an exposed port answers `:0`), else compose's
//! `no port 80/tcp for container p-web-1: 8080/tcp, ...` listing the host side of every port.

use super::control::VerbOptions;
use super::{lifecycle, AppError};
use crate::plan::ports::{self, Publisher};
use crate::plan::ContainerState;

/// Finds the service's running container (`index`, else the lowest number) and the public
/// binding of `port`/`protocol`.
pub async fn run(
    opts: &VerbOptions,
    service: &str,
    port: u16,
    protocol: &str,
    index: Option<i64>,
    warnings: &mut Vec<String>,
) -> Result<(String, u16), AppError> {
    let loaded = super::load_project(&opts.project, &[service.to_owned()], warnings)?;
    let client = opts.engine.connect().await?;
    let mut running: Vec<_> = lifecycle::observe_containers(&client, &loaded.project.name)
        .await?
        .into_iter()
        .map(|(_, o, _)| o)
        .filter(|o| {
            o.service() == service
                && matches!(o.state, ContainerState::Running | ContainerState::Paused)
                && index.is_none_or(|n| o.number() == Some(n))
        })
        .collect();
    running.sort_by_key(|o| o.number().unwrap_or(i64::MAX));
    let Some(c) = running.first() else {
        return Err(AppError::Other(match index {
            Some(n) => format!("service {service:?} is not running container #{n}"),
            None => format!("service {service:?} is not running"),
        }));
    };
    // compose lower-cases --protocol (cmd/compose/port.go)
    let protocol = protocol.to_lowercase();
    let publishers = super::ps::publishers(c, warnings);
    answer(&c.name, &publishers, port, &protocol)
}

/// compose `Port` on the container's publishers.
fn answer(
    name: &str,
    publishers: &[Publisher],
    port: u16,
    protocol: &str,
) -> Result<(String, u16), AppError> {
    match publishers
        .iter()
        .find(|p| p.target_port == port && p.protocol == protocol)
    {
        Some(p) => Ok((p.url.clone(), p.published_port)),
        None => Err(AppError::Other(format!(
            "no port {port}/{protocol} for container {name}: {}",
            ports::not_found_list(publishers)
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::ports::{PortRecord, Proto};

    fn publishers() -> Vec<Publisher> {
        let rec = |ip: Option<&str>, host: Option<u16>, c: u16, proto: Proto| PortRecord {
            host_ip: ip.map(|i| i.parse().unwrap()),
            host_port: host,
            container_port: c,
            proto,
            count: 1,
        };
        ports::publishers(&[
            rec(None, Some(8080), 80, Proto::Tcp),
            rec(Some("127.0.0.1"), Some(5353), 53, Proto::Udp),
            rec(None, None, 9000, Proto::Tcp),
        ])
    }

    #[test]
    fn answers_as_compose() {
        let p = publishers();
        assert_eq!(
            answer("p-web-1", &p, 80, "tcp").unwrap(),
            ("0.0.0.0".into(), 8080)
        );
        assert_eq!(
            answer("p-web-1", &p, 53, "udp").unwrap(),
            ("127.0.0.1".into(), 5353)
        );
        // an exposed port has no host side: compose prints ":0"
        assert_eq!(
            answer("p-web-1", &p, 9000, "tcp").unwrap(),
            (String::new(), 0)
        );
        assert_eq!(
            answer("p-web-1", &p, 53, "tcp").unwrap_err().to_string(),
            "no port 53/tcp for container p-web-1: 5353/udp, 8080/tcp, 8080/tcp, 0/tcp"
        );
        assert_eq!(
            answer("p-web-1", &[], 80, "tcp").unwrap_err().to_string(),
            "no port 80/tcp for container p-web-1: "
        );
    }
}
