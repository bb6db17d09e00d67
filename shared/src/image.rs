//! Image references and the events that announce an image's arrival.

use serde::{Deserialize, Serialize};

use crate::error::StepError;

/// A container image reference, normalised: the registry is always explicit
/// (`docker.io` for Docker Hub, `library/` for its official images).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageRef {
    pub registry: String,
    pub repository: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
}

/// A tag as the distribution spec allows it: `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
fn is_tag(t: &str) -> bool {
    let mut chars = t.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
        && t.len() <= 128
        && chars.all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
}

/// `sha256:<64 hex>`.
pub fn is_digest(d: &str) -> bool {
    d.strip_prefix("sha256:")
        .is_some_and(|h| h.len() == 64 && h.chars().all(|c| c.is_ascii_hexdigit()))
}

impl ImageRef {
    /// Parse `[registry[:port]/]repository[:tag][@sha256:…]`.
    pub fn parse(text: &str) -> Result<ImageRef, StepError> {
        let bad = |why: &str| StepError::invalid_input(format!("image reference {text:?} {why}"));
        if text.is_empty() || text.chars().any(|c| c.is_whitespace()) {
            return Err(bad("must be non-empty and contain no spaces"));
        }
        let (rest, digest) = match text.split_once('@') {
            Some((r, d)) if is_digest(d) => (r, Some(d.to_string())),
            Some(_) => return Err(bad("has a digest that is not sha256:<64 hex>")),
            None => (text, None),
        };
        // A tag is a `:` after the last `/` (a `:` before it is a registry port).
        let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match rest[last_slash..].rfind(':') {
            Some(i) => {
                let tag = &rest[last_slash + i + 1..];
                if !is_tag(tag) {
                    return Err(bad(
                        "has a tag that is not [A-Za-z0-9_][A-Za-z0-9_.-] and at most 128 characters",
                    ));
                }
                (&rest[..last_slash + i], Some(tag.to_string()))
            }
            None => (rest, None),
        };
        let (registry, repository) = match name.split_once('/') {
            Some((first, path))
                if first.contains('.') || first.contains(':') || first == "localhost" =>
            {
                (first.to_string(), path.to_string())
            }
            _ => {
                let path = if name.contains('/') {
                    name.to_string()
                } else {
                    format!("library/{name}")
                };
                ("docker.io".to_string(), path)
            }
        };
        let registry = if registry == "index.docker.io" || registry == "registry-1.docker.io" {
            "docker.io".to_string()
        } else {
            registry
        };
        // Docker Hub's official images live under `library/`.
        let repository = if registry == "docker.io" && !repository.contains('/') {
            format!("library/{repository}")
        } else {
            repository
        };
        if repository.is_empty()
            || repository.split('/').any(|p| p.is_empty())
            || repository
                .chars()
                .any(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || "._-/".contains(c)))
        {
            return Err(bad("has a repository that is not lowercase [a-z0-9._-/]"));
        }
        Ok(ImageRef {
            registry,
            repository,
            tag,
            digest,
        })
    }

    /// `registry/repository`.
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// The same image pinned by digest: what the task definition runs, so a
    /// tag that moves later cannot change it.
    pub fn pinned(&self, digest: &str) -> String {
        format!("{}@{digest}", self.name())
    }

    /// The key arrivals and waiters meet under: `registry/repository:tag`.
    pub fn wait_key(&self) -> String {
        format!(
            "{}:{}",
            self.name(),
            self.tag.as_deref().unwrap_or("latest")
        )
    }

    /// Whether the image lives on Docker Hub.
    pub fn is_docker_hub(&self) -> bool {
        self.registry == "docker.io"
    }

    /// The ECR repository name, when the registry is an ECR registry.
    pub fn ecr_repository(&self) -> Option<&str> {
        ecr_registry_parts(&self.registry).map(|_| self.repository.as_str())
    }
}

impl std::fmt::Display for ImageRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.name())?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

/// `<account>.dkr.ecr.<region>.amazonaws.com`.
pub fn ecr_registry(account: &str, region: &str) -> String {
    let suffix = if region.starts_with("cn-") {
        "amazonaws.com.cn"
    } else {
        "amazonaws.com"
    };
    format!("{account}.dkr.ecr.{region}.{suffix}")
}

/// (account, region) of an ECR registry host.
pub fn ecr_registry_parts(registry: &str) -> Option<(&str, &str)> {
    let mut parts = registry.split('.');
    let account = parts.next()?;
    if parts.next()? != "dkr" || parts.next()? != "ecr" {
        return None;
    }
    let region = parts.next()?;
    (account.len() == 12 && account.chars().all(|c| c.is_ascii_digit()))
        .then_some((account, region))
}

/// The EventBridge event ECR sends for a push (`detail-type: ECR Image Action`).
#[derive(Debug, Clone, Deserialize)]
pub struct EcrImageActionEvent {
    pub source: String,
    #[serde(rename = "detail-type")]
    pub detail_type: String,
    pub account: String,
    pub region: String,
    pub detail: EcrImageActionDetail,
}

#[derive(Debug, Clone, Deserialize)]
pub struct EcrImageActionDetail {
    #[serde(rename = "action-type")]
    pub action_type: String,
    pub result: String,
    #[serde(rename = "repository-name")]
    pub repository_name: String,
    #[serde(rename = "image-digest", default)]
    pub image_digest: Option<String>,
    #[serde(rename = "image-tag", default)]
    pub image_tag: Option<String>,
}

/// What an image event says happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Arrival {
    /// The image now exists with this digest.
    Pushed { image: ImageRef, digest: String },
    /// Its push failed: waiting deployments fail with this reason.
    Failed { image: ImageRef, reason: String },
}

impl Arrival {
    pub fn image(&self) -> &ImageRef {
        match self {
            Arrival::Pushed { image, .. } | Arrival::Failed { image, .. } => image,
        }
    }
}

/// Read an ECR push event. `Ok(None)` for ECR events that announce no
/// arrival (deletes, untagged pushes).
pub fn parse_ecr_event(event: &EcrImageActionEvent) -> Result<Option<Arrival>, StepError> {
    if event.source != "aws.ecr" || event.detail_type != "ECR Image Action" {
        return Err(StepError::invalid_input(format!(
            "not an ECR image action event (source {:?}, detail-type {:?})",
            event.source, event.detail_type
        )));
    }
    let d = &event.detail;
    let Some(tag) = d.image_tag.clone().filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    if d.action_type != "PUSH" {
        return Ok(None);
    }
    let image = ImageRef {
        registry: ecr_registry(&event.account, &event.region),
        repository: d.repository_name.clone(),
        tag: Some(tag),
        digest: None,
    };
    match d.result.as_str() {
        "SUCCESS" => {
            let digest = d
                .image_digest
                .clone()
                .filter(|dg| is_digest(dg))
                .ok_or_else(|| {
                    StepError::invalid_input("ECR push event without a sha256 image-digest")
                })?;
            Ok(Some(Arrival::Pushed { image, digest }))
        }
        other => Ok(Some(Arrival::Failed {
            image,
            reason: format!("ECR reported the push of {} as {other}", d.repository_name),
        })),
    }
}

/// Read a GitHub `package` / `registry_package` event: a container image
/// published to GHCR. `Ok(None)` for other package types, other actions and
/// untagged versions; `Err` (the reason) for a payload not in GitHub's form.
pub fn parse_github_package(payload: &serde_json::Value) -> Result<Option<Arrival>, String> {
    let action = payload
        .get("action")
        .and_then(|a| a.as_str())
        .unwrap_or_default();
    let package = payload
        .get("package")
        .or_else(|| payload.get("registry_package"))
        .ok_or("no package or registry_package object")?;
    let kind = package
        .get("package_type")
        .and_then(|t| t.as_str())
        .unwrap_or_default();
    if !kind.eq_ignore_ascii_case("container") || !matches!(action, "published" | "updated") {
        return Ok(None);
    }
    let name = package
        .get("name")
        .and_then(|n| n.as_str())
        .ok_or("package without a name")?;
    let owner = package
        .get("namespace")
        .and_then(|n| n.as_str())
        .or_else(|| package.pointer("/owner/login").and_then(|l| l.as_str()))
        .ok_or("package without a namespace or owner")?;
    let version = package
        .get("package_version")
        .ok_or("package without a package_version")?;
    let tag = version
        .pointer("/container_metadata/tag/name")
        .and_then(|t| t.as_str())
        .filter(|t| !t.is_empty());
    let Some(tag) = tag else {
        return Ok(None);
    };
    let digest = version
        .pointer("/container_metadata/tag/digest")
        .and_then(|d| d.as_str())
        .or_else(|| version.get("version").and_then(|v| v.as_str()))
        .filter(|d| is_digest(d))
        .ok_or("container version without a sha256 digest")?;
    let image = ImageRef::parse(&format!(
        "ghcr.io/{}/{}:{tag}",
        owner.to_lowercase(),
        name.to_lowercase()
    ))
    .map_err(|e| e.message)?;
    Ok(Some(Arrival::Pushed {
        image,
        digest: digest.to_string(),
    }))
}

/// Read a Docker Hub webhook: a push of `repository.repo_name:push_data.tag`.
/// Docker Hub sends no digest; the registry is asked for it. `Ok(None)` for a
/// push without a tag; `Err` (the reason) for a payload not in Docker Hub's form.
pub fn parse_docker_hub(payload: &serde_json::Value) -> Result<Option<ImageRef>, String> {
    let repo = payload
        .pointer("/repository/repo_name")
        .and_then(|r| r.as_str())
        .filter(|r| !r.is_empty())
        .ok_or("no repository.repo_name (is this a Docker Hub webhook?)")?;
    let push = payload
        .get("push_data")
        .filter(|p| p.is_object())
        .ok_or("no push_data object (is this a Docker Hub webhook?)")?;
    let Some(tag) = push
        .get("tag")
        .and_then(|t| t.as_str())
        .filter(|t| !t.is_empty())
    else {
        return Ok(None);
    };
    if !is_tag(tag) || repo.contains(['@', ':']) {
        return Err(format!(
            "push_data.tag {tag:?} or repository.repo_name {repo:?} is not a valid image tag or repository"
        ));
    }
    let image = ImageRef::parse(&format!("docker.io/{repo}:{tag}")).map_err(|e| e.message)?;
    Ok(Some(image))
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae";

    #[test]
    fn normalisation() {
        let cases = [
            ("nginx", "docker.io/library/nginx", None),
            (
                "docker.io/library/nginx:1.27",
                "docker.io/library/nginx",
                Some("1.27"),
            ),
            ("acme/bank:abc", "docker.io/acme/bank", Some("abc")),
            ("index.docker.io/acme/bank", "docker.io/acme/bank", None),
            ("docker.io/nginx:1", "docker.io/library/nginx", Some("1")),
            (
                "registry-1.docker.io/acme/bank",
                "docker.io/acme/bank",
                None,
            ),
            ("ghcr.io/acme/bank:v1", "ghcr.io/acme/bank", Some("v1")),
            ("localhost:5000/x:t", "localhost:5000/x", Some("t")),
            (
                "123456789012.dkr.ecr.eu-west-1.amazonaws.com/bank:deadbeef",
                "123456789012.dkr.ecr.eu-west-1.amazonaws.com/bank",
                Some("deadbeef"),
            ),
        ];
        for (input, name, tag) in cases {
            let r = ImageRef::parse(input).unwrap();
            assert_eq!(r.name(), name, "{input}");
            assert_eq!(r.tag.as_deref(), tag, "{input}");
        }
        let r = ImageRef::parse(&format!("host:5000/x@{D}")).unwrap();
        assert_eq!(r.registry, "host:5000");
        assert_eq!(r.digest.as_deref(), Some(D));
        assert_eq!(r.to_string(), format!("host:5000/x@{D}"));
    }

    #[test]
    fn refusals() {
        for bad in [
            "",
            "a b",
            "Upper/Case",
            "x@sha256:abc",
            "x:",
            "//x",
            "x:-dash",
            "x:a+b",
            "x:.dot",
        ] {
            assert!(ImageRef::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn ecr_registry_round_trip() {
        let host = ecr_registry("123456789012", "us-east-1");
        assert_eq!(host, "123456789012.dkr.ecr.us-east-1.amazonaws.com");
        assert_eq!(
            ecr_registry_parts(&host),
            Some(("123456789012", "us-east-1"))
        );
        assert_eq!(ecr_registry_parts("ghcr.io"), None);
        let r = ImageRef::parse(&format!("{host}/bank:t")).unwrap();
        assert_eq!(r.ecr_repository(), Some("bank"));
        assert_eq!(r.wait_key(), format!("{host}/bank:t"));
        assert_eq!(r.pinned(D), format!("{host}/bank@{D}"));
    }

    #[test]
    fn github_package_events() {
        let payload = serde_json::json!({
            "action": "published",
            "package": {"name": "Bank", "namespace": "Acme", "package_type": "CONTAINER",
                "package_version": {"version": D, "container_metadata": {"tag": {"name": "abc123", "digest": D}}}}
        });
        match parse_github_package(&payload).unwrap() {
            Some(Arrival::Pushed { image, digest }) => {
                assert_eq!(image.wait_key(), "ghcr.io/acme/bank:abc123");
                assert_eq!(digest, D);
            }
            other => panic!("{other:?}"),
        }
        let mut npm = payload.clone();
        npm["package"]["package_type"] = "npm".into();
        assert_eq!(parse_github_package(&npm).unwrap(), None);
        let mut untagged = payload.clone();
        untagged["package"]["package_version"]["container_metadata"]["tag"]["name"] = "".into();
        assert_eq!(parse_github_package(&untagged).unwrap(), None);
        assert!(parse_github_package(&serde_json::json!({"action": "published"})).is_err());
        let mut no_digest = payload;
        no_digest["package"]["package_version"] =
            serde_json::json!({"container_metadata": {"tag": {"name": "x"}}});
        assert!(parse_github_package(&no_digest).is_err());
    }

    #[test]
    fn docker_hub_webhooks() {
        let event: serde_json::Value =
            serde_json::from_str(include_str!("../../events/image-ready.dockerhub.json")).unwrap();
        let payload: serde_json::Value =
            serde_json::from_str(event["body"].as_str().unwrap()).unwrap();
        let image = parse_docker_hub(&payload).unwrap().unwrap();
        assert_eq!(image.name(), "docker.io/stepdeploy-samples/flask-banking");
        assert!(image.is_docker_hub());
        assert_eq!(image.digest, None);
        let official =
            serde_json::json!({"push_data": {"tag": "1.27"}, "repository": {"repo_name": "nginx"}});
        assert_eq!(
            parse_docker_hub(&official).unwrap().unwrap().wait_key(),
            "docker.io/library/nginx:1.27"
        );
        let untagged =
            serde_json::json!({"push_data": {"tag": ""}, "repository": {"repo_name": "a/b"}});
        assert_eq!(parse_docker_hub(&untagged).unwrap(), None);
        for bad in [
            serde_json::json!({}),
            serde_json::json!({"repository": {"repo_name": "a/b"}}),
            serde_json::json!({"push_data": {"tag": "x"}, "repository": {"repo_name": 7}}),
            serde_json::json!({"push_data": {"tag": "x y"}, "repository": {"repo_name": "a/b"}}),
            serde_json::json!({"push_data": {"tag": "x"}, "repository": {"repo_name": "Upper/Case"}}),
            // A tag that smuggles a digest in would pick what runs.
            serde_json::json!({"push_data": {"tag": format!("x@{D}")}, "repository": {"repo_name": "a/b"}}),
            serde_json::json!({"push_data": {"tag": "x"}, "repository": {"repo_name": format!("a/b@{D}")}}),
            serde_json::json!({"push_data": {"tag": "x"}, "repository": {"repo_name": "a/b:y"}}),
        ] {
            assert!(parse_docker_hub(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn ecr_events() {
        let text = include_str!("../../events/image-ready.ecr-push.json");
        let event: EcrImageActionEvent = serde_json::from_str(text).unwrap();
        match parse_ecr_event(&event).unwrap() {
            Some(Arrival::Pushed { image, digest }) => {
                assert_eq!(image.repository, "bank");
                assert!(digest.starts_with("sha256:"));
            }
            other => panic!("{other:?}"),
        }
        let mut failed = event.clone();
        failed.detail.result = "FAILURE".into();
        assert!(matches!(
            parse_ecr_event(&failed).unwrap(),
            Some(Arrival::Failed { .. })
        ));
        let mut untagged = event.clone();
        untagged.detail.image_tag = None;
        assert_eq!(parse_ecr_event(&untagged).unwrap(), None);
        let mut other = event;
        other.source = "aws.s3".into();
        assert!(parse_ecr_event(&other).is_err());
    }
}
