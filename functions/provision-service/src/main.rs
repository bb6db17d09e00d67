//! Converges an environment's ECS cluster, log group, task definition and service.
// The step futures nest deeply (runtime glue -> step -> resources -> SDK):
// clippy measures their layout past the default depth.
#![recursion_limit = "256"]

use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::Value;
use stepdeploy::aws::{ecs::Ecs, elbv2::Elb, load_config, logs::Logs, store::Store};
use stepdeploy::runtime::{env_var, init_logging, HandlerError};
use stepdeploy::steps::service::{self, Clients, ServiceConfig};

#[tokio::main]
async fn main() -> Result<(), Error> {
    init_logging();
    let config = load_config().await;
    let store = Store::from_env(&config)?;
    let (ecs, logs, elb) = (Ecs::new(&config), Logs::new(&config), Elb::new(&config));
    let settings = ServiceConfig {
        execution_role_arn: env_var("STEPDEPLOY_TASK_EXECUTION_ROLE_ARN")?,
    };
    let aws = Clients {
        ecs: &ecs,
        logs: &logs,
        elb: &elb,
    };
    let (store, aws, settings) = (&store, &aws, &settings);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        service::handle(store, aws, settings, event.payload)
            .await
            .map_err(HandlerError)
    }))
    .await
}
