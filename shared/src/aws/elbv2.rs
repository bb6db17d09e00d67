//! Elastic Load Balancing v2: the application load balancer, its target group and listener.

use std::collections::BTreeMap;

use aws_sdk_elasticloadbalancingv2::types::{
    Action, ActionTypeEnum, LoadBalancerSchemeEnum, LoadBalancerTypeEnum, Matcher, ProtocolEnum,
    Tag, TargetTypeEnum,
};
use aws_sdk_elasticloadbalancingv2::Client;

use super::{aws_error, has_code};
use crate::error::StepError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetGroupInfo {
    pub arn: String,
    pub port: i32,
    pub vpc_id: String,
    pub target_type: String,
    pub health_check: HealthCheck,
}

/// The target group's health check, compared as a whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthCheck {
    pub path: String,
    pub interval_seconds: i32,
    pub healthy_threshold: i32,
    pub unhealthy_threshold: i32,
    pub matcher: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadBalancerInfo {
    pub arn: String,
    pub dns_name: String,
    pub state: String,
    pub vpc_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenerInfo {
    pub arn: String,
    pub port: i32,
    pub target_group: Option<String>,
}

fn tags(tags: &[(&str, String)]) -> Vec<Tag> {
    tags.iter()
        .map(|(k, v)| Tag::builder().key(*k).value(v).build())
        .collect()
}

fn forward(target_group: &str) -> Action {
    Action::builder()
        .r#type(ActionTypeEnum::Forward)
        .target_group_arn(target_group)
        .build()
}

#[derive(Clone, Debug)]
pub struct Elb {
    client: Client,
}

impl Elb {
    pub fn new(config: &aws_config::SdkConfig) -> Elb {
        Elb {
            client: Client::new(config),
        }
    }

    pub async fn tags_of(&self, arn: &str) -> Result<BTreeMap<String, String>, StepError> {
        let out = self
            .client
            .describe_tags()
            .resource_arns(arn)
            .send()
            .await
            .map_err(|e| aws_error("ELB DescribeTags", &e))?;
        Ok(out
            .tag_descriptions()
            .iter()
            .flat_map(|d| d.tags())
            .filter_map(|t| {
                Some((
                    t.key()?.to_string(),
                    t.value().unwrap_or_default().to_string(),
                ))
            })
            .collect())
    }

    pub async fn target_group(&self, name: &str) -> Result<Option<TargetGroupInfo>, StepError> {
        match self
            .client
            .describe_target_groups()
            .names(name)
            .send()
            .await
        {
            Ok(out) => Ok(out.target_groups().first().map(|t| TargetGroupInfo {
                arn: t.target_group_arn().unwrap_or_default().into(),
                port: t.port().unwrap_or_default(),
                vpc_id: t.vpc_id().unwrap_or_default().into(),
                target_type: t
                    .target_type()
                    .map(|x| x.as_str().to_string())
                    .unwrap_or_default(),
                health_check: HealthCheck {
                    path: t.health_check_path().unwrap_or_default().into(),
                    interval_seconds: t.health_check_interval_seconds().unwrap_or_default(),
                    healthy_threshold: t.healthy_threshold_count().unwrap_or_default(),
                    unhealthy_threshold: t.unhealthy_threshold_count().unwrap_or_default(),
                    matcher: t
                        .matcher()
                        .and_then(|m| m.http_code())
                        .unwrap_or_default()
                        .into(),
                },
            })),
            Err(e) if has_code(&e, &["TargetGroupNotFound"]) => Ok(None),
            Err(e) => Err(aws_error("ELB DescribeTargetGroups", &e)),
        }
    }

    pub async fn create_target_group(
        &self,
        name: &str,
        vpc: &str,
        port: i32,
        hc: &HealthCheck,
        tag_list: &[(&str, String)],
    ) -> Result<String, StepError> {
        let out = self
            .client
            .create_target_group()
            .name(name)
            .protocol(ProtocolEnum::Http)
            .port(port)
            .vpc_id(vpc)
            .target_type(TargetTypeEnum::Ip)
            .health_check_enabled(true)
            .health_check_protocol(ProtocolEnum::Http)
            .health_check_path(&hc.path)
            .health_check_interval_seconds(hc.interval_seconds)
            .healthy_threshold_count(hc.healthy_threshold)
            .unhealthy_threshold_count(hc.unhealthy_threshold)
            .matcher(Matcher::builder().http_code(&hc.matcher).build())
            .set_tags(Some(tags(tag_list)))
            .send()
            .await
            .map_err(|e| aws_error("ELB CreateTargetGroup", &e))?;
        out.target_groups()
            .first()
            .and_then(|t| t.target_group_arn())
            .map(String::from)
            .ok_or_else(|| {
                StepError::retryable("ELB CreateTargetGroup answered without a target group")
            })
    }

    pub async fn modify_health_check(&self, arn: &str, hc: &HealthCheck) -> Result<(), StepError> {
        self.client
            .modify_target_group()
            .target_group_arn(arn)
            .health_check_path(&hc.path)
            .health_check_interval_seconds(hc.interval_seconds)
            .healthy_threshold_count(hc.healthy_threshold)
            .unhealthy_threshold_count(hc.unhealthy_threshold)
            .matcher(Matcher::builder().http_code(&hc.matcher).build())
            .send()
            .await
            .map_err(|e| aws_error("ELB ModifyTargetGroup", &e))?;
        Ok(())
    }

    pub async fn load_balancer(&self, name: &str) -> Result<Option<LoadBalancerInfo>, StepError> {
        match self
            .client
            .describe_load_balancers()
            .names(name)
            .send()
            .await
        {
            Ok(out) => Ok(out.load_balancers().first().map(|l| LoadBalancerInfo {
                arn: l.load_balancer_arn().unwrap_or_default().into(),
                dns_name: l.dns_name().unwrap_or_default().into(),
                state: l
                    .state()
                    .and_then(|s| s.code())
                    .map(|c| c.as_str().to_string())
                    .unwrap_or_default(),
                vpc_id: l.vpc_id().unwrap_or_default().into(),
            })),
            Err(e) if has_code(&e, &["LoadBalancerNotFound"]) => Ok(None),
            Err(e) => Err(aws_error("ELB DescribeLoadBalancers", &e)),
        }
    }

    pub async fn create_load_balancer(
        &self,
        name: &str,
        subnets: &[String],
        security_group: &str,
        tag_list: &[(&str, String)],
    ) -> Result<LoadBalancerInfo, StepError> {
        let out = self
            .client
            .create_load_balancer()
            .name(name)
            .r#type(LoadBalancerTypeEnum::Application)
            .scheme(LoadBalancerSchemeEnum::InternetFacing)
            .set_subnets(Some(subnets.to_vec()))
            .security_groups(security_group)
            .set_tags(Some(tags(tag_list)))
            .send()
            .await
            .map_err(|e| aws_error("ELB CreateLoadBalancer", &e))?;
        let l = out.load_balancers().first().ok_or_else(|| {
            StepError::retryable("ELB CreateLoadBalancer answered without a load balancer")
        })?;
        Ok(LoadBalancerInfo {
            arn: l.load_balancer_arn().unwrap_or_default().into(),
            dns_name: l.dns_name().unwrap_or_default().into(),
            state: l
                .state()
                .and_then(|s| s.code())
                .map(|c| c.as_str().to_string())
                .unwrap_or_default(),
            vpc_id: l.vpc_id().unwrap_or_default().into(),
        })
    }

    pub async fn listeners(&self, load_balancer: &str) -> Result<Vec<ListenerInfo>, StepError> {
        let out = self
            .client
            .describe_listeners()
            .load_balancer_arn(load_balancer)
            .send()
            .await
            .map_err(|e| aws_error("ELB DescribeListeners", &e))?;
        Ok(out
            .listeners()
            .iter()
            .map(|l| ListenerInfo {
                arn: l.listener_arn().unwrap_or_default().into(),
                port: l.port().unwrap_or_default(),
                target_group: l.default_actions().iter().find_map(|a| {
                    a.target_group_arn().map(String::from).or_else(|| {
                        a.forward_config()
                            .and_then(|f| f.target_groups().first())
                            .and_then(|t| t.target_group_arn())
                            .map(String::from)
                    })
                }),
            })
            .collect())
    }

    pub async fn create_listener(
        &self,
        load_balancer: &str,
        target_group: &str,
        tag_list: &[(&str, String)],
    ) -> Result<String, StepError> {
        let out = self
            .client
            .create_listener()
            .load_balancer_arn(load_balancer)
            .protocol(ProtocolEnum::Http)
            .port(80)
            .default_actions(forward(target_group))
            .set_tags(Some(tags(tag_list)))
            .send()
            .await
            .map_err(|e| aws_error("ELB CreateListener", &e))?;
        out.listeners()
            .first()
            .and_then(|l| l.listener_arn())
            .map(String::from)
            .ok_or_else(|| StepError::retryable("ELB CreateListener answered without a listener"))
    }

    pub async fn point_listener(
        &self,
        listener: &str,
        target_group: &str,
    ) -> Result<(), StepError> {
        self.client
            .modify_listener()
            .listener_arn(listener)
            .default_actions(forward(target_group))
            .send()
            .await
            .map_err(|e| aws_error("ELB ModifyListener", &e))?;
        Ok(())
    }
}

/// Deletions, for teardown. Each treats "already gone" as done.
impl Elb {
    pub async fn delete_listener(&self, arn: &str) -> Result<(), StepError> {
        match self.client.delete_listener().listener_arn(arn).send().await {
            Ok(_) => Ok(()),
            Err(e) if has_code(&e, &["ListenerNotFound"]) => Ok(()),
            Err(e) => Err(aws_error("ELB DeleteListener", &e)),
        }
    }
    pub async fn delete_load_balancer(&self, arn: &str) -> Result<(), StepError> {
        match self
            .client
            .delete_load_balancer()
            .load_balancer_arn(arn)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if has_code(&e, &["LoadBalancerNotFound"]) => Ok(()),
            Err(e) => Err(aws_error("ELB DeleteLoadBalancer", &e)),
        }
    }
    pub async fn delete_target_group(&self, arn: &str) -> Result<(), StepError> {
        match self
            .client
            .delete_target_group()
            .target_group_arn(arn)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if has_code(&e, &["TargetGroupNotFound"]) => Ok(()),
            Err(e) => Err(aws_error("ELB DeleteTargetGroup", &e)),
        }
    }
}
