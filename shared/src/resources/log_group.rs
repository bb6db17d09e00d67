//! The CloudWatch log group the app's tasks write to: one per environment,
//! found by name, kept for [`RETENTION_DAYS`] days. Teardown keeps it (the
//! logs outlive the environment) unless it is asked to delete the logs.

use crate::converge::not_ours;
pub use crate::model::log_group::Observed;
use crate::naming::Names;
use crate::owner::Owner;
use crate::plan::{Change, Removal};

/// How a person calls it (plan lines, errors, teardown reports).
pub const RESOURCE: &str = "log group";

/// Days the app's logs are kept.
pub const RETENTION_DAYS: i32 = 30;

/// Why teardown leaves an environment's own log group in place.
pub const KEPT: &str =
    "kept so the logs outlive the environment; start with \"delete_logs\": true to remove it";

/// The log group an environment wants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wanted {
    pub name: String,
    pub retention_days: i32,
}

impl Wanted {
    pub fn new(names: &Names) -> Wanted {
        Wanted {
            name: names.log_group(),
            retention_days: RETENTION_DAYS,
        }
    }
}

/// The group as it stands right after `CreateLogGroup`: ours, kept forever.
/// Planning again on it yields the calls a create takes after the create.
pub fn created(owner: &Owner) -> Observed {
    Observed {
        arn: String::new(),
        retention_days: None,
        tags: owner
            .tags()
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
    }
}

/// Log groups have no creating or failed state: they exist at once, or not.
pub fn plan(owner: &Owner, observed: Option<&Observed>, wanted: &Wanted) -> Change {
    let Some(g) = observed else {
        return Change::Create;
    };
    if !owner.owns(&g.tags) {
        return Change::conflict(not_ours(owner, RESOURCE, &wanted.name));
    }
    if g.retention_days == Some(wanted.retention_days) {
        return Change::Nothing;
    }
    let now = match g.retention_days {
        Some(days) => format!("{days} days"),
        None => "never expire".into(),
    };
    Change::update(format!(
        "retention: {now} -> {} days",
        wanted.retention_days
    ))
}

/// Teardown's side: delete it only if it is this environment's and the
/// teardown asked for the logs to go.
pub fn removal(owner: &Owner, observed: Option<&Observed>, delete_logs: bool) -> Removal {
    match (Removal::if_ours(owner, observed.map(|o| &o.tags)), observed) {
        (Removal::Delete, Some(_)) if !delete_logs => Removal::Skip { why: KEPT.into() },
        (removal, _) => removal,
    }
}

#[cfg(feature = "logs")]
mod apply {
    use super::*;
    use crate::aws::logs::Logs;
    use crate::converge::{remove_one, Ctx, Deleted, Go};
    use crate::error::StepError;
    use crate::owner::LedgerKind;
    use crate::teardown::TeardownState;

    pub async fn observe(logs: &Logs, wanted: &Wanted) -> Result<Option<Observed>, StepError> {
        logs.group(&wanted.name).await
    }

    /// Create the group (then set its retention), or fix its retention.
    pub async fn converge(
        logs: &Logs,
        ctx: &mut Ctx<'_>,
        wanted: &Wanted,
    ) -> Result<(), StepError> {
        let observed = observe(logs, wanted).await?;
        let mut change = plan(&ctx.owner, observed.as_ref(), wanted);
        if change == Change::Create {
            if ctx.decide(RESOURCE, &wanted.name, &change)? == Go::Apply {
                logs.create_group(&wanted.name, &ctx.tags()).await?;
                ctx.changed(format!("created {RESOURCE} {}", wanted.name));
            }
            // A new group keeps its events forever: its retention follows.
            change = plan(&ctx.owner, Some(&created(&ctx.owner)), wanted);
        }
        if ctx.decide(RESOURCE, &wanted.name, &change)? == Go::Apply {
            logs.set_retention(&wanted.name, wanted.retention_days)
                .await?;
            ctx.changed(format!(
                "set the retention of {} to {} days",
                wanted.name, wanted.retention_days
            ));
        }
        ctx.remember(LedgerKind::LogGroup, &wanted.name).await
    }

    /// Delete the group if it is this environment's and the teardown asks for it.
    pub async fn remove(
        logs: &Logs,
        owner: &Owner,
        wanted: &Wanted,
        t: &mut TeardownState,
    ) -> Result<(), StepError> {
        let observed = observe(logs, wanted).await?;
        let label = format!("{RESOURCE} {}", wanted.name);
        let decided = removal(owner, observed.as_ref(), t.delete_logs);
        remove_one(t, label.clone(), decided, observed, async |_| {
            logs.delete_group(&wanted.name).await?;
            Ok(Deleted::Yes {
                removed: label,
                gone: true,
            })
        })
        .await?;
        Ok(())
    }
}
#[cfg(feature = "logs")]
pub use apply::{converge, observe, remove};

#[cfg(test)]
mod tests {
    use super::*;

    fn group(retention: Option<i32>, app: &str) -> Observed {
        Observed {
            arn: "arn:aws:logs:us-east-1:1:log-group:/stepdeploy/bank/production".into(),
            retention_days: retention,
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
                "ours, 30 days: nothing",
                Some(group(Some(30), "bank")),
                "nothing",
            ),
            (
                "ours, kept forever: update",
                Some(group(None, "bank")),
                "update",
            ),
            (
                "ours, 7 days: update",
                Some(group(Some(7), "bank")),
                "update",
            ),
            (
                "someone else's: conflict",
                Some(group(Some(30), "shop")),
                "conflict",
            ),
            (
                "just created: its retention follows",
                Some(created(&owner)),
                "update",
            ),
        ];
        for (case, observed, action) in cases {
            let change = plan(&owner, observed.as_ref(), &wanted);
            assert_eq!(change.action(), action, "{case}");
            assert!(change.calls() <= 1, "{case}: one call at most");
        }
        // A log group is never "still creating" nor in a failed state: it
        // exists at once or not at all, so there are no wait or failed cases.
    }

    #[test]
    fn a_create_plans_two_calls_in_all() {
        let owner = Owner::new("bank", "production");
        let wanted = Wanted::new(&Names::new("bank", "production").unwrap());
        let first = plan(&owner, None, &wanted);
        let then = plan(&owner, Some(&created(&owner)), &wanted);
        assert_eq!(first.calls() + then.calls(), 2);
        assert!(then.detail().contains("30 days"), "{}", then.detail());
    }

    #[test]
    fn removal_table() {
        let owner = Owner::new("bank", "production");
        let ours = group(Some(30), "bank");
        let theirs = group(Some(30), "shop");
        assert_eq!(removal(&owner, None, true), Removal::Gone);
        assert_eq!(removal(&owner, Some(&ours), true), Removal::Delete);
        assert_eq!(
            removal(&owner, Some(&ours), false),
            Removal::Skip { why: KEPT.into() }
        );
        for delete_logs in [true, false] {
            assert_eq!(
                removal(&owner, Some(&theirs), delete_logs),
                Removal::Skip {
                    why: crate::plan::NOT_OURS.into()
                },
                "never someone else's, delete_logs {delete_logs}"
            );
        }
    }
}
