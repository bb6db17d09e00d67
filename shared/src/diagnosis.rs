//! Why a rollout failed, in one message a person can act on.
//!
//! When ECS gives up on a rollout (the circuit breaker failed it or rolled it
//! back), the service step gathers the [`Facts`]: the failed rollout's
//! stopped tasks (`stoppedReason`, `stopCode`, each container's exit code and
//! reason), the target group's verdict on those tasks, the last log lines of
//! one of them and the service's events. [`diagnose`] names the [`Cause`]
//! and says what to do, in at most [`MAX_MESSAGE`] bytes: that message is the
//! deployment's error cause (the ledger, the execution, `make status`); the
//! facts themselves go to the deployment's ledger item.
//!
//! Log lines may carry anything the app prints: values that look like
//! credentials (`password=…`, `token: …`) are masked before they are kept.

use serde::{Deserialize, Serialize};

use crate::error::ErrorKind;

/// The longest message a diagnosis gives (bytes).
pub const MAX_MESSAGE: usize = 1024;

/// How many log lines of a stopped task are kept.
pub const LOG_LINES: usize = 20;

/// What made the rollout fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Cause {
    /// ECS could not pull the image.
    ImagePullFailed,
    /// ECS could not fetch the task's secrets (`ResourceInitializationError`).
    SecretsUnreadable,
    /// The container was killed for using more memory than the task has.
    OutOfMemory,
    /// The container ran, but the load balancer's health check failed.
    HealthCheckFailed,
    /// The container exited on its own.
    ContainerExited,
    /// None of the above: the raw facts.
    Unknown,
}

impl Cause {
    /// Every cause, in the order the classifier tries them.
    pub const ALL: [Cause; 6] = [
        Cause::ImagePullFailed,
        Cause::SecretsUnreadable,
        Cause::OutOfMemory,
        Cause::HealthCheckFailed,
        Cause::ContainerExited,
        Cause::Unknown,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Cause::ImagePullFailed => "ImagePullFailed",
            Cause::SecretsUnreadable => "SecretsUnreadable",
            Cause::OutOfMemory => "OutOfMemory",
            Cause::HealthCheckFailed => "HealthCheckFailed",
            Cause::ContainerExited => "ContainerExited",
            Cause::Unknown => "Unknown",
        }
    }

    /// The error the deployment fails with (what `Catch` and the ledger see).
    pub fn error(self) -> ErrorKind {
        match self {
            Cause::ImagePullFailed => ErrorKind::ImagePullFailed,
            Cause::SecretsUnreadable => ErrorKind::SecretsUnreadable,
            Cause::OutOfMemory => ErrorKind::OutOfMemory,
            Cause::HealthCheckFailed => ErrorKind::HealthCheckFailed,
            Cause::ContainerExited => ErrorKind::ContainerExited,
            Cause::Unknown => ErrorKind::RolloutFailed,
        }
    }

    /// What a person does about it, in general terms (the README's
    /// troubleshooting table is checked against these).
    pub fn fix(self) -> &'static str {
        match self {
            Cause::ImagePullFailed => "check that the image exists in its registry at that digest, that the task execution role may pull it, and that the private subnets reach the registry (NAT gateway); then push again",
            Cause::SecretsUnreadable => "check that the database secret still exists in Secrets Manager and that the task execution role may read it (secretsmanager:GetSecretValue); then push again",
            Cause::OutOfMemory => "raise service.memory (with a Fargate size valid for service.cpu) or make the app use less; then push again",
            Cause::HealthCheckFailed => "make the app answer HTTP 200-399 at service.health_check_path on service.port, or set those to what it serves; then push again",
            Cause::ContainerExited => "fix the error its log shows (run the image locally with the same environment to see it); then push again",
            Cause::Unknown => "read the stopped tasks and service events in the ECS console; then push again",
        }
    }
}

/// One container of a stopped task.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ContainerStop {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
}

/// A task of the failed rollout that stopped.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct StoppedTask {
    /// The task's id (the last part of its ARN).
    pub id: String,
    pub task_definition: String,
    pub stopped_reason: String,
    /// `TaskFailedToStart`, `EssentialContainerExited`, `ServiceSchedulerInitiated`, …
    pub stop_code: String,
    pub containers: Vec<ContainerStop>,
    /// Its private IP (the target the load balancer checked).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub ip: String,
}

/// What the target group says about one target.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct TargetVerdict {
    pub ip: String,
    /// `healthy`, `unhealthy`, `draining`, …
    pub state: String,
    /// `Target.ResponseCodeMismatch`, `Target.Timeout`, …
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
    /// e.g. `Health checks failed with these codes: [404]`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
}

/// Everything gathered about a failed rollout.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Facts {
    /// Why ECS says the rollout failed (the deployment's rollout reason).
    pub rollout_reason: String,
    /// The failed rollout's stopped tasks, newest first.
    pub tasks: Vec<StoppedTask>,
    /// The target group's verdicts on those tasks.
    pub targets: Vec<TargetVerdict>,
    /// The log stream the lines come from.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub log_stream: String,
    /// Its last lines, oldest first, credentials masked.
    pub log_lines: Vec<String>,
    /// The service's newest events, newest first.
    pub events: Vec<String>,
}

/// What the diagnosis needs to know of the service.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Service {
    pub image: String,
    pub container_port: i32,
    pub health_check_path: String,
    pub memory_mib: u32,
    pub log_group: String,
}

/// A named cause and its message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Diagnosis {
    pub cause: Cause,
    pub message: String,
}

fn contains(haystack: &str, needle: &str) -> bool {
    haystack
        .to_ascii_lowercase()
        .contains(&needle.to_ascii_lowercase())
}

/// Everything a task says about itself, for matching.
fn words(t: &StoppedTask) -> String {
    let mut all = vec![t.stopped_reason.clone()];
    all.extend(t.containers.iter().map(|c| c.reason.clone()));
    all.join(" ")
}

/// The container killed for its memory: `OutOfMemoryError`, or exit 137 of
/// an essential container (the kernel's SIGKILL).
fn oom_container(t: &StoppedTask) -> Option<&ContainerStop> {
    t.containers.iter().find(|c| {
        contains(&c.reason, "OutOfMemory")
            || c.exit_code == Some(137) && t.stop_code == "EssentialContainerExited"
    })
}

fn is_oom(t: &StoppedTask) -> bool {
    oom_container(t).is_some()
}

fn health_failed(t: &StoppedTask) -> bool {
    let w = words(t);
    contains(&w, "failed ELB health checks") || contains(&w, "failed container health checks")
}

fn exited(t: &StoppedTask) -> Option<&ContainerStop> {
    t.containers
        .iter()
        .find(|c| c.exit_code.is_some_and(|code| code != 0))
        .or_else(|| {
            (t.stop_code == "EssentialContainerExited")
                .then(|| t.containers.first())
                .flatten()
        })
}

/// Which cause the facts show; stopped tasks first (newest first), then the
/// service's events, which say less.
pub fn classify(facts: &Facts) -> Cause {
    let tasks = &facts.tasks;
    let any = |f: &dyn Fn(&StoppedTask) -> bool| tasks.iter().any(f);
    if any(&|t| contains(&words(t), "CannotPullContainer")) {
        return Cause::ImagePullFailed;
    }
    if any(&|t| contains(&words(t), "ResourceInitializationError")) {
        return Cause::SecretsUnreadable;
    }
    if any(&is_oom) {
        return Cause::OutOfMemory;
    }
    if any(&health_failed) {
        return Cause::HealthCheckFailed;
    }
    if any(&|t| exited(t).is_some()) {
        return Cause::ContainerExited;
    }
    let events = facts.events.join(" ");
    if contains(&events, "CannotPullContainer") {
        Cause::ImagePullFailed
    } else if contains(&events, "ResourceInitializationError") {
        Cause::SecretsUnreadable
    } else if contains(&events, "failed ELB health checks") {
        Cause::HealthCheckFailed
    } else {
        Cause::Unknown
    }
}

/// The cause and a message of at most [`MAX_MESSAGE`] bytes: what happened,
/// the facts that show it, and what to do.
pub fn diagnose(facts: &Facts, service: &Service) -> Diagnosis {
    let cause = classify(facts);
    let first = |f: &dyn Fn(&StoppedTask) -> bool| facts.tasks.iter().find(|t| f(t));
    let task_word =
        |t: Option<&StoppedTask>| t.map(|t| format!(" (task {})", t.id)).unwrap_or_default();
    let said = |t: Option<&StoppedTask>, needle: &str| {
        t.map(|t| {
            std::iter::once(t.stopped_reason.as_str())
                .chain(t.containers.iter().map(|c| c.reason.as_str()))
                .find(|r| contains(r, needle))
                .unwrap_or(t.stopped_reason.as_str())
                .to_string()
        })
        .or_else(|| facts.events.iter().find(|e| contains(e, needle)).cloned())
        .unwrap_or_default()
    };
    let logs = || {
        if facts.log_lines.is_empty() {
            format!(" Its log (group {}) has no lines.", service.log_group)
        } else {
            format!(" Its last log lines: {}", facts.log_lines.join(" | "))
        }
    };
    let what = match cause {
        Cause::ImagePullFailed => {
            let t = first(&|t| contains(&words(t), "CannotPullContainer"));
            format!(
                "ECS could not pull the image {}{}: {}.",
                service.image,
                task_word(t),
                said(t, "CannotPullContainer")
            )
        }
        Cause::SecretsUnreadable => {
            let t = first(&|t| contains(&words(t), "ResourceInitializationError"));
            format!(
                "ECS could not read the task's secrets, so no container started{}: {}.",
                task_word(t),
                said(t, "ResourceInitializationError")
            )
        }
        Cause::OutOfMemory => {
            let t = first(&is_oom);
            let c = t.and_then(oom_container);
            format!(
                "The container {} was killed for using more than the task's {} MiB{} (exit code {}{}).{}",
                c.map(|c| c.name.as_str()).unwrap_or("?"),
                service.memory_mib,
                task_word(t),
                c.and_then(|c| c.exit_code).map_or("none".into(), |x| x.to_string()),
                c.filter(|c| !c.reason.is_empty()).map(|c| format!(", {}", c.reason)).unwrap_or_default(),
                logs()
            )
        }
        Cause::HealthCheckFailed => {
            let t = first(&health_failed);
            let answer = facts
                .targets
                .iter()
                .find(|v| {
                    v.state == "unhealthy" && t.is_none_or(|t| t.ip.is_empty() || t.ip == v.ip)
                })
                .or_else(|| facts.targets.iter().find(|v| v.state == "unhealthy"))
                .map(|v| format!("{} ({})", v.description, v.reason))
                .unwrap_or_else(|| "no answer the load balancer could accept".into());
            format!(
                "The tasks started but failed the load balancer's health check GET {} on port {}{}: {}.{}",
                service.health_check_path,
                service.container_port,
                task_word(t),
                answer,
                logs()
            )
        }
        Cause::ContainerExited => {
            let t = first(&|t| exited(t).is_some());
            let c = t.and_then(exited);
            format!(
                "The container {} exited with code {}{}.{}",
                c.map(|c| c.name.as_str()).unwrap_or("?"),
                c.and_then(|c| c.exit_code)
                    .map_or("none".into(), |x| x.to_string()),
                task_word(t),
                logs()
            )
        }
        Cause::Unknown => {
            let mut parts = vec![format!("The rollout failed: {}", facts.rollout_reason)];
            if let Some(t) = facts.tasks.first() {
                parts.push(format!(
                    "task {} stopped: {} ({})",
                    t.id, t.stopped_reason, t.stop_code
                ));
            }
            if !facts.events.is_empty() {
                parts.push(format!(
                    "service events: {}",
                    facts
                        .events
                        .iter()
                        .take(3)
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(" | ")
                ));
            }
            format!("{}.", parts.join("; "))
        }
    };
    let fix = format!(" To fix: {}.", cause.fix());
    Diagnosis {
        cause,
        message: fit(&what, &fix),
    }
}

/// What a person does about a release command that failed.
pub const RELEASE_FIX: &str = "make the release command succeed against the environment's database (its log shows why; it runs with the service's environment and secrets), or change release.command; then push again";

/// The message of a failed release task (`why`: the command, its exit code
/// and task), with its last log lines, in at most [`MAX_MESSAGE`] bytes.
pub fn release_failure(why: &str, log_lines: &[String], log_group: &str) -> String {
    let logs = if log_lines.is_empty() {
        format!(" Its log (group {log_group}) has no lines.")
    } else {
        format!(" Its last log lines: {}", log_lines.join(" | "))
    };
    let what = format!("{why}; the service keeps running what it ran.{logs}");
    fit(&what, &format!(" To fix: {RELEASE_FIX}."))
}

/// `what` shortened (on a character boundary, marked with …) so that
/// `what` + `fix` fit in [`MAX_MESSAGE`] bytes: the fix is always kept.
fn fit(what: &str, fix: &str) -> String {
    let room = MAX_MESSAGE.saturating_sub(fix.len());
    if what.len() <= room {
        return format!("{what}{fix}");
    }
    let mut end = room.saturating_sub('…'.len_utf8());
    while !what.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…{fix}", &what[..end])
}

/// A log line with whatever follows a credential-like key masked:
/// `DB_PASSWORD=hunter2` → `DB_PASSWORD=***`.
pub fn mask(line: &str) -> String {
    const KEYS: [&str; 5] = ["password", "secret", "token", "api_key", "apikey"];
    let lower = line.to_ascii_lowercase();
    let mut out = String::with_capacity(line.len());
    let mut i = 0;
    while i < line.len() {
        let hit = KEYS
            .iter()
            .filter_map(|k| lower[i..].find(k).map(|at| (i + at, k.len())))
            .min();
        let Some((at, len)) = hit else {
            out.push_str(&line[i..]);
            break;
        };
        // The key, any more name characters, then `=` or `:` and spaces.
        let mut j = at + len;
        let bytes = line.as_bytes();
        while j < line.len() && (bytes[j].is_ascii_alphanumeric() || bytes[j] == b'_') {
            j += 1;
        }
        let mut k = j;
        while k < line.len() && matches!(bytes[k], b'"' | b'\'' | b' ') {
            k += 1;
        }
        if k < line.len() && matches!(bytes[k], b'=' | b':') {
            k += 1;
            while k < line.len() && matches!(bytes[k], b' ' | b'"' | b'\'') {
                k += 1;
            }
            let mut end = k;
            while end < line.len()
                && !matches!(bytes[end], b' ' | b'"' | b'\'' | b',' | b'&' | b';')
            {
                end += 1;
            }
            out.push_str(&line[i..k]);
            if end > k {
                out.push_str("***");
            }
            i = end;
        } else {
            out.push_str(&line[i..j]);
            i = j;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service() -> Service {
        Service {
            image: "123456789012.dkr.ecr.us-east-1.amazonaws.com/bank@sha256:abc".into(),
            container_port: 8000,
            health_check_path: "/health".into(),
            memory_mib: 1024,
            log_group: "/stepdeploy/bank/production".into(),
        }
    }

    fn stopped(reason: &str, code: &str, exit: Option<i32>, container_reason: &str) -> StoppedTask {
        StoppedTask {
            id: "t1".into(),
            task_definition: "arn:td/bank-production:2".into(),
            stopped_reason: reason.into(),
            stop_code: code.into(),
            containers: vec![ContainerStop {
                name: "web".into(),
                exit_code: exit,
                reason: container_reason.into(),
            }],
            ip: "10.0.3.4".into(),
        }
    }

    fn facts(tasks: Vec<StoppedTask>) -> Facts {
        Facts {
            rollout_reason: "ECS deployment circuit breaker: tasks failed to start.".into(),
            tasks,
            ..Facts::default()
        }
    }

    #[test]
    fn classify_table() {
        let pull = "CannotPullContainerError: pull image manifest has been retried 5 time(s): failed to resolve ref x: not found";
        let secrets = "ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval failed";
        let health = "Task failed ELB health checks in (target-group arn:tg)";
        let cases: Vec<(&str, Facts, Cause)> = vec![
            (
                "pull",
                facts(vec![stopped(pull, "TaskFailedToStart", None, pull)]),
                Cause::ImagePullFailed,
            ),
            (
                "secrets",
                facts(vec![stopped(secrets, "TaskFailedToStart", None, "")]),
                Cause::SecretsUnreadable,
            ),
            (
                "OutOfMemoryError",
                facts(vec![stopped(
                    "Essential container in task exited",
                    "EssentialContainerExited",
                    Some(137),
                    "OutOfMemoryError: Container killed due to memory usage",
                )]),
                Cause::OutOfMemory,
            ),
            (
                "exit 137 without a reason",
                facts(vec![stopped(
                    "Essential container in task exited",
                    "EssentialContainerExited",
                    Some(137),
                    "",
                )]),
                Cause::OutOfMemory,
            ),
            (
                "health check, stopped by the scheduler (its exit code is the SIGTERM's)",
                facts(vec![stopped(
                    health,
                    "ServiceSchedulerInitiated",
                    Some(137),
                    "",
                )]),
                Cause::HealthCheckFailed,
            ),
            (
                "exit 1",
                facts(vec![stopped(
                    "Essential container in task exited",
                    "EssentialContainerExited",
                    Some(1),
                    "",
                )]),
                Cause::ContainerExited,
            ),
            (
                "exit 0 of an essential container",
                facts(vec![stopped(
                    "Essential container in task exited",
                    "EssentialContainerExited",
                    Some(0),
                    "",
                )]),
                Cause::ContainerExited,
            ),
            (
                "no tasks, events name health checks",
                Facts {
                    events: vec![format!(
                        "(service s) (task t) failed ELB health checks in (target-group g)"
                    )],
                    ..facts(vec![])
                },
                Cause::HealthCheckFailed,
            ),
            (
                "no tasks, events name a pull error",
                Facts {
                    events: vec![format!("(service s) (task t) failed to start: {pull}")],
                    ..facts(vec![])
                },
                Cause::ImagePullFailed,
            ),
            ("nothing to go by", facts(vec![]), Cause::Unknown),
            (
                "a task stopped by a person",
                facts(vec![stopped(
                    "Task stopped by user",
                    "UserInitiated",
                    Some(0),
                    "",
                )]),
                Cause::Unknown,
            ),
        ];
        for (case, f, want) in cases {
            assert_eq!(classify(&f), want, "{case}");
        }
    }

    #[test]
    fn messages_read_as_users_see_them() {
        let mut f = facts(vec![stopped(
            "Essential container in task exited",
            "EssentialContainerExited",
            Some(1),
            "",
        )]);
        f.log_lines = vec![
            "Traceback (most recent call last):".into(),
            "ModuleNotFoundError: No module named 'flask_sqlalchemy'".into(),
        ];
        let d = diagnose(&f, &service());
        assert_eq!(d.cause, Cause::ContainerExited);
        assert_eq!(
            d.message,
            "The container web exited with code 1 (task t1). Its last log lines: Traceback (most recent call last): | ModuleNotFoundError: No module named 'flask_sqlalchemy' To fix: fix the error its log shows (run the image locally with the same environment to see it); then push again."
        );

        let mut f = facts(vec![stopped(
            "Task failed ELB health checks in (target-group arn:tg)",
            "ServiceSchedulerInitiated",
            Some(0),
            "",
        )]);
        f.targets = vec![TargetVerdict {
            ip: "10.0.3.4".into(),
            state: "unhealthy".into(),
            reason: "Target.ResponseCodeMismatch".into(),
            description: "Health checks failed with these codes: [404]".into(),
        }];
        let d = diagnose(&f, &service());
        assert_eq!(d.cause, Cause::HealthCheckFailed);
        assert!(
            d.message.starts_with("The tasks started but failed the load balancer's health check GET /health on port 8000 (task t1): Health checks failed with these codes: [404] (Target.ResponseCodeMismatch)."),
            "{}",
            d.message
        );

        let f = facts(vec![stopped(
            "Essential container in task exited",
            "EssentialContainerExited",
            Some(137),
            "OutOfMemoryError: Container killed due to memory usage",
        )]);
        let d = diagnose(&f, &service());
        assert!(
            d.message.starts_with("The container web was killed for using more than the task's 1024 MiB (task t1) (exit code 137, OutOfMemoryError: Container killed due to memory usage)."),
            "{}",
            d.message
        );
        assert!(d.message.ends_with("To fix: raise service.memory (with a Fargate size valid for service.cpu) or make the app use less; then push again."));
    }

    #[test]
    fn every_message_fits_and_keeps_its_fix() {
        let long = "x".repeat(5000);
        let mut f = facts(vec![stopped(
            &long,
            "EssentialContainerExited",
            Some(1),
            "",
        )]);
        f.log_lines = vec!["é".repeat(900); 20];
        for cause in Cause::ALL {
            let d = diagnose(&f, &service());
            assert!(
                d.message.len() <= MAX_MESSAGE,
                "{cause:?}: {}",
                d.message.len()
            );
            assert!(d.message.ends_with(&format!("To fix: {}.", d.cause.fix())));
        }
        let d = diagnose(&f, &service());
        assert!(d.message.contains('…'));
    }

    #[test]
    fn credentials_in_log_lines_are_masked() {
        let cases = [
            (
                "DB_PASSWORD=hunter2 connecting",
                "DB_PASSWORD=*** connecting",
            ),
            (
                "{\"password\": \"hunter2\", \"user\": \"admin\"}",
                "{\"password\": \"***\", \"user\": \"admin\"}",
            ),
            (
                "token:abc.def secret_key = s3cr3t",
                "token:*** secret_key = ***",
            ),
            (
                "GET /reset-password HTTP/1.1 200",
                "GET /reset-password HTTP/1.1 200",
            ),
            ("nothing to hide", "nothing to hide"),
        ];
        for (line, want) in cases {
            assert_eq!(mask(line), want, "{line}");
        }
    }
}
