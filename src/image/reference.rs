//! Docker image references: parsing and normalization the way `docker pull` reads a name
//! (`redis` → `docker.io/library/redis:latest`). Pure: no I/O, no registry, no containerd.

use std::fmt;

use thiserror::Error;

/// The registry that names without a domain belong to.
pub const DOCKER_HUB: &str = "docker.io";
const DOCKER_HUB_LEGACY: &str = "index.docker.io";
const OFFICIAL_PREFIX: &str = "library/";
const DEFAULT_TAG: &str = "latest";
const NAME_MAX: usize = 255;
const TAG_MAX: usize = 128;

/// Why a string is not an image reference. The texts are Docker's.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum RefError {
    #[error("invalid reference format")]
    Invalid,
    #[error("invalid reference format: repository name ({0}) must be lowercase")]
    Uppercase(String),
    #[error("invalid repository name ({0}), cannot specify 64-byte hexadecimal strings")]
    HexIdentifier(String),
    #[error("invalid reference format: repository name must not be more than 255 characters")]
    NameTooLong,
}

/// A normalized image reference: `domain/path[:tag][@digest]`. A reference given with neither a
/// tag nor a digest gets the tag `latest`, as Docker does.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ImageRef {
    domain: String,
    path: String,
    tag: Option<String>,
    digest: Option<String>,
}

impl ImageRef {
    /// Parses `s` as Docker does (`ParseNormalizedNamed` then `TagNameOnly`).
    pub fn parse(s: &str) -> Result<Self, RefError> {
        if s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Err(RefError::HexIdentifier(s.to_string()));
        }
        let (rest, digest) = match s.split_once('@') {
            Some((rest, digest)) => {
                if !valid_digest(digest) {
                    return Err(RefError::Invalid);
                }
                (rest, Some(digest.to_string()))
            }
            None => (s, None),
        };
        // A tag follows the last ':' that comes after the last '/'; a ':' before a '/' is a port.
        let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match rest[last_slash..].rfind(':') {
            Some(i) => {
                let tag = &rest[last_slash + i + 1..];
                if !valid_tag(tag) {
                    return Err(RefError::Invalid);
                }
                (&rest[..last_slash + i], Some(tag.to_string()))
            }
            None => (rest, None),
        };
        let (domain, path) = split_domain(name);
        if path.to_lowercase() != path {
            return Err(RefError::Uppercase(path));
        }
        if !valid_domain(&domain) || !path.split('/').all(valid_path_component) {
            return Err(RefError::Invalid);
        }
        if domain.len() + 1 + path.len() > NAME_MAX {
            return Err(RefError::NameTooLong);
        }
        let tag = match (tag, &digest) {
            (None, None) => Some(DEFAULT_TAG.to_string()),
            (tag, _) => tag,
        };
        Ok(Self {
            domain,
            path,
            tag,
            digest,
        })
    }

    /// The registry host, with its port when it has one (`docker.io`, `127.0.0.1:5055`).
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// The repository path inside the registry (`library/redis`).
    pub fn path(&self) -> &str {
        &self.path
    }

    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    /// `algorithm:hex`, when the reference pins one.
    pub fn digest(&self) -> Option<&str> {
        self.digest.as_deref()
    }

    /// `domain/path`, the repository's full name (`docker.io/library/redis`).
    pub fn name(&self) -> String {
        format!("{}/{}", self.domain, self.path)
    }

    /// Docker's short repository name: `redis`, `user/app`, `localhost:5000/x`.
    pub fn familiar_name(&self) -> String {
        if self.domain == DOCKER_HUB {
            match self.path.strip_prefix(OFFICIAL_PREFIX) {
                Some(rest) if !rest.contains('/') => rest.to_string(),
                _ => self.path.clone(),
            }
        } else {
            self.name()
        }
    }

    /// Docker's short form with tag and digest: `redis:latest`, `x@sha256:…`.
    pub fn familiar(&self) -> String {
        self.with_suffix(self.familiar_name())
    }

    /// The same repository at `digest`, keeping the tag (`name:tag@digest`).
    pub fn with_digest(&self, digest: &str) -> Self {
        Self {
            digest: Some(digest.to_string()),
            ..self.clone()
        }
    }

    fn with_suffix(&self, mut s: String) -> String {
        if let Some(tag) = &self.tag {
            s.push(':');
            s.push_str(tag);
        }
        if let Some(digest) = &self.digest {
            s.push('@');
            s.push_str(digest);
        }
        s
    }
}

impl fmt::Display for ImageRef {
    /// The full normalized name containerd stores: `docker.io/library/redis:latest`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.with_suffix(self.name()))
    }
}

impl std::str::FromStr for ImageRef {
    type Err = RefError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// Docker's `splitDockerDomain`: the first component is a domain when it has a '.' or a ':', is
/// `localhost`, or has an uppercase letter (which no repository path may have).
fn split_domain(name: &str) -> (String, String) {
    let (domain, path) = match name.split_once('/') {
        Some((first, rest))
            if first.contains(['.', ':'])
                || first == "localhost"
                || first.to_lowercase() != first =>
        {
            (first, rest.to_string())
        }
        _ => (DOCKER_HUB, name.to_string()),
    };
    let domain = if domain == DOCKER_HUB_LEGACY {
        DOCKER_HUB
    } else {
        domain
    };
    let path = if domain == DOCKER_HUB && !path.contains('/') {
        format!("{OFFICIAL_PREFIX}{path}")
    } else {
        path
    };
    (domain.to_string(), path)
}

/// `host[:port]` where host is dot-separated labels of `[A-Za-z0-9-]` (not starting or ending
/// with '-') or a bracketed IPv6 address.
fn valid_domain(domain: &str) -> bool {
    let (host, port) = if let Some(rest) = domain.strip_prefix('[') {
        let Some((addr, after)) = rest.split_once(']') else {
            return false;
        };
        if addr.parse::<std::net::Ipv6Addr>().is_err() {
            return false;
        }
        match after {
            "" => return true,
            _ => match after.strip_prefix(':') {
                Some(port) => ("", Some(port)),
                None => return false,
            },
        }
    } else {
        match domain.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (domain, None),
        }
    };
    if let Some(port) = port {
        if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
            return false;
        }
    }
    if host.is_empty() {
        return domain.starts_with('[');
    }
    host.split('.').all(|label| {
        !label.is_empty()
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-')
    })
}

/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`
fn valid_path_component(c: &str) -> bool {
    let b = c.as_bytes();
    let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    if b.is_empty() || !alnum(b[0]) || !alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if alnum(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && !alnum(b[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|x| x == b'-');
        if !ok {
            return false;
        }
    }
    true
}

/// `[\w][\w.-]{0,127}`
fn valid_tag(tag: &str) -> bool {
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let b = tag.as_bytes();
    !b.is_empty()
        && b.len() <= TAG_MAX
        && word(b[0])
        && b.iter().all(|&x| word(x) || x == b'.' || x == b'-')
}

/// `algorithm:hex` with a known length for sha256/sha512, at least 32 hex digits otherwise.
fn valid_digest(d: &str) -> bool {
    let Some((alg, hex)) = d.split_once(':') else {
        return false;
    };
    let alg_ok = !alg.is_empty()
        && alg.as_bytes()[0].is_ascii_alphabetic()
        && alg
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'+' | b'.'));
    let hex_ok = hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    let len_ok = match alg {
        "sha256" => hex.len() == 64,
        "sha512" => hex.len() == 128,
        _ => hex.len() >= 32,
    };
    alg_ok && hex_ok && len_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn p(s: &str) -> ImageRef {
        ImageRef::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn official_images_get_library_and_latest() {
        let r = p("redis");
        assert_eq!(r.domain(), "docker.io");
        assert_eq!(r.path(), "library/redis");
        assert_eq!(r.tag(), Some("latest"));
        assert_eq!(r.digest(), None);
        assert_eq!(r.to_string(), "docker.io/library/redis:latest");
        assert_eq!(r.familiar(), "redis:latest");
        assert_eq!(r.familiar_name(), "redis");
        assert_eq!(p("docker.io/library/redis:7").familiar(), "redis:7");
        assert_eq!(
            p("index.docker.io/redis").to_string(),
            "docker.io/library/redis:latest"
        );
    }

    #[test]
    fn user_repositories_stay_on_docker_hub() {
        let r = p("user/app");
        assert_eq!(r.to_string(), "docker.io/user/app:latest");
        assert_eq!(r.familiar(), "user/app:latest");
        assert_eq!(p("library/a/b").familiar_name(), "library/a/b");
    }

    #[test]
    fn registries_with_ports() {
        let r = p("localhost:5000/x");
        assert_eq!(r.domain(), "localhost:5000");
        assert_eq!(r.path(), "x");
        assert_eq!(r.to_string(), "localhost:5000/x:latest");
        assert_eq!(r.familiar(), "localhost:5000/x:latest");
        let r = p("127.0.0.1:5055/a/b:t");
        assert_eq!(r.domain(), "127.0.0.1:5055");
        assert_eq!(r.path(), "a/b");
        assert_eq!(r.tag(), Some("t"));
        assert_eq!(p("localhost/x").domain(), "localhost");
        assert_eq!(p("[::1]:5000/x").domain(), "[::1]:5000");
        assert_eq!(p("example.com/x").domain(), "example.com");
    }

    #[test]
    fn digests() {
        let r = p(&format!("x@{D}"));
        assert_eq!(r.tag(), None);
        assert_eq!(r.digest(), Some(D));
        assert_eq!(r.to_string(), format!("docker.io/library/x@{D}"));
        assert_eq!(r.familiar(), format!("x@{D}"));
        let r = p(&format!("x:t@{D}"));
        assert_eq!(r.tag(), Some("t"));
        assert_eq!(r.to_string(), format!("docker.io/library/x:t@{D}"));
        let r = p(&format!("127.0.0.1:5055/x@{D}"));
        assert_eq!(r.domain(), "127.0.0.1:5055");
        assert_eq!(
            p("x:t").with_digest(D).to_string(),
            format!("docker.io/library/x:t@{D}")
        );
    }

    #[test]
    fn uppercase_repository_is_rejected_as_docker_does() {
        assert_eq!(
            ImageRef::parse("Redis").unwrap_err().to_string(),
            "invalid reference format: repository name (library/Redis) must be lowercase"
        );
        assert_eq!(
            ImageRef::parse("user/App:1").unwrap_err().to_string(),
            "invalid reference format: repository name (user/App) must be lowercase"
        );
        // An uppercase first component is a domain, as in Docker.
        assert_eq!(p("Example.com/x").domain(), "Example.com");
        // Tags may have uppercase.
        assert_eq!(p("x:Latest").tag(), Some("Latest"));
    }

    #[test]
    fn invalid_references() {
        for bad in [
            "",
            ":t",
            "x:",
            "x@sha256:abc",
            "x@",
            "a//b",
            "-a",
            "a-",
            "a..b",
            "a/b:t:u",
            "host:port/x",
            "x:-t",
            "x y",
            &format!("x:{}", "t".repeat(129)),
        ] {
            assert_eq!(ImageRef::parse(bad), Err(RefError::Invalid), "{bad:?}");
        }
        assert!(matches!(
            ImageRef::parse(&"a".repeat(64).replace('a', "f")),
            Err(RefError::HexIdentifier(_))
        ));
        assert_eq!(
            ImageRef::parse(&format!("x/{}", "a".repeat(260))),
            Err(RefError::NameTooLong)
        );
        // Separators inside path components.
        assert!(ImageRef::parse("a__b/c.d/e---f").is_ok());
        assert_eq!(ImageRef::parse("a___b"), Err(RefError::Invalid));
    }
}
