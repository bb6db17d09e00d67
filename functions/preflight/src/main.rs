//! Checks a deployment against the account before its first change.

use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::Value;
use stepdeploy::aws::{ec2::Ec2, elbv2::Elb, load_config};
use stepdeploy::runtime::{init_logging, HandlerError};
use stepdeploy::steps::preflight;

#[tokio::main]
async fn main() -> Result<(), Error> {
    init_logging();
    let config = load_config().await;
    let (ec2, elb) = (Ec2::new(&config), Elb::new(&config));
    let (ec2, elb) = (&ec2, &elb);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        preflight::handle(ec2, elb, event.payload)
            .await
            .map_err(HandlerError)
    }))
    .await
}
