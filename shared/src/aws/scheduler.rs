//! EventBridge Scheduler: the one-time schedules that tear idle previews
//! down, in the stack's own schedule group (schedules carry no tags: the
//! group is what says they are ours).

use aws_sdk_scheduler::types::{
    ActionAfterCompletion, FlexibleTimeWindow, FlexibleTimeWindowMode, ScheduleState, Target,
};
use aws_sdk_scheduler::Client;

use super::{aws_error, has_code, or_gone};
use crate::error::StepError;

/// Scheduler's answer when the schedule (or its group) does not exist.
const GONE: &[&str] = &["ResourceNotFoundException"];

/// A one-time schedule as stepdeploy writes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OneTime {
    pub group: String,
    pub name: String,
    /// `at(yyyy-mm-ddThh:mm:ss)`, in UTC.
    pub expression: String,
    /// The state machine it starts, as `role_arn`.
    pub target_arn: String,
    pub role_arn: String,
    /// The execution's input.
    pub input: String,
}

/// What `put` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Put {
    Created,
    Replaced,
}

/// Every field of a one-time schedule, on a CreateSchedule or an
/// UpdateSchedule builder (two SDK types with the same setters; an update
/// replaces the whole schedule, so both set the same fields).
macro_rules! one_time {
    ($builder:expr, $s:expr, $window:expr, $target:expr) => {
        $builder
            .group_name(&$s.group)
            .name(&$s.name)
            .schedule_expression(&$s.expression)
            .schedule_expression_timezone("UTC")
            .flexible_time_window($window.clone())
            .target($target.clone())
            .state(ScheduleState::Enabled)
            .action_after_completion(ActionAfterCompletion::Delete)
    };
}

#[derive(Clone, Debug)]
pub struct Scheduler {
    client: Client,
}

impl Scheduler {
    pub fn new(config: &aws_config::SdkConfig) -> Scheduler {
        Scheduler {
            client: Client::new(config),
        }
    }

    /// Create the schedule, or replace the one of that name (UpdateSchedule
    /// replaces every field). A schedule that fired and deleted itself
    /// between the two calls is created again, so concurrent pushes and
    /// retries converge on one schedule, the last one written.
    pub async fn put_schedule(&self, s: &OneTime) -> Result<Put, StepError> {
        let window = FlexibleTimeWindow::builder()
            .mode(FlexibleTimeWindowMode::Off)
            .build()
            .map_err(|e| StepError::fatal(format!("a schedule's time window: {e}")))?;
        let target = Target::builder()
            .arn(&s.target_arn)
            .role_arn(&s.role_arn)
            .input(&s.input)
            .build()
            .map_err(|e| StepError::fatal(format!("a schedule's target: {e}")))?;
        for _ in 0..3 {
            let created = one_time!(self.client.create_schedule(), s, window, target)
                .send()
                .await;
            match created {
                Ok(_) => return Ok(Put::Created),
                Err(e) if has_code(&e, &["ConflictException"]) => {}
                Err(e) => return Err(aws_error("Scheduler CreateSchedule", &e)),
            }
            let updated = one_time!(self.client.update_schedule(), s, window, target)
                .send()
                .await;
            if or_gone("Scheduler UpdateSchedule", updated, GONE)?.is_some() {
                return Ok(Put::Replaced);
            }
        }
        Err(StepError::retryable(format!(
            "schedule {}/{} kept being deleted and created by someone else",
            s.group, s.name
        )))
    }

    /// Delete the schedule: `false` when it was already gone (it fired and
    /// deleted itself, or was never made).
    pub async fn delete_schedule(&self, group: &str, name: &str) -> Result<bool, StepError> {
        let result = self
            .client
            .delete_schedule()
            .group_name(group)
            .name(name)
            .send()
            .await;
        Ok(or_gone("Scheduler DeleteSchedule", result, GONE)?.is_some())
    }
}
