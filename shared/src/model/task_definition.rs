//! The data of task definitions: what the SDK wrapper takes and answers,
//! without behaviour (that stays in `crate::resources::task_definition`).

use crate::owner::Tags;

/// The task definition an environment wants, as a value that compares with
/// what ECS has: equal means "register nothing".
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TaskSpec {
    pub family: String,
    pub cpu: String,
    pub memory: String,
    pub execution_role_arn: String,
    pub container_name: String,
    pub image: String,
    pub port: u16,
    /// Plain environment, sorted by name.
    pub environment: Vec<(String, String)>,
    /// ECS secrets (`valueFrom` ARNs), sorted by name: never plain text.
    pub secrets: Vec<(String, String)>,
    pub log_group: String,
    pub log_region: String,
    pub log_prefix: String,
}

/// One revision as ECS describes it, with its tags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observed {
    pub arn: String,
    /// `ACTIVE`, `INACTIVE` or `DELETE_IN_PROGRESS`.
    pub status: String,
    /// What it runs (its first container; empty fields when it has none).
    pub spec: TaskSpec,
    pub tags: Tags,
}
