//! Container registries over the OCI distribution API: what digest a tag
//! points at right now. Docker Hub's webhooks name a tag but no digest, so
//! the digest a deployment pins is read from the registry itself.
//!
//! The protocol: `HEAD /v2/<repository>/manifests/<tag>`; a `401` carries a
//! `WWW-Authenticate: Bearer realm=…,service=…,scope=…` challenge, answered
//! with a token from the realm; the retried `HEAD` answers the digest in
//! `Docker-Content-Digest`. Pure parts here; the HTTP client in [`client`].

use crate::error::StepError;
use crate::image::{is_digest, ImageRef};

/// Docker Hub's registry API (not `docker.io`, which serves the website).
pub const DOCKER_HUB_REGISTRY: &str = "https://registry-1.docker.io";

/// Every manifest kind a tag may point at; the digest of what is answered is
/// what ECS pulls when given `repository@digest`.
pub const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json";

/// A `WWW-Authenticate: Bearer …` challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    pub realm: String,
    pub service: Option<String>,
    pub scope: Option<String>,
}

/// Read a Bearer challenge; `None` for any other scheme or one without a realm.
pub fn parse_challenge(header: &str) -> Option<Challenge> {
    let (scheme, params) = header.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let (mut realm, mut service, mut scope) = (None, None, None);
    let mut rest = params.trim();
    while !rest.is_empty() {
        let (key, after) = rest.split_once('=')?;
        let key = key.trim().to_ascii_lowercase();
        let after = after.trim_start();
        let (value, tail) = match after.strip_prefix('"') {
            Some(quoted) => {
                let end = quoted.find('"')?;
                (&quoted[..end], &quoted[end + 1..])
            }
            None => match after.find(',') {
                Some(i) => (&after[..i], &after[i..]),
                None => (after, ""),
            },
        };
        match key.as_str() {
            "realm" => realm = Some(value.to_string()),
            "service" => service = Some(value.to_string()),
            "scope" => scope = Some(value.to_string()),
            _ => {}
        }
        rest = tail.trim_start().trim_start_matches(',').trim_start();
    }
    Some(Challenge {
        realm: realm.filter(|r| !r.is_empty())?,
        service,
        scope,
    })
}

/// Percent-encode a query value (RFC 3986 unreserved characters pass).
pub(crate) fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

impl Challenge {
    /// Where to ask for a pull token for `repository`.
    pub fn token_url(&self, repository: &str) -> String {
        let scope = self
            .scope
            .clone()
            .unwrap_or_else(|| format!("repository:{repository}:pull"));
        let mut url = self.realm.clone();
        url.push(if url.contains('?') { '&' } else { '?' });
        if let Some(service) = &self.service {
            url.push_str(&format!("service={}&", encode(service)));
        }
        url.push_str(&format!("scope={}", encode(&scope)));
        url
    }
}

/// The registry API's base URL for an image: `docker_hub` for Docker Hub
/// (configurable, for a mirror), `https://<registry>` for the others.
pub fn registry_base(image: &ImageRef, docker_hub: &str) -> String {
    if image.is_docker_hub() {
        docker_hub.trim_end_matches('/').to_string()
    } else {
        format!("https://{}", image.registry)
    }
}

/// `<base>/v2/<repository>/manifests/<tag or digest>`.
pub fn manifest_url(base: &str, image: &ImageRef) -> Option<String> {
    let reference = image.digest.as_deref().or(image.tag.as_deref())?;
    Some(format!(
        "{}/v2/{}/manifests/{reference}",
        base.trim_end_matches('/'),
        image.repository
    ))
}

/// The token in a token endpoint's answer (`token`, or OAuth's `access_token`).
pub fn token_from(body: &[u8]) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    v.get("token")
        .or_else(|| v.get("access_token"))
        .and_then(|t| t.as_str())
        .filter(|t| !t.is_empty())
        .map(String::from)
}

/// A `Docker-Content-Digest` header, when it is a sha256 digest.
pub fn digest_header(value: Option<&str>) -> Option<String> {
    value
        .map(str::trim)
        .filter(|d| is_digest(d))
        .map(String::from)
}

/// What a manifest lookup's final answer means: the digest, no such tag
/// (`None`), a refusal no retry will change (`Fatal`: the repository is
/// private or gone), or a passing failure (`Retryable`: rate limits, outages,
/// odd answers).
pub fn manifest_outcome(
    image: &ImageRef,
    status: u16,
    digest: Option<String>,
) -> Result<Option<String>, StepError> {
    match status {
        200 => digest.map(Some).ok_or_else(|| {
            StepError::retryable(format!(
                "registry answered {image} without a sha256 Docker-Content-Digest"
            ))
        }),
        404 => Ok(None),
        401 | 403 => Err(StepError::fatal(format!(
            "the registry refused anonymous pulls of {} (HTTP {status}); stepdeploy reads digests and pulls anonymously, so the repository must be public",
            image.repository
        ))),
        429 => Err(StepError::retryable(format!(
            "registry rate-limited the lookup of {image} (HTTP 429)"
        ))),
        status => Err(StepError::retryable(format!(
            "registry answered HTTP {status} for {image}"
        ))),
    }
}

/// What the token service's answer means: the token, a refusal (`Fatal`), or
/// a passing failure (`Retryable`).
pub fn token_outcome(image: &ImageRef, status: u16, body: &[u8]) -> Result<String, StepError> {
    match (status, token_from(body)) {
        (200, Some(token)) => Ok(token),
        (401 | 403, _) => Err(StepError::fatal(format!(
            "the registry's token service refused a pull token for {} (HTTP {status}); the repository must be public",
            image.repository
        ))),
        (status, _) => Err(StepError::retryable(format!(
            "the registry's token service answered HTTP {status} for {} without a token",
            image.repository
        ))),
    }
}

/// The manifest kinds that are one image (a config and its layers).
pub const IMAGE_MANIFEST_ACCEPT: &str = "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json";

/// An image's manifest or index, as far as finding its config goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Manifest {
    /// A multi-platform index (or Docker manifest list): one manifest per platform.
    Index(Vec<PlatformManifest>),
    /// One image: the digest of its config blob.
    Image { config: String },
}

/// One entry of an index.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PlatformManifest {
    pub digest: String,
    pub os: String,
    pub architecture: String,
}

/// Read a manifest or an index (by its shape: the media type header is not
/// always sent, nor always right).
pub fn parse_manifest(body: &[u8]) -> Result<Manifest, String> {
    let v: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| format!("the manifest is not JSON: {e}"))?;
    if let Some(entries) = v.get("manifests").and_then(|m| m.as_array()) {
        let text = |e: &serde_json::Value, path: &[&str]| {
            path.iter()
                .try_fold(e, |v, k| v.get(*k))
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_string()
        };
        return Ok(Manifest::Index(
            entries
                .iter()
                .map(|e| PlatformManifest {
                    digest: text(e, &["digest"]),
                    os: text(e, &["platform", "os"]),
                    architecture: text(e, &["platform", "architecture"]),
                })
                .collect(),
        ));
    }
    match v.pointer("/config/digest").and_then(|d| d.as_str()) {
        Some(d) if is_digest(d) => Ok(Manifest::Image { config: d.into() }),
        _ if v.get("schemaVersion").and_then(|s| s.as_u64()) == Some(1) => {
            Err("the image has a schema 1 manifest (deprecated), which names no config".into())
        }
        _ => Err("the manifest names no sha256 config digest".into()),
    }
}

/// The digest of the index's manifest for Linux on `architecture` (`amd64`,
/// `arm64`), the one ECS pulls.
pub fn pick_platform<'a>(entries: &'a [PlatformManifest], architecture: &str) -> Option<&'a str> {
    entries
        .iter()
        .find(|e| e.os == "linux" && e.architecture == architecture && is_digest(&e.digest))
        .map(|e| e.digest.as_str())
}

/// A port an image declares (`EXPOSE 8000` in its Dockerfile).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ExposedPort {
    pub port: u16,
    /// `tcp` unless the image says otherwise.
    pub protocol: String,
}

impl std::fmt::Display for ExposedPort {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.port, self.protocol)
    }
}

/// The ports an image config declares (`config.ExposedPorts`, keys like
/// `8000/tcp`), sorted; empty when it declares none.
pub fn exposed_ports(config: &[u8]) -> Result<Vec<ExposedPort>, String> {
    let v: serde_json::Value =
        serde_json::from_slice(config).map_err(|e| format!("the image config is not JSON: {e}"))?;
    let Some(ports) = v
        .pointer("/config/ExposedPorts")
        .and_then(|p| p.as_object())
    else {
        return Ok(Vec::new());
    };
    let mut out = ports
        .keys()
        .map(|key| {
            let (port, protocol) = key.split_once('/').unwrap_or((key, "tcp"));
            port.parse::<u16>()
                .map(|port| ExposedPort {
                    port,
                    protocol: protocol.to_ascii_lowercase(),
                })
                .map_err(|_| format!("the image config exposes {key:?}, which is not a port"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    out.sort();
    out.dedup();
    Ok(out)
}

/// What preflight learned of the ports an image declares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeclaredPorts {
    /// The image declares these (never empty).
    Declared(Vec<ExposedPort>),
    /// The image declares no port.
    NoneDeclared,
    /// Its config could not be read; why.
    Unread(String),
}

impl DeclaredPorts {
    pub fn from_config(config: &[u8]) -> DeclaredPorts {
        match exposed_ports(config) {
            Ok(ports) if ports.is_empty() => DeclaredPorts::NoneDeclared,
            Ok(ports) => DeclaredPorts::Declared(ports),
            Err(why) => DeclaredPorts::Unread(why),
        }
    }
}

/// `<base>/v2/<repository>/blobs/<digest>`.
pub fn blob_url(base: &str, repository: &str, digest: &str) -> String {
    format!(
        "{}/v2/{repository}/blobs/{digest}",
        base.trim_end_matches('/')
    )
}

/// Where a redirect's `Location` points, from the URL that answered it.
pub fn resolve_location(from: &str, location: &str) -> Option<String> {
    if location.starts_with("https://") || location.starts_with("http://") {
        return Some(location.to_string());
    }
    let scheme_end = from.find("://")? + 3;
    let origin_end = from[scheme_end..]
        .find('/')
        .map_or(from.len(), |i| scheme_end + i);
    location
        .starts_with('/')
        .then(|| format!("{}{location}", &from[..origin_end]))
}

/// The `scheme://host:port` of a URL.
pub fn origin(url: &str) -> &str {
    let Some(i) = url.find("://") else { return url };
    let end = url[i + 3..].find('/').map_or(url.len(), |j| i + 3 + j);
    &url[..end]
}

/// Whether `body` is the blob `digest` names.
pub fn digest_matches(body: &[u8], digest: &str) -> bool {
    use sha2::Digest;
    digest.strip_prefix("sha256:") == Some(hex::encode(sha2::Sha256::digest(body)).as_str())
}

#[cfg(feature = "registry")]
pub mod client {
    //! The HTTP side: one client, reused across invocations.

    use std::time::Duration;

    use bytes::Bytes;
    use http_body_util::{BodyExt, Empty, Limited};
    use hyper_rustls::HttpsConnector;
    use hyper_util::client::legacy::{connect::HttpConnector, Client};
    use hyper_util::rt::TokioExecutor;

    use super::*;

    /// Per request; Docker Hub answers in well under a second.
    const REQUEST_TIMEOUT: Duration = Duration::from_secs(4);
    /// A whole lookup (up to three requests), well inside the Lambda's timeout.
    const LOOKUP_TIMEOUT: Duration = Duration::from_secs(8);
    /// Token answers and error bodies are small; nothing larger is read.
    const MAX_BODY: usize = 64 * 1024;
    /// Manifests, indexes and image configs (a long build history makes a
    /// config tens of KiB).
    const MAX_DOCUMENT: usize = 1024 * 1024;
    /// Reading an image's config: up to six requests.
    const CONFIG_TIMEOUT: Duration = Duration::from_secs(12);

    pub struct Registry {
        client: Client<HttpsConnector<HttpConnector>, Empty<Bytes>>,
        docker_hub: String,
    }

    struct Answer {
        status: u16,
        digest: Option<String>,
        challenge: Option<Challenge>,
        location: Option<String>,
        body: Bytes,
    }

    impl Registry {
        /// `STEPDEPLOY_DOCKER_HUB_URL` points Docker Hub lookups at a mirror
        /// (or the local stack's registry); Docker Hub's own by default.
        pub fn from_env() -> Result<Registry, StepError> {
            let docker_hub = std::env::var("STEPDEPLOY_DOCKER_HUB_URL")
                .ok()
                .filter(|u| !u.is_empty())
                .unwrap_or_else(|| DOCKER_HUB_REGISTRY.to_string());
            Registry::new(docker_hub)
        }

        pub fn new(docker_hub: impl Into<String>) -> Result<Registry, StepError> {
            let https = crate::https::connector().map_err(StepError::fatal)?;
            Ok(Registry {
                client: Client::builder(TokioExecutor::new()).build(https),
                docker_hub: docker_hub.into(),
            })
        }

        async fn send(
            &self,
            method: http::Method,
            url: &str,
            accept: &str,
            bearer: Option<&str>,
            limit: usize,
        ) -> Result<Answer, StepError> {
            let mut req = http::Request::builder()
                .method(method)
                .uri(url)
                .header("accept", accept)
                .header("user-agent", "stepdeploy");
            if let Some(token) = bearer {
                req = req.header("authorization", format!("Bearer {token}"));
            }
            let req = req
                .body(Empty::new())
                .map_err(|e| StepError::fatal(format!("bad registry URL {url}: {e}")))?;
            let unreachable = |e: &dyn std::fmt::Display| {
                StepError::retryable(format!("registry request {url} failed: {e}"))
            };
            let resp = tokio::time::timeout(REQUEST_TIMEOUT, self.client.request(req))
                .await
                .map_err(|_| unreachable(&"timed out"))?
                .map_err(|e| unreachable(&e))?;
            let header = |name: &str| resp.headers().get(name).and_then(|v| v.to_str().ok());
            let status = resp.status().as_u16();
            let digest = digest_header(header("docker-content-digest"));
            let challenge = header("www-authenticate").and_then(parse_challenge);
            let location = header("location").map(String::from);
            let body = Limited::new(resp.into_body(), limit).collect();
            let body = tokio::time::timeout(REQUEST_TIMEOUT, body)
                .await
                .map_err(|_| unreachable(&"timed out reading the answer"))?
                .map_err(|e| unreachable(&e))?
                .to_bytes();
            Ok(Answer {
                status,
                digest,
                challenge,
                location,
                body,
            })
        }

        /// The digest `image`'s tag points at now; `None` when the registry
        /// has no such tag.
        pub async fn digest(&self, image: &ImageRef) -> Result<Option<String>, StepError> {
            tokio::time::timeout(LOOKUP_TIMEOUT, self.lookup(image))
                .await
                .unwrap_or_else(|_| {
                    Err(StepError::retryable(format!(
                        "the registry did not answer the lookup of {image} within {} s",
                        LOOKUP_TIMEOUT.as_secs()
                    )))
                })
        }

        async fn lookup(&self, image: &ImageRef) -> Result<Option<String>, StepError> {
            let base = registry_base(image, &self.docker_hub);
            let url = manifest_url(&base, image).ok_or_else(|| {
                StepError::invalid_input(format!("image {image} has neither tag nor digest"))
            })?;
            let mut answer = self
                .send(http::Method::HEAD, &url, MANIFEST_ACCEPT, None, MAX_BODY)
                .await?;
            if answer.status == 401 {
                let Some(challenge) = answer.challenge.take() else {
                    return Err(StepError::retryable(format!(
                        "registry {base} refused {url} without saying how to authenticate"
                    )));
                };
                let token = self.pull_token(image, &challenge).await?;
                answer = self
                    .send(
                        http::Method::HEAD,
                        &url,
                        MANIFEST_ACCEPT,
                        Some(&token),
                        MAX_BODY,
                    )
                    .await?;
            }
            manifest_outcome(image, answer.status, answer.digest)
        }

        /// A pull token for `image` from the challenge's token service.
        async fn pull_token(
            &self,
            image: &ImageRef,
            challenge: &Challenge,
        ) -> Result<String, StepError> {
            let t = self
                .send(
                    http::Method::GET,
                    &challenge.token_url(&image.repository),
                    "application/json",
                    None,
                    MAX_BODY,
                )
                .await?;
            token_outcome(image, t.status, &t.body)
        }

        /// The config blob of `image` (pinned by digest) as ECS would run it
        /// on Linux/`architecture`: its manifest, the platform's manifest
        /// when that is an index, then the blob, following the registry's
        /// redirect to its storage (without the pull token, which belongs
        /// to the registry alone). The error says why it could not be read.
        pub async fn image_config(
            &self,
            image: &ImageRef,
            architecture: &str,
        ) -> Result<Bytes, String> {
            tokio::time::timeout(CONFIG_TIMEOUT, self.read_config(image, architecture))
                .await
                .unwrap_or_else(|_| {
                    Err(format!(
                        "the registry did not answer within {} s",
                        CONFIG_TIMEOUT.as_secs()
                    ))
                })
        }

        async fn read_config(&self, image: &ImageRef, architecture: &str) -> Result<Bytes, String> {
            let base = registry_base(image, &self.docker_hub);
            let mut token = None;
            let mut reference = image
                .digest
                .clone()
                .or_else(|| image.tag.clone())
                .ok_or_else(|| format!("image {image} has neither tag nor digest"))?;
            let mut in_index = false;
            let config = loop {
                let url = format!("{base}/v2/{}/manifests/{reference}", image.repository);
                let a = self
                    .authed(&url, MANIFEST_ACCEPT, image, &mut token)
                    .await?;
                if a.status != 200 {
                    return Err(format!("the registry answered HTTP {} for {url}", a.status));
                }
                match parse_manifest(&a.body)? {
                    Manifest::Image { config } => break config,
                    Manifest::Index(entries) if !in_index => {
                        let Some(d) = pick_platform(&entries, architecture) else {
                            return Err(format!(
                                "the image's index has no linux/{architecture} manifest, the platform ECS runs"
                            ));
                        };
                        reference = d.to_string();
                        in_index = true;
                    }
                    Manifest::Index(_) => return Err("an index points at another index".into()),
                }
            };
            let mut url = blob_url(&base, &image.repository, &config);
            let mut a = self.authed(&url, "*/*", image, &mut token).await?;
            for _ in 0..3 {
                if !matches!(a.status, 301 | 302 | 303 | 307 | 308) {
                    break;
                }
                let next = a
                    .location
                    .as_deref()
                    .and_then(|l| resolve_location(&url, l))
                    .ok_or_else(|| {
                        format!("the registry redirected {url} without a usable Location")
                    })?;
                let bearer = if origin(&next) == origin(&url) {
                    token.as_deref()
                } else {
                    None
                };
                url = next;
                a = self
                    .send(http::Method::GET, &url, "*/*", bearer, MAX_DOCUMENT)
                    .await
                    .map_err(|e| e.message)?;
            }
            checked_blob(a.status, a.body, &config)
        }

        /// GET a document, answering a Bearer challenge once with a pull token.
        async fn authed(
            &self,
            url: &str,
            accept: &str,
            image: &ImageRef,
            token: &mut Option<String>,
        ) -> Result<Answer, String> {
            let get = |bearer: Option<String>| async move {
                self.send(
                    http::Method::GET,
                    url,
                    accept,
                    bearer.as_deref(),
                    MAX_DOCUMENT,
                )
                .await
                .map_err(|e| e.message)
            };
            let mut a = get(token.clone()).await?;
            if a.status == 401 && token.is_none() {
                let challenge = a.challenge.take().ok_or_else(|| {
                    format!("the registry refused {url} without saying how to authenticate")
                })?;
                *token = Some(
                    self.pull_token(image, &challenge)
                        .await
                        .map_err(|e| e.message)?,
                );
                a = get(token.clone()).await?;
            }
            Ok(a)
        }

        /// GET a blob from a presigned URL (ECR's `GetDownloadUrlForLayer`),
        /// checked against its digest.
        pub async fn download(&self, url: &str, digest: &str) -> Result<Bytes, String> {
            let a = tokio::time::timeout(
                CONFIG_TIMEOUT,
                self.send(http::Method::GET, url, "*/*", None, MAX_DOCUMENT),
            )
            .await
            .map_err(|_| "the download timed out".to_string())?
            .map_err(|e| e.message)?;
            checked_blob(a.status, a.body, digest)
        }
    }

    fn checked_blob(status: u16, body: Bytes, digest: &str) -> Result<Bytes, String> {
        if status != 200 {
            return Err(format!(
                "the registry answered HTTP {status} for the config blob {digest}"
            ));
        }
        if !digest_matches(&body, digest) {
            return Err(format!(
                "the config blob read does not match its digest {digest}"
            ));
        }
        Ok(body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_hub_challenge() {
        let c = parse_challenge(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:acme/bank:pull""#,
        )
        .unwrap();
        assert_eq!(c.realm, "https://auth.docker.io/token");
        assert_eq!(c.service.as_deref(), Some("registry.docker.io"));
        assert_eq!(
            c.token_url("acme/bank"),
            "https://auth.docker.io/token?service=registry.docker.io&scope=repository%3Aacme%2Fbank%3Apull"
        );
    }

    #[test]
    fn challenges_in_other_forms() {
        let c =
            parse_challenge(r#"bearer realm=https://ghcr.io/token, service="ghcr.io""#).unwrap();
        assert_eq!(c.realm, "https://ghcr.io/token");
        assert_eq!(
            c.token_url("acme/bank"),
            "https://ghcr.io/token?service=ghcr.io&scope=repository%3Aacme%2Fbank%3Apull"
        );
        let c = parse_challenge(r#"Bearer realm="https://r/t?x=1""#).unwrap();
        assert_eq!(
            c.token_url("a"),
            "https://r/t?x=1&scope=repository%3Aa%3Apull"
        );
        for bad in [
            "Basic realm=\"x\"",
            "Bearer",
            "Bearer service=\"x\"",
            "Bearer realm=\"unterminated",
            "",
        ] {
            assert_eq!(parse_challenge(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn urls() {
        let hub = ImageRef::parse("acme/bank:abc").unwrap();
        let base = registry_base(&hub, "http://127.0.0.1:1/");
        assert_eq!(base, "http://127.0.0.1:1");
        assert_eq!(
            manifest_url(&base, &hub).unwrap(),
            "http://127.0.0.1:1/v2/acme/bank/manifests/abc"
        );
        let ghcr = ImageRef::parse("ghcr.io/acme/bank:v1").unwrap();
        assert_eq!(registry_base(&ghcr, DOCKER_HUB_REGISTRY), "https://ghcr.io");
        let untagged = ImageRef::parse("ghcr.io/acme/bank").unwrap();
        assert_eq!(manifest_url("https://ghcr.io", &untagged), None);
    }

    #[test]
    fn outcomes() {
        use crate::error::ErrorKind;
        let image = ImageRef::parse("acme/bank:abc").unwrap();
        let d = format!("sha256:{}", "0b".repeat(32));
        assert_eq!(
            manifest_outcome(&image, 200, Some(d.clone())).unwrap(),
            Some(d)
        );
        assert_eq!(manifest_outcome(&image, 404, None).unwrap(), None);
        let kind = |r: Result<Option<String>, StepError>| r.unwrap_err().kind;
        assert_eq!(
            kind(manifest_outcome(&image, 200, None)),
            ErrorKind::Retryable
        );
        for status in [401, 403] {
            let e = manifest_outcome(&image, status, None).unwrap_err();
            assert_eq!(e.kind, ErrorKind::Fatal);
            assert!(e.message.contains("must be public"), "{}", e.message);
        }
        for status in [429, 500, 502, 503, 418] {
            assert_eq!(
                kind(manifest_outcome(&image, status, None)),
                ErrorKind::Retryable,
                "{status}"
            );
        }
        assert_eq!(
            token_outcome(&image, 200, br#"{"token":"t"}"#).unwrap(),
            "t"
        );
        assert_eq!(
            token_outcome(&image, 401, b"").unwrap_err().kind,
            ErrorKind::Fatal
        );
        for (status, body) in [(429, &b""[..]), (503, b"<html>"), (200, b"{}")] {
            assert_eq!(
                token_outcome(&image, status, body).unwrap_err().kind,
                ErrorKind::Retryable,
                "{status}"
            );
        }
    }

    #[test]
    fn answers() {
        assert_eq!(token_from(br#"{"token":"t1"}"#).as_deref(), Some("t1"));
        assert_eq!(
            token_from(br#"{"access_token":"t2"}"#).as_deref(),
            Some("t2")
        );
        assert_eq!(token_from(br#"{"token":""}"#), None);
        assert_eq!(token_from(b"<html>"), None);
        let d = format!("sha256:{}", "0a".repeat(32));
        assert_eq!(digest_header(Some(&format!(" {d} "))), Some(d));
        assert_eq!(digest_header(Some("sha256:abc")), None);
        assert_eq!(digest_header(None), None);
    }

    #[test]
    fn manifests_and_indexes() {
        let config = format!("sha256:{}", "c0".repeat(32));
        let amd = format!("sha256:{}", "a1".repeat(32));
        let arm = format!("sha256:{}", "a2".repeat(32));
        let image = format!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"digest":"{config}","size":1}},"layers":[]}}"#
        );
        assert_eq!(
            parse_manifest(image.as_bytes()).unwrap(),
            Manifest::Image {
                config: config.clone()
            }
        );
        let index = format!(
            r#"{{"manifests":[
                {{"digest":"{arm}","platform":{{"os":"linux","architecture":"arm64","variant":"v8"}}}},
                {{"digest":"sha256:{}","platform":{{"os":"unknown","architecture":"unknown"}}}},
                {{"digest":"{amd}","platform":{{"os":"linux","architecture":"amd64"}}}}]}}"#,
            "ff".repeat(32)
        );
        let Manifest::Index(entries) = parse_manifest(index.as_bytes()).unwrap() else {
            panic!("an index")
        };
        assert_eq!(pick_platform(&entries, "amd64"), Some(amd.as_str()));
        assert_eq!(pick_platform(&entries, "arm64"), Some(arm.as_str()));
        assert_eq!(pick_platform(&entries, "s390x"), None);
        for bad in [
            &b"<html>"[..],
            br#"{"schemaVersion":1,"fsLayers":[]}"#,
            br#"{"config":{"digest":"md5:x"}}"#,
        ] {
            assert!(
                parse_manifest(bad).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn exposed_ports_of_configs() {
        let ports = |c: &str| {
            exposed_ports(c.as_bytes())
                .map(|p| p.iter().map(ToString::to_string).collect::<Vec<_>>())
        };
        assert_eq!(
            ports(r#"{"config":{"ExposedPorts":{"8000/tcp":{},"53/UDP":{},"443":{}}}}"#).unwrap(),
            ["53/udp", "443/tcp", "8000/tcp"]
        );
        assert!(ports(r#"{"config":{"Env":["A=1"]}}"#).unwrap().is_empty());
        assert!(ports(r#"{"config":{"ExposedPorts":null}}"#)
            .unwrap()
            .is_empty());
        assert!(ports(r#"{"config":{"ExposedPorts":{"http/tcp":{}}}}"#).is_err());
        assert!(ports("not json").is_err());
        assert_eq!(
            DeclaredPorts::from_config(br#"{"config":{}}"#),
            DeclaredPorts::NoneDeclared
        );
        assert!(matches!(
            DeclaredPorts::from_config(b"{"),
            DeclaredPorts::Unread(_)
        ));
    }

    #[test]
    fn blobs_and_redirects() {
        assert_eq!(
            blob_url("https://ghcr.io/", "acme/bank", "sha256:00"),
            "https://ghcr.io/v2/acme/bank/blobs/sha256:00"
        );
        let from = "http://127.0.0.1:5/v2/a/blobs/sha256:00";
        assert_eq!(
            resolve_location(from, "/_cdn/x?e=1").as_deref(),
            Some("http://127.0.0.1:5/_cdn/x?e=1")
        );
        assert_eq!(
            resolve_location(from, "https://cdn.example/x").as_deref(),
            Some("https://cdn.example/x")
        );
        assert_eq!(resolve_location(from, "relative"), None);
        assert_eq!(origin(from), "http://127.0.0.1:5");
        assert_eq!(origin("https://cdn.example"), "https://cdn.example");
        assert_ne!(origin("http://localhost:5/x"), origin(from));
        let body = b"{}";
        let digest = "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a";
        assert!(digest_matches(body, digest));
        assert!(!digest_matches(b"{ }", digest));
        assert!(!digest_matches(body, "sha512:44"));
    }
}
