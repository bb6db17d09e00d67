//! `image-ready`: parks a deployment until its image exists, and resumes
//! every deployment waiting on an image when it arrives.
//!
//! Waiter and arrival meet in the ledger under the image's wait key. Each side
//! writes its own item first and reads the other's second (strongly
//! consistent), so whichever comes last sees the first: an image pushed while
//! the state machine is on its way to `Wait For Image` is never missed. Both
//! may resume the same token; the second `SendTaskSuccess` finds it gone.

use serde::Deserialize;
use serde_json::{json, Value};
use tracing::Instrument;

use crate::aws::ecr::Ecr;
use crate::aws::sfn::StepFunctions;
use crate::aws::store::Store;
use crate::deploy::{now_epoch, rfc3339, Deployment, ResolvedImage};
use crate::error::{ErrorKind, StepError};
use crate::image::{parse_ecr_event, Arrival, EcrImageActionEvent};
use crate::ledger::{image_pk, waiter_sk, WaiterRecord};
use crate::runtime::parse_input;

/// The deploy state machine's request: wait for this deployment's image.
#[derive(Debug, Deserialize)]
pub struct AwaitRequest {
    pub task_token: String,
    pub deployment: Deployment,
}

pub struct ImageReady {
    pub store: Store,
    pub sfn: StepFunctions,
    pub ecr: Ecr,
}

impl ImageReady {
    /// Route any of the events `image-ready` takes.
    pub async fn handle(&self, event: Value) -> Result<Value, StepError> {
        if event.get("task_token").is_some() {
            let req: AwaitRequest = parse_input("wait request", event)?;
            let span = tracing::info_span!("deployment", deployment_id = %req.deployment.id);
            return self.wait(req).instrument(span).await;
        }
        if event.get("source").and_then(Value::as_str) == Some("aws.ecr") {
            let ev: EcrImageActionEvent = parse_input("ECR Image Action event", event)?;
            return match parse_ecr_event(&ev)? {
                Some(arrival) => self.arrived(arrival).await,
                None => Ok(json!({"ignored": "ECR event announces no tagged push"})),
            };
        }
        Err(StepError::invalid_input(
            "unrecognised event: image-ready takes an EventBridge ECR Image Action event, or a wait request {\"task_token\", \"deployment\"} from the deploy state machine",
        ))
    }

    async fn wait(&self, req: AwaitRequest) -> Result<Value, StepError> {
        let d = &req.deployment;
        let image = &d.image;
        if let Some(digest) = &image.digest {
            // Pinned in the request: nothing to wait for.
            let resolved = ResolvedImage {
                uri: image.pinned(digest),
                digest: digest.clone(),
                waited: false,
            };
            self.sfn
                .send_success(&req.task_token, &json!(resolved))
                .await?;
            return Ok(json!({"waiting": false, "image": resolved.uri}));
        }
        let key = image.wait_key();
        let now = now_epoch();
        self.store
            .put_waiter(&WaiterRecord {
                pk: image_pk(&key),
                sk: waiter_sk(&d.id),
                deployment_id: d.id.clone(),
                task_token: req.task_token.clone(),
                image: key.clone(),
                since: rfc3339(now),
                expires_at: now + d.image_timeout_seconds + 3600,
            })
            .await?;
        let mut digest = match (image.ecr_repository(), image.tag.as_deref()) {
            (Some(repo), Some(tag)) => self.ecr.image_digest(repo, tag).await?,
            _ => None,
        };
        let mut failure = None;
        if digest.is_none() {
            if let Some(arrival) = self.store.get_arrival(&key).await? {
                digest = arrival.digest;
                failure = arrival.failure;
            }
        }
        let outcome = match (digest, failure) {
            (Some(digest), _) => {
                let resolved = ResolvedImage {
                    uri: image.pinned(&digest),
                    digest,
                    waited: false,
                };
                tracing::info!(image = %resolved.uri, "image already there; not waiting");
                Some(
                    self.sfn
                        .send_success(&req.task_token, &json!(resolved))
                        .await?,
                )
            }
            (None, Some(reason)) => {
                tracing::warn!(image = %key, %reason, "image push failed");
                Some(
                    self.sfn
                        .send_failure(&req.task_token, ErrorKind::ImageFailed.name(), &reason)
                        .await?,
                )
            }
            (None, None) => None,
        };
        if outcome.is_some() {
            self.store.delete_waiter(&key, &d.id).await?;
            return Ok(json!({"waiting": false, "image": key}));
        }
        tracing::info!(image = %key, timeout_seconds = d.image_timeout_seconds, "waiting for the image");
        Ok(json!({"waiting": true, "image": key}))
    }

    /// An image arrived (or failed to): record it, then resume its waiters.
    pub async fn arrived(&self, arrival: Arrival) -> Result<Value, StepError> {
        crate::steps::arrival::arrived(&self.store, &self.sfn, arrival).await
    }
}
