//! The converge machinery every resource module uses, below the resources and
//! above the SDK wrappers: the step context ([`Ctx`]) that decides each
//! planned change ([`Go`]) and remembers what the environment owns in the
//! ledger, the little every plan shares ([`not_ours`], [`single`], [`sole`],
//! [`updates_now`]), and teardown's two remove drivers ([`remove_each`] for
//! every resource of a kind the tags find, [`remove_one`] for the one a name
//! finds).
//!
//! It names no resource: `crate::resources` uses it, `crate::steps` builds the
//! context and hands it down.

use crate::error::StepError;
use crate::owner::Owner;
use crate::plan::{Change, Removal};
use crate::teardown::TeardownState;

/// Why a resource with this environment's name that it does not own is in the way.
pub fn not_ours(owner: &Owner, what: &str, name: &str) -> String {
    format!(
        "{what} {name} exists but does not carry the tags of {owner}; stepdeploy will not take over what it did not create: delete or rename it, then re-run"
    )
}

/// Exactly one tagged match, none, or a conflict naming them all.
pub fn single<T>(
    mut found: Vec<T>,
    what: &str,
    owner: &Owner,
    id: impl Fn(&T) -> String,
) -> Result<Option<T>, StepError> {
    if found.len() > 1 {
        let ids: Vec<String> = found.iter().map(id).collect();
        return Err(StepError::conflict(format!(
            "{} {what}s carry the tags of {owner} ({}); keep one and delete the others, then re-run",
            ids.len(),
            ids.join(", ")
        )));
    }
    Ok(found.pop())
}

/// The one resource of a kind found by this environment's tags: none, one,
/// or (several) the conflict a plan answers with, naming them all.
pub fn sole<'a, T>(
    found: &'a [T],
    what: &str,
    owner: &Owner,
    id: impl Fn(&T) -> String,
) -> Result<Option<&'a T>, Change> {
    single(found.iter().collect(), what, owner, |t: &&T| id(t))
        .map_err(|e| Change::conflict(e.message))
}

/// Whether a resource's updates are to be applied now. After a create, the
/// fresh resource is planned again (`again`: what is left on what AWS hands
/// back) and decided as a plan line of its own, since the real run makes
/// those calls right after the create; otherwise the first decision stands.
#[cfg(feature = "dynamodb")]
pub fn updates_now(
    ctx: &mut Ctx<'_>,
    resource: &str,
    name: &str,
    first: (&Change, Go),
    again: Change,
) -> Result<bool, StepError> {
    let (change, go) = first;
    if *change != Change::Create {
        return Ok(go == Go::Apply && matches!(change, Change::Update { .. }));
    }
    if again == Change::Nothing {
        return Ok(false);
    }
    let go = ctx.decide(resource, name, &again)?;
    Ok(go == Go::Apply && matches!(again, Change::Update { .. }))
}

/// Teardown's loop over every resource of a kind the environment's tags
/// find: what is this environment's goes (`delete` makes the calls and
/// answers the report's line), what is someone else's is left and reported
/// under `skipped`'s name, what is on its way or gone is left alone. Answers
/// whether any is still going (deleted now or already being deleted).
pub async fn remove_each<T>(
    t: &mut TeardownState,
    found: Vec<T>,
    removal: impl Fn(&T) -> Removal,
    skipped: impl Fn(&T) -> String,
    delete: impl AsyncFn(&T) -> Result<String, StepError>,
) -> Result<bool, StepError> {
    let mut going = false;
    for item in &found {
        match removal(item) {
            Removal::Delete => {
                let removed = delete(item).await?;
                t.removed.push(removed);
                going = true;
            }
            Removal::Skip { why } => t.skip(skipped(item), why),
            Removal::Wait { .. } => going = true,
            Removal::Gone => {}
        }
    }
    Ok(going)
}

/// What deleting one resource did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Deleted {
    /// The delete call was made: the teardown report's line, and whether the
    /// resource is gone already (`false` while AWS still describes it).
    Yes { removed: String, gone: bool },
    /// Something still holds it (AWS answered "in use"): look again later.
    InUse,
}

/// Teardown's step for the one resource of a kind a name finds, decided by
/// its `removal`: this environment's goes (`delete`), someone else's is left
/// and reported as `label`. Answers whether teardown is done with it: gone,
/// left, or deleted and gone; not while it is held or on its way.
pub async fn remove_one<T>(
    t: &mut TeardownState,
    label: String,
    removal: Removal,
    observed: Option<T>,
    delete: impl AsyncFnOnce(T) -> Result<Deleted, StepError>,
) -> Result<bool, StepError> {
    match (removal, observed) {
        (Removal::Delete, Some(o)) => match delete(o).await? {
            Deleted::Yes { removed, gone } => {
                t.removed.push(removed);
                Ok(gone)
            }
            Deleted::InUse => Ok(false),
        },
        (Removal::Skip { why }, _) => {
            t.skip(label, why);
            Ok(true)
        }
        (Removal::Wait { .. }, _) => Ok(false),
        (Removal::Delete | Removal::Gone, _) => Ok(true),
    }
}

#[cfg(feature = "dynamodb")]
mod ctx {
    use std::collections::HashMap;

    use crate::aws::store::Store;
    use crate::deploy::{now_epoch, rfc3339};
    use crate::error::StepError;
    use crate::ledger::{env_pk, resource_sk, ResourceRecord};
    use crate::naming::Names;
    use crate::owner::{LedgerKind, Owner, Role};
    use crate::plan::{is_planned, Change, PlanItem, StepReport};

    /// Who is converging what: the environment, its names, the deployment doing
    /// it, what the ledger already knows, and what this run changed or, in a
    /// dry run, would change.
    pub struct Ctx<'a> {
        pub store: &'a Store,
        pub names: Names,
        pub owner: Owner,
        pub deployment_id: String,
        /// Plan only: [`Ctx::decide`] records every change and applies none.
        pub dry_run: bool,
        pub known: HashMap<String, String>,
        pub report: StepReport,
    }

    /// What to do with a planned change.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Go {
        /// Make the change.
        Apply,
        /// A dry run: carry on as if it were made.
        Pretend,
        /// Nothing to make (converged, or waiting).
        Skip,
    }

    impl<'a> Ctx<'a> {
        pub async fn load(
            store: &'a Store,
            names: Names,
            deployment_id: &str,
            dry_run: bool,
        ) -> Result<Ctx<'a>, StepError> {
            let known = store
                .resources(names.app(), names.environment())
                .await?
                .into_iter()
                .map(|r| (r.kind, r.id))
                .collect();
            Ok(Ctx {
                store,
                owner: Owner::new(names.app(), names.environment()),
                names,
                deployment_id: deployment_id.into(),
                dry_run,
                known,
                report: StepReport::default(),
            })
        }

        /// Ownership tags plus the deployment that creates the resource.
        pub fn tags(&self) -> Vec<(&'static str, String)> {
            self.owner.creation_tags(&self.deployment_id)
        }

        /// Creation tags plus a role.
        pub fn role_tags(&self, role: Role) -> Vec<(&'static str, String)> {
            self.owner.role_tags(&self.deployment_id, role)
        }

        /// Decide on a planned change of `resource` `name`: record it in a dry
        /// run (and carry on as if made); otherwise a conflict is refused
        /// (`Conflict`) and a broken resource fails the deployment (`Fatal`).
        pub fn decide(
            &mut self,
            resource: &str,
            name: &str,
            change: &Change,
        ) -> Result<Go, StepError> {
            if self.dry_run {
                self.report.plan.push(PlanItem {
                    resource: resource.into(),
                    name: name.into(),
                    change: change.clone(),
                });
                return Ok(match change {
                    Change::Create | Change::Update { .. } => Go::Pretend,
                    _ => Go::Skip,
                });
            }
            match change {
                Change::Create | Change::Update { .. } => Ok(Go::Apply),
                Change::Nothing => Ok(Go::Skip),
                Change::Wait { why } => {
                    tracing::info!(resource, name, why = %why, "waiting");
                    self.report.waiting_for = Some(why.clone());
                    Ok(Go::Skip)
                }
                Change::Conflict { why } => Err(StepError::conflict(why.clone())),
                Change::Failed { why } => Err(StepError::fatal(why.clone())),
            }
        }

        /// Count a mutating call, and say what it did.
        pub fn changed(&mut self, what: impl Into<String>) {
            let what = what.into();
            tracing::info!(change = %what, "changed");
            self.report.created.push(what);
            self.report.mutations += 1;
        }

        /// Record in the ledger that the environment owns `id` as `kind` (once;
        /// never in a dry run).
        pub async fn remember(&mut self, kind: LedgerKind, id: &str) -> Result<(), StepError> {
            let kind = kind.key();
            if self.dry_run
                || is_planned(id)
                || self.known.get(&kind).map(String::as_str) == Some(id)
            {
                return Ok(());
            }
            let (app, env) = (self.names.app(), self.names.environment());
            self.store
                .put_resource(&ResourceRecord {
                    pk: env_pk(app, env),
                    sk: resource_sk(&kind),
                    kind: kind.clone(),
                    id: id.into(),
                    created_by: self.deployment_id.clone(),
                    recorded_at: rfc3339(now_epoch()),
                })
                .await?;
            self.known.insert(kind, id.into());
            Ok(())
        }

        /// Why a resource with this environment's name that it does not own is in the way.
        pub fn not_ours(&self, what: &str, name: &str) -> String {
            super::not_ours(&self.owner, what, name)
        }
    }
}
#[cfg(feature = "dynamodb")]
pub use ctx::{Ctx, Go};
