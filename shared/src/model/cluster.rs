//! The data of clusters: what the SDK wrapper takes and answers,
//! without behaviour (that stays in `crate::resources::cluster`).

use crate::owner::Tags;

/// A cluster as ECS describes it (INACTIVE ones are not described: gone).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observed {
    pub arn: String,
    /// `ACTIVE`, `PROVISIONING`, `DEPROVISIONING` or `FAILED`.
    pub status: String,
    pub tags: Tags,
}
