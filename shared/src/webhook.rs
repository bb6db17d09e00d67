//! GitHub webhooks: signature verification, parsing and routing. Pure: the
//! secret and the app specs come in as arguments.

use std::collections::BTreeMap;

use base64::Engine;
use hmac::{Hmac, Mac};
use serde::Deserialize;
use serde_json::{json, Value};
use sha2::Sha256;

use crate::deploy::{deployment_id, DeployRequest, Trigger};
use crate::spec::{AppSpec, Route};

/// GitHub never sends more than 25 MB; a deploy trigger never needs more than this.
pub const MAX_BODY: usize = 1024 * 1024;

/// The events stepdeploy acts on; everything else is acknowledged and ignored.
pub const HANDLED_EVENTS: [&str; 5] = ["push", "delete", "package", "registry_package", "ping"];

/// An HTTP answer: status and JSON body.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub status: u16,
    pub body: Value,
}

impl Reply {
    pub fn new(status: u16, body: Value) -> Reply {
        Reply { status, body }
    }
    pub fn error(status: u16, message: impl Into<String>) -> Reply {
        Reply::new(status, json!({ "error": message.into() }))
    }
    pub fn ignored(reason: impl Into<String>) -> Reply {
        Reply::new(200, json!({ "ignored": reason.into() }))
    }
}

/// A webhook request as received: headers with lower-case names, the raw body bytes.
#[derive(Debug, Clone, Default)]
pub struct RawRequest {
    pub headers: BTreeMap<String, String>,
    pub body: Vec<u8>,
}

impl RawRequest {
    /// Build from API Gateway's parts, decoding a base64 body.
    pub fn from_parts<'a>(
        headers: impl IntoIterator<Item = (&'a str, &'a str)>,
        body: Option<&str>,
        is_base64: bool,
    ) -> Result<RawRequest, Reply> {
        let headers = headers
            .into_iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), v.to_string()))
            .collect();
        let body = body.unwrap_or_default();
        let body = if is_base64 {
            base64::engine::general_purpose::STANDARD
                .decode(body.trim())
                .map_err(|_| Reply::error(400, "body is marked base64 but does not decode"))?
        } else {
            body.as_bytes().to_vec()
        };
        Ok(RawRequest { headers, body })
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }
}

/// The `sha256=<hex>` signature GitHub sends for `body` under `secret`.
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Whether `header` (`X-Hub-Signature-256`) is the signature of `body` under
/// `secret`, compared in constant time.
pub fn verify_signature(secret: &[u8], body: &[u8], header: Option<&str>) -> bool {
    let Some(hex_sig) = header.and_then(|h| h.trim().strip_prefix("sha256=")) else {
        return false;
    };
    let Ok(sig) = hex::decode(hex_sig) else {
        return false;
    };
    if sig.len() != 32 {
        return false;
    }
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(body);
    mac.verify_slice(&sig).is_ok()
}

/// Bodies over `MAX_BODY` are refused unread.
fn within_size(req: &RawRequest) -> Result<(), Reply> {
    if req.body.len() > MAX_BODY {
        return Err(Reply::error(413, format!("body is over {MAX_BODY} bytes")));
    }
    Ok(())
}

/// Checks that come before the secret is even read: size, event header.
pub fn precheck(req: &RawRequest) -> Result<&str, Reply> {
    within_size(req)?;
    match req.header("x-github-event") {
        Some(e) if !e.trim().is_empty() => Ok(e.trim()),
        _ => Err(Reply::error(
            400,
            "missing X-GitHub-Event header: this endpoint takes GitHub webhook deliveries",
        )),
    }
}

/// Whether any of `secrets` signed the request (two are valid during a rotation).
pub fn authenticate(req: &RawRequest, secrets: &[Vec<u8>]) -> Result<(), Reply> {
    let header = req.header("x-hub-signature-256");
    if secrets
        .iter()
        .any(|s| verify_signature(s, &req.body, header))
    {
        Ok(())
    } else {
        Err(Reply::error(
            401,
            "signature missing or wrong: set the webhook's secret to the deployer's and use content type application/json",
        ))
    }
}

/// Whether `given` is one of `secrets`, compared in constant time (over their
/// SHA-256 hashes, so neither content nor length leaks through timing).
pub fn token_matches(given: &str, secrets: &[Vec<u8>]) -> bool {
    use sha2::Digest;
    let g = Sha256::digest(given.as_bytes());
    secrets.iter().fold(false, |found, s| {
        let h = Sha256::digest(s);
        let diff = g
            .iter()
            .zip(h.iter())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b));
        found | (diff == 0 && !s.is_empty())
    })
}

/// A Docker Hub hook request: Docker Hub signs nothing, so the request is
/// accepted only on the secret token at the end of its URL path.
pub fn authenticate_docker_hub(token: Option<&str>, secrets: &[Vec<u8>]) -> Result<(), Reply> {
    match token {
        Some(t) if token_matches(t, secrets) => Ok(()),
        _ => Err(Reply::error(
            401,
            "unknown hook token: the Docker Hub webhook URL must end in /dockerhub/<token>, the token being the value of the deployer's DockerHubHookTokenArn secret",
        )),
    }
}

/// The image a Docker Hub hook announces; `Ok(None)` for a push without a tag.
pub fn docker_hub_image(req: &RawRequest) -> Result<Option<crate::image::ImageRef>, Reply> {
    within_size(req)?;
    crate::image::parse_docker_hub(&payload(req)?).map_err(|why| Reply::error(400, why))
}

fn percent_decode(text: &str) -> Option<Vec<u8>> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes.get(i + 1..i + 3)?;
                out.push(u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    Some(out)
}

/// The JSON payload, from either of GitHub's content types.
pub fn payload(req: &RawRequest) -> Result<Value, Reply> {
    let form = req
        .header("content-type")
        .is_some_and(|c| c.starts_with("application/x-www-form-urlencoded"));
    let json_bytes = if form {
        let text = std::str::from_utf8(&req.body)
            .map_err(|_| Reply::error(400, "form body is not UTF-8"))?;
        let field = text
            .split('&')
            .find_map(|kv| kv.strip_prefix("payload="))
            .ok_or_else(|| Reply::error(400, "form body has no payload= field"))?;
        percent_decode(field)
            .ok_or_else(|| Reply::error(400, "payload= field is not URL-encoded"))?
    } else {
        req.body.clone()
    };
    let value: Value = serde_json::from_slice(&json_bytes)
        .map_err(|e| Reply::error(400, format!("body is not JSON: {e}")))?;
    if !value.is_object() {
        return Err(Reply::error(400, "body is JSON but not an object"));
    }
    Ok(value)
}

#[derive(Debug, Deserialize)]
struct Repository {
    full_name: String,
    /// An integer (epoch seconds) in push events, a string elsewhere.
    #[serde(default)]
    pushed_at: Option<Value>,
}

#[derive(Debug, Deserialize)]
struct Named {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    login: Option<String>,
}

#[derive(Debug, Deserialize)]
struct PushPayload {
    #[serde(rename = "ref")]
    git_ref: String,
    after: String,
    #[serde(default)]
    deleted: bool,
    repository: Repository,
    #[serde(default)]
    pusher: Option<Named>,
    #[serde(default)]
    sender: Option<Named>,
}

#[derive(Debug, Deserialize)]
struct DeletePayload {
    #[serde(rename = "ref")]
    git_ref: String,
    ref_type: String,
    repository: Repository,
}

#[derive(Debug, Deserialize)]
struct PingPayload {
    #[serde(default)]
    hook_id: Option<u64>,
    #[serde(default)]
    zen: Option<String>,
}

/// What to do with an authenticated delivery.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Answer at once (ping, ignored, bad payload).
    Reply(Reply),
    /// Start a deployment.
    Deploy {
        deployment_id: String,
        request: DeployRequest,
    },
    /// Tear a preview environment down.
    Teardown { app: String, environment: String },
    /// A container image was published to GHCR: hand it to the deployments waiting for it.
    ImageArrived(crate::image::Arrival),
}

fn bad_payload(event: &str, e: serde_json::Error) -> Decision {
    Decision::Reply(Reply::error(
        400,
        format!("{event} payload is not in GitHub's form: {e}"),
    ))
}

fn find_app<'a>(apps: &'a [AppSpec], repository: &str) -> Option<&'a AppSpec> {
    apps.iter()
        .find(|a| a.repository.eq_ignore_ascii_case(repository))
}

/// Route an authenticated delivery. `now` is used when the payload carries no push time.
pub fn decide(event: &str, delivery: &str, payload: Value, apps: &[AppSpec], now: u64) -> Decision {
    match event {
        "ping" => {
            let ping: PingPayload = match serde_json::from_value(payload) {
                Ok(p) => p,
                Err(e) => return bad_payload(event, e),
            };
            Decision::Reply(Reply::new(
                200,
                json!({
                    "pong": true,
                    "hook_id": ping.hook_id,
                    "zen": ping.zen,
                    "acts_on": HANDLED_EVENTS,
                }),
            ))
        }
        "push" => {
            let push: PushPayload = match serde_json::from_value(payload) {
                Ok(p) => p,
                Err(e) => return bad_payload(event, e),
            };
            decide_push(push, delivery, apps, now)
        }
        "delete" => {
            let del: DeletePayload = match serde_json::from_value(payload) {
                Ok(p) => p,
                Err(e) => return bad_payload(event, e),
            };
            let Some(app) = find_app(apps, &del.repository.full_name) else {
                return Decision::Reply(Reply::ignored("repository not configured"));
            };
            if del.ref_type != "branch" {
                return Decision::Reply(Reply::ignored(format!(
                    "{} deleted, not a branch",
                    del.ref_type
                )));
            }
            match app.route(&del.git_ref) {
                Some(Route {
                    environment,
                    preview: true,
                }) => Decision::Teardown {
                    app: app.name.clone(),
                    environment,
                },
                Some(Route { environment, .. }) => Decision::Reply(Reply::ignored(format!(
                    "branch {} feeds {environment}, which is not a preview: tear it down by hand",
                    del.git_ref
                ))),
                None => Decision::Reply(Reply::ignored(format!(
                    "branch {} has no environment",
                    del.git_ref
                ))),
            }
        }
        "package" | "registry_package" => {
            let repo = payload
                .pointer("/repository/full_name")
                .and_then(Value::as_str)
                .unwrap_or_default();
            if find_app(apps, repo).is_none() {
                return Decision::Reply(Reply::ignored("repository not configured"));
            }
            match crate::image::parse_github_package(&payload) {
                Ok(Some(arrival)) => Decision::ImageArrived(arrival),
                Ok(None) => Decision::Reply(Reply::ignored(
                    "not a tagged container image being published",
                )),
                Err(why) => Decision::Reply(Reply::error(
                    400,
                    format!("{event} payload is not in GitHub's form: {why}"),
                )),
            }
        }
        other => Decision::Reply(Reply::ignored(format!(
            "event {other} is not one stepdeploy acts on"
        ))),
    }
}

fn decide_push(push: PushPayload, delivery: &str, apps: &[AppSpec], now: u64) -> Decision {
    let Some(app) = find_app(apps, &push.repository.full_name) else {
        return Decision::Reply(Reply::ignored("repository not configured"));
    };
    if push.deleted {
        return Decision::Reply(Reply::ignored(format!("{} was deleted", push.git_ref)));
    }
    let Some(branch) = push.git_ref.strip_prefix("refs/heads/") else {
        return Decision::Reply(Reply::ignored(format!("{} is not a branch", push.git_ref)));
    };
    if crate::deploy::check_commit(&push.after).is_err() {
        return Decision::Reply(Reply::error(
            400,
            "push payload's after is not a 40-hex commit sha",
        ));
    }
    let Some(route) = app.route(branch) else {
        return Decision::Reply(Reply::ignored(format!(
            "branch {branch} maps to no environment"
        )));
    };
    let pushed_at = push
        .repository
        .pushed_at
        .as_ref()
        .and_then(Value::as_u64)
        .unwrap_or(now);
    let pusher = push
        .pusher
        .and_then(|p| p.name)
        .or_else(|| push.sender.and_then(|s| s.login));
    let id = deployment_id(
        &app.name,
        &route.environment,
        &push.after,
        delivery,
        pushed_at,
    );
    Decision::Deploy {
        deployment_id: id,
        request: DeployRequest {
            app: app.name.clone(),
            environment: route.environment,
            commit: push.after,
            branch: Some(branch.to_string()),
            image: None,
            trigger: Some(Trigger {
                kind: "push".into(),
                delivery: Some(delivery.to_string()),
                repository: Some(push.repository.full_name),
                pusher,
            }),
            dry_run: false,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn githubs_documented_vector() {
        let secret = b"It's a Secret to Everybody";
        let body = b"Hello, World!";
        let want = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
        assert_eq!(sign(secret, body), want);
        assert!(verify_signature(secret, body, Some(want)));
    }

    #[test]
    fn signature_refusals() {
        let secret = b"s3cret";
        let body = "{\"zen\":\"Non-blocking is better than blocking. ✓\"}".as_bytes();
        let good = sign(secret, body);
        assert!(verify_signature(secret, body, Some(&good)));
        assert!(verify_signature(secret, b"", Some(&sign(secret, b""))));
        let sha1 = format!("sha1={}", &good[7..47]);
        for bad in [
            None,
            Some(""),
            Some("sha256="),
            Some("sha256=zz"),
            Some(&good[..good.len() - 2]),
            Some(&sha1),
            Some("sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"),
        ] {
            assert!(!verify_signature(secret, body, bad), "{bad:?}");
        }
        assert!(!verify_signature(b"other", body, Some(&good)));
    }

    #[test]
    fn header_names_are_case_insensitive_and_base64_decoded() {
        let body = base64::engine::general_purpose::STANDARD.encode(b"{}");
        let req = RawRequest::from_parts([("X-GitHub-Event", "ping")], Some(&body), true).unwrap();
        assert_eq!(req.header("x-github-event"), Some("ping"));
        assert_eq!(req.body, b"{}");
        assert!(RawRequest::from_parts([], Some("%%%"), true).is_err());
    }

    #[test]
    fn docker_hub_hook_tokens() {
        let secrets = vec![b"current-token".to_vec(), b"previous-token".to_vec()];
        assert!(authenticate_docker_hub(Some("current-token"), &secrets).is_ok());
        assert!(authenticate_docker_hub(Some("previous-token"), &secrets).is_ok());
        for bad in [Some("current-token\0"), Some("current"), Some(""), None] {
            assert_eq!(
                authenticate_docker_hub(bad, &secrets).unwrap_err().status,
                401,
                "{bad:?}"
            );
        }
        assert!(!token_matches("", &[Vec::new()]));
    }

    #[test]
    fn docker_hub_bodies() {
        let req = |body: &str| RawRequest {
            body: body.as_bytes().to_vec(),
            ..RawRequest::default()
        };
        let ok = req(r#"{"push_data": {"tag": "abc"}, "repository": {"repo_name": "acme/bank"}}"#);
        assert_eq!(
            docker_hub_image(&ok).unwrap().unwrap().wait_key(),
            "docker.io/acme/bank:abc"
        );
        let not_json = docker_hub_image(&req("{\"push_data\":")).unwrap_err();
        assert_eq!(not_json.status, 400);
        assert!(not_json.body["error"]
            .as_str()
            .unwrap()
            .contains("not JSON"));
        let github = docker_hub_image(&req(r#"{"ref": "refs/heads/main"}"#)).unwrap_err();
        assert!(github.body["error"]
            .as_str()
            .unwrap()
            .contains("Docker Hub webhook"));
    }

    #[test]
    fn form_encoded_payloads() {
        let req = RawRequest {
            headers: [(
                "content-type".to_string(),
                "application/x-www-form-urlencoded".to_string(),
            )]
            .into(),
            body: b"payload=%7B%22zen%22%3A%22a+b%22%7D".to_vec(),
        };
        assert_eq!(payload(&req).unwrap(), json!({"zen": "a b"}));
        let req = RawRequest {
            body: b"nope=1".to_vec(),
            ..req
        };
        assert_eq!(payload(&req).unwrap_err().status, 400);
    }

    fn apps() -> Vec<AppSpec> {
        vec![AppSpec::from_json(
            r#"{"name":"bank","repository":"acme/flask-banking","previews":{"enabled":true}}"#,
        )
        .unwrap()]
    }

    fn push(r: &str, deleted: bool) -> Value {
        json!({
            "ref": r, "after": "0123456789abcdef0123456789abcdef01234567", "deleted": deleted,
            "repository": {"full_name": "acme/flask-banking", "pushed_at": 1795624484u64},
            "pusher": {"name": "octocat"}
        })
    }

    #[test]
    fn push_routing() {
        match decide("push", "d1", push("refs/heads/main", false), &apps(), 0) {
            Decision::Deploy {
                deployment_id,
                request,
            } => {
                assert!(deployment_id.starts_with("20261125T163444Z-bank-production-0123456-"));
                assert_eq!(request.environment, "production");
                assert_eq!(request.trigger.unwrap().pusher.as_deref(), Some("octocat"));
            }
            other => panic!("{other:?}"),
        }
        match decide(
            "push",
            "d1",
            push("refs/heads/feature/x", false),
            &apps(),
            0,
        ) {
            Decision::Deploy { request, .. } => assert_eq!(request.environment, "pr-feature-x"),
            other => panic!("{other:?}"),
        }
        for (payload, why) in [
            (push("refs/tags/v1", false), "is not a branch"),
            (push("refs/heads/main", true), "was deleted"),
        ] {
            match decide("push", "d1", payload, &apps(), 0) {
                Decision::Reply(r) => {
                    assert_eq!(r.status, 200);
                    assert!(r.body["ignored"].as_str().unwrap().contains(why));
                }
                other => panic!("{other:?}"),
            }
        }
        let mut other_repo = push("refs/heads/main", false);
        other_repo["repository"]["full_name"] = json!("evil/repo");
        assert_eq!(
            decide("push", "d1", other_repo, &apps(), 0),
            Decision::Reply(Reply::ignored("repository not configured"))
        );
        match decide("push", "d1", json!({"ref": 1}), &apps(), 0) {
            Decision::Reply(r) => assert_eq!(r.status, 400),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn deletes_tear_down_previews_only() {
        let del = |r: &str| json!({"ref": r, "ref_type": "branch", "repository": {"full_name": "acme/flask-banking"}});
        assert_eq!(
            decide("delete", "d", del("feature/x"), &apps(), 0),
            Decision::Teardown {
                app: "bank".into(),
                environment: "pr-feature-x".into()
            }
        );
        match decide("delete", "d", del("main"), &apps(), 0) {
            Decision::Reply(r) => assert!(r.body["ignored"]
                .as_str()
                .unwrap()
                .contains("not a preview")),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn other_events_are_ignored() {
        match decide("issues", "d", json!({}), &apps(), 0) {
            Decision::Reply(r) => assert_eq!(r.status, 200),
            other => panic!("{other:?}"),
        }
    }

    proptest! {
        #[test]
        fn any_request_is_answered_without_panic_or_5xx(
            headers in proptest::collection::vec(("[A-Za-z-]{1,20}", "\\PC{0,40}"), 0..6),
            body in proptest::collection::vec(any::<u8>(), 0..400),
            event in prop_oneof![Just("push".to_string()), Just("ping".to_string()), Just("delete".to_string()), "[a-z_]{0,12}"],
            b64 in any::<bool>(),
        ) {
            let text = String::from_utf8_lossy(&body).to_string();
            let mut hs: Vec<(String, String)> = headers;
            hs.push(("X-GitHub-Event".into(), event.clone()));
            let req = RawRequest::from_parts(hs.iter().map(|(k, v)| (k.as_str(), v.as_str())), Some(&text), b64);
            let req = match req { Ok(r) => r, Err(r) => { prop_assert!(r.status < 500); return Ok(()); } };
            if let Err(r) = precheck(&req) { prop_assert!(r.status < 500); }
            if let Err(r) = authenticate(&req, &[b"k".to_vec()]) { prop_assert_eq!(r.status, 401); }
            match payload(&req) {
                Err(r) => prop_assert_eq!(r.status, 400),
                Ok(p) => if let Decision::Reply(r) = decide(&event, "d", p, &apps(), 0) { prop_assert!(r.status < 500); },
            }
        }
    }
}
