//! Errors every step can raise, each with a stable name that the state
//! machines match in `Retry` and `Catch`.

use serde::Serialize;

/// What the state machine should do about an error. The [`ErrorKind::name`]
/// is the Lambda `errorType`, so it is what `ErrorEquals` matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum ErrorKind {
    /// The request or the app spec is wrong; retrying cannot help.
    InvalidInput,
    /// A resource is still converging; poll again later.
    NotReady,
    /// A transient AWS or network failure (throttling, 5xx, timeouts): retry with backoff.
    Retryable,
    /// Something stepdeploy does not own stands in the way (a name taken, a foreign resource).
    Conflict,
    /// The image the deployment waits for failed to arrive (its build or push failed).
    ImageFailed,
    /// The environment is locked by a teardown: nothing deploys to it until it ends.
    Locked,
    /// A step kept polling past its deadline: something is stuck.
    StepTimedOut,
    /// A newer push to the environment came: the deployment stops at a step
    /// boundary without further change (not a failure).
    Superseded,
    /// A teardown of the environment came after the push: the deployment
    /// stops without further change (not a failure).
    Cancelled,
    /// The rollout failed: ECS could not pull the image.
    ImagePullFailed,
    /// The rollout failed: ECS could not read the task's secrets.
    SecretsUnreadable,
    /// The rollout failed: the container ran out of memory.
    OutOfMemory,
    /// The rollout failed: the tasks failed the load balancer's health check.
    HealthCheckFailed,
    /// The rollout failed: the container exited.
    ContainerExited,
    /// The rollout failed for a reason none of the above names.
    RolloutFailed,
    /// The release command (the spec's `release`) did not exit 0.
    ReleaseFailed,
    /// Anything else: fail the deployment and report the cause.
    Fatal,
}

impl ErrorKind {
    /// Every error name the code can raise: the ASL files may name only these
    /// (plus `States.*` and `Lambda.*`).
    pub const ALL: [ErrorKind; 17] = [
        ErrorKind::InvalidInput,
        ErrorKind::NotReady,
        ErrorKind::Retryable,
        ErrorKind::Conflict,
        ErrorKind::ImageFailed,
        ErrorKind::Locked,
        ErrorKind::StepTimedOut,
        ErrorKind::Superseded,
        ErrorKind::Cancelled,
        ErrorKind::ImagePullFailed,
        ErrorKind::SecretsUnreadable,
        ErrorKind::OutOfMemory,
        ErrorKind::HealthCheckFailed,
        ErrorKind::ContainerExited,
        ErrorKind::RolloutFailed,
        ErrorKind::ReleaseFailed,
        ErrorKind::Fatal,
    ];

    pub fn name(self) -> &'static str {
        match self {
            ErrorKind::InvalidInput => "InvalidInput",
            ErrorKind::NotReady => "NotReady",
            ErrorKind::Retryable => "Retryable",
            ErrorKind::Conflict => "Conflict",
            ErrorKind::ImageFailed => "ImageFailed",
            ErrorKind::Locked => "Locked",
            ErrorKind::StepTimedOut => "StepTimedOut",
            ErrorKind::Superseded => "Superseded",
            ErrorKind::Cancelled => "Cancelled",
            ErrorKind::ImagePullFailed => "ImagePullFailed",
            ErrorKind::SecretsUnreadable => "SecretsUnreadable",
            ErrorKind::OutOfMemory => "OutOfMemory",
            ErrorKind::HealthCheckFailed => "HealthCheckFailed",
            ErrorKind::ContainerExited => "ContainerExited",
            ErrorKind::RolloutFailed => "RolloutFailed",
            ErrorKind::ReleaseFailed => "ReleaseFailed",
            ErrorKind::Fatal => "Fatal",
        }
    }
}

impl std::fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// An error with a kind and a message a person can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct StepError {
    pub kind: ErrorKind,
    pub message: String,
    /// The AWS error code behind it (`DependencyViolation`, …), when AWS answered:
    /// callers branch on this, never on the message text.
    pub code: Option<String>,
}

impl StepError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        StepError {
            kind,
            message: message.into(),
            code: None,
        }
    }
    /// Whether AWS answered with one of these error codes.
    pub fn is_code(&self, codes: &[&str]) -> bool {
        self.code.as_deref().is_some_and(|c| codes.contains(&c))
    }
    pub fn invalid_input(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidInput, message)
    }
    pub fn retryable(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Retryable, message)
    }
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Conflict, message)
    }
    pub fn fatal(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Fatal, message)
    }
}

/// AWS error codes that mean "try again later": throttling and server-side
/// faults, as each service spells them (EC2 `RequestLimitExceeded`/
/// `InternalError`; RDS and ELBv2 `Throttling`/`InternalFailure`/
/// `ServiceUnavailable`; ECS `ThrottlingException`/`ServerException`; Logs
/// `ServiceUnavailableException`; DynamoDB `InternalServerError`; …).
const RETRYABLE_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestLimitExceeded",
    "EC2ThrottledException",
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
    "RequestThrottled",
    "RequestThrottledException",
    "SlowDown",
    "ServiceUnavailable",
    "ServiceUnavailableException",
    "InternalError",
    "InternalFailure",
    "InternalServerError",
    "InternalServerException",
    "InternalServiceError",
    "ServerException",
    "ServiceException",
    "RequestTimeout",
    "RequestTimeoutException",
    "PriorRequestNotComplete",
    "TransactionInProgressException",
];

/// EC2's "no such id" codes for the network's resources. EC2 is eventually
/// consistent: an id it has just handed out (or that a describe has just
/// listed) may answer these to the next calls for a few seconds. A step only
/// names ids it created or observed in the same run, so when one of these
/// reaches the classifier it is that delay: the step is retried (bounded by
/// the state machine's `Retry`) and re-observes by tags. Describes and
/// deletes that mean "is it gone?" catch these codes first, with
/// [`crate::aws::or_gone`], and never get here.
pub const EC2_NOT_FOUND_CODES: &[&str] = &[
    "InvalidVpcID.NotFound",
    "InvalidSubnetID.NotFound",
    "InvalidInternetGatewayID.NotFound",
    "InvalidGroup.NotFound",
    "InvalidGroupId.NotFound",
    "InvalidAllocationID.NotFound",
    "InvalidRouteTableID.NotFound",
    "InvalidNatGatewayID.NotFound",
    "NatGatewayNotFound",
];

/// Classify an AWS error by its code: throttling, server-side faults, no
/// answer at all, and EC2's not-found for an id we hold
/// ([`EC2_NOT_FOUND_CODES`]) are retryable; everything else is fatal. The
/// message keeps the AWS code and message so a person can look it up, and
/// [`StepError::code`] keeps the code for callers to branch on.
pub fn classify_aws_error(operation: &str, code: Option<&str>, message: Option<&str>) -> StepError {
    let code_text = code.unwrap_or("Unknown");
    let mut text = format!(
        "{operation} failed: {code_text}: {}",
        message.unwrap_or("no message from AWS")
    );
    let mut err = match code {
        Some(c) if RETRYABLE_CODES.contains(&c) => StepError::retryable(text),
        Some(c) if EC2_NOT_FOUND_CODES.contains(&c) => {
            text.push_str(" (EC2 may not know an id it has just handed out yet: retried)");
            StepError::retryable(text)
        }
        // No code at all: the request never got an AWS answer (connection, timeout).
        None => StepError::retryable(text),
        Some(_) => StepError::fatal(text),
    };
    err.code = code.map(String::from);
    err
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_stable() {
        let names: std::collections::HashSet<_> = ErrorKind::ALL.iter().map(|k| k.name()).collect();
        assert_eq!(names.len(), ErrorKind::ALL.len());
        assert!(names.contains("Retryable"));
        assert!(names.contains("InvalidInput"));
    }

    #[test]
    fn throttling_is_retryable_and_validation_is_not() {
        let e = classify_aws_error("CreateVpc", Some("RequestLimitExceeded"), Some("slow down"));
        assert_eq!(e.kind, ErrorKind::Retryable);
        assert!(e
            .message
            .contains("CreateVpc failed: RequestLimitExceeded: slow down"));
        assert!(e.is_code(&["RequestLimitExceeded"]));
        let e = classify_aws_error("CreateVpc", Some("InvalidParameterValue"), Some("bad cidr"));
        assert_eq!(e.kind, ErrorKind::Fatal);
        assert!(!e.is_code(&["DependencyViolation"]));
        let e = classify_aws_error("CreateVpc", None, None);
        assert_eq!(e.kind, ErrorKind::Retryable);
    }

    /// Every service's throttling and internal-error codes (what the local
    /// emulator's faults answer, and AWS's other spellings), EC2's not-found
    /// for an id we hold, and the codes that must stay fatal.
    #[test]
    fn classification_table() {
        use ErrorKind::{Fatal, Retryable};
        let table: &[(&str, Option<&str>, ErrorKind)] = &[
            // Throttling.
            ("EC2 CreateVpc", Some("RequestLimitExceeded"), Retryable),
            ("RDS CreateDBInstance", Some("Throttling"), Retryable),
            ("ELBv2 CreateLoadBalancer", Some("Throttling"), Retryable),
            ("ECS CreateCluster", Some("ThrottlingException"), Retryable),
            (
                "Logs CreateLogGroup",
                Some("ThrottlingException"),
                Retryable,
            ),
            ("DynamoDB PutItem", Some("ThrottlingException"), Retryable),
            (
                "DynamoDB PutItem",
                Some("ProvisionedThroughputExceededException"),
                Retryable,
            ),
            ("Lambda Invoke", Some("TooManyRequestsException"), Retryable),
            // Server errors.
            ("EC2 CreateSubnet", Some("InternalError"), Retryable),
            (
                "RDS CreateDBSubnetGroup",
                Some("InternalFailure"),
                Retryable,
            ),
            (
                "ELBv2 CreateTargetGroup",
                Some("ServiceUnavailable"),
                Retryable,
            ),
            ("ECS CreateService", Some("ServerException"), Retryable),
            ("ECR DescribeImages", Some("ServerException"), Retryable),
            (
                "Logs CreateLogGroup",
                Some("ServiceUnavailableException"),
                Retryable,
            ),
            ("DynamoDB PutItem", Some("InternalServerError"), Retryable),
            (
                "Secrets Manager GetSecretValue",
                Some("InternalServiceError"),
                Retryable,
            ),
            (
                "Step Functions SendTaskSuccess",
                Some("InternalFailure"),
                Retryable,
            ),
            // No AWS answer at all.
            ("EC2 CreateVpc", None, Retryable),
            // EC2 not-found for an id just created or observed: eventual consistency.
            (
                "EC2 ModifyVpcAttribute",
                Some("InvalidVpcID.NotFound"),
                Retryable,
            ),
            ("EC2 CreateSubnet", Some("InvalidVpcID.NotFound"), Retryable),
            (
                "EC2 ModifySubnetAttribute",
                Some("InvalidSubnetID.NotFound"),
                Retryable,
            ),
            (
                "EC2 AttachInternetGateway",
                Some("InvalidInternetGatewayID.NotFound"),
                Retryable,
            ),
            (
                "EC2 AuthorizeSecurityGroupIngress",
                Some("InvalidGroup.NotFound"),
                Retryable,
            ),
            (
                "EC2 CreateNatGateway",
                Some("InvalidAllocationID.NotFound"),
                Retryable,
            ),
            (
                "EC2 AssociateRouteTable",
                Some("InvalidRouteTableID.NotFound"),
                Retryable,
            ),
            (
                "EC2 CreateRoute",
                Some("InvalidNatGatewayID.NotFound"),
                Retryable,
            ),
            (
                "EC2 DescribeVpcAttribute",
                Some("InvalidVpcID.NotFound"),
                Retryable,
            ),
            // Refusals: retrying cannot help.
            ("EC2 CreateVpc", Some("InvalidParameterValue"), Fatal),
            ("EC2 CreateVpc", Some("UnauthorizedOperation"), Fatal),
            ("EC2 DeleteVpc", Some("DependencyViolation"), Fatal),
            (
                "EC2 RevokeSecurityGroupIngress",
                Some("InvalidPermission.NotFound"),
                Fatal,
            ),
            (
                "RDS CreateDBInstance",
                Some("DBInstanceAlreadyExists"),
                Fatal,
            ),
            (
                "ELBv2 CreateLoadBalancer",
                Some("DuplicateLoadBalancerName"),
                Fatal,
            ),
            (
                "ECS CreateService",
                Some("InvalidParameterException"),
                Fatal,
            ),
            ("ECS UpdateService", Some("AccessDeniedException"), Fatal),
            ("Logs CreateLogGroup", Some("LimitExceededException"), Fatal),
            (
                "DynamoDB PutItem",
                Some("ConditionalCheckFailedException"),
                Fatal,
            ),
        ];
        for (operation, code, kind) in table {
            let e = classify_aws_error(operation, *code, Some("from AWS"));
            assert_eq!(e.kind, *kind, "{operation} {code:?}: {}", e.message);
            assert_eq!(e.code.as_deref(), *code, "the AWS code is kept");
            let shown = code.unwrap_or("Unknown");
            assert!(
                e.message
                    .starts_with(&format!("{operation} failed: {shown}: from AWS")),
                "{}",
                e.message
            );
        }
    }

    #[test]
    fn every_not_found_code_is_retryable_and_kept() {
        for code in EC2_NOT_FOUND_CODES {
            let e = classify_aws_error("EC2 CreateRoute", Some(code), None);
            assert_eq!(e.kind, ErrorKind::Retryable, "{code}");
            assert!(e.is_code(&[code]));
            assert!(e.message.contains("retried"), "{}", e.message);
        }
        for code in RETRYABLE_CODES {
            assert!(!EC2_NOT_FOUND_CODES.contains(code), "{code} listed twice");
        }
    }
}
