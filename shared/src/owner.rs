//! Ownership, written once: which environment a resource belongs to (its
//! tags), how to find an environment's resources (tag filters), which part
//! of the environment a resource plays (its [`Role`]), and what the ledger
//! calls it (its [`LedgerKind`]).
//!
//! stepdeploy never changes or deletes a resource unless [`Owner::owns`] its tags.

use std::collections::BTreeMap;
use std::fmt;

/// Tag keys that mark a resource as owned by one environment of one app.
pub const TAG_APP: &str = "stepdeploy:app";
pub const TAG_ENVIRONMENT: &str = "stepdeploy:environment";
/// The deployment that created the resource (informational; ownership is app + environment).
pub const TAG_DEPLOYMENT: &str = "stepdeploy:deployment";
/// The part a resource plays among its environment's resources of one kind (`public-1`, `lb`, …).
pub const TAG_ROLE: &str = "stepdeploy:role";

/// Tags as a resource carries them.
pub type Tags = BTreeMap<String, String>;

/// One environment of one app: the owner of everything stepdeploy creates for it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Owner {
    pub app: String,
    pub environment: String,
}

impl Owner {
    pub fn new(app: impl Into<String>, environment: impl Into<String>) -> Owner {
        Owner {
            app: app.into(),
            environment: environment.into(),
        }
    }

    /// The two tags that make a resource this environment's.
    pub fn tags(&self) -> Vec<(&'static str, String)> {
        vec![
            (TAG_APP, self.app.clone()),
            (TAG_ENVIRONMENT, self.environment.clone()),
        ]
    }

    /// The ownership tags as a resource carries them.
    pub fn as_tags(&self) -> Tags {
        self.tags()
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect()
    }

    /// The ownership tags plus a role, as a resource carries them.
    pub fn as_role_tags(&self, role: Role) -> Tags {
        let mut tags = self.as_tags();
        tags.insert(TAG_ROLE.to_string(), role.to_string());
        tags
    }

    /// Tags to create a resource with: ownership plus the deployment creating it.
    pub fn creation_tags(&self, deployment: &str) -> Vec<(&'static str, String)> {
        let mut tags = self.tags();
        tags.push((TAG_DEPLOYMENT, deployment.to_string()));
        tags
    }

    /// Creation tags plus a role.
    pub fn role_tags(&self, deployment: &str, role: Role) -> Vec<(&'static str, String)> {
        let mut tags = self.creation_tags(deployment);
        tags.push((TAG_ROLE, role.to_string()));
        tags
    }

    /// `(tag:key, value)` filters that select this environment's resources
    /// (and only those of `role`, when given), for services that filter by tag.
    pub fn filters(&self, role: Option<Role>) -> Vec<(String, String)> {
        let mut f: Vec<(String, String)> = self
            .tags()
            .into_iter()
            .map(|(k, v)| (format!("tag:{k}"), v))
            .collect();
        if let Some(role) = role {
            f.push((format!("tag:{TAG_ROLE}"), role.to_string()));
        }
        f
    }

    /// Whether these tags make a resource this environment's.
    pub fn owns<'a>(&self, tags: impl IntoIterator<Item = (&'a String, &'a String)>) -> bool {
        let (mut app, mut env) = (false, false);
        for (k, v) in tags {
            app |= k == TAG_APP && *v == self.app;
            env |= k == TAG_ENVIRONMENT && *v == self.environment;
        }
        app && env
    }

    /// Whether these tags make a resource this environment's, in this role.
    /// Filters already select by tag; this check keeps a service that ignores
    /// a filter from handing back someone else's resource.
    pub fn owns_as(&self, tags: &Tags, role: Role) -> bool {
        self.owns(tags) && tags.get(TAG_ROLE).map(String::as_str) == Some(role.as_str())
    }
}

impl fmt::Display for Owner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.app, self.environment)
    }
}

/// The part one of several resources of a kind plays in an environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    /// The public subnet of zone n (1-based), `public-1`.
    PublicZone(u8),
    /// The private subnet, NAT route table or NAT gateway of zone n, `private-1`.
    PrivateZone(u8),
    /// The public route table, `public`.
    Public,
    /// The private route table of a single-NAT layout, `private`.
    Private,
    /// The one NAT gateway (and its Elastic IP) of a single-NAT layout, `nat`.
    Nat,
    /// The NAT gateway (and Elastic IP) of zone n in a per-zone layout, `nat-1`.
    NatZone(u8),
    /// The load balancer's security group.
    Lb,
    /// The app tasks' security group.
    Tasks,
    /// The database's security group.
    Db,
    /// The internet gateway (one per environment; the role keeps it apart from other gateways).
    InternetGateway,
}

impl Role {
    pub fn as_str(&self) -> &'static str {
        match self {
            Role::PublicZone(1) => "public-1",
            Role::PublicZone(_) => "public-2",
            Role::PrivateZone(1) => "private-1",
            Role::PrivateZone(_) => "private-2",
            Role::Public => "public",
            Role::Private => "private",
            Role::Nat => "nat",
            Role::NatZone(1) => "nat-1",
            Role::NatZone(_) => "nat-2",
            Role::Lb => "lb",
            Role::Tasks => "tasks",
            Role::Db => "db",
            Role::InternetGateway => "igw",
        }
    }

    pub fn parse(text: &str) -> Option<Role> {
        Some(match text {
            "public-1" => Role::PublicZone(1),
            "public-2" => Role::PublicZone(2),
            "private-1" => Role::PrivateZone(1),
            "private-2" => Role::PrivateZone(2),
            "public" => Role::Public,
            "private" => Role::Private,
            "nat" => Role::Nat,
            "nat-1" => Role::NatZone(1),
            "nat-2" => Role::NatZone(2),
            "lb" => Role::Lb,
            "tasks" => Role::Tasks,
            "db" => Role::Db,
            "igw" => Role::InternetGateway,
            _ => return None,
        })
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the ledger records an owned resource as (`RES#<key>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LedgerKind {
    Vpc,
    Subnet(Role),
    InternetGateway,
    ElasticIp(Role),
    NatGateway(Role),
    RouteTable(Role),
    SecurityGroup(Role),
    DbSubnetGroup,
    Database,
    TargetGroup,
    LoadBalancer,
    Listener,
    LogGroup,
    Cluster,
    TaskDefinition,
    Service,
}

impl LedgerKind {
    /// The key in the ledger; stable, since ledgers outlive releases.
    pub fn key(&self) -> String {
        match self {
            LedgerKind::Vpc => "vpc".into(),
            LedgerKind::Subnet(r) => format!("subnet-{r}"),
            LedgerKind::InternetGateway => "igw".into(),
            LedgerKind::ElasticIp(r) => format!("eip-{r}"),
            LedgerKind::NatGateway(r) => r.to_string(),
            LedgerKind::RouteTable(r) => format!("rtb-{r}"),
            LedgerKind::SecurityGroup(r) => format!("sg-{r}"),
            LedgerKind::DbSubnetGroup => "db-subnet-group".into(),
            LedgerKind::Database => "db".into(),
            LedgerKind::TargetGroup => "target-group".into(),
            LedgerKind::LoadBalancer => "load-balancer".into(),
            LedgerKind::Listener => "listener".into(),
            LedgerKind::LogGroup => "log-group".into(),
            LedgerKind::Cluster => "cluster".into(),
            LedgerKind::TaskDefinition => "task-definition".into(),
            LedgerKind::Service => "service".into(),
        }
    }
}

impl fmt::Display for LedgerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.key())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(pairs: &[(&str, &str)]) -> Tags {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn ownership_needs_both_tags_to_match() {
        let owner = Owner::new("bank", "production");
        let cases: &[(&[(&str, &str)], bool)] = &[
            (&[(TAG_APP, "bank"), (TAG_ENVIRONMENT, "production")], true),
            (&[(TAG_APP, "bank"), (TAG_ENVIRONMENT, "staging")], false),
            (&[(TAG_APP, "shop"), (TAG_ENVIRONMENT, "production")], false),
            (&[(TAG_APP, "bank")], false),
            (&[("Name", "bank-production")], false),
            (&[], false),
        ];
        for (t, want) in cases {
            assert_eq!(owner.owns(&tags(t)), *want, "{t:?}");
        }
        assert!(owner.owns(&owner.as_tags()));
    }

    #[test]
    fn roles_round_trip_and_are_checked() {
        let all = [
            Role::PublicZone(1),
            Role::PublicZone(2),
            Role::PrivateZone(1),
            Role::PrivateZone(2),
            Role::Public,
            Role::Private,
            Role::Nat,
            Role::NatZone(1),
            Role::NatZone(2),
            Role::Lb,
            Role::Tasks,
            Role::Db,
            Role::InternetGateway,
        ];
        for r in all {
            assert_eq!(Role::parse(r.as_str()), Some(r));
        }
        assert_eq!(Role::parse("web"), None);
        let owner = Owner::new("bank", "production");
        let mine = tags(&[
            (TAG_APP, "bank"),
            (TAG_ENVIRONMENT, "production"),
            (TAG_ROLE, "lb"),
        ]);
        assert!(owner.owns_as(&mine, Role::Lb));
        assert!(!owner.owns_as(&mine, Role::Tasks));
        assert_eq!(
            owner.filters(Some(Role::Db)),
            vec![
                ("tag:stepdeploy:app".to_string(), "bank".to_string()),
                ("tag:stepdeploy:environment".into(), "production".into()),
                ("tag:stepdeploy:role".into(), "db".into()),
            ]
        );
        let created = owner.role_tags("d1", Role::Tasks);
        assert!(created.contains(&(TAG_DEPLOYMENT, "d1".to_string())));
        assert!(created.contains(&(TAG_ROLE, "tasks".to_string())));
    }

    #[test]
    fn ledger_keys_are_the_ones_ledgers_already_hold() {
        let cases = [
            (LedgerKind::Vpc, "vpc"),
            (LedgerKind::Subnet(Role::PublicZone(1)), "subnet-public-1"),
            (LedgerKind::InternetGateway, "igw"),
            (LedgerKind::ElasticIp(Role::Nat), "eip-nat"),
            (LedgerKind::NatGateway(Role::NatZone(2)), "nat-2"),
            (LedgerKind::RouteTable(Role::Private), "rtb-private"),
            (LedgerKind::SecurityGroup(Role::Tasks), "sg-tasks"),
            (LedgerKind::DbSubnetGroup, "db-subnet-group"),
            (LedgerKind::Database, "db"),
            (LedgerKind::TargetGroup, "target-group"),
            (LedgerKind::LoadBalancer, "load-balancer"),
            (LedgerKind::Listener, "listener"),
            (LedgerKind::LogGroup, "log-group"),
            (LedgerKind::Cluster, "cluster"),
            (LedgerKind::TaskDefinition, "task-definition"),
            (LedgerKind::Service, "service"),
        ];
        for (kind, key) in cases {
            assert_eq!(kind.key(), key);
        }
    }
}
