//! Where berth's containerd is and how images are fetched: the options every verb that talks to
//! containerd shares, and the connection made from them.

use std::path::PathBuf;

use crate::containerd::{self, Client};
use crate::image::auth::Credentials;
use crate::image::registry::Puller;

/// Where hosts.toml directories are looked for unless told otherwise: containerd's, then
/// Docker's certs.d, as nerdctl does.
pub const DEFAULT_HOSTS_DIRS: [&str; 2] = ["/etc/containerd/certs.d", "/etc/docker/certs.d"];

/// `--address`, `--namespace`, `--hosts-dir`.
#[derive(Clone, Debug)]
pub struct EngineOptions {
    pub address: PathBuf,
    pub namespace: String,
    pub hosts_dirs: Vec<PathBuf>,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            address: PathBuf::from(containerd::DEFAULT_ADDRESS),
            namespace: containerd::DEFAULT_NAMESPACE.to_owned(),
            hosts_dirs: DEFAULT_HOSTS_DIRS.iter().map(PathBuf::from).collect(),
        }
    }
}

impl EngineOptions {
    /// Connects to containerd (an error here says how to start it).
    pub async fn connect(&self) -> Result<Client, containerd::Error> {
        Client::connect(&self.address, &self.namespace).await
    }

    /// A registry client reading hosts.toml from the hosts dirs and credentials from the
    /// Docker config.
    pub fn puller(&self) -> Puller {
        Puller::new()
            .with_hosts_dirs(self.hosts_dirs.clone())
            .with_credentials(Credentials::DockerConfig)
    }
}
