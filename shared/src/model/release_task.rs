//! The data of release tasks: what the SDK wrapper takes and answers,
//! without behaviour (that stays in `crate::resources::release_task`).

/// The release an environment's deployment wants.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Wanted {
    pub cluster: String,
    pub task_definition: String,
    pub container_name: String,
    pub command: Vec<String>,
    pub subnets: Vec<String>,
    pub security_group: String,
    pub timeout_seconds: u64,
    /// `startedBy`: names this deployment's release task.
    pub started_by: String,
    /// `RunTask`'s idempotency token (at most 64 characters).
    pub client_token: String,
}

/// The deployment's release task as ECS describes it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Observed {
    pub arn: String,
    /// `PROVISIONING`, `PENDING`, `RUNNING`, …, `STOPPED`.
    pub last_status: String,
    /// The release container's exit code, once it stopped (none if it never ran).
    pub exit_code: Option<i32>,
    pub stopped_reason: String,
    /// `EssentialContainerExited`, `TaskFailedToStart`, `UserInitiated` (StopTask), …
    pub stop_code: String,
    /// Seconds since it was created.
    pub age_seconds: u64,
}
