//! `provision-database`: the app's MySQL database in the private subnets,
//! its master password kept by RDS in Secrets Manager.

use serde_json::{json, Value};
use tracing::Instrument;

use crate::aws::rds::{NewDbInstance, Rds};
use crate::aws::store::Store;
use crate::deploy::{DatabaseOutput, DeployState};
use crate::error::StepError;
use crate::naming::Names;
use crate::runtime::parse_input;
use crate::steps::{carry_over, is_owned, Ctx};

/// RDS states from which the instance will not become available by waiting.
const DEAD_STATES: &[&str] = &[
    "failed",
    "incompatible-network",
    "incompatible-option-group",
    "incompatible-parameters",
    "incompatible-restore",
    "inaccessible-encryption-credentials",
    "storage-full",
    "deleting",
];

pub async fn ensure_subnet_group(
    rds: &Rds,
    ctx: &mut Ctx<'_>,
    subnets: &[String],
) -> Result<String, StepError> {
    let name = ctx.names.db_subnet_group();
    match rds.subnet_group(&name).await? {
        None => {
            let description = format!("stepdeploy {}: private subnets", ctx.names.base());
            rds.create_subnet_group(&name, &description, subnets, &ctx.tags())
                .await?;
            ctx.changed(format!("created DB subnet group {name}"));
        }
        Some(group) => {
            if !is_owned(
                &rds.tags_of(&group.arn).await?,
                ctx.names.app(),
                ctx.names.environment(),
            ) {
                return Err(ctx.not_ours("DB subnet group", &name));
            }
            let (mut have, mut want) = (group.subnets.clone(), subnets.to_vec());
            have.sort();
            want.sort();
            if have != want {
                rds.modify_subnet_group(&name, subnets).await?;
                ctx.changed(format!("set the subnets of DB subnet group {name}"));
            }
        }
    }
    ctx.remember("db-subnet-group", &name).await?;
    Ok(name)
}

pub async fn ensure_instance(
    rds: &Rds,
    ctx: &mut Ctx<'_>,
    state: &DeployState,
    subnet_group: &str,
    security_group: &str,
) -> Result<DatabaseOutput, StepError> {
    let db = &state.spec.database;
    let id = ctx.names.db_instance();
    let mut found = rds.instance(&id).await?;
    if let Some(i) = &found {
        if !is_owned(&i.tags, ctx.names.app(), ctx.names.environment()) {
            return Err(ctx.not_ours("RDS instance", &id));
        }
    } else {
        let tags = ctx.tags();
        rds.create_instance(&NewDbInstance {
            identifier: &id,
            instance_class: &db.instance_class,
            allocated_storage: db.allocated_storage,
            engine_version: db.engine_version.as_deref(),
            db_name: &db.name,
            username: &db.username,
            subnet_group,
            security_group,
            deletion_protection: db.deletion_protection.unwrap_or(!state.deployment.preview),
            tags: &tags,
        })
        .await?;
        ctx.changed(format!(
            "created RDS instance {id} ({}, MySQL)",
            db.instance_class
        ));
        found = rds.instance(&id).await?;
    }
    ctx.remember("db", &id).await?;
    let status = found
        .as_ref()
        .map(|i| i.status.clone())
        .unwrap_or_else(|| "creating".into());
    if DEAD_STATES.contains(&status.as_str()) {
        return Err(StepError::fatal(format!(
            "RDS instance {id} is {status}; it will not become available by waiting: see its events in the RDS console"
        )));
    }
    Ok(DatabaseOutput {
        ready: status == "available",
        identifier: id,
        status,
        endpoint: found.as_ref().and_then(|i| i.endpoint.clone()),
        port: found.as_ref().map_or(3306, |i| i.port),
        name: db.name.clone(),
        secret_arn: found.and_then(|i| i.secret_arn),
        created: Vec::new(),
        mutations: 0,
    })
}

pub async fn handle(store: &Store, rds: &Rds, input: Value) -> Result<Value, StepError> {
    let state: DeployState = parse_input("provision-database input", input)?;
    let span = tracing::info_span!("deployment", deployment_id = %state.deployment.id);
    async {
        let d = &state.deployment;
        let network = state
            .network
            .as_ref()
            .ok_or_else(|| StepError::invalid_input("provision-database needs the network's output ($.network)"))?;
        let mut ctx = Ctx::load(store, Names::new(&d.app, &d.environment)?, &d.id).await?;
        let group = ensure_subnet_group(rds, &mut ctx, &network.private_subnets).await?;
        let mut out = ensure_instance(rds, &mut ctx, &state, &group, &network.security_groups.db).await?;
        out.created = std::mem::take(&mut ctx.created);
        out.mutations = ctx.mutations;
        let previous = state.database.as_ref().map(|p| (p.created.as_slice(), p.mutations));
        carry_over(&mut out.created, &mut out.mutations, previous);
        tracing::info!(ready = out.ready, status = %out.status, mutations = out.mutations, "database converged");
        Ok(json!(out))
    }
    .instrument(span)
    .await
}
