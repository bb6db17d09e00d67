//! GitHub webhook receiver, behind API Gateway (HTTP API, payload 2.0).

use aws_lambda_events::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use aws_lambda_events::encodings::Body;
use aws_lambda_events::http::{HeaderMap, HeaderValue};
use lambda_runtime::{service_fn, Error, LambdaEvent};
use stepdeploy::aws::{load_config, secrets::WebhookSecret, sfn::StepFunctions, store::Store};
use stepdeploy::runtime::{env_var, init_logging};
use stepdeploy::steps::webhook::Webhook;
use stepdeploy::webhook::{RawRequest, Reply};

fn respond(reply: Reply) -> ApiGatewayV2httpResponse {
    let mut headers = HeaderMap::new();
    headers.insert("content-type", HeaderValue::from_static("application/json"));
    let mut resp = ApiGatewayV2httpResponse::default();
    resp.status_code = i64::from(reply.status);
    resp.headers = headers;
    resp.body = Some(Body::Text(reply.body.to_string()));
    resp
}

async fn handle(webhook: &Webhook, event: ApiGatewayV2httpRequest) -> ApiGatewayV2httpResponse {
    let headers = event
        .headers
        .iter()
        .filter_map(|(k, v)| Some((k.as_str(), v.to_str().ok()?)));
    match RawRequest::from_parts(headers, event.body.as_deref(), event.is_base64_encoded) {
        Ok(req) => respond(webhook.handle(req).await),
        Err(reply) => respond(reply),
    }
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    init_logging();
    let config = load_config().await;
    let webhook = Webhook {
        secret: WebhookSecret::new(&config, env_var("STEPDEPLOY_WEBHOOK_SECRET_ID")?),
        store: Store::from_env(&config)?,
        sfn: StepFunctions::new(&config),
        deploy_state_machine: env_var("STEPDEPLOY_DEPLOY_STATE_MACHINE_ARN")?,
        teardown_state_machine: env_var("STEPDEPLOY_TEARDOWN_STATE_MACHINE_ARN").ok(),
    };
    let webhook = &webhook;
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<ApiGatewayV2httpRequest>| async move {
            Ok::<_, Error>(handle(webhook, event.payload).await)
        },
    ))
    .await
}
