//! `provision-network`: the environment's VPC and its parts, converged one
//! `ensure_*` at a time. EC2 filters by tag in one call, so each part is found
//! by its ownership tags plus a role tag (`public-1`, `lb`, …); the ledger
//! records what was found or created. Nothing is created twice: a run after a
//! crash finds what the crashed run created by its tags.

use crate::owner::Owner;
use crate::teardown::TeardownState;
use std::collections::HashMap;

use serde_json::Value;

use crate::aws::ec2::{Ec2, VpcInfo};
use crate::aws::store::Store;
use crate::deploy::{DeployState, NetworkOutput, SecurityGroups};
use crate::error::StepError;
use crate::naming::short_hash;
use crate::network::{describe_rules, diff_ingress, plan_subnets, wanted_ingress, Tier, AZ_COUNT};
use crate::owner::{LedgerKind, Role};
use crate::spec::NatMode;
use crate::steps::{run_step, single, Ctx};

fn role_of(role: &str) -> Role {
    Role::parse(role).expect("a known role")
}

/// The VPC: ledger first, then ownership tags, created (tagged) only if absent.
pub async fn ensure_vpc(ec2: &Ec2, ctx: &mut Ctx<'_>, cidr: &str) -> Result<VpcInfo, StepError> {
    let (app, env) = (
        ctx.names.app().to_string(),
        ctx.names.environment().to_string(),
    );
    let mut found = None;
    if let Some(id) = ctx.known.get("vpc").cloned() {
        match ec2.vpc(&id).await? {
            Some(v) if ctx.owner.owns(&v.tags) => found = Some(v),
            Some(_) => {
                tracing::warn!(vpc = %id, "ledger names a VPC without this environment's tags; ignoring it")
            }
            None => tracing::info!(vpc = %id, "ledger names a VPC that is gone; looking further"),
        }
    }
    if found.is_none() {
        found = single(
            ec2.vpcs_tagged(&ctx.owner.tags()).await?,
            "VPC",
            &ctx.owner,
            |v| v.id.clone(),
        )?;
    }
    let vpc = match found {
        Some(v) => v,
        None => {
            let v = ec2.create_vpc(cidr, &ctx.names.vpc(), &ctx.tags()).await?;
            ctx.changed(format!("created vpc {}", v.id));
            v
        }
    };
    if vpc.cidr != cidr {
        return Err(StepError::invalid_input(format!(
            "VPC {} of {app}/{env} has CIDR {} but the spec asks for {cidr}; a VPC's range cannot change: set network.cidr back to {} or tear the environment down first",
            vpc.id, vpc.cidr, vpc.cidr
        )));
    }
    ctx.remember(LedgerKind::Vpc, &vpc.id).await?;
    if !ec2.vpc_dns_hostnames(&vpc.id).await? {
        ec2.enable_vpc_dns_hostnames(&vpc.id).await?;
        ctx.changed(format!("enabled DNS hostnames on {}", vpc.id));
    }
    Ok(vpc)
}

/// The four subnets of the plan, in order public-1, public-2, private-1, private-2.
pub async fn ensure_subnets(
    ec2: &Ec2,
    ctx: &mut Ctx<'_>,
    vpc: &VpcInfo,
) -> Result<(Vec<String>, Vec<String>), StepError> {
    let zones = ec2.availability_zones().await?;
    if zones.len() < AZ_COUNT {
        return Err(StepError::fatal(format!(
            "the region has {} available zones; stepdeploy needs {AZ_COUNT}",
            zones.len()
        )));
    }
    let (mut public, mut private) = (Vec::new(), Vec::new());
    for plan in plan_subnets(&vpc.cidr)? {
        let role = format!("{}-{}", plan.tier.as_str(), plan.az_index + 1);
        let found = single(
            ec2.subnets_tagged(&ctx.owner.tags(), &role).await?,
            &format!("{role} subnet"),
            &ctx.owner,
            |s| s.id.clone(),
        )?;
        let subnet = match found {
            Some(s) if s.vpc_id == vpc.id => s,
            Some(s) => {
                return Err(StepError::conflict(format!(
                    "subnet {} ({role}) of {}/{} is in {} rather than the environment's VPC {}; delete it and re-run",
                    s.id,
                    ctx.names.app(),
                    ctx.names.environment(),
                    s.vpc_id,
                    vpc.id
                )))
            }
            None => {
                let name = ctx.names.subnet(plan.tier.as_str(), plan.az_index);
                let s = ec2
                    .create_subnet(&vpc.id, &plan.cidr.to_string(), &zones[plan.az_index], &name, &ctx.tags(), &role)
                    .await?;
                ctx.changed(format!("created subnet {} ({role}, {})", s.id, s.cidr));
                s
            }
        };
        ctx.remember(LedgerKind::Subnet(role_of(&role)), &subnet.id)
            .await?;
        match plan.tier {
            Tier::Public => public.push(subnet.id),
            Tier::Private => private.push(subnet.id),
        }
    }
    Ok((public, private))
}

pub async fn ensure_internet_gateway(
    ec2: &Ec2,
    ctx: &mut Ctx<'_>,
    vpc: &str,
) -> Result<String, StepError> {
    let found = single(
        ec2.internet_gateways_tagged(&ctx.owner.tags()).await?,
        "internet gateway",
        &ctx.owner,
        |g| g.id.clone(),
    )?;
    let (id, attached) = match found {
        Some(g) => (g.id, g.attached_vpcs),
        None => {
            let id = ec2
                .create_internet_gateway(&ctx.names.vpc(), &ctx.tags())
                .await?;
            ctx.changed(format!("created internet gateway {id}"));
            (id, Vec::new())
        }
    };
    ctx.remember(LedgerKind::InternetGateway, &id).await?;
    if !attached.iter().any(|v| v == vpc) {
        if let Some(other) = attached.first() {
            return Err(StepError::conflict(format!(
                "internet gateway {id} is attached to {other}, not {vpc}; detach it and re-run"
            )));
        }
        ec2.attach_internet_gateway(&id, vpc).await?;
        ctx.changed(format!("attached internet gateway {id} to {vpc}"));
    }
    Ok(id)
}

/// The NAT gateway (and its Elastic IP) in the first public subnet. Returns
/// its id and whether it is available yet.
pub async fn ensure_nat_gateway(
    ec2: &Ec2,
    ctx: &mut Ctx<'_>,
    public_subnet: &str,
    role: &str,
) -> Result<(String, bool), StepError> {
    let eip = match single(
        ec2.addresses_tagged(&ctx.owner.tags(), role).await?,
        "NAT Elastic IP",
        &ctx.owner,
        |a| a.allocation_id.clone(),
    )? {
        Some(a) => a,
        None => {
            let a = ec2
                .allocate_address(&format!("{}-{role}", ctx.names.vpc()), &ctx.tags(), role)
                .await?;
            ctx.changed(format!(
                "allocated Elastic IP {} ({})",
                a.allocation_id, a.public_ip
            ));
            a
        }
    };
    ctx.remember(LedgerKind::ElasticIp(role_of(role)), &eip.allocation_id)
        .await?;
    let all = ec2.nat_gateways_tagged(&ctx.owner.tags(), role).await?;
    let failed = all.iter().filter(|n| n.state == "failed").count();
    let live: Vec<_> = all
        .into_iter()
        .filter(|n| n.state == "pending" || n.state == "available")
        .collect();
    let nat = match single(live, "NAT gateway", &ctx.owner, |n| n.id.clone())? {
        Some(n) => n,
        None => {
            // A new token after each failed attempt, the same one for a retry of this attempt.
            let token = short_hash(
                &format!(
                    "{}/{}/{}/{failed}",
                    ctx.names.base(),
                    eip.allocation_id,
                    public_subnet
                ),
                32,
            );
            let n = ec2
                .create_nat_gateway(
                    public_subnet,
                    &eip.allocation_id,
                    &format!("{}-nat", ctx.names.vpc()),
                    &ctx.tags(),
                    role,
                    &token,
                )
                .await?;
            ctx.changed(format!("created NAT gateway {}", n.id));
            n
        }
    };
    ctx.remember(LedgerKind::NatGateway(role_of(role)), &nat.id)
        .await?;
    Ok((nat.id.clone(), nat.state == "available"))
}

/// A route table whose default route goes to `target` (when known), associated with `subnets`.
pub async fn ensure_route_table(
    ec2: &Ec2,
    ctx: &mut Ctx<'_>,
    vpc: &str,
    role: &str,
    target: Option<&str>,
    subnets: &[String],
) -> Result<String, StepError> {
    let table = match single(
        ec2.route_tables_tagged(&ctx.owner.tags(), role).await?,
        &format!("{role} route table"),
        &ctx.owner,
        |t| t.id.clone(),
    )? {
        Some(t) => t,
        None => {
            let t = ec2
                .create_route_table(
                    vpc,
                    &format!("{}-{role}", ctx.names.vpc()),
                    &ctx.tags(),
                    role,
                )
                .await?;
            ctx.changed(format!("created {role} route table {}", t.id));
            t
        }
    };
    ctx.remember(LedgerKind::RouteTable(role_of(role)), &table.id)
        .await?;
    if let Some(target) = target {
        if table.default_route.as_deref() != Some(target) {
            ec2.set_default_route(&table.id, target, table.default_route.is_some())
                .await?;
            ctx.changed(format!("routed 0.0.0.0/0 of {} to {target}", table.id));
        }
    }
    for subnet in subnets {
        if !table.associated_subnets.contains(subnet) {
            ec2.associate_route_table(&table.id, subnet).await?;
            ctx.changed(format!("associated {subnet} with {}", table.id));
        }
    }
    Ok(table.id)
}

/// The load balancer's, the tasks' and the database's security groups, each
/// with exactly its wanted inbound rules.
pub async fn ensure_security_groups(
    ec2: &Ec2,
    ctx: &mut Ctx<'_>,
    vpc: &str,
    container_port: u16,
) -> Result<SecurityGroups, StepError> {
    let mut ids = HashMap::new();
    let mut current = HashMap::new();
    for (role, what) in [
        ("lb", "load balancer: HTTP from anywhere"),
        (
            "tasks",
            "app tasks: the container port from the load balancer",
        ),
        ("db", "database: MySQL from the app tasks"),
    ] {
        let found = single(
            ec2.security_groups_tagged(&ctx.owner.tags(), role).await?,
            &format!("{role} security group"),
            &ctx.owner,
            |g| g.id.clone(),
        )?;
        let (id, rules) = match found {
            Some(g) => (g.id, g.ingress),
            None => {
                let name = ctx.names.security_group(role);
                let id = ec2
                    .create_security_group(
                        vpc,
                        &name,
                        &format!("stepdeploy {}: {what}", ctx.names.base()),
                        &ctx.tags(),
                        role,
                    )
                    .await?;
                ctx.changed(format!("created security group {id} ({role})"));
                (id, Vec::new())
            }
        };
        ctx.remember(LedgerKind::SecurityGroup(role_of(role)), &id)
            .await?;
        ids.insert(role, id);
        current.insert(role, rules);
    }
    for role in ["lb", "tasks", "db"] {
        let wanted = wanted_ingress(role, container_port, &ids["lb"], &ids["tasks"]);
        let (add, remove) = diff_ingress(&current[role], &wanted);
        if !add.is_empty() {
            ec2.authorize_ingress(&ids[role], &add).await?;
            ctx.changed(format!(
                "allowed {} into {} ({role})",
                describe_rules(&add),
                ids[role]
            ));
        }
        if !remove.is_empty() {
            ec2.revoke_ingress(&ids[role], &remove).await?;
            ctx.changed(format!(
                "revoked {} from {} ({role})",
                describe_rules(&remove),
                ids[role]
            ));
        }
    }
    Ok(SecurityGroups {
        lb: ids["lb"].clone(),
        tasks: ids["tasks"].clone(),
        db: ids["db"].clone(),
    })
}

/// Converge the whole network; `ready` once the NAT gateway is available and
/// the private subnets route through it.
pub async fn converge(
    ec2: &Ec2,
    ctx: &mut Ctx<'_>,
    state: &DeployState,
) -> Result<NetworkOutput, StepError> {
    let cidr = &state.spec.network.cidr;
    let vpc = ensure_vpc(ec2, ctx, cidr).await?;
    let (public, private) = ensure_subnets(ec2, ctx, &vpc).await?;
    let igw = ensure_internet_gateway(ec2, ctx, &vpc.id).await?;
    ensure_route_table(ec2, ctx, &vpc.id, "public", Some(&igw), &public).await?;
    let mode = state.spec.network.nat_gateways;
    let other_mode = match mode {
        NatMode::Single => "nat-1",
        NatMode::PerAz => "nat",
    };
    if !ec2
        .nat_gateways_tagged(&ctx.owner.tags(), other_mode)
        .await?
        .is_empty()
    {
        return Err(StepError::conflict(format!(
            "network.nat_gateways is {mode:?} but the environment was built with the other layout; tear it down first, or set network.nat_gateways back"
        )));
    }
    let mut nat_gateways = Vec::new();
    let mut nat_ready = true;
    match mode {
        NatMode::Single => {
            let (nat, ready) = ensure_nat_gateway(ec2, ctx, &public[0], "nat").await?;
            ensure_route_table(
                ec2,
                ctx,
                &vpc.id,
                "private",
                ready.then_some(nat.as_str()),
                &private,
            )
            .await?;
            nat_gateways.push(nat);
            nat_ready = ready;
        }
        NatMode::PerAz => {
            for az in 0..AZ_COUNT {
                let n = az + 1;
                let (nat, ready) =
                    ensure_nat_gateway(ec2, ctx, &public[az], &format!("nat-{n}")).await?;
                let table = format!("private-{n}");
                ensure_route_table(
                    ec2,
                    ctx,
                    &vpc.id,
                    &table,
                    ready.then_some(nat.as_str()),
                    &private[az..=az],
                )
                .await?;
                nat_gateways.push(nat);
                nat_ready &= ready;
            }
        }
    }

    let security_groups =
        ensure_security_groups(ec2, ctx, &vpc.id, state.spec.service.port).await?;
    Ok(NetworkOutput {
        ready: nat_ready,
        vpc_id: vpc.id,
        cidr: cidr.clone(),
        public_subnets: public,
        private_subnets: private,
        security_groups,
        nat_gateways,
        report: Default::default(),
    })
}

pub async fn handle(store: &Store, ec2: &Ec2, input: Value) -> Result<Value, StepError> {
    run_step(store, "provision-network", input, async |ctx, state| {
        converge(ec2, ctx, state).await
    })
    .await
}

// Teardown's side (the `teardown` function runs it, phase by phase).

/// NAT gateway (wait until deleted) and its Elastic IP, route tables,
/// subnets, internet gateway, security groups (cross-references revoked
/// first), VPC: everything found by this environment's tags.
pub async fn remove(ec2: &Ec2, t: &mut TeardownState) -> Result<bool, StepError> {
    let owner = Owner::new(&t.app, &t.environment).tags();
    let found = ec2.all_tagged(&owner).await?;
    let mut waiting = false;
    for nat in &found.nat_gateways {
        if nat.state != "deleting" {
            ec2.delete_nat_gateway(&nat.id).await?;
            t.removed.push(format!("NAT gateway {}", nat.id));
        }
        waiting = true;
    }
    if waiting && !ec2.all_tagged(&owner).await?.nat_gateways.is_empty() {
        return Ok(false);
    }
    for allocation in &found.addresses {
        ec2.release_address(allocation).await?;
        t.removed.push(format!("Elastic IP {allocation}"));
    }
    for table in &found.route_tables {
        for (association, _) in &table.associations {
            ec2.disassociate_route_table(association).await?;
        }
        ec2.delete_route_table(&table.id).await?;
        t.removed.push(format!("route table {}", table.id));
    }
    for subnet in &found.subnets {
        ec2.delete_subnet(subnet).await?;
        t.removed.push(format!("subnet {subnet}"));
    }
    for igw in &found.internet_gateways {
        for vpc in &igw.attached_vpcs {
            ec2.detach_internet_gateway(&igw.id, vpc).await?;
        }
        ec2.delete_internet_gateway(&igw.id).await?;
        t.removed.push(format!("internet gateway {}", igw.id));
    }
    // Groups reference each other (tasks <- lb, db <- tasks): drop every rule first.
    for g in &found.security_groups {
        ec2.revoke_ingress(&g.id, &g.ingress).await?;
    }
    for g in &found.security_groups {
        ec2.delete_security_group(&g.id).await?;
        t.removed
            .push(format!("security group {} ({})", g.id, g.name));
    }
    for vpc in &found.vpcs {
        ec2.delete_vpc(&vpc.id).await?;
        t.removed.push(format!("VPC {}", vpc.id));
    }
    Ok(true)
}
