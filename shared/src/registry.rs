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
fn encode(value: &str) -> String {
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

    pub struct Registry {
        client: Client<HttpsConnector<HttpConnector>, Empty<Bytes>>,
        docker_hub: String,
    }

    struct Answer {
        status: u16,
        digest: Option<String>,
        challenge: Option<Challenge>,
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
            let provider = rustls::crypto::aws_lc_rs::default_provider();
            let https = hyper_rustls::HttpsConnectorBuilder::new()
                .with_provider_and_native_roots(provider)
                .map_err(|e| StepError::fatal(format!("no TLS root certificates: {e}")))?
                .https_or_http()
                .enable_http1()
                .build();
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
            let body = Limited::new(resp.into_body(), MAX_BODY).collect();
            let body = tokio::time::timeout(REQUEST_TIMEOUT, body)
                .await
                .map_err(|_| unreachable(&"timed out reading the answer"))?
                .map_err(|e| unreachable(&e))?
                .to_bytes();
            Ok(Answer {
                status,
                digest,
                challenge,
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
                .send(http::Method::HEAD, &url, MANIFEST_ACCEPT, None)
                .await?;
            if answer.status == 401 {
                let Some(challenge) = answer.challenge.take() else {
                    return Err(StepError::retryable(format!(
                        "registry {base} refused {url} without saying how to authenticate"
                    )));
                };
                let t = self
                    .send(
                        http::Method::GET,
                        &challenge.token_url(&image.repository),
                        "application/json",
                        None,
                    )
                    .await?;
                let token = token_outcome(image, t.status, &t.body)?;
                answer = self
                    .send(http::Method::HEAD, &url, MANIFEST_ACCEPT, Some(&token))
                    .await?;
            }
            manifest_outcome(image, answer.status, answer.digest)
        }
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
}
