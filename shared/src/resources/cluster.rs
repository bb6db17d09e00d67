//! The ECS cluster the service runs in: one per environment, found by name.

use crate::converge::not_ours;
pub use crate::model::cluster::Observed;
use crate::naming::Names;
use crate::owner::Owner;
use crate::plan::{Change, Removal};

/// How a person calls it (plan lines, errors, teardown reports).
pub const RESOURCE: &str = "ECS cluster";

/// The cluster an environment wants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wanted {
    pub name: String,
}

impl Wanted {
    pub fn new(names: &Names) -> Wanted {
        Wanted {
            name: names.cluster(),
        }
    }
}

pub fn plan(owner: &Owner, observed: Option<&Observed>, wanted: &Wanted) -> Change {
    let Some(c) = observed else {
        return Change::Create;
    };
    if !owner.owns(&c.tags) {
        return Change::conflict(not_ours(owner, RESOURCE, &wanted.name));
    }
    match c.status.as_str() {
        "PROVISIONING" => Change::wait(format!("{RESOURCE} {} is provisioning", wanted.name)),
        "DEPROVISIONING" => Change::wait(format!(
            "{RESOURCE} {} is being deleted; it is created again once gone",
            wanted.name
        )),
        "FAILED" => Change::conflict(format!(
            "{RESOURCE} {} is FAILED and will not recover by waiting: delete it (ECS console or `aws ecs delete-cluster`), then re-run",
            wanted.name
        )),
        _ => Change::Nothing,
    }
}

/// Teardown's side: delete it only if it is this environment's.
pub fn removal(owner: &Owner, observed: Option<&Observed>) -> Removal {
    Removal::if_ours(owner, observed.map(|o| &o.tags))
}

#[cfg(feature = "ecs")]
mod apply {
    use super::*;
    use crate::aws::ecs::Ecs;
    use crate::converge::{remove_one, Ctx, Deleted, Go};
    use crate::error::StepError;
    use crate::owner::LedgerKind;
    use crate::plan::planned;
    use crate::teardown::TeardownState;

    pub async fn observe(ecs: &Ecs, wanted: &Wanted) -> Result<Option<Observed>, StepError> {
        ecs.cluster(&wanted.name).await
    }

    /// The cluster's ARN once it is usable; `None` while it is not (wait).
    pub async fn converge(
        ecs: &Ecs,
        ctx: &mut Ctx<'_>,
        wanted: &Wanted,
    ) -> Result<Option<String>, StepError> {
        let observed = observe(ecs, wanted).await?;
        let change = plan(&ctx.owner, observed.as_ref(), wanted);
        let arn = match (ctx.decide(RESOURCE, &wanted.name, &change)?, &change) {
            (Go::Apply, Change::Create) => {
                let arn = ecs.create_cluster(&wanted.name, &ctx.tags()).await?;
                ctx.changed(format!("created {RESOURCE} {}", wanted.name));
                arn
            }
            (Go::Pretend, Change::Create) => planned("cluster"),
            (_, Change::Wait { .. }) => return Ok(None),
            _ => observed
                .map(|c| c.arn)
                .unwrap_or_else(|| planned("cluster")),
        };
        ctx.remember(LedgerKind::Cluster, &arn).await?;
        Ok(Some(arn))
    }

    /// Delete the cluster if it is this environment's; done at once.
    pub async fn remove(
        ecs: &Ecs,
        owner: &Owner,
        wanted: &Wanted,
        t: &mut TeardownState,
    ) -> Result<bool, StepError> {
        let observed = observe(ecs, wanted).await?;
        let label = format!("{RESOURCE} {}", wanted.name);
        let decided = removal(owner, observed.as_ref());
        remove_one(t, label.clone(), decided, observed, async |_| {
            ecs.delete_cluster(&wanted.name).await?;
            Ok(Deleted::Yes {
                removed: label,
                gone: true,
            })
        })
        .await
    }
}
#[cfg(feature = "ecs")]
pub use apply::{converge, observe, remove};

#[cfg(test)]
mod tests {
    use super::*;

    fn cluster(status: &str, app: &str) -> Observed {
        Observed {
            arn: "arn:aws:ecs:us-east-1:1:cluster/bank-production".into(),
            status: status.into(),
            tags: Owner::new(app, "production").as_tags(),
        }
    }

    #[test]
    fn plan_table() {
        let owner = Owner::new("bank", "production");
        let wanted = Wanted::new(&Names::new("bank", "production").unwrap());
        let cases: Vec<(&str, Option<Observed>, &str)> = vec![
            ("absent: create", None, "create"),
            (
                "ours and active: nothing",
                Some(cluster("ACTIVE", "bank")),
                "nothing",
            ),
            (
                "someone else's: conflict",
                Some(cluster("ACTIVE", "shop")),
                "conflict",
            ),
            (
                "still creating: wait",
                Some(cluster("PROVISIONING", "bank")),
                "wait",
            ),
            (
                "being deleted: wait",
                Some(cluster("DEPROVISIONING", "bank")),
                "wait",
            ),
            (
                "failed: conflict",
                Some(cluster("FAILED", "bank")),
                "conflict",
            ),
        ];
        for (case, observed, action) in cases {
            assert_eq!(
                plan(&owner, observed.as_ref(), &wanted).action(),
                action,
                "{case}"
            );
        }
        // No cluster has a setting that stepdeploy updates: there is no update case.
    }

    #[test]
    fn removal_table() {
        let owner = Owner::new("bank", "production");
        assert_eq!(removal(&owner, None), Removal::Gone);
        assert_eq!(
            removal(&owner, Some(&cluster("ACTIVE", "bank"))),
            Removal::Delete
        );
        assert!(matches!(
            removal(&owner, Some(&cluster("ACTIVE", "shop"))),
            Removal::Skip { .. }
        ));
    }
}
