//! The data of vpcs: what the SDK wrapper takes and answers,
//! without behaviour (that stays in `crate::resources::vpc`).

use crate::owner::Tags;

/// A VPC as EC2 describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observed {
    pub id: String,
    pub cidr: String,
    /// The `enableDnsHostnames` attribute. Describe and create answers do not
    /// carry it (it is `false` there): `observe` reads it with DescribeVpcAttribute.
    pub dns_hostnames: bool,
    pub tags: Tags,
}
