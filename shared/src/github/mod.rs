//! GitHub as the user's window: what a deployment reports to GitHub, as the
//! stack's GitHub App. Pure parts here (the App's JWT claims, its private
//! key's PEM, what each ledger status becomes on GitHub, when a refused call
//! is worth another try); the HTTP client in [`client`].
//!
//! A deployment is one GitHub Deployment (ref = the commit, environment = the
//! stepdeploy environment, its payload naming the stepdeploy deployment, so a
//! retried report finds it instead of creating a second), with statuses
//! `queued` → `in_progress` → `success` / `failure` / `inactive`, and one
//! commit status `stepdeploy/<environment>` with the same outcome.

use std::time::Duration;

use base64::Engine;
use serde::Serialize;

use crate::ledger::Status;

#[cfg(feature = "github")]
pub mod client;

/// GitHub's REST API, unless `STEPDEPLOY_GITHUB_API_URL` says otherwise
/// (GitHub Enterprise Server, or the local stack's fake).
pub const GITHUB_API: &str = "https://api.github.com";

/// GitHub refuses longer descriptions (deployment and commit statuses).
pub const MAX_DESCRIPTION: usize = 140;

/// The App JWT's claims: issued a minute in the past (clock drift, as
/// GitHub advises), valid for nine of GitHub's ten allowed minutes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Claims {
    pub iat: u64,
    pub exp: u64,
    pub iss: String,
}

impl Claims {
    pub fn new(app_id: &str, now: u64) -> Claims {
        Claims {
            iat: now.saturating_sub(60),
            exp: now + 9 * 60,
            iss: app_id.to_string(),
        }
    }
}

/// `base64url(header).base64url(claims)`: what the App's key signs.
pub fn jwt_signing_input(claims: &Claims) -> String {
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let header = b64.encode(br#"{"alg":"RS256","typ":"JWT"}"#);
    let claims = b64.encode(serde_json::to_vec(claims).expect("claims serialize"));
    format!("{header}.{claims}")
}

/// `<signing input>.base64url(signature)`.
pub fn jwt(signing_input: &str, signature: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    format!("{signing_input}.{}", b64.encode(signature))
}

/// A private key's PEM: `RSA PRIVATE KEY` (PKCS#1, what GitHub hands out)
/// or `PRIVATE KEY` (PKCS#8), as DER, with which of the two it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyDer {
    Pkcs1(Vec<u8>),
    Pkcs8(Vec<u8>),
}

/// Read the App's private key. The error never quotes the key.
pub fn parse_pem(pem: &str) -> Result<KeyDer, String> {
    let pem = pem.trim();
    let (label, rest) = pem
        .strip_prefix("-----BEGIN ")
        .and_then(|r| r.split_once("-----"))
        .ok_or("the GitHub App private key is not PEM (no -----BEGIN line): paste the whole .pem file GitHub gave")?;
    let end = format!("-----END {label}-----");
    let body = rest
        .trim()
        .strip_suffix(end.as_str())
        .ok_or("the GitHub App private key's PEM has no matching -----END line")?;
    let der = base64::engine::general_purpose::STANDARD
        .decode(body.split_whitespace().collect::<String>())
        .map_err(|_| "the GitHub App private key's PEM body is not base64")?;
    match label {
        "RSA PRIVATE KEY" => Ok(KeyDer::Pkcs1(der)),
        "PRIVATE KEY" => Ok(KeyDer::Pkcs8(der)),
        other => Err(format!(
            "the GitHub App private key is a {other}, not an RSA private key"
        )),
    }
}

/// What a deployment's ledger status becomes on GitHub.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// The deployment status: `queued`, `in_progress`, `success`, `failure`, `inactive`.
    pub state: &'static str,
    /// The commit status: `pending`, `success`, `failure`, `error`.
    pub commit_state: &'static str,
    /// At most [`MAX_DESCRIPTION`] characters.
    pub description: String,
}

/// The report for a deployment in `status`; `None` for what GitHub does not
/// hear of (a dry run's plan).
pub fn report(status: Status, cause: Option<&str>, commit: &str) -> Option<Report> {
    let short = &commit[..commit.len().min(7)];
    let (state, commit_state, description) = match status {
        Status::Queued => ("queued", "pending", format!("Waiting to deploy {short}")),
        Status::InProgress => ("in_progress", "pending", format!("Deploying {short}")),
        Status::Succeeded => ("success", "success", format!("Deployed {short}")),
        Status::Failed => (
            "failure",
            "failure",
            cause.map_or_else(
                || "The deployment failed".to_string(),
                |c| crate::deploy::failure_summary(c).into(),
            ),
        ),
        // Not a failure of this commit: it was not deployed, for the reason given.
        Status::Superseded | Status::Cancelled | Status::Refused => (
            "inactive",
            "error",
            cause.map_or_else(|| format!("{short} was not deployed"), String::from),
        ),
        Status::Destroying | Status::Destroyed | Status::TeardownFailed => (
            "inactive",
            "error",
            "The environment was torn down".to_string(),
        ),
        Status::Planned => return None,
    };
    Some(Report {
        state,
        commit_state,
        description: shorten(&description, MAX_DESCRIPTION),
    })
}

/// The hidden line that marks the preview's one comment on its pull
/// request, so each report finds and edits it instead of adding another.
pub fn comment_marker(app: &str, environment: &str) -> String {
    format!("<!-- stepdeploy:{app}/{environment} -->")
}

/// What the preview's comment says now.
pub struct PreviewComment<'a> {
    pub app: &'a str,
    pub environment: &'a str,
    /// The deployment status (`queued`, `in_progress`, `success`,
    /// `failure`, `inactive`), or `torn_down`.
    pub state: &'a str,
    pub commit: &'a str,
    pub description: &'a str,
    pub url: Option<&'a str>,
    pub log_url: Option<&'a str>,
}

impl PreviewComment<'_> {
    /// The comment's Markdown, its marker first.
    pub fn body(&self) -> String {
        let short = &self.commit[..self.commit.len().min(7)];
        let (icon, headline) = match self.state {
            "queued" => ("⏳", format!("waiting to deploy `{short}`")),
            "in_progress" => ("🚀", format!("deploying `{short}`")),
            "success" => ("✅", format!("`{short}` is live")),
            "failure" => ("❌", format!("`{short}` failed to deploy")),
            "torn_down" => ("🗑️", format!("torn down: {}", self.description)),
            _ => ("⏸️", format!("`{short}` was not deployed")),
        };
        let mut out = format!(
            "{}\n{icon} **stepdeploy** preview `{}` of `{}`: {headline}\n",
            comment_marker(self.app, self.environment),
            self.environment,
            self.app
        );
        if let Some(url) = self.url.filter(|_| self.state == "success") {
            out.push_str(&format!("\n**URL:** {url}\n"));
        }
        if !self.description.is_empty() && !matches!(self.state, "success" | "torn_down") {
            out.push_str(&format!("\n> {}\n", self.description.replace('\n', " ")));
        }
        if let Some(log) = self.log_url {
            out.push_str(&format!(
                "\n[Execution in the Step Functions console]({log})\n"
            ));
        }
        out
    }
}

/// Why an environment was torn down, in the words of its preview comment,
/// from the teardown request's `trigger`.
pub fn teardown_reason(trigger: Option<&serde_json::Value>) -> String {
    let kind = trigger
        .and_then(|t| t.get("kind"))
        .and_then(serde_json::Value::as_str);
    match kind {
        Some("pull-request-closed") => "the pull request was closed".into(),
        Some("pull-request-merged") => "the pull request was merged".into(),
        Some("branch-deleted") => "its branch was deleted".into(),
        Some(crate::teardown::PREVIEW_EXPIRED) => {
            match trigger
                .and_then(|t| t.get("ttl_hours"))
                .and_then(serde_json::Value::as_u64)
            {
                Some(hours) => format!("no push for {hours} h (previews.ttl_hours)"),
                None => "no push within previews.ttl_hours".into(),
            }
        }
        _ => "by hand".into(),
    }
}

/// `text` cut to `max` characters on a character boundary, with an ellipsis
/// when cut.
pub fn shorten(text: &str, max: usize) -> String {
    let text = text.trim();
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// The execution in the Step Functions console: a status's `log_url`.
pub fn console_url(execution_arn: &str) -> String {
    let region = execution_arn.split(':').nth(3).unwrap_or("us-east-1");
    format!(
        "https://{region}.console.aws.amazon.com/states/home?region={region}#/v2/executions/details/{execution_arn}"
    )
}

/// The commit status's context: one per environment.
pub fn context(environment: &str) -> String {
    format!("stepdeploy/{environment}")
}

/// A refusal from GitHub, as far as retrying goes: its status, its rate
/// limit headers and its message.
#[derive(Debug, Clone, Copy, Default)]
pub struct Refusal<'a> {
    pub status: u16,
    pub retry_after: Option<&'a str>,
    pub remaining: Option<&'a str>,
    pub reset: Option<&'a str>,
    pub message: &'a str,
}

/// Whether a refusal is worth another try, and after how long: server errors
/// after `backoff`, rate limits (`429`, or `403` with no requests left or a
/// secondary limit) after `Retry-After` or until `x-ratelimit-reset`. `None`:
/// give up (a refusal no retry changes, or a wait longer than `budget`).
pub fn retry_after(
    refusal: &Refusal<'_>,
    backoff: Duration,
    now: u64,
    budget: Duration,
) -> Option<Duration> {
    let Refusal {
        status,
        retry_after,
        remaining,
        reset,
        message,
    } = *refusal;
    let limited = status == 429
        || (status == 403
            && (remaining == Some("0")
                || retry_after.is_some()
                || message.contains("secondary rate limit")));
    let wait = if limited {
        match (
            retry_after.and_then(|s| s.trim().parse::<u64>().ok()),
            reset.and_then(|s| s.trim().parse::<u64>().ok()),
        ) {
            (Some(seconds), _) => Duration::from_secs(seconds),
            (None, Some(at)) if remaining == Some("0") => {
                Duration::from_secs(at.saturating_sub(now) + 1)
            }
            _ => Duration::from_secs(60),
        }
    } else if matches!(status, 500 | 502 | 503 | 504) {
        backoff
    } else {
        return None;
    };
    (wait <= budget).then_some(wait)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claims_and_signing_input() {
        let c = Claims::new("12345", 1_800_000_000);
        assert_eq!(c.iat, 1_799_999_940);
        assert_eq!(c.exp - c.iat, 600, "GitHub's limit is ten minutes");
        let input = jwt_signing_input(&c);
        let (header, claims) = input.split_once('.').unwrap();
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        assert_eq!(
            b64.decode(header).unwrap(),
            br#"{"alg":"RS256","typ":"JWT"}"#
        );
        let claims: serde_json::Value =
            serde_json::from_slice(&b64.decode(claims).unwrap()).unwrap();
        assert_eq!(claims["iss"], "12345");
        assert_eq!(jwt(&input, &[0xfb, 0xff]), format!("{input}.-_8"));
    }

    #[test]
    fn pem_forms() {
        let body = base64::engine::general_purpose::STANDARD.encode([1u8, 2, 3]);
        let pem = |label: &str| format!("-----BEGIN {label}-----\n{body}\n-----END {label}-----\n");
        assert_eq!(
            parse_pem(&pem("RSA PRIVATE KEY")).unwrap(),
            KeyDer::Pkcs1(vec![1, 2, 3])
        );
        assert_eq!(
            parse_pem(&pem("PRIVATE KEY")).unwrap(),
            KeyDer::Pkcs8(vec![1, 2, 3])
        );
        for bad in [
            "MIIEpAIBAAKCAQEA".to_string(),
            pem("EC PRIVATE KEY"),
            "-----BEGIN RSA PRIVATE KEY-----\n!!!\n-----END RSA PRIVATE KEY-----".into(),
            "-----BEGIN RSA PRIVATE KEY-----\nAQID\n-----END PRIVATE KEY-----".into(),
        ] {
            let e = parse_pem(&bad).unwrap_err();
            assert!(!e.contains("AQID") && !e.contains("MIIE"), "{e}");
        }
    }

    #[test]
    fn reports_by_status() {
        let sha = "3f786850e387550fdab836ed7e6dc881de23001b";
        let r = |s, cause| report(s, cause, sha).map(|r| (r.state, r.commit_state, r.description));
        assert_eq!(
            r(Status::Queued, None),
            Some(("queued", "pending", "Waiting to deploy 3f78685".into()))
        );
        assert_eq!(
            r(Status::InProgress, None),
            Some(("in_progress", "pending", "Deploying 3f78685".into()))
        );
        assert_eq!(
            r(Status::Succeeded, None),
            Some(("success", "success", "Deployed 3f78685".into()))
        );
        let long = "The container web exited with code 1 ".repeat(10);
        let (state, commit_state, description) = r(Status::Failed, Some(&long)).unwrap();
        assert_eq!((state, commit_state), ("failure", "failure"));
        assert_eq!(description.chars().count(), MAX_DESCRIPTION);
        assert!(
            description.starts_with("The container web exited with code 1")
                && description.ends_with('…')
        );
        assert_eq!(
            r(Status::Superseded, Some("superseded by a newer push")),
            Some(("inactive", "error", "superseded by a newer push".into()))
        );
        assert_eq!(r(Status::Destroyed, None).unwrap().0, "inactive");
        assert_eq!(r(Status::Planned, None), None);
    }

    #[test]
    fn shorten_keeps_characters_whole() {
        assert_eq!(shorten("  short  ", 140), "short");
        assert_eq!(shorten("ééééé", 3), "éé…");
    }

    #[test]
    fn console_links() {
        assert_eq!(
            console_url("arn:aws:states:eu-west-1:123456789012:execution:sm:x"),
            "https://eu-west-1.console.aws.amazon.com/states/home?region=eu-west-1#/v2/executions/details/arn:aws:states:eu-west-1:123456789012:execution:sm:x"
        );
        assert_eq!(context("pr-7"), "stepdeploy/pr-7");
    }

    #[test]
    fn retry_table() {
        let s = Duration::from_secs;
        let budget = s(30);
        let r = |status, retry_after, remaining, reset, message| {
            let refusal = Refusal {
                status,
                retry_after,
                remaining,
                reset,
                message,
            };
            super::retry_after(&refusal, s(2), 1000, budget)
        };
        assert_eq!(r(500, None, None, None, ""), Some(s(2)));
        assert_eq!(r(503, None, None, None, ""), Some(s(2)));
        assert_eq!(r(429, Some("7"), None, None, ""), Some(s(7)));
        assert_eq!(
            r(403, Some("1"), Some("4999"), None, "secondary rate limit"),
            Some(s(1))
        );
        assert_eq!(r(403, None, Some("0"), Some("1010"), ""), Some(s(11)));
        assert_eq!(
            r(403, None, Some("0"), Some("5000"), ""),
            None,
            "past the budget"
        );
        assert_eq!(
            r(
                403,
                None,
                None,
                None,
                "Resource not accessible by integration"
            ),
            None
        );
        for status in [400, 401, 404, 422] {
            assert_eq!(r(status, None, None, None, ""), None, "{status}");
        }
    }

    #[test]
    fn teardown_reasons() {
        use serde_json::json;
        for (trigger, want) in [
            (
                json!({"kind": "pull-request-closed"}),
                "the pull request was closed",
            ),
            (
                json!({"kind": "pull-request-merged", "delivery": "d"}),
                "the pull request was merged",
            ),
            (json!({"kind": "branch-deleted"}), "its branch was deleted"),
            (
                json!({"kind": "preview-expired", "ttl_hours": 48}),
                "no push for 48 h (previews.ttl_hours)",
            ),
            (
                json!({"kind": "preview-expired"}),
                "no push within previews.ttl_hours",
            ),
            (json!({"kind": "console"}), "by hand"),
        ] {
            assert_eq!(teardown_reason(Some(&trigger)), want, "{trigger}");
        }
        assert_eq!(teardown_reason(None), "by hand");
    }

    #[test]
    fn the_preview_comment_says_where_the_preview_is() {
        let sha = "0123456789abcdef0123456789abcdef01234567";
        let comment = |state, description, url| {
            PreviewComment {
                app: "bank",
                environment: "pr-feature-217d2",
                state,
                commit: sha,
                description,
                url,
                log_url: Some("https://console/x"),
            }
            .body()
        };
        let live = comment("success", "Deployed 0123456", Some("http://bank-pr.elb"));
        assert!(live.starts_with("<!-- stepdeploy:bank/pr-feature-217d2 -->\n✅ **stepdeploy** preview `pr-feature-217d2` of `bank`: `0123456` is live\n"), "{live}");
        assert!(live.contains("**URL:** http://bank-pr.elb") && !live.contains("> Deployed"));
        assert!(live.contains("[Execution in the Step Functions console](https://console/x)"));
        let failed = comment(
            "failure",
            "HealthCheckFailed: GET /health\nanswered 404",
            Some("http://x"),
        );
        assert!(
            failed.contains("`0123456` failed to deploy")
                && failed.contains("> HealthCheckFailed: GET /health answered 404")
        );
        assert!(!failed.contains("**URL:**"), "{failed}");
        for (state, says) in [
            ("queued", "waiting to deploy `0123456`"),
            ("in_progress", "deploying `0123456`"),
            ("inactive", "`0123456` was not deployed"),
        ] {
            assert!(comment(state, "", None).contains(says), "{state}");
        }
        let gone = comment("torn_down", "the pull request was merged", None);
        assert!(gone.contains("🗑️ **stepdeploy** preview `pr-feature-217d2` of `bank`: torn down: the pull request was merged\n"), "{gone}");
        assert!(!gone.contains("> the pull"), "{gone}");
        assert!(
            comment("queued", "", None).starts_with(&comment_marker("bank", "pr-feature-217d2"))
        );
    }
}
