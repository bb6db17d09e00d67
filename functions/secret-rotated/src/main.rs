//! Replaces an environment's running tasks after RDS rotates its database's
//! managed master password (Secrets Manager's `RotationSucceeded`, through
//! EventBridge), by redeploying its last successful deployment.

use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::Value;
use stepdeploy::aws::{load_config, rds::Rds, sfn::StepFunctions, store::Store};
use stepdeploy::runtime::{env_var, init_logging, HandlerError};
use stepdeploy::steps::rotation::SecretRotated;

#[tokio::main]
async fn main() -> Result<(), Error> {
    init_logging();
    let config = load_config().await;
    let step = SecretRotated {
        store: Store::from_env(&config)?,
        rds: Rds::new(&config),
        sfn: StepFunctions::new(&config),
        deploy_state_machine: env_var("STEPDEPLOY_DEPLOY_STATE_MACHINE_ARN")?,
    };
    let step = &step;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        step.handle(event.payload).await.map_err(HandlerError)
    }))
    .await
}
