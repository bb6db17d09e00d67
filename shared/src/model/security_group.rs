//! The data of security groups: what the SDK wrapper takes and answers,
//! without behaviour (that stays in `crate::resources::security_group`).

use crate::owner::Tags;
use serde::{Deserialize, Serialize};

/// Where an inbound rule lets traffic in from: every kind EC2 has, so a
/// rule someone added by hand (an IPv6 range, a prefix list) is seen, and
/// revoked like any other rule stepdeploy does not want.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Source {
    Cidr(String),
    Ipv6Cidr(String),
    PrefixList(String),
    Group(String),
}

/// One inbound rule of a security group.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct IngressRule {
    pub protocol: String,
    pub from: i32,
    pub to: i32,
    pub source: Source,
}

/// A security group as EC2 describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observed {
    pub id: String,
    pub name: String,
    pub ingress: Vec<IngressRule>,
    pub tags: Tags,
}
