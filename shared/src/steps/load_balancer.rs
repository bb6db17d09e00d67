//! `provision-load-balancer`: the internet-facing ALB, its target group
//! (ip targets on the container port, health check from the spec) and the
//! port-80 listener. Its URL is the deployment's output.

use crate::naming::Names;
use crate::owner::Owner;
use crate::teardown::{TeardownState, NOT_OURS};
use serde_json::Value;

use crate::aws::elbv2::{Elb, HealthCheck};
use crate::aws::store::Store;
use crate::deploy::{DeployState, LoadBalancerOutput};
use crate::error::StepError;
use crate::owner::LedgerKind;
use crate::steps::{run_step, Ctx};

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
            if !ctx.owner.owns(&elb.tags_of(&tg.arn).await?) {
                return Err(StepError::conflict(ctx.not_ours("target group", &tg_name)));
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
    ctx.remember(LedgerKind::TargetGroup, &tg_arn).await?;

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
            if !ctx.owner.owns(&elb.tags_of(&lb.arn).await?) {
                return Err(StepError::conflict(ctx.not_ours("load balancer", &lb_name)));
            }
            lb
        }
    };
    ctx.remember(LedgerKind::LoadBalancer, &lb.arn).await?;

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
    ctx.remember(LedgerKind::Listener, &listener_arn).await?;

    Ok(LoadBalancerOutput {
        ready: lb.state == "active",
        url: format!("http://{}", lb.dns_name),
        arn: lb.arn,
        dns_name: lb.dns_name,
        target_group_arn: tg_arn,
        listener_arn,
        report: Default::default(),
    })
}

pub async fn handle(store: &Store, elb: &Elb, input: Value) -> Result<Value, StepError> {
    run_step(
        store,
        "provision-load-balancer",
        input,
        async |ctx, state| converge(elb, ctx, state).await,
    )
    .await
}

// Teardown's side (the `teardown` function runs it, phase by phase).

/// Listener, load balancer, then (once the load balancer is gone) the target group.
pub async fn remove(elb: &Elb, names: &Names, t: &mut TeardownState) -> Result<bool, StepError> {
    let lb_name = names.load_balancer();
    if let Some(lb) = elb.load_balancer(&lb_name).await? {
        if Owner::new(&t.app, &t.environment).owns(&elb.tags_of(&lb.arn).await?) {
            for l in elb.listeners(&lb.arn).await? {
                elb.delete_listener(&l.arn).await?;
                t.removed.push(format!("listener :{} of {lb_name}", l.port));
            }
            elb.delete_load_balancer(&lb.arn).await?;
            t.removed.push(format!("load balancer {lb_name}"));
            if elb.load_balancer(&lb_name).await?.is_some() {
                return Ok(false);
            }
        } else {
            t.skip(format!("load balancer {lb_name}"), NOT_OURS);
        }
    }
    let tg_name = names.target_group();
    if let Some(tg) = elb.target_group(&tg_name).await? {
        if Owner::new(&t.app, &t.environment).owns(&elb.tags_of(&tg.arn).await?) {
            match elb.delete_target_group(&tg.arn).await {
                Ok(()) => t.removed.push(format!("target group {tg_name}")),
                // Still attached to a load balancer that is going away.
                Err(e) if e.is_code(&["ResourceInUse"]) => return Ok(false),
                Err(e) => return Err(e),
            }
        } else {
            t.skip(format!("target group {tg_name}"), NOT_OURS);
        }
    }
    Ok(true)
}
