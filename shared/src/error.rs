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
    /// Anything else: fail the deployment and report the cause.
    Fatal,
}

impl ErrorKind {
    /// Every error name the code can raise: the ASL files may name only these
    /// (plus `States.*` and `Lambda.*`).
    pub const ALL: [ErrorKind; 8] = [
        ErrorKind::InvalidInput,
        ErrorKind::NotReady,
        ErrorKind::Retryable,
        ErrorKind::Conflict,
        ErrorKind::ImageFailed,
        ErrorKind::Locked,
        ErrorKind::StepTimedOut,
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

/// AWS error codes that mean "try again later".
const RETRYABLE_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestLimitExceeded",
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
    "InternalServiceError",
    "RequestTimeout",
    "RequestTimeoutException",
    "PriorRequestNotComplete",
    "TransactionInProgressException",
];

/// Classify an AWS error by its code: throttling and server-side faults are
/// retryable, everything else is fatal. The message keeps the AWS code and
/// message so a person can look it up.
pub fn classify_aws_error(operation: &str, code: Option<&str>, message: Option<&str>) -> StepError {
    let code_text = code.unwrap_or("Unknown");
    let text = format!(
        "{operation} failed: {code_text}: {}",
        message.unwrap_or("no message from AWS")
    );
    let mut err = match code {
        Some(c) if RETRYABLE_CODES.contains(&c) => StepError::retryable(text),
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
}
