//! Registry credentials from Docker's config.json (`auths`, `credsStore`, `credHelpers`), read
//! through `docker_credential` and turned into what the registry client sends. No network (a
//! credential helper is a local program), no containerd.

use std::io;
use std::path::{Path, PathBuf};

use docker_credential::{CredentialRetrievalError, DockerCredential};
use oci_client::secrets::RegistryAuth;
use thiserror::Error;

use super::reference::DOCKER_HUB;

/// The key Docker files Docker Hub's credentials under.
pub const DOCKER_HUB_KEY: &str = "https://index.docker.io/v1/";

#[derive(Debug, Error)]
pub enum AuthError {
    #[error("read {}: {source}", path.display())]
    Read { path: PathBuf, source: io::Error },
    #[error("{}: invalid JSON: {source}", path.display())]
    Json {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("{}: credentials for {server}: {message}", path.display())]
    Config {
        path: PathBuf,
        server: String,
        message: String,
    },
    #[error("credentials for {server}: credential helper docker-credential-{helper} {message}")]
    Helper {
        server: String,
        helper: String,
        message: String,
    },
    #[error("{}: credentials for {server}: identity tokens are not supported yet; log in with a username and password", path.display())]
    IdentityToken { path: PathBuf, server: String },
}

/// Docker's config file: `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`.
pub fn default_config_path() -> Option<PathBuf> {
    let dir = match std::env::var_os("DOCKER_CONFIG") {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => PathBuf::from(std::env::var_os("HOME")?).join(".docker"),
    };
    Some(dir.join("config.json"))
}

/// The key a registry host's credentials are stored under (`docker.io` and its real host are
/// Docker Hub's legacy URL).
pub fn server_key(host: &str) -> &str {
    match host {
        DOCKER_HUB | "index.docker.io" | "registry-1.docker.io" => DOCKER_HUB_KEY,
        other => other,
    }
}

/// The credentials for registry `host` in the config file at `path`. A missing file means
/// anonymous access.
pub fn credentials_from_file(path: &Path, host: &str) -> Result<RegistryAuth, AuthError> {
    match std::fs::read(path) {
        Ok(bytes) => credentials_from_json(path, &bytes, host),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(RegistryAuth::Anonymous),
        Err(source) => Err(AuthError::Read {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// The credentials for registry `host` in `json`, the contents of the config file at `path`
/// (which only names it in errors). Nothing configured for the host means anonymous access.
pub fn credentials_from_json(
    path: &Path,
    json: &[u8],
    host: &str,
) -> Result<RegistryAuth, AuthError> {
    // docker_credential hides why a file does not parse; serde_json says where.
    let value: serde_json::Value =
        serde_json::from_slice(json).map_err(|source| AuthError::Json {
            path: path.to_path_buf(),
            source,
        })?;
    let server = server_key(host);
    let helper_for = || -> String {
        let from_helpers = value
            .get("credHelpers")
            .and_then(|h| h.get(server))
            .and_then(|h| h.as_str())
            .filter(|h| !h.is_empty());
        from_helpers
            .or_else(|| value.get("credsStore").and_then(|s| s.as_str()))
            .unwrap_or_default()
            .to_string()
    };
    match docker_credential::get_credential_from_reader(json, server) {
        Ok(DockerCredential::UsernamePassword(user, password)) => {
            Ok(RegistryAuth::Basic(user, password))
        }
        Ok(DockerCredential::IdentityToken(_)) => Err(AuthError::IdentityToken {
            path: path.to_path_buf(),
            server: server.to_string(),
        }),
        Err(CredentialRetrievalError::NoCredentialConfigured) => Ok(RegistryAuth::Anonymous),
        Err(CredentialRetrievalError::HelperFailure { stdout, stderr, .. }) => {
            // Helpers answer "credentials not found" for a host they know nothing of; Docker
            // then pulls anonymously.
            let out = format!("{stdout}{stderr}");
            if out.to_lowercase().contains("credentials not found") {
                return Ok(RegistryAuth::Anonymous);
            }
            Err(AuthError::Helper {
                server: server.to_string(),
                helper: helper_for(),
                message: format!("failed: {}", out.trim()),
            })
        }
        Err(CredentialRetrievalError::HelperCommunicationError) => Err(AuthError::Helper {
            server: server.to_string(),
            helper: helper_for(),
            message: "could not be run (is it installed and on PATH?)".to_string(),
        }),
        Err(CredentialRetrievalError::MalformedHelperResponse) => Err(AuthError::Helper {
            server: server.to_string(),
            helper: helper_for(),
            message: "gave a malformed answer".to_string(),
        }),
        Err(e) => Err(AuthError::Config {
            path: path.to_path_buf(),
            server: server.to_string(),
            message: e.to_string(),
        }),
    }
}

/// How the puller finds credentials.
#[derive(Debug, Clone, Default)]
pub enum Credentials {
    /// Docker's config file at its usual place ([`default_config_path`]).
    #[default]
    DockerConfig,
    /// The Docker config file at this path.
    DockerConfigAt(PathBuf),
    /// Always anonymous.
    Anonymous,
    /// These, for every host.
    Fixed(RegistryAuth),
}

impl Credentials {
    /// The credentials for registry `host` (`host[:port]`).
    pub fn for_host(&self, host: &str) -> Result<RegistryAuth, AuthError> {
        match self {
            Self::DockerConfig => match default_config_path() {
                Some(path) => credentials_from_file(&path, host),
                None => Ok(RegistryAuth::Anonymous),
            },
            Self::DockerConfigAt(path) => credentials_from_file(path, host),
            Self::Anonymous => Ok(RegistryAuth::Anonymous),
            Self::Fixed(auth) => Ok(auth.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn creds(json: &str, host: &str) -> Result<RegistryAuth, AuthError> {
        credentials_from_json(
            Path::new("/home/u/.docker/config.json"),
            json.as_bytes(),
            host,
        )
    }

    // base64("user:pass")
    const USER_PASS: &str = "dXNlcjpwYXNz";

    #[test]
    fn auths_by_host_and_docker_hub_key() {
        let json = format!(
            r#"{{"auths": {{
                "127.0.0.1:5056": {{"auth": "{USER_PASS}"}},
                "https://index.docker.io/v1/": {{"username": "hub", "password": "pw"}}
            }}}}"#
        );
        assert_eq!(
            creds(&json, "127.0.0.1:5056").unwrap(),
            RegistryAuth::Basic("user".into(), "pass".into())
        );
        for hub in ["docker.io", "registry-1.docker.io"] {
            assert_eq!(
                creds(&json, hub).unwrap(),
                RegistryAuth::Basic("hub".into(), "pw".into())
            );
        }
        assert_eq!(creds(&json, "other:1").unwrap(), RegistryAuth::Anonymous);
    }

    #[test]
    fn auths_keys_with_scheme_match_the_host() {
        let json =
            format!(r#"{{"auths": {{"https://r.example/v1/": {{"auth": "{USER_PASS}"}}}}}}"#);
        assert_eq!(
            creds(&json, "r.example").unwrap(),
            RegistryAuth::Basic("user".into(), "pass".into())
        );
    }

    #[test]
    fn nothing_configured_is_anonymous() {
        assert_eq!(creds("{}", "r").unwrap(), RegistryAuth::Anonymous);
        let missing = std::env::temp_dir().join("berth-no-such-dir/config.json");
        assert_eq!(
            credentials_from_file(&missing, "r").unwrap(),
            RegistryAuth::Anonymous
        );
    }

    #[test]
    fn broken_file_names_the_file_and_position() {
        let e = creds("{\"auths\": {,}}", "r").unwrap_err().to_string();
        assert!(
            e.starts_with("/home/u/.docker/config.json: invalid JSON: ") && e.contains("line 1"),
            "{e}"
        );
        let e = creds(r#"{"auths": {"r": {"auth": "!!!"}}}"#, "r")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("/home/u/.docker/config.json: credentials for r: Unable to decode"),
            "{e}"
        );
    }

    #[test]
    fn missing_helper_is_named() {
        let json =
            r#"{"credsStore": "berth-test-absent", "credHelpers": {"h:1": "berth-test-other"}}"#;
        let e = creds(json, "r").unwrap_err().to_string();
        assert!(
            e.contains("credentials for r: credential helper docker-credential-berth-test-absent could not be run"),
            "{e}"
        );
        let e = creds(json, "h:1").unwrap_err().to_string();
        assert!(e.contains("docker-credential-berth-test-other"), "{e}");
    }

    #[test]
    fn identity_tokens_are_refused_clearly() {
        let json = r#"{"auths": {"r": {"identitytoken": "tok"}}}"#;
        let e = creds(json, "r").unwrap_err().to_string();
        assert!(e.contains("identity tokens are not supported"), "{e}");
    }

    #[test]
    fn fixed_and_anonymous() {
        assert_eq!(
            Credentials::Anonymous.for_host("x").unwrap(),
            RegistryAuth::Anonymous
        );
        let auth = RegistryAuth::Basic("a".into(), "b".into());
        assert_eq!(
            Credentials::Fixed(auth.clone()).for_host("x").unwrap(),
            auth
        );
    }
}
