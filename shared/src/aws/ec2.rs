//! EC2: the network's resources, described and created with ownership tags.

use std::collections::BTreeMap;

use aws_sdk_ec2::types::{
    AttributeBooleanValue, Filter, ResourceType, Tag, TagSpecification, VpcAttributeName,
};
use aws_sdk_ec2::Client;

use super::{aws_error, has_code};
use crate::error::StepError;

/// A VPC as stepdeploy sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VpcInfo {
    pub id: String,
    pub cidr: String,
    pub tags: BTreeMap<String, String>,
}

fn tags_of(tags: &[Tag]) -> BTreeMap<String, String> {
    tags.iter()
        .filter_map(|t| Some((t.key()?.to_string(), t.value()?.to_string())))
        .collect()
}

/// Tags to set at creation: ownership plus a `Name`.
pub fn tag_spec(resource: ResourceType, name: &str, tags: &[(&str, String)]) -> TagSpecification {
    let mut b = TagSpecification::builder()
        .resource_type(resource)
        .tags(Tag::builder().key("Name").value(name).build());
    for (k, v) in tags {
        b = b.tags(Tag::builder().key(*k).value(v).build());
    }
    b.build()
}

/// Filters that select what carries these ownership tags.
pub fn owner_filters(tags: &[(&str, String)]) -> Vec<Filter> {
    tags.iter()
        .map(|(k, v)| Filter::builder().name(format!("tag:{k}")).values(v).build())
        .collect()
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

    fn vpc_info(v: &aws_sdk_ec2::types::Vpc) -> VpcInfo {
        VpcInfo {
            id: v.vpc_id().unwrap_or_default().to_string(),
            cidr: v.cidr_block().unwrap_or_default().to_string(),
            tags: tags_of(v.tags()),
        }
    }

    /// The VPC with this id, or `None` when it is gone.
    pub async fn vpc(&self, id: &str) -> Result<Option<VpcInfo>, StepError> {
        match self.client.describe_vpcs().vpc_ids(id).send().await {
            Ok(out) => Ok(out
                .vpcs()
                .iter()
                .find(|v| v.vpc_id() == Some(id))
                .map(Self::vpc_info)),
            Err(e) if has_code(&e, &["InvalidVpcID.NotFound"]) => Ok(None),
            Err(e) => Err(aws_error("EC2 DescribeVpcs", &e)),
        }
    }

    /// Every VPC carrying these tags.
    pub async fn vpcs_tagged(&self, tags: &[(&str, String)]) -> Result<Vec<VpcInfo>, StepError> {
        let out = self
            .client
            .describe_vpcs()
            .set_filters(Some(owner_filters(tags)))
            .send()
            .await
            .map_err(|e| aws_error("EC2 DescribeVpcs", &e))?;
        Ok(out.vpcs().iter().map(Self::vpc_info).collect())
    }

    pub async fn create_vpc(
        &self,
        cidr: &str,
        name: &str,
        tags: &[(&str, String)],
    ) -> Result<VpcInfo, StepError> {
        let out = self
            .client
            .create_vpc()
            .cidr_block(cidr)
            .tag_specifications(tag_spec(ResourceType::Vpc, name, tags))
            .send()
            .await
            .map_err(|e| aws_error("EC2 CreateVpc", &e))?;
        out.vpc()
            .map(Self::vpc_info)
            .ok_or_else(|| StepError::retryable("EC2 CreateVpc answered without a VPC"))
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
}

/// Whether `tags` hold every owner tag (and the role, when given). Filters
/// already select by tag; this check keeps a registry that ignores a filter
/// from handing back someone else's resource.
fn carries(tags: &BTreeMap<String, String>, owner: &[(&str, String)], role: Option<&str>) -> bool {
    owner.iter().all(|(k, v)| tags.get(*k) == Some(v))
        && role.is_none_or(|r| tags.get(TAG_ROLE).map(String::as_str) == Some(r))
}

pub use crate::owner::TAG_ROLE;

fn role_filters(owner: &[(&str, String)], role: &str) -> Vec<Filter> {
    let mut f = owner_filters(owner);
    f.push(
        Filter::builder()
            .name(format!("tag:{TAG_ROLE}"))
            .values(role)
            .build(),
    );
    f
}

fn with_role(owner: &[(&str, String)], role: &str) -> Vec<(&'static str, String)> {
    let mut tags: Vec<(&'static str, String)> =
        owner.iter().map(|(k, v)| (tag_key(k), v.clone())).collect();
    tags.push((TAG_ROLE, role.to_string()));
    tags
}

/// Tag keys are our constants; map borrowed ones back to them.
fn tag_key(k: &str) -> &'static str {
    match k {
        crate::owner::TAG_APP => crate::owner::TAG_APP,
        crate::owner::TAG_ENVIRONMENT => crate::owner::TAG_ENVIRONMENT,
        crate::owner::TAG_DEPLOYMENT => crate::owner::TAG_DEPLOYMENT,
        _ => TAG_ROLE,
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubnetInfo {
    pub id: String,
    pub cidr: String,
    pub az: String,
    pub vpc_id: String,
    pub tags: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayInfo {
    pub id: String,
    pub attached_vpcs: Vec<String>,
    pub tags: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddressInfo {
    pub allocation_id: String,
    pub public_ip: String,
    pub tags: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NatInfo {
    pub id: String,
    /// `pending`, `available`, `deleting`, `deleted` or `failed`.
    pub state: String,
    pub subnet_id: String,
    pub failure: Option<String>,
    pub tags: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteTableInfo {
    pub id: String,
    /// The target (gateway or NAT gateway id) of the 0.0.0.0/0 route, if any.
    pub default_route: Option<String>,
    pub associated_subnets: Vec<String>,
    /// (association id, subnet id) of each subnet association.
    pub associations: Vec<(String, String)>,
    pub tags: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecurityGroupInfo {
    pub id: String,
    pub name: String,
    pub ingress: Vec<crate::network::IngressRule>,
    pub tags: BTreeMap<String, String>,
}

fn rules_of(perms: &[aws_sdk_ec2::types::IpPermission]) -> Vec<crate::network::IngressRule> {
    use crate::network::{IngressRule, Source};
    let mut out = Vec::new();
    for p in perms {
        let protocol = p.ip_protocol().unwrap_or("-1").to_string();
        let (from, to) = (p.from_port().unwrap_or(-1), p.to_port().unwrap_or(-1));
        for r in p.ip_ranges() {
            if let Some(c) = r.cidr_ip() {
                out.push(IngressRule {
                    protocol: protocol.clone(),
                    from,
                    to,
                    source: Source::Cidr(c.to_string()),
                });
            }
        }
        for g in p.user_id_group_pairs() {
            if let Some(id) = g.group_id() {
                out.push(IngressRule {
                    protocol: protocol.clone(),
                    from,
                    to,
                    source: Source::Group(id.to_string()),
                });
            }
        }
    }
    out
}

fn sg_info(g: &aws_sdk_ec2::types::SecurityGroup) -> SecurityGroupInfo {
    SecurityGroupInfo {
        id: g.group_id().unwrap_or_default().into(),
        name: g.group_name().unwrap_or_default().into(),
        ingress: rules_of(g.ip_permissions()),
        tags: tags_of(g.tags()),
    }
}

fn permission(rule: &crate::network::IngressRule) -> aws_sdk_ec2::types::IpPermission {
    use crate::network::Source;
    let b = aws_sdk_ec2::types::IpPermission::builder()
        .ip_protocol(&rule.protocol)
        .from_port(rule.from)
        .to_port(rule.to);
    match &rule.source {
        Source::Cidr(c) => b.ip_ranges(aws_sdk_ec2::types::IpRange::builder().cidr_ip(c).build()),
        Source::Group(g) => b.user_id_group_pairs(
            aws_sdk_ec2::types::UserIdGroupPair::builder()
                .group_id(g)
                .build(),
        ),
    }
    .build()
}

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

    pub async fn subnets_tagged(
        &self,
        owner: &[(&str, String)],
        role: &str,
    ) -> Result<Vec<SubnetInfo>, StepError> {
        let out = self
            .client
            .describe_subnets()
            .set_filters(Some(role_filters(owner, role)))
            .send()
            .await
            .map_err(|e| aws_error("EC2 DescribeSubnets", &e))?;
        Ok(out
            .subnets()
            .iter()
            .map(|s| SubnetInfo {
                id: s.subnet_id().unwrap_or_default().into(),
                cidr: s.cidr_block().unwrap_or_default().into(),
                az: s.availability_zone().unwrap_or_default().into(),
                vpc_id: s.vpc_id().unwrap_or_default().into(),
                tags: tags_of(s.tags()),
            })
            .collect())
    }

    pub async fn create_subnet(
        &self,
        vpc: &str,
        cidr: &str,
        az: &str,
        name: &str,
        owner: &[(&str, String)],
        role: &str,
    ) -> Result<SubnetInfo, StepError> {
        let tags = with_role(owner, role);
        let out = self
            .client
            .create_subnet()
            .vpc_id(vpc)
            .cidr_block(cidr)
            .availability_zone(az)
            .tag_specifications(tag_spec(ResourceType::Subnet, name, &tags))
            .send()
            .await
            .map_err(|e| aws_error("EC2 CreateSubnet", &e))?;
        let s = out
            .subnet()
            .ok_or_else(|| StepError::retryable("EC2 CreateSubnet answered without a subnet"))?;
        Ok(SubnetInfo {
            id: s.subnet_id().unwrap_or_default().into(),
            cidr: s.cidr_block().unwrap_or_default().into(),
            az: s.availability_zone().unwrap_or_default().into(),
            vpc_id: vpc.into(),
            tags: tags
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
        })
    }

    pub async fn internet_gateways_tagged(
        &self,
        owner: &[(&str, String)],
    ) -> Result<Vec<GatewayInfo>, StepError> {
        let out = self
            .client
            .describe_internet_gateways()
            .set_filters(Some(owner_filters(owner)))
            .send()
            .await
            .map_err(|e| aws_error("EC2 DescribeInternetGateways", &e))?;
        Ok(out
            .internet_gateways()
            .iter()
            .map(|g| GatewayInfo {
                id: g.internet_gateway_id().unwrap_or_default().into(),
                attached_vpcs: g
                    .attachments()
                    .iter()
                    .filter_map(|a| a.vpc_id().map(String::from))
                    .collect(),
                tags: tags_of(g.tags()),
            })
            .collect())
    }

    pub async fn create_internet_gateway(
        &self,
        name: &str,
        owner: &[(&str, String)],
    ) -> Result<String, StepError> {
        let out = self
            .client
            .create_internet_gateway()
            .tag_specifications(tag_spec(
                ResourceType::InternetGateway,
                name,
                &with_role(owner, "igw"),
            ))
            .send()
            .await
            .map_err(|e| aws_error("EC2 CreateInternetGateway", &e))?;
        out.internet_gateway()
            .and_then(|g| g.internet_gateway_id())
            .map(String::from)
            .ok_or_else(|| {
                StepError::retryable("EC2 CreateInternetGateway answered without a gateway")
            })
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

    pub async fn addresses_tagged(
        &self,
        owner: &[(&str, String)],
        role: &str,
    ) -> Result<Vec<AddressInfo>, StepError> {
        let out = self
            .client
            .describe_addresses()
            .set_filters(Some(role_filters(owner, role)))
            .send()
            .await
            .map_err(|e| aws_error("EC2 DescribeAddresses", &e))?;
        Ok(out
            .addresses()
            .iter()
            .map(|a| AddressInfo {
                allocation_id: a.allocation_id().unwrap_or_default().into(),
                public_ip: a.public_ip().unwrap_or_default().into(),
                tags: tags_of(a.tags()),
            })
            .collect())
    }

    pub async fn allocate_address(
        &self,
        name: &str,
        owner: &[(&str, String)],
        role: &str,
    ) -> Result<AddressInfo, StepError> {
        let tags = with_role(owner, role);
        let out = self
            .client
            .allocate_address()
            .domain(aws_sdk_ec2::types::DomainType::Vpc)
            .tag_specifications(tag_spec(ResourceType::ElasticIp, name, &tags))
            .send()
            .await
            .map_err(|e| aws_error("EC2 AllocateAddress", &e))?;
        Ok(AddressInfo {
            allocation_id: out.allocation_id().unwrap_or_default().into(),
            public_ip: out.public_ip().unwrap_or_default().into(),
            tags: tags
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
        })
    }

    fn nat_info(n: &aws_sdk_ec2::types::NatGateway) -> NatInfo {
        NatInfo {
            id: n.nat_gateway_id().unwrap_or_default().into(),
            state: n
                .state()
                .map(|s| s.as_str().to_string())
                .unwrap_or_default(),
            subnet_id: n.subnet_id().unwrap_or_default().into(),
            failure: n.failure_message().map(String::from),
            tags: tags_of(n.tags()),
        }
    }

    pub async fn nat_gateways_tagged(
        &self,
        owner: &[(&str, String)],
        role: &str,
    ) -> Result<Vec<NatInfo>, StepError> {
        let out = self
            .client
            .describe_nat_gateways()
            .set_filter(Some(role_filters(owner, role)))
            .send()
            .await
            .map_err(|e| aws_error("EC2 DescribeNatGateways", &e))?;
        Ok(out
            .nat_gateways()
            .iter()
            .map(Self::nat_info)
            .filter(|n| carries(&n.tags, owner, Some(role)))
            .collect())
    }

    pub async fn create_nat_gateway(
        &self,
        subnet: &str,
        allocation: &str,
        name: &str,
        owner: &[(&str, String)],
        role: &str,
        token: &str,
    ) -> Result<NatInfo, StepError> {
        let out = self
            .client
            .create_nat_gateway()
            .subnet_id(subnet)
            .allocation_id(allocation)
            .client_token(token)
            .tag_specifications(tag_spec(
                ResourceType::Natgateway,
                name,
                &with_role(owner, role),
            ))
            .send()
            .await
            .map_err(|e| aws_error("EC2 CreateNatGateway", &e))?;
        out.nat_gateway()
            .map(Self::nat_info)
            .ok_or_else(|| StepError::retryable("EC2 CreateNatGateway answered without a gateway"))
    }

    pub async fn route_tables_tagged(
        &self,
        owner: &[(&str, String)],
        role: &str,
    ) -> Result<Vec<RouteTableInfo>, StepError> {
        let out = self
            .client
            .describe_route_tables()
            .set_filters(Some(role_filters(owner, role)))
            .send()
            .await
            .map_err(|e| aws_error("EC2 DescribeRouteTables", &e))?;
        Ok(out
            .route_tables()
            .iter()
            .map(|t| RouteTableInfo {
                id: t.route_table_id().unwrap_or_default().into(),
                default_route: t
                    .routes()
                    .iter()
                    .find(|r| r.destination_cidr_block() == Some("0.0.0.0/0"))
                    .and_then(|r| r.nat_gateway_id().or(r.gateway_id()).map(String::from)),
                associated_subnets: t
                    .associations()
                    .iter()
                    .filter_map(|a| a.subnet_id().map(String::from))
                    .collect(),
                associations: Vec::new(),
                tags: tags_of(t.tags()),
            })
            .collect())
    }

    pub async fn create_route_table(
        &self,
        vpc: &str,
        name: &str,
        owner: &[(&str, String)],
        role: &str,
    ) -> Result<RouteTableInfo, StepError> {
        let tags = with_role(owner, role);
        let out = self
            .client
            .create_route_table()
            .vpc_id(vpc)
            .tag_specifications(tag_spec(ResourceType::RouteTable, name, &tags))
            .send()
            .await
            .map_err(|e| aws_error("EC2 CreateRouteTable", &e))?;
        let id = out
            .route_table()
            .and_then(|t| t.route_table_id())
            .ok_or_else(|| StepError::retryable("EC2 CreateRouteTable answered without a table"))?;
        Ok(RouteTableInfo {
            id: id.into(),
            default_route: None,
            associated_subnets: Vec::new(),
            associations: Vec::new(),
            tags: tags
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
        })
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
            let b = if nat {
                b.nat_gateway_id(target)
            } else {
                b.gateway_id(target)
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
            let b = if nat {
                b.nat_gateway_id(target)
            } else {
                b.gateway_id(target)
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

    pub async fn security_groups_tagged(
        &self,
        owner: &[(&str, String)],
        role: &str,
    ) -> Result<Vec<SecurityGroupInfo>, StepError> {
        let out = self
            .client
            .describe_security_groups()
            .set_filters(Some(role_filters(owner, role)))
            .send()
            .await
            .map_err(|e| aws_error("EC2 DescribeSecurityGroups", &e))?;
        Ok(out.security_groups().iter().map(sg_info).collect())
    }

    pub async fn create_security_group(
        &self,
        vpc: &str,
        name: &str,
        description: &str,
        owner: &[(&str, String)],
        role: &str,
    ) -> Result<String, StepError> {
        let out = self
            .client
            .create_security_group()
            .vpc_id(vpc)
            .group_name(name)
            .description(description)
            .tag_specifications(tag_spec(
                ResourceType::SecurityGroup,
                name,
                &with_role(owner, role),
            ))
            .send()
            .await
            .map_err(|e| aws_error("EC2 CreateSecurityGroup", &e))?;
        out.group_id().map(String::from).ok_or_else(|| {
            StepError::retryable("EC2 CreateSecurityGroup answered without a group id")
        })
    }

    pub async fn authorize_ingress(
        &self,
        group: &str,
        rules: &[crate::network::IngressRule],
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
        match res {
            Ok(_) => Ok(()),
            Err(e) if has_code(&e, &["InvalidPermission.Duplicate"]) => Ok(()),
            Err(e) => Err(aws_error("EC2 AuthorizeSecurityGroupIngress", &e)),
        }
    }

    pub async fn revoke_ingress(
        &self,
        group: &str,
        rules: &[crate::network::IngressRule],
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
        match res {
            Ok(_) => Ok(()),
            Err(e) if has_code(&e, &["InvalidPermission.NotFound"]) => Ok(()),
            Err(e) => Err(aws_error("EC2 RevokeSecurityGroupIngress", &e)),
        }
    }
}

/// Deletions, for teardown. Each treats "already gone" as done.
impl Ec2 {
    async fn gone<T, E: aws_smithy_types::error::metadata::ProvideErrorMetadata>(
        op: &str,
        res: Result<T, E>,
        not_found: &[&str],
    ) -> Result<(), StepError> {
        match res {
            Ok(_) => Ok(()),
            Err(e) if has_code(&e, not_found) => Ok(()),
            Err(e) => Err(aws_error(op, &e)),
        }
    }

    /// Every subnet, internet gateway, route table and security group carrying these tags, whatever its role.
    pub async fn all_tagged(&self, owner: &[(&str, String)]) -> Result<Tagged, StepError> {
        let f = || Some(owner_filters(owner));
        let subnets = self
            .client
            .describe_subnets()
            .set_filters(f())
            .send()
            .await
            .map_err(|e| aws_error("EC2 DescribeSubnets", &e))?;
        let tables = self
            .client
            .describe_route_tables()
            .set_filters(f())
            .send()
            .await
            .map_err(|e| aws_error("EC2 DescribeRouteTables", &e))?;
        let groups = self
            .client
            .describe_security_groups()
            .set_filters(f())
            .send()
            .await
            .map_err(|e| aws_error("EC2 DescribeSecurityGroups", &e))?;
        let nats = self
            .client
            .describe_nat_gateways()
            .set_filter(f())
            .send()
            .await
            .map_err(|e| aws_error("EC2 DescribeNatGateways", &e))?;
        let addresses = self
            .client
            .describe_addresses()
            .set_filters(f())
            .send()
            .await
            .map_err(|e| aws_error("EC2 DescribeAddresses", &e))?;
        Ok(Tagged {
            vpcs: self.vpcs_tagged(owner).await?,
            subnets: subnets
                .subnets()
                .iter()
                .filter_map(|s| s.subnet_id().map(String::from))
                .collect(),
            internet_gateways: self.internet_gateways_tagged(owner).await?,
            route_tables: tables
                .route_tables()
                .iter()
                .map(|t| RouteTableInfo {
                    id: t.route_table_id().unwrap_or_default().into(),
                    default_route: None,
                    associated_subnets: Vec::new(),
                    associations: t
                        .associations()
                        .iter()
                        .filter(|a| !a.main().unwrap_or(false))
                        .filter_map(|a| {
                            Some((
                                a.route_table_association_id()?.to_string(),
                                a.subnet_id().unwrap_or_default().to_string(),
                            ))
                        })
                        .collect(),
                    tags: tags_of(t.tags()),
                })
                .collect(),
            security_groups: groups.security_groups().iter().map(sg_info).collect(),
            nat_gateways: nats
                .nat_gateways()
                .iter()
                .map(Self::nat_info)
                .filter(|n| n.state != "deleted" && carries(&n.tags, owner, None))
                .collect(),
            addresses: addresses
                .addresses()
                .iter()
                .filter_map(|a| a.allocation_id().map(String::from))
                .collect(),
        })
    }

    pub async fn delete_nat_gateway(&self, id: &str) -> Result<(), StepError> {
        Self::gone(
            "EC2 DeleteNatGateway",
            self.client
                .delete_nat_gateway()
                .nat_gateway_id(id)
                .send()
                .await,
            &["NatGatewayNotFound", "InvalidNatGatewayID.NotFound"],
        )
        .await
    }
    pub async fn release_address(&self, allocation: &str) -> Result<(), StepError> {
        Self::gone(
            "EC2 ReleaseAddress",
            self.client
                .release_address()
                .allocation_id(allocation)
                .send()
                .await,
            &["InvalidAllocationID.NotFound"],
        )
        .await
    }
    pub async fn disassociate_route_table(&self, association: &str) -> Result<(), StepError> {
        Self::gone(
            "EC2 DisassociateRouteTable",
            self.client
                .disassociate_route_table()
                .association_id(association)
                .send()
                .await,
            &["InvalidAssociationID.NotFound"],
        )
        .await
    }
    pub async fn delete_route_table(&self, id: &str) -> Result<(), StepError> {
        Self::gone(
            "EC2 DeleteRouteTable",
            self.client
                .delete_route_table()
                .route_table_id(id)
                .send()
                .await,
            &["InvalidRouteTableID.NotFound"],
        )
        .await
    }
    pub async fn delete_subnet(&self, id: &str) -> Result<(), StepError> {
        Self::gone(
            "EC2 DeleteSubnet",
            self.client.delete_subnet().subnet_id(id).send().await,
            &["InvalidSubnetID.NotFound"],
        )
        .await
    }
    pub async fn detach_internet_gateway(&self, igw: &str, vpc: &str) -> Result<(), StepError> {
        Self::gone(
            "EC2 DetachInternetGateway",
            self.client
                .detach_internet_gateway()
                .internet_gateway_id(igw)
                .vpc_id(vpc)
                .send()
                .await,
            &["Gateway.NotAttached", "InvalidInternetGatewayID.NotFound"],
        )
        .await
    }
    pub async fn delete_internet_gateway(&self, igw: &str) -> Result<(), StepError> {
        Self::gone(
            "EC2 DeleteInternetGateway",
            self.client
                .delete_internet_gateway()
                .internet_gateway_id(igw)
                .send()
                .await,
            &["InvalidInternetGatewayID.NotFound"],
        )
        .await
    }
    pub async fn delete_security_group(&self, id: &str) -> Result<(), StepError> {
        Self::gone(
            "EC2 DeleteSecurityGroup",
            self.client
                .delete_security_group()
                .group_id(id)
                .send()
                .await,
            &["InvalidGroup.NotFound"],
        )
        .await
    }
    pub async fn delete_vpc(&self, id: &str) -> Result<(), StepError> {
        Self::gone(
            "EC2 DeleteVpc",
            self.client.delete_vpc().vpc_id(id).send().await,
            &["InvalidVpcID.NotFound"],
        )
        .await
    }
}

/// Everything of the network that carries an environment's tags.
#[derive(Debug, Clone, Default)]
pub struct Tagged {
    pub vpcs: Vec<VpcInfo>,
    pub subnets: Vec<String>,
    pub internet_gateways: Vec<GatewayInfo>,
    pub route_tables: Vec<RouteTableInfo>,
    pub security_groups: Vec<SecurityGroupInfo>,
    pub nat_gateways: Vec<NatInfo>,
    pub addresses: Vec<String>,
}
