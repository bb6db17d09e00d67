//! `teardown`: removes what an environment owns, phase by phase, and
//! nothing else. A resource is deleted only if it carries the environment's
//! ownership tags (the ledger alone is not proof); anything else in the way
//! is skipped and listed with the reason. "Already gone" is success, so every
//! phase is safe to run again, after a crash or on a half-deployed environment.

use serde::Deserialize;
use serde_json::{json, Value};
use tracing::Instrument;

use crate::aws::ec2::Ec2;
use crate::aws::ecs::Ecs;
use crate::aws::elbv2::Elb;
use crate::aws::logs::Logs;
use crate::aws::rds::Rds;
use crate::aws::sfn::StepFunctions;
use crate::aws::store::Store;
use crate::deploy::{now_epoch, rfc3339, CaughtError};
use crate::error::{ErrorKind, StepError};
use crate::image::ImageRef;
use crate::lease::{stop, Claimant, Kind, Verdict, TEARDOWN_DONE, TEARDOWN_FAILED};
use crate::ledger::{env_pk, teardown_sk, EnvironmentRecord, Status, TeardownRecord, ENV_SK};
use crate::naming::Names;
use crate::resources::preview_expiry::PreviewExpiry;
use crate::runtime::parse_input;
use crate::steps::lease::claim;
use crate::steps::{database, load_balancer, network, service};
use crate::teardown::{
    check_request, is_preview, phase_deadline_seconds, TeardownRequest, TeardownState,
};

pub struct Teardown {
    pub store: Store,
    pub ec2: Ec2,
    pub ecs: Ecs,
    pub elb: Elb,
    pub rds: Rds,
    pub logs: Logs,
    pub sfn: StepFunctions,
    /// The stack's preview schedules (`None`: no schedule group).
    pub expiry: Option<PreviewExpiry>,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "phase", rename_all = "snake_case")]
enum Input {
    Begin {
        teardown_id: String,
        #[serde(default)]
        execution_arn: String,
        request: Value,
    },
    /// Take the environment's lease (`done` once held).
    Acquire {
        teardown: TeardownState,
    },
    Service {
        teardown: TeardownState,
    },
    LoadBalancer {
        teardown: TeardownState,
    },
    Database {
        teardown: TeardownState,
    },
    Network {
        teardown: TeardownState,
    },
    Cleanup {
        teardown: TeardownState,
    },
    /// A phase failed (the state machine's Catch): record why, keep the lock.
    Failed {
        teardown: TeardownState,
        error: CaughtError,
    },
}

/// A DependencyViolation means something still holds on (an ENI draining): wait.
pub fn is_dependency(e: &StepError) -> bool {
    e.is_code(&["DependencyViolation", "InvalidDBSubnetGroupStateFault"])
}

impl Teardown {
    pub async fn handle(&self, input: Value) -> Result<Value, StepError> {
        let input: Input = parse_input("teardown input", input)?;
        let (phase, mut t) = match input {
            Input::Begin {
                teardown_id,
                execution_arn,
                request,
            } => {
                let req: TeardownRequest = parse_input(
                    "teardown request (expected {\"app\", \"environment\", \"confirm\"})",
                    request,
                )?;
                check_request(&req)?;
                // The app's spec is only read for its deadline: a teardown of
                // an app whose spec is gone, or no longer valid, still runs.
                let spec = self.store.get_app(&req.app).await;
                match &spec {
                    Err(e) if e.kind == ErrorKind::InvalidInput => {
                        tracing::warn!(app = %req.app, error = %e, "the app's spec is not valid; teardown phases get the default deadline");
                    }
                    _ => {}
                }
                let phase_deadline_seconds = phase_deadline_seconds(spec)?;
                let mut t = TeardownState {
                    preview: is_preview(&req.environment),
                    app: req.app,
                    environment: req.environment,
                    delete_logs: req.delete_logs,
                    teardown_id,
                    execution_arn,
                    seq: 0,
                    done: false,
                    removed: Vec::new(),
                    skipped: Vec::new(),
                    waiting_since: None,
                    waiting_for: None,
                    phase_deadline_seconds,
                };
                // From here on the environment's deployments pushed before
                // this number are cancelled, and none deploys until it ends.
                t.seq = self
                    .store
                    .next_seq(&t.app, &t.environment, &t.teardown_id, Kind::Teardown, None)
                    .await?;
                self.mark(&t, Status::Destroying).await?;
                tracing::info!(app = %t.app, environment = %t.environment, seq = t.seq, "teardown started");
                self.acquire(&mut t).await?;
                return Ok(json!(t));
            }
            Input::Acquire { mut teardown } => {
                let span = tracing::info_span!("teardown", deployment_id = %teardown.teardown_id, phase = "acquire");
                self.acquire(&mut teardown).instrument(span).await?;
                return Ok(json!(teardown));
            }
            Input::Service { teardown } => ("service", teardown),
            Input::LoadBalancer { teardown } => ("load_balancer", teardown),
            Input::Database { teardown } => ("database", teardown),
            Input::Network { teardown } => ("network", teardown),
            Input::Cleanup { teardown } => ("cleanup", teardown),
            Input::Failed { teardown, error } => {
                self.record_failure(&teardown, &error).await?;
                return Ok(json!(teardown));
            }
        };
        let span = tracing::info_span!("teardown", deployment_id = %t.teardown_id, phase);
        async {
            let names = Names::new(&t.app, &t.environment)?;
            let before = t.removed.len();
            t.done = match phase {
                "service" => service::remove(&self.ecs, &names, &mut t).await?,
                "load_balancer" => load_balancer::remove(&self.elb, &names, &mut t).await?,
                "database" => database::remove(&self.rds, &names, &mut t).await?,
                "network" => match network::remove(&self.ec2, &mut t).await {
                    Ok(done) => done,
                    Err(e) if is_dependency(&e) => {
                        tracing::info!(reason = %e, "something still depends on the network; waiting");
                        t.waiting_for = Some(e.to_string());
                        false
                    }
                    Err(e) => return Err(e),
                },
                _ => self.cleanup(&names, &mut t).await?,
            };
            tracing::info!(done = t.done, removed = t.removed.len() - before, "teardown phase");
            if let Some(e) = t.deadline(phase, now_epoch()) {
                tracing::error!(error = %e, "teardown phase past its deadline");
                return Err(e);
            }
            Ok(json!(t))
        }
        .instrument(span)
        .await
    }

    /// Cancel the deployments pushed before this teardown that wait for
    /// their image, then try to take the lease: `done` once held. A running
    /// deployment holding it stops at its next step boundary (it sees this
    /// teardown's number) and lets it go.
    async fn acquire(&self, t: &mut TeardownState) -> Result<(), StepError> {
        self.cancel_parked(t).await?;
        let me = Claimant {
            id: t.teardown_id.clone(),
            execution_arn: t.execution_arn.clone(),
            seq: t.seq,
            kind: Kind::Teardown,
        };
        match claim(&self.store, &self.sfn, &t.app, &t.environment, &me).await? {
            Verdict::Held => {
                t.done = true;
                t.waiting_for = None;
            }
            Verdict::Wait { holder } => {
                tracing::info!(holder = %holder, "waiting for the environment's running deployment to stop");
                t.done = false;
                t.waiting_for = Some(holder);
            }
            verdict => {
                return Err(StepError::fatal(format!(
                    "unexpected lease verdict for a teardown: {verdict:?}"
                )))
            }
        }
        if let Some(e) = t.deadline("lease", now_epoch()) {
            return Err(e);
        }
        Ok(())
    }

    /// Every deployment of the environment pushed before this teardown that
    /// is parked on its image: its waiter is dropped and its execution
    /// resumed with `Cancelled` (it records itself `CANCELLED`), so an image
    /// that arrives later deploys nothing. Those waiting for the lease see
    /// the teardown's number themselves.
    async fn cancel_parked(&self, t: &TeardownState) -> Result<(), StepError> {
        let verdict = Verdict::Cancelled {
            teardown: t.teardown_id.clone(),
        };
        let cause = stop(&t.app, &t.environment, &verdict)
            .map(|e| e.message)
            .unwrap_or_default();
        for d in self.store.deployments(&t.app, &t.environment).await? {
            let older = d.seq.is_some_and(|s| s < t.seq);
            if d.status.is_terminal() || !older {
                continue;
            }
            let Some(image) = d.image.as_deref().and_then(|i| ImageRef::parse(i).ok()) else {
                continue;
            };
            let key = image.wait_key();
            for w in self.store.waiters(&key).await? {
                if w.deployment_id != d.deployment_id {
                    continue;
                }
                let outcome = self
                    .sfn
                    .send_failure(&w.task_token, "Cancelled", &cause)
                    .await?;
                self.store.delete_waiter(&key, &w.deployment_id).await?;
                tracing::info!(cancelled = %d.deployment_id, outcome = ?outcome, "parked deployment cancelled");
            }
        }
        Ok(())
    }

    /// Close the ledger on a teardown that stopped: its `TEARDOWN#` record
    /// says what was removed and why it stopped, the environment is
    /// `TEARDOWN_FAILED`. The lock stays: a push must not rebuild a
    /// half-removed environment behind the operator's back; running the
    /// teardown again takes it over and finishes.
    async fn record_failure(&self, t: &TeardownState, e: &CaughtError) -> Result<(), StepError> {
        let cause = e.message();
        tracing::error!(deployment_id = %t.teardown_id, error = %e.error, cause = %cause, "teardown failed");
        self.store
            .put_teardown(&record(
                t,
                Status::TeardownFailed,
                Some((e.error.clone(), cause)),
            ))
            .await?;
        self.mark(t, Status::TeardownFailed).await?;
        self.store
            .set_teardown_state(&t.app, &t.environment, &t.teardown_id, TEARDOWN_FAILED)
            .await
    }

    async fn mark(&self, t: &TeardownState, status: Status) -> Result<(), StepError> {
        let previous = self.store.get_environment(&t.app, &t.environment).await?;
        self.store
            .put_environment(&EnvironmentRecord {
                pk: env_pk(&t.app, &t.environment),
                sk: ENV_SK.into(),
                app: t.app.clone(),
                environment: t.environment.clone(),
                status,
                last_deployment: previous
                    .as_ref()
                    .map(|p| p.last_deployment.clone())
                    .unwrap_or_default(),
                // Nothing runs once it is destroyed.
                commit: previous
                    .and_then(|p| p.commit)
                    .filter(|_| status != Status::Destroyed),
                url: None,
                failed_deployment: None,
                updated_at: rfc3339(now_epoch()),
            })
            .await
    }

    /// Cluster, task definitions, log group (kept unless asked), then the ledger.
    pub async fn cleanup(&self, names: &Names, t: &mut TeardownState) -> Result<bool, StepError> {
        service::remove_leftovers(&self.ecs, &self.logs, names, t).await?;
        if let Some(expiry) = self.expiry.as_ref().filter(|_| t.preview) {
            // However the preview went, its expiry goes with it.
            expiry.remove(t).await?;
        }
        for r in self.store.resources(&t.app, &t.environment).await? {
            self.store
                .delete_resource(&t.app, &t.environment, &r.kind)
                .await?;
        }
        self.store
            .put_teardown(&record(t, Status::Destroyed, None))
            .await?;
        self.mark(t, Status::Destroyed).await?;
        self.store
            .set_teardown_state(&t.app, &t.environment, &t.teardown_id, TEARDOWN_DONE)
            .await?;
        self.store
            .release_lease(&t.app, &t.environment, &t.execution_arn)
            .await?;
        Ok(true)
    }
}

/// The teardown's `TEARDOWN#` item as it ends: what it removed and skipped
/// (`resource: reason` lines), and, if it failed, the error and its cause.
fn record(t: &TeardownState, status: Status, failure: Option<(String, String)>) -> TeardownRecord {
    let (error, cause) = failure.unzip();
    TeardownRecord {
        pk: env_pk(&t.app, &t.environment),
        sk: teardown_sk(&t.teardown_id),
        teardown_id: t.teardown_id.clone(),
        removed: t.removed.clone(),
        skipped: t
            .skipped
            .iter()
            .map(|s| format!("{}: {}", s.resource, s.reason))
            .collect(),
        finished_at: rfc3339(now_epoch()),
        status,
        error,
        cause,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_phase_is_recorded_with_the_unwrapped_cause() {
        // What the state machine's Record Teardown Failure sends: the state
        // and the Catch's {Error, Cause}, the cause a Lambda error's JSON.
        let input = json!({
            "phase": "failed",
            "teardown": {"app": "bank", "environment": "production", "preview": false,
                         "delete_logs": false, "teardown_id": "t1", "done": false,
                         "removed": ["ECS service bank-production"]},
            "error": {"Error": "StepTimedOut",
                      "Cause": "{\"errorType\":\"StepTimedOut\",\"errorMessage\":\"teardown of bank/production is stuck\"}"}
        });
        let Input::Failed { teardown, error } = parse_input("teardown input", input).unwrap()
        else {
            panic!("not the failed phase")
        };
        let r = record(
            &teardown,
            Status::TeardownFailed,
            Some((error.error.clone(), error.message())),
        );
        assert_eq!(r.status, Status::TeardownFailed);
        assert_eq!(r.error.as_deref(), Some("StepTimedOut"));
        assert_eq!(
            r.cause.as_deref(),
            Some("teardown of bank/production is stuck")
        );
        assert_eq!(r.removed, vec!["ECS service bank-production".to_string()]);
        assert_eq!(
            (r.pk.as_str(), r.sk.as_str()),
            ("ENV#bank#production", "TEARDOWN#t1")
        );
        let done = record(&teardown, Status::Destroyed, None);
        assert_eq!((done.error, done.cause), (None, None));
    }
}
