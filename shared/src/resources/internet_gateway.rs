//! The environment's internet gateway and its attachment to the VPC: one
//! per environment, found by its ownership tags (it carries the role tag
//! `igw`, which no other resource kind shares).

use crate::converge::not_ours;
use crate::converge::sole;
pub use crate::model::internet_gateway::Observed;
use crate::owner::{LedgerKind, Owner, Role};
use crate::plan::{planned, Change, Removal};

/// How a person calls it (plan lines, errors, teardown reports).
pub const RESOURCE: &str = "internet gateway";

/// The gateway an environment wants, attached to its VPC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wanted {
    /// Its `Name` tag.
    pub name: String,
    pub vpc_id: String,
}

impl Wanted {
    pub fn new(names: &crate::naming::Names, vpc_id: &str) -> Wanted {
        Wanted {
            name: names.vpc(),
            vpc_id: vpc_id.into(),
        }
    }
}

/// What CreateInternetGateway hands back: ours, attached nowhere.
pub fn created(owner: &Owner) -> Observed {
    Observed {
        id: planned(&LedgerKind::InternetGateway.key()),
        attached_vpcs: Vec::new(),
        tags: owner.as_role_tags(Role::InternetGateway),
    }
}

pub fn plan(owner: &Owner, found: &[Observed], wanted: &Wanted) -> Change {
    let g = match sole(found, RESOURCE, owner, |g| g.id.clone()) {
        Ok(Some(g)) => g,
        Ok(None) => return Change::Create,
        Err(conflict) => return conflict,
    };
    if !owner.owns(&g.tags) {
        return Change::conflict(not_ours(owner, RESOURCE, &g.id));
    }
    let vpc = &wanted.vpc_id;
    match g.attached_vpcs.first() {
        _ if g.attached_vpcs.contains(vpc) => Change::Nothing,
        Some(other) => Change::conflict(format!(
            "internet gateway {} is attached to {other}, not {vpc}; detach it and re-run",
            g.id
        )),
        None => Change::update(format!("attach to {vpc}")),
    }
}

/// Teardown's side: detach and delete it only if it is this environment's.
pub fn removal(owner: &Owner, observed: Option<&Observed>) -> Removal {
    Removal::if_ours(owner, observed.map(|o| &o.tags))
}

#[cfg(all(feature = "ec2", feature = "dynamodb"))]
mod apply {
    use super::*;
    use crate::aws::ec2::Ec2;
    use crate::converge::updates_now;
    use crate::converge::{remove_each, Ctx, Go};
    use crate::error::StepError;
    use crate::teardown::TeardownState;

    /// Every internet gateway carrying this environment's tags.
    pub async fn observe(ec2: &Ec2, owner: &Owner) -> Result<Vec<Observed>, StepError> {
        let found = ec2.internet_gateways(owner).await?;
        Ok(found)
    }

    /// The gateway's id, created and attached if need be (in a dry run: as it would be).
    pub async fn converge(
        ec2: &Ec2,
        ctx: &mut Ctx<'_>,
        wanted: &Wanted,
    ) -> Result<String, StepError> {
        let found = observe(ec2, &ctx.owner).await?;
        let change = plan(&ctx.owner, &found, wanted);
        let name = found
            .first()
            .map_or_else(|| created(&ctx.owner).id, |g| g.id.clone());
        let go = ctx.decide(RESOURCE, &name, &change)?;
        let igw = match (go, &change) {
            (Go::Apply, Change::Create) => create(ec2, ctx, wanted).await?,
            (Go::Pretend, Change::Create) => created(&ctx.owner),
            _ => found
                .into_iter()
                .next()
                .unwrap_or_else(|| created(&ctx.owner)),
        };
        ctx.remember(LedgerKind::InternetGateway, &igw.id).await?;
        let again = plan(&ctx.owner, std::slice::from_ref(&igw), wanted);
        if updates_now(ctx, RESOURCE, &igw.id, (&change, go), again)? {
            ec2.attach_internet_gateway(&igw.id, &wanted.vpc_id).await?;
            ctx.changed(format!(
                "attached internet gateway {} to {}",
                igw.id, wanted.vpc_id
            ));
        }
        Ok(igw.id)
    }

    async fn create(ec2: &Ec2, ctx: &mut Ctx<'_>, wanted: &Wanted) -> Result<Observed, StepError> {
        let tags = ctx.role_tags(Role::InternetGateway);
        let id = ec2.create_internet_gateway(&wanted.name, &tags).await?.id;
        ctx.changed(format!("created internet gateway {id}"));
        Ok(Observed {
            id,
            ..created(&ctx.owner)
        })
    }

    /// Teardown's side: every gateway carrying the environment's tags,
    /// detached from its VPCs, then deleted.
    pub async fn remove(ec2: &Ec2, owner: &Owner, t: &mut TeardownState) -> Result<(), StepError> {
        let found = ec2.internet_gateways(owner).await?;
        let skipped = |g: &Observed| format!("{RESOURCE} {}", g.id);
        remove_each(
            t,
            found,
            |g| removal(owner, Some(g)),
            skipped,
            async |g| {
                for vpc in &g.attached_vpcs {
                    ec2.detach_internet_gateway(&g.id, vpc).await?;
                }
                ec2.delete_internet_gateway(&g.id).await?;
                Ok(format!("internet gateway {}", g.id))
            },
        )
        .await?;
        Ok(())
    }
}
#[cfg(all(feature = "ec2", feature = "dynamodb"))]
pub use apply::{converge, observe, remove};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::naming::Names;

    fn owner() -> Owner {
        Owner::new("bank", "production")
    }

    fn wanted() -> Wanted {
        Wanted::new(&Names::new("bank", "production").unwrap(), "vpc-1")
    }

    fn gateway(id: &str, attached: &[&str], app: &str) -> Observed {
        Observed {
            id: id.into(),
            attached_vpcs: attached.iter().map(|v| v.to_string()).collect(),
            tags: Owner::new(app, "production").as_role_tags(Role::InternetGateway),
        }
    }

    #[test]
    fn plan_table() {
        let cases: Vec<(&str, Vec<Observed>, Change)> = vec![
            ("absent: create", vec![], Change::Create),
            (
                "ours and attached: nothing",
                vec![gateway("igw-1", &["vpc-1"], "bank")],
                Change::Nothing,
            ),
            (
                "ours, detached: update",
                vec![gateway("igw-1", &[], "bank")],
                Change::update("attach to vpc-1"),
            ),
            (
                "someone else's: conflict",
                vec![gateway("igw-9", &["vpc-1"], "shop")],
                Change::conflict(not_ours(&owner(), RESOURCE, "igw-9")),
            ),
            (
                "ours, attached elsewhere: conflict",
                vec![gateway("igw-1", &["vpc-7"], "bank")],
                Change::conflict(
                    "internet gateway igw-1 is attached to vpc-7, not vpc-1; detach it and re-run",
                ),
            ),
        ];
        for (case, found, want) in cases {
            assert_eq!(plan(&owner(), &found, &wanted()), want, "{case}");
        }
        let two = [gateway("igw-1", &[], "bank"), gateway("igw-2", &[], "bank")];
        assert_eq!(plan(&owner(), &two, &wanted()).action(), "conflict");
        // An internet gateway is usable as soon as it is created and has no
        // failed state: no wait or failed cases.
    }

    #[test]
    fn a_fresh_gateway_still_needs_attaching() {
        let fresh = created(&owner());
        assert_eq!(fresh.id, "(new igw)");
        assert_eq!(
            plan(&owner(), &[fresh], &wanted()),
            Change::update("attach to vpc-1")
        );
    }

    #[test]
    fn removal_table() {
        let o = owner();
        assert_eq!(removal(&o, None), Removal::Gone);
        let ours = gateway("igw-1", &["vpc-1"], "bank");
        assert_eq!(removal(&o, Some(&ours)), Removal::Delete);
        let theirs = gateway("igw-9", &["vpc-1"], "shop");
        assert!(matches!(removal(&o, Some(&theirs)), Removal::Skip { .. }));
    }
}
