//! Waits for a deployment's image, and resumes deployments when images arrive
//! (ECR pushes through EventBridge, Docker Hub pushes through its webhook).

use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::Value;
use stepdeploy::aws::{
    ecr::Ecr, load_config, secrets::WebhookSecret, sfn::StepFunctions, store::Store,
};
use stepdeploy::registry::client::Registry;
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
        registry: Registry::from_env()?,
        docker_hub_token: std::env::var("STEPDEPLOY_DOCKER_HUB_TOKEN_SECRET_ID")
            .ok()
            .filter(|id| !id.is_empty())
            .map(|id| WebhookSecret::new(&config, id)),
    };
    let step = &step;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        step.handle(event.payload).await.map_err(HandlerError)
    }))
    .await
}
