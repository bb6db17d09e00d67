//! What a deployment is: its id, the request that starts it, and the
//! document the deploy state machine carries from step to step.

use serde::{Deserialize, Serialize};

use crate::error::StepError;
use crate::image::{ecr_registry, ImageRef};
use crate::naming::{self, short_hash};
use crate::spec::AppSpec;

/// Seconds since the epoch as `YYYYMMDDTHHMMSSZ`.
pub fn compact_utc(epoch_seconds: u64) -> String {
    let (y, mo, d, h, mi, s) = civil(epoch_seconds);
    format!("{y:04}{mo:02}{d:02}T{h:02}{mi:02}{s:02}Z")
}

/// Seconds since the epoch as RFC 3339 (`2026-11-25T16:34:44Z`).
pub fn rfc3339(epoch_seconds: u64) -> String {
    let (y, mo, d, h, mi, s) = civil(epoch_seconds);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z")
}

fn civil(epoch_seconds: u64) -> (i64, u32, u32, u64, u64, u64) {
    let days = (epoch_seconds / 86_400) as i64;
    let rem = epoch_seconds % 86_400;
    // Howard Hinnant's days-to-civil.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d, rem / 3600, rem % 3600 / 60, rem % 60)
}

pub fn now_epoch() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The deployment id: `20261125T163444Z-bank-production-1a2b3c4-9f8e7d`.
/// It is the execution's name, so it is at most 80 characters of
/// `[A-Za-z0-9-_]`; it starts with the push time, so ids sort by time; and the
/// delivery hash keeps two deliveries of one commit apart.
pub fn deployment_id(
    app: &str,
    environment: &str,
    commit: &str,
    delivery: &str,
    pushed_at: u64,
) -> String {
    let clean = |s: &str, max: usize| -> String {
        s.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' {
                    c
                } else {
                    '-'
                }
            })
            .take(max)
            .collect()
    };
    let id = format!(
        "{}-{}-{}-{}-{}",
        compact_utc(pushed_at),
        clean(app, naming::MAX_APP),
        clean(environment, naming::MAX_ENVIRONMENT),
        clean(commit, 7),
        short_hash(delivery, 6)
    );
    id.chars().take(80).collect()
}

/// Whether `text` may name a Step Functions execution.
pub fn is_execution_name(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 80
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// What started a deployment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Trigger {
    /// `push`, or `manual` for an execution started by hand.
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pusher: Option<String>,
}

/// The deploy state machine's input: what the webhook sends, and what a
/// person types in the console (`events/deploy.manual.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeployRequest {
    pub app: String,
    pub environment: String,
    /// The full 40-hex commit sha.
    pub commit: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    /// Deploy this image instead of waiting for the spec's tag of the commit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger: Option<Trigger>,
}

pub fn check_commit(commit: &str) -> Result<(), StepError> {
    if commit.len() == 40
        && commit
            .chars()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
    {
        Ok(())
    } else {
        Err(StepError::invalid_input(format!(
            "commit {commit:?} must be a full 40-character lowercase hex sha (git rev-parse HEAD)"
        )))
    }
}

/// A deployment, resolved and validated: every later step reads it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deployment {
    pub id: String,
    pub execution_arn: String,
    pub app: String,
    pub environment: String,
    pub preview: bool,
    pub commit: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    /// The image awaited, by tag (or already pinned by digest).
    pub image: ImageRef,
    pub image_timeout_seconds: u64,
    /// Seconds between two checks of a resource that is still converging.
    pub poll_seconds: u64,
    pub trigger: Trigger,
    pub started_at: String,
}

/// Account and region from an execution (or any) ARN.
pub fn arn_account_region(arn: &str) -> Option<(&str, &str)> {
    let mut parts = arn.split(':');
    if parts.next()? != "arn" {
        return None;
    }
    let _partition = parts.next()?;
    let _service = parts.next()?;
    let region = parts.next()?;
    let account = parts.next()?;
    (!region.is_empty() && !account.is_empty()).then_some((account, region))
}

/// Resolve a request against its app spec: the first thing a deployment does.
pub fn resolve(
    request: &DeployRequest,
    spec: &AppSpec,
    id: &str,
    execution_arn: &str,
    poll_seconds: u64,
    now: u64,
) -> Result<Deployment, StepError> {
    check_commit(&request.commit)?;
    if request.app != spec.name {
        return Err(StepError::invalid_input(format!(
            "request is for app {:?} but the spec is {:?}",
            request.app, spec.name
        )));
    }
    let route = spec
        .knows_environment(&request.environment)
        .ok_or_else(|| {
            let known: Vec<_> = spec.environments.iter().map(|e| e.name.as_str()).collect();
            StepError::invalid_input(format!(
                "app {:?} has no environment {:?}; its environments are {:?}{}",
                spec.name,
                request.environment,
                known,
                if spec.previews.enabled {
                    " and pr-* previews"
                } else {
                    ""
                }
            ))
        })?;
    let (account, region) = arn_account_region(execution_arn).ok_or_else(|| {
        StepError::invalid_input(format!("execution ARN {execution_arn:?} is not an ARN"))
    })?;
    let image = match &request.image {
        Some(text) => ImageRef::parse(text)?,
        None => {
            let tag = spec.image_tag(&request.commit);
            let repo = spec.image.repository.as_deref().unwrap_or(&spec.name);
            if repo.contains('/') {
                let mut r = ImageRef::parse(repo)?;
                r.tag = Some(tag);
                r
            } else {
                ImageRef::parse(&format!("{}/{repo}:{tag}", ecr_registry(account, region)))?
            }
        }
    };
    let trigger = request.trigger.clone().unwrap_or(Trigger {
        kind: "manual".into(),
        ..Trigger::default()
    });
    Ok(Deployment {
        id: id.into(),
        execution_arn: execution_arn.into(),
        app: spec.name.clone(),
        environment: route.environment,
        preview: route.preview,
        commit: request.commit.clone(),
        branch: request.branch.clone(),
        image,
        image_timeout_seconds: spec.image.wait_timeout_seconds,
        poll_seconds,
        trigger,
        started_at: rfc3339(now),
    })
}

/// The image a deployment runs, pinned by digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResolvedImage {
    /// `registry/repository@sha256:…`.
    pub uri: String,
    pub digest: String,
    /// Whether the deployment had to wait for it.
    pub waited: bool,
}

/// The environment's three security groups.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct SecurityGroups {
    pub lb: String,
    pub tasks: String,
    pub db: String,
}

/// What `Provision Network` reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct NetworkOutput {
    pub ready: bool,
    pub vpc_id: String,
    pub cidr: String,
    #[serde(default)]
    pub public_subnets: Vec<String>,
    #[serde(default)]
    pub private_subnets: Vec<String>,
    #[serde(default)]
    pub security_groups: SecurityGroups,
    #[serde(default)]
    pub nat_gateways: Vec<String>,
    /// What this run created or changed (empty on a converged re-run).
    #[serde(default)]
    pub created: Vec<String>,
    /// How many mutating AWS calls this run made.
    #[serde(default)]
    pub mutations: u32,
}

/// What `Provision Database` reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct DatabaseOutput {
    pub ready: bool,
    pub identifier: String,
    pub status: String,
    #[serde(default)]
    pub endpoint: Option<String>,
    #[serde(default)]
    pub port: i32,
    pub name: String,
    /// The Secrets Manager secret RDS keeps the master credentials in.
    #[serde(default)]
    pub secret_arn: Option<String>,
    #[serde(default)]
    pub created: Vec<String>,
    #[serde(default)]
    pub mutations: u32,
}

/// What `Provision Load Balancer` reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct LoadBalancerOutput {
    pub ready: bool,
    pub arn: String,
    pub dns_name: String,
    /// `http://<dns name>`: the deployment's output.
    pub url: String,
    pub target_group_arn: String,
    pub listener_arn: String,
    #[serde(default)]
    pub created: Vec<String>,
    #[serde(default)]
    pub mutations: u32,
}

/// What `Provision Service` reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ServiceOutput {
    pub ready: bool,
    pub cluster: String,
    pub service: String,
    pub task_definition: String,
    pub desired: i32,
    pub running: i32,
    /// The primary deployment's rollout state (`IN_PROGRESS`, `COMPLETED`, `FAILED`).
    pub rollout: String,
    #[serde(default)]
    pub created: Vec<String>,
    #[serde(default)]
    pub mutations: u32,
}

/// The error a failed state hands to `Record Failure` (Step Functions' Catch shape).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaughtError {
    #[serde(rename = "Error")]
    pub error: String,
    #[serde(rename = "Cause", default)]
    pub cause: Option<String>,
}

/// The document the deploy state machine carries from `Begin Deployment` on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeployState {
    pub deployment: Deployment,
    pub spec: AppSpec,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<ResolvedImage>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<NetworkOutput>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database: Option<DatabaseOutput>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load_balancer: Option<LoadBalancerOutput>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<ServiceOutput>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<CaughtError>,
}

/// The error name a failed deployment ends with. Names starting with
/// `States.` are reserved for Step Functions' own, so a timeout of the image
/// wait becomes `ImageTimedOut` and other `States.X` become `X`.
pub fn failure_name(state: &DeployState, caught: &CaughtError) -> String {
    match caught.error.strip_prefix("States.") {
        Some("Timeout") if state.image.is_none() => "ImageTimedOut".into(),
        Some(rest) => rest.into(),
        None => caught.error.clone(),
    }
}

/// A failure as a person reads it: what failed, why, and what to do.
pub fn failure_message(state: &DeployState, caught: &CaughtError) -> String {
    let d = &state.deployment;
    // A Lambda error's Cause is `{"errorType","errorMessage"}` JSON; unwrap it.
    let cause = caught
        .cause
        .as_deref()
        .map(|c| {
            serde_json::from_str::<serde_json::Value>(c)
                .ok()
                .and_then(|v| {
                    v.get("errorMessage")
                        .and_then(|m| m.as_str())
                        .map(String::from)
                })
                .unwrap_or_else(|| c.to_string())
        })
        .unwrap_or_default();
    match caught.error.as_str() {
        "States.Timeout" if state.image.is_none() => format!(
            "image {} did not arrive within {} s (waiting since {}); push it (tag {}) to {} or start the deployment again once it exists",
            d.image,
            d.image_timeout_seconds,
            d.started_at,
            d.image.tag.as_deref().unwrap_or("latest"),
            match d.image.ecr_repository() {
                Some(repo) => format!("the ECR repository {repo:?}"),
                None if d.image.is_docker_hub() => format!(
                    "the Docker Hub repository {:?} (its webhook must post to the deployer's DockerHubHookUrl followed by the token in DockerHubHookTokenArn)",
                    d.image.repository
                ),
                None => format!("the registry {}", d.image.registry),
            }
        ),
        "ImageFailed" => format!("the image {} could not be used: {cause}", d.image),
        error => {
            let what = if cause.is_empty() { error.to_string() } else { format!("{error}: {cause}") };
            let what = what.trim_end_matches('.');
            format!(
                "deployment {} of {}/{} failed: {what}. Fix the cause and push again, or start the execution again with the same input; every step is safe to re-run",
                d.id, d.app, d.environment
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA: &str = "0123456789abcdef0123456789abcdef01234567";
    const ARN: &str = "arn:aws:states:us-east-1:123456789012:execution:stepdeploy-deploy:x";

    #[test]
    fn time_formatting() {
        assert_eq!(compact_utc(0), "19700101T000000Z");
        assert_eq!(rfc3339(1_795_624_484), "2026-11-25T16:34:44Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
    }

    #[test]
    fn deployment_ids_are_execution_names_and_sort_by_time() {
        let a = deployment_id("bank", "production", SHA, "delivery-1", 1_795_624_484);
        assert_eq!(
            a,
            format!(
                "20261125T163444Z-bank-production-0123456-{}",
                short_hash("delivery-1", 6)
            )
        );
        assert!(is_execution_name(&a));
        let b = deployment_id("bank", "production", SHA, "delivery-1", 1_795_624_485);
        assert!(a < b);
        let c = deployment_id("bank", "production", SHA, "delivery-2", 1_795_624_484);
        assert_ne!(a, c);
        let long = deployment_id(
            "abcdefghijkl",
            "pr-abcdefghijklm",
            "zz/..",
            "d",
            u64::MAX / 4,
        );
        assert!(is_execution_name(&long), "{long}");
    }

    #[test]
    fn resolve_fills_the_ecr_image() {
        let spec = AppSpec::from_json(r#"{"name":"bank","repository":"acme/bank"}"#).unwrap();
        let req = DeployRequest {
            app: "bank".into(),
            environment: "production".into(),
            commit: SHA.into(),
            branch: None,
            image: None,
            trigger: None,
        };
        let d = resolve(&req, &spec, "id1", ARN, 5, 0).unwrap();
        assert_eq!(
            d.image.to_string(),
            format!("123456789012.dkr.ecr.us-east-1.amazonaws.com/bank:{SHA}")
        );
        assert_eq!(d.trigger.kind, "manual");
        assert!(!d.preview);

        let bad = DeployRequest {
            environment: "staging".into(),
            ..req.clone()
        };
        let e = resolve(&bad, &spec, "id1", ARN, 5, 0).unwrap_err();
        assert!(
            e.message.contains("no environment \"staging\""),
            "{}",
            e.message
        );
        let bad = DeployRequest {
            commit: "abc".into(),
            ..req
        };
        assert!(resolve(&bad, &spec, "id1", ARN, 5, 0)
            .unwrap_err()
            .message
            .contains("40-character"));
    }

    #[test]
    fn failure_names_never_claim_the_states_prefix() {
        let spec = AppSpec::from_json(r#"{"name":"bank","repository":"acme/bank"}"#).unwrap();
        let req = DeployRequest {
            app: "bank".into(),
            environment: "production".into(),
            commit: SHA.into(),
            branch: None,
            image: None,
            trigger: None,
        };
        let state = DeployState {
            deployment: resolve(&req, &spec, "id1", ARN, 5, 0).unwrap(),
            spec,
            image: None,
            network: None,
            database: None,
            load_balancer: None,
            service: None,
            error: None,
        };
        let caught = |e: &str| CaughtError {
            error: e.into(),
            cause: Some("{\"errorType\":\"Fatal\",\"errorMessage\":\"boom\"}".into()),
        };
        assert_eq!(
            failure_name(&state, &caught("States.Timeout")),
            "ImageTimedOut"
        );
        assert_eq!(
            failure_name(&state, &caught("States.TaskFailed")),
            "TaskFailed"
        );
        assert_eq!(failure_name(&state, &caught("Fatal")), "Fatal");
        let msg = failure_message(&state, &caught("States.Timeout"));
        assert!(
            msg.contains(&format!("bank:{SHA} did not arrive within 1800 s")),
            "{msg}"
        );
        assert!(msg.contains("ECR repository \"bank\""), "{msg}");
        let msg = failure_message(&state, &caught("Fatal"));
        assert!(msg.contains("failed: Fatal: boom"), "{msg}");
        let mut hub = state.clone();
        hub.deployment.image = ImageRef::parse(&format!("acme/bank:{SHA}")).unwrap();
        let msg = failure_message(&hub, &caught("States.Timeout"));
        assert!(
            msg.contains("Docker Hub repository \"acme/bank\"") && msg.contains("DockerHubHookUrl"),
            "{msg}"
        );
    }

    #[test]
    fn requests_refuse_unknown_fields() {
        let e = serde_json::from_str::<DeployRequest>(
            r#"{"app":"bank","environment":"production","commit":"x","comit":"y"}"#,
        )
        .unwrap_err();
        assert!(e.to_string().contains("unknown field `comit`"));
    }

    #[test]
    fn manual_sample_event_is_a_valid_request() {
        let text = include_str!("../../events/deploy.manual.json");
        let req: DeployRequest = serde_json::from_str(text).unwrap();
        check_commit(&req.commit).unwrap();
    }
}
