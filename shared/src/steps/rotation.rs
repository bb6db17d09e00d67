//! `secret-rotated`: RDS rotated the master password it keeps in Secrets
//! Manager for one of the environments' databases (`ManageMasterUserPassword`,
//! every 7 days by default). ECS gave each running task the password once,
//! at start, so their new connections fail until the tasks are replaced.
//!
//! The event names the secret; the owned DB instance using it names the
//! environment (its ownership tags); the ledger names the environment's last
//! successful deployment. That commit and image are deployed again through
//! the deploy state machine with `restart`, so the service gets one forced
//! new deployment, recorded in the ledger like any deployment (trigger
//! `secret-rotation`). Any other secret's rotation, and an environment never
//! deployed successfully, are acknowledged, logged and ignored.
//!
//! The execution is named like any deployment id, from the event's time and
//! id: an EventBridge redelivery of the event names the same execution and
//! starts nothing.

use serde::Deserialize;
use serde_json::{json, Value};
use tracing::Instrument;

use crate::aws::rds::Rds;
use crate::aws::sfn::StepFunctions;
use crate::aws::store::Store;
use crate::deploy::{deployment_id, parse_rfc3339, DeployRequest, Trigger};
use crate::error::StepError;
use crate::ledger::{DeploymentRecord, EnvironmentRecord, Status};
use crate::owner::{Owner, TAG_APP, TAG_ENVIRONMENT};
use crate::resources::db_instance;
use crate::runtime::parse_input;

/// The trigger kind of a deployment started by a rotation.
pub const TRIGGER: &str = crate::deploy::SECRET_ROTATION;

/// Secrets Manager's `RotationSucceeded`, as EventBridge delivers it from
/// CloudTrail (`events/secret-rotated.rotation.json`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct RotationEvent {
    /// EventBridge's event id: the same on a redelivery.
    pub id: String,
    #[serde(rename = "detail-type", default)]
    pub detail_type: String,
    #[serde(default)]
    pub source: String,
    /// When it happened (RFC 3339): the deployment id's time.
    pub time: String,
    #[serde(default)]
    pub detail: RotationDetail,
}

/// The CloudTrail record (`AwsServiceEvent`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct RotationDetail {
    #[serde(default)]
    pub event_name: String,
    #[serde(default)]
    pub additional_event_data: Option<AdditionalEventData>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Default)]
pub struct AdditionalEventData {
    /// The rotated secret's ARN.
    #[serde(rename = "SecretId", default)]
    pub secret_id: Option<String>,
}

impl RotationEvent {
    /// The secret a successful rotation rotated; otherwise why the event is
    /// not one (it is then acknowledged and ignored).
    pub fn rotated_secret(&self) -> Result<&str, String> {
        if self.source != "aws.secretsmanager" || self.detail.event_name != "RotationSucceeded" {
            return Err(format!(
                "not a successful Secrets Manager rotation ({} {})",
                self.source, self.detail.event_name
            ));
        }
        self.detail
            .additional_event_data
            .as_ref()
            .and_then(|d| d.secret_id.as_deref())
            .filter(|id| !id.is_empty())
            .ok_or_else(|| {
                "the rotation event names no secret (detail.additionalEventData.SecretId)".into()
            })
    }
}

/// Whether `secret_id` (an ARN, or a secret's name) is the secret `arn`.
/// A secret's ARN is `…:secret:<name>-<6 random characters>`.
pub fn same_secret(secret_id: &str, arn: &str) -> bool {
    if secret_id == arn {
        return true;
    }
    let name = arn
        .split_once(":secret:")
        .and_then(|(_, rest)| rest.rsplit_once('-'))
        .map(|(name, _)| name);
    name == Some(secret_id)
}

/// The environment whose database keeps its master password in this
/// secret: only an instance carrying both ownership tags counts.
pub fn owner_of(instances: &[db_instance::Observed], secret_id: &str) -> Option<(Owner, String)> {
    instances.iter().find_map(|i| {
        let arn = i.secret_arn.as_deref()?;
        let (app, environment) = (i.tags.get(TAG_APP)?, i.tags.get(TAG_ENVIRONMENT)?);
        same_secret(secret_id, arn).then(|| (Owner::new(app, environment), i.identifier.clone()))
    })
}

/// What to deploy again: the environment's newest successful deployment
/// (`deployments` in ledger order, oldest first), unless the environment is
/// torn down or never succeeded; then why nothing is.
pub fn last_success<'a>(
    env: Option<&EnvironmentRecord>,
    deployments: &'a [DeploymentRecord],
) -> Result<&'a DeploymentRecord, String> {
    let env = env.ok_or("the environment was never deployed")?;
    if matches!(env.status, Status::Destroying | Status::Destroyed) {
        return Err(format!(
            "the environment is {} (teardown {})",
            serde_json::to_value(env.status)
                .ok()
                .and_then(|v| v.as_str().map(str::to_lowercase))
                .unwrap_or_default(),
            env.last_deployment
        ));
    }
    // A deployment in flight starts new tasks (which read the rotated secret)
    // and is newer than the last success: running that again would supersede
    // it with an older commit.
    if let Some(d) = deployments
        .iter()
        .find(|d| d.seq.is_some() && !d.status.is_terminal())
    {
        return Err(format!(
            "deployment {} is in progress: its new tasks read the rotated secret",
            d.deployment_id
        ));
    }
    deployments
        .iter()
        .rev()
        .find(|d| d.status == Status::Succeeded && d.image.is_some())
        .ok_or_else(|| "the environment has no successful deployment to run again".into())
}

/// The request that deploys `last` again and replaces the running tasks.
pub fn redeploy(last: &DeploymentRecord, database: &str, event_id: &str) -> DeployRequest {
    DeployRequest {
        app: last.app.clone(),
        environment: last.environment.clone(),
        commit: last.commit.clone(),
        branch: last.branch.clone(),
        image: last.image.clone(),
        trigger: Some(Trigger {
            kind: TRIGGER.into(),
            delivery: Some(event_id.into()),
            ..Trigger::default()
        }),
        dry_run: false,
        restart: Some(format!(
            "RDS rotated the master password of {database}; running tasks still hold the old one"
        )),
        repository: last.repository.clone(),
        repository_spec: None,
    }
}

pub struct SecretRotated {
    pub store: Store,
    pub rds: Rds,
    pub sfn: StepFunctions,
    pub deploy_state_machine: String,
}

impl SecretRotated {
    pub async fn handle(&self, input: Value) -> Result<Value, StepError> {
        let event: RotationEvent = parse_input("Secrets Manager rotation event", input)?;
        let secret = match event.rotated_secret() {
            Ok(s) => s,
            Err(why) => return Ok(ignored(&event, "", &why)),
        };
        let instances = self.rds.instances().await?;
        let Some((owner, database)) = owner_of(&instances, secret) else {
            return Ok(ignored(
                &event,
                secret,
                "no database stepdeploy owns keeps its master password in this secret",
            ));
        };
        let (app, environment) = (&owner.app, &owner.environment);
        let env = self.store.get_environment(app, environment).await?;
        let deployments = self.store.deployments(app, environment).await?;
        let last = match last_success(env.as_ref(), &deployments) {
            Ok(last) => last,
            Err(why) => return Ok(ignored(&event, secret, &format!("{owner}: {why}"))),
        };
        let at = parse_rfc3339(&event.time).ok_or_else(|| {
            StepError::invalid_input(format!(
                "event {} has time {:?}, not RFC 3339 UTC",
                event.id, event.time
            ))
        })?;
        let id = deployment_id(app, environment, &last.commit, &event.id, at);
        let request = redeploy(last, &database, &event.id);
        let span = tracing::info_span!("deployment", deployment_id = %id);
        async {
            let input = serde_json::to_value(&request).expect("a request serializes");
            let execution_arn = self
                .sfn
                .start(&self.deploy_state_machine, &id, &input)
                .await?;
            tracing::info!(
                event = %event.id,
                secret = %secret,
                database = %database,
                app = %app,
                environment = %environment,
                commit = %last.commit,
                redeploys = %last.deployment_id,
                "database secret rotated: replacing the running tasks"
            );
            Ok(json!({
                "deployment_id": id,
                "execution_arn": execution_arn,
                "app": app,
                "environment": environment,
                "commit": last.commit,
                "image": last.image,
                "redeploys": last.deployment_id,
                "database": database,
            }))
        }
        .instrument(span)
        .await
    }
}

/// Acknowledge an event that starts nothing, saying why.
fn ignored(event: &RotationEvent, secret: &str, why: &str) -> Value {
    tracing::info!(event = %event.id, secret = %secret, reason = %why, "secret rotation ignored");
    json!({"ignored": why, "secret": secret})
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::{deploy_sk, env_pk};
    use crate::owner::Tags;

    const SECRET: &str =
        "arn:aws:secretsmanager:us-east-1:123456789012:secret:rds!db-3f2a9c1e-5b7d-4e8f-9a0b-1c2d3e4f5a6b-Xy12Ab";

    fn sample() -> RotationEvent {
        let text = include_str!("../../../events/secret-rotated.rotation.json");
        serde_json::from_str(text).expect("the sample is a rotation event")
    }

    #[test]
    fn the_sample_event_names_the_rotated_secret() {
        let e = sample();
        assert_eq!(e.rotated_secret(), Ok(SECRET));
        assert_eq!(parse_rfc3339(&e.time), Some(1_795_624_484));
        let mut other = e.clone();
        other.detail.event_name = "RotationFailed".into();
        assert!(other.rotated_secret().is_err());
        other = e.clone();
        other.detail.additional_event_data = None;
        assert!(other
            .rotated_secret()
            .unwrap_err()
            .contains("names no secret"));
    }

    #[test]
    fn secrets_match_by_arn_or_name() {
        assert!(same_secret(SECRET, SECRET));
        assert!(same_secret(
            "rds!db-3f2a9c1e-5b7d-4e8f-9a0b-1c2d3e4f5a6b",
            SECRET
        ));
        assert!(!same_secret("rds!db-3f2a9c1e", SECRET));
        assert!(!same_secret(
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:other-AbCdEf",
            SECRET
        ));
    }

    fn instance(id: &str, secret: Option<&str>, tags: Tags) -> db_instance::Observed {
        db_instance::Observed {
            identifier: id.into(),
            status: "available".into(),
            endpoint: None,
            port: 3306,
            secret_arn: secret.map(String::from),
            deletion_protection: true,
            tags,
        }
    }

    /// (case, instances, the environment and database found)
    type OwnerCase = (
        &'static str,
        Vec<db_instance::Observed>,
        Option<(Owner, String)>,
    );

    #[test]
    fn only_an_owned_database_names_the_environment() {
        let bank = Owner::new("bank", "production");
        let untagged = instance("legacy-db", Some(SECRET), Tags::new());
        let ours = instance("bank-production-db", Some(SECRET), bank.as_tags());
        let other = instance(
            "shop-production-db",
            Some("arn:x:secret:y-AbCdEf"),
            Owner::new("shop", "production").as_tags(),
        );
        let half: Tags = [(TAG_APP.to_string(), "bank".to_string())].into();
        let half_tagged = instance("half-db", Some(SECRET), half);
        let cases: Vec<OwnerCase> = vec![
            (
                "ours uses it",
                vec![other.clone(), ours.clone()],
                Some((bank.clone(), "bank-production-db".into())),
            ),
            (
                "an untagged instance uses it: not ours",
                vec![untagged.clone(), other.clone()],
                None,
            ),
            ("only the app tag: not ours", vec![half_tagged], None),
            ("nobody uses it", vec![other], None),
            ("no instances", vec![], None),
            (
                "ours, next to an untagged one",
                vec![untagged, ours],
                Some((bank, "bank-production-db".into())),
            ),
        ];
        for (case, instances, want) in cases {
            assert_eq!(owner_of(&instances, SECRET), want, "{case}");
        }
    }

    fn record(id: &str, status: Status, image: Option<&str>) -> DeploymentRecord {
        DeploymentRecord {
            pk: env_pk("bank", "production"),
            sk: deploy_sk(id),
            deployment_id: id.into(),
            app: "bank".into(),
            environment: "production".into(),
            commit: format!("{:0<40}", id.chars().last().unwrap()),
            branch: Some("main".into()),
            repository: None,
            preview: false,
            status,
            seq: Some(1),
            waiting_for: None,
            trigger: "push".into(),
            execution_arn: None,
            image: image.map(String::from),
            url: None,
            error: None,
            cause: None,
            plan: Vec::new(),
            created_at: "2026-11-25T16:34:44Z".into(),
            updated_at: "2026-11-25T16:34:44Z".into(),
        }
    }

    fn env(status: Status) -> EnvironmentRecord {
        EnvironmentRecord {
            pk: env_pk("bank", "production"),
            sk: "ENV".into(),
            app: "bank".into(),
            environment: "production".into(),
            status,
            last_deployment: "d3".into(),
            commit: None,
            url: None,
            failed_deployment: None,
            updated_at: "2026-11-25T16:34:44Z".into(),
        }
    }

    /// (case, environment, history, the deployment run again or why not)
    type HistoryCase<'a> = (
        &'static str,
        Option<EnvironmentRecord>,
        &'a [DeploymentRecord],
        Result<&'static str, &'static str>,
    );

    #[test]
    fn the_newest_successful_deployment_is_run_again() {
        let history = vec![
            record("d1", Status::Succeeded, Some("repo/bank@sha256:1")),
            record("d2", Status::Succeeded, Some("repo/bank@sha256:2")),
            record("d3", Status::Failed, Some("repo/bank:3")),
            record("d4", Status::Planned, Some("repo/bank:4")),
        ];
        let mut in_flight = history.clone();
        in_flight.push(record("d5", Status::Queued, None));
        let cases: Vec<HistoryCase> = vec![
            (
                "a newer push in flight: left to it",
                Some(env(Status::Succeeded)),
                &in_flight,
                Err("deployment d5 is in progress"),
            ),
            (
                "the last one failed: the one before",
                Some(env(Status::Failed)),
                &history,
                Ok("d2"),
            ),
            (
                "the last one succeeded",
                Some(env(Status::Succeeded)),
                &history[..2],
                Ok("d2"),
            ),
            ("never deployed", None, &[], Err("never deployed")),
            (
                "never succeeded",
                Some(env(Status::Failed)),
                &history[2..],
                Err("no successful deployment"),
            ),
            (
                "torn down",
                Some(env(Status::Destroyed)),
                &history,
                Err("is destroyed"),
            ),
            (
                "being torn down",
                Some(env(Status::Destroying)),
                &history,
                Err("is destroying"),
            ),
        ];
        for (case, env, history, want) in cases {
            let got = last_success(env.as_ref(), history).map(|d| d.deployment_id.as_str());
            match (got, want) {
                (Ok(got), Ok(want)) => assert_eq!(got, want, "{case}"),
                (Err(why), Err(want)) => assert!(why.contains(want), "{case}: {why}"),
                (got, want) => panic!("{case}: {got:?}, wanted {want:?}"),
            }
        }
    }

    #[test]
    fn the_redeploy_pins_the_image_and_asks_for_a_restart() {
        let last = record("d2", Status::Succeeded, Some("repo/bank@sha256:2"));
        let req = redeploy(&last, "bank-production-db", "evt-1");
        assert_eq!(req.commit, last.commit);
        assert_eq!(req.image.as_deref(), Some("repo/bank@sha256:2"));
        assert_eq!(req.branch.as_deref(), Some("main"));
        let trigger = req.trigger.as_ref().unwrap();
        assert_eq!(
            (trigger.kind.as_str(), trigger.delivery.as_deref()),
            (TRIGGER, Some("evt-1"))
        );
        assert!(req
            .restart
            .as_deref()
            .unwrap()
            .contains("bank-production-db"));
        assert!(!req.dry_run);
        // The deploy state machine takes it as its input, unknown fields refused.
        let text = serde_json::to_string(&req).unwrap();
        let back: DeployRequest = serde_json::from_str(&text).unwrap();
        assert_eq!(back, req);
        // The same event names the same execution.
        let e = sample();
        let at = parse_rfc3339(&e.time).unwrap();
        let a = deployment_id("bank", "production", &last.commit, &e.id, at);
        assert_eq!(
            a,
            deployment_id("bank", "production", &last.commit, &e.id, at)
        );
        assert!(a.starts_with("20261125T163444Z-bank-production-"), "{a}");
        assert!(crate::deploy::is_execution_name(&a));
    }
}
