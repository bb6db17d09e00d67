//! Checks a deployment against the account and its image before its first
//! change.

use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::Value;
use stepdeploy::aws::load_config;
use stepdeploy::runtime::{init_logging, HandlerError};
use stepdeploy::steps::preflight::{self, Clients};

#[tokio::main]
async fn main() -> Result<(), Error> {
    init_logging();
    let config = load_config().await;
    let clients = Clients::new(&config)?;
    let clients = &clients;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        preflight::handle(clients, event.payload)
            .await
            .map_err(HandlerError)
    }))
    .await
}
