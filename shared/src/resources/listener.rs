//! The load balancer's HTTP listener on port 80, forwarding to the
//! environment's target group; found among its load balancer's listeners.
//! It belongs to its load balancer: whose it is, is the load balancer's tags.

pub use crate::model::listener::{Observed, PORT};
use crate::plan::{is_planned, Change, Removal};

/// How a person calls it (plan lines, errors, teardown reports).
pub const RESOURCE: &str = "listener";

/// The listener an environment wants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wanted {
    /// Its load balancer (planned in a dry run when that would be created).
    pub load_balancer_arn: String,
    /// Where it forwards (planned in a dry run when that would be created).
    pub target_group_arn: String,
    /// The target group's name, for what people read.
    pub target_group_name: String,
}

impl Wanted {
    pub fn new(load_balancer_arn: &str, target_group_arn: &str, target_group_name: &str) -> Wanted {
        Wanted {
            load_balancer_arn: load_balancer_arn.into(),
            target_group_arn: target_group_arn.into(),
            target_group_name: target_group_name.into(),
        }
    }

    /// Its name in plan lines: `:80 -> <target group>`.
    pub fn label(&self) -> String {
        format!(":{PORT} -> {}", self.target_group_name)
    }
}

/// The listener on [`PORT`], among a load balancer's.
pub fn on_port(listeners: Vec<Observed>) -> Option<Observed> {
    listeners.into_iter().find(|l| l.port == PORT)
}

pub fn plan(observed: Option<&Observed>, wanted: &Wanted) -> Change {
    let Some(l) = observed else {
        return Change::Create;
    };
    match l.target_group.as_deref() {
        Some(tg) if tg == wanted.target_group_arn => Change::Nothing,
        Some(other) => Change::update(format!(
            "forward to {} instead of {other}",
            wanted.target_group_name
        )),
        None => Change::update(format!(
            "forward to {} (it does not forward)",
            wanted.target_group_name
        )),
    }
}

/// Teardown's side: a listener goes with its load balancer, which the caller
/// found to be this environment's (so every listener on it is too).
pub fn removal(observed: Option<&Observed>) -> Removal {
    match observed {
        None => Removal::Gone,
        Some(_) => Removal::Delete,
    }
}

/// Whether a load balancer's listeners can be described: one a dry run would
/// create has none, and its planned ARN is never sent to AWS.
pub fn can_observe(load_balancer_arn: &str) -> bool {
    !is_planned(load_balancer_arn)
}

#[cfg(all(feature = "dynamodb", feature = "elbv2"))]
mod apply {
    use super::*;
    use crate::aws::elbv2::Elb;
    use crate::converge::{Ctx, Go};
    use crate::error::StepError;
    use crate::owner::LedgerKind;
    use crate::plan::planned;
    use crate::teardown::TeardownState;

    pub async fn observe(
        elb: &Elb,
        load_balancer_arn: &str,
    ) -> Result<Option<Observed>, StepError> {
        if !can_observe(load_balancer_arn) {
            return Ok(None);
        }
        Ok(on_port(elb.listeners(load_balancer_arn).await?))
    }

    /// Make the listener forward to the target group; answer its ARN
    /// (planned in a dry run when it would be created).
    pub async fn converge(
        elb: &Elb,
        ctx: &mut Ctx<'_>,
        wanted: &Wanted,
    ) -> Result<String, StepError> {
        let observed = observe(elb, &wanted.load_balancer_arn).await?;
        let change = plan(observed.as_ref(), wanted);
        let tg_name = &wanted.target_group_name;
        let arn = match (
            ctx.decide(RESOURCE, &wanted.label(), &change)?,
            &change,
            observed,
        ) {
            (Go::Apply, Change::Create, _) => {
                let arn = elb
                    .create_listener(
                        &wanted.load_balancer_arn,
                        &wanted.target_group_arn,
                        &ctx.tags(),
                    )
                    .await?;
                ctx.changed(format!("created {RESOURCE} :{PORT} -> {tg_name}"));
                arn
            }
            (Go::Apply, Change::Update { .. }, Some(l)) => {
                elb.point_listener(&l.arn, &wanted.target_group_arn).await?;
                ctx.changed(format!("pointed {RESOURCE} :{PORT} at {tg_name}"));
                l.arn
            }
            (_, _, Some(l)) => l.arn,
            (_, _, None) => planned("listener"),
        };
        ctx.remember(LedgerKind::Listener, &arn).await?;
        Ok(arn)
    }

    /// Delete every listener of a load balancer that is this environment's
    /// and going away.
    pub async fn remove(
        elb: &Elb,
        load_balancer_arn: &str,
        load_balancer_name: &str,
        t: &mut TeardownState,
    ) -> Result<(), StepError> {
        for l in elb.listeners(load_balancer_arn).await? {
            if removal(Some(&l)) == Removal::Delete {
                elb.delete_listener(&l.arn).await?;
                t.removed
                    .push(format!("{RESOURCE} :{} of {load_balancer_name}", l.port));
            }
        }
        Ok(())
    }
}
#[cfg(all(feature = "dynamodb", feature = "elbv2"))]
pub use apply::{converge, observe, remove};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::planned;

    const TG: &str = "arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/bank-production/1";

    fn wanted(tg: &str) -> Wanted {
        Wanted::new(
            "arn:aws:elasticloadbalancing:us-east-1:1:loadbalancer/app/bank-production/1",
            tg,
            "bank-production",
        )
    }

    fn listener(port: i32, tg: Option<&str>) -> Observed {
        Observed {
            arn: format!(
                "arn:aws:elasticloadbalancing:us-east-1:1:listener/app/bank-production/1/{port}"
            ),
            port,
            target_group: tg.map(String::from),
        }
    }

    #[test]
    fn plan_table() {
        let planned_tg = planned("target group");
        let cases: Vec<(&str, Option<Observed>, &str, &str)> = vec![
            ("absent: create", None, TG, "create"),
            (
                "forwards to the target group: nothing",
                Some(listener(80, Some(TG))),
                TG,
                "nothing",
            ),
            (
                "forwards elsewhere: update (re-point)",
                Some(listener(80, Some("arn:other"))),
                TG,
                "update",
            ),
            (
                "does not forward: update (re-point)",
                Some(listener(80, None)),
                TG,
                "update",
            ),
            (
                "a dry run's planned target group: update",
                Some(listener(80, Some(TG))),
                &planned_tg,
                "update",
            ),
        ];
        for (case, observed, tg, action) in cases {
            let change = plan(observed.as_ref(), &wanted(tg));
            assert_eq!(change.action(), action, "{case}");
            assert!(change.calls() <= 1, "{case}");
        }
        // A listener carries no ownership of its own: the load balancer it sits
        // on is this environment's (checked by the load balancer's plan), so
        // there is no someone-else's case. It exists as soon as CreateListener
        // answers and has no state: no still-creating and no failed case.
    }

    #[test]
    fn only_the_port_80_listener_counts() {
        let found = on_port(vec![
            listener(443, Some(TG)),
            listener(80, Some("arn:other")),
        ]);
        assert_eq!(found.map(|l| l.port), Some(80));
        assert_eq!(on_port(vec![listener(8080, Some(TG))]), None);
        assert_eq!(on_port(vec![]), None);
    }

    #[test]
    fn a_planned_load_balancer_is_never_described() {
        assert!(!can_observe(&planned("load balancer")));
        assert!(can_observe(&wanted(TG).load_balancer_arn));
        assert_eq!(wanted(TG).label(), ":80 -> bank-production");
    }

    #[test]
    fn removal_table() {
        assert_eq!(removal(None), Removal::Gone);
        assert_eq!(removal(Some(&listener(80, Some(TG)))), Removal::Delete);
        assert_eq!(removal(Some(&listener(443, None))), Removal::Delete);
        // Listeners of a load balancer that is not this environment's are never
        // looked at: the load balancer's removal skips it whole.
    }
}
