//! `ps` and `port` reading the ports berth recorded on a container (the `berth.ports` label,
//! `plan::ports::PORTS_LABEL`), on the test bed's containerd: a container started by `up` gets
//! the label with `ctr containers label`, as `up` writes it when it publishes; berth must then
//! show it as Docker Compose 2.26 shows the engine's bindings. The guard always runs `down`
//! and checks with `ctr` that nothing is left.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test harness: failing loudly is the point

mod common;

use common::stack::{field, text, Stack as Case};

use std::time::{Duration, Instant};

const SUITE: &str = "ports";

const STACK: &str = r#"services:
  web:
    image: IMG
    network_mode: none
    stop_grace_period: 1s
    command: ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"]
"#;

/// What `up` would record for `8080:80`, `127.0.0.1:5353:53/udp`, `7000-7002:7000-7002` and
/// `expose: [9000]`.
const RECORD: &str = r#"[{"host_port":8080,"container_port":80,"proto":"tcp"},{"host_ip":"127.0.0.1","host_port":5353,"container_port":53,"proto":"udp"},{"host_port":7000,"container_port":7000,"proto":"tcp","count":3},{"container_port":9000,"proto":"tcp"}]"#;

const PORTS_COLUMN: &str = "0.0.0.0:7000-7002->7000-7002/tcp, :::7000-7002->7000-7002/tcp, 9000/tcp, 127.0.0.1:5353->53/udp, 0.0.0.0:8080->80/tcp, :::8080->80/tcp";

fn wait_state(case: &Case, name: &str, state: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while field(&case.ps(), name)["State"] != state {
        assert!(
            Instant::now() < deadline,
            "gave up waiting for {name} {state}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn ps_and_port_show_the_recorded_ports() {
    let Some(case) = Case::new(SUITE, "record") else {
        return;
    };
    case.compose(STACK);
    let web = format!("{}-web-1", case.project);
    case.ok(&["up", "-d"]);
    wait_state(&case, &web, "running");

    // no record: nothing published, compose's error with an empty list
    assert_eq!(
        field(&case.ps(), &web)["Publishers"],
        serde_json::Value::Null
    );
    let o = case.berth(&["port", "web", "80"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert_eq!(
        String::from_utf8_lossy(&o.stderr),
        format!("no port 80/tcp for container {web}: \n")
    );

    let o = case.ctr_output(&[
        "containers",
        "label",
        &web,
        &format!("berth.ports={RECORD}"),
    ]);
    assert!(o.status.success(), "ctr containers label: {}", text(&o));

    // the table's PORTS column, as docker/cli's DisplayablePorts groups it
    let table = case.ok(&["ps"]);
    let row = table
        .lines()
        .find(|l| l.starts_with(&web))
        .unwrap_or_else(|| panic!("no {web} in\n{table}"));
    assert!(row.trim_end().ends_with(PORTS_COLUMN), "{table}");

    // --format json: Publishers by container port, all addresses as 0.0.0.0 and ::
    let rows = case.ps();
    let row = field(&rows, &web);
    assert_eq!(row["Ports"], PORTS_COLUMN);
    let publishers: Vec<String> = row["Publishers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            format!(
                "{}|{}|{}|{}",
                p["URL"].as_str().unwrap(),
                p["PublishedPort"],
                p["TargetPort"],
                p["Protocol"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        publishers,
        [
            "127.0.0.1|5353|53|udp",
            "0.0.0.0|8080|80|tcp",
            "::|8080|80|tcp",
            "0.0.0.0|7000|7000|tcp",
            "::|7000|7000|tcp",
            "0.0.0.0|7001|7001|tcp",
            "::|7001|7001|tcp",
            "0.0.0.0|7002|7002|tcp",
            "::|7002|7002|tcp",
            "|0|9000|tcp",
        ]
    );

    // port: the first binding of that container port and protocol
    assert_eq!(case.ok(&["port", "web", "80"]), "0.0.0.0:8080\n");
    assert_eq!(
        case.ok(&["port", "--protocol", "UDP", "web", "53"]),
        "127.0.0.1:5353\n"
    );
    assert_eq!(case.ok(&["port", "web", "7001"]), "0.0.0.0:7001\n");
    assert_eq!(case.ok(&["port", "--index", "1", "web", "9000"]), ":0\n");
    let o = case.berth(&["port", "web", "53"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert_eq!(
        String::from_utf8_lossy(&o.stderr),
        format!("no port 53/tcp for container {web}: 5353/udp, 8080/tcp, 8080/tcp, 7000/tcp, 7000/tcp, 7001/tcp, 7001/tcp, 7002/tcp, 7002/tcp, 0/tcp\n")
    );

    // a stopped container has no bindings, as Docker drops them when it stops
    case.ok(&["stop", "web"]);
    wait_state(&case, &web, "exited");
    let rows = case.ps();
    assert_eq!(field(&rows, &web)["Publishers"], serde_json::Value::Null);
    assert_eq!(field(&rows, &web)["Ports"], "");
}

#[test]
fn run_refuses_a_bad_publish_before_anything_starts() {
    let Some(case) = Case::new(SUITE, "badp") else {
        return;
    };
    case.compose(STACK);
    let o = case.berth(&["run", "-d", "--publish", "80-81:90-92", "web"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains(
            "service \"web\": --publish 80-81:90-92: invalid ranges specified for container and host Ports: 90-92 and 80-81"
        ),
        "{}",
        text(&o)
    );
    assert!(case.ids("containers").is_empty());
}
