//! The NAT gateways the private subnets reach the internet through, each
//! with its Elastic IP: one in the first public subnet (`nat_gateways:
//! single`, role `nat`) or one per zone (`per_az`, roles `nat-1`, `nat-2`).
//! A failed gateway is replaced by a new one, created with a new
//! idempotency token; a retry of the same attempt reuses its token, so it
//! never creates two. After [`MAX_FAILED_ATTEMPTS`] failures the step gives
//! up and fails the deployment with AWS's reason. The layout cannot change
//! under a built environment.

use crate::converge::not_ours;
use crate::converge::sole;
pub use crate::model::nat_gateway::{Address, Observed};
use crate::naming::{short_hash, Names};
use crate::network::AZ_COUNT;
use crate::owner::{LedgerKind, Owner, Role};
use crate::plan::{planned, Change, Removal};
use crate::spec::NatMode;

/// How a person calls it (plan lines, errors, teardown reports).
pub const RESOURCE: &str = "NAT gateway";
/// How a person calls its address.
pub const ADDRESS: &str = "Elastic IP";

/// How many failed gateways of one role the network step replaces before it
/// gives up. A gateway AWS keeps failing (no capacity in the zone, an Elastic
/// IP it cannot use, the account's NAT gateway quota) would otherwise be
/// created again on every poll until the step's deadline: dozens of them.
/// Failed gateways stay listed for about an hour, so they count across polls
/// and re-runs until AWS removes them (or someone deletes them).
pub const MAX_FAILED_ATTEMPTS: usize = 3;

/// One NAT gateway (and its address) an environment wants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wanted {
    /// `nat` (single layout) or `nat-1`, `nat-2` (one per zone).
    pub role: Role,
    /// The public subnet it sits in.
    pub subnet_id: String,
    /// The gateway's `Name` tag.
    pub name: String,
    /// The address's `Name` tag.
    pub address_name: String,
    /// `app-environment`, which the idempotency token starts from.
    pub base: String,
}

/// The gateways of a layout, in zone order; `public` are the public subnets.
pub fn wanted(names: &Names, mode: NatMode, public: &[String]) -> Vec<Wanted> {
    let one = |role: Role, subnet: &String| Wanted {
        role,
        subnet_id: subnet.clone(),
        name: format!("{}-nat", names.vpc()),
        address_name: format!("{}-{role}", names.vpc()),
        base: names.base(),
    };
    match mode {
        NatMode::Single => public.iter().take(1).map(|s| one(Role::Nat, s)).collect(),
        NatMode::PerAz => public
            .iter()
            .take(AZ_COUNT)
            .enumerate()
            .map(|(az, s)| one(Role::NatZone(az as u8 + 1), s))
            .collect(),
    }
}

impl Observed {
    /// Pending or available: the gateway a role has (failed and deleted ones linger a while).
    pub fn is_live(&self) -> bool {
        self.state == "pending" || self.state == "available"
    }
}

/// The address: allocate it once, keep it.
pub fn plan_address(owner: &Owner, found: &[Address], wanted: &Wanted) -> Change {
    let what = format!("NAT {ADDRESS}");
    let a = match sole(found, &what, owner, |a| a.allocation_id.clone()) {
        Ok(Some(a)) => a,
        Ok(None) => return Change::Create,
        Err(conflict) => return conflict,
    };
    if !owner.owns_as(&a.tags, wanted.role) {
        return Change::conflict(not_ours(owner, ADDRESS, &a.allocation_id));
    }
    Change::Nothing
}

/// The gateway, among every one carrying its role (live, failed or gone).
/// None live: create one, unless [`MAX_FAILED_ATTEMPTS`] have failed already.
pub fn plan(owner: &Owner, found: &[Observed], wanted: &Wanted) -> Change {
    let live: Vec<Observed> = found.iter().filter(|n| n.is_live()).cloned().collect();
    let n = match sole(&live, RESOURCE, owner, |n| n.id.clone()) {
        Ok(Some(n)) => n,
        Ok(None) => return given_up(found, wanted).map_or(Change::Create, Change::failed),
        Err(conflict) => return conflict,
    };
    if !owner.owns_as(&n.tags, wanted.role) {
        return Change::conflict(not_ours(owner, RESOURCE, &n.id));
    }
    if n.state == "pending" {
        return Change::wait(format!("{RESOURCE} {} is pending", n.id));
    }
    Change::Nothing
}

/// The failed attempts so far: each one moves the idempotency token on.
pub fn failed_attempts(found: &[Observed]) -> usize {
    found.iter().filter(|n| n.state == "failed").count()
}

/// Why no new gateway is created, once [`MAX_FAILED_ATTEMPTS`] have failed:
/// AWS's reason for the latest failure, and what a person can do about it.
fn given_up(found: &[Observed], wanted: &Wanted) -> Option<String> {
    let failed: Vec<&Observed> = found.iter().filter(|n| n.state == "failed").collect();
    if failed.len() < MAX_FAILED_ATTEMPTS {
        return None;
    }
    // The latest by creation time; among equals (or undated), the last listed.
    let last = failed
        .iter()
        .copied()
        .max_by_key(|n| n.created.unwrap_or(i64::MIN))?;
    let reason = match (&last.failure_code, &last.failure_message) {
        (Some(code), Some(message)) => format!("AWS's reason: {code}: {message}"),
        (Some(text), None) | (None, Some(text)) => format!("AWS's reason: {text}"),
        (None, None) => "AWS gave no reason".into(),
    };
    let ids: Vec<&str> = failed.iter().map(|n| n.id.as_str()).collect();
    Some(format!(
        "{RESOURCE} {name} (role {role}) failed {count} times; for the last one, {last_id}, {reason}. No more are created: check its {ADDRESS} {address}, its subnet {subnet} and the account's NAT gateway quota, delete the failed gateways ({ids}) or wait about an hour for AWS to remove them, then start the deployment again",
        name = wanted.name,
        role = wanted.role,
        count = failed.len(),
        last_id = last.id,
        address = wanted.address_name,
        subnet = wanted.subnet_id,
        ids = ids.join(", "),
    ))
}

/// The idempotency token of the next attempt: a new one after each failed
/// attempt, the same one for a retry of this attempt.
pub fn token(wanted: &Wanted, allocation_id: &str, failed: usize) -> String {
    short_hash(
        &format!(
            "{}/{allocation_id}/{}/{failed}",
            wanted.base, wanted.subnet_id
        ),
        32,
    )
}

/// The role whose gateways mean the environment was built with the other layout.
pub fn other_layout(mode: NatMode) -> Role {
    match mode {
        NatMode::Single => Role::NatZone(1),
        NatMode::PerAz => Role::Nat,
    }
}

/// A layout change is refused: `other` are the gateways of [`other_layout`].
pub fn layout(mode: NatMode, other: &[Observed]) -> Change {
    // AWS lists deleted gateways for about an hour: a torn-down layout is gone.
    if other.iter().all(|n| n.state == "deleted") {
        return Change::Nothing;
    }
    Change::conflict(format!(
        "network.nat_gateways is {mode:?} but the environment was built with the other layout; tear it down first, or set network.nat_gateways back"
    ))
}

/// Teardown's side of a gateway: delete it, then wait until it is gone
/// (its address and subnet cannot go before).
pub fn removal(owner: &Owner, observed: Option<&Observed>) -> Removal {
    match (Removal::if_ours(owner, observed.map(|o| &o.tags)), observed) {
        (Removal::Delete, Some(n)) if n.state == "deleted" => Removal::Gone,
        (Removal::Delete, Some(n)) if n.state == "deleting" => Removal::Wait {
            why: format!("{RESOURCE} {} is deleting", n.id),
        },
        (removal, _) => removal,
    }
}

/// Teardown's side of an address: release it only if it is this environment's.
pub fn address_removal(owner: &Owner, observed: Option<&Address>) -> Removal {
    Removal::if_ours(owner, observed.map(|a| &a.tags))
}

/// The ids a dry run gives the address and the gateway it would create.
fn planned_ids(role: Role) -> (String, String) {
    (
        planned(&LedgerKind::ElasticIp(role).key()),
        planned(&LedgerKind::NatGateway(role).key()),
    )
}

/// What CreateNatGateway hands back: a pending gateway.
pub fn created(owner: &Owner, wanted: &Wanted) -> Observed {
    Observed {
        id: planned_ids(wanted.role).1,
        state: "pending".into(),
        subnet_id: wanted.subnet_id.clone(),
        created: None,
        failure_code: None,
        failure_message: None,
        tags: owner.as_role_tags(wanted.role),
    }
}

#[cfg(all(feature = "ec2", feature = "dynamodb"))]
mod apply {
    use super::*;
    use crate::aws::ec2::Ec2;
    use crate::converge::{remove_each, Ctx, Go};
    use crate::error::StepError;
    use crate::teardown::TeardownState;

    /// Every address carrying this environment's tags in the role.
    pub async fn observe_addresses(
        ec2: &Ec2,
        owner: &Owner,
        role: Role,
    ) -> Result<Vec<Address>, StepError> {
        let found = ec2.addresses(owner, Some(role)).await?;
        Ok(found)
    }

    /// Every gateway carrying this environment's tags in the role, whatever its state.
    pub async fn observe(ec2: &Ec2, owner: &Owner, role: Role) -> Result<Vec<Observed>, StepError> {
        let found = ec2.nat_gateways(owner, Some(role)).await?;
        Ok(found)
    }

    /// Refuse to build one layout where the other stands.
    pub async fn check_layout(
        ec2: &Ec2,
        ctx: &mut Ctx<'_>,
        mode: NatMode,
    ) -> Result<(), StepError> {
        let other = observe(ec2, &ctx.owner, other_layout(mode)).await?;
        let change = layout(mode, &other);
        if change != Change::Nothing {
            ctx.decide("NAT gateway layout", &format!("{mode:?}"), &change)?;
        }
        Ok(())
    }

    /// The gateway's id and whether it is available (a dry run counts it
    /// available: it never waits), its address and itself created if absent.
    pub async fn converge(
        ec2: &Ec2,
        ctx: &mut Ctx<'_>,
        wanted: &Wanted,
    ) -> Result<(String, bool), StepError> {
        let addresses = observe_addresses(ec2, &ctx.owner, wanted.role).await?;
        let allocation = converge_address(ec2, ctx, wanted, &addresses).await?;
        let found = observe(ec2, &ctx.owner, wanted.role).await?;
        let change = plan(&ctx.owner, &found, wanted);
        let live = found.iter().find(|n| n.is_live()).cloned();
        let name = live
            .as_ref()
            .map_or_else(|| planned_ids(wanted.role).1, |n| n.id.clone());
        let nat = match (ctx.decide(RESOURCE, &name, &change)?, &change) {
            (Go::Apply, Change::Create) => {
                let token = token(wanted, &allocation, failed_attempts(&found));
                create(ec2, ctx, wanted, &allocation, &token).await?
            }
            (Go::Pretend, Change::Create) => created(&ctx.owner, wanted),
            _ => live.unwrap_or_else(|| created(&ctx.owner, wanted)),
        };
        ctx.remember(LedgerKind::NatGateway(wanted.role), &nat.id)
            .await?;
        Ok((nat.id, ctx.dry_run || nat.state == "available"))
    }

    /// The address's allocation id, allocated if absent.
    async fn converge_address(
        ec2: &Ec2,
        ctx: &mut Ctx<'_>,
        wanted: &Wanted,
        found: &[Address],
    ) -> Result<String, StepError> {
        let change = plan_address(&ctx.owner, found, wanted);
        let name = found
            .first()
            .map_or_else(|| planned_ids(wanted.role).0, |a| a.allocation_id.clone());
        let id = match (ctx.decide(ADDRESS, &name, &change)?, &change) {
            (Go::Apply, Change::Create) => {
                let tags = ctx.role_tags(wanted.role);
                let a = ec2.allocate_address(&wanted.address_name, &tags).await?;
                ctx.changed(format!(
                    "allocated Elastic IP {} ({})",
                    a.allocation_id, a.public_ip
                ));
                a.allocation_id
            }
            _ => name,
        };
        ctx.remember(LedgerKind::ElasticIp(wanted.role), &id)
            .await?;
        Ok(id)
    }

    async fn create(
        ec2: &Ec2,
        ctx: &mut Ctx<'_>,
        wanted: &Wanted,
        allocation: &str,
        token: &str,
    ) -> Result<Observed, StepError> {
        let tags = ctx.role_tags(wanted.role);
        let n = ec2
            .create_nat_gateway(&wanted.subnet_id, allocation, &wanted.name, &tags, token)
            .await?;
        ctx.changed(format!("created NAT gateway {}", n.id));
        Ok(n)
    }

    /// Teardown's side: delete every gateway carrying the environment's
    /// tags; done once none is left (else look again later).
    pub async fn remove(
        ec2: &Ec2,
        owner: &Owner,
        t: &mut TeardownState,
    ) -> Result<bool, StepError> {
        let found = ec2.nat_gateways(owner, None).await?;
        let skipped = |n: &Observed| format!("{RESOURCE} {}", n.id);
        let waiting = remove_each(
            t,
            found,
            |n| removal(owner, Some(n)),
            skipped,
            async |n| {
                ec2.delete_nat_gateway(&n.id).await?;
                Ok(format!("NAT gateway {}", n.id))
            },
        )
        .await?;
        if !waiting {
            return Ok(true);
        }
        let left = ec2.nat_gateways(owner, None).await?;
        Ok(!left.iter().any(|n| {
            matches!(
                removal(owner, Some(n)),
                Removal::Delete | Removal::Wait { .. }
            )
        }))
    }

    /// Teardown's side of the addresses (once their gateways are gone).
    pub async fn remove_addresses(
        ec2: &Ec2,
        owner: &Owner,
        t: &mut TeardownState,
    ) -> Result<(), StepError> {
        let found = ec2.addresses(owner, None).await?;
        let skipped = |a: &Address| format!("{ADDRESS} {}", a.allocation_id);
        remove_each(
            t,
            found,
            |a| address_removal(owner, Some(a)),
            skipped,
            async |a| {
                ec2.release_address(&a.allocation_id).await?;
                Ok(format!("Elastic IP {}", a.allocation_id))
            },
        )
        .await?;
        Ok(())
    }
}
#[cfg(all(feature = "ec2", feature = "dynamodb"))]
pub use apply::{check_layout, converge, observe, observe_addresses, remove, remove_addresses};

#[cfg(test)]
mod tests {
    use super::*;

    fn owner() -> Owner {
        Owner::new("bank", "production")
    }

    fn names() -> Names {
        Names::new("bank", "production").unwrap()
    }

    fn single() -> Wanted {
        wanted(
            &names(),
            NatMode::Single,
            &["subnet-a".into(), "subnet-b".into()],
        )
        .remove(0)
    }

    fn nat(id: &str, state: &str, app: &str, role: Role) -> Observed {
        Observed {
            id: id.into(),
            state: state.into(),
            subnet_id: "subnet-a".into(),
            created: None,
            failure_code: None,
            failure_message: None,
            tags: Owner::new(app, "production").as_role_tags(role),
        }
    }

    /// A failed gateway of ours, created at `created`, with AWS's reason.
    fn failed(id: &str, created: i64, code: &str, message: &str) -> Observed {
        Observed {
            created: Some(created),
            failure_code: Some(code.into()),
            failure_message: Some(message.into()),
            ..nat(id, "failed", "bank", Role::Nat)
        }
    }

    fn address(id: &str, app: &str, role: Role) -> Address {
        Address {
            allocation_id: id.into(),
            public_ip: "203.0.113.7".into(),
            tags: Owner::new(app, "production").as_role_tags(role),
        }
    }

    #[test]
    fn layouts_place_one_gateway_or_one_per_zone() {
        let public = ["subnet-a".to_string(), "subnet-b".to_string()];
        let one = wanted(&names(), NatMode::Single, &public);
        assert_eq!(one.len(), 1);
        assert_eq!(
            (
                one[0].role,
                one[0].subnet_id.as_str(),
                one[0].address_name.as_str()
            ),
            (Role::Nat, "subnet-a", "bank-production-nat")
        );
        let per_az = wanted(&names(), NatMode::PerAz, &public);
        let got: Vec<_> = per_az
            .iter()
            .map(|w| (w.role, w.subnet_id.as_str(), w.name.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![
                (Role::NatZone(1), "subnet-a", "bank-production-nat"),
                (Role::NatZone(2), "subnet-b", "bank-production-nat"),
            ]
        );
    }

    #[test]
    fn plan_table() {
        let w = single();
        let ours = |id: &str, state: &str| nat(id, state, "bank", Role::Nat);
        let cases: Vec<(&str, Vec<Observed>, &str)> = vec![
            ("absent: create", vec![], "create"),
            (
                "available: nothing",
                vec![ours("nat-1", "available")],
                "nothing",
            ),
            (
                "still creating: wait",
                vec![ours("nat-1", "pending")],
                "wait",
            ),
            (
                "failed: create a new one",
                vec![ours("nat-1", "failed")],
                "create",
            ),
            (
                "failed, then a new one available: nothing",
                vec![ours("nat-1", "failed"), ours("nat-2", "available")],
                "nothing",
            ),
            (
                "failed twice: create a third",
                vec![ours("nat-1", "failed"), ours("nat-2", "failed")],
                "create",
            ),
            (
                "failed three times: failed, no fourth",
                vec![
                    ours("nat-1", "failed"),
                    ours("nat-2", "failed"),
                    ours("nat-3", "failed"),
                ],
                "failed",
            ),
            (
                "failed three times, then a new one available: nothing",
                vec![
                    ours("nat-1", "failed"),
                    ours("nat-2", "failed"),
                    ours("nat-3", "failed"),
                    ours("nat-4", "available"),
                ],
                "nothing",
            ),
            (
                "failed three times, then a new one pending: wait",
                vec![
                    ours("nat-1", "failed"),
                    ours("nat-2", "failed"),
                    ours("nat-3", "failed"),
                    ours("nat-4", "pending"),
                ],
                "wait",
            ),
            (
                "deleted or deleting: create",
                vec![ours("nat-1", "deleted"), ours("nat-2", "deleting")],
                "create",
            ),
            (
                "someone else's: conflict",
                vec![nat("nat-9", "available", "shop", Role::Nat)],
                "conflict",
            ),
            (
                "two live: conflict",
                vec![ours("nat-1", "available"), ours("nat-2", "pending")],
                "conflict",
            ),
        ];
        for (case, found, action) in cases {
            assert_eq!(plan(&owner(), &found, &w).action(), action, "{case}");
        }
        assert_eq!(
            plan(&owner(), &[created(&owner(), &w)], &w),
            Change::wait("NAT gateway (new nat) is pending")
        );
        // Nothing of a NAT gateway is updated in place: there is no update case.
    }

    #[test]
    fn after_three_failures_it_gives_up_with_aws_reason() {
        let w = single();
        let subnet = |id, t| {
            failed(
                id,
                t,
                "InsufficientFreeAddressesInSubnet",
                "Subnet has no free addresses",
            )
        };
        let found = [
            subnet("nat-1", 100),
            failed(
                "nat-3",
                300,
                "Gateway.NotAttached",
                "Network vpc-1 has no Internet gateway attached",
            ),
            subnet("nat-2", 200),
        ];
        assert_eq!(MAX_FAILED_ATTEMPTS, 3);
        assert_eq!(
            plan(&owner(), &found, &w),
            Change::failed(
                "NAT gateway bank-production-nat (role nat) failed 3 times; for the last one, nat-3, AWS's reason: Gateway.NotAttached: Network vpc-1 has no Internet gateway attached. No more are created: check its Elastic IP bank-production-nat, its subnet subnet-a and the account's NAT gateway quota, delete the failed gateways (nat-1, nat-3, nat-2) or wait about an hour for AWS to remove them, then start the deployment again"
            )
        );
        let silent = [
            nat("nat-1", "failed", "bank", Role::Nat),
            nat("nat-2", "failed", "bank", Role::Nat),
            nat("nat-3", "failed", "bank", Role::Nat),
        ];
        assert!(
            plan(&owner(), &silent, &w)
                .detail()
                .contains("for the last one, nat-3, AWS gave no reason."),
            "{}",
            plan(&owner(), &silent, &w).detail()
        );
    }

    #[test]
    fn address_plan_table() {
        let w = single();
        let cases: Vec<(&str, Vec<Address>, &str)> = vec![
            ("absent: allocate", vec![], "create"),
            (
                "ours: nothing",
                vec![address("eipalloc-1", "bank", Role::Nat)],
                "nothing",
            ),
            (
                "someone else's: conflict",
                vec![address("eipalloc-9", "shop", Role::Nat)],
                "conflict",
            ),
            (
                "another role's: conflict",
                vec![address("eipalloc-1", "bank", Role::NatZone(1))],
                "conflict",
            ),
            (
                "two: conflict",
                vec![
                    address("eipalloc-1", "bank", Role::Nat),
                    address("eipalloc-2", "bank", Role::Nat),
                ],
                "conflict",
            ),
        ];
        for (case, found, action) in cases {
            assert_eq!(
                plan_address(&owner(), &found, &w).action(),
                action,
                "{case}"
            );
        }
        // An Elastic IP is allocated whole: no update, wait or failed cases.
    }

    #[test]
    fn a_retry_reuses_the_token_and_a_failure_moves_it_on() {
        let w = single();
        let first = token(&w, "eipalloc-1", 0);
        assert_eq!(first.len(), 32);
        assert_eq!(first, token(&w, "eipalloc-1", 0));
        let failed = [nat("nat-1", "failed", "bank", Role::Nat)];
        let second = token(&w, "eipalloc-1", failed_attempts(&failed));
        assert_ne!(first, second);
        assert_ne!(first, token(&w, "eipalloc-2", 0));
    }

    #[test]
    fn the_layout_cannot_change() {
        assert_eq!(other_layout(NatMode::Single), Role::NatZone(1));
        assert_eq!(other_layout(NatMode::PerAz), Role::Nat);
        assert_eq!(layout(NatMode::Single, &[]), Change::Nothing);
        let torn_down = [nat("nat-1", "deleted", "bank", Role::NatZone(1))];
        assert_eq!(layout(NatMode::Single, &torn_down), Change::Nothing);
        let failing = [nat("nat-1", "failed", "bank", Role::NatZone(1))];
        assert_eq!(layout(NatMode::Single, &failing).action(), "conflict");
        let built = [nat("nat-1", "available", "bank", Role::NatZone(1))];
        assert_eq!(
            layout(NatMode::Single, &built).detail(),
            "network.nat_gateways is Single but the environment was built with the other layout; tear it down first, or set network.nat_gateways back"
        );
    }

    #[test]
    fn removal_table() {
        let o = owner();
        let ours = |state: &str| nat("nat-1", state, "bank", Role::Nat);
        assert_eq!(removal(&o, None), Removal::Gone);
        assert_eq!(removal(&o, Some(&ours("available"))), Removal::Delete);
        assert_eq!(removal(&o, Some(&ours("pending"))), Removal::Delete);
        assert_eq!(removal(&o, Some(&ours("failed"))), Removal::Delete);
        assert!(matches!(
            removal(&o, Some(&ours("deleting"))),
            Removal::Wait { .. }
        ));
        assert_eq!(removal(&o, Some(&ours("deleted"))), Removal::Gone);
        let theirs = nat("nat-9", "available", "shop", Role::Nat);
        assert!(matches!(removal(&o, Some(&theirs)), Removal::Skip { .. }));
        assert_eq!(address_removal(&o, None), Removal::Gone);
        let eip = address("eipalloc-1", "bank", Role::Nat);
        assert_eq!(address_removal(&o, Some(&eip)), Removal::Delete);
        let foreign = address("eipalloc-9", "shop", Role::Nat);
        assert!(matches!(
            address_removal(&o, Some(&foreign)),
            Removal::Skip { .. }
        ));
    }
}
