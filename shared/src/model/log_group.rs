//! The data of log groups: what the SDK wrapper takes and answers,
//! without behaviour (that stays in `crate::resources::log_group`).

use crate::owner::Tags;

/// A log group as CloudWatch Logs describes it, with its tags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observed {
    /// Its ARN without the trailing `:*` (what the tagging API takes).
    pub arn: String,
    /// `None`: its events never expire.
    pub retention_days: Option<i32>,
    pub tags: Tags,
}
