//! Waits for a deployment's image, and resumes deployments when images arrive.

use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::Value;
use stepdeploy::aws::{ecr::Ecr, load_config, sfn::StepFunctions, store::Store};
use stepdeploy::runtime::{init_logging, HandlerError};
use stepdeploy::steps::image::ImageReady;

#[tokio::main]
async fn main() -> Result<(), Error> {
    init_logging();
    let config = load_config().await;
    let step = ImageReady {
        store: Store::from_env(&config)?,
        sfn: StepFunctions::new(&config),
        ecr: Ecr::new(&config),
    };
    let step = &step;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        step.handle(event.payload).await.map_err(HandlerError)
    }))
    .await
}
