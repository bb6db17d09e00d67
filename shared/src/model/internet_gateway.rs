//! The data of internet gateways: what the SDK wrapper takes and answers,
//! without behaviour (that stays in `crate::resources::internet_gateway`).

use crate::owner::Tags;

/// An internet gateway as EC2 describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observed {
    pub id: String,
    /// The VPCs it is attached to (at most one).
    pub attached_vpcs: Vec<String>,
    pub tags: Tags,
}
