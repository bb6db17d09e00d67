//! SDK-level tests with aws-smithy-mocks: the exact requests stepdeploy
//! sends, and how AWS errors become step errors.

use std::sync::{Arc, Mutex};

use aws_sdk_dynamodb::operation::{put_item::PutItemOutput, query::QueryOutput};
use aws_sdk_ec2::config::retry::RetryConfig;
use aws_sdk_ec2::operation::authorize_security_group_ingress::AuthorizeSecurityGroupIngressOutput;
use aws_sdk_ec2::operation::create_security_group::CreateSecurityGroupOutput;
use aws_sdk_ec2::operation::describe_security_groups::DescribeSecurityGroupsOutput;
use aws_sdk_ec2::operation::describe_vpcs::DescribeVpcsOutput;
use aws_sdk_ec2::types::{IpPermission, Vpc};
use aws_sdk_ecs::operation::create_service::{CreateServiceInput, CreateServiceOutput};
use aws_sdk_ecs::operation::register_task_definition::{
    RegisterTaskDefinitionInput, RegisterTaskDefinitionOutput,
};
use aws_sdk_ecs::types::{
    AssignPublicIp, Compatibility, LaunchType, NetworkMode, Service, TaskDefinition,
};
use aws_smithy_mocks::{mock, mock_client, RuleMode};
use stepdeploy::aws::{ec2::Ec2, ecs::Ecs, store::Store};
use stepdeploy::converge::Ctx;
use stepdeploy::deploy::{resolve, DatabaseOutput, DeployRequest, DeployState, ResolvedImage};
use stepdeploy::naming::Names;
use stepdeploy::resources::security_group;
use stepdeploy::resources::{service, task_definition::wanted_task};
use stepdeploy::spec::AppSpec;
use stepdeploy::ErrorKind;

const SHA: &str = "3f786850e387550fdab836ed7e6dc881de23001b";
const DIGEST: &str = "sha256:a2e595a19ca502c2ca3696cdd3820ac7935e2228352970d24de68eba78644789";
const EXECUTION: &str = "arn:aws:states:eu-west-1:123456789012:execution:stepdeploy-deploy:d1";

fn ec2_error(code: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Errors><Error><Code>{code}</Code><Message>{code} from the mock</Message></Error></Errors><RequestID>r1</RequestID></Response>"
    )
}

fn ledger() -> Store {
    let query =
        mock!(aws_sdk_dynamodb::Client::query).then_output(|| QueryOutput::builder().build());
    let put =
        mock!(aws_sdk_dynamodb::Client::put_item).then_output(|| PutItemOutput::builder().build());
    Store::new(
        mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, [&query, &put]),
        "ledger",
    )
}

fn rule(p: &IpPermission) -> (String, i32, Vec<String>, Vec<String>) {
    (
        p.ip_protocol().unwrap_or_default().to_string(),
        p.from_port().unwrap_or_default(),
        p.ip_ranges()
            .iter()
            .filter_map(|r| r.cidr_ip().map(String::from))
            .collect(),
        p.user_id_group_pairs()
            .iter()
            .filter_map(|g| g.group_id().map(String::from))
            .collect(),
    )
}

#[tokio::test]
async fn security_groups_are_created_with_exactly_the_wanted_rules() {
    let describe = mock!(aws_sdk_ec2::Client::describe_security_groups)
        .then_output(|| DescribeSecurityGroupsOutput::builder().build());
    let create = mock!(aws_sdk_ec2::Client::create_security_group).then_compute_output(|req| {
        let role = req
            .group_name()
            .unwrap_or_default()
            .rsplit('-')
            .next()
            .unwrap_or_default()
            .to_string();
        CreateSecurityGroupOutput::builder()
            .group_id(format!("sg-{role}"))
            .build()
    });
    type Authorized = Vec<(String, Vec<IpPermission>)>;
    let seen: Arc<Mutex<Authorized>> = Arc::default();
    let record = seen.clone();
    let authorize = mock!(aws_sdk_ec2::Client::authorize_security_group_ingress)
        .then_compute_output(move |req| {
            record.lock().unwrap().push((
                req.group_id().unwrap_or_default().to_string(),
                req.ip_permissions().to_vec(),
            ));
            AuthorizeSecurityGroupIngressOutput::builder()
                .r#return(true)
                .build()
        });
    let ec2 = Ec2::from_client(mock_client!(
        aws_sdk_ec2,
        RuleMode::MatchAny,
        [&describe, &create, &authorize]
    ));
    let store = ledger();
    let mut ctx = Ctx::load(
        &store,
        Names::new("bank", "production").unwrap(),
        "d1",
        false,
    )
    .await
    .unwrap();

    let groups = security_group::converge(&ec2, &mut ctx, "vpc-1", 8000)
        .await
        .unwrap();

    assert_eq!(
        (
            groups.lb.as_str(),
            groups.tasks.as_str(),
            groups.db.as_str()
        ),
        ("sg-lb", "sg-tasks", "sg-db")
    );
    assert_eq!(create.num_calls(), 3);
    let seen = seen.lock().unwrap();
    let rules: Vec<_> = seen
        .iter()
        .map(|(g, perms)| (g.clone(), perms.iter().map(rule).collect::<Vec<_>>()))
        .collect();
    assert_eq!(
        rules,
        vec![
            (
                "sg-lb".to_string(),
                vec![("tcp".to_string(), 80, vec!["0.0.0.0/0".to_string()], vec![])]
            ),
            (
                "sg-tasks".to_string(),
                vec![("tcp".to_string(), 8000, vec![], vec!["sg-lb".to_string()])]
            ),
            (
                "sg-db".to_string(),
                vec![(
                    "tcp".to_string(),
                    3306,
                    vec![],
                    vec!["sg-tasks".to_string()]
                )]
            ),
        ]
    );
    assert_eq!(ctx.report.mutations, 6);
}

#[tokio::test]
async fn a_missing_vpc_is_none_then_found() {
    let describe = mock!(aws_sdk_ec2::Client::describe_vpcs)
        .sequence()
        .http_status(400, Some(ec2_error("InvalidVpcID.NotFound")))
        .output(|| {
            DescribeVpcsOutput::builder()
                .vpcs(
                    Vpc::builder()
                        .vpc_id("vpc-1")
                        .cidr_block("172.28.0.0/16")
                        .build(),
                )
                .build()
        })
        .build();
    let ec2 = Ec2::from_client(mock_client!(aws_sdk_ec2, RuleMode::Sequential, [&describe]));
    assert_eq!(ec2.vpc("vpc-1").await.unwrap(), None);
    let found = ec2
        .vpc("vpc-1")
        .await
        .unwrap()
        .expect("found on the second look");
    assert_eq!(found.cidr, "172.28.0.0/16");
}

#[tokio::test]
async fn throttling_is_a_retryable_error_and_a_bad_request_is_not() {
    let describe = mock!(aws_sdk_ec2::Client::describe_vpcs)
        .sequence()
        .http_status(503, Some(ec2_error("RequestLimitExceeded")))
        .http_status(400, Some(ec2_error("InvalidParameterValue")))
        .build();
    let client = mock_client!(aws_sdk_ec2, RuleMode::Sequential, [&describe], |c| c
        .retry_config(RetryConfig::disabled()));
    let ec2 = Ec2::from_client(client);
    let throttled = ec2.vpc("vpc-1").await.unwrap_err();
    assert_eq!(
        throttled.kind,
        ErrorKind::Retryable,
        "{}",
        throttled.message
    );
    assert!(
        throttled.message.contains("RequestLimitExceeded"),
        "{}",
        throttled.message
    );
    let refused = ec2.vpc("vpc-1").await.unwrap_err();
    assert_eq!(refused.kind, ErrorKind::Fatal, "{}", refused.message);
}

#[tokio::test]
async fn the_task_definition_pins_the_image_and_keeps_credentials_secret() {
    let spec = AppSpec::from_json(r#"{"name":"bank","repository":"acme/bank"}"#).unwrap();
    let request = DeployRequest {
        repository: None,
        repository_spec: None,
        app: "bank".into(),
        environment: "production".into(),
        commit: SHA.into(),
        branch: None,
        image: None,
        trigger: None,
        dry_run: false,
        restart: None,
    };
    let deployment = resolve(&request, &spec, "d1", EXECUTION, 15, 0).unwrap();
    let uri = deployment.image.pinned(DIGEST);
    let state = DeployState {
        image: Some(ResolvedImage {
            uri: uri.clone(),
            digest: DIGEST.into(),
            waited: false,
        }),
        ..DeployState::new(deployment, spec)
    };
    let secret = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds!db-1234";
    let database = DatabaseOutput {
        ready: true,
        identifier: "bank-production-db".into(),
        status: "available".into(),
        endpoint: Some("bank-production-db.abc.eu-west-1.rds.amazonaws.com".into()),
        port: 3306,
        name: "banking".into(),
        secret_arn: Some(secret.into()),
        report: Default::default(),
    };
    let role = "arn:aws:iam::123456789012:role/stack-TaskExecutionRole";
    let wanted = wanted_task(&state, &database, role, "eu-west-1").unwrap();

    let seen: Arc<Mutex<Vec<RegisterTaskDefinitionInput>>> = Arc::default();
    let record = seen.clone();
    let register =
        mock!(aws_sdk_ecs::Client::register_task_definition).then_compute_output(move |req| {
            record.lock().unwrap().push(req.clone());
            RegisterTaskDefinitionOutput::builder()
                .task_definition(
                    TaskDefinition::builder()
                        .task_definition_arn(
                            "arn:aws:ecs:eu-west-1:123456789012:task-definition/bank-production:7",
                        )
                        .build(),
                )
                .build()
        });
    let ecs = Ecs::from_client(mock_client!(aws_sdk_ecs, [&register]));
    let arn = ecs
        .register_task_definition(&wanted, &[("stepdeploy:app", "bank".into())])
        .await
        .unwrap();
    assert!(arn.ends_with("bank-production:7"));

    let req = seen.lock().unwrap()[0].clone();
    assert_eq!(req.family(), Some("bank-production"));
    assert_eq!((req.cpu(), req.memory()), (Some("512"), Some("1024")));
    assert_eq!(req.network_mode(), Some(&NetworkMode::Awsvpc));
    assert_eq!(req.requires_compatibilities(), &[Compatibility::Fargate]);
    assert_eq!(req.execution_role_arn(), Some(role));
    let c = &req.container_definitions()[0];
    assert_eq!(c.image(), Some(uri.as_str()));
    assert!(uri.ends_with(&format!("/bank@{DIGEST}")));
    assert_eq!(c.port_mappings()[0].container_port(), Some(8000));
    let env: Vec<(&str, &str)> = c
        .environment()
        .iter()
        .map(|e| (e.name().unwrap(), e.value().unwrap()))
        .collect();
    assert_eq!(
        env,
        vec![
            (
                "DB_HOST",
                "bank-production-db.abc.eu-west-1.rds.amazonaws.com"
            ),
            ("DB_NAME", "banking"),
            ("DB_PORT", "3306"),
            ("PORT", "8000"),
        ]
    );
    let secrets: Vec<(&str, &str)> = c
        .secrets()
        .iter()
        .map(|s| (s.name(), s.value_from()))
        .collect();
    let password = format!("{secret}:password::");
    let username = format!("{secret}:username::");
    assert_eq!(
        secrets,
        vec![
            ("DB_PASSWORD", password.as_str()),
            ("DB_USER", username.as_str())
        ]
    );
    let log = c.log_configuration().unwrap().options().unwrap();
    assert_eq!(
        log.get("awslogs-group").map(String::as_str),
        Some("/stepdeploy/bank/production")
    );
    assert_eq!(
        log.get("awslogs-region").map(String::as_str),
        Some("eu-west-1")
    );
}

#[tokio::test]
async fn the_service_rolls_out_behind_the_circuit_breaker_in_the_private_subnets() {
    let seen: Arc<Mutex<Vec<CreateServiceInput>>> = Arc::default();
    let record = seen.clone();
    let create = mock!(aws_sdk_ecs::Client::create_service).then_compute_output(move |req| {
        record.lock().unwrap().push(req.clone());
        CreateServiceOutput::builder()
            .service(
                Service::builder()
                    .service_arn("arn:aws:ecs:eu-west-1:123456789012:service/bank-production/bank-production")
                    .build(),
            )
            .build()
    });
    let ecs = Ecs::from_client(mock_client!(aws_sdk_ecs, [&create]));
    let subnets = vec!["subnet-private1".to_string(), "subnet-private2".to_string()];
    let plan = service::Wanted {
        cluster: "bank-production".into(),
        name: "bank-production".into(),
        task_definition: "arn:aws:ecs:eu-west-1:123456789012:task-definition/bank-production:7"
            .into(),
        desired: 2,
        subnets: subnets.clone(),
        security_group: "sg-tasks".into(),
        target_group:
            "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/bank-production-tg/1"
                .into(),
        container_name: "web".into(),
        container_port: 8000,
        ..Default::default()
    };
    let arn = ecs
        .create_service(&plan, &[("stepdeploy:app", "bank".into())])
        .await
        .unwrap();
    assert!(arn.ends_with("service/bank-production/bank-production"));

    let req = seen.lock().unwrap()[0].clone();
    assert_eq!(req.launch_type(), Some(&LaunchType::Fargate));
    assert_eq!(req.desired_count(), Some(2));
    let config = req.deployment_configuration().unwrap();
    let breaker = config.deployment_circuit_breaker().unwrap();
    assert!(breaker.enable() && breaker.rollback(), "{breaker:?}");
    assert_eq!(config.minimum_healthy_percent(), Some(100));
    let net = req
        .network_configuration()
        .and_then(|n| n.awsvpc_configuration())
        .unwrap();
    assert_eq!(net.subnets(), subnets.as_slice());
    assert_eq!(net.security_groups(), ["sg-tasks".to_string()]);
    assert_eq!(net.assign_public_ip(), Some(&AssignPublicIp::Disabled));
    let lb = &req.load_balancers()[0];
    assert_eq!(
        (lb.container_name(), lb.container_port()),
        (Some("web"), Some(8000))
    );
    assert_eq!(lb.target_group_arn(), Some(plan.target_group.as_str()));
    assert_eq!(req.tags()[0].key(), Some("stepdeploy:app"));
}
