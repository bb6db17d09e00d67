//! Image arrivals: record them, then hand them to the deployments waiting.
//! Shared by `image-ready` (ECR, Docker Hub) and the webhook (GitHub packages).

use serde_json::{json, Value};
use tracing::Instrument;

use crate::aws::sfn::{StepFunctions, TokenOutcome};
use crate::aws::store::Store;
use crate::deploy::{now_epoch, ResolvedImage};
use crate::error::{ErrorKind, StepError};
use crate::image::{Arrival, ImageRef};
use crate::ledger::{image_pk, ArrivalRecord, ARRIVAL_SK, ARRIVAL_TTL_SECONDS};
use crate::spec::AppSpec;

/// Whether an image event concerns us: one of `apps` deploys from its
/// repository, or a deployment (started with an explicit image) waits on it.
pub async fn watched(store: &Store, apps: &[AppSpec], image: &ImageRef) -> Result<bool, StepError> {
    if apps.iter().any(|a| a.watches(image)) {
        return Ok(true);
    }
    Ok(!store.waiters(&image.wait_key()).await?.is_empty())
}

/// The answer to an event about a repository nobody deploys from.
pub fn unwatched(image: &ImageRef) -> Value {
    tracing::info!(image = %image.wait_key(), "image event ignored: no registered app deploys from this repository and no deployment waits on it");
    json!({"image": image.wait_key(), "ignored": "no registered app deploys from this repository"})
}

/// An image arrived (or failed to): if it concerns us, record it, then
/// resume every deployment waiting on it (a failed push fails them with its
/// reason).
pub async fn arrived(
    store: &Store,
    sfn: &StepFunctions,
    apps: &[AppSpec],
    arrival: Arrival,
) -> Result<Value, StepError> {
    if !watched(store, apps, arrival.image()).await? {
        return Ok(unwatched(arrival.image()));
    }
    deliver(store, sfn, arrival).await
}

/// Record an arrival and hand it to its waiters (the caller checked it is watched).
pub async fn deliver(
    store: &Store,
    sfn: &StepFunctions,
    arrival: Arrival,
) -> Result<Value, StepError> {
    let key = arrival.image().wait_key();
    let (digest, failure) = match &arrival {
        Arrival::Pushed { digest, .. } => (Some(digest.clone()), None),
        Arrival::Failed { reason, .. } => (None, Some(reason.clone())),
    };
    store
        .put_arrival(&ArrivalRecord {
            pk: image_pk(&key),
            sk: ARRIVAL_SK.into(),
            image: key.clone(),
            digest: digest.clone(),
            failure: failure.clone(),
            expires_at: now_epoch() + ARRIVAL_TTL_SECONDS,
        })
        .await?;
    let waiters = store.waiters(&key).await?;
    let (mut resumed, mut gone) = (Vec::new(), 0);
    for w in &waiters {
        let span = tracing::info_span!("deployment", deployment_id = %w.deployment_id);
        let outcome = async {
            let outcome = match (&digest, &failure) {
                (Some(digest), _) => {
                    let resolved = ResolvedImage {
                        uri: arrival.image().pinned(digest),
                        digest: digest.clone(),
                        waited: true,
                    };
                    sfn.send_success(&w.task_token, &json!(resolved)).await?
                }
                (None, reason) => {
                    let reason = reason.clone().unwrap_or_default();
                    sfn.send_failure(&w.task_token, ErrorKind::ImageFailed.name(), &reason).await?
                }
            };
            tracing::info!(image = %key, outcome = ?outcome, "image arrival handed to the waiting deployment");
            // Resumed or gone (timed out, ended): either way nobody waits on this token now.
            store.delete_waiter(&key, &w.deployment_id).await?;
            Ok::<_, StepError>(outcome)
        }
        .instrument(span)
        .await?;
        match outcome {
            TokenOutcome::Delivered => resumed.push(w.deployment_id.clone()),
            TokenOutcome::Gone => gone += 1,
        }
    }
    if waiters.is_empty() {
        tracing::info!(image = %key, "image arrived; no deployment waits for it (recorded for one that may)");
    }
    Ok(json!({ "image": key, "digest": digest, "resumed": resumed, "expired_waiters": gone }))
}
