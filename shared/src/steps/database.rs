//! `provision-database`: the app's MySQL database in the private subnets,
//! its master password kept by RDS in Secrets Manager. Walks the DB subnet
//! group, then the instance ([`crate::resources`]); teardown removes them
//! in the other order.

use serde_json::Value;

use crate::aws::rds::Rds;
use crate::aws::store::Store;
use crate::converge::Ctx;
use crate::deploy::{DatabaseOutput, DeployState};
use crate::error::StepError;
use crate::naming::Names;
use crate::owner::Owner;
use crate::resources::{db_instance, db_subnet_group};
use crate::steps::run_step;
use crate::teardown::TeardownState;

pub async fn converge(
    rds: &Rds,
    ctx: &mut Ctx<'_>,
    state: &DeployState,
) -> Result<DatabaseOutput, StepError> {
    let network = state.network.as_ref().ok_or_else(|| {
        StepError::invalid_input("provision-database needs the network's output ($.network)")
    })?;
    let group = db_subnet_group::Wanted::new(&ctx.names, &network.private_subnets);
    db_subnet_group::converge(rds, ctx, &group).await?;

    let db = &state.spec.database;
    let wanted = db_instance::Wanted::new(
        &ctx.names,
        db,
        state.deployment.preview,
        &group.name,
        &network.security_groups.db,
    );
    let instance = db_instance::converge(rds, ctx, &wanted).await?;

    Ok(DatabaseOutput {
        ready: instance.status == "available",
        identifier: wanted.identifier,
        status: instance.status,
        endpoint: instance.endpoint,
        port: instance.port,
        name: db.name.clone(),
        secret_arn: instance.secret_arn,
        report: Default::default(),
    })
}

pub async fn handle(store: &Store, rds: &Rds, input: Value) -> Result<Value, StepError> {
    run_step(store, "provision-database", input, async |ctx, state| {
        converge(rds, ctx, state).await
    })
    .await
}

// Teardown's side (the `teardown` function runs it, phase by phase).

/// The database (final snapshot unless a preview), then, once it is gone,
/// its subnet group.
pub async fn remove(rds: &Rds, names: &Names, t: &mut TeardownState) -> Result<bool, StepError> {
    let owner = Owner::new(&t.app, &t.environment);
    if !db_instance::remove(rds, &owner, &names.db_instance(), t).await? {
        return Ok(false);
    }
    db_subnet_group::remove(rds, &owner, &names.db_subnet_group(), t).await
}
