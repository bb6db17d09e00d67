//! `github`: tells GitHub how a deployment goes, as the stack's GitHub App.
//! The deploy state machine calls it when a deployment is queued, when it
//! takes its environment (in progress) and when it ends; what it reports at
//! the end is what the ledger says. It never fails a deployment: an App that
//! is not configured or not installed, GitHub down, rate limits that outlast
//! the retries, all end in `{"reported": false, "why": …}` and a log line.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Deserialize;
use serde_json::{json, Value};
use tracing::Instrument;

use crate::aws::secrets::WebhookSecret;
use crate::aws::store::Store;
use crate::deploy::{DeployRequest, RepositorySpec};
use crate::error::StepError;
use crate::github::client::{GitHub, NewDeployment};
use crate::github::{
    comment_marker, console_url, context, report, shorten, teardown_reason, PreviewComment,
    GITHUB_API, MAX_DESCRIPTION,
};
use crate::ledger::{DeploymentRecord, PullRecord, Status};
use crate::runtime::parse_input;
use crate::spec::REPOSITORY_FILE;

/// A report gives up after this long (GitHub down, rate limits): the
/// deployment waits for it no longer.
const DEADLINE: Duration = Duration::from_secs(60);

/// Where the deploy state machine is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Recorded, waiting for its image or its turn.
    Queued,
    /// Holding its environment: changes are being made.
    InProgress,
    /// Ended: report the ledger's status.
    #[default]
    End,
    /// The teardown removed the environment: its live Deployments go `inactive`.
    TornDown,
}

#[derive(Debug, Deserialize)]
pub struct ReportRequest {
    pub app: String,
    pub environment: String,
    pub deployment_id: String,
    #[serde(default)]
    pub phase: Phase,
    /// `Report Torn Down`: the teardown's request (its `trigger` says why).
    #[serde(default)]
    pub request: Option<Value>,
}

/// The App's identity: its id and where its private key is kept.
pub struct App {
    pub api: String,
    pub app_id: String,
    key: WebhookSecret,
    client: Mutex<Option<Arc<GitHub>>>,
}

impl App {
    /// From `STEPDEPLOY_GITHUB_APP_ID` and `STEPDEPLOY_GITHUB_APP_KEY` (the
    /// secret holding the App's private key); `None` (reporting off) when
    /// no App id is set.
    pub fn from_env(config: &aws_config::SdkConfig) -> Option<App> {
        let var = crate::runtime::optional_env_var;
        let app_id = var("STEPDEPLOY_GITHUB_APP_ID")?;
        let key = var("STEPDEPLOY_GITHUB_APP_KEY")?;
        Some(App {
            api: var("STEPDEPLOY_GITHUB_API_URL").unwrap_or_else(|| GITHUB_API.to_string()),
            app_id,
            key: WebhookSecret::new(config, key),
            client: Mutex::new(None),
        })
    }

    /// The client, made on first use (the key is read once per instance).
    async fn client(&self) -> Result<Arc<GitHub>, String> {
        if let Some(c) = self.client.lock().expect("lock").clone() {
            return Ok(c);
        }
        let values = self.key.values().await.map_err(|e| e.message)?;
        let pem = String::from_utf8_lossy(&values[0]).into_owned();
        let client = Arc::new(GitHub::new(&self.api, &self.app_id, &pem)?);
        *self.client.lock().expect("lock") = Some(client.clone());
        Ok(client)
    }
}

pub struct Reporter {
    pub store: Store,
    pub app: Option<App>,
}

/// `Read Spec`: the deployment request, whose repository's file is read at its commit.
#[derive(Debug, Deserialize)]
pub struct SpecRequest {
    pub deployment_id: String,
    pub request: DeployRequest,
}

/// `Report Refusal`: a request refused at `Begin Deployment` (nothing in
/// the ledger may say where: the file that routes it may be what is wrong).
#[derive(Debug, Deserialize)]
pub struct RefusalRequest {
    pub deployment_id: String,
    /// The execution's input, with the state machine's `error` and `refusal` beside it.
    pub request: Value,
    pub execution_arn: String,
    /// The Step Functions error name (`InvalidInput`, `Locked`).
    pub error: String,
    pub cause: String,
}

pub async fn handle(reporter: &Reporter, input: Value) -> Result<Value, StepError> {
    match input.get("phase").and_then(Value::as_str) {
        Some("spec") => {
            let SpecRequest {
                deployment_id,
                request,
            } = parse_input("Read Spec request", input)?;
            let span =
                tracing::info_span!("deployment", deployment_id = %deployment_id, step = "github");
            let found = read_spec(reporter, &request).instrument(span).await?;
            return Ok(serde_json::to_value(found).expect("serializes"));
        }
        Some("refused") => {
            let refusal: RefusalRequest = parse_input("Report Refusal request", input)?;
            let span = tracing::info_span!("deployment", deployment_id = %refusal.deployment_id, step = "github");
            return Ok(report_refusal(reporter, &refusal).instrument(span).await);
        }
        _ => {}
    }
    let request: ReportRequest = parse_input("GitHub report request", input)?;
    let span =
        tracing::info_span!("deployment", deployment_id = %request.deployment_id, step = "github");
    async {
        let Some(app) = &reporter.app else {
            return Ok(not_reported("no GitHub App is configured (GitHubAppId)"));
        };
        if request.phase == Phase::TornDown {
            return torn_down(app, &reporter.store, &request).await;
        }
        let Some(record) = reporter
            .store
            .get_deployment(&request.app, &request.environment, &request.deployment_id)
            .await?
        else {
            return Ok(not_reported("the deployment is not in the ledger"));
        };
        // A preview's pull request, while it is open, shows it in a comment.
        let pull = if record.preview {
            reporter
                .store
                .get_pull(&request.app, &request.environment)
                .await?
                .filter(|p| p.open)
        } else {
            None
        };
        let status = match request.phase {
            Phase::Queued => Status::Queued,
            Phase::InProgress => Status::InProgress,
            // (A teardown's report returned above.)
            Phase::End | Phase::TornDown => record.status,
        };
        match tokio::time::timeout(DEADLINE, deliver(app, &record, status, pull.as_ref())).await {
            Ok(Ok(Some(out))) => Ok(out),
            Ok(Ok(None)) => Ok(not_reported("GitHub hears of no dry run")),
            Ok(Err(why)) => Ok(not_reported(&why)),
            Err(_) => Ok(not_reported(&format!(
                "GitHub did not take the report within {} s",
                DEADLINE.as_secs()
            ))),
        }
    }
    .instrument(span)
    .await
}

/// Write the preview's comment on its pull request; a failure is logged
/// (the statuses went through, and the next report writes it again).
async fn comment(github: &GitHub, pull: &PullRecord, app: &str, environment: &str, body: &str) {
    let marker = comment_marker(app, environment);
    match github
        .upsert_comment(&pull.repository, pull.number, &marker, body)
        .await
    {
        Ok(()) => tracing::info!(pull_request = pull.number, "preview comment written"),
        Err(why) => {
            tracing::warn!(
                pull_request = pull.number,
                why,
                "preview comment not written"
            )
        }
    }
}

/// A torn-down environment's Deployments on GitHub go `inactive` (GitHub
/// then shows no live URL for it), and its pull request's comment says so.
async fn torn_down(app: &App, store: &Store, request: &ReportRequest) -> Result<Value, StepError> {
    let records = store
        .deployments(&request.app, &request.environment)
        .await?;
    let pull = store.get_pull(&request.app, &request.environment).await?;
    let Some(repository) = records.iter().rev().find_map(|r| r.repository.clone()) else {
        return Ok(not_reported(
            "no deployment of the environment names a GitHub repository",
        ));
    };
    let send = async {
        let github = app.client().await?;
        let live = github
            .live_deployments(&repository, &request.environment)
            .await?;
        let body = json!({
            "state": "inactive",
            "description": "The environment was torn down",
        });
        for id in &live {
            github
                .post_status(
                    &repository,
                    &format!("/repos/{repository}/deployments/{id}/statuses"),
                    &body,
                )
                .await?;
        }
        if let Some(pull) = &pull {
            let newest = records.last();
            let text = PreviewComment {
                app: &request.app,
                environment: &request.environment,
                state: "torn_down",
                commit: newest.map_or("", |r| r.commit.as_str()),
                description: &teardown_reason(
                    request.request.as_ref().and_then(|r| r.get("trigger")),
                ),
                url: None,
                log_url: None,
            }
            .body();
            comment(&github, pull, &request.app, &request.environment, &text).await;
        }
        Ok::<_, String>(live.len())
    };
    match tokio::time::timeout(DEADLINE, send).await {
        Ok(Ok(n)) => {
            tracing::info!(repository, inactive = n, "teardown reported to GitHub");
            Ok(json!({"reported": true, "state": "inactive", "deployments": n}))
        }
        Ok(Err(why)) => Ok(not_reported(&why)),
        Err(_) => Ok(not_reported("GitHub did not take the report in time")),
    }
}

/// The repository a request's spec file is in: the request's, else the
/// registered app's, else the one whose file took the app's name.
async fn repository_of(
    store: &Store,
    request: &DeployRequest,
) -> Result<Option<String>, StepError> {
    if let Some(r) = request.repository() {
        return Ok(Some(r.to_string()));
    }
    if request.app.is_empty() {
        return Ok(None);
    }
    if let Some(spec) = store.get_app(&request.app).await? {
        return Ok(Some(spec.repository));
    }
    Ok(store
        .repository_app(&request.app)
        .await?
        .map(|r| r.repository))
}

/// The repository's `.stepdeploy.toml` at the request's commit. Never an
/// error for GitHub's sake: `Begin Deployment` refuses an unreadable file
/// with the reason, rather than deploy another spec.
pub async fn read_spec(
    reporter: &Reporter,
    request: &DeployRequest,
) -> Result<RepositorySpec, StepError> {
    let Some(app) = &reporter.app else {
        return Ok(RepositorySpec::Off {
            why: "no GitHub App is configured (GitHubAppId)".into(),
        });
    };
    let Some(repository) = repository_of(&reporter.store, request).await? else {
        return Ok(RepositorySpec::Off {
            why: format!("no GitHub repository is known for app {:?}", request.app),
        });
    };
    let read = async {
        let github = app.client().await?;
        github
            .file(&repository, REPOSITORY_FILE, &request.commit)
            .await
    };
    let found = match tokio::time::timeout(DEADLINE, read).await {
        Ok(Ok(Some(text))) => RepositorySpec::Found {
            repository: repository.clone(),
            text,
        },
        Ok(Ok(None)) => RepositorySpec::Absent {
            repository: repository.clone(),
        },
        Ok(Err(why)) => RepositorySpec::Unreadable {
            repository: repository.clone(),
            why,
        },
        Err(_) => RepositorySpec::Unreadable {
            repository: repository.clone(),
            why: format!("GitHub did not answer within {} s", DEADLINE.as_secs()),
        },
    };
    let status = match &found {
        RepositorySpec::Found { .. } => "found",
        RepositorySpec::Absent { .. } => "absent",
        RepositorySpec::Off { .. } => "off",
        RepositorySpec::Unreadable { why, .. } => {
            tracing::warn!(repository, why, "could not read the repository's spec file");
            "unreadable"
        }
    };
    tracing::info!(repository, commit = %request.commit, status, "read {REPOSITORY_FILE}");
    Ok(found)
}

/// A refused request's reason, on its commit: `failure` for a request
/// or spec that is not valid (the reason names the field), `error` for
/// one refused for the environment's sake (torn down, locked).
async fn report_refusal(reporter: &Reporter, refusal: &RefusalRequest) -> Value {
    let Some(app) = &reporter.app else {
        return not_reported("no GitHub App is configured (GitHubAppId)");
    };
    let mut input = refusal.request.clone();
    if let Some(fields) = input.as_object_mut() {
        fields.remove("error");
        fields.remove("refusal");
    }
    let request: DeployRequest = match serde_json::from_value(input) {
        Ok(r) => r,
        Err(e) => {
            return not_reported(&format!(
                "the refused request is not a deployment request: {e}"
            ))
        }
    };
    let request = &request;
    let repository = match repository_of(&reporter.store, request).await {
        Ok(Some(r)) => r,
        Ok(None) => return not_reported("the request names no GitHub repository"),
        Err(e) => return not_reported(&e.message),
    };
    if crate::deploy::check_commit(&request.commit).is_err() {
        return not_reported("the request's commit is not a commit sha");
    }
    let state = if refusal.error == "InvalidInput" {
        "failure"
    } else {
        "error"
    };
    let body = json!({
        "state": state,
        "context": if request.environment.is_empty() { "stepdeploy".to_string() } else { context(&request.environment) },
        "description": shorten(&refusal.cause, MAX_DESCRIPTION),
        "target_url": console_url(&refusal.execution_arn),
    });
    let send = async {
        let github = app.client().await?;
        github
            .post_status(
                &repository,
                &format!("/repos/{repository}/statuses/{}", request.commit),
                &body,
            )
            .await
    };
    match tokio::time::timeout(DEADLINE, send).await {
        Ok(Ok(())) => {
            tracing::info!(repository, state, "refusal reported to GitHub");
            json!({"reported": true, "state": state})
        }
        Ok(Err(why)) => not_reported(&why),
        Err(_) => not_reported("GitHub did not take the report in time"),
    }
}

fn not_reported(why: &str) -> Value {
    tracing::warn!(why, "not reported to GitHub; the deployment goes on");
    json!({"reported": false, "why": why})
}

async fn deliver(
    app: &App,
    record: &DeploymentRecord,
    status: Status,
    pull: Option<&PullRecord>,
) -> Result<Option<Value>, String> {
    let Some(repository) = record.repository.as_deref() else {
        return Err("the deployment names no GitHub repository".into());
    };
    let Some(report) = report(status, record.cause.as_deref(), &record.commit) else {
        return Ok(None);
    };
    let github = app.client().await?;
    let id = github
        .deployment(&NewDeployment {
            repository,
            commit: &record.commit,
            environment: &record.environment,
            deployment_id: &record.deployment_id,
            production: !record.preview && record.environment == "production",
            transient: record.preview,
        })
        .await?;
    let log_url = record.execution_arn.as_deref().map(console_url);
    let url = (status == Status::Succeeded)
        .then(|| record.url.clone())
        .flatten();
    let mut body = json!({
        "state": report.state,
        "description": report.description,
    });
    if let Some(u) = &url {
        body["environment_url"] = json!(u);
    }
    if let Some(l) = &log_url {
        body["log_url"] = json!(l);
    }
    github
        .post_status(
            repository,
            &format!("/repos/{repository}/deployments/{id}/statuses"),
            &body,
        )
        .await?;
    let mut commit = json!({
        "state": report.commit_state,
        "context": context(&record.environment),
        "description": report.description,
    });
    if let Some(target) = url.as_ref().or(log_url.as_ref()) {
        commit["target_url"] = json!(target);
    }
    github
        .post_status(
            repository,
            &format!("/repos/{repository}/statuses/{}", record.commit),
            &commit,
        )
        .await?;
    if let Some(pull) = pull {
        let body = PreviewComment {
            app: &record.app,
            environment: &record.environment,
            state: report.state,
            commit: &record.commit,
            description: &report.description,
            url: url.as_deref(),
            log_url: log_url.as_deref(),
        }
        .body();
        comment(&github, pull, &record.app, &record.environment, &body).await;
    }
    tracing::info!(
        repository,
        github_deployment = id,
        state = report.state,
        "reported to GitHub"
    );
    Ok(Some(json!({
        "reported": true,
        "github_deployment": id,
        "state": report.state,
    })))
}
