//! What a step decides before it touches AWS: for each resource, a
//! [`Change`] computed by that resource's pure `plan(observed, wanted)`;
//! for teardown, a [`Removal`] from its `removal(observed)`. A dry run records
//! the decisions and applies none of them.

use serde::{Deserialize, Serialize};

/// What converging one resource takes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Change {
    /// It does not exist: create it (one mutating call).
    Create,
    /// It exists and differs: one mutating call per entry of `what`.
    Update { what: Vec<String> },
    /// It exists as wanted.
    Nothing,
    /// It is on its way (creating, rolling out): look again later.
    Wait { why: String },
    /// Something stepdeploy does not own, or cannot change, stands in the way.
    Conflict { why: String },
    /// It is this environment's and broken: it will not recover by waiting
    /// (a dead DB instance, a rollout ECS rolled back). Fails the deployment.
    Failed { why: String },
}

impl Change {
    /// One update of one thing.
    pub fn update(what: impl Into<String>) -> Change {
        Change::Update {
            what: vec![what.into()],
        }
    }

    /// Updates of every entry, or nothing when there is none.
    pub fn updates(what: Vec<String>) -> Change {
        if what.is_empty() {
            Change::Nothing
        } else {
            Change::Update { what }
        }
    }

    pub fn wait(why: impl Into<String>) -> Change {
        Change::Wait { why: why.into() }
    }

    pub fn conflict(why: impl Into<String>) -> Change {
        Change::Conflict { why: why.into() }
    }

    pub fn failed(why: impl Into<String>) -> Change {
        Change::Failed { why: why.into() }
    }

    /// The mutating AWS calls applying it makes.
    pub fn calls(&self) -> u32 {
        match self {
            Change::Create => 1,
            Change::Update { what } => what.len() as u32,
            _ => 0,
        }
    }

    /// `create`, `update`, `nothing`, `wait`, `conflict` or `failed`.
    pub fn action(&self) -> &'static str {
        match self {
            Change::Create => "create",
            Change::Update { .. } => "update",
            Change::Nothing => "nothing",
            Change::Wait { .. } => "wait",
            Change::Conflict { .. } => "conflict",
            Change::Failed { .. } => "failed",
        }
    }

    /// Why, in words (empty for create and nothing).
    pub fn detail(&self) -> String {
        match self {
            Change::Update { what } => what.join("; "),
            Change::Wait { why } | Change::Conflict { why } | Change::Failed { why } => why.clone(),
            Change::Create | Change::Nothing => String::new(),
        }
    }
}

/// Why teardown leaves a resource with the environment's name in place.
pub const NOT_OURS: &str = "exists but does not carry this environment's stepdeploy tags";

/// What tearing one resource down takes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Removal {
    /// It is this environment's and can go now.
    Delete,
    /// It is going (or something still holds it): look again later.
    Wait { why: String },
    /// It is not this environment's (or is kept on purpose): leave it, say why.
    Skip { why: String },
    /// Nothing to remove.
    Gone,
}

impl Removal {
    /// Teardown's rule for every resource kind: nothing there is gone,
    /// someone else's is left (and said so), this environment's goes.
    pub fn if_ours(owner: &crate::owner::Owner, tags: Option<&crate::owner::Tags>) -> Removal {
        match tags {
            None => Removal::Gone,
            Some(t) if !owner.owns(t) => Removal::Skip {
                why: NOT_OURS.into(),
            },
            Some(_) => Removal::Delete,
        }
    }
}

/// One line of a plan: a resource, its name, and what converging it takes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanItem {
    /// The resource kind, as a person says it (`VPC`, `target group`, …).
    pub resource: String,
    /// Its name or id (`(new)` when it does not exist yet).
    pub name: String,
    #[serde(flatten)]
    pub change: Change,
}

/// What one step did (or, in a dry run, would do), added up over its polls.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct StepReport {
    /// What this step created or changed (empty on a converged re-run).
    #[serde(default)]
    pub created: Vec<String>,
    /// How many mutating AWS calls it made.
    #[serde(default)]
    pub mutations: u32,
    /// Every decision, in order; a dry run's output.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub plan: Vec<PlanItem>,
    /// When (epoch seconds) the step first answered not ready: its deadline counts from here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waiting_since: Option<u64>,
    /// What the step waits for, as its last poll saw it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waiting_for: Option<String>,
}

/// How many changes a step's output lists: the state a Standard workflow
/// carries is capped at 256 KiB (`States.DataLimitExceeded`, which no
/// Catch sees), so a step that keeps changing something (another actor
/// fighting it) must not grow it without bound. `mutations` still counts all.
pub const MAX_LISTED_CHANGES: usize = 50;

impl StepReport {
    /// Polls of one deployment add up: what earlier polls of a step changed
    /// stays in its output, so the deployment's summary lists every change
    /// once (the first [`MAX_LISTED_CHANGES`], then how many more).
    pub fn after(mut self, previous: Option<&StepReport>) -> StepReport {
        if let Some(p) = previous {
            self.created.splice(0..0, p.created.iter().cloned());
            self.mutations += p.mutations;
            self.waiting_since = p.waiting_since;
        }
        if self.created.len() > MAX_LISTED_CHANGES {
            self.created.truncate(MAX_LISTED_CHANGES - 1);
            let listed = self.created.len() as u32;
            self.created.push(format!(
                "... and {} more changes (see the step's logs)",
                self.mutations.saturating_sub(listed)
            ));
        }
        self
    }

    /// The step answered `ready`: `None`. Not ready: the error to fail with
    /// once it has waited longer than `deadline` seconds, counting from its
    /// first not-ready poll (which `now` starts when none was recorded).
    pub fn deadline(
        &mut self,
        step: &str,
        ready: bool,
        now: u64,
        deadline: u64,
    ) -> Option<crate::error::StepError> {
        if ready {
            self.waiting_since = None;
            return None;
        }
        let since = *self.waiting_since.get_or_insert(now);
        let waited = now.saturating_sub(since);
        (waited > deadline).then(|| {
            crate::error::StepError::new(
                crate::error::ErrorKind::StepTimedOut,
                format!(
                    "{step} was still not ready after {} min (its deadline is {} min): {}. It will not converge by waiting: look at that resource in the AWS console, fix or delete it, then start the deployment again (or raise deadlines.* in the app spec if it is only slow)",
                    waited / 60,
                    deadline / 60,
                    self.waiting_for.as_deref().unwrap_or("no resource said why")
                ),
            )
        })
    }
}

/// The id a dry run gives a resource it would create.
pub fn planned(what: &str) -> String {
    format!("(new {what})")
}

/// Whether an id stands for a resource a dry run would create.
pub fn is_planned(id: &str) -> bool {
    id.starts_with("(new ")
}

/// The mutating AWS calls a plan takes.
pub fn calls(items: &[PlanItem]) -> u32 {
    items.iter().map(|i| i.change.calls()).sum()
}

/// A plan in one line: how many resources change (a resource may take
/// several lines: a create, then its settings), how many mutating calls that
/// takes, and what is waited on or in the way.
pub fn summary(items: &[PlanItem]) -> String {
    let mut resources: Vec<(&str, &str, bool)> = Vec::new();
    for i in items.iter().filter(|i| i.resource != "image") {
        let changes = !matches!(i.change, Change::Nothing);
        match resources
            .iter_mut()
            .find(|(r, n, _)| *r == i.resource && *n == i.name)
        {
            Some(entry) => entry.2 |= changes,
            None => resources.push((&i.resource, &i.name, changes)),
        }
    }
    let changed = resources.iter().filter(|r| r.2).count();
    let calls = calls(items);
    let count = |action: &str| items.iter().filter(|i| i.change.action() == action).count();
    let mut text = format!(
        "{changed} of {} resources to change, {calls} mutating AWS calls",
        resources.len()
    );
    for (action, what) in [
        ("wait", "to wait for"),
        ("conflict", "in the way"),
        ("failed", "broken"),
    ] {
        if count(action) > 0 {
            text.push_str(&format!("; {} {what}", count(action)));
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_step_that_keeps_changing_lists_a_bounded_number_of_changes() {
        let mut report: Option<StepReport> = None;
        for poll in 0..200 {
            let this = StepReport {
                created: vec![format!("registered revision {poll}")],
                mutations: 1,
                ..StepReport::default()
            };
            report = Some(this.after(report.as_ref()));
        }
        let r = report.unwrap();
        assert_eq!(r.mutations, 200);
        assert_eq!(r.created.len(), MAX_LISTED_CHANGES);
        assert_eq!(r.created[0], "registered revision 0");
        assert_eq!(
            r.created.last().unwrap(),
            "... and 151 more changes (see the step's logs)"
        );
    }

    #[test]
    fn calls_and_words() {
        let cases = [
            (Change::Create, 1, "create", ""),
            (Change::Nothing, 0, "nothing", ""),
            (
                Change::Update {
                    what: vec!["a".into(), "b".into()],
                },
                2,
                "update",
                "a; b",
            ),
            (Change::wait("creating"), 0, "wait", "creating"),
            (Change::conflict("not ours"), 0, "conflict", "not ours"),
            (Change::failed("rolled back"), 0, "failed", "rolled back"),
        ];
        for (c, calls, action, detail) in cases {
            assert_eq!(c.calls(), calls, "{c:?}");
            assert_eq!(c.action(), action);
            assert_eq!(c.detail(), detail);
        }
        assert_eq!(Change::updates(vec![]), Change::Nothing);
    }

    #[test]
    fn plan_items_serialize_flat() {
        let item = PlanItem {
            resource: "VPC".into(),
            name: planned("vpc"),
            change: Change::Create,
        };
        let v = serde_json::to_value(&item).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"resource": "VPC", "name": "(new vpc)", "action": "create"})
        );
        assert!(is_planned(&item.name));
        let back: PlanItem = serde_json::from_value(v).unwrap();
        assert_eq!(back, item);
    }

    #[test]
    fn teardown_removes_only_what_is_ours() {
        let owner = crate::owner::Owner::new("bank", "production");
        let other = crate::owner::Owner::new("shop", "production");
        assert_eq!(Removal::if_ours(&owner, None), Removal::Gone);
        assert_eq!(
            Removal::if_ours(&owner, Some(&owner.as_tags())),
            Removal::Delete
        );
        assert!(matches!(
            Removal::if_ours(&owner, Some(&other.as_tags())),
            Removal::Skip { .. }
        ));
        assert!(matches!(
            Removal::if_ours(&owner, Some(&Default::default())),
            Removal::Skip { .. }
        ));
    }

    #[test]
    fn summaries_count_resources_not_lines() {
        let item = |resource: &str, name: &str, change: Change| PlanItem {
            resource: resource.into(),
            name: name.into(),
            change,
        };
        let plan = vec![
            item("image", "bank:1", Change::wait("not pushed")),
            item("VPC", "(new vpc)", Change::Create),
            item("VPC", "(new vpc)", Change::update("enable DNS hostnames")),
            item("subnet", "a", Change::Nothing),
            item("target group", "tg", Change::conflict("not ours")),
        ];
        assert_eq!(
            summary(&plan),
            "2 of 3 resources to change, 2 mutating AWS calls; 1 to wait for; 1 in the way"
        );
        assert_eq!(
            summary(&plan[3..4]),
            "0 of 1 resources to change, 0 mutating AWS calls"
        );
    }

    #[test]
    fn deadlines_count_from_the_first_wait() {
        let mut r = StepReport {
            waiting_for: Some("RDS instance bank-production-db is stopped".into()),
            ..StepReport::default()
        };
        assert!(r.deadline("Provision Database", false, 1000, 600).is_none());
        assert_eq!(r.waiting_since, Some(1000));
        assert!(r.deadline("Provision Database", false, 1600, 600).is_none());
        let e = r.deadline("Provision Database", false, 1601, 600).unwrap();
        assert_eq!(e.kind, crate::error::ErrorKind::StepTimedOut);
        assert!(e.message.contains("after 10 min"), "{}", e.message);
        assert!(
            e.message.contains("bank-production-db is stopped"),
            "{}",
            e.message
        );
        // The next poll carries the start over; ready clears it.
        let mut next = StepReport::default().after(Some(&r));
        assert_eq!(next.waiting_since, Some(1000));
        assert!(next
            .deadline("Provision Database", true, 5000, 600)
            .is_none());
        assert_eq!(next.waiting_since, None);
    }

    #[test]
    fn reports_add_up_over_polls() {
        let first = StepReport {
            created: vec!["created vpc".into()],
            mutations: 1,
            ..StepReport::default()
        };
        let second = StepReport {
            created: vec!["created nat".into()],
            mutations: 2,
            ..StepReport::default()
        }
        .after(Some(&first));
        assert_eq!(second.created, vec!["created vpc", "created nat"]);
        assert_eq!(second.mutations, 3);
    }
}
