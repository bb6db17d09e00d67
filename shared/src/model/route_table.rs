//! The data of route tables: what the SDK wrapper takes and answers,
//! without behaviour (that stays in `crate::resources::route_table`).

use crate::owner::Tags;

/// One association of a table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Association {
    pub id: String,
    /// The subnet (none for a gateway association).
    pub subnet_id: Option<String>,
    /// The VPC's main association (never one of ours; never removed).
    pub main: bool,
}

/// A route table as EC2 describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observed {
    pub id: String,
    /// The target (gateway or NAT gateway id) of the 0.0.0.0/0 route, if any.
    pub default_route: Option<String>,
    pub associations: Vec<Association>,
    pub tags: Tags,
}
