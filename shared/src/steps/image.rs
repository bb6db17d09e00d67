//! `image-ready`: parks a deployment until its image exists, and resumes
//! every deployment waiting on an image when it arrives: announced by ECR
//! (EventBridge), or by Docker Hub (a webhook on a secret path, with no
//! digest: the registry is asked which digest the pushed tag points at).
//!
//! Waiter and arrival meet in the ledger under the image's wait key. Each side
//! writes its own item first and reads the other's second (strongly
//! consistent), so whichever comes last sees the first: an image pushed while
//! the state machine is on its way to `Wait For Image` is never missed. Both
//! may resume the same token; the second `SendTaskSuccess` finds it gone.

use serde::Deserialize;
use serde_json::{json, Value};
use tracing::Instrument;

use crate::apigw::{
    path_segment_after, raw_request, respond, ApiGatewayV2httpRequest, ApiGatewayV2httpResponse,
};
use crate::aws::ecr::Ecr;
use crate::aws::secrets::WebhookSecret;
use crate::aws::sfn::StepFunctions;
use crate::aws::store::Store;
use crate::deploy::{now_epoch, rfc3339, Deployment, ResolvedImage};
use crate::error::{ErrorKind, StepError};
use crate::image::{parse_ecr_event, Arrival, EcrImageActionEvent};
use crate::ledger::{image_pk, waiter_sk, WaiterRecord};
use crate::registry::client::Registry;
use crate::runtime::parse_input;
use crate::steps::arrival;
use crate::webhook::{authenticate_docker_hub, docker_hub_image, Reply};

/// The deploy state machine's request: wait for this deployment's image.
#[derive(Debug, Deserialize)]
pub struct AwaitRequest {
    pub task_token: String,
    pub deployment: Deployment,
}

/// A dry run's question: is this deployment's image there, and at which
/// digest? Answered at once, never parked.
#[derive(Debug, Deserialize)]
pub struct LookUpRequest {
    pub deployment: Deployment,
}

/// Every event `image-ready` takes.
#[derive(Debug)]
pub enum ImageEvent {
    /// The deploy state machine parks a deployment until its image exists.
    Wait(AwaitRequest),
    /// A dry run asks whether the image exists, without waiting.
    LookUp(LookUpRequest),
    /// EventBridge announces an ECR push.
    Ecr(EcrImageActionEvent),
    /// A Docker Hub webhook through the HTTP API.
    Http(Box<ApiGatewayV2httpRequest>),
}

impl ImageEvent {
    pub fn parse(event: Value) -> Result<ImageEvent, StepError> {
        if event.get("task_token").is_some() {
            return parse_input("wait request", event).map(ImageEvent::Wait);
        }
        if event.get("deployment").is_some() {
            return parse_input("image look-up request", event).map(ImageEvent::LookUp);
        }
        if event.get("source").and_then(Value::as_str) == Some("aws.ecr") {
            return parse_input("ECR Image Action event", event).map(ImageEvent::Ecr);
        }
        if event.get("requestContext").is_some() {
            return parse_input("HTTP API request", event).map(|r| ImageEvent::Http(Box::new(r)));
        }
        Err(StepError::invalid_input(
            "unrecognised event: image-ready takes an EventBridge ECR Image Action event, a Docker Hub webhook (HTTP API request on /dockerhub/<token>), a wait request {\"task_token\", \"deployment\"} or a look-up {\"deployment\"} from the deploy state machine",
        ))
    }
}

/// What the registries (and the ledger's arrivals) say of an image.
enum Found {
    Digest(String),
    Failed(String),
    Absent,
}

pub struct ImageReady {
    pub store: Store,
    pub sfn: StepFunctions,
    pub ecr: Ecr,
    /// Reads digests of images on Docker Hub (and the registries like it).
    pub registry: Registry,
    /// The token a Docker Hub hook's URL path must end in; `None` when the
    /// deployer takes no Docker Hub hooks.
    pub docker_hub_token: Option<WebhookSecret>,
}

impl ImageReady {
    /// Handle any of the events `image-ready` takes.
    pub async fn handle(&self, event: Value) -> Result<Value, StepError> {
        match ImageEvent::parse(event)? {
            ImageEvent::Wait(req) => {
                let span = tracing::info_span!("deployment", deployment_id = %req.deployment.id);
                self.wait(req).instrument(span).await
            }
            ImageEvent::LookUp(req) => {
                let span = tracing::info_span!("deployment", deployment_id = %req.deployment.id);
                self.look_up_for(&req.deployment).instrument(span).await
            }
            ImageEvent::Ecr(ev) => match parse_ecr_event(&ev)? {
                Some(arrival) => {
                    // Registered apps and those deploying from their repository's file.
                    let apps = self.store.deployable_apps().await?;
                    arrival::arrived(&self.store, &self.sfn, &apps, arrival).await
                }
                None => Ok(json!({"ignored": "ECR event announces no tagged push"})),
            },
            ImageEvent::Http(req) => {
                let resp = self.docker_hub(&req).await;
                Ok(serde_json::to_value(resp).expect("a response serializes"))
            }
        }
    }

    /// A Docker Hub webhook. Only AWS or the registry being unavailable
    /// gives a 5xx; Docker Hub shows it in the webhook's history (it does
    /// not redeliver).
    async fn docker_hub(&self, req: &ApiGatewayV2httpRequest) -> ApiGatewayV2httpResponse {
        let reply = match self.try_docker_hub(req).await {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(error = %e, kind = %e.kind, "Docker Hub hook not handled");
                // The caller may not be authenticated yet: no details in the answer.
                Reply::error(
                    503,
                    "the deployer could not handle the push (its logs say why); push the tag again, or start the waiting deployment again once the image exists",
                )
            }
        };
        tracing::info!(
            source = "docker-hub",
            status = reply.status,
            image = reply.body.get("image").and_then(|v| v.as_str()).unwrap_or(""),
            outcome = %reply.body.get("ignored").or(reply.body.get("error")).and_then(|v| v.as_str()).unwrap_or("handled"),
            "Docker Hub hook"
        );
        respond(reply)
    }

    async fn try_docker_hub(&self, req: &ApiGatewayV2httpRequest) -> Result<Reply, StepError> {
        let Some(secret) = &self.docker_hub_token else {
            return Ok(Reply::error(
                404,
                "this deployer takes no Docker Hub webhooks (STEPDEPLOY_DOCKER_HUB_TOKEN_SECRET_ID is not set)",
            ));
        };
        let token = path_segment_after(req, "token", "dockerhub");
        let accept = |s: &[Vec<u8>]| authenticate_docker_hub(token.as_deref(), s);
        if let Err(refused) = secret.check(accept).await? {
            return Ok(refused);
        }
        let raw = match raw_request(req) {
            Ok(r) => r,
            Err(r) => return Ok(r),
        };
        let image = match docker_hub_image(&raw) {
            Ok(Some(image)) => image,
            Ok(None) => return Ok(Reply::ignored("a push without a tag announces no image")),
            Err(r) => return Ok(r),
        };
        let apps = self.store.deployable_apps().await?;
        if !arrival::watched(&self.store, &apps, &image).await? {
            return Ok(Reply::new(200, arrival::unwatched(&image)));
        }
        // One lookup, no waiting here: a deployment that misses this push
        // reads the registry again when it is started again.
        let arrival = match self.registry.digest(&image).await {
            Ok(Some(digest)) => Arrival::Pushed { image, digest },
            // The image can never be read (a private repository): fail the waiters with why.
            Err(e) if e.kind == ErrorKind::Fatal => Arrival::Failed {
                image,
                reason: e.message,
            },
            unreadable => {
                let why = match unreadable {
                    Err(e) => format!("its registry could not be read ({e})"),
                    _ => "its registry has no such tag".to_string(),
                };
                return Ok(Reply::new(
                    502,
                    json!({"image": image.wait_key(), "error": format!(
                        "Docker Hub announced {image} but {why}; deployments waiting on it keep waiting: push the tag again, or start the deployment again (it reads the registry before it waits)"
                    )}),
                ));
            }
        };
        let out = arrival::deliver(&self.store, &self.sfn, arrival).await?;
        Ok(Reply::new(200, out))
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
        let found = self.find(image).await?;
        let outcome = match found {
            Found::Digest(digest) => {
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
            Found::Failed(reason) => {
                tracing::warn!(image = %key, %reason, "image push failed");
                Some(
                    self.sfn
                        .send_failure(&req.task_token, ErrorKind::ImageFailed.name(), &reason)
                        .await?,
                )
            }
            Found::Absent => None,
        };
        if outcome.is_some() {
            self.store.delete_waiter(&key, &d.id).await?;
            return Ok(json!({"waiting": false, "image": key}));
        }
        tracing::info!(image = %key, timeout_seconds = d.image_timeout_seconds, "waiting for the image");
        Ok(json!({"waiting": true, "image": key}))
    }

    /// A dry run's look-up: the image pinned by digest when it is there,
    /// `null` when a deployment would wait for it. Parks nothing.
    async fn look_up_for(&self, d: &Deployment) -> Result<Value, StepError> {
        let image = &d.image;
        let digest = match &image.digest {
            Some(digest) => Some(digest.clone()),
            None => match self.find(image).await? {
                Found::Digest(digest) => Some(digest),
                Found::Failed(_) | Found::Absent => None,
            },
        };
        let resolved = digest.map(|digest| ResolvedImage {
            uri: image.pinned(&digest),
            digest,
            waited: false,
        });
        tracing::info!(image = %image, found = resolved.is_some(), "image looked up for a dry run");
        Ok(json!(resolved))
    }

    /// Ask the image's registry (ECR, or Docker Hub's), then the ledger's
    /// record of announced arrivals.
    async fn find(&self, image: &crate::image::ImageRef) -> Result<Found, StepError> {
        let digest = match (image.ecr_repository(), image.tag.as_deref()) {
            (Some(repo), Some(tag)) => self.ecr.image_digest(repo, tag).await?,
            // Docker Hub's hook may have come and gone before this wait: ask its registry.
            _ if image.is_docker_hub() => match self.registry.digest(image).await {
                Ok(d) => d,
                Err(e) => {
                    tracing::warn!(image = %image.wait_key(), error = %e, "could not ask Docker Hub for the image; waiting for its hook");
                    None
                }
            },
            _ => None,
        };
        if let Some(digest) = digest {
            return Ok(Found::Digest(digest));
        }
        Ok(match self.store.get_arrival(&image.wait_key()).await? {
            Some(a) => match (a.digest, a.failure) {
                (Some(digest), _) => Found::Digest(digest),
                (None, Some(reason)) => Found::Failed(reason),
                (None, None) => Found::Absent,
            },
            None => Found::Absent,
        })
    }
}
