//! Converges an environment's MySQL database.
// The step futures nest deeply (runtime glue -> step -> resources -> SDK):
// clippy measures their layout past the default depth.
#![recursion_limit = "256"]

use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::Value;
use stepdeploy::aws::{load_config, rds::Rds, store::Store};
use stepdeploy::runtime::{init_logging, HandlerError};
use stepdeploy::steps::database;

#[tokio::main]
async fn main() -> Result<(), Error> {
    init_logging();
    let config = load_config().await;
    let store = Store::from_env(&config)?;
    let rds = Rds::new(&config);
    let (store, rds) = (&store, &rds);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        database::handle(store, rds, event.payload)
            .await
            .map_err(HandlerError)
    }))
    .await
}
