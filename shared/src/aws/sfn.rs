//! Step Functions: starting executions and answering callback tokens.

use aws_sdk_sfn::Client;

use super::{aws_error, has_code};
use crate::error::StepError;

/// What became of a task token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenOutcome {
    /// The waiting execution resumed.
    Delivered,
    /// Nobody waits on it any more (the execution ended, timed out, or was resumed already).
    Gone,
}

/// The ARN an execution of `state_machine_arn` named `name` has.
pub fn execution_arn(state_machine_arn: &str, name: &str) -> String {
    format!(
        "{}:{name}",
        state_machine_arn.replacen(":stateMachine:", ":execution:", 1)
    )
}

#[derive(Clone, Debug)]
pub struct StepFunctions {
    client: Client,
}

impl StepFunctions {
    pub fn new(config: &aws_config::SdkConfig) -> StepFunctions {
        StepFunctions {
            client: Client::new(config),
        }
    }

    /// Start an execution named `name`. The name is the idempotency key: an
    /// execution that already exists under it counts as started.
    pub async fn start(
        &self,
        state_machine_arn: &str,
        name: &str,
        input: &serde_json::Value,
    ) -> Result<String, StepError> {
        let res = self
            .client
            .start_execution()
            .state_machine_arn(state_machine_arn)
            .name(name)
            .input(input.to_string())
            .send()
            .await;
        match res {
            Ok(out) => Ok(out.execution_arn().to_string()),
            Err(e) if has_code(&e, &["ExecutionAlreadyExists"]) => {
                Ok(execution_arn(state_machine_arn, name))
            }
            Err(e) => Err(aws_error("StartExecution", &e)),
        }
    }

    pub async fn send_success(
        &self,
        token: &str,
        output: &serde_json::Value,
    ) -> Result<TokenOutcome, StepError> {
        let res = self
            .client
            .send_task_success()
            .task_token(token)
            .output(output.to_string())
            .send()
            .await;
        match res {
            Ok(_) => Ok(TokenOutcome::Delivered),
            Err(e) if has_code(&e, &["TaskTimedOut", "InvalidToken", "TaskDoesNotExist"]) => {
                Ok(TokenOutcome::Gone)
            }
            Err(e) => Err(aws_error("SendTaskSuccess", &e)),
        }
    }

    /// The execution's status (`RUNNING`, `SUCCEEDED`, `ABORTED`, …);
    /// `None` if there is no such execution.
    pub async fn status(&self, execution_arn: &str) -> Result<Option<String>, StepError> {
        let res = self
            .client
            .describe_execution()
            .execution_arn(execution_arn)
            .send()
            .await;
        match res {
            Ok(out) => Ok(Some(out.status().as_str().to_string())),
            Err(e) if has_code(&e, &["ExecutionDoesNotExist"]) => Ok(None),
            Err(e) => Err(aws_error("DescribeExecution", &e)),
        }
    }

    pub async fn send_failure(
        &self,
        token: &str,
        error: &str,
        cause: &str,
    ) -> Result<TokenOutcome, StepError> {
        let res = self
            .client
            .send_task_failure()
            .task_token(token)
            .error(error)
            .cause(cause)
            .send()
            .await;
        match res {
            Ok(_) => Ok(TokenOutcome::Delivered),
            Err(e) if has_code(&e, &["TaskTimedOut", "InvalidToken", "TaskDoesNotExist"]) => {
                Ok(TokenOutcome::Gone)
            }
            Err(e) => Err(aws_error("SendTaskFailure", &e)),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn execution_arn_from_state_machine_arn() {
        assert_eq!(
            super::execution_arn(
                "arn:aws:states:us-east-1:123456789012:stateMachine:deploy",
                "x"
            ),
            "arn:aws:states:us-east-1:123456789012:execution:deploy:x"
        );
    }
}
