//! The data of services: what the SDK wrapper takes and answers,
//! without behaviour (that stays in `crate::resources::service`).

use crate::owner::Tags;

/// What the service should run and where.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Wanted {
    /// The cluster's ARN (or name).
    pub cluster: String,
    pub name: String,
    pub task_definition: String,
    pub desired: i32,
    pub subnets: Vec<String>,
    pub security_group: String,
    pub target_group: String,
    pub container_name: String,
    pub container_port: i32,
    /// The target group's health check path (what a failing task must answer).
    pub health_check_path: String,
    /// The log group the tasks write to.
    pub log_group: String,
    /// Replace the running tasks once in this deployment, and why (the
    /// deployment's `restart`), even when nothing else differs.
    pub restart: Option<String>,
}

/// One of the service's deployments (ECS keeps the old one while a rollout runs).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Deployment {
    /// `PRIMARY` (the newest), `ACTIVE` (an older one still running) or `INACTIVE`.
    pub status: String,
    pub task_definition: String,
    /// `IN_PROGRESS`, `COMPLETED` or `FAILED` (empty when ECS does not say).
    pub rollout_state: String,
    pub rollout_reason: String,
    pub running: i32,
    pub desired: i32,
}

/// A service as ECS describes it (INACTIVE ones are not described: gone).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Observed {
    pub arn: String,
    /// `ACTIVE` or `DRAINING`.
    pub status: String,
    pub task_definition: String,
    pub desired: i32,
    pub running: i32,
    pub deployments: Vec<Deployment>,
    /// The newest service events, newest first.
    pub events: Vec<String>,
    pub tags: Tags,
}
