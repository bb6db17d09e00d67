//! The Fargate service: one per environment, in its cluster, behind the
//! load balancer's target group, rolled out behind the deployment circuit
//! breaker. Its plan creates it, points it at the wanted task definition
//! and count, replaces its running tasks once when the deployment asks for
//! a restart (a forced new deployment), or waits for the rollout, quoting
//! the newest task failure ECS reported and what to do about it; a rollout
//! that failed or that ECS rolled back is the deployment's failure.
//! Teardown scales it to 0, deletes it and waits while it drains.

use crate::converge::not_ours;
pub use crate::model::service::{Deployment, Observed, Wanted};
use crate::naming::Names;
use crate::owner::Owner;
use crate::plan::{Change, Removal};

/// How a person calls it (plan lines, errors, teardown reports).
pub const RESOURCE: &str = "ECS service";

/// What earlier polls of this deployment did to the service: the plan's
/// memory between polls, read from the step's section of the deploy state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Before {
    /// An earlier poll pointed the service at the wanted task definition, so
    /// another one now means ECS rolled it back.
    pub applied: bool,
    /// An earlier poll started a rollout (created the service, updated it,
    /// or forced a new deployment): the tasks are being replaced already, so
    /// a restart is not forced again.
    pub rolled_out: bool,
}

/// Whether this poll must force a new deployment: the deployment asks for a
/// restart and no poll of it has started a rollout yet.
pub fn restart_pending(wanted: &Wanted, before: Before) -> bool {
    wanted.restart.is_some() && !before.rolled_out
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
/// applied (`before.applied`), or the primary rollout of the wanted task
/// definition FAILED. Either way with the service's recent events. A
/// rollout this deployment is about to start (another revision, or a
/// pending restart) replaces whatever happened to the last one.
pub fn failure(s: &Observed, wanted: &Wanted, before: Before) -> Option<String> {
    let td = &wanted.task_definition;
    if before.applied && s.task_definition != *td {
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
    if !differences(s, wanted).is_empty() || restart_pending(wanted, before) {
        return None;
    }
    let p = s.primary().filter(|p| p.rollout_state == "FAILED")?;
    Some(format!(
        "the rollout of {td} failed: {}; recent service events: {}",
        p.rollout_reason,
        s.recent_events()
    ))
}

/// What a service event says went wrong with a task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskTrouble {
    /// The load balancer (or the container's own check) found it unhealthy.
    HealthCheck,
    /// It stopped, or never started.
    Stopped,
}

/// Whether a service event reports a task failing or stopping (ECS's words,
/// e.g. `(service x) (task abc) failed ELB health checks in (target-group …)`,
/// `(service x) has stopped 1 running tasks: …`, `… is unhealthy in (target-group …)`).
pub fn trouble(event: &str) -> Option<TaskTrouble> {
    let e = event.to_ascii_lowercase();
    const HEALTH: [&str; 4] = [
        "failed elb health checks",
        "is unhealthy in",
        "failed container health checks",
        "health checks failed",
    ];
    const STOPPED: [&str; 6] = [
        "has stopped",
        "task stopped",
        "failed to start",
        "failed to launch",
        "was unable to place",
        "essential container in task exited",
    ];
    if HEALTH.iter().any(|p| e.contains(p)) {
        Some(TaskTrouble::HealthCheck)
    } else if STOPPED.iter().any(|p| e.contains(p)) {
        Some(TaskTrouble::Stopped)
    } else {
        None
    }
}

/// The newest event reporting task trouble since the service was last
/// steady (events are newest first; what went wrong before the last steady
/// state is not this rollout's).
pub fn newest_trouble(events: &[String]) -> Option<(&str, TaskTrouble)> {
    let recent: Vec<(&str, TaskTrouble)> = events
        .iter()
        .take_while(|e| !e.contains("has reached a steady state"))
        .filter_map(|e| trouble(e).map(|t| (e.as_str(), t)))
        .collect();
    // A failed health check says why; the "has stopped" that follows it, only what.
    recent
        .iter()
        .find(|(_, t)| *t == TaskTrouble::HealthCheck)
        .or(recent.first())
        .copied()
}

/// What a person does about it.
pub fn advice(trouble: TaskTrouble, wanted: &Wanted) -> String {
    match trouble {
        TaskTrouble::HealthCheck => format!(
            "make the app answer HTTP 200 at its health check path {} on the container port {}, or read the task's logs in CloudWatch (log group {})",
            wanted.health_check_path, wanted.container_port, wanted.log_group
        ),
        TaskTrouble::Stopped => format!(
            "read the stopped task's reason (ECS console: the service's Tasks tab, filter Stopped) and its logs in CloudWatch (log group {})",
            wanted.log_group
        ),
    }
}

/// Why the step waits for a rollout: its progress and, while it is in
/// progress, the newest task failure ECS reported with what to do about it.
/// It becomes the `StepTimedOut` cause when the step's deadline passes.
pub fn waiting(s: &Observed, wanted: &Wanted) -> String {
    let (state, running) = s
        .primary()
        .map(|p| (p.rollout_state.as_str(), p.running))
        .unwrap_or(("", 0));
    let mut why = format!(
        "{RESOURCE} {}: rollout {} of {}: {running} of {} tasks running, {} deployments",
        wanted.name,
        if state.is_empty() { "pending" } else { state },
        short(&wanted.task_definition),
        wanted.desired,
        s.deployments.len()
    );
    if state == "IN_PROGRESS" {
        if let Some((event, t)) = newest_trouble(&s.events) {
            why.push_str(&format!("; ECS reports \"{event}\": {}", advice(t, wanted)));
        }
    }
    why
}

/// `before`: what earlier polls of this deployment did (see [`Before`]). A
/// failed rollout plans as `Failed`: the deployment fails with its reason
/// (see [`failure`]). A restart is one forced new deployment, planned once
/// the service is otherwise converged.
pub fn plan(owner: &Owner, observed: Option<&Observed>, wanted: &Wanted, before: Before) -> Change {
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
    if let Some(why) = failure(s, wanted, before) {
        return Change::failed(why);
    }
    let diff = differences(s, wanted);
    if !diff.is_empty() {
        // One UpdateService sets both: one entry. A new revision replaces
        // the tasks anyway, so a pending restart needs nothing more.
        return Change::update(diff.join("; "));
    }
    // A pending restart waits for a rollout in progress, then replaces the
    // tasks; a failed last rollout it replaces at once.
    let failed_before = s.primary().is_some_and(|p| p.rollout_state == "FAILED");
    if let (Some(why), true) = (&wanted.restart, restart_pending(wanted, before)) {
        if ready(s, wanted) || failed_before {
            return Change::update(format!("replace the running tasks: {why}"));
        }
    }
    if ready(s, wanted) {
        return Change::Nothing;
    }
    Change::wait(waiting(s, wanted))
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
    use crate::converge::{remove_one, Ctx, Deleted, Go};
    use crate::error::StepError;
    use crate::owner::LedgerKind;
    use crate::plan::is_planned;
    use crate::teardown::TeardownState;

    /// The service, unless its cluster is one a dry run would create (then
    /// there is none, and the planned ARN is never sent to AWS).
    pub async fn observe(ecs: &Ecs, wanted: &Wanted) -> Result<Option<Observed>, StepError> {
        if is_planned(&wanted.cluster) {
            return Ok(None);
        }
        ecs.service(&wanted.cluster, &wanted.name).await
    }

    /// What converging found or did.
    #[derive(Debug)]
    pub enum Converged {
        /// A create or an update: the rollout has just begun.
        Applied,
        /// Nothing applied: the rollout is read from the service as observed.
        Seen(Observed),
        /// The rollout failed (ECS failed or rolled it back), with why and the
        /// service as observed: the step finds out the cause
        /// ([`crate::diagnosis`]). Only outside a dry run, which plans it.
        Failed { why: String, seen: Observed },
    }

    /// Converge the service.
    pub async fn converge(
        ecs: &Ecs,
        ctx: &mut Ctx<'_>,
        wanted: &Wanted,
        before: Before,
    ) -> Result<Converged, StepError> {
        let observed = observe(ecs, wanted).await?;
        if let Some(s) = observed.as_ref().filter(|s| ctx.owner.owns(&s.tags)) {
            ctx.remember(LedgerKind::Service, &s.arn).await?;
        }
        let change = plan(&ctx.owner, observed.as_ref(), wanted, before);
        if let (Change::Failed { why }, Some(seen), false) = (&change, &observed, ctx.dry_run) {
            return Ok(Converged::Failed {
                why: why.clone(),
                seen: seen.clone(),
            });
        }
        match (ctx.decide(RESOURCE, &wanted.name, &change)?, &change) {
            (Go::Apply, Change::Create) => {
                let arn = ecs.create_service(wanted, &ctx.tags()).await?;
                ctx.changed(format!(
                    "created service {} ({} tasks)",
                    wanted.name, wanted.desired
                ));
                ctx.remember(LedgerKind::Service, &arn).await?;
                Ok(Converged::Applied)
            }
            (Go::Apply, _) => {
                let force = restart_pending(wanted, before);
                ecs.update_service(
                    &wanted.cluster,
                    &wanted.name,
                    &wanted.task_definition,
                    wanted.desired,
                    force,
                )
                .await?;
                // Only a restart when nothing else differed (a new revision says so instead).
                let restart_only = force
                    && observed
                        .as_ref()
                        .is_some_and(|s| differences(s, wanted).is_empty());
                ctx.changed(match &wanted.restart {
                    Some(why) if restart_only => format!(
                        "forced a new deployment of service {} to replace its running tasks: {why}",
                        wanted.name
                    ),
                    _ => format!(
                        "updated service {} to {} ({} tasks)",
                        wanted.name, wanted.task_definition, wanted.desired
                    ),
                });
                Ok(Converged::Applied)
            }
            (Go::Pretend, _) => Ok(Converged::Applied),
            // Skip follows an observed service (nothing, wait); as before, none
            // reads as a rollout just begun.
            (Go::Skip, _) => Ok(observed.map_or(Converged::Applied, Converged::Seen)),
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
        let label = format!("{RESOURCE} {name}");
        let decided = removal(owner, observed.as_ref());
        remove_one(t, label.clone(), decided, observed, async |s| {
            if s.desired > 0 {
                ecs.scale_to_zero(&cluster, &name).await?;
            }
            ecs.delete_service(&cluster, &name).await?;
            let gone = ecs.service(&cluster, &name).await?.is_none();
            Ok(Deleted::Yes {
                removed: label,
                gone,
            })
        })
        .await
    }
}
#[cfg(feature = "ecs")]
pub use apply::{converge, observe, remove, Converged};

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
            health_check_path: "/health".into(),
            log_group: "/stepdeploy/bank/production".into(),
            restart: None,
        }
    }

    const ROTATED: &str = "the database's managed secret was rotated";

    fn restarting() -> Wanted {
        Wanted {
            restart: Some(ROTATED.into()),
            ..wanted()
        }
    }

    /// Nothing applied by an earlier poll (a first poll).
    const FIRST: Before = Before {
        applied: false,
        rolled_out: false,
    };
    /// An earlier poll pointed the service at the wanted revision, and that
    /// started a rollout.
    const ROLLED: Before = Before {
        applied: true,
        rolled_out: true,
    };
    /// An earlier poll saw the wanted revision already running and changed nothing.
    const SEEN: Before = Before {
        applied: true,
        rolled_out: false,
    };

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
        // (case, observed, what earlier polls did, action)
        let cases: Vec<(&str, Option<Observed>, Before, &str)> = vec![
            ("absent: create", None, FIRST, "create"),
            (
                "steady on the wanted revision: nothing",
                Some(steady(NEW)),
                FIRST,
                "nothing",
            ),
            (
                "runs the old revision: update",
                Some(steady(OLD)),
                FIRST,
                "update",
            ),
            ("another desired count: update", Some(more), FIRST, "update"),
            (
                "someone else's service: conflict",
                Some(service("shop", "ACTIVE", NEW, vec![])),
                FIRST,
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
                ROLLED,
                "wait",
            ),
            (
                "completed but the old deployment still drains: wait",
                Some(second_deployment),
                ROLLED,
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
                ROLLED,
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
                ROLLED,
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
                ROLLED,
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
                FIRST,
                "update",
            ),
            (
                "being deleted: wait",
                Some(service("bank", "DRAINING", NEW, vec![])),
                FIRST,
                "wait",
            ),
        ];
        for (case, observed, before, action) in cases {
            let change = plan(&owner, observed.as_ref(), &wanted(), before);
            assert_eq!(change.action(), action, "{case}: {change:?}");
            assert!(change.calls() <= 1, "{case}: one call at most");
        }
    }

    #[test]
    fn restart_table() {
        let owner = Owner::new("bank", "production");
        let breaker = "ECS deployment circuit breaker: tasks failed to start.";
        let in_progress = || {
            service(
                "bank",
                "ACTIVE",
                NEW,
                vec![
                    deployment(NEW, "IN_PROGRESS", 0, "ECS deployment in progress."),
                    Deployment {
                        status: "ACTIVE".into(),
                        ..deployment(NEW, "COMPLETED", 2, "")
                    },
                ],
            )
        };
        // (case, observed, restart asked, what earlier polls did, action)
        let cases: Vec<(&str, Option<Observed>, bool, Before, &str)> = vec![
            (
                "restart, converged, first poll: update (force)",
                Some(steady(NEW)),
                true,
                FIRST,
                "update",
            ),
            (
                "restart, converged, an earlier poll only looked: update (force)",
                Some(steady(NEW)),
                true,
                SEEN,
                "update",
            ),
            (
                "restart already forced by this deployment, rolling out: wait",
                Some(in_progress()),
                true,
                ROLLED,
                "wait",
            ),
            (
                "restart already forced by this deployment, rollout done: nothing",
                Some(steady(NEW)),
                true,
                ROLLED,
                "nothing",
            ),
            (
                "restart, a new revision too: one update (it replaces the tasks)",
                Some(steady(OLD)),
                true,
                FIRST,
                "update",
            ),
            (
                "restart while another rollout runs: wait, force once it is done",
                Some(in_progress()),
                true,
                FIRST,
                "wait",
            ),
            (
                "restart, the last rollout of this revision failed: update (a new rollout)",
                Some(service(
                    "bank",
                    "ACTIVE",
                    NEW,
                    vec![deployment(NEW, "FAILED", 0, breaker)],
                )),
                true,
                FIRST,
                "update",
            ),
            (
                "the forced rollout failed: failed",
                Some(service(
                    "bank",
                    "ACTIVE",
                    NEW,
                    vec![deployment(NEW, "FAILED", 0, breaker)],
                )),
                true,
                ROLLED,
                "failed",
            ),
            (
                "restart of a service that does not exist: create",
                None,
                true,
                FIRST,
                "create",
            ),
            (
                "no restart, converged: nothing (as before)",
                Some(steady(NEW)),
                false,
                FIRST,
                "nothing",
            ),
            (
                "no restart, converged, seen before: nothing (as before)",
                Some(steady(NEW)),
                false,
                SEEN,
                "nothing",
            ),
            (
                "no restart, rolling out: wait (as before)",
                Some(in_progress()),
                false,
                ROLLED,
                "wait",
            ),
        ];
        for (case, observed, restart, before, action) in cases {
            let wanted = if restart { restarting() } else { wanted() };
            let change = plan(&owner, observed.as_ref(), &wanted, before);
            assert_eq!(change.action(), action, "{case}: {change:?}");
            assert!(change.calls() <= 1, "{case}: one call at most");
        }
    }

    #[test]
    fn a_restart_says_why_and_is_forced_only_until_a_rollout_started() {
        let owner = Owner::new("bank", "production");
        let change = plan(&owner, Some(&steady(NEW)), &restarting(), FIRST);
        assert_eq!(
            change.detail(),
            format!("replace the running tasks: {ROTATED}")
        );
        assert!(restart_pending(&restarting(), FIRST));
        assert!(restart_pending(&restarting(), SEEN));
        assert!(!restart_pending(&restarting(), ROLLED));
        assert!(!restart_pending(&wanted(), FIRST));
    }

    fn rolling_out(events: &[&str]) -> Observed {
        let mut s = service(
            "bank",
            "ACTIVE",
            NEW,
            vec![deployment(
                NEW,
                "IN_PROGRESS",
                0,
                "ECS deployment in progress.",
            )],
        );
        s.events = events.iter().map(|e| e.to_string()).collect();
        s
    }

    #[test]
    fn trouble_table() {
        let cases = [
            ("(service bank-production) (task 0a1b2c) failed ELB health checks in (target-group arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/bank-production-tg/73e2)", Some(TaskTrouble::HealthCheck)),
            ("(service bank-production) (port 8000) is unhealthy in (target-group arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/bank-production-tg/73e2) due to (reason Health checks failed with these codes: [502]).", Some(TaskTrouble::HealthCheck)),
            ("(service bank-production) has stopped 1 running tasks: (task 0a1b2c).", Some(TaskTrouble::Stopped)),
            ("(service bank-production) was unable to place a task because no container instance met all of its requirements.", Some(TaskTrouble::Stopped)),
            ("(service bank-production) has started 2 tasks: (task 0a1b2c) (task 3d4e5f).", None),
            ("(service bank-production) has reached a steady state.", None),
            ("(service bank-production) registered 1 targets in (target-group arn:tg)", None),
        ];
        for (event, want) in cases {
            assert_eq!(trouble(event), want, "{event}");
        }
    }

    /// (case, events newest first, (quoted event, advice) or no quote)
    type QuoteCase = (
        &'static str,
        Vec<&'static str>,
        Option<(&'static str, &'static str)>,
    );

    #[test]
    fn waiting_quotes_the_newest_task_trouble_since_the_last_steady_state() {
        let health = "(service bank-production) (task 0a1b2c) failed ELB health checks in (target-group arn:tg)";
        let stopped = "(service bank-production) has stopped 1 running tasks: (task 0a1b2c).";
        let started = "(service bank-production) has started 2 tasks: (task 0a1b2c) (task 3d4e5f).";
        let steady_event = "(service bank-production) has reached a steady state.";
        let cases: Vec<QuoteCase> = vec![
            (
                "health check failure: quoted, with the health check to fix",
                vec![started, health, stopped],
                Some((
                    health,
                    "make the app answer HTTP 200 at its health check path /health on the container port 8000, or read the task's logs in CloudWatch (log group /stepdeploy/bank/production)",
                )),
            ),
            (
                "the stop that follows a failed health check: the health check is quoted",
                vec![stopped, health, started],
                Some((
                    health,
                    "make the app answer HTTP 200 at its health check path /health",
                )),
            ),
            (
                "a stopped task: quoted, with where to read why",
                vec![stopped, started],
                Some((
                    stopped,
                    "read the stopped task's reason",
                )),
            ),
            ("nothing went wrong: no quote", vec![started], None),
            (
                "trouble from before the last steady state is not this rollout's",
                vec![started, steady_event, health],
                None,
            ),
        ];
        for (case, events, quote) in cases {
            let change = plan(
                &Owner::new("bank", "production"),
                Some(&rolling_out(&events)),
                &wanted(),
                ROLLED,
            );
            assert_eq!(change.action(), "wait", "{case}");
            let why = change.detail();
            assert!(
                why.starts_with("ECS service bank-production: rollout IN_PROGRESS of bank-production:8: 0 of 2 tasks running, 1 deployments"),
                "{case}: {why}"
            );
            match quote {
                Some((q, a)) => {
                    assert!(
                        why.contains(&format!("ECS reports \"{q}\"")),
                        "{case}: {why}"
                    );
                    assert!(why.contains(a), "{case}: {why}");
                }
                None => assert!(!why.contains("ECS reports"), "{case}: {why}"),
            }
        }
        // Not in progress (completed, waiting for the old tasks to go): no quote.
        let mut draining = steady(NEW);
        draining.deployments.push(Deployment {
            status: "ACTIVE".into(),
            ..deployment(OLD, "COMPLETED", 2, "")
        });
        draining.events = vec![health.into()];
        assert!(!waiting(&draining, &wanted()).contains("ECS reports"));
    }

    #[test]
    fn a_rollout_past_its_deadline_times_out_with_the_quote_and_the_advice() {
        let health = "(service bank-production) (task 0a1b2c) failed ELB health checks in (target-group arn:tg)";
        let why = waiting(&rolling_out(&[health]), &wanted());
        let mut report = crate::plan::StepReport {
            waiting_for: Some(why),
            ..Default::default()
        };
        assert!(report
            .deadline("provision-service", false, 0, 1800)
            .is_none());
        let e = report
            .deadline("provision-service", false, 1801, 1800)
            .unwrap();
        assert_eq!(e.kind, crate::error::ErrorKind::StepTimedOut);
        assert!(e.message.contains(health), "{}", e.message);
        assert!(
            e.message
                .contains("answer HTTP 200 at its health check path /health"),
            "{}",
            e.message
        );
    }

    #[test]
    fn a_new_commit_is_one_update_naming_both_revisions() {
        let owner = Owner::new("bank", "production");
        let mut s = steady(OLD);
        s.desired = 1;
        let change = plan(&owner, Some(&s), &wanted(), FIRST);
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
        let why = failure(&rolled_back, &wanted(), ROLLED).unwrap();
        assert!(
            why.starts_with(&format!(
                "the rollout of {NEW} was rolled back to {OLD}: {breaker}"
            )),
            "{why}"
        );
        assert!(why.contains("recent service events: (service bank-production) task stopped: CannotPullContainerError"), "{why}");
        // Not applied by this deployment yet: the old revision is simply what runs.
        assert_eq!(failure(&rolled_back, &wanted(), FIRST), None);

        let failed = service(
            "bank",
            "ACTIVE",
            NEW,
            vec![deployment(NEW, "FAILED", 0, breaker)],
        );
        let why = failure(&failed, &wanted(), ROLLED).unwrap();
        assert!(
            why.starts_with(&format!("the rollout of {NEW} failed: {breaker}")),
            "{why}"
        );
        assert_eq!(failure(&steady(NEW), &wanted(), ROLLED), None);
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
