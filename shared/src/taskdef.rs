//! The task definition an environment wants, as a value that compares with
//! what ECS has: equal means "register nothing".

use crate::deploy::{DatabaseOutput, DeployState};
use crate::error::StepError;
use crate::naming::Names;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskSpec {
    pub family: String,
    pub cpu: String,
    pub memory: String,
    pub execution_role_arn: String,
    pub container_name: String,
    pub image: String,
    pub port: u16,
    /// Plain environment, sorted by name.
    pub environment: Vec<(String, String)>,
    /// ECS secrets (`valueFrom` ARNs), sorted by name: never plain text.
    pub secrets: Vec<(String, String)>,
    pub log_group: String,
    pub log_region: String,
    pub log_prefix: String,
}

/// The task definition for this deployment: the image pinned by digest, the
/// database's address as plain environment and its credentials as secrets.
pub fn wanted_task(
    state: &DeployState,
    database: &DatabaseOutput,
    execution_role_arn: &str,
    region: &str,
) -> Result<TaskSpec, StepError> {
    let d = &state.deployment;
    let names = Names::new(&d.app, &d.environment)?;
    let image = state.image.as_ref().map(|i| i.uri.clone()).ok_or_else(|| {
        StepError::invalid_input(
            "no resolved image in the deployment state; Wait For Image must run first",
        )
    })?;
    let endpoint = database.endpoint.clone().ok_or_else(|| {
        StepError::new(
            crate::error::ErrorKind::NotReady,
            "the database has no endpoint yet",
        )
    })?;
    let svc = &state.spec.service;
    let mut environment: Vec<(String, String)> = svc
        .environment
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    for (k, v) in [
        ("DB_HOST", endpoint),
        ("DB_PORT", database.port.to_string()),
        ("DB_NAME", database.name.clone()),
        ("PORT", svc.port.to_string()),
    ] {
        environment.retain(|(name, _)| name != k);
        environment.push((k.into(), v));
    }
    environment.sort();
    let mut secrets = Vec::new();
    if let Some(arn) = &database.secret_arn {
        secrets.push(("DB_PASSWORD".to_string(), format!("{arn}:password::")));
        secrets.push(("DB_USER".to_string(), format!("{arn}:username::")));
    }
    secrets.sort();
    Ok(TaskSpec {
        family: names.task_family(),
        cpu: svc.cpu.to_string(),
        memory: svc.memory.to_string(),
        execution_role_arn: execution_role_arn.into(),
        container_name: svc.container_name.clone(),
        image,
        port: svc.port,
        environment,
        secrets,
        log_group: names.log_group(),
        log_region: region.into(),
        log_prefix: d.app.clone(),
    })
}
