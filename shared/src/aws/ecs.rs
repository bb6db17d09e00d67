//! ECS: the cluster, the task definition and the service, one method per
//! call; each AWS type converts to its domain type in one place.

use aws_sdk_ecs::types::{
    AssignPublicIp, AwsVpcConfiguration, ClusterField, Compatibility, ContainerDefinition,
    DeploymentCircuitBreaker, DeploymentConfiguration, KeyValuePair, LaunchType, LoadBalancer,
    LogConfiguration, LogDriver, NetworkConfiguration, NetworkMode, PortMapping, PropagateTags,
    Secret, ServiceField, Tag, TaskDefinitionField, TransportProtocol,
};
use aws_sdk_ecs::Client;

use super::{aws_error, or_gone};
use crate::diagnosis::{ContainerStop, StoppedTask};
use crate::error::StepError;
use crate::model::task_definition::TaskSpec;
use crate::model::{cluster, release_task, service, task_definition};
use crate::owner::Tags;

fn stopped_task(t: &aws_sdk_ecs::types::Task) -> StoppedTask {
    let ip = t
        .attachments()
        .iter()
        .flat_map(|a| a.details())
        .find(|d| d.name() == Some("privateIPv4Address"))
        .and_then(|d| d.value())
        .unwrap_or_default();
    StoppedTask {
        id: t
            .task_arn()
            .and_then(|a| a.rsplit('/').next())
            .unwrap_or_default()
            .into(),
        task_definition: t.task_definition_arn().unwrap_or_default().into(),
        stopped_reason: t.stopped_reason().unwrap_or_default().into(),
        stop_code: t.stop_code().map(|c| c.as_str()).unwrap_or_default().into(),
        containers: t
            .containers()
            .iter()
            .map(|c| ContainerStop {
                name: c.name().unwrap_or_default().into(),
                exit_code: c.exit_code(),
                reason: c.reason().unwrap_or_default().into(),
            })
            .collect(),
        ip: ip.into(),
    }
}

/// Tasks in the private subnets, behind their security group, with no public IP.
fn private_network(
    subnets: &[String],
    security_group: &str,
) -> Result<NetworkConfiguration, StepError> {
    let vpc = AwsVpcConfiguration::builder()
        .set_subnets(Some(subnets.to_vec()))
        .security_groups(security_group)
        .assign_public_ip(AssignPublicIp::Disabled)
        .build()
        .map_err(|e| StepError::fatal(format!("network configuration: {e}")))?;
    Ok(NetworkConfiguration::builder()
        .awsvpc_configuration(vpc)
        .build())
}

/// The most stopped tasks a diagnosis lists (ten pages).
const STOPPED_READ: usize = 1000;

/// ECS's answer when a cluster does not exist.
const NO_CLUSTER: &[&str] = &["ClusterNotFoundException"];
/// ECS's answer when a service is gone (or its cluster is).
const NO_SERVICE: &[&str] = &[
    "ServiceNotFoundException",
    "ServiceNotActiveException",
    "ClusterNotFoundException",
];
/// ECS's answer to a task definition (family or revision) it does not know:
/// it has no code of its own for that.
const NO_TASK_DEFINITION: &[&str] = &["ClientException"];

fn tags(tags: &[(&str, String)]) -> Vec<Tag> {
    tags.iter()
        .map(|(k, v)| Tag::builder().key(*k).value(v).build())
        .collect()
}

fn tag_map(tags: &[Tag]) -> Tags {
    tags.iter()
        .filter_map(|t| Some((t.key()?.to_string(), t.value()?.to_string())))
        .collect()
}

fn cluster_of(c: &aws_sdk_ecs::types::Cluster) -> cluster::Observed {
    cluster::Observed {
        arn: c.cluster_arn().unwrap_or_default().into(),
        status: c.status().unwrap_or_default().into(),
        tags: tag_map(c.tags()),
    }
}

/// What a task definition runs (its first container; empty fields when it has none).
fn task_spec_of(td: &aws_sdk_ecs::types::TaskDefinition) -> TaskSpec {
    let mut spec = TaskSpec {
        family: td.family().unwrap_or_default().into(),
        cpu: td.cpu().unwrap_or_default().into(),
        memory: td.memory().unwrap_or_default().into(),
        execution_role_arn: td.execution_role_arn().unwrap_or_default().into(),
        ..TaskSpec::default()
    };
    let Some(c) = td.container_definitions().first() else {
        return spec;
    };
    spec.environment = c
        .environment()
        .iter()
        .filter_map(|kv| Some((kv.name()?.to_string(), kv.value()?.to_string())))
        .collect();
    spec.environment.sort();
    spec.secrets = c
        .secrets()
        .iter()
        .map(|s| (s.name().to_string(), s.value_from().to_string()))
        .collect();
    spec.secrets.sort();
    let log = c.log_configuration().and_then(|l| l.options());
    let opt = |k: &str| log.and_then(|o| o.get(k)).cloned().unwrap_or_default();
    spec.log_group = opt("awslogs-group");
    spec.log_region = opt("awslogs-region");
    spec.log_prefix = opt("awslogs-stream-prefix");
    spec.container_name = c.name().unwrap_or_default().into();
    spec.image = c.image().unwrap_or_default().into();
    spec.port = c
        .port_mappings()
        .first()
        .and_then(|p| p.container_port())
        .and_then(|p| u16::try_from(p).ok())
        .unwrap_or_default();
    spec
}

fn task_definition_of(
    td: &aws_sdk_ecs::types::TaskDefinition,
    tags: &[Tag],
) -> Option<task_definition::Observed> {
    Some(task_definition::Observed {
        arn: td.task_definition_arn()?.to_string(),
        status: td
            .status()
            .map(|s| s.as_str().to_string())
            .unwrap_or_default(),
        spec: task_spec_of(td),
        tags: tag_map(tags),
    })
}

fn deployment_of(d: &aws_sdk_ecs::types::Deployment) -> service::Deployment {
    service::Deployment {
        status: d.status().unwrap_or_default().into(),
        task_definition: d.task_definition().unwrap_or_default().into(),
        rollout_state: d
            .rollout_state()
            .map(|r| r.as_str().to_string())
            .unwrap_or_default(),
        rollout_reason: d.rollout_state_reason().unwrap_or_default().into(),
        running: d.running_count(),
        desired: d.desired_count(),
    }
}

fn service_of(s: &aws_sdk_ecs::types::Service) -> service::Observed {
    service::Observed {
        arn: s.service_arn().unwrap_or_default().into(),
        status: s.status().unwrap_or_default().into(),
        task_definition: s.task_definition().unwrap_or_default().into(),
        desired: s.desired_count(),
        running: s.running_count(),
        deployments: s.deployments().iter().map(deployment_of).collect(),
        events: s
            .events()
            .iter()
            .take(5)
            .filter_map(|e| e.message().map(String::from))
            .collect(),
        tags: tag_map(s.tags()),
    }
}

/// The family of a task definition ARN (`…/family:revision`).
fn family_of(arn: &str) -> &str {
    arn.rsplit('/')
        .next()
        .and_then(|x| x.split(':').next())
        .unwrap_or_default()
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

    /// The cluster named `name`, unless it is INACTIVE (deleted) or unknown.
    pub async fn cluster(&self, name: &str) -> Result<Option<cluster::Observed>, StepError> {
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
            .map(cluster_of))
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

    /// One task definition, with what it runs and its tags: by ARN, or by
    /// family name for the family's newest active revision.
    pub async fn task_definition(
        &self,
        name: &str,
    ) -> Result<Option<task_definition::Observed>, StepError> {
        let result = self
            .client
            .describe_task_definition()
            .task_definition(name)
            .include(TaskDefinitionField::Tags)
            .send()
            .await;
        let out = or_gone("ECS DescribeTaskDefinition", result, NO_TASK_DEFINITION)?;
        Ok(out.and_then(|o| task_definition_of(o.task_definition()?, o.tags())))
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

    /// The service, unless it is INACTIVE (deleted) or its cluster is unknown.
    pub async fn service(
        &self,
        cluster: &str,
        name: &str,
    ) -> Result<Option<service::Observed>, StepError> {
        let result = self
            .client
            .describe_services()
            .cluster(cluster)
            .services(name)
            .include(ServiceField::Tags)
            .send()
            .await;
        let Some(out) = or_gone("ECS DescribeServices", result, NO_CLUSTER)? else {
            return Ok(None);
        };
        Ok(out
            .services()
            .iter()
            .find(|s| s.status() != Some("INACTIVE"))
            .map(service_of))
    }

    /// The service's stopped tasks of `task_definition`, newest first, at
    /// most `limit`. ECS keeps stopped tasks for about an hour and lists them
    /// in no stated order, so every page is read (up to [`STOPPED_READ`]
    /// tasks: a service that crash-looped for that hour) and described in
    /// batches of 100, DescribeTasks' limit.
    pub async fn stopped_tasks(
        &self,
        cluster: &str,
        service: &str,
        task_definition: &str,
        limit: usize,
    ) -> Result<Vec<StoppedTask>, StepError> {
        let mut pages = self
            .client
            .list_tasks()
            .cluster(cluster)
            .service_name(service)
            .desired_status(aws_sdk_ecs::types::DesiredStatus::Stopped)
            .into_paginator()
            .items()
            .send();
        let mut arns = Vec::new();
        while arns.len() < STOPPED_READ {
            match pages
                .try_next()
                .await
                .map_err(|e| aws_error("ECS ListTasks", &e))?
            {
                Some(arn) => arns.push(arn),
                None => break,
            }
        }
        let mut tasks = Vec::new();
        for batch in arns.chunks(100) {
            let out = self
                .client
                .describe_tasks()
                .cluster(cluster)
                .set_tasks(Some(batch.to_vec()))
                .send()
                .await
                .map_err(|e| aws_error("ECS DescribeTasks", &e))?;
            tasks.extend(
                out.tasks()
                    .iter()
                    .filter(|t| t.task_definition_arn() == Some(task_definition))
                    .cloned(),
            );
        }
        tasks.sort_by_key(|t| std::cmp::Reverse(t.stopped_at().map(|d| d.as_nanos())));
        Ok(tasks.iter().take(limit).map(stopped_task).collect())
    }

    /// The deployment's release task (by `startedBy`): the running one, else
    /// the newest stopped one, else none.
    pub async fn release_task(
        &self,
        cluster: &str,
        started_by: &str,
    ) -> Result<Option<release_task::Observed>, StepError> {
        use aws_sdk_ecs::types::DesiredStatus;
        let mut arns = Vec::new();
        for status in [DesiredStatus::Running, DesiredStatus::Stopped] {
            let res = self
                .client
                .list_tasks()
                .cluster(cluster)
                .started_by(started_by)
                .desired_status(status)
                .send()
                .await;
            let Some(out) = or_gone("ECS ListTasks", res, NO_CLUSTER)? else {
                return Ok(None);
            };
            arns.extend(out.task_arns().iter().cloned());
            if !arns.is_empty() {
                break;
            }
        }
        if arns.is_empty() {
            return Ok(None);
        }
        let out = self
            .client
            .describe_tasks()
            .cluster(cluster)
            .set_tasks(Some(arns.into_iter().take(100).collect()))
            .send()
            .await
            .map_err(|e| aws_error("ECS DescribeTasks", &e))?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        Ok(out
            .tasks()
            .iter()
            .max_by_key(|t| t.created_at().map(|d| d.as_nanos()))
            .map(|t| release_task::Observed {
                arn: t.task_arn().unwrap_or_default().into(),
                last_status: t.last_status().unwrap_or_default().into(),
                exit_code: t.containers().first().and_then(|c| c.exit_code()),
                stopped_reason: t.stopped_reason().unwrap_or_default().into(),
                stop_code: t.stop_code().map(|c| c.as_str()).unwrap_or_default().into(),
                age_seconds: t.created_at().map_or(0, |c| (now - c.secs()).max(0) as u64),
            }))
    }

    /// Run the release command once as a Fargate task of the task
    /// definition, in the service's network; answer the task's ARN.
    pub async fn run_release_task(
        &self,
        wanted: &release_task::Wanted,
    ) -> Result<String, StepError> {
        let network = private_network(&wanted.subnets, &wanted.security_group)?;
        let overrides = aws_sdk_ecs::types::TaskOverride::builder()
            .container_overrides(
                aws_sdk_ecs::types::ContainerOverride::builder()
                    .name(&wanted.container_name)
                    .set_command(Some(wanted.command.clone()))
                    .build(),
            )
            .build();
        let out = self
            .client
            .run_task()
            .cluster(&wanted.cluster)
            .task_definition(&wanted.task_definition)
            .launch_type(LaunchType::Fargate)
            .count(1)
            .network_configuration(network)
            .overrides(overrides)
            .started_by(&wanted.started_by)
            .client_token(&wanted.client_token)
            .send()
            .await
            .map_err(|e| aws_error("ECS RunTask", &e))?;
        if let Some(f) = out.failures().first() {
            return Err(StepError::retryable(format!(
                "ECS RunTask could not place the release task: {} {}",
                f.reason().unwrap_or_default(),
                f.detail().unwrap_or_default()
            )));
        }
        out.tasks()
            .first()
            .and_then(|t| t.task_arn())
            .map(String::from)
            .ok_or_else(|| StepError::retryable("ECS RunTask answered without a task"))
    }

    pub async fn stop_task(
        &self,
        cluster: &str,
        task: &str,
        reason: &str,
    ) -> Result<(), StepError> {
        self.client
            .stop_task()
            .cluster(cluster)
            .task(task)
            .reason(reason)
            .send()
            .await
            .map_err(|e| aws_error("ECS StopTask", &e))?;
        Ok(())
    }

    pub async fn create_service(
        &self,
        plan: &service::Wanted,
        tag_list: &[(&str, String)],
    ) -> Result<String, StepError> {
        let network = private_network(&plan.subnets, &plan.security_group)?;
        let out = self
            .client
            .create_service()
            .cluster(&plan.cluster)
            .service_name(&plan.name)
            .task_definition(&plan.task_definition)
            .desired_count(plan.desired)
            .launch_type(LaunchType::Fargate)
            .network_configuration(network)
            .load_balancers(
                LoadBalancer::builder()
                    .target_group_arn(&plan.target_group)
                    .container_name(&plan.container_name)
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

    /// Point the service at a task definition and count; with
    /// `force_new_deployment`, start a new deployment even if neither
    /// changes (new tasks, which read the task definition's secrets again).
    pub async fn update_service(
        &self,
        cluster: &str,
        name: &str,
        task_definition: &str,
        desired: i32,
        force_new_deployment: bool,
    ) -> Result<(), StepError> {
        self.client
            .update_service()
            .cluster(cluster)
            .service(name)
            .task_definition(task_definition)
            .desired_count(desired)
            .force_new_deployment(force_new_deployment)
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

    /// Delete the service; "already gone" is done.
    pub async fn delete_service(&self, cluster: &str, service: &str) -> Result<(), StepError> {
        let result = self
            .client
            .delete_service()
            .cluster(cluster)
            .service(service)
            .force(true)
            .send()
            .await;
        or_gone("ECS DeleteService", result, NO_SERVICE)?;
        Ok(())
    }

    /// Delete the cluster; "already gone" is done.
    pub async fn delete_cluster(&self, cluster: &str) -> Result<(), StepError> {
        let result = self.client.delete_cluster().cluster(cluster).send().await;
        or_gone("ECS DeleteCluster", result, NO_CLUSTER)?;
        Ok(())
    }

    /// Every active revision of exactly `family` (all pages), each with its
    /// tags; a revision deregistered meanwhile is left out.
    pub async fn task_definitions(
        &self,
        family: &str,
    ) -> Result<Vec<task_definition::Observed>, StepError> {
        let arns: Vec<String> = self
            .client
            .list_task_definitions()
            .family_prefix(family)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| aws_error("ECS ListTaskDefinitions", &e))?;
        let mut found = Vec::new();
        for arn in arns.iter().filter(|a| family_of(a) == family) {
            if let Some(td) = self.task_definition(arn).await? {
                found.push(td);
            }
        }
        Ok(found)
    }

    /// Deregister a revision; one ECS no longer knows is done.
    pub async fn deregister_task_definition(&self, arn: &str) -> Result<(), StepError> {
        let result = self
            .client
            .deregister_task_definition()
            .task_definition(arn)
            .send()
            .await;
        or_gone("ECS DeregisterTaskDefinition", result, NO_TASK_DEFINITION)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_ecs::operation::describe_task_definition::DescribeTaskDefinitionOutput;
    use aws_sdk_ecs::operation::list_task_definitions::ListTaskDefinitionsOutput;
    use aws_sdk_ecs::types::{TaskDefinition, TaskDefinitionStatus};
    use aws_smithy_mocks::{mock, mock_client, RuleMode};

    const PREFIX: &str = "arn:aws:ecs:eu-west-1:123456789012:task-definition/";

    fn owned_by(app: &str) -> Vec<Tag> {
        vec![
            Tag::builder().key("stepdeploy:app").value(app).build(),
            Tag::builder()
                .key("stepdeploy:environment")
                .value("production")
                .build(),
        ]
    }

    #[tokio::test]
    async fn every_page_of_revisions_is_read_and_each_revision_keeps_its_tags() {
        let first = mock!(aws_sdk_ecs::Client::list_task_definitions)
            .match_requests(|r| r.next_token().is_none())
            .then_output(|| {
                ListTaskDefinitionsOutput::builder()
                    .task_definition_arns(format!("{PREFIX}bank-production:1"))
                    .task_definition_arns(format!("{PREFIX}bank-production-x:1"))
                    .next_token("page-2")
                    .build()
            });
        let second = mock!(aws_sdk_ecs::Client::list_task_definitions)
            .match_requests(|r| r.next_token() == Some("page-2"))
            .then_output(|| {
                ListTaskDefinitionsOutput::builder()
                    .task_definition_arns(format!("{PREFIX}bank-production:2"))
                    .build()
            });
        let describe =
            mock!(aws_sdk_ecs::Client::describe_task_definition).then_compute_output(|r| {
                let arn = r.task_definition().unwrap_or_default().to_string();
                let app = if arn.ends_with(":2") { "shop" } else { "bank" };
                DescribeTaskDefinitionOutput::builder()
                    .task_definition(
                        TaskDefinition::builder()
                            .task_definition_arn(arn)
                            .family("bank-production")
                            .status(TaskDefinitionStatus::Active)
                            .build(),
                    )
                    .set_tags(Some(owned_by(app)))
                    .build()
            });
        let ecs = Ecs::from_client(mock_client!(
            aws_sdk_ecs,
            RuleMode::MatchAny,
            [&first, &second, &describe]
        ));

        let found = ecs.task_definitions("bank-production").await.unwrap();

        let seen: Vec<(&str, Option<&str>)> = found
            .iter()
            .map(|td| {
                (
                    td.short_name(),
                    td.tags.get("stepdeploy:app").map(String::as_str),
                )
            })
            .collect();
        assert_eq!(
            seen,
            vec![
                ("bank-production:1", Some("bank")),
                ("bank-production:2", Some("shop"))
            ]
        );
        assert_eq!((first.num_calls(), second.num_calls()), (1, 1));
        assert_eq!(describe.num_calls(), 2, "another family is not described");
    }

    #[tokio::test]
    async fn an_unknown_family_is_none_not_an_error() {
        let describe = mock!(aws_sdk_ecs::Client::describe_task_definition)
            .then_error(|| {
                aws_sdk_ecs::operation::describe_task_definition::DescribeTaskDefinitionError::ClientException(
                    aws_sdk_ecs::types::error::ClientException::builder()
                        .message("Unable to describe task definition.")
                        .meta(
                            aws_sdk_ecs::error::ErrorMetadata::builder()
                                .code("ClientException")
                                .build(),
                        )
                        .build(),
                )
            });
        let ecs = Ecs::from_client(mock_client!(aws_sdk_ecs, [&describe]));
        assert_eq!(ecs.task_definition("bank-production").await.unwrap(), None);
    }

    #[test]
    fn a_task_definition_converts_once_with_its_first_container() {
        let td = TaskDefinition::builder()
            .task_definition_arn(format!("{PREFIX}bank-production:3"))
            .family("bank-production")
            .cpu("512")
            .status(TaskDefinitionStatus::Active)
            .container_definitions(
                ContainerDefinition::builder()
                    .name("web")
                    .image("repo/bank@sha256:1")
                    .port_mappings(PortMapping::builder().container_port(8000).build())
                    .environment(KeyValuePair::builder().name("PORT").value("8000").build())
                    .environment(KeyValuePair::builder().name("DB_HOST").value("db").build())
                    .build(),
            )
            .build();
        let observed = task_definition_of(&td, &owned_by("bank")).unwrap();
        assert_eq!(observed.status, "ACTIVE");
        assert_eq!(observed.short_name(), "bank-production:3");
        assert_eq!(observed.spec.image, "repo/bank@sha256:1");
        assert_eq!(observed.spec.port, 8000);
        assert_eq!(
            observed.spec.environment,
            vec![
                ("DB_HOST".to_string(), "db".to_string()),
                ("PORT".into(), "8000".into())
            ]
        );
        assert_eq!(family_of(&observed.arn), "bank-production");
        // No ARN: nothing to refer to, so nothing observed.
        assert_eq!(
            task_definition_of(&TaskDefinition::builder().build(), &[]),
            None
        );
    }
}
