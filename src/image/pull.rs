//! One image pull: resolve the reference at a registry, then store what it resolved to in
//! containerd. The glue between `registry` (HTTP) and `store` (containerd).

use futures_util::{StreamExt, TryStreamExt};
use oci_spec::image::Descriptor as OciDescriptor;

use super::reference::ImageRef;
use super::registry::{self, Puller, Resolved};
use super::store::{self, BlobSource, FetchError, Fetched, LayerEvent};
use crate::containerd::{self, Client};

#[derive(Debug, thiserror::Error)]
pub enum PullError {
    #[error(transparent)]
    Registry(#[from] registry::Error),
    #[error(transparent)]
    Store(#[from] store::StoreError),
    #[error(transparent)]
    Containerd(#[from] containerd::Error),
    #[error(transparent)]
    Reference(#[from] super::reference::RefError),
}

/// What a pull left in containerd.
#[derive(Debug, Clone)]
pub struct Pulled {
    /// The image record's name (`docker.io/library/redis:latest`).
    pub name: String,
    /// The record's target digest (index or manifest).
    pub digest: String,
    /// The config digest: the image ID Docker shows.
    pub config_digest: String,
    /// Settings berth ignored, for the caller to warn about.
    pub warnings: Vec<String>,
}

impl BlobSource for Resolved {
    async fn fetch(&self, desc: &OciDescriptor, offset: u64) -> Result<Fetched, FetchError> {
        let s = self.blob(desc, offset).await.map_err(fetch_error)?;
        Ok(Fetched {
            offset: s.offset,
            stream: s.map_err(fetch_error).boxed(),
        })
    }
}

fn fetch_error(e: registry::Error) -> FetchError {
    match e {
        registry::Error::DigestMismatch { .. } | registry::Error::SizeMismatch { .. } => {
            FetchError::Verify(e.to_string())
        }
        other => FetchError::Transfer(other.to_string()),
    }
}

/// Pulls `reference` into containerd (a no-op for whatever is already stored), reporting layer
/// progress to `on_layer`.
pub async fn pull(
    client: &Client,
    puller: &Puller,
    reference: &ImageRef,
    on_layer: &(dyn Fn(&str, LayerEvent) + Sync),
) -> Result<Pulled, PullError> {
    let resolved = puller.resolve(reference).await?;
    let diff_ids = resolved.image_config.rootfs().diff_ids().clone();
    let repository = reference.path().to_owned();
    let host = reference.domain().to_owned();
    let image = store::Image {
        name: &resolved.name,
        source: Some((&host, &repository)),
        index: resolved.index.as_ref().map(|(d, b)| (d, &b[..])),
        manifest: (&resolved.manifest.0, &resolved.manifest.1[..]),
        config: (&resolved.config.0, &resolved.config.1[..]),
        index_children: &resolved.index_children,
        layers: &resolved.layers,
        diff_ids: &diff_ids,
    };
    let target = store::store(client, &image, &resolved, on_layer).await?;
    Ok(Pulled {
        name: resolved.name.clone(),
        digest: target.digest,
        config_digest: resolved.config.0.digest().to_string(),
        warnings: resolved.warnings.clone(),
    })
}
