//! `provision-network`: the environment's VPC and its parts, each converged
//! by its module in `crate::resources` (observe -> plan -> apply), in
//! dependency order. Each part is found by its ownership tags (plus a role
//! tag: `public-1`, `lb`, …), so a run after a crash finds what the crashed
//! run created. Teardown's network phase is here too, in teardown order.

use serde_json::Value;

use crate::aws::ec2::Ec2;
use crate::aws::store::Store;
use crate::converge::Ctx;
use crate::deploy::{DeployState, NetworkOutput};
use crate::error::StepError;
use crate::owner::{Owner, Role};
use crate::resources::route_table::Route;
use crate::resources::{internet_gateway, nat_gateway, route_table, security_group, subnet, vpc};
use crate::spec::NatMode;
use crate::steps::run_step;
use crate::teardown::TeardownState;

/// The public and private subnets' ids, in zone order.
async fn subnets(
    ec2: &Ec2,
    ctx: &mut Ctx<'_>,
    vpc: &vpc::Observed,
) -> Result<(Vec<String>, Vec<String>), StepError> {
    let zones = subnet::zones(ec2).await?;
    let (mut public, mut private) = (Vec::new(), Vec::new());
    for wanted in subnet::wanted(&ctx.names, &vpc.id, &vpc.cidr, &zones)? {
        let id = subnet::converge(ec2, ctx, &wanted).await?;
        match wanted.role {
            Role::PublicZone(_) => public.push(id),
            _ => private.push(id),
        }
    }
    Ok((public, private))
}

/// The NAT gateways of the layout and the private route tables through
/// them; the gateways' ids, and whether all of them are available.
async fn nat_gateways(
    ec2: &Ec2,
    ctx: &mut Ctx<'_>,
    mode: NatMode,
    vpc_id: &str,
    (public, private): (&[String], &[String]),
) -> Result<(Vec<String>, bool), StepError> {
    nat_gateway::check_layout(ec2, ctx, mode).await?;
    let (mut ids, mut ready) = (Vec::new(), true);
    for (az, wanted) in nat_gateway::wanted(&ctx.names, mode, public)
        .into_iter()
        .enumerate()
    {
        let (nat, available) = nat_gateway::converge(ec2, ctx, &wanted).await?;
        let (role, subnets) = match mode {
            NatMode::Single => (Role::Private, private),
            NatMode::PerAz => (
                Role::PrivateZone(az as u8 + 1),
                private.get(az..=az).unwrap_or_default(),
            ),
        };
        let route = match available {
            true => Route::To(nat.clone()),
            false => Route::AwaitNat(nat.clone()),
        };
        let table = route_table::Wanted::new(&ctx.names, role, vpc_id, route, subnets);
        route_table::converge(ec2, ctx, &table).await?;
        ids.push(nat);
        ready &= available;
    }
    Ok((ids, ready))
}

/// Converge the whole network; `ready` once the NAT gateways are available
/// and the private subnets route through them.
pub async fn converge(
    ec2: &Ec2,
    ctx: &mut Ctx<'_>,
    state: &DeployState,
) -> Result<NetworkOutput, StepError> {
    let network = &state.spec.network;
    let vpc = vpc::converge(ec2, ctx, &vpc::Wanted::new(&ctx.names, &network.cidr)).await?;
    let (public, private) = subnets(ec2, ctx, &vpc).await?;
    let igw = internet_gateway::Wanted::new(&ctx.names, &vpc.id);
    let igw = internet_gateway::converge(ec2, ctx, &igw).await?;
    let table =
        route_table::Wanted::new(&ctx.names, Role::Public, &vpc.id, Route::To(igw), &public);
    route_table::converge(ec2, ctx, &table).await?;
    let mode = network.nat_gateways;
    let (nat_gateways, ready) = nat_gateways(ec2, ctx, mode, &vpc.id, (&public, &private)).await?;
    let security_groups =
        security_group::converge(ec2, ctx, &vpc.id, state.spec.service.port).await?;
    Ok(NetworkOutput {
        ready,
        vpc_id: vpc.id,
        cidr: network.cidr.clone(),
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

/// Teardown's side (the `teardown` function runs it, phase by phase): NAT
/// gateways (until deleted), their Elastic IPs, route tables, subnets,
/// internet gateway, security groups, VPC: everything found by this
/// environment's tags, and only that.
pub async fn remove(ec2: &Ec2, t: &mut TeardownState) -> Result<bool, StepError> {
    let owner = Owner::new(&t.app, &t.environment);
    if !nat_gateway::remove(ec2, &owner, t).await? {
        return Ok(false);
    }
    nat_gateway::remove_addresses(ec2, &owner, t).await?;
    route_table::remove(ec2, &owner, t).await?;
    subnet::remove(ec2, &owner, t).await?;
    internet_gateway::remove(ec2, &owner, t).await?;
    security_group::remove(ec2, &owner, t).await?;
    vpc::remove(ec2, &owner, t).await?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    //! A first deploy against a fresh account (every describe answers
    //! nothing): the real run's calls, and a dry run's plan predicting them.

    use aws_sdk_dynamodb::operation::{put_item::PutItemOutput, query::QueryOutput};
    use aws_sdk_ec2::operation as op;
    use aws_sdk_ec2::types::{
        AvailabilityZone, InternetGateway, NatGateway, NatGatewayState, RouteTable, Subnet, Vpc,
    };
    use aws_smithy_mocks::{mock, mock_client, Rule, RuleMode};

    use super::*;
    use crate::deploy::{resolve, DeployRequest};
    use crate::naming::Names;
    use crate::spec::AppSpec;

    fn store() -> Store {
        let query =
            mock!(aws_sdk_dynamodb::Client::query).then_output(|| QueryOutput::builder().build());
        let put = mock!(aws_sdk_dynamodb::Client::put_item)
            .then_output(|| PutItemOutput::builder().build());
        Store::new(
            mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, [&query, &put]),
            "ledger",
        )
    }

    fn state(dry_run: bool) -> DeployState {
        let spec = AppSpec::from_json(r#"{"name":"bank","repository":"acme/bank"}"#).unwrap();
        let request = DeployRequest {
            repository: None,
            repository_spec: None,
            app: "bank".into(),
            environment: "production".into(),
            commit: "3f786850e387550fdab836ed7e6dc881de23001b".into(),
            branch: None,
            image: None,
            trigger: None,
            dry_run,
            restart: None,
        };
        let execution = "arn:aws:states:eu-west-1:123456789012:execution:stepdeploy-deploy:d1";
        DeployState::new(
            resolve(&request, &spec, "d1", execution, 15, 0).unwrap(),
            spec,
        )
    }

    /// Describes of a fresh account: nothing is there yet.
    fn describes() -> Vec<Rule> {
        vec![
            mock!(aws_sdk_ec2::Client::describe_vpcs)
                .then_output(|| op::describe_vpcs::DescribeVpcsOutput::builder().build()),
            mock!(aws_sdk_ec2::Client::describe_availability_zones).then_output(|| {
                op::describe_availability_zones::DescribeAvailabilityZonesOutput::builder()
                    .availability_zones(AvailabilityZone::builder().zone_name("eu-west-1b").build())
                    .availability_zones(AvailabilityZone::builder().zone_name("eu-west-1a").build())
                    .build()
            }),
            mock!(aws_sdk_ec2::Client::describe_subnets)
                .then_output(|| op::describe_subnets::DescribeSubnetsOutput::builder().build()),
            mock!(aws_sdk_ec2::Client::describe_internet_gateways).then_output(|| {
                op::describe_internet_gateways::DescribeInternetGatewaysOutput::builder().build()
            }),
            mock!(aws_sdk_ec2::Client::describe_route_tables).then_output(|| {
                op::describe_route_tables::DescribeRouteTablesOutput::builder().build()
            }),
            mock!(aws_sdk_ec2::Client::describe_addresses)
                .then_output(|| op::describe_addresses::DescribeAddressesOutput::builder().build()),
            mock!(aws_sdk_ec2::Client::describe_nat_gateways).then_output(|| {
                op::describe_nat_gateways::DescribeNatGatewaysOutput::builder().build()
            }),
            mock!(aws_sdk_ec2::Client::describe_security_groups).then_output(|| {
                op::describe_security_groups::DescribeSecurityGroupsOutput::builder().build()
            }),
        ]
    }

    /// Creates and updates, answered as AWS would (the NAT gateway at once available).
    fn mutations() -> Vec<Rule> {
        vec![
            mock!(aws_sdk_ec2::Client::create_vpc).then_output(|| {
                op::create_vpc::CreateVpcOutput::builder()
                    .vpc(
                        Vpc::builder()
                            .vpc_id("vpc-1")
                            .cidr_block("172.28.0.0/16")
                            .build(),
                    )
                    .build()
            }),
            mock!(aws_sdk_ec2::Client::modify_vpc_attribute).then_output(|| {
                op::modify_vpc_attribute::ModifyVpcAttributeOutput::builder().build()
            }),
            mock!(aws_sdk_ec2::Client::create_subnet).then_compute_output(|req| {
                let cidr = req.cidr_block().unwrap_or_default();
                op::create_subnet::CreateSubnetOutput::builder()
                    .subnet(
                        Subnet::builder()
                            .subnet_id(format!("subnet-{}", cidr.replace(['.', '/'], "")))
                            .cidr_block(cidr)
                            .vpc_id("vpc-1")
                            .build(),
                    )
                    .build()
            }),
            mock!(aws_sdk_ec2::Client::create_internet_gateway).then_output(|| {
                op::create_internet_gateway::CreateInternetGatewayOutput::builder()
                    .internet_gateway(
                        InternetGateway::builder()
                            .internet_gateway_id("igw-1")
                            .build(),
                    )
                    .build()
            }),
            mock!(aws_sdk_ec2::Client::attach_internet_gateway).then_output(|| {
                op::attach_internet_gateway::AttachInternetGatewayOutput::builder().build()
            }),
            mock!(aws_sdk_ec2::Client::create_route_table).then_compute_output(|req| {
                let vpc = req.vpc_id().unwrap_or_default().to_string();
                op::create_route_table::CreateRouteTableOutput::builder()
                    .route_table(
                        RouteTable::builder()
                            .route_table_id(format!("rtb-{vpc}"))
                            .build(),
                    )
                    .build()
            }),
            mock!(aws_sdk_ec2::Client::create_route)
                .then_output(|| op::create_route::CreateRouteOutput::builder().build()),
            mock!(aws_sdk_ec2::Client::associate_route_table).then_output(|| {
                op::associate_route_table::AssociateRouteTableOutput::builder().build()
            }),
            mock!(aws_sdk_ec2::Client::allocate_address).then_output(|| {
                op::allocate_address::AllocateAddressOutput::builder()
                    .allocation_id("eipalloc-1")
                    .public_ip("203.0.113.7")
                    .build()
            }),
            mock!(aws_sdk_ec2::Client::create_nat_gateway).then_output(|| {
                op::create_nat_gateway::CreateNatGatewayOutput::builder()
                    .nat_gateway(
                        NatGateway::builder()
                            .nat_gateway_id("nat-1")
                            .state(NatGatewayState::Available)
                            .build(),
                    )
                    .build()
            }),
            mock!(aws_sdk_ec2::Client::create_security_group).then_compute_output(|req| {
                let name = req.group_name().unwrap_or_default();
                let role = name.rsplit('-').next().unwrap_or_default();
                op::create_security_group::CreateSecurityGroupOutput::builder()
                    .group_id(format!("sg-{role}"))
                    .build()
            }),
            mock!(aws_sdk_ec2::Client::authorize_security_group_ingress).then_output(|| {
                op::authorize_security_group_ingress::AuthorizeSecurityGroupIngressOutput::builder()
                    .build()
            }),
        ]
    }

    async fn run(rules: &[Rule], dry_run: bool) -> (NetworkOutput, crate::plan::StepReport) {
        let ec2 = Ec2::from_client(mock_client!(aws_sdk_ec2, RuleMode::MatchAny, rules));
        let store = store();
        let names = Names::new("bank", "production").unwrap();
        let mut ctx = Ctx::load(&store, names, "d1", dry_run).await.unwrap();
        let out = converge(&ec2, &mut ctx, &state(dry_run)).await.unwrap();
        (out, ctx.report)
    }

    #[tokio::test]
    async fn a_dry_run_plans_exactly_the_calls_a_first_deploy_makes() {
        let mut all = describes();
        let writes = mutations();
        all.extend(writes.iter().cloned());
        let (out, report) = run(&all, false).await;
        assert!(out.ready);
        assert_eq!(report.mutations, 24, "{:#?}", report.created);
        let made: usize = writes.iter().map(Rule::num_calls).sum();
        assert_eq!(made, 24);

        // Describes only: any mutating call finds no rule and fails the run.
        let (planned_out, plan) = run(&describes(), true).await;
        assert!(planned_out.ready);
        assert_eq!(planned_out.vpc_id, "(new vpc)");
        let calls = crate::plan::calls(&plan.plan);
        assert_eq!(calls, 24);
        assert_eq!(plan.mutations, 0);
        let lines: Vec<String> = plan
            .plan
            .iter()
            .map(|i| {
                format!(
                    "{} {}: {} {}",
                    i.resource,
                    i.name,
                    i.change.action(),
                    i.change.detail()
                )
            })
            .collect();
        let some = |l: &str| lines.iter().any(|x| x.trim_end() == l);
        for l in [
            "VPC (new vpc): create",
            "VPC (new vpc): update enable DNS hostnames",
            "internet gateway (new igw): update attach to (new vpc)",
            "route table (new rtb-private): update route 0.0.0.0/0 to (new nat); associate (new subnet-private-1); associate (new subnet-private-2)",
            "security group (new sg-db): update allow tcp 3306 from (new sg-tasks)",
        ] {
            assert!(some(l), "{l} not in {lines:#?}");
        }
    }
}
