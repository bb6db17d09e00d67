//! What `Begin Deployment` makes of a request: the verdict, and the ledger
//! writes that record it. Pure: the step (`steps::record`) reads, calls
//! [`decide_begin`], and does what the verdict says.
//!
//! Some of what it reads depends on a write before it, so the decision is
//! taken in rounds, each on everything read so far ([`BeginRead`]). While the
//! verdict asks for something ([`Begin::ReadRegistration`],
//! [`Begin::LookUpName`], [`Begin::ClaimName`], [`Begin::Number`]) the step
//! reads or writes it, puts the answer in [`BeginRead`] and decides again:
//!
//! 1. **Which spec, and where it deploys**, from the request, the registered
//!    spec, the repository's file and the operator's limits: ignored (not for
//!    stepdeploy), refused, or on.
//! 2. **The app's name**, when the spec is the repository's file: the name
//!    must be that repository's. Its registration is read; unless it is
//!    another repository's, the name is claimed, a conditional write whose
//!    answer is who has it (a dry run only looks). Then refused, or on.
//! 3. **The push order**, unless a dry run: the push keeps the number its
//!    record has, else takes the lease's next one (a write), and the lease is
//!    read as that left it.
//! 4. **The verdict**: refused (the preview is another branch's, or a
//!    teardown holds the environment), stopped before it starts (a newer push
//!    or a later teardown came: `Record Stopped` closes it), or started.
//!
//! A round asks only for an answer it does not have yet, so a decision takes
//! at most four rounds and a fifth call. The writes of a verdict are in the
//! order the step applies them (first the preview's expiry, when it starts),
//! and each is safe to repeat: a crash after any of them converges on retry.

use super::{
    choose, claimant, resolve, rfc3339, CaughtError, Chosen, DeployRequest, DeployState,
    Deployment, RepositorySpec,
};
use crate::error::{ErrorKind, StepError};
use crate::lease::{decide, stop, LeaseRecord};
use crate::ledger::{
    deploy_sk, env_pk, DeploymentRecord, DeploymentUpdate, Field, LedgerWrite, PullRecord,
    RepositoryAppRecord, Status, PULL_SK,
};
use crate::spec::{AppSpec, Limits, REPOSITORY_FILE};

/// What `Begin Deployment` has read, and the answers of its rounds so far.
#[derive(Debug, Clone)]
pub struct BeginRead {
    /// The request, as the state machine gave it.
    pub request: DeployRequest,
    /// The execution's name (the deployment id) and ARN.
    pub id: String,
    pub execution_arn: String,
    pub poll_seconds: u64,
    /// When it began (epoch seconds).
    pub now: u64,
    /// The operator's spec for `request.app` (none when the push leaves the
    /// app to the repository's file).
    pub registered: Option<AppSpec>,
    /// What `Read Spec` found at the commit.
    pub file: RepositorySpec,
    /// The registered app has deployed from its repository's file (read only
    /// when the file could not be).
    pub file_deployed: bool,
    pub limits: Limits,
    /// Round 2: what is known of the name the file gives the app.
    pub name: AppName,
    /// Round 3: the push's number, and the lease after it.
    pub order: Option<Order>,
}

/// What is known of the name a repository's file gives its app.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum AppName {
    /// Nothing yet.
    #[default]
    Unread,
    /// The repository an operator registered the name for (`None`: nobody).
    Registered(Option<String>),
    /// The claim's answer: the other repository whose file has the name
    /// (`None`: this repository has it now).
    Claimed(Option<String>),
    /// A dry run claims nothing: the repository whose file has the name, if any.
    Looked(Option<String>),
}

/// A push's place in its environment's order, and the lease as read after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Order {
    pub seq: u64,
    pub lease: Option<LeaseRecord>,
}

/// What `Begin Deployment` does next.
#[derive(Debug, Clone, PartialEq)]
#[allow(clippy::large_enum_variant)] // made a few times per deployment
pub enum Begin {
    /// Not for stepdeploy: the execution ends at once, recording nothing.
    Ignore(String),
    /// Refused: `writes` close the deployment's record `REFUSED` (none when
    /// the request names no environment), then the execution fails with `error`.
    Refuse {
        error: StepError,
        writes: Vec<LedgerWrite>,
    },
    /// Not the request's fault: the execution fails, recording nothing.
    Fail(StepError),
    /// Round 2: read the registered spec of `app` ([`AppName::Registered`]).
    ReadRegistration { app: String },
    /// Round 2, a dry run: read which repository's file has `app` ([`AppName::Looked`]).
    LookUpName { app: String },
    /// Round 2: claim the name, only if no other repository has it
    /// (`Store::claim_repository_app`; [`AppName::Claimed`]).
    ClaimName(RepositoryAppRecord),
    /// Round 3: number the push routed as this request, then read its
    /// environment's lease ([`Order`]).
    Number(DeployRequest),
    /// A newer push or a later teardown came first: `writes` record the
    /// deployment (in progress), and `Record Stopped` closes it with `reason`
    /// (also in `state.error`) without any change.
    Stopped {
        state: DeployState,
        reason: StepError,
        writes: Vec<LedgerWrite>,
    },
    /// It starts: the preview's expiry moves on (its resource's plan), then
    /// `writes` record it, in progress.
    Start {
        state: DeployState,
        writes: Vec<LedgerWrite>,
    },
}

/// The verdict on what has been read so far (see the module's rounds).
pub fn decide_begin(read: &BeginRead) -> Begin {
    // 1. Which spec, and where it deploys.
    let chosen = choose(
        &read.request,
        read.file.clone(),
        read.registered.clone(),
        read.file_deployed,
        &read.limits,
    );
    let (spec, routed, from_file) = match chosen {
        Ok(Chosen::Ignore(why)) => return Begin::Ignore(why),
        Ok(Chosen::Deploy {
            spec,
            request,
            from_file,
        }) => (spec, request, from_file),
        Err(e) => return refuse_early(read, e),
    };
    // 2. A file's app name is its repository's.
    if from_file {
        match app_name(read, &spec, &routed) {
            Ok(None) => {}
            Ok(Some(ask)) => return ask,
            Err(e) => return refuse_early(read, e),
        }
    }
    let mut deployment = match resolve(
        &routed,
        &spec,
        &read.id,
        &read.execution_arn,
        read.poll_seconds,
        read.now,
    ) {
        Ok(d) => d,
        Err(e) => return refuse_early(read, e),
    };
    // 3. Its place in the push order, and the lease as that left it.
    let mut stopped = None;
    if !deployment.dry_run {
        let Some(order) = &read.order else {
            return Begin::Number(routed);
        };
        deployment.seq = Some(order.seq);
        let me = claimant(&deployment).expect("a deployment with a sequence number");
        let lease = order.lease.as_ref();
        if let Some(e) = branch_conflict(&deployment, lease) {
            return refuse(read, &routed, e);
        }
        let (app, env) = (&deployment.app, &deployment.environment);
        match stop(app, env, &decide(lease, &me, None)) {
            Some(e) if e.kind == ErrorKind::Locked => return refuse(read, &routed, e),
            // Superseded or cancelled before it started.
            Some(e) => stopped = Some(e),
            None => {}
        }
    }
    // 4. It goes on: recorded as started (`Record Stopped` closes it if it stops).
    let at = rfc3339(read.now);
    let mut writes = Vec::new();
    if let Some(number) = routed
        .pull_request()
        .filter(|_| deployment.preview && !deployment.dry_run)
    {
        // The preview's comment goes on this pull request from now on.
        writes.push(LedgerWrite::Pull(PullRecord {
            pk: env_pk(&deployment.app, &deployment.environment),
            sk: PULL_SK.into(),
            repository: spec.repository.clone(),
            number,
            open: true,
            updated_at: at.clone(),
        }));
    }
    // Queued by the webhook (or a re-run): move it on.
    writes.push(LedgerWrite::Deployment {
        record: started_record(&deployment, &spec.repository, &read.execution_arn, &at),
        update: DeploymentUpdate {
            repository: Field::Set(spec.repository.clone()),
            preview: Field::Set(deployment.preview),
            execution_arn: Field::Set(read.execution_arn.clone()),
            image: Field::Set(deployment.image.to_string()),
            seq: Field::set_or_remove(deployment.seq),
            ..DeploymentUpdate::status(Status::InProgress, &at)
        },
    });
    let state = DeployState {
        error: stopped.as_ref().map(|e| CaughtError {
            error: e.kind.name().into(),
            cause: Some(e.message.clone()),
        }),
        ..DeployState::new(deployment, spec)
    };
    match stopped {
        Some(reason) => Begin::Stopped {
            state,
            reason,
            writes,
        },
        None => Begin::Start { state, writes },
    }
}

/// Round 2: an app named by a repository's file belongs to that
/// repository: not to a registered app of another repository, nor to
/// another repository's file that took the name first. `Ok(None)`: it is
/// this repository's; `Ok(Some(_))`: what to read or claim first.
fn app_name(
    read: &BeginRead,
    spec: &AppSpec,
    routed: &DeployRequest,
) -> Result<Option<Begin>, StepError> {
    let ours = |repo: &str| repo.eq_ignore_ascii_case(&spec.repository);
    let taken = |owner: &str, how: &str| {
        StepError::invalid_input(format!(
            "the app name {:?} in {REPOSITORY_FILE} is {how} {owner}: give this repository's app another name (name = \"…\" in {REPOSITORY_FILE})",
            spec.name
        ))
    };
    match &read.name {
        AppName::Unread => Ok(Some(Begin::ReadRegistration {
            app: spec.name.clone(),
        })),
        AppName::Registered(Some(repo)) if !ours(repo) => Err(taken(repo, "registered for")),
        AppName::Registered(_) if routed.dry_run => Ok(Some(Begin::LookUpName {
            app: spec.name.clone(),
        })),
        AppName::Registered(_) => Ok(Some(Begin::ClaimName(RepositoryAppRecord::new(
            &spec.name,
            &spec.repository,
            serde_json::to_string(spec).expect("a spec serializes"),
            &routed.commit,
            &rfc3339(read.now),
        )))),
        AppName::Looked(Some(owner)) if !ours(owner) => Err(taken(owner, "taken by")),
        AppName::Claimed(Some(owner)) => Err(taken(owner, "taken by")),
        AppName::Looked(_) | AppName::Claimed(None) => Ok(None),
    }
}

/// Refused while it was routed or resolved: recorded under the request as
/// it came, if that names an environment (a push the file could not route
/// names none: only the execution says why). An error that is not the
/// request's fault fails the execution and records nothing.
fn refuse_early(read: &BeginRead, error: StepError) -> Begin {
    let request = &read.request;
    if error.kind != ErrorKind::InvalidInput {
        Begin::Fail(error)
    } else if request.app.is_empty() || request.environment.is_empty() {
        Begin::Refuse {
            error,
            writes: Vec::new(),
        }
    } else {
        refuse(read, request, error)
    }
}

/// A request refused before anything started still closes its ledger
/// record (the webhook may have queued it): `REFUSED`, with the reason.
fn refuse(read: &BeginRead, request: &DeployRequest, error: StepError) -> Begin {
    let at = rfc3339(read.now);
    let record = DeploymentRecord {
        pk: env_pk(&request.app, &request.environment),
        sk: deploy_sk(&read.id),
        deployment_id: read.id.clone(),
        app: request.app.clone(),
        environment: request.environment.clone(),
        commit: request.commit.clone(),
        branch: request.branch.clone(),
        repository: request.trigger.as_ref().and_then(|t| t.repository.clone()),
        preview: false,
        status: Status::Refused,
        seq: None,
        waiting_for: None,
        trigger: request
            .trigger
            .as_ref()
            .map_or_else(|| "manual".into(), |t| t.kind.clone()),
        execution_arn: Some(read.execution_arn.clone()),
        image: request.image.clone(),
        url: None,
        error: Some(error.kind.name().into()),
        cause: Some(error.message.clone()),
        plan: Vec::new(),
        created_at: at.clone(),
        updated_at: at.clone(),
    };
    let update = DeploymentUpdate {
        error: Field::Set(error.kind.name().into()),
        cause: Field::Set(error.message.clone()),
        execution_arn: Field::Set(read.execution_arn.clone()),
        ..DeploymentUpdate::status(Status::Refused, &at)
    };
    Begin::Refuse {
        error,
        writes: vec![LedgerWrite::Deployment { record, update }],
    }
}

/// A deployment's ledger record as it starts.
fn started_record(
    d: &Deployment,
    repository: &str,
    execution_arn: &str,
    at: &str,
) -> DeploymentRecord {
    DeploymentRecord {
        pk: env_pk(&d.app, &d.environment),
        sk: deploy_sk(&d.id),
        deployment_id: d.id.clone(),
        app: d.app.clone(),
        environment: d.environment.clone(),
        commit: d.commit.clone(),
        branch: d.branch.clone(),
        repository: Some(repository.into()),
        preview: d.preview,
        status: Status::InProgress,
        seq: d.seq,
        waiting_for: None,
        trigger: d.trigger.kind.clone(),
        execution_arn: Some(execution_arn.into()),
        image: Some(d.image.to_string()),
        url: None,
        error: None,
        cause: None,
        plan: Vec::new(),
        created_at: at.into(),
        updated_at: at.into(),
    }
}

/// A preview belongs to the branch that first pushed to it (until a
/// teardown): another branch whose name maps to it is refused.
fn branch_conflict(d: &Deployment, lease: Option<&LeaseRecord>) -> Option<StepError> {
    let owner = lease?.branch.as_deref()?;
    let branch = d.branch.as_deref().filter(|_| d.preview)?;
    (owner != branch).then(|| {
        StepError::invalid_input(format!(
            "preview {} belongs to branch {owner:?}; branch {branch:?} maps to the same name: rename the branch, or delete {owner:?} (its preview is then torn down) and push again",
            d.environment
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deploy::Trigger;
    use crate::naming::preview_environment;

    use crate::deploy::test_push as push;

    const SHA: &str = crate::deploy::TEST_COMMIT;
    const ARN: &str = "arn:aws:states:us-east-1:123456789012:execution:stepdeploy-deploy:d3";
    const NOW: u64 = 1_764_737_100;

    /// A pull request's push to its preview.
    fn pull(number: u64) -> DeployRequest {
        let branch = "feature/x";
        let mut request = push("bank", &preview_environment(branch), branch);
        request.trigger = Some(Trigger {
            kind: "pull_request".into(),
            pull_request: Some(number),
            ..request.trigger.unwrap()
        });
        request
    }

    fn console(app: &str, environment: &str) -> DeployRequest {
        DeployRequest {
            app: app.into(),
            environment: environment.into(),
            commit: SHA.into(),
            ..DeployRequest::default()
        }
    }

    fn dry(request: DeployRequest) -> DeployRequest {
        DeployRequest {
            dry_run: true,
            ..request
        }
    }

    fn registered() -> AppSpec {
        AppSpec::from_json(
            r#"{"name":"bank","repository":"acme/flask-banking","previews":{"enabled":true}}"#,
        )
        .unwrap()
    }

    fn found(text: &str) -> RepositorySpec {
        RepositorySpec::Found {
            repository: "acme/flask-banking".into(),
            text: text.into(),
        }
    }

    /// A registered app's request, nothing read past the first round.
    fn read(request: DeployRequest) -> BeginRead {
        BeginRead {
            request,
            id: "d3".into(),
            execution_arn: ARN.into(),
            poll_seconds: 5,
            now: NOW,
            registered: Some(registered()),
            file: RepositorySpec::Off {
                why: "no GitHub App".into(),
            },
            file_deployed: false,
            limits: Limits::default(),
            name: AppName::Unread,
            order: None,
        }
    }

    /// An unrouted push whose repository's file names and routes the app.
    fn from_file(request: DeployRequest, name: AppName) -> BeginRead {
        BeginRead {
            registered: None,
            file: found("[service]\ndesired_count = 1\n"),
            name,
            ..read(request)
        }
    }

    /// Push #3, and the lease as it left it.
    fn numbered(request: DeployRequest, lease: Option<LeaseRecord>) -> BeginRead {
        BeginRead {
            order: Some(Order { seq: 3, lease }),
            ..read(request)
        }
    }

    fn lease(change: impl FnOnce(&mut LeaseRecord)) -> Option<LeaseRecord> {
        let mut lease = LeaseRecord {
            pk: env_pk("bank", "production"),
            sk: "LOCK".into(),
            seq: 3,
            newest: Some("d3".into()),
            ..LeaseRecord::default()
        };
        change(&mut lease);
        Some(lease)
    }

    /// The verdict's name, the writes it asks for, and what it says.
    fn outcome(verdict: &Begin) -> (&'static str, Vec<String>, String) {
        let writes = |writes: &[LedgerWrite]| -> Vec<String> {
            writes
                .iter()
                .map(|w| match w {
                    LedgerWrite::Pull(p) => format!("pull #{}", p.number),
                    LedgerWrite::Deployment { record, .. } => {
                        format!("deployment {:?}", record.status)
                    }
                })
                .collect()
        };
        match verdict {
            Begin::Ignore(why) => ("ignore", vec![], why.clone()),
            Begin::Refuse { error, writes: w } => (
                "refuse",
                writes(w),
                format!("{}: {}", error.kind, error.message),
            ),
            Begin::Fail(e) => ("fail", vec![], e.message.clone()),
            Begin::ReadRegistration { app } => ("read registration", vec![], app.clone()),
            Begin::LookUpName { app } => ("look up name", vec![], app.clone()),
            Begin::ClaimName(claim) => (
                "claim name",
                vec![],
                format!("{} for {}", claim.app, claim.repository),
            ),
            Begin::Number(routed) => (
                "number",
                vec![],
                format!("{}/{}", routed.app, routed.environment),
            ),
            Begin::Stopped {
                reason, writes: w, ..
            } => (
                "stopped",
                writes(w),
                format!("{}: {}", reason.kind, reason.message),
            ),
            Begin::Start { state, writes: w } => (
                "start",
                writes(w),
                format!(
                    "{}/{} seq {:?}",
                    state.deployment.app, state.deployment.environment, state.deployment.seq
                ),
            ),
        }
    }

    #[test]
    fn decide_table() {
        let started_preview = format!("bank/{} seq Some(3)", preview_environment("feature/x"));
        let other = "other/shop".to_string();
        // (case, what was read, verdict, writes, what it says)
        let cases: Vec<(&str, BeginRead, &str, Vec<&str>, &str)> = vec![
            // 1. Which spec, and where it deploys.
            (
                "no file and no registered spec: ignore",
                BeginRead {
                    registered: None,
                    ..read(push("", "", "main"))
                },
                "ignore",
                vec![],
                "acme/flask-banking has no .stepdeploy.toml",
            ),
            (
                "a branch the file sends nowhere: ignore",
                from_file(push("", "", "docs/typo"), AppName::Unread),
                "ignore",
                vec![],
                "branch docs/typo maps to no environment in .stepdeploy.toml",
            ),
            (
                "an app nobody registered and no file: refuse, recorded",
                BeginRead {
                    registered: None,
                    ..read(console("shop", "production"))
                },
                "refuse",
                vec!["deployment Refused"],
                "InvalidInput: app \"shop\" is not registered",
            ),
            (
                "a file GitHub cannot give, for an unrouted push: refuse, nowhere to record it",
                BeginRead {
                    registered: None,
                    file: RepositorySpec::Unreadable {
                        repository: "acme/flask-banking".into(),
                        why: "GitHub answered 502".into(),
                    },
                    ..read(push("", "", "main"))
                },
                "refuse",
                vec![],
                "InvalidInput: could not read .stepdeploy.toml at 0123456",
            ),
            (
                "over the operator's limits: refuse",
                BeginRead {
                    limits: Limits {
                        max_desired_count: 0,
                        ..Limits::default()
                    },
                    ..read(console("bank", "production"))
                },
                "refuse",
                vec!["deployment Refused"],
                "InvalidInput: the app's registered spec asks for more",
            ),
            // 2. The app's name, when the file gives it.
            (
                "the file's app: read who the name is registered for",
                from_file(push("", "", "main"), AppName::Unread),
                "read registration",
                vec![],
                "flaskbanking",
            ),
            (
                "registered for another repository: refuse (under the request as it came)",
                from_file(push("", "", "main"), AppName::Registered(Some(other.clone()))),
                "refuse",
                vec![],
                "InvalidInput: the app name \"flaskbanking\" in .stepdeploy.toml is registered for other/shop",
            ),
            (
                "not registered: claim it, for the repository in lowercase",
                from_file(
                    push("", "", "main"),
                    AppName::Registered(None),
                ),
                "claim name",
                vec![],
                "flaskbanking for acme/flask-banking",
            ),
            (
                "registered for this repository: claim it",
                from_file(
                    push("", "", "main"),
                    AppName::Registered(Some("ACME/flask-banking".into())),
                ),
                "claim name",
                vec![],
                "flaskbanking for acme/flask-banking",
            ),
            (
                "a dry run claims nothing: look who has the name",
                from_file(dry(push("", "", "main")), AppName::Registered(None)),
                "look up name",
                vec![],
                "flaskbanking",
            ),
            (
                "another repository's file has it: refuse",
                BeginRead {
                    registered: Some(registered()),
                    ..from_file(
                        push("bank", "production", "main"),
                        AppName::Claimed(Some(other.clone())),
                    )
                },
                "refuse",
                vec!["deployment Refused"],
                "InvalidInput: the app name \"bank\" in .stepdeploy.toml is taken by other/shop",
            ),
            (
                "a dry run, another repository's file has it: refuse",
                from_file(
                    dry(push("", "", "main")),
                    AppName::Looked(Some(other.clone())),
                ),
                "refuse",
                vec![],
                "is taken by other/shop",
            ),
            (
                "a dry run, this repository's file has it: start, unnumbered",
                from_file(
                    dry(push("", "", "main")),
                    AppName::Looked(Some("Acme/Flask-Banking".into())),
                ),
                "start",
                vec!["deployment InProgress"],
                "flaskbanking/production seq None",
            ),
            (
                "the name claimed: number the push",
                from_file(push("", "", "main"), AppName::Claimed(None)),
                "number",
                vec![],
                "flaskbanking/production",
            ),
            (
                "a commit that is not a full sha: refuse, recorded",
                read(DeployRequest {
                    commit: "abc1234".into(),
                    ..console("bank", "production")
                }),
                "refuse",
                vec!["deployment Refused"],
                "InvalidInput: commit \"abc1234\" must be a full 40-character",
            ),
            // 3. The push order.
            (
                "a registered app's push: number it",
                read(push("bank", "production", "main")),
                "number",
                vec![],
                "bank/production",
            ),
            (
                "a dry run takes no number: start",
                read(dry(console("bank", "production"))),
                "start",
                vec!["deployment InProgress"],
                "bank/production seq None",
            ),
            // 4. The verdict on the lease.
            (
                "the first push: start",
                numbered(push("bank", "production", "main"), None),
                "start",
                vec!["deployment InProgress"],
                "bank/production seq Some(3)",
            ),
            (
                "the newest push, another execution holds the lease: start (Acquire Lease waits)",
                numbered(
                    push("bank", "production", "main"),
                    lease(|l| {
                        l.holder = Some("d2".into());
                        l.holder_arn = Some("arn:aws:states:us-east-1:1:execution:x:d2".into());
                    }),
                ),
                "start",
                vec!["deployment InProgress"],
                "bank/production seq Some(3)",
            ),
            (
                "a pull request's preview: start, its pull request recorded first",
                numbered(pull(7), None),
                "start",
                vec!["pull #7", "deployment InProgress"],
                started_preview.as_str(),
            ),
            (
                "the preview is another branch's: refuse, recorded",
                numbered(pull(7), lease(|l| l.branch = Some("feature-x".into()))),
                "refuse",
                vec!["deployment Refused"],
                "InvalidInput: preview pr-",
            ),
            (
                "a teardown runs: refuse, locked",
                numbered(
                    push("bank", "production", "main"),
                    lease(|l| {
                        l.teardown_id = Some("t2".into());
                        l.teardown_seq = Some(2);
                        l.teardown_state = Some("pending".into());
                    }),
                ),
                "refuse",
                vec!["deployment Refused"],
                "Locked: bank/production is being torn down by t2",
            ),
            (
                "a newer push came: stopped before it starts, recorded in progress",
                numbered(
                    push("bank", "production", "main"),
                    lease(|l| {
                        l.seq = 4;
                        l.newest = Some("d4".into());
                    }),
                ),
                "stopped",
                vec!["deployment InProgress"],
                "Superseded: superseded by a newer push to bank/production: d4 (push #4)",
            ),
            (
                "a later teardown: stopped, cancelled; a preview's pull request still recorded",
                numbered(
                    pull(7),
                    lease(|l| {
                        l.teardown_id = Some("t4".into());
                        l.teardown_seq = Some(4);
                        l.teardown_state = Some("pending".into());
                    }),
                ),
                "stopped",
                vec!["pull #7", "deployment InProgress"],
                "Cancelled: cancelled: bank/pr-",
            ),
        ];
        for (case, read, verdict, writes, says) in cases {
            let (got, got_writes, got_says) = outcome(&decide_begin(&read));
            let got_writes: Vec<&str> = got_writes.iter().map(String::as_str).collect();
            assert_eq!((got, got_writes), (verdict, writes), "{case}: {got_says}");
            assert!(got_says.contains(says), "{case}: {got_says}");
        }
        // An error that is not the request's fault (none of the above can
        // raise one) records nothing.
        let e = StepError::fatal("the ledger answered nonsense");
        assert_eq!(
            refuse_early(&read(console("bank", "production")), e.clone()),
            Begin::Fail(e)
        );
    }

    #[test]
    fn a_start_records_what_began_deployment_always_recorded() {
        let Begin::Start { state, writes } = decide_begin(&numbered(pull(7), None)) else {
            panic!("not started");
        };
        let d = &state.deployment;
        assert_eq!(
            (d.seq, d.preview, state.error.clone()),
            (Some(3), true, None)
        );
        let at = "2025-12-03T04:45:00Z";
        let [LedgerWrite::Pull(pr), LedgerWrite::Deployment { record, update }] = &writes[..]
        else {
            panic!("{writes:?}");
        };
        assert_eq!(
            (
                pr.number,
                pr.repository.as_str(),
                pr.open,
                pr.updated_at.as_str()
            ),
            (7, "acme/flask-banking", true, at)
        );
        assert_eq!(pr.pk, record.pk);
        assert_eq!(
            (record.status, record.seq, record.execution_arn.as_deref()),
            (Status::InProgress, Some(3), Some(ARN))
        );
        assert_eq!(record.image.as_deref(), Some(d.image.to_string().as_str()));
        assert_eq!(
            update,
            &DeploymentUpdate {
                status: Field::Set(Status::InProgress),
                repository: Field::Set("acme/flask-banking".into()),
                preview: Field::Set(true),
                execution_arn: Field::Set(ARN.into()),
                image: Field::Set(d.image.to_string()),
                seq: Field::Set(3),
                updated_at: Field::Set(at.into()),
                ..DeploymentUpdate::default()
            }
        );
        // A dry run has no number: a queued record's is removed.
        let Begin::Start { writes, .. } = decide_begin(&read(dry(console("bank", "production"))))
        else {
            panic!("not started");
        };
        let [LedgerWrite::Deployment { update, .. }] = &writes[..] else {
            panic!("{writes:?}");
        };
        assert_eq!(update.seq, Field::Remove);
    }

    #[test]
    fn a_refusal_records_the_request_and_why() {
        let Begin::Refuse { error, writes } = decide_begin(&read(DeployRequest {
            image: Some("registry.example/bank:1".into()),
            ..push("bank", "staging", "main")
        })) else {
            panic!("not refused");
        };
        let [LedgerWrite::Deployment { record, update }] = &writes[..] else {
            panic!("{writes:?}");
        };
        assert_eq!(
            (
                record.environment.as_str(),
                record.status,
                record.trigger.as_str(),
                record.image.as_deref(),
                record.repository.as_deref(),
            ),
            (
                "staging",
                Status::Refused,
                "push",
                Some("registry.example/bank:1"),
                Some("acme/flask-banking")
            )
        );
        assert_eq!(record.cause.as_deref(), Some(error.message.as_str()));
        assert_eq!(
            update,
            &DeploymentUpdate {
                error: Field::Set("InvalidInput".into()),
                cause: Field::Set(error.message.clone()),
                execution_arn: Field::Set(ARN.into()),
                ..DeploymentUpdate::status(Status::Refused, "2025-12-03T04:45:00Z")
            }
        );
    }

    #[test]
    fn a_stopped_deployment_carries_why_to_record_stopped() {
        let superseded = lease(|l| {
            l.seq = 4;
            l.newest = Some("d4".into());
        });
        let Begin::Stopped { state, reason, .. } =
            decide_begin(&numbered(push("bank", "production", "main"), superseded))
        else {
            panic!("not stopped");
        };
        assert_eq!(
            state.error,
            Some(CaughtError {
                error: "Superseded".into(),
                cause: Some(reason.message),
            })
        );
    }

    /// The step's loop, with a ledger that answers as given: every request
    /// ends within five decisions, asking each question once.
    #[test]
    fn the_rounds_end() {
        let answer = |read: &mut BeginRead, ask: &Begin| match ask {
            Begin::ReadRegistration { .. } => read.name = AppName::Registered(None),
            Begin::LookUpName { .. } => read.name = AppName::Looked(None),
            Begin::ClaimName(_) => read.name = AppName::Claimed(None),
            Begin::Number(_) => {
                read.order = Some(Order {
                    seq: 1,
                    lease: None,
                })
            }
            _ => unreachable!(),
        };
        for (case, first, asked) in [
            (
                "a file's push",
                from_file(push("", "", "main"), AppName::Unread),
                vec!["read registration", "claim name", "number", "start"],
            ),
            (
                "a file's dry run",
                from_file(dry(push("", "", "main")), AppName::Unread),
                vec!["read registration", "look up name", "start"],
            ),
            (
                "a registered app's push",
                read(push("bank", "production", "main")),
                vec!["number", "start"],
            ),
        ] {
            let mut read = first;
            let mut verdicts = Vec::new();
            loop {
                let verdict = decide_begin(&read);
                verdicts.push(outcome(&verdict).0);
                if matches!(verdict, Begin::Start { .. }) || verdicts.len() > 5 {
                    break;
                }
                answer(&mut read, &verdict);
            }
            assert_eq!(verdicts, asked, "{case}");
        }
    }
}
