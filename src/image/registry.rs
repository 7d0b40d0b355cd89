//! The remote side of a pull: resolve a reference to an index, a manifest for one platform and
//! its config, trying a registry's endpoints in order, and stream layers from the endpoint that
//! answered. Every whole blob fetched is checked against its digest. Talks HTTP through
//! `oci_client`; must not import containerd (the caller stores what this returns).

use std::fmt;
use std::future::Future;
use std::io;
use std::path::PathBuf;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures_util::stream::{BoxStream, Stream, StreamExt};
use oci_client::client::{
    BlobResponse, Certificate, CertificateEncoding, ClientConfig, ClientProtocol,
};
use oci_client::errors::{OciDistributionError, OciErrorCode};
use oci_client::manifest::OciDescriptor;
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference, RegistryOperation};
use oci_spec::image::{
    Descriptor, Digest, ImageConfiguration, ImageIndex, ImageManifest, MediaType,
    Platform as OciPlatform,
};
use sha2::Digest as _;
use thiserror::Error;

use super::auth::{AuthError, Credentials};
use super::hosts::{self, Endpoint, HostsError, Scheme};
use super::reference::ImageRef;

pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
const DOCKER_SCHEMA1: &str = "application/vnd.docker.distribution.manifest.v1+prettyjws";
/// What a manifest request accepts, most wanted first.
const ACCEPT: [&str; 4] = [OCI_INDEX, DOCKER_LIST, OCI_MANIFEST, DOCKER_MANIFEST];

const TRIES: u32 = 3;
const FIRST_BACKOFF: Duration = Duration::from_millis(200);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// Between two reads of one response, not for the whole body.
const READ_TIMEOUT: Duration = Duration::from_secs(120);
/// Manifests and configs are read whole into memory; a bigger one is refused.
const MAX_DOCUMENT: u64 = 32 << 20;
const USER_AGENT: &str = concat!(env!("CARGO_PKG_NAME"), "/", env!("CARGO_PKG_VERSION"));

#[derive(Debug, Error)]
pub enum Error {
    #[error(transparent)]
    Hosts(#[from] HostsError),
    #[error(transparent)]
    Auth(#[from] AuthError),
    #[error("read CA certificate {}: {source}", path.display())]
    Ca { path: PathBuf, source: io::Error },
    #[error("set up a client for {url}: {cause}")]
    Client { url: String, cause: String },
    #[error("registry {host} does not answer: {cause}")]
    Unreachable { host: String, cause: String },
    #[error("pull access denied for {name}, repository does not exist or may require authorization: {answer}")]
    Denied {
        name: String,
        host: String,
        answer: String,
    },
    #[error("manifest for {reference} not found: {answer}")]
    ManifestUnknown {
        reference: String,
        host: String,
        answer: String,
    },
    #[error("repository {name} not found: {answer}")]
    NameUnknown {
        name: String,
        host: String,
        answer: String,
    },
    #[error("{what} {digest} of {reference} not found on {host}: {answer}")]
    BlobUnknown {
        what: &'static str,
        reference: String,
        digest: String,
        host: String,
        answer: String,
    },
    #[error(
        "{what} of {reference} from {host}: digest mismatch: expected {expected}, got {actual}"
    )]
    DigestMismatch {
        what: &'static str,
        reference: String,
        host: String,
        expected: String,
        actual: String,
    },
    #[error("{what} {digest} of {reference} from {host}: size mismatch: expected {expected} bytes, got {actual}")]
    SizeMismatch {
        what: &'static str,
        reference: String,
        digest: String,
        host: String,
        expected: u64,
        actual: u64,
    },
    #[error("no matching manifest for {platform} in the manifest list entries")]
    NoMatchingManifest { platform: Platform },
    #[error("{reference}: {what} from {host} has unsupported media type {media_type}")]
    UnsupportedMediaType {
        what: &'static str,
        reference: String,
        host: String,
        media_type: String,
    },
    #[error("{reference}: invalid {what} from {host}: {cause}")]
    Invalid {
        what: &'static str,
        reference: String,
        host: String,
        cause: String,
    },
    #[error("{reference}: {what} is {size} bytes, more than berth reads whole ({MAX_DOCUMENT})")]
    TooBig {
        what: &'static str,
        reference: String,
        size: u64,
    },
    #[error("{reference}: registry {host} answered: {answer}")]
    Registry {
        reference: String,
        host: String,
        answer: String,
    },
    #[error("read blob {digest} of {reference} from {host}: {cause}")]
    Transfer {
        reference: String,
        digest: String,
        host: String,
        cause: String,
    },
    #[error("{reference}: no endpoint configured for {registry} may {capability}")]
    NoEndpoint {
        reference: String,
        registry: String,
        capability: &'static str,
    },
    #[error("invalid platform {0:?}: want os/arch[/variant]")]
    Platform(String),
}

impl Error {
    /// Whether the next endpoint may still have what this one failed to give.
    fn moves_on(&self) -> bool {
        matches!(
            self,
            Self::Unreachable { .. }
                | Self::ManifestUnknown { .. }
                | Self::NameUnknown { .. }
                | Self::BlobUnknown { .. }
                | Self::Registry { .. }
        )
    }
}

// ---- platforms ----------------------------------------------------------------------------

/// An OS/architecture/variant in OCI's (Go's) names: `linux/amd64`, `linux/arm64/v8`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
}

impl Platform {
    /// The machine berth runs on.
    pub fn host() -> Self {
        let arch = normalize_arch(std::env::consts::ARCH);
        let variant = match arch {
            "arm64" => Some("v8".to_string()),
            "arm" if cfg!(target_feature = "v7") => Some("v7".to_string()),
            "arm" => Some("v6".to_string()),
            _ => None,
        };
        Self {
            os: std::env::consts::OS.to_string(),
            architecture: arch.to_string(),
            variant,
        }
    }

    /// `os/arch[/variant]` as compose's `platform:` and `--platform` write it; architecture
    /// aliases (x86_64, aarch64, armhf, …) are normalized.
    pub fn parse(s: &str) -> Result<Self, Error> {
        let parts: Vec<&str> = s.split('/').collect();
        let (os, arch, variant) = match parts[..] {
            [os, arch] => (os, arch, None),
            [os, arch, variant] => (os, arch, Some(variant)),
            _ => return Err(Error::Platform(s.to_string())),
        };
        if os.is_empty() || arch.is_empty() || variant.is_some_and(str::is_empty) {
            return Err(Error::Platform(s.to_string()));
        }
        let lower = arch.to_lowercase();
        let (arch, implied) = match lower.as_str() {
            "armhf" | "armv7" | "armv7l" => ("arm", Some("v7")),
            "armel" | "armv6" | "armv6l" => ("arm", Some("v6")),
            "armv5" => ("arm", Some("v5")),
            "aarch64" | "arm64" => ("arm64", Some("v8")),
            "arm" => ("arm", Some("v7")),
            other => (normalize_arch(other), None),
        };
        let variant = variant.map(str::to_lowercase).or(implied.map(String::from));
        let variant = match (arch, variant.as_deref()) {
            ("amd64", Some("v1")) => None,
            ("arm64", Some("8")) => Some("v8".to_string()),
            _ => variant,
        };
        Ok(Self {
            os: os.to_lowercase(),
            architecture: arch.to_string(),
            variant,
        })
    }

    /// How well an index entry's platform fits: `None` when it does not, higher is better.
    /// OS and architecture must be equal; arm64 takes no variant or v8; arm takes its variant
    /// or an older one (v7 runs v6 and v5), preferring the newest; other architectures take
    /// any variant when none is asked for, an exact one otherwise (amd64's v1 is no variant).
    pub fn rank(&self, p: &OciPlatform) -> Option<u32> {
        if p.os().to_string() != self.os || p.architecture().to_string() != self.architecture {
            return None;
        }
        let theirs = p.variant().as_deref().map(str::to_lowercase);
        match self.architecture.as_str() {
            "arm64" => match theirs.as_deref() {
                None | Some("v8") | Some("8") => Some(1),
                _ => None,
            },
            "arm" => {
                let want = arm_version(self.variant.as_deref().unwrap_or("v7"))?;
                let have = arm_version(theirs.as_deref().unwrap_or("v7"))?;
                (have <= want).then_some(have)
            }
            _ => {
                let theirs = match (self.architecture.as_str(), theirs.as_deref()) {
                    ("amd64", Some("v1")) => None,
                    _ => theirs,
                };
                match (&self.variant, theirs) {
                    (None, None) => Some(2),
                    (None, Some(_)) => Some(1),
                    (Some(want), Some(have)) if *want == have => Some(1),
                    _ => None,
                }
            }
        }
    }
}

impl Default for Platform {
    fn default() -> Self {
        Self::host()
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

fn normalize_arch(arch: &str) -> &str {
    match arch {
        "x86_64" | "x86-64" => "amd64",
        "aarch64" => "arm64",
        "x86" | "i386" | "i686" => "386",
        "powerpc64" if cfg!(target_endian = "little") => "ppc64le",
        "powerpc64" => "ppc64",
        "loongarch64" => "loong64",
        other => other,
    }
}

fn arm_version(v: &str) -> Option<u32> {
    v.strip_prefix('v').unwrap_or(v).parse().ok()
}

/// The index entry for `platform`: the best-ranked, the first of equals.
pub fn select_manifest<'a>(
    entries: &'a [Descriptor],
    platform: &Platform,
) -> Option<&'a Descriptor> {
    let mut best: Option<(u32, &Descriptor)> = None;
    for d in entries {
        let Some(rank) = d.platform().as_ref().and_then(|p| platform.rank(p)) else {
            continue;
        };
        if best.is_none_or(|(r, _)| rank > r) {
            best = Some((rank, d));
        }
    }
    best.map(|(_, d)| d)
}

// ---- the puller ---------------------------------------------------------------------------

/// Resolves references against registries, configured by hosts directories, a platform and
/// credentials.
#[derive(Debug, Clone, Default)]
pub struct Puller {
    hosts_dirs: Vec<PathBuf>,
    platform: Platform,
    credentials: Credentials,
}

impl Puller {
    /// The host's platform, the default hosts directories and Docker's config file.
    pub fn new() -> Self {
        Self::default()
    }

    /// Where hosts.toml and certs.d directories are looked for, in order (empty: the defaults,
    /// `/etc/containerd/certs.d` then `/etc/docker/certs.d`).
    pub fn with_hosts_dirs(mut self, dirs: Vec<PathBuf>) -> Self {
        self.hosts_dirs = dirs;
        self
    }

    pub fn with_platform(mut self, platform: Platform) -> Self {
        self.platform = platform;
        self
    }

    pub fn with_credentials(mut self, credentials: Credentials) -> Self {
        self.credentials = credentials;
        self
    }

    pub fn platform(&self) -> &Platform {
        &self.platform
    }

    /// The endpoints `image`'s registry is tried at, in order.
    pub fn endpoints(&self, image: &ImageRef) -> Result<Vec<Endpoint>, Error> {
        Ok(hosts::load(image.domain(), &self.hosts_dirs)?)
    }

    /// Resolves `image` through its registry's configured endpoints.
    pub async fn resolve(&self, image: &ImageRef) -> Result<Resolved, Error> {
        let endpoints = self.endpoints(image)?;
        self.resolve_at(image, &endpoints).await
    }

    /// Resolves `image` trying `endpoints` in order: an endpoint that does not answer, or a
    /// mirror that lacks the image, passes to the next; a denial, a bad answer, or the last
    /// endpoint's failure is the error.
    pub async fn resolve_at(
        &self,
        image: &ImageRef,
        endpoints: &[Endpoint],
    ) -> Result<Resolved, Error> {
        let by_tag = image.digest().is_none();
        let usable: Vec<&Endpoint> = endpoints
            .iter()
            .filter(|e| e.capabilities.pull && (!by_tag || e.capabilities.resolve))
            .collect();
        let mut last = None;
        for (i, ep) in usable.iter().enumerate() {
            match self.resolve_one(image, ep).await {
                Ok(r) => return Ok(r),
                Err(e) if e.moves_on() && i + 1 < usable.len() => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| Error::NoEndpoint {
            reference: image.familiar(),
            registry: image.domain().to_string(),
            capability: if by_tag { "resolve" } else { "pull" },
        }))
    }

    async fn resolve_one(&self, image: &ImageRef, ep: &Endpoint) -> Result<Resolved, Error> {
        let source = Source::new(image, ep, &self.credentials)?;
        source.authenticate().await?;

        let (top_bytes, top_digest) = source.manifest(&source.oci_ref, image.digest()).await?;
        let top_type =
            media_type_of(&top_bytes).map_err(|cause| source.invalid("manifest", cause))?;
        let top = descriptor(&top_type, &top_bytes, &top_digest);

        let mut index_children = Vec::new();
        let (index, manifest_desc, manifest_bytes) = match top_type.as_str() {
            OCI_INDEX | DOCKER_LIST => {
                let idx = ImageIndex::from_reader(&top_bytes[..])
                    .map_err(|e| source.invalid("index", e.to_string()))?;
                let entry = select_manifest(idx.manifests(), &self.platform)
                    .ok_or_else(|| Error::NoMatchingManifest {
                        platform: self.platform.clone(),
                    })?
                    .clone();
                index_children = idx.manifests().clone();
                let digest = entry.digest().to_string();
                check_document_size(&source, "manifest", entry.size())?;
                let child_ref = source.oci_ref.clone_with_digest(digest.clone());
                let (bytes, _) = source.manifest(&child_ref, Some(&digest)).await?;
                source.check_size("manifest", &digest, entry.size(), bytes.len())?;
                let child_type =
                    media_type_of(&bytes).map_err(|c| source.invalid("manifest", c))?;
                if child_type != OCI_MANIFEST && child_type != DOCKER_MANIFEST {
                    return Err(source.unsupported("manifest", child_type));
                }
                (Some((top.clone(), top_bytes)), entry, bytes)
            }
            OCI_MANIFEST | DOCKER_MANIFEST => (None, top.clone(), top_bytes),
            _ => return Err(source.unsupported("manifest", top_type)),
        };

        let manifest = ImageManifest::from_reader(&manifest_bytes[..])
            .map_err(|e| source.invalid("manifest", e.to_string()))?;
        let config_desc = manifest.config().clone();
        check_document_size(&source, "config", config_desc.size())?;
        let config_bytes = source.fetch_whole("config", &config_desc).await?;
        let image_config = ImageConfiguration::from_reader(&config_bytes[..])
            .map_err(|e| source.invalid("config", e.to_string()))?;

        Ok(Resolved {
            name: image.to_string(),
            reference: image.clone(),
            target: top,
            index,
            index_children,
            manifest: (manifest_desc, manifest_bytes),
            config: (config_desc, config_bytes),
            image_config,
            layers: manifest.layers().clone(),
            endpoint: ep.clone(),
            warnings: unsupported_settings(ep),
            source,
        })
    }
}

/// What berth cannot honour yet in an endpoint's settings, as warnings to show.
pub fn unsupported_settings(ep: &Endpoint) -> Vec<String> {
    let mut out = Vec::new();
    if !ep.headers.is_empty() {
        out.push(format!(
            "{}: hosts.toml `header` is not supported yet; requests go without those headers",
            ep.url()
        ));
    }
    if !ep.client.is_empty() {
        out.push(format!(
            "{}: client certificates are not supported yet",
            ep.url()
        ));
    }
    if ep.path != "/v2" {
        out.push(format!(
            "{}: a path other than /v2 is not supported yet; berth uses /v2",
            ep.url()
        ));
    }
    out
}

/// What a reference resolved to at one endpoint, and the means to fetch its layers from there.
pub struct Resolved {
    /// The full normalized name (`docker.io/library/redis:latest`), as containerd stores it.
    pub name: String,
    pub reference: ImageRef,
    /// What the image record points at: the index when there was one, else the manifest.
    pub target: Descriptor,
    pub index: Option<(Descriptor, Bytes)>,
    /// Every entry of the index (all platforms, attestations too), empty without an index:
    /// containerd labels the index with each as a gc reference.
    pub index_children: Vec<Descriptor>,
    /// The platform's manifest (from the index entry when there was an index, so it carries
    /// the platform).
    pub manifest: (Descriptor, Bytes),
    pub config: (Descriptor, Bytes),
    pub image_config: ImageConfiguration,
    pub layers: Vec<Descriptor>,
    /// The endpoint that answered; layers come from it.
    pub endpoint: Endpoint,
    /// Settings of that endpoint berth ignored.
    pub warnings: Vec<String>,
    source: Source,
}

impl fmt::Debug for Resolved {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Resolved")
            .field("name", &self.name)
            .field("target", &self.target)
            .field("index", &self.index.as_ref().map(|i| &i.0))
            .field("manifest", &self.manifest.0)
            .field("config", &self.config.0)
            .field("layers", &self.layers)
            .field("endpoint", &self.endpoint.url())
            .finish_non_exhaustive()
    }
}

impl Resolved {
    /// Streams blob `desc` from the endpoint that resolved the image, from byte `offset`.
    /// The answer's [`BlobStream::offset`] is where the bytes really start: 0 when the registry
    /// ignored the range and sent the whole blob. A whole blob is checked against its digest
    /// as it streams (the last item is an error on a mismatch); a partial one cannot be, so the
    /// caller checks the assembled blob.
    pub async fn blob(&self, desc: &Descriptor, offset: u64) -> Result<BlobStream, Error> {
        self.source.blob(desc, offset).await
    }

    /// Fetches blob `desc` whole into memory, checked against its digest and size.
    pub async fn fetch_blob(&self, desc: &Descriptor) -> Result<Bytes, Error> {
        self.source.fetch_whole("blob", desc).await
    }
}

/// A blob's bytes as they arrive, from [`BlobStream::offset`] on.
pub struct BlobStream {
    /// Where the first byte sits in the blob.
    pub offset: u64,
    /// How many bytes the registry said it would send, when it said.
    pub content_length: Option<u64>,
    stream: BoxStream<'static, Result<Bytes, Error>>,
}

impl Stream for BlobStream {
    type Item = Result<Bytes, Error>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.stream.as_mut().poll_next(cx)
    }
}

impl fmt::Debug for BlobStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlobStream")
            .field("offset", &self.offset)
            .field("content_length", &self.content_length)
            .finish_non_exhaustive()
    }
}

/// The digest oci-client computed when a whole blob it streamed did not match its descriptor.
/// Its error type for this is private to the crate, so the message is all there is to read:
/// `Invalid digest. Expected <digest>, got <digest>`.
fn streamed_digest_mismatch(cause: &str) -> Option<String> {
    let rest = cause.split("Invalid digest. Expected ").nth(1)?;
    let actual = rest.split(", got ").nth(1)?;
    let actual: String = actual
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == ':')
        .collect();
    (!actual.is_empty()).then_some(actual)
}

// ---- one endpoint -------------------------------------------------------------------------

/// One endpoint's client, the reference as that endpoint serves it, and the credentials.
#[derive(Clone)]
struct Source {
    client: Client,
    oci_ref: Reference,
    auth: RegistryAuth,
    /// `host[:port]` of the endpoint.
    host: String,
    /// The familiar reference and name, for messages.
    familiar: String,
    familiar_name: String,
}

impl Source {
    fn new(image: &ImageRef, ep: &Endpoint, credentials: &Credentials) -> Result<Self, Error> {
        // Several callers may race to install it; the loser's error means it is in place.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut config = ClientConfig {
            protocol: match ep.scheme {
                Scheme::Http => ClientProtocol::Http,
                Scheme::Https => ClientProtocol::Https,
            },
            accept_invalid_certificates: ep.skip_verify,
            platform_resolver: None,
            connect_timeout: Some(ep.dial_timeout.unwrap_or(CONNECT_TIMEOUT)),
            read_timeout: Some(READ_TIMEOUT),
            user_agent: USER_AGENT,
            ..ClientConfig::default()
        };
        for path in &ep.ca {
            let data = std::fs::read(path).map_err(|source| Error::Ca {
                path: path.clone(),
                source,
            })?;
            config.extra_root_certificates.push(Certificate {
                encoding: CertificateEncoding::Pem,
                data,
            });
        }
        let client = Client::try_from(config).map_err(|e| Error::Client {
            url: ep.url(),
            cause: chain(&e),
        })?;

        let domain = image.domain().to_string();
        let path = image.path().to_string();
        let mut oci_ref = match (image.digest(), image.tag()) {
            (Some(d), _) => Reference::with_digest(domain, path, d.to_string()),
            (None, Some(t)) => Reference::with_tag(domain, path, t.to_string()),
            (None, None) => Reference::with_tag(domain, path, "latest".to_string()),
        };
        if ep.host != image.domain() {
            oci_ref.set_mirror_registry(ep.host.clone());
        }
        // The upstream's credentials are filed under the image's registry; a mirror's under
        // its own host.
        let cred_host = if ep.mirror { &ep.host } else { image.domain() };
        let auth = credentials.for_host(cred_host)?;
        Ok(Self {
            client,
            oci_ref,
            auth,
            host: ep.host.clone(),
            familiar: image.familiar(),
            familiar_name: image.familiar_name(),
        })
    }

    async fn authenticate(&self) -> Result<(), Error> {
        retry(|| {
            self.client
                .auth(&self.oci_ref, &self.auth, RegistryOperation::Pull)
        })
        .await
        .map(|_| ())
        .map_err(|f| self.error(f, "manifest", None))
    }

    /// A manifest by `r`'s tag or digest, checked against `digest` when one is expected.
    /// Returns the bytes and their digest.
    async fn manifest(
        &self,
        r: &Reference,
        digest: Option<&str>,
    ) -> Result<(Bytes, String), Error> {
        let (bytes, _) = retry(|| self.client.pull_manifest_raw(r, &self.auth, &ACCEPT))
            .await
            .map_err(|f| self.error(f, "manifest", digest))?;
        if bytes.len() as u64 > MAX_DOCUMENT {
            return Err(Error::TooBig {
                what: "manifest",
                reference: self.familiar.clone(),
                size: bytes.len() as u64,
            });
        }
        let actual = match digest {
            Some(expected) => {
                let actual = digest_of(expected, &bytes)
                    .ok_or_else(|| self.invalid("digest", format!("unsupported {expected}")))?;
                if actual != expected {
                    return Err(self.mismatch("manifest", expected, actual));
                }
                actual
            }
            None => sha256(&bytes),
        };
        Ok((bytes, actual))
    }

    async fn fetch_whole(&self, what: &'static str, desc: &Descriptor) -> Result<Bytes, Error> {
        let digest = desc.digest().to_string();
        let buf = retry(|| async {
            let mut buf = Vec::new();
            self.client
                .pull_blob(&self.oci_ref, digest.as_str(), &mut buf)
                .await
                .map(|()| buf)
        })
        .await
        .map_err(|f| self.error(f, what, Some(&digest)))?;
        let actual = digest_of(&digest, &buf)
            .ok_or_else(|| self.invalid(what, format!("unsupported digest {digest}")))?;
        if actual != digest {
            return Err(self.mismatch(what, &digest, actual));
        }
        self.check_size(what, &digest, desc.size(), buf.len())?;
        Ok(Bytes::from(buf))
    }

    async fn blob(&self, desc: &Descriptor, offset: u64) -> Result<BlobStream, Error> {
        let digest = desc.digest().to_string();
        let layer = OciDescriptor {
            media_type: desc.media_type().to_string(),
            digest: digest.clone(),
            size: i64::try_from(desc.size()).unwrap_or(i64::MAX),
            urls: desc.urls().clone(),
            ..OciDescriptor::default()
        };
        let (start, sized) = if offset == 0 {
            let s = retry(|| self.client.pull_blob_stream(&self.oci_ref, &layer))
                .await
                .map_err(|f| self.error(f, "blob", Some(&digest)))?;
            (0, s)
        } else {
            let r = retry(|| {
                self.client
                    .pull_blob_stream_partial(&self.oci_ref, &layer, offset, None)
            })
            .await
            .map_err(|f| self.error(f, "blob", Some(&digest)))?;
            match r {
                BlobResponse::Full(s) => (0, s),
                BlobResponse::Partial(s) => (offset, s),
            }
        };
        let (reference, host, d) = (self.familiar.clone(), self.host.clone(), digest.clone());
        let stream = sized
            .stream
            .map(move |item| {
                item.map_err(|e| {
                    let cause = chain(&e);
                    match streamed_digest_mismatch(&cause) {
                        Some(actual) => Error::DigestMismatch {
                            what: "layer",
                            reference: reference.clone(),
                            host: host.clone(),
                            expected: d.clone(),
                            actual,
                        },
                        None => Error::Transfer {
                            reference: reference.clone(),
                            digest: d.clone(),
                            host: host.clone(),
                            cause,
                        },
                    }
                })
            })
            .boxed();
        Ok(BlobStream {
            offset: start,
            content_length: sized.content_length,
            stream,
        })
    }

    fn check_size(
        &self,
        what: &'static str,
        digest: &str,
        expected: u64,
        actual: usize,
    ) -> Result<(), Error> {
        if expected == actual as u64 {
            return Ok(());
        }
        Err(Error::SizeMismatch {
            what,
            reference: self.familiar.clone(),
            digest: digest.to_string(),
            host: self.host.clone(),
            expected,
            actual: actual as u64,
        })
    }

    fn mismatch(&self, what: &'static str, expected: &str, actual: String) -> Error {
        Error::DigestMismatch {
            what,
            reference: self.familiar.clone(),
            host: self.host.clone(),
            expected: expected.to_string(),
            actual,
        }
    }

    fn invalid(&self, what: &'static str, cause: String) -> Error {
        Error::Invalid {
            what,
            reference: self.familiar.clone(),
            host: self.host.clone(),
            cause,
        }
    }

    fn unsupported(&self, what: &'static str, media_type: String) -> Error {
        Error::UnsupportedMediaType {
            what,
            reference: self.familiar.clone(),
            host: self.host.clone(),
            media_type,
        }
    }

    /// Puts a registry failure into words naming the reference and the host.
    fn error(&self, f: Failure, what: &'static str, digest: Option<&str>) -> Error {
        let host = self.host.clone();
        match f {
            Failure::Unreachable { cause, .. } => Error::Unreachable { host, cause },
            Failure::Denied(answer) => Error::Denied {
                name: self.familiar_name.clone(),
                host,
                answer,
            },
            Failure::NotFound(NotFound::Name, answer) => Error::NameUnknown {
                name: self.familiar_name.clone(),
                host,
                answer,
            },
            Failure::NotFound(kind, answer) if what == "manifest" && kind != NotFound::Blob => {
                Error::ManifestUnknown {
                    reference: match digest {
                        Some(d) if !self.familiar.contains(d) => {
                            format!("{}@{d}", self.familiar_name)
                        }
                        _ => self.familiar.clone(),
                    },
                    host,
                    answer,
                }
            }
            Failure::NotFound(_, answer) => Error::BlobUnknown {
                what,
                reference: self.familiar.clone(),
                digest: digest.unwrap_or_default().to_string(),
                host,
                answer,
            },
            Failure::Digest { expected, actual } => self.mismatch(what, &expected, actual),
            Failure::Other(answer) | Failure::Busy(answer) => Error::Registry {
                reference: self.familiar.clone(),
                host,
                answer,
            },
        }
    }
}

fn check_document_size(source: &Source, what: &'static str, size: u64) -> Result<(), Error> {
    if size > MAX_DOCUMENT {
        return Err(Error::TooBig {
            what,
            reference: source.familiar.clone(),
            size,
        });
    }
    Ok(())
}

fn descriptor(media_type: &str, bytes: &[u8], digest: &str) -> Descriptor {
    // The digest was computed here (or checked against the bytes), so it parses.
    let d = digest.parse::<Digest>().unwrap_or_else(|_| {
        Digest::try_from(sha256(bytes)).unwrap_or_else(|_| unreachable_digest())
    });
    Descriptor::new(MediaType::from(media_type), bytes.len() as u64, d)
}

#[allow(clippy::expect_used)]
fn unreachable_digest() -> Digest {
    // A constant, well-formed sha256 digest: parsing it cannot fail.
    "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        .parse()
        .expect("constant digest")
}

/// The media type a manifest declares, or the one its shape implies (OCI makes the field
/// optional). Docker schema 1 is refused by name.
fn media_type_of(bytes: &[u8]) -> Result<String, String> {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Probe {
        schema_version: Option<i64>,
        media_type: Option<String>,
        manifests: Option<serde_json::Value>,
        config: Option<serde_json::Value>,
    }
    let p: Probe = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    if let Some(t) = p.media_type {
        return Ok(t);
    }
    match (p.schema_version, p.manifests, p.config) {
        (Some(1), _, _) => Ok(DOCKER_SCHEMA1.to_string()),
        (_, Some(_), _) => Ok(OCI_INDEX.to_string()),
        (_, _, Some(_)) => Ok(OCI_MANIFEST.to_string()),
        _ => Err("neither an index nor a manifest".to_string()),
    }
}

fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{:x}", sha2::Sha256::digest(bytes))
}

/// `bytes`' digest in the algorithm `like` uses (sha256 or sha512), `None` for another.
fn digest_of(like: &str, bytes: &[u8]) -> Option<String> {
    match like.split_once(':')?.0 {
        "sha256" => Some(sha256(bytes)),
        "sha512" => Some(format!("sha512:{:x}", sha2::Sha512::digest(bytes))),
        _ => None,
    }
}

// ---- failures and retries -----------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NotFound {
    Manifest,
    Name,
    Blob,
    Other,
}

/// A registry call's failure, sorted by what to do about it.
#[derive(Debug)]
enum Failure {
    /// No connection, TLS failure, timeout: the next endpoint. `transient` (refused, reset,
    /// timed out) is retried first; a TLS handshake that fails fails the same way again.
    Unreachable {
        cause: String,
        transient: bool,
    },
    /// 401/403 or a failed token exchange.
    Denied(String),
    NotFound(NotFound, String),
    /// 429 or 5xx: retried.
    Busy(String),
    Digest {
        expected: String,
        actual: String,
    },
    Other(String),
}

impl Failure {
    fn retryable(&self) -> bool {
        matches!(
            self,
            Self::Unreachable {
                transient: true,
                ..
            } | Self::Busy(_)
        )
    }
}

fn classify(e: OciDistributionError) -> Failure {
    match e {
        OciDistributionError::RequestError(e) => {
            if e.is_connect() || e.is_timeout() {
                Failure::Unreachable {
                    cause: root_cause(&e),
                    transient: e.is_timeout() || is_transient(&e),
                }
            } else {
                Failure::Busy(chain(&e))
            }
        }
        OciDistributionError::UnauthorizedError { .. } => {
            Failure::Denied("401 Unauthorized".to_string())
        }
        OciDistributionError::AuthenticationFailure(reason) => {
            Failure::Denied(format!("authentication failed: {}", reason.trim()))
        }
        OciDistributionError::RegistryError { envelope, .. } => {
            let answer = envelope
                .errors
                .iter()
                .map(|e| format!("{}: {}", code_text(&e.code), e.message))
                .collect::<Vec<_>>()
                .join("; ");
            let codes: Vec<&OciErrorCode> = envelope.errors.iter().map(|e| &e.code).collect();
            let has = |c: OciErrorCode| codes.contains(&&c);
            if has(OciErrorCode::Unauthorized) || has(OciErrorCode::Denied) {
                Failure::Denied(answer)
            } else if has(OciErrorCode::ManifestUnknown) {
                Failure::NotFound(NotFound::Manifest, answer)
            } else if has(OciErrorCode::NameUnknown) {
                Failure::NotFound(NotFound::Name, answer)
            } else if has(OciErrorCode::BlobUnknown) {
                Failure::NotFound(NotFound::Blob, answer)
            } else if has(OciErrorCode::NotFound) {
                Failure::NotFound(NotFound::Other, answer)
            } else if has(OciErrorCode::Toomanyrequests) {
                Failure::Busy(answer)
            } else {
                Failure::Other(answer)
            }
        }
        OciDistributionError::ServerError { code, message, .. } => {
            let status = status_text(code);
            let message = message.trim();
            let answer = if message.is_empty() {
                status
            } else {
                format!("{status}: {message}")
            };
            match code {
                401 | 403 => Failure::Denied(answer),
                404 => Failure::NotFound(NotFound::Other, answer),
                429 | 500..=599 => Failure::Busy(answer),
                _ => Failure::Other(answer),
            }
        }
        OciDistributionError::DigestError(oci_client::errors::DigestError::VerificationError {
            expected,
            actual,
        }) => Failure::Digest { expected, actual },
        OciDistributionError::IoError(e) => Failure::Busy(chain(&e)),
        other => Failure::Other(chain(&other)),
    }
}

/// `MANIFEST_UNKNOWN` → `manifest unknown`, as Docker prints registry error codes.
fn code_text(code: &OciErrorCode) -> String {
    match serde_json::to_value(code) {
        Ok(serde_json::Value::String(s)) => s.to_lowercase().replace('_', " "),
        _ => format!("{code:?}").to_lowercase(),
    }
}

fn status_text(code: u16) -> String {
    let reason = match code {
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        416 => "Range Not Satisfiable",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "",
    };
    format!("{code} {reason}").trim_end().to_string()
}

/// Whether the innermost I/O error is one a second try may not meet (refused, reset, timed
/// out), as opposed to a TLS failure.
fn is_transient(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur = Some(e);
    let mut io_kind = None;
    while let Some(err) = cur {
        if let Some(io) = err.downcast_ref::<io::Error>() {
            io_kind = Some(io.kind());
        }
        cur = err.source();
    }
    matches!(
        io_kind,
        Some(
            io::ErrorKind::ConnectionRefused
                | io::ErrorKind::ConnectionReset
                | io::ErrorKind::ConnectionAborted
                | io::ErrorKind::TimedOut
                | io::ErrorKind::NotConnected
                | io::ErrorKind::BrokenPipe
                | io::ErrorKind::UnexpectedEof
        )
    )
}

/// The innermost cause, which is what names the trouble ("connection refused").
fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    if let Some(io) = cur.downcast_ref::<io::Error>() {
        match io.kind() {
            io::ErrorKind::ConnectionRefused => return "connection refused".to_string(),
            io::ErrorKind::ConnectionReset => return "connection reset".to_string(),
            io::ErrorKind::TimedOut => return "timed out".to_string(),
            _ => {}
        }
    }
    let text = cur.to_string();
    // Strip the " (os error N)" tail io::Error adds.
    match text.find(" (os error") {
        Some(i) => text[..i].to_lowercase(),
        None => text,
    }
}

/// Every message in the chain, outermost first, without repeats.
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut cur = Some(e);
    while let Some(err) = cur {
        let text = err.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        cur = err.source();
    }
    parts.join(": ")
}

/// Runs `op` up to [`TRIES`] times while it fails with a connection error, 429 or 5xx, waiting
/// 200 ms, then 400 ms between tries.
async fn retry<T, F, Fut>(mut op: F) -> Result<T, Failure>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, OciDistributionError>>,
{
    let mut delay = FIRST_BACKOFF;
    let mut attempt = 1;
    loop {
        match op().await {
            Ok(v) => return Ok(v),
            Err(e) => {
                let f = classify(e);
                if attempt >= TRIES || !f.retryable() {
                    return Err(f);
                }
                tokio::time::sleep(delay).await;
                delay *= 2;
                attempt += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_streamed_digest_mismatch_is_recognised() {
        let a = format!("sha256:{}", "a".repeat(64));
        let b = format!("sha256:{}", "b".repeat(64));
        assert_eq!(
            streamed_digest_mismatch(&format!(
                "error decoding body: Invalid digest. Expected {a}, got {b}"
            )),
            Some(b)
        );
        assert_eq!(streamed_digest_mismatch("connection reset by peer"), None);
    }
    use oci_client::errors::{OciEnvelope, OciError};

    fn plat(os: &str, arch: &str, variant: Option<&str>) -> OciPlatform {
        let mut p = OciPlatform::default();
        p.set_os(os.into());
        p.set_architecture(arch.into());
        p.set_variant(variant.map(String::from));
        p
    }

    fn entry(n: u8, p: OciPlatform) -> Descriptor {
        let digest: Digest = format!("sha256:{}", format!("{n:02x}").repeat(32))
            .parse()
            .unwrap();
        let mut d = Descriptor::new(MediaType::ImageManifest, 1, digest);
        d.set_platform(Some(p));
        d
    }

    fn pick(entries: &[Descriptor], want: &str) -> Option<String> {
        select_manifest(entries, &Platform::parse(want).unwrap())
            .map(|d| d.digest().digest()[..2].to_string())
    }

    #[test]
    fn platform_parse_normalizes() {
        let p = Platform::parse("linux/x86_64").unwrap();
        assert_eq!(p.to_string(), "linux/amd64");
        assert_eq!(
            Platform::parse("linux/aarch64").unwrap().to_string(),
            "linux/arm64/v8"
        );
        assert_eq!(
            Platform::parse("linux/armv7").unwrap().to_string(),
            "linux/arm/v7"
        );
        assert_eq!(
            Platform::parse("linux/arm").unwrap().to_string(),
            "linux/arm/v7"
        );
        assert_eq!(
            Platform::parse("linux/arm/v6").unwrap().to_string(),
            "linux/arm/v6"
        );
        assert_eq!(
            Platform::parse("Linux/AMD64").unwrap().to_string(),
            "linux/amd64"
        );
        for bad in ["linux", "linux/", "/amd64", "a/b/c/d", "linux/arm/"] {
            assert!(Platform::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn host_platform_uses_oci_names() {
        let h = Platform::host();
        assert_eq!(h.os, "linux");
        assert!(!h.architecture.contains('_'), "{h}");
        if cfg!(target_arch = "x86_64") {
            assert_eq!(h.to_string(), "linux/amd64");
        }
        if cfg!(target_arch = "aarch64") {
            assert_eq!(h.to_string(), "linux/arm64/v8");
        }
    }

    #[test]
    fn manifest_selection_follows_oci_rules() {
        let entries = vec![
            entry(1, plat("linux", "amd64", None)),
            entry(2, plat("linux", "arm64", Some("v8"))),
            entry(3, plat("linux", "arm", Some("v6"))),
            entry(4, plat("linux", "arm", Some("v7"))),
            entry(5, plat("windows", "amd64", None)),
            entry(6, plat("unknown", "unknown", None)),
        ];
        assert_eq!(pick(&entries, "linux/amd64").as_deref(), Some("01"));
        assert_eq!(pick(&entries, "linux/arm64").as_deref(), Some("02"));
        assert_eq!(pick(&entries, "linux/arm/v7").as_deref(), Some("04"));
        assert_eq!(pick(&entries, "linux/arm/v6").as_deref(), Some("03"));
        assert_eq!(pick(&entries, "linux/arm/v5"), None);
        assert_eq!(pick(&entries, "linux/arm/v8").as_deref(), Some("04"));
        assert_eq!(pick(&entries, "windows/amd64").as_deref(), Some("05"));
        assert_eq!(pick(&entries, "linux/s390x"), None);
        // arm64 without a variant in the index is v8.
        let e = vec![entry(7, plat("linux", "arm64", None))];
        assert_eq!(pick(&e, "linux/arm64/v8").as_deref(), Some("07"));
        // arm without a variant in the index is v7.
        let e = vec![entry(8, plat("linux", "arm", None))];
        assert_eq!(pick(&e, "linux/arm/v7").as_deref(), Some("08"));
        assert_eq!(pick(&e, "linux/arm/v6"), None);
        // amd64 v1 is plain amd64; an exact variant is preferred to another when none is asked.
        let e = vec![
            entry(9, plat("linux", "amd64", Some("v3"))),
            entry(10, plat("linux", "amd64", Some("v1"))),
        ];
        assert_eq!(pick(&e, "linux/amd64").as_deref(), Some("0a"));
        assert_eq!(pick(&e, "linux/amd64/v3").as_deref(), Some("09"));
        // Entries without a platform never match.
        let mut d = entry(11, plat("linux", "amd64", None));
        d.set_platform(None);
        assert_eq!(
            select_manifest(&[d], &Platform::parse("linux/amd64").unwrap()),
            None
        );
    }

    #[test]
    fn no_matching_manifest_message_is_dockers() {
        let e = Error::NoMatchingManifest {
            platform: Platform::parse("linux/arm/v7").unwrap(),
        };
        assert_eq!(
            e.to_string(),
            "no matching manifest for linux/arm/v7 in the manifest list entries"
        );
    }

    #[test]
    fn media_types_from_field_or_shape() {
        assert_eq!(media_type_of(br#"{"mediaType":"x/y"}"#).unwrap(), "x/y");
        assert_eq!(media_type_of(br#"{"manifests":[]}"#).unwrap(), OCI_INDEX);
        assert_eq!(media_type_of(br#"{"config":{}}"#).unwrap(), OCI_MANIFEST);
        assert_eq!(
            media_type_of(br#"{"schemaVersion":1}"#).unwrap(),
            DOCKER_SCHEMA1
        );
        assert!(media_type_of(b"{}").is_err());
        assert!(media_type_of(b"not json").is_err());
    }

    #[test]
    fn failures_are_sorted() {
        let env = |code: OciErrorCode| OciDistributionError::RegistryError {
            envelope: OciEnvelope {
                errors: vec![OciError {
                    code,
                    message: "msg".into(),
                    detail: serde_json::Value::Null,
                }],
            },
            url: "u".into(),
        };
        assert!(matches!(
            classify(env(OciErrorCode::ManifestUnknown)),
            Failure::NotFound(NotFound::Manifest, a) if a == "manifest unknown: msg"
        ));
        assert!(matches!(
            classify(env(OciErrorCode::NameUnknown)),
            Failure::NotFound(NotFound::Name, _)
        ));
        assert!(matches!(
            classify(env(OciErrorCode::Denied)),
            Failure::Denied(_)
        ));
        assert!(classify(env(OciErrorCode::Toomanyrequests)).retryable());
        let server = |code| OciDistributionError::ServerError {
            code,
            url: "u".into(),
            message: String::new(),
        };
        assert!(classify(server(503)).retryable());
        assert!(classify(server(429)).retryable());
        assert!(!classify(server(400)).retryable());
        assert!(
            matches!(classify(server(404)), Failure::NotFound(NotFound::Other, a) if a == "404 Not Found")
        );
        assert!(matches!(
            classify(OciDistributionError::UnauthorizedError { url: "u".into() }),
            Failure::Denied(a) if a == "401 Unauthorized"
        ));
    }

    #[tokio::test]
    async fn retries_back_off_only_on_transient_failures() {
        let mut calls = 0;
        let started = std::time::Instant::now();
        let r: Result<(), Failure> = retry(|| {
            calls += 1;
            async {
                Err(OciDistributionError::ServerError {
                    code: 503,
                    url: "u".into(),
                    message: String::new(),
                })
            }
        })
        .await;
        assert!(matches!(r, Err(Failure::Busy(_))));
        assert_eq!(calls, 3);
        assert!(started.elapsed() >= Duration::from_millis(600));

        let mut calls = 0;
        let r: Result<(), Failure> = retry(|| {
            calls += 1;
            async { Err(OciDistributionError::UnauthorizedError { url: "u".into() }) }
        })
        .await;
        assert!(matches!(r, Err(Failure::Denied(_))));
        assert_eq!(calls, 1);
    }

    #[test]
    fn digests_in_the_reference_algorithm() {
        assert_eq!(
            digest_of("sha256:x", b"").unwrap(),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert!(digest_of("sha512:x", b"")
            .unwrap()
            .starts_with("sha512:cf83e135"));
        assert_eq!(digest_of("md5:x", b""), None);
    }
}
