//! What an authenticated delivery means: which app and environment a push
//! deploys, a branch deletion tears down, a package event announces.

use serde::Deserialize;
use serde_json::{json, Value};

use super::http::{payload, within_size, RawRequest, Reply};
use crate::deploy::{deployment_id, DeployRequest, Trigger};
use crate::spec::{default_app_name, AppSpec, Route};

/// The events stepdeploy acts on; everything else is acknowledged and ignored.
pub const HANDLED_EVENTS: [&str; 6] = [
    "push",
    "pull_request",
    "delete",
    "package",
    "registry_package",
    "ping",
];

/// The image a Docker Hub hook announces; `Ok(None)` for a push without a tag.
pub fn docker_hub_image(req: &RawRequest) -> Result<Option<crate::image::ImageRef>, Reply> {
    within_size(req)?;
    crate::image::parse_docker_hub(&payload(req)?).map_err(|why| Reply::error(400, why))
}

#[derive(Debug, Deserialize)]
struct Repository {
    full_name: String,
    /// An integer (epoch seconds) in push events, a string elsewhere.
    #[serde(default)]
    pushed_at: Option<Value>,
}

#[derive(Debug, Deserialize)]
struct Named {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    login: Option<String>,
}

#[derive(Debug, Deserialize)]
struct PushPayload {
    #[serde(rename = "ref")]
    git_ref: String,
    after: String,
    #[serde(default)]
    deleted: bool,
    repository: Repository,
    #[serde(default)]
    pusher: Option<Named>,
    #[serde(default)]
    sender: Option<Named>,
}

#[derive(Debug, Deserialize)]
struct DeletePayload {
    #[serde(rename = "ref")]
    git_ref: String,
    ref_type: String,
    repository: Repository,
}

#[derive(Debug, Deserialize)]
struct PullRequestPayload {
    action: String,
    number: u64,
    pull_request: PullRequest,
    repository: Repository,
    #[serde(default)]
    sender: Option<Named>,
}

#[derive(Debug, Deserialize)]
struct PullRequest {
    head: PullHead,
    #[serde(default)]
    merged: bool,
}

#[derive(Debug, Deserialize)]
struct PullHead {
    #[serde(rename = "ref")]
    git_ref: String,
    sha: String,
    /// Null when the head's fork was deleted.
    #[serde(default)]
    repo: Option<HeadRepository>,
}

#[derive(Debug, Deserialize)]
struct HeadRepository {
    full_name: String,
}

#[derive(Debug, Deserialize)]
struct PingPayload {
    #[serde(default)]
    hook_id: Option<u64>,
    #[serde(default)]
    zen: Option<String>,
}

/// What to do with an authenticated delivery.
#[derive(Debug, Clone, PartialEq)]
#[allow(clippy::large_enum_variant)] // one per delivery
pub enum Decision {
    /// Answer at once (ping, ignored, bad payload).
    Reply(Reply),
    /// Start a deployment.
    Deploy {
        deployment_id: String,
        request: DeployRequest,
    },
    /// Tear a preview environment down; `trigger` says why.
    Teardown {
        app: String,
        environment: String,
        trigger: &'static str,
    },
    /// A container image was published to GHCR: hand it to the deployments waiting for it.
    ImageArrived(crate::image::Arrival),
}

fn bad_payload(event: &str, e: serde_json::Error) -> Decision {
    Decision::Reply(Reply::error(
        400,
        format!("{event} payload is not in GitHub's form: {e}"),
    ))
}

fn find_app<'a>(apps: &'a [AppSpec], repository: &str) -> Option<&'a AppSpec> {
    apps.iter()
        .find(|a| a.repository.eq_ignore_ascii_case(repository))
}

/// The apps a delivery may be for.
#[derive(Debug, Clone, Default)]
pub struct Known {
    /// Registered by an operator: their spec routes pushes.
    pub registered: Vec<AppSpec>,
    /// Taken by a repository's `.stepdeploy.toml`, as last deployed: they
    /// route branch deletions and packages (a push is routed by the file
    /// at its own commit).
    pub from_files: Vec<AppSpec>,
    /// The deployer has a GitHub App to read files with: a push from a
    /// repository no spec is registered for starts a deployment that reads
    /// its `.stepdeploy.toml` (and ends at once without one).
    pub read_files: bool,
}

impl Known {
    pub fn registered(apps: Vec<AppSpec>) -> Known {
        Known {
            registered: apps,
            ..Known::default()
        }
    }

    /// The app `repository` is, registered first.
    pub fn find(&self, repository: &str) -> Option<&AppSpec> {
        find_app(&self.registered, repository).or_else(|| find_app(&self.from_files, repository))
    }

    pub fn all(&self) -> Vec<AppSpec> {
        self.registered
            .iter()
            .chain(&self.from_files)
            .cloned()
            .collect()
    }
}

/// Route an authenticated delivery. `now` is used when the payload carries no push time.
pub fn decide(event: &str, delivery: &str, payload: Value, apps: &Known, now: u64) -> Decision {
    match event {
        "ping" => {
            let ping: PingPayload = match serde_json::from_value(payload) {
                Ok(p) => p,
                Err(e) => return bad_payload(event, e),
            };
            Decision::Reply(Reply::new(
                200,
                json!({
                    "pong": true,
                    "hook_id": ping.hook_id,
                    "zen": ping.zen,
                    "acts_on": HANDLED_EVENTS,
                }),
            ))
        }
        "push" => {
            let push: PushPayload = match serde_json::from_value(payload) {
                Ok(p) => p,
                Err(e) => return bad_payload(event, e),
            };
            decide_push(push, delivery, apps, now)
        }
        "pull_request" => {
            let pr: PullRequestPayload = match serde_json::from_value(payload) {
                Ok(p) => p,
                Err(e) => return bad_payload(event, e),
            };
            decide_pull_request(pr, delivery, apps, now)
        }
        "delete" => {
            let del: DeletePayload = match serde_json::from_value(payload) {
                Ok(p) => p,
                Err(e) => return bad_payload(event, e),
            };
            let Some(app) = apps.find(&del.repository.full_name) else {
                return Decision::Reply(Reply::ignored("repository not configured"));
            };
            if del.ref_type != "branch" {
                return Decision::Reply(Reply::ignored(format!(
                    "{} deleted, not a branch",
                    del.ref_type
                )));
            }
            preview_teardown(app, &del.git_ref, "branch-deleted")
        }
        "package" | "registry_package" => {
            let repo = payload
                .pointer("/repository/full_name")
                .and_then(Value::as_str)
                .unwrap_or_default();
            if apps.find(repo).is_none() {
                return Decision::Reply(Reply::ignored("repository not configured"));
            }
            match crate::image::parse_github_package(&payload) {
                Ok(Some(arrival)) => Decision::ImageArrived(arrival),
                Ok(None) => Decision::Reply(Reply::ignored(
                    "not a tagged container image being published",
                )),
                Err(why) => Decision::Reply(Reply::error(
                    400,
                    format!("{event} payload is not in GitHub's form: {why}"),
                )),
            }
        }
        other => Decision::Reply(Reply::ignored(format!(
            "event {other} is not one stepdeploy acts on"
        ))),
    }
}

fn decide_push(push: PushPayload, delivery: &str, apps: &Known, now: u64) -> Decision {
    if find_app(&apps.registered, &push.repository.full_name).is_none() && !apps.read_files {
        return Decision::Reply(Reply::ignored("repository not configured"));
    }
    if push.deleted {
        return Decision::Reply(Reply::ignored(format!("{} was deleted", push.git_ref)));
    }
    let Some(branch) = push.git_ref.strip_prefix("refs/heads/") else {
        return Decision::Reply(Reply::ignored(format!("{} is not a branch", push.git_ref)));
    };
    let pushed_at = push
        .repository
        .pushed_at
        .as_ref()
        .and_then(Value::as_u64)
        .unwrap_or(now);
    let pusher = push
        .pusher
        .and_then(|p| p.name)
        .or_else(|| push.sender.and_then(|s| s.login));
    deploy_branch(
        Head {
            repository: push.repository.full_name,
            branch: branch.to_string(),
            commit: push.after,
            at: pushed_at,
            trigger: Trigger {
                kind: "push".into(),
                delivery: Some(delivery.to_string()),
                repository: None,
                pusher,
                pull_request: None,
            },
        },
        delivery,
        apps,
    )
}

/// A branch's commit to deploy, from a push or a pull request.
struct Head {
    repository: String,
    branch: String,
    commit: String,
    /// When it was pushed (epoch seconds): the deployment id starts with it.
    at: u64,
    trigger: Trigger,
}

fn deploy_branch(head: Head, delivery: &str, apps: &Known) -> Decision {
    let Head {
        repository,
        branch,
        commit,
        at,
        mut trigger,
    } = head;
    if crate::deploy::check_commit(&commit).is_err() {
        return Decision::Reply(Reply::error(
            400,
            format!("{} payload's commit is not a 40-hex sha", trigger.kind),
        ));
    }
    // A registered app's spec routes it here; a repository's file routes it
    // at `Begin Deployment` (the id then names the branch).
    let (app, environment, id) = match find_app(&apps.registered, &repository) {
        Some(app) => {
            let Some(route) = app.route(&branch) else {
                return Decision::Reply(Reply::ignored(format!(
                    "branch {branch} maps to no environment"
                )));
            };
            if trigger.pull_request.is_some() && !route.preview {
                return Decision::Reply(Reply::ignored(format!(
                    "branch {branch} feeds {}, not a preview: its pushes deploy it",
                    route.environment
                )));
            }
            let id = deployment_id(&app.name, &route.environment, &commit, delivery, at);
            (app.name.clone(), route.environment, id)
        }
        None => {
            let name = find_app(&apps.from_files, &repository)
                .map_or_else(|| default_app_name(&repository), |a| a.name.clone());
            let id = deployment_id(&name, &branch, &commit, delivery, at);
            (String::new(), String::new(), id)
        }
    };
    trigger.repository = Some(repository);
    Decision::Deploy {
        deployment_id: id,
        request: DeployRequest {
            app,
            environment,
            commit,
            branch: Some(branch),
            trigger: Some(trigger),
            ..DeployRequest::default()
        },
    }
}

/// Tear down `branch`'s preview, as `trigger` asks; a branch that feeds a
/// long-lived environment (or none) is left alone.
fn preview_teardown(app: &AppSpec, branch: &str, trigger: &'static str) -> Decision {
    match app.route(branch) {
        Some(Route {
            environment,
            preview: true,
        }) => Decision::Teardown {
            app: app.name.clone(),
            environment,
            trigger,
        },
        Some(Route { environment, .. }) => Decision::Reply(Reply::ignored(format!(
            "branch {branch} feeds {environment}, which is not a preview: tear it down by hand"
        ))),
        None => Decision::Reply(Reply::ignored(format!(
            "branch {branch} has no environment"
        ))),
    }
}

/// A pull request's preview: deployed when it is opened (or reopened),
/// torn down when it is closed or merged. Its later commits arrive as
/// pushes to its branch, which deploy them.
fn decide_pull_request(pr: PullRequestPayload, delivery: &str, apps: &Known, now: u64) -> Decision {
    let repository = pr.repository.full_name;
    let head = pr.pull_request.head;
    if head.repo.as_ref().map(|r| r.full_name.to_ascii_lowercase())
        != Some(repository.to_ascii_lowercase())
    {
        return Decision::Reply(Reply::ignored(
            "pull request from a fork: stepdeploy deploys the repository's own branches only",
        ));
    }
    match pr.action.as_str() {
        "opened" | "reopened" => {
            if apps.find(&repository).is_none() && !apps.read_files {
                return Decision::Reply(Reply::ignored("repository not configured"));
            }
            deploy_branch(
                Head {
                    repository,
                    branch: head.git_ref,
                    commit: head.sha,
                    at: now,
                    trigger: Trigger {
                        kind: "pull_request".into(),
                        delivery: Some(delivery.to_string()),
                        repository: None,
                        pusher: pr.sender.and_then(|s| s.login),
                        pull_request: Some(pr.number),
                    },
                },
                delivery,
                apps,
            )
        }
        "closed" => {
            let Some(app) = apps.find(&repository) else {
                return Decision::Reply(Reply::ignored("repository not configured"));
            };
            let trigger = if pr.pull_request.merged {
                "pull-request-merged"
            } else {
                "pull-request-closed"
            };
            preview_teardown(app, &head.git_ref, trigger)
        }
        "synchronize" => Decision::Reply(Reply::ignored(format!(
            "the push to {} deploys its new commit",
            head.git_ref
        ))),
        other => Decision::Reply(Reply::ignored(format!(
            "pull request {other}: nothing to deploy"
        ))),
    }
}
