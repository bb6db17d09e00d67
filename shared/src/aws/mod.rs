//! Thin wrappers over the AWS SDKs, one module per service, each returning
//! domain types and [`StepError`]s that keep the AWS code and message.

use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use crate::error::{classify_aws_error, StepError};

#[cfg(feature = "ec2")]
pub mod ec2;
#[cfg(feature = "ecr")]
pub mod ecr;
#[cfg(feature = "ecs")]
pub mod ecs;
#[cfg(feature = "elbv2")]
pub mod elbv2;
#[cfg(feature = "logs")]
pub mod logs;
#[cfg(feature = "rds")]
pub mod rds;
#[cfg(feature = "scheduler")]
pub mod scheduler;
#[cfg(feature = "secrets")]
pub mod secrets;
#[cfg(feature = "sfn")]
pub mod sfn;
#[cfg(feature = "dynamodb")]
pub mod store;

/// The SDK configuration from the environment (`AWS_REGION`, credentials,
/// and `AWS_ENDPOINT_URL` when pointed at an emulator).
pub async fn load_config() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .load()
        .await
}

/// An SDK error as a [`StepError`], classified by its AWS code.
pub fn aws_error<E: ProvideErrorMetadata>(operation: &str, err: &E) -> StepError {
    classify_aws_error(operation, err.code(), err.message())
}

/// Whether an SDK error carries one of these AWS codes.
pub fn has_code<E: ProvideErrorMetadata>(err: &E, codes: &[&str]) -> bool {
    err.code().is_some_and(|c| codes.contains(&c))
}

/// The one not-found helper for every service: a describe or delete whose
/// AWS answer is one of `gone` ("no such resource") yields `Ok(None)`; any
/// other error keeps its code and is classified. Teardown reads `None` from a
/// delete as "already gone", which is success.
pub fn or_gone<T, E: ProvideErrorMetadata>(
    operation: &str,
    result: Result<T, E>,
    gone: &[&str],
) -> Result<Option<T>, StepError> {
    match result {
        Ok(v) => Ok(Some(v)),
        Err(e) if has_code(&e, gone) => Ok(None),
        Err(e) => Err(aws_error(operation, &e)),
    }
}
