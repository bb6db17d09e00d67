//! The data of listeners: what the SDK wrapper takes and answers,
//! without behaviour (that stays in `crate::resources::listener`).

/// The port the load balancer listens on.
pub const PORT: i32 = 80;

/// A listener as ELB describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observed {
    pub arn: String,
    pub port: i32,
    /// The target group its default action forwards to, if it forwards.
    pub target_group: Option<String>,
}
