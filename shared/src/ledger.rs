//! The DynamoDB ledger: one table, items keyed by `pk`/`sk`.
//!
//! | item | pk | sk |
//! |---|---|---|
//! | app spec | `APPS` | `APP#<app>` |
//! | environment | `ENV#<app>#<env>` | `ENV` |
//! | deployment | `ENV#<app>#<env>` | `DEPLOY#<deployment id>` (sorts by time) |
//! | owned resource | `ENV#<app>#<env>` | `RES#<kind>` |
//! | teardown | `ENV#<app>#<env>` | `TEARDOWN#<teardown id>` |
//! | release that succeeded | `ENV#<app>#<env>` | `RELEASE#<commit>` |
//! | lease | `ENV#<app>#<env>` | `LOCK` (push order, who may change the environment, the last teardown: [`crate::lease`]) |
//! | webhook delivery | `DELIVERY#<delivery id>` | `DELIVERY` (expires) |
//! | image waiter | `IMAGE#<registry/repo:tag>` | `WAIT#<deployment id>` (expires) |
//! | image arrival | `IMAGE#<registry/repo:tag>` | `ARRIVAL` (expires) |
//!
//! Items that expire carry `expires_at` (epoch seconds), the table's TTL attribute.

use serde::{Deserialize, Serialize};

pub const APPS_PK: &str = "APPS";
pub const ENV_SK: &str = "ENV";
pub const LOCK_SK: &str = "LOCK";
pub const DELIVERY_SK: &str = "DELIVERY";
pub const ARRIVAL_SK: &str = "ARRIVAL";
pub const WAIT_PREFIX: &str = "WAIT#";
pub const DEPLOY_PREFIX: &str = "DEPLOY#";
pub const RESOURCE_PREFIX: &str = "RES#";

/// How long a delivery id is remembered to drop GitHub's redeliveries.
pub const DELIVERY_TTL_SECONDS: u64 = 3 * 24 * 3600;
/// How long an image arrival nobody waited for is remembered.
pub const ARRIVAL_TTL_SECONDS: u64 = 24 * 3600;

pub fn app_sk(app: &str) -> String {
    format!("APP#{app}")
}
/// An app name taken by a repository's `.stepdeploy.toml`.
pub fn repo_app_sk(app: &str) -> String {
    format!("REPO#{app}")
}
pub fn env_pk(app: &str, environment: &str) -> String {
    format!("ENV#{app}#{environment}")
}
pub fn deploy_sk(deployment_id: &str) -> String {
    format!("{DEPLOY_PREFIX}{deployment_id}")
}
pub fn resource_sk(kind: &str) -> String {
    format!("{RESOURCE_PREFIX}{kind}")
}
pub fn delivery_pk(delivery: &str) -> String {
    format!("DELIVERY#{delivery}")
}
pub fn image_pk(wait_key: &str) -> String {
    format!("IMAGE#{wait_key}")
}
pub fn release_sk(commit: &str) -> String {
    format!("RELEASE#{commit}")
}
pub fn waiter_sk(deployment_id: &str) -> String {
    format!("{WAIT_PREFIX}{deployment_id}")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Status {
    /// Recorded by the webhook; the execution is starting.
    Queued,
    InProgress,
    Succeeded,
    Failed,
    /// A dry run ended: its plan is on the deployment's record, nothing changed.
    Planned,
    /// Refused before anything started (unknown app or environment, a bad
    /// commit): the record's `cause` says why.
    Refused,
    /// A teardown is removing the environment.
    Destroying,
    /// Everything the environment owned is gone; its history is kept.
    Destroyed,
    /// A teardown stopped before the end (its `TEARDOWN#` record says why);
    /// the environment stays locked until a teardown runs to the end.
    TeardownFailed,
    /// A newer push to the environment took over before this deployment
    /// finished: it stopped at a step boundary without further change. Not a
    /// failure: its execution succeeds with this status in its output.
    Superseded,
    /// A teardown of the environment came after this deployment was pushed:
    /// it stopped (or never started) without changing anything further.
    Cancelled,
}

impl Status {
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            Status::Succeeded
                | Status::Failed
                | Status::Planned
                | Status::Refused
                | Status::Destroyed
                | Status::TeardownFailed
                | Status::Superseded
                | Status::Cancelled
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppRecord {
    pub pk: String,
    pub sk: String,
    pub app: String,
    /// The spec as JSON text, validated when read.
    pub spec: String,
    pub updated_at: String,
}

/// An app whose spec is its repository's `.stepdeploy.toml` (under
/// [`APPS_PK`], beside the registered apps): the first repository to deploy
/// under a name keeps it, so another repository's file cannot take over
/// its environments. `spec` is the file as last deployed, for the events
/// that carry no commit (a branch deleted, a pull request closed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepositoryAppRecord {
    pub pk: String,
    pub sk: String,
    pub app: String,
    pub repository: String,
    /// The spec as JSON text.
    pub spec: String,
    pub commit: String,
    pub updated_at: String,
}

impl RepositoryAppRecord {
    /// `app` as `repository`'s (kept lowercase: GitHub's names are not case
    /// sensitive), with the spec its file gave at `commit`.
    pub fn new(app: &str, repository: &str, spec: String, commit: &str, at: &str) -> Self {
        RepositoryAppRecord {
            pk: APPS_PK.into(),
            sk: repo_app_sk(app),
            app: app.into(),
            repository: repository.to_ascii_lowercase(),
            spec,
            commit: commit.into(),
            updated_at: at.into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeploymentRecord {
    pub pk: String,
    pub sk: String,
    pub deployment_id: String,
    pub app: String,
    pub environment: String,
    pub commit: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    /// The GitHub repository (`owner/name`) the commit is from: where the
    /// deployment is reported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository: Option<String>,
    /// A pull request's or branch's preview environment.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub preview: bool,
    pub status: Status,
    /// The deployment's place in its environment's push order (the lease's
    /// counter): a higher number is a newer push. Absent on a dry run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
    /// While `QUEUED` behind another execution: who holds the environment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waiting_for: Option<String>,
    pub trigger: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution_arn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cause: Option<String>,
    /// A dry run's plan: every resource and what converging it would take.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub plan: Vec<crate::plan::PlanItem>,
    pub created_at: String,
    pub updated_at: String,
}

/// One attribute of a ledger update: left as it is, set, or removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Field<T> {
    #[default]
    Keep,
    Set(T),
    Remove,
}

impl<T> Field<T> {
    /// Set to `value`, or removed when there is none.
    pub fn set_or_remove(value: Option<T>) -> Field<T> {
        value.map_or(Field::Remove, Field::Set)
    }
}

/// A change to a deployment's record: the attributes of
/// [`DeploymentRecord`], and the two written but never read back (a
/// success's `warnings`, a failed rollout's `diagnosis`). Every attribute is
/// left as it is unless set or removed; the store turns it into one
/// `UpdateItem` (`SET` what is set, `REMOVE` what is removed).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeploymentUpdate {
    pub status: Field<Status>,
    pub repository: Field<String>,
    pub preview: Field<bool>,
    pub seq: Field<u64>,
    pub waiting_for: Field<String>,
    pub execution_arn: Field<String>,
    pub image: Field<String>,
    pub url: Field<String>,
    pub warnings: Field<Vec<String>>,
    pub error: Field<String>,
    pub cause: Field<String>,
    pub plan: Field<Vec<crate::plan::PlanItem>>,
    /// Why a rollout failed: the named cause and the facts behind it.
    pub diagnosis: Field<serde_json::Value>,
    pub updated_at: Field<String>,
}

impl DeploymentUpdate {
    /// Only the status, and when it changed: the start of most updates.
    pub fn status(status: Status, at: &str) -> DeploymentUpdate {
        DeploymentUpdate {
            status: Field::Set(status),
            updated_at: Field::Set(at.into()),
            ..DeploymentUpdate::default()
        }
    }
}

/// A write a pure decision asks its step to make, in the order given.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(clippy::large_enum_variant)] // a few per deployment
pub enum LedgerWrite {
    /// Put the preview's pull request record (unconditional: the newest
    /// push says where the preview's comment goes).
    Pull(PullRecord),
    /// Record a deployment: put `record` only if the deployment has no
    /// record yet (`attribute_not_exists(pk)`), else apply `update` to the
    /// one there (`attribute_exists(pk)`: the webhook's, or a retry's). Safe
    /// to repeat: after a crash between the two, the retry updates.
    Deployment {
        record: DeploymentRecord,
        update: DeploymentUpdate,
    },
}

/// The environment's current state. `last_deployment`, `commit` and `url`
/// name what runs: a failed deployment leaves them as they were and is
/// named in `failed_deployment`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvironmentRecord {
    pub pk: String,
    pub sk: String,
    pub app: String,
    pub environment: String,
    pub status: Status,
    pub last_deployment: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The last deployment that failed after the one running (cleared by a success).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_deployment: Option<String>,
    pub updated_at: String,
}

/// A resource an environment owns: the ledger half of ownership (the tags are the other).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceRecord {
    pub pk: String,
    pub sk: String,
    pub kind: String,
    /// The AWS id or ARN.
    pub id: String,
    pub created_by: String,
    pub recorded_at: String,
}

/// A commit's release command that exited 0, and on which database (its
/// managed secret's ARN, new with every DB instance): a re-run of the commit
/// against that database does not run it again; a recreated database does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleaseRecord {
    pub pk: String,
    pub sk: String,
    pub commit: String,
    pub database: String,
    pub deployment_id: String,
    pub task_arn: String,
    pub released_at: String,
}

/// What a teardown removed and skipped (`sk` = `TEARDOWN#<teardown id>`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TeardownRecord {
    pub pk: String,
    pub sk: String,
    pub teardown_id: String,
    pub removed: Vec<String>,
    /// `resource: reason` lines.
    pub skipped: Vec<String>,
    pub finished_at: String,
    /// `DESTROYED`, or `TEARDOWN_FAILED` with the error and its cause.
    #[serde(default = "destroyed")]
    pub status: Status,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cause: Option<String>,
}

fn destroyed() -> Status {
    Status::Destroyed
}

/// A preview's pull request (`sk` = [`PULL_SK`] under the environment):
/// the comment that shows the preview lives on it. `open` turns false when
/// the pull request is closed, so later pushes to the branch do not write
/// on it; the teardown's report still does, once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PullRecord {
    pub pk: String,
    pub sk: String,
    pub repository: String,
    pub number: u64,
    pub open: bool,
    pub updated_at: String,
}

pub const PULL_SK: &str = "PULL";

pub fn teardown_sk(teardown_id: &str) -> String {
    format!("TEARDOWN#{teardown_id}")
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryRecord {
    pub pk: String,
    pub sk: String,
    pub event: String,
    pub deployment_id: String,
    /// Set once the execution has been started: a redelivery then starts nothing.
    #[serde(default)]
    pub started: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution_arn: Option<String>,
    pub expires_at: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WaiterRecord {
    pub pk: String,
    pub sk: String,
    pub deployment_id: String,
    pub task_token: String,
    pub image: String,
    pub since: String,
    pub expires_at: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArrivalRecord {
    pub pk: String,
    pub sk: String,
    pub image: String,
    /// Set for a successful push.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    /// Set for a failed push.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
    pub expires_at: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deployments_of_one_environment_share_a_partition_and_sort_by_id() {
        assert_eq!(env_pk("bank", "production"), "ENV#bank#production");
        let a = deploy_sk("20261125T163444Z-bank-production-0123456-aaaaaa");
        let b = deploy_sk("20261125T163445Z-bank-production-0123456-000000");
        assert!(a < b);
        assert!(a.starts_with(DEPLOY_PREFIX));
        assert!(!resource_sk("vpc").starts_with(DEPLOY_PREFIX));
    }

    #[test]
    fn status_names() {
        assert_eq!(
            serde_json::to_string(&Status::InProgress).unwrap(),
            "\"IN_PROGRESS\""
        );
        assert!(Status::Failed.is_terminal());
        assert!(!Status::Queued.is_terminal());
    }
}
