//! Teardown's rules: who may tear down what, and in which order.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{ErrorKind, StepError};
use crate::naming::{check_app_name, check_environment_name};
use crate::spec::{AppSpec, DeadlineSpec};

/// The order things are removed in: what depends on something goes first.
pub const PHASES: [&str; 5] = ["service", "load_balancer", "database", "network", "cleanup"];

/// The teardown state machine's input (`events/teardown.manual.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TeardownRequest {
    pub app: String,
    pub environment: String,
    /// The environment's name, required to tear down anything but a preview.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirm: Option<String>,
    /// Remove the log group too (kept by default, so the app's logs outlive it).
    #[serde(default)]
    pub delete_logs: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger: Option<Value>,
}

/// The trigger of a teardown a preview's expiry schedule starts.
pub const PREVIEW_EXPIRED: &str = "preview-expired";

/// Previews are `pr-*` environments (the prefix is reserved for them).
pub fn is_preview(environment: &str) -> bool {
    environment.starts_with("pr-")
}

/// Only previews come down without `"confirm": "<environment>"`.
pub fn check_request(req: &TeardownRequest) -> Result<(), StepError> {
    check_app_name(&req.app)?;
    check_environment_name(&req.environment)?;
    if is_preview(&req.environment) || req.confirm.as_deref() == Some(req.environment.as_str()) {
        return Ok(());
    }
    Err(StepError::invalid_input(format!(
        "tearing down {app}/{env} deletes its service, load balancer, database and network; to go ahead, start the teardown again with \"confirm\": \"{env}\" in the input{snap}",
        app = req.app,
        env = req.environment,
        snap = " (the database gets a final snapshot)"
    )))
}

/// Something teardown left in place, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Skipped {
    pub resource: String,
    pub reason: String,
}

/// The document the teardown state machine carries from phase to phase.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TeardownState {
    pub app: String,
    pub environment: String,
    pub preview: bool,
    pub delete_logs: bool,
    pub teardown_id: String,
    /// The teardown's execution: it holds the environment's lease.
    #[serde(default)]
    pub execution_arn: String,
    /// Its place in the environment's push order: deployments pushed before
    /// it are cancelled.
    #[serde(default)]
    pub seq: u64,
    /// Whether the phase just run has finished (else: wait and run it again).
    pub done: bool,
    #[serde(default)]
    pub removed: Vec<String>,
    #[serde(default)]
    pub skipped: Vec<Skipped>,
    /// When (epoch seconds) the current phase first answered not done.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waiting_since: Option<u64>,
    /// How long one phase may keep waiting: the app spec's
    /// `deadlines.teardown_minutes`, read once by Begin (a state from before
    /// this field gets the default).
    #[serde(default = "default_phase_deadline_seconds")]
    pub phase_deadline_seconds: u64,
    /// What the current phase waits for, as its last run saw it (AWS's
    /// words, e.g. a `DependencyViolation` naming the VPC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waiting_for: Option<String>,
}

/// A phase's deadline when the app's spec does not say: the spec's default.
pub fn default_phase_deadline_seconds() -> u64 {
    DeadlineSpec::default().teardown_minutes * 60
}

/// Begin's phase deadline, from what the ledger answered for the app's spec:
/// the spec's `deadlines.teardown_minutes`, or the default when the app has
/// no spec (any more) or its stored spec no longer validates; neither stops
/// a teardown. Only a failure to read the ledger is an error (retried).
pub fn phase_deadline_seconds(spec: Result<Option<AppSpec>, StepError>) -> Result<u64, StepError> {
    match spec {
        Ok(Some(spec)) => Ok(spec.deadlines.teardown_minutes * 60),
        Ok(None) => Ok(default_phase_deadline_seconds()),
        Err(e) if e.kind == ErrorKind::InvalidInput => Ok(default_phase_deadline_seconds()),
        Err(e) => Err(e),
    }
}

impl TeardownState {
    /// After a phase ran at `now`: `None` when it is done (or may wait
    /// longer), else the error for a phase past its deadline.
    pub fn deadline(&mut self, phase: &str, now: u64) -> Option<StepError> {
        if self.done {
            self.waiting_since = None;
            self.waiting_for = None;
            return None;
        }
        let since = *self.waiting_since.get_or_insert(now);
        (now.saturating_sub(since) > self.phase_deadline_seconds).then(|| {
            StepError::new(
                ErrorKind::StepTimedOut,
                format!(
                    "teardown of {}/{} is stuck in its {phase} phase after {} min (its deadline is {} min): {}. Something still holds on (in the network phase, usually a network interface another service created in the VPC). Find it in the AWS console (VPC > Network interfaces, filter by the VPC), delete it, then start the teardown again: it resumes where it stopped (or raise deadlines.teardown_minutes in the app spec if it is only slow)",
                    self.app,
                    self.environment,
                    now.saturating_sub(since) / 60,
                    self.phase_deadline_seconds / 60,
                    self.waiting_for.as_deref().unwrap_or("AWS gave no reason")
                ),
            )
        })
    }

    pub fn skip(&mut self, resource: impl Into<String>, reason: impl Into<String>) {
        let resource = resource.into();
        if !self.skipped.iter().any(|s| s.resource == resource) {
            self.skipped.push(Skipped {
                resource,
                reason: reason.into(),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(env: &str, confirm: Option<&str>) -> TeardownRequest {
        TeardownRequest {
            app: "bank".into(),
            environment: env.into(),
            confirm: confirm.map(String::from),
            delete_logs: false,
            trigger: None,
        }
    }

    #[test]
    fn confirmation_rule() {
        assert!(check_request(&req("pr-feature-x", None)).is_ok());
        assert!(check_request(&req("production", Some("production"))).is_ok());
        let e = check_request(&req("production", None)).unwrap_err();
        assert!(
            e.message.contains("\"confirm\": \"production\""),
            "{}",
            e.message
        );
        assert!(check_request(&req("production", Some("staging"))).is_err());
        assert!(check_request(&req("Prod!", Some("Prod!"))).is_err());
    }

    #[test]
    fn a_stuck_phase_fails_after_its_deadline() {
        let mut t = TeardownState {
            app: "bank".into(),
            environment: "pr-x".into(),
            preview: true,
            delete_logs: false,
            teardown_id: "t1".into(),
            execution_arn: "arn:t1".into(),
            seq: 3,
            done: false,
            removed: vec![],
            skipped: vec![],
            waiting_since: None,
            waiting_for: None,
            phase_deadline_seconds: 120,
        };
        assert!(t.deadline("network", 100).is_none());
        assert!(t.deadline("network", 220).is_none());
        t.waiting_for = Some("DependencyViolation: The vpc 'vpc-1' has dependencies".into());
        let e = t.deadline("network", 221).unwrap();
        assert_eq!(e.kind, ErrorKind::StepTimedOut);
        assert!(e.message.contains("network phase"), "{}", e.message);
        assert!(e.message.contains("its deadline is 2 min"), "{}", e.message);
        assert!(
            e.message.contains("The vpc 'vpc-1' has dependencies"),
            "{}",
            e.message
        );
        t.done = true;
        assert!(t.deadline("network", 999).is_none());
        assert_eq!((t.waiting_since, t.waiting_for), (None, None));
    }

    #[test]
    fn a_state_without_a_phase_deadline_gets_the_default() {
        let older = serde_json::json!({
            "app": "bank", "environment": "pr-x", "preview": true, "delete_logs": false,
            "teardown_id": "t1", "done": false
        });
        let t: TeardownState = serde_json::from_value(older).unwrap();
        assert_eq!(t.phase_deadline_seconds, 45 * 60);
        assert_eq!(
            serde_json::to_value(&t).unwrap()["phase_deadline_seconds"],
            45 * 60
        );
    }

    #[test]
    fn begin_takes_the_phase_deadline_from_the_spec_if_there_is_one() {
        let spec = AppSpec::from_json(
            r#"{"name":"bank","repository":"acme/bank","deadlines":{"teardown_minutes":90}}"#,
        )
        .unwrap();
        assert_eq!(phase_deadline_seconds(Ok(Some(spec))), Ok(90 * 60));
        assert_eq!(phase_deadline_seconds(Ok(None)), Ok(45 * 60));
        let invalid = StepError::invalid_input("app spec \"bank\" is not valid: …");
        assert_eq!(phase_deadline_seconds(Err(invalid)), Ok(45 * 60));
        let throttled = StepError::retryable("DynamoDB GetItem failed: ThrottlingException");
        assert_eq!(
            phase_deadline_seconds(Err(throttled.clone())),
            Err(throttled)
        );
    }

    #[test]
    fn dependents_go_first() {
        let pos = |p: &str| PHASES.iter().position(|x| *x == p).unwrap();
        assert!(pos("service") < pos("load_balancer"));
        assert!(pos("service") < pos("database"));
        assert!(pos("load_balancer") < pos("network"));
        assert!(pos("database") < pos("network"));
        assert!(pos("network") < pos("cleanup"));
    }

    #[test]
    fn manual_sample_event_is_valid() {
        let r: TeardownRequest =
            serde_json::from_str(include_str!("../../events/teardown.manual.json")).unwrap();
        check_request(&r).unwrap();
    }
}
