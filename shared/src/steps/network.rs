//! `provision-network`: the environment's VPC and its parts, converged
//! one `ensure_*` at a time.

use serde_json::{json, Value};
use tracing::Instrument;

use crate::aws::ec2::{Ec2, VpcInfo};
use crate::aws::ownership_tags;
use crate::aws::store::Store;
use crate::deploy::{now_epoch, rfc3339, DeployState, NetworkOutput};
use crate::error::StepError;
use crate::ledger::{env_pk, resource_sk, ResourceRecord};
use crate::naming::Names;
use crate::runtime::parse_input;
use crate::steps::is_owned;

/// Who is converging what: the environment, its names, and the deployment doing it.
pub struct Ctx<'a> {
    pub store: &'a Store,
    pub names: Names,
    pub deployment_id: String,
    /// What this run created, for the output and the mutation count.
    pub created: Vec<String>,
}

impl Ctx<'_> {
    fn tags(&self) -> Vec<(&'static str, String)> {
        let mut tags = ownership_tags(self.names.app(), self.names.environment()).to_vec();
        tags.push((crate::TAG_DEPLOYMENT, self.deployment_id.clone()));
        tags
    }

    async fn remember(&self, kind: &str, id: &str) -> Result<(), StepError> {
        let (app, env) = (self.names.app(), self.names.environment());
        if let Some(r) = self.store.get_resource(app, env, kind).await? {
            if r.id == id {
                return Ok(());
            }
        }
        self.store
            .put_resource(&ResourceRecord {
                pk: env_pk(app, env),
                sk: resource_sk(kind),
                kind: kind.into(),
                id: id.into(),
                created_by: self.deployment_id.clone(),
                recorded_at: rfc3339(now_epoch()),
            })
            .await
    }
}

/// The VPC: ledger first, then ownership tags, created (tagged) only if absent.
pub async fn ensure_vpc(ec2: &Ec2, ctx: &mut Ctx<'_>, cidr: &str) -> Result<VpcInfo, StepError> {
    let (app, env) = (
        ctx.names.app().to_string(),
        ctx.names.environment().to_string(),
    );
    let mut found = None;
    if let Some(rec) = ctx.store.get_resource(&app, &env, "vpc").await? {
        match ec2.vpc(&rec.id).await? {
            Some(v) if is_owned(&v.tags, &app, &env) => found = Some(v),
            Some(_) => {
                tracing::warn!(vpc = %rec.id, "ledger names a VPC without this environment's tags; ignoring it")
            }
            None => {
                tracing::info!(vpc = %rec.id, "ledger names a VPC that is gone; looking further")
            }
        }
    }
    if found.is_none() {
        let mut tagged = ec2.vpcs_tagged(&ownership_tags(&app, &env)).await?;
        if tagged.len() > 1 {
            let ids: Vec<_> = tagged.iter().map(|v| v.id.as_str()).collect();
            return Err(StepError::conflict(format!(
                "{} VPCs carry the tags of {app}/{env} ({}); keep one and delete the others",
                ids.len(),
                ids.join(", ")
            )));
        }
        found = tagged.pop();
    }
    let vpc = match found {
        Some(v) => v,
        None => {
            let v = ec2.create_vpc(cidr, &ctx.names.vpc(), &ctx.tags()).await?;
            tracing::info!(vpc = %v.id, %cidr, "created VPC");
            ctx.created.push(format!("vpc {}", v.id));
            v
        }
    };
    if vpc.cidr != cidr {
        return Err(StepError::invalid_input(format!(
            "VPC {} of {app}/{env} has CIDR {} but the spec asks for {cidr}; a VPC's range cannot change: set network.cidr back to {} or tear the environment down first",
            vpc.id, vpc.cidr, vpc.cidr
        )));
    }
    ctx.remember("vpc", &vpc.id).await?;
    if !ec2.vpc_dns_hostnames(&vpc.id).await? {
        ec2.enable_vpc_dns_hostnames(&vpc.id).await?;
        tracing::info!(vpc = %vpc.id, "enabled DNS hostnames");
    }
    Ok(vpc)
}

pub async fn handle(store: &Store, ec2: &Ec2, input: Value) -> Result<Value, StepError> {
    let state: DeployState = parse_input("provision-network input", input)?;
    let span = tracing::info_span!("deployment", deployment_id = %state.deployment.id);
    async {
        let d = &state.deployment;
        let mut ctx = Ctx {
            store,
            names: Names::new(&d.app, &d.environment)?,
            deployment_id: d.id.clone(),
            created: Vec::new(),
        };
        let cidr = &state.spec.network.cidr;
        let vpc = ensure_vpc(ec2, &mut ctx, cidr).await?;
        let out = NetworkOutput {
            ready: true,
            vpc_id: vpc.id,
            cidr: cidr.clone(),
            created: ctx.created,
        };
        tracing::info!(
            ready = out.ready,
            created = out.created.len(),
            "network converged"
        );
        Ok(json!(out))
    }
    .instrument(span)
    .await
}
