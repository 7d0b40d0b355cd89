//! Integration tests of berth's gRPC edge (`berth::containerd`) against the test bed's real
//! containerd, and a check that the test bed's registry answers. Run through tests/run.sh, which
//! brings the bed up; under `CI=true` a missing containerd or registry fails these tests.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixListener;
use std::time::Duration;

use berth::containerd::{Client, Error, TASK_RUNTIME_V2};

const NAMESPACE: &str = "berth-test-containerd";

#[tokio::test]
async fn version_and_plugins_of_the_test_bed() {
    let Some(address) = common::containerd_address() else {
        return;
    };
    let client = Client::connect(&address, NAMESPACE)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(client.namespace(), NAMESPACE);
    assert_eq!(client.address(), address);

    let version = client.version().await.unwrap();
    assert!(!version.version.is_empty(), "{version:?}");
    assert!(
        version.release().is_some(),
        "unexpected version string {version:?}"
    );

    let plugins = client.introspection_plugins().await.unwrap();
    let runtime = plugins
        .find(TASK_RUNTIME_V2.0, TASK_RUNTIME_V2.1)
        .unwrap_or_else(|| panic!("no {TASK_RUNTIME_V2:?} plugin in {plugins:#?}"));
    assert!(runtime.is_ok(), "{runtime:?}");

    let features = client.features().await.unwrap();
    assert!(features.task_runtime_v2);
}

#[tokio::test]
async fn clients_share_a_connection_across_concurrent_calls() {
    let Some(address) = common::containerd_address() else {
        return;
    };
    let client = Client::connect(&address, NAMESPACE)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let calls = (0..8).map(|_| {
        let c = client.clone();
        tokio::spawn(async move { c.version().await })
    });
    for call in calls {
        assert!(!call.await.unwrap().unwrap().version.is_empty());
    }
}

/// The message a user sees when nothing listens: where, why, and how to start containerd.
fn assert_not_answering(err: Error, path: &std::path::Path, why: &str) {
    let text = err.to_string();
    assert!(matches!(err, Error::NotAnswering { .. }), "{err:?}");
    assert!(
        text.starts_with(&format!(
            "containerd does not answer at {}: ",
            path.display()
        )),
        "{text}"
    );
    assert!(text.to_lowercase().contains(why), "{text}");
    assert!(
        text.ends_with("start it with `systemctl start containerd` or `containerd &`"),
        "{text}"
    );
}

#[tokio::test]
async fn no_socket_is_a_clear_error() {
    let path = common::scratch_path("containerd.sock");
    let err = Client::connect(&path, "default").await.unwrap_err();
    assert_not_answering(err, &path, "no such file or directory");
}

#[tokio::test]
async fn a_socket_nobody_listens_on_is_a_clear_error() {
    let path = common::scratch_path("stale.sock");
    // Bound and closed: the socket file stays, as after a containerd that was killed.
    drop(UnixListener::bind(&path).unwrap());
    assert!(path.exists());
    let err = Client::connect(&path, "default").await.unwrap_err();
    assert_not_answering(err, &path, "connection refused");
}

#[tokio::test]
async fn an_invalid_namespace_is_refused_before_connecting() {
    let path = common::scratch_path("never-used.sock");
    let err = Client::connect(&path, "no spaces").await.unwrap_err();
    assert!(matches!(err, Error::InvalidNamespace { .. }), "{err:?}");
}

#[test]
fn the_test_registry_answers_v2() {
    let Some(registry) = common::registry() else {
        return;
    };
    let mut stream = TcpStream::connect(&registry)
        .unwrap_or_else(|e| panic!("registry at {registry} does not answer: {e}"));
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "GET /v2/ HTTP/1.1\r\nHost: {registry}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut reply = String::new();
    stream.read_to_string(&mut reply).unwrap();
    let (head, _) = reply.split_once("\r\n\r\n").unwrap_or((&reply, ""));
    let status = head.lines().next().unwrap_or_default();
    assert!(status.starts_with("HTTP/1.1 200"), "{registry}: {head}");
    assert!(
        head.lines().any(|l| l
            .to_ascii_lowercase()
            .starts_with("docker-distribution-api-version: registry/2.0")),
        "{registry} is not a registry v2: {head}"
    );
}
