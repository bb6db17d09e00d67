//! `teardown`: removes what an environment owns, phase by phase, and
//! nothing else. A resource is deleted only if it carries the environment's
//! ownership tags (the ledger alone is not proof); anything else in the way
//! is skipped and listed with the reason. "Already gone" is success, so every
//! phase is safe to run again, after a crash or on a half-deployed environment.

use serde::Deserialize;
use serde_json::{json, Value};
use tracing::Instrument;

use crate::aws::ec2::Ec2;
use crate::aws::ecs::Ecs;
use crate::aws::elbv2::Elb;
use crate::aws::logs::Logs;
use crate::aws::ownership_tags;
use crate::aws::rds::Rds;
use crate::aws::store::Store;
use crate::deploy::{compact_utc, now_epoch, rfc3339};
use crate::error::StepError;
use crate::ledger::{
    env_pk, teardown_sk, EnvironmentRecord, LockRecord, Status, TeardownRecord, ENV_SK, LOCK_SK,
};
use crate::naming::Names;
use crate::runtime::parse_input;
use crate::steps::is_owned;
use crate::teardown::{check_request, is_preview, TeardownRequest, TeardownState};

pub struct Teardown {
    pub store: Store,
    pub ec2: Ec2,
    pub ecs: Ecs,
    pub elb: Elb,
    pub rds: Rds,
    pub logs: Logs,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "phase", rename_all = "snake_case")]
enum Input {
    Begin { teardown_id: String, request: Value },
    Service { teardown: TeardownState },
    LoadBalancer { teardown: TeardownState },
    Database { teardown: TeardownState },
    Network { teardown: TeardownState },
    Cleanup { teardown: TeardownState },
}

const NOT_OURS: &str = "exists but does not carry this environment's stepdeploy tags";

/// A DependencyViolation means something still holds on (an ENI draining): wait.
fn is_dependency(e: &StepError) -> bool {
    e.message.contains("DependencyViolation")
        || e.message.contains("InvalidDBSubnetGroupStateFault")
}

impl Teardown {
    pub async fn handle(&self, input: Value) -> Result<Value, StepError> {
        let input: Input = parse_input("teardown input", input)?;
        let (phase, mut t) = match input {
            Input::Begin {
                teardown_id,
                request,
            } => {
                let req: TeardownRequest = parse_input(
                    "teardown request (expected {\"app\", \"environment\", \"confirm\"})",
                    request,
                )?;
                check_request(&req)?;
                let t = TeardownState {
                    preview: is_preview(&req.environment),
                    app: req.app,
                    environment: req.environment,
                    delete_logs: req.delete_logs,
                    teardown_id,
                    done: true,
                    removed: Vec::new(),
                    skipped: Vec::new(),
                };
                // No deploy starts while the environment comes down.
                self.store
                    .acquire_lock(&LockRecord {
                        pk: env_pk(&t.app, &t.environment),
                        sk: LOCK_SK.into(),
                        holder: t.teardown_id.clone(),
                        kind: "teardown".into(),
                        since: rfc3339(now_epoch()),
                    })
                    .await?;
                self.mark(&t, Status::Destroying).await?;
                tracing::info!(app = %t.app, environment = %t.environment, "teardown started");
                return Ok(json!(t));
            }
            Input::Service { teardown } => ("service", teardown),
            Input::LoadBalancer { teardown } => ("load_balancer", teardown),
            Input::Database { teardown } => ("database", teardown),
            Input::Network { teardown } => ("network", teardown),
            Input::Cleanup { teardown } => ("cleanup", teardown),
        };
        let span = tracing::info_span!("teardown", deployment_id = %t.teardown_id, phase);
        async {
            let names = Names::new(&t.app, &t.environment)?;
            let before = t.removed.len();
            t.done = match phase {
                "service" => self.remove_service(&names, &mut t).await?,
                "load_balancer" => self.remove_load_balancer(&names, &mut t).await?,
                "database" => self.remove_database(&names, &mut t).await?,
                "network" => match self.remove_network(&mut t).await {
                    Ok(done) => done,
                    Err(e) if is_dependency(&e) => {
                        tracing::info!(reason = %e, "something still depends on the network; waiting");
                        false
                    }
                    Err(e) => return Err(e),
                },
                _ => self.cleanup(&names, &mut t).await?,
            };
            tracing::info!(done = t.done, removed = t.removed.len() - before, "teardown phase");
            Ok(json!(t))
        }
        .instrument(span)
        .await
    }

    async fn mark(&self, t: &TeardownState, status: Status) -> Result<(), StepError> {
        let previous = self.store.get_environment(&t.app, &t.environment).await?;
        self.store
            .put_environment(&EnvironmentRecord {
                pk: env_pk(&t.app, &t.environment),
                sk: ENV_SK.into(),
                app: t.app.clone(),
                environment: t.environment.clone(),
                status,
                last_deployment: previous
                    .as_ref()
                    .map(|p| p.last_deployment.clone())
                    .unwrap_or_default(),
                commit: previous.and_then(|p| p.commit),
                url: None,
                updated_at: rfc3339(now_epoch()),
            })
            .await
    }

    /// Scale the service to 0 and delete it; done once ECS no longer lists it as active or draining.
    pub async fn remove_service(
        &self,
        names: &Names,
        t: &mut TeardownState,
    ) -> Result<bool, StepError> {
        let (cluster, name) = (names.cluster(), names.service());
        let Some(svc) = self.ecs.service(&cluster, &name).await? else {
            return Ok(true);
        };
        if !is_owned(&svc.tags, &t.app, &t.environment) {
            t.skip(format!("ECS service {name}"), NOT_OURS);
            return Ok(true);
        }
        if svc.status == "DRAINING" {
            return Ok(false);
        }
        if svc.desired > 0 {
            self.ecs.scale_to_zero(&cluster, &name).await?;
        }
        self.ecs.delete_service(&cluster, &name).await?;
        t.removed.push(format!("ECS service {name}"));
        Ok(self.ecs.service(&cluster, &name).await?.is_none())
    }

    /// Listener, load balancer, then (once the load balancer is gone) the target group.
    pub async fn remove_load_balancer(
        &self,
        names: &Names,
        t: &mut TeardownState,
    ) -> Result<bool, StepError> {
        let lb_name = names.load_balancer();
        if let Some(lb) = self.elb.load_balancer(&lb_name).await? {
            if is_owned(&self.elb.tags_of(&lb.arn).await?, &t.app, &t.environment) {
                for l in self.elb.listeners(&lb.arn).await? {
                    self.elb.delete_listener(&l.arn).await?;
                    t.removed.push(format!("listener :{} of {lb_name}", l.port));
                }
                self.elb.delete_load_balancer(&lb.arn).await?;
                t.removed.push(format!("load balancer {lb_name}"));
                if self.elb.load_balancer(&lb_name).await?.is_some() {
                    return Ok(false);
                }
            } else {
                t.skip(format!("load balancer {lb_name}"), NOT_OURS);
            }
        }
        let tg_name = names.target_group();
        if let Some(tg) = self.elb.target_group(&tg_name).await? {
            if is_owned(&self.elb.tags_of(&tg.arn).await?, &t.app, &t.environment) {
                match self.elb.delete_target_group(&tg.arn).await {
                    Ok(()) => t.removed.push(format!("target group {tg_name}")),
                    // Still attached to a load balancer that is going away.
                    Err(e) if e.message.contains("ResourceInUse") => return Ok(false),
                    Err(e) => return Err(e),
                }
            } else {
                t.skip(format!("target group {tg_name}"), NOT_OURS);
            }
        }
        Ok(true)
    }

    /// The database (final snapshot unless a preview), then its subnet group.
    pub async fn remove_database(
        &self,
        names: &Names,
        t: &mut TeardownState,
    ) -> Result<bool, StepError> {
        let id = names.db_instance();
        if let Some(db) = self.rds.instance(&id).await? {
            if !is_owned(&db.tags, &t.app, &t.environment) {
                t.skip(format!("RDS instance {id}"), NOT_OURS);
            } else {
                if db.status != "deleting" {
                    if db.deletion_protection {
                        self.rds.disable_deletion_protection(&id).await?;
                    }
                    let snapshot = (!t.preview)
                        .then(|| format!("{id}-final-{}", compact_utc(now_epoch()).to_lowercase()));
                    self.rds.delete_instance(&id, snapshot.as_deref()).await?;
                    t.removed.push(match &snapshot {
                        Some(s) => format!("RDS instance {id} (final snapshot {s})"),
                        None => format!("RDS instance {id}"),
                    });
                }
                if self.rds.instance(&id).await?.is_some() {
                    return Ok(false);
                }
            }
        }
        let group = names.db_subnet_group();
        if let Some(g) = self.rds.subnet_group(&group).await? {
            if is_owned(&self.rds.tags_of(&g.arn).await?, &t.app, &t.environment) {
                match self.rds.delete_subnet_group(&group).await {
                    Ok(()) => t.removed.push(format!("DB subnet group {group}")),
                    Err(e) if is_dependency(&e) => return Ok(false),
                    Err(e) => return Err(e),
                }
            } else {
                t.skip(format!("DB subnet group {group}"), NOT_OURS);
            }
        }
        Ok(true)
    }

    /// NAT gateway (wait until deleted) and its Elastic IP, route tables,
    /// subnets, internet gateway, security groups (cross-references revoked
    /// first), VPC: everything found by this environment's tags.
    pub async fn remove_network(&self, t: &mut TeardownState) -> Result<bool, StepError> {
        let owner = ownership_tags(&t.app, &t.environment);
        let found = self.ec2.all_tagged(&owner).await?;
        let mut waiting = false;
        for nat in &found.nat_gateways {
            if nat.state != "deleting" {
                self.ec2.delete_nat_gateway(&nat.id).await?;
                t.removed.push(format!("NAT gateway {}", nat.id));
            }
            waiting = true;
        }
        if waiting && !self.ec2.all_tagged(&owner).await?.nat_gateways.is_empty() {
            return Ok(false);
        }
        for allocation in &found.addresses {
            self.ec2.release_address(allocation).await?;
            t.removed.push(format!("Elastic IP {allocation}"));
        }
        for table in &found.route_tables {
            for (association, _) in &table.associations {
                self.ec2.disassociate_route_table(association).await?;
            }
            self.ec2.delete_route_table(&table.id).await?;
            t.removed.push(format!("route table {}", table.id));
        }
        for subnet in &found.subnets {
            self.ec2.delete_subnet(subnet).await?;
            t.removed.push(format!("subnet {subnet}"));
        }
        for igw in &found.internet_gateways {
            for vpc in &igw.attached_vpcs {
                self.ec2.detach_internet_gateway(&igw.id, vpc).await?;
            }
            self.ec2.delete_internet_gateway(&igw.id).await?;
            t.removed.push(format!("internet gateway {}", igw.id));
        }
        // Groups reference each other (tasks <- lb, db <- tasks): drop every rule first.
        for g in &found.security_groups {
            self.ec2.revoke_ingress(&g.id, &g.ingress).await?;
        }
        for g in &found.security_groups {
            self.ec2.delete_security_group(&g.id).await?;
            t.removed
                .push(format!("security group {} ({})", g.id, g.name));
        }
        for vpc in &found.vpcs {
            self.ec2.delete_vpc(&vpc.id).await?;
            t.removed.push(format!("VPC {}", vpc.id));
        }
        Ok(true)
    }

    /// Cluster, task definitions, log group (kept unless asked), then the ledger.
    pub async fn cleanup(&self, names: &Names, t: &mut TeardownState) -> Result<bool, StepError> {
        let cluster = names.cluster();
        if let Some(c) = self.ecs.cluster(&cluster).await? {
            if is_owned(&c.tags, &t.app, &t.environment) {
                self.ecs.delete_cluster(&cluster).await?;
                t.removed.push(format!("ECS cluster {cluster}"));
            } else {
                t.skip(format!("ECS cluster {cluster}"), NOT_OURS);
            }
        }
        for (arn, tags) in self.ecs.task_definitions(&names.task_family()).await? {
            if is_owned(&tags, &t.app, &t.environment) {
                self.ecs.deregister_task_definition(&arn).await?;
                t.removed.push(format!(
                    "task definition {}",
                    arn.rsplit('/').next().unwrap_or(&arn)
                ));
            } else {
                t.skip(format!("task definition {arn}"), NOT_OURS);
            }
        }
        let log_group = names.log_group();
        if self.logs.group_retention(&log_group).await?.is_some() {
            if t.delete_logs {
                self.logs.delete_group(&log_group).await?;
                t.removed.push(format!("log group {log_group}"));
            } else {
                t.skip(format!("log group {log_group}"), "kept so the logs outlive the environment; start with \"delete_logs\": true to remove it");
            }
        }
        for r in self.store.resources(&t.app, &t.environment).await? {
            self.store
                .delete_resource(&t.app, &t.environment, &r.kind)
                .await?;
        }
        self.store
            .put_teardown(&TeardownRecord {
                pk: env_pk(&t.app, &t.environment),
                sk: teardown_sk(&t.teardown_id),
                teardown_id: t.teardown_id.clone(),
                removed: t.removed.clone(),
                skipped: t
                    .skipped
                    .iter()
                    .map(|s| format!("{}: {}", s.resource, s.reason))
                    .collect(),
                finished_at: rfc3339(now_epoch()),
            })
            .await?;
        self.mark(t, Status::Destroyed).await?;
        self.store.release_lock(&t.app, &t.environment).await?;
        Ok(true)
    }
}
