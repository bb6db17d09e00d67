//! What a deployment is: its id ([`deployment_id`]), the request that starts
//! it and how it is resolved ([`request`]), which spec it deploys
//! ([`source`]), what `Begin Deployment` makes of it ([`begin`]), and the
//! document the deploy state machine carries from step to step ([`state`]).

pub mod begin;
pub mod request;
pub mod source;
pub mod state;
pub mod time;

pub use request::*;
pub use source::*;
pub use state::*;
pub use time::*;

use crate::naming::{self, short_hash};

/// The deployment id: `20261125T163444Z-bank-production-1a2b3c4-9f8e7d`.
/// It is the execution's name, so it is at most 80 characters of
/// `[A-Za-z0-9-_]`; it starts with the push time, so ids sort by time; and the
/// delivery hash keeps two deliveries of one commit apart.
pub fn deployment_id(
    app: &str,
    environment: &str,
    commit: &str,
    delivery: &str,
    pushed_at: u64,
) -> String {
    let clean = |s: &str, max: usize| -> String {
        s.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' {
                    c
                } else {
                    '-'
                }
            })
            .take(max)
            .collect()
    };
    let id = format!(
        "{}-{}-{}-{}-{}",
        compact_utc(pushed_at),
        clean(app, naming::MAX_APP),
        clean(environment, naming::MAX_ENVIRONMENT),
        clean(commit, 7),
        short_hash(delivery, 6)
    );
    id.chars().take(80).collect()
}

/// Whether `text` may name a Step Functions execution.
pub fn is_execution_name(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 80
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// Account and region from an execution (or any) ARN.
pub fn arn_account_region(arn: &str) -> Option<(&str, &str)> {
    let mut parts = arn.split(':');
    if parts.next()? != "arn" {
        return None;
    }
    let _partition = parts.next()?;
    let _service = parts.next()?;
    let region = parts.next()?;
    let account = parts.next()?;
    (!region.is_empty() && !account.is_empty()).then_some((account, region))
}

/// The commit of [`test_push`]'s request.
#[cfg(test)]
pub(crate) const TEST_COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";

/// A push of acme/flask-banking's `branch` to `app`'s `environment`, for the
/// tests of what a request leads to.
#[cfg(test)]
pub(crate) fn test_push(app: &str, environment: &str, branch: &str) -> DeployRequest {
    DeployRequest {
        app: app.into(),
        environment: environment.into(),
        commit: TEST_COMMIT.into(),
        branch: Some(branch.into()),
        trigger: Some(Trigger {
            kind: "push".into(),
            repository: Some("acme/flask-banking".into()),
            ..Trigger::default()
        }),
        ..DeployRequest::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::ImageRef;
    use crate::spec::AppSpec;

    const SHA: &str = "0123456789abcdef0123456789abcdef01234567";
    const ARN: &str = "arn:aws:states:us-east-1:123456789012:execution:stepdeploy-deploy:x";

    #[test]
    fn time_formatting() {
        assert_eq!(compact_utc(0), "19700101T000000Z");
        assert_eq!(rfc3339(1_795_624_484), "2026-11-25T16:34:44Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
    }

    #[test]
    fn deployment_ids_are_execution_names_and_sort_by_time() {
        let a = deployment_id("bank", "production", SHA, "delivery-1", 1_795_624_484);
        assert_eq!(
            a,
            format!(
                "20261125T163444Z-bank-production-0123456-{}",
                short_hash("delivery-1", 6)
            )
        );
        assert!(is_execution_name(&a));
        let b = deployment_id("bank", "production", SHA, "delivery-1", 1_795_624_485);
        assert!(a < b);
        let c = deployment_id("bank", "production", SHA, "delivery-2", 1_795_624_484);
        assert_ne!(a, c);
        let long = deployment_id(
            "abcdefghijkl",
            "pr-abcdefghijklm",
            "zz/..",
            "d",
            u64::MAX / 4,
        );
        assert!(is_execution_name(&long), "{long}");
    }

    #[test]
    fn resolve_fills_the_ecr_image() {
        let spec = AppSpec::from_json(r#"{"name":"bank","repository":"acme/bank"}"#).unwrap();
        let req = DeployRequest {
            repository: None,
            repository_spec: None,
            app: "bank".into(),
            environment: "production".into(),
            commit: SHA.into(),
            branch: None,
            image: None,
            trigger: None,
            dry_run: false,
            restart: None,
        };
        let d = resolve(&req, &spec, "id1", ARN, 5, 0).unwrap();
        assert_eq!(
            d.image.to_string(),
            format!("123456789012.dkr.ecr.us-east-1.amazonaws.com/bank:{SHA}")
        );
        assert_eq!(d.trigger.kind, "manual");
        assert!(!d.preview);

        let bad = DeployRequest {
            repository: None,
            repository_spec: None,
            environment: "staging".into(),
            ..req.clone()
        };
        let e = resolve(&bad, &spec, "id1", ARN, 5, 0).unwrap_err();
        assert!(
            e.message.contains("no environment \"staging\""),
            "{}",
            e.message
        );
        let bad = DeployRequest {
            repository: None,
            repository_spec: None,
            commit: "abc".into(),
            ..req
        };
        assert!(resolve(&bad, &spec, "id1", ARN, 5, 0)
            .unwrap_err()
            .message
            .contains("40-character"));
    }

    #[test]
    fn failure_names_never_claim_the_states_prefix() {
        let spec = AppSpec::from_json(r#"{"name":"bank","repository":"acme/bank"}"#).unwrap();
        let req = DeployRequest {
            repository: None,
            repository_spec: None,
            app: "bank".into(),
            environment: "production".into(),
            commit: SHA.into(),
            branch: None,
            image: None,
            trigger: None,
            dry_run: false,
            restart: None,
        };
        let state = DeployState::new(resolve(&req, &spec, "id1", ARN, 5, 0).unwrap(), spec);
        let caught = |e: &str| CaughtError {
            error: e.into(),
            cause: Some("{\"errorType\":\"Fatal\",\"errorMessage\":\"boom\"}".into()),
        };
        assert_eq!(
            failure_name(&state, &caught("States.Timeout")),
            "ImageTimedOut"
        );
        assert_eq!(
            failure_name(&state, &caught("States.TaskFailed")),
            "TaskFailed"
        );
        assert_eq!(failure_name(&state, &caught("Fatal")), "Fatal");
        let msg = failure_message(&state, &caught("States.Timeout"));
        assert!(
            msg.contains(&format!("bank:{SHA} did not arrive within 1800 s")),
            "{msg}"
        );
        assert!(msg.contains("ECR repository \"bank\""), "{msg}");
        let msg = failure_message(&state, &caught("Fatal"));
        assert!(msg.contains("failed: Fatal: boom"), "{msg}");
        // Its summary is what failed, without the frame.
        assert_eq!(failure_summary(&msg), "Fatal: boom");
        // A diagnosed rollout failure is its own message (within its 1 KiB),
        // and its own summary.
        assert_eq!(failure_message(&state, &caught("ContainerExited")), "boom");
        assert_eq!(failure_summary("boom"), "boom");
        let timeout = failure_message(&state, &caught("States.Timeout"));
        assert_eq!(failure_summary(&timeout), timeout);
        let odd = "Health checks failed. The deployment x failed: y";
        assert_eq!(failure_summary(odd), odd);
        let mut hub = state.clone();
        hub.deployment.image = ImageRef::parse(&format!("acme/bank:{SHA}")).unwrap();
        let msg = failure_message(&hub, &caught("States.Timeout"));
        assert!(
            msg.contains("Docker Hub repository \"acme/bank\"") && msg.contains("DockerHubHookUrl"),
            "{msg}"
        );
    }

    #[test]
    fn a_restart_flows_into_the_deployment_and_must_say_why() {
        let spec = AppSpec::from_json(r#"{"name":"bank","repository":"acme/bank"}"#).unwrap();
        let req: DeployRequest = serde_json::from_value(serde_json::json!({
            "app": "bank", "environment": "production", "commit": SHA,
            "restart": "the database's managed secret was rotated"
        }))
        .unwrap();
        let d = resolve(&req, &spec, "id1", ARN, 5, 0).unwrap();
        assert_eq!(
            d.restart.as_deref(),
            Some("the database's managed secret was rotated")
        );
        let plain = DeployRequest {
            repository: None,
            repository_spec: None,
            restart: None,
            ..req.clone()
        };
        assert_eq!(
            resolve(&plain, &spec, "id1", ARN, 5, 0).unwrap().restart,
            None
        );
        assert!(!serde_json::to_string(&plain).unwrap().contains("restart"));
        let blank = DeployRequest {
            repository: None,
            repository_spec: None,
            restart: Some(" ".into()),
            ..req
        };
        let e = resolve(&blank, &spec, "id1", ARN, 5, 0).unwrap_err();
        assert!(e.message.contains("restart must say why"), "{}", e.message);
    }

    #[test]
    fn requests_refuse_unknown_fields() {
        let e = serde_json::from_str::<DeployRequest>(
            r#"{"app":"bank","environment":"production","commit":"x","comit":"y"}"#,
        )
        .unwrap_err();
        assert!(e.to_string().contains("unknown field `comit`"));
    }

    #[test]
    fn manual_sample_event_is_a_valid_request() {
        let text = include_str!("../../../events/deploy.manual.json");
        let req: DeployRequest = serde_json::from_str(text).unwrap();
        check_commit(&req.commit).unwrap();
    }
}
