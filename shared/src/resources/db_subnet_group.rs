//! The DB subnet group: the private subnets RDS may place the database in;
//! one per environment, found by name.

use crate::converge::not_ours;
pub use crate::model::db_subnet_group::{Observed, Wanted};
use crate::naming::Names;
use crate::owner::Owner;
use crate::plan::{Change, Removal};

/// How a person calls it (plan lines, errors, teardown reports).
pub const RESOURCE: &str = "DB subnet group";

impl Wanted {
    pub fn new(names: &Names, private_subnets: &[String]) -> Wanted {
        Wanted {
            name: names.db_subnet_group(),
            description: format!("stepdeploy {}: private subnets", names.base()),
            subnets: private_subnets.to_vec(),
        }
    }
}

/// The same subnets, in any order.
fn same_subnets(have: &[String], want: &[String]) -> bool {
    let (mut have, mut want) = (have.to_vec(), want.to_vec());
    have.sort();
    want.sort();
    have == want
}

pub fn plan(owner: &Owner, observed: Option<&Observed>, wanted: &Wanted) -> Change {
    let Some(g) = observed else {
        return Change::Create;
    };
    if !owner.owns(&g.tags) {
        return Change::conflict(not_ours(owner, RESOURCE, &wanted.name));
    }
    if same_subnets(&g.subnets, &wanted.subnets) {
        Change::Nothing
    } else {
        Change::update(format!(
            "subnets {} -> {}",
            g.subnets.join(", "),
            wanted.subnets.join(", ")
        ))
    }
}

/// Teardown's side: delete it only if it is this environment's.
pub fn removal(owner: &Owner, observed: Option<&Observed>) -> Removal {
    Removal::if_ours(owner, observed.map(|o| &o.tags))
}

#[cfg(all(feature = "dynamodb", feature = "rds"))]
mod apply {
    use super::*;
    use crate::aws::rds::Rds;
    use crate::converge::{remove_one, Ctx, Deleted, Go};
    use crate::error::StepError;
    use crate::owner::LedgerKind;
    use crate::teardown::TeardownState;

    /// AWS codes of a subnet group something still uses (the instance is going).
    const IN_USE: &[&str] = &["DependencyViolation", "InvalidDBSubnetGroupStateFault"];

    pub async fn observe(rds: &Rds, name: &str) -> Result<Option<Observed>, StepError> {
        let Some(mut group) = rds.subnet_group(name).await? else {
            return Ok(None);
        };
        group.tags = rds.tags_of(&group.arn).await?;
        Ok(Some(group))
    }

    /// Make the subnet group as wanted; its name is what the database needs.
    pub async fn converge(rds: &Rds, ctx: &mut Ctx<'_>, wanted: &Wanted) -> Result<(), StepError> {
        let observed = observe(rds, &wanted.name).await?;
        let change = plan(&ctx.owner, observed.as_ref(), wanted);
        let name = &wanted.name;
        match (ctx.decide(RESOURCE, name, &change)?, &change) {
            (Go::Apply, Change::Create) => {
                rds.create_subnet_group(wanted, &ctx.tags()).await?;
                ctx.changed(format!("created {RESOURCE} {name}"));
            }
            (Go::Apply, Change::Update { .. }) => {
                rds.modify_subnet_group(name, &wanted.subnets).await?;
                ctx.changed(format!("set the subnets of {RESOURCE} {name}"));
            }
            _ => {}
        }
        ctx.remember(LedgerKind::DbSubnetGroup, name).await
    }

    /// Delete the subnet group if it is this environment's; not done while
    /// something (the instance being deleted) still uses it.
    pub async fn remove(
        rds: &Rds,
        owner: &Owner,
        name: &str,
        t: &mut TeardownState,
    ) -> Result<bool, StepError> {
        let observed = observe(rds, name).await?;
        let label = format!("{RESOURCE} {name}");
        let decided = removal(owner, observed.as_ref());
        remove_one(t, label.clone(), decided, observed, async |_| {
            match rds.delete_subnet_group(name).await {
                Ok(()) => Ok(Deleted::Yes {
                    removed: label,
                    gone: true,
                }),
                Err(e) if e.is_code(IN_USE) => Ok(Deleted::InUse),
                Err(e) => Err(e),
            }
        })
        .await
    }
}
#[cfg(all(feature = "dynamodb", feature = "rds"))]
pub use apply::{converge, observe, remove};

#[cfg(test)]
mod tests {
    use super::*;

    fn wanted() -> Wanted {
        Wanted::new(
            &Names::new("bank", "production").unwrap(),
            &["subnet-a".into(), "subnet-b".into()],
        )
    }

    fn group(subnets: &[&str], app: &str) -> Observed {
        Observed {
            name: "bank-production-db".into(),
            arn: "arn:aws:rds:us-east-1:1:subgrp:bank-production-db".into(),
            vpc_id: "vpc-1".into(),
            subnets: subnets.iter().map(|s| s.to_string()).collect(),
            tags: Owner::new(app, "production").as_tags(),
        }
    }

    #[test]
    fn plan_table() {
        let owner = Owner::new("bank", "production");
        let cases: Vec<(&str, Option<Observed>, &str)> = vec![
            ("absent: create", None, "create"),
            (
                "ours, same subnets: nothing",
                Some(group(&["subnet-a", "subnet-b"], "bank")),
                "nothing",
            ),
            (
                "ours, same subnets in another order: nothing",
                Some(group(&["subnet-b", "subnet-a"], "bank")),
                "nothing",
            ),
            (
                "ours, other subnets: update",
                Some(group(&["subnet-a", "subnet-c"], "bank")),
                "update",
            ),
            (
                "someone else's: conflict",
                Some(group(&["subnet-a", "subnet-b"], "shop")),
                "conflict",
            ),
        ];
        for (case, observed, action) in cases {
            let change = plan(&owner, observed.as_ref(), &wanted());
            assert_eq!(change.action(), action, "{case}");
            assert!(change.calls() <= 1, "{case}");
        }
        // A DB subnet group is usable once created (RDS reports it `Complete`):
        // there is no still-creating and no failed case.
    }

    #[test]
    fn wanted_is_named_and_described_from_the_names() {
        let w = wanted();
        assert_eq!(
            w.name,
            Names::new("bank", "production").unwrap().db_subnet_group()
        );
        assert!(
            w.description.starts_with("stepdeploy "),
            "{}",
            w.description
        );
    }

    #[test]
    fn removal_table() {
        let owner = Owner::new("bank", "production");
        assert_eq!(removal(&owner, None), Removal::Gone);
        assert_eq!(
            removal(&owner, Some(&group(&["subnet-a"], "bank"))),
            Removal::Delete
        );
        assert!(matches!(
            removal(&owner, Some(&group(&["subnet-a"], "shop"))),
            Removal::Skip { .. }
        ));
    }
}
