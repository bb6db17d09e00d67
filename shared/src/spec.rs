//! The app spec: one declarative document per app that says where its code
//! and image come from, which branches deploy to which environments, and the
//! shape of what runs. Defaults are the reference banking app's.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::StepError;
use crate::naming;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppSpec {
    /// Short name, used in every resource name: `[a-z][a-z0-9]*`, at most 12 characters.
    pub name: String,
    /// The GitHub repository, `owner/name`, whose pushes deploy this app.
    pub repository: String,
    #[serde(default)]
    pub image: ImageSpec,
    /// Long-lived environments, each fed by one branch (default: `production` from `main`).
    #[serde(default = "EnvironmentSpec::defaults")]
    pub environments: Vec<EnvironmentSpec>,
    #[serde(default)]
    pub previews: PreviewSpec,
    #[serde(default)]
    pub service: ServiceSpec,
    #[serde(default)]
    pub network: NetworkSpec,
    #[serde(default)]
    pub database: DatabaseSpec,
    #[serde(default)]
    pub deadlines: DeadlineSpec,
    /// A one-off command (migrations) run before the service moves to a new
    /// commit; none by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release: Option<ReleaseSpec>,
}

/// The release task: the app's command, run once per commit as a Fargate
/// task of the new task definition (same network and secrets as the
/// service), after the task definition is registered and before the service
/// is updated. Anything but exit code 0 fails the deployment
/// (`ReleaseFailed`) and the service keeps what it runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReleaseSpec {
    /// The container's command, exec form: `["python", "database.py"]`.
    pub command: Vec<String>,
    /// How long it may run (30-3600 s) before it is stopped and the deployment fails.
    #[serde(default = "ReleaseSpec::default_timeout")]
    pub timeout_seconds: u64,
}

impl ReleaseSpec {
    fn default_timeout() -> u64 {
        600
    }
}

/// How long each provisioning step may keep polling before the deployment
/// fails with `StepTimedOut`, naming what it waited for: a resource that is
/// stuck (an RDS instance `stopped`, a rollout whose tasks never get
/// healthy) fails the deployment in minutes, not after Step Functions'
/// history limit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DeadlineSpec {
    pub network_minutes: u64,
    pub database_minutes: u64,
    pub load_balancer_minutes: u64,
    pub service_minutes: u64,
    /// How long each teardown phase may keep waiting (a load balancer's or
    /// NAT gateway's network interfaces take minutes; a foreign one in the
    /// VPC never goes) before the teardown fails with `StepTimedOut` and says
    /// what is left. A teardown of an app with no spec gets the default.
    pub teardown_minutes: u64,
}

/// How long one execution may poll in all: a Step Functions execution keeps
/// at most 25,000 history events and one poll takes about 9 (the Task's 5,
/// the Choice's 2, the Wait's 2), so at the template's default 15 s poll
/// interval an execution runs out after about 11.5 hours of polling; a
/// deadline beyond that could never fire.
pub const POLLING_BUDGET_MINUTES: u64 = 600;
/// The teardown's phases that can wait (service, load balancer, database,
/// network, cleanup), each up to `teardown_minutes`.
const TEARDOWN_PHASES: u64 = 5;

impl Default for DeadlineSpec {
    fn default() -> Self {
        DeadlineSpec {
            network_minutes: 20,
            database_minutes: 60,
            load_balancer_minutes: 20,
            service_minutes: 30,
            teardown_minutes: 45,
        }
    }
}

/// Every default of the spec is stated once, in these `Default` impls: a
/// struct-level `#[serde(default)]` fills a missing field from them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ImageSpec {
    /// An ECR repository name in the deployer's account and region (`bank`), or a
    /// full reference without tag (`ghcr.io/acme/bank`, `docker.io/acme/bank`).
    /// Defaults to the app's name in ECR.
    pub repository: Option<String>,
    /// The tag to wait for; `{commit}` and `{short_commit}` are replaced.
    pub tag: String,
    /// How long a deployment waits for its image before failing.
    pub wait_timeout_seconds: u64,
}

impl Default for ImageSpec {
    fn default() -> Self {
        ImageSpec {
            repository: None,
            tag: "{commit}".into(),
            wait_timeout_seconds: 1800,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvironmentSpec {
    pub name: String,
    pub branch: String,
}

impl EnvironmentSpec {
    fn defaults() -> Vec<EnvironmentSpec> {
        vec![EnvironmentSpec {
            name: "production".into(),
            branch: "main".into(),
        }]
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct PreviewSpec {
    /// Deploy every other branch to its own `pr-<branch>` environment.
    pub enabled: bool,
    /// Tear a preview down after this many hours without a push (a
    /// one-time EventBridge Scheduler schedule, moved on by every push).
    pub ttl_hours: Option<u32>,
}

/// The longest `previews.ttl_hours`: a year.
pub const MAX_PREVIEW_TTL_HOURS: u32 = 24 * 366;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServiceSpec {
    pub container_name: String,
    /// The one source of the container port: the task definition, the target
    /// group and the security groups all read it from here.
    pub port: u16,
    pub cpu: u32,
    pub memory: u32,
    pub desired_count: u32,
    pub health_check_path: String,
    /// Seconds between two health checks of a task (5-300).
    pub health_check_interval_seconds: i32,
    /// Consecutive passes before a task takes traffic (2-10).
    pub healthy_threshold: i32,
    /// Consecutive failures before a task is taken out (2-10).
    pub unhealthy_threshold: i32,
    /// Seconds the load balancer keeps sending a stopping task the requests
    /// it already has (the target group's deregistration delay, 0-3600).
    /// Every rollout waits this long for the old tasks; AWS's own default is 300.
    pub drain_seconds: i32,
    /// Plain environment variables for the container (never secrets).
    pub environment: BTreeMap<String, String>,
}

impl Default for ServiceSpec {
    fn default() -> Self {
        ServiceSpec {
            container_name: "web".into(),
            port: 8000,
            cpu: 512,
            memory: 1024,
            desired_count: 2,
            health_check_path: "/health".into(),
            health_check_interval_seconds: 15,
            healthy_threshold: 2,
            unhealthy_threshold: 3,
            drain_seconds: 30,
            environment: BTreeMap::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NetworkSpec {
    /// The VPC's address range; must be a /16 to /20 so four subnets fit.
    pub cidr: String,
    /// One NAT gateway for the environment (`single`, the default), or one per
    /// availability zone (`per_az`: no zone depends on another's). Choose
    /// before the first deploy; switching later needs a teardown.
    pub nat_gateways: NatMode,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum NatMode {
    #[default]
    Single,
    PerAz,
}

impl Default for NetworkSpec {
    fn default() -> Self {
        NetworkSpec {
            cidr: "172.28.0.0/16".into(),
            nat_gateways: NatMode::Single,
        }
    }
}

/// The app's MySQL database on RDS, shared by all its tasks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseSpec {
    pub instance_class: String,
    /// GiB of gp3 storage.
    pub allocated_storage: i32,
    /// A MySQL engine version such as `8.0.39`; RDS's default when absent.
    pub engine_version: Option<String>,
    /// The database created at launch.
    pub name: String,
    pub username: String,
    /// Refuse deletion (and take a final snapshot on teardown); defaults to
    /// on for long-lived environments and off for previews.
    pub deletion_protection: Option<bool>,
}

impl Default for DatabaseSpec {
    fn default() -> Self {
        DatabaseSpec {
            instance_class: "db.t3.micro".into(),
            allocated_storage: 20,
            engine_version: None,
            name: "banking".into(),
            username: "admin".into(),
            deletion_protection: None,
        }
    }
}

/// Where a push to a branch goes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Route {
    pub environment: String,
    pub preview: bool,
}

/// The app spec's file at the root of a repository, read at the pushed commit.
pub const REPOSITORY_FILE: &str = ".stepdeploy.toml";

/// The app name a repository's file gets when it names none: the
/// repository's name, lowercased, letters and digits only, cut to the
/// longest app name (`acme/Flask-Banking` -> `flaskbanking`).
pub fn default_app_name(repository: &str) -> String {
    let name = repository.rsplit('/').next().unwrap_or_default();
    let clean: String = name
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .skip_while(char::is_ascii_digit)
        .take(naming::MAX_APP)
        .collect();
    if clean.is_empty() {
        "app".into()
    } else {
        clean
    }
}

/// What the operator allows any spec, whoever wrote it (the stack's
/// parameters): a repository's file cannot go past them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    pub max_desired_count: u32,
    pub max_cpu: u32,
    /// MiB.
    pub max_memory: u32,
    /// Allowed `database.instance_class` values; empty allows any.
    pub database_classes: Vec<String>,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_desired_count: 10,
            max_cpu: 4096,
            max_memory: 30720,
            database_classes: Vec::new(),
        }
    }
}

impl Limits {
    /// From `STEPDEPLOY_MAX_DESIRED_COUNT`, `STEPDEPLOY_MAX_CPU`,
    /// `STEPDEPLOY_MAX_MEMORY` and `STEPDEPLOY_DATABASE_INSTANCE_CLASSES`
    /// (comma-separated), each defaulting when unset or empty.
    pub fn from_lookup(var: impl Fn(&str) -> Option<String>) -> Result<Limits, StepError> {
        let mut limits = Limits::default();
        for (name, slot) in [
            (
                "STEPDEPLOY_MAX_DESIRED_COUNT",
                &mut limits.max_desired_count,
            ),
            ("STEPDEPLOY_MAX_CPU", &mut limits.max_cpu),
            ("STEPDEPLOY_MAX_MEMORY", &mut limits.max_memory),
        ] {
            if let Some(v) = var(name).filter(|v| !v.trim().is_empty()) {
                *slot = v.trim().parse().map_err(|_| {
                    StepError::new(
                        crate::error::ErrorKind::Fatal,
                        format!("{name} {v:?} is not a whole number: fix the stack parameter"),
                    )
                })?;
            }
        }
        if let Some(v) = var("STEPDEPLOY_DATABASE_INSTANCE_CLASSES") {
            limits.database_classes = v
                .split(',')
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .map(String::from)
                .collect();
        }
        Ok(limits)
    }

    pub fn from_env() -> Result<Limits, StepError> {
        Limits::from_lookup(|name| std::env::var(name).ok())
    }

    /// Where `spec` goes past the limits, each naming its field and the
    /// stack parameter that sets the limit.
    pub fn problems(&self, spec: &AppSpec) -> Vec<String> {
        let ask = "lower it, or ask whoever runs this deployer to raise the stack parameter";
        let mut problems = Vec::new();
        let s = &spec.service;
        for (field, value, max, parameter) in [
            (
                "service.desired_count",
                s.desired_count,
                self.max_desired_count,
                "MaxDesiredCount",
            ),
            ("service.cpu", s.cpu, self.max_cpu, "MaxCpu"),
            ("service.memory", s.memory, self.max_memory, "MaxMemory"),
        ] {
            if value > max {
                problems.push(format!(
                    "{field} {value} is over this deployer's limit of {max} ({parameter}): {ask}"
                ));
            }
        }
        let class = &spec.database.instance_class;
        if !self.database_classes.is_empty() && !self.database_classes.contains(class) {
            problems.push(format!(
                "database.instance_class {class:?} is not one this deployer allows ({}; DatabaseInstanceClasses): choose one of them, or ask whoever runs this deployer to add it",
                self.database_classes.join(", ")
            ));
        }
        problems
    }

    /// `Ok` when `spec` is within the limits; else an `InvalidInput` naming every field past them.
    pub fn check(&self, spec: &AppSpec, what: &str) -> Result<(), StepError> {
        let problems = self.problems(spec);
        if problems.is_empty() {
            Ok(())
        } else {
            Err(StepError::invalid_input(format!(
                "{what} asks for more than this deployer allows: {}",
                problems.join("; ")
            )))
        }
    }
}

/// Fargate's valid (cpu, memory) pairs for the sizes a web app uses.
fn fargate_size_ok(cpu: u32, memory: u32) -> bool {
    match cpu {
        256 => [512, 1024, 2048].contains(&memory),
        512 => (1024..=4096).contains(&memory) && memory % 1024 == 0,
        1024 => (2048..=8192).contains(&memory) && memory % 1024 == 0,
        2048 => (4096..=16384).contains(&memory) && memory % 1024 == 0,
        4096 => (8192..=30720).contains(&memory) && memory % 1024 == 0,
        _ => false,
    }
}

impl AppSpec {
    /// Parse and validate a spec from JSON; the error says what to fix.
    pub fn from_json(text: &str) -> Result<AppSpec, StepError> {
        let value: serde_json::Value = serde_json::from_str(text)
            .map_err(|e| StepError::invalid_input(format!("app spec is not valid JSON: {e}")))?;
        AppSpec::from_value(value, "app spec")
    }

    /// The one reading of a spec, whatever it was written in: the error
    /// names the field (`service.cpu: invalid type …`) and says what to fix;
    /// `what` names the document (`app spec`, `.stepdeploy.toml`).
    pub fn from_value(value: serde_json::Value, what: &str) -> Result<AppSpec, StepError> {
        let spec: AppSpec = serde_path_to_error::deserialize(value)
            .map_err(|e| StepError::invalid_input(format!("{what} is not valid: {e}")))?;
        spec.check(what)?;
        Ok(spec)
    }

    /// The spec in a repository's [`REPOSITORY_FILE`] (TOML, the same fields
    /// as the JSON spec). `repository` is the repository the file is in, and
    /// may be left out of the file; `name` defaults to `registered` (the
    /// operator's spec for the repository) or to the repository's name.
    pub fn from_repository_file(
        text: &str,
        repository: &str,
        registered: Option<&str>,
    ) -> Result<AppSpec, StepError> {
        let table: toml::Table = toml::from_str(text).map_err(|e| {
            let line = e
                .span()
                .map(|s| text[..s.start.min(text.len())].lines().count().max(1));
            StepError::invalid_input(format!(
                "{REPOSITORY_FILE} is not valid TOML{}: {}",
                line.map(|l| format!(" (line {l})")).unwrap_or_default(),
                e.message()
            ))
        })?;
        let mut value = serde_json::to_value(table).expect("a TOML table is JSON");
        let fields = value.as_object_mut().expect("a table is an object");
        match fields.get("repository") {
            None => {
                fields.insert("repository".into(), repository.into());
            }
            Some(serde_json::Value::String(r)) if r.eq_ignore_ascii_case(repository) => {}
            Some(other) => {
                return Err(StepError::invalid_input(format!(
                    "{REPOSITORY_FILE} is not valid: repository is {other} but the file is in {repository}: leave repository out (it is the repository the file is in)"
                )))
            }
        }
        if !fields.contains_key("name") {
            let name = registered.map_or_else(|| default_app_name(repository), String::from);
            fields.insert("name".into(), name.into());
        }
        AppSpec::from_value(value, REPOSITORY_FILE)
    }

    pub fn validate(&self) -> Result<(), StepError> {
        self.check(&format!("app spec {:?}", self.name))
    }

    /// `Ok` when valid; else an `InvalidInput` listing every problem, `what` naming the document.
    fn check(&self, what: &str) -> Result<(), StepError> {
        let problems = self.problems();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(StepError::invalid_input(format!(
                "{what} is not valid: {}",
                problems.join("; ")
            )))
        }
    }

    /// What is wrong with the spec, each naming its field; empty when valid.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if let Err(e) = naming::check_app_name(&self.name) {
            problems.push(e.message);
        }
        let repo_ok = self
            .repository
            .split_once('/')
            .is_some_and(|(o, n)| !o.is_empty() && !n.is_empty() && !n.contains('/'));
        if !repo_ok {
            problems.push(format!(
                "repository {:?} must be a GitHub repository as owner/name",
                self.repository
            ));
        }
        if self.environments.is_empty() && !self.previews.enabled {
            problems
                .push("no environments and previews disabled: nothing would ever deploy".into());
        }
        let mut seen = std::collections::HashSet::new();
        for env in &self.environments {
            if let Err(e) = naming::check_environment_name(&env.name) {
                problems.push(e.message);
            }
            if env.name.starts_with("pr-") {
                problems.push(format!(
                    "environment {:?}: names starting with pr- are reserved for previews",
                    env.name
                ));
            }
            if !seen.insert(env.branch.as_str()) {
                problems.push(format!(
                    "branch {:?} feeds more than one environment",
                    env.branch
                ));
            }
        }
        if !self.image.tag.contains("{commit}") && !self.image.tag.contains("{short_commit}") {
            problems.push(format!(
                "image.tag {:?} must contain {{commit}} or {{short_commit}} so each push waits for its own image",
                self.image.tag
            ));
        }
        if let Some(hours) = self.previews.ttl_hours {
            if !(1..=MAX_PREVIEW_TTL_HOURS).contains(&hours) {
                problems.push(format!(
                    "previews.ttl_hours {hours} must be between 1 and {MAX_PREVIEW_TTL_HOURS} (leave it out to keep previews until their branch or pull request goes)"
                ));
            }
        }
        if self.image.wait_timeout_seconds == 0 {
            problems.push("image.wait_timeout_seconds must be at least 1".into());
        }
        let s = &self.service;
        if s.port == 0 {
            problems.push("service.port must be between 1 and 65535".into());
        }
        if !fargate_size_ok(s.cpu, s.memory) {
            problems.push(format!(
                "service.cpu {} with service.memory {} is not a Fargate size (e.g. 512 CPU with 1024-4096 MiB)",
                s.cpu, s.memory
            ));
        }
        let path = &s.health_check_path;
        if !path.starts_with('/')
            || path.len() > 1024
            || !path.chars().all(|c| c.is_ascii_graphic())
        {
            problems.push(format!(
                "service.health_check_path {path:?} must be a path the load balancer can ask: start with /, at most 1024 characters, no spaces or non-ASCII (e.g. \"/health\")"
            ));
        }
        if s.container_name.is_empty()
            || s.container_name.len() > 255
            || !s
                .container_name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            problems.push(format!(
                "service.container_name {:?} may hold only letters, digits, - and _",
                s.container_name
            ));
        }
        if let Err(e) = crate::network::Cidr::parse(&self.network.cidr).and_then(|c| {
            if (16..=20).contains(&c.prefix) {
                Ok(())
            } else {
                Err(StepError::invalid_input(format!(
                    "network.cidr {} must be a /16 to /20",
                    self.network.cidr
                )))
            }
        }) {
            problems.push(e.message);
        }
        if !(5..=300).contains(&s.health_check_interval_seconds) {
            problems.push(format!(
                "service.health_check_interval_seconds {} must be 5 to 300",
                s.health_check_interval_seconds
            ));
        }
        for (name, v) in [
            ("healthy_threshold", s.healthy_threshold),
            ("unhealthy_threshold", s.unhealthy_threshold),
        ] {
            if !(2..=10).contains(&v) {
                problems.push(format!("service.{name} {v} must be 2 to 10"));
            }
        }
        if let Some(r) = &self.release {
            if r.command.is_empty() || r.command.iter().any(|a| a.is_empty()) {
                problems.push(
                    "release.command must be a non-empty list of non-empty strings, e.g. [\"python\", \"database.py\"]".into(),
                );
            }
            if !(30..=3600).contains(&r.timeout_seconds) {
                problems.push(format!(
                    "release.timeout_seconds {} must be 30 to 3600",
                    r.timeout_seconds
                ));
            }
            if r.timeout_seconds > self.deadlines.service_minutes * 60 {
                problems.push(format!(
                    "release.timeout_seconds {} must fit in deadlines.service_minutes ({} min): the release runs inside that step",
                    r.timeout_seconds, self.deadlines.service_minutes
                ));
            }
        }
        if !(0..=3600).contains(&s.drain_seconds) {
            problems.push(format!(
                "service.drain_seconds {} must be 0 to 3600",
                s.drain_seconds
            ));
        }
        let db = &self.database;
        if !(20..=65536).contains(&db.allocated_storage) {
            problems.push(format!(
                "database.allocated_storage {} must be 20 to 65536 GiB",
                db.allocated_storage
            ));
        }
        let ident = |v: &str| {
            !v.is_empty()
                && v.len() <= 16
                && v.starts_with(|c: char| c.is_ascii_alphabetic())
                && v.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        };
        if !ident(&db.name) {
            problems.push(format!(
                "database.name {:?} must be 1-16 letters, digits or _ starting with a letter",
                db.name
            ));
        }
        if !ident(&db.username) {
            problems.push(format!(
                "database.username {:?} must be 1-16 letters, digits or _ starting with a letter",
                db.username
            ));
        }
        if !db.instance_class.starts_with("db.") {
            problems.push(format!(
                "database.instance_class {:?} must be an RDS class such as db.t3.micro",
                db.instance_class
            ));
        }
        let d = &self.deadlines;
        for (field, minutes) in [
            ("network_minutes", d.network_minutes),
            ("database_minutes", d.database_minutes),
            ("load_balancer_minutes", d.load_balancer_minutes),
            ("service_minutes", d.service_minutes),
            ("teardown_minutes", d.teardown_minutes),
        ] {
            if !(1..=POLLING_BUDGET_MINUTES).contains(&minutes) {
                problems.push(format!(
                    "deadlines.{field} {minutes} must be 1 to {POLLING_BUDGET_MINUTES} (10 hours)"
                ));
            }
        }
        // The steps poll one after another (database and load balancer side by side).
        let deploy =
            d.network_minutes + d.database_minutes.max(d.load_balancer_minutes) + d.service_minutes;
        if deploy > POLLING_BUDGET_MINUTES {
            problems.push(format!(
                "deadlines add up to {deploy} min of polling in one deployment (network + the longer of database and load_balancer + service), more than {POLLING_BUDGET_MINUTES}: a Step Functions execution keeps at most 25,000 history events, which polling every 15 s uses up in about 10 hours, before a longer deadline could fire"
            ));
        }
        if d.teardown_minutes * TEARDOWN_PHASES > POLLING_BUDGET_MINUTES {
            problems.push(format!(
                "deadlines.teardown_minutes {} times the teardown's {TEARDOWN_PHASES} phases is more than {POLLING_BUDGET_MINUTES} min of polling (the 25,000-event history of one execution): at most {}",
                d.teardown_minutes,
                POLLING_BUDGET_MINUTES / TEARDOWN_PHASES
            ));
        }
        problems
    }

    /// Which environment a push to `branch` deploys to, if any.
    pub fn route(&self, branch: &str) -> Option<Route> {
        if let Some(env) = self.environments.iter().find(|e| e.branch == branch) {
            return Some(Route {
                environment: env.name.clone(),
                preview: false,
            });
        }
        if self.previews.enabled {
            return Some(Route {
                environment: naming::preview_environment(branch),
                preview: true,
            });
        }
        None
    }

    /// Whether `environment` is one this app may deploy to (a configured one, or a preview).
    pub fn knows_environment(&self, environment: &str) -> Option<Route> {
        if self.environments.iter().any(|e| e.name == environment) {
            return Some(Route {
                environment: environment.into(),
                preview: false,
            });
        }
        if self.previews.enabled
            && environment.starts_with("pr-")
            && naming::check_environment_name(environment).is_ok()
        {
            return Some(Route {
                environment: environment.into(),
                preview: true,
            });
        }
        None
    }

    /// The image tag awaited for `commit`.
    pub fn image_tag(&self, commit: &str) -> String {
        let short = &commit[..commit.len().min(7)];
        self.image
            .tag
            .replace("{commit}", commit)
            .replace("{short_commit}", short)
    }

    /// Whether pushes to `image`'s repository are this app's images (an ECR
    /// repository name matches in any account; other registries by full name).
    pub fn watches(&self, image: &crate::image::ImageRef) -> bool {
        let repo = self.image.repository.as_deref().unwrap_or(&self.name);
        if repo.contains('/') {
            crate::image::ImageRef::parse(repo).is_ok_and(|r| r.name() == image.name())
        } else {
            image.ecr_repository() == Some(repo)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bank() -> AppSpec {
        AppSpec::from_json(r#"{"name": "bank", "repository": "acme/flask-banking"}"#).unwrap()
    }

    #[test]
    fn watched_repositories() {
        use crate::image::ImageRef;
        let ecr = AppSpec::from_json(r#"{"name": "bank", "repository": "acme/bank"}"#).unwrap();
        let hub = AppSpec::from_json(
            r#"{"name": "bank", "repository": "acme/bank", "image": {"repository": "acme/bank"}}"#,
        )
        .unwrap();
        let img = |s: &str| ImageRef::parse(s).unwrap();
        assert!(ecr.watches(&img("123456789012.dkr.ecr.eu-west-1.amazonaws.com/bank:x")));
        assert!(!ecr.watches(&img("123456789012.dkr.ecr.eu-west-1.amazonaws.com/other:x")));
        assert!(!ecr.watches(&img("docker.io/library/bank:x")));
        assert!(hub.watches(&img("docker.io/acme/bank:abc")));
        assert!(hub.watches(&img("index.docker.io/acme/bank")));
        assert!(!hub.watches(&img("ghcr.io/acme/bank:abc")));
        assert!(!hub.watches(&img(
            "123456789012.dkr.ecr.eu-west-1.amazonaws.com/acme/bank:x"
        )));
    }

    #[test]
    fn deadlines_default_and_are_bounded() {
        let s = AppSpec::from_json(r#"{"name":"bank","repository":"acme/bank"}"#).unwrap();
        assert_eq!(
            (
                s.deadlines.network_minutes,
                s.deadlines.database_minutes,
                s.deadlines.teardown_minutes
            ),
            (20, 60, 45)
        );
        let e = AppSpec::from_json(
            r#"{"name":"bank","repository":"acme/bank","deadlines":{"service_minutes":0}}"#,
        )
        .unwrap_err();
        assert!(
            e.message
                .contains("deadlines.service_minutes 0 must be 1 to 600"),
            "{}",
            e.message
        );
    }

    #[test]
    fn the_teardown_deadline_is_read_and_bounded() {
        let with = |minutes: u64| {
            AppSpec::from_json(&format!(
                r#"{{"name":"bank","repository":"acme/bank","deadlines":{{"teardown_minutes":{minutes}}}}}"#
            ))
        };
        let s = with(90).unwrap();
        assert_eq!(s.deadlines.teardown_minutes, 90);
        // Setting one deadline leaves the others at their defaults.
        assert_eq!(s.deadlines.network_minutes, 20);
        assert_eq!(with(1).unwrap().deadlines.teardown_minutes, 1);
        assert_eq!(with(120).unwrap().deadlines.teardown_minutes, 120);
        let e = with(0).unwrap_err();
        assert!(
            e.message
                .contains("deadlines.teardown_minutes 0 must be 1 to 600"),
            "{}",
            e.message
        );
        // Five phases of 121 minutes could outlive the execution's history.
        let e = with(121).unwrap_err();
        assert!(e.message.contains("at most 120"), "{}", e.message);
    }

    #[test]
    fn deadlines_fit_in_one_execution_s_history() {
        let with = |deadlines: &str| {
            AppSpec::from_json(&format!(
                r#"{{"name":"bank","repository":"acme/bank","deadlines":{deadlines}}}"#
            ))
        };
        // 100 + max(300, 200) + 200 = 600: the budget exactly.
        let ok = r#"{"network_minutes":100,"database_minutes":300,"load_balancer_minutes":200,"service_minutes":200}"#;
        assert!(with(ok).is_ok());
        let over = r#"{"network_minutes":101,"database_minutes":300,"load_balancer_minutes":200,"service_minutes":200}"#;
        let e = with(over).unwrap_err();
        assert!(
            e.message.contains("add up to 601 min") && e.message.contains("25,000"),
            "{}",
            e.message
        );
        assert!(with(r#"{"service_minutes":601}"#).is_err());
    }

    #[test]
    fn defaults_are_the_reference_app() {
        let s = bank();
        assert_eq!(s.service.port, 8000);
        assert_eq!((s.service.cpu, s.service.memory), (512, 1024));
        assert_eq!(s.service.desired_count, 2);
        assert_eq!(s.service.health_check_path, "/health");
        assert_eq!(s.network.cidr, "172.28.0.0/16");
        assert_eq!(s.environments[0].name, "production");
        assert_eq!(s.environments[0].branch, "main");
        assert_eq!(s.image.wait_timeout_seconds, 1800);
    }

    #[test]
    fn routing_table() {
        let mut s = bank();
        let cases = [
            ("main", Some(("production", false))),
            ("develop", None),
            ("feature/x", None),
        ];
        for (branch, want) in cases {
            let got = s.route(branch);
            assert_eq!(
                got.map(|r| (r.environment, r.preview)),
                want.map(|(e, p)| (e.to_string(), p)),
                "{branch}"
            );
        }
        s.previews.enabled = true;
        assert_eq!(s.route("main").unwrap().environment, "production");
        let r = s.route("feature/x").unwrap();
        assert_eq!(
            (r.environment.as_str(), r.preview),
            ("pr-feature-217d2", true)
        );
    }

    #[test]
    fn unknown_fields_and_bad_values_are_explained() {
        let e = AppSpec::from_json(r#"{"name": "bank", "repository": "acme/x", "servce": {}}"#)
            .unwrap_err();
        assert!(
            e.message.contains("unknown field `servce`"),
            "{}",
            e.message
        );
        let e = AppSpec::from_json(
            r#"{"name": "Bank!", "repository": "nope", "service": {"cpu": 512, "memory": 100}}"#,
        )
        .unwrap_err();
        assert!(e.message.contains("owner/name"), "{}", e.message);
        assert!(e.message.contains("not a Fargate size"), "{}", e.message);
        assert!(e.message.contains("Bank!"), "{}", e.message);
    }

    #[test]
    fn a_health_check_path_the_load_balancer_cannot_ask_is_refused() {
        for path in [
            "health",
            "/he alth",
            "/héalth",
            &format!("/{}", "a".repeat(1024)),
        ] {
            let spec = format!(
                r#"{{"name":"bank","repository":"a/b","service":{{"health_check_path":{path:?}}}}}"#
            );
            let e = AppSpec::from_json(&spec).unwrap_err();
            assert!(
                e.message.contains("service.health_check_path"),
                "{path}: {}",
                e.message
            );
        }
        assert!(AppSpec::from_json(
            r#"{"name":"bank","repository":"a/b","service":{"health_check_path":"/api/health?deep=1"}}"#
        )
        .is_ok());
    }

    #[test]
    fn health_check_and_nat_layout_are_checked() {
        let e = AppSpec::from_json(
            r#"{"name":"bank","repository":"a/b","service":{"health_check_interval_seconds":1,"unhealthy_threshold":11,"drain_seconds":3601},"release":{"command":[],"timeout_seconds":5}}"#,
        )
        .unwrap_err();
        assert!(
            e.message
                .contains("health_check_interval_seconds 1 must be 5 to 300"),
            "{}",
            e.message
        );
        assert!(
            e.message.contains("unhealthy_threshold 11 must be 2 to 10")
                && e.message.contains("drain_seconds 3601 must be 0 to 3600")
                && e.message
                    .contains("release.command must be a non-empty list")
                && e.message
                    .contains("release.timeout_seconds 5 must be 30 to 3600"),
            "{}",
            e.message
        );
        let s = AppSpec::from_json(
            r#"{"name":"bank","repository":"a/b","network":{"nat_gateways":"per_az"}}"#,
        )
        .unwrap();
        assert_eq!(s.network.nat_gateways, NatMode::PerAz);
        assert!(AppSpec::from_json(
            r#"{"name":"bank","repository":"a/b","network":{"nat_gateways":"two"}}"#
        )
        .is_err());
    }

    #[test]
    fn one_branch_one_environment() {
        let e = AppSpec::from_json(
            r#"{"name": "bank", "repository": "a/b", "environments": [
                {"name": "production", "branch": "main"}, {"name": "staging", "branch": "main"}]}"#,
        )
        .unwrap_err();
        assert!(e.message.contains("more than one environment"));
    }

    #[test]
    fn image_tag_pattern() {
        let mut s = bank();
        let sha = "0123456789abcdef0123456789abcdef01234567";
        assert_eq!(s.image_tag(sha), sha);
        s.image.tag = "v-{short_commit}".into();
        assert_eq!(s.image_tag(sha), "v-0123456");
    }

    const FILE: &str = r#"
# The app's spec, at the root of its repository.
[service]
port = 5000
desired_count = 3

[[environments]]
name = "production"
branch = "main"

[previews]
enabled = true
ttl_hours = 24
"#;

    #[test]
    fn the_repository_file_is_the_json_spec_in_toml() {
        let s = AppSpec::from_repository_file(FILE, "acme/Flask-Banking", None).unwrap();
        assert_eq!(s.name, "flaskbanking");
        assert_eq!(s.repository, "acme/Flask-Banking");
        assert_eq!((s.service.port, s.service.desired_count), (5000, 3));
        assert_eq!(s.service.cpu, ServiceSpec::default().cpu);
        assert_eq!(s.previews.ttl_hours, Some(24));
        let registered =
            AppSpec::from_repository_file(FILE, "acme/flask-banking", Some("bank")).unwrap();
        assert_eq!(registered.name, "bank");
        let named = format!("name = \"shop\"\nrepository = \"ACME/flask-banking\"\n{FILE}");
        let named =
            AppSpec::from_repository_file(&named, "acme/flask-banking", Some("bank")).unwrap();
        assert_eq!(named.name, "shop");
        // The same document as JSON gives the same spec.
        let json = serde_json::to_string(&s).unwrap();
        assert_eq!(AppSpec::from_json(&json).unwrap(), s);
    }

    #[test]
    fn repository_file_errors_name_the_field_or_line() {
        let cases: &[(&str, &str)] = &[
            (
                "[service]\ncpu = \"lots\"\n",
                "service.cpu: invalid type: string \"lots\"",
            ),
            (
                "[service]\ncpuu = 512\n",
                "service.cpuu: unknown field `cpuu`",
            ),
            (
                "[database]\ninstance_class = \"t3.micro\"\n",
                "database.instance_class \"t3.micro\" must be an RDS class",
            ),
            (
                "[service]\ncpu = 512\nmemory = 100\n",
                "service.cpu 512 with service.memory 100 is not a Fargate size",
            ),
            ("name = \"Bank!\"\n", "app name \"Bank!\""),
            ("[service\nport = 1\n", "not valid TOML (line 1)"),
            ("\n\nport = = 1\n", "not valid TOML (line 3)"),
            (
                "[previews]\nenabled = true\nttl_hours = 0\n",
                "previews.ttl_hours 0 must be between 1 and 8784",
            ),
            (
                "repository = \"evil/other\"\n",
                "repository is \"evil/other\" but the file is in acme/bank",
            ),
        ];
        for (text, want) in cases {
            let e = AppSpec::from_repository_file(text, "acme/bank", None).unwrap_err();
            assert_eq!(e.kind, crate::error::ErrorKind::InvalidInput);
            assert!(
                e.message.starts_with(".stepdeploy.toml is not valid"),
                "{}",
                e.message
            );
            assert!(e.message.contains(want), "{text:?}: {}", e.message);
        }
    }

    #[test]
    fn default_app_names_are_valid_app_names() {
        for (repo, want) in [
            ("acme/flask-banking", "flaskbanking"),
            ("acme/Shop", "shop"),
            ("acme/2048-game", "game"),
            ("acme/a-very-long-repository-name", "averylongrep"),
            ("acme/---", "app"),
        ] {
            let name = default_app_name(repo);
            assert_eq!(name, want);
            assert!(naming::check_app_name(&name).is_ok(), "{name}");
        }
    }

    #[test]
    fn operator_limits() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        let limits = Limits::from_lookup(env(&[
            ("STEPDEPLOY_MAX_DESIRED_COUNT", "4"),
            ("STEPDEPLOY_MAX_MEMORY", " 2048 "),
            ("STEPDEPLOY_MAX_CPU", ""),
            (
                "STEPDEPLOY_DATABASE_INSTANCE_CLASSES",
                "db.t3.micro, db.t4g.micro,",
            ),
        ]))
        .unwrap();
        assert_eq!(
            limits,
            Limits {
                max_desired_count: 4,
                max_cpu: 4096,
                max_memory: 2048,
                database_classes: vec!["db.t3.micro".into(), "db.t4g.micro".into()],
            }
        );
        assert_eq!(Limits::from_lookup(|_| None).unwrap(), Limits::default());
        assert!(
            Limits::from_lookup(env(&[("STEPDEPLOY_MAX_CPU", "4 vCPU")]))
                .unwrap_err()
                .message
                .contains("STEPDEPLOY_MAX_CPU")
        );
        let mut s = bank();
        assert!(limits.problems(&s).is_empty());
        assert!(Limits::default().check(&s, "app spec").is_ok());
        s.service.desired_count = 5;
        s.service.cpu = 1024;
        s.service.memory = 4096;
        s.database.instance_class = "db.r6g.large".into();
        let problems = limits.problems(&s);
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(problems[0].starts_with(
            "service.desired_count 5 is over this deployer's limit of 4 (MaxDesiredCount)"
        ));
        assert!(problems[1]
            .starts_with("service.memory 4096 is over this deployer's limit of 2048 (MaxMemory)"));
        assert!(problems[2].contains("database.instance_class \"db.r6g.large\" is not one this deployer allows (db.t3.micro, db.t4g.micro; DatabaseInstanceClasses)"));
        let e = limits.check(&s, REPOSITORY_FILE).unwrap_err();
        assert!(e.message.starts_with(
            ".stepdeploy.toml asks for more than this deployer allows: service.desired_count 5"
        ));
    }
}
