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

/// The ownership tags of an environment.
pub fn ownership_tags(app: &str, environment: &str) -> [(&'static str, String); 2] {
    [
        (crate::TAG_APP, app.to_string()),
        (crate::TAG_ENVIRONMENT, environment.to_string()),
    ]
}
