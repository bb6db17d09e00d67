//! Converges an environment's network.
// The step futures nest deeply (runtime glue -> step -> resources -> SDK):
// clippy measures their layout past the default depth.
#![recursion_limit = "256"]

use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::Value;
use stepdeploy::aws::{ec2::Ec2, load_config, store::Store};
use stepdeploy::runtime::{init_logging, HandlerError};
use stepdeploy::steps::network;

#[tokio::main]
async fn main() -> Result<(), Error> {
    init_logging();
    let config = load_config().await;
    let store = Store::from_env(&config)?;
    let ec2 = Ec2::new(&config);
    let (store, ec2) = (&store, &ec2);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        network::handle(store, ec2, event.payload)
            .await
            .map_err(HandlerError)
    }))
    .await
}
