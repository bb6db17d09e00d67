//! Converges an environment's ECS cluster, log group, task definition and service.
// The step futures nest deeply (runtime glue -> step -> resources -> SDK):
// clippy measures their layout past the default depth.
#![recursion_limit = "256"]

use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::Value;
use stepdeploy::aws::{ecs::Ecs, load_config, logs::Logs, store::Store};
use stepdeploy::runtime::{env_var, init_logging, HandlerError};
use stepdeploy::steps::service::{self, ServiceConfig};

#[tokio::main]
async fn main() -> Result<(), Error> {
    init_logging();
    let config = load_config().await;
    let store = Store::from_env(&config)?;
    let (ecs, logs) = (Ecs::new(&config), Logs::new(&config));
    let settings = ServiceConfig {
        execution_role_arn: env_var("STEPDEPLOY_TASK_EXECUTION_ROLE_ARN")?,
    };
    let (store, ecs, logs, settings) = (&store, &ecs, &logs, &settings);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        service::handle(store, ecs, logs, settings, event.payload)
            .await
            .map_err(HandlerError)
    }))
    .await
}
