//! EC2: the network's resources, one method per call. Describes select by
//! the owner's tag filters, read every page (they are paginated: an answer
//! that carries a `NextToken` is only part of the result), and answer the
//! resource modules' `Observed` types (one conversion per AWS type);
//! creates set ownership tags; deletes treat "already gone" as done.

use aws_sdk_ec2::types::{
    self as ec2, AttributeBooleanValue, DomainType, Filter, ResourceType, Tag, TagSpecification,
    VpcAttributeName,
};
use aws_sdk_ec2::Client;

use super::{aws_error, or_gone};
use crate::error::StepError;
use crate::model::route_table::Association;
use crate::model::security_group::{IngressRule, Source};
use crate::model::{internet_gateway, nat_gateway, route_table, security_group, subnet, vpc};
use crate::owner::{Owner, Role, Tags};

/// Tags to create a resource with (ownership, role, deployment).
type CreationTags<'a> = &'a [(&'static str, String)];

fn tags_of(tags: &[Tag]) -> Tags {
    tags.iter()
        .filter_map(|t| Some((t.key()?.to_string(), t.value()?.to_string())))
        .collect()
}

/// Tags to set at creation: ownership plus a `Name`.
fn tag_spec(resource: ResourceType, name: &str, tags: CreationTags) -> TagSpecification {
    let mut b = TagSpecification::builder()
        .resource_type(resource)
        .tags(Tag::builder().key("Name").value(name).build());
    for (k, v) in tags {
        b = b.tags(Tag::builder().key(*k).value(v).build());
    }
    b.build()
}

/// Filters that select the owner's resources (in `role`, when given).
fn filters(owner: &Owner, role: Option<Role>) -> Option<Vec<Filter>> {
    Some(
        owner
            .filters(role)
            .into_iter()
            .map(|(k, v)| Filter::builder().name(k).values(v).build())
            .collect(),
    )
}

/// What a tag-filtered describe answered, less anything without the tags
/// asked for: a service that ignores a filter (moto's DescribeNatGateways
/// does) must not hand back someone else's resource.
fn selected<T>(
    owner: &Owner,
    role: Option<Role>,
    found: impl Iterator<Item = T>,
    tags: impl Fn(&T) -> &crate::owner::Tags,
) -> Vec<T> {
    found
        .filter(|x| match role {
            Some(r) => owner.owns_as(tags(x), r),
            None => owner.owns(tags(x)),
        })
        .collect()
}

fn text(s: Option<&str>) -> String {
    s.unwrap_or_default().to_string()
}

fn vpc_of(v: &ec2::Vpc) -> vpc::Observed {
    vpc::Observed {
        id: text(v.vpc_id()),
        cidr: text(v.cidr_block()),
        // Not in the answer: DescribeVpcAttribute tells (`Ec2::vpc_dns_hostnames`).
        dns_hostnames: false,
        tags: tags_of(v.tags()),
    }
}

fn subnet_of(s: &ec2::Subnet) -> subnet::Observed {
    subnet::Observed {
        id: text(s.subnet_id()),
        cidr: text(s.cidr_block()),
        zone: text(s.availability_zone()),
        vpc_id: text(s.vpc_id()),
        tags: tags_of(s.tags()),
    }
}

fn gateway_of(g: &ec2::InternetGateway) -> internet_gateway::Observed {
    internet_gateway::Observed {
        id: text(g.internet_gateway_id()),
        attached_vpcs: g
            .attachments()
            .iter()
            .filter_map(|a| a.vpc_id().map(String::from))
            .collect(),
        tags: tags_of(g.tags()),
    }
}

fn address_of(a: &ec2::Address) -> nat_gateway::Address {
    nat_gateway::Address {
        allocation_id: text(a.allocation_id()),
        public_ip: text(a.public_ip()),
        tags: tags_of(a.tags()),
    }
}

fn nat_of(n: &ec2::NatGateway) -> nat_gateway::Observed {
    nat_gateway::Observed {
        id: text(n.nat_gateway_id()),
        state: text(n.state().map(|s| s.as_str())),
        subnet_id: text(n.subnet_id()),
        created: n.create_time().map(|t| t.secs()),
        failure_code: n.failure_code().map(String::from),
        failure_message: n.failure_message().map(String::from),
        tags: tags_of(n.tags()),
    }
}

fn route_table_of(t: &ec2::RouteTable) -> route_table::Observed {
    route_table::Observed {
        id: text(t.route_table_id()),
        default_route: t
            .routes()
            .iter()
            .find(|r| r.destination_cidr_block() == Some("0.0.0.0/0"))
            .and_then(|r| r.nat_gateway_id().or(r.gateway_id()).map(String::from)),
        associations: t
            .associations()
            .iter()
            .filter_map(|a| {
                Some(Association {
                    id: a.route_table_association_id()?.to_string(),
                    subnet_id: a.subnet_id().map(String::from),
                    main: a.main().unwrap_or(false),
                })
            })
            .collect(),
        tags: tags_of(t.tags()),
    }
}

fn group_of(g: &ec2::SecurityGroup) -> security_group::Observed {
    security_group::Observed {
        id: text(g.group_id()),
        name: text(g.group_name()),
        ingress: rules_of(g.ip_permissions()),
        tags: tags_of(g.tags()),
    }
}

fn rules_of(perms: &[ec2::IpPermission]) -> Vec<IngressRule> {
    let mut out = Vec::new();
    for p in perms {
        let protocol = p.ip_protocol().unwrap_or("-1").to_string();
        let (from, to) = (p.from_port().unwrap_or(-1), p.to_port().unwrap_or(-1));
        let cidrs = p.ip_ranges().iter().filter_map(|r| r.cidr_ip());
        let ipv6 = p.ipv6_ranges().iter().filter_map(|r| r.cidr_ipv6());
        let lists = p
            .prefix_list_ids()
            .iter()
            .filter_map(|l| l.prefix_list_id());
        let groups = p.user_id_group_pairs().iter().filter_map(|g| g.group_id());
        let sources = cidrs
            .map(|c| Source::Cidr(c.into()))
            .chain(ipv6.map(|c| Source::Ipv6Cidr(c.into())))
            .chain(lists.map(|l| Source::PrefixList(l.into())))
            .chain(groups.map(|g| Source::Group(g.into())));
        out.extend(sources.map(|source| IngressRule {
            protocol: protocol.clone(),
            from,
            to,
            source,
        }));
    }
    out
}

fn permission(rule: &IngressRule) -> ec2::IpPermission {
    let b = ec2::IpPermission::builder()
        .ip_protocol(&rule.protocol)
        .from_port(rule.from)
        .to_port(rule.to);
    match &rule.source {
        Source::Cidr(c) => b.ip_ranges(ec2::IpRange::builder().cidr_ip(c).build()),
        Source::Ipv6Cidr(c) => b.ipv6_ranges(ec2::Ipv6Range::builder().cidr_ipv6(c).build()),
        Source::PrefixList(p) => {
            b.prefix_list_ids(ec2::PrefixListId::builder().prefix_list_id(p).build())
        }
        Source::Group(g) => {
            b.user_id_group_pairs(ec2::UserIdGroupPair::builder().group_id(g).build())
        }
    }
    .build()
}

/// A create answered without the resource it made.
fn answered_without(operation: &str, what: &str) -> StepError {
    StepError::retryable(format!("EC2 {operation} answered without {what}"))
}

#[derive(Clone, Debug)]
pub struct Ec2 {
    client: Client,
}

impl Ec2 {
    /// A wrapper over a client built elsewhere (tests use mock clients).
    pub fn from_client(client: Client) -> Ec2 {
        Ec2 { client }
    }

    pub fn new(config: &aws_config::SdkConfig) -> Ec2 {
        Ec2 {
            client: Client::new(config),
        }
    }
}

/// VPCs.
impl Ec2 {
    /// The VPC with this id, or `None` when it is gone.
    pub async fn vpc(&self, id: &str) -> Result<Option<vpc::Observed>, StepError> {
        let res = self.client.describe_vpcs().vpc_ids(id).send().await;
        let out = or_gone("EC2 DescribeVpcs", res, &["InvalidVpcID.NotFound"])?;
        Ok(out.and_then(|o| o.vpcs().iter().find(|v| v.vpc_id() == Some(id)).map(vpc_of)))
    }

    /// Every VPC of the region, whoever owns it (preflight's view).
    pub async fn all_vpcs(&self) -> Result<Vec<vpc::Observed>, StepError> {
        Ok(self.describe_vpcs(None).await?.iter().map(vpc_of).collect())
    }

    /// Every page of DescribeVpcs with these filters.
    async fn describe_vpcs(
        &self,
        filters: Option<Vec<Filter>>,
    ) -> Result<Vec<ec2::Vpc>, StepError> {
        self.client
            .describe_vpcs()
            .set_filters(filters)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| aws_error("EC2 DescribeVpcs", &e))
    }

    /// How many Elastic IPs the account holds in the region.
    pub async fn elastic_ip_count(&self) -> Result<usize, StepError> {
        let out = self
            .client
            .describe_addresses()
            .send()
            .await
            .map_err(|e| aws_error("EC2 DescribeAddresses", &e))?;
        Ok(out.addresses().len())
    }

    /// The account's Elastic IP limit, as EC2 reports it (`vpc-max-elastic-ips`).
    pub async fn elastic_ip_limit(&self) -> Result<Option<usize>, StepError> {
        let out = self
            .client
            .describe_account_attributes()
            .attribute_names(aws_sdk_ec2::types::AccountAttributeName::from(
                "vpc-max-elastic-ips",
            ))
            .send()
            .await
            .map_err(|e| aws_error("EC2 DescribeAccountAttributes", &e))?;
        Ok(out
            .account_attributes()
            .iter()
            .filter(|a| a.attribute_name() == Some("vpc-max-elastic-ips"))
            .flat_map(|a| a.attribute_values())
            .find_map(|v| v.attribute_value().and_then(|v| v.parse().ok())))
    }

    /// NAT gateways pending or available, counted per availability zone.
    pub async fn nat_gateways_per_zone(&self) -> Result<Vec<(String, usize)>, StepError> {
        let gateways: Vec<ec2::NatGateway> = self
            .client
            .describe_nat_gateways()
            .filter(
                Filter::builder()
                    .name("state")
                    .values("pending")
                    .values("available")
                    .build(),
            )
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| aws_error("EC2 DescribeNatGateways", &e))?;
        let subnets: Vec<String> = gateways
            .iter()
            .filter_map(|g| g.subnet_id().map(String::from))
            .collect();
        if subnets.is_empty() {
            return Ok(Vec::new());
        }
        // Each subnet once, however many gateways it holds.
        let distinct: std::collections::BTreeSet<String> = subnets.iter().cloned().collect();
        let zones: Vec<ec2::Subnet> = self
            .client
            .describe_subnets()
            .set_subnet_ids(Some(distinct.into_iter().collect()))
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| aws_error("EC2 DescribeSubnets", &e))?;
        let mut counts: std::collections::BTreeMap<String, usize> = Default::default();
        for subnet in &subnets {
            let zone = zones
                .iter()
                .find(|z| z.subnet_id() == Some(subnet))
                .and_then(|z| z.availability_zone())
                .unwrap_or("an unknown zone");
            *counts.entry(zone.to_string()).or_default() += 1;
        }
        Ok(counts.into_iter().collect())
    }

    /// Every VPC carrying the owner's tags.
    pub async fn vpcs(&self, owner: &Owner) -> Result<Vec<vpc::Observed>, StepError> {
        let found = self.describe_vpcs(filters(owner, None)).await?;
        Ok(selected(owner, None, found.iter().map(vpc_of), |x| &x.tags))
    }

    pub async fn create_vpc(
        &self,
        cidr: &str,
        name: &str,
        tags: CreationTags<'_>,
    ) -> Result<vpc::Observed, StepError> {
        let out = self
            .client
            .create_vpc()
            .cidr_block(cidr)
            .tag_specifications(tag_spec(ResourceType::Vpc, name, tags))
            .send()
            .await
            .map_err(|e| aws_error("EC2 CreateVpc", &e))?;
        out.vpc()
            .map(vpc_of)
            .ok_or_else(|| answered_without("CreateVpc", "a VPC"))
    }

    /// Whether DNS hostnames (which the load balancer and RDS endpoints need) are on.
    pub async fn vpc_dns_hostnames(&self, id: &str) -> Result<bool, StepError> {
        let out = self
            .client
            .describe_vpc_attribute()
            .vpc_id(id)
            .attribute(VpcAttributeName::EnableDnsHostnames)
            .send()
            .await
            .map_err(|e| aws_error("EC2 DescribeVpcAttribute", &e))?;
        Ok(out
            .enable_dns_hostnames()
            .and_then(|a| a.value())
            .unwrap_or(false))
    }

    pub async fn enable_vpc_dns_hostnames(&self, id: &str) -> Result<(), StepError> {
        self.client
            .modify_vpc_attribute()
            .vpc_id(id)
            .enable_dns_hostnames(AttributeBooleanValue::builder().value(true).build())
            .send()
            .await
            .map_err(|e| aws_error("EC2 ModifyVpcAttribute", &e))?;
        Ok(())
    }

    pub async fn delete_vpc(&self, id: &str) -> Result<(), StepError> {
        let res = self.client.delete_vpc().vpc_id(id).send().await;
        or_gone("EC2 DeleteVpc", res, &["InvalidVpcID.NotFound"]).map(drop)
    }
}

/// Subnets.
impl Ec2 {
    /// The region's available zones, in name order.
    pub async fn availability_zones(&self) -> Result<Vec<String>, StepError> {
        let out = self
            .client
            .describe_availability_zones()
            .filters(Filter::builder().name("state").values("available").build())
            .send()
            .await
            .map_err(|e| aws_error("EC2 DescribeAvailabilityZones", &e))?;
        let mut zones: Vec<String> = out
            .availability_zones()
            .iter()
            .filter_map(|z| z.zone_name().map(String::from))
            .collect();
        zones.sort();
        Ok(zones)
    }

    pub async fn subnets(
        &self,
        owner: &Owner,
        role: Option<Role>,
    ) -> Result<Vec<subnet::Observed>, StepError> {
        let found: Vec<ec2::Subnet> = self
            .client
            .describe_subnets()
            .set_filters(filters(owner, role))
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| aws_error("EC2 DescribeSubnets", &e))?;
        Ok(selected(owner, role, found.iter().map(subnet_of), |x| {
            &x.tags
        }))
    }

    pub async fn create_subnet(
        &self,
        vpc: &str,
        cidr: &str,
        zone: &str,
        name: &str,
        tags: CreationTags<'_>,
    ) -> Result<subnet::Observed, StepError> {
        let out = self
            .client
            .create_subnet()
            .vpc_id(vpc)
            .cidr_block(cidr)
            .availability_zone(zone)
            .tag_specifications(tag_spec(ResourceType::Subnet, name, tags))
            .send()
            .await
            .map_err(|e| aws_error("EC2 CreateSubnet", &e))?;
        out.subnet()
            .map(subnet_of)
            .ok_or_else(|| answered_without("CreateSubnet", "a subnet"))
    }

    pub async fn delete_subnet(&self, id: &str) -> Result<(), StepError> {
        let res = self.client.delete_subnet().subnet_id(id).send().await;
        or_gone("EC2 DeleteSubnet", res, &["InvalidSubnetID.NotFound"]).map(drop)
    }
}

/// Internet gateways.
impl Ec2 {
    pub async fn internet_gateways(
        &self,
        owner: &Owner,
    ) -> Result<Vec<internet_gateway::Observed>, StepError> {
        let found: Vec<ec2::InternetGateway> = self
            .client
            .describe_internet_gateways()
            .set_filters(filters(owner, None))
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| aws_error("EC2 DescribeInternetGateways", &e))?;
        Ok(selected(owner, None, found.iter().map(gateway_of), |x| {
            &x.tags
        }))
    }

    pub async fn create_internet_gateway(
        &self,
        name: &str,
        tags: CreationTags<'_>,
    ) -> Result<internet_gateway::Observed, StepError> {
        let out = self
            .client
            .create_internet_gateway()
            .tag_specifications(tag_spec(ResourceType::InternetGateway, name, tags))
            .send()
            .await
            .map_err(|e| aws_error("EC2 CreateInternetGateway", &e))?;
        out.internet_gateway()
            .map(gateway_of)
            .ok_or_else(|| answered_without("CreateInternetGateway", "a gateway"))
    }

    pub async fn attach_internet_gateway(&self, igw: &str, vpc: &str) -> Result<(), StepError> {
        self.client
            .attach_internet_gateway()
            .internet_gateway_id(igw)
            .vpc_id(vpc)
            .send()
            .await
            .map_err(|e| aws_error("EC2 AttachInternetGateway", &e))?;
        Ok(())
    }

    pub async fn detach_internet_gateway(&self, igw: &str, vpc: &str) -> Result<(), StepError> {
        let res = self
            .client
            .detach_internet_gateway()
            .internet_gateway_id(igw)
            .vpc_id(vpc)
            .send()
            .await;
        let gone = ["Gateway.NotAttached", "InvalidInternetGatewayID.NotFound"];
        or_gone("EC2 DetachInternetGateway", res, &gone).map(drop)
    }

    pub async fn delete_internet_gateway(&self, igw: &str) -> Result<(), StepError> {
        let res = self
            .client
            .delete_internet_gateway()
            .internet_gateway_id(igw)
            .send()
            .await;
        let gone = ["InvalidInternetGatewayID.NotFound"];
        or_gone("EC2 DeleteInternetGateway", res, &gone).map(drop)
    }
}

/// NAT gateways and their Elastic IPs.
impl Ec2 {
    pub async fn addresses(
        &self,
        owner: &Owner,
        role: Option<Role>,
    ) -> Result<Vec<nat_gateway::Address>, StepError> {
        let out = self
            .client
            .describe_addresses()
            .set_filters(filters(owner, role))
            .send()
            .await
            .map_err(|e| aws_error("EC2 DescribeAddresses", &e))?;
        Ok(selected(
            owner,
            role,
            out.addresses().iter().map(address_of),
            |x| &x.tags,
        ))
    }

    /// A new VPC address. The answer is not an `Address`: it carries the
    /// allocation id and the IP, and the tags are the ones asked for.
    pub async fn allocate_address(
        &self,
        name: &str,
        tags: CreationTags<'_>,
    ) -> Result<nat_gateway::Address, StepError> {
        let out = self
            .client
            .allocate_address()
            .domain(DomainType::Vpc)
            .tag_specifications(tag_spec(ResourceType::ElasticIp, name, tags))
            .send()
            .await
            .map_err(|e| aws_error("EC2 AllocateAddress", &e))?;
        Ok(nat_gateway::Address {
            allocation_id: out
                .allocation_id()
                .ok_or_else(|| answered_without("AllocateAddress", "an allocation id"))?
                .to_string(),
            public_ip: text(out.public_ip()),
            tags: tags
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
        })
    }

    pub async fn release_address(&self, allocation: &str) -> Result<(), StepError> {
        let res = self
            .client
            .release_address()
            .allocation_id(allocation)
            .send()
            .await;
        or_gone("EC2 ReleaseAddress", res, &["InvalidAllocationID.NotFound"]).map(drop)
    }

    pub async fn nat_gateways(
        &self,
        owner: &Owner,
        role: Option<Role>,
    ) -> Result<Vec<nat_gateway::Observed>, StepError> {
        let found: Vec<ec2::NatGateway> = self
            .client
            .describe_nat_gateways()
            .set_filter(filters(owner, role))
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| aws_error("EC2 DescribeNatGateways", &e))?;
        Ok(selected(owner, role, found.iter().map(nat_of), |x| &x.tags))
    }

    pub async fn create_nat_gateway(
        &self,
        subnet: &str,
        allocation: &str,
        name: &str,
        tags: CreationTags<'_>,
        token: &str,
    ) -> Result<nat_gateway::Observed, StepError> {
        let out = self
            .client
            .create_nat_gateway()
            .subnet_id(subnet)
            .allocation_id(allocation)
            .client_token(token)
            .tag_specifications(tag_spec(ResourceType::Natgateway, name, tags))
            .send()
            .await
            .map_err(|e| aws_error("EC2 CreateNatGateway", &e))?;
        out.nat_gateway()
            .map(nat_of)
            .ok_or_else(|| answered_without("CreateNatGateway", "a gateway"))
    }

    pub async fn delete_nat_gateway(&self, id: &str) -> Result<(), StepError> {
        let res = self
            .client
            .delete_nat_gateway()
            .nat_gateway_id(id)
            .send()
            .await;
        let gone = ["NatGatewayNotFound", "InvalidNatGatewayID.NotFound"];
        or_gone("EC2 DeleteNatGateway", res, &gone).map(drop)
    }
}

/// Route tables.
impl Ec2 {
    pub async fn route_tables(
        &self,
        owner: &Owner,
        role: Option<Role>,
    ) -> Result<Vec<route_table::Observed>, StepError> {
        let found: Vec<ec2::RouteTable> = self
            .client
            .describe_route_tables()
            .set_filters(filters(owner, role))
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| aws_error("EC2 DescribeRouteTables", &e))?;
        Ok(selected(
            owner,
            role,
            found.iter().map(route_table_of),
            |x| &x.tags,
        ))
    }

    pub async fn create_route_table(
        &self,
        vpc: &str,
        name: &str,
        tags: CreationTags<'_>,
    ) -> Result<route_table::Observed, StepError> {
        let out = self
            .client
            .create_route_table()
            .vpc_id(vpc)
            .tag_specifications(tag_spec(ResourceType::RouteTable, name, tags))
            .send()
            .await
            .map_err(|e| aws_error("EC2 CreateRouteTable", &e))?;
        out.route_table()
            .map(route_table_of)
            .ok_or_else(|| answered_without("CreateRouteTable", "a table"))
    }

    /// Point 0.0.0.0/0 at an internet gateway (`igw-…`) or a NAT gateway (`nat-…`).
    pub async fn set_default_route(
        &self,
        table: &str,
        target: &str,
        replace: bool,
    ) -> Result<(), StepError> {
        let nat = target.starts_with("nat-");
        if replace {
            let b = self
                .client
                .replace_route()
                .route_table_id(table)
                .destination_cidr_block("0.0.0.0/0");
            let b = match nat {
                true => b.nat_gateway_id(target),
                false => b.gateway_id(target),
            };
            b.send()
                .await
                .map_err(|e| aws_error("EC2 ReplaceRoute", &e))?;
        } else {
            let b = self
                .client
                .create_route()
                .route_table_id(table)
                .destination_cidr_block("0.0.0.0/0");
            let b = match nat {
                true => b.nat_gateway_id(target),
                false => b.gateway_id(target),
            };
            b.send()
                .await
                .map_err(|e| aws_error("EC2 CreateRoute", &e))?;
        }
        Ok(())
    }

    pub async fn associate_route_table(&self, table: &str, subnet: &str) -> Result<(), StepError> {
        self.client
            .associate_route_table()
            .route_table_id(table)
            .subnet_id(subnet)
            .send()
            .await
            .map_err(|e| aws_error("EC2 AssociateRouteTable", &e))?;
        Ok(())
    }

    pub async fn disassociate_route_table(&self, association: &str) -> Result<(), StepError> {
        let res = self
            .client
            .disassociate_route_table()
            .association_id(association)
            .send()
            .await;
        let gone = ["InvalidAssociationID.NotFound"];
        or_gone("EC2 DisassociateRouteTable", res, &gone).map(drop)
    }

    pub async fn delete_route_table(&self, id: &str) -> Result<(), StepError> {
        let res = self
            .client
            .delete_route_table()
            .route_table_id(id)
            .send()
            .await;
        or_gone(
            "EC2 DeleteRouteTable",
            res,
            &["InvalidRouteTableID.NotFound"],
        )
        .map(drop)
    }
}

/// Security groups.
impl Ec2 {
    pub async fn security_groups(
        &self,
        owner: &Owner,
        role: Option<Role>,
    ) -> Result<Vec<security_group::Observed>, StepError> {
        let found: Vec<ec2::SecurityGroup> = self
            .client
            .describe_security_groups()
            .set_filters(filters(owner, role))
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| aws_error("EC2 DescribeSecurityGroups", &e))?;
        Ok(selected(owner, role, found.iter().map(group_of), |x| {
            &x.tags
        }))
    }

    /// A new group's id (the answer carries nothing else of it).
    pub async fn create_security_group(
        &self,
        vpc: &str,
        name: &str,
        description: &str,
        tags: CreationTags<'_>,
    ) -> Result<String, StepError> {
        let out = self
            .client
            .create_security_group()
            .vpc_id(vpc)
            .group_name(name)
            .description(description)
            .tag_specifications(tag_spec(ResourceType::SecurityGroup, name, tags))
            .send()
            .await
            .map_err(|e| aws_error("EC2 CreateSecurityGroup", &e))?;
        out.group_id()
            .map(String::from)
            .ok_or_else(|| answered_without("CreateSecurityGroup", "a group id"))
    }

    /// Allow these rules in (rules already there are fine).
    pub async fn authorize_ingress(
        &self,
        group: &str,
        rules: &[IngressRule],
    ) -> Result<(), StepError> {
        if rules.is_empty() {
            return Ok(());
        }
        let res = self
            .client
            .authorize_security_group_ingress()
            .group_id(group)
            .set_ip_permissions(Some(rules.iter().map(permission).collect()))
            .send()
            .await;
        let done = ["InvalidPermission.Duplicate"];
        or_gone("EC2 AuthorizeSecurityGroupIngress", res, &done).map(drop)
    }

    /// Revoke these rules (rules already gone are fine).
    pub async fn revoke_ingress(
        &self,
        group: &str,
        rules: &[IngressRule],
    ) -> Result<(), StepError> {
        if rules.is_empty() {
            return Ok(());
        }
        let res = self
            .client
            .revoke_security_group_ingress()
            .group_id(group)
            .set_ip_permissions(Some(rules.iter().map(permission).collect()))
            .send()
            .await;
        let gone = ["InvalidPermission.NotFound"];
        or_gone("EC2 RevokeSecurityGroupIngress", res, &gone).map(drop)
    }

    pub async fn delete_security_group(&self, id: &str) -> Result<(), StepError> {
        let res = self
            .client
            .delete_security_group()
            .group_id(id)
            .send()
            .await;
        or_gone("EC2 DeleteSecurityGroup", res, &["InvalidGroup.NotFound"]).map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_ec2::operation::{
        describe_internet_gateways::DescribeInternetGatewaysOutput,
        describe_nat_gateways::DescribeNatGatewaysOutput,
        describe_route_tables::DescribeRouteTablesOutput,
        describe_security_groups::DescribeSecurityGroupsOutput,
        describe_subnets::DescribeSubnetsOutput, describe_vpcs::DescribeVpcsOutput,
    };
    use aws_smithy_mocks::{mock, mock_client, RuleMode};

    /// Two pages of one describe: the first answers a `NextToken`, the
    /// second is the answer to a request carrying it.
    macro_rules! two_pages {
        ($op:ident, $output:ty, $items:ident, $first:expr, $second:expr) => {{
            let first = mock!(Client::$op)
                .match_requests(|r| r.next_token().is_none())
                .then_output(move || {
                    <$output>::builder()
                        .$items($first)
                        .next_token("page-2")
                        .build()
                });
            let second = mock!(Client::$op)
                .match_requests(|r| r.next_token() == Some("page-2"))
                .then_output(move || <$output>::builder().$items($second).build());
            (first, second)
        }};
    }

    fn owner() -> Owner {
        Owner::new("bank", "production")
    }

    fn owned() -> Option<Vec<Tag>> {
        Some(
            owner()
                .tags()
                .into_iter()
                .map(|(k, v)| Tag::builder().key(k).value(v).build())
                .collect(),
        )
    }

    fn ec2(rules: &[&aws_smithy_mocks::Rule]) -> Ec2 {
        Ec2::from_client(mock_client!(aws_sdk_ec2, RuleMode::MatchAny, rules))
    }

    #[tokio::test]
    async fn every_page_of_vpcs_is_read() {
        let vpc = |id: &str| ec2::Vpc::builder().vpc_id(id).set_tags(owned()).build();
        let (first, second) = two_pages!(
            describe_vpcs,
            DescribeVpcsOutput,
            vpcs,
            vpc("vpc-1"),
            vpc("vpc-2")
        );
        let found = ec2(&[&first, &second]).vpcs(&owner()).await.unwrap();
        let ids: Vec<&str> = found.iter().map(|v| v.id.as_str()).collect();
        assert_eq!(ids, ["vpc-1", "vpc-2"]);
        assert_eq!((first.num_calls(), second.num_calls()), (1, 1));
    }

    #[tokio::test]
    async fn every_page_of_subnets_is_read() {
        let subnet = |id: &str| {
            ec2::Subnet::builder()
                .subnet_id(id)
                .set_tags(owned())
                .build()
        };
        let (first, second) = two_pages!(
            describe_subnets,
            DescribeSubnetsOutput,
            subnets,
            subnet("subnet-1"),
            subnet("subnet-2")
        );
        let found = ec2(&[&first, &second])
            .subnets(&owner(), None)
            .await
            .unwrap();
        let ids: Vec<&str> = found.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(ids, ["subnet-1", "subnet-2"]);
        assert_eq!((first.num_calls(), second.num_calls()), (1, 1));
    }

    #[tokio::test]
    async fn every_page_of_internet_gateways_is_read() {
        let gateway = |id: &str| {
            ec2::InternetGateway::builder()
                .internet_gateway_id(id)
                .set_tags(owned())
                .build()
        };
        let (first, second) = two_pages!(
            describe_internet_gateways,
            DescribeInternetGatewaysOutput,
            internet_gateways,
            gateway("igw-1"),
            gateway("igw-2")
        );
        let found = ec2(&[&first, &second])
            .internet_gateways(&owner())
            .await
            .unwrap();
        let ids: Vec<&str> = found.iter().map(|g| g.id.as_str()).collect();
        assert_eq!(ids, ["igw-1", "igw-2"]);
        assert_eq!((first.num_calls(), second.num_calls()), (1, 1));
    }

    #[tokio::test]
    async fn every_page_of_nat_gateways_is_read() {
        let nat = |id: &str| {
            ec2::NatGateway::builder()
                .nat_gateway_id(id)
                .set_tags(owned())
                .build()
        };
        let (first, second) = two_pages!(
            describe_nat_gateways,
            DescribeNatGatewaysOutput,
            nat_gateways,
            nat("nat-1"),
            nat("nat-2")
        );
        let found = ec2(&[&first, &second])
            .nat_gateways(&owner(), None)
            .await
            .unwrap();
        let ids: Vec<&str> = found.iter().map(|n| n.id.as_str()).collect();
        assert_eq!(ids, ["nat-1", "nat-2"]);
        assert_eq!((first.num_calls(), second.num_calls()), (1, 1));
    }

    #[tokio::test]
    async fn every_page_of_route_tables_is_read() {
        let table = |id: &str| {
            ec2::RouteTable::builder()
                .route_table_id(id)
                .set_tags(owned())
                .build()
        };
        let (first, second) = two_pages!(
            describe_route_tables,
            DescribeRouteTablesOutput,
            route_tables,
            table("rtb-1"),
            table("rtb-2")
        );
        let found = ec2(&[&first, &second])
            .route_tables(&owner(), None)
            .await
            .unwrap();
        let ids: Vec<&str> = found.iter().map(|t| t.id.as_str()).collect();
        assert_eq!(ids, ["rtb-1", "rtb-2"]);
        assert_eq!((first.num_calls(), second.num_calls()), (1, 1));
    }

    #[tokio::test]
    async fn every_page_of_security_groups_is_read() {
        let group = |id: &str| {
            ec2::SecurityGroup::builder()
                .group_id(id)
                .set_tags(owned())
                .build()
        };
        let (first, second) = two_pages!(
            describe_security_groups,
            DescribeSecurityGroupsOutput,
            security_groups,
            group("sg-1"),
            group("sg-2")
        );
        let found = ec2(&[&first, &second])
            .security_groups(&owner(), None)
            .await
            .unwrap();
        let ids: Vec<&str> = found.iter().map(|g| g.id.as_str()).collect();
        assert_eq!(ids, ["sg-1", "sg-2"]);
        assert_eq!((first.num_calls(), second.num_calls()), (1, 1));
    }
}
