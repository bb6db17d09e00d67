//! The Fargate service: one per environment, in its cluster, behind the
//! load balancer's target group, rolled out behind the deployment circuit
//! breaker. Its plan creates it, points it at the wanted task definition
//! and count, or waits for the rollout; a rollout that failed or that ECS
//! rolled back is the deployment's failure. Teardown scales it to 0,
//! deletes it and waits while it drains.

use crate::naming::Names;
use crate::owner::{Owner, Tags};
use crate::plan::{Change, Removal};
use crate::steps::not_ours;

/// How a person calls it (plan lines, errors, teardown reports).
pub const RESOURCE: &str = "ECS service";

/// What the service should run and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wanted {
    /// The cluster's ARN (or name).
    pub cluster: String,
    pub name: String,
    pub task_definition: String,
    pub desired: i32,
    pub subnets: Vec<String>,
    pub security_group: String,
    pub target_group: String,
    pub container_name: String,
    pub container_port: i32,
}

/// One of the service's deployments (ECS keeps the old one while a rollout runs).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Deployment {
    /// `PRIMARY` (the newest), `ACTIVE` (an older one still running) or `INACTIVE`.
    pub status: String,
    pub task_definition: String,
    /// `IN_PROGRESS`, `COMPLETED` or `FAILED` (empty when ECS does not say).
    pub rollout_state: String,
    pub rollout_reason: String,
    pub running: i32,
    pub desired: i32,
}

/// A service as ECS describes it (INACTIVE ones are not described: gone).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Observed {
    pub arn: String,
    /// `ACTIVE` or `DRAINING`.
    pub status: String,
    pub task_definition: String,
    pub desired: i32,
    pub running: i32,
    pub deployments: Vec<Deployment>,
    /// The newest service events, newest first.
    pub events: Vec<String>,
    pub tags: Tags,
}

impl Observed {
    /// The newest deployment, the one a rollout is about.
    pub fn primary(&self) -> Option<&Deployment> {
        self.deployments.iter().find(|d| d.status == "PRIMARY")
    }

    /// The service events, as a failure quotes them.
    fn recent_events(&self) -> String {
        self.events.join(" | ")
    }
}

/// Whether the service needs an `UpdateService` (another task definition or count).
fn differences(s: &Observed, wanted: &Wanted) -> Vec<String> {
    let mut out = Vec::new();
    if s.task_definition != wanted.task_definition {
        out.push(format!(
            "task definition {} -> {}",
            short(&s.task_definition),
            short(&wanted.task_definition)
        ));
    }
    if s.desired != wanted.desired {
        out.push(format!("desired count {} -> {}", s.desired, wanted.desired));
    }
    out
}

/// `family:revision` of a task definition ARN.
fn short(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

/// The rollout is over: one deployment, running the wanted task definition
/// at the desired count, COMPLETED.
pub fn ready(s: &Observed, wanted: &Wanted) -> bool {
    s.deployments.len() == 1
        && s.primary().is_some_and(|p| {
            p.task_definition == wanted.task_definition
                && p.rollout_state == "COMPLETED"
                && p.running >= wanted.desired
        })
}

/// Whether the rollout this deployment asked for has failed, in the words
/// users see: ECS rolled back what an earlier poll of this deployment
/// applied (`applied_before`), or the primary rollout of the wanted task
/// definition FAILED. Either way with the service's recent events.
pub fn failure(s: &Observed, wanted: &Wanted, applied_before: bool) -> Option<String> {
    let td = &wanted.task_definition;
    if applied_before && s.task_definition != *td {
        let reason = s
            .deployments
            .iter()
            .map(|d| d.rollout_reason.as_str())
            .find(|r| !r.is_empty())
            .unwrap_or_default();
        return Some(format!(
            "the rollout of {td} was rolled back to {}: {reason}; recent service events: {}",
            s.task_definition,
            s.recent_events()
        ));
    }
    if !differences(s, wanted).is_empty() {
        return None; // a new rollout replaces whatever happened to the last one
    }
    let p = s.primary().filter(|p| p.rollout_state == "FAILED")?;
    Some(format!(
        "the rollout of {td} failed: {}; recent service events: {}",
        p.rollout_reason,
        s.recent_events()
    ))
}

/// `applied_before`: an earlier poll of this deployment already pointed the
/// service at the wanted task definition (so a different one means ECS
/// rolled it back). A failed rollout plans as `Failed`: the deployment fails
/// with its reason (see [`failure`]).
pub fn plan(
    owner: &Owner,
    observed: Option<&Observed>,
    wanted: &Wanted,
    applied_before: bool,
) -> Change {
    let Some(s) = observed else {
        return Change::Create;
    };
    if !owner.owns(&s.tags) {
        return Change::conflict(not_ours(owner, RESOURCE, &wanted.name));
    }
    if s.status == "DRAINING" {
        return Change::wait(format!(
            "{RESOURCE} {} is being deleted; it is created again once gone",
            wanted.name
        ));
    }
    if let Some(why) = failure(s, wanted, applied_before) {
        return Change::failed(why);
    }
    let diff = differences(s, wanted);
    if !diff.is_empty() {
        // One UpdateService sets both: one entry.
        return Change::update(diff.join("; "));
    }
    if ready(s, wanted) {
        return Change::Nothing;
    }
    let (state, running) = s
        .primary()
        .map(|p| (p.rollout_state.as_str(), p.running))
        .unwrap_or(("", 0));
    Change::wait(format!(
        "{RESOURCE} {}: rollout {} of {}: {running} of {} tasks running, {} deployments",
        wanted.name,
        if state.is_empty() { "pending" } else { state },
        short(&wanted.task_definition),
        wanted.desired,
        s.deployments.len()
    ))
}

/// Teardown's side: scale to 0 and delete it only if it is this
/// environment's; while it drains, wait.
pub fn removal(owner: &Owner, observed: Option<&Observed>) -> Removal {
    match (Removal::if_ours(owner, observed.map(|o| &o.tags)), observed) {
        (Removal::Delete, Some(s)) if s.status == "DRAINING" => Removal::Wait {
            why: format!("{RESOURCE} is draining"),
        },
        (removal, _) => removal,
    }
}

/// The service an environment has: its cluster and name.
pub fn located(names: &Names) -> (String, String) {
    (names.cluster(), names.service())
}

#[cfg(feature = "ecs")]
mod apply {
    use super::*;
    use crate::aws::ecs::Ecs;
    use crate::error::StepError;
    use crate::owner::LedgerKind;
    use crate::plan::is_planned;
    use crate::steps::{Ctx, Go};
    use crate::teardown::TeardownState;

    /// The service, unless its cluster is one a dry run would create (then
    /// there is none, and the planned ARN is never sent to AWS).
    pub async fn observe(ecs: &Ecs, wanted: &Wanted) -> Result<Option<Observed>, StepError> {
        if is_planned(&wanted.cluster) {
            return Ok(None);
        }
        ecs.service(&wanted.cluster, &wanted.name).await
    }

    /// Converge the service; `Some(observed)` when it already ran and nothing
    /// was applied (the caller reads the rollout from it), `None` after a
    /// create or an update (the rollout has just begun).
    pub async fn converge(
        ecs: &Ecs,
        ctx: &mut Ctx<'_>,
        wanted: &Wanted,
        applied_before: bool,
    ) -> Result<Option<Observed>, StepError> {
        let observed = observe(ecs, wanted).await?;
        if let Some(s) = observed.as_ref().filter(|s| ctx.owner.owns(&s.tags)) {
            ctx.remember(LedgerKind::Service, &s.arn).await?;
        }
        let change = plan(&ctx.owner, observed.as_ref(), wanted, applied_before);
        match (ctx.decide(RESOURCE, &wanted.name, &change)?, &change) {
            (Go::Apply, Change::Create) => {
                let arn = ecs.create_service(wanted, &ctx.tags()).await?;
                ctx.changed(format!(
                    "created service {} ({} tasks)",
                    wanted.name, wanted.desired
                ));
                ctx.remember(LedgerKind::Service, &arn).await?;
                Ok(None)
            }
            (Go::Apply, _) => {
                ecs.update_service(
                    &wanted.cluster,
                    &wanted.name,
                    &wanted.task_definition,
                    wanted.desired,
                )
                .await?;
                ctx.changed(format!(
                    "updated service {} to {} ({} tasks)",
                    wanted.name, wanted.task_definition, wanted.desired
                ));
                Ok(None)
            }
            (Go::Pretend, _) => Ok(None),
            (Go::Skip, _) => Ok(observed),
        }
    }

    /// Scale the service to 0 and delete it; done once ECS no longer lists
    /// it as active or draining.
    pub async fn remove(
        ecs: &Ecs,
        owner: &Owner,
        names: &Names,
        t: &mut TeardownState,
    ) -> Result<bool, StepError> {
        let (cluster, name) = located(names);
        let observed = ecs.service(&cluster, &name).await?;
        match removal(owner, observed.as_ref()) {
            Removal::Gone => Ok(true),
            Removal::Skip { why } => {
                t.skip(format!("{RESOURCE} {name}"), why);
                Ok(true)
            }
            Removal::Wait { .. } => Ok(false),
            Removal::Delete => {
                if observed.is_some_and(|s| s.desired > 0) {
                    ecs.scale_to_zero(&cluster, &name).await?;
                }
                ecs.delete_service(&cluster, &name).await?;
                t.removed.push(format!("{RESOURCE} {name}"));
                Ok(ecs.service(&cluster, &name).await?.is_none())
            }
        }
    }
}
#[cfg(feature = "ecs")]
pub use apply::{converge, observe, remove};

#[cfg(test)]
mod tests {
    use super::*;

    const OLD: &str = "arn:aws:ecs:us-east-1:1:task-definition/bank-production:7";
    const NEW: &str = "arn:aws:ecs:us-east-1:1:task-definition/bank-production:8";

    fn wanted() -> Wanted {
        Wanted {
            cluster: "arn:aws:ecs:us-east-1:1:cluster/bank-production".into(),
            name: "bank-production".into(),
            task_definition: NEW.into(),
            desired: 2,
            subnets: vec!["subnet-1".into()],
            security_group: "sg-tasks".into(),
            target_group: "arn:tg".into(),
            container_name: "web".into(),
            container_port: 8000,
        }
    }

    fn deployment(td: &str, rollout: &str, running: i32, reason: &str) -> Deployment {
        Deployment {
            status: "PRIMARY".into(),
            task_definition: td.into(),
            rollout_state: rollout.into(),
            rollout_reason: reason.into(),
            running,
            desired: 2,
        }
    }

    /// A service of `app` running `td` at 2 tasks, with these deployments.
    fn service(app: &str, status: &str, td: &str, deployments: Vec<Deployment>) -> Observed {
        Observed {
            arn: "arn:aws:ecs:us-east-1:1:service/bank-production/bank-production".into(),
            status: status.into(),
            task_definition: td.into(),
            desired: 2,
            running: 2,
            deployments,
            events: vec!["(service bank-production) task stopped: CannotPullContainerError".into()],
            tags: Owner::new(app, "production").as_tags(),
        }
    }

    fn steady(td: &str) -> Observed {
        service(
            "bank",
            "ACTIVE",
            td,
            vec![deployment(td, "COMPLETED", 2, "ECS deployment completed.")],
        )
    }

    #[test]
    fn plan_table() {
        let owner = Owner::new("bank", "production");
        let breaker = "ECS deployment circuit breaker: tasks failed to start.";
        let mut more = steady(NEW);
        more.desired = 1;
        let mut second_deployment = steady(NEW);
        second_deployment.deployments.push(Deployment {
            status: "ACTIVE".into(),
            ..deployment(OLD, "COMPLETED", 2, "")
        });
        // (case, observed, applied by an earlier poll, action)
        let cases: Vec<(&str, Option<Observed>, bool, &str)> = vec![
            ("absent: create", None, false, "create"),
            (
                "steady on the wanted revision: nothing",
                Some(steady(NEW)),
                false,
                "nothing",
            ),
            (
                "runs the old revision: update",
                Some(steady(OLD)),
                false,
                "update",
            ),
            ("another desired count: update", Some(more), false, "update"),
            (
                "someone else's service: conflict",
                Some(service("shop", "ACTIVE", NEW, vec![])),
                false,
                "conflict",
            ),
            (
                "rollout in progress: wait",
                Some(service(
                    "bank",
                    "ACTIVE",
                    NEW,
                    vec![deployment(
                        NEW,
                        "IN_PROGRESS",
                        0,
                        "ECS deployment in progress.",
                    )],
                )),
                true,
                "wait",
            ),
            (
                "completed but the old deployment still drains: wait",
                Some(second_deployment),
                true,
                "wait",
            ),
            (
                "completed, too few tasks yet: wait",
                Some(service(
                    "bank",
                    "ACTIVE",
                    NEW,
                    vec![deployment(NEW, "COMPLETED", 1, "")],
                )),
                true,
                "wait",
            ),
            (
                "rollout failed: failed (the deployment fails)",
                Some(service(
                    "bank",
                    "ACTIVE",
                    NEW,
                    vec![deployment(NEW, "FAILED", 0, breaker)],
                )),
                true,
                "failed",
            ),
            (
                "rolled back by the circuit breaker: failed (the deployment fails)",
                Some(service(
                    "bank",
                    "ACTIVE",
                    OLD,
                    vec![deployment(OLD, "COMPLETED", 2, breaker)],
                )),
                true,
                "failed",
            ),
            (
                "the last rollout failed, a new revision is wanted: update",
                Some(service(
                    "bank",
                    "ACTIVE",
                    OLD,
                    vec![deployment(OLD, "FAILED", 0, breaker)],
                )),
                false,
                "update",
            ),
            (
                "being deleted: wait",
                Some(service("bank", "DRAINING", NEW, vec![])),
                false,
                "wait",
            ),
        ];
        for (case, observed, applied_before, action) in cases {
            let change = plan(&owner, observed.as_ref(), &wanted(), applied_before);
            assert_eq!(change.action(), action, "{case}: {change:?}");
            assert!(change.calls() <= 1, "{case}: one call at most");
        }
    }

    #[test]
    fn a_new_commit_is_one_update_naming_both_revisions() {
        let owner = Owner::new("bank", "production");
        let mut s = steady(OLD);
        s.desired = 1;
        let change = plan(&owner, Some(&s), &wanted(), false);
        assert_eq!(change.calls(), 1);
        assert_eq!(
            change.detail(),
            "task definition bank-production:7 -> bank-production:8; desired count 1 -> 2"
        );
    }

    #[test]
    fn failures_read_as_users_see_them() {
        let breaker = "ECS deployment circuit breaker: tasks failed to start.";
        let rolled_back = service(
            "bank",
            "ACTIVE",
            OLD,
            vec![deployment(OLD, "COMPLETED", 2, breaker)],
        );
        let why = failure(&rolled_back, &wanted(), true).unwrap();
        assert!(
            why.starts_with(&format!(
                "the rollout of {NEW} was rolled back to {OLD}: {breaker}"
            )),
            "{why}"
        );
        assert!(why.contains("recent service events: (service bank-production) task stopped: CannotPullContainerError"), "{why}");
        // Not applied by this deployment yet: the old revision is simply what runs.
        assert_eq!(failure(&rolled_back, &wanted(), false), None);

        let failed = service(
            "bank",
            "ACTIVE",
            NEW,
            vec![deployment(NEW, "FAILED", 0, breaker)],
        );
        let why = failure(&failed, &wanted(), true).unwrap();
        assert!(
            why.starts_with(&format!("the rollout of {NEW} failed: {breaker}")),
            "{why}"
        );
        assert_eq!(failure(&steady(NEW), &wanted(), true), None);
    }

    #[test]
    fn ready_only_when_the_one_deployment_completed_at_the_count() {
        assert!(ready(&steady(NEW), &wanted()));
        assert!(!ready(&steady(OLD), &wanted()));
        let mut few = steady(NEW);
        few.deployments[0].running = 1;
        assert!(!ready(&few, &wanted()));
        let mut none = steady(NEW);
        none.deployments.clear();
        assert!(!ready(&none, &wanted()));
    }

    #[test]
    fn removal_table() {
        let owner = Owner::new("bank", "production");
        let cases: Vec<(&str, Option<Observed>, &str)> = vec![
            ("absent: gone", None, "gone"),
            ("ours: delete", Some(steady(NEW)), "delete"),
            (
                "draining: wait",
                Some(service("bank", "DRAINING", NEW, vec![])),
                "wait",
            ),
            (
                "someone else's: skip",
                Some(service("shop", "ACTIVE", NEW, vec![])),
                "skip",
            ),
        ];
        for (case, observed, want) in cases {
            let got = match removal(&owner, observed.as_ref()) {
                Removal::Gone => "gone",
                Removal::Delete => "delete",
                Removal::Wait { .. } => "wait",
                Removal::Skip { .. } => "skip",
            };
            assert_eq!(got, want, "{case}");
        }
    }
}
