//! The request that starts a deployment (webhook or console), and the
//! deployment it resolves to against the app's spec.

use serde::{Deserialize, Serialize};

use super::{arn_account_region, rfc3339};
use crate::error::StepError;
use crate::image::{ecr_registry, ImageRef};
use crate::lease::{Claimant, Kind};
use crate::spec::AppSpec;

/// The trigger of the redeployment that follows a rotation of the
/// database's managed secret.
pub const SECRET_ROTATION: &str = "secret-rotation";

/// What started a deployment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Trigger {
    /// `push`, `manual` for an execution started by hand, or
    /// `secret-rotation` when RDS rotated the database's managed secret.
    pub kind: String,
    /// The GitHub delivery id, or the EventBridge event id, that started it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pusher: Option<String>,
    /// The pull request whose head branch this deploys (a `pull_request`
    /// event): its preview's comment goes there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pull_request: Option<u64>,
}

/// The deploy state machine's input: what the webhook sends, and what a
/// person types in the console (`events/deploy.manual.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct DeployRequest {
    /// Empty in a push from a repository whose `.stepdeploy.toml` names
    /// the app and routes the branch (`Begin Deployment` fills both in).
    #[serde(default)]
    pub app: String,
    #[serde(default)]
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
    /// Plan only: report what the deployment would change, change nothing.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub dry_run: bool,
    /// Replace the running tasks even if nothing else changes, and why (a
    /// person reads it in the plan and the execution's output): the service
    /// gets one forced new deployment, so new tasks read the secrets again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart: Option<String>,
    /// The GitHub repository (`owner/name`) whose `.stepdeploy.toml` is the
    /// app's spec, for a run started by hand of an app registered nowhere
    /// else (a push names its repository in `trigger`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository: Option<String>,
    /// Set by the state machine's `Read Spec`: the repository's
    /// `.stepdeploy.toml` at the commit (a [`super::RepositorySpec`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository_spec: Option<serde_json::Value>,
}

impl DeployRequest {
    /// The branch a preview deployment claims its preview for.
    pub fn preview_branch(&self) -> Option<&str> {
        self.branch
            .as_deref()
            .filter(|_| crate::teardown::is_preview(&self.environment))
    }
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
    /// A dry run: every step plans and records, none changes AWS. Always
    /// present, so the state machine's `Choice` can read it.
    #[serde(default)]
    pub dry_run: bool,
    /// Why the running tasks are replaced even if nothing else changes
    /// (the request's `restart`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart: Option<String>,
    /// Its place in the environment's push order (see [`crate::lease`]),
    /// given by `Begin Deployment`; absent on a dry run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
}

/// The deployment as a claimant of its environment's lease (`None` for a
/// dry run, which never takes it, or a state from before sequence numbers).
pub fn claimant(d: &Deployment) -> Option<Claimant> {
    Some(Claimant {
        id: d.id.clone(),
        execution_arn: d.execution_arn.clone(),
        seq: d.seq.filter(|_| !d.dry_run)?,
        kind: Kind::Deploy,
    })
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
    if request
        .restart
        .as_deref()
        .is_some_and(|why| why.trim().is_empty())
    {
        return Err(StepError::invalid_input(
            "restart must say why the running tasks are replaced (e.g. \"the database's managed secret was rotated\"), or be left out",
        ));
    }
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
        dry_run: request.dry_run,
        restart: request.restart.clone(),
        seq: None,
    })
}
