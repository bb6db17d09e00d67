//! The release task: the spec's one-off `release.command` (migrations), run
//! once per commit as a Fargate task of the new task definition, in the
//! service's subnets and security group with the service's secrets, after
//! the task definition is registered and before the service is updated.
//!
//! It is found again by `startedBy` (the deployment's release token), so a
//! retried poll never starts a second one, and `RunTask` carries a client
//! token for the moment ECS does not list it yet. The step polls it until it
//! stops (the state machine waits, not the Lambda). Exit code 0 is recorded
//! in the ledger for the commit and the database, so a re-run of the commit
//! does not run it again; anything else fails the deployment with
//! `ReleaseFailed` and the service keeps what it runs. One that runs past
//! `release.timeout_seconds` is stopped and fails the same way.

pub use crate::model::release_task::{Observed, Wanted};
use crate::naming::short_hash;
use crate::plan::Change;

/// How a person calls it (plan lines, errors).
pub const RESOURCE: &str = "release task";

impl Wanted {
    /// The release token of a deployment: `startedBy` takes up to 128
    /// letters, digits, `-`, `_` and `/`, as deployment ids are.
    pub fn tokens(deployment_id: &str) -> (String, String) {
        let started_by: String = format!("release/{deployment_id}")
            .chars()
            .take(128)
            .collect();
        (
            started_by,
            short_hash(&format!("release {deployment_id}"), 64),
        )
    }

    /// The command as a person reads it.
    pub fn command_line(&self) -> String {
        self.command.join(" ")
    }
}

impl Observed {
    /// The task's id (the last part of its ARN).
    pub fn id(&self) -> &str {
        self.arn.rsplit('/').next().unwrap_or(&self.arn)
    }
}

/// `released`: the ledger says this commit's release already succeeded on
/// this database. Then nothing; else run it, wait while it runs, stop it
/// past its timeout (an update), and fail unless it exited 0.
pub fn plan(released: bool, observed: Option<&Observed>, wanted: &Wanted) -> Change {
    if released {
        return Change::Nothing;
    }
    let Some(t) = observed else {
        return Change::Create;
    };
    if t.last_status != "STOPPED" {
        if t.age_seconds > wanted.timeout_seconds {
            return Change::update(format!(
                "stop it: it has run {} s, past release.timeout_seconds {}",
                t.age_seconds, wanted.timeout_seconds
            ));
        }
        return Change::wait(format!(
            "{RESOURCE} {} (`{}`): {} for {} s",
            t.id(),
            wanted.command_line(),
            t.last_status,
            t.age_seconds
        ));
    }
    // Stopped by StopTask (its timeout, or a person): whatever it exited
    // with, it did not finish.
    if t.stop_code == "UserInitiated" {
        return Change::failed(format!(
            "the release command `{}` was stopped before it finished (task {}): {}",
            wanted.command_line(),
            t.id(),
            t.stopped_reason
        ));
    }
    match t.exit_code {
        Some(0) => Change::Nothing,
        Some(code) => Change::failed(format!(
            "the release command `{}` exited with code {code} (task {})",
            wanted.command_line(),
            t.id()
        )),
        None => Change::failed(format!(
            "the release command `{}` did not run (task {}): {}",
            wanted.command_line(),
            t.id(),
            t.stopped_reason
        )),
    }
}

#[cfg(feature = "ecs")]
mod apply {
    use super::*;
    use crate::aws::ecs::Ecs;
    use crate::converge::{Ctx, Go};
    use crate::error::StepError;

    /// What converging found.
    #[derive(Debug, PartialEq, Eq)]
    pub enum Converged {
        /// It exited 0, now or before (`Some(task)` when this run saw it stop).
        Succeeded(Option<Observed>),
        /// It runs (or was just started, or stopped past its timeout): poll again.
        Running,
        /// It failed: why, and the task (for its log).
        Failed { why: String, task: Observed },
    }

    pub async fn converge(
        ecs: &Ecs,
        ctx: &mut Ctx<'_>,
        wanted: &Wanted,
        released: bool,
    ) -> Result<Converged, StepError> {
        let observed = if released {
            None
        } else {
            ecs.release_task(&wanted.cluster, &wanted.started_by)
                .await?
        };
        let change = plan(released, observed.as_ref(), wanted);
        if let (Change::Failed { why }, Some(task), false) = (&change, &observed, ctx.dry_run) {
            return Ok(Converged::Failed {
                why: why.clone(),
                task: task.clone(),
            });
        }
        match (
            ctx.decide(RESOURCE, &wanted.command_line(), &change)?,
            &change,
        ) {
            (Go::Apply, Change::Create) => {
                let arn = ecs.run_release_task(wanted).await?;
                ctx.changed(format!(
                    "started {RESOURCE} `{}` ({arn})",
                    wanted.command_line()
                ));
                Ok(Converged::Running)
            }
            (Go::Apply, _) => {
                if let Some(t) = &observed {
                    ecs.stop_task(&wanted.cluster, &t.arn, "release.timeout_seconds passed")
                        .await?;
                    ctx.changed(format!("stopped {RESOURCE} {}: past its timeout", t.id()));
                }
                Ok(Converged::Running)
            }
            (Go::Pretend, _) => Ok(Converged::Running),
            (Go::Skip, Change::Nothing) => Ok(Converged::Succeeded(observed)),
            (Go::Skip, _) => Ok(Converged::Running),
        }
    }
}
#[cfg(feature = "ecs")]
pub use apply::{converge, Converged};

#[cfg(test)]
mod tests {
    use super::*;

    fn wanted() -> Wanted {
        let (started_by, client_token) = Wanted::tokens("bank-production-20261202T1700-abc");
        Wanted {
            command: vec!["python".into(), "database.py".into()],
            timeout_seconds: 600,
            started_by,
            client_token,
            ..Wanted::default()
        }
    }

    fn task(status: &str, exit: Option<i32>, age: u64) -> Observed {
        Observed {
            arn: "arn:aws:ecs:us-east-1:1:task/bank-production/abc123".into(),
            last_status: status.into(),
            exit_code: exit,
            stopped_reason: "Essential container in task exited".into(),
            stop_code: if status == "STOPPED" {
                "EssentialContainerExited".into()
            } else {
                String::new()
            },
            age_seconds: age,
        }
    }

    #[test]
    fn plan_table() {
        let cases: Vec<(&str, bool, Option<Observed>, &str)> = vec![
            (
                "released before on this database: nothing",
                true,
                None,
                "nothing",
            ),
            ("not yet run: run it", false, None, "create"),
            (
                "running: wait",
                false,
                Some(task("RUNNING", None, 20)),
                "wait",
            ),
            (
                "pending: wait",
                false,
                Some(task("PENDING", None, 5)),
                "wait",
            ),
            (
                "past its timeout: stop it",
                false,
                Some(task("RUNNING", None, 601)),
                "update",
            ),
            (
                "exited 0: done",
                false,
                Some(task("STOPPED", Some(0), 40)),
                "nothing",
            ),
            (
                "exited 1: failed",
                false,
                Some(task("STOPPED", Some(1), 40)),
                "failed",
            ),
            (
                "never ran: failed",
                false,
                Some(task("STOPPED", None, 40)),
                "failed",
            ),
            // Stopped past its timeout: its exit code says what happened.
            (
                "stopped by its timeout: failed",
                false,
                Some(task("STOPPED", Some(137), 700)),
                "failed",
            ),
        ];
        for (case, released, observed, action) in cases {
            assert_eq!(
                plan(released, observed.as_ref(), &wanted()).action(),
                action,
                "{case}"
            );
        }
    }

    #[test]
    fn failures_name_the_command_the_code_and_the_task() {
        let why = plan(false, Some(&task("STOPPED", Some(3), 40)), &wanted()).detail();
        assert_eq!(
            why,
            "the release command `python database.py` exited with code 3 (task abc123)"
        );
    }

    #[test]
    fn tokens_fit_ecs_limits_and_differ_per_deployment() {
        let (a, ta) = Wanted::tokens("d1");
        let (b, tb) = Wanted::tokens("d2");
        assert_eq!(a, "release/d1");
        assert_ne!((a, ta.clone()), (b, tb));
        assert_eq!(ta.len(), 64);
        assert!(Wanted::tokens(&"x".repeat(300)).0.len() <= 128);
    }
}
