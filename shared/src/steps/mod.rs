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
    use std::collections::HashMap;

    use serde_json::Value;
    use tracing::Instrument;

    use crate::aws::store::Store;
    use crate::deploy::{now_epoch, rfc3339, DeployState};
    use crate::error::StepError;
    use crate::ledger::{env_pk, resource_sk, ResourceRecord};
    use crate::naming::Names;
    use crate::owner::{LedgerKind, Owner, Role};
    use crate::plan::{is_planned, Change, PlanItem, Section, StepReport};
    use crate::runtime::parse_input;

    /// Who is converging what: the environment, its names, the deployment doing
    /// it, what the ledger already knows, and what this run changed or, in a
    /// dry run, would change.
    pub struct Ctx<'a> {
        pub store: &'a Store,
        pub names: Names,
        pub owner: Owner,
        pub deployment_id: String,
        /// Plan only: [`Ctx::decide`] records every change and applies none.
        pub dry_run: bool,
        pub known: HashMap<String, String>,
        pub report: StepReport,
    }

    /// What to do with a planned change.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Go {
        /// Make the change.
        Apply,
        /// A dry run: carry on as if it were made.
        Pretend,
        /// Nothing to make (converged, or waiting).
        Skip,
    }

    impl<'a> Ctx<'a> {
        pub async fn load(
            store: &'a Store,
            names: Names,
            deployment_id: &str,
            dry_run: bool,
        ) -> Result<Ctx<'a>, StepError> {
            let known = store
                .resources(names.app(), names.environment())
                .await?
                .into_iter()
                .map(|r| (r.kind, r.id))
                .collect();
            Ok(Ctx {
                store,
                owner: Owner::new(names.app(), names.environment()),
                names,
                deployment_id: deployment_id.into(),
                dry_run,
                known,
                report: StepReport::default(),
            })
        }

        /// Ownership tags plus the deployment that creates the resource.
        pub fn tags(&self) -> Vec<(&'static str, String)> {
            self.owner.creation_tags(&self.deployment_id)
        }

        /// Creation tags plus a role.
        pub fn role_tags(&self, role: Role) -> Vec<(&'static str, String)> {
            self.owner.role_tags(&self.deployment_id, role)
        }

        /// Decide on a planned change of `resource` `name`: record it in a dry
        /// run (and carry on as if made); otherwise a conflict is refused
        /// (`Conflict`) and a broken resource fails the deployment (`Fatal`).
        pub fn decide(
            &mut self,
            resource: &str,
            name: &str,
            change: &Change,
        ) -> Result<Go, StepError> {
            if self.dry_run {
                self.report.plan.push(PlanItem {
                    resource: resource.into(),
                    name: name.into(),
                    change: change.clone(),
                });
                return Ok(match change {
                    Change::Create | Change::Update { .. } => Go::Pretend,
                    _ => Go::Skip,
                });
            }
            match change {
                Change::Create | Change::Update { .. } => Ok(Go::Apply),
                Change::Nothing => Ok(Go::Skip),
                Change::Wait { why } => {
                    tracing::info!(resource, name, why = %why, "waiting");
                    self.report.waiting_for = Some(why.clone());
                    Ok(Go::Skip)
                }
                Change::Conflict { why } => Err(StepError::conflict(why.clone())),
                Change::Failed { why } => Err(StepError::fatal(why.clone())),
            }
        }

        /// Count a mutating call, and say what it did.
        pub fn changed(&mut self, what: impl Into<String>) {
            let what = what.into();
            tracing::info!(change = %what, "changed");
            self.report.created.push(what);
            self.report.mutations += 1;
        }

        /// Record in the ledger that the environment owns `id` as `kind` (once;
        /// never in a dry run).
        pub async fn remember(&mut self, kind: LedgerKind, id: &str) -> Result<(), StepError> {
            let kind = kind.key();
            if self.dry_run
                || is_planned(id)
                || self.known.get(&kind).map(String::as_str) == Some(id)
            {
                return Ok(());
            }
            let (app, env) = (self.names.app(), self.names.environment());
            self.store
                .put_resource(&ResourceRecord {
                    pk: env_pk(app, env),
                    sk: resource_sk(&kind),
                    kind: kind.clone(),
                    id: id.into(),
                    created_by: self.deployment_id.clone(),
                    recorded_at: rfc3339(now_epoch()),
                })
                .await?;
            self.known.insert(kind, id.into());
            Ok(())
        }

        /// Why a resource with this environment's name that it does not own is in the way.
        pub fn not_ours(&self, what: &str, name: &str) -> String {
            super::not_ours(&self.owner, what, name)
        }
    }

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
pub use ctx::{run_step, Ctx, Go};

/// Why a resource with this environment's name that it does not own is in the way.
pub fn not_ours(owner: &Owner, what: &str, name: &str) -> String {
    format!(
        "{what} {name} exists but does not carry the tags of {owner}; stepdeploy will not take over what it did not create: delete or rename it, then re-run"
    )
}

/// Exactly one tagged match, none, or a conflict naming them all.
pub fn single<T>(
    mut found: Vec<T>,
    what: &str,
    owner: &Owner,
    id: impl Fn(&T) -> String,
) -> Result<Option<T>, StepError> {
    if found.len() > 1 {
        let ids: Vec<String> = found.iter().map(id).collect();
        return Err(StepError::conflict(format!(
            "{} {what}s carry the tags of {owner} ({}); keep one and delete the others, then re-run",
            ids.len(),
            ids.join(", ")
        )));
    }
    Ok(found.pop())
}

use crate::error::StepError;
use crate::owner::Owner;
