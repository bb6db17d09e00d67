//! Removes what an environment owns, one phase per invocation.

use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::Value;
use stepdeploy::aws::{
    ec2::Ec2, ecs::Ecs, elbv2::Elb, load_config, logs::Logs, rds::Rds, sfn::StepFunctions,
    store::Store,
};
use stepdeploy::resources::preview_expiry::PreviewExpiry;
use stepdeploy::runtime::{init_logging, HandlerError};
use stepdeploy::steps::teardown::Teardown;

#[tokio::main]
async fn main() -> Result<(), Error> {
    init_logging();
    let config = load_config().await;
    let step = Teardown {
        store: Store::from_env(&config)?,
        ec2: Ec2::new(&config),
        ecs: Ecs::new(&config),
        elb: Elb::new(&config),
        rds: Rds::new(&config),
        logs: Logs::new(&config),
        sfn: StepFunctions::new(&config),
        expiry: PreviewExpiry::deleting_from_env(&config),
    };
    let step = &step;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        step.handle(event.payload).await.map_err(HandlerError)
    }))
    .await
}
