//! The data of subnets: what the SDK wrapper takes and answers,
//! without behaviour (that stays in `crate::resources::subnet`).

use crate::owner::Tags;

/// A subnet as EC2 describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observed {
    pub id: String,
    pub cidr: String,
    pub zone: String,
    pub vpc_id: String,
    pub tags: Tags,
}
