//! The Containers service: container records (id, labels, image, runtime, spec, snapshot).
//! Compose's labels on them are berth's record of what a project runs.

use std::collections::BTreeMap;
use std::time::SystemTime;

use containerd_client::services::v1::container::Runtime;
use containerd_client::services::v1::containers_client::ContainersClient;
use containerd_client::services::v1::{
    Container as ContainerProto, CreateContainerRequest, DeleteContainerRequest,
    GetContainerRequest, ListContainersRequest, UpdateContainerRequest,
};
use containerd_client::tonic;

use super::images::time_from_proto;
use super::{Client, Result};

/// The runtime berth's containers run under (runc through the v2 shim).
pub const RUNC_RUNTIME: &str = "io.containerd.runc.v2";

/// The type URL containerd expects for a JSON OCI runtime spec.
const SPEC_TYPE_URL: &str = "types.containerd.io/opencontainers/runtime-spec/1/Spec";

/// A container record.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Container {
    pub id: String,
    pub labels: BTreeMap<String, String>,
    /// The image name it was made from.
    pub image: String,
    pub snapshotter: String,
    pub snapshot_key: String,
    /// The runtime's name, e.g. `io.containerd.runc.v2`.
    pub runtime: String,
    /// The OCI runtime spec as JSON (empty when the record has none); `exec` builds its
    /// process from it.
    pub spec_json: Vec<u8>,
    pub created_at: Option<SystemTime>,
}

/// What `container_create` needs.
#[derive(Debug, Clone, Default)]
pub struct NewContainer {
    pub id: String,
    pub labels: BTreeMap<String, String>,
    pub image: String,
    /// The OCI runtime spec as JSON.
    pub spec_json: Vec<u8>,
    pub snapshotter: String,
    pub snapshot_key: String,
}

impl Client {
    /// Container records matching containerd filters, e.g.
    /// `labels."com.docker.compose.project"==web`.
    pub async fn container_list(&self, filters: &[String]) -> Result<Vec<Container>> {
        let reply = ContainersClient::new(self.channel.clone())
            .list(self.request(ListContainersRequest {
                filters: filters.to_vec(),
            }))
            .await
            .map_err(|s| self.status_error("container list", s))?;
        Ok(reply
            .into_inner()
            .containers
            .into_iter()
            .map(container_from_proto)
            .collect())
    }

    /// Creates a container record running under runc.
    pub async fn container_create(&self, c: NewContainer) -> Result<()> {
        let container = ContainerProto {
            id: c.id,
            labels: c.labels.into_iter().collect(),
            image: c.image,
            runtime: Some(Runtime {
                name: RUNC_RUNTIME.into(),
                options: None,
            }),
            spec: Some(prost_types::Any {
                type_url: SPEC_TYPE_URL.into(),
                value: c.spec_json,
            }),
            snapshotter: c.snapshotter,
            snapshot_key: c.snapshot_key,
            ..Default::default()
        };
        ContainersClient::new(self.channel.clone())
            .create(self.request(CreateContainerRequest {
                container: Some(container),
            }))
            .await
            .map_err(|s| self.status_error("container create", s))?;
        Ok(())
    }

    /// Container record `id`, or `None`.
    pub async fn container_get(&self, id: &str) -> Result<Option<Container>> {
        match ContainersClient::new(self.channel.clone())
            .get(self.request(GetContainerRequest { id: id.to_owned() }))
            .await
        {
            Ok(r) => Ok(r.into_inner().container.map(container_from_proto)),
            Err(s) if s.code() == tonic::Code::NotFound => Ok(None),
            Err(s) => Err(self.status_error("container get", s)),
        }
    }

    /// Sets (`Some`) or removes (`None`) labels of container `id`, leaving the others as they
    /// are; returns the updated record.
    pub async fn container_update_labels(
        &self,
        id: &str,
        labels: &BTreeMap<String, Option<String>>,
    ) -> Result<Container> {
        let container = ContainerProto {
            id: id.to_owned(),
            labels: labels
                .iter()
                .filter_map(|(k, v)| Some((k.clone(), v.clone()?)))
                .collect(),
            ..Default::default()
        };
        let paths = labels.keys().map(|k| format!("labels.{k}")).collect();
        let reply = ContainersClient::new(self.channel.clone())
            .update(self.request(UpdateContainerRequest {
                container: Some(container),
                update_mask: Some(prost_types::FieldMask { paths }),
            }))
            .await
            .map_err(|s| self.status_error("container update", s))?;
        Ok(reply
            .into_inner()
            .container
            .map(container_from_proto)
            .unwrap_or_default())
    }

    /// Deletes container record `id`; one already gone is not an error.
    pub async fn container_delete(&self, id: &str) -> Result<()> {
        match ContainersClient::new(self.channel.clone())
            .delete(self.request(DeleteContainerRequest { id: id.to_owned() }))
            .await
        {
            Ok(_) => Ok(()),
            Err(s) if s.code() == tonic::Code::NotFound => Ok(()),
            Err(s) => Err(self.status_error("container delete", s)),
        }
    }
}

fn container_from_proto(c: ContainerProto) -> Container {
    Container {
        id: c.id,
        labels: c.labels.into_iter().collect(),
        image: c.image,
        snapshotter: c.snapshotter,
        snapshot_key: c.snapshot_key,
        runtime: c.runtime.map(|r| r.name).unwrap_or_default(),
        spec_json: c.spec.map(|s| s.value).unwrap_or_default(),
        created_at: time_from_proto(c.created_at),
    }
}
