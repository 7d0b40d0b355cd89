//! Images as stored in containerd: from an image record to the platform's manifest, its config
//! (the image ID Docker shows, and what a container is made from) and its unpacked snapshots.

use oci_spec::image::{ImageConfiguration, ImageIndex, ImageManifest, MediaType};

use super::registry::{select_manifest, Platform};
use super::store::{chain_ids, SNAPSHOTTER};
use crate::containerd::{self, Client, Descriptor};

/// Manifests, indexes and configs are read whole; anything larger is refused.
const MAX_DOCUMENT: i64 = 32 << 20;

#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    #[error(transparent)]
    Containerd(#[from] containerd::Error),
    #[error("image {name}: {what} {digest} is not valid: {cause}")]
    Invalid {
        name: String,
        what: &'static str,
        digest: String,
        cause: String,
    },
    #[error("image {name}: no manifest for {platform} in its index")]
    NoPlatform { name: String, platform: Platform },
    #[error("image {name}: unsupported media type {media_type}")]
    MediaType { name: String, media_type: String },
}

/// A stored image, resolved for one platform.
#[derive(Debug, Clone)]
pub struct LocalImage {
    /// The record's name, e.g. `docker.io/library/redis:latest`.
    pub name: String,
    pub target: Descriptor,
    pub manifest_digest: String,
    /// `sha256:…` of the config: the image ID.
    pub config_digest: String,
    pub config: ImageConfiguration,
    /// Chain IDs of the layers; the last one is the snapshot a container's rootfs sits on.
    pub chain_ids: Vec<String>,
    /// The config blob as stored, for what `config` does not model (Docker's `Healthcheck`);
    /// empty when not read.
    pub raw_config: std::sync::Arc<[u8]>,
}

fn is_index(media_type: &str) -> bool {
    media_type == MediaType::ImageIndex.to_string()
        || media_type == "application/vnd.docker.distribution.manifest.list.v2+json"
}

fn is_manifest(media_type: &str) -> bool {
    media_type == MediaType::ImageManifest.to_string()
        || media_type == "application/vnd.docker.distribution.manifest.v2+json"
}

/// Reads image record `name` and resolves it for `platform`; `None` when there is no record.
pub async fn inspect(
    client: &Client,
    name: &str,
    platform: &Platform,
) -> Result<Option<LocalImage>, LocalError> {
    let Some(record) = client.image_get(name).await? else {
        return Ok(None);
    };
    let invalid = |what: &'static str, digest: &str, cause: String| LocalError::Invalid {
        name: name.to_owned(),
        what,
        digest: digest.to_owned(),
        cause,
    };
    let mut manifest_digest = record.target.digest.clone();
    let mut media_type = record.target.media_type.clone();
    if is_index(&media_type) {
        let bytes = client
            .content_read_all(&record.target.digest, MAX_DOCUMENT)
            .await?;
        let index = ImageIndex::from_reader(&bytes[..])
            .map_err(|e| invalid("index", &record.target.digest, e.to_string()))?;
        let chosen =
            select_manifest(index.manifests(), platform).ok_or_else(|| LocalError::NoPlatform {
                name: name.to_owned(),
                platform: platform.clone(),
            })?;
        manifest_digest = chosen.digest().to_string();
        media_type = chosen.media_type().to_string();
    }
    if !is_manifest(&media_type) {
        return Err(LocalError::MediaType {
            name: name.to_owned(),
            media_type,
        });
    }
    let bytes = client
        .content_read_all(&manifest_digest, MAX_DOCUMENT)
        .await?;
    let manifest = ImageManifest::from_reader(&bytes[..])
        .map_err(|e| invalid("manifest", &manifest_digest, e.to_string()))?;
    let config_digest = manifest.config().digest().to_string();
    let bytes = client
        .content_read_all(&config_digest, MAX_DOCUMENT)
        .await?;
    let config = ImageConfiguration::from_reader(&bytes[..])
        .map_err(|e| invalid("config", &config_digest, e.to_string()))?;
    let chain_ids = chain_ids(config.rootfs().diff_ids());
    Ok(Some(LocalImage {
        name: record.name,
        target: record.target,
        manifest_digest,
        config_digest,
        config,
        chain_ids,
        raw_config: bytes.into(),
    }))
}

/// The disk space the image's unpacked layers take (the size Docker shows for an image).
pub async fn unpacked_size(client: &Client, image: &LocalImage) -> Result<i64, LocalError> {
    let mut total = 0;
    for chain in &image.chain_ids {
        if client.snapshot_stat(SNAPSHOTTER, chain).await?.is_some() {
            total += client.snapshot_usage(SNAPSHOTTER, chain).await?;
        }
    }
    Ok(total)
}
