//! `provision-load-balancer`: the internet-facing ALB, its target group
//! (ip targets on the container port, health check from the spec) and the
//! port-80 listener. Its URL is the deployment's output. Walks the target
//! group, the load balancer, then the listener ([`crate::resources`]);
//! teardown removes them in the other order.

use serde_json::Value;

use crate::aws::elbv2::Elb;
use crate::aws::store::Store;
use crate::converge::Ctx;
use crate::deploy::{DeployState, LoadBalancerOutput};
use crate::error::StepError;
use crate::naming::Names;
use crate::owner::Owner;
use crate::resources::{listener, load_balancer, target_group};
use crate::steps::run_step;
use crate::teardown::TeardownState;

pub async fn converge(
    elb: &Elb,
    ctx: &mut Ctx<'_>,
    state: &DeployState,
) -> Result<LoadBalancerOutput, StepError> {
    let network = state.network.as_ref().ok_or_else(|| {
        StepError::invalid_input("provision-load-balancer needs the network's output ($.network)")
    })?;
    let tg = target_group::Wanted::new(&ctx.names, &state.spec.service, &network.vpc_id);
    let target_group_arn = target_group::converge(elb, ctx, &tg).await?;

    let lb = load_balancer::Wanted::new(
        &ctx.names,
        &network.public_subnets,
        &network.security_groups.lb,
    );
    let lb = load_balancer::converge(elb, ctx, &lb).await?;

    let listener = listener::Wanted::new(&lb.arn, &target_group_arn, &tg.name);
    let listener_arn = listener::converge(elb, ctx, &listener).await?;

    Ok(LoadBalancerOutput {
        ready: lb.is_active(),
        url: format!("http://{}", lb.dns_name),
        arn: lb.arn,
        dns_name: lb.dns_name,
        target_group_arn,
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

/// Listeners and load balancer, then (once the load balancer is gone) the target group.
pub async fn remove(elb: &Elb, names: &Names, t: &mut TeardownState) -> Result<bool, StepError> {
    let owner = Owner::new(&t.app, &t.environment);
    if !load_balancer::remove(elb, &owner, &names.load_balancer(), t).await? {
        return Ok(false);
    }
    target_group::remove(elb, &owner, &names.target_group(), t).await
}
