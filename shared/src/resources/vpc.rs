//! The environment's VPC: one per environment, found through the ledger
//! first and then by its ownership tags, with DNS hostnames on (the load
//! balancer's and the database's endpoints need them). Its range never
//! changes: a different `network.cidr` is refused, not applied.

use crate::converge::not_ours;
use crate::converge::sole;
pub use crate::model::vpc::Observed;
use crate::owner::{LedgerKind, Owner};
use crate::plan::{planned, Change, Removal};

/// How a person calls it (plan lines, errors, teardown reports).
pub const RESOURCE: &str = "VPC";

/// The VPC an environment wants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wanted {
    /// Its `Name` tag.
    pub name: String,
    pub cidr: String,
}

impl Wanted {
    pub fn new(names: &crate::naming::Names, cidr: &str) -> Wanted {
        Wanted {
            name: names.vpc(),
            cidr: cidr.into(),
        }
    }
}

/// What CreateVpc hands back: the wanted range, ours, DNS hostnames off.
pub fn created(owner: &Owner, wanted: &Wanted) -> Observed {
    Observed {
        id: planned(&LedgerKind::Vpc.key()),
        cidr: wanted.cidr.clone(),
        dns_hostnames: false,
        tags: owner.as_tags(),
    }
}

pub fn plan(owner: &Owner, found: &[Observed], wanted: &Wanted) -> Change {
    let v = match sole(found, RESOURCE, owner, |v| v.id.clone()) {
        Ok(Some(v)) => v,
        Ok(None) => return Change::Create,
        Err(conflict) => return conflict,
    };
    if !owner.owns(&v.tags) {
        return Change::conflict(not_ours(owner, RESOURCE, &v.id));
    }
    if v.cidr != wanted.cidr {
        return Change::conflict(cidr_refusal(owner, v, wanted));
    }
    if !v.dns_hostnames {
        return Change::update("enable DNS hostnames");
    }
    Change::Nothing
}

/// Why a VPC's range is not changed: the spec has to be set back.
fn cidr_refusal(owner: &Owner, v: &Observed, wanted: &Wanted) -> String {
    format!(
        "VPC {} of {owner} has CIDR {} but the spec asks for {}; a VPC's range cannot change: set network.cidr back to {} or tear the environment down first",
        v.id, v.cidr, wanted.cidr, v.cidr
    )
}

/// Whether the plan refuses a range change (an error in the spec, not a
/// foreign resource: the deployment fails with `InvalidInput`).
pub fn refuses_cidr(found: &[Observed], wanted: &Wanted) -> bool {
    matches!(found, [v] if v.cidr != wanted.cidr)
}

/// Teardown's side: delete it only if it is this environment's (its
/// subnets, gateways and groups go first; until then EC2 answers
/// DependencyViolation and teardown waits).
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

    /// The VPC the ledger names (if it is still there and ours), else every
    /// VPC carrying this environment's tags; a lone match with its DNS attribute.
    pub async fn observe(ec2: &Ec2, ctx: &Ctx<'_>) -> Result<Vec<Observed>, StepError> {
        // Both paths answer only VPCs carrying the tags (the wrapper checks).
        let mut found = match by_ledger(ec2, ctx).await? {
            Some(v) => vec![v],
            None => ec2.vpcs(&ctx.owner).await?,
        };
        if let [v] = found.as_mut_slice() {
            v.dns_hostnames = ec2.vpc_dns_hostnames(&v.id).await?;
        }
        Ok(found)
    }

    async fn by_ledger(ec2: &Ec2, ctx: &Ctx<'_>) -> Result<Option<Observed>, StepError> {
        let Some(id) = ctx.known.get(&LedgerKind::Vpc.key()) else {
            return Ok(None);
        };
        match ec2.vpc(id).await? {
            Some(v) if ctx.owner.owns(&v.tags) => Ok(Some(v)),
            Some(_) => {
                tracing::warn!(vpc = %id, "ledger names a VPC without this environment's tags; ignoring it");
                Ok(None)
            }
            None => {
                tracing::info!(vpc = %id, "ledger names a VPC that is gone; looking further");
                Ok(None)
            }
        }
    }

    /// The environment's VPC, created and set up as wanted (in a dry run: as it would be).
    pub async fn converge(
        ec2: &Ec2,
        ctx: &mut Ctx<'_>,
        wanted: &Wanted,
    ) -> Result<Observed, StepError> {
        let found = observe(ec2, ctx).await?;
        let change = plan(&ctx.owner, &found, wanted);
        let name = found
            .first()
            .map_or_else(|| planned("vpc"), |v| v.id.clone());
        let go = ctx.decide(RESOURCE, &name, &change).map_err(|e| {
            if refuses_cidr(&found, wanted) {
                StepError::invalid_input(e.message)
            } else {
                e
            }
        })?;
        let vpc = match (go, &change) {
            (Go::Apply, Change::Create) => create(ec2, ctx, wanted).await?,
            (Go::Pretend, Change::Create) => created(&ctx.owner, wanted),
            _ => found
                .into_iter()
                .next()
                .unwrap_or_else(|| created(&ctx.owner, wanted)),
        };
        ctx.remember(LedgerKind::Vpc, &vpc.id).await?;
        let again = plan(&ctx.owner, std::slice::from_ref(&vpc), wanted);
        if updates_now(ctx, RESOURCE, &vpc.id, (&change, go), again)? {
            ec2.enable_vpc_dns_hostnames(&vpc.id).await?;
            ctx.changed(format!("enabled DNS hostnames on {}", vpc.id));
        }
        Ok(vpc)
    }

    async fn create(ec2: &Ec2, ctx: &mut Ctx<'_>, wanted: &Wanted) -> Result<Observed, StepError> {
        let id = ec2
            .create_vpc(&wanted.cidr, &wanted.name, &ctx.tags())
            .await?
            .id;
        ctx.changed(format!("created vpc {id}"));
        Ok(Observed {
            id,
            ..created(&ctx.owner, wanted)
        })
    }

    /// Teardown's side: every VPC carrying the environment's tags.
    pub async fn remove(ec2: &Ec2, owner: &Owner, t: &mut TeardownState) -> Result<(), StepError> {
        let found = ec2.vpcs(owner).await?;
        let skipped = |v: &Observed| format!("{RESOURCE} {}", v.id);
        remove_each(
            t,
            found,
            |v| removal(owner, Some(v)),
            skipped,
            async |v| {
                ec2.delete_vpc(&v.id).await?;
                Ok(format!("VPC {}", v.id))
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
        Wanted::new(&Names::new("bank", "production").unwrap(), "172.28.0.0/16")
    }

    fn vpc(id: &str, cidr: &str, dns: bool, app: &str) -> Observed {
        Observed {
            id: id.into(),
            cidr: cidr.into(),
            dns_hostnames: dns,
            tags: Owner::new(app, "production").as_tags(),
        }
    }

    #[test]
    fn plan_table() {
        let ours = |dns| vpc("vpc-1", "172.28.0.0/16", dns, "bank");
        let cases: Vec<(&str, Vec<Observed>, Change)> = vec![
            ("absent: create", vec![], Change::Create),
            ("ours and set up: nothing", vec![ours(true)], Change::Nothing),
            (
                "DNS hostnames off: update",
                vec![ours(false)],
                Change::update("enable DNS hostnames"),
            ),
            (
                "someone else's: conflict",
                vec![vpc("vpc-9", "172.28.0.0/16", true, "shop")],
                Change::conflict(not_ours(&owner(), RESOURCE, "vpc-9")),
            ),
            (
                "another range: refused",
                vec![vpc("vpc-1", "10.0.0.0/16", true, "bank")],
                Change::conflict(
                    "VPC vpc-1 of bank/production has CIDR 10.0.0.0/16 but the spec asks for 172.28.0.0/16; a VPC's range cannot change: set network.cidr back to 10.0.0.0/16 or tear the environment down first",
                ),
            ),
        ];
        for (case, found, want) in cases {
            assert_eq!(plan(&owner(), &found, &wanted()), want, "{case}");
        }
        let two = plan(
            &owner(),
            &[ours(true), vpc("vpc-2", "172.28.0.0/16", true, "bank")],
            &wanted(),
        );
        assert!(two.detail().contains("vpc-1, vpc-2"), "{two:?}");
        // A VPC is usable while `pending` (stepdeploy never waits for one) and
        // has no failed state: there are no wait and failed cases.
    }

    #[test]
    fn a_fresh_vpc_still_needs_dns_hostnames() {
        let fresh = created(&owner(), &wanted());
        assert_eq!(fresh.id, "(new vpc)");
        assert_eq!(
            plan(&owner(), &[fresh], &wanted()),
            Change::update("enable DNS hostnames")
        );
    }

    #[test]
    fn only_a_range_change_is_an_input_error() {
        let w = wanted();
        assert!(refuses_cidr(
            &[vpc("vpc-1", "10.0.0.0/16", true, "bank")],
            &w
        ));
        assert!(!refuses_cidr(
            &[vpc("vpc-1", "172.28.0.0/16", true, "bank")],
            &w
        ));
        assert!(!refuses_cidr(&[], &w));
    }

    #[test]
    fn removal_table() {
        let o = owner();
        assert_eq!(removal(&o, None), Removal::Gone);
        let ours = vpc("vpc-1", "172.28.0.0/16", true, "bank");
        assert_eq!(removal(&o, Some(&ours)), Removal::Delete);
        let theirs = vpc("vpc-9", "172.28.0.0/16", true, "shop");
        assert!(matches!(removal(&o, Some(&theirs)), Removal::Skip { .. }));
    }
}
