//! GitHub's REST API as the stack's GitHub App: a JWT signed with the App's
//! private key (RS256) finds the repository's installation and mints an
//! installation token, cached until five minutes before it expires (and
//! minted again when GitHub says it is no longer good). Tokens and the key
//! are never logged. Every call is retried on server errors and rate limits
//! within a small budget; a report that still fails is the caller's to log.

use base64::Engine;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{RsaKeyPair, RSA_PKCS1_SHA256};
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;
use serde_json::{json, Value};

use super::*;
use crate::deploy::{now_epoch, parse_rfc3339};
use crate::registry::encode;

/// Per request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Tries of one call (server errors and rate limits).
const ATTEMPTS: u32 = 4;
/// The longest wait between two tries GitHub may ask for.
const WAIT_BUDGET: Duration = Duration::from_secs(20);
/// How many of an environment's newest Deployments a teardown looks at.
const LIVE_SCAN: usize = 10;
/// A token this close to expiring is minted again.
const TOKEN_MARGIN: u64 = 300;
/// GitHub's answers here are small.
const MAX_BODY: usize = 1024 * 1024;

/// What a call answered.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub body: Value,
}

enum Auth<'a> {
    App,
    Token(&'a str),
}

pub struct GitHub {
    http: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    api: String,
    app_id: String,
    key: RsaKeyPair,
    /// `owner/repo` -> installation id.
    installations: Mutex<HashMap<String, u64>>,
    /// installation id -> (token, expires at, epoch seconds).
    tokens: Mutex<HashMap<u64, (String, u64)>>,
}

impl GitHub {
    /// `pem`: the App's private key as GitHub gave it.
    pub fn new(api: &str, app_id: &str, pem: &str) -> Result<GitHub, String> {
        let key = match parse_pem(pem)? {
            KeyDer::Pkcs1(der) => RsaKeyPair::from_der(&der),
            KeyDer::Pkcs8(der) => RsaKeyPair::from_pkcs8(&der),
        }
        .map_err(|_| "the GitHub App private key is not a valid RSA key".to_string())?;
        let https = crate::https::connector()?;
        Ok(GitHub {
            http: Client::builder(TokioExecutor::new()).build(https),
            api: api.trim_end_matches('/').to_string(),
            app_id: app_id.to_string(),
            key,
            installations: Mutex::new(HashMap::new()),
            tokens: Mutex::new(HashMap::new()),
        })
    }

    fn app_jwt(&self) -> Result<String, String> {
        let input = jwt_signing_input(&Claims::new(&self.app_id, now_epoch()));
        let mut signature = vec![0; self.key.public_modulus_len()];
        self.key
            .sign(
                &RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                input.as_bytes(),
                &mut signature,
            )
            .map_err(|_| "signing the GitHub App JWT failed".to_string())?;
        Ok(jwt(&input, &signature))
    }

    /// One request, without retries.
    async fn send(
        &self,
        method: &http::Method,
        path: &str,
        body: Option<&Value>,
        auth: &Auth<'_>,
    ) -> Result<(u16, http::HeaderMap, Value), String> {
        let url = format!("{}{path}", self.api);
        let authorization = match auth {
            Auth::App => format!("Bearer {}", self.app_jwt()?),
            Auth::Token(t) => format!("token {t}"),
        };
        let data = body.map(|b| b.to_string()).unwrap_or_default();
        let req = http::Request::builder()
            .method(method.clone())
            .uri(&url)
            .header("accept", "application/vnd.github+json")
            .header("x-github-api-version", "2022-11-28")
            .header("user-agent", "stepdeploy")
            .header("content-type", "application/json")
            .header("authorization", authorization)
            .body(Full::new(Bytes::from(data)))
            .map_err(|e| format!("bad GitHub URL {url}: {e}"))?;
        let resp = tokio::time::timeout(REQUEST_TIMEOUT, self.http.request(req))
            .await
            .map_err(|_| format!("{method} {path}: timed out"))?
            .map_err(|e| format!("{method} {path}: {e}"))?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = tokio::time::timeout(
            REQUEST_TIMEOUT,
            Limited::new(resp.into_body(), MAX_BODY).collect(),
        )
        .await
        .map_err(|_| format!("{method} {path}: timed out reading the answer"))?
        .map_err(|e| format!("{method} {path}: {e}"))?
        .to_bytes();
        let body = serde_json::from_slice(&body).unwrap_or(Value::Null);
        Ok((status, headers, body))
    }

    /// A request, tried again on server errors and rate limits.
    async fn call(
        &self,
        method: http::Method,
        path: &str,
        body: Option<&Value>,
        auth: Auth<'_>,
    ) -> Result<Answer, String> {
        let mut backoff = Duration::from_secs(1);
        let mut attempt = 1;
        loop {
            let outcome = self.send(&method, path, body, &auth).await;
            let wait = match &outcome {
                Ok((status, headers, answer)) => {
                    tracing::info!(method = %method, path, status, attempt, "GitHub answered");
                    if *status < 400 {
                        let (status, _, body) = outcome.expect("matched Ok");
                        return Ok(Answer { status, body });
                    }
                    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
                    let refusal = Refusal {
                        status: *status,
                        retry_after: header("retry-after"),
                        remaining: header("x-ratelimit-remaining"),
                        reset: header("x-ratelimit-reset"),
                        message: answer.get("message").and_then(Value::as_str).unwrap_or(""),
                    };
                    retry_after(&refusal, backoff, now_epoch(), WAIT_BUDGET)
                }
                Err(e) => {
                    tracing::warn!(method = %method, path, attempt, error = %e, "GitHub unreachable");
                    Some(backoff)
                }
            };
            match (wait, outcome) {
                (Some(wait), _) if attempt < ATTEMPTS => {
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                    backoff *= 2;
                }
                (_, Ok((status, _, body))) => return Ok(Answer { status, body }),
                (_, Err(e)) => return Err(e),
            }
        }
    }

    fn installation_for(&self, repository: &str) -> Option<u64> {
        self.installations
            .lock()
            .expect("lock")
            .get(repository)
            .copied()
    }

    /// An installation token for `repository`, cached while it has more than
    /// five minutes left.
    async fn token(&self, repository: &str) -> Result<String, String> {
        let installation = match self.installation_for(repository) {
            Some(id) => id,
            None => {
                let a = self
                    .call(
                        http::Method::GET,
                        &format!("/repos/{repository}/installation"),
                        None,
                        Auth::App,
                    )
                    .await?;
                let id = a.body.get("id").and_then(Value::as_u64).ok_or_else(|| {
                    match a.status {
                        401 => format!(
                            "GitHub refused the App's JWT (HTTP 401: {}): check that GitHubAppId is the App's id and GitHubAppKeyArn holds a current private key of that App",
                            message(&a.body)
                        ),
                        404 => format!(
                            "the GitHub App is not installed on {repository} (HTTP 404): install it on the repository (the App's page, Install App)"
                        ),
                        status => format!(
                            "GitHub did not name the App's installation on {repository} (HTTP {status}): {}",
                            message(&a.body)
                        ),
                    }
                })?;
                self.installations
                    .lock()
                    .expect("lock")
                    .insert(repository.to_string(), id);
                id
            }
        };
        let now = now_epoch();
        if let Some((token, expires)) = self.tokens.lock().expect("lock").get(&installation) {
            if *expires > now + TOKEN_MARGIN {
                return Ok(token.clone());
            }
        }
        let a = self
            .call(
                http::Method::POST,
                &format!("/app/installations/{installation}/access_tokens"),
                None,
                Auth::App,
            )
            .await?;
        let token = a.body.get("token").and_then(Value::as_str);
        let expires = a
            .body
            .get("expires_at")
            .and_then(Value::as_str)
            .and_then(parse_rfc3339);
        let (Some(token), Some(expires)) = (token, expires) else {
            return Err(format!(
                "GitHub minted no installation token (HTTP {}): {}",
                a.status,
                message(&a.body)
            ));
        };
        tracing::info!(
            installation,
            expires_in = expires.saturating_sub(now),
            "installation token minted"
        );
        self.tokens
            .lock()
            .expect("lock")
            .insert(installation, (token.to_string(), expires));
        Ok(token.to_string())
    }

    /// A call on `repository` with its installation token; a token GitHub no
    /// longer takes (401) is minted again, once.
    pub async fn repo_call(
        &self,
        repository: &str,
        method: http::Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Answer, String> {
        let token = self.token(repository).await?;
        let a = self
            .call(method.clone(), path, body, Auth::Token(&token))
            .await?;
        if a.status != 401 {
            return Ok(a);
        }
        tracing::info!("GitHub refused the cached installation token; minting another");
        if let Some(id) = self.installation_for(repository) {
            self.tokens.lock().expect("lock").remove(&id);
        }
        let token = self.token(repository).await?;
        self.call(method, path, body, Auth::Token(&token)).await
    }

    /// A GET on `repository` with its installation token.
    async fn repo_get(&self, repository: &str, path: &str) -> Result<Answer, String> {
        self.repo_call(repository, http::Method::GET, path, None)
            .await
    }

    /// The GitHub Deployment of stepdeploy's `deployment_id` (found by its
    /// payload among the commit's deployments to `environment`), created if
    /// there is none yet.
    pub async fn deployment(&self, wanted: &NewDeployment<'_>) -> Result<u64, String> {
        let repo = wanted.repository;
        let listed = self
            .repo_get(
                repo,
                &format!(
                    "/repos/{repo}/deployments?sha={}&environment={}&per_page=100",
                    wanted.commit,
                    encode(wanted.environment)
                ),
            )
            .await?;
        let ours = listed.body.as_array().and_then(|all| {
            all.iter().find_map(|d| {
                (d.pointer("/payload/stepdeploy_deployment")
                    .and_then(Value::as_str)
                    == Some(wanted.deployment_id))
                .then(|| d.get("id").and_then(Value::as_u64))
                .flatten()
            })
        });
        if let Some(id) = ours {
            return Ok(id);
        }
        let created = self
            .repo_call(
                repo,
                http::Method::POST,
                &format!("/repos/{repo}/deployments"),
                Some(&json!({
                    "ref": wanted.commit,
                    "environment": wanted.environment,
                    "description": format!("stepdeploy {}", wanted.deployment_id),
                    "payload": {"stepdeploy_deployment": wanted.deployment_id},
                    "production_environment": wanted.production,
                    "transient_environment": wanted.transient,
                    "auto_merge": false,
                    "required_contexts": [],
                })),
            )
            .await?;
        created
            .body
            .get("id")
            .and_then(Value::as_u64)
            .filter(|_| created.status == 201)
            .ok_or_else(|| {
                format!(
                    "GitHub did not create the deployment (HTTP {}): {}",
                    created.status,
                    message(&created.body)
                )
            })
    }

    /// The text of the file at `path` in `repository` at `commit`; `None`
    /// when the commit has no such file.
    pub async fn file(
        &self,
        repository: &str,
        path: &str,
        commit: &str,
    ) -> Result<Option<String>, String> {
        let a = self
            .repo_get(
                repository,
                &format!("/repos/{repository}/contents/{path}?ref={commit}"),
            )
            .await?;
        match a.status {
            200 => {}
            404 => return Ok(None),
            status => {
                return Err(format!(
                    "GitHub answered HTTP {status} for {path}: {}",
                    message(&a.body)
                ))
            }
        }
        if a.body.get("type").and_then(Value::as_str) != Some("file") {
            return Err(format!("{path} at {commit} is not a file"));
        }
        if a.body.get("encoding").and_then(Value::as_str) != Some("base64") {
            return Err(format!(
                "{path} at {commit} is too large for GitHub's contents API (1 MB)"
            ));
        }
        let encoded: String = a
            .body
            .get("content")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .chars()
            .filter(|c| !c.is_ascii_whitespace())
            .collect();
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .map_err(|e| format!("GitHub sent {path} in base64 that does not decode: {e}"))?;
        String::from_utf8(bytes)
            .map(Some)
            .map_err(|_| format!("{path} at {commit} is not UTF-8 text"))
    }

    /// stepdeploy's Deployments of `environment` that GitHub may still show
    /// as live (their newest status queued, in progress or success), newest
    /// first, among the environment's latest [`LIVE_SCAN`] of ours.
    pub async fn live_deployments(
        &self,
        repository: &str,
        environment: &str,
    ) -> Result<Vec<u64>, String> {
        let listed = self
            .repo_get(
                repository,
                &format!(
                    "/repos/{repository}/deployments?environment={}&per_page=100",
                    encode(environment)
                ),
            )
            .await?;
        let ours: Vec<u64> = listed
            .body
            .as_array()
            .map(|all| {
                all.iter()
                    .filter(|d| d.pointer("/payload/stepdeploy_deployment").is_some())
                    .filter_map(|d| d.get("id").and_then(Value::as_u64))
                    .take(LIVE_SCAN)
                    .collect()
            })
            .unwrap_or_default();
        let mut live = Vec::new();
        for id in ours {
            let statuses = self
                .repo_get(
                    repository,
                    &format!("/repos/{repository}/deployments/{id}/statuses?per_page=1"),
                )
                .await?;
            let newest = statuses
                .body
                .as_array()
                .and_then(|s| s.first())
                .and_then(|s| s.get("state"))
                .and_then(Value::as_str)
                .unwrap_or("");
            if matches!(newest, "queued" | "pending" | "in_progress" | "success") {
                live.push(id);
            }
        }
        Ok(live)
    }

    /// Write `body` as the one comment on pull request `number` that starts
    /// with `marker`: the existing one is edited, else one is created.
    pub async fn upsert_comment(
        &self,
        repository: &str,
        number: u64,
        marker: &str,
        body: &str,
    ) -> Result<(), String> {
        let listed = self
            .repo_get(
                repository,
                &format!("/repos/{repository}/issues/{number}/comments?per_page=100"),
            )
            .await?;
        if listed.status != 200 {
            return Err(format!(
                "GitHub did not list the comments of #{number} (HTTP {}): {}",
                listed.status,
                message(&listed.body)
            ));
        }
        let existing = listed.body.as_array().and_then(|all| {
            all.iter().find_map(|c| {
                c.get("body")
                    .and_then(Value::as_str)
                    .is_some_and(|b| b.starts_with(marker))
                    .then(|| c.get("id").and_then(Value::as_u64))
                    .flatten()
            })
        });
        let (method, path, want) = match existing {
            Some(id) => (
                http::Method::PATCH,
                format!("/repos/{repository}/issues/comments/{id}"),
                200,
            ),
            None => (
                http::Method::POST,
                format!("/repos/{repository}/issues/{number}/comments"),
                201,
            ),
        };
        let a = self
            .repo_call(repository, method, &path, Some(&json!({ "body": body })))
            .await?;
        if a.status == want {
            Ok(())
        } else {
            Err(format!(
                "GitHub refused {path} (HTTP {}): {}",
                a.status,
                message(&a.body)
            ))
        }
    }

    /// POST a status (deployment or commit); an answer other than 201 is an error.
    pub async fn post_status(
        &self,
        repository: &str,
        path: &str,
        body: &Value,
    ) -> Result<(), String> {
        let a = self
            .repo_call(repository, http::Method::POST, path, Some(body))
            .await?;
        if a.status == 201 {
            Ok(())
        } else {
            Err(format!(
                "GitHub refused {path} (HTTP {}): {}",
                a.status,
                message(&a.body)
            ))
        }
    }
}

/// A GitHub Deployment as stepdeploy creates it.
pub struct NewDeployment<'a> {
    pub repository: &'a str,
    pub commit: &'a str,
    pub environment: &'a str,
    pub deployment_id: &'a str,
    pub production: bool,
    pub transient: bool,
}

fn message(body: &Value) -> String {
    body.get("message")
        .and_then(Value::as_str)
        .unwrap_or("no message")
        .to_string()
}
