//! The Images service: named records pointing at a manifest or index. An image record is the
//! root that keeps its content and snapshots from garbage collection.

use std::collections::BTreeMap;
use std::time::SystemTime;

use containerd_client::services::v1::images_client::ImagesClient;
use containerd_client::services::v1::{
    CreateImageRequest, DeleteImageRequest, GetImageRequest, Image as ImageProto,
    ListImagesRequest, UpdateImageRequest,
};

use super::{Client, Code, Descriptor, Result};
use containerd_client::tonic;

/// An image record.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Image {
    /// The full name, e.g. `docker.io/library/redis:latest`.
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub target: Descriptor,
    pub created_at: Option<SystemTime>,
    pub updated_at: Option<SystemTime>,
}

impl Client {
    /// The image record `name`, or `None`.
    pub async fn image_get(&self, name: &str) -> Result<Option<Image>> {
        match ImagesClient::new(self.channel.clone())
            .get(self.request(GetImageRequest {
                name: name.to_owned(),
            }))
            .await
        {
            Ok(r) => Ok(r.into_inner().image.map(image_from_proto)),
            Err(s) if s.code() == tonic::Code::NotFound => Ok(None),
            Err(s) => Err(self.status_error("image get", s)),
        }
    }

    /// Image records matching containerd filters (e.g. `name==docker.io/library/redis:latest`,
    /// `labels."k"==v`); all of them with no filter.
    pub async fn image_list(&self, filters: &[String]) -> Result<Vec<Image>> {
        let reply = ImagesClient::new(self.channel.clone())
            .list(self.request(ListImagesRequest {
                filters: filters.to_vec(),
            }))
            .await
            .map_err(|s| self.status_error("image list", s))?;
        Ok(reply
            .into_inner()
            .images
            .into_iter()
            .map(image_from_proto)
            .collect())
    }

    /// Creates the record `name → target`, or points an existing one at `target` (its labels are
    /// kept), as `ctr images pull` does.
    pub async fn image_put(
        &self,
        name: &str,
        target: Descriptor,
        labels: BTreeMap<String, String>,
    ) -> Result<()> {
        let image = ImageProto {
            name: name.to_owned(),
            labels: labels.into_iter().collect(),
            target: Some(target.into_proto()),
            created_at: None,
            updated_at: None,
        };
        let created = ImagesClient::new(self.channel.clone())
            .create(self.request(CreateImageRequest {
                image: Some(image.clone()),
                source_date_epoch: None,
            }))
            .await;
        match created {
            Ok(_) => Ok(()),
            Err(s) if s.code() == tonic::Code::AlreadyExists => {
                ImagesClient::new(self.channel.clone())
                    .update(self.request(UpdateImageRequest {
                        image: Some(image),
                        update_mask: Some(prost_types::FieldMask {
                            paths: vec!["target".into()],
                        }),
                        source_date_epoch: None,
                    }))
                    .await
                    .map_err(|s| self.status_error("image update", s))?;
                Ok(())
            }
            Err(s) => Err(self.status_error("image create", s)),
        }
    }

    /// Deletes the record `name` (its content goes with the next garbage collection, unless
    /// another record uses it). Returns false when there was no such record.
    pub async fn image_delete(&self, name: &str) -> Result<bool> {
        self.image_delete_inner(name, false).await
    }

    /// Deletes the record `name` and waits for the garbage collection that follows, so its
    /// blobs and unpacked snapshots are gone when this returns (`down --rmi`).
    pub async fn image_delete_sync(&self, name: &str) -> Result<bool> {
        self.image_delete_inner(name, true).await
    }

    async fn image_delete_inner(&self, name: &str, sync: bool) -> Result<bool> {
        match ImagesClient::new(self.channel.clone())
            .delete(self.request(DeleteImageRequest {
                name: name.to_owned(),
                sync,
                target: None,
            }))
            .await
        {
            Ok(_) => Ok(true),
            Err(s) if s.code() == tonic::Code::NotFound => Ok(false),
            Err(s) => {
                let e = self.status_error("image delete", s);
                if e.code() == Some(Code::NotFound) {
                    Ok(false)
                } else {
                    Err(e)
                }
            }
        }
    }
}

pub(super) fn time_from_proto(t: Option<prost_types::Timestamp>) -> Option<SystemTime> {
    let t = t?;
    let secs = u64::try_from(t.seconds).ok()?;
    let nanos = u32::try_from(t.nanos).ok()?;
    SystemTime::UNIX_EPOCH.checked_add(std::time::Duration::new(secs, nanos))
}

fn image_from_proto(i: ImageProto) -> Image {
    Image {
        name: i.name,
        labels: i.labels.into_iter().collect(),
        target: i.target.map(Descriptor::from_proto).unwrap_or_default(),
        created_at: time_from_proto(i.created_at),
        updated_at: time_from_proto(i.updated_at),
    }
}
