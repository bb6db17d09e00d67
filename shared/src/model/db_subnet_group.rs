//! The data of db subnet groups: what the SDK wrapper takes and answers,
//! without behaviour (that stays in `crate::resources::db_subnet_group`).

use crate::owner::Tags;

/// The subnet group an environment wants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wanted {
    pub name: String,
    pub description: String,
    /// The network's private subnets (planned ids in a dry run on a new network).
    pub subnets: Vec<String>,
}

/// A subnet group as RDS describes it, with its tags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observed {
    pub name: String,
    pub arn: String,
    pub vpc_id: String,
    pub subnets: Vec<String>,
    pub tags: Tags,
}
