//! The Leases service: while a lease exists, what was created under it (content, ingests,
//! snapshots) is kept from garbage collection; deleting it hands them to the collector unless
//! something else (an image record, a container) now refers to them.

use std::collections::BTreeMap;
use std::time::Duration;

use containerd_client::services::v1::leases_client::LeasesClient;
use containerd_client::services::v1::{CreateRequest, DeleteRequest, ListRequest};

use containerd_client::tonic;
use super::{Client, Result};

/// The label that makes containerd's collector drop a lease after a time, so a lease whose
/// owner died (berth killed mid-pull) does not pin its resources for ever.
const EXPIRE_LABEL: &str = "containerd.io/gc.expire";

/// A lease as containerd lists it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Lease {
    pub id: String,
    pub labels: BTreeMap<String, String>,
}

impl Client {
    /// Creates lease `id` that expires after `ttl` even if it is never deleted, with extra
    /// `labels`.
    pub async fn lease_create(
        &self,
        id: &str,
        ttl: Duration,
        mut labels: BTreeMap<String, String>,
    ) -> Result<()> {
        let expire = chrono::Utc::now()
            + chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::hours(1));
        labels.insert(
            EXPIRE_LABEL.to_owned(),
            expire.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        );
        LeasesClient::new(self.channel.clone())
            .create(self.request(CreateRequest {
                id: id.to_owned(),
                labels: labels.into_iter().collect(),
            }))
            .await
            .map_err(|s| self.status_error("lease create", s))?;
        Ok(())
    }

    /// Deletes lease `id`; one already gone (expired, collected) is not an error.
    pub async fn lease_delete(&self, id: &str) -> Result<()> {
        match LeasesClient::new(self.channel.clone())
            .delete(self.request(DeleteRequest {
                id: id.to_owned(),
                sync: false,
            }))
            .await
        {
            Ok(_) => Ok(()),
            Err(s) if s.code() == tonic::Code::NotFound => Ok(()),
            Err(s) => Err(self.status_error("lease delete", s)),
        }
    }

    /// Leases matching containerd filters (e.g. `labels."berth.io/op"==pull`).
    pub async fn lease_list(&self, filters: &[String]) -> Result<Vec<Lease>> {
        let reply = LeasesClient::new(self.channel.clone())
            .list(self.request(ListRequest {
                filters: filters.to_vec(),
            }))
            .await
            .map_err(|s| self.status_error("lease list", s))?;
        Ok(reply
            .into_inner()
            .leases
            .into_iter()
            .map(|l| Lease {
                id: l.id,
                labels: l.labels.into_iter().collect(),
            })
            .collect())
    }
}
