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
use crate::error::StepError;
use crate::github::client::{GitHub, NewDeployment};
use crate::github::{console_url, context, report, GITHUB_API};
use crate::ledger::{DeploymentRecord, Status};
use crate::runtime::parse_input;

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
}

#[derive(Debug, Deserialize)]
pub struct ReportRequest {
    pub app: String,
    pub environment: String,
    pub deployment_id: String,
    #[serde(default)]
    pub phase: Phase,
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
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
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

pub async fn handle(reporter: &Reporter, input: Value) -> Result<Value, StepError> {
    let request: ReportRequest = parse_input("GitHub report request", input)?;
    let span =
        tracing::info_span!("deployment", deployment_id = %request.deployment_id, step = "github");
    async {
        let Some(app) = &reporter.app else {
            return Ok(not_reported("no GitHub App is configured (GitHubAppId)"));
        };
        let Some(record) = reporter
            .store
            .get_deployment(&request.app, &request.environment, &request.deployment_id)
            .await?
        else {
            return Ok(not_reported("the deployment is not in the ledger"));
        };
        let status = match request.phase {
            Phase::Queued => Status::Queued,
            Phase::InProgress => Status::InProgress,
            Phase::End => record.status,
        };
        match tokio::time::timeout(DEADLINE, deliver(app, &record, status)).await {
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

fn not_reported(why: &str) -> Value {
    tracing::warn!(why, "not reported to GitHub; the deployment goes on");
    json!({"reported": false, "why": why})
}

async fn deliver(
    app: &App,
    record: &DeploymentRecord,
    status: Status,
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
