//! `provision-database`: the app's MySQL database in the private subnets,
//! its master password kept by RDS in Secrets Manager.

use crate::deploy::{compact_utc, now_epoch};
use crate::naming::Names;
use crate::owner::Owner;
use crate::teardown::{TeardownState, NOT_OURS};
use serde_json::Value;

use crate::aws::rds::{NewDbInstance, Rds};
use crate::aws::store::Store;
use crate::deploy::{DatabaseOutput, DeployState};
use crate::error::StepError;
use crate::owner::LedgerKind;
use crate::steps::{run_step, Ctx};

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
            if !ctx.owner.owns(&rds.tags_of(&group.arn).await?) {
                return Err(StepError::conflict(ctx.not_ours("DB subnet group", &name)));
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
    ctx.remember(LedgerKind::DbSubnetGroup, &name).await?;
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
        if !ctx.owner.owns(&i.tags) {
            return Err(StepError::conflict(ctx.not_ours("RDS instance", &id)));
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
    ctx.remember(LedgerKind::Database, &id).await?;
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
        report: Default::default(),
    })
}

pub async fn handle(store: &Store, rds: &Rds, input: Value) -> Result<Value, StepError> {
    run_step(store, "provision-database", input, async |ctx, state| {
        let network = state.network.as_ref().ok_or_else(|| {
            StepError::invalid_input("provision-database needs the network's output ($.network)")
        })?;
        let group = ensure_subnet_group(rds, ctx, &network.private_subnets).await?;
        ensure_instance(rds, ctx, state, &group, &network.security_groups.db).await
    })
    .await
}

// Teardown's side (the `teardown` function runs it, phase by phase).

/// The database (final snapshot unless a preview), then its subnet group.
pub async fn remove(rds: &Rds, names: &Names, t: &mut TeardownState) -> Result<bool, StepError> {
    let id = names.db_instance();
    if let Some(db) = rds.instance(&id).await? {
        if !Owner::new(&t.app, &t.environment).owns(&db.tags) {
            t.skip(format!("RDS instance {id}"), NOT_OURS);
        } else {
            if db.status != "deleting" {
                if db.deletion_protection {
                    rds.disable_deletion_protection(&id).await?;
                }
                let snapshot = (!t.preview)
                    .then(|| format!("{id}-final-{}", compact_utc(now_epoch()).to_lowercase()));
                rds.delete_instance(&id, snapshot.as_deref()).await?;
                t.removed.push(match &snapshot {
                    Some(s) => format!("RDS instance {id} (final snapshot {s})"),
                    None => format!("RDS instance {id}"),
                });
            }
            if rds.instance(&id).await?.is_some() {
                return Ok(false);
            }
        }
    }
    let group = names.db_subnet_group();
    if let Some(g) = rds.subnet_group(&group).await? {
        if Owner::new(&t.app, &t.environment).owns(&rds.tags_of(&g.arn).await?) {
            match rds.delete_subnet_group(&group).await {
                Ok(()) => t.removed.push(format!("DB subnet group {group}")),
                Err(e) if crate::steps::teardown::is_dependency(&e) => return Ok(false),
                Err(e) => return Err(e),
            }
        } else {
            t.skip(format!("DB subnet group {group}"), NOT_OURS);
        }
    }
    Ok(true)
}
