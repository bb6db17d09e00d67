//! The glue every Lambda shares: JSON logs and error names for Step Functions.

use lambda_runtime::Diagnostic;
use tracing_subscriber::filter::LevelFilter;

use crate::error::StepError;

/// The log level from `RUST_LOG` (`error`, `warn`, `info`, `debug`, `trace`,
/// `off`); `info` when unset or not a level. A plain level, not a directive
/// list: the regex engine behind directives would double the webhook's size.
pub fn log_level(value: Option<&str>) -> LevelFilter {
    value
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(LevelFilter::INFO)
}

/// Structured JSON logs, one object a line, with the fields of the current
/// span (the deployment id) flattened into every line. `RUST_LOG` sets the level.
pub fn init_logging() {
    let level = log_level(std::env::var("RUST_LOG").ok().as_deref());
    let _ = tracing_subscriber::fmt()
        .json()
        .with_max_level(level)
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

/// An optional environment variable: `None` when unset or blank (how the
/// template leaves an optional parameter out).
pub fn optional_env_var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
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
    fn log_levels() {
        assert_eq!(log_level(None), LevelFilter::INFO);
        assert_eq!(log_level(Some("debug")), LevelFilter::DEBUG);
        assert_eq!(log_level(Some("off")), LevelFilter::OFF);
        assert_eq!(log_level(Some("stepdeploy=debug,info")), LevelFilter::INFO);
    }

    #[test]
    fn diagnostics_carry_the_stable_name() {
        let d: Diagnostic = HandlerError(StepError::retryable("slow down")).into();
        assert_eq!(d.error_type, "Retryable");
        assert_eq!(d.error_message, "slow down");
    }
}
