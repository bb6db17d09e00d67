//! What each Lambda does, wired to AWS. The function crates only adapt
//! their events to these and build the clients once. A provisioning step is
//! [`run_step`] around a `converge` that walks its resources (each in its
//! [`crate::resources`] module) through observe -> plan -> apply, in order.

#[cfg(all(feature = "dynamodb", feature = "sfn"))]
pub mod arrival;
#[cfg(all(feature = "dynamodb", feature = "rds"))]
pub mod database;
#[cfg(all(feature = "dynamodb", feature = "secrets", feature = "github"))]
pub mod github;
#[cfg(all(
    feature = "dynamodb",
    feature = "sfn",
    feature = "ecr",
    feature = "secrets",
    feature = "registry",
    feature = "http-api"
))]
pub mod image;
#[cfg(feature = "dynamodb")]
pub mod lease;
#[cfg(all(feature = "dynamodb", feature = "elbv2"))]
pub mod load_balancer;
#[cfg(all(feature = "dynamodb", feature = "ec2"))]
pub mod network;
#[cfg(all(
    feature = "ec2",
    feature = "elbv2",
    feature = "ecr",
    feature = "registry"
))]
pub mod preflight;
#[cfg(all(feature = "dynamodb", feature = "sfn", feature = "scheduler"))]
pub mod record;
#[cfg(all(feature = "dynamodb", feature = "sfn", feature = "rds"))]
pub mod rotation;
#[cfg(all(
    feature = "dynamodb",
    feature = "ecs",
    feature = "logs",
    feature = "elbv2"
))]
pub mod service;
#[cfg(all(
    feature = "dynamodb",
    feature = "sfn",
    feature = "ec2",
    feature = "ecs",
    feature = "elbv2",
    feature = "rds",
    feature = "logs",
    feature = "scheduler"
))]
pub mod teardown;
#[cfg(all(feature = "dynamodb", feature = "sfn", feature = "secrets"))]
pub mod webhook;

#[cfg(feature = "dynamodb")]
mod ctx {
    use serde_json::Value;
    use tracing::Instrument;

    use crate::aws::store::Store;
    use crate::converge::Ctx;
    use crate::deploy::{now_epoch, DeployState, Section};
    use crate::error::StepError;
    use crate::naming::Names;
    use crate::runtime::parse_input;

    /// The runtime glue of every provisioning step: parse the deploy state,
    /// open the deployment's span, load the ledger, converge, add up the
    /// report over polls, and answer the step's section of the state. A dry
    /// run is always ready: it never waits.
    pub async fn run_step<O, F>(
        store: &Store,
        step: &str,
        input: Value,
        converge: F,
    ) -> Result<Value, StepError>
    where
        O: Section,
        F: AsyncFnOnce(&mut Ctx<'_>, &DeployState) -> Result<O, StepError>,
    {
        let state: DeployState = parse_input(&format!("{step} input"), input)?;
        let span = tracing::info_span!("deployment", deployment_id = %state.deployment.id, step);
        async {
            let d = &state.deployment;
            if O::BOUNDARY {
                super::lease::check(store, d).await?;
            }
            let mut ctx =
                Ctx::load(store, Names::new(&d.app, &d.environment)?, &d.id, d.dry_run).await?;
            let mut out = converge(&mut ctx, &state).await?;
            let report = std::mem::take(&mut ctx.report).after(O::of(&state).map(Section::report));
            *out.report_mut() = report;
            if d.dry_run {
                out.set_ready(true);
            }
            let (ready, deadline) = (out.ready(), O::deadline_seconds(&state.spec));
            if let Some(e) = out
                .report_mut()
                .deadline(step, ready, now_epoch(), deadline)
            {
                tracing::error!(error = %e, "step past its deadline");
                return Err(e);
            }
            let r = out.report();
            let (mutations, planned) = (r.mutations, r.plan.len());
            tracing::info!(ready = out.ready(), mutations, planned, "{step} converged");
            Ok(serde_json::to_value(&out).expect("a step's output serializes"))
        }
        .instrument(span)
        .await
    }
}
#[cfg(feature = "dynamodb")]
pub use ctx::run_step;
