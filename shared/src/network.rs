//! The network plan: address ranges for an environment's VPC and subnets.

use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

use crate::error::StepError;

/// An IPv4 CIDR block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    pub addr: Ipv4Addr,
    pub prefix: u8,
}

impl Cidr {
    pub fn parse(text: &str) -> Result<Cidr, StepError> {
        let bad = || {
            StepError::invalid_input(format!(
                "{text:?} is not an IPv4 CIDR block like 172.28.0.0/16"
            ))
        };
        let (addr, prefix) = text.split_once('/').ok_or_else(bad)?;
        let addr: Ipv4Addr = addr.parse().map_err(|_| bad())?;
        let prefix: u8 = prefix.parse().map_err(|_| bad())?;
        if prefix > 32 {
            return Err(bad());
        }
        let cidr = Cidr { addr, prefix };
        if u32::from(addr) & !cidr.mask() != 0 {
            return Err(StepError::invalid_input(format!(
                "{text} has host bits set; did you mean {}?",
                Cidr {
                    addr: Ipv4Addr::from(u32::from(addr) & cidr.mask()),
                    prefix
                }
            )));
        }
        Ok(cidr)
    }

    fn mask(&self) -> u32 {
        if self.prefix == 0 {
            0
        } else {
            u32::MAX << (32 - self.prefix)
        }
    }

    /// The `index`-th block of `new_prefix` inside this one.
    pub fn subnet(&self, new_prefix: u8, index: u32) -> Result<Cidr, StepError> {
        let bits = new_prefix
            .checked_sub(self.prefix)
            .filter(|b| *b < 32 && new_prefix <= 32);
        let bits = bits.ok_or_else(|| {
            StepError::invalid_input(format!("/{new_prefix} does not fit in {self}"))
        })?;
        if u64::from(index) >= 1u64 << bits {
            return Err(StepError::invalid_input(format!(
                "{self} has no subnet number {index} of size /{new_prefix}"
            )));
        }
        let size = 1u64 << (32 - new_prefix);
        let start = u64::from(u32::from(self.addr)) + u64::from(index) * size;
        Ok(Cidr {
            addr: Ipv4Addr::from(start as u32),
            prefix: new_prefix,
        })
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// Whether a subnet is reachable from the internet (load balancer, NAT) or not (tasks, database).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Tier {
    Public,
    Private,
}

impl Tier {
    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Public => "public",
            Tier::Private => "private",
        }
    }
}

/// One subnet the plan wants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubnetPlan {
    pub tier: Tier,
    pub az_index: usize,
    pub cidr: Cidr,
}

pub const AZ_COUNT: usize = 2;

/// Four subnets, a public and a private one in each of two availability
/// zones, each a sixteenth of the VPC (a /20 of a /16).
pub fn plan_subnets(vpc: &str) -> Result<Vec<SubnetPlan>, StepError> {
    let vpc = Cidr::parse(vpc)?;
    let prefix = vpc.prefix + 4;
    let mut plan = Vec::new();
    for (i, tier) in [Tier::Public, Tier::Private].into_iter().enumerate() {
        for az in 0..AZ_COUNT {
            plan.push(SubnetPlan {
                tier,
                az_index: az,
                cidr: vpc.subnet(prefix, (i * 8 + az) as u32)?,
            });
        }
    }
    Ok(plan)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_refuse() {
        assert_eq!(Cidr::parse("172.28.0.0/16").unwrap().prefix, 16);
        for bad in ["172.28.0.0", "172.28.0.0/33", "x/16", "300.1.1.1/8"] {
            assert!(Cidr::parse(bad).is_err(), "{bad}");
        }
        let e = Cidr::parse("172.28.1.0/16").unwrap_err();
        assert!(
            e.message.contains("did you mean 172.28.0.0/16"),
            "{}",
            e.message
        );
    }

    #[test]
    fn four_subnets_in_two_zones() {
        let plan = plan_subnets("172.28.0.0/16").unwrap();
        let got: Vec<_> = plan
            .iter()
            .map(|s| (s.tier, s.az_index, s.cidr.to_string()))
            .collect();
        assert_eq!(
            got,
            vec![
                (Tier::Public, 0, "172.28.0.0/20".to_string()),
                (Tier::Public, 1, "172.28.16.0/20".to_string()),
                (Tier::Private, 0, "172.28.128.0/20".to_string()),
                (Tier::Private, 1, "172.28.144.0/20".to_string()),
            ]
        );
        let small = plan_subnets("10.0.0.0/20").unwrap();
        assert_eq!(small[3].cidr.to_string(), "10.0.9.0/24");
    }

    #[test]
    fn subnet_bounds() {
        let vpc = Cidr::parse("10.0.0.0/16").unwrap();
        assert!(vpc.subnet(20, 15).is_ok());
        assert!(vpc.subnet(20, 16).is_err());
        assert!(vpc.subnet(8, 0).is_err());
    }
}
