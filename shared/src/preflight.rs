//! Preflight: what the account says about a deployment before its first
//! change. The `preflight` function reads the account (its VPCs, Elastic
//! IPs, NAT gateways and load balancers) into an [`Account`]; [`checks`]
//! turns it and the spec into verdicts: the VPC's range overlapping a VPC
//! this environment does not own (a warning: peering or a VPN between them
//! would not route), and what a first deploy creates against the account's
//! quotas; [`port_check`] compares `service.port` with the ports the image's
//! config declares, read from its registry. A refusal fails the deployment with `InvalidInput` and zero
//! mutating calls; a dry run lists the verdicts in its plan instead.
//!
//! The spec's own checks (a valid Fargate size, the health check's path and
//! port, names within AWS's limits) are the spec's validation, which
//! `Begin Deployment` runs before anything else.

use serde::{Deserialize, Serialize};

use crate::network::Cidr;
use crate::plan::{Change, PlanItem};
use crate::registry::DeclaredPorts;
use crate::spec::{AppSpec, NatMode};

/// AWS's default quotas for what a first deploy creates (per region unless
/// said): an account may have raised them, so only the Elastic IP limit,
/// which EC2 reports for the account, can refuse.
pub const DEFAULT_VPCS: usize = 5;
pub const DEFAULT_ELASTIC_IPS: usize = 5;
/// Per availability zone.
pub const DEFAULT_NAT_GATEWAYS_PER_ZONE: usize = 5;
pub const DEFAULT_LOAD_BALANCERS: usize = 50;

/// A VPC of the account.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Vpc {
    pub id: String,
    pub cidr: String,
    /// It carries this environment's ownership tags.
    pub ours: bool,
}

/// What the account has, as preflight read it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Account {
    pub vpcs: Vec<Vpc>,
    pub elastic_ips: usize,
    /// The account's Elastic IP limit (`vpc-max-elastic-ips`), when EC2 says.
    pub elastic_ip_limit: Option<usize>,
    /// NAT gateways pending or available, per availability zone.
    pub nat_gateways_per_zone: Vec<(String, usize)>,
    pub load_balancers: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Something preflight could not check, and why.
    Note,
    Warn,
    Refuse,
}

/// One finding: the spec field (or quota) it is about, and what to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Check {
    pub about: String,
    pub verdict: Verdict,
    pub detail: String,
}

/// What `Preflight` answers: its findings (none when all is well).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PreflightOutput {
    pub checks: Vec<Check>,
}

impl PreflightOutput {
    pub fn refusals(&self) -> impl Iterator<Item = &Check> {
        self.checks.iter().filter(|c| c.verdict == Verdict::Refuse)
    }

    /// The findings as plan lines: a refusal is `failed` (a deploy would
    /// stop there), a warning `nothing` to change, with its detail in the name.
    pub fn plan(&self) -> Vec<PlanItem> {
        self.checks
            .iter()
            .map(|c| PlanItem {
                resource: "preflight".into(),
                name: match c.verdict {
                    Verdict::Refuse => c.about.clone(),
                    Verdict::Warn => format!("{}: warning: {}", c.about, c.detail),
                    Verdict::Note => format!("{}: note: {}", c.about, c.detail),
                },
                change: match c.verdict {
                    Verdict::Refuse => Change::failed(c.detail.clone()),
                    Verdict::Warn | Verdict::Note => Change::Nothing,
                },
            })
            .collect()
    }
}

/// Whether two address ranges share an address.
pub fn overlaps(a: &Cidr, b: &Cidr) -> bool {
    let prefix = a.prefix.min(b.prefix);
    let mask = if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - prefix)
    };
    u32::from(a.addr) & mask == u32::from(b.addr) & mask
}

/// The verdicts on a deployment of `spec` into an account as read.
pub fn checks(spec: &AppSpec, account: &Account) -> Vec<Check> {
    let mut out = Vec::new();
    let warn = |about: &str, detail: String| Check {
        about: about.into(),
        verdict: Verdict::Warn,
        detail,
    };
    if let Ok(wanted) = Cidr::parse(&spec.network.cidr) {
        for v in account.vpcs.iter().filter(|v| !v.ours) {
            if Cidr::parse(&v.cidr).is_ok_and(|c| overlaps(&wanted, &c)) {
                out.push(warn(
                    "network.cidr",
                    format!(
                        "{} overlaps {} ({}), which this environment does not own: traffic between them could never be routed (peering, a VPN, a transit gateway); if they will ever connect, choose another network.cidr before the first deploy",
                        spec.network.cidr, v.id, v.cidr
                    ),
                ));
            }
        }
    }
    // What a first deploy creates; an environment whose VPC exists has them.
    if account.vpcs.iter().any(|v| v.ours) {
        return out;
    }
    let (nat, or_single) = match spec.network.nat_gateways {
        NatMode::Single => (1, ""),
        NatMode::PerAz => (2, ", or set network.nat_gateways to \"single\""),
    };
    if account.vpcs.len() >= DEFAULT_VPCS {
        out.push(warn(
            "quota: VPCs",
            format!(
                "the region has {} VPCs and a first deploy creates one more; AWS's default quota is {DEFAULT_VPCS}: unless the account's was raised, CreateVpc will fail. Delete an unused VPC or request an increase (Service Quotas: Amazon VPC, VPCs per Region)",
                account.vpcs.len()
            ),
        ));
    }
    match account.elastic_ip_limit {
        Some(limit) if account.elastic_ips + nat > limit => out.push(Check {
            about: "quota: Elastic IPs".into(),
            verdict: Verdict::Refuse,
            detail: format!(
                "the account has {} of its {limit} Elastic IPs and the NAT gateways need {nat} more: release unused addresses or request an increase (Service Quotas: Amazon EC2, EC2-VPC Elastic IPs){or_single}",
                account.elastic_ips
            ),
        }),
        None if account.elastic_ips + nat > DEFAULT_ELASTIC_IPS => out.push(warn(
            "quota: Elastic IPs",
            format!(
                "the account has {} Elastic IPs and the NAT gateways need {nat} more; AWS's default quota is {DEFAULT_ELASTIC_IPS}: unless it was raised, AllocateAddress will fail",
                account.elastic_ips
            ),
        )),
        _ => {}
    }
    if let Some((zone, n)) = account
        .nat_gateways_per_zone
        .iter()
        .find(|(_, n)| *n >= DEFAULT_NAT_GATEWAYS_PER_ZONE)
    {
        out.push(warn(
            "quota: NAT gateways",
            format!(
                "{zone} has {n} NAT gateways; AWS's default quota is {DEFAULT_NAT_GATEWAYS_PER_ZONE} per zone: unless it was raised, CreateNatGateway may fail there"
            ),
        ));
    }
    if account.load_balancers >= DEFAULT_LOAD_BALANCERS {
        out.push(warn(
            "quota: load balancers",
            format!(
                "the region has {} Application Load Balancers; AWS's default quota is {DEFAULT_LOAD_BALANCERS}: unless it was raised, CreateLoadBalancer will fail",
                account.load_balancers
            ),
        ));
    }
    out
}

/// `service.port` against the ports the image declares (`EXPOSE`): a port
/// the image does not declare is refused, since the load balancer would send
/// traffic and health checks where nothing listens; an image that declares
/// none, or whose config could not be read, leaves a note.
pub fn port_check(spec: &AppSpec, image: &str, declared: &DeclaredPorts) -> Option<Check> {
    let port = spec.service.port;
    let note = |detail: String| {
        Some(Check {
            about: "service.port".into(),
            verdict: Verdict::Note,
            detail,
        })
    };
    match declared {
        DeclaredPorts::Declared(ports)
            if ports.iter().any(|p| p.port == port && p.protocol == "tcp") =>
        {
            None
        }
        DeclaredPorts::Declared(ports) => {
            let list: Vec<String> = ports.iter().map(ToString::to_string).collect();
            let suggestion = ports
                .iter()
                .find(|p| p.protocol == "tcp")
                .map(|p| format!("set service.port to {} in the app spec, or ", p.port))
                .unwrap_or_default();
            Some(Check {
                about: "service.port".into(),
                verdict: Verdict::Refuse,
                detail: format!(
                    "the image {image} declares {} (EXPOSE in its Dockerfile) but service.port is {port}: the load balancer would send requests and health checks to a port the app does not listen on. To fix: {suggestion}make the app listen on {port} and EXPOSE {port}; then push again",
                    list.join(", ")
                ),
            })
        }
        DeclaredPorts::NoneDeclared => note(format!(
            "the image {image} declares no port (no EXPOSE in its Dockerfile), so service.port {port} was not checked against it"
        )),
        DeclaredPorts::Unread(why) => note(format!(
            "the configuration of the image {image} could not be read ({why}), so service.port {port} was not checked against it"
        )),
    }
}

/// The error a deployment is refused with: every refusal, each naming what
/// it is about and what to do.
pub fn refusal(output: &PreflightOutput) -> Option<String> {
    let found: Vec<String> = output
        .refusals()
        .map(|c| format!("{}: {}", c.about, c.detail))
        .collect();
    (!found.is_empty()).then(|| {
        format!(
            "preflight refused the deployment before any change: {}",
            found.join("; ")
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(nat: &str) -> AppSpec {
        AppSpec::from_json(&format!(
            r#"{{"name":"bank","repository":"a/b","network":{{"cidr":"10.40.0.0/16","nat_gateways":"{nat}"}}}}"#
        ))
        .unwrap()
    }

    fn vpc(id: &str, cidr: &str, ours: bool) -> Vpc {
        Vpc {
            id: id.into(),
            cidr: cidr.into(),
            ours,
        }
    }

    #[test]
    fn overlap_table() {
        let c = |t: &str| Cidr::parse(t).unwrap();
        assert!(overlaps(&c("10.40.0.0/16"), &c("10.40.8.0/24")));
        assert!(overlaps(&c("10.40.8.0/24"), &c("10.40.0.0/16")));
        assert!(overlaps(&c("10.0.0.0/8"), &c("10.40.0.0/16")));
        assert!(!overlaps(&c("10.40.0.0/16"), &c("10.41.0.0/16")));
        assert!(!overlaps(&c("172.31.0.0/16"), &c("10.40.0.0/16")));
    }

    #[test]
    fn checks_table() {
        let many = |n: usize| {
            (0..n)
                .map(|i| vpc(&format!("vpc-{i}"), &format!("172.{i}.0.0/16"), false))
                .collect::<Vec<_>>()
        };
        // (case, NAT layout, the account, the findings expected)
        type Case<'a> = (&'a str, &'a str, Account, Vec<(&'a str, Verdict)>);
        let cases: Vec<Case> = vec![
            ("an empty account", "single", Account::default(), vec![]),
            (
                "a foreign VPC on the same range: warn",
                "single",
                Account {
                    vpcs: vec![vpc("vpc-f", "10.40.0.0/20", false)],
                    ..Account::default()
                },
                vec![("network.cidr", Verdict::Warn)],
            ),
            (
                "our own VPC on it: nothing, and no quota counts (nothing new)",
                "single",
                Account {
                    vpcs: {
                        let mut v = many(5);
                        v.push(vpc("vpc-o", "10.40.0.0/16", true));
                        v
                    },
                    elastic_ips: 5,
                    elastic_ip_limit: Some(5),
                    ..Account::default()
                },
                vec![],
            ),
            (
                "five VPCs: warn",
                "single",
                Account {
                    vpcs: many(5),
                    ..Account::default()
                },
                vec![("quota: VPCs", Verdict::Warn)],
            ),
            (
                "Elastic IPs at the account's limit: refuse",
                "single",
                Account {
                    elastic_ips: 5,
                    elastic_ip_limit: Some(5),
                    ..Account::default()
                },
                vec![("quota: Elastic IPs", Verdict::Refuse)],
            ),
            (
                "one free Elastic IP, two NAT gateways wanted: refuse",
                "per_az",
                Account {
                    elastic_ips: 4,
                    elastic_ip_limit: Some(5),
                    ..Account::default()
                },
                vec![("quota: Elastic IPs", Verdict::Refuse)],
            ),
            (
                "one free Elastic IP, one NAT gateway: fine",
                "single",
                Account {
                    elastic_ips: 4,
                    elastic_ip_limit: Some(5),
                    ..Account::default()
                },
                vec![],
            ),
            (
                "no limit reported, past the default: warn",
                "single",
                Account {
                    elastic_ips: 5,
                    ..Account::default()
                },
                vec![("quota: Elastic IPs", Verdict::Warn)],
            ),
            (
                "a zone full of NAT gateways, and 50 load balancers: warn twice",
                "single",
                Account {
                    nat_gateways_per_zone: vec![("us-east-1a".into(), 5)],
                    load_balancers: 50,
                    ..Account::default()
                },
                vec![
                    ("quota: NAT gateways", Verdict::Warn),
                    ("quota: load balancers", Verdict::Warn),
                ],
            ),
        ];
        for (case, nat, account, want) in cases {
            let got: Vec<(String, Verdict)> = checks(&spec(nat), &account)
                .into_iter()
                .map(|c| (c.about, c.verdict))
                .collect();
            let want: Vec<(String, Verdict)> =
                want.into_iter().map(|(a, v)| (a.to_string(), v)).collect();
            assert_eq!(got, want, "{case}");
        }
    }

    #[test]
    fn a_refusal_names_what_and_what_to_do_and_a_plan_lists_every_finding() {
        let account = Account {
            vpcs: vec![vpc("vpc-f", "10.40.0.0/16", false)],
            elastic_ips: 5,
            elastic_ip_limit: Some(5),
            ..Account::default()
        };
        let out = PreflightOutput {
            checks: checks(&spec("single"), &account),
        };
        assert_eq!(
            refusal(&out).unwrap(),
            "preflight refused the deployment before any change: quota: Elastic IPs: the account has 5 of its 5 Elastic IPs and the NAT gateways need 1 more: release unused addresses or request an increase (Service Quotas: Amazon EC2, EC2-VPC Elastic IPs)"
        );
        let plan = out.plan();
        assert_eq!(
            plan.iter().map(|p| p.change.action()).collect::<Vec<_>>(),
            ["nothing", "failed"]
        );
        assert!(plan[0]
            .name
            .starts_with("network.cidr: warning: 10.40.0.0/16 overlaps vpc-f"));
        assert_eq!(refusal(&PreflightOutput::default()), None);
    }

    #[test]
    fn port_table() {
        use crate::registry::ExposedPort;
        let tcp = |port| ExposedPort {
            port,
            protocol: "tcp".into(),
        };
        let udp = |port| ExposedPort {
            port,
            protocol: "udp".into(),
        };
        let s = spec("single");
        let cases: Vec<(DeclaredPorts, Option<Verdict>, &str)> = vec![
            (DeclaredPorts::Declared(vec![tcp(8000)]), None, ""),
            (DeclaredPorts::Declared(vec![tcp(80), tcp(8000)]), None, ""),
            (
                DeclaredPorts::Declared(vec![tcp(5000)]),
                Some(Verdict::Refuse),
                "declares 5000/tcp (EXPOSE in its Dockerfile) but service.port is 8000",
            ),
            (
                DeclaredPorts::Declared(vec![tcp(5000)]),
                Some(Verdict::Refuse),
                "set service.port to 5000 in the app spec, or make the app listen on 8000",
            ),
            (
                DeclaredPorts::Declared(vec![udp(8000)]),
                Some(Verdict::Refuse),
                "To fix: make the app listen on 8000 and EXPOSE 8000",
            ),
            (
                DeclaredPorts::NoneDeclared,
                Some(Verdict::Note),
                "declares no port",
            ),
            (
                DeclaredPorts::Unread("HTTP 500".into()),
                Some(Verdict::Note),
                "could not be read (HTTP 500)",
            ),
        ];
        for (declared, verdict, says) in cases {
            let got = port_check(&s, "acme/bank@sha256:00", &declared);
            assert_eq!(got.as_ref().map(|c| c.verdict), verdict, "{declared:?}");
            if let Some(c) = got {
                assert_eq!(c.about, "service.port");
                assert!(c.detail.contains(says), "{declared:?}: {}", c.detail);
            }
        }
    }
}
