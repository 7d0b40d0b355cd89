//! Storing a resolved image in containerd the way containerd's own client does, so `ctr`,
//! nerdctl and containerd's garbage collector all read it as theirs: blobs through the Content
//! service (streamed, resumable, verified by containerd on commit), the gc labels that tie an
//! index to its manifests and a manifest to its config and layers, the layers unpacked into the
//! snapshotter by chain ID, `containerd.io/uncompressed` and `containerd.io/gc.ref.snapshot.*`
//! labels, then the image record — all under a lease, so an interrupted pull leaves only what
//! the collector takes once the lease expires, and a rerun skips what is already stored.
//!
//! Knows nothing of registries: blobs come from a `BlobSource`.

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use bytes::Bytes;
use futures_util::stream::BoxStream;
use futures_util::{StreamExt, TryStreamExt};
use oci_spec::image::Descriptor as OciDescriptor;
use sha2::{Digest as _, Sha256};

use crate::containerd::{self, Client, Descriptor, Ingest};
use crate::progress::short_id;

/// The snapshotter berth unpacks into.
pub const SNAPSHOTTER: &str = "overlayfs";

/// Layers fetched at once, as Docker's default `max-concurrent-downloads`.
pub const MAX_CONCURRENT_DOWNLOADS: usize = 3;

/// Bytes per content write: well under gRPC's 16 MiB message limit; containerd's own client
/// writes 1 MiB at a time.
const WRITE_CHUNK: usize = 1 << 20;

/// How long the pull's lease keeps its resources if berth dies before deleting it.
const LEASE_TTL: Duration = Duration::from_secs(3600);

/// The label berth puts on its pull leases, with the image name as value, so a rerun can find
/// and retire the lease of an interrupted pull.
pub const PULL_LEASE_LABEL: &str = "berth.io/pull";

/// How often a failing layer download is resumed before the pull gives up.
const DOWNLOAD_ATTEMPTS: u32 = 3;

/// A stream of blob bytes starting at `offset` (which may be 0 even when a later offset was
/// asked for: a registry that ignores ranges sends the whole blob).
pub struct Fetched {
    pub offset: u64,
    pub stream: BoxStream<'static, Result<Bytes, FetchError>>,
}

/// Why a blob could not be had, in the source's own words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchError {
    /// The transfer failed (worth retrying, and resuming later).
    Transfer(String),
    /// The bytes are not the blob the descriptor names (not worth retrying).
    Verify(String),
}

impl std::fmt::Display for FetchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FetchError::Transfer(m) | FetchError::Verify(m) => f.write_str(m),
        }
    }
}

/// Where blobs come from (a registry endpoint, or a test's fixture).
pub trait BlobSource: Sync {
    /// The bytes of `desc` from `offset` on; errors are the source's own words.
    fn fetch(
        &self,
        desc: &OciDescriptor,
        offset: u64,
    ) -> impl Future<Output = Result<Fetched, FetchError>> + Send;
}

/// What to store: the name, the small JSON blobs already fetched and verified, the layers.
pub struct Image<'a> {
    /// The full name the record gets, e.g. `docker.io/library/redis:latest`.
    pub name: &'a str,
    /// `containerd.io/distribution.source.<host>` = repository, on every blob, as containerd's
    /// fetcher labels them (lets a later push mount blobs instead of uploading them).
    pub source: Option<(&'a str, &'a str)>,
    /// The index or manifest list, when the reference named one.
    pub index: Option<(&'a OciDescriptor, &'a [u8])>,
    pub manifest: (&'a OciDescriptor, &'a [u8]),
    pub config: (&'a OciDescriptor, &'a [u8]),
    /// Descriptors of the index's children, labelled on the index as gc references.
    pub index_children: &'a [OciDescriptor],
    pub layers: &'a [OciDescriptor],
    /// The config's `rootfs.diff_ids`, one per layer.
    pub diff_ids: &'a [String],
}

/// Progress of one layer, keyed by its short id (the first 12 hex digits of its digest).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LayerEvent {
    /// The layer's content and snapshot are already there.
    AlreadyExists,
    /// The layer is to be fetched (Docker: "Pulling fs layer").
    Queued,
    Waiting,
    Downloading {
        current: u64,
        total: u64,
    },
    DownloadComplete,
    Extracting,
    PullComplete,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{0}")]
    Containerd(#[from] containerd::Error),
    #[error("layer {digest} failed verification: {reason}")]
    Verify { digest: String, reason: String },
    #[error("downloading layer {digest}: {reason}")]
    Download { digest: String, reason: String },
    #[error("layer {digest} unpacked to diff ID {got}, but the image config says {expected}")]
    DiffId {
        digest: String,
        expected: String,
        got: String,
    },
    #[error("the image config lists {diff_ids} diff IDs for {layers} layers")]
    LayerCount { layers: usize, diff_ids: usize },
}

/// The chain IDs of a layer stack (OCI image spec): the first is the first diff ID, each next
/// one is `sha256(previous + " " + diff ID)`.
pub fn chain_ids(diff_ids: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(diff_ids.len());
    for d in diff_ids {
        let next = match out.last() {
            None => d.clone(),
            Some(prev) => format!(
                "sha256:{:x}",
                Sha256::digest(format!("{prev} {d}").as_bytes())
            ),
        };
        out.push(next);
    }
    out
}

/// The gc labels of a manifest: its config and each layer.
pub fn manifest_gc_labels(config: &str, layers: &[String]) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::new();
    labels.insert("containerd.io/gc.ref.content.config".into(), config.into());
    for (i, l) in layers.iter().enumerate() {
        labels.insert(format!("containerd.io/gc.ref.content.l.{i}"), l.clone());
    }
    labels
}

/// The gc labels of an index: each child manifest.
pub fn index_gc_labels(children: &[String]) -> BTreeMap<String, String> {
    children
        .iter()
        .enumerate()
        .map(|(i, c)| (format!("containerd.io/gc.ref.content.m.{i}"), c.clone()))
        .collect()
}

fn to_containerd(d: &OciDescriptor) -> Descriptor {
    Descriptor {
        media_type: d.media_type().to_string(),
        digest: d.digest().to_string(),
        size: i64::try_from(d.size()).unwrap_or(i64::MAX),
        annotations: d
            .annotations()
            .as_ref()
            .map(|a| a.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default(),
    }
}

/// A unique id for this process's leases and snapshot keys.
fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!("{prefix}-{nanos}-{}", std::process::id())
}

/// Stores `image` in containerd, fetching what is missing from `source`; returns the target
/// descriptor of the image record. `on_layer` hears each layer's progress.
pub async fn store<S: BlobSource>(
    client: &Client,
    image: &Image<'_>,
    source: &S,
    on_layer: &(dyn Fn(&str, LayerEvent) + Sync),
) -> Result<Descriptor, StoreError> {
    if image.layers.len() != image.diff_ids.len() {
        return Err(StoreError::LayerCount {
            layers: image.layers.len(),
            diff_ids: image.diff_ids.len(),
        });
    }
    let earlier = client
        .lease_list(&[format!(
            "labels.\"{PULL_LEASE_LABEL}\"=={}",
            filter_quote(image.name)
        )])
        .await?;
    let lease = unique("berth-pull");
    let mut lease_labels = BTreeMap::new();
    lease_labels.insert(PULL_LEASE_LABEL.to_owned(), image.name.to_owned());
    client.lease_create(&lease, LEASE_TTL, lease_labels).await?;
    let leased = client.with_lease(&lease)?;

    let result = store_leased(&leased, image, source, on_layer).await;
    match &result {
        // The image record now holds everything; older leases of this image are retired.
        Ok(_) => {
            client.lease_delete(&lease).await?;
            for old in earlier {
                client.lease_delete(&old.id).await?;
            }
        }
        // An interrupted transfer keeps its lease, so a rerun within its lifetime resumes the
        // partial download and skips finished blobs; the lease expires on its own.
        Err(StoreError::Download { .. }) => {}
        // Anything else (content that fails verification, containerd refusing) is not worth
        // resuming: the collector takes what the pull made.
        Err(_) => {
            let _ = client.lease_delete(&lease).await;
        }
    }
    result
}

/// containerd's filter syntax quotes values with double quotes and backslash escapes.
fn filter_quote(v: &str) -> String {
    let mut out = String::from("\"");
    for c in v.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

async fn store_leased<S: BlobSource>(
    client: &Client,
    image: &Image<'_>,
    source: &S,
    on_layer: &(dyn Fn(&str, LayerEvent) + Sync),
) -> Result<Descriptor, StoreError> {
    let source_labels = || {
        let mut l = BTreeMap::new();
        if let Some((host, repo)) = image.source {
            l.insert(
                format!("containerd.io/distribution.source.{host}"),
                repo.to_owned(),
            );
        }
        l
    };

    // The config first, then the layers (downloaded in parallel, unpacked in order as they
    // arrive), then the manifest and index that refer to them.
    let (config_desc, config_bytes) = image.config;
    put_small(client, config_desc, config_bytes, source_labels()).await?;

    let chains = chain_ids(image.diff_ids);
    // Layers whose blob and snapshot are both there need nothing (Docker: "Already exists").
    let mut stored = Vec::with_capacity(image.layers.len());
    for (layer, chain) in image.layers.iter().zip(&chains) {
        let digest = layer.digest().to_string();
        let there = client.content_info(&digest).await?.is_some()
            && client.snapshot_stat(SNAPSHOTTER, chain).await?.is_some();
        on_layer(
            short_id(&digest),
            if there {
                LayerEvent::AlreadyExists
            } else {
                LayerEvent::Queued
            },
        );
        stored.push(there);
    }
    let stored = &stored;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(usize, Result<(), StoreError>)>();
    let downloads = async {
        futures_util::stream::iter(image.layers.iter().enumerate())
            .map(|(i, layer)| {
                let tx = tx.clone();
                let labels = source_labels();
                async move {
                    let r = if stored[i] {
                        Ok(())
                    } else {
                        fetch_layer(client, layer, source, labels, on_layer).await
                    };
                    // The receiver only goes away when the unpacker has failed already.
                    let _ = tx.send((i, r));
                }
            })
            .buffer_unordered(MAX_CONCURRENT_DOWNLOADS)
            .collect::<()>()
            .await;
        drop(tx);
        Ok::<(), StoreError>(())
    };
    let unpack = async {
        let mut done: Vec<Option<Result<(), StoreError>>> =
            (0..image.layers.len()).map(|_| None).collect();
        for (i, layer) in image.layers.iter().enumerate() {
            while done[i].is_none() {
                match rx.recv().await {
                    Some((j, r)) => done[j] = Some(r),
                    None => break,
                }
            }
            match done[i].take() {
                Some(Ok(())) => {}
                Some(Err(e)) => return Err(e),
                None => {
                    return Err(StoreError::Download {
                        digest: layer.digest().to_string(),
                        reason: "the download ended without a result".into(),
                    })
                }
            }
            if stored[i] {
                continue;
            }
            let parent = if i == 0 { "" } else { chains[i - 1].as_str() };
            unpack_layer(
                client,
                layer,
                &image.diff_ids[i],
                &chains[i],
                parent,
                on_layer,
            )
            .await?;
        }
        Ok::<(), StoreError>(())
    };
    tokio::try_join!(downloads, unpack)?;

    let layer_digests: Vec<String> = image
        .layers
        .iter()
        .map(|l| l.digest().to_string())
        .collect();
    if let Some(top) = chains.last() {
        let mut l = BTreeMap::new();
        l.insert(
            format!("containerd.io/gc.ref.snapshot.{SNAPSHOTTER}"),
            top.clone(),
        );
        client
            .content_set_labels(config_desc.digest().as_ref(), &l)
            .await?;
    }
    let (manifest_desc, manifest_bytes) = image.manifest;
    let mut labels = manifest_gc_labels(config_desc.digest().as_ref(), &layer_digests);
    labels.extend(source_labels());
    put_small(client, manifest_desc, manifest_bytes, labels).await?;

    let target = match image.index {
        Some((index_desc, index_bytes)) => {
            let children: Vec<String> = image
                .index_children
                .iter()
                .map(|c| c.digest().to_string())
                .collect();
            let mut labels = index_gc_labels(&children);
            labels.extend(source_labels());
            put_small(client, index_desc, index_bytes, labels).await?;
            to_containerd(index_desc)
        }
        None => to_containerd(manifest_desc),
    };
    client
        .image_put(image.name, target.clone(), BTreeMap::new())
        .await?;
    Ok(target)
}

/// How long berth waits for another writer (another pull in this or another process) to finish
/// a blob both need before giving up.
const LOCK_WAIT: Duration = Duration::from_secs(1800);

/// Opens the ingest for blob `digest`, waiting while another writer holds it: when that writer
/// commits, the blob is simply present.
async fn open_ingest(
    client: &Client,
    digest: &str,
    size: i64,
    on_wait: &(dyn Fn() + Sync),
) -> Result<Ingest, StoreError> {
    let started = std::time::Instant::now();
    let mut pause = Duration::from_millis(50);
    let mut told = false;
    loop {
        match client
            .content_writer(&format!("berth-{digest}"), size, digest)
            .await
        {
            Err(e)
                if e.code() == Some(containerd::Code::Locked) && started.elapsed() < LOCK_WAIT =>
            {
                if !told {
                    on_wait();
                    told = true;
                }
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(1));
            }
            other => return Ok(other?),
        }
    }
}

/// Stores a small blob already in memory (verified by containerd against its descriptor), or
/// labels the stored one.
async fn put_small(
    client: &Client,
    desc: &OciDescriptor,
    bytes: &[u8],
    labels: BTreeMap<String, String>,
) -> Result<(), StoreError> {
    let digest = desc.digest().to_string();
    let size = i64::try_from(desc.size()).unwrap_or(i64::MAX);
    match open_ingest(client, &digest, size, &|| {}).await? {
        Ingest::Present => client.content_set_labels(&digest, &labels).await?,
        Ingest::Open(mut w) => {
            w.write_at(0, bytes.to_vec()).await?;
            w.commit(labels).await?;
        }
    }
    Ok(())
}

/// Makes sure layer blob `layer` is stored: skips it when present, else streams it from
/// `source` into an ingest, resuming where an earlier attempt (this run's or an interrupted
/// pull's) stopped.
async fn fetch_layer<S: BlobSource>(
    client: &Client,
    layer: &OciDescriptor,
    source: &S,
    labels: BTreeMap<String, String>,
    on_layer: &(dyn Fn(&str, LayerEvent) + Sync),
) -> Result<(), StoreError> {
    let digest = layer.digest().to_string();
    let id = short_id(&digest);
    let total = layer.size();
    let size = i64::try_from(total).unwrap_or(i64::MAX);
    let download_error = |reason: String| StoreError::Download {
        digest: digest.clone(),
        reason,
    };
    let mut attempt = 0;
    let mut restart = false;
    loop {
        attempt += 1;
        let waiting = || on_layer(id, LayerEvent::Waiting);
        let mut w = match open_ingest(client, &digest, size, &waiting).await? {
            Ingest::Present => {
                client.content_set_labels(&digest, &labels).await?;
                on_layer(id, LayerEvent::DownloadComplete);
                return Ok(());
            }
            Ingest::Open(w) => w,
        };
        // After a commit refused what an earlier writer left, start over from the first byte.
        let resume = if restart {
            0
        } else {
            u64::try_from(w.offset()).unwrap_or(0).min(total)
        };
        let outcome = async {
            if resume < total {
                let fetched = source.fetch(layer, resume).await?;
                let mut offset = i64::try_from(fetched.offset).unwrap_or(0);
                let mut stream = fetched.stream;
                let mut buf: Vec<u8> = Vec::with_capacity(WRITE_CHUNK);
                loop {
                    let next = stream.try_next().await?;
                    let end = next.is_none();
                    if let Some(b) = next {
                        buf.extend_from_slice(&b);
                    }
                    if buf.len() >= WRITE_CHUNK || (end && !buf.is_empty()) {
                        let n = i64::try_from(buf.len()).unwrap_or(i64::MAX);
                        w.write_at(offset, std::mem::take(&mut buf))
                            .await
                            .map_err(|e| FetchError::Transfer(e.to_string()))?;
                        offset += n;
                        buf.reserve(WRITE_CHUNK);
                        on_layer(
                            id,
                            LayerEvent::Downloading {
                                current: u64::try_from(offset).unwrap_or(0),
                                total,
                            },
                        );
                    }
                    if end {
                        break;
                    }
                }
            }
            Ok::<(), FetchError>(())
        }
        .await;
        match outcome {
            Ok(()) => {
                // containerd checks size and digest here
                match w.commit(labels.clone()).await {
                    Ok(()) => {
                        on_layer(id, LayerEvent::DownloadComplete);
                        return Ok(());
                    }
                    // bytes resumed from an earlier ingest may be wrong: fetch it all again once
                    Err(e)
                        if resume > 0
                            && !restart
                            && e.code() == Some(containerd::Code::FailedPrecondition) =>
                    {
                        restart = true;
                    }
                    Err(e) if e.code() == Some(containerd::Code::FailedPrecondition) => {
                        // what was fetched is not what the manifest names: drop the bytes
                        let _ = client.content_abort(&format!("berth-{digest}")).await;
                        return Err(StoreError::Verify {
                            digest: digest.clone(),
                            reason: e.to_string(),
                        });
                    }
                    Err(e) => return Err(download_error(e.to_string())),
                }
            }
            Err(FetchError::Verify(reason)) => {
                let _ = client.content_abort(&format!("berth-{digest}")).await;
                return Err(StoreError::Verify {
                    digest: digest.clone(),
                    reason,
                });
            }
            Err(FetchError::Transfer(reason)) if attempt >= DOWNLOAD_ATTEMPTS => {
                return Err(download_error(reason))
            }
            Err(_) => {
                // dropping the writer releases the ingest; the next attempt resumes it
                drop(w);
                tokio::time::sleep(Duration::from_millis(200 << attempt)).await;
            }
        }
    }
}

/// Unpacks one layer as snapshot `chain` on top of `parent`, unless it is there already.
async fn unpack_layer(
    client: &Client,
    layer: &OciDescriptor,
    diff_id: &str,
    chain: &str,
    parent: &str,
    on_layer: &(dyn Fn(&str, LayerEvent) + Sync),
) -> Result<(), StoreError> {
    let digest = layer.digest().to_string();
    let id = short_id(&digest);
    let mut uncompressed = BTreeMap::new();
    uncompressed.insert("containerd.io/uncompressed".to_owned(), diff_id.to_owned());
    if client.snapshot_stat(SNAPSHOTTER, chain).await?.is_some() {
        client.content_set_labels(&digest, &uncompressed).await?;
        on_layer(id, LayerEvent::PullComplete);
        return Ok(());
    }
    on_layer(id, LayerEvent::Extracting);
    let key = format!("{} {chain}", unique("berth-extract"));
    let mounts = client
        .snapshot_prepare(SNAPSHOTTER, &key, parent, BTreeMap::new())
        .await?;
    let applied = async {
        let applied = client.diff_apply(to_containerd(layer), &mounts).await?;
        if applied.digest != diff_id {
            return Err(StoreError::DiffId {
                digest: digest.clone(),
                expected: diff_id.to_owned(),
                got: applied.digest,
            });
        }
        match client
            .snapshot_commit(SNAPSHOTTER, chain, &key, BTreeMap::new())
            .await
        {
            Ok(()) => Ok(()),
            // another pull committed the same chain meanwhile
            Err(e) if e.code() == Some(containerd::Code::AlreadyExists) => {
                client.snapshot_remove(SNAPSHOTTER, &key).await?;
                Ok(())
            }
            Err(e) => Err(e.into()),
        }
    }
    .await;
    if let Err(e) = applied {
        // best effort: the lease would let the collector take it anyway
        let _ = client.snapshot_remove(SNAPSHOTTER, &key).await;
        return Err(e);
    }
    client.content_set_labels(&digest, &uncompressed).await?;
    on_layer(id, LayerEvent::PullComplete);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_ids_follow_the_image_spec() {
        let a = "sha256:aaaa".to_owned();
        let b = "sha256:bbbb".to_owned();
        let chains = chain_ids(&[a.clone(), b.clone()]);
        assert_eq!(chains[0], a);
        let expected = format!("sha256:{:x}", Sha256::digest(b"sha256:aaaa sha256:bbbb"));
        assert_eq!(chains[1], expected);
        assert!(chain_ids(&[]).is_empty());
    }

    #[test]
    fn chain_id_matches_sha256sum() {
        // printf 'sha256:1…1 sha256:2…2' | sha256sum
        let d1 = format!("sha256:{}", "1".repeat(64));
        let d2 = format!("sha256:{}", "2".repeat(64));
        assert_eq!(
            chain_ids(&[d1, d2])[1],
            "sha256:9932074217c35353d2e03a3f5a86549f7c67bfeb0ba53e23d69f4d4c8f7958f5"
        );
    }

    #[test]
    fn gc_labels_name_every_child() {
        let m = manifest_gc_labels("sha256:c", &["sha256:l0".into(), "sha256:l1".into()]);
        assert_eq!(m["containerd.io/gc.ref.content.config"], "sha256:c");
        assert_eq!(m["containerd.io/gc.ref.content.l.0"], "sha256:l0");
        assert_eq!(m["containerd.io/gc.ref.content.l.1"], "sha256:l1");
        assert_eq!(m.len(), 3);
        let i = index_gc_labels(&["sha256:a".into(), "sha256:b".into()]);
        assert_eq!(i["containerd.io/gc.ref.content.m.1"], "sha256:b");
        assert_eq!(i.len(), 2);
    }

    #[test]
    fn filter_values_are_quoted() {
        assert_eq!(
            filter_quote("docker.io/library/x:1"),
            "\"docker.io/library/x:1\""
        );
        assert_eq!(filter_quote("a\"b\\c"), "\"a\\\"b\\\\c\"");
    }
}
