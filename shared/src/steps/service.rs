//! `provision-service`: the log group, the ECS cluster, the task definition
//! (the image pinned by digest) and the Fargate service behind the target
//! group, each through its [`crate::resources`] module, in that order.
//! Ready when the service's one deployment runs the wanted task definition
//! at the desired count.

use serde_json::Value;

use crate::aws::ecs::Ecs;
use crate::aws::elbv2::Elb;
use crate::aws::logs::Logs;
use crate::aws::store::Store;
use crate::converge::Ctx;
use crate::deploy::{
    arn_account_region, now_epoch, rfc3339, DatabaseOutput, DeployState, ServiceOutput,
};
use crate::diagnosis::{self, Facts};
use crate::error::{ErrorKind, StepError};
use crate::ledger::{env_pk, release_sk, DeploymentUpdate, Field, ReleaseRecord};
use crate::naming::Names;
use crate::owner::Owner;
use crate::resources::{cluster, log_group, release_task, service, task_definition};
use crate::spec::ReleaseSpec;
use crate::steps::run_step;
use crate::teardown::TeardownState;

/// What the service's Lambda needs from its environment.
pub struct ServiceConfig {
    /// The task execution role from the deployer's stack (pull images, write logs, read the DB secret).
    pub execution_role_arn: String,
}

/// The AWS clients the step uses.
pub struct Clients<'a> {
    pub ecs: &'a Ecs,
    pub logs: &'a Logs,
    /// Only read: the target group's verdict on failed tasks.
    pub elb: &'a Elb,
}

pub async fn converge(
    aws: &Clients<'_>,
    ctx: &mut Ctx<'_>,
    state: &DeployState,
    config: &ServiceConfig,
) -> Result<ServiceOutput, StepError> {
    let missing =
        |what: &str| StepError::invalid_input(format!("provision-service needs the {what} output"));
    let network = state.network.as_ref().ok_or_else(|| missing("network"))?;
    let database = state.database.as_ref().ok_or_else(|| missing("database"))?;
    let lb = state
        .load_balancer
        .as_ref()
        .ok_or_else(|| missing("load balancer"))?;
    let (ecs, logs) = (aws.ecs, aws.logs);
    let (_, region) = arn_account_region(&state.deployment.execution_arn).ok_or_else(|| {
        StepError::invalid_input("the deployment's execution ARN names no region")
    })?;

    log_group::converge(logs, ctx, &log_group::Wanted::new(&ctx.names)).await?;

    let Some(cluster) = cluster::converge(ecs, ctx, &cluster::Wanted::new(&ctx.names)).await?
    else {
        return Ok(ServiceOutput {
            cluster: ctx.names.cluster(),
            ..ServiceOutput::default()
        });
    };

    let task = task_definition::wanted_task(state, database, &config.execution_role_arn, region)?;
    let task_definition = task_definition::converge(ecs, ctx, &task).await?;

    let svc = &state.spec.service;
    let wanted = service::Wanted {
        cluster,
        name: ctx.names.service(),
        task_definition,
        desired: i32::try_from(svc.desired_count).unwrap_or(i32::MAX),
        subnets: network.private_subnets.clone(),
        security_group: network.security_groups.tasks.clone(),
        target_group: lb.target_group_arn.clone(),
        container_name: svc.container_name.clone(),
        container_port: i32::from(svc.port),
        health_check_path: svc.health_check_path.clone(),
        log_group: ctx.names.log_group(),
        restart: state.deployment.restart.clone(),
    };
    let before = before(state.service.as_ref(), &wanted);
    if let Some(spec) = &state.spec.release {
        let released = release(aws, ctx, state, database, &wanted, &task.log_prefix, spec).await?;
        // A dry run plans the service as if the release had passed.
        if !released && !ctx.dry_run {
            return Ok(ServiceOutput {
                rollout: "RELEASE".into(),
                started_rollout: before.rolled_out,
                ..output(wanted, before, Some(&service::Observed::default()))
            });
        }
    }
    let current = match service::converge(ecs, ctx, &wanted, before).await? {
        service::Converged::Applied => None,
        service::Converged::Seen(s) => Some(s),
        service::Converged::Failed { why, seen } => {
            let about = diagnosis::Service {
                image: task.image.clone(),
                container_port: wanted.container_port,
                health_check_path: wanted.health_check_path.clone(),
                memory_mib: svc.memory,
                log_group: wanted.log_group.clone(),
            };
            let facts = Facts {
                rollout_reason: why,
                events: seen.events.into_iter().take(10).collect(),
                ..Facts::default()
            };
            return Err(diagnose(aws, ctx, &wanted, &task.log_prefix, &about, facts).await);
        }
    };
    Ok(output(wanted, before, current.as_ref()))
}

/// The release task, before the service moves to the new task definition:
/// whether it has succeeded for this commit on this database (now, or in an
/// earlier run: the ledger). Fails `ReleaseFailed` with the command's exit
/// code and last log lines.
async fn release(
    aws: &Clients<'_>,
    ctx: &mut Ctx<'_>,
    state: &DeployState,
    database: &DatabaseOutput,
    wanted: &service::Wanted,
    log_prefix: &str,
    spec: &ReleaseSpec,
) -> Result<bool, StepError> {
    let d = &state.deployment;
    let (app, env) = (
        ctx.names.app().to_string(),
        ctx.names.environment().to_string(),
    );
    // The managed secret is new with every DB instance: a recreated database
    // runs the release again.
    let db = database
        .secret_arn
        .clone()
        .unwrap_or_else(|| database.identifier.clone());
    let released = ctx
        .store
        .get_release(&app, &env, &d.commit)
        .await?
        .is_some_and(|r| r.database == db);
    let (started_by, client_token) = release_task::Wanted::tokens(&d.id);
    let want = release_task::Wanted {
        cluster: wanted.cluster.clone(),
        task_definition: wanted.task_definition.clone(),
        container_name: wanted.container_name.clone(),
        command: spec.command.clone(),
        subnets: wanted.subnets.clone(),
        security_group: wanted.security_group.clone(),
        timeout_seconds: spec.timeout_seconds,
        started_by,
        client_token,
    };
    match release_task::converge(aws.ecs, ctx, &want, released).await? {
        release_task::Converged::Running => Ok(false),
        release_task::Converged::Succeeded(Some(task)) if !ctx.dry_run => {
            ctx.store
                .put_release(&ReleaseRecord {
                    pk: env_pk(&app, &env),
                    sk: release_sk(&d.commit),
                    commit: d.commit.clone(),
                    database: db,
                    deployment_id: ctx.deployment_id.clone(),
                    task_arn: task.arn.clone(),
                    released_at: rfc3339(now_epoch()),
                })
                .await?;
            tracing::info!(task = %task.arn, "the release command succeeded");
            Ok(true)
        }
        release_task::Converged::Succeeded(_) => Ok(true),
        release_task::Converged::Failed { why, task } => {
            let stream = format!("{log_prefix}/{}/{}", wanted.container_name, task.id());
            let lines = log_tail(aws.logs, &wanted.log_group, &stream)
                .await
                .unwrap_or_default();
            let message = diagnosis::release_failure(&why, &lines, &wanted.log_group);
            tracing::error!(message = %message, "the release command failed");
            Err(StepError::new(ErrorKind::ReleaseFailed, message))
        }
    }
}

/// A task's last log lines, credentials masked; `None` (logged) when they
/// cannot be read: a diagnosis is best effort.
async fn log_tail(logs: &Logs, group: &str, stream: &str) -> Option<Vec<String>> {
    match logs
        .last_lines(group, stream, diagnosis::LOG_LINES as i32)
        .await
    {
        Ok(lines) => Some(lines.iter().map(|l| diagnosis::mask(l)).collect()),
        Err(e) => {
            tracing::warn!(error = %e, stream, "could not read the task's log");
            None
        }
    }
}

/// How many stopped tasks a diagnosis reads.
const TASKS_READ: usize = 5;

/// The failed rollout's facts (`facts` has its reason and the service's
/// events, as observed), its named cause and message: the facts go to the
/// deployment's ledger item, the message is the error's. Gathering is best
/// effort: a read that fails leaves its part out, it never hides the failure.
async fn diagnose(
    aws: &Clients<'_>,
    ctx: &Ctx<'_>,
    wanted: &service::Wanted,
    log_prefix: &str,
    about: &diagnosis::Service,
    mut facts: Facts,
) -> StepError {
    let best_effort = |what: &str, e: &StepError| {
        tracing::warn!(error = %e, "could not read {what} for the diagnosis");
    };
    match aws
        .ecs
        .stopped_tasks(
            &wanted.cluster,
            &wanted.name,
            &wanted.task_definition,
            TASKS_READ,
        )
        .await
    {
        Ok(tasks) => facts.tasks = tasks,
        Err(e) => best_effort("the stopped tasks", &e),
    }
    match aws.elb.target_health(&wanted.target_group).await {
        Ok(targets) => {
            let ips: Vec<&str> = facts.tasks.iter().map(|t| t.ip.as_str()).collect();
            facts.targets = targets
                .into_iter()
                .filter(|t| ips.contains(&t.ip.as_str()) || t.state == "unhealthy")
                .collect();
        }
        Err(e) => best_effort("the target health", &e),
    }
    // The newest task whose container ran (an exit code) wrote the lines.
    if let Some((task, container)) = facts.tasks.iter().find_map(|t| {
        t.containers
            .iter()
            .find(|c| c.exit_code.is_some())
            .map(|c| (t.id.clone(), c.name.clone()))
    }) {
        let stream = format!("{log_prefix}/{container}/{task}");
        if let Some(lines) = log_tail(aws.logs, &wanted.log_group, &stream).await {
            facts.log_lines = lines;
            facts.log_stream = stream;
        }
    }
    let found = diagnosis::diagnose(&facts, about);
    tracing::error!(cause = found.cause.name(), message = %found.message, "the rollout failed");
    let record = serde_json::json!({ "cause": found.cause, "facts": facts });
    if let Err(e) = ctx
        .store
        .update_deployment(
            ctx.names.app(),
            ctx.names.environment(),
            &ctx.deployment_id,
            &DeploymentUpdate {
                diagnosis: Field::Set(record),
                ..DeploymentUpdate::default()
            },
        )
        .await
    {
        best_effort("(recording) the ledger", &e);
    }
    StepError::new(found.cause.error(), found.message)
}

/// What earlier polls of this deployment did to the service, from the
/// step's section of the deploy state (absent on the first poll).
fn before(previous: Option<&ServiceOutput>, wanted: &service::Wanted) -> service::Before {
    service::Before {
        applied: previous.is_some_and(|p| p.task_definition == wanted.task_definition),
        rolled_out: previous.is_some_and(|p| p.started_rollout),
    }
}

/// The step's output: a rollout just begun (`current` is `None`), or the
/// one the service is in.
fn output(
    wanted: service::Wanted,
    before: service::Before,
    current: Option<&service::Observed>,
) -> ServiceOutput {
    let ready = current.is_some_and(|s| service::ready(s, &wanted));
    let primary = current.and_then(service::Observed::primary);
    ServiceOutput {
        ready,
        cluster: wanted.cluster,
        service: wanted.name,
        task_definition: wanted.task_definition,
        desired: wanted.desired,
        running: primary.map_or(0, |p| p.running),
        rollout: primary.map_or_else(|| "IN_PROGRESS".into(), |p| p.rollout_state.clone()),
        started_rollout: before.rolled_out || current.is_none(),
        report: Default::default(),
    }
}

pub async fn handle(
    store: &Store,
    aws: &Clients<'_>,
    config: &ServiceConfig,
    input: Value,
) -> Result<Value, StepError> {
    run_step(store, "provision-service", input, async |ctx, state| {
        converge(aws, ctx, state, config).await
    })
    .await
}

// Teardown's side (the `teardown` function runs it, phase by phase).

/// The service phase: scale the service to 0 and delete it; done once ECS
/// no longer lists it as active or draining.
pub async fn remove(ecs: &Ecs, names: &Names, t: &mut TeardownState) -> Result<bool, StepError> {
    let owner = Owner::new(&t.app, &t.environment);
    service::remove(ecs, &owner, names, t).await
}

/// After the network: the cluster, the task definitions and the log group
/// (kept unless the teardown asks for it).
pub async fn remove_leftovers(
    ecs: &Ecs,
    logs: &Logs,
    names: &Names,
    t: &mut TeardownState,
) -> Result<(), StepError> {
    let owner = Owner::new(&t.app, &t.environment);
    cluster::remove(ecs, &owner, &cluster::Wanted::new(names), t).await?;
    task_definition::remove(ecs, &owner, &names.task_family(), t).await?;
    log_group::remove(logs, &owner, &log_group::Wanted::new(names), t).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wanted() -> service::Wanted {
        service::Wanted {
            task_definition: "arn:td/bank-production:8".into(),
            restart: Some("rotated".into()),
            ..Default::default()
        }
    }

    #[test]
    fn a_rollout_started_by_one_poll_is_remembered_by_the_next() {
        let w = wanted();
        // First poll: nothing before; it applies (no observed service answered back).
        let first = before(None, &w);
        assert_eq!(first, service::Before::default());
        let out = output(w.clone(), first, None);
        assert!(out.started_rollout && !out.ready);
        // Next poll: the forced rollout is known, so it is not forced again.
        let next = before(Some(&out), &w);
        assert!(next.applied && next.rolled_out);
        assert!(!service::restart_pending(&w, next));
        // A poll that only observed carries what earlier polls did.
        let observed = service::Observed::default();
        assert!(output(w.clone(), next, Some(&observed)).started_rollout);
        assert!(!output(w, first, Some(&observed)).started_rollout);
    }
}
