//! ECS: the cluster, the task definition and the service.

use std::collections::BTreeMap;

use aws_sdk_ecs::types::{
    AssignPublicIp, AwsVpcConfiguration, ClusterField, Compatibility, ContainerDefinition,
    DeploymentCircuitBreaker, DeploymentConfiguration, KeyValuePair, LaunchType, LoadBalancer,
    LogConfiguration, LogDriver, NetworkConfiguration, NetworkMode, PortMapping, PropagateTags,
    Secret, ServiceField, Tag, TransportProtocol,
};
use aws_sdk_ecs::Client;

use super::{aws_error, has_code};
use crate::error::StepError;
use crate::taskdef::TaskSpec;

fn tags(tags: &[(&str, String)]) -> Vec<Tag> {
    tags.iter()
        .map(|(k, v)| Tag::builder().key(*k).value(v).build())
        .collect()
}

fn tag_map(tags: &[Tag]) -> BTreeMap<String, String> {
    tags.iter()
        .filter_map(|t| Some((t.key()?.to_string(), t.value()?.to_string())))
        .collect()
}

pub use crate::resources::cluster::Observed as ClusterInfo;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeploymentInfo {
    pub status: String,
    pub task_definition: String,
    pub rollout_state: String,
    pub rollout_reason: String,
    pub running: i32,
    pub desired: i32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceInfo {
    pub arn: String,
    pub status: String,
    pub task_definition: String,
    pub desired: i32,
    pub running: i32,
    pub deployments: Vec<DeploymentInfo>,
    /// The newest service events, newest first.
    pub events: Vec<String>,
    pub tags: BTreeMap<String, String>,
}

/// What the service runs and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServicePlan<'a> {
    pub cluster: &'a str,
    pub name: &'a str,
    pub task_definition: &'a str,
    pub desired: i32,
    pub subnets: &'a [String],
    pub security_group: &'a str,
    pub target_group: &'a str,
    pub container_name: &'a str,
    pub container_port: i32,
}

fn task_spec_of(td: &aws_sdk_ecs::types::TaskDefinition) -> Option<TaskSpec> {
    let c = td.container_definitions().first()?;
    let mut environment: Vec<(String, String)> = c
        .environment()
        .iter()
        .filter_map(|kv| Some((kv.name()?.to_string(), kv.value()?.to_string())))
        .collect();
    environment.sort();
    let mut secrets: Vec<(String, String)> = c
        .secrets()
        .iter()
        .map(|s| (s.name().to_string(), s.value_from().to_string()))
        .collect();
    secrets.sort();
    let log = c.log_configuration();
    let opt = |k: &str| {
        log.and_then(|l| l.options())
            .and_then(|o| o.get(k))
            .cloned()
            .unwrap_or_default()
    };
    Some(TaskSpec {
        family: td.family().unwrap_or_default().into(),
        cpu: td.cpu().unwrap_or_default().into(),
        memory: td.memory().unwrap_or_default().into(),
        execution_role_arn: td.execution_role_arn().unwrap_or_default().into(),
        container_name: c.name().unwrap_or_default().into(),
        image: c.image().unwrap_or_default().into(),
        port: c
            .port_mappings()
            .first()
            .and_then(|p| p.container_port())
            .unwrap_or_default() as u16,
        environment,
        secrets,
        log_group: opt("awslogs-group"),
        log_region: opt("awslogs-region"),
        log_prefix: opt("awslogs-stream-prefix"),
    })
}

#[derive(Clone, Debug)]
pub struct Ecs {
    client: Client,
}

impl Ecs {
    /// A wrapper over a client built elsewhere (tests use mock clients).
    pub fn from_client(client: Client) -> Ecs {
        Ecs { client }
    }

    pub fn new(config: &aws_config::SdkConfig) -> Ecs {
        Ecs {
            client: Client::new(config),
        }
    }

    pub async fn cluster(&self, name: &str) -> Result<Option<ClusterInfo>, StepError> {
        let out = self
            .client
            .describe_clusters()
            .clusters(name)
            .include(ClusterField::Tags)
            .send()
            .await
            .map_err(|e| aws_error("ECS DescribeClusters", &e))?;
        Ok(out
            .clusters()
            .iter()
            .find(|c| c.status() != Some("INACTIVE"))
            .map(|c| ClusterInfo {
                arn: c.cluster_arn().unwrap_or_default().into(),
                status: c.status().unwrap_or_default().into(),
                tags: tag_map(c.tags()),
            }))
    }

    pub async fn create_cluster(
        &self,
        name: &str,
        tag_list: &[(&str, String)],
    ) -> Result<String, StepError> {
        let out = self
            .client
            .create_cluster()
            .cluster_name(name)
            .set_tags(Some(tags(tag_list)))
            .send()
            .await
            .map_err(|e| aws_error("ECS CreateCluster", &e))?;
        out.cluster()
            .and_then(|c| c.cluster_arn())
            .map(String::from)
            .ok_or_else(|| StepError::retryable("ECS CreateCluster answered without a cluster"))
    }

    /// The newest active revision of `family`, with what it runs.
    pub async fn latest_task_definition(
        &self,
        family: &str,
    ) -> Result<Option<(String, TaskSpec)>, StepError> {
        match self
            .client
            .describe_task_definition()
            .task_definition(family)
            .send()
            .await
        {
            Ok(out) => Ok(out
                .task_definition()
                .and_then(|td| Some((td.task_definition_arn()?.to_string(), task_spec_of(td)?)))),
            Err(e) if has_code(&e, &["ClientException"]) => Ok(None),
            Err(e) => Err(aws_error("ECS DescribeTaskDefinition", &e)),
        }
    }

    pub async fn register_task_definition(
        &self,
        spec: &TaskSpec,
        tag_list: &[(&str, String)],
    ) -> Result<String, StepError> {
        let log = LogConfiguration::builder()
            .log_driver(LogDriver::Awslogs)
            .options("awslogs-group", &spec.log_group)
            .options("awslogs-region", &spec.log_region)
            .options("awslogs-stream-prefix", &spec.log_prefix)
            .build()
            .map_err(|e| StepError::fatal(format!("log configuration: {e}")))?;
        let mut container = ContainerDefinition::builder()
            .name(&spec.container_name)
            .image(&spec.image)
            .essential(true)
            .port_mappings(
                PortMapping::builder()
                    .container_port(i32::from(spec.port))
                    .protocol(TransportProtocol::Tcp)
                    .build(),
            )
            .log_configuration(log);
        for (k, v) in &spec.environment {
            container = container.environment(KeyValuePair::builder().name(k).value(v).build());
        }
        for (k, v) in &spec.secrets {
            container = container.secrets(
                Secret::builder()
                    .name(k)
                    .value_from(v)
                    .build()
                    .map_err(|e| StepError::fatal(format!("secret {k}: {e}")))?,
            );
        }
        let out = self
            .client
            .register_task_definition()
            .family(&spec.family)
            .cpu(&spec.cpu)
            .memory(&spec.memory)
            .network_mode(NetworkMode::Awsvpc)
            .requires_compatibilities(Compatibility::Fargate)
            .execution_role_arn(&spec.execution_role_arn)
            .container_definitions(container.build())
            .set_tags(Some(tags(tag_list)))
            .send()
            .await
            .map_err(|e| aws_error("ECS RegisterTaskDefinition", &e))?;
        out.task_definition()
            .and_then(|t| t.task_definition_arn())
            .map(String::from)
            .ok_or_else(|| {
                StepError::retryable(
                    "ECS RegisterTaskDefinition answered without a task definition",
                )
            })
    }

    pub async fn service(
        &self,
        cluster: &str,
        name: &str,
    ) -> Result<Option<ServiceInfo>, StepError> {
        let res = self
            .client
            .describe_services()
            .cluster(cluster)
            .services(name)
            .include(ServiceField::Tags)
            .send()
            .await;
        let out = match res {
            Ok(out) => out,
            Err(e) if has_code(&e, &["ClusterNotFoundException"]) => return Ok(None),
            Err(e) => return Err(aws_error("ECS DescribeServices", &e)),
        };
        Ok(out
            .services()
            .iter()
            .find(|s| s.status() != Some("INACTIVE"))
            .map(|s| ServiceInfo {
                arn: s.service_arn().unwrap_or_default().into(),
                status: s.status().unwrap_or_default().into(),
                task_definition: s.task_definition().unwrap_or_default().into(),
                desired: s.desired_count(),
                running: s.running_count(),
                deployments: s
                    .deployments()
                    .iter()
                    .map(|d| DeploymentInfo {
                        status: d.status().unwrap_or_default().into(),
                        task_definition: d.task_definition().unwrap_or_default().into(),
                        rollout_state: d
                            .rollout_state()
                            .map(|r| r.as_str().to_string())
                            .unwrap_or_default(),
                        rollout_reason: d.rollout_state_reason().unwrap_or_default().into(),
                        running: d.running_count(),
                        desired: d.desired_count(),
                    })
                    .collect(),
                events: s
                    .events()
                    .iter()
                    .take(5)
                    .filter_map(|e| e.message().map(String::from))
                    .collect(),
                tags: tag_map(s.tags()),
            }))
    }

    pub async fn create_service(
        &self,
        plan: &ServicePlan<'_>,
        tag_list: &[(&str, String)],
    ) -> Result<String, StepError> {
        let network = NetworkConfiguration::builder()
            .awsvpc_configuration(
                AwsVpcConfiguration::builder()
                    .set_subnets(Some(plan.subnets.to_vec()))
                    .security_groups(plan.security_group)
                    .assign_public_ip(AssignPublicIp::Disabled)
                    .build()
                    .map_err(|e| StepError::fatal(format!("network configuration: {e}")))?,
            )
            .build();
        let out = self
            .client
            .create_service()
            .cluster(plan.cluster)
            .service_name(plan.name)
            .task_definition(plan.task_definition)
            .desired_count(plan.desired)
            .launch_type(LaunchType::Fargate)
            .network_configuration(network)
            .load_balancers(
                LoadBalancer::builder()
                    .target_group_arn(plan.target_group)
                    .container_name(plan.container_name)
                    .container_port(plan.container_port)
                    .build(),
            )
            .health_check_grace_period_seconds(60)
            .deployment_configuration(
                DeploymentConfiguration::builder()
                    .deployment_circuit_breaker(
                        DeploymentCircuitBreaker::builder()
                            .enable(true)
                            .rollback(true)
                            .build(),
                    )
                    .maximum_percent(200)
                    .minimum_healthy_percent(100)
                    .build(),
            )
            .propagate_tags(PropagateTags::Service)
            .enable_ecs_managed_tags(true)
            .set_tags(Some(tags(tag_list)))
            .send()
            .await
            .map_err(|e| aws_error("ECS CreateService", &e))?;
        out.service()
            .and_then(|s| s.service_arn())
            .map(String::from)
            .ok_or_else(|| StepError::retryable("ECS CreateService answered without a service"))
    }

    pub async fn update_service(
        &self,
        cluster: &str,
        name: &str,
        task_definition: &str,
        desired: i32,
    ) -> Result<(), StepError> {
        self.client
            .update_service()
            .cluster(cluster)
            .service(name)
            .task_definition(task_definition)
            .desired_count(desired)
            .send()
            .await
            .map_err(|e| aws_error("ECS UpdateService", &e))?;
        Ok(())
    }
}

/// Deletions, for teardown. Each treats "already gone" as done.
impl Ecs {
    pub async fn scale_to_zero(&self, cluster: &str, service: &str) -> Result<(), StepError> {
        self.client
            .update_service()
            .cluster(cluster)
            .service(service)
            .desired_count(0)
            .send()
            .await
            .map_err(|e| aws_error("ECS UpdateService", &e))?;
        Ok(())
    }

    pub async fn delete_service(&self, cluster: &str, service: &str) -> Result<(), StepError> {
        match self
            .client
            .delete_service()
            .cluster(cluster)
            .service(service)
            .force(true)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e)
                if has_code(
                    &e,
                    &[
                        "ServiceNotFoundException",
                        "ServiceNotActiveException",
                        "ClusterNotFoundException",
                    ],
                ) =>
            {
                Ok(())
            }
            Err(e) => Err(aws_error("ECS DeleteService", &e)),
        }
    }

    pub async fn delete_cluster(&self, cluster: &str) -> Result<(), StepError> {
        match self.client.delete_cluster().cluster(cluster).send().await {
            Ok(_) => Ok(()),
            Err(e) if has_code(&e, &["ClusterNotFoundException"]) => Ok(()),
            Err(e) => Err(aws_error("ECS DeleteCluster", &e)),
        }
    }

    /// The active revisions of a family, with their tags.
    pub async fn task_definitions(
        &self,
        family: &str,
    ) -> Result<Vec<(String, BTreeMap<String, String>)>, StepError> {
        let out = self
            .client
            .list_task_definitions()
            .family_prefix(family)
            .send()
            .await
            .map_err(|e| aws_error("ECS ListTaskDefinitions", &e))?;
        let mut found = Vec::new();
        for arn in out.task_definition_arns() {
            let family_of = arn
                .rsplit('/')
                .next()
                .and_then(|x| x.split(':').next())
                .unwrap_or_default();
            if family_of != family {
                continue;
            }
            let td = self
                .client
                .describe_task_definition()
                .task_definition(arn)
                .include(aws_sdk_ecs::types::TaskDefinitionField::Tags)
                .send()
                .await
                .map_err(|e| aws_error("ECS DescribeTaskDefinition", &e))?;
            found.push((arn.clone(), tag_map(td.tags())));
        }
        Ok(found)
    }

    pub async fn deregister_task_definition(&self, arn: &str) -> Result<(), StepError> {
        match self
            .client
            .deregister_task_definition()
            .task_definition(arn)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if has_code(&e, &["ClientException"]) => Ok(()),
            Err(e) => Err(aws_error("ECS DeregisterTaskDefinition", &e)),
        }
    }
}
