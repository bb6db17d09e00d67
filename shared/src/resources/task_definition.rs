//! The ECS task definition the service runs: one family per environment, a
//! new revision whenever what the environment wants differs from the newest
//! active one (a new image, new settings). Teardown deregisters every
//! revision of the family that carries this environment's tags, one by one.

use crate::converge::not_ours;
use crate::deploy::{DatabaseOutput, DeployState};
use crate::error::{ErrorKind, StepError};
pub use crate::model::task_definition::{Observed, TaskSpec};
use crate::naming::Names;
use crate::owner::Owner;
use crate::plan::{planned, Change, Removal};

/// How a person calls it (plan lines, errors, teardown reports).
pub const RESOURCE: &str = "task definition";

/// The task definition for this deployment: the image pinned by digest, the
/// database's address as plain environment and its credentials as secrets.
///
/// A dry run may come before the image is in the registry, or before the
/// database has an endpoint: it then wants the image by its tag and a
/// planned endpoint, which differ from what runs, so its plan says register.
pub fn wanted_task(
    state: &DeployState,
    database: &DatabaseOutput,
    execution_role_arn: &str,
    region: &str,
) -> Result<TaskSpec, StepError> {
    let d = &state.deployment;
    let names = Names::new(&d.app, &d.environment)?;
    let image = match &state.image {
        Some(i) => i.uri.clone(),
        None if d.dry_run => d.image.to_string(),
        None => {
            return Err(StepError::invalid_input(
                "no resolved image in the deployment state; Wait For Image must run first",
            ))
        }
    };
    let endpoint = match &database.endpoint {
        Some(e) => e.clone(),
        None if d.dry_run => planned("database endpoint"),
        None => {
            return Err(StepError::new(
                ErrorKind::NotReady,
                "the database has no endpoint yet",
            ))
        }
    };
    let svc = &state.spec.service;
    let mut environment: Vec<(String, String)> = svc
        .environment
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    for (k, v) in [
        ("DB_HOST", endpoint),
        ("DB_PORT", database.port.to_string()),
        ("DB_NAME", database.name.clone()),
        ("PORT", svc.port.to_string()),
    ] {
        environment.retain(|(name, _)| name != k);
        environment.push((k.into(), v));
    }
    environment.sort();
    let mut secrets = Vec::new();
    if let Some(arn) = &database.secret_arn {
        secrets.push(("DB_PASSWORD".to_string(), format!("{arn}:password::")));
        secrets.push(("DB_USER".to_string(), format!("{arn}:username::")));
    }
    secrets.sort();
    Ok(TaskSpec {
        family: names.task_family(),
        cpu: svc.cpu.to_string(),
        memory: svc.memory.to_string(),
        execution_role_arn: execution_role_arn.into(),
        container_name: svc.container_name.clone(),
        image,
        port: svc.port,
        environment,
        secrets,
        log_group: names.log_group(),
        log_region: region.into(),
        log_prefix: d.app.clone(),
    })
}

impl Observed {
    /// `family:revision`, the short name people use.
    pub fn short_name(&self) -> &str {
        self.arn.rsplit('/').next().unwrap_or(&self.arn)
    }
}

/// What differs between two specs, field by field; secret and environment
/// values are named, never shown.
pub fn differences(current: &TaskSpec, wanted: &TaskSpec) -> Vec<String> {
    let mut out = Vec::new();
    let mut field = |name: &str, a: &str, b: &str| {
        if a != b {
            out.push(format!("{name} {a} -> {b}"));
        }
    };
    field("image", &current.image, &wanted.image);
    field("cpu", &current.cpu, &wanted.cpu);
    field("memory", &current.memory, &wanted.memory);
    field(
        "execution role",
        &current.execution_role_arn,
        &wanted.execution_role_arn,
    );
    field("container", &current.container_name, &wanted.container_name);
    field("port", &current.port.to_string(), &wanted.port.to_string());
    field("log group", &current.log_group, &wanted.log_group);
    field("log region", &current.log_region, &wanted.log_region);
    field("log prefix", &current.log_prefix, &wanted.log_prefix);
    let names = |kv: &[(String, String)], other: &[(String, String)]| -> Vec<String> {
        kv.iter()
            .filter(|p| !other.contains(p))
            .map(|(k, _)| k.clone())
            .collect()
    };
    for (what, a, b) in [
        ("environment", &current.environment, &wanted.environment),
        ("secrets", &current.secrets, &wanted.secrets),
    ] {
        let mut changed = names(b, a);
        for k in names(a, b) {
            if !changed.contains(&k) {
                changed.push(k);
            }
        }
        if !changed.is_empty() {
            changed.sort();
            out.push(format!("{what} {}", changed.join(", ")));
        }
    }
    out
}

/// `observed` is the family's newest revision. Registering is synchronous:
/// there is no "still creating" state, and a revision cannot fail.
pub fn plan(owner: &Owner, observed: Option<&Observed>, wanted: &TaskSpec) -> Change {
    let Some(td) = observed.filter(|td| td.status == "ACTIVE") else {
        return Change::Create;
    };
    if !owner.owns(&td.tags) {
        return Change::conflict(format!(
            "{}; its newest revision {} was not registered by stepdeploy",
            not_ours(owner, RESOURCE, &wanted.family),
            td.short_name()
        ));
    }
    let diff = differences(&td.spec, wanted);
    if diff.is_empty() {
        return Change::Nothing;
    }
    // One RegisterTaskDefinition, whatever changed: one entry.
    Change::update(format!(
        "register a revision after {}: {}",
        td.short_name(),
        diff.join("; ")
    ))
}

/// Teardown's side, revision by revision: deregister only this environment's.
pub fn removal(owner: &Owner, observed: Option<&Observed>) -> Removal {
    match observed {
        Some(td) if td.status != "ACTIVE" => Removal::Gone,
        _ => Removal::if_ours(owner, observed.map(|o| &o.tags)),
    }
}

#[cfg(feature = "ecs")]
mod apply {
    use super::*;
    use crate::aws::ecs::Ecs;
    use crate::converge::{remove_each, Ctx, Go};
    use crate::owner::LedgerKind;
    use crate::teardown::TeardownState;

    /// The family's newest active revision.
    pub async fn observe(ecs: &Ecs, wanted: &TaskSpec) -> Result<Option<Observed>, StepError> {
        ecs.task_definition(&wanted.family).await
    }

    /// The ARN of the revision that runs what is wanted (registered when needed).
    pub async fn converge(
        ecs: &Ecs,
        ctx: &mut Ctx<'_>,
        wanted: &TaskSpec,
    ) -> Result<String, StepError> {
        let observed = observe(ecs, wanted).await?;
        let change = plan(&ctx.owner, observed.as_ref(), wanted);
        let arn = match ctx.decide(RESOURCE, &wanted.family, &change)? {
            Go::Apply => {
                let arn = ecs.register_task_definition(wanted, &ctx.tags()).await?;
                ctx.changed(format!("registered {RESOURCE} {arn} ({})", wanted.image));
                arn
            }
            Go::Pretend => planned(RESOURCE),
            Go::Skip => observed
                .map(|td| td.arn)
                .unwrap_or_else(|| planned(RESOURCE)),
        };
        ctx.remember(LedgerKind::TaskDefinition, &wanted.family)
            .await?;
        Ok(arn)
    }

    /// Deregister every active revision of the family that is this environment's.
    pub async fn remove(
        ecs: &Ecs,
        owner: &Owner,
        family: &str,
        t: &mut TeardownState,
    ) -> Result<(), StepError> {
        let found = ecs.task_definitions(family).await?;
        let skipped = |td: &Observed| format!("{RESOURCE} {}", td.arn);
        remove_each(
            t,
            found,
            |td| removal(owner, Some(td)),
            skipped,
            async |td| {
                ecs.deregister_task_definition(&td.arn).await?;
                Ok(format!("{RESOURCE} {}", td.short_name()))
            },
        )
        .await?;
        Ok(())
    }
}
#[cfg(feature = "ecs")]
pub use apply::{converge, observe, remove};

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(image: &str) -> TaskSpec {
        TaskSpec {
            family: "bank-production".into(),
            cpu: "512".into(),
            memory: "1024".into(),
            execution_role_arn: "arn:aws:iam::1:role/exec".into(),
            container_name: "web".into(),
            image: image.into(),
            port: 8000,
            environment: vec![("DB_HOST".into(), "db.example".into())],
            secrets: vec![("DB_PASSWORD".into(), "arn:secret:password::".into())],
            log_group: "/stepdeploy/bank/production".into(),
            log_region: "us-east-1".into(),
            log_prefix: "bank".into(),
        }
    }

    fn revision(image: &str, status: &str, app: &str) -> Observed {
        Observed {
            arn: "arn:aws:ecs:us-east-1:1:task-definition/bank-production:7".into(),
            status: status.into(),
            spec: spec(image),
            tags: Owner::new(app, "production").as_tags(),
        }
    }

    #[test]
    fn plan_table() {
        let owner = Owner::new("bank", "production");
        let wanted = spec("repo/bank@sha256:new");
        let cases: Vec<(&str, Option<Observed>, &str)> = vec![
            ("no revision: create", None, "create"),
            (
                "newest revision runs what is wanted: nothing",
                Some(revision("repo/bank@sha256:new", "ACTIVE", "bank")),
                "nothing",
            ),
            (
                "a new image: update (register)",
                Some(revision("repo/bank@sha256:old", "ACTIVE", "bank")),
                "update",
            ),
            (
                "someone else's revision in the family: conflict",
                Some(revision("repo/bank@sha256:new", "ACTIVE", "shop")),
                "conflict",
            ),
            (
                "only an inactive revision: create",
                Some(revision("repo/bank@sha256:new", "INACTIVE", "bank")),
                "create",
            ),
            (
                "newest revision being deleted: create",
                Some(revision(
                    "repo/bank@sha256:new",
                    "DELETE_IN_PROGRESS",
                    "bank",
                )),
                "create",
            ),
        ];
        for (case, observed, action) in cases {
            let change = plan(&owner, observed.as_ref(), &wanted);
            assert_eq!(change.action(), action, "{case}");
            assert!(
                change.calls() <= 1,
                "{case}: one RegisterTaskDefinition at most"
            );
        }
        // RegisterTaskDefinition is synchronous and a revision has no failed
        // state: there are no "still creating" or "failed" cases.
    }

    #[test]
    fn an_update_says_what_differs_and_hides_values() {
        let mut current = spec("repo/bank@sha256:old");
        current.environment = vec![
            ("DB_HOST".into(), "db.example".into()),
            ("DEBUG".into(), "1".into()),
        ];
        current.secrets = vec![("DB_PASSWORD".into(), "arn:other".into())];
        let wanted = spec("repo/bank@sha256:new");
        let diff = differences(&current, &wanted);
        assert_eq!(
            diff,
            vec![
                "image repo/bank@sha256:old -> repo/bank@sha256:new".to_string(),
                "environment DEBUG".into(),
                "secrets DB_PASSWORD".into(),
            ]
        );
        assert!(!diff.join(" ").contains("arn:"), "{diff:?}");
        assert!(differences(&wanted, &wanted).is_empty());
    }

    fn state(dry_run: bool, image: Option<&str>) -> DeployState {
        let spec =
            crate::spec::AppSpec::from_json(r#"{"name":"bank","repository":"acme/bank"}"#).unwrap();
        let request = crate::deploy::DeployRequest {
            repository: None,
            repository_spec: None,
            app: "bank".into(),
            environment: "production".into(),
            commit: "3f786850e387550fdab836ed7e6dc881de23001b".into(),
            branch: None,
            image: None,
            trigger: None,
            dry_run,
            restart: None,
        };
        let execution = "arn:aws:states:eu-west-1:123456789012:execution:stepdeploy-deploy:d1";
        let deployment = crate::deploy::resolve(&request, &spec, "d1", execution, 15, 0).unwrap();
        DeployState {
            image: image.map(|uri| crate::deploy::ResolvedImage {
                uri: uri.into(),
                digest: "sha256:1".into(),
                waited: false,
            }),
            ..DeployState::new(deployment, spec)
        }
    }

    #[test]
    fn a_dry_run_wants_the_image_by_tag_and_a_planned_endpoint_until_they_exist() {
        let database = DatabaseOutput {
            port: 3306,
            name: "banking".into(),
            ..DatabaseOutput::default()
        };
        let dry = state(true, None);
        let wanted = wanted_task(&dry, &database, "arn:role", "eu-west-1").unwrap();
        assert_eq!(wanted.image, dry.deployment.image.to_string());
        assert!(wanted
            .environment
            .contains(&("DB_HOST".to_string(), planned("database endpoint"))));

        // A real deployment refuses both: it cannot run what is not there.
        let real = state(false, None);
        let e = wanted_task(&real, &database, "arn:role", "eu-west-1").unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidInput);
        let real = state(false, Some("repo/bank@sha256:1"));
        let e = wanted_task(&real, &database, "arn:role", "eu-west-1").unwrap_err();
        assert_eq!(e.kind, ErrorKind::NotReady);
        let database = DatabaseOutput {
            endpoint: Some("db.example".into()),
            ..database
        };
        let wanted = wanted_task(&real, &database, "arn:role", "eu-west-1").unwrap();
        assert_eq!(wanted.image, "repo/bank@sha256:1");
        assert_eq!(wanted.family, "bank-production");
    }

    #[test]
    fn removal_table() {
        let owner = Owner::new("bank", "production");
        let cases: Vec<(&str, Option<Observed>, Removal)> = vec![
            ("absent", None, Removal::Gone),
            (
                "ours: deregister",
                Some(revision("i", "ACTIVE", "bank")),
                Removal::Delete,
            ),
            (
                "already inactive",
                Some(revision("i", "INACTIVE", "bank")),
                Removal::Gone,
            ),
            (
                "someone else's: skip",
                Some(revision("i", "ACTIVE", "shop")),
                Removal::Skip {
                    why: crate::plan::NOT_OURS.into(),
                },
            ),
        ];
        for (case, observed, want) in cases {
            assert_eq!(removal(&owner, observed.as_ref()), want, "{case}");
        }
    }
}
