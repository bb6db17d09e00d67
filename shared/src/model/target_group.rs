//! The data of target groups: what the SDK wrapper takes and answers,
//! without behaviour (that stays in `crate::resources::target_group`).

use crate::owner::Tags;

/// The deregistration delay of a target group nobody set one on.
pub const AWS_DEFAULT_DRAIN_SECONDS: i32 = 300;

/// A target group's health check, compared as a whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthCheck {
    pub path: String,
    pub interval_seconds: i32,
    pub healthy_threshold: i32,
    pub unhealthy_threshold: i32,
    pub matcher: String,
}

/// The target group an environment wants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wanted {
    pub name: String,
    /// The network's VPC (a planned id in a dry run on a new network).
    pub vpc_id: String,
    /// The container port.
    pub port: i32,
    pub health_check: HealthCheck,
    /// The deregistration delay, in seconds.
    pub drain_seconds: i32,
}

/// A target group as ELB describes it, with its tags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observed {
    pub arn: String,
    pub port: i32,
    pub vpc_id: String,
    pub target_type: String,
    pub health_check: HealthCheck,
    /// The deregistration delay (`deregistration_delay.timeout_seconds`).
    pub drain_seconds: i32,
    pub tags: Tags,
}
