//! The environment's lease from the steps' side ([`crate::lease`] decides,
//! and says why a deployment stops): number a push, claim the lease, and
//! check it at a step boundary.

use crate::aws::store::Store;
use crate::deploy::{claimant, DeployRequest, Deployment};
use crate::error::{ErrorKind, StepError};
use crate::lease::{decide, stop, Kind, LeaseRecord, Verdict};

/// A push's place in its environment's order: the number its ledger record
/// already has (a redelivery, a retried `Begin Deployment`), else the next
/// one. `maybe_recorded`: whether a record can exist yet (a new delivery's
/// cannot, so it is not read).
pub async fn push_seq(
    store: &Store,
    request: &DeployRequest,
    id: &str,
    maybe_recorded: bool,
) -> Result<u64, StepError> {
    let (app, env) = (&request.app, &request.environment);
    if maybe_recorded {
        if let Some(seq) = store
            .get_deployment(app, env, id)
            .await?
            .and_then(|r| r.seq)
        {
            return Ok(seq);
        }
    }
    store
        .next_seq(app, env, id, Kind::Deploy, request.preview_branch())
        .await
}

/// At a step boundary (each poll of `Provision Network` and `Provision
/// Service`): go on only while this deployment holds the lease and is the
/// newest push; else stop with `Superseded`, `Cancelled` or `Locked`, before
/// any change.
pub async fn check(store: &Store, d: &Deployment) -> Result<(), StepError> {
    let Some(me) = claimant(d) else {
        return Ok(());
    };
    let lease = store.get_lease(&d.app, &d.environment).await?;
    let verdict = decide(lease.as_ref(), &me, None);
    if verdict == Verdict::Held {
        return Ok(());
    }
    let e = stop(&d.app, &d.environment, &verdict).unwrap_or_else(|| lost(d, lease.as_ref()));
    tracing::warn!(reason = %e, "stopping at a step boundary");
    Err(e)
}

/// The lease went to someone else while this deployment ran (its execution
/// was taken for ended): stop, as superseded.
fn lost(d: &Deployment, lease: Option<&LeaseRecord>) -> StepError {
    let holder = lease
        .and_then(LeaseRecord::describe_holder)
        .unwrap_or_else(|| "nobody".into());
    StepError::new(
        ErrorKind::Superseded,
        format!(
            "{}/{} is no longer held by this deployment (held by {holder}): it stopped without changing anything further",
            d.app, d.environment
        ),
    )
}

/// Claim the lease for `me`: take it when free, or when its holder's
/// execution is no longer RUNNING (asking Step Functions), with a
/// conditional write so two claimants never both win. Answers `Held`, or
/// why not (`Wait`, or a verdict to stop on).
#[cfg(feature = "sfn")]
pub async fn claim(
    store: &Store,
    sfn: &crate::aws::sfn::StepFunctions,
    app: &str,
    environment: &str,
    me: &crate::lease::Claimant,
) -> Result<Verdict, StepError> {
    use crate::deploy::{now_epoch, rfc3339};
    for _ in 0..3 {
        let lease = store.get_lease(app, environment).await?;
        let mut verdict = decide(lease.as_ref(), me, None);
        if let Verdict::AskHolder { arn } = &verdict {
            let status = sfn.status(arn).await?;
            let running = status.as_deref() == Some("RUNNING");
            if !running {
                tracing::warn!(holder = %arn, status = ?status, "the lease's holder is no longer running: taking the lease over");
            }
            verdict = decide(lease.as_ref(), me, Some(running));
        }
        match verdict {
            Verdict::Take { over } => {
                let now = rfc3339(now_epoch());
                if store
                    .take_lease(app, environment, me, over.as_deref(), &now)
                    .await?
                {
                    tracing::info!(seq = me.seq, "lease taken");
                    close_ended(store, sfn, app, environment, me).await?;
                    return Ok(Verdict::Held);
                }
                // Someone else wrote first: read it again.
            }
            v => return Ok(v),
        }
    }
    Ok(Verdict::Wait {
        holder: "another execution (the lease changed hands while this one asked)".into(),
    })
}

/// Deployments pushed before `me` whose execution ended without closing
/// their record (aborted, or timed out, e.g. while holding the environment
/// or waiting for it) would stay open in the ledger and in `make status`'s
/// queue: once `me` holds the environment, close them `FAILED`, saying so.
/// Only a record still in the status read is closed: one that ended on its
/// own (it records before its execution ends) is left as it is.
#[cfg(feature = "sfn")]
async fn close_ended(
    store: &Store,
    sfn: &crate::aws::sfn::StepFunctions,
    app: &str,
    environment: &str,
    me: &crate::lease::Claimant,
) -> Result<(), StepError> {
    use crate::deploy::{now_epoch, rfc3339};
    use crate::ledger::{DeploymentUpdate, Field, Status};
    for d in store.deployments(app, environment).await? {
        let older = d.seq.is_some_and(|s| s < me.seq);
        let Some(arn) = d.execution_arn.as_deref().filter(|_| older) else {
            continue;
        };
        if d.status.is_terminal() || d.deployment_id == me.id {
            continue;
        }
        let status = sfn.status(arn).await?;
        if status.as_deref() == Some("RUNNING") {
            continue;
        }
        let status = status.unwrap_or_else(|| "GONE".into());
        let failed = DeploymentUpdate {
            error: Field::Set("ExecutionEnded".into()),
            cause: Field::Set(format!(
                "its execution ended {status} before it recorded an end; {} took {app}/{environment} over. Push again, or start a new execution, to deploy this commit",
                me.id
            )),
            waiting_for: Field::Remove,
            ..DeploymentUpdate::status(Status::Failed, &rfc3339(now_epoch()))
        };
        if store
            .update_deployment_in(app, environment, &d.deployment_id, d.status, &failed)
            .await?
        {
            tracing::warn!(deployment = %d.deployment_id, status, "closed the record of a deployment whose execution ended");
        }
    }
    Ok(())
}
