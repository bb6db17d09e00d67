//! The internet-facing application load balancer in the public subnets; one
//! per environment, found by name. Its DNS name is the deployment's URL.
//! Teardown removes its listeners first ([`super::listener`]).

use crate::converge::not_ours;
pub use crate::model::load_balancer::{Observed, Wanted};
use crate::naming::Names;
use crate::owner::{Owner, Tags};
use crate::plan::{planned, Change, Removal};

/// How a person calls it (plan lines, errors, teardown reports).
pub const RESOURCE: &str = "load balancer";

impl Wanted {
    pub fn new(names: &Names, public_subnets: &[String], security_group: &str) -> Wanted {
        Wanted {
            name: names.load_balancer(),
            subnets: public_subnets.to_vec(),
            security_group: security_group.into(),
        }
    }
}

impl Observed {
    /// Whether it takes traffic: the deployment's load balancer step is ready.
    pub fn is_active(&self) -> bool {
        self.state == "active"
    }
}

/// What a dry run carries on with where the real run creates the load
/// balancer: provisioning, with a planned ARN and DNS name (never sent to AWS).
pub fn created(_wanted: &Wanted) -> Observed {
    Observed {
        arn: planned("load balancer"),
        dns_name: planned("load balancer DNS name"),
        state: "provisioning".into(),
        tags: Tags::new(),
    }
}

pub fn plan(owner: &Owner, observed: Option<&Observed>, wanted: &Wanted) -> Change {
    let Some(lb) = observed else {
        return Change::Create;
    };
    let name = &wanted.name;
    if !owner.owns(&lb.tags) {
        return Change::conflict(not_ours(owner, RESOURCE, name));
    }
    match lb.state.as_str() {
        "active" => Change::Nothing,
        "failed" => Change::conflict(format!(
            "{RESOURCE} {name} is failed and will not recover by waiting: delete it (EC2 console or `aws elbv2 delete-load-balancer`), then re-run"
        )),
        state => Change::wait(format!("{RESOURCE} {name} is {state}")),
    }
}

/// Teardown's side: delete it (its listeners first) only if it is this
/// environment's.
pub fn removal(owner: &Owner, observed: Option<&Observed>) -> Removal {
    Removal::if_ours(owner, observed.map(|o| &o.tags))
}

#[cfg(all(feature = "dynamodb", feature = "elbv2"))]
mod apply {
    use super::*;
    use crate::aws::elbv2::Elb;
    use crate::converge::{Ctx, Go};
    use crate::error::StepError;
    use crate::owner::LedgerKind;
    use crate::resources::listener;
    use crate::teardown::TeardownState;

    pub async fn observe(elb: &Elb, name: &str) -> Result<Option<Observed>, StepError> {
        let Some(mut lb) = elb.load_balancer(name).await? else {
            return Ok(None);
        };
        lb.tags = elb.tags_of(&lb.arn).await?;
        Ok(Some(lb))
    }

    /// Create the load balancer if it does not exist; answer it as it now is
    /// (a provisioning one too: its listener can be made meanwhile).
    pub async fn converge(
        elb: &Elb,
        ctx: &mut Ctx<'_>,
        wanted: &Wanted,
    ) -> Result<Observed, StepError> {
        let observed = observe(elb, &wanted.name).await?;
        let change = plan(&ctx.owner, observed.as_ref(), wanted);
        let lb = match (
            ctx.decide(RESOURCE, &wanted.name, &change)?,
            &change,
            observed,
        ) {
            (Go::Apply, Change::Create, _) => {
                let lb = elb.create_load_balancer(wanted, &ctx.tags()).await?;
                ctx.changed(format!("created {RESOURCE} {}", wanted.name));
                lb
            }
            (_, _, Some(lb)) => lb,
            (_, _, None) => created(wanted),
        };
        ctx.remember(LedgerKind::LoadBalancer, &lb.arn).await?;
        Ok(lb)
    }

    /// Delete the load balancer, its listeners first, if it is this
    /// environment's; done once ELB no longer describes it.
    pub async fn remove(
        elb: &Elb,
        owner: &Owner,
        name: &str,
        t: &mut TeardownState,
    ) -> Result<bool, StepError> {
        let observed = observe(elb, name).await?;
        match (removal(owner, observed.as_ref()), observed) {
            (Removal::Delete, Some(lb)) => {
                listener::remove(elb, &lb.arn, name, t).await?;
                elb.delete_load_balancer(&lb.arn).await?;
                t.removed.push(format!("{RESOURCE} {name}"));
                Ok(elb.load_balancer(name).await?.is_none())
            }
            (Removal::Skip { why }, _) => {
                t.skip(format!("{RESOURCE} {name}"), why);
                Ok(true)
            }
            (Removal::Wait { .. }, _) => Ok(false),
            (Removal::Delete | Removal::Gone, _) => Ok(true),
        }
    }
}
#[cfg(all(feature = "dynamodb", feature = "elbv2"))]
pub use apply::{converge, observe, remove};

#[cfg(test)]
mod tests {
    use super::*;

    fn wanted() -> Wanted {
        Wanted::new(
            &Names::new("bank", "production").unwrap(),
            &["subnet-a".into(), "subnet-b".into()],
            "sg-lb",
        )
    }

    fn lb(state: &str, app: &str) -> Observed {
        Observed {
            arn: "arn:aws:elasticloadbalancing:us-east-1:1:loadbalancer/app/bank-production/1"
                .into(),
            dns_name: "bank-production-1.us-east-1.elb.amazonaws.com".into(),
            state: state.into(),
            tags: Owner::new(app, "production").as_tags(),
        }
    }

    #[test]
    fn plan_table() {
        let owner = Owner::new("bank", "production");
        let cases: Vec<(&str, Option<Observed>, &str)> = vec![
            ("absent: create", None, "create"),
            (
                "ours and active: nothing",
                Some(lb("active", "bank")),
                "nothing",
            ),
            (
                "someone else's: conflict",
                Some(lb("active", "shop")),
                "conflict",
            ),
            (
                "still provisioning: wait",
                Some(lb("provisioning", "bank")),
                "wait",
            ),
            (
                "impaired: wait",
                Some(lb("active_impaired", "bank")),
                "wait",
            ),
            ("failed: conflict", Some(lb("failed", "bank")), "conflict"),
        ];
        for (case, observed, action) in cases {
            assert_eq!(
                plan(&owner, observed.as_ref(), &wanted()).action(),
                action,
                "{case}"
            );
        }
        // Its subnets and security group are set at creation and never
        // changed by stepdeploy: there is no update case.
    }

    #[test]
    fn a_dry_run_carries_on_with_planned_ids() {
        let lb = created(&wanted());
        assert!(crate::plan::is_planned(&lb.arn));
        assert!(crate::plan::is_planned(&lb.dns_name));
        assert!(!lb.is_active());
        assert!(self::lb("active", "bank").is_active());
    }

    #[test]
    fn removal_table() {
        let owner = Owner::new("bank", "production");
        assert_eq!(removal(&owner, None), Removal::Gone);
        assert_eq!(
            removal(&owner, Some(&lb("active", "bank"))),
            Removal::Delete
        );
        assert_eq!(
            removal(&owner, Some(&lb("failed", "bank"))),
            Removal::Delete
        );
        assert!(matches!(
            removal(&owner, Some(&lb("active", "shop"))),
            Removal::Skip { .. }
        ));
    }
}
