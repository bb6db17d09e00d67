//! The environment's four subnets (public and private, in each of two
//! zones), found by their ownership and role tags (`public-1`, …). Their
//! ranges come from `crate::network::plan_subnets`.

use crate::converge::not_ours;
use crate::converge::sole;
use crate::error::StepError;
pub use crate::model::subnet::Observed;
use crate::naming::Names;
use crate::network::{plan_subnets, Tier, AZ_COUNT};
use crate::owner::{LedgerKind, Owner, Role};
use crate::plan::{planned, Change, Removal};

/// How a person calls it (plan lines, errors, teardown reports).
pub const RESOURCE: &str = "subnet";

/// One subnet an environment wants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wanted {
    pub role: Role,
    pub tier: Tier,
    /// Its `Name` tag.
    pub name: String,
    pub cidr: String,
    pub zone: String,
    pub vpc_id: String,
}

/// The subnets of the plan, in order public-1, public-2, private-1,
/// private-2, in the region's first zones (`zones` in name order).
pub fn wanted(
    names: &Names,
    vpc_id: &str,
    vpc_cidr: &str,
    zones: &[String],
) -> Result<Vec<Wanted>, StepError> {
    if zones.len() < AZ_COUNT {
        return Err(StepError::fatal(format!(
            "the region has {} available zones; stepdeploy needs {AZ_COUNT}",
            zones.len()
        )));
    }
    let subnets = plan_subnets(vpc_cidr)?;
    Ok(subnets
        .into_iter()
        .map(|p| {
            let n = p.az_index as u8 + 1;
            Wanted {
                role: match p.tier {
                    Tier::Public => Role::PublicZone(n),
                    Tier::Private => Role::PrivateZone(n),
                },
                tier: p.tier,
                name: names.subnet(p.tier.as_str(), p.az_index),
                cidr: p.cidr.to_string(),
                zone: zones[p.az_index].clone(),
                vpc_id: vpc_id.into(),
            }
        })
        .collect())
}

pub fn plan(owner: &Owner, found: &[Observed], wanted: &Wanted) -> Change {
    let role = wanted.role;
    let s = match sole(found, &format!("{role} {RESOURCE}"), owner, |s| {
        s.id.clone()
    }) {
        Ok(Some(s)) => s,
        Ok(None) => return Change::Create,
        Err(conflict) => return conflict,
    };
    if !owner.owns_as(&s.tags, role) {
        return Change::conflict(not_ours(owner, RESOURCE, &s.id));
    }
    if s.vpc_id != wanted.vpc_id {
        return Change::conflict(format!(
            "subnet {} ({role}) of {owner} is in {} rather than the environment's VPC {}; delete it and re-run",
            s.id, s.vpc_id, wanted.vpc_id
        ));
    }
    Change::Nothing
}

/// Teardown's side: delete it only if it is this environment's.
pub fn removal(owner: &Owner, observed: Option<&Observed>) -> Removal {
    Removal::if_ours(owner, observed.map(|o| &o.tags))
}

/// The id a dry run gives the subnet it would create.
fn planned_id(role: Role) -> String {
    planned(&LedgerKind::Subnet(role).key())
}

/// What CreateSubnet hands back (only a dry run needs more than the id).
pub fn created(owner: &Owner, wanted: &Wanted) -> Observed {
    Observed {
        id: planned_id(wanted.role),
        cidr: wanted.cidr.clone(),
        zone: wanted.zone.clone(),
        vpc_id: wanted.vpc_id.clone(),
        tags: owner.as_role_tags(wanted.role),
    }
}

#[cfg(all(feature = "ec2", feature = "dynamodb"))]
mod apply {
    use super::*;
    use crate::aws::ec2::Ec2;
    use crate::converge::{remove_each, Ctx, Go};
    use crate::teardown::TeardownState;

    /// The region's available zones, in name order.
    pub async fn zones(ec2: &Ec2) -> Result<Vec<String>, StepError> {
        ec2.availability_zones().await
    }

    /// Every subnet carrying this environment's tags in the wanted role.
    pub async fn observe(
        ec2: &Ec2,
        owner: &Owner,
        wanted: &Wanted,
    ) -> Result<Vec<Observed>, StepError> {
        let found = ec2.subnets(owner, Some(wanted.role)).await?;
        Ok(found)
    }

    /// The subnet's id, created if absent (in a dry run: its planned id).
    pub async fn converge(
        ec2: &Ec2,
        ctx: &mut Ctx<'_>,
        wanted: &Wanted,
    ) -> Result<String, StepError> {
        let found = observe(ec2, &ctx.owner, wanted).await?;
        let change = plan(&ctx.owner, &found, wanted);
        let name = found
            .first()
            .map_or_else(|| planned_id(wanted.role), |s| s.id.clone());
        let id = match (ctx.decide(RESOURCE, &name, &change)?, &change) {
            (Go::Apply, Change::Create) => create(ec2, ctx, wanted).await?,
            _ => name,
        };
        ctx.remember(LedgerKind::Subnet(wanted.role), &id).await?;
        Ok(id)
    }

    async fn create(ec2: &Ec2, ctx: &mut Ctx<'_>, wanted: &Wanted) -> Result<String, StepError> {
        let s = ec2
            .create_subnet(
                &wanted.vpc_id,
                &wanted.cidr,
                &wanted.zone,
                &wanted.name,
                &ctx.role_tags(wanted.role),
            )
            .await?;
        ctx.changed(format!(
            "created subnet {} ({}, {})",
            s.id, wanted.role, s.cidr
        ));
        Ok(s.id)
    }

    /// Teardown's side: every subnet carrying the environment's tags.
    pub async fn remove(ec2: &Ec2, owner: &Owner, t: &mut TeardownState) -> Result<(), StepError> {
        let found = ec2.subnets(owner, None).await?;
        let skipped = |s: &Observed| format!("{RESOURCE} {}", s.id);
        remove_each(
            t,
            found,
            |s| removal(owner, Some(s)),
            skipped,
            async |s| {
                ec2.delete_subnet(&s.id).await?;
                Ok(format!("subnet {}", s.id))
            },
        )
        .await?;
        Ok(())
    }
}
#[cfg(all(feature = "ec2", feature = "dynamodb"))]
pub use apply::{converge, observe, remove, zones};

#[cfg(test)]
mod tests {
    use super::*;

    fn owner() -> Owner {
        Owner::new("bank", "production")
    }

    fn all_wanted() -> Vec<Wanted> {
        let zones = vec!["eu-west-1a".to_string(), "eu-west-1b".to_string()];
        let names = Names::new("bank", "production").unwrap();
        wanted(&names, "vpc-1", "172.28.0.0/16", &zones).unwrap()
    }

    fn subnet(id: &str, vpc: &str, app: &str, role: Role) -> Observed {
        Observed {
            id: id.into(),
            cidr: "172.28.0.0/20".into(),
            zone: "eu-west-1a".into(),
            vpc_id: vpc.into(),
            tags: Owner::new(app, "production").as_role_tags(role),
        }
    }

    #[test]
    fn four_subnets_named_and_placed() {
        let got: Vec<_> = all_wanted()
            .into_iter()
            .map(|w| (w.role.to_string(), w.name, w.cidr, w.zone))
            .collect();
        let want = [
            (
                "public-1",
                "bank-production-public-1",
                "172.28.0.0/20",
                "eu-west-1a",
            ),
            (
                "public-2",
                "bank-production-public-2",
                "172.28.16.0/20",
                "eu-west-1b",
            ),
            (
                "private-1",
                "bank-production-private-1",
                "172.28.128.0/20",
                "eu-west-1a",
            ),
            (
                "private-2",
                "bank-production-private-2",
                "172.28.144.0/20",
                "eu-west-1b",
            ),
        ];
        for (g, w) in got.iter().zip(want) {
            assert_eq!((g.0.as_str(), g.1.as_str(), g.2.as_str(), g.3.as_str()), w);
        }
        let names = Names::new("bank", "production").unwrap();
        let one_zone = wanted(&names, "vpc-1", "172.28.0.0/16", &["eu-west-1a".into()]);
        assert!(one_zone.unwrap_err().message.contains("needs 2"));
    }

    #[test]
    fn plan_table() {
        let w = &all_wanted()[0];
        let p1 = Role::PublicZone(1);
        let cases: Vec<(&str, Vec<Observed>, &str)> = vec![
            ("absent: create", vec![], "create"),
            (
                "ours: nothing",
                vec![subnet("subnet-1", "vpc-1", "bank", p1)],
                "nothing",
            ),
            (
                "someone else's: conflict",
                vec![subnet("subnet-9", "vpc-1", "shop", p1)],
                "conflict",
            ),
            (
                "ours in another role: conflict",
                vec![subnet("subnet-1", "vpc-1", "bank", Role::PrivateZone(1))],
                "conflict",
            ),
            (
                "ours in another VPC: conflict",
                vec![subnet("subnet-1", "vpc-7", "bank", p1)],
                "conflict",
            ),
            (
                "two of ours: conflict",
                vec![
                    subnet("subnet-1", "vpc-1", "bank", p1),
                    subnet("subnet-2", "vpc-1", "bank", p1),
                ],
                "conflict",
            ),
        ];
        for (case, found, action) in cases {
            assert_eq!(plan(&owner(), &found, w).action(), action, "{case}");
        }
        let elsewhere = plan(&owner(), &[subnet("subnet-1", "vpc-7", "bank", p1)], w);
        assert_eq!(
            elsewhere.detail(),
            "subnet subnet-1 (public-1) of bank/production is in vpc-7 rather than the environment's VPC vpc-1; delete it and re-run"
        );
        assert_eq!(plan(&owner(), &[created(&owner(), w)], w), Change::Nothing);
        // A subnet has nothing stepdeploy updates, is usable as soon as
        // CreateSubnet answers and has no failed state: no update, wait or
        // failed cases.
    }

    #[test]
    fn removal_table() {
        let o = owner();
        assert_eq!(removal(&o, None), Removal::Gone);
        let ours = subnet("subnet-1", "vpc-1", "bank", Role::PublicZone(1));
        assert_eq!(removal(&o, Some(&ours)), Removal::Delete);
        let theirs = subnet("subnet-9", "vpc-1", "shop", Role::PublicZone(1));
        assert!(matches!(removal(&o, Some(&theirs)), Removal::Skip { .. }));
    }
}
