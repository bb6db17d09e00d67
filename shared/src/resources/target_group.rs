//! The target group the load balancer forwards to: ip targets on the
//! container port in the environment's VPC, health-checked as the spec says,
//! draining a stopping task for the spec's `drain_seconds` (AWS's default of
//! 300 s would hold every rollout five minutes); one per environment, found
//! by name.

use crate::converge::not_ours;
pub use crate::model::target_group::{HealthCheck, Observed, Wanted, AWS_DEFAULT_DRAIN_SECONDS};
use crate::naming::Names;
use crate::owner::Owner;
use crate::plan::{Change, Removal};
use crate::spec::ServiceSpec;

/// How a person calls it (plan lines, errors, teardown reports).
pub const RESOURCE: &str = "target group";

/// The only target type stepdeploy uses (Fargate tasks register by IP).
pub const TARGET_TYPE: &str = "ip";

impl HealthCheck {
    /// The health check the spec asks for; any 2xx or 3xx answer is healthy.
    pub fn new(service: &ServiceSpec) -> HealthCheck {
        HealthCheck {
            path: service.health_check_path.clone(),
            interval_seconds: service.health_check_interval_seconds,
            healthy_threshold: service.healthy_threshold,
            unhealthy_threshold: service.unhealthy_threshold,
            matcher: "200-399".into(),
        }
    }

    /// What differs from `want`, as `field old -> new`.
    fn differences(&self, want: &HealthCheck) -> Vec<String> {
        let mut d = Vec::new();
        let mut field = |name: &str, have: String, want: String| {
            if have != want {
                d.push(format!("{name} {have} -> {want}"));
            }
        };
        field("path", self.path.clone(), want.path.clone());
        field(
            "interval",
            self.interval_seconds.to_string(),
            want.interval_seconds.to_string(),
        );
        field(
            "healthy threshold",
            self.healthy_threshold.to_string(),
            want.healthy_threshold.to_string(),
        );
        field(
            "unhealthy threshold",
            self.unhealthy_threshold.to_string(),
            want.unhealthy_threshold.to_string(),
        );
        field("matcher", self.matcher.clone(), want.matcher.clone());
        d
    }
}

impl Wanted {
    pub fn new(names: &Names, service: &ServiceSpec, vpc_id: &str) -> Wanted {
        Wanted {
            name: names.target_group(),
            vpc_id: vpc_id.into(),
            port: i32::from(service.port),
            health_check: HealthCheck::new(service),
            drain_seconds: service.drain_seconds,
        }
    }
}

/// The attribute that holds the deregistration delay.
pub const DRAIN_ATTRIBUTE: &str = "deregistration_delay.timeout_seconds";

/// What an update sets: the health check (one `ModifyTargetGroup`) and the
/// drain (one `ModifyTargetGroupAttributes`), each only when it differs.
fn updates(tg: &Observed, wanted: &Wanted) -> (Vec<String>, bool) {
    let health = tg.health_check.differences(&wanted.health_check);
    let drain = tg.drain_seconds != wanted.drain_seconds;
    (health, drain)
}

pub fn plan(owner: &Owner, observed: Option<&Observed>, wanted: &Wanted) -> Change {
    let Some(tg) = observed else {
        return Change::Create;
    };
    let name = &wanted.name;
    if !owner.owns(&tg.tags) {
        return Change::conflict(not_ours(owner, RESOURCE, name));
    }
    if tg.port != wanted.port || tg.vpc_id != wanted.vpc_id || tg.target_type != TARGET_TYPE {
        return Change::conflict(format!(
            "{RESOURCE} {name} sends to port {} ({} targets in {}) but the app listens on {} in {}: a target group's port cannot change; tear the environment down or delete the target group, then re-run",
            tg.port, tg.target_type, tg.vpc_id, wanted.port, wanted.vpc_id
        ));
    }
    let (health, drain) = updates(tg, wanted);
    let mut what = Vec::new();
    if !health.is_empty() {
        // One ModifyTargetGroup sets the whole health check.
        what.push(format!("health check: {}", health.join(", ")));
    }
    if drain {
        what.push(format!(
            "drain {} s -> {} s",
            tg.drain_seconds, wanted.drain_seconds
        ));
    }
    Change::updates(what)
}

/// What a just-created target group needs besides: its drain, unless the
/// spec asks for AWS's default.
pub fn new_group_drain(wanted: &Wanted) -> Change {
    if wanted.drain_seconds == AWS_DEFAULT_DRAIN_SECONDS {
        return Change::Nothing;
    }
    Change::update(format!(
        "drain {AWS_DEFAULT_DRAIN_SECONDS} s -> {} s",
        wanted.drain_seconds
    ))
}

/// Teardown's side: delete it only if it is this environment's.
pub fn removal(owner: &Owner, observed: Option<&Observed>) -> Removal {
    Removal::if_ours(owner, observed.map(|o| &o.tags))
}

#[cfg(all(feature = "dynamodb", feature = "elbv2"))]
mod apply {
    use super::*;
    use crate::aws::elbv2::Elb;
    use crate::converge::{remove_one, Ctx, Deleted, Go};
    use crate::error::StepError;
    use crate::owner::LedgerKind;
    use crate::plan::planned;
    use crate::teardown::TeardownState;

    pub async fn observe(elb: &Elb, name: &str) -> Result<Option<Observed>, StepError> {
        let Some(mut tg) = elb.target_group(name).await? else {
            return Ok(None);
        };
        tg.tags = elb.tags_of(&tg.arn).await?;
        tg.drain_seconds = elb
            .target_group_attribute(&tg.arn, DRAIN_ATTRIBUTE)
            .await?
            .and_then(|v| v.parse().ok())
            .unwrap_or(AWS_DEFAULT_DRAIN_SECONDS);
        Ok(Some(tg))
    }

    /// Make the target group as wanted; answer its ARN (planned in a dry run
    /// when it would be created).
    pub async fn converge(
        elb: &Elb,
        ctx: &mut Ctx<'_>,
        wanted: &Wanted,
    ) -> Result<String, StepError> {
        let observed = observe(elb, &wanted.name).await?;
        let change = plan(&ctx.owner, observed.as_ref(), wanted);
        let (name, hc) = (&wanted.name, &wanted.health_check);
        let arn = match (ctx.decide(RESOURCE, name, &change)?, &change, observed) {
            (go, Change::Create, _) => {
                let arn = match go {
                    Go::Apply => {
                        let arn = elb.create_target_group(wanted, &ctx.tags()).await?;
                        ctx.changed(format!(
                            "created {RESOURCE} {name} ({TARGET_TYPE} targets, port {}, health check {})",
                            wanted.port, hc.path
                        ));
                        arn
                    }
                    _ => planned("target group"),
                };
                // CreateTargetGroup takes no attributes: the drain is a second
                // call (and a second plan entry). A crash between the two
                // leaves AWS's default, which the next run plans as an update.
                let drain = new_group_drain(wanted);
                if drain != Change::Nothing && ctx.decide(RESOURCE, name, &drain)? == Go::Apply {
                    set_drain(elb, ctx, &arn, wanted).await?;
                }
                arn
            }
            (Go::Apply, Change::Update { .. }, Some(tg)) => {
                let (health, drain) = updates(&tg, wanted);
                if !health.is_empty() {
                    elb.modify_health_check(&tg.arn, hc).await?;
                    ctx.changed(format!("set the health check of {name} to {}", hc.path));
                }
                if drain {
                    set_drain(elb, ctx, &tg.arn, wanted).await?;
                }
                tg.arn
            }
            (_, _, Some(tg)) => tg.arn,
            (_, _, None) => planned("target group"),
        };
        ctx.remember(LedgerKind::TargetGroup, &arn).await?;
        Ok(arn)
    }

    async fn set_drain(
        elb: &Elb,
        ctx: &mut Ctx<'_>,
        arn: &str,
        wanted: &Wanted,
    ) -> Result<(), StepError> {
        elb.set_target_group_attribute(arn, DRAIN_ATTRIBUTE, &wanted.drain_seconds.to_string())
            .await?;
        ctx.changed(format!(
            "set the drain of {RESOURCE} {} to {} s",
            wanted.name, wanted.drain_seconds
        ));
        Ok(())
    }

    /// Delete the target group if it is this environment's; not done while
    /// a load balancer that is going away still uses it.
    pub async fn remove(
        elb: &Elb,
        owner: &Owner,
        name: &str,
        t: &mut TeardownState,
    ) -> Result<bool, StepError> {
        let observed = observe(elb, name).await?;
        let label = format!("{RESOURCE} {name}");
        let decided = removal(owner, observed.as_ref());
        remove_one(t, label.clone(), decided, observed, async |tg| {
            match elb.delete_target_group(&tg.arn).await {
                Ok(()) => Ok(Deleted::Yes {
                    removed: label,
                    gone: true,
                }),
                Err(e) if e.is_code(&["ResourceInUse"]) => Ok(Deleted::InUse),
                Err(e) => Err(e),
            }
        })
        .await
    }
}
#[cfg(all(feature = "dynamodb", feature = "elbv2"))]
pub use apply::{converge, observe, remove};

#[cfg(test)]
mod tests {
    use super::*;

    fn wanted() -> Wanted {
        Wanted::new(
            &Names::new("bank", "production").unwrap(),
            &ServiceSpec::default(),
            "vpc-1",
        )
    }

    fn group(app: &str, edit: impl FnOnce(&mut Observed)) -> Observed {
        let w = wanted();
        let mut tg = Observed {
            arn: "arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/bank-production/1".into(),
            port: w.port,
            vpc_id: w.vpc_id,
            target_type: "ip".into(),
            health_check: w.health_check,
            drain_seconds: w.drain_seconds,
            tags: Owner::new(app, "production").as_tags(),
        };
        edit(&mut tg);
        tg
    }

    #[test]
    fn plan_table() {
        let owner = Owner::new("bank", "production");
        let cases: Vec<(&str, Option<Observed>, &str)> = vec![
            ("absent: create", None, "create"),
            (
                "ours, as wanted: nothing",
                Some(group("bank", |_| {})),
                "nothing",
            ),
            (
                "another health check path: update",
                Some(group("bank", |t| t.health_check.path = "/old".into())),
                "update",
            ),
            (
                "other thresholds: update",
                Some(group("bank", |t| {
                    t.health_check.healthy_threshold += 1;
                    t.health_check.interval_seconds += 5;
                })),
                "update",
            ),
            (
                "AWS's default drain: update",
                Some(group("bank", |t| t.drain_seconds = 300)),
                "update",
            ),
            (
                "someone else's: conflict",
                Some(group("shop", |_| {})),
                "conflict",
            ),
            (
                "another port: conflict",
                Some(group("bank", |t| t.port = 9999)),
                "conflict",
            ),
            (
                "another VPC: conflict",
                Some(group("bank", |t| t.vpc_id = "vpc-2".into())),
                "conflict",
            ),
            (
                "instance targets: conflict",
                Some(group("bank", |t| t.target_type = "instance".into())),
                "conflict",
            ),
        ];
        for (case, observed, action) in cases {
            let change = plan(&owner, observed.as_ref(), &wanted());
            assert_eq!(change.action(), action, "{case}");
            // Whatever differs in the health check, it is one call.
            assert!(change.calls() <= 1, "{case}");
        }
        // The health check and the drain are two calls.
        let both = group("bank", |t| {
            t.health_check.path = "/old".into();
            t.drain_seconds = 300;
        });
        let change = plan(&owner, Some(&both), &wanted());
        assert_eq!(change.calls(), 2);
        assert_eq!(
            change.detail(),
            format!(
                "health check: path /old -> {}; drain 300 s -> 30 s",
                wanted().health_check.path
            )
        );
        // A new group is created with AWS's drain; a second call sets the spec's.
        assert_eq!(new_group_drain(&wanted()).detail(), "drain 300 s -> 30 s");
        let mut default = wanted();
        default.drain_seconds = 300;
        assert_eq!(new_group_drain(&default), Change::Nothing);
        // A target group exists as soon as CreateTargetGroup answers and has no
        // state of its own: there is no still-creating and no failed case.
    }

    #[test]
    fn an_update_says_what_differs() {
        let owner = Owner::new("bank", "production");
        let tg = group("bank", |t| t.health_check.path = "/old".into());
        let change = plan(&owner, Some(&tg), &wanted());
        let path = &wanted().health_check.path;
        assert_eq!(
            change.detail(),
            format!("health check: path /old -> {path}")
        );
    }

    #[test]
    fn a_port_conflict_names_both_ports() {
        let owner = Owner::new("bank", "production");
        let change = plan(&owner, Some(&group("bank", |t| t.port = 9999)), &wanted());
        let why = change.detail();
        assert!(
            why.contains("sends to port 9999 (ip targets in vpc-1)"),
            "{why}"
        );
        assert!(why.contains("a target group's port cannot change"), "{why}");
    }

    #[test]
    fn removal_table() {
        let owner = Owner::new("bank", "production");
        assert_eq!(removal(&owner, None), Removal::Gone);
        assert_eq!(
            removal(&owner, Some(&group("bank", |_| {}))),
            Removal::Delete
        );
        assert!(matches!(
            removal(&owner, Some(&group("shop", |_| {}))),
            Removal::Skip { .. }
        ));
    }
}
