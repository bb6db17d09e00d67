//! Elastic Load Balancing v2: the application load balancer, its target
//! group and listener. One method per call; the domain types are the
//! resource modules' ([`target_group`], [`load_balancer`], [`listener`]).

use aws_sdk_elasticloadbalancingv2::types::{
    Action, ActionTypeEnum, Listener, LoadBalancer, LoadBalancerSchemeEnum, LoadBalancerTypeEnum,
    Matcher, ProtocolEnum, Tag, TargetGroup, TargetGroupAttribute, TargetTypeEnum,
};
use aws_sdk_elasticloadbalancingv2::Client;

use super::{aws_error, or_gone};
use crate::error::StepError;
use crate::model::target_group::HealthCheck;
use crate::model::{listener, load_balancer, target_group};
use crate::owner::Tags;

const TARGET_GROUP_NOT_FOUND: &[&str] = &["TargetGroupNotFound"];
const LOAD_BALANCER_NOT_FOUND: &[&str] = &["LoadBalancerNotFound"];
const LISTENER_NOT_FOUND: &[&str] = &["ListenerNotFound"];

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

/// A target group as the domain sees it (its tags are another call).
fn target_group(t: &TargetGroup) -> target_group::Observed {
    target_group::Observed {
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
        // Read with its attributes (`Elb::target_group_attribute`).
        drain_seconds: target_group::AWS_DEFAULT_DRAIN_SECONDS,
        tags: Tags::new(),
    }
}

/// A load balancer as the domain sees it (its tags are another call).
fn load_balancer(l: &LoadBalancer) -> load_balancer::Observed {
    load_balancer::Observed {
        arn: l.load_balancer_arn().unwrap_or_default().into(),
        dns_name: l.dns_name().unwrap_or_default().into(),
        state: l
            .state()
            .and_then(|s| s.code())
            .map(|c| c.as_str().to_string())
            .unwrap_or_default(),
        tags: Tags::new(),
    }
}

/// A listener as the domain sees it. A listener made with a `ForwardConfig`
/// names its target group only there.
fn listener(l: &Listener) -> listener::Observed {
    listener::Observed {
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
    }
}

#[derive(Clone, Debug)]
pub struct Elb {
    client: Client,
}

impl Elb {
    /// A wrapper over a client built elsewhere (tests use mock clients).
    pub fn from_client(client: Client) -> Elb {
        Elb { client }
    }

    pub fn new(config: &aws_config::SdkConfig) -> Elb {
        Elb {
            client: Client::new(config),
        }
    }

    pub async fn tags_of(&self, arn: &str) -> Result<Tags, StepError> {
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

    /// The target group named `name`, without its tags ([`Elb::tags_of`]).
    pub async fn target_group(
        &self,
        name: &str,
    ) -> Result<Option<target_group::Observed>, StepError> {
        let res = self
            .client
            .describe_target_groups()
            .names(name)
            .send()
            .await;
        let out = or_gone("ELB DescribeTargetGroups", res, TARGET_GROUP_NOT_FOUND)?;
        Ok(out.and_then(|o| o.target_groups().first().map(target_group)))
    }

    /// Create the target group; answer its ARN.
    pub async fn create_target_group(
        &self,
        wanted: &target_group::Wanted,
        tag_list: &[(&str, String)],
    ) -> Result<String, StepError> {
        let hc = &wanted.health_check;
        let out = self
            .client
            .create_target_group()
            .name(&wanted.name)
            .protocol(ProtocolEnum::Http)
            .port(wanted.port)
            .vpc_id(&wanted.vpc_id)
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

    /// How many Application Load Balancers the region has.
    pub async fn application_load_balancer_count(&self) -> Result<usize, StepError> {
        let all: Vec<LoadBalancer> = self
            .client
            .describe_load_balancers()
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| aws_error("ELB DescribeLoadBalancers", &e))?;
        Ok(all
            .iter()
            .filter(|l| l.r#type() == Some(&LoadBalancerTypeEnum::Application))
            .count())
    }

    /// What the target group's health checks say about each registered target.
    pub async fn target_health(
        &self,
        arn: &str,
    ) -> Result<Vec<crate::diagnosis::TargetVerdict>, StepError> {
        let out = self
            .client
            .describe_target_health()
            .target_group_arn(arn)
            .send()
            .await
            .map_err(|e| aws_error("ELB DescribeTargetHealth", &e))?;
        Ok(out
            .target_health_descriptions()
            .iter()
            .map(|d| {
                let h = d.target_health();
                crate::diagnosis::TargetVerdict {
                    ip: d.target().and_then(|t| t.id()).unwrap_or_default().into(),
                    state: h
                        .and_then(|h| h.state())
                        .map(|s| s.as_str())
                        .unwrap_or_default()
                        .into(),
                    reason: h
                        .and_then(|h| h.reason())
                        .map(|r| r.as_str())
                        .unwrap_or_default()
                        .into(),
                    description: h.and_then(|h| h.description()).unwrap_or_default().into(),
                }
            })
            .collect())
    }

    /// One attribute of a target group (`None` when ELB lists no such key).
    pub async fn target_group_attribute(
        &self,
        arn: &str,
        key: &str,
    ) -> Result<Option<String>, StepError> {
        let out = self
            .client
            .describe_target_group_attributes()
            .target_group_arn(arn)
            .send()
            .await
            .map_err(|e| aws_error("ELB DescribeTargetGroupAttributes", &e))?;
        Ok(out
            .attributes()
            .iter()
            .find(|a| a.key() == Some(key))
            .and_then(|a| a.value().map(String::from)))
    }

    pub async fn set_target_group_attribute(
        &self,
        arn: &str,
        key: &str,
        value: &str,
    ) -> Result<(), StepError> {
        self.client
            .modify_target_group_attributes()
            .target_group_arn(arn)
            .attributes(
                TargetGroupAttribute::builder()
                    .key(key)
                    .value(value)
                    .build(),
            )
            .send()
            .await
            .map_err(|e| aws_error("ELB ModifyTargetGroupAttributes", &e))?;
        Ok(())
    }

    /// The load balancer named `name`, without its tags ([`Elb::tags_of`]).
    pub async fn load_balancer(
        &self,
        name: &str,
    ) -> Result<Option<load_balancer::Observed>, StepError> {
        let res = self
            .client
            .describe_load_balancers()
            .names(name)
            .send()
            .await;
        let out = or_gone("ELB DescribeLoadBalancers", res, LOAD_BALANCER_NOT_FOUND)?;
        Ok(out.and_then(|o| o.load_balancers().first().map(load_balancer)))
    }

    /// Create the load balancer; answer it as ELB does (provisioning, untagged).
    pub async fn create_load_balancer(
        &self,
        wanted: &load_balancer::Wanted,
        tag_list: &[(&str, String)],
    ) -> Result<load_balancer::Observed, StepError> {
        let out = self
            .client
            .create_load_balancer()
            .name(&wanted.name)
            .r#type(LoadBalancerTypeEnum::Application)
            .scheme(LoadBalancerSchemeEnum::InternetFacing)
            .set_subnets(Some(wanted.subnets.clone()))
            .security_groups(&wanted.security_group)
            .set_tags(Some(tags(tag_list)))
            .send()
            .await
            .map_err(|e| aws_error("ELB CreateLoadBalancer", &e))?;
        out.load_balancers()
            .first()
            .map(load_balancer)
            .ok_or_else(|| {
                StepError::retryable("ELB CreateLoadBalancer answered without a load balancer")
            })
    }

    /// Every listener of the load balancer (all pages: DescribeListeners
    /// pages with a marker, and a load balancer may carry up to 50 listeners).
    pub async fn listeners(
        &self,
        load_balancer: &str,
    ) -> Result<Vec<listener::Observed>, StepError> {
        let found: Vec<Listener> = self
            .client
            .describe_listeners()
            .load_balancer_arn(load_balancer)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| aws_error("ELB DescribeListeners", &e))?;
        Ok(found.iter().map(listener).collect())
    }

    /// An HTTP listener on port 80 forwarding to `target_group`; answer its ARN.
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
            .port(listener::PORT)
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

    /// Make a listener forward to `target_group`.
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
        let res = self.client.delete_listener().listener_arn(arn).send().await;
        or_gone("ELB DeleteListener", res, LISTENER_NOT_FOUND).map(|_| ())
    }

    pub async fn delete_load_balancer(&self, arn: &str) -> Result<(), StepError> {
        let res = self
            .client
            .delete_load_balancer()
            .load_balancer_arn(arn)
            .send()
            .await;
        or_gone("ELB DeleteLoadBalancer", res, LOAD_BALANCER_NOT_FOUND).map(|_| ())
    }

    pub async fn delete_target_group(&self, arn: &str) -> Result<(), StepError> {
        let res = self
            .client
            .delete_target_group()
            .target_group_arn(arn)
            .send()
            .await;
        or_gone("ELB DeleteTargetGroup", res, TARGET_GROUP_NOT_FOUND).map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_elasticloadbalancingv2::operation::describe_listeners::DescribeListenersOutput;
    use aws_smithy_mocks::{mock, mock_client, RuleMode};

    const LB: &str =
        "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/bank-production/1";

    fn on_port(port: i32) -> Listener {
        Listener::builder()
            .listener_arn(format!("{LB}/listener-{port}"))
            .port(port)
            .build()
    }

    #[tokio::test]
    async fn every_page_of_listeners_is_read() {
        let first = mock!(Client::describe_listeners)
            .match_requests(|r| r.load_balancer_arn() == Some(LB) && r.marker().is_none())
            .then_output(|| {
                DescribeListenersOutput::builder()
                    .listeners(on_port(443))
                    .next_marker("page-2")
                    .build()
            });
        let second = mock!(Client::describe_listeners)
            .match_requests(|r| r.marker() == Some("page-2"))
            .then_output(|| {
                DescribeListenersOutput::builder()
                    .listeners(on_port(80))
                    .build()
            });
        let elb = Elb::from_client(mock_client!(
            aws_sdk_elasticloadbalancingv2,
            RuleMode::MatchAny,
            [&first, &second]
        ));

        let found = elb.listeners(LB).await.unwrap();

        let ports: Vec<i32> = found.iter().map(|l| l.port).collect();
        assert_eq!(ports, [443, 80]);
        assert_eq!((first.num_calls(), second.num_calls()), (1, 1));
    }
}
