//! `provision-service`: the ECS cluster, the log group, the task definition
//! (the image pinned by digest) and the Fargate service behind the target
//! group. Ready when the service's one deployment runs the wanted task
//! definition at the desired count.

use crate::naming::Names;
use crate::owner::Owner;
use crate::teardown::{TeardownState, NOT_OURS};
use serde_json::Value;

use crate::aws::ecs::{Ecs, ServicePlan};
use crate::aws::logs::Logs;
use crate::aws::store::Store;
use crate::deploy::{arn_account_region, DeployState, ServiceOutput};
use crate::error::{ErrorKind, StepError};
use crate::owner::LedgerKind;
use crate::resources::cluster;
use crate::steps::{run_step, Ctx};
use crate::taskdef::wanted_task;

/// Days the app's logs are kept.
pub const LOG_RETENTION_DAYS: i32 = 30;

/// What the service's Lambda needs from its environment.
pub struct ServiceConfig {
    /// The task execution role from the deployer's stack (pull images, write logs, read the DB secret).
    pub execution_role_arn: String,
}

pub async fn converge(
    ecs: &Ecs,
    logs: &Logs,
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
    let (_, region) = arn_account_region(&state.deployment.execution_arn).ok_or_else(|| {
        StepError::invalid_input("the deployment's execution ARN names no region")
    })?;

    let log_group = ctx.names.log_group();
    match logs.group_retention(&log_group).await? {
        None => {
            logs.create_group(&log_group, &ctx.tags()).await?;
            logs.set_retention(&log_group, LOG_RETENTION_DAYS).await?;
            ctx.changed(format!("created log group {log_group}"));
            ctx.report.mutations += 1;
        }
        Some(days) if days != Some(LOG_RETENTION_DAYS) => {
            logs.set_retention(&log_group, LOG_RETENTION_DAYS).await?;
            ctx.changed(format!(
                "set the retention of {log_group} to {LOG_RETENTION_DAYS} days"
            ));
        }
        Some(_) => {}
    }
    ctx.remember(LedgerKind::LogGroup, &log_group).await?;

    let Some(cluster) = cluster::converge(ecs, ctx, &cluster::Wanted::new(&ctx.names)).await?
    else {
        return Ok(ServiceOutput {
            cluster: ctx.names.cluster(),
            ..ServiceOutput::default()
        });
    };

    let wanted = wanted_task(state, database, &config.execution_role_arn, region)?;
    let task_definition = match ecs.latest_task_definition(&wanted.family).await? {
        Some((arn, current)) if current == wanted => arn,
        _ => {
            let arn = ecs.register_task_definition(&wanted, &ctx.tags()).await?;
            ctx.changed(format!(
                "registered task definition {arn} ({})",
                wanted.image
            ));
            arn
        }
    };
    ctx.remember(LedgerKind::TaskDefinition, &wanted.family)
        .await?;

    let svc = &state.spec.service;
    let desired = i32::try_from(svc.desired_count).unwrap_or(i32::MAX);
    let service_name = ctx.names.service();
    let plan = ServicePlan {
        cluster: &cluster,
        name: &service_name,
        task_definition: &task_definition,
        desired,
        subnets: &network.private_subnets,
        security_group: &network.security_groups.tasks,
        target_group: &lb.target_group_arn,
        container_name: &svc.container_name,
        container_port: i32::from(svc.port),
    };
    let current = ecs.service(&cluster, &service_name).await?;
    let mut out = ServiceOutput {
        ready: false,
        cluster: cluster.clone(),
        service: service_name.clone(),
        task_definition: task_definition.clone(),
        desired,
        running: 0,
        rollout: "IN_PROGRESS".into(),
        report: Default::default(),
    };
    match current {
        None => {
            let arn = ecs.create_service(&plan, &ctx.tags()).await?;
            ctx.changed(format!("created service {service_name} ({desired} tasks)"));
            ctx.remember(LedgerKind::Service, &arn).await?;
        }
        Some(s) if !ctx.owner.owns(&s.tags) => {
            return Err(StepError::conflict(
                ctx.not_ours("ECS service", &service_name),
            ))
        }
        Some(s) => {
            ctx.remember(LedgerKind::Service, &s.arn).await?;
            // Did ECS roll back what an earlier poll of this deployment applied?
            let applied_before = state
                .service
                .as_ref()
                .is_some_and(|p| p.task_definition == task_definition);
            if applied_before && s.task_definition != task_definition {
                let reason = s
                    .deployments
                    .iter()
                    .map(|d| d.rollout_reason.clone())
                    .find(|r| !r.is_empty())
                    .unwrap_or_default();
                return Err(StepError::new(
                    ErrorKind::Fatal,
                    format!(
                        "the rollout of {task_definition} was rolled back to {}: {reason}; recent service events: {}",
                        s.task_definition,
                        s.events.join(" | ")
                    ),
                ));
            }
            if s.task_definition != task_definition || s.desired != desired {
                ecs.update_service(&cluster, &service_name, &task_definition, desired)
                    .await?;
                ctx.changed(format!(
                    "updated service {service_name} to {task_definition} ({desired} tasks)"
                ));
            } else {
                let primary = s.deployments.iter().find(|d| d.status == "PRIMARY");
                if let Some(p) = primary {
                    if p.rollout_state == "FAILED" {
                        return Err(StepError::fatal(format!(
                            "the rollout of {task_definition} failed: {}; recent service events: {}",
                            p.rollout_reason,
                            s.events.join(" | ")
                        )));
                    }
                    out.rollout = p.rollout_state.clone();
                    out.running = p.running;
                    out.ready = s.deployments.len() == 1
                        && p.task_definition == task_definition
                        && p.rollout_state == "COMPLETED"
                        && p.running >= desired;
                }
            }
        }
    }
    Ok(out)
}

pub async fn handle(
    store: &Store,
    ecs: &Ecs,
    logs: &Logs,
    config: &ServiceConfig,
    input: Value,
) -> Result<Value, StepError> {
    run_step(store, "provision-service", input, async |ctx, state| {
        converge(ecs, logs, ctx, state, config).await
    })
    .await
}

// Teardown's side (the `teardown` function runs it, phase by phase).

/// Scale the service to 0 and delete it; done once ECS no longer lists it as active or draining.
pub async fn remove(ecs: &Ecs, names: &Names, t: &mut TeardownState) -> Result<bool, StepError> {
    let (cluster, name) = (names.cluster(), names.service());
    let Some(svc) = ecs.service(&cluster, &name).await? else {
        return Ok(true);
    };
    if !Owner::new(&t.app, &t.environment).owns(&svc.tags) {
        t.skip(format!("ECS service {name}"), NOT_OURS);
        return Ok(true);
    }
    if svc.status == "DRAINING" {
        return Ok(false);
    }
    if svc.desired > 0 {
        ecs.scale_to_zero(&cluster, &name).await?;
    }
    ecs.delete_service(&cluster, &name).await?;
    t.removed.push(format!("ECS service {name}"));
    Ok(ecs.service(&cluster, &name).await?.is_none())
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
    for (arn, tags) in ecs.task_definitions(&names.task_family()).await? {
        if Owner::new(&t.app, &t.environment).owns(&tags) {
            ecs.deregister_task_definition(&arn).await?;
            t.removed.push(format!(
                "task definition {}",
                arn.rsplit('/').next().unwrap_or(&arn)
            ));
        } else {
            t.skip(format!("task definition {arn}"), NOT_OURS);
        }
    }
    let log_group = names.log_group();
    if logs.group_retention(&log_group).await?.is_some() {
        if t.delete_logs {
            logs.delete_group(&log_group).await?;
            t.removed.push(format!("log group {log_group}"));
        } else {
            t.skip(format!("log group {log_group}"), "kept so the logs outlive the environment; start with \"delete_logs\": true to remove it");
        }
    }
    Ok(())
}
