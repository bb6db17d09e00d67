//! The document the deploy state machine carries, each step's section of
//! it, and how a failure reads.

use serde::{Deserialize, Serialize};

use super::Deployment;
use crate::plan::{Change, PlanItem, StepReport};
use crate::spec::AppSpec;

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
    /// What the step changed (or, in a dry run, would change), over all its polls.
    #[serde(flatten)]
    pub report: StepReport,
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
    /// What the step changed (or, in a dry run, would change), over all its polls.
    #[serde(flatten)]
    pub report: StepReport,
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
    /// What the step changed (or, in a dry run, would change), over all its polls.
    #[serde(flatten)]
    pub report: StepReport,
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
    /// A poll of this deployment started a rollout of the service (created
    /// it, updated it, or forced a new deployment): its tasks are being
    /// replaced, so a `restart` is done and never forced again.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub started_rollout: bool,
    /// What the step changed (or, in a dry run, would change), over all its polls.
    #[serde(flatten)]
    pub report: StepReport,
}

/// The error a failed state hands to `Record Failure` (Step Functions' Catch shape).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaughtError {
    #[serde(rename = "Error")]
    pub error: String,
    #[serde(rename = "Cause", default)]
    pub cause: Option<String>,
}

impl CaughtError {
    /// The cause as a person reads it: a Lambda error's Cause is
    /// `{"errorType","errorMessage"}` JSON, unwrapped here.
    pub fn message(&self) -> String {
        self.cause
            .as_deref()
            .map(|c| {
                serde_json::from_str::<serde_json::Value>(c)
                    .ok()
                    .and_then(|v| v.get("errorMessage")?.as_str().map(String::from))
                    .unwrap_or_else(|| c.to_string())
            })
            .unwrap_or_default()
    }
}

/// The document the deploy state machine carries from `Begin Deployment` on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeployState {
    pub deployment: Deployment,
    pub spec: AppSpec,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<ResolvedImage>,
    /// What `Preflight` found (warnings; in a dry run, refusals too).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preflight: Option<crate::preflight::PreflightOutput>,
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

impl DeployState {
    /// A deployment just begun: no step has run yet.
    pub fn new(deployment: Deployment, spec: AppSpec) -> DeployState {
        DeployState {
            deployment,
            spec,
            image: None,
            preflight: None,
            network: None,
            database: None,
            load_balancer: None,
            service: None,
            error: None,
        }
    }

    /// The reports of the steps that ran, in order.
    pub fn reports(&self) -> Vec<&StepReport> {
        [
            self.network.as_ref().map(Section::report),
            self.database.as_ref().map(Section::report),
            self.load_balancer.as_ref().map(Section::report),
            self.service.as_ref().map(Section::report),
        ]
        .into_iter()
        .flatten()
        .collect()
    }

    /// A dry run's whole plan: the image, then every step's resources in order.
    pub fn plan(&self) -> Vec<PlanItem> {
        let d = &self.deployment;
        let image = match &self.image {
            Some(i) => PlanItem {
                resource: "image".into(),
                name: i.uri.clone(),
                change: Change::Nothing,
            },
            None => PlanItem {
                resource: "image".into(),
                name: d.image.to_string(),
                change: Change::wait(format!(
                    "not in the registry yet: a deployment would wait up to {} s for its push",
                    d.image_timeout_seconds
                )),
            },
        };
        std::iter::once(image)
            .chain(self.preflight.iter().flat_map(|p| p.plan()))
            .chain(
                self.reports()
                    .into_iter()
                    .flat_map(|r| r.plan.iter().cloned()),
            )
            .collect()
    }
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

/// Whether `error` names a cause [`crate::diagnosis`] found (a failed
/// rollout or release task).
fn is_diagnosed(error: &str) -> bool {
    error == crate::error::ErrorKind::ReleaseFailed.name()
        || crate::diagnosis::Cause::ALL
            .iter()
            .any(|c| c.error().name() == error)
}

/// A failure as a person reads it: what failed, why, and what to do.
pub fn failure_message(state: &DeployState, caught: &CaughtError) -> String {
    let d = &state.deployment;
    let cause = caught.message();
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
        // A diagnosed rollout failure already says what happened and what to
        // do, within its 1 KiB: it is the message.
        error if is_diagnosed(error) && !cause.is_empty() => cause.to_string(),
        error => {
            let what = if cause.is_empty() { error.to_string() } else { format!("{error}: {cause}") };
            let what = what.trim_end_matches('.');
            format!(
                "deployment {} of {}/{}{FAILED}{what}{RERUN}",
                d.id, d.app, d.environment
            )
        }
    }
}

/// The generic failure message's parts around what failed.
const FAILED: &str = " failed: ";
const RERUN: &str = ". Fix the cause and push again, or start the execution again with the same input; every step is safe to re-run";

/// What failed, from a recorded [`failure_message`]: without the generic
/// message's frame (the deployment named, the advice to re-run), for
/// places that name the deployment already and have little room (a GitHub
/// status). Other messages are their own summary.
pub fn failure_summary(message: &str) -> &str {
    match message.split_once(FAILED) {
        Some((head, rest)) if head.starts_with("deployment ") && rest.ends_with(RERUN) => {
            &rest[..rest.len() - RERUN.len()]
        }
        _ => message,
    }
}

/// A step's section of the deploy state (`network`, `database`, …): where
/// the state keeps the step's earlier polls, its report, and whether it is
/// ready.
pub trait Section: Serialize {
    fn of(state: &DeployState) -> Option<&Self>;
    fn report(&self) -> &StepReport;
    fn report_mut(&mut self) -> &mut StepReport;
    fn ready(&self) -> bool;
    fn set_ready(&mut self, ready: bool);
    /// How long the step may keep polling (the spec's `deadlines`).
    fn deadline_seconds(spec: &AppSpec) -> u64;
    /// Whether each poll of the step is a boundary where a deployment checks
    /// that it still holds the environment's lease and is the newest push
    /// ([`crate::lease`]). Not the steps inside the Parallel state: one
    /// branch stopping there would leave the other's Lambda running.
    const BOUNDARY: bool = false;
}

macro_rules! section {
    ($output:ty, $field:ident, $deadline:ident, $boundary:expr) => {
        impl Section for $output {
            const BOUNDARY: bool = $boundary;
            fn of(state: &DeployState) -> Option<&Self> {
                state.$field.as_ref()
            }
            fn report(&self) -> &StepReport {
                &self.report
            }
            fn report_mut(&mut self) -> &mut StepReport {
                &mut self.report
            }
            fn ready(&self) -> bool {
                self.ready
            }
            fn set_ready(&mut self, ready: bool) {
                self.ready = ready;
            }
            fn deadline_seconds(spec: &AppSpec) -> u64 {
                spec.deadlines.$deadline * 60
            }
        }
    };
}
section!(NetworkOutput, network, network_minutes, true);
section!(DatabaseOutput, database, database_minutes, false);
section!(
    LoadBalancerOutput,
    load_balancer,
    load_balancer_minutes,
    false
);
section!(ServiceOutput, service, service_minutes, true);
