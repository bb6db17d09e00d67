//! The data of nat gateways: what the SDK wrapper takes and answers,
//! without behaviour (that stays in `crate::resources::nat_gateway`).

use crate::owner::Tags;

/// An Elastic IP as EC2 describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address {
    pub allocation_id: String,
    pub public_ip: String,
    pub tags: Tags,
}

/// A NAT gateway as EC2 describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observed {
    pub id: String,
    /// `pending`, `available`, `deleting`, `deleted` or `failed`.
    pub state: String,
    pub subnet_id: String,
    /// When it was created (epoch seconds), if EC2 said.
    pub created: Option<i64>,
    /// Why it failed, for a `failed` one: AWS's code (`Gateway.NotAttached`,
    /// `InsufficientFreeAddressesInSubnet`, …) and message.
    pub failure_code: Option<String>,
    pub failure_message: Option<String>,
    pub tags: Tags,
}
