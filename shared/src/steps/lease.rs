//! The environment's lease from the steps' side ([`crate::lease`] decides):
//! claim it, check it at a step boundary, and say why a deployment stops.

use crate::aws::store::Store;
use crate::deploy::{DeployRequest, Deployment};
use crate::error::{ErrorKind, StepError};
use crate::lease::{decide, Claimant, Kind, LeaseRecord, Verdict};

/// The deployment as a claimant of its environment's lease (`None` for a
/// dry run, which never takes it, or a state from before sequence numbers).
pub fn claimant(d: &Deployment) -> Option<Claimant> {
    Some(Claimant {
        id: d.id.clone(),
        execution_arn: d.execution_arn.clone(),
        seq: d.seq.filter(|_| !d.dry_run)?,
        kind: Kind::Deploy,
    })
}

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

/// The error a deployment stops with for `verdict`, if it must stop: its
/// name is what the state machine's Catch matches.
pub fn stop(app: &str, environment: &str, verdict: &Verdict) -> Option<StepError> {
    Some(match verdict {
        Verdict::Superseded { newest, seq } => StepError::new(
            ErrorKind::Superseded,
            format!(
                "superseded by a newer push to {app}/{environment}: {newest} (push #{seq}) deploys instead; this deployment stopped without changing anything further"
            ),
        ),
        Verdict::Cancelled { teardown } => StepError::new(
            ErrorKind::Cancelled,
            format!(
                "cancelled: {app}/{environment} is torn down by {teardown}, which came after this push; push again (or start a new execution) to recreate it"
            ),
        ),
        Verdict::Locked { teardown, state } => StepError::new(
            ErrorKind::Locked,
            if state == crate::lease::TEARDOWN_FAILED {
                format!(
                    "{app}/{environment} is locked: its teardown {teardown} stopped before the end; run the teardown again until it finishes, then push again"
                )
            } else {
                format!(
                    "{app}/{environment} is being torn down by {teardown}; nothing deploys to it until that teardown finishes: push again, or start this deployment again, afterwards"
                )
            },
        ),
        _ => return None,
    })
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
    me: &Claimant,
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
    me: &Claimant,
) -> Result<(), StepError> {
    use crate::deploy::{now_epoch, rfc3339};
    use crate::ledger::Status;
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
        let fields = [
            ("status", serde_json::json!(Status::Failed)),
            ("error", serde_json::json!("ExecutionEnded")),
            (
                "cause",
                serde_json::json!(format!(
                    "its execution ended {status} before it recorded an end; {} took {app}/{environment} over. Push again, or start a new execution, to deploy this commit",
                    me.id
                )),
            ),
            ("waiting_for", serde_json::Value::Null),
            ("updated_at", serde_json::json!(rfc3339(now_epoch()))),
        ];
        if store
            .update_deployment_in(app, environment, &d.deployment_id, d.status, &fields)
            .await?
        {
            tracing::warn!(deployment = %d.deployment_id, status, "closed the record of a deployment whose execution ended");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_stopping_verdicts_stop() {
        let e = stop(
            "bank",
            "production",
            &Verdict::Superseded {
                newest: "d9".into(),
                seq: 9,
            },
        )
        .unwrap();
        assert_eq!(e.kind, ErrorKind::Superseded);
        assert!(e.message.contains("d9 (push #9)"), "{}", e.message);
        let e = stop(
            "bank",
            "production",
            &Verdict::Cancelled {
                teardown: "td".into(),
            },
        )
        .unwrap();
        assert_eq!(e.kind, ErrorKind::Cancelled);
        assert!(stop("bank", "production", &Verdict::Held).is_none());
        assert!(stop("bank", "production", &Verdict::Wait { holder: "x".into() }).is_none());
    }
}
