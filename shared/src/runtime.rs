//! The glue every Lambda shares: JSON logs and error names for Step Functions.

use lambda_runtime::Diagnostic;
use tracing_subscriber::EnvFilter;

use crate::error::StepError;

/// Structured JSON logs, one object a line, with the fields of the current
/// span (the deployment id) flattened into every line. `RUST_LOG` sets the level.
pub fn init_logging() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(true)
        .with_span_list(false)
        .flatten_event(true)
        .with_target(false)
        .with_ansi(false)
        .try_init();
}

/// The handler error type: its `errorType` is the stable name `Retry` and
/// `Catch` match, never a Rust type path.
#[derive(Debug)]
pub struct HandlerError(pub StepError);

impl From<StepError> for HandlerError {
    fn from(e: StepError) -> Self {
        HandlerError(e)
    }
}

impl From<HandlerError> for Diagnostic {
    fn from(e: HandlerError) -> Diagnostic {
        Diagnostic {
            error_type: e.0.kind.name().to_string(),
            error_message: e.0.message,
        }
    }
}

/// Deserialize a step's input, naming the field at fault.
pub fn parse_input<T: serde::de::DeserializeOwned>(
    what: &str,
    value: serde_json::Value,
) -> Result<T, StepError> {
    serde_json::from_value(value).map_err(|e| StepError::invalid_input(format!("{what}: {e}")))
}

/// A required environment variable, with an error that says which one.
pub fn env_var(name: &str) -> Result<String, StepError> {
    std::env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .ok_or_else(|| StepError::fatal(format!("environment variable {name} is not set")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diagnostics_carry_the_stable_name() {
        let d: Diagnostic = HandlerError(StepError::retryable("slow down")).into();
        assert_eq!(d.error_type, "Retryable");
        assert_eq!(d.error_message, "slow down");
    }
}
