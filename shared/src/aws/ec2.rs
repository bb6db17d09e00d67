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
