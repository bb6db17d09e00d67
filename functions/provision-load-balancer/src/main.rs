//! Converges an environment's load balancer, target group and listener.
// The step futures nest deeply (runtime glue -> step -> resources -> SDK):
// clippy measures their layout past the default depth.
#![recursion_limit = "256"]

use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::Value;
use stepdeploy::aws::{elbv2::Elb, load_config, store::Store};
use stepdeploy::runtime::{init_logging, HandlerError};
use stepdeploy::steps::load_balancer;

#[tokio::main]
async fn main() -> Result<(), Error> {
    init_logging();
    let config = load_config().await;
    let store = Store::from_env(&config)?;
    let elb = Elb::new(&config);
    let (store, elb) = (&store, &elb);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        load_balancer::handle(store, elb, event.payload)
            .await
            .map_err(HandlerError)
    }))
    .await
}
