//! `webhook`: GitHub deliveries in, at most one deployment per push out.
//!
//! Write order, so a crash between any two writes loses no push and starts no
//! second execution: (1) claim the delivery id (conditional put), (2) give
//! the push its place in the environment's order and record the deployment
//! as queued, (3) start the execution named by the deployment
//! id (the idempotency key), (4) mark the delivery started. A redelivery after
//! a crash finds the claim without "started" and finishes steps 2-4 with the
//! same deployment id.

use serde_json::json;

use crate::aws::secrets::WebhookSecret;
use crate::aws::sfn::StepFunctions;
use crate::aws::store::Store;
use crate::deploy::{now_epoch, rfc3339, DeployRequest};
use crate::error::StepError;
use crate::ledger::{
    delivery_pk, deploy_sk, env_pk, DeliveryRecord, DeploymentRecord, DeploymentUpdate, Field,
    Status, DELIVERY_SK, DELIVERY_TTL_SECONDS,
};
use crate::naming::short_hash;
use crate::webhook::{authenticate, decide, payload, precheck, Decision, Known, RawRequest, Reply};

pub struct Webhook {
    pub secret: WebhookSecret,
    pub store: Store,
    pub sfn: StepFunctions,
    pub deploy_state_machine: String,
    /// Absent until a teardown state machine is deployed.
    pub teardown_state_machine: Option<String>,
    /// A GitHub App can read repositories' `.stepdeploy.toml`
    /// (`STEPDEPLOY_REPOSITORY_FILES`): pushes from repositories with no
    /// registered spec start deployments too.
    pub read_files: bool,
}

impl Webhook {
    /// Answer a delivery. Only AWS being unavailable gives a 5xx (a person redelivers it).
    pub async fn handle(&self, req: RawRequest) -> Reply {
        let delivery = req
            .header("x-github-delivery")
            .unwrap_or_default()
            .to_string();
        let event = req.header("x-github-event").unwrap_or_default().to_string();
        let reply = match self.try_handle(&req, &delivery).await {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(delivery = %delivery, event = %event, error = %e, kind = %e.kind, "delivery not handled");
                Reply::error(503, "the deployer could not reach AWS; GitHub does not retry by itself: redeliver this delivery from the webhook's Recent Deliveries page once AWS answers (it resumes where it stopped)")
            }
        };
        tracing::info!(
            delivery = %delivery,
            event = %event,
            status = reply.status,
            decision = %reply.body.get("ignored").or(reply.body.get("error")).and_then(|v| v.as_str()).unwrap_or(if reply.status == 202 { "deploy" } else { "answered" }),
            deployment_id = reply.body.get("deployment_id").and_then(|v| v.as_str()).unwrap_or(""),
            "webhook delivery"
        );
        reply
    }

    async fn try_handle(&self, req: &RawRequest, delivery: &str) -> Result<Reply, StepError> {
        let event = match precheck(req) {
            Ok(e) => e,
            Err(r) => return Ok(r),
        };
        if let Err(refused) = self.secret.check(|s| authenticate(req, s)).await? {
            return Ok(refused);
        }
        if delivery.is_empty() {
            return Ok(Reply::error(400, "missing X-GitHub-Delivery header"));
        }
        let payload = match payload(req) {
            Ok(p) => p,
            Err(r) => return Ok(r),
        };
        let (registered, from_files) = self.store.all_apps().await?;
        let known = Known {
            registered,
            from_files,
            read_files: self.read_files,
        };
        match decide(event, delivery, payload, &known, now_epoch()) {
            Decision::Reply(r) => Ok(r),
            Decision::Deploy {
                deployment_id,
                request,
            } => self.deploy(event, delivery, deployment_id, request).await,
            Decision::Teardown {
                app,
                environment,
                trigger,
            } => self.teardown(delivery, &app, &environment, trigger).await,
            Decision::ImageArrived(arrival) => {
                let out =
                    crate::steps::arrival::arrived(&self.store, &self.sfn, &known.all(), arrival)
                        .await?;
                Ok(Reply::new(200, out))
            }
        }
    }

    async fn deploy(
        &self,
        event: &str,
        delivery: &str,
        deployment_id: String,
        request: DeployRequest,
    ) -> Result<Reply, StepError> {
        let now = now_epoch();
        let claim = DeliveryRecord {
            pk: delivery_pk(delivery),
            sk: DELIVERY_SK.into(),
            event: event.into(),
            deployment_id: deployment_id.clone(),
            started: false,
            execution_arn: None,
            expires_at: now + DELIVERY_TTL_SECONDS,
        };
        let (id, duplicate) = match self.store.claim_delivery(&claim).await? {
            None => (deployment_id, false),
            Some(earlier) if earlier.started => {
                return Ok(Reply::new(
                    200,
                    json!({"duplicate": true, "deployment_id": earlier.deployment_id, "execution_arn": earlier.execution_arn}),
                ));
            }
            // Claimed by an attempt that has not finished (or crashed): finish it, idempotently.
            Some(earlier) => (earlier.deployment_id, true),
        };
        // A push the repository's file routes gets its place and its record
        // at `Begin Deployment`, once the file says where it goes.
        let routed = !request.app.is_empty();
        let seq = if routed {
            Some(self.record_queued(&request, &id, duplicate, now).await?)
        } else {
            None
        };
        let input = serde_json::to_value(&request).expect("a request serializes");
        let execution_arn = match self
            .sfn
            .start(&self.deploy_state_machine, &id, &input)
            .await
        {
            Ok(arn) => arn,
            Err(e) => {
                if routed {
                    self.not_started(&request, &id, &e).await;
                }
                return Err(e);
            }
        };
        self.store
            .mark_delivery_started(delivery, &execution_arn)
            .await?;
        let mut reply = json!({
            "deployment_id": id,
            "execution_arn": execution_arn,
            "app": request.app,
            "environment": request.environment,
            "commit": request.commit,
            "seq": seq,
            "duplicate": duplicate,
        });
        if !routed {
            reply["spec"] = json!(format!(
                "{} at the commit (read by the deployment)",
                crate::spec::REPOSITORY_FILE
            ));
        }
        Ok(Reply::new(if duplicate { 200 } else { 202 }, reply))
    }

    /// The push's place in the environment's order, given as it arrives
    /// (once: a redelivery keeps the number its record has), and its
    /// record as queued.
    async fn record_queued(
        &self,
        request: &DeployRequest,
        id: &str,
        duplicate: bool,
        now: u64,
    ) -> Result<u64, StepError> {
        let at = rfc3339(now);
        let seq = crate::steps::lease::push_seq(&self.store, request, id, duplicate).await?;
        self.store
            .create_deployment(&DeploymentRecord {
                pk: env_pk(&request.app, &request.environment),
                sk: deploy_sk(id),
                deployment_id: id.into(),
                app: request.app.clone(),
                environment: request.environment.clone(),
                commit: request.commit.clone(),
                branch: request.branch.clone(),
                repository: request.trigger.as_ref().and_then(|t| t.repository.clone()),
                preview: crate::teardown::is_preview(&request.environment),
                status: Status::Queued,
                seq: Some(seq),
                waiting_for: None,
                trigger: "push".into(),
                execution_arn: None,
                image: None,
                url: None,
                error: None,
                cause: None,
                plan: Vec::new(),
                created_at: at.clone(),
                updated_at: at,
            })
            .await?;
        Ok(seq)
    }

    /// The execution could not be started: close the queued record (nothing
    /// runs until the delivery comes again), saying how to start it. Only a
    /// record still QUEUED: a StartExecution that took effect though its
    /// answer was lost has an execution that already moved the record on.
    /// Best effort: AWS may be failing for this write too; the claim on the
    /// delivery stays unstarted either way, so a redelivery (GitHub's
    /// "Redeliver") starts it under the same deployment id and the record
    /// moves on from there.
    async fn not_started(&self, request: &DeployRequest, id: &str, e: &StepError) {
        let cause = format!(
            "the deployment could not be started: {e}; redeliver the push from the GitHub webhook's Recent Deliveries page (it starts under this deployment id), or push again"
        );
        let failed = DeploymentUpdate {
            error: Field::Set("NotStarted".into()),
            cause: Field::Set(cause),
            ..DeploymentUpdate::status(Status::Failed, &rfc3339(now_epoch()))
        };
        match self
            .store
            .update_deployment_in(
                &request.app,
                &request.environment,
                id,
                Status::Queued,
                &failed,
            )
            .await
        {
            Ok(true) => {}
            Ok(false) => {
                tracing::info!(deployment_id = %id, "the deployment's record moved on: its execution started after all")
            }
            Err(again) => {
                tracing::error!(deployment_id = %id, error = %again, "could not record that the deployment did not start")
            }
        }
    }

    async fn teardown(
        &self,
        delivery: &str,
        app: &str,
        environment: &str,
        trigger: &str,
    ) -> Result<Reply, StepError> {
        if trigger != "branch-deleted" {
            // Its comment is not written on again by later pushes to the branch.
            self.store.close_pull(app, environment).await?;
        }
        let Some(machine) = &self.teardown_state_machine else {
            return Ok(Reply::ignored(format!(
                "teardown of {environment} is not available in this deployer"
            )));
        };
        let name = format!("teardown-{app}-{environment}-{}", short_hash(delivery, 8));
        let input = json!({"app": app, "environment": environment, "trigger": {"kind": trigger, "delivery": delivery}});
        let execution_arn = self.sfn.start(machine, &name, &input).await?;
        Ok(Reply::new(
            202,
            json!({"teardown": environment, "app": app, "execution_arn": execution_arn}),
        ))
    }
}
