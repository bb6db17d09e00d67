//! The data of load balancers: what the SDK wrapper takes and answers,
//! without behaviour (that stays in `crate::resources::load_balancer`).

use crate::owner::Tags;

/// The load balancer an environment wants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wanted {
    pub name: String,
    /// The network's public subnets (planned ids in a dry run on a new network).
    pub subnets: Vec<String>,
    /// The load balancer's security group.
    pub security_group: String,
}

/// A load balancer as ELB describes it (tags filled in by `observe`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observed {
    pub arn: String,
    pub dns_name: String,
    /// `provisioning`, `active`, `active_impaired` or `failed`.
    pub state: String,
    pub tags: Tags,
}
