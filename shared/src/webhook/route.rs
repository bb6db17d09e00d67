//! What an authenticated delivery means: which app and environment a push
//! deploys, a branch deletion tears down, a package event announces.

use serde::Deserialize;
use serde_json::{json, Value};

use super::http::{payload, within_size, RawRequest, Reply};
use crate::deploy::{deployment_id, DeployRequest, Trigger};
use crate::spec::{default_app_name, AppSpec, Route};

/// The events stepdeploy acts on; everything else is acknowledged and ignored.
pub const HANDLED_EVENTS: [&str; 5] = ["push", "delete", "package", "registry_package", "ping"];

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
    /// Tear a preview environment down.
    Teardown { app: String, environment: String },
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
            match app.route(&del.git_ref) {
                Some(Route {
                    environment,
                    preview: true,
                }) => Decision::Teardown {
                    app: app.name.clone(),
                    environment,
                },
                Some(Route { environment, .. }) => Decision::Reply(Reply::ignored(format!(
                    "branch {} feeds {environment}, which is not a preview: tear it down by hand",
                    del.git_ref
                ))),
                None => Decision::Reply(Reply::ignored(format!(
                    "branch {} has no environment",
                    del.git_ref
                ))),
            }
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
    let registered = find_app(&apps.registered, &push.repository.full_name);
    if registered.is_none() && !apps.read_files {
        return Decision::Reply(Reply::ignored("repository not configured"));
    }
    if push.deleted {
        return Decision::Reply(Reply::ignored(format!("{} was deleted", push.git_ref)));
    }
    let Some(branch) = push.git_ref.strip_prefix("refs/heads/") else {
        return Decision::Reply(Reply::ignored(format!("{} is not a branch", push.git_ref)));
    };
    if crate::deploy::check_commit(&push.after).is_err() {
        return Decision::Reply(Reply::error(
            400,
            "push payload's after is not a 40-hex commit sha",
        ));
    }
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
    // A registered app's spec routes the push here; a repository's file
    // routes it at `Begin Deployment` (the id then names the branch).
    let (app, environment, id) = match registered {
        Some(app) => {
            let Some(route) = app.route(branch) else {
                return Decision::Reply(Reply::ignored(format!(
                    "branch {branch} maps to no environment"
                )));
            };
            let id = deployment_id(
                &app.name,
                &route.environment,
                &push.after,
                delivery,
                pushed_at,
            );
            (app.name.clone(), route.environment, id)
        }
        None => {
            let name = find_app(&apps.from_files, &push.repository.full_name).map_or_else(
                || default_app_name(&push.repository.full_name),
                |a| a.name.clone(),
            );
            let id = deployment_id(&name, branch, &push.after, delivery, pushed_at);
            (String::new(), String::new(), id)
        }
    };
    Decision::Deploy {
        deployment_id: id,
        request: DeployRequest {
            repository: None,
            repository_spec: None,
            app,
            environment,
            commit: push.after,
            branch: Some(branch.to_string()),
            image: None,
            trigger: Some(Trigger {
                kind: "push".into(),
                delivery: Some(delivery.to_string()),
                repository: Some(push.repository.full_name),
                pusher,
            }),
            dry_run: false,
            restart: None,
        },
    }
}
