//! The environment's three security groups and their inbound rules: the
//! load balancer open on port 80, the app tasks reachable only from the load
//! balancer on the container port, the database only from the tasks on 3306.
//! Nothing else inbound: rules that are not wanted are revoked.

use crate::converge::not_ours;
use crate::converge::sole;
pub use crate::model::security_group::{IngressRule, Observed, Source};
use crate::naming::Names;
use crate::owner::{LedgerKind, Owner, Role};
use crate::plan::{planned, Change, Removal};

/// How a person calls it (plan lines, errors, teardown reports).
pub const RESOURCE: &str = "security group";

/// The groups, in the order they are converged (each one's rules name the one before).
pub const ROLES: [Role; 3] = [Role::Lb, Role::Tasks, Role::Db];

impl IngressRule {
    pub fn tcp(port: u16, source: Source) -> IngressRule {
        IngressRule {
            protocol: "tcp".into(),
            from: i32::from(port),
            to: i32::from(port),
            source,
        }
    }
}

impl std::fmt::Display for IngressRule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let from = match &self.source {
            Source::Cidr(c) | Source::Ipv6Cidr(c) => c,
            Source::PrefixList(p) => p,
            Source::Group(g) => g,
        };
        if self.from == self.to {
            write!(f, "{} {} from {from}", self.protocol, self.from)
        } else {
            write!(f, "{} {}-{} from {from}", self.protocol, self.from, self.to)
        }
    }
}

/// Rules as `tcp 80 from 0.0.0.0/0, …`.
pub fn describe_rules(rules: &[IngressRule]) -> String {
    rules
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The inbound rules of a role's group, given the load balancer's and the tasks' groups.
pub fn wanted_ingress(
    role: Role,
    container_port: u16,
    lb_group: &str,
    tasks_group: &str,
) -> Vec<IngressRule> {
    match role {
        Role::Lb => vec![IngressRule::tcp(80, Source::Cidr("0.0.0.0/0".into()))],
        Role::Tasks => vec![IngressRule::tcp(
            container_port,
            Source::Group(lb_group.into()),
        )],
        Role::Db => vec![IngressRule::tcp(3306, Source::Group(tasks_group.into()))],
        _ => Vec::new(),
    }
}

/// What to authorize and what to revoke so `current` becomes `wanted`.
pub fn diff_ingress(
    current: &[IngressRule],
    wanted: &[IngressRule],
) -> (Vec<IngressRule>, Vec<IngressRule>) {
    let add = wanted
        .iter()
        .filter(|r| !current.contains(r))
        .cloned()
        .collect();
    let remove = current
        .iter()
        .filter(|r| !wanted.contains(r))
        .cloned()
        .collect();
    (add, remove)
}

/// A group an environment wants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wanted {
    pub role: Role,
    /// Its group name (and `Name` tag).
    pub name: String,
    pub description: String,
    pub vpc_id: String,
    pub ingress: Vec<IngressRule>,
}

impl Wanted {
    pub fn new(names: &Names, role: Role, vpc_id: &str, ingress: Vec<IngressRule>) -> Wanted {
        let what = match role {
            Role::Lb => "load balancer: HTTP from anywhere",
            Role::Tasks => "app tasks: the container port from the load balancer",
            _ => "database: MySQL from the app tasks",
        };
        Wanted {
            role,
            name: names.security_group(role.as_str()),
            description: format!("stepdeploy {}: {what}", names.base()),
            vpc_id: vpc_id.into(),
            ingress,
        }
    }
}

/// What CreateSecurityGroup makes: ours, no inbound rule.
pub fn created(owner: &Owner, wanted: &Wanted) -> Observed {
    Observed {
        id: planned(&LedgerKind::SecurityGroup(wanted.role).key()),
        name: wanted.name.clone(),
        ingress: Vec::new(),
        tags: owner.as_role_tags(wanted.role),
    }
}

/// The rules to allow and to revoke, one mutating call each.
pub fn updates(add: &[IngressRule], remove: &[IngressRule]) -> Vec<String> {
    let mut what = Vec::new();
    if !add.is_empty() {
        what.push(format!("allow {}", describe_rules(add)));
    }
    if !remove.is_empty() {
        what.push(format!("revoke {}", describe_rules(remove)));
    }
    what
}

pub fn plan(owner: &Owner, found: &[Observed], wanted: &Wanted) -> Change {
    let what = format!("{} {RESOURCE}", wanted.role);
    let g = match sole(found, &what, owner, |g| g.id.clone()) {
        Ok(Some(g)) => g,
        Ok(None) => return Change::Create,
        Err(conflict) => return conflict,
    };
    if !owner.owns_as(&g.tags, wanted.role) {
        return Change::conflict(not_ours(owner, RESOURCE, &g.id));
    }
    let (add, remove) = diff_ingress(&g.ingress, &wanted.ingress);
    Change::updates(updates(&add, &remove))
}

/// Teardown's side: delete it only if it is this environment's (its rules
/// are revoked first: the groups name each other).
pub fn removal(owner: &Owner, observed: Option<&Observed>) -> Removal {
    Removal::if_ours(owner, observed.map(|o| &o.tags))
}

#[cfg(all(feature = "ec2", feature = "dynamodb"))]
mod apply {
    use super::*;
    use crate::aws::ec2::Ec2;
    use crate::converge::updates_now;
    use crate::converge::{Ctx, Go};
    use crate::deploy::SecurityGroups;
    use crate::error::StepError;
    use crate::teardown::TeardownState;

    /// Every group carrying this environment's tags in the role.
    pub async fn observe(ec2: &Ec2, owner: &Owner, role: Role) -> Result<Vec<Observed>, StepError> {
        let found = ec2.security_groups(owner, Some(role)).await?;
        Ok(found)
    }

    /// One group between its two passes: it exists (or would), its rules are next.
    struct Pending {
        wanted: Wanted,
        group: Observed,
        change: Change,
        go: Go,
    }

    /// The three groups, each with exactly its wanted inbound rules: first
    /// every group exists (created if absent), then every group's rules.
    pub async fn converge(
        ec2: &Ec2,
        ctx: &mut Ctx<'_>,
        vpc_id: &str,
        container_port: u16,
    ) -> Result<SecurityGroups, StepError> {
        let mut pending: Vec<Pending> = Vec::new();
        for role in ROLES {
            let id = |r: Role| {
                pending
                    .iter()
                    .find(|p| p.wanted.role == r)
                    .map(|p| p.group.id.clone())
            };
            let (lb, tasks) = (
                id(Role::Lb).unwrap_or_default(),
                id(Role::Tasks).unwrap_or_default(),
            );
            let ingress = wanted_ingress(role, container_port, &lb, &tasks);
            let wanted = Wanted::new(&ctx.names, role, vpc_id, ingress);
            pending.push(exist(ec2, ctx, wanted).await?);
        }
        for p in &pending {
            if rules_now(ctx, p)? {
                let (add, remove) = diff_ingress(&p.group.ingress, &p.wanted.ingress);
                allow_only(ec2, ctx, p, &add, &remove).await?;
            }
        }
        let id = |r: Role| {
            pending
                .iter()
                .find(|p| p.wanted.role == r)
                .map(|p| p.group.id.clone())
                .unwrap_or_default()
        };
        Ok(SecurityGroups {
            lb: id(Role::Lb),
            tasks: id(Role::Tasks),
            db: id(Role::Db),
        })
    }

    /// The first pass: the group exists (a create or a conflict is decided now).
    async fn exist(ec2: &Ec2, ctx: &mut Ctx<'_>, wanted: Wanted) -> Result<Pending, StepError> {
        let found = observe(ec2, &ctx.owner, wanted.role).await?;
        let change = plan(&ctx.owner, &found, &wanted);
        let fresh = created(&ctx.owner, &wanted);
        let mut go = Go::Skip;
        if matches!(change, Change::Create | Change::Conflict { .. }) {
            let name = found
                .first()
                .map_or_else(|| fresh.id.clone(), |g| g.id.clone());
            go = ctx.decide(RESOURCE, &name, &change)?;
        }
        let group = match (go, &change) {
            (Go::Apply, Change::Create) => create(ec2, ctx, &wanted).await?,
            (Go::Pretend, Change::Create) => fresh,
            _ => found.into_iter().next().unwrap_or(fresh),
        };
        ctx.remember(LedgerKind::SecurityGroup(wanted.role), &group.id)
            .await?;
        Ok(Pending {
            wanted,
            group,
            change,
            go,
        })
    }

    /// The second pass: whether the group's rules are to change now.
    fn rules_now(ctx: &mut Ctx<'_>, p: &Pending) -> Result<bool, StepError> {
        match &p.change {
            Change::Create => {
                let again = plan(&ctx.owner, std::slice::from_ref(&p.group), &p.wanted);
                updates_now(ctx, RESOURCE, &p.group.id, (&p.change, p.go), again)
            }
            Change::Conflict { .. } => Ok(false),
            change => Ok(ctx.decide(RESOURCE, &p.group.id, change)? == Go::Apply),
        }
    }

    async fn create(ec2: &Ec2, ctx: &mut Ctx<'_>, wanted: &Wanted) -> Result<Observed, StepError> {
        let tags = ctx.role_tags(wanted.role);
        let id = ec2
            .create_security_group(&wanted.vpc_id, &wanted.name, &wanted.description, &tags)
            .await?;
        ctx.changed(format!("created security group {id} ({})", wanted.role));
        Ok(Observed {
            id,
            ..created(&ctx.owner, wanted)
        })
    }

    async fn allow_only(
        ec2: &Ec2,
        ctx: &mut Ctx<'_>,
        p: &Pending,
        add: &[IngressRule],
        remove: &[IngressRule],
    ) -> Result<(), StepError> {
        let (id, role) = (&p.group.id, p.wanted.role);
        if !add.is_empty() {
            ec2.authorize_ingress(id, add).await?;
            ctx.changed(format!(
                "allowed {} into {id} ({role})",
                describe_rules(add)
            ));
        }
        if !remove.is_empty() {
            ec2.revoke_ingress(id, remove).await?;
            ctx.changed(format!(
                "revoked {} from {id} ({role})",
                describe_rules(remove)
            ));
        }
        Ok(())
    }

    /// Teardown's side: every group carrying the environment's tags; the
    /// groups reference each other (tasks <- lb, db <- tasks), so every
    /// rule is revoked before any group is deleted.
    pub async fn remove(ec2: &Ec2, owner: &Owner, t: &mut TeardownState) -> Result<(), StepError> {
        let mut doomed = Vec::new();
        for g in ec2.security_groups(owner, None).await? {
            match removal(owner, Some(&g)) {
                Removal::Delete => doomed.push(g),
                Removal::Skip { why } => t.skip(format!("{RESOURCE} {}", g.id), why),
                Removal::Wait { .. } | Removal::Gone => {}
            }
        }
        for g in &doomed {
            ec2.revoke_ingress(&g.id, &g.ingress).await?;
        }
        for g in &doomed {
            ec2.delete_security_group(&g.id).await?;
            t.removed
                .push(format!("security group {} ({})", g.id, g.name));
        }
        Ok(())
    }
}
#[cfg(all(feature = "ec2", feature = "dynamodb"))]
pub use apply::{converge, observe, remove};

#[cfg(test)]
mod tests {
    use super::*;

    fn owner() -> Owner {
        Owner::new("bank", "production")
    }

    fn names() -> Names {
        Names::new("bank", "production").unwrap()
    }

    fn open80() -> IngressRule {
        IngressRule::tcp(80, Source::Cidr("0.0.0.0/0".into()))
    }

    fn lb() -> Wanted {
        Wanted::new(&names(), Role::Lb, "vpc-1", vec![open80()])
    }

    fn group(app: &str, role: Role, ingress: Vec<IngressRule>) -> Observed {
        Observed {
            id: "sg-1".into(),
            name: "bank-production-lb".into(),
            ingress,
            tags: Owner::new(app, "production").as_role_tags(role),
        }
    }

    #[test]
    fn wanted_rules_chain_lb_tasks_db() {
        assert_eq!(
            wanted_ingress(Role::Lb, 8000, "sg-lb", "sg-tasks"),
            vec![open80()]
        );
        assert_eq!(
            wanted_ingress(Role::Tasks, 8000, "sg-lb", "sg-tasks"),
            vec![IngressRule::tcp(8000, Source::Group("sg-lb".into()))]
        );
        assert_eq!(
            wanted_ingress(Role::Db, 8000, "sg-lb", "sg-tasks"),
            vec![IngressRule::tcp(3306, Source::Group("sg-tasks".into()))]
        );
        let w = lb();
        assert_eq!(w.name, "bank-production-lb");
        assert_eq!(
            w.description,
            "stepdeploy bank-production: load balancer: HTTP from anywhere"
        );
    }

    #[test]
    fn ingress_diff_table() {
        let ssh = IngressRule::tcp(22, Source::Cidr("0.0.0.0/0".into()));
        let app = IngressRule::tcp(8000, Source::Group("sg-lb".into()));
        let old_port = IngressRule::tcp(5000, Source::Group("sg-lb".into()));
        let ipv6 = IngressRule::tcp(80, Source::Ipv6Cidr("::/0".into()));
        let prefix_list = IngressRule::tcp(80, Source::PrefixList("pl-1234".into()));
        type Rules = Vec<IngressRule>;
        let cases: Vec<(Rules, Rules, Rules, Rules)> = vec![
            (vec![], vec![open80()], vec![open80()], vec![]),
            (vec![open80()], vec![open80()], vec![], vec![]),
            (
                vec![open80(), ssh.clone()],
                vec![open80()],
                vec![],
                vec![ssh.clone()],
            ),
            (
                vec![old_port.clone()],
                vec![app.clone()],
                vec![app.clone()],
                vec![old_port.clone()],
            ),
            // Added by hand: an IPv6 range and a prefix list are revoked too.
            (
                vec![open80(), ipv6.clone(), prefix_list.clone()],
                vec![open80()],
                vec![],
                vec![ipv6.clone(), prefix_list.clone()],
            ),
        ];
        for (current, wanted, add, remove) in cases {
            assert_eq!(
                diff_ingress(&current, &wanted),
                (add, remove),
                "{current:?} -> {wanted:?}"
            );
        }
    }

    #[test]
    fn plan_table() {
        let ssh = IngressRule::tcp(22, Source::Cidr("0.0.0.0/0".into()));
        let cases: Vec<(&str, Vec<Observed>, Change)> = vec![
            ("absent: create", vec![], Change::Create),
            (
                "ours, exactly the rules: nothing",
                vec![group("bank", Role::Lb, vec![open80()])],
                Change::Nothing,
            ),
            (
                "a rule missing, one too many: allow and revoke",
                vec![group("bank", Role::Lb, vec![ssh])],
                Change::Update {
                    what: vec![
                        "allow tcp 80 from 0.0.0.0/0".into(),
                        "revoke tcp 22 from 0.0.0.0/0".into(),
                    ],
                },
            ),
            (
                "someone else's: conflict",
                vec![group("shop", Role::Lb, vec![open80()])],
                Change::conflict(not_ours(&owner(), RESOURCE, "sg-1")),
            ),
            (
                "ours in another role: conflict",
                vec![group("bank", Role::Tasks, vec![open80()])],
                Change::conflict(not_ours(&owner(), RESOURCE, "sg-1")),
            ),
        ];
        for (case, found, want) in cases {
            assert_eq!(plan(&owner(), &found, &lb()), want, "{case}");
        }
        let two = [
            group("bank", Role::Lb, vec![]),
            group("bank", Role::Lb, vec![]),
        ];
        assert_eq!(plan(&owner(), &two, &lb()).action(), "conflict");
        // A security group is usable as soon as it is created and has no
        // failed state: no wait or failed cases.
    }

    #[test]
    fn a_fresh_group_still_needs_its_rules() {
        let tasks = Wanted::new(
            &names(),
            Role::Tasks,
            "(new vpc)",
            wanted_ingress(Role::Tasks, 8000, "(new sg-lb)", ""),
        );
        let fresh = created(&owner(), &tasks);
        assert_eq!(fresh.id, "(new sg-tasks)");
        assert_eq!(
            plan(&owner(), &[fresh], &tasks),
            Change::update("allow tcp 8000 from (new sg-lb)")
        );
    }

    #[test]
    fn removal_table() {
        let o = owner();
        assert_eq!(removal(&o, None), Removal::Gone);
        let ours = group("bank", Role::Lb, vec![open80()]);
        assert_eq!(removal(&o, Some(&ours)), Removal::Delete);
        let theirs = group("shop", Role::Lb, vec![open80()]);
        assert!(matches!(removal(&o, Some(&theirs)), Removal::Skip { .. }));
    }
}
