//! The Snapshots service (one snapshotter per call, overlayfs for berth) and the Diff service
//! that applies a layer onto a prepared snapshot.

use std::collections::BTreeMap;

use containerd_client::services::v1::diff_client::DiffClient;
use containerd_client::services::v1::snapshots::snapshots_client::SnapshotsClient;
use containerd_client::services::v1::snapshots::{
    CommitSnapshotRequest, Info, Kind, ListSnapshotsRequest, MountsRequest, PrepareSnapshotRequest,
    RemoveSnapshotRequest, StatSnapshotRequest, UsageRequest,
};
use containerd_client::services::v1::ApplyRequest;
use futures_util::StreamExt;

use super::{Client, Descriptor, Result};
use containerd_client::tonic;

/// A mount as the snapshotter describes it (`type`, `source`, `options`), to be mounted by
/// whoever uses the snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Mount {
    pub kind: String,
    pub source: String,
    pub target: String,
    pub options: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SnapshotKind {
    View,
    Active,
    Committed,
    Unknown,
}

/// What the snapshotter knows of one snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotInfo {
    pub name: String,
    pub parent: String,
    pub kind: SnapshotKind,
    pub labels: BTreeMap<String, String>,
}

impl Client {
    /// Snapshot `key` of `snapshotter`, or `None`.
    pub async fn snapshot_stat(
        &self,
        snapshotter: &str,
        key: &str,
    ) -> Result<Option<SnapshotInfo>> {
        match SnapshotsClient::new(self.channel.clone())
            .stat(self.request(StatSnapshotRequest {
                snapshotter: snapshotter.to_owned(),
                key: key.to_owned(),
            }))
            .await
        {
            Ok(r) => Ok(r.into_inner().info.map(info_from_proto)),
            Err(s) if s.code() == tonic::Code::NotFound => Ok(None),
            Err(s) => Err(self.status_error("snapshot stat", s)),
        }
    }

    /// Prepares the active snapshot `key` on top of committed `parent` ("" for none) and returns
    /// its mounts.
    pub async fn snapshot_prepare(
        &self,
        snapshotter: &str,
        key: &str,
        parent: &str,
        labels: BTreeMap<String, String>,
    ) -> Result<Vec<Mount>> {
        let reply = SnapshotsClient::new(self.channel.clone())
            .prepare(self.request(PrepareSnapshotRequest {
                snapshotter: snapshotter.to_owned(),
                key: key.to_owned(),
                parent: parent.to_owned(),
                labels: labels.into_iter().collect(),
            }))
            .await
            .map_err(|s| self.status_error("snapshot prepare", s))?;
        Ok(reply
            .into_inner()
            .mounts
            .into_iter()
            .map(mount_from_proto)
            .collect())
    }

    /// The mounts of an existing snapshot.
    pub async fn snapshot_mounts(&self, snapshotter: &str, key: &str) -> Result<Vec<Mount>> {
        let reply = SnapshotsClient::new(self.channel.clone())
            .mounts(self.request(MountsRequest {
                snapshotter: snapshotter.to_owned(),
                key: key.to_owned(),
            }))
            .await
            .map_err(|s| self.status_error("snapshot mounts", s))?;
        Ok(reply
            .into_inner()
            .mounts
            .into_iter()
            .map(mount_from_proto)
            .collect())
    }

    /// Commits active snapshot `key` as `name`.
    pub async fn snapshot_commit(
        &self,
        snapshotter: &str,
        name: &str,
        key: &str,
        labels: BTreeMap<String, String>,
    ) -> Result<()> {
        SnapshotsClient::new(self.channel.clone())
            .commit(self.request(CommitSnapshotRequest {
                snapshotter: snapshotter.to_owned(),
                name: name.to_owned(),
                key: key.to_owned(),
                labels: labels.into_iter().collect(),
            }))
            .await
            .map_err(|s| self.status_error("snapshot commit", s))?;
        Ok(())
    }

    /// Removes snapshot `key`; one already gone is not an error.
    pub async fn snapshot_remove(&self, snapshotter: &str, key: &str) -> Result<()> {
        match SnapshotsClient::new(self.channel.clone())
            .remove(self.request(RemoveSnapshotRequest {
                snapshotter: snapshotter.to_owned(),
                key: key.to_owned(),
            }))
            .await
        {
            Ok(_) => Ok(()),
            Err(s) if s.code() == tonic::Code::NotFound => Ok(()),
            Err(s) => Err(self.status_error("snapshot remove", s)),
        }
    }

    /// The disk space snapshot `key` itself takes (not its parents), in bytes.
    pub async fn snapshot_usage(&self, snapshotter: &str, key: &str) -> Result<i64> {
        let reply = SnapshotsClient::new(self.channel.clone())
            .usage(self.request(UsageRequest {
                snapshotter: snapshotter.to_owned(),
                key: key.to_owned(),
            }))
            .await
            .map_err(|s| self.status_error("snapshot usage", s))?;
        Ok(reply.into_inner().size)
    }

    /// Every snapshot of `snapshotter` matching containerd filters.
    pub async fn snapshot_list(
        &self,
        snapshotter: &str,
        filters: &[String],
    ) -> Result<Vec<SnapshotInfo>> {
        let mut stream = SnapshotsClient::new(self.channel.clone())
            .list(self.request(ListSnapshotsRequest {
                snapshotter: snapshotter.to_owned(),
                filters: filters.to_vec(),
            }))
            .await
            .map_err(|s| self.status_error("snapshot list", s))?
            .into_inner();
        let mut out = Vec::new();
        while let Some(part) = stream.next().await {
            let part = part.map_err(|s| self.status_error("snapshot list", s))?;
            out.extend(part.info.into_iter().map(info_from_proto));
        }
        Ok(out)
    }

    /// Applies the layer blob `layer` (compressed or not; containerd decompresses) onto
    /// `mounts` and returns the descriptor of what was applied: its digest is the layer's
    /// diff ID (the digest of the uncompressed tar).
    pub async fn diff_apply(&self, layer: Descriptor, mounts: &[Mount]) -> Result<Descriptor> {
        let reply = DiffClient::new(self.channel.clone())
            .apply(self.request(ApplyRequest {
                diff: Some(layer.into_proto()),
                mounts: mounts.iter().cloned().map(mount_into_proto).collect(),
                payloads: Default::default(),
                sync_fs: false,
            }))
            .await
            .map_err(|s| self.status_error("diff apply", s))?;
        Ok(reply
            .into_inner()
            .applied
            .map(Descriptor::from_proto)
            .unwrap_or_default())
    }
}

fn info_from_proto(i: Info) -> SnapshotInfo {
    SnapshotInfo {
        name: i.name,
        parent: i.parent,
        kind: match Kind::try_from(i.kind) {
            Ok(Kind::View) => SnapshotKind::View,
            Ok(Kind::Active) => SnapshotKind::Active,
            Ok(Kind::Committed) => SnapshotKind::Committed,
            _ => SnapshotKind::Unknown,
        },
        labels: i.labels.into_iter().collect(),
    }
}

fn mount_from_proto(m: containerd_client::types::Mount) -> Mount {
    Mount {
        kind: m.r#type,
        source: m.source,
        target: m.target,
        options: m.options,
    }
}

pub(super) fn mount_into_proto(m: Mount) -> containerd_client::types::Mount {
    containerd_client::types::Mount {
        r#type: m.kind,
        source: m.source,
        target: m.target,
        options: m.options,
    }
}
