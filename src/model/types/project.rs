//! The typed project and its top-level resources (networks, volumes, secrets, configs), and how
//! the whole project prints as YAML (struct order) and JSON (a sorted Go map).

use std::ops::{Deref, DerefMut};

use indexmap::IndexMap;

use super::service::ServiceConfig;
use super::values::{Labels, Mapping, Options};
use crate::compose_struct;
use crate::model::error::Result;
use crate::model::field::{
    expect_object, node_to_out, push_field, Extensions, Field, Fmt, Omit, Out,
};
use crate::model::node::{KeyPath, Node};

compose_struct! {
    /// A top-level network. `ipam` is a Go struct value, so JSON always prints it (`"ipam": {}`).
    pub struct NetworkConfig {
        name: String = "name",
        driver: String = "driver",
        driver_opts: Options = "driver_opts",
        ipam: IpamConfig = "ipam",
        external: bool = "external",
        internal: bool = "internal",
        attachable: bool = "attachable",
        labels: Labels = "labels",
        enable_ipv4: Option<bool> = "enable_ipv4",
        enable_ipv6: Option<bool> = "enable_ipv6",
    }
}

compose_struct! {
    /// A network's `ipam:`.
    pub struct IpamConfig {
        driver: String = "driver",
        config: Vec<IpamPool> = "config",
    }
}

compose_struct! {
    /// One `ipam.config` entry.
    pub struct IpamPool {
        subnet: String = "subnet",
        gateway: String = "gateway",
        ip_range: String = "ip_range",
        aux_addresses: Mapping = "aux_addresses",
    }
}

compose_struct! {
    /// A top-level volume.
    pub struct VolumeConfig {
        name: String = "name",
        driver: String = "driver",
        driver_opts: Options = "driver_opts",
        external: bool = "external",
        labels: Labels = "labels",
    }
}

compose_struct! {
    /// A top-level secret or config (compose-go `FileObjectConfig`).
    pub struct FileObjectConfig {
        name: String = "name",
        file: String = "file",
        environment: String = "environment",
        content: String = "content",
        external: bool = "external",
        labels: Labels = "labels",
        driver: String = "driver",
        driver_opts: IndexMap<String, String> = "driver_opts",
        template_driver: String = "template_driver",
    }
}

/// A top-level secret. Its `content` (read while loading) is printed only when
/// `marshal_content` is set, so secrets do not leak into `config` output.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SecretConfig {
    pub obj: FileObjectConfig,
    pub marshal_content: bool,
}

/// A top-level config. Its `content` is not printed when it came from `environment`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ConfigObjConfig(pub FileObjectConfig);

impl Deref for SecretConfig {
    type Target = FileObjectConfig;
    fn deref(&self) -> &FileObjectConfig {
        &self.obj
    }
}
impl DerefMut for SecretConfig {
    fn deref_mut(&mut self) -> &mut FileObjectConfig {
        &mut self.obj
    }
}
impl Deref for ConfigObjConfig {
    type Target = FileObjectConfig;
    fn deref(&self) -> &FileObjectConfig {
        &self.0
    }
}
impl DerefMut for ConfigObjConfig {
    fn deref_mut(&mut self) -> &mut FileObjectConfig {
        &mut self.0
    }
}

impl Field for SecretConfig {
    fn decode(n: &Node, path: &KeyPath) -> Result<Self> {
        let mut obj = FileObjectConfig::decode(n, path)?;
        // the loader parks a value read from `environment` under `x-#value`
        if let Some(v) = obj.extensions.get("x-#value").and_then(|v| v.as_str()) {
            obj.content = v.to_string();
            obj.extensions.shift_remove("x-#value");
        }
        Ok(SecretConfig {
            obj,
            marshal_content: false,
        })
    }
    fn encode(&self, f: Fmt) -> Out {
        if self.marshal_content || self.obj.content.is_empty() {
            return self.obj.encode(f);
        }
        let mut o = self.obj.clone();
        o.content.clear();
        o.encode(f)
    }
    fn is_empty(&self, f: Fmt) -> bool {
        self.obj.is_empty(f)
    }
}

impl Field for ConfigObjConfig {
    fn decode(n: &Node, path: &KeyPath) -> Result<Self> {
        FileObjectConfig::decode(n, path).map(ConfigObjConfig)
    }
    fn encode(&self, f: Fmt) -> Out {
        if self.0.environment.is_empty() || self.0.content.is_empty() {
            return self.0.encode(f);
        }
        let mut o = self.0.clone();
        o.content.clear();
        o.encode(f)
    }
    fn is_empty(&self, f: Fmt) -> bool {
        self.0.is_empty(f)
    }
}

/// A loaded project: what `docker compose config` prints.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Project {
    pub name: String,
    pub services: IndexMap<String, ServiceConfig>,
    pub networks: IndexMap<String, NetworkConfig>,
    pub volumes: IndexMap<String, VolumeConfig>,
    pub secrets: IndexMap<String, SecretConfig>,
    pub configs: IndexMap<String, ConfigObjConfig>,
    /// Top-level `x-*` keys.
    pub extensions: Extensions,
}

impl Project {
    /// The top-level keys a canonical project may hold besides `x-*`. `version` and `include`
    /// are accepted and dropped (they are handled before the typed model).
    pub const KEYS: &'static [&'static str] = &[
        "name", "services", "networks", "volumes", "secrets", "configs", "version", "include",
    ];

    /// Service names, sorted.
    pub fn service_names(&self) -> Vec<String> {
        let mut v: Vec<String> = self.services.keys().cloned().collect();
        v.sort();
        v
    }

    /// The project as `docker compose config` prints it. YAML follows compose-go's struct
    /// order (name, services, networks, volumes, secrets, configs, then `x-*` sorted). JSON is a
    /// Go map, so keys are sorted; `name` and `services` are always there, the other sections
    /// only when not empty, and `x-*` keys sit at the top level.
    pub fn to_out(&self, f: Fmt) -> Out {
        match f {
            Fmt::Yaml => {
                let mut out = Vec::new();
                push_field(&mut out, "name", &self.name, Omit::Empty, f);
                push_field(&mut out, "services", &self.services, Omit::Never, f);
                push_field(&mut out, "networks", &self.networks, Omit::Empty, f);
                push_field(&mut out, "volumes", &self.volumes, Omit::Empty, f);
                push_field(&mut out, "secrets", &self.secrets, Omit::Empty, f);
                push_field(&mut out, "configs", &self.configs, Omit::Empty, f);
                let mut ext: Vec<(String, Out)> = self
                    .extensions
                    .iter()
                    .map(|(k, v)| (k.clone(), node_to_out(v, f)))
                    .collect();
                ext.sort_by(|a, b| crate::model::field::yaml_key_cmp(&a.0, &b.0));
                out.extend(ext);
                Out::Map(out)
            }
            Fmt::Json => {
                let mut out = vec![
                    ("name".to_string(), Out::Str(self.name.clone())),
                    ("services".to_string(), self.services.encode(f)),
                ];
                if !self.networks.is_empty() {
                    out.push(("networks".into(), self.networks.encode(f)));
                }
                if !self.volumes.is_empty() {
                    out.push(("volumes".into(), self.volumes.encode(f)));
                }
                if !self.secrets.is_empty() {
                    out.push(("secrets".into(), self.secrets.encode(f)));
                }
                if !self.configs.is_empty() {
                    out.push(("configs".into(), self.configs.encode(f)));
                }
                for (k, v) in &self.extensions {
                    out.retain(|(ok, _)| ok != k);
                    out.push((k.clone(), node_to_out(v, f)));
                }
                Out::sorted_map(out)
            }
        }
    }
}

impl Field for Project {
    /// Decodes a canonical project tree; each service gets its `name` from its key.
    fn decode(n: &Node, path: &KeyPath) -> Result<Self> {
        let mut p = Project::default();
        let Some(m) = expect_object(n, path, Self::KEYS)? else {
            return Ok(p);
        };
        for (k, v) in m {
            let kp = path.key(k);
            match k.as_str() {
                "name" => p.name = String::decode(v, &kp)?,
                "services" => p.services = Field::decode(v, &kp)?,
                "networks" => p.networks = Field::decode(v, &kp)?,
                "volumes" => p.volumes = Field::decode(v, &kp)?,
                "secrets" => p.secrets = Field::decode(v, &kp)?,
                "configs" => p.configs = Field::decode(v, &kp)?,
                "version" | "include" => {}
                _ => {
                    p.extensions.insert(k.clone(), v.clone());
                }
            }
        }
        for (name, svc) in p.services.iter_mut() {
            svc.name = name.clone();
        }
        Ok(p)
    }
    fn encode(&self, f: Fmt) -> Out {
        self.to_out(f)
    }
    fn is_empty(&self, _: Fmt) -> bool {
        false
    }
}
