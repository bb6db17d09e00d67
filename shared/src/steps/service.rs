//! `provision-service`: the ECS cluster, the log group, the task definition
//! (the image pinned by digest) and the Fargate service behind the target
//! group. Ready when the service's one deployment runs the wanted task
//! definition at the desired count.

use serde_json::{json, Value};
use tracing::Instrument;

use crate::aws::ecs::{Ecs, ServicePlan};
use crate::aws::logs::Logs;
use crate::aws::store::Store;
use crate::deploy::{arn_account_region, DeployState, ServiceOutput};
use crate::error::{ErrorKind, StepError};
use crate::naming::Names;
use crate::runtime::parse_input;
use crate::steps::{carry_over, is_owned, Ctx};
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
    let (app, env) = (
        ctx.names.app().to_string(),
        ctx.names.environment().to_string(),
    );
    let (_, region) = arn_account_region(&state.deployment.execution_arn).ok_or_else(|| {
        StepError::invalid_input("the deployment's execution ARN names no region")
    })?;

    let log_group = ctx.names.log_group();
    match logs.group_retention(&log_group).await? {
        None => {
            logs.create_group(&log_group, &ctx.tags()).await?;
            logs.set_retention(&log_group, LOG_RETENTION_DAYS).await?;
            ctx.changed(format!("created log group {log_group}"));
            ctx.mutations += 1;
        }
        Some(days) if days != Some(LOG_RETENTION_DAYS) => {
            logs.set_retention(&log_group, LOG_RETENTION_DAYS).await?;
            ctx.changed(format!(
                "set the retention of {log_group} to {LOG_RETENTION_DAYS} days"
            ));
        }
        Some(_) => {}
    }
    ctx.remember("log-group", &log_group).await?;

    let cluster_name = ctx.names.cluster();
    let cluster = match ecs.cluster(&cluster_name).await? {
        None => {
            let arn = ecs.create_cluster(&cluster_name, &ctx.tags()).await?;
            ctx.changed(format!("created ECS cluster {cluster_name}"));
            arn
        }
        Some(c) if is_owned(&c.tags, &app, &env) => c.arn,
        Some(_) => return Err(ctx.not_ours("ECS cluster", &cluster_name)),
    };
    ctx.remember("cluster", &cluster).await?;

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
    ctx.remember("task-definition", &wanted.family).await?;

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
        created: Vec::new(),
        mutations: 0,
    };
    match current {
        None => {
            let arn = ecs.create_service(&plan, &ctx.tags()).await?;
            ctx.changed(format!("created service {service_name} ({desired} tasks)"));
            ctx.remember("service", &arn).await?;
        }
        Some(s) if !is_owned(&s.tags, &app, &env) => {
            return Err(ctx.not_ours("ECS service", &service_name))
        }
        Some(s) => {
            ctx.remember("service", &s.arn).await?;
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
    out.created = std::mem::take(&mut ctx.created);
    out.mutations = ctx.mutations;
    Ok(out)
}

pub async fn handle(
    store: &Store,
    ecs: &Ecs,
    logs: &Logs,
    config: &ServiceConfig,
    input: Value,
) -> Result<Value, StepError> {
    let state: DeployState = parse_input("provision-service input", input)?;
    let span = tracing::info_span!("deployment", deployment_id = %state.deployment.id);
    async {
        let d = &state.deployment;
        let mut ctx = Ctx::load(store, Names::new(&d.app, &d.environment)?, &d.id).await?;
        let mut out = converge(ecs, logs, &mut ctx, &state, config).await?;
        let previous = state.service.as_ref().map(|p| (p.created.as_slice(), p.mutations));
        carry_over(&mut out.created, &mut out.mutations, previous);
        tracing::info!(ready = out.ready, rollout = %out.rollout, running = out.running, mutations = out.mutations, "service converged");
        Ok(json!(out))
    }
    .instrument(span)
    .await
}
