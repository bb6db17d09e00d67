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
use crate::deploy::{
    choose, claimant, failure_message, failure_name, now_epoch, resolve, rfc3339, CaughtError,
    Chosen, DeployRequest, DeployState, Deployment, RepositorySpec,
};
use crate::error::{ErrorKind, StepError};
use crate::lease::{decide, stop, Verdict};
use crate::ledger::{
    deploy_sk, env_pk, DeploymentRecord, DeploymentUpdate, EnvironmentRecord, Field, PullRecord,
    RepositoryAppRecord, Status, ENV_SK, PULL_SK,
};
use crate::plan::{calls, summary};
use crate::resources::preview_expiry::{self, Expiry, PreviewExpiry};
use crate::runtime::parse_input;
use crate::spec::{AppSpec, Limits, REPOSITORY_FILE};
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

/// A deployment's ledger record as `Begin Deployment` first writes it.
fn deployment_record(
    d: &Deployment,
    repository: &str,
    execution_arn: &str,
    status: Status,
    at: &str,
) -> DeploymentRecord {
    DeploymentRecord {
        pk: env_pk(&d.app, &d.environment),
        sk: deploy_sk(&d.id),
        deployment_id: d.id.clone(),
        app: d.app.clone(),
        environment: d.environment.clone(),
        commit: d.commit.clone(),
        branch: d.branch.clone(),
        repository: Some(repository.into()),
        preview: d.preview,
        status,
        seq: d.seq,
        waiting_for: None,
        trigger: d.trigger.kind.clone(),
        execution_arn: Some(execution_arn.into()),
        image: Some(d.image.to_string()),
        url: None,
        error: None,
        cause: None,
        plan: Vec::new(),
        created_at: at.into(),
        updated_at: at.into(),
    }
}

/// Write `record` if the deployment is not recorded yet, else apply `update` to it.
async fn record_deployment(
    store: &Store,
    record: &DeploymentRecord,
    update: &DeploymentUpdate,
) -> Result<(), StepError> {
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
    Ok(())
}

/// A request refused before anything started still closes its ledger
/// record (the webhook may have queued it): `REFUSED`, with the reason.
async fn refuse(
    store: &Store,
    request: &DeployRequest,
    id: &str,
    execution_arn: &str,
    error: &StepError,
    now: u64,
) -> Result<(), StepError> {
    let at = rfc3339(now);
    let record = DeploymentRecord {
        pk: env_pk(&request.app, &request.environment),
        sk: deploy_sk(id),
        deployment_id: id.into(),
        app: request.app.clone(),
        environment: request.environment.clone(),
        commit: request.commit.clone(),
        branch: request.branch.clone(),
        repository: request.trigger.as_ref().and_then(|t| t.repository.clone()),
        preview: false,
        status: Status::Refused,
        seq: None,
        waiting_for: None,
        trigger: request
            .trigger
            .as_ref()
            .map_or_else(|| "manual".into(), |t| t.kind.clone()),
        execution_arn: Some(execution_arn.into()),
        image: request.image.clone(),
        url: None,
        error: Some(error.kind.name().into()),
        cause: Some(error.message.clone()),
        plan: Vec::new(),
        created_at: at.clone(),
        updated_at: at.clone(),
    };
    tracing::warn!(reason = %error.message, "deployment refused");
    record_deployment(
        store,
        &record,
        &DeploymentUpdate {
            error: Field::Set(error.kind.name().into()),
            cause: Field::Set(error.message.clone()),
            execution_arn: Field::Set(execution_arn.into()),
            ..DeploymentUpdate::status(Status::Refused, &at)
        },
    )
    .await
}

/// What `Begin Deployment` made of a request.
#[allow(clippy::large_enum_variant)]
enum Begun {
    Started(DeployState),
    /// Not for stepdeploy: the execution ends at once, recording nothing.
    Ignored(String),
}

/// An app named by a repository's file belongs to that repository: not to
/// a registered app of another repository, nor to another repository's
/// file that took the name first. A dry run only looks.
async fn take_app_name(
    store: &Store,
    spec: &AppSpec,
    request: &DeployRequest,
    now: u64,
) -> Result<Result<(), StepError>, StepError> {
    let taken = |owner: &str, how: &str| {
        Err(StepError::invalid_input(format!(
            "the app name {:?} in {REPOSITORY_FILE} is {how} {owner}: give this repository's app another name (name = \"…\" in {REPOSITORY_FILE})",
            spec.name
        )))
    };
    let ours = |repo: &str| repo.eq_ignore_ascii_case(&spec.repository);
    if let Some(registered) = store.get_app(&spec.name).await? {
        if !ours(&registered.repository) {
            return Ok(taken(&registered.repository, "registered for"));
        }
    }
    let owner = if request.dry_run {
        store
            .repository_app(&spec.name)
            .await?
            .map(|r| r.repository)
            .filter(|r| !ours(r))
    } else {
        store
            .claim_repository_app(&RepositoryAppRecord::new(
                &spec.name,
                &spec.repository,
                serde_json::to_string(spec).expect("a spec serializes"),
                &request.commit,
                &rfc3339(now),
            ))
            .await?
    };
    Ok(match owner {
        Some(owner) => taken(&owner, "taken by"),
        None => Ok(()),
    })
}

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
        (Some(spec), RepositorySpec::Unreadable { .. }) => store
            .repository_app(&spec.name)
            .await?
            .is_some_and(|r| r.repository.eq_ignore_ascii_case(&spec.repository)),
        _ => false,
    };
    let resolved = match choose(
        &request,
        file,
        registered,
        file_deployed,
        &Limits::from_env()?,
    ) {
        Ok(Chosen::Ignore(why)) => {
            tracing::info!(why = %why, "not for stepdeploy: nothing recorded");
            return Ok(Begun::Ignored(why));
        }
        Ok(Chosen::Deploy {
            spec,
            request: routed,
            from_file,
        }) => {
            let taken = if from_file {
                take_app_name(store, &spec, &routed, now).await?
            } else {
                Ok(())
            };
            taken
                .and_then(|()| resolve(&routed, &spec, id, execution_arn, poll_seconds, now))
                .map(|deployment| (deployment, spec, routed))
                .map_err(|e| (e, Some(request.clone())))
        }
        Err(e) => Err((e, None)),
    };
    let (deployment, spec, request) = match resolved {
        Ok(found) => found,
        Err((e, routed)) if e.kind == ErrorKind::InvalidInput => {
            // A push the file could not route has no environment to record it in.
            let request = routed.unwrap_or(request);
            if !request.app.is_empty() && !request.environment.is_empty() {
                refuse(store, &request, id, execution_arn, &e, now).await?;
            } else {
                tracing::warn!(reason = %e.message, "deployment refused");
            }
            return Err(e);
        }
        Err((e, _)) => return Err(e),
    };
    let mut deployment = deployment;
    let mut error = None;
    if !deployment.dry_run {
        // The push order: the webhook gave a push its number; a console
        // execution (or a re-run of one) takes the next one here, once.
        let (app, env) = (&deployment.app, &deployment.environment);
        let seq = push_seq(store, &request, id, true).await?;
        deployment.seq = Some(seq);
        let me = claimant(&deployment).expect("a deployment with a sequence number");
        let lease = store.get_lease(app, env).await?;
        if let Some(e) = branch_conflict(&deployment, lease.as_ref()) {
            refuse(store, &request, id, execution_arn, &e, now).await?;
            return Err(e);
        }
        match stop(app, env, &decide(lease.as_ref(), &me, None)) {
            Some(e) if e.kind == ErrorKind::Locked => {
                refuse(store, &request, id, execution_arn, &e, now).await?;
                return Err(e);
            }
            // Superseded or cancelled before it started: `Record Stopped` closes it.
            Some(e) => {
                tracing::info!(reason = %e, "deployment stops before it starts");
                error = Some(CaughtError {
                    error: e.kind.name().into(),
                    cause: Some(e.message),
                });
            }
            None => {}
        }
    }
    if error.is_none() {
        // The preview's expiry moves on with every push that goes ahead.
        // Before the ledger says it started: if this fails, nothing has.
        let plan = preview_expiry::plan(
            deployment.preview,
            deployment.dry_run,
            &deployment.trigger.kind,
            spec.previews.ttl_hours,
            now,
        );
        match expiry {
            Some(schedules) => {
                if let Some(line) = schedules
                    .apply(&deployment.app, &deployment.environment, &plan)
                    .await?
                {
                    tracing::info!("{line}");
                }
            }
            None if matches!(plan, Expiry::Set { .. }) => tracing::warn!(
                "previews.ttl_hours is not enforced: this deployer has no STEPDEPLOY_PREVIEW_SCHEDULE_GROUP (template.yaml sets it)"
            ),
            None => {}
        }
    }
    let at = rfc3339(now);
    if let Some(number) = request
        .pull_request()
        .filter(|_| deployment.preview && !deployment.dry_run)
    {
        // The preview's comment goes on this pull request from now on.
        store
            .put_pull(&PullRecord {
                pk: env_pk(&deployment.app, &deployment.environment),
                sk: PULL_SK.into(),
                repository: spec.repository.clone(),
                number,
                open: true,
                updated_at: at.clone(),
            })
            .await?;
    }
    // Queued by the webhook (or a re-run): move it on.
    record_deployment(
        store,
        &deployment_record(
            &deployment,
            &spec.repository,
            execution_arn,
            Status::InProgress,
            &at,
        ),
        &DeploymentUpdate {
            repository: Field::Set(spec.repository.clone()),
            preview: Field::Set(deployment.preview),
            execution_arn: Field::Set(execution_arn.into()),
            image: Field::Set(deployment.image.to_string()),
            seq: Field::set_or_remove(deployment.seq),
            ..DeploymentUpdate::status(Status::InProgress, &at)
        },
    )
    .await?;
    tracing::info!(
        app = %deployment.app,
        environment = %deployment.environment,
        commit = %deployment.commit,
        image = %deployment.image,
        seq = ?deployment.seq,
        "deployment started"
    );
    Ok(Begun::Started(DeployState {
        deployment,
        spec,
        image: None,
        preflight: None,
        network: None,
        database: None,
        load_balancer: None,
        service: None,
        error,
    }))
}

/// A preview belongs to the branch that first pushed to it (until a
/// teardown): another branch whose name maps to it is refused.
fn branch_conflict(
    d: &crate::deploy::Deployment,
    lease: Option<&crate::lease::LeaseRecord>,
) -> Option<StepError> {
    let owner = lease?.branch.as_deref()?;
    let branch = d.branch.as_deref().filter(|_| d.preview)?;
    (owner != branch).then(|| {
        StepError::invalid_input(format!(
            "preview {} belongs to branch {owner:?}; branch {branch:?} maps to the same name: rename the branch, or delete {owner:?} (its preview is then torn down) and push again",
            d.environment
        ))
    })
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
