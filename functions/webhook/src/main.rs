//! GitHub webhook receiver, behind API Gateway (HTTP API, payload 2.0).

use lambda_runtime::{service_fn, Error, LambdaEvent};
use stepdeploy::apigw::{raw_request, respond, ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use stepdeploy::aws::{load_config, secrets::WebhookSecret, sfn::StepFunctions, store::Store};
use stepdeploy::runtime::{env_var, init_logging};
use stepdeploy::steps::webhook::Webhook;

async fn handle(webhook: &Webhook, event: ApiGatewayV2httpRequest) -> ApiGatewayV2httpResponse {
    match raw_request(&event) {
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
        read_files: env_var("STEPDEPLOY_REPOSITORY_FILES").is_ok_and(|v| v == "true"),
    };
    let webhook = &webhook;
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<ApiGatewayV2httpRequest>| async move {
            Ok::<_, Error>(handle(webhook, event.payload).await)
        },
    ))
    .await
}

#[cfg(test)]
mod tests {
    //! The sample events, through everything the handler does before AWS.
    use super::*;
    use stepdeploy::spec::AppSpec;
    use stepdeploy::webhook::{authenticate, decide, payload, precheck, Decision, Known, Reply};

    /// The local stack's webhook secret, which signs the sample events.
    const LOCAL_SECRET: &[u8] = b"stepdeploy-local-webhook-secret";

    fn decide_sample(name: &str) -> Result<Decision, Reply> {
        let path = format!(
            "{}/../../events/webhook.{name}.json",
            env!("CARGO_MANIFEST_DIR")
        );
        let text = std::fs::read_to_string(&path).expect("sample event");
        let event: ApiGatewayV2httpRequest =
            serde_json::from_str(&text).expect("an API Gateway v2 event");
        let req = raw_request(&event)?;
        let kind = precheck(&req)?.to_string();
        authenticate(&req, &[LOCAL_SECRET.to_vec()])?;
        let body = payload(&req)?;
        let spec = include_str!("../../../apps/bank.json");
        let apps = vec![AppSpec::from_json(spec).expect("apps/bank.json is valid")];
        let delivery = req.header("x-github-delivery").unwrap_or_default();
        Ok(decide(&kind, delivery, body, &Known::registered(apps), 0))
    }

    #[test]
    fn push_deploys_production() {
        match decide_sample("push").unwrap() {
            Decision::Deploy {
                deployment_id,
                request,
            } => {
                assert_eq!(request.environment, "production");
                assert_eq!(request.commit, "3f786850e387550fdab836ed7e6dc881de23001b");
                assert!(deployment_id.starts_with("20261125T163444Z-bank-production-3f78685-"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn push_to_a_feature_branch_deploys_a_preview() {
        match decide_sample("push-preview").unwrap() {
            Decision::Deploy { request, .. } => {
                assert_eq!(request.environment, "pr-feature-df7c7")
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_pull_request_deploys_its_preview_and_its_close_tears_it_down() {
        match decide_sample("pull-request").unwrap() {
            Decision::Deploy { request, .. } => {
                assert_eq!(request.environment, "pr-feature-df7c7");
                assert_eq!(request.pull_request(), Some(12));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            decide_sample("pull-request-closed").unwrap(),
            Decision::Teardown {
                app: "bank".into(),
                environment: "pr-feature-df7c7".into(),
                trigger: "pull-request-merged",
            }
        );
    }

    #[test]
    fn delete_of_a_feature_branch_tears_its_preview_down() {
        assert_eq!(
            decide_sample("delete").unwrap(),
            Decision::Teardown {
                app: "bank".into(),
                environment: "pr-feature-df7c7".into(),
                trigger: "branch-deleted",
            }
        );
    }

    #[test]
    fn ping_and_tag_push_are_answered() {
        match decide_sample("ping").unwrap() {
            Decision::Reply(r) => assert_eq!(
                (r.status, r.body["hook_id"].as_u64()),
                (200, Some(481516234))
            ),
            other => panic!("{other:?}"),
        }
        match decide_sample("tag-push").unwrap() {
            Decision::Reply(r) => {
                assert!(r.body["ignored"].as_str().unwrap().contains("not a branch"))
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn bad_signature_and_malformed_body_are_refused() {
        assert_eq!(decide_sample("bad-signature").unwrap_err().status, 401);
        let reply = decide_sample("malformed").unwrap_err();
        assert_eq!(reply.status, 400);
        assert!(reply.body["error"].as_str().unwrap().contains("not JSON"));
    }
}
