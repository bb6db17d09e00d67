//! Records a deployment in the ledger (begin, success, failure, stop) and
//! takes and lets go of its environment's lease.

use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::Value;
use stepdeploy::aws::{load_config, sfn::StepFunctions, store::Store};
use stepdeploy::resources::preview_expiry::PreviewExpiry;
use stepdeploy::runtime::{init_logging, HandlerError};
use stepdeploy::steps::record;

#[tokio::main]
async fn main() -> Result<(), Error> {
    init_logging();
    let config = load_config().await;
    let store = Store::from_env(&config)?;
    let sfn = StepFunctions::new(&config);
    let expiry = PreviewExpiry::from_env(&config);
    let (store, sfn, expiry) = (&store, &sfn, expiry.as_ref());
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        record::handle(store, sfn, expiry, event.payload)
            .await
            .map_err(HandlerError)
    }))
    .await
}
