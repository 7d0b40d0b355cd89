//! Integration tests of the registry side of pulling (`berth::image::registry`) against the test
//! bed's registries: the plain-HTTP one (BERTH_TEST_REGISTRY), which the tests push a tiny image
//! of their own to, the images the bed seeds (BERTH_TEST_IMAGES describes them), and the TLS +
//! basic-auth one (BERTH_TEST_AUTH_REGISTRY). Under `CI=true` a missing bed fails these tests.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::PathBuf;

use berth::image::auth::Credentials;
use berth::image::hosts::{Endpoint, Scheme};
use berth::image::registry::{Error, Platform, Puller, Resolved};
use berth::image::ImageRef;
use bytes::Bytes;
use futures_util::StreamExt;
use oci_client::client::{ClientConfig, ClientProtocol, Config, ImageLayer};
use oci_client::secrets::RegistryAuth;
use sha2::Digest as _;

const TINY: &str = "berth-test/reg-tiny";

/// The tiny image's single layer: 100 KiB that differ at every offset.
fn tiny_layer() -> Bytes {
    (0..100 * 1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect::<Vec<u8>>()
        .into()
}

fn sha256(b: &[u8]) -> String {
    format!("sha256:{:x}", sha2::Sha256::digest(b))
}

/// Pushes `<registry>/berth-test/reg-tiny:latest` (one layer, a linux/amd64 config) and returns
/// the registry. Pushing the same content again is harmless, so every test may call it.
async fn tiny_image() -> Option<String> {
    let registry = common::registry()?;
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = oci_client::Client::new(ClientConfig {
        protocol: ClientProtocol::Http,
        ..Default::default()
    });
    let layer = tiny_layer();
    let config = format!(
        r#"{{"architecture":"amd64","os":"linux","config":{{"Cmd":["/x"]}},"rootfs":{{"type":"layers","diff_ids":["{}"]}}}}"#,
        sha256(&layer)
    );
    let reference: oci_client::Reference = format!("{registry}/{TINY}:latest").parse().unwrap();
    client
        .push(
            &reference,
            &[ImageLayer::oci_v1(layer, None)],
            Config::oci_v1(config.into_bytes(), None),
            &RegistryAuth::Anonymous,
            None,
        )
        .await
        .unwrap_or_else(|e| panic!("push {reference}: {e}"));
    Some(registry)
}

/// A puller that sees no host configuration (an empty hosts dir) and pulls linux/amd64.
fn puller() -> Puller {
    let empty = common::scratch_path("certs.d");
    std::fs::create_dir_all(&empty).unwrap();
    Puller::new()
        .with_hosts_dirs(vec![empty])
        .with_platform(Platform::parse("linux/amd64").unwrap())
        .with_credentials(Credentials::Anonymous)
}

fn r(s: &str) -> ImageRef {
    ImageRef::parse(s).unwrap()
}

async fn collect(resolved: &Resolved, offset: u64) -> (u64, Vec<u8>) {
    let layer = &resolved.layers[0];
    let mut stream = resolved.blob(layer, offset).await.unwrap();
    let start = stream.offset;
    let mut out = Vec::new();
    while let Some(chunk) = stream.next().await {
        out.extend_from_slice(&chunk.unwrap());
    }
    (start, out)
}

/// A loopback port nothing listens on.
fn dead_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

#[tokio::test]
async fn resolves_by_tag_over_the_loopback_http_fallback() {
    let Some(registry) = tiny_image().await else {
        return;
    };
    let image = r(&format!("{registry}/{TINY}"));
    let res = puller()
        .resolve(&image)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(res.name, format!("{registry}/{TINY}:latest"));
    // https was tried first and failed; plain http answered.
    assert_eq!(res.endpoint.scheme, Scheme::Http);
    assert!(res.index.is_none());
    assert_eq!(res.target, res.manifest.0);
    assert_eq!(res.target.digest().to_string(), sha256(&res.manifest.1));
    assert_eq!(res.target.size(), res.manifest.1.len() as u64);
    assert_eq!(
        res.target.media_type().to_string(),
        "application/vnd.oci.image.manifest.v1+json"
    );
    assert_eq!(res.config.0.digest().to_string(), sha256(&res.config.1));
    assert_eq!(res.image_config.architecture().to_string(), "amd64");
    assert_eq!(res.layers.len(), 1);
    assert_eq!(res.layers[0].digest().to_string(), sha256(&tiny_layer()));
    assert!(res.warnings.is_empty(), "{:?}", res.warnings);
}

#[tokio::test]
async fn resolves_by_digest_and_checks_it() {
    let Some(registry) = tiny_image().await else {
        return;
    };
    let p = puller();
    let by_tag = p.resolve(&r(&format!("{registry}/{TINY}"))).await.unwrap();
    let digest = by_tag.target.digest().to_string();

    let image = r(&format!("{registry}/{TINY}@{digest}"));
    let res = p.resolve(&image).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(res.name, format!("{registry}/{TINY}@{digest}"));
    assert_eq!(res.target, by_tag.target);
    assert_eq!(res.manifest.1, by_tag.manifest.1);

    // A digest the registry does not have.
    let other = format!("sha256:{}", "0".repeat(64));
    let e = p
        .resolve(&r(&format!("{registry}/{TINY}:latest@{other}")))
        .await
        .unwrap_err();
    assert!(matches!(e, Error::ManifestUnknown { .. }), "{e:?}");
}

#[tokio::test]
async fn missing_tag_and_missing_repository() {
    let Some(registry) = tiny_image().await else {
        return;
    };
    let e = puller()
        .resolve(&r(&format!("{registry}/{TINY}:nope")))
        .await
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "manifest for {registry}/{TINY}:nope not found: manifest unknown: manifest unknown"
        )
    );

    let e = puller()
        .resolve(&r(&format!("{registry}/berth-test/reg-no-such-repo")))
        .await
        .unwrap_err();
    assert!(
        matches!(e, Error::ManifestUnknown { .. } | Error::NameUnknown { .. }),
        "{e:?}"
    );
    assert!(
        e.to_string()
            .contains(&format!("{registry}/berth-test/reg-no-such-repo")),
        "{e}"
    );
}

#[tokio::test]
async fn unreachable_registry_is_named() {
    if common::registry().is_none() {
        return;
    }
    let port = dead_port();
    let started = std::time::Instant::now();
    let e = puller()
        .resolve(&r(&format!("127.0.0.1:{port}/x")))
        .await
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        format!("registry 127.0.0.1:{port} does not answer: connection refused")
    );
    // Two endpoints (https, http), three tries each with 200 + 400 ms between.
    assert!(started.elapsed() >= std::time::Duration::from_millis(1200));
}

#[tokio::test]
async fn mirrors_are_tried_in_order() {
    let Some(registry) = tiny_image().await else {
        return;
    };
    let (dead1, dead2) = (dead_port(), dead_port());
    let dir = common::scratch_path("certs.d");
    let host_dir = dir.join("mirror.invalid");
    std::fs::create_dir_all(&host_dir).unwrap();
    std::fs::write(
        host_dir.join("hosts.toml"),
        format!(
            "server = \"https://mirror.invalid\"\n\
             [host.\"http://127.0.0.1:{dead1}\"]\n\
             [host.\"http://{registry}\"]\n\
             [host.\"http://127.0.0.1:{dead2}\"]\n"
        ),
    )
    .unwrap();
    let p = puller().with_hosts_dirs(vec![dir]);
    let image = r(&format!("mirror.invalid/{TINY}"));
    let eps = p.endpoints(&image).unwrap();
    assert_eq!(eps.len(), 4);
    let res = p.resolve(&image).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(res.endpoint.host, registry);
    assert_eq!(res.name, format!("mirror.invalid/{TINY}:latest"));
    // Layers come from the mirror that answered.
    let (_, whole) = collect(&res, 0).await;
    assert_eq!(whole, tiny_layer());

    // A mirror without the tag passes to the next; the last one's answer is the error.
    let e = p
        .resolve(&r(&format!("mirror.invalid/{TINY}:nope")))
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Unreachable { .. }), "{e:?}");
    let only: Vec<Endpoint> = eps[..2].to_vec();
    let e = p
        .resolve_at(&r(&format!("mirror.invalid/{TINY}:nope")), &only)
        .await
        .unwrap_err();
    assert!(matches!(e, Error::ManifestUnknown { .. }), "{e:?}");
}

#[tokio::test]
async fn blobs_stream_whole_or_from_an_offset() {
    let Some(registry) = tiny_image().await else {
        return;
    };
    let res = puller()
        .resolve(&r(&format!("{registry}/{TINY}")))
        .await
        .unwrap();
    let layer = tiny_layer();
    let (start, whole) = collect(&res, 0).await;
    assert_eq!(start, 0);
    assert_eq!(whole, layer);

    let (start, tail) = collect(&res, 12345).await;
    assert_eq!(tail, layer[start as usize..]);
    // The bed's registry honours ranges.
    assert_eq!(start, 12345);

    let fetched = res.fetch_blob(&res.layers[0]).await.unwrap();
    assert_eq!(fetched, layer);
}

// ---- the images the bed seeds -------------------------------------------------------------

struct Seeded {
    registry: String,
    images: serde_json::Value,
}

fn seeded() -> Option<Seeded> {
    let registry = common::registry()?;
    let path = match std::env::var_os("BERTH_TEST_IMAGES") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => return common::missing("BERTH_TEST_IMAGES is not set"),
    };
    let text =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    let all: serde_json::Value = serde_json::from_str(&text).unwrap();
    Some(Seeded {
        registry,
        images: all["images"].clone(),
    })
}

#[tokio::test]
async fn oci_index_picks_the_platform() {
    let Some(s) = seeded() else { return };
    let want = &s.images["berth-test/index:latest"];
    let image = r(&format!("{}/berth-test/index", s.registry));
    let res = puller()
        .resolve(&image)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let (index, _) = res.index.as_ref().expect("an index");
    assert_eq!(index.digest().to_string(), want["digest"].as_str().unwrap());
    assert_eq!(res.target, *index);
    assert_eq!(
        res.index_children.len(),
        want["manifests"].as_array().unwrap().len()
    );
    assert!(res.index_children.contains(&res.manifest.0));
    let amd64 = want["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["platform"] == "linux/amd64")
        .unwrap();
    assert_eq!(
        res.manifest.0.digest().to_string(),
        amd64["digest"].as_str().unwrap()
    );
    assert_eq!(
        res.config.0.digest().to_string(),
        amd64["config"].as_str().unwrap()
    );
    let layers: Vec<String> = res.layers.iter().map(|l| l.digest().to_string()).collect();
    assert_eq!(serde_json::json!(layers), amd64["layers"]);

    let e = puller()
        .with_platform(Platform::parse("linux/s390x").unwrap())
        .resolve(&image)
        .await
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "no matching manifest for linux/s390x in the manifest list entries"
    );
}

#[tokio::test]
async fn docker_schema2_and_manifest_list() {
    let Some(s) = seeded() else { return };
    let res = puller()
        .resolve(&r(&format!("{}/berth-test/docker", s.registry)))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        res.target.media_type().to_string(),
        "application/vnd.docker.distribution.manifest.v2+json"
    );
    let want = &s.images["berth-test/docker:latest"];
    assert_eq!(
        res.target.digest().to_string(),
        want["digest"].as_str().unwrap()
    );

    let res = puller()
        .resolve(&r(&format!("{}/berth-test/dockerlist", s.registry)))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let (list, _) = res.index.as_ref().expect("a manifest list");
    assert_eq!(
        list.media_type().to_string(),
        "application/vnd.docker.distribution.manifest.list.v2+json"
    );
    assert_eq!(
        res.manifest
            .0
            .platform()
            .as_ref()
            .unwrap()
            .architecture()
            .to_string(),
        "amd64"
    );
}

#[tokio::test]
async fn docker_hub_names_through_the_beds_mirror() {
    let Some(s) = seeded() else { return };
    let Some(dir) = std::env::var_os("BERTH_TEST_HOSTS_DIR") else {
        return common::missing("BERTH_TEST_HOSTS_DIR is not set").unwrap_or(());
    };
    let res = puller()
        .with_hosts_dirs(vec![PathBuf::from(dir)])
        .resolve(&r("busybox"))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(res.name, "docker.io/library/busybox:latest");
    assert_eq!(res.endpoint.host, s.registry);
    let want = &s.images["library/busybox:latest"];
    assert_eq!(
        res.target.digest().to_string(),
        want["digest"].as_str().unwrap()
    );
}

// ---- TLS and basic auth -------------------------------------------------------------------

struct AuthBed {
    registry: String,
    user: String,
    password: String,
    hosts_dir: PathBuf,
}

fn auth_bed() -> Option<AuthBed> {
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    match (
        var("BERTH_TEST_AUTH_REGISTRY"),
        var("BERTH_TEST_AUTH_USER"),
        var("BERTH_TEST_AUTH_PASSWORD"),
        var("BERTH_TEST_HOSTS_DIR"),
    ) {
        (Some(registry), Some(user), Some(password), Some(dir)) => Some(AuthBed {
            registry,
            user,
            password,
            hosts_dir: PathBuf::from(dir),
        }),
        _ => common::missing(
            "BERTH_TEST_AUTH_REGISTRY/USER/PASSWORD or BERTH_TEST_HOSTS_DIR is not set",
        ),
    }
}

#[tokio::test]
async fn tls_registry_with_basic_auth_from_docker_config() {
    let Some(bed) = auth_bed() else { return };
    let config = common::scratch_path("config.json");
    let auth = format!("{}:{}", bed.user, bed.password);
    let auth = base64_encode(auth.as_bytes());
    std::fs::write(
        &config,
        format!(
            r#"{{"auths": {{"{}": {{"auth": "{auth}"}}}}}}"#,
            bed.registry
        ),
    )
    .unwrap();
    let image = r(&format!("{}/berth-test/multi", bed.registry));
    let p = puller()
        .with_hosts_dirs(vec![bed.hosts_dir.clone()])
        .with_credentials(Credentials::DockerConfigAt(config));
    let res = p.resolve(&image).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(res.endpoint.scheme, Scheme::Https);
    let (start, bytes) = collect(&res, 0).await;
    assert_eq!(start, 0);
    assert_eq!(sha256(&bytes), res.layers[0].digest().to_string());

    let e = puller()
        .with_hosts_dirs(vec![bed.hosts_dir.clone()])
        .resolve(&image)
        .await
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "pull access denied for {}/berth-test/multi, repository does not exist or may require authorization: 401 Unauthorized",
            bed.registry
        )
    );

    let e = puller()
        .with_hosts_dirs(vec![bed.hosts_dir.clone()])
        .with_credentials(Credentials::Fixed(RegistryAuth::Basic(
            bed.user.clone(),
            "wrong".into(),
        )))
        .resolve(&image)
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Denied { .. }), "{e:?}");

    // With no hosts configuration a loopback registry's certificate is not verified (Docker
    // treats loopback registries as insecure), so this reaches the registry and is denied for
    // lack of credentials rather than failing on the bed's private CA.
    let e = puller().resolve(&image).await;
    assert!(matches!(e, Err(Error::Denied { .. })), "{e:?}");
}

fn base64_encode(input: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}
