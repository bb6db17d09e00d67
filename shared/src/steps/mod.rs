//! What each Lambda does, wired to AWS. The function crates only adapt
//! their events to these and build the clients once.

#[cfg(all(feature = "dynamodb", feature = "sfn"))]
pub mod arrival;
#[cfg(all(feature = "dynamodb", feature = "rds"))]
pub mod database;
#[cfg(all(
    feature = "dynamodb",
    feature = "sfn",
    feature = "ecr",
    feature = "secrets",
    feature = "registry",
    feature = "http-api"
))]
pub mod image;
#[cfg(all(feature = "dynamodb", feature = "elbv2"))]
pub mod load_balancer;
#[cfg(all(feature = "dynamodb", feature = "ec2"))]
pub mod network;
#[cfg(feature = "dynamodb")]
pub mod record;
#[cfg(all(feature = "dynamodb", feature = "ecs", feature = "logs"))]
pub mod service;
#[cfg(all(
    feature = "dynamodb",
    feature = "ec2",
    feature = "ecs",
    feature = "elbv2",
    feature = "rds",
    feature = "logs"
))]
pub mod teardown;
#[cfg(all(feature = "dynamodb", feature = "sfn", feature = "secrets"))]
pub mod webhook;

#[cfg(feature = "dynamodb")]
mod ctx {
    use std::collections::HashMap;

    use crate::aws::ownership_tags;
    use crate::aws::store::Store;
    use crate::deploy::{now_epoch, rfc3339};
    use crate::error::StepError;
    use crate::ledger::{env_pk, resource_sk, ResourceRecord};
    use crate::naming::Names;

    /// Who is converging what: the environment, its names, the deployment doing
    /// it, what the ledger already knows, and what this run changed.
    pub struct Ctx<'a> {
        pub store: &'a Store,
        pub names: Names,
        pub deployment_id: String,
        pub known: HashMap<String, String>,
        pub created: Vec<String>,
        pub mutations: u32,
    }

    impl<'a> Ctx<'a> {
        pub async fn load(
            store: &'a Store,
            names: Names,
            deployment_id: &str,
        ) -> Result<Ctx<'a>, StepError> {
            let known = store
                .resources(names.app(), names.environment())
                .await?
                .into_iter()
                .map(|r| (r.kind, r.id))
                .collect();
            Ok(Ctx {
                store,
                names,
                deployment_id: deployment_id.into(),
                known,
                created: Vec::new(),
                mutations: 0,
            })
        }

        /// Ownership tags plus the deployment that creates the resource.
        pub fn tags(&self) -> Vec<(&'static str, String)> {
            let mut tags = ownership_tags(self.names.app(), self.names.environment()).to_vec();
            tags.push((crate::TAG_DEPLOYMENT, self.deployment_id.clone()));
            tags
        }

        pub fn owner(&self) -> [(&'static str, String); 2] {
            ownership_tags(self.names.app(), self.names.environment())
        }

        /// Count a mutating call, and say what it did.
        pub fn changed(&mut self, what: impl Into<String>) {
            let what = what.into();
            tracing::info!(change = %what, "changed");
            self.created.push(what);
            self.mutations += 1;
        }

        /// Record in the ledger that the environment owns `id` as `kind` (once).
        pub async fn remember(&mut self, kind: &str, id: &str) -> Result<(), StepError> {
            if self.known.get(kind).map(String::as_str) == Some(id) {
                return Ok(());
            }
            let (app, env) = (self.names.app(), self.names.environment());
            self.store
                .put_resource(&ResourceRecord {
                    pk: env_pk(app, env),
                    sk: resource_sk(kind),
                    kind: kind.into(),
                    id: id.into(),
                    created_by: self.deployment_id.clone(),
                    recorded_at: rfc3339(now_epoch()),
                })
                .await?;
            self.known.insert(kind.into(), id.into());
            Ok(())
        }
    }

    impl Ctx<'_> {
        /// The error for a resource with this environment's name that it does not own.
        pub fn not_ours(&self, what: &str, name: &str) -> StepError {
            StepError::conflict(format!(
                "{what} {name} exists but does not carry the tags of {}/{}; stepdeploy will not take over what it did not create: delete or rename it, then re-run",
                self.names.app(),
                self.names.environment()
            ))
        }
    }

    /// Exactly one tagged match, none, or a conflict naming them all.
    pub fn single<T>(
        mut found: Vec<T>,
        what: &str,
        ctx: &Ctx<'_>,
        id: impl Fn(&T) -> String,
    ) -> Result<Option<T>, StepError> {
        if found.len() > 1 {
            let ids: Vec<String> = found.iter().map(id).collect();
            return Err(StepError::conflict(format!(
                "{} {what}s carry the tags of {}/{} ({}); keep one and delete the others, then re-run",
                ids.len(),
                ctx.names.app(),
                ctx.names.environment(),
                ids.join(", ")
            )));
        }
        Ok(found.pop())
    }
}
#[cfg(feature = "dynamodb")]
pub use ctx::{single, Ctx};

/// Polls of one deployment add up: what earlier polls of a step changed stays
/// in its output, so the deployment's summary lists every change once.
pub fn carry_over(
    created: &mut Vec<String>,
    mutations: &mut u32,
    previous: Option<(&[String], u32)>,
) {
    if let Some((earlier, count)) = previous {
        created.splice(0..0, earlier.iter().cloned());
        *mutations += count;
    }
}

/// Whether a resource's tags make it this environment's.
pub fn is_owned<'a>(
    tags: impl IntoIterator<Item = (&'a String, &'a String)>,
    app: &str,
    environment: &str,
) -> bool {
    let mut app_ok = false;
    let mut env_ok = false;
    for (k, v) in tags {
        app_ok |= k == crate::TAG_APP && v == app;
        env_ok |= k == crate::TAG_ENVIRONMENT && v == environment;
    }
    app_ok && env_ok
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    #[test]
    fn ownership_needs_both_tags_to_match() {
        let tags = |a: &str, e: &str| -> BTreeMap<String, String> {
            [
                (crate::TAG_APP.to_string(), a.to_string()),
                (crate::TAG_ENVIRONMENT.to_string(), e.to_string()),
            ]
            .into()
        };
        assert!(super::is_owned(
            &tags("bank", "production"),
            "bank",
            "production"
        ));
        assert!(!super::is_owned(
            &tags("bank", "staging"),
            "bank",
            "production"
        ));
        assert!(!super::is_owned(
            &tags("shop", "production"),
            "bank",
            "production"
        ));
        assert!(!super::is_owned(&BTreeMap::new(), "bank", "production"));
    }
}
