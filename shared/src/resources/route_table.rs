//! The environment's route tables, each with its default route (0.0.0.0/0)
//! and its subnet associations: `public` (to the internet gateway, for the
//! public subnets) and `private` or `private-1`, `private-2` (to the NAT
//! gateway of the layout, once it is available).

use crate::converge::not_ours;
use crate::converge::sole;
pub use crate::model::route_table::{Association, Observed};
use crate::owner::{LedgerKind, Owner, Role};
use crate::plan::{planned, Change, Removal};

/// How a person calls it (plan lines, errors, teardown reports).
pub const RESOURCE: &str = "route table";

/// Where a table's default route goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// To this gateway (`igw-…`) or NAT gateway (`nat-…`).
    To(String),
    /// To this NAT gateway once it is available; no route until then.
    AwaitNat(String),
}

/// A route table an environment wants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wanted {
    pub role: Role,
    /// Its `Name` tag.
    pub name: String,
    pub vpc_id: String,
    pub route: Route,
    /// The subnets associated with it.
    pub subnets: Vec<String>,
}

impl Wanted {
    pub fn new(
        names: &crate::naming::Names,
        role: Role,
        vpc_id: &str,
        route: Route,
        subnets: &[String],
    ) -> Wanted {
        Wanted {
            role,
            name: format!("{}-{role}", names.vpc()),
            vpc_id: vpc_id.into(),
            route,
            subnets: subnets.to_vec(),
        }
    }
}

impl Observed {
    /// The subnets associated with it.
    pub fn subnets(&self) -> impl Iterator<Item = &str> {
        self.associations
            .iter()
            .filter_map(|a| a.subnet_id.as_deref())
    }
}

/// What CreateRouteTable hands back: ours, only the local route, no associations.
pub fn created(owner: &Owner, wanted: &Wanted) -> Observed {
    Observed {
        id: planned(&LedgerKind::RouteTable(wanted.role).key()),
        default_route: None,
        associations: Vec::new(),
        tags: owner.as_role_tags(wanted.role),
    }
}

/// A default route to set: a new one, or one replacing another target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetRoute {
    pub target: String,
    pub replace: bool,
}

/// What an existing table lacks: its default route, its associations.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Drift {
    pub route: Option<SetRoute>,
    pub associate: Vec<String>,
}

impl Drift {
    /// One entry per mutating call.
    pub fn what(&self) -> Vec<String> {
        let route = self.route.iter().map(|r| match r.replace {
            false => format!("route 0.0.0.0/0 to {}", r.target),
            true => format!("replace route 0.0.0.0/0 with one to {}", r.target),
        });
        let associate = self.associate.iter().map(|s| format!("associate {s}"));
        route.chain(associate).collect()
    }
}

pub fn drift(observed: &Observed, wanted: &Wanted) -> Drift {
    let route = match &wanted.route {
        Route::To(target) if observed.default_route.as_ref() != Some(target) => Some(SetRoute {
            target: target.clone(),
            replace: observed.default_route.is_some(),
        }),
        _ => None,
    };
    let have: Vec<&str> = observed.subnets().collect();
    let associate = wanted
        .subnets
        .iter()
        .filter(|s| !have.contains(&s.as_str()))
        .cloned()
        .collect();
    Drift { route, associate }
}

pub fn plan(owner: &Owner, found: &[Observed], wanted: &Wanted) -> Change {
    let what = format!("{} {RESOURCE}", wanted.role);
    let t = match sole(found, &what, owner, |t| t.id.clone()) {
        Ok(Some(t)) => t,
        Ok(None) => return Change::Create,
        Err(conflict) => return conflict,
    };
    if !owner.owns_as(&t.tags, wanted.role) {
        return Change::conflict(not_ours(owner, RESOURCE, &t.id));
    }
    let updates = drift(t, wanted).what();
    match &wanted.route {
        Route::AwaitNat(nat) if updates.is_empty() && t.default_route.as_ref() != Some(nat) => {
            Change::wait(format!(
                "its default route waits for NAT gateway {nat} to be available"
            ))
        }
        _ => Change::updates(updates),
    }
}

/// Teardown's side: disassociate and delete it only if it is this environment's.
pub fn removal(owner: &Owner, observed: Option<&Observed>) -> Removal {
    Removal::if_ours(owner, observed.map(|o| &o.tags))
}

#[cfg(all(feature = "ec2", feature = "dynamodb"))]
mod apply {
    use super::*;
    use crate::aws::ec2::Ec2;
    use crate::converge::updates_now;
    use crate::converge::{remove_each, Ctx, Go};
    use crate::error::StepError;
    use crate::teardown::TeardownState;

    /// Every route table carrying this environment's tags in the role.
    pub async fn observe(ec2: &Ec2, owner: &Owner, role: Role) -> Result<Vec<Observed>, StepError> {
        let found = ec2.route_tables(owner, Some(role)).await?;
        Ok(found)
    }

    /// The table's id, created, routed and associated as wanted (in a dry run: as it would be).
    pub async fn converge(
        ec2: &Ec2,
        ctx: &mut Ctx<'_>,
        wanted: &Wanted,
    ) -> Result<String, StepError> {
        let found = observe(ec2, &ctx.owner, wanted.role).await?;
        let change = plan(&ctx.owner, &found, wanted);
        let fresh = created(&ctx.owner, wanted);
        let name = found
            .first()
            .map_or_else(|| fresh.id.clone(), |t| t.id.clone());
        let go = ctx.decide(RESOURCE, &name, &change)?;
        let table = match (go, &change) {
            (Go::Apply, Change::Create) => create(ec2, ctx, wanted).await?,
            (Go::Pretend, Change::Create) => fresh,
            _ => found.into_iter().next().unwrap_or(fresh),
        };
        ctx.remember(LedgerKind::RouteTable(wanted.role), &table.id)
            .await?;
        let again = plan(&ctx.owner, std::slice::from_ref(&table), wanted);
        if updates_now(ctx, RESOURCE, &table.id, (&change, go), again)? {
            update(ec2, ctx, &table.id, &drift(&table, wanted)).await?;
        }
        Ok(table.id)
    }

    async fn create(ec2: &Ec2, ctx: &mut Ctx<'_>, wanted: &Wanted) -> Result<Observed, StepError> {
        let tags = ctx.role_tags(wanted.role);
        let id = ec2
            .create_route_table(&wanted.vpc_id, &wanted.name, &tags)
            .await?
            .id;
        ctx.changed(format!("created {} route table {id}", wanted.role));
        Ok(Observed {
            id,
            ..created(&ctx.owner, wanted)
        })
    }

    async fn update(ec2: &Ec2, ctx: &mut Ctx<'_>, table: &str, d: &Drift) -> Result<(), StepError> {
        if let Some(r) = &d.route {
            ec2.set_default_route(table, &r.target, r.replace).await?;
            ctx.changed(format!("routed 0.0.0.0/0 of {table} to {}", r.target));
        }
        for subnet in &d.associate {
            ec2.associate_route_table(table, subnet).await?;
            ctx.changed(format!("associated {subnet} with {table}"));
        }
        Ok(())
    }

    /// Teardown's side: every table carrying the environment's tags, its
    /// associations removed first.
    pub async fn remove(ec2: &Ec2, owner: &Owner, t: &mut TeardownState) -> Result<(), StepError> {
        let found = ec2.route_tables(owner, None).await?;
        let skipped = |table: &Observed| format!("{RESOURCE} {}", table.id);
        remove_each(
            t,
            found,
            |table| removal(owner, Some(table)),
            skipped,
            async |table| {
                for a in table.associations.iter().filter(|a| !a.main) {
                    ec2.disassociate_route_table(&a.id).await?;
                }
                ec2.delete_route_table(&table.id).await?;
                Ok(format!("route table {}", table.id))
            },
        )
        .await?;
        Ok(())
    }
}
#[cfg(all(feature = "ec2", feature = "dynamodb"))]
pub use apply::{converge, observe, remove};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::naming::Names;

    fn owner() -> Owner {
        Owner::new("bank", "production")
    }

    fn subnets() -> Vec<String> {
        vec!["subnet-1".into(), "subnet-2".into()]
    }

    fn public() -> Wanted {
        let names = Names::new("bank", "production").unwrap();
        Wanted::new(
            &names,
            Role::Public,
            "vpc-1",
            Route::To("igw-1".into()),
            &subnets(),
        )
    }

    fn private(route: Route) -> Wanted {
        let names = Names::new("bank", "production").unwrap();
        Wanted::new(&names, Role::Private, "vpc-1", route, &subnets())
    }

    fn table(role: Role, app: &str, route: Option<&str>, associated: &[&str]) -> Observed {
        Observed {
            id: "rtb-1".into(),
            default_route: route.map(String::from),
            associations: associated
                .iter()
                .enumerate()
                .map(|(i, s)| Association {
                    id: format!("rtbassoc-{i}"),
                    subnet_id: Some(s.to_string()),
                    main: false,
                })
                .collect(),
            tags: Owner::new(app, "production").as_role_tags(role),
        }
    }

    fn updates(what: &[&str]) -> Change {
        Change::updates(what.iter().map(|w| w.to_string()).collect())
    }

    #[test]
    fn plan_table() {
        let both = &["subnet-1", "subnet-2"][..];
        let ours = |route, associated| table(Role::Public, "bank", route, associated);
        let nat = |route, associated| table(Role::Private, "bank", route, associated);
        let cases: Vec<(&str, Vec<Observed>, Wanted, Change)> = vec![
            ("absent: create", vec![], public(), Change::Create),
            (
                "routed and associated: nothing",
                vec![ours(Some("igw-1"), both)],
                public(),
                Change::Nothing,
            ),
            (
                "no route, one association missing: update",
                vec![ours(None, &["subnet-1"])],
                public(),
                updates(&["route 0.0.0.0/0 to igw-1", "associate subnet-2"]),
            ),
            (
                "routed elsewhere: replace the route",
                vec![nat(Some("nat-old"), both)],
                private(Route::To("nat-1".into())),
                updates(&["replace route 0.0.0.0/0 with one to nat-1"]),
            ),
            (
                "someone else's: conflict",
                vec![table(Role::Public, "shop", Some("igw-1"), both)],
                public(),
                Change::conflict(not_ours(&owner(), RESOURCE, "rtb-1")),
            ),
            (
                "NAT gateway still creating: wait",
                vec![nat(None, both)],
                private(Route::AwaitNat("nat-1".into())),
                Change::wait("its default route waits for NAT gateway nat-1 to be available"),
            ),
            (
                "NAT gateway still creating, associations missing: associate",
                vec![nat(None, &[])],
                private(Route::AwaitNat("nat-1".into())),
                updates(&["associate subnet-1", "associate subnet-2"]),
            ),
            (
                "routed to the replacing NAT gateway: nothing",
                vec![nat(Some("nat-1"), both)],
                private(Route::AwaitNat("nat-1".into())),
                Change::Nothing,
            ),
        ];
        for (case, found, wanted, want) in cases {
            assert_eq!(plan(&owner(), &found, &wanted), want, "{case}");
        }
        let two = [ours(None, &[]), ours(None, &[])];
        assert_eq!(plan(&owner(), &two, &public()).action(), "conflict");
        // A route table has no failed state; the one it waits on is its NAT gateway's.
    }

    #[test]
    fn a_fresh_table_still_needs_its_route_and_associations() {
        let w = public();
        let fresh = created(&owner(), &w);
        assert_eq!(fresh.id, "(new rtb-public)");
        let again = plan(&owner(), &[fresh], &w);
        assert_eq!(
            again,
            updates(&[
                "route 0.0.0.0/0 to igw-1",
                "associate subnet-1",
                "associate subnet-2"
            ])
        );
        assert_eq!(again.calls(), 3);
    }

    #[test]
    fn removal_table() {
        let o = owner();
        assert_eq!(removal(&o, None), Removal::Gone);
        let ours = table(Role::Public, "bank", Some("igw-1"), &["subnet-1"]);
        assert_eq!(removal(&o, Some(&ours)), Removal::Delete);
        let theirs = table(Role::Public, "shop", Some("igw-1"), &["subnet-1"]);
        assert!(matches!(removal(&o, Some(&theirs)), Removal::Skip { .. }));
    }
}
