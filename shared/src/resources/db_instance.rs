//! The RDS instance: the app's private, encrypted MySQL database, its master
//! password kept by RDS in Secrets Manager; one per environment, found by
//! its identifier. Teardown takes a final snapshot unless it is a preview.

use crate::converge::not_ours;
pub use crate::model::db_instance::{Observed, Wanted, DEFAULT_PORT};
use crate::naming::Names;
use crate::owner::{Owner, Tags};
use crate::plan::{Change, Removal};
use crate::spec::DatabaseSpec;

/// How a person calls it (plan lines, errors, teardown reports).
pub const RESOURCE: &str = "RDS instance";

/// RDS states from which the instance will not become available by waiting.
const DEAD_STATES: &[&str] = &[
    "failed",
    "incompatible-network",
    "incompatible-option-group",
    "incompatible-parameters",
    "incompatible-restore",
    "inaccessible-encryption-credentials",
    "storage-full",
    "deleting",
];

impl Wanted {
    /// Deletion protection is on unless the spec says otherwise, except for previews.
    pub fn new(
        names: &Names,
        spec: &DatabaseSpec,
        preview: bool,
        subnet_group: &str,
        security_group: &str,
    ) -> Wanted {
        Wanted {
            identifier: names.db_instance(),
            instance_class: spec.instance_class.clone(),
            allocated_storage: spec.allocated_storage,
            engine_version: spec.engine_version.clone(),
            db_name: spec.name.clone(),
            username: spec.username.clone(),
            subnet_group: subnet_group.into(),
            security_group: security_group.into(),
            deletion_protection: spec.deletion_protection.unwrap_or(!preview),
        }
    }
}

/// What an instance looks like just after CreateDBInstance, before RDS
/// describes it: creating, with no endpoint yet (and no tags described).
pub fn created(wanted: &Wanted) -> Observed {
    Observed {
        identifier: wanted.identifier.clone(),
        status: "creating".into(),
        endpoint: None,
        port: DEFAULT_PORT,
        secret_arn: None,
        deletion_protection: wanted.deletion_protection,
        tags: Tags::new(),
    }
}

/// Why the instance will not become available by waiting, if it will not.
pub fn dead(observed: &Observed) -> Option<String> {
    DEAD_STATES.contains(&observed.status.as_str()).then(|| {
        format!(
            "{RESOURCE} {} is {}; it will not become available by waiting: see its events in the RDS console",
            observed.identifier, observed.status
        )
    })
}

pub fn plan(owner: &Owner, observed: Option<&Observed>, wanted: &Wanted) -> Change {
    let Some(i) = observed else {
        return Change::Create;
    };
    if !owner.owns(&i.tags) {
        return Change::conflict(not_ours(owner, RESOURCE, &wanted.identifier));
    }
    if let Some(why) = dead(i) {
        return Change::failed(why);
    }
    match i.status.as_str() {
        "available" => Change::Nothing,
        status => Change::wait(format!("{RESOURCE} {} is {status}", wanted.identifier)),
    }
}

/// Teardown's side: delete it only if it is this environment's; one being
/// deleted is waited for.
pub fn removal(owner: &Owner, observed: Option<&Observed>) -> Removal {
    match (Removal::if_ours(owner, observed.map(|o| &o.tags)), observed) {
        (Removal::Delete, Some(i)) if i.status == "deleting" => Removal::Wait {
            why: format!("{RESOURCE} {} is being deleted", i.identifier),
        },
        (removal, _) => removal,
    }
}

/// The final snapshot teardown takes: none for a preview, else named after
/// the instance and the time (`<id>-final-20261101t120000z`).
pub fn final_snapshot(identifier: &str, preview: bool, now_epoch: u64) -> Option<String> {
    (!preview).then(|| {
        format!(
            "{identifier}-final-{}",
            crate::deploy::compact_utc(now_epoch).to_lowercase()
        )
    })
}

#[cfg(all(feature = "dynamodb", feature = "rds"))]
mod apply {
    use super::*;
    use crate::aws::rds::Rds;
    use crate::converge::{remove_one, Ctx, Deleted, Go};
    use crate::deploy::now_epoch;
    use crate::error::StepError;
    use crate::owner::LedgerKind;
    use crate::plan::planned;
    use crate::teardown::TeardownState;

    pub async fn observe(rds: &Rds, identifier: &str) -> Result<Option<Observed>, StepError> {
        rds.instance(identifier).await
    }

    /// Create the instance if it does not exist; answer it as it now is
    /// (in a dry run, as it would be: creating, with a planned endpoint).
    pub async fn converge(
        rds: &Rds,
        ctx: &mut Ctx<'_>,
        wanted: &Wanted,
    ) -> Result<Observed, StepError> {
        let id = &wanted.identifier;
        let observed = observe(rds, id).await?;
        let change = plan(&ctx.owner, observed.as_ref(), wanted);
        let go = ctx.decide(RESOURCE, id, &change)?;
        let fresh = go == Go::Apply && change == Change::Create;
        let now = match (go, &change, observed) {
            (Go::Apply, Change::Create, _) => {
                rds.create_instance(wanted, &ctx.tags()).await?;
                ctx.changed(format!(
                    "created {RESOURCE} {id} ({}, MySQL)",
                    wanted.instance_class
                ));
                observe(rds, id).await?.unwrap_or_else(|| created(wanted))
            }
            (Go::Pretend, Change::Create, _) => Observed {
                secret_arn: Some(planned("database secret")),
                ..created(wanted)
            },
            (_, _, observed) => observed.unwrap_or_else(|| created(wanted)),
        };
        ctx.remember(LedgerKind::Database, id).await?;
        // What a create led to is checked as an existing instance is (a dry
        // run's is `created`, never dead).
        if let Some(why) = dead(&now).filter(|_| fresh) {
            return Err(StepError::fatal(why));
        }
        Ok(with_planned_endpoint(now, ctx.dry_run))
    }

    /// A dry run carries on as if the instance had its address already, so
    /// the service's task definition can be planned.
    fn with_planned_endpoint(mut i: Observed, dry_run: bool) -> Observed {
        if dry_run && i.endpoint.is_none() {
            i.endpoint = Some(planned("database endpoint"));
        }
        i
    }

    /// Delete the instance if it is this environment's (lifting deletion
    /// protection first; a final snapshot unless a preview); done once gone.
    pub async fn remove(
        rds: &Rds,
        owner: &Owner,
        identifier: &str,
        t: &mut TeardownState,
    ) -> Result<bool, StepError> {
        let observed = observe(rds, identifier).await?;
        let label = format!("{RESOURCE} {identifier}");
        let decided = removal(owner, observed.as_ref());
        let snapshot = final_snapshot(identifier, t.preview, now_epoch());
        let done = remove_one(t, label.clone(), decided, observed, async |i| {
            if i.deletion_protection {
                rds.disable_deletion_protection(identifier).await?;
            }
            rds.delete_instance(identifier, snapshot.as_deref()).await?;
            let removed = match &snapshot {
                Some(s) => format!("{label} (final snapshot {s})"),
                None => label,
            };
            Ok(Deleted::Yes {
                removed,
                gone: false,
            })
        })
        .await?;
        // Deleted or being deleted: done once RDS no longer describes it.
        Ok(done || observe(rds, identifier).await?.is_none())
    }
}
#[cfg(all(feature = "dynamodb", feature = "rds"))]
pub use apply::{converge, observe, remove};

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> Names {
        Names::new("bank", "production").unwrap()
    }

    fn wanted() -> Wanted {
        Wanted::new(
            &names(),
            &DatabaseSpec::default(),
            false,
            "bank-production-db",
            "sg-db",
        )
    }

    fn instance(status: &str, app: &str) -> Observed {
        Observed {
            identifier: names().db_instance(),
            status: status.into(),
            endpoint: Some("bank-production-db.abc.eu-west-1.rds.amazonaws.com".into()),
            port: 3306,
            secret_arn: None,
            deletion_protection: true,
            tags: Owner::new(app, "production").as_tags(),
        }
    }

    #[test]
    fn plan_table() {
        let owner = Owner::new("bank", "production");
        let cases: Vec<(&str, Option<Observed>, &str)> = vec![
            ("absent: create", None, "create"),
            (
                "ours and available: nothing",
                Some(instance("available", "bank")),
                "nothing",
            ),
            (
                "someone else's: conflict",
                Some(instance("available", "shop")),
                "conflict",
            ),
            (
                "someone else's, even failed: conflict",
                Some(instance("failed", "shop")),
                "conflict",
            ),
            (
                "still creating: wait",
                Some(instance("creating", "bank")),
                "wait",
            ),
            (
                "backing up: wait",
                Some(instance("backing-up", "bank")),
                "wait",
            ),
            (
                "modifying: wait",
                Some(instance("modifying", "bank")),
                "wait",
            ),
            (
                "failed: failed (the deployment fails)",
                Some(instance("failed", "bank")),
                "failed",
            ),
            (
                "storage full: failed (the deployment fails)",
                Some(instance("storage-full", "bank")),
                "failed",
            ),
            (
                "being deleted: failed (the deployment fails)",
                Some(instance("deleting", "bank")),
                "failed",
            ),
        ];
        for (case, observed, action) in cases {
            assert_eq!(
                plan(&owner, observed.as_ref(), &wanted()).action(),
                action,
                "{case}"
            );
        }
        // stepdeploy creates the instance and never modifies it (class,
        // storage and engine changes are left to people): there is no update case.
    }

    #[test]
    fn a_dead_instance_says_what_to_do() {
        let why = dead(&instance("failed", "bank")).unwrap();
        assert_eq!(
            why,
            "RDS instance bank-production-db is failed; it will not become available by waiting: see its events in the RDS console"
        );
        assert_eq!(dead(&instance("creating", "bank")), None);
        // Just created: creating, no endpoint, the default port.
        let c = created(&wanted());
        assert_eq!(dead(&c), None);
        assert_eq!(
            (c.status.as_str(), c.endpoint, c.port),
            ("creating", None, 3306)
        );
    }

    #[test]
    fn deletion_protection_defaults_to_on_except_for_previews() {
        let spec = DatabaseSpec::default();
        let cases = [
            (None, false, true),
            (None, true, false),
            (Some(false), false, false),
            (Some(true), true, true),
        ];
        for (set, preview, want) in cases {
            let spec = DatabaseSpec {
                deletion_protection: set,
                ..spec.clone()
            };
            let w = Wanted::new(&names(), &spec, preview, "g", "sg");
            assert_eq!(w.deletion_protection, want, "{set:?} preview={preview}");
        }
    }

    #[test]
    fn removal_table() {
        let owner = Owner::new("bank", "production");
        assert_eq!(removal(&owner, None), Removal::Gone);
        assert_eq!(
            removal(&owner, Some(&instance("available", "bank"))),
            Removal::Delete
        );
        assert_eq!(
            removal(&owner, Some(&instance("failed", "bank"))),
            Removal::Delete
        );
        assert!(matches!(
            removal(&owner, Some(&instance("deleting", "bank"))),
            Removal::Wait { .. }
        ));
        assert!(matches!(
            removal(&owner, Some(&instance("available", "shop"))),
            Removal::Skip { .. }
        ));
    }

    #[test]
    fn final_snapshot_unless_preview() {
        // 2026-11-01T12:00:00Z
        let now = 1_793_534_400;
        assert_eq!(
            final_snapshot("bank-production-db", false, now).as_deref(),
            Some("bank-production-db-final-20261101t120000z")
        );
        assert_eq!(final_snapshot("bank-pr-x-db", true, now), None);
    }
}
