//! `record-deployment`: the ledger's side of a deployment: `Begin Deployment`
//! validates and records it and gives it its place in the push order,
//! `Acquire Lease` takes the environment before the first change, and
//! `Record Result`, `Record Failure` and `Record Stopped` close it and let
//! the environment go.

use serde::Deserialize;
use serde_json::{json, Value};
use tracing::Instrument;

use crate::aws::sfn::StepFunctions;
use crate::aws::store::Store;
use crate::deploy::begin::{decide_begin, AppName, Begin, BeginRead, Order};
use crate::deploy::{
    claimant, failure_message, failure_name, now_epoch, rfc3339, CaughtError, DeployRequest,
    DeployState, RepositorySpec,
};
use crate::error::{ErrorKind, StepError};
use crate::lease::{stop, Verdict};
use crate::ledger::{
    env_pk, DeploymentUpdate, EnvironmentRecord, Field, LedgerWrite, Status, ENV_SK,
};
use crate::plan::{calls, summary};
use crate::resources::preview_expiry::{self, Expiry, PreviewExpiry};
use crate::runtime::parse_input;
use crate::spec::{Limits, REPOSITORY_FILE};
use crate::steps::lease::{claim, push_seq};

#[derive(Debug, Deserialize)]
#[serde(tag = "phase", rename_all = "lowercase")]
pub enum RecordInput {
    /// First state: `$$.Execution.Name` is the deployment id.
    Begin {
        execution_name: String,
        execution_arn: String,
        /// A number, or its text (a `${Substitution}` in the ASL).
        poll_seconds: Value,
        request: Value,
    },
    /// `Acquire Lease`: take the environment, or say who holds it.
    Acquire {
        state: DeployState,
    },
    Succeeded {
        state: DeployState,
    },
    Failed {
        state: DeployState,
    },
    /// `Record Stopped`: superseded, cancelled or locked out (`state.error`).
    Stopped {
        state: DeployState,
    },
}

fn parse_seconds(value: &Value) -> Result<u64, StepError> {
    value
        .as_u64()
        .or_else(|| value.as_str().and_then(|s| s.trim().parse().ok()))
        .ok_or_else(|| {
            StepError::invalid_input(format!("poll_seconds {value} is not a whole number"))
        })
}

/// `expiry`: the stack's preview schedules (`None`: this deployer has no
/// schedule group, and `previews.ttl_hours` is not enforced).
pub async fn handle(
    store: &Store,
    sfn: &StepFunctions,
    expiry: Option<&PreviewExpiry>,
    input: Value,
) -> Result<Value, StepError> {
    match parse_input::<RecordInput>("record-deployment input", input)? {
        RecordInput::Begin {
            execution_name,
            execution_arn,
            poll_seconds,
            request,
        } => {
            let span = tracing::info_span!("deployment", deployment_id = %execution_name);
            let poll_seconds = parse_seconds(&poll_seconds)?;
            match begin(
                store,
                expiry,
                &execution_name,
                &execution_arn,
                poll_seconds,
                request,
            )
            .instrument(span)
            .await?
            {
                Begun::Started(state) => Ok(serde_json::to_value(state).expect("state serializes")),
                Begun::Ignored(why) => Ok(json!({ "ignored": why })),
            }
        }
        RecordInput::Acquire { state } => {
            let span = tracing::info_span!("deployment", deployment_id = %state.deployment.id);
            acquire(store, sfn, &state).instrument(span).await
        }
        RecordInput::Stopped { state } => {
            let span = tracing::info_span!("deployment", deployment_id = %state.deployment.id);
            stopped(store, &state).instrument(span).await
        }
        RecordInput::Succeeded { state } => {
            let span = tracing::info_span!("deployment", deployment_id = %state.deployment.id);
            succeeded(store, &state).instrument(span).await
        }
        RecordInput::Failed { state } => {
            let span = tracing::info_span!("deployment", deployment_id = %state.deployment.id);
            failed(store, &state).instrument(span).await
        }
    }
}

/// What `Begin Deployment` made of a request.
#[allow(clippy::large_enum_variant)]
enum Begun {
    Started(DeployState),
    /// Not for stepdeploy: the execution ends at once, recording nothing.
    Ignored(String),
}

/// `Begin Deployment`: read, let [`decide_begin`] decide, do what it says;
/// while it asks for a read or a write first, do that and decide again
/// (the rounds are in [`crate::deploy::begin`]).
async fn begin(
    store: &Store,
    expiry: Option<&PreviewExpiry>,
    id: &str,
    execution_arn: &str,
    poll_seconds: u64,
    request: Value,
) -> Result<Begun, StepError> {
    let request: DeployRequest = parse_input(
        "deployment request (expected {\"app\", \"environment\", \"commit\"} and optionally \"image\")",
        request,
    )?;
    let now = now_epoch();
    let registered = if request.app.is_empty() {
        None
    } else {
        store.get_app(&request.app).await?
    };
    let file = RepositorySpec::of(&request);
    // Whether the app has deployed from its repository's file (then a file
    // GitHub cannot give now is never replaced by the registered spec).
    let file_deployed = match (&registered, &file) {
        (Some(spec), RepositorySpec::Unreadable { why, .. }) => {
            let deployed = store
                .repository_app(&spec.name)
                .await?
                .is_some_and(|r| r.repository.eq_ignore_ascii_case(&spec.repository));
            if !deployed {
                tracing::warn!(
                    why = %why,
                    "could not read {REPOSITORY_FILE} from GitHub; the registered spec deploys, as it always has for this app"
                );
            }
            deployed
        }
        _ => false,
    };
    let mut read = BeginRead {
        request,
        id: id.into(),
        execution_arn: execution_arn.into(),
        poll_seconds,
        now,
        registered,
        file,
        file_deployed,
        limits: Limits::from_env()?,
        name: AppName::Unread,
        order: None,
    };
    loop {
        match decide_begin(&read) {
            Begin::ReadRegistration { app } => {
                let registered = store.get_app(&app).await?;
                read.name = AppName::Registered(registered.map(|spec| spec.repository));
            }
            Begin::LookUpName { app } => {
                let holder = store.repository_app(&app).await?;
                read.name = AppName::Looked(holder.map(|r| r.repository));
            }
            Begin::ClaimName(claim) => {
                read.name = AppName::Claimed(store.claim_repository_app(&claim).await?);
            }
            Begin::Number(routed) => {
                // The push order: the webhook gave a push its number; a
                // console execution (or a re-run of one) takes the next one
                // here, once. Then the lease, as that left it.
                let seq = push_seq(store, &routed, id, true).await?;
                let lease = store.get_lease(&routed.app, &routed.environment).await?;
                read.order = Some(Order { seq, lease });
            }
            Begin::Ignore(why) => {
                tracing::info!(why = %why, "not for stepdeploy: nothing recorded");
                return Ok(Begun::Ignored(why));
            }
            Begin::Fail(e) => return Err(e),
            Begin::Refuse { error, writes } => {
                tracing::warn!(reason = %error.message, "deployment refused");
                write(store, &writes).await?;
                return Err(error);
            }
            Begin::Stopped {
                state,
                reason,
                writes,
            } => {
                tracing::info!(reason = %reason, "deployment stops before it starts");
                write(store, &writes).await?;
                return Ok(started(state));
            }
            Begin::Start { state, writes } => {
                // Before the ledger says it started: if this fails, nothing has.
                move_expiry(expiry, &state, now).await?;
                write(store, &writes).await?;
                return Ok(started(state));
            }
        }
    }
}

/// The preview's expiry moves on with every push that goes ahead (its
/// resource's plan says how, if at all).
async fn move_expiry(
    expiry: Option<&PreviewExpiry>,
    state: &DeployState,
    now: u64,
) -> Result<(), StepError> {
    let d = &state.deployment;
    let plan = preview_expiry::plan(
        d.preview,
        d.dry_run,
        &d.trigger.kind,
        state.spec.previews.ttl_hours,
        now,
    );
    match expiry {
        Some(schedules) => {
            if let Some(line) = schedules.apply(&d.app, &d.environment, &plan).await? {
                tracing::info!("{line}");
            }
        }
        None if matches!(plan, Expiry::Set { .. }) => tracing::warn!(
            "previews.ttl_hours is not enforced: this deployer has no STEPDEPLOY_PREVIEW_SCHEDULE_GROUP (template.yaml sets it)"
        ),
        None => {}
    }
    Ok(())
}

/// Make the ledger writes a decision asked for, in order.
async fn write(store: &Store, writes: &[LedgerWrite]) -> Result<(), StepError> {
    for w in writes {
        match w {
            LedgerWrite::Pull(record) => store.put_pull(record).await?,
            LedgerWrite::Deployment { record, update } => {
                if !store.create_deployment(record).await? {
                    store
                        .update_deployment(
                            &record.app,
                            &record.environment,
                            &record.deployment_id,
                            update,
                        )
                        .await?;
                }
            }
        }
    }
    Ok(())
}

fn started(state: DeployState) -> Begun {
    let d = &state.deployment;
    tracing::info!(
        app = %d.app,
        environment = %d.environment,
        commit = %d.commit,
        image = %d.image,
        seq = ?d.seq,
        "deployment started"
    );
    Begun::Started(state)
}

/// `Acquire Lease`: take the environment before the first change. While
/// another running execution holds it, the deployment is `QUEUED` with the
/// holder's name and the state machine waits a poll interval; a newer push
/// or a later teardown stops it here (`Superseded`, `Cancelled`).
async fn acquire(
    store: &Store,
    sfn: &StepFunctions,
    state: &DeployState,
) -> Result<Value, StepError> {
    let d = &state.deployment;
    let Some(me) = claimant(d) else {
        return Ok(json!({"acquired": true}));
    };
    let at = rfc3339(now_epoch());
    match claim(store, sfn, &d.app, &d.environment, &me).await? {
        Verdict::Held => {
            store
                .update_deployment(
                    &d.app,
                    &d.environment,
                    &d.id,
                    &DeploymentUpdate {
                        waiting_for: Field::Remove,
                        ..DeploymentUpdate::status(Status::InProgress, &at)
                    },
                )
                .await?;
            Ok(json!({"acquired": true}))
        }
        Verdict::Wait { holder } => {
            tracing::info!(holder = %holder, "waiting for the environment");
            store
                .update_deployment(
                    &d.app,
                    &d.environment,
                    &d.id,
                    &DeploymentUpdate {
                        waiting_for: Field::Set(holder.clone()),
                        ..DeploymentUpdate::status(Status::Queued, &at)
                    },
                )
                .await?;
            Ok(json!({"acquired": false, "holder": holder}))
        }
        verdict => Err(stop(&d.app, &d.environment, &verdict)
            .unwrap_or_else(|| StepError::fatal(format!("unexpected lease verdict {verdict:?}")))),
    }
}

/// `Record Stopped`: a newer push superseded the deployment, a teardown
/// cancelled it, or a teardown locked it out. It changed nothing further:
/// its record says why, the environment's record is left to what runs, the
/// lease is let go, and the execution succeeds with this as its output.
async fn stopped(store: &Store, state: &DeployState) -> Result<Value, StepError> {
    let d = &state.deployment;
    let caught = state.error.clone().unwrap_or(CaughtError {
        error: ErrorKind::Superseded.name().into(),
        cause: None,
    });
    let status = match caught.error.as_str() {
        "Superseded" => Status::Superseded,
        "Locked" => Status::Refused,
        _ => Status::Cancelled,
    };
    let cause = caught.message();
    store
        .update_deployment(
            &d.app,
            &d.environment,
            &d.id,
            &DeploymentUpdate {
                error: Field::Set(caught.error.clone()),
                cause: Field::Set(cause.clone()),
                waiting_for: Field::Remove,
                ..DeploymentUpdate::status(status, &rfc3339(now_epoch()))
            },
        )
        .await?;
    store
        .release_lease(&d.app, &d.environment, &d.execution_arn)
        .await?;
    tracing::info!(status = ?status, cause = %cause, "deployment stopped");
    Ok(json!({
        "deployment_id": d.id,
        "app": d.app,
        "environment": d.environment,
        "commit": d.commit,
        "seq": d.seq,
        "status": status,
        "cause": cause,
    }))
}

/// A dry run's end: the whole plan, in the ledger and as the execution's output.
async fn planned(store: &Store, state: &DeployState) -> Result<Value, StepError> {
    let d = &state.deployment;
    let plan = state.plan();
    let (calls, summary) = (calls(&plan), summary(&plan));
    close(
        store,
        state,
        Status::Planned,
        DeploymentUpdate {
            plan: Field::Set(plan.clone()),
            cause: Field::Set(summary.clone()),
            ..DeploymentUpdate::default()
        },
    )
    .await?;
    tracing::info!(calls, summary = %summary, "dry run planned");
    Ok(json!({
        "deployment_id": d.id,
        "app": d.app,
        "environment": d.environment,
        "commit": d.commit,
        "status": Status::Planned,
        "dry_run": true,
        "plan": plan,
        "calls": calls,
        "summary": summary,
        "mutations": 0,
    }))
}

/// End the deployment's record in `status`, with `update`'s fields too.
async fn close(
    store: &Store,
    state: &DeployState,
    status: Status,
    update: DeploymentUpdate,
) -> Result<(), StepError> {
    let d = &state.deployment;
    let at = rfc3339(now_epoch());
    let update = DeploymentUpdate {
        status: Field::Set(status),
        waiting_for: Field::Remove,
        updated_at: Field::Set(at.clone()),
        ..update
    };
    store
        .update_deployment(&d.app, &d.environment, &d.id, &update)
        .await?;
    if d.dry_run {
        // A dry run changed nothing: the environment's record stays as it was.
        return Ok(());
    }
    let url = match update.url {
        Field::Set(url) => Some(url),
        Field::Keep | Field::Remove => None,
    };
    let previous = store.get_environment(&d.app, &d.environment).await?;
    // A deployment that failed before it took the environment (its image
    // never came) changed nothing there: a newer one may run fine.
    let changed_it = status != Status::Failed
        || previous.is_none()
        || store
            .get_lease(&d.app, &d.environment)
            .await?
            .and_then(|l| l.holder_arn)
            .is_some_and(|arn| arn == d.execution_arn);
    if changed_it {
        let record = environment_record(d, status, url, previous, &at);
        store.put_environment(&record).await?;
    }
    store
        .release_lease(&d.app, &d.environment, &d.execution_arn)
        .await
}

/// The environment's record after deployment `d` ended in `status`: a
/// success names it as what runs; a failure leaves what ran before (a
/// failed rollout rolls back, a failed step never reached the service) and
/// is named as the failed deployment.
fn environment_record(
    d: &crate::deploy::Deployment,
    status: Status,
    url: Option<String>,
    previous: Option<EnvironmentRecord>,
    at: &str,
) -> EnvironmentRecord {
    let mut record = EnvironmentRecord {
        pk: env_pk(&d.app, &d.environment),
        sk: ENV_SK.into(),
        app: d.app.clone(),
        environment: d.environment.clone(),
        status,
        last_deployment: d.id.clone(),
        commit: Some(d.commit.clone()),
        url,
        failed_deployment: None,
        updated_at: at.into(),
    };
    if status == Status::Failed {
        let running = previous.filter(|p| p.status != Status::Destroyed);
        record.last_deployment = running
            .as_ref()
            .map(|p| p.last_deployment.clone())
            .unwrap_or_default();
        record.commit = running.as_ref().and_then(|p| p.commit.clone());
        record.url = running.and_then(|p| p.url);
        record.failed_deployment = Some(d.id.clone());
    }
    record
}

async fn succeeded(store: &Store, state: &DeployState) -> Result<Value, StepError> {
    let d = &state.deployment;
    if d.dry_run {
        return planned(store, state).await;
    }
    let image = state.image.as_ref().map(|i| i.uri.clone());
    let url = state.load_balancer.as_ref().map(|lb| lb.url.clone());
    let warnings: Vec<String> = state
        .preflight
        .iter()
        .flat_map(|p| {
            p.checks
                .iter()
                .map(|c| format!("{}: {}", c.about, c.detail))
        })
        .collect();
    close(
        store,
        state,
        Status::Succeeded,
        DeploymentUpdate {
            image: Field::set_or_remove(image.clone()),
            url: Field::set_or_remove(url.clone()),
            warnings: Field::Set(warnings.clone()),
            error: Field::Remove,
            cause: Field::Remove,
            ..DeploymentUpdate::default()
        },
    )
    .await?;
    let reports = state.reports();
    let created: Vec<String> = reports
        .iter()
        .flat_map(|r| r.created.iter().cloned())
        .collect();
    let mutations: u32 = reports.iter().map(|r| r.mutations).sum();
    tracing::info!(image = ?image, url = ?url, mutations, "deployment succeeded");
    Ok(json!({
        "deployment_id": d.id,
        "app": d.app,
        "environment": d.environment,
        "commit": d.commit,
        "status": Status::Succeeded,
        "image": image,
        "url": url,
        "vpc_id": state.network.as_ref().map(|n| n.vpc_id.clone()),
        "task_definition": state.service.as_ref().map(|s| s.task_definition.clone()),
        "database": state.database.as_ref().and_then(|db| db.endpoint.clone()),
        "changes": created,
        "mutations": mutations,
        "warnings": warnings,
    }))
}

async fn failed(store: &Store, state: &DeployState) -> Result<Value, StepError> {
    let caught = state.error.clone().unwrap_or(CaughtError {
        error: "Unknown".into(),
        cause: None,
    });
    let name = failure_name(state, &caught);
    let message = failure_message(state, &caught);
    close(
        store,
        state,
        Status::Failed,
        DeploymentUpdate {
            error: Field::Set(name.clone()),
            cause: Field::Set(message.clone()),
            ..DeploymentUpdate::default()
        },
    )
    .await?;
    tracing::error!(error = %name, caught = %caught.error, cause = %message, "deployment failed");
    Ok(json!({ "Error": name, "Cause": message }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deployment(id: &str, commit: &str) -> crate::deploy::Deployment {
        let mut event: Value = serde_json::from_str(include_str!(
            "../../../events/record-deployment.failed.json"
        ))
        .unwrap();
        event["state"]["deployment"]["id"] = json!(id);
        event["state"]["deployment"]["commit"] = json!(commit);
        serde_json::from_value(event["state"]["deployment"].clone()).unwrap()
    }

    fn env(status: Status, last: &str, commit: Option<&str>) -> EnvironmentRecord {
        EnvironmentRecord {
            pk: env_pk("bank", "production"),
            sk: ENV_SK.into(),
            app: "bank".into(),
            environment: "production".into(),
            status,
            last_deployment: last.into(),
            commit: commit.map(String::from),
            url: commit.map(|_| "http://lb".into()),
            failed_deployment: None,
            updated_at: "t0".into(),
        }
    }

    type EnvCase<'a> = (
        &'a str,
        Status,
        Option<EnvironmentRecord>,
        (&'a str, Option<&'a str>, Option<&'a str>),
    );

    #[test]
    fn the_environment_record_names_what_runs() {
        let d = deployment("d2", "c2");
        let running = env(Status::Succeeded, "d1", Some("c1"));
        // (case, status, previous, (last deployment, commit, failed one))
        let cases: Vec<EnvCase> = vec![
            (
                "a success runs it",
                Status::Succeeded,
                Some(running.clone()),
                ("d2", Some("c2"), None),
            ),
            (
                "a failure keeps what ran",
                Status::Failed,
                Some(running.clone()),
                ("d1", Some("c1"), Some("d2")),
            ),
            (
                "a first deploy that failed runs nothing",
                Status::Failed,
                None,
                ("", None, Some("d2")),
            ),
            (
                "nothing runs after a teardown",
                Status::Failed,
                Some(env(Status::Destroyed, "d1", Some("c1"))),
                ("", None, Some("d2")),
            ),
        ];
        for (case, status, previous, want) in cases {
            let r = environment_record(&d, status, Some("http://new".into()), previous, "t1");
            assert_eq!(
                (
                    r.last_deployment.as_str(),
                    r.commit.as_deref(),
                    r.failed_deployment.as_deref()
                ),
                want,
                "{case}"
            );
            assert_eq!(r.status, status, "{case}");
        }
    }

    #[test]
    fn poll_seconds_from_text_or_number() {
        assert_eq!(parse_seconds(&json!("5")).unwrap(), 5);
        assert_eq!(parse_seconds(&json!(0)).unwrap(), 0);
        assert!(parse_seconds(&json!("x")).is_err());
    }

    #[test]
    fn phases_parse() {
        let v = json!({"phase": "begin", "execution_name": "n", "execution_arn": "a", "poll_seconds": "1", "request": {}});
        assert!(matches!(
            parse_input::<RecordInput>("x", v).unwrap(),
            RecordInput::Begin { .. }
        ));
        let e = parse_input::<RecordInput>("x", json!({"phase": "nope"})).unwrap_err();
        assert!(e.message.contains("unknown variant"), "{}", e.message);
    }
}
