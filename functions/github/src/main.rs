//! Reports a deployment to GitHub (Deployment, its statuses, the commit
//! status) as the stack's GitHub App; never fails a deployment.

use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::Value;
use stepdeploy::aws::{load_config, store::Store};
use stepdeploy::runtime::{init_logging, HandlerError};
use stepdeploy::steps::github::{self, App, Reporter};

#[tokio::main]
async fn main() -> Result<(), Error> {
    init_logging();
    let config = load_config().await;
    let reporter = Reporter {
        store: Store::from_env(&config)?,
        app: App::from_env(&config),
    };
    let reporter = &reporter;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        github::handle(reporter, event.payload)
            .await
            .map_err(HandlerError)
    }))
    .await
}
