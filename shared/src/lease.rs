//! The per-environment lease: one ledger item (`sk` = `LOCK`) that
//!
//! - **orders pushes**: `seq` is an atomic counter; each push (the webhook),
//!   console execution (`Begin Deployment`) and teardown takes the next
//!   number, so a higher number is a newer request, whatever order their
//!   executions run in;
//! - **says who may change the environment**: the holder is an execution
//!   (its ARN), not a Lambda invocation, so it survives retries; a holder
//!   whose execution is no longer RUNNING is taken over;
//! - **remembers the last teardown**: deployments pushed before it are
//!   cancelled, and none deploys while it runs or after it failed.
//!
//! Every write to it is conditional (see [`crate::aws::store`]); what a
//! claimant should do about the item as read is [`decide`], a pure function.

use serde::{Deserialize, Serialize};

use crate::error::{ErrorKind, StepError};

/// `teardown_state`: the last teardown is running (or waiting for the lease).
pub const TEARDOWN_PENDING: &str = "pending";
/// `teardown_state`: the last teardown stopped before the end; the environment
/// stays locked until a teardown runs to the end.
pub const TEARDOWN_FAILED: &str = "failed";
/// `teardown_state`: the last teardown removed everything.
pub const TEARDOWN_DONE: &str = "done";

/// The lease item. Every field but the key is optional: an item written by
/// an older version (a teardown's lock: `holder`, `kind`, `since`) still reads.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseRecord {
    pub pk: String,
    pub sk: String,
    /// The last sequence number given out.
    #[serde(default)]
    pub seq: u64,
    /// The deployment (or teardown) that took `seq`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub newest: Option<String>,
    /// Who may change the environment now: a deployment or teardown id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub holder: Option<String>,
    /// The holder's execution.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub holder_arn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub holder_seq: Option<u64>,
    /// `deploy` or `teardown`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
    /// The last teardown asked for, and its sequence number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub teardown_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub teardown_seq: Option<u64>,
    /// [`TEARDOWN_PENDING`], [`TEARDOWN_FAILED`] or [`TEARDOWN_DONE`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub teardown_state: Option<String>,
    /// A preview's branch, set by its first push and cleared by its
    /// teardown: another branch whose name maps to the same preview is refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
}

impl LeaseRecord {
    /// "`<holder>` (a deploy since …)", for messages and `make status`.
    pub fn describe_holder(&self) -> Option<String> {
        let holder = self.holder.as_deref()?;
        Some(format!(
            "{holder} (a {} since {})",
            self.kind.as_deref().unwrap_or("teardown"),
            self.since.as_deref().unwrap_or("?")
        ))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Deploy,
    Teardown,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Deploy => "deploy",
            Kind::Teardown => "teardown",
        }
    }
}

/// Who asks for the lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claimant {
    pub id: String,
    pub execution_arn: String,
    pub seq: u64,
    pub kind: Kind,
}

/// What a claimant should do about the lease as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// It holds the lease: go on.
    Held,
    /// Take it (a conditional write): it is free, or its holder's execution
    /// (`over`, an ARN) is no longer running.
    Take { over: Option<String> },
    /// Someone else holds it: ask Step Functions whether this execution is
    /// still running, then decide again.
    AskHolder { arn: String },
    /// Someone else holds it and is running: wait a poll interval.
    Wait { holder: String },
    /// A newer push came: stop without changing anything.
    Superseded { newest: String, seq: u64 },
    /// A teardown came after this push: stop without changing anything.
    Cancelled { teardown: String },
    /// A teardown is running or failed, and this push came after it started:
    /// refused (push again once the teardown has finished).
    Locked { teardown: String, state: String },
}

/// The verdict for `me` on `lease` (`None`: no item yet). `holder_running`
/// is what Step Functions said of the holder's execution, once asked.
pub fn decide(lease: Option<&LeaseRecord>, me: &Claimant, holder_running: Option<bool>) -> Verdict {
    let Some(lease) = lease else {
        return Verdict::Take { over: None };
    };
    let teardown = || lease.teardown_id.clone().unwrap_or_default();
    if me.kind == Kind::Deploy {
        if lease.teardown_seq.is_some_and(|t| t > me.seq) {
            return Verdict::Cancelled {
                teardown: teardown(),
            };
        }
        if let Some(state) = lease
            .teardown_state
            .as_deref()
            .filter(|s| *s != TEARDOWN_DONE)
        {
            return Verdict::Locked {
                teardown: teardown(),
                state: state.to_string(),
            };
        }
        if lease.seq > me.seq {
            return Verdict::Superseded {
                newest: lease.newest.clone().unwrap_or_default(),
                seq: lease.seq,
            };
        }
    }
    match lease.holder_arn.as_deref().filter(|arn| !arn.is_empty()) {
        Some(arn) if arn == me.execution_arn => Verdict::Held,
        // A holder with no execution to ask (a teardown's lock from before
        // holders had ARNs, or a teardown invoked directly): only a
        // teardown takes it over.
        None if lease.holder.is_some() && me.kind == Kind::Deploy => Verdict::Locked {
            teardown: lease.holder.clone().unwrap_or_default(),
            state: TEARDOWN_PENDING.into(),
        },
        None => Verdict::Take {
            over: lease.holder_arn.clone(),
        },
        Some(arn) => match holder_running {
            None => Verdict::AskHolder { arn: arn.into() },
            Some(true) => Verdict::Wait {
                holder: lease.describe_holder().unwrap_or_else(|| arn.to_string()),
            },
            Some(false) => Verdict::Take {
                over: Some(arn.into()),
            },
        },
    }
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
            if state == TEARDOWN_FAILED {
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

#[cfg(test)]
mod tests {
    use super::*;

    const ME: &str = "arn:aws:states:us-east-1:1:execution:sd-deploy:d5";
    const OTHER: &str = "arn:aws:states:us-east-1:1:execution:sd-deploy:d4";

    fn me(seq: u64) -> Claimant {
        Claimant {
            id: "d5".into(),
            execution_arn: ME.into(),
            seq,
            kind: Kind::Deploy,
        }
    }

    fn lease(seq: u64, holder: Option<&str>) -> LeaseRecord {
        LeaseRecord {
            pk: "ENV#bank#production".into(),
            sk: "LOCK".into(),
            seq,
            newest: Some(format!("d{seq}")),
            holder: holder.map(|_| "d4".into()),
            holder_arn: holder.map(String::from),
            holder_seq: holder.map(|_| 4),
            kind: holder.map(|_| "deploy".into()),
            since: holder.map(|_| "2026-12-02T10:00:00Z".into()),
            ..LeaseRecord::default()
        }
    }

    fn torn(mut l: LeaseRecord, seq: u64, state: &str) -> LeaseRecord {
        l.teardown_id = Some("td".into());
        l.teardown_seq = Some(seq);
        l.teardown_state = Some(state.into());
        l
    }

    #[test]
    fn deploy_verdicts() {
        use Verdict::*;
        let cases: Vec<(&str, Option<LeaseRecord>, Option<bool>, Verdict)> = vec![
            ("no item yet", None, None, Take { over: None }),
            (
                "free, newest",
                Some(lease(5, None)),
                None,
                Take { over: None },
            ),
            ("held by me", Some(lease(5, Some(ME))), None, Held),
            (
                "held by another: ask",
                Some(lease(5, Some(OTHER))),
                None,
                AskHolder { arn: OTHER.into() },
            ),
            (
                "held by a running one: wait",
                Some(lease(5, Some(OTHER))),
                Some(true),
                Wait {
                    holder: "d4 (a deploy since 2026-12-02T10:00:00Z)".into(),
                },
            ),
            (
                "held by an ended one: take over",
                Some(lease(5, Some(OTHER))),
                Some(false),
                Take {
                    over: Some(OTHER.into()),
                },
            ),
            (
                "a newer push: superseded, even holding it",
                Some(lease(6, Some(ME))),
                None,
                Superseded {
                    newest: "d6".into(),
                    seq: 6,
                },
            ),
            (
                "a teardown after this push: cancelled",
                Some(torn(lease(6, None), 6, TEARDOWN_PENDING)),
                None,
                Cancelled {
                    teardown: "td".into(),
                },
            ),
            (
                "a finished teardown after this push: still cancelled",
                Some(torn(lease(6, None), 6, TEARDOWN_DONE)),
                None,
                Cancelled {
                    teardown: "td".into(),
                },
            ),
            (
                "a teardown running since before this push: locked",
                Some(torn(lease(5, None), 4, TEARDOWN_PENDING)),
                None,
                Locked {
                    teardown: "td".into(),
                    state: TEARDOWN_PENDING.into(),
                },
            ),
            (
                "a failed teardown: locked",
                Some(torn(lease(5, None), 4, TEARDOWN_FAILED)),
                None,
                Locked {
                    teardown: "td".into(),
                    state: TEARDOWN_FAILED.into(),
                },
            ),
            (
                "a push after a finished teardown recreates",
                Some(torn(lease(5, None), 4, TEARDOWN_DONE)),
                None,
                Take { over: None },
            ),
        ];
        for (name, lease, running, want) in cases {
            assert_eq!(decide(lease.as_ref(), &me(5), running), want, "{name}");
        }
    }

    #[test]
    fn a_teardown_waits_for_a_running_holder_and_is_never_superseded() {
        let t = Claimant {
            id: "td".into(),
            execution_arn: "arn:td".into(),
            seq: 7,
            kind: Kind::Teardown,
        };
        let l = torn(lease(8, Some(OTHER)), 7, TEARDOWN_PENDING);
        assert_eq!(
            decide(Some(&l), &t, None),
            Verdict::AskHolder { arn: OTHER.into() }
        );
        assert!(matches!(
            decide(Some(&l), &t, Some(true)),
            Verdict::Wait { .. }
        ));
        assert_eq!(
            decide(Some(&l), &t, Some(false)),
            Verdict::Take {
                over: Some(OTHER.into())
            }
        );
        // A failed teardown's lease is taken over by the teardown run again.
        let mut failed = torn(lease(7, Some("arn:old-td")), 6, TEARDOWN_FAILED);
        failed.kind = Some("teardown".into());
        assert_eq!(
            decide(Some(&failed), &t, Some(false)),
            Verdict::Take {
                over: Some("arn:old-td".into())
            }
        );
    }

    #[test]
    fn an_old_teardown_lock_still_reads() {
        let old: LeaseRecord = serde_json::from_value(serde_json::json!({
            "pk": "ENV#bank#production", "sk": "LOCK",
            "holder": "td", "kind": "teardown", "since": "2026-01-01T00:00:00Z"
        }))
        .unwrap();
        assert_eq!(old.seq, 0);
        assert!(matches!(
            decide(Some(&old), &me(1), None),
            Verdict::Locked { .. }
        ));
        let teardown = Claimant {
            kind: Kind::Teardown,
            ..me(1)
        };
        assert_eq!(
            decide(Some(&old), &teardown, None),
            Verdict::Take { over: None }
        );
        // Taken by a teardown invoked without an execution: taken over as read.
        let unaskable = LeaseRecord {
            holder_arn: Some(String::new()),
            ..old
        };
        assert_eq!(
            decide(Some(&unaskable), &teardown, None),
            Verdict::Take {
                over: Some(String::new())
            }
        );
    }

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
