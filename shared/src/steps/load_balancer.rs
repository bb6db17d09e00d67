//! `provision-load-balancer`: the internet-facing ALB, its target group
//! (ip targets on the container port, health check from the spec) and the
//! port-80 listener. Its URL is the deployment's output.

use serde_json::{json, Value};
use tracing::Instrument;

use crate::aws::elbv2::{Elb, HealthCheck};
use crate::aws::store::Store;
use crate::deploy::{DeployState, LoadBalancerOutput};
use crate::error::StepError;
use crate::naming::Names;
use crate::runtime::parse_input;
use crate::steps::{carry_over, is_owned, Ctx};

/// The health check the spec asks for.
pub fn wanted_health_check(service: &crate::spec::ServiceSpec) -> HealthCheck {
    HealthCheck {
        path: service.health_check_path.clone(),
        interval_seconds: service.health_check_interval_seconds,
        healthy_threshold: service.healthy_threshold,
        unhealthy_threshold: service.unhealthy_threshold,
        matcher: "200-399".into(),
    }
}

pub async fn converge(
    elb: &Elb,
    ctx: &mut Ctx<'_>,
    state: &DeployState,
) -> Result<LoadBalancerOutput, StepError> {
    let network = state.network.as_ref().ok_or_else(|| {
        StepError::invalid_input("provision-load-balancer needs the network's output ($.network)")
    })?;
    let (app, env) = (
        ctx.names.app().to_string(),
        ctx.names.environment().to_string(),
    );
    let port = i32::from(state.spec.service.port);
    let hc = wanted_health_check(&state.spec.service);

    let tg_name = ctx.names.target_group();
    let tg_arn = match elb.target_group(&tg_name).await? {
        None => {
            let arn = elb
                .create_target_group(&tg_name, &network.vpc_id, port, &hc, &ctx.tags())
                .await?;
            ctx.changed(format!(
                "created target group {tg_name} (ip targets, port {port}, health check {})",
                hc.path
            ));
            arn
        }
        Some(tg) => {
            if !is_owned(&elb.tags_of(&tg.arn).await?, &app, &env) {
                return Err(ctx.not_ours("target group", &tg_name));
            }
            if tg.port != port || tg.vpc_id != network.vpc_id || tg.target_type != "ip" {
                return Err(StepError::conflict(format!(
                    "target group {tg_name} sends to port {} ({} targets in {}) but the app listens on {port} in {}: a target group's port cannot change; tear the environment down or delete the target group, then re-run",
                    tg.port, tg.target_type, tg.vpc_id, network.vpc_id
                )));
            }
            if tg.health_check != hc {
                elb.modify_health_check(&tg.arn, &hc).await?;
                ctx.changed(format!("set the health check of {tg_name} to {}", hc.path));
            }
            tg.arn
        }
    };
    ctx.remember("target-group", &tg_arn).await?;

    let lb_name = ctx.names.load_balancer();
    let lb = match elb.load_balancer(&lb_name).await? {
        None => {
            let lb = elb
                .create_load_balancer(
                    &lb_name,
                    &network.public_subnets,
                    &network.security_groups.lb,
                    &ctx.tags(),
                )
                .await?;
            ctx.changed(format!("created load balancer {lb_name}"));
            lb
        }
        Some(lb) => {
            if !is_owned(&elb.tags_of(&lb.arn).await?, &app, &env) {
                return Err(ctx.not_ours("load balancer", &lb_name));
            }
            lb
        }
    };
    ctx.remember("load-balancer", &lb.arn).await?;

    let listener = elb
        .listeners(&lb.arn)
        .await?
        .into_iter()
        .find(|l| l.port == 80);
    let listener_arn = match listener {
        None => {
            let arn = elb.create_listener(&lb.arn, &tg_arn, &ctx.tags()).await?;
            ctx.changed(format!("created listener :80 -> {tg_name}"));
            arn
        }
        Some(l) => {
            if l.target_group.as_deref() != Some(tg_arn.as_str()) {
                elb.point_listener(&l.arn, &tg_arn).await?;
                ctx.changed(format!("pointed listener :80 at {tg_name}"));
            }
            l.arn
        }
    };
    ctx.remember("listener", &listener_arn).await?;

    Ok(LoadBalancerOutput {
        ready: lb.state == "active",
        url: format!("http://{}", lb.dns_name),
        arn: lb.arn,
        dns_name: lb.dns_name,
        target_group_arn: tg_arn,
        listener_arn,
        created: std::mem::take(&mut ctx.created),
        mutations: ctx.mutations,
    })
}

pub async fn handle(store: &Store, elb: &Elb, input: Value) -> Result<Value, StepError> {
    let state: DeployState = parse_input("provision-load-balancer input", input)?;
    let span = tracing::info_span!("deployment", deployment_id = %state.deployment.id);
    async {
        let d = &state.deployment;
        let mut ctx = Ctx::load(store, Names::new(&d.app, &d.environment)?, &d.id).await?;
        let mut out = converge(elb, &mut ctx, &state).await?;
        let previous = state.load_balancer.as_ref().map(|p| (p.created.as_slice(), p.mutations));
        carry_over(&mut out.created, &mut out.mutations, previous);
        tracing::info!(ready = out.ready, url = %out.url, mutations = out.mutations, "load balancer converged");
        Ok(json!(out))
    }
    .instrument(span)
    .await
}
