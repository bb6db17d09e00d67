//! A preview's expiry: one one-time EventBridge Scheduler schedule per
//! preview environment, set `previews.ttl_hours` after its newest push and
//! moved on by every push (`Begin Deployment`). When it fires, Scheduler
//! starts the teardown state machine for the preview and deletes the
//! schedule. The teardown removes it too, however the preview went.
//!
//! Schedules take no tags: the stack's own schedule group
//! (`STEPDEPLOY_PREVIEW_SCHEDULE_GROUP`) holds only these, which is what
//! makes them stepdeploy's, and the name is the preview's.

use serde_json::{json, Value};

use crate::deploy::{rfc3339, SECRET_ROTATION as ROTATION};
use crate::naming::short_hash;

/// How a person calls it (logs, teardown reports).
pub const RESOURCE: &str = "preview expiry schedule";

/// The trigger kind of a teardown the schedule starts.
pub const TRIGGER: &str = crate::teardown::PREVIEW_EXPIRED;

/// Scheduler's limit on a schedule's name.
const MAX_NAME: usize = 64;

/// The preview's schedule name: `<app>.<environment>` (neither part holds a
/// dot, so no two previews share it), cut with a hash of the whole when
/// longer than Scheduler allows.
pub fn schedule_name(app: &str, environment: &str) -> String {
    let full = format!("{app}.{environment}");
    if full.len() <= MAX_NAME {
        return full;
    }
    let hash = short_hash(&full, 12);
    format!("{}-{hash}", &full[..MAX_NAME - hash.len() - 1])
}

/// Scheduler's one-time expression for `epoch` (UTC, to the second).
pub fn at_expression(epoch: u64) -> String {
    format!("at({})", rfc3339(epoch).trim_end_matches('Z'))
}

/// What `Begin Deployment` does about the preview's schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expiry {
    /// Not a preview, a dry run (which changes nothing), or a redeployment
    /// nobody pushed (a secret rotation's: it does not keep an idle preview alive).
    Nothing,
    /// Create or replace it, to fire at `at` (epoch seconds).
    Set { at: u64, ttl_hours: u32 },
    /// The spec sets no TTL (any more): delete it if it is there.
    Clear,
}

/// The plan for a deployment (started by `trigger`) that goes ahead at `now`.
pub fn plan(
    preview: bool,
    dry_run: bool,
    trigger: &str,
    ttl_hours: Option<u32>,
    now: u64,
) -> Expiry {
    match ttl_hours {
        _ if !preview || dry_run || trigger == ROTATION => Expiry::Nothing,
        Some(hours) => Expiry::Set {
            at: now + u64::from(hours) * 3600,
            ttl_hours: hours,
        },
        None => Expiry::Clear,
    }
}

/// The teardown state machine's input when the schedule fires (a preview
/// comes down without `confirm`).
pub fn teardown_input(app: &str, environment: &str, ttl_hours: u32) -> Value {
    json!({
        "app": app,
        "environment": environment,
        "trigger": {"kind": TRIGGER, "ttl_hours": ttl_hours},
    })
}

#[cfg(feature = "scheduler")]
mod apply {
    use super::*;
    use crate::aws::scheduler::{OneTime, Put, Scheduler};
    use crate::error::StepError;
    use crate::teardown::TeardownState;

    /// The stack's preview schedules: where they live and what they start.
    pub struct PreviewExpiry {
        pub scheduler: Scheduler,
        /// The stack's schedule group.
        pub group: String,
        /// The teardown state machine, and the role Scheduler starts it as
        /// (needed to set schedules, not to delete them).
        pub target: Option<(String, String)>,
    }

    impl PreviewExpiry {
        /// To set schedules: from `STEPDEPLOY_PREVIEW_SCHEDULE_GROUP`,
        /// `STEPDEPLOY_TEARDOWN_STATE_MACHINE_ARN` and
        /// `STEPDEPLOY_PREVIEW_EXPIRY_ROLE_ARN`; `None` without a group.
        pub fn from_env(config: &aws_config::SdkConfig) -> Option<PreviewExpiry> {
            let var = crate::runtime::optional_env_var;
            let target = var("STEPDEPLOY_TEARDOWN_STATE_MACHINE_ARN")
                .zip(var("STEPDEPLOY_PREVIEW_EXPIRY_ROLE_ARN"));
            Some(PreviewExpiry {
                target,
                ..PreviewExpiry::deleting_from_env(config)?
            })
        }

        /// To delete schedules only (the teardown): from
        /// `STEPDEPLOY_PREVIEW_SCHEDULE_GROUP` alone; `None` without it.
        pub fn deleting_from_env(config: &aws_config::SdkConfig) -> Option<PreviewExpiry> {
            Some(PreviewExpiry {
                scheduler: Scheduler::new(config),
                group: crate::runtime::optional_env_var("STEPDEPLOY_PREVIEW_SCHEDULE_GROUP")?,
                target: None,
            })
        }

        /// Make the schedule what `expiry` says; a line for the log.
        pub async fn apply(
            &self,
            app: &str,
            environment: &str,
            expiry: &Expiry,
        ) -> Result<Option<String>, StepError> {
            let name = schedule_name(app, environment);
            match *expiry {
                Expiry::Nothing => Ok(None),
                Expiry::Clear => Ok(self
                    .scheduler
                    .delete_schedule(&self.group, &name)
                    .await?
                    .then(|| format!("deleted {RESOURCE} {name}: previews.ttl_hours is not set"))),
                Expiry::Set { at, ttl_hours } => {
                    let Some((machine, role)) = &self.target else {
                        return Err(StepError::fatal(
                            "previews.ttl_hours is set but this deployer has no STEPDEPLOY_TEARDOWN_STATE_MACHINE_ARN or STEPDEPLOY_PREVIEW_EXPIRY_ROLE_ARN: deploy the stack's template.yaml again (it sets both)",
                        ));
                    };
                    let put = self
                        .scheduler
                        .put_schedule(&OneTime {
                            group: self.group.clone(),
                            name: name.clone(),
                            expression: at_expression(at),
                            target_arn: machine.clone(),
                            role_arn: role.clone(),
                            input: teardown_input(app, environment, ttl_hours).to_string(),
                        })
                        .await?;
                    let verb = match put {
                        Put::Created => "created",
                        Put::Replaced => "moved",
                    };
                    Ok(Some(format!(
                        "{verb} {RESOURCE} {name}: tears the preview down at {} unless pushed again",
                        rfc3339(at)
                    )))
                }
            }
        }

        /// Teardown's side: the preview's schedule goes with it ("already
        /// gone", after it fired, is success).
        pub async fn remove(&self, t: &mut TeardownState) -> Result<(), StepError> {
            let name = schedule_name(&t.app, &t.environment);
            if self.scheduler.delete_schedule(&self.group, &name).await? {
                t.removed.push(format!("{RESOURCE} {name}"));
            }
            Ok(())
        }
    }
}

#[cfg(feature = "scheduler")]
pub use apply::PreviewExpiry;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans() {
        let now = 1_000;
        let set = Expiry::Set {
            at: now + 24 * 3600,
            ttl_hours: 24,
        };
        let cases = [
            // (preview, dry run, trigger, ttl_hours, want)
            (false, false, "push", Some(24), Expiry::Nothing),
            (false, false, "push", None, Expiry::Nothing),
            (true, true, "push", Some(24), Expiry::Nothing),
            (true, true, "push", None, Expiry::Nothing),
            (true, false, ROTATION, Some(24), Expiry::Nothing),
            (true, false, "push", None, Expiry::Clear),
            (true, false, "push", Some(24), set.clone()),
            (true, false, "pull_request", Some(24), set.clone()),
            (true, false, "manual", Some(24), set),
        ];
        for (preview, dry_run, trigger, ttl, want) in cases {
            assert_eq!(
                plan(preview, dry_run, trigger, ttl, now),
                want,
                "{preview} {dry_run} {trigger} {ttl:?}"
            );
        }
    }

    #[test]
    fn names_fit_and_stay_distinct() {
        assert_eq!(
            schedule_name("bank", "pr-login-1a2b3"),
            "bank.pr-login-1a2b3"
        );
        let a = schedule_name(
            "averyveryverylongappname",
            &format!("pr-{}-aaaaa", "x".repeat(40)),
        );
        let b = schedule_name(
            "averyveryverylongappname",
            &format!("pr-{}-bbbbb", "x".repeat(40)),
        );
        assert_eq!(a.len(), MAX_NAME);
        assert_ne!(a, b);
        for name in [a, b] {
            assert!(name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)));
        }
    }

    #[test]
    fn at_is_scheduler_one_time_syntax() {
        assert_eq!(at_expression(1_764_737_100), "at(2025-12-03T04:45:00)");
    }

    #[test]
    fn the_teardown_it_starts_is_a_preview_teardown() {
        let input = teardown_input("bank", "pr-login-1a2b3", 24);
        let req: crate::teardown::TeardownRequest = serde_json::from_value(input).unwrap();
        crate::teardown::check_request(&req).unwrap();
        assert_eq!(req.trigger.unwrap()["kind"], TRIGGER);
    }
}
